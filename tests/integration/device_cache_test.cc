// The device read cache (device/device_cache.h) across replicas: replica A is the test server (its own device cache,
// on by default), replica B a CachingDeviceStore of the test's own on the same PostgreSQL and Redis, on the real
// clock. Under B's cache sits a store that counts its reads, so a hit is proved not to reach the database.
#include <atomic>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/db.h"
#include "common/redis.h"
#include "common/redis_keys.h"
#include "common/tenant_epochs.h"
#include "device/device_cache.h"
#include "device/device_store.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "support/tenant_client.h"
#include "support/test_env.h"

namespace parkbase::testing {
namespace {

namespace pb = ::parkbase::device::v1;

// What device-registry.md promises: a change on one replica shows in GetDevice on every other within 1 s
// (the epoch check, 250 ms, plus one Redis round trip; 1 s leaves room for a loaded machine).
constexpr absl::Duration kChangeBound = absl::Seconds(1);

// Forwards to PgDeviceStore and counts GetDevice reads: each one is a database round trip.
class CountingStore final : public device::DeviceStore {
 public:
  explicit CountingStore(DbPool& db) : store_(db) {}
  int gets() const { return gets_.load(); }

  absl::StatusOr<pb::Device> GetDevice(const TenantScope& scope, const std::string& device_id) override {
    ++gets_;
    return store_.GetDevice(scope, device_id);
  }
  absl::StatusOr<pb::DeviceType> CreateDeviceType(const TenantScope& scope, const pb::DeviceType& type) override {
    return store_.CreateDeviceType(scope, type);
  }
  absl::StatusOr<pb::DeviceType> GetDeviceType(const TenantScope& scope, const std::string& type_id,
                                               int64_t version) override {
    return store_.GetDeviceType(scope, type_id, version);
  }
  absl::StatusOr<std::vector<pb::DeviceType>> ListDeviceTypes(const TenantScope& scope, const std::string& after,
                                                              int limit) override {
    return store_.ListDeviceTypes(scope, after, limit);
  }
  absl::StatusOr<pb::DeviceType> UpdateDeviceType(const TenantScope& scope, const std::string& type_id,
                                                  const device::DeviceTypeMutation& mutate) override {
    return store_.UpdateDeviceType(scope, type_id, mutate);
  }
  absl::Status DeleteDeviceType(const TenantScope& scope, const std::string& type_id,
                                const std::string& etag) override {
    return store_.DeleteDeviceType(scope, type_id, etag);
  }
  absl::StatusOr<pb::Device> CreateDevice(const TenantScope& scope, const std::string& park_code,
                                          const pb::Device& device) override {
    return store_.CreateDevice(scope, park_code, device);
  }
  absl::StatusOr<std::vector<pb::Device>> ListDevices(const TenantScope& scope, const device::DeviceFilter& filter,
                                                      const std::string& after, int limit) override {
    return store_.ListDevices(scope, filter, after, limit);
  }
  absl::StatusOr<pb::Device> UpdateDevice(const TenantScope& scope, const std::string& device_id,
                                          const device::DeviceMutation& mutate, bool seen,
                                          const AuditEntry* audit) override {
    return store_.UpdateDevice(scope, device_id, mutate, seen, audit);
  }
  absl::Status DeleteDevice(const TenantScope& scope, const std::string& device_id, const std::string& etag,
                            const AuditEntry& audit) override {
    return store_.DeleteDevice(scope, device_id, etag, audit);
  }
  absl::StatusOr<std::vector<pb::ImportRowResult>> ImportBatch(const TenantScope& scope, const std::string& park_code,
                                                               const std::vector<device::ImportRow>& rows) override {
    return store_.ImportBatch(scope, park_code, rows);
  }
  absl::StatusOr<device::NewCredential> CreateCredential(const TenantScope& scope, const std::string& device_id,
                                                         const std::string& display_name, const std::string& creator,
                                                         const AuditEntry& audit, const ReplayTicket* replay) override {
    return store_.CreateCredential(scope, device_id, display_name, creator, audit, replay);
  }
  absl::StatusOr<std::vector<pb::DeviceCredential>> ListCredentials(const TenantScope& scope,
                                                                    const std::string& device_id) override {
    return store_.ListCredentials(scope, device_id);
  }
  absl::Status RevokeCredential(const TenantScope& scope, const std::string& device_id, const std::string& key_id,
                                const AuditEntry& audit) override {
    return store_.RevokeCredential(scope, device_id, key_id, audit);
  }
  absl::StatusOr<pb::IdentifierRecord> ResolveIdentifier(const TenantScope& scope,
                                                          const std::string& identifier) override {
    return store_.ResolveIdentifier(scope, identifier);
  }
  absl::StatusOr<pb::DeviceSchema> LoadSchema(const TenantScope& scope, const std::string& device_id) override {
    return store_.LoadSchema(scope, device_id);
  }
  absl::StatusOr<std::vector<pb::DeviceSchema>> LoadSchemas(const TenantScope& scope,
                                                            const std::vector<std::string>& device_ids) override {
    return store_.LoadSchemas(scope, device_ids);
  }

