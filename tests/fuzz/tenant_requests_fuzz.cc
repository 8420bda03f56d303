// TenantService's requests (TenantManager) over the in-memory tenant store, from every kind of caller: see
// request_fuzzing.h for the input and the invariants.
#include <map>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/page_token.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/request_fuzzing.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"
#include "support/fake_tenant_store.h"
#include "tenant/tenant_logic.h"

namespace parkbase::fuzz {
namespace {

namespace pb = ::parkbase::tenant::v1;
using tenant::TenantManager;

class TenantWorld final : public World {
 public:
  TenantWorld() {
    pb::Tenant& acme = store_.Add("acme", pb::PLAN_STANDARD);
    acme.set_display_name("Acme Rockets Corporation");
    acme.set_contact_email("ops@acme-rockets.example");
    acme.set_provider(true);
    pb::Tenant& globex = store_.Add("globex", pb::PLAN_FREE);
    globex.set_display_name("Globex Hammock Works");
    globex.set_contact_email("it@globex-hammocks.example");
    pb::Tenant& initech = store_.Add("initech", pb::PLAN_FREE);
    initech.set_state(pb::TENANT_STATE_SUSPENDED);
    initech.set_suspend_reason("unpaid invoices");
    store_.Add("park", pb::PLAN_ENTERPRISE);
    store_.rows["initech"] = 12'345;
    store_.rows["globex"] = 70;
    AddKey("acme", "acmekey1", "Acme line controller", pb::ROLE_DEVELOPER);
    AddKey("acme", "acmekey2", "Acme billing robot", pb::ROLE_TENANT_ADMIN);
    AddKey("globex", "globexkey1", "Globex hammock sensor", pb::ROLE_DEVELOPER);
    AddKey("park", "parkkey1", "park operator", pb::ROLE_PARK_ADMIN);
    store_.hook = &guard;
    cache_.hook = &guard;
  }

  absl::Status Call(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                    const google::protobuf::Message& request,
                    std::unique_ptr<google::protobuf::Message>& response) override {
    const std::string& name = method.name();
    if (name == "CreateTenant") return Serve(manager_, &TenantManager::CreateTenant, caller, request, response);
    if (name == "GetTenant") return Serve(manager_, &TenantManager::GetTenant, caller, request, response);
    if (name == "GetTenantUsage") return Serve(manager_, &TenantManager::GetTenantUsage, caller, request, response);
    if (name == "ListTenants") return Serve(manager_, &TenantManager::ListTenants, caller, request, response);
    if (name == "UpdateTenant") return Serve(manager_, &TenantManager::UpdateTenant, caller, request, response);
    if (name == "SuspendTenant") return Serve(manager_, &TenantManager::SuspendTenant, caller, request, response);
    if (name == "ResumeTenant") return Serve(manager_, &TenantManager::ResumeTenant, caller, request, response);
    if (name == "CreateApiKey") return Serve(manager_, &TenantManager::CreateApiKey, caller, request, response);
    if (name == "ListApiKeys") return Serve(manager_, &TenantManager::ListApiKeys, caller, request, response);
    if (name == "RevokeApiKey") return Serve(manager_, &TenantManager::RevokeApiKey, caller, request, response);
    if (name == "ListAuditEvents") return Serve(manager_, &TenantManager::ListAuditEvents, caller, request, response);
    if (name == "DeleteTenant") {
      absl::Status deleted = manager_.DeleteTenant(caller, static_cast<const pb::DeleteTenantRequest&>(request));
      if (deleted.ok()) response = std::make_unique<pb::DeleteTenantResponse>();
      return deleted;
    }
    Fail(absl::StrCat("tenant target: no handler for ", name));
  }

  std::vector<std::string> Tenants() const override { return {"acme", "globex", "initech", "park"}; }

  std::string TenantDigest(const std::string& tenant_id) override {
    std::string digest;
    auto tenant = store_.tenants.find(tenant_id);
    if (tenant != store_.tenants.end()) digest = StableBytes(tenant->second);
    for (const auto& [id, key] : store_.keys) {
      if (id.first == tenant_id) absl::StrAppend(&digest, "\nkey ", StableBytes(key.key), key.secret_sha256);
    }
    for (const auto& event : store_.events[tenant_id]) absl::StrAppend(&digest, "\nevent ", StableBytes(event));
    absl::StrAppend(&digest, "\nrows ", store_.rows[tenant_id]);
    for (const std::string& purged : cache_.purged) {
      if (purged == tenant_id) digest += "\ncache purged";
    }
    return digest;
  }

  std::vector<std::string> Secrets(const std::string& tenant_id) const override {
    static const auto* secrets = new std::map<std::string, std::vector<std::string>>{
        {"acme", {"Acme Rockets Corporation", "ops@acme-rockets.example", "acmekey1", "acmekey2",
                  "Acme line controller", "Acme billing robot"}},
        {"globex", {"Globex Hammock Works", "it@globex-hammocks.example", "globexkey1", "Globex hammock sensor"}},
        {"initech", {"unpaid invoices"}},
    };
    auto found = secrets->find(tenant_id);
    return found == secrets->end() ? std::vector<std::string>() : found->second;
  }

