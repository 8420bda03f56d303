// TenantStore in memory, for TenantManager's unit tests and the tenant fuzz target. It honours the scope the way
// row-level security would (a scope sees its own tenant only, plus the registry when park-wide) and answers with the
// status codes PgTenantStore answers with; the real store is covered by the integration tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "support/store_hook.h"
#include "tenant/tenant_logic.h"
#include "tenant/tenant_store.h"

namespace parkbase::testing {

namespace tenantpb = ::parkbase::tenant::v1;

class FakeTenantStore final : public tenant::TenantStore {
 public:
  std::map<std::string, tenantpb::Tenant> tenants;
  // By (tenant id, key id).
  std::map<std::pair<std::string, std::string>, tenant::StoredKey> keys;
  // Every audit entry written, in order; and each tenant's log as ListAuditEvents answers it.
  std::vector<AuditEntry> audit;
  std::map<std::string, std::vector<tenantpb::AuditEvent>> events;
  int writes = 0;
  // Rows other tables hold per tenant, and every purge call's batch size.
  std::map<std::string, int64_t> rows;
  std::vector<int64_t> purged_batches;
  // A slow moment of the database: this many purge calls asking for more than `slow_batch_rows` rows outlast the
  // statement timeout (DEADLINE_EXCEEDED, nothing deleted); every attempted batch size is recorded.
  int slow_purges = 0;
  int64_t slow_batch_rows = 0;
  std::vector<int64_t> attempted_batches;
  // Moves a microsecond a write, so keys and events have distinct, ordered times.
  int64_t now_micros = int64_t{1'800'000'000} * 1'000'000;
  // What CountUsage answers per tenant (a tenant without an entry holds nothing).
  std::map<std::string, tenant::UsageCounts> usage;
  // Watches every operation (null: nobody).
  StoreHook* hook = nullptr;

  // Adds a tenant as CreateTenant would, without a caller.
  tenantpb::Tenant& Add(const std::string& id, tenantpb::Plan plan = tenantpb::PLAN_FREE) {
    tenantpb::Tenant& tenant = tenants[id];
    tenant.set_tenant_id(id);
    tenant.set_name(absl::StrCat("tenants/", id));
    tenant.set_display_name(absl::StrCat("Tenant ", id));
    tenant.set_plan(plan);
    *tenant.mutable_quota() = tenant::PlanQuota(plan);
    tenant.set_state(tenantpb::TENANT_STATE_ACTIVE);
    tenant.set_code(absl::StrCat(1000 + tenants.size()));
    return tenant;
  }

  absl::StatusOr<tenantpb::Tenant> CreateTenant(const TenantScope& scope, const tenantpb::Tenant& tenant,
                                                const AuditEntry& entry) override {
    if (auto entered = Enter("CreateTenant", scope); !entered.ok()) return entered;
    if (!scope.park_wide) return absl::PermissionDeniedError("row-level security: the registry is park-wide");
    if (tenants.count(tenant.tenant_id())) {
      return absl::AlreadyExistsError(absl::StrCat("tenant_id: tenants/", tenant.tenant_id(), " already exists"));
    }
    tenantpb::Tenant stored = tenant;
    stored.set_name("tenants/" + tenant.tenant_id());
    stored.set_state(tenantpb::TENANT_STATE_ACTIVE);
    stored.set_code(absl::StrCat(1000 + tenants.size()));
    *stored.mutable_create_time() = Now();
    *stored.mutable_update_time() = stored.create_time();
    tenants[tenant.tenant_id()] = stored;
    Log(tenant.tenant_id(), entry);
    return stored;
  }
  absl::StatusOr<tenantpb::Tenant> GetTenant(const TenantScope& scope, const std::string& id) override {
    if (auto entered = Enter("GetTenant", scope); !entered.ok()) return entered;
    if (!Visible(scope, id)) return NotFound(id);
    return tenants[id];
  }
  absl::StatusOr<std::pair<tenantpb::Tenant, tenant::UsageCounts>> CountUsage(const TenantScope& scope,
                                                                              const std::string& id) override {
    if (auto entered = Enter("CountUsage", scope); !entered.ok()) return entered;
    if (!Visible(scope, id)) return NotFound(id);
    return std::make_pair(tenants[id], usage[id]);
  }
  absl::StatusOr<std::vector<tenantpb::Tenant>> ListTenants(const TenantScope& scope,
                                                            const tenant::TenantFilter& filter,
                                                            const std::string& after, int limit) override {
    if (auto entered = Enter("ListTenants", scope); !entered.ok()) return entered;
    std::vector<tenantpb::Tenant> result;
    for (const auto& [id, tenant] : tenants) {
      if (id <= after || !Visible(scope, id)) continue;
      if (filter.state && tenant.state() != *filter.state) continue;
      if (filter.plan && tenant.plan() != *filter.plan) continue;
      if (filter.provider && tenant.provider() != *filter.provider) continue;
      if (static_cast<int>(result.size()) == limit) break;
      result.push_back(tenant);
    }
    return result;
  }
  absl::StatusOr<tenantpb::Tenant> UpdateTenant(const TenantScope& scope, const std::string& id,
                                                const tenant::TenantMutation& mutate,
                                                const AuditEntry& entry) override {
    if (auto entered = Enter("UpdateTenant", scope); !entered.ok()) return entered;
    if (!Visible(scope, id)) return NotFound(id);
    tenantpb::Tenant copy = tenants[id];
    if (absl::Status status = mutate(copy); !status.ok()) return status;
    *copy.mutable_update_time() = Now();
    tenants[id] = copy;
    Log(id, entry);
    return copy;
  }
  absl::Status DeleteTenant(const TenantScope& scope, const std::string& id, const tenant::TenantMutation& check,
                            const AuditEntry& entry) override {
    if (absl::Status entered = Enter("DeleteTenant", scope); !entered.ok()) return entered;
    if (!Visible(scope, id)) return NotFound(id);
    if (absl::Status status = check(tenants[id]); !status.ok()) return status;
    tenants.erase(id);
    for (auto key = keys.begin(); key != keys.end();) {
      key = key->first.first == id ? keys.erase(key) : std::next(key);
    }
    events.erase(id);
    // The tenant's own log goes with it; the deletion is recorded in the park's.
    Log(std::string(kParkTenantId), entry);
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> PurgeTenantRows(const std::string& id, int batch_rows) override {
    if (auto entered = EnterHook(hook, "TenantStore.PurgeTenantRows", id, /*park_wide=*/true); !entered.ok()) {
      return entered;
    }
    attempted_batches.push_back(batch_rows);
    if (slow_purges > 0 && batch_rows > slow_batch_rows) {
      --slow_purges;
      return absl::DeadlineExceededError("database: statement timed out");
    }
    const int64_t deleted = std::min<int64_t>(rows[id], batch_rows);
    rows[id] -= deleted;
    purged_batches.push_back(deleted);
    return deleted;
  }
  // Request ids need the database (request_replay.h); a manager over this store has no replays and refuses them.
  absl::StatusOr<tenantpb::ApiKey> CreateApiKey(const TenantScope& scope, const tenant::StoredKey& key,
                                                const AuditEntry& entry, const ReplayTicket* /*replay*/) override {
    if (auto entered = Enter("CreateApiKey", scope); !entered.ok()) return entered;
    if (!Visible(scope, scope.tenant_id)) return NotFound(scope.tenant_id);
    tenant::StoredKey stored = key;
    stored.key.set_name(absl::StrCat("tenants/", scope.tenant_id, "/apiKeys/", key.key.key_id()));
    *stored.key.mutable_create_time() = Now();
    keys[{scope.tenant_id, key.key.key_id()}] = stored;
    Log(scope.tenant_id, entry);
    return stored.key;
  }
  // Newest first; `after` is "<create micros>/<key id>" of the previous page's last key.
  absl::StatusOr<std::vector<tenantpb::ApiKey>> ListApiKeys(const TenantScope& scope, const std::string& tenant_id,
                                                            const std::string& after, int limit) override {
    if (auto entered = Enter("ListApiKeys", scope); !entered.ok()) return entered;
    std::pair<int64_t, std::string> position{0, ""};
    if (!after.empty()) {
      std::pair<std::string, std::string> parts = absl::StrSplit(after, absl::MaxSplits('/', 1));
      if (!absl::SimpleAtoi(parts.first, &position.first)) return absl::InvalidArgumentError("page_token: damaged");
      position.second = parts.second;
    }
    if (!Visible(scope, tenant_id)) return NotFound(tenant_id);
    std::vector<std::pair<std::pair<int64_t, std::string>, tenantpb::ApiKey>> ordered;
    for (const auto& [id, stored] : keys) {
      if (id.first != tenant_id) continue;
      std::pair<int64_t, std::string> at{Micros(stored.key.create_time()), stored.key.key_id()};
      if (position.first != 0 && !(at < position)) continue;
      ordered.emplace_back(at, stored.key);
    }
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<tenantpb::ApiKey> result;
    for (auto& [at, key] : ordered) {
      if (static_cast<int>(result.size()) == limit) break;
      result.push_back(std::move(key));
    }
    return result;
  }
  absl::StatusOr<tenantpb::ApiKey> UpdateApiKey(const TenantScope& scope, const std::string& tenant_id,
                                                const std::string& key_id, const tenant::KeyMutation& mutate,
                                                const AuditEntry& entry) override {
    if (auto entered = Enter("UpdateApiKey", scope); !entered.ok()) return entered;
    auto found = keys.find({tenant_id, key_id});
    if (!Visible(scope, tenant_id) || found == keys.end()) {
      return absl::NotFoundError(absl::StrCat("tenants/", tenant_id, "/apiKeys/", key_id, ": not found"));
    }
    tenantpb::ApiKey key = found->second.key;
    if (absl::Status status = mutate(key); !status.ok()) return status;
    found->second.key = key;
    Log(tenant_id, entry);
    return key;
  }
  // Newest first, events older than `before_event_id` (0: from the newest).
  absl::StatusOr<std::vector<tenantpb::AuditEvent>> ListAuditEvents(const TenantScope& scope,
                                                                    const std::string& tenant_id,
                                                                    int64_t before_event_id, int limit) override {
    if (auto entered = Enter("ListAuditEvents", scope); !entered.ok()) return entered;
    if (!Visible(scope, tenant_id)) return NotFound(tenant_id);
    std::vector<tenantpb::AuditEvent> result;
    const std::vector<tenantpb::AuditEvent>& log = events[tenant_id];
    for (auto event = log.rbegin(); event != log.rend(); ++event) {
      if (before_event_id != 0 && event->event_id() >= before_event_id) continue;
      if (static_cast<int>(result.size()) == limit) break;
      result.push_back(*event);
    }
    return result;
  }

 private:
  absl::Status Enter(absl::string_view operation, const TenantScope& scope) {
    return EnterHook(hook, absl::StrCat("TenantStore.", operation), scope.tenant_id, scope.park_wide);
  }
  bool Visible(const TenantScope& scope, const std::string& id) {
    return tenants.count(id) != 0 && (scope.park_wide || scope.tenant_id == id);
  }
  static absl::Status NotFound(const std::string& id) {
    return absl::NotFoundError(absl::StrCat("tenants/", id, ": not found"));
  }
  static int64_t Micros(const google::protobuf::Timestamp& time) {
    return google::protobuf::util::TimeUtil::TimestampToMicroseconds(time);
  }
  google::protobuf::Timestamp Now() {
    now_micros += 1;
    return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(now_micros);
  }
  void Log(const std::string& tenant_id, const AuditEntry& entry) {
    ++writes;
    audit.push_back(entry);
    std::vector<tenantpb::AuditEvent>& log = events[tenant_id];
    tenantpb::AuditEvent& event = log.emplace_back();
    event.set_event_id(static_cast<int64_t>(audit.size()));
    event.set_name(absl::StrCat("tenants/", tenant_id, "/auditEvents/", event.event_id()));
    *event.mutable_time() = Now();
    event.set_actor(entry.actor);
    event.set_actor_role(static_cast<tenantpb::Role>(entry.actor_role));
    event.set_action(entry.action);
    event.set_resource(entry.resource);
    event.set_details_json(entry.details_json);
  }
};

// Records purges; fails while `down`.
class FakeTenantCachePurger final : public tenant::TenantCachePurger {
 public:
  bool down = false;
  std::vector<std::string> purged;
  StoreHook* hook = nullptr;

  absl::Status PurgeTenant(const std::string& tenant_id) override {
    if (absl::Status entered = EnterHook(hook, "TenantCachePurger.PurgeTenant", tenant_id, /*park_wide=*/true);
        !entered.ok()) {
      return entered;
    }
    if (down) return absl::UnavailableError("redis down");
    purged.push_back(tenant_id);
    return absl::OkStatus();
  }
};

}  // namespace parkbase::testing