 private:
  device::PgDeviceStore store_;
  std::atomic<int> gets_{0};
};

std::unique_ptr<RedisClient> Connect(const std::string& url) {
  absl::StatusOr<std::unique_ptr<RedisClient>> redis =
      RedisClient::Create({.url = url, .connect_timeout = absl::Milliseconds(200)});
  REQUIRE(redis.ok());
  return *std::move(redis);
}

// Replica B: its own database pool, Redis connections, epochs and cache.
class Replica {
 public:
  explicit Replica(const std::string& redis_url = RedisUrl())
      : db_(DbPool::Options{.url = SharedDatabase().app_url(), .size = 2}),
        redis_(Connect(redis_url)),
        counting_(db_),
        epochs_(*redis_, clock_, redis_keys::DeviceEpoch, absl::Milliseconds(250), 1000),
        cache_(counting_, epochs_, clock_, {}) {}

  device::CachingDeviceStore& cache() { return cache_; }
  int database_reads() const { return counting_.gets(); }

  // How long after now `until` holds for GetDevice's answer, polling every 5 ms; InfiniteDuration after 5 s.
  absl::Duration Until(const TenantScope& scope, const std::string& device_id,
                       const std::function<bool(const absl::StatusOr<pb::Device>&)>& until) {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < absl::Seconds(5)) {
      if (until(cache_.GetDevice(scope, device_id))) return absl::Now() - start;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return absl::InfiniteDuration();
  }

