// Storage of tenants, API keys and audit events. TenantStore is the interface the logic depends on;
// PgTenantStore keeps all of the service's SQL (tenant_queries.h) and runs every statement under the caller's
// TenantScope, so row-level security applies to each one.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/audit.h"
#include "common/db.h"
#include "common/request_replay.h"
#include "parkbase/tenant/v1/tenant.pb.h"

namespace parkbase::tenant {

namespace pb = ::parkbase::tenant::v1;

struct TenantFilter {
  std::optional<pb::TenantState> state;
  std::optional<pb::Plan> plan;
  std::optional<bool> provider;
};

struct StoredKey {
  pb::ApiKey key;
  std::string secret_sha256;
  // The full key, never stored in the clear: only the sealed answer of a request id carries it (request_replay.h).
  std::string secret;
};

// What a tenant holds now, counted for GetTenantUsage.
struct UsageCounts {
  int64_t devices = 0;
  int64_t stored_bytes = 0;
  int64_t installed_apps = 0;
};

// Changes a row in place inside the store's transaction; an error aborts the transaction.
using TenantMutation = std::function<absl::Status(pb::Tenant&)>;
using KeyMutation = std::function<absl::Status(pb::ApiKey&)>;

class TenantStore {
 public:
  virtual ~TenantStore() = default;

  // Assigns the tenant's code. ALREADY_EXISTS when tenant_id is taken.
  virtual absl::StatusOr<pb::Tenant> CreateTenant(const TenantScope& scope, const pb::Tenant& tenant,
                                                  const AuditEntry& audit) = 0;
  // NOT_FOUND when missing or invisible under `scope`.
  virtual absl::StatusOr<pb::Tenant> GetTenant(const TenantScope& scope, const std::string& tenant_id) = 0;
  virtual absl::StatusOr<std::vector<pb::Tenant>> ListTenants(const TenantScope& scope, const TenantFilter& filter,
                                                              const std::string& after_tenant_id, int limit) = 0;
  // The tenant and what it holds, read in one transaction. NOT_FOUND as GetTenant.
  virtual absl::StatusOr<std::pair<pb::Tenant, UsageCounts>> CountUsage(const TenantScope& scope,
                                                                        const std::string& tenant_id) = 0;
  // Reads the row for update, lets `mutate` change it, writes it back with the audit entry.
  virtual absl::StatusOr<pb::Tenant> UpdateTenant(const TenantScope& scope, const std::string& tenant_id,
                                                  const TenantMutation& mutate, const AuditEntry& audit) = 0;
  // `check` sees the row (locked) first and may refuse. The audit entry goes to the park's own log, since the
  // tenant's log is deleted with it.
  virtual absl::Status DeleteTenant(const TenantScope& scope, const std::string& tenant_id,
                                    const TenantMutation& check, const AuditEntry& audit) = 0;
  // Deletes up to `batch_rows` rows of the tenant from one table that holds tenant rows (every service's tables,
  // found in the catalog), in a transaction of its own under the tenant's scope. Returns how many it deleted; 0
  // once nothing but the tenants row is left. A large tenant is purged by repeated calls, each well inside the
  // statement timeout, before its row is deleted.
  virtual absl::StatusOr<int64_t> PurgeTenantRows(const std::string& tenant_id, int batch_rows) = 0;

  // With `replay`, the answer (key and secret) is remembered in the same transaction (request_replay.h).
  virtual absl::StatusOr<pb::ApiKey> CreateApiKey(const TenantScope& scope, const StoredKey& key,
                                                  const AuditEntry& audit, const ReplayTicket* replay) = 0;
  // Newest first; `after` is the last key of the previous page as "<create micros>/<key id>", or empty.
  virtual absl::StatusOr<std::vector<pb::ApiKey>> ListApiKeys(const TenantScope& scope, const std::string& tenant_id,
                                                              const std::string& after, int limit) = 0;
  virtual absl::StatusOr<pb::ApiKey> UpdateApiKey(const TenantScope& scope, const std::string& tenant_id,
                                                  const std::string& key_id, const KeyMutation& mutate,
                                                  const AuditEntry& audit) = 0;

  // Newest first, events older than `before_event_id` (0: from the newest).
  virtual absl::StatusOr<std::vector<pb::AuditEvent>> ListAuditEvents(const TenantScope& scope,
                                                                      const std::string& tenant_id,
                                                                      int64_t before_event_id, int limit) = 0;
};

class PgTenantStore final : public TenantStore {
 public:
  explicit PgTenantStore(DbPool& db);

  absl::StatusOr<pb::Tenant> CreateTenant(const TenantScope& scope, const pb::Tenant& tenant,
                                          const AuditEntry& audit) override;
  absl::StatusOr<pb::Tenant> GetTenant(const TenantScope& scope, const std::string& tenant_id) override;
  absl::StatusOr<std::vector<pb::Tenant>> ListTenants(const TenantScope& scope, const TenantFilter& filter,
                                                      const std::string& after_tenant_id, int limit) override;
  absl::StatusOr<std::pair<pb::Tenant, UsageCounts>> CountUsage(const TenantScope& scope,
                                                                const std::string& tenant_id) override;
  absl::StatusOr<pb::Tenant> UpdateTenant(const TenantScope& scope, const std::string& tenant_id,
                                          const TenantMutation& mutate, const AuditEntry& audit) override;
  absl::Status DeleteTenant(const TenantScope& scope, const std::string& tenant_id, const TenantMutation& check,
                            const AuditEntry& audit) override;
  absl::StatusOr<int64_t> PurgeTenantRows(const std::string& tenant_id, int batch_rows) override;
  absl::StatusOr<pb::ApiKey> CreateApiKey(const TenantScope& scope, const StoredKey& key, const AuditEntry& audit,
                                          const ReplayTicket* replay) override;
  absl::StatusOr<std::vector<pb::ApiKey>> ListApiKeys(const TenantScope& scope, const std::string& tenant_id,
                                                      const std::string& after, int limit) override;
  absl::StatusOr<pb::ApiKey> UpdateApiKey(const TenantScope& scope, const std::string& tenant_id,
                                          const std::string& key_id, const KeyMutation& mutate,
                                          const AuditEntry& audit) override;
  absl::StatusOr<std::vector<pb::AuditEvent>> ListAuditEvents(const TenantScope& scope, const std::string& tenant_id,
                                                              int64_t before_event_id, int limit) override;

 private:
  DbPool& db_;
};

}  // namespace parkbase::tenant
