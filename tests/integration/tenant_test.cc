// The tenant service through its public gRPC API against the real PostgreSQL and Redis.
#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "support/tenant_client.h"

namespace parkbase::testing {
namespace {

using google::protobuf::util::TimeUtil;
namespace pb = tenantpb;

struct Fixture {
  TestServer server;
  TenantClient client{server};
  pb::TenantService::Stub& stub = client.stub();
  const std::string& admin = server.park_admin_key();
};

pb::Tenant GetTenant(pb::TenantService::Stub& stub, const std::string& key, const std::string& tenant_id,
                     grpc::Status* status_out = nullptr) {
  pb::GetTenantRequest request;
  request.set_name(absl::StrCat("tenants/", tenant_id));
  pb::Tenant tenant;
  grpc::Status status = stub.GetTenant(Context(key).get(), request, &tenant);
  if (status_out != nullptr) *status_out = status;
  return tenant;
}

TEST_CASE("tenant: lifecycle create, get, update, suspend, resume, delete", "[tenant][integration]") {
  Fixture f;
  const std::string id = UniqueId("life");
  pb::CreateTenantRequest create;
  create.set_tenant_id(id);
  create.mutable_tenant()->set_display_name("Lifecycle Works");
  create.mutable_tenant()->set_plan(pb::PLAN_STANDARD);
  create.mutable_tenant()->mutable_quota()->set_max_devices(250);
  pb::Tenant created;
  REQUIRE(f.stub.CreateTenant(Context(f.admin).get(), create, &created).ok());
  CHECK(created.name() == "tenants/" + id);
  CHECK(created.state() == pb::TENANT_STATE_ACTIVE);
  CHECK(created.quota().max_devices() == 250);                       // override
  CHECK(created.quota().max_ingest_points_per_second() == 100000);   // plan default
  CHECK(!created.code().empty());

  pb::Tenant again;
  CHECK(f.stub.CreateTenant(Context(f.admin).get(), create, &again).error_code() == grpc::StatusCode::ALREADY_EXISTS);

  grpc::Status status;
  pb::Tenant read = GetTenant(f.stub, f.admin, id, &status);
  REQUIRE(status.ok());
  CHECK(read.display_name() == "Lifecycle Works");
  CHECK(read.code() == created.code());

  pb::UpdateTenantRequest update;
  update.mutable_tenant()->set_name("tenants/" + id);
  update.mutable_tenant()->set_display_name("Renamed");
  update.mutable_tenant()->set_plan(pb::PLAN_ENTERPRISE);
  update.mutable_update_mask()->add_paths("display_name");
  update.mutable_update_mask()->add_paths("plan");
  pb::Tenant updated;
  REQUIRE(f.stub.UpdateTenant(Context(f.admin).get(), update, &updated).ok());
  CHECK(updated.display_name() == "Renamed");
  CHECK(updated.plan() == pb::PLAN_ENTERPRISE);
  CHECK(updated.quota().max_devices() == 1000000);  // a plan change without quota resets the quota

  pb::DeleteTenantRequest remove;
  remove.set_name("tenants/" + id);
  pb::DeleteTenantResponse removed;
  CHECK(f.stub.DeleteTenant(Context(f.admin).get(), remove, &removed).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);  // must be suspended first

  pb::SuspendTenantRequest suspend;
  suspend.set_name("tenants/" + id);
  suspend.set_reason("unpaid invoice");
  pb::Tenant suspended;
  REQUIRE(f.stub.SuspendTenant(Context(f.admin).get(), suspend, &suspended).ok());
  CHECK(suspended.state() == pb::TENANT_STATE_SUSPENDED);
  CHECK(suspended.suspend_reason() == "unpaid invoice");
  CHECK(f.stub.SuspendTenant(Context(f.admin).get(), suspend, &suspended).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);

  pb::ResumeTenantRequest resume;
  resume.set_name("tenants/" + id);
  pb::Tenant resumed;
  REQUIRE(f.stub.ResumeTenant(Context(f.admin).get(), resume, &resumed).ok());
  CHECK(resumed.state() == pb::TENANT_STATE_ACTIVE);
  CHECK(resumed.suspend_reason().empty());

  REQUIRE(f.stub.SuspendTenant(Context(f.admin).get(), suspend, &suspended).ok());
  REQUIRE(f.stub.DeleteTenant(Context(f.admin).get(), remove, &removed).ok());
  GetTenant(f.stub, f.admin, id, &status);
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("tenant: the park's own tenant cannot be suspended or deleted", "[tenant][integration]") {
  Fixture f;
  pb::SuspendTenantRequest suspend;
  suspend.set_name("tenants/park");
  suspend.set_reason("oops");
  pb::Tenant tenant;
  CHECK(f.stub.SuspendTenant(Context(f.admin).get(), suspend, &tenant).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_CASE("tenant: list pages, filters by state, and refuses a replayed or foreign token", "[tenant][integration]") {
  Fixture f;
  const std::string prefix = UniqueId("pg");
  for (int i = 0; i < 5; ++i) {
    pb::CreateTenantRequest create;
    create.set_tenant_id(absl::StrCat(prefix, "-", i));
    create.mutable_tenant()->set_display_name("paged");
    pb::Tenant created;
    REQUIRE(f.stub.CreateTenant(Context(f.admin).get(), create, &created).ok());
  }
  pb::SuspendTenantRequest suspend;
  suspend.set_name(absl::StrCat("tenants/", prefix, "-3"));
  suspend.set_reason("test");
  pb::Tenant suspended;
  REQUIRE(f.stub.SuspendTenant(Context(f.admin).get(), suspend, &suspended).ok());

  // Walk every page of size 2 and collect ours.
  std::vector<std::string> seen;
  pb::ListTenantsRequest list;
  list.set_page_size(2);
  std::string first_token;
  int pages = 0;
  do {
    pb::ListTenantsResponse page;
    REQUIRE(f.stub.ListTenants(Context(f.admin).get(), list, &page).ok());
    REQUIRE(page.tenants_size() <= 2);
    for (const auto& t : page.tenants()) {
      if (t.tenant_id().rfind(prefix, 0) == 0) seen.push_back(t.tenant_id());
    }
    if (pages++ == 0) first_token = page.next_page_token();
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  CHECK(seen.size() == 5);
  CHECK(std::is_sorted(seen.begin(), seen.end()));

  pb::ListTenantsRequest filtered;
  filtered.set_filter("state = SUSPENDED");
  filtered.set_page_size(1000);
  pb::ListTenantsResponse suspended_only;
  REQUIRE(f.stub.ListTenants(Context(f.admin).get(), filtered, &suspended_only).ok());
  REQUIRE(suspended_only.tenants_size() >= 1);
  for (const auto& t : suspended_only.tenants()) CHECK(t.state() == pb::TENANT_STATE_SUSPENDED);

  SECTION("a token is bound to its filter") {
    pb::ListTenantsRequest replay;
    replay.set_page_size(2);
    replay.set_filter("state = ACTIVE");
    replay.set_page_token(first_token);
    pb::ListTenantsResponse page;
    grpc::Status status = f.stub.ListTenants(Context(f.admin).get(), replay, &page);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().rfind("page_token:", 0) == 0);
  }
  SECTION("a token is bound to its caller") {
    TestTenant other = f.client.CreateTenant("tok");
    pb::ListTenantsRequest replay;
    replay.set_page_size(2);
    replay.set_page_token(first_token);
    pb::ListTenantsResponse page;
    CHECK(f.stub.ListTenants(Context(other.admin_key).get(), replay, &page).error_code() ==
          grpc::StatusCode::INVALID_ARGUMENT);
  }
  SECTION("a non-admin lists only its own tenant") {
    TestTenant own = f.client.CreateTenant("own");
    pb::ListTenantsRequest mine;
    mine.set_page_size(1000);
    pb::ListTenantsResponse page;
    REQUIRE(f.stub.ListTenants(Context(own.developer_key).get(), mine, &page).ok());
    REQUIRE(page.tenants_size() == 1);
    CHECK(page.tenants(0).tenant_id() == own.tenant_id);
  }
}

TEST_CASE("tenant: bad input is INVALID_ARGUMENT naming the field", "[tenant][integration]") {
  Fixture f;
  TestTenant tenant = f.client.CreateTenant("bad");
  std::string expected_field;
  grpc::Status status;
  SECTION("empty display name") {
    pb::CreateTenantRequest r;
    r.set_tenant_id(UniqueId("e"));
    pb::Tenant out;
    status = f.stub.CreateTenant(Context(f.admin).get(), r, &out);
    expected_field = "tenant.display_name";
  }
  SECTION("over-long display name") {
    pb::CreateTenantRequest r;
    r.set_tenant_id(UniqueId("e"));
    r.mutable_tenant()->set_display_name(std::string(201, 'x'));
    pb::Tenant out;
    status = f.stub.CreateTenant(Context(f.admin).get(), r, &out);
    expected_field = "tenant.display_name";
  }
  SECTION("bad tenant id") {
    pb::CreateTenantRequest r;
    r.set_tenant_id("Not_Valid");
    r.mutable_tenant()->set_display_name("x");
    pb::Tenant out;
    status = f.stub.CreateTenant(Context(f.admin).get(), r, &out);
    expected_field = "tenant_id";
  }
  SECTION("over-long tenant id") {
    pb::CreateTenantRequest r;
    r.set_tenant_id(std::string(41, 'a'));
    r.mutable_tenant()->set_display_name("x");
    pb::Tenant out;
    status = f.stub.CreateTenant(Context(f.admin).get(), r, &out);
    expected_field = "tenant_id";
  }
  SECTION("quota out of range") {
    pb::CreateTenantRequest r;
    r.set_tenant_id(UniqueId("e"));
    r.mutable_tenant()->set_display_name("x");
    r.mutable_tenant()->mutable_quota()->set_retention_days(99999);
    pb::Tenant out;
    status = f.stub.CreateTenant(Context(f.admin).get(), r, &out);
    expected_field = "tenant.quota.retention_days";
  }
  SECTION("unknown field in update mask") {
    pb::UpdateTenantRequest r;
    r.mutable_tenant()->set_name("tenants/" + tenant.tenant_id);
    r.mutable_update_mask()->add_paths("colour");
    pb::Tenant out;
    status = f.stub.UpdateTenant(Context(f.admin).get(), r, &out);
    expected_field = "update_mask";
  }
  SECTION("immutable field in update mask") {
    pb::UpdateTenantRequest r;
    r.mutable_tenant()->set_name("tenants/" + tenant.tenant_id);
    r.mutable_update_mask()->add_paths("state");
    pb::Tenant out;
    status = f.stub.UpdateTenant(Context(f.admin).get(), r, &out);
    expected_field = "update_mask";
  }
  SECTION("empty update mask") {
    pb::UpdateTenantRequest r;
    r.mutable_tenant()->set_name("tenants/" + tenant.tenant_id);
    pb::Tenant out;
    status = f.stub.UpdateTenant(Context(f.admin).get(), r, &out);
    expected_field = "update_mask";
  }
  SECTION("bad page token") {
    pb::ListTenantsRequest r;
    r.set_page_token("garbage!");
    pb::ListTenantsResponse out;
    status = f.stub.ListTenants(Context(f.admin).get(), r, &out);
    expected_field = "page_token";
  }
  SECTION("page size out of range") {
    pb::ListTenantsRequest r;
    r.set_page_size(5000);
    pb::ListTenantsResponse out;
    status = f.stub.ListTenants(Context(f.admin).get(), r, &out);
    expected_field = "page_size";
  }
  SECTION("bad filter") {
    pb::ListTenantsRequest r;
    r.set_filter("colour = red");
    pb::ListTenantsResponse out;
    status = f.stub.ListTenants(Context(f.admin).get(), r, &out);
    expected_field = "filter";
  }
  SECTION("malformed resource name") {
    pb::Tenant out;
    pb::GetTenantRequest r;
    r.set_name("tenant/acme");
    status = f.stub.GetTenant(Context(f.admin).get(), r, &out);
    expected_field = "name";
  }
  SECTION("key without role") {
    pb::CreateApiKeyRequest r;
    r.set_parent("tenants/" + tenant.tenant_id);
    r.mutable_api_key()->set_display_name("k");
    pb::CreateApiKeyResponse out;
    status = f.stub.CreateApiKey(Context(tenant.admin_key).get(), r, &out);
    expected_field = "api_key.role";
  }
  SECTION("key expiring in the past") {
    pb::CreateApiKeyRequest r;
    r.set_parent("tenants/" + tenant.tenant_id);
    r.mutable_api_key()->set_display_name("k");
    r.mutable_api_key()->set_role(pb::ROLE_DEVELOPER);
    *r.mutable_api_key()->mutable_expire_time() = TimeUtil::SecondsToTimestamp(1000);
    pb::CreateApiKeyResponse out;
    status = f.stub.CreateApiKey(Context(tenant.admin_key).get(), r, &out);
    expected_field = "api_key.expire_time";
  }
  SECTION("suspend without reason") {
    pb::SuspendTenantRequest r;
    r.set_name("tenants/" + tenant.tenant_id);
    pb::Tenant out;
    status = f.stub.SuspendTenant(Context(f.admin).get(), r, &out);
    expected_field = "reason";
  }
  INFO(status.error_message());
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().rfind(expected_field + ":", 0) == 0);
}

TEST_CASE("tenant: keys work until revoked or expired, secrets are never listed", "[tenant][integration]") {
  Fixture f;
  TestTenant tenant = f.client.CreateTenant("keys");
  grpc::Status status;
  GetTenant(f.stub, tenant.developer_key, tenant.tenant_id, &status);
  REQUIRE(status.ok());

  SECTION("revoked") {
    pb::ListApiKeysRequest list;
    list.set_parent("tenants/" + tenant.tenant_id);
    pb::ListApiKeysResponse keys;
    REQUIRE(f.stub.ListApiKeys(Context(tenant.admin_key).get(), list, &keys).ok());
    REQUIRE(keys.api_keys_size() == 2);
    std::string developer_key_name;
    for (const auto& key : keys.api_keys()) {
      const bool one_of_ours = tenant.developer_key.find(key.key_id()) != std::string::npos ||
                               tenant.admin_key.find(key.key_id()) != std::string::npos;
      CHECK(one_of_ours);
      if (key.role() == pb::ROLE_DEVELOPER) developer_key_name = key.name();
      std::string serialized = key.SerializeAsString();
      CHECK(serialized.find(tenant.developer_key.substr(tenant.developer_key.rfind('.') + 1)) == std::string::npos);
    }
    pb::RevokeApiKeyRequest revoke;
    revoke.set_name(developer_key_name);
    pb::ApiKey revoked;
    REQUIRE(f.stub.RevokeApiKey(Context(tenant.admin_key).get(), revoke, &revoked).ok());
    CHECK(revoked.has_revoke_time());
    GetTenant(f.stub, tenant.developer_key, tenant.tenant_id, &status);
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(f.stub.RevokeApiKey(Context(tenant.admin_key).get(), revoke, &revoked).error_code() ==
          grpc::StatusCode::FAILED_PRECONDITION);
  }
  SECTION("expired") {
    pb::CreateApiKeyRequest create;
    create.set_parent("tenants/" + tenant.tenant_id);
    create.mutable_api_key()->set_display_name("short-lived");
    create.mutable_api_key()->set_role(pb::ROLE_DEVELOPER);
    *create.mutable_api_key()->mutable_expire_time() =
        TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(f.server.clock().Now() + absl::Hours(1)));
    pb::CreateApiKeyResponse created;
    REQUIRE(f.stub.CreateApiKey(Context(tenant.admin_key).get(), create, &created).ok());
    GetTenant(f.stub, created.secret(), tenant.tenant_id, &status);
    REQUIRE(status.ok());
    f.server.clock().Advance(absl::Hours(1) + absl::Seconds(1));
    GetTenant(f.stub, created.secret(), tenant.tenant_id, &status);
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(status.error_message().find("expired") != std::string::npos);
  }
  SECTION("wrong secret, malformed and missing keys") {
    std::string wrong = tenant.developer_key;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    GetTenant(f.stub, wrong, tenant.tenant_id, &status);
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    GetTenant(f.stub, "not-a-key", tenant.tenant_id, &status);
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    GetTenant(f.stub, "", tenant.tenant_id, &status);
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
}

TEST_CASE("tenant: a suspended tenant's keys are refused at once and work again on resume",
          "[tenant][integration]") {
  Fixture f;
  TestTenant tenant = f.client.CreateTenant("susp");
  grpc::Status status;
  GetTenant(f.stub, tenant.developer_key, tenant.tenant_id, &status);
  REQUIRE(status.ok());
  pb::SuspendTenantRequest suspend;
  suspend.set_name("tenants/" + tenant.tenant_id);
  suspend.set_reason("audit");
  pb::Tenant out;
  REQUIRE(f.stub.SuspendTenant(Context(f.admin).get(), suspend, &out).ok());
  for (const auto* key : {&tenant.developer_key, &tenant.admin_key}) {
    GetTenant(f.stub, *key, tenant.tenant_id, &status);
    CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(status.error_message().find("suspended") != std::string::npos);
  }
  pb::ResumeTenantRequest resume;
  resume.set_name("tenants/" + tenant.tenant_id);
  REQUIRE(f.stub.ResumeTenant(Context(f.admin).get(), resume, &out).ok());
  GetTenant(f.stub, tenant.developer_key, tenant.tenant_id, &status);
  CHECK(status.ok());
}

TEST_CASE("tenant: roles — developers cannot manage keys, tenant admins cannot change quotas or mint park keys",
          "[tenant][integration]") {
  Fixture f;
  TestTenant tenant = f.client.CreateTenant("role");
  pb::CreateApiKeyRequest create;
  create.set_parent("tenants/" + tenant.tenant_id);
  create.mutable_api_key()->set_display_name("x");
  create.mutable_api_key()->set_role(pb::ROLE_DEVELOPER);
  pb::CreateApiKeyResponse created;
  CHECK(f.stub.CreateApiKey(Context(tenant.developer_key).get(), create, &created).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);

  pb::UpdateTenantRequest update;
  update.mutable_tenant()->set_name("tenants/" + tenant.tenant_id);
  update.mutable_tenant()->mutable_quota()->set_max_devices(999999);
  update.mutable_update_mask()->add_paths("quota.max_devices");
  pb::Tenant out;
  CHECK(f.stub.UpdateTenant(Context(tenant.admin_key).get(), update, &out).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);

  update.mutable_tenant()->set_display_name("Self-renamed");
  update.mutable_update_mask()->Clear();
  update.mutable_update_mask()->add_paths("display_name");
  REQUIRE(f.stub.UpdateTenant(Context(tenant.admin_key).get(), update, &out).ok());
  CHECK(out.display_name() == "Self-renamed");

  create.mutable_api_key()->set_role(pb::ROLE_PARK_ADMIN);
  create.set_parent("tenants/park");
  CHECK(f.stub.CreateApiKey(Context(tenant.admin_key).get(), create, &created).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  create.set_parent("tenants/" + tenant.tenant_id);
  CHECK(f.stub.CreateApiKey(Context(tenant.admin_key).get(), create, &created).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);

  pb::CreateTenantRequest new_tenant;
  new_tenant.set_tenant_id(UniqueId("x"));
  new_tenant.mutable_tenant()->set_display_name("x");
  CHECK(f.stub.CreateTenant(Context(tenant.admin_key).get(), new_tenant, &out).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
}

TEST_CASE("tenant: every tenant RPC made with another tenant's key is refused and changes nothing",
          "[tenant][integration][isolation]") {
  Fixture f;
  TestTenant victim = f.client.CreateTenant("victim");
  TestTenant attacker = f.client.CreateTenant("attacker");
  const std::string victim_name = "tenants/" + victim.tenant_id;

  pb::ListApiKeysRequest list_keys;
  list_keys.set_parent(victim_name);
  pb::ListApiKeysResponse victim_keys;
  REQUIRE(f.stub.ListApiKeys(Context(victim.admin_key).get(), list_keys, &victim_keys).ok());
  const std::string a_victim_key = victim_keys.api_keys(0).name();

  for (const auto* key : {&attacker.admin_key, &attacker.developer_key}) {
    auto ctx = [&] { return Context(*key); };
    pb::Tenant tenant;
    grpc::Status status;
    {
      pb::GetTenantRequest r;
      r.set_name(victim_name);
      CHECK(f.stub.GetTenant(ctx().get(), r, &tenant).error_code() == grpc::StatusCode::NOT_FOUND);
    }
    {
      pb::UpdateTenantRequest r;
      r.mutable_tenant()->set_name(victim_name);
      r.mutable_tenant()->set_display_name("pwned");
      r.mutable_update_mask()->add_paths("display_name");
      CHECK(f.stub.UpdateTenant(ctx().get(), r, &tenant).error_code() == grpc::StatusCode::NOT_FOUND);
    }
    {
      pb::SuspendTenantRequest r;
      r.set_name(victim_name);
      r.set_reason("x");
      CHECK(f.stub.SuspendTenant(ctx().get(), r, &tenant).error_code() == grpc::StatusCode::NOT_FOUND);
    }
    {
      pb::ResumeTenantRequest r;
      r.set_name(victim_name);
      CHECK(f.stub.ResumeTenant(ctx().get(), r, &tenant).error_code() == grpc::StatusCode::NOT_FOUND);
    }
    {
      pb::DeleteTenantRequest r;
      r.set_name(victim_name);
      pb::DeleteTenantResponse out;
      CHECK(f.stub.DeleteTenant(ctx().get(), r, &out).error_code() == grpc::StatusCode::NOT_FOUND);
    }
    {
      pb::CreateApiKeyRequest r;
      r.set_parent(victim_name);
      r.mutable_api_key()->set_display_name("backdoor");
      r.mutable_api_key()->set_role(pb::ROLE_TENANT_ADMIN);
      pb::CreateApiKeyResponse out;
      CHECK(f.stub.CreateApiKey(ctx().get(), r, &out).error_code() == grpc::StatusCode::NOT_FOUND);
    }
    {
      pb::ListApiKeysResponse out;
      CHECK(f.stub.ListApiKeys(ctx().get(), list_keys, &out).error_code() == grpc::StatusCode::NOT_FOUND);
    }
    {
      pb::RevokeApiKeyRequest r;
      r.set_name(a_victim_key);
      pb::ApiKey out;
      CHECK(f.stub.RevokeApiKey(ctx().get(), r, &out).error_code() == grpc::StatusCode::NOT_FOUND);
    }
    {
      pb::ListAuditEventsRequest r;
      r.set_parent(victim_name);
      pb::ListAuditEventsResponse out;
      CHECK(f.stub.ListAuditEvents(ctx().get(), r, &out).error_code() == grpc::StatusCode::NOT_FOUND);
    }
    {
      // Revoking the victim's key under the attacker's own tenant name must not find it either.
      pb::RevokeApiKeyRequest r;
      r.set_name("tenants/" + attacker.tenant_id + "/apiKeys/" + victim_keys.api_keys(0).key_id());
      pb::ApiKey out;
      if (*key == attacker.admin_key) {
        CHECK(f.stub.RevokeApiKey(ctx().get(), r, &out).error_code() == grpc::StatusCode::NOT_FOUND);
      }
    }
  }
  grpc::Status status;
  pb::Tenant unchanged = GetTenant(f.stub, victim.admin_key, victim.tenant_id, &status);
  REQUIRE(status.ok());
  CHECK(unchanged.display_name() != "pwned");
  CHECK(unchanged.state() == pb::TENANT_STATE_ACTIVE);
  pb::ListApiKeysResponse after;
  REQUIRE(f.stub.ListApiKeys(Context(victim.admin_key).get(), list_keys, &after).ok());
  CHECK(after.api_keys_size() == victim_keys.api_keys_size());
  for (const auto& key : after.api_keys()) CHECK(!key.has_revoke_time());
}

TEST_CASE("tenant: the audit log records every change with its actor, readable only by its tenant",
          "[tenant][integration]") {
  Fixture f;
  TestTenant tenant = f.client.CreateTenant("audit");
  pb::UpdateTenantRequest update;
  update.mutable_tenant()->set_name("tenants/" + tenant.tenant_id);
  update.mutable_tenant()->set_display_name("Audited");
  update.mutable_update_mask()->add_paths("display_name");
  pb::Tenant out;
  REQUIRE(f.stub.UpdateTenant(Context(tenant.admin_key).get(), update, &out).ok());

  pb::ListAuditEventsRequest list;
  list.set_parent("tenants/" + tenant.tenant_id);
  list.set_page_size(2);
  std::vector<pb::AuditEvent> events;
  do {
    pb::ListAuditEventsResponse page;
    REQUIRE(f.stub.ListAuditEvents(Context(tenant.developer_key).get(), list, &page).ok());
    events.insert(events.end(), page.audit_events().begin(), page.audit_events().end());
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  // CreateTenant, CreateApiKey (admin), CreateApiKey (developer), UpdateTenant — newest first.
  REQUIRE(events.size() == 4);
  CHECK(events[0].action() == "UpdateTenant");
  CHECK(events[0].actor().rfind("tenants/" + tenant.tenant_id + "/apiKeys/", 0) == 0);
  CHECK(events[0].actor_role() == pb::ROLE_TENANT_ADMIN);
  CHECK(events[0].details_json().find("Audited") != std::string::npos);
  CHECK(events[3].action() == "CreateTenant");
  CHECK(events[3].actor().rfind("tenants/park/apiKeys/", 0) == 0);
  for (size_t i = 1; i < events.size(); ++i) CHECK(events[i - 1].event_id() > events[i].event_id());
}

}  // namespace
}  // namespace parkbase::testing
