// DeviceManager::ImportDevices over a store that fails on demand: an import that stops early still says exactly
// which rows were stored.
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/page_token.h"
#include "device/device_logic.h"

namespace parkbase::device {
namespace {

// Only ImportBatch is used by an import; it stores the rows of every batch until `fail_on_batch`.
class ImportStore final : public DeviceStore {
 public:
  int fail_on_batch = -1;
  int batches = 0;
  std::vector<int> stored_rows;

  absl::StatusOr<std::vector<pb::ImportRowResult>> ImportBatch(const TenantScope&, const std::string&,
                                                               const std::vector<ImportRow>& rows) override {
    if (batches++ == fail_on_batch) return absl::DeadlineExceededError("database: statement timed out");
    std::vector<pb::ImportRowResult> results;
    for (const ImportRow& row : rows) {
      pb::ImportRowResult& result = results.emplace_back();
      result.set_row_index(row.index);
      result.set_outcome(pb::IMPORT_OUTCOME_CREATED);
      result.set_device_id(row.device.device_id());
      stored_rows.push_back(row.index);
    }
    return results;
  }

  absl::StatusOr<pb::DeviceType> CreateDeviceType(const TenantScope&, const pb::DeviceType&) override {
    return Unused();
  }
  absl::StatusOr<pb::DeviceType> GetDeviceType(const TenantScope&, const std::string&, int64_t) override {
    return Unused();
  }
  absl::StatusOr<std::vector<pb::DeviceType>> ListDeviceTypes(const TenantScope&, const std::string&, int) override {
    return Unused();
  }
  absl::StatusOr<pb::DeviceType> UpdateDeviceType(const TenantScope&, const std::string&,
                                                  const DeviceTypeMutation&) override {
    return Unused();
  }
  absl::Status DeleteDeviceType(const TenantScope&, const std::string&, const std::string&) override {
    return Unused();
  }
  absl::StatusOr<pb::Device> CreateDevice(const TenantScope&, const std::string&, const pb::Device&) override {
    return Unused();
  }
  absl::StatusOr<pb::Device> GetDevice(const TenantScope&, const std::string&) override { return Unused(); }
  absl::StatusOr<std::vector<pb::Device>> ListDevices(const TenantScope&, const DeviceFilter&, const std::string&,
                                                      int) override {
    return Unused();
  }
  absl::StatusOr<pb::Device> UpdateDevice(const TenantScope&, const std::string&, const DeviceMutation&, bool,
                                          const AuditEntry*) override {
    return Unused();
  }
  absl::Status DeleteDevice(const TenantScope&, const std::string&, const std::string&, const AuditEntry&) override {
    return Unused();
  }
  absl::StatusOr<NewCredential> CreateCredential(const TenantScope&, const std::string&, const std::string&,
                                                 const std::string&, const AuditEntry&, const ReplayTicket*) override {
    return Unused();
  }
  absl::StatusOr<std::vector<pb::DeviceCredential>> ListCredentials(const TenantScope&, const std::string&) override {
    return Unused();
  }
  absl::Status RevokeCredential(const TenantScope&, const std::string&, const std::string&,
                                const AuditEntry&) override {
    return Unused();
  }
  absl::StatusOr<pb::IdentifierRecord> ResolveIdentifier(const TenantScope&, const std::string&) override {
    return Unused();
  }
  absl::StatusOr<pb::DeviceSchema> LoadSchema(const TenantScope&, const std::string&) override { return Unused(); }
  absl::StatusOr<std::vector<pb::DeviceSchema>> LoadSchemas(const TenantScope&,
                                                            const std::vector<std::string>&) override {
    return Unused();
  }

 private:
  static absl::Status Unused() { return absl::UnimplementedError("not used by an import"); }
};

class NoInvalidation final : public SchemaInvalidator {
 public:
  void TenantChanged(const std::string&) override {}
  void DeviceDeleted(const std::string&, const std::string&) override {}
};

struct Fixture {
  ImportStore store;
  PageTokens tokens{"unit-test-page-token-secret"};
  NoInvalidation invalidator;
  DeviceManager manager{store, tokens, invalidator, "1"};
  Principal admin{"acme", Role::kTenantAdmin, "k1", "", nullptr};

  // Streams `rows` rows in messages of 1,000.
  absl::StatusOr<pb::ImportDevicesResponse> Import(int rows, absl::Status allowed = absl::OkStatus()) {
    int sent = 0;
    return manager.ImportDevices(
        admin,
        [&](pb::ImportDevicesRequest* message) -> absl::StatusOr<bool> {
          if (sent >= rows) return false;
          message->Clear();
          if (sent == 0) message->set_parent("tenants/acme");
          for (int i = 0; i < 1000 && sent < rows; ++i, ++sent) {
            pb::Device* device = message->add_devices();
            device->set_device_type_id("meter");
            device->set_serial_number(absl::StrCat("S-", sent));
          }
          return true;
        },
        [&] { return allowed; });
  }
};

TEST_CASE("device import: a batch the database refuses stops the import with every row's result",
          "[device][unit][defects]") {
  Fixture f;
  f.store.fail_on_batch = 1;  // the second batch of 5,000
  auto response = f.Import(12'000);
  REQUIRE(response.ok());
  CHECK(response->error().code() == static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  REQUIRE(response->results_size() == 10'000);  // rows 10,000+ were never read
  CHECK(response->created_count() == 5'000);
  CHECK(response->failed_count() == 5'000);
  CHECK(f.store.stored_rows.size() == 5'000);
  for (int i = 0; i < 5'000; ++i) CHECK(response->results(i).outcome() == pb::IMPORT_OUTCOME_CREATED);
  for (int i = 5'000; i < 10'000; ++i) {
    CHECK(response->results(i).outcome() == pb::IMPORT_OUTCOME_FAILED);
    CHECK(absl::StartsWith(response->results(i).message(), "not applied: database: statement timed out"));
  }
}

TEST_CASE("device import: a stream that must end stores nothing more and says so", "[device][unit][defects]") {
  Fixture f;
  auto response = f.Import(3'000, absl::UnauthenticatedError("authorization: API key revoked"));
  REQUIRE(response.ok());
  CHECK(response->error().code() == static_cast<int>(absl::StatusCode::kUnauthenticated));
  CHECK(f.store.stored_rows.empty());
  CHECK(response->failed_count() == 3'000);
}

TEST_CASE("device import: a complete import has no error", "[device][unit][defects]") {
  Fixture f;
  auto response = f.Import(7'500);
  REQUIRE(response.ok());
  CHECK_FALSE(response->has_error());
  CHECK(response->created_count() == 7'500);
  CHECK(f.store.batches == 2);
}

}  // namespace
}  // namespace parkbase::device
