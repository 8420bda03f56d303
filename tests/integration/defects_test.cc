// Regression tests for the defects fixed together (narrower row-level security, audit of device and retention
// changes, health-only health port, per-process Redis databases, timestamp range, NOT_FOUND for a missing tenant,
// requests parsed by the services, suspend reason, device activation, strict list filters, optional quota fields,
// retention overrides naming real device types). Each asserts what a client, or the services' database role, sees.
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/grpc_client.h"
#include "common/redis.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "prometheus/text_serializer.h"
#include "support/raw_call.h"
#include "support/tenant_client.h"
#include "support/test_env.h"

namespace parkbase::testing {
namespace {

namespace devicepb = ::parkbase::device::v1;
namespace telemetrypb = ::parkbase::telemetry::v1;

constexpr char kInsufficientPrivilege[] = "42501";

std::string Parent(const std::string& tenant_id) { return absl::StrCat("tenants/", tenant_id); }

// The resource name of the key a key string `pbk.<tenant>.<key id>.<secret>` stands for: the audit log's actor.
std::string KeyName(const std::string& key) {
  std::vector<std::string> parts = absl::StrSplit(key, '.');
  REQUIRE(parts.size() == 4);
  return absl::StrCat("tenants/", parts[1], "/apiKeys/", parts[2]);
}

// The SQLSTATE of a libpqxx error. libpqxx 6.4 leaves sqlstate() empty on the subclasses it picks by SQLSTATE;
// insufficient_privilege is the one it throws for 42501 (and for nothing else).
std::string SqlStateOfError(const pqxx::sql_error& error) {
  if (!error.sqlstate().empty()) return error.sqlstate();
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&error) != nullptr) return kInsufficientPrivilege;
  return "unknown";
}

// Runs `body` in a transaction of its own (rolled back, never committed) as the services' role, with
// parkbase.tenant_id = `tenant_id` and parkbase.scope = `scope`. Returns "" when it succeeds, else the SQLSTATE.
std::string SqlStateOf(const std::string& tenant_id, const std::string& scope,
                       const std::function<void(pqxx::work&)>& body) {
  pqxx::connection service(SharedDatabase().app_url());
  pqxx::work work(service);
  work.exec_params("SELECT set_config('parkbase.tenant_id', $1, true), set_config('parkbase.scope', $2, true)",
                   tenant_id, scope);
  try {
    body(work);
  } catch (const pqxx::sql_error& error) {
    UNSCOPED_INFO(error.what());
    return SqlStateOfError(error);
  }
  return "";
}

// A statement with $1 bound to `tenant_id`, as a body for SqlStateOf that also requires it to touch a row when it
// gets through (so a refusal is not just a statement that matched nothing).
std::function<void(pqxx::work&)> Exec(const std::string& sql, const std::string& tenant_id) {
  return [sql, tenant_id](pqxx::work& work) {
    pqxx::result result = work.exec_params(sql, tenant_id);
    CHECK(result.affected_rows() >= 1);
  };
}

struct Env {
  TestServer server;
  TenantClient tenants{server};
  std::unique_ptr<devicepb::DeviceService::Stub> devices = devicepb::DeviceService::NewStub(server.channel());
  std::unique_ptr<telemetrypb::TelemetryService::Stub> telemetry =
      telemetrypb::TelemetryService::NewStub(server.channel());

  explicit Env(ServerConfig config = {}) : server(SharedDatabase(), std::move(config)) {}
};