 private:
  SystemClock clock_;
  DbPool db_;
  std::unique_ptr<RedisClient> redis_;
  CountingStore counting_;
  TenantEpochs epochs_;
  device::CachingDeviceStore cache_;
};

void CreateType(pb::DeviceService::Stub& stub, const TestTenant& tenant) {
  pb::CreateDeviceTypeRequest request;
  request.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  request.set_device_type_id("meter");
  request.mutable_device_type()->set_display_name("Meter");
  pb::DeviceType type;
  grpc::Status status = stub.CreateDeviceType(Context(tenant.admin_key).get(), request, &type);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

pb::Device CreateDevice(pb::DeviceService::Stub& stub, const TestTenant& tenant, const std::string& serial) {
  pb::CreateDeviceRequest request;
  request.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  request.mutable_device()->set_device_type_id("meter");
  request.mutable_device()->set_serial_number(serial);
  request.mutable_device()->set_display_name("before");
  pb::Device device;
  grpc::Status status = stub.CreateDevice(Context(tenant.admin_key).get(), request, &device);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return device;
}

pb::Device GetThroughServer(pb::DeviceService::Stub& stub, const std::string& key, const pb::Device& device) {
  pb::GetDeviceRequest request;
  request.set_name(device.name());
  pb::Device read;
  grpc::Status status = stub.GetDevice(Context(key).get(), request, &read);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return read;
}

TEST_CASE("device cache: a hit skips the database, and an update and a delete on replica A show on replica B "
          "within 1 s",
          "[device][integration]") {
  TestServer server;
  TenantClient tenants(server);
  auto stub = pb::DeviceService::NewStub(server.channel());
  const TestTenant acme = tenants.CreateTenant("devcache");
  CreateType(*stub, acme);
  const pb::Device device = CreateDevice(*stub, acme, "M-1");
  const TenantScope scope = TenantScope::Tenant(acme.tenant_id);

  Replica b;
  REQUIRE(b.cache().GetDevice(scope, device.device_id()).ok());
  REQUIRE(b.database_reads() == 1);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<pb::Device> hit = b.cache().GetDevice(scope, device.device_id());
    REQUIRE(hit.ok());
    CHECK(hit->display_name() == "before");
  }
  CHECK(b.database_reads() == 1);
  CHECK(b.cache().stats().hits == 3);

  // Replica A caches the device too, then changes it: its own next read shows the change at once.
  CHECK(GetThroughServer(*stub, acme.admin_key, device).display_name() == "before");
  pb::UpdateDeviceRequest update;
  update.mutable_device()->set_name(device.name());
  update.mutable_device()->set_display_name("after");
  update.mutable_update_mask()->add_paths("display_name");
  pb::Device updated;
  REQUIRE(stub->UpdateDevice(Context(acme.admin_key).get(), update, &updated).ok());
  CHECK(GetThroughServer(*stub, acme.admin_key, device).display_name() == "after");

  const absl::Duration seen = b.Until(scope, device.device_id(), [](const absl::StatusOr<pb::Device>& read) {
    return read.ok() && read->display_name() == "after";
  });
  INFO("update shown on replica B after " << absl::FormatDuration(seen));
  CHECK(seen < kChangeBound);

  pb::DeleteDeviceRequest remove;
  remove.set_name(device.name());
  pb::DeleteDeviceResponse removed;
  REQUIRE(stub->DeleteDevice(Context(acme.admin_key).get(), remove, &removed).ok());
  const absl::Duration gone = b.Until(scope, device.device_id(), [](const absl::StatusOr<pb::Device>& read) {
    return absl::IsNotFound(read.status());
  });
  INFO("delete shown on replica B after " << absl::FormatDuration(gone));
  CHECK(gone < kChangeBound);
}

TEST_CASE("device cache: a device's activation by its first call shows on another replica within 1 s",
          "[device][integration]") {
  TestServer server;
  TenantClient tenants(server);
  auto stub = pb::DeviceService::NewStub(server.channel());
  const TestTenant acme = tenants.CreateTenant("devact");
  CreateType(*stub, acme);
  const pb::Device device = CreateDevice(*stub, acme, "M-1");
  REQUIRE(device.state() == pb::DEVICE_STATE_PROVISIONED);
  const TenantScope scope = TenantScope::Tenant(acme.tenant_id);
  Replica b;
  REQUIRE(b.cache().GetDevice(scope, device.device_id())->state() == pb::DEVICE_STATE_PROVISIONED);
  // Replica A caches it as provisioned too.
  REQUIRE(GetThroughServer(*stub, acme.admin_key, device).state() == pb::DEVICE_STATE_PROVISIONED);

  pb::CreateDeviceCredentialRequest mint;
  mint.set_parent(device.name());
  mint.mutable_credential()->set_display_name("firmware key");
  pb::CreateDeviceCredentialResponse minted;
  REQUIRE(stub->CreateDeviceCredential(Context(acme.admin_key).get(), mint, &minted).ok());
  // The device's first authenticated call activates it (common/auth.cc).
  CHECK(GetThroughServer(*stub, minted.secret(), device).state() == pb::DEVICE_STATE_ACTIVE);
  // Replica A at once, for every caller.
  CHECK(GetThroughServer(*stub, acme.admin_key, device).state() == pb::DEVICE_STATE_ACTIVE);
  const absl::Duration seen = b.Until(scope, device.device_id(), [](const absl::StatusOr<pb::Device>& read) {
    return read.ok() && read->state() == pb::DEVICE_STATE_ACTIVE;
  });
  INFO("activation shown on replica B after " << absl::FormatDuration(seen));
  CHECK(seen < kChangeBound);
}

TEST_CASE("device cache: the same device id in two tenants, and park versus tenant scope, never share an entry",
          "[device][integration][isolation]") {
  TestServer server;
  TenantClient tenants(server);
  auto stub = pb::DeviceService::NewStub(server.channel());
  const TestTenant acme = tenants.CreateTenant("devisoa");
  const TestTenant other = tenants.CreateTenant("devisob");
  CreateType(*stub, acme);
  CreateType(*stub, other);
  Replica b;
  const TenantScope acme_scope = TenantScope::Tenant(acme.tenant_id);
  const TenantScope other_scope = TenantScope::Tenant(other.tenant_id);
  pb::Device row;
  row.set_device_id("shared-id");
  row.set_device_type_id("meter");
  row.set_serial_number("ACME-1");
  REQUIRE(b.cache().CreateDevice(acme_scope, "7", row).ok());

  // Cached in acme (and its NOT_FOUND in the other tenant) before the other tenant has a device of that id.
  REQUIRE(b.cache().GetDevice(acme_scope, "shared-id")->serial_number() == "ACME-1");
  REQUIRE(b.cache().GetDevice(acme_scope, "shared-id").ok());
  CHECK(absl::IsNotFound(b.cache().GetDevice(other_scope, "shared-id").status()));
  CHECK(absl::IsNotFound(b.cache().GetDevice(other_scope, "shared-id").status()));

  row.set_serial_number("OTHER-1");
  REQUIRE(b.cache().CreateDevice(other_scope, "7", row).ok());
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<pb::Device> mine = b.cache().GetDevice(other_scope, "shared-id");
    REQUIRE(mine.ok());
    CHECK(mine->serial_number() == "OTHER-1");
    absl::StatusOr<pb::Device> theirs = b.cache().GetDevice(acme_scope, "shared-id");
    REQUIRE(theirs.ok());
    CHECK(theirs->serial_number() == "ACME-1");
  }

