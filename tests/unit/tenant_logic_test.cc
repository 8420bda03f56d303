// TenantManager's rules with an in-memory store (tests/support/fake_tenant_store.h): who may do what, validation
// before storage, plan and quota arithmetic. The real store is covered by the integration tests; these need no
// database.
#include <algorithm>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/access.h"
#include "common/clock.h"
#include "common/page_token.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"
#include "support/fake_tenant_store.h"
#include "tenant/tenant_logic.h"

namespace parkbase::tenant {
namespace {

using testing::FakeTenantCachePurger;
using testing::FakeTenantStore;

struct Fixture {
  FakeTenantStore store;
  FakeTenantCachePurger cache;
  FakeClock clock{absl::FromUnixSeconds(1'800'000'000)};
  PageTokens tokens{"unit-test-page-token-secret"};
  TenantManager manager{store, clock, tokens, &cache};
  Principal park_admin{"park", Role::kParkAdmin, "k0", "", nullptr};

  Principal Key(const std::string& tenant, Role role) { return Principal{tenant, role, "k1", "", nullptr}; }
  pb::Tenant Create(const std::string& id, pb::Plan plan = pb::PLAN_UNSPECIFIED) {
    pb::CreateTenantRequest request;
    request.set_tenant_id(id);
    request.mutable_tenant()->set_display_name("Tenant " + id);
    request.mutable_tenant()->set_plan(plan);
    auto created = manager.CreateTenant(park_admin, request);
    REQUIRE(created.ok());
    return *created;
  }
  // A suspended tenant holding `rows` rows in other tables, and the request that deletes it.
  pb::DeleteTenantRequest SuspendedWithRows(const std::string& id, int64_t rows) {
    Create(id);
    store.rows[id] = rows;
    pb::SuspendTenantRequest suspend;
    suspend.set_name("tenants/" + id);
    suspend.set_reason("leaving the park");
    REQUIRE(manager.SuspendTenant(park_admin, suspend).ok());
    pb::DeleteTenantRequest remove;
    remove.set_name("tenants/" + id);
    return remove;
  }
};

TEST_CASE("tenant logic: plans fill quotas, explicit quota fields win", "[tenant][unit]") {
  Fixture f;
  pb::Tenant free = f.Create("free-co");
  CHECK(free.plan() == pb::PLAN_FREE);  // unspecified means free
  CHECK(free.quota().max_devices() == 100);
  pb::CreateTenantRequest request;
  request.set_tenant_id("big-co");
  request.mutable_tenant()->set_display_name("Big");
  request.mutable_tenant()->set_plan(pb::PLAN_STANDARD);
  request.mutable_tenant()->mutable_quota()->set_retention_days(30);
  auto big = f.manager.CreateTenant(f.park_admin, request);
  REQUIRE(big.ok());
  CHECK(big->quota().retention_days() == 30);
  CHECK(big->quota().max_devices() == PlanQuota(pb::PLAN_STANDARD).max_devices());
  CHECK(f.store.audit.back().action == "CreateTenant");
  CHECK(f.store.audit.back().actor == "tenants/park/apiKeys/k0");
}

// IngestRates with a fixed answer, or a failure.
class FixedIngestRates final : public IngestRates {
 public:
  absl::StatusOr<double> answer = 0.0;
  std::vector<std::string> asked;
  absl::StatusOr<double> PointsPerSecond(const std::string& tenant_id) override {
    asked.push_back(tenant_id);
    return answer;
  }
};

TEST_CASE("tenant logic: usage puts the store's counts and the ingest rate beside the quota", "[tenant][unit]") {
  Fixture f;
  FixedIngestRates rates;
  TenantManager manager{f.store, f.clock, f.tokens, &f.cache, nullptr, nullptr, &rates};
  f.Create("acme", pb::PLAN_STANDARD);
  f.Create("globex");
  f.store.usage["acme"] = UsageCounts{.devices = 42, .stored_bytes = 123456, .installed_apps = 2};
  rates.answer = 17.5;
  pb::GetTenantUsageRequest request;
  request.set_name("tenants/acme/usage");

  auto usage = manager.GetTenantUsage(f.Key("acme", Role::kDeveloper), request);
  REQUIRE(usage.ok());
  CHECK(usage->name() == "tenants/acme/usage");
  CHECK(usage->devices() == 42);
  CHECK(usage->stored_bytes() == 123456);
  CHECK(usage->installed_apps() == 2);
  CHECK(usage->ingest_points_per_second() == 17.5);
  CHECK(usage->quota().max_devices() == PlanQuota(pb::PLAN_STANDARD).max_devices());
  CHECK(usage->read_time().seconds() == 1'800'000'000);
  CHECK(rates.asked == std::vector<std::string>{"acme"});

  SECTION("another tenant's key is told the usage does not exist, and nothing is read") {
    auto refused = manager.GetTenantUsage(f.Key("globex", Role::kTenantAdmin), request);
    CHECK(refused.status().code() == absl::StatusCode::kNotFound);
    CHECK(rates.asked.size() == 1);
  }
  SECTION("the park admin reads any tenant's") {
    CHECK(manager.GetTenantUsage(f.park_admin, request).ok());
  }
  SECTION("unreadable counts are UNAVAILABLE naming the figure, not a zero rate") {
    rates.answer = absl::UnavailableError("redis: connection refused");
    auto failed = manager.GetTenantUsage(f.park_admin, request);
    CHECK(failed.status().code() == absl::StatusCode::kUnavailable);
    CHECK(absl::StrContains(failed.status().message(), "ingest_points_per_second"));
  }
  SECTION("without Redis the rate is left unset") {
    auto without = f.manager.GetTenantUsage(f.park_admin, request);
    REQUIRE(without.ok());
    CHECK_FALSE(without->has_ingest_points_per_second());
    CHECK(without->devices() == 42);
  }
  SECTION("a name that is not a usage is INVALID_ARGUMENT naming the field") {
    request.set_name("tenants/acme");
    auto invalid = manager.GetTenantUsage(f.park_admin, request);
    CHECK(invalid.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(invalid.status().message(), "name"));
  }
}

TEST_CASE("tenant logic: invalid input never reaches the store", "[tenant][unit]") {
  Fixture f;
  pb::CreateTenantRequest request;
  request.set_tenant_id("ok-id");
  request.mutable_tenant()->set_display_name("x");
  SECTION("plan out of range") { request.mutable_tenant()->set_plan(static_cast<pb::Plan>(42)); }
  SECTION("devices over the limit") { request.mutable_tenant()->mutable_quota()->set_max_devices(10'000'001); }
  SECTION("email without @") { request.mutable_tenant()->set_contact_email("nobody"); }
  SECTION("control characters in the name") { request.mutable_tenant()->set_display_name("a\tb"); }
  CHECK(f.manager.CreateTenant(f.park_admin, request).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.store.writes == 0);
}

TEST_CASE("tenant access rules: who may call what", "[tenant][unit]") {
  // The rules are declared on the RPCs (tenant.proto) and enforced by AdmitCall before the logic runs.
  Fixture f;
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      pb::TenantService::service_full_name());
  auto code = [&](const Principal& caller, const char* method, const google::protobuf::Message& request) {
    return AdmitCall(caller, *service->FindMethodByName(method), request).status().code();
  };
  pb::GetTenantRequest get;
  get.set_name("tenants/acme");
  CHECK(code(f.Key("acme", Role::kDeveloper), "GetTenant", get) == absl::StatusCode::kOk);
  CHECK(code(f.Key("acme", Role::kDevice), "GetTenant", get) == absl::StatusCode::kPermissionDenied);
  // Another tenant: as if it did not exist.
  CHECK(code(f.Key("globex", Role::kTenantAdmin), "GetTenant", get) == absl::StatusCode::kNotFound);
  CHECK(code(f.park_admin, "GetTenant", get) == absl::StatusCode::kOk);

  pb::SuspendTenantRequest suspend;
  suspend.set_name("tenants/acme");
  suspend.set_reason("r");
  CHECK(code(f.Key("acme", Role::kTenantAdmin), "SuspendTenant", suspend) == absl::StatusCode::kPermissionDenied);
  CHECK(code(f.Key("globex", Role::kTenantAdmin), "SuspendTenant", suspend) == absl::StatusCode::kNotFound);
  // A park-admin role in any tenant but `park` is not a park admin.
  CHECK(code(f.Key("globex", Role::kParkAdmin), "SuspendTenant", suspend) == absl::StatusCode::kNotFound);
  CHECK(code(f.park_admin, "SuspendTenant", suspend) == absl::StatusCode::kOk);

  pb::CreateTenantRequest create;
  create.set_tenant_id("newco");
  CHECK(code(f.Key("acme", Role::kTenantAdmin), "CreateTenant", create) == absl::StatusCode::kPermissionDenied);
  CHECK(code(f.park_admin, "CreateTenant", create) == absl::StatusCode::kOk);

  pb::ListAuditEventsRequest audit;
  audit.set_parent("tenants/acme");
  CHECK(code(f.Key("acme", Role::kDeveloper), "ListAuditEvents", audit) == absl::StatusCode::kOk);
  CHECK(code(f.Key("acme", Role::kProvider), "ListAuditEvents", audit) == absl::StatusCode::kPermissionDenied);
  audit.set_parent("nonsense/acme");
  CHECK(code(f.Key("acme", Role::kDeveloper), "ListAuditEvents", audit) == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("access rules: the rule's roles are the API's roles, number for number", "[tenant][unit]") {
  // access.proto cannot import tenant.proto (tenant.proto imports it for the rules), so it repeats the enum.
  const auto* api = pb::Role_descriptor();
  const auto* rule = access::v1::Role_descriptor();
  REQUIRE(api->value_count() == rule->value_count());
  for (int i = 0; i < api->value_count(); ++i) {
    INFO(api->value(i)->name());
    const auto* same = rule->FindValueByName(api->value(i)->name());
    REQUIRE(same != nullptr);
    CHECK(same->number() == api->value(i)->number());
  }
  CHECK(static_cast<int>(Role::kDevice) == pb::ROLE_DEVICE);
  CHECK(static_cast<int>(Role::kProvider) == pb::ROLE_PROVIDER);
  CHECK(static_cast<int>(Role::kParkAdmin) == pb::ROLE_PARK_ADMIN);
}

TEST_CASE("tenant logic: what a caller may do inside an admitted call", "[tenant][unit]") {
  Fixture f;
  f.Create("acme");
  f.Create("globex");
  pb::CreateApiKeyRequest key;
  key.set_parent("tenants/acme");
  key.mutable_api_key()->set_display_name("k");
  key.mutable_api_key()->set_role(pb::ROLE_PROVIDER);
  CHECK(f.manager.CreateApiKey(f.Key("acme", Role::kTenantAdmin), key).status().code() ==
        absl::StatusCode::kFailedPrecondition);  // acme lacks the provider capability
  key.mutable_api_key()->set_role(pb::ROLE_DEVICE);
  CHECK(f.manager.CreateApiKey(f.Key("acme", Role::kTenantAdmin), key).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("tenant logic: a plan change resets the quota unless the mask names quota fields", "[tenant][unit]") {
  Fixture f;
  f.Create("acme", pb::PLAN_FREE);
  pb::UpdateTenantRequest update;
  update.mutable_tenant()->set_name("tenants/acme");
  update.mutable_tenant()->set_plan(pb::PLAN_ENTERPRISE);
  update.mutable_tenant()->mutable_quota()->set_max_devices(5);
  update.mutable_update_mask()->add_paths("plan");
  update.mutable_update_mask()->add_paths("quota.max_devices");
  auto updated = f.manager.UpdateTenant(f.park_admin, update);
  REQUIRE(updated.ok());
  CHECK(updated->quota().max_devices() == 5);
  CHECK(updated->quota().retention_days() == PlanQuota(pb::PLAN_ENTERPRISE).retention_days());
}

TEST_CASE("tenant logic: state changes are checked against the current state", "[tenant][unit]") {
  Fixture f;
  f.Create("acme");
  pb::ResumeTenantRequest resume;
  resume.set_name("tenants/acme");
  CHECK(f.manager.ResumeTenant(f.park_admin, resume).status().code() == absl::StatusCode::kFailedPrecondition);
  pb::DeleteTenantRequest remove;
  remove.set_name("tenants/acme");
  CHECK(f.manager.DeleteTenant(f.park_admin, remove).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(f.store.tenants.count("acme") == 1);
  pb::SuspendTenantRequest suspend;
  suspend.set_name("tenants/acme");
  suspend.set_reason("done");
  REQUIRE(f.manager.SuspendTenant(f.park_admin, suspend).ok());
  CHECK(f.manager.DeleteTenant(f.park_admin, remove).ok());
  CHECK(f.store.tenants.count("acme") == 0);
}

TEST_CASE("tenant logic: a deleted tenant's rows go in batches and its cache is purged before its row",
          "[tenant][unit]") {
  Fixture f;
  const pb::DeleteTenantRequest remove = f.SuspendedWithRows("big", 12'345);

  SECTION("the cache is down: rows are gone, the tenant stays suspended, and a retry finishes") {
    f.cache.down = true;
    CHECK(f.manager.DeleteTenant(f.park_admin, remove).code() == absl::StatusCode::kUnavailable);
    CHECK(f.store.rows["big"] == 0);
    REQUIRE(f.store.tenants.count("big") == 1);
    CHECK(f.store.tenants["big"].state() == pb::TENANT_STATE_SUSPENDED);
    f.cache.down = false;
  }
  REQUIRE(f.manager.DeleteTenant(f.park_admin, remove).ok());
  CHECK(f.store.tenants.count("big") == 0);
  CHECK(f.cache.purged == std::vector<std::string>{"big"});
  CHECK(f.store.rows["big"] == 0);
  for (int64_t batch : f.store.purged_batches) CHECK(batch <= 5000);
}

TEST_CASE("tenant logic: a purge batch that outlasts the statement timeout is halved, and grows back once batches fit",
          "[tenant][unit]") {
  Fixture f;
  const pb::DeleteTenantRequest remove = f.SuspendedWithRows("big", 200'000);

  SECTION("a slow moment: three batches time out, later ones fit") {
    f.store.slow_purges = 3;
    f.store.slow_batch_rows = 0;
    REQUIRE(f.manager.DeleteTenant(f.park_admin, remove).ok());
    CHECK(f.store.rows["big"] == 0);
    CHECK(f.store.tenants.count("big") == 0);
    // 5000 -> 2500 -> 1250 -> 625 rows, then back up after eight batches that fit at each size.
    REQUIRE(f.store.attempted_batches.size() > 4);
    CHECK(std::vector<int64_t>(f.store.attempted_batches.begin(), f.store.attempted_batches.begin() + 4) ==
          std::vector<int64_t>{5000, 2500, 1250, 625});
    CHECK(*std::min_element(f.store.attempted_batches.begin(), f.store.attempted_batches.end()) == 625);
    const auto first_full = std::find(f.store.attempted_batches.begin() + 1, f.store.attempted_batches.end(), 5000);
    REQUIRE(first_full != f.store.attempted_batches.end());
    // 8 batches at 625, 1250 and 2500 each before the size doubles again.
    CHECK(first_full - f.store.attempted_batches.begin() == 3 + 8 * 3);
    CHECK(f.store.attempted_batches.back() == 5000);
  }
  SECTION("a database too slow for even the smallest batch: the deletion fails and can be retried") {
    f.store.slow_purges = 1'000;
    f.store.slow_batch_rows = 10;
    CHECK(f.manager.DeleteTenant(f.park_admin, remove).code() == absl::StatusCode::kDeadlineExceeded);
    CHECK(f.store.attempted_batches.back() == 50);
    CHECK(f.store.tenants.count("big") == 1);
    f.store.slow_purges = 0;
    REQUIRE(f.manager.DeleteTenant(f.park_admin, remove).ok());
    CHECK(f.store.rows["big"] == 0);
  }
}

TEST_CASE("tenant logic: quota fields left unset take the plan's value, zero installed apps is a limit",
          "[tenant][unit]") {
  Fixture f;
  pb::CreateTenantRequest request;
  request.set_tenant_id("no-apps");
  request.mutable_tenant()->set_display_name("No apps");
  request.mutable_tenant()->mutable_quota()->set_max_installed_apps(0);
  auto created = f.manager.CreateTenant(f.park_admin, request);
  REQUIRE(created.ok());
  CHECK(created->quota().max_installed_apps() == 0);
  CHECK(created->quota().max_devices() == PlanQuota(pb::PLAN_FREE).max_devices());

  pb::UpdateTenantRequest update;
  update.mutable_tenant()->set_name("tenants/no-apps");
  update.mutable_update_mask()->add_paths("quota.max_installed_apps");
  SECTION("a field in the mask but unset goes back to the plan's value") {
    auto updated = f.manager.UpdateTenant(f.park_admin, update);
    REQUIRE(updated.ok());
    CHECK(updated->quota().max_installed_apps() == PlanQuota(pb::PLAN_FREE).max_installed_apps());
  }
  SECTION("zero stays zero") {
    update.mutable_tenant()->mutable_quota()->set_max_installed_apps(0);
    auto updated = f.manager.UpdateTenant(f.park_admin, update);
    REQUIRE(updated.ok());
    CHECK(updated->quota().max_installed_apps() == 0);
  }
  SECTION("zero devices is refused, naming the field") {
    update.mutable_update_mask()->add_paths("quota.max_devices");
    update.mutable_tenant()->mutable_quota()->set_max_devices(0);
    auto updated = f.manager.UpdateTenant(f.park_admin, update);
    CHECK(updated.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(updated.status().message(), "tenant.quota.max_devices"));
  }
}

TEST_CASE("tenant logic: list pages continue where they stopped", "[tenant][unit]") {
  Fixture f;
  for (const char* id : {"aaa", "bbb", "ccc", "ddd", "eee"}) f.Create(id);
  pb::ListTenantsRequest list;
  list.set_page_size(2);
  std::vector<std::string> seen;
  do {
    auto page = f.manager.ListTenants(f.park_admin, list);
    REQUIRE(page.ok());
    for (const auto& t : page->tenants()) seen.push_back(t.tenant_id());
    list.set_page_token(page->next_page_token());
  } while (!list.page_token().empty() && seen.size() < 20);
  CHECK(seen == std::vector<std::string>{"aaa", "bbb", "ccc", "ddd", "eee"});
}

}  // namespace
}  // namespace parkbase::tenant