void CreateType(Env& env, const std::string& key, const std::string& tenant_id, const std::string& type_id) {
  devicepb::CreateDeviceTypeRequest request;
  request.set_parent(Parent(tenant_id));
  request.set_device_type_id(type_id);
  request.mutable_device_type()->set_display_name("Hydraulic press");
  auto* metric = request.mutable_device_type()->add_metrics();
  metric->set_name("pressure");
  metric->set_value_type(devicepb::VALUE_TYPE_DOUBLE);
  devicepb::DeviceType created;
  grpc::Status status = env.devices->CreateDeviceType(Context(key).get(), request, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

devicepb::Device CreateDevice(Env& env, const std::string& key, const std::string& tenant_id,
                              const std::string& type_id, const std::string& device_id, const std::string& serial) {
  devicepb::CreateDeviceRequest request;
  request.set_parent(Parent(tenant_id));
  request.mutable_device()->set_device_type_id(type_id);
  request.mutable_device()->set_device_id(device_id);
  request.mutable_device()->set_serial_number(serial);
  devicepb::Device created;
  grpc::Status status = env.devices->CreateDevice(Context(key).get(), request, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return created;
}

devicepb::CreateDeviceCredentialResponse MintCredential(Env& env, const std::string& key,
                                                        const std::string& device_name) {
  devicepb::CreateDeviceCredentialRequest request;
  request.set_parent(device_name);
  request.mutable_credential()->set_display_name("firmware key");
  devicepb::CreateDeviceCredentialResponse response;
  grpc::Status status = env.devices->CreateDeviceCredential(Context(key).get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response;
}

devicepb::Device GetDevice(Env& env, const std::string& key, const std::string& name) {
  devicepb::GetDeviceRequest request;
  request.set_name(name);
  devicepb::Device device;
  grpc::Status status = env.devices->GetDevice(Context(key).get(), request, &device);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return device;
}

// The field of the first BadRequest field violation in `status`'s details, or "".
std::string BadRequestField(const grpc::Status& status) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return "";
  for (const auto& any : details.details()) {
    google::rpc::BadRequest bad_request;
    if (any.UnpackTo(&bad_request) && bad_request.field_violations_size() > 0) {
      return bad_request.field_violations(0).field();
    }
  }
  return "";
}

// --- 1 --------------------------------------------------------------------------------------------------------

TEST_CASE("defects: tenant-scoped SQL may change only a tenant's profile and mint no park-admin keys",
          "[defects][integration]") {
  Env env;
  TestTenant a = env.tenants.CreateTenant("rlsn");
  const std::string& id = a.tenant_id;

  SECTION("quota, plan, state, provider and suspend reason change only in park scope") {
    for (const char* assignment : {"max_devices = 999999", "state = 2", "plan = 3", "provider = true",
                                   "suspend_reason = 'x'", "max_installed_apps = 999"}) {
      INFO(assignment);
      CHECK(SqlStateOf(id, "tenant", Exec(absl::StrCat("UPDATE tenants SET ", assignment, " WHERE tenant_id = $1"),
                                          id)) == kInsufficientPrivilege);
    }
    CHECK(SqlStateOf(id, "tenant", Exec("UPDATE tenants SET display_name = 'x' WHERE tenant_id = $1", id)).empty());
    CHECK(SqlStateOf(id, "tenant",
                     Exec("UPDATE tenants SET contact_email = 'ops@example.com' WHERE tenant_id = $1", id))
              .empty());
    CHECK(SqlStateOf(id, "park", Exec("UPDATE tenants SET max_devices = 999999 WHERE tenant_id = $1", id)).empty());
  }

  SECTION("tenants are neither inserted nor deleted in tenant scope") {
    const std::string other = UniqueId("rlsins");
    CHECK(SqlStateOf(id, "tenant",
                     [&](pqxx::work& work) {
                       work.exec_params(
                           "INSERT INTO tenants (tenant_id, display_name, code, max_devices, "
                           "max_ingest_points_per_second, retention_days, max_installed_apps) "
                           "VALUES ($1, 'x', $2, 10, 10, 7, 3)",
                           other, other);
                     }) == kInsufficientPrivilege);
    // Deleting its own row is refused: an error, or nothing deleted (the delete policy hides every row).
    int64_t deleted = -1;
    const std::string state = SqlStateOf(id, "tenant", [&](pqxx::work& work) {
      deleted = work.exec_params("DELETE FROM tenants WHERE tenant_id = $1", id).affected_rows();
    });
    INFO("sqlstate '" << state << "', rows deleted " << deleted);
    CHECK((state == kInsufficientPrivilege || (state.empty() && deleted == 0)));
    pqxx::connection owner(SharedDatabase().owner_url());
    pqxx::work work(owner);
    CHECK(work.exec_params("SELECT count(*) FROM tenants WHERE tenant_id = $1", id)[0][0].as<int>() == 1);
  }

  SECTION("api keys: no park-admin keys, no role changes, a revoked key stays revoked") {
    const std::string insert =
        "INSERT INTO api_keys (tenant_id, key_id, display_name, role, secret_sha256, creator) "
        "VALUES ($1, $2, 'x', $3::int2, 'h', 'c')";
    CHECK(SqlStateOf(id, "tenant", [&](pqxx::work& work) {
            work.exec_params(insert, id, UniqueId("k"), "1");
          }) == kInsufficientPrivilege);
    CHECK(SqlStateOf(id, "tenant", [&](pqxx::work& work) { work.exec_params(insert, id, UniqueId("k"), "3"); })
              .empty());
    CHECK(SqlStateOf(id, "tenant", Exec("UPDATE api_keys SET role = 1 WHERE tenant_id = $1", id)) ==
          kInsufficientPrivilege);
    const std::string revoke = "UPDATE api_keys SET revoke_time = now() WHERE tenant_id = $1 AND revoke_time IS NULL";
    CHECK(SqlStateOf(id, "tenant", Exec(revoke, id)).empty());
    bool revoked = false;
    CHECK(SqlStateOf(id, "tenant", [&](pqxx::work& work) {
            CHECK(work.exec_params(revoke, id).affected_rows() >= 1);
            revoked = true;
            work.exec_params("UPDATE api_keys SET revoke_time = NULL WHERE tenant_id = $1", id);
          }) == kInsufficientPrivilege);
    CHECK(revoked);
  }
}

TEST_CASE("defects: the max_devices quota holds for parallel creates under the advisory lock",
          "[defects][integration]") {
  Env env;
  TestTenant acme = env.tenants.CreateTenant("quota");
  {
    tenantpb::UpdateTenantRequest request;
    request.mutable_tenant()->set_name(Parent(acme.tenant_id));
    request.mutable_tenant()->mutable_quota()->set_max_devices(3);
    request.mutable_update_mask()->add_paths("quota.max_devices");
    tenantpb::Tenant updated;
    grpc::Status status =
        env.tenants.stub().UpdateTenant(Context(env.server.park_admin_key()).get(), request, &updated);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  CreateType(env, acme.admin_key, acme.tenant_id, "press");

  constexpr int kThreads = 5;
  std::vector<grpc::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto channel = grpc::CreateChannel(env.server.address(), grpc::InsecureChannelCredentials());
      auto stub = devicepb::DeviceService::NewStub(channel);
      devicepb::CreateDeviceRequest request;
      request.set_parent(Parent(acme.tenant_id));
      request.mutable_device()->set_device_type_id("press");
      request.mutable_device()->set_serial_number(absl::StrCat("SN-", t));
      devicepb::Device device;
      results[t] = stub->CreateDevice(Context(acme.admin_key).get(), request, &device);
    });
  }
  for (auto& thread : threads) thread.join();
  int created = 0;
  int exhausted = 0;
  for (const grpc::Status& status : results) {
    INFO(status.error_code() << ": " << status.error_message());
    CHECK((status.ok() || status.error_code() == grpc::RESOURCE_EXHAUSTED));
    created += status.ok() ? 1 : 0;
    exhausted += status.error_code() == grpc::RESOURCE_EXHAUSTED ? 1 : 0;
  }
  CHECK(created == 3);
  CHECK(exhausted == 2);

  devicepb::ListDevicesRequest list;
  list.set_parent(Parent(acme.tenant_id));
  devicepb::ListDevicesResponse listed;
  REQUIRE(env.devices->ListDevices(Context(acme.admin_key).get(), list, &listed).ok());
  CHECK(listed.devices_size() == 3);
}

// --- 2 --------------------------------------------------------------------------------------------------------

TEST_CASE("defects: device credential, lifecycle and retention changes are in the tenant's audit log",
          "[defects][integration]") {
  Env env;
  TestTenant acme = env.tenants.CreateTenant("audit");
  const std::string actor = KeyName(acme.admin_key);
  CreateType(env, acme.admin_key, acme.tenant_id, "press");
  const devicepb::Device device = CreateDevice(env, acme.admin_key, acme.tenant_id, "press", "dev-audit", "SN-A1");
  REQUIRE(device.name() == Parent(acme.tenant_id) + "/devices/dev-audit");

  const devicepb::CreateDeviceCredentialResponse minted = MintCredential(env, acme.admin_key, device.name());
  const std::string credential = absl::StrCat(device.name(), "/credentials/", minted.credential().key_id());
  {
    devicepb::RevokeDeviceCredentialRequest request;
    request.set_name(credential);
    devicepb::RevokeDeviceCredentialResponse response;
    grpc::Status status = env.devices->RevokeDeviceCredential(Context(acme.admin_key).get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  {
    devicepb::DisableDeviceRequest request;
    request.set_name(device.name());
    devicepb::Device response;
    grpc::Status status = env.devices->DisableDevice(Context(acme.admin_key).get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  {
    devicepb::EnableDeviceRequest request;
    request.set_name(device.name());
    devicepb::Device response;
    grpc::Status status = env.devices->EnableDevice(Context(acme.admin_key).get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  {
    devicepb::DeleteDeviceRequest request;
    request.set_name(device.name());
    devicepb::DeleteDeviceResponse response;
    grpc::Status status = env.devices->DeleteDevice(Context(acme.admin_key).get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  const std::string policy = Parent(acme.tenant_id) + "/retentionPolicy";
  {
    telemetrypb::UpdateRetentionPolicyRequest request;
    request.mutable_retention_policy()->set_name(policy);
    request.mutable_retention_policy()->set_raw_retention_days(5);
    request.mutable_update_mask()->add_paths("raw_retention_days");
    telemetrypb::RetentionPolicy response;
    grpc::Status status = env.telemetry->UpdateRetentionPolicy(Context(acme.admin_key).get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(response.raw_retention_days() == 5);
  }

  std::vector<tenantpb::AuditEvent> events;
  tenantpb::ListAuditEventsRequest list;
  list.set_parent(Parent(acme.tenant_id));
  list.set_page_size(1000);
  do {
    tenantpb::ListAuditEventsResponse page;
    grpc::Status status = env.tenants.stub().ListAuditEvents(Context(acme.admin_key).get(), list, &page);
    INFO(status.error_message());
    REQUIRE(status.ok());
    events.insert(events.end(), page.audit_events().begin(), page.audit_events().end());
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());

  const std::vector<std::pair<std::string, std::string>> expected = {
      {"CreateDeviceCredential", credential}, {"RevokeDeviceCredential", credential},
      {"DisableDevice", device.name()},       {"EnableDevice", device.name()},
      {"DeleteDevice", device.name()},        {"UpdateRetentionPolicy", policy},
  };
  for (const auto& [action, resource] : expected) {
    INFO(action << " on " << resource);
    int found = 0;
    for (const auto& event : events) {
      if (event.action() != action) continue;
      ++found;
      CHECK(event.resource() == resource);
      CHECK(event.actor() == actor);
      CHECK(event.actor_role() == tenantpb::ROLE_TENANT_ADMIN);
    }
    CHECK(found == 1);
  }
}

// --- 3 --------------------------------------------------------------------------------------------------------

TEST_CASE("defects: the health port serves health but not reflection", "[defects][integration]") {
  ServerConfig config;
  config.health_listen = "127.0.0.1:0";
  TestServer server(SharedDatabase(), config);
  REQUIRE(server.server().health_port() != 0);
  auto health_channel = MakeChannel(absl::StrCat("127.0.0.1:", server.server().health_port()), false);
  auto health = CheckHealth(*health_channel, "", absl::Seconds(5));
  REQUIRE(health.ok());
  CHECK(*health == ServingStatus::kServing);

  const std::string reflection = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
  grpc::Status on_health_port = CallAnyMethod(*health_channel, reflection, "");
  INFO("health port: " << on_health_port.error_code() << " " << on_health_port.error_message());
  CHECK(on_health_port.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  grpc::Status on_main_port = CallAnyMethod(*server.channel(), reflection, "");
  INFO("main port: " << on_main_port.error_code() << " " << on_main_port.error_message());
  CHECK(on_main_port.error_code() != grpc::StatusCode::UNIMPLEMENTED);
}

// --- 4 --------------------------------------------------------------------------------------------------------

TEST_CASE("defects: each test process and each NewRedisDatabaseUrl gets an empty Redis database of its own",
          "[defects][integration]") {
  CHECK(RedisDatabaseOf(RedisUrl()) >= kFirstTestRedisDatabase);
  const std::string first_url = NewRedisDatabaseUrl();
  const std::string second_url = NewRedisDatabaseUrl();
  INFO(first_url << " and " << second_url);
  CHECK(RedisDatabaseOf(first_url) >= kFirstTestRedisDatabase);
  CHECK(RedisDatabaseOf(second_url) >= kFirstTestRedisDatabase);
  CHECK(RedisDatabaseOf(first_url) != RedisDatabaseOf(second_url));
  CHECK(RedisDatabaseOf(first_url) != RedisDatabaseOf(RedisUrl()));

  auto first = RedisClient::Create({.url = first_url});
  auto second = RedisClient::Create({.url = second_url});
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  for (auto* client : {&*first, &*second}) {
    auto size = (*client)->Command({"DBSIZE"});
    REQUIRE(size.ok());
    CHECK(size->integer == 0);
  }
  const std::string key = UniqueId("pb:test:defects:");
  auto set = (*first)->Command({"SET", key, "1"});
  REQUIRE(set.ok());
  auto in_first = (*first)->Command({"GET", key});
  REQUIRE(in_first.ok());
  CHECK(in_first->text == "1");
  auto in_second = (*second)->Command({"GET", key});
  REQUIRE(in_second.ok());
  CHECK(in_second->type == RedisReply::Type::kNil);
  auto second_size = (*second)->Command({"DBSIZE"});
  REQUIRE(second_size.ok());
  CHECK(second_size->integer == 0);
}

// --- 5 --------------------------------------------------------------------------------------------------------

TEST_CASE("defects: an api key may expire at the last representable microsecond, not after",
          "[defects][integration]") {
  Env env;
  TestTenant tenant = env.tenants.CreateTenant("exp");
  tenantpb::CreateApiKeyRequest create;
  create.set_parent(Parent(tenant.tenant_id));
  create.mutable_api_key()->set_display_name("far future");
  create.mutable_api_key()->set_role(tenantpb::ROLE_DEVELOPER);
  create.mutable_api_key()->mutable_expire_time()->set_seconds(253402300799);  // 9999-12-31T23:59:59Z
  create.mutable_api_key()->mutable_expire_time()->set_nanos(999999000);
  tenantpb::CreateApiKeyResponse created;
  grpc::Status status = env.tenants.stub().CreateApiKey(Context(tenant.admin_key).get(), create, &created);
  INFO(status.error_code() << ": " << status.error_message());
  REQUIRE(status.ok());

  tenantpb::ListApiKeysRequest list;
  list.set_parent(Parent(tenant.tenant_id));
  tenantpb::ListApiKeysResponse keys;
  REQUIRE(env.tenants.stub().ListApiKeys(Context(tenant.admin_key).get(), list, &keys).ok());
  int found = 0;
  for (const auto& key : keys.api_keys()) {
    if (key.key_id() != created.api_key().key_id()) continue;
    ++found;
    REQUIRE(key.has_expire_time());
    CHECK(key.expire_time().seconds() == 253402300799);
    CHECK(key.expire_time().nanos() == 999999000);
  }
  CHECK(found == 1);

  create.mutable_api_key()->mutable_expire_time()->set_seconds(253402300800);  // 10000-01-01T00:00:00Z
  create.mutable_api_key()->mutable_expire_time()->set_nanos(0);
  status = env.tenants.stub().CreateApiKey(Context(tenant.admin_key).get(), create, &created);
  INFO(status.error_code() << ": " << status.error_message());
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "api_key.expire_time"));
}

// --- 6 --------------------------------------------------------------------------------------------------------

TEST_CASE("defects: keys and audit events of a missing tenant are NOT_FOUND for the park admin",
          "[defects][integration]") {
  Env env;
  const std::string& admin = env.server.park_admin_key();
  const std::string missing = "tenants/nosuch-tenant";
  {
    tenantpb::CreateApiKeyRequest request;
    request.set_parent(missing);
    request.mutable_api_key()->set_display_name("orphan");
    request.mutable_api_key()->set_role(tenantpb::ROLE_TENANT_ADMIN);
    tenantpb::CreateApiKeyResponse response;
    grpc::Status status = env.tenants.stub().CreateApiKey(Context(admin).get(), request, &response);
    INFO("CreateApiKey: " << status.error_code() << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  }
  {
    tenantpb::ListApiKeysRequest request;
    request.set_parent(missing);
    tenantpb::ListApiKeysResponse response;
    grpc::Status status = env.tenants.stub().ListApiKeys(Context(admin).get(), request, &response);
    INFO("ListApiKeys: " << status.error_code() << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  }
  {
    tenantpb::ListAuditEventsRequest request;
    request.set_parent(missing);
    tenantpb::ListAuditEventsResponse response;
    grpc::Status status = env.tenants.stub().ListAuditEvents(Context(admin).get(), request, &response);
    INFO("ListAuditEvents: " << status.error_code() << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  }
}

// --- 7 --------------------------------------------------------------------------------------------------------

TEST_CASE("defects: a request that is not a valid message is INVALID_ARGUMENT, counted as such",
          "[defects][integration]") {
  Env env;
  const std::string method = "/parkbase.tenant.v1.TenantService/GetTenant";
  const std::string counted =
      "grpc_server_handled_total{grpc_code=\"InvalidArgument\",grpc_method=\"GetTenant\",grpc_service=\"parkbase."
      "tenant.v1.TenantService\",grpc_type=\"unary\"}";

  SECTION("invalid UTF-8 in a string field") {
    // Field 1 (name), wire type 2, length 2, bytes 0xff 0xfe.
    const std::string request("\x0a\x02\xff\xfe", 4);
    grpc::Status status = CallAnyMethod(*env.server.channel(), method, env.server.park_admin_key(), request);
    INFO(status.error_code() << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(absl::StrContains(status.error_message(), "parkbase.tenant.v1.GetTenantRequest.name"));
    CHECK(absl::StrContains(status.error_message(), "UTF-8"));
    const std::string text = prometheus::TextSerializer().Serialize(env.server.server().registry().Collect());
    CHECK(absl::StrContains(text, counted + " 1"));
    // Every code's series exists from the start (grpc_series.h): Internal's must still be 0.
    CHECK(absl::StrContains(text,
                            "grpc_server_handled_total{grpc_code=\"Internal\",grpc_method=\"GetTenant\",grpc_service="
                            "\"parkbase.tenant.v1.TenantService\",grpc_type=\"unary\"} 0\n"));
  }
  SECTION("a truncated message") {
    // Field 1, length 5, but only 2 bytes follow.
    const std::string request("\x0a\x05" "ab", 4);
    grpc::Status status = CallAnyMethod(*env.server.channel(), method, env.server.park_admin_key(), request);
    INFO(status.error_code() << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    const std::string text = prometheus::TextSerializer().Serialize(env.server.server().registry().Collect());
    CHECK(absl::StrContains(text, counted + " 1"));
  }
}

// --- 8 --------------------------------------------------------------------------------------------------------

TEST_CASE("defects: a suspended tenant's key is refused with the suspend reason", "[defects][integration]") {
  Env env;
  TestTenant tenant = env.tenants.CreateTenant("susp");
  const std::string reason = "unpaid invoice 2026-117";
  tenantpb::SuspendTenantRequest suspend;
  suspend.set_name(Parent(tenant.tenant_id));
  suspend.set_reason(reason);
  tenantpb::Tenant suspended;
  REQUIRE(env.tenants.stub().SuspendTenant(Context(env.server.park_admin_key()).get(), suspend, &suspended).ok());

  tenantpb::GetTenantRequest get;
  get.set_name(Parent(tenant.tenant_id));
  tenantpb::Tenant out;
  grpc::Status status = env.tenants.stub().GetTenant(Context(tenant.developer_key).get(), get, &out);
  INFO(status.error_code() << ": " << status.error_message());
  CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(absl::StrContains(status.error_message(), reason));
}

// --- 9 --------------------------------------------------------------------------------------------------------

TEST_CASE("defects: a device's first call with its own key makes it ACTIVE and sets last_seen_time",
          "[defects][integration]") {
  Env env;
  TestTenant acme = env.tenants.CreateTenant("seen");
  CreateType(env, acme.admin_key, acme.tenant_id, "press");
  const devicepb::Device device = CreateDevice(env, acme.admin_key, acme.tenant_id, "press", "dev-seen", "SN-S1");
  const std::string device_key = MintCredential(env, acme.admin_key, device.name()).secret();

  devicepb::Device before = GetDevice(env, acme.admin_key, device.name());
  REQUIRE(before.state() == devicepb::DEVICE_STATE_PROVISIONED);
  REQUIRE_FALSE(before.has_last_seen_time());

  GetDevice(env, device_key, device.name());

  devicepb::Device after = GetDevice(env, acme.admin_key, device.name());
  CHECK(after.state() == devicepb::DEVICE_STATE_ACTIVE);
  CHECK(after.has_last_seen_time());
}

// --- 10 -------------------------------------------------------------------------------------------------------

TEST_CASE("defects: list filters refuse lowercase 'and', missing values and huge filters",
          "[defects][integration]") {
  Env env;
  TestTenant acme = env.tenants.CreateTenant("filt");
  auto list_devices = [&](const std::string& filter) {
    devicepb::ListDevicesRequest request;
    request.set_parent(Parent(acme.tenant_id));
    request.set_filter(filter);
    devicepb::ListDevicesResponse response;
    return env.devices->ListDevices(Context(acme.developer_key).get(), request, &response);
  };
  for (const char* filter : {"labels.line = 3 and state = ACTIVE", "labels.line ="}) {
    grpc::Status status = list_devices(filter);
    INFO(filter << " -> " << status.error_code() << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "filter"));
  }
  {
    grpc::Status status = list_devices("labels.line = \"\"");
    INFO(status.error_code() << ": " << status.error_message());
    CHECK(status.ok());
  }
  {
    const std::string huge = "labels.line = " + std::string(100000 - 14, 'x');
    REQUIRE(huge.size() == 100000);
    grpc::Status status = list_devices(huge);
    INFO(status.error_code() << ": " << status.error_message().substr(0, 500));
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().size() < 300);
  }
  {
    tenantpb::ListTenantsRequest request;
    request.set_filter("state = ACTIVE and plan = FREE");
    tenantpb::ListTenantsResponse response;
    grpc::Status status =
        env.tenants.stub().ListTenants(Context(env.server.park_admin_key()).get(), request, &response);
    INFO(status.error_code() << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
}

// --- 11 -------------------------------------------------------------------------------------------------------

TEST_CASE("defects: max_installed_apps can be set to 0 and reset to the plan default", "[defects][integration]") {
  Env env;
  auto& stub = env.tenants.stub();
  const std::string& admin = env.server.park_admin_key();
  const std::string id = UniqueId("apps");
  constexpr int kStandardApps = 20;  // PLAN_STANDARD's default (tenant.proto)

  tenantpb::CreateTenantRequest create;
  create.set_tenant_id(id);
  create.mutable_tenant()->set_display_name("No apps");
  create.mutable_tenant()->set_plan(tenantpb::PLAN_STANDARD);
  create.mutable_tenant()->mutable_quota()->set_max_installed_apps(0);
  tenantpb::Tenant created;
  grpc::Status status = stub.CreateTenant(Context(admin).get(), create, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(created.quota().max_installed_apps() == 0);

  tenantpb::GetTenantRequest get;
  get.set_name(Parent(id));
  tenantpb::Tenant read;
  REQUIRE(stub.GetTenant(Context(admin).get(), get, &read).ok());
  CHECK(read.quota().max_installed_apps() == 0);

  tenantpb::UpdateTenantRequest update;
  update.mutable_tenant()->set_name(Parent(id));
  update.mutable_tenant()->mutable_quota()->set_max_installed_apps(0);
  update.mutable_update_mask()->add_paths("quota.max_installed_apps");
  tenantpb::Tenant updated;
  status = stub.UpdateTenant(Context(admin).get(), update, &updated);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(updated.quota().max_installed_apps() == 0);

  update.mutable_tenant()->mutable_quota()->clear_max_installed_apps();
  status = stub.UpdateTenant(Context(admin).get(), update, &updated);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(updated.quota().max_installed_apps() == kStandardApps);
}

// --- 12 -------------------------------------------------------------------------------------------------------

TEST_CASE("defects: retention overrides must name an existing device type", "[defects][integration]") {
  Env env;
  TestTenant acme = env.tenants.CreateTenant("ret");
  CreateType(env, acme.admin_key, acme.tenant_id, "press");
  auto update = [&](const std::string& type) {
    telemetrypb::UpdateRetentionPolicyRequest request;
    request.mutable_retention_policy()->set_name(Parent(acme.tenant_id) + "/retentionPolicy");
    (*request.mutable_retention_policy()->mutable_device_type_raw_retention_days())[type] = 3;
    request.mutable_update_mask()->add_paths("device_type_raw_retention_days");
    telemetrypb::RetentionPolicy response;
    return env.telemetry->UpdateRetentionPolicy(Context(acme.admin_key).get(), request, &response);
  };
  {
    grpc::Status status = update("nosuchtype");
    INFO(status.error_code() << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "retention_policy.device_type_raw_retention_days"));
    CHECK(absl::StrContains(status.error_message(), "nosuchtype"));
    CHECK(absl::StrContains(BadRequestField(status), "nosuchtype"));
  }
  {
    grpc::Status status = update("Bad Key");
    INFO(status.error_code() << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "retention_policy.device_type_raw_retention_days"));
  }
  {
    grpc::Status status = update("press");
    INFO(status.error_code() << ": " << status.error_message());
    REQUIRE(status.ok());
    telemetrypb::GetRetentionPolicyRequest get;
    get.set_name(Parent(acme.tenant_id) + "/retentionPolicy");
    telemetrypb::RetentionPolicy policy;
    REQUIRE(env.telemetry->GetRetentionPolicy(Context(acme.admin_key).get(), get, &policy).ok());
    REQUIRE(policy.device_type_raw_retention_days().contains("press"));
    CHECK(policy.device_type_raw_retention_days().at("press") == 3);
  }
}

}  // namespace
}  // namespace parkbase::testing
