// Bulk import over gRPC against the real PostgreSQL: 100,000 rows with bad ones among them, per-row results, an
// idempotent re-run, and the device quota applied row by row.
#include <set>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "support/tenant_client.h"
#include "support/test_env.h"

namespace parkbase::testing {
namespace {

namespace pb = ::parkbase::device::v1;

ServerConfig ImportConfig() {
  ServerConfig config;
  config.park_code = "7";
  return config;
}

struct ImportEnv {
  ImportEnv() = default;
  explicit ImportEnv(ServerConfig config) : server(SharedDatabase(), std::move(config)) {}

  TestServer server{SharedDatabase(), ImportConfig()};
  TenantClient tenants{server};
  std::unique_ptr<pb::DeviceService::Stub> stub = pb::DeviceService::NewStub(server.channel());
};

void CreateType(ImportEnv& env, const std::string& key, const std::string& tenant_id) {
  pb::CreateDeviceTypeRequest request;
  request.set_parent(absl::StrCat("tenants/", tenant_id));
  request.set_device_type_id("meter");
  request.mutable_device_type()->set_display_name("Power meter");
  auto* metric = request.mutable_device_type()->add_metrics();
  metric->set_name("power");
  metric->set_unit("kW");
  metric->set_value_type(pb::VALUE_TYPE_DOUBLE);
  pb::DeviceType type;
  REQUIRE(env.stub->CreateDeviceType(Context(key).get(), request, &type).ok());
}

// Streams `rows` in messages of `per_message` rows and returns the server's answer.
grpc::Status Import(ImportEnv& env, const std::string& key, const std::string& tenant_id,
                    const std::vector<pb::Device>& rows, int per_message, pb::ImportDevicesResponse* response) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto writer = env.stub->ImportDevices(&context, response);
  for (size_t start = 0; start < rows.size(); start += per_message) {
    pb::ImportDevicesRequest message;
    if (start == 0) message.set_parent(absl::StrCat("tenants/", tenant_id));
    for (size_t i = start; i < std::min(rows.size(), start + per_message); ++i) *message.add_devices() = rows[i];
    if (!writer->Write(message)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

TEST_CASE("device: bulk import of 100,000 devices reports bad rows and is idempotent", "[device][integration]") {
  ImportEnv env;
  TestTenant acme = env.tenants.CreateTenant("bulk", tenantpb::PLAN_ENTERPRISE);
  CreateType(env, acme.admin_key, acme.tenant_id);

  constexpr int kRows = 100'000;
  std::vector<pb::Device> rows(kRows);
  for (int i = 0; i < kRows; ++i) {
    rows[i].set_device_type_id("meter");
    rows[i].set_serial_number(absl::StrCat("PM-", i));
    (*rows[i].mutable_labels())["line"] = absl::StrCat(i % 10);
    if (i % 1000 == 0) (*rows[i].mutable_attributes())["phase"].set_int64_value(3);
  }
  std::set<int> bad = {17, 5'000, 40'001, 99'999};
  rows[17].set_serial_number("");                    // invalid field
  rows[5'000].set_device_type_id("nosuchtype");      // unknown type
  rows[40'001].set_serial_number("PM-40000");        // repeats row 40,000
  (*rows[99'999].mutable_labels())["Bad Key"] = "x";  // invalid label

  const absl::Time start = absl::Now();
  pb::ImportDevicesResponse first;
  grpc::Status status = Import(env, acme.admin_key, acme.tenant_id, rows, 1000, &first);
  const absl::Duration took = absl::Now() - start;
  INFO(status.error_message());
  REQUIRE(status.ok());
  WARN("imported " << kRows << " rows in " << absl::FormatDuration(took) << " ("
                   << static_cast<int>(kRows / absl::ToDoubleSeconds(took)) << " rows/s)");
  REQUIRE(first.results_size() == kRows);
  CHECK(first.created_count() == kRows - static_cast<int>(bad.size()));
  CHECK(first.unchanged_count() == 0);
  CHECK(first.failed_count() == static_cast<int>(bad.size()));
  for (int i = 0; i < kRows; ++i) {
    const pb::ImportRowResult& result = first.results(i);
    REQUIRE(result.row_index() == i);
    if (bad.count(i) != 0) {
      CHECK(result.outcome() == pb::IMPORT_OUTCOME_FAILED);
      CHECK(result.device_id().empty());
    } else if (result.outcome() != pb::IMPORT_OUTCOME_CREATED) {
      FAIL("row " << i << ": " << result.message());
    }
  }
  CHECK(first.results(17).code() == grpc::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(first.results(17).message(), "device.serial_number"));
  CHECK(first.results(5'000).code() == grpc::FAILED_PRECONDITION);
  CHECK(absl::StartsWith(first.results(5'000).message(), "device.device_type_id"));
  CHECK(first.results(40'001).code() == grpc::INVALID_ARGUMENT);
  CHECK(first.results(40'001).message() == "device.serial_number: repeats row 40000");
  CHECK(absl::StartsWith(first.results(99'999).message(), "device.labels"));

  // Good rows are stored whole: device, labels, attributes and identifier.
  pb::GetDeviceRequest get;
  get.set_name(absl::StrCat("tenants/", acme.tenant_id, "/devices/", first.results(3'000).device_id()));
  pb::Device stored;
  REQUIRE(env.stub->GetDevice(Context(acme.admin_key).get(), get, &stored).ok());
  CHECK(stored.serial_number() == "PM-3000");
  CHECK(stored.labels().at("line") == "0");
  CHECK(stored.attributes().at("phase").int64_value() == 3);
  CHECK(absl::EndsWith(stored.identifier(), "/PM-3000"));
  pb::ListDevicesRequest list;
  list.set_parent(absl::StrCat("tenants/", acme.tenant_id));
  list.set_filter("labels.line = 7");
  list.set_page_size(1000);
  int line7 = 0;
  do {
    pb::ListDevicesResponse page;
    REQUIRE(env.stub->ListDevices(Context(acme.admin_key).get(), list, &page).ok());
    line7 += page.devices_size();
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  CHECK(line7 == kRows / 10 - 1);  // row 17 (line 7) was refused

  // A re-run changes nothing and says so.
  pb::ImportDevicesResponse second;
  status = Import(env, acme.admin_key, acme.tenant_id, rows, 5000, &second);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(second.created_count() == 0);
  CHECK(second.unchanged_count() == kRows - static_cast<int>(bad.size()));
  CHECK(second.failed_count() == static_cast<int>(bad.size()));
  CHECK(second.results(3'000).outcome() == pb::IMPORT_OUTCOME_UNCHANGED);
  CHECK(second.results(3'000).device_id() == first.results(3'000).device_id());
  REQUIRE(env.stub->GetDevice(Context(acme.admin_key).get(), get, &stored).ok());
  CHECK(stored.update_time().SerializeAsString() == stored.create_time().SerializeAsString());
}

TEST_CASE("device: bulk import applies the device quota row by row", "[device][integration]") {
  ImportEnv env;
  TestTenant acme = env.tenants.CreateTenant("quota");
  tenantpb::UpdateTenantRequest quota;
  quota.mutable_tenant()->set_name(absl::StrCat("tenants/", acme.tenant_id));
  quota.mutable_tenant()->mutable_quota()->set_max_devices(5);
  quota.mutable_update_mask()->add_paths("quota.max_devices");
  tenantpb::Tenant tenant;
  REQUIRE(env.tenants.stub().UpdateTenant(Context(env.server.park_admin_key()).get(), quota, &tenant).ok());
  CreateType(env, acme.admin_key, acme.tenant_id);

  std::vector<pb::Device> rows(8);
  for (int i = 0; i < 8; ++i) {
    rows[i].set_device_type_id("meter");
    rows[i].set_serial_number(absl::StrCat("Q-", i));
  }
  pb::ImportDevicesResponse response;
  REQUIRE(Import(env, acme.admin_key, acme.tenant_id, rows, 3, &response).ok());
  CHECK(response.created_count() == 5);
  CHECK(response.failed_count() == 3);
  for (int i = 5; i < 8; ++i) {
    CHECK(response.results(i).code() == grpc::RESOURCE_EXHAUSTED);
    CHECK(absl::StartsWith(response.results(i).message(), "max_devices"));
  }
  // At the quota, existing serials are still reported unchanged rather than refused.
  REQUIRE(Import(env, acme.admin_key, acme.tenant_id, rows, 8, &response).ok());
  CHECK(response.unchanged_count() == 5);
  CHECK(response.failed_count() == 3);

  SECTION("a call without parent is refused whole") {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", acme.admin_key));
    auto writer = env.stub->ImportDevices(&context, &response);
    pb::ImportDevicesRequest message;
    *message.add_devices() = rows[0];
    writer->Write(message);
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "parent"));
  }
}

}  // namespace
}  // namespace parkbase::testing

namespace parkbase::testing {
namespace {

TEST_CASE("device: an import past 100,000 rows stores exactly what its answer says", "[device][integration][defects]") {
  ImportEnv env;
  TestTenant acme = env.tenants.CreateTenant("limit", tenantpb::PLAN_ENTERPRISE);
  CreateType(env, acme.admin_key, acme.tenant_id);
  constexpr int kRows = 100'003;  // the last batch before the limit is partial: 100,000 = 20 x 5,000
  std::vector<pb::Device> rows(kRows);
  for (int i = 0; i < kRows; ++i) {
    rows[i].set_device_type_id("meter");
    rows[i].set_serial_number(absl::StrCat("L-", i));
  }
  rows[99'998].set_serial_number("");  // one bad row among the last ones read
  pb::ImportDevicesResponse partial;
  grpc::Status status = Import(env, acme.admin_key, acme.tenant_id, rows, 7'000, &partial);
  INFO(status.error_message());
  REQUIRE(status.ok());
  // Every row read has its result, and `error` says the import stopped and why.
  CHECK(partial.error().code() == grpc::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(partial.error().message(), "devices: at most 100000 rows a call"));
  REQUIRE(partial.results_size() == 100'000);
  CHECK(partial.created_count() == 99'999);
  CHECK(partial.failed_count() == 1);
  CHECK(partial.results(99'998).outcome() == pb::IMPORT_OUTCOME_FAILED);
  CHECK(partial.results(99'999).outcome() == pb::IMPORT_OUTCOME_CREATED);

  // Exactly the created rows are stored: the pending batch was flushed before the refusal.
  pqxx::connection owner(SharedDatabase().owner_url());
  pqxx::work work(owner);
  CHECK(work.exec_params("SELECT count(*) FROM devices WHERE tenant_id = $1", acme.tenant_id)[0][0].as<int>() ==
        99'999);
}

TEST_CASE("device: bulk import has a statement budget of its own", "[device][integration][defects]") {
  // Interactive calls get 100 ms, which a 5,000-row import batch does not fit.
  ServerConfig config = ImportConfig();
  config.statement_timeout = absl::Milliseconds(100);
  ImportEnv env(config);
  TestTenant acme = env.tenants.CreateTenant("budget", tenantpb::PLAN_ENTERPRISE);
  CreateType(env, acme.admin_key, acme.tenant_id);
  auto& stub = env.stub;
  constexpr int kRows = 20'000;
  std::vector<pb::Device> rows(kRows);
  for (int i = 0; i < kRows; ++i) {
    rows[i].set_device_type_id("meter");
    rows[i].set_serial_number(absl::StrCat("B-", i));
    (*rows[i].mutable_labels())["line"] = absl::StrCat(i % 10);
  }
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", acme.admin_key));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  pb::ImportDevicesResponse response;
  auto writer = stub->ImportDevices(&context, &response);
  for (int start = 0; start < kRows; start += 2'000) {
    pb::ImportDevicesRequest message;
    if (start == 0) message.set_parent(absl::StrCat("tenants/", acme.tenant_id));
    for (int i = start; i < start + 2'000; ++i) *message.add_devices() = rows[i];
    REQUIRE(writer->Write(message));
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(response.created_count() == kRows);
}

}  // namespace
}  // namespace parkbase::testing

namespace parkbase::testing {
namespace {

TEST_CASE("tenant: a large tenant is deleted in batches, each within a short statement timeout",
          "[device][integration][defects]") {
  // 100 ms a statement: one cascading DELETE of 30,000 devices with their identifiers does not fit.
  ServerConfig config = ImportConfig();
  config.statement_timeout = absl::Milliseconds(100);
  ImportEnv env(config);
  TestTenant big = env.tenants.CreateTenant("large", tenantpb::PLAN_ENTERPRISE);
  CreateType(env, big.admin_key, big.tenant_id);
  constexpr int kRows = 30'000;
  std::vector<pb::Device> rows(kRows);
  for (int i = 0; i < kRows; ++i) {
    rows[i].set_device_type_id("meter");
    rows[i].set_serial_number(absl::StrCat("G-", i));
    (*rows[i].mutable_labels())["line"] = absl::StrCat(i % 10);
  }
  pb::ImportDevicesResponse imported;
  REQUIRE(Import(env, big.admin_key, big.tenant_id, rows, 5'000, &imported).ok());
  REQUIRE(imported.created_count() == kRows);

  {
    // Telemetry of a busy year: 400,000 chunk rows (tiny blocks; what matters is the rows the cascade visits).
    pqxx::connection owner(SharedDatabase().owner_url());
    pqxx::work work(owner);
    work.exec_params(
        "INSERT INTO telemetry_chunks (tenant_id, group_id, window_start_ms, generation, device_type_id, "
        "min_time_ms, max_time_ms, point_count, block) SELECT $1, g / 1000, (g % 1000)::bigint * 3600000, 0, "
        "'meter', 0, 0, 1, '\\x00' FROM generate_series(0, 399999) g",
        big.tenant_id);
    work.commit();
  }
  {
    // The defect's precondition holds on this machine: one cascading DELETE of the tenant does not fit the
    // statement timeout (were it to fit, this test could not tell batches from one statement).
    pqxx::connection owner(SharedDatabase().owner_url());
    pqxx::work work(owner);
    work.exec("SET LOCAL statement_timeout = '100ms'");
    bool timed_out = false;
    try {
      work.exec_params("DELETE FROM tenants WHERE tenant_id = $1", big.tenant_id);
    } catch (const pqxx::sql_error& error) {
      timed_out = error.sqlstate() == "57014";
    }
    REQUIRE(timed_out);
  }
  tenantpb::SuspendTenantRequest suspend;
  suspend.set_name(absl::StrCat("tenants/", big.tenant_id));
  suspend.set_reason("leaving");
  tenantpb::Tenant suspended;
  REQUIRE(env.tenants.stub().SuspendTenant(Context(env.server.park_admin_key()).get(), suspend, &suspended).ok());
  tenantpb::DeleteTenantRequest remove;
  remove.set_name(absl::StrCat("tenants/", big.tenant_id));
  tenantpb::DeleteTenantResponse removed;
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", env.server.park_admin_key()));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  grpc::Status status = env.tenants.stub().DeleteTenant(&context, remove, &removed);
  INFO(status.error_message());
  REQUIRE(status.ok());
  pqxx::connection owner(SharedDatabase().owner_url());
  pqxx::work work(owner);
  CHECK(work.exec_params("SELECT count(*) FROM devices WHERE tenant_id = $1", big.tenant_id)[0][0].as<int>() == 0);
  CHECK(work.exec_params("SELECT count(*) FROM telemetry_chunks WHERE tenant_id = $1", big.tenant_id)[0][0].as<int>() ==
        0);
  CHECK(work.exec_params("SELECT count(*) FROM tenants WHERE tenant_id = $1", big.tenant_id)[0][0].as<int>() == 0);
  // The deletion is in the park's audit log.
  CHECK(work.exec_params("SELECT count(*) FROM audit_events WHERE tenant_id = 'park' AND action = 'DeleteTenant' "
                         "AND resource = $1",
                         absl::StrCat("tenants/", big.tenant_id))[0][0]
            .as<int>() == 1);
}

}  // namespace
}  // namespace parkbase::testing
