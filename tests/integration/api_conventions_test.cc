// The API conventions careful callers rely on (AIP-154 etags, AIP-155 request ids), against a real server, database
// and Redis: a stale etag is ABORTED and changes nothing; a retried secret-minting create mints nothing new and
// hands back a secret that works.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "integration/isolation_env.h"

namespace parkbase::testing {
namespace {

namespace tenantpb = ::parkbase::tenant::v1;
namespace marketpb = ::parkbase::marketplace::v1;

std::string Parent(const std::string& tenant_id) { return absl::StrCat("tenants/", tenant_id); }

tenantpb::Tenant GetTenant(IsolationEnv& env, const std::string& tenant_id) {
  tenantpb::GetTenantRequest get;
  get.set_name(Parent(tenant_id));
  tenantpb::Tenant tenant;
  REQUIRE(env.tenants().stub().GetTenant(Context(env.server().park_admin_key()).get(), get, &tenant).ok());
  return tenant;
}

grpc::Status SetMaxDevices(IsolationEnv& env, const std::string& tenant_id, int64_t max_devices,
                           const std::string& etag, tenantpb::Tenant* updated) {
  tenantpb::UpdateTenantRequest update;
  update.mutable_tenant()->set_name(Parent(tenant_id));
  update.mutable_tenant()->set_etag(etag);
  update.mutable_tenant()->mutable_quota()->set_max_devices(max_devices);
  update.mutable_update_mask()->add_paths("quota.max_devices");
  return env.tenants().stub().UpdateTenant(Context(env.server().park_admin_key()).get(), update, updated);
}

TEST_CASE("etag: a tenant changes only on the etag it was read at, and a stale one is ABORTED and changes nothing",
          "[conventions][integration]") {
  IsolationEnv env;
  const TestTenant tenant = env.tenants().CreateTenant("etag");
  const tenantpb::Tenant read = GetTenant(env, tenant.tenant_id);
  REQUIRE_FALSE(read.etag().empty());

  tenantpb::Tenant updated;
  REQUIRE(SetMaxDevices(env, tenant.tenant_id, 500, read.etag(), &updated).ok());
  CHECK(updated.quota().max_devices() == 500);
  CHECK(updated.etag() != read.etag());
  CHECK(GetTenant(env, tenant.tenant_id).etag() == updated.etag());

  // A second administrator still holding the first read: refused, and the first one's quota stands.
  tenantpb::Tenant ignored;
  const grpc::Status stale = SetMaxDevices(env, tenant.tenant_id, 7, read.etag(), &ignored);
  CHECK(stale.error_code() == grpc::StatusCode::ABORTED);
  CHECK(stale.error_message().find("tenant.etag") != std::string::npos);
  const tenantpb::Tenant after = GetTenant(env, tenant.tenant_id);
  CHECK(after.quota().max_devices() == 500);
  CHECK(after.etag() == updated.etag());

  // Without an etag there is no precondition.
  REQUIRE(SetMaxDevices(env, tenant.tenant_id, 600, "", &updated).ok());
  CHECK(updated.quota().max_devices() == 600);

  // Suspending is a change too: an etag read before it no longer deletes.
  const std::string before_suspend = updated.etag();
  tenantpb::SuspendTenantRequest suspend;
  suspend.set_name(Parent(tenant.tenant_id));
  suspend.set_reason("etag test");
  tenantpb::Tenant suspended;
  REQUIRE(env.tenants().stub().SuspendTenant(Context(env.server().park_admin_key()).get(), suspend, &suspended).ok());
  CHECK(suspended.etag() != before_suspend);
  tenantpb::DeleteTenantRequest remove;
  remove.set_name(Parent(tenant.tenant_id));
  remove.set_etag(before_suspend);
  tenantpb::DeleteTenantResponse removed;
  const grpc::Status stale_delete =
      env.tenants().stub().DeleteTenant(Context(env.server().park_admin_key()).get(), remove, &removed);
  CHECK(stale_delete.error_code() == grpc::StatusCode::ABORTED);
  CHECK(GetTenant(env, tenant.tenant_id).state() == tenantpb::TENANT_STATE_SUSPENDED);

  remove.set_etag(suspended.etag());
  REQUIRE(env.tenants().stub().DeleteTenant(Context(env.server().park_admin_key()).get(), remove, &removed).ok());
  tenantpb::GetTenantRequest get;
  get.set_name(Parent(tenant.tenant_id));
  tenantpb::Tenant gone;
  CHECK(env.tenants().stub().GetTenant(Context(env.server().park_admin_key()).get(), get, &gone).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("etag: of eight administrators changing a quota on the same read, exactly one succeeds",
          "[conventions][integration]") {
  IsolationEnv env;
  const TestTenant tenant = env.tenants().CreateTenant("race");
  const std::string etag = GetTenant(env, tenant.tenant_id).etag();
  constexpr int kWriters = 8;
  std::atomic<int> succeeded{0};
  std::atomic<int> aborted{0};
  std::atomic<int64_t> winner{0};
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      tenantpb::Tenant updated;
      const grpc::Status status = SetMaxDevices(env, tenant.tenant_id, 100 + i, etag, &updated);
      if (status.ok()) {
        ++succeeded;
        winner = 100 + i;
      } else if (status.error_code() == grpc::StatusCode::ABORTED) {
        ++aborted;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  CHECK(succeeded == 1);
  CHECK(aborted == kWriters - 1);
  CHECK(GetTenant(env, tenant.tenant_id).quota().max_devices() == winner);
}

TEST_CASE("etag: device types, devices and the retention policy refuse a stale etag and keep what they had",
          "[conventions][integration]") {
  IsolationEnv env;
  const TestTenant tenant = env.tenants().CreateTenant("etagd");
  const auto device_keys = env.Populate(tenant, env.server().clock().Now());
  const std::string admin = tenant.admin_key;

  SECTION("device type") {
    devpb::GetDeviceTypeRequest get;
    get.set_name(absl::StrCat(Parent(tenant.tenant_id), "/deviceTypes/sensor"));
    devpb::DeviceType read;
    REQUIRE(env.devices().GetDeviceType(Context(admin).get(), get, &read).ok());
    REQUIRE_FALSE(read.etag().empty());

    devpb::UpdateDeviceTypeRequest update;
    update.mutable_device_type()->set_name(read.name());
    update.mutable_device_type()->set_etag(read.etag());
    update.mutable_device_type()->set_vendor("Acme");
    update.mutable_update_mask()->add_paths("vendor");
    devpb::DeviceType updated;
    REQUIRE(env.devices().UpdateDeviceType(Context(admin).get(), update, &updated).ok());
    CHECK(updated.etag() != read.etag());
    CHECK(updated.version() == read.version() + 1);

    update.mutable_device_type()->set_vendor("Stale Corp");
    devpb::DeviceType ignored;
    CHECK(env.devices().UpdateDeviceType(Context(admin).get(), update, &ignored).error_code() ==
          grpc::StatusCode::ABORTED);
    devpb::DeviceType now;
    REQUIRE(env.devices().GetDeviceType(Context(admin).get(), get, &now).ok());
    CHECK(now.vendor() == "Acme");
    CHECK(now.version() == updated.version());

    // Deleting needs the type unused: remove its devices first (no etag: no precondition).
    for (const char* id : {"dev-1", "dev-2"}) {
      devpb::DeleteDeviceRequest remove;
      remove.set_name(absl::StrCat(Parent(tenant.tenant_id), "/devices/", id));
      devpb::DeleteDeviceResponse removed;
      REQUIRE(env.devices().DeleteDevice(Context(admin).get(), remove, &removed).ok());
    }
    devpb::DeleteDeviceTypeRequest remove;
    remove.set_name(read.name());
    remove.set_etag(read.etag());
    devpb::DeleteDeviceTypeResponse removed;
    CHECK(env.devices().DeleteDeviceType(Context(admin).get(), remove, &removed).error_code() ==
          grpc::StatusCode::ABORTED);
    REQUIRE(env.devices().GetDeviceType(Context(admin).get(), get, &now).ok());
    remove.set_etag(now.etag());
    CHECK(env.devices().DeleteDeviceType(Context(admin).get(), remove, &removed).ok());
  }

  SECTION("device, including the change its first call in makes") {
    devpb::GetDeviceRequest get;
    get.set_name(absl::StrCat(Parent(tenant.tenant_id), "/devices/dev-1"));
    devpb::Device read;
    REQUIRE(env.devices().GetDevice(Context(admin).get(), get, &read).ok());
    REQUIRE_FALSE(read.etag().empty());

    devpb::UpdateDeviceRequest update;
    update.mutable_device()->set_name(read.name());
    update.mutable_device()->set_etag(read.etag());
    update.mutable_device()->set_display_name("Press 1");
    update.mutable_update_mask()->add_paths("display_name");
    devpb::Device updated;
    REQUIRE(env.devices().UpdateDevice(Context(admin).get(), update, &updated).ok());
    CHECK(updated.etag() != read.etag());

    update.mutable_device()->set_display_name("Stale");
    devpb::Device ignored;
    CHECK(env.devices().UpdateDevice(Context(admin).get(), update, &ignored).error_code() ==
          grpc::StatusCode::ABORTED);
    devpb::Device now;
    REQUIRE(env.devices().GetDevice(Context(admin).get(), get, &now).ok());
    CHECK(now.display_name() == "Press 1");
    CHECK(now.etag() == updated.etag());

    // A device's first call in makes it ACTIVE: a change the tenant did not make, which an etag still catches.
    devpb::CreateDeviceRequest create;
    create.set_parent(Parent(tenant.tenant_id));
    create.mutable_device()->set_device_id("dev-3");
    create.mutable_device()->set_device_type_id("sensor");
    create.mutable_device()->set_serial_number("SN-dev-3");
    devpb::Device fresh;
    REQUIRE(env.devices().CreateDevice(Context(admin).get(), create, &fresh).ok());
    devpb::CreateDeviceCredentialRequest credential;
    credential.set_parent(fresh.name());
    credential.mutable_credential()->set_display_name("firmware");
    devpb::CreateDeviceCredentialResponse minted;
    REQUIRE(env.devices().CreateDeviceCredential(Context(admin).get(), credential, &minted).ok());
    devpb::GetDeviceRequest get_fresh;
    get_fresh.set_name(fresh.name());
    devpb::Device seen;
    REQUIRE(env.devices().GetDevice(Context(minted.secret()).get(), get_fresh, &seen).ok());
    CHECK(seen.state() == devpb::DEVICE_STATE_ACTIVE);
    CHECK(seen.etag() != fresh.etag());
    devpb::UpdateDeviceRequest relabel;
    relabel.mutable_device()->set_name(fresh.name());
    relabel.mutable_device()->set_etag(fresh.etag());
    relabel.mutable_update_mask()->add_paths("labels");
    CHECK(env.devices().UpdateDevice(Context(admin).get(), relabel, &ignored).error_code() ==
          grpc::StatusCode::ABORTED);

    // Disabling through its own RPC is a change as well.
    devpb::DisableDeviceRequest disable;
    disable.set_name(read.name());
    devpb::Device disabled;
    REQUIRE(env.devices().DisableDevice(Context(admin).get(), disable, &disabled).ok());
    CHECK(disabled.etag() != now.etag());

    devpb::DeleteDeviceRequest remove;
    remove.set_name(read.name());
    remove.set_etag(now.etag());
    devpb::DeleteDeviceResponse removed;
    CHECK(env.devices().DeleteDevice(Context(admin).get(), remove, &removed).error_code() ==
          grpc::StatusCode::ABORTED);
    REQUIRE(env.devices().GetDevice(Context(admin).get(), get, &now).ok());
    remove.set_etag(now.etag());
    CHECK(env.devices().DeleteDevice(Context(admin).get(), remove, &removed).ok());
    CHECK(env.devices().GetDevice(Context(admin).get(), get, &now).error_code() == grpc::StatusCode::NOT_FOUND);
  }

  SECTION("retention policy, from its first change on") {
    telpb::GetRetentionPolicyRequest get;
    get.set_name(absl::StrCat(Parent(tenant.tenant_id), "/retentionPolicy"));
    telpb::RetentionPolicy read;
    REQUIRE(env.telemetry().GetRetentionPolicy(Context(admin).get(), get, &read).ok());
    REQUIRE_FALSE(read.etag().empty());

    telpb::UpdateRetentionPolicyRequest update;
    update.mutable_retention_policy()->set_name(read.name());
    update.mutable_retention_policy()->set_etag(read.etag());
    update.mutable_retention_policy()->set_rollup_1m_retention_days(30);
    update.mutable_update_mask()->add_paths("rollup_1m_retention_days");
    telpb::RetentionPolicy updated;
    REQUIRE(env.telemetry().UpdateRetentionPolicy(Context(admin).get(), update, &updated).ok());
    CHECK(updated.rollup_1m_retention_days() == 30);
    CHECK(updated.etag() != read.etag());

    update.mutable_retention_policy()->set_rollup_1m_retention_days(5);
    telpb::RetentionPolicy ignored;
    CHECK(env.telemetry().UpdateRetentionPolicy(Context(admin).get(), update, &ignored).error_code() ==
          grpc::StatusCode::ABORTED);
    telpb::RetentionPolicy now;
    REQUIRE(env.telemetry().GetRetentionPolicy(Context(admin).get(), get, &now).ok());
    CHECK(now.rollup_1m_retention_days() == 30);
    CHECK(now.etag() == updated.etag());

    update.mutable_retention_policy()->set_etag(now.etag());
    REQUIRE(env.telemetry().UpdateRetentionPolicy(Context(admin).get(), update, &updated).ok());
    CHECK(updated.rollup_1m_retention_days() == 5);
  }
  (void)device_keys;
}


int CountKeys(IsolationEnv& env, const TestTenant& tenant) {
  tenantpb::ListApiKeysRequest list;
  list.set_parent(Parent(tenant.tenant_id));
  list.set_page_size(1000);
  tenantpb::ListApiKeysResponse keys;
  REQUIRE(env.tenants().stub().ListApiKeys(Context(tenant.admin_key).get(), list, &keys).ok());
  return keys.api_keys_size();
}

bool KeyWorks(IsolationEnv& env, const std::string& secret, const std::string& tenant_id) {
  devpb::ListDevicesRequest list;
  list.set_parent(Parent(tenant_id));
  devpb::ListDevicesResponse devices;
  return env.devices().ListDevices(Context(secret).get(), list, &devices).ok();
}

TEST_CASE("request_id: a retried CreateApiKey mints nothing new and hands back the first, working secret",
          "[conventions][integration]") {
  IsolationEnv env;
  const TestTenant tenant = env.tenants().CreateTenant("replay");
  const TestTenant other = env.tenants().CreateTenant("replay");
  tenantpb::CreateApiKeyRequest create;
  create.set_parent(Parent(tenant.tenant_id));
  create.mutable_api_key()->set_display_name("ci pipeline");
  create.mutable_api_key()->set_role(tenantpb::ROLE_DEVELOPER);
  create.set_request_id("6f1c2a52-6f0e-4b9e-9a54-0c1d2e3f4a5b");
  const int keys_before = CountKeys(env, tenant);

  tenantpb::CreateApiKeyResponse first;
  REQUIRE(env.tenants().stub().CreateApiKey(Context(tenant.admin_key).get(), create, &first).ok());
  RecordSecret(first.secret());
  tenantpb::CreateApiKeyResponse retried;
  REQUIRE(env.tenants().stub().CreateApiKey(Context(tenant.admin_key).get(), create, &retried).ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(first, retried));
  CHECK(CountKeys(env, tenant) == keys_before + 1);
  CHECK(KeyWorks(env, retried.secret(), tenant.tenant_id));

  SECTION("the same id with a different request is INVALID_ARGUMENT and mints nothing") {
    create.mutable_api_key()->set_display_name("another pipeline");
    tenantpb::CreateApiKeyResponse refused;
    const grpc::Status status = env.tenants().stub().CreateApiKey(Context(tenant.admin_key).get(), create, &refused);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().find("request_id") != std::string::npos);
    CHECK(CountKeys(env, tenant) == keys_before + 1);
  }
  SECTION("another caller cannot collect the secret by sending the same id") {
    tenantpb::CreateApiKeyResponse refused;
    const grpc::Status status =
        env.tenants().stub().CreateApiKey(Context(env.server().park_admin_key()).get(), create, &refused);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(refused.secret().empty());
  }
  SECTION("another tenant's id space is its own") {
    create.set_parent(Parent(other.tenant_id));
    tenantpb::CreateApiKeyResponse theirs;
    REQUIRE(env.tenants().stub().CreateApiKey(Context(other.admin_key).get(), create, &theirs).ok());
    RecordSecret(theirs.secret());
    CHECK(theirs.secret() != first.secret());
    CHECK(theirs.api_key().name().find(other.tenant_id) != std::string::npos);
  }
  SECTION("a malformed id is INVALID_ARGUMENT naming request_id") {
    create.set_request_id("not an id!");
    tenantpb::CreateApiKeyResponse refused;
    const grpc::Status status = env.tenants().stub().CreateApiKey(Context(tenant.admin_key).get(), create, &refused);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().find("request_id") != std::string::npos);
  }
}

TEST_CASE("request_id: six concurrent retries of one CreateApiKey mint one key, and all get its secret",
          "[conventions][integration]") {
  IsolationEnv env;
  const TestTenant tenant = env.tenants().CreateTenant("replayrace");
  tenantpb::CreateApiKeyRequest create;
  create.set_parent(Parent(tenant.tenant_id));
  create.mutable_api_key()->set_display_name("gateway");
  create.mutable_api_key()->set_role(tenantpb::ROLE_DEVELOPER);
  create.set_request_id("race-1");
  const int keys_before = CountKeys(env, tenant);
  constexpr int kRetries = 6;
  std::vector<tenantpb::CreateApiKeyResponse> answers(kRetries);
  std::vector<grpc::Status> statuses(kRetries);
  std::vector<std::thread> callers;
  for (int i = 0; i < kRetries; ++i) {
    callers.emplace_back([&, i] {
      statuses[i] = env.tenants().stub().CreateApiKey(Context(tenant.admin_key).get(), create, &answers[i]);
    });
  }
  for (auto& caller : callers) caller.join();
  for (int i = 0; i < kRetries; ++i) {
    INFO("call " << i << ": " << statuses[i].error_message());
    REQUIRE(statuses[i].ok());
    RecordSecret(answers[i].secret());
    CHECK(answers[i].secret() == answers[0].secret());
  }
  CHECK(CountKeys(env, tenant) == keys_before + 1);
  CHECK(KeyWorks(env, answers[0].secret(), tenant.tenant_id));
}

TEST_CASE("request_id: a retried CreateDeviceCredential and InstallApp return the first credential, which works",
          "[conventions][integration]") {
  IsolationEnv env;
  const TestTenant tenant = env.tenants().CreateTenant("replaydev");
  env.Populate(tenant, env.server().clock().Now());

  SECTION("device credential") {
    devpb::CreateDeviceCredentialRequest create;
    create.set_parent(absl::StrCat(Parent(tenant.tenant_id), "/devices/dev-1"));
    create.mutable_credential()->set_display_name("spare firmware key");
    create.set_request_id("cred-1");
    auto count = [&] {
      devpb::ListDeviceCredentialsRequest list;
      list.set_parent(create.parent());
      list.set_page_size(100);
      devpb::ListDeviceCredentialsResponse credentials;
      REQUIRE(env.devices().ListDeviceCredentials(Context(tenant.admin_key).get(), list, &credentials).ok());
      return credentials.credentials_size();
    };
    const int before = count();
    devpb::CreateDeviceCredentialResponse first;
    REQUIRE(env.devices().CreateDeviceCredential(Context(tenant.admin_key).get(), create, &first).ok());
    RecordSecret(first.secret());
    devpb::CreateDeviceCredentialResponse retried;
    REQUIRE(env.devices().CreateDeviceCredential(Context(tenant.admin_key).get(), create, &retried).ok());
    CHECK(google::protobuf::util::MessageDifferencer::Equals(first, retried));
    CHECK(count() == before + 1);
    devpb::GetDeviceRequest get;
    get.set_name(create.parent());
    devpb::Device self;
    CHECK(env.devices().GetDevice(Context(retried.secret()).get(), get, &self).ok());
  }

  SECTION("app installation") {
    const TestTenant provider = env.tenants().CreateTenant("replayprov");
    env.PopulateMarketplace(provider);
    auto market = marketpb::MarketplaceService::NewStub(env.server().channel());
    marketpb::InstallAppRequest install;
    install.set_parent(Parent(tenant.tenant_id));
    install.set_app(absl::StrCat(Parent(provider.tenant_id), "/apps/public-app"));
    install.mutable_grant()->add_scopes("devices.read");
    install.set_request_id("install-1");
    marketpb::InstallAppResponse first;
    REQUIRE(market->InstallApp(Context(tenant.admin_key).get(), install, &first).ok());
    RecordSecret(first.credential());
    // Without the id, a second install of the same app is ALREADY_EXISTS; with it, the first answer comes back.
    marketpb::InstallAppResponse retried;
    REQUIRE(market->InstallApp(Context(tenant.admin_key).get(), install, &retried).ok());
    CHECK(google::protobuf::util::MessageDifferencer::Equals(first, retried));
    install.clear_request_id();
    marketpb::InstallAppResponse again;
    CHECK(market->InstallApp(Context(tenant.admin_key).get(), install, &again).error_code() ==
          grpc::StatusCode::ALREADY_EXISTS);
    CHECK(KeyWorks(env, retried.credential(), tenant.tenant_id));
  }
}

}  // namespace
}  // namespace parkbase::testing