 private:
  void AddKey(const std::string& tenant_id, const std::string& key_id, const std::string& display_name,
              pb::Role role) {
    tenant::StoredKey& stored = store_.keys[{tenant_id, key_id}];
    stored.key.set_key_id(key_id);
    stored.key.set_name(absl::StrCat("tenants/", tenant_id, "/apiKeys/", key_id));
    stored.key.set_display_name(display_name);
    stored.key.set_role(role);
    stored.key.mutable_create_time()->set_seconds(1'790'000'000 + static_cast<int64_t>(store_.keys.size()));
    stored.secret_sha256 = absl::StrCat("sha256-of-", key_id);
  }

  testing::FakeTenantStore store_;
  testing::FakeTenantCachePurger cache_;
  FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  PageTokens tokens_{"fuzz-page-token-secret"};
  TenantManager manager_{store_, clock_, tokens_, &cache_};
};

const ServiceTarget& Target() {
  static const auto* target = new ServiceTarget{
      pb::TenantService::service_full_name(),
      [] { return std::make_unique<TenantWorld>(); },
      {"acme", "globex", "initech", "park", "newco", "tenants/acme", "tenants/globex", "tenants/initech",
       "tenants/park", "tenants/newco", "tenants/acme/usage", "tenants/acme/apiKeys/acmekey1", "tenants/acme/apiKeys/acmekey2",
       "tenants/globex/apiKeys/globexkey1", "tenants/park/apiKeys/parkkey1", "state = ACTIVE", "state = SUSPENDED",
       "plan = FREE", "plan = ENTERPRISE", "provider = true", "state = ACTIVE AND plan = STANDARD",
       "display_name", "contact_email", "plan", "provider", "quota", "quota.max_devices",
       "quota.max_ingest_points_per_second", "quota.retention_days", "quota.max_installed_apps", "state", "name",
       "ops@acme-rockets.example", "a@b", std::string(kPreviousPageToken)},
      {
          {{kParkAdmin, "CreateTenant",
            R"(tenant_id: "newco" tenant { display_name: "New Co" plan: PLAN_STANDARD contact_email: "a@newco.example"
               quota { max_devices: 10 retention_days: 30 } })"},
           {kParkAdmin, "GetTenant", R"(name: "tenants/newco")"}},
          {{kAcmeAdmin, "GetTenant", R"(name: "tenants/acme")"}},
          {{kAcmeDeveloper, "GetTenant", R"(name: "tenants/globex")"}},
          {{kAcmeProvider, "GetTenantUsage", R"(name: "tenants/acme/usage")"},
           {kParkAdmin, "GetTenantUsage", R"(name: "tenants/globex/usage")"}},
          {{kParkAdmin, "ListTenants", R"(page_size: 1 filter: "state = ACTIVE")"},
           {kParkAdmin, "ListTenants", R"(page_size: 1 filter: "state = ACTIVE" page_token: "$page_token")"}},
          {{kAcmeProvider, "ListTenants", R"(filter: "provider = true AND plan = STANDARD")"}},
          {{kAcmeAdmin, "UpdateTenant",
            R"(tenant { name: "tenants/acme" display_name: "Acme 2" contact_email: "x@acme.example" }
               update_mask { paths: "display_name" paths: "contact_email" })"}},
          {{kParkAdmin, "UpdateTenant",
            R"(tenant { name: "tenants/globex" plan: PLAN_ENTERPRISE quota { max_devices: 5 max_installed_apps: 0 } }
               update_mask { paths: "plan" paths: "quota.max_devices" paths: "quota.max_installed_apps" })"}},
          {{kParkAdmin, "SuspendTenant", R"(name: "tenants/globex" reason: "unpaid")"},
           {kParkAdmin, "DeleteTenant", R"(name: "tenants/globex")"}},
          {{kParkAdmin, "ResumeTenant", R"(name: "tenants/initech")"}},
          {{kParkAdmin, "DeleteTenant", R"(name: "tenants/initech")", }},
          {{kAcmeAdmin, "CreateApiKey",
            R"(parent: "tenants/acme" api_key { display_name: "ci" role: ROLE_DEVELOPER expire_time { seconds: 1900000000 } })"},
           {kAcmeAdmin, "ListApiKeys", R"(parent: "tenants/acme" page_size: 1)"},
           {kAcmeAdmin, "ListApiKeys", R"(parent: "tenants/acme" page_size: 1 page_token: "$page_token")"}},
          {{kAcmeAdmin, "CreateApiKey", R"(parent: "tenants/acme" api_key { display_name: "partner" role: ROLE_PROVIDER })"}},
          {{kParkAdmin, "CreateApiKey", R"(parent: "tenants/park" api_key { display_name: "ops" role: ROLE_PARK_ADMIN })"}},
          {{kAcmeAdmin, "RevokeApiKey", R"(name: "tenants/acme/apiKeys/acmekey1")"},
           {kAcmeAdmin, "RevokeApiKey", R"(name: "tenants/acme/apiKeys/acmekey1")"}},
          {{kAcmeDeveloper, "ListAuditEvents", R"(parent: "tenants/acme" page_size: 1)"},
           {kAcmeAdmin, "UpdateTenant",
            R"(tenant { name: "tenants/acme" display_name: "Acme 3" } update_mask { paths: "display_name" })"},
           {kAcmeDeveloper, "ListAuditEvents", R"(parent: "tenants/acme" page_size: 1)"},
           {kAcmeDeveloper, "ListAuditEvents", R"(parent: "tenants/acme" page_size: 1 page_token: "$page_token")"}},
      }};
  return *target;
}

}  // namespace

std::vector<std::string> FuzzSeeds() { return SeedInputs(Target()); }

}  // namespace parkbase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return parkbase::fuzz::RunCalls(parkbase::fuzz::Target(), data, size);
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return parkbase::fuzz::MutateCalls(parkbase::fuzz::Target(), data, size, max_size, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* first, size_t first_size, const uint8_t* second,
                                            size_t second_size, uint8_t* out, size_t max_out_size,
                                            unsigned int seed) {
  return parkbase::fuzz::CrossOverCalls(first, first_size, second, second_size, out, max_out_size, seed);
}
