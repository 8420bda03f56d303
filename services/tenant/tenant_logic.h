// The tenant service's rules: who may do what to which tenant, input validation, plans and quotas, key minting.
// Plain C++ over the TenantStore interface; the gRPC handler only decodes, calls this and encodes.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/auth.h"
#include "common/auth_cache.h"
#include "common/clock.h"
#include "common/page_token.h"
#include "tenant/tenant_store.h"

namespace parkbase::tenant {

// The default quota of a plan (see the Plan enum's comments in tenant.proto).
pb::Quota PlanQuota(pb::Plan plan);

// Forgets what caches (Redis) hold for a tenant; a deleted tenant's id may be used again and must start empty.
class TenantCachePurger {
 public:
  virtual ~TenantCachePurger() = default;
  // UNAVAILABLE when the cache cannot be reached: the deletion then stops and is retried whole.
  virtual absl::Status PurgeTenant(const std::string& tenant_id) = 0;
};

// A tenant's recent ingest rate, as the telemetry service's rate limiter counted it (common/ingest_counts.h).
class IngestRates {
 public:
  virtual ~IngestRates() = default;
  // Points per second over the last minute. UNAVAILABLE when the counts cannot be read.
  virtual absl::StatusOr<double> PointsPerSecond(const std::string& tenant_id) = 0;
};

class TenantManager {
 public:
  // `cache` may be null: a deployment without Redis has nothing cached. `auth` (may be null: nothing caches keys)
  // hears of every revoked key and every suspended, resumed or deleted tenant.
  // `replays` (may be null: request ids are then refused) remembers the answers of CreateApiKey calls with one.
  // `ingest_rates` may be null (no Redis): usage then leaves the ingest rate unset.
  TenantManager(TenantStore& store, Clock& clock, PageTokens& page_tokens, TenantCachePurger* cache = nullptr,
                AuthInvalidator* auth = nullptr, const RequestReplays* replays = nullptr,
                IngestRates* ingest_rates = nullptr);

  absl::StatusOr<pb::Tenant> CreateTenant(const Principal& caller, const pb::CreateTenantRequest& request);
  absl::StatusOr<pb::Tenant> GetTenant(const Principal& caller, const pb::GetTenantRequest& request);
  absl::StatusOr<pb::TenantUsage> GetTenantUsage(const Principal& caller, const pb::GetTenantUsageRequest& request);
  absl::StatusOr<pb::ListTenantsResponse> ListTenants(const Principal& caller, const pb::ListTenantsRequest& request);
  absl::StatusOr<pb::Tenant> UpdateTenant(const Principal& caller, const pb::UpdateTenantRequest& request);
  absl::StatusOr<pb::Tenant> SuspendTenant(const Principal& caller, const pb::SuspendTenantRequest& request);
  absl::StatusOr<pb::Tenant> ResumeTenant(const Principal& caller, const pb::ResumeTenantRequest& request);
  absl::Status DeleteTenant(const Principal& caller, const pb::DeleteTenantRequest& request);

  absl::StatusOr<pb::CreateApiKeyResponse> CreateApiKey(const Principal& caller,
                                                        const pb::CreateApiKeyRequest& request);
  absl::StatusOr<pb::ListApiKeysResponse> ListApiKeys(const Principal& caller, const pb::ListApiKeysRequest& request);
  absl::StatusOr<pb::ApiKey> RevokeApiKey(const Principal& caller, const pb::RevokeApiKeyRequest& request);

  absl::StatusOr<pb::ListAuditEventsResponse> ListAuditEvents(const Principal& caller,
                                                              const pb::ListAuditEventsRequest& request);

  // Mints a park-admin key with no calling key: the first key of a new installation (`parkbase admin
  // bootstrap-key`, which has database access and so is already trusted).
  absl::StatusOr<pb::CreateApiKeyResponse> BootstrapParkAdminKey(const std::string& display_name);

 private:
  absl::StatusOr<pb::Tenant> ChangeState(const Principal& caller, const std::string& name, const std::string& action,
                                         const google::protobuf::Message& request,
                                         const TenantMutation& mutate);
  absl::StatusOr<pb::CreateApiKeyResponse> MintKey(const Principal& caller, const TenantScope& scope,
                                                   const std::string& tenant_id, const pb::ApiKey& requested,
                                                   const google::protobuf::Message& request,
                                                   const ReplayTicket* replay);

  TenantStore& store_;
  Clock& clock_;
  PageTokens& page_tokens_;
  TenantCachePurger* cache_;
  AuthInvalidator* auth_;
  const RequestReplays* replays_;
  IngestRates* ingest_rates_;
};

}  // namespace parkbase::tenant