  // A park-wide read is an entry of its own: the tenant-scoped one does not answer it.
  const int reads = b.database_reads();
  (void)b.cache().GetDevice(TenantScope::ParkAdmin(acme.tenant_id), "shared-id");
  CHECK(b.database_reads() == reads + 1);
}

TEST_CASE("device cache: with Redis unreachable every read goes to the database and sees every change",
          "[device][integration]") {
  TestServer server;
  TenantClient tenants(server);
  auto stub = pb::DeviceService::NewStub(server.channel());
  const TestTenant acme = tenants.CreateTenant("devbypass");
  CreateType(*stub, acme);
  const pb::Device device = CreateDevice(*stub, acme, "M-1");
  const TenantScope scope = TenantScope::Tenant(acme.tenant_id);
  // Nothing listens on port 1.
  Replica b("redis://127.0.0.1:1");
  for (int i = 0; i < 3; ++i) REQUIRE(b.cache().GetDevice(scope, device.device_id()).ok());
  CHECK(b.database_reads() == 3);
  CHECK(b.cache().stats().bypassed == 3);
  CHECK(b.cache().stats().hits == 0);
  CHECK(b.cache().cached_entries() == 0);

  pb::UpdateDeviceRequest update;
  update.mutable_device()->set_name(device.name());
  update.mutable_device()->set_display_name("after");
  update.mutable_update_mask()->add_paths("display_name");
  pb::Device updated;
  REQUIRE(stub->UpdateDevice(Context(acme.admin_key).get(), update, &updated).ok());
  absl::StatusOr<pb::Device> read = b.cache().GetDevice(scope, device.device_id());
  REQUIRE(read.ok());
  CHECK(read->display_name() == "after");
}

}  // namespace
}  // namespace parkbase::testing
