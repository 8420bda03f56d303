#include "tenant/tenant_logic.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "common/access.h"
#include "common/etag.h"
#include "common/errors.h"
#include "common/list_filter.h"
#include "common/names.h"
#include "common/status_macros.h"
#include "common/times.h"

namespace parkbase::tenant {
namespace {

using google::protobuf::util::TimeUtil;

// Quota bounds: wide enough for the largest park we plan for (see docs/architecture.md), narrow enough that a
// typo (an extra zero) is caught.
constexpr int64_t kMaxDevicesLimit = 10'000'000;
constexpr int64_t kMaxPointsPerSecondLimit = 100'000'000;
constexpr int32_t kMaxRetentionDaysLimit = 3650;
constexpr int32_t kMaxInstalledAppsLimit = 1000;
// Rows deleted per transaction when a tenant is deleted: a few hundred milliseconds of work even for chunk rows.
constexpr int kPurgeBatchRows = 5000;
constexpr int kMinPurgeBatchRows = 50;
constexpr int kPurgeBatchesBeforeGrowth = 8;

// Who may call each RPC is declared on the RPC (access rules, common/access.h) and checked before any of this
// runs; here only the scope of the call is computed.
absl::StatusOr<TenantScope> Scope(const Principal& caller, const std::string& tenant_id) {
  return ScopeFor(caller, tenant_id, absl::StrCat("tenants/", tenant_id));
}

// The tenant of `name`, a resource of `pattern` whose first wildcard is the tenant.
absl::StatusOr<std::string> TenantIdFromName(absl::string_view field, const std::string& name,
                                             absl::string_view pattern = "tenants/*") {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName(field, name, pattern));
  RETURN_IF_ERROR(ValidateTenantId(field, parts[0]));
  return parts[0];
}

AuditEntry Audit(const Principal& caller, std::string action, std::string resource,
                 const google::protobuf::Message& request) {
  return MakeAudit(caller, std::move(action), std::move(resource), request);
}

absl::Status ValidateQuota(absl::string_view prefix, const pb::Quota& quota) {
  auto check = [&](absl::string_view field, bool present, int64_t value, int64_t low,
                   int64_t high) -> absl::Status {
    if (!present || (value >= low && value <= high)) return absl::OkStatus();
    return FieldError(absl::StrCat(prefix, ".", field), absl::StrCat("must be ", low, " to ", high, ", got ", value));
  };
  RETURN_IF_ERROR(check("max_devices", quota.has_max_devices(), quota.max_devices(), 1, kMaxDevicesLimit));
  RETURN_IF_ERROR(check("max_ingest_points_per_second", quota.has_max_ingest_points_per_second(),
                        quota.max_ingest_points_per_second(), 1, kMaxPointsPerSecondLimit));
  RETURN_IF_ERROR(
      check("retention_days", quota.has_retention_days(), quota.retention_days(), 1, kMaxRetentionDaysLimit));
  // Zero installed apps is a real limit (no marketplace); an unset field is the plan's default.
  RETURN_IF_ERROR(check("max_installed_apps", quota.has_max_installed_apps(), quota.max_installed_apps(), 0,
                        kMaxInstalledAppsLimit));
  return absl::OkStatus();
}

// Unset fields of `requested` take the plan's value.
pb::Quota MergeQuota(pb::Plan plan, const pb::Quota& requested) {
  pb::Quota quota = PlanQuota(plan);
  if (requested.has_max_devices()) quota.set_max_devices(requested.max_devices());
  if (requested.has_max_ingest_points_per_second()) {
    quota.set_max_ingest_points_per_second(requested.max_ingest_points_per_second());
  }
  if (requested.has_retention_days()) quota.set_retention_days(requested.retention_days());
  if (requested.has_max_installed_apps()) quota.set_max_installed_apps(requested.max_installed_apps());
  return quota;
}

absl::Status ValidatePlan(absl::string_view field, pb::Plan plan) {
  if (plan == pb::PLAN_UNSPECIFIED || pb::Plan_IsValid(plan)) return absl::OkStatus();
  return FieldError(field, absl::StrCat("unknown plan ", static_cast<int>(plan)));
}

absl::Status ValidateEmail(absl::string_view field, const std::string& email) {
  if (email.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(ValidateText(field, email, 3, 254));
  if (email.find('@') == std::string::npos || email.find(' ') != std::string::npos) {
    return FieldError(field, "must be an email address");
  }
  return absl::OkStatus();
}

// Parses `state = ACTIVE AND plan = FREE AND provider = true`.
absl::StatusOr<TenantFilter> ParseTenantFilter(const std::string& filter) {
  TenantFilter parsed;
  ASSIGN_OR_RETURN(const std::vector<FilterTerm> terms, ParseListFilter(filter));
  for (const FilterTerm& term : terms) {
    const std::string& field = term.field;
    const std::string& value = term.value;
    if (field == "state") {
      pb::TenantState state;
      if (!pb::TenantState_Parse(absl::StrCat("TENANT_STATE_", value), &state) ||
          state == pb::TENANT_STATE_UNSPECIFIED) {
        return FieldError("filter", absl::StrCat("state must be ACTIVE or SUSPENDED, got ", QuoteForError(value)));
      }
      parsed.state = state;
    } else if (field == "plan") {
      pb::Plan plan;
      if (!pb::Plan_Parse(absl::StrCat("PLAN_", value), &plan) || plan == pb::PLAN_UNSPECIFIED) {
        return FieldError("filter",
                          absl::StrCat("plan must be FREE, STANDARD or ENTERPRISE, got ", QuoteForError(value)));
      }
      parsed.plan = plan;
    } else if (field == "provider") {
      if (value != "true" && value != "false") {
        return FieldError("filter", absl::StrCat("provider must be true or false, got ", QuoteForError(value)));
      }
      parsed.provider = value == "true";
    } else {
      return FieldError("filter",
                        absl::StrCat("unknown field ", QuoteForError(field), "; use state, plan or provider"));
    }
  }
  return parsed;
}

std::string Binding(const Principal& caller, absl::string_view method, absl::string_view query) {
  return absl::StrCat(caller.tenant_id, "|", method, "|", query);
}

}  // namespace

pb::Quota PlanQuota(pb::Plan plan) {
  pb::Quota quota;
  switch (plan) {
    case pb::PLAN_ENTERPRISE:
      quota.set_max_devices(1'000'000);
      quota.set_max_ingest_points_per_second(1'000'000);
      quota.set_retention_days(365);
      quota.set_max_installed_apps(100);
      break;
    case pb::PLAN_STANDARD:
      quota.set_max_devices(10'000);
      quota.set_max_ingest_points_per_second(100'000);
      quota.set_retention_days(90);
      quota.set_max_installed_apps(20);
      break;
    default:
      quota.set_max_devices(100);
      quota.set_max_ingest_points_per_second(1'000);
      quota.set_retention_days(7);
      quota.set_max_installed_apps(3);
      break;
  }
  return quota;
}

TenantManager::TenantManager(TenantStore& store, Clock& clock, PageTokens& page_tokens, TenantCachePurger* cache,
                             AuthInvalidator* auth, const RequestReplays* replays, IngestRates* ingest_rates)
    : store_(store),
      clock_(clock),
      page_tokens_(page_tokens),
      cache_(cache),
      auth_(auth),
      replays_(replays),
      ingest_rates_(ingest_rates) {}

absl::StatusOr<pb::Tenant> TenantManager::CreateTenant(const Principal& caller,
                                                       const pb::CreateTenantRequest& request) {
  RETURN_IF_ERROR(ValidateTenantId("tenant_id", request.tenant_id()));
  const pb::Tenant& requested = request.tenant();
  RETURN_IF_ERROR(ValidateText("tenant.display_name", requested.display_name(), 1, 200));
  RETURN_IF_ERROR(ValidatePlan("tenant.plan", requested.plan()));
  RETURN_IF_ERROR(ValidateQuota("tenant.quota", requested.quota()));
  RETURN_IF_ERROR(ValidateEmail("tenant.contact_email", requested.contact_email()));
  pb::Tenant tenant;
  tenant.set_tenant_id(request.tenant_id());
  tenant.set_display_name(requested.display_name());
  tenant.set_plan(requested.plan() == pb::PLAN_UNSPECIFIED ? pb::PLAN_FREE : requested.plan());
  *tenant.mutable_quota() = MergeQuota(tenant.plan(), requested.quota());
  tenant.set_provider(requested.provider());
  tenant.set_contact_email(requested.contact_email());
  const std::string resource = absl::StrCat("tenants/", request.tenant_id());
  return store_.CreateTenant(TenantScope::ParkAdmin(request.tenant_id()), tenant,
                             Audit(caller, "CreateTenant", resource, request));
}

absl::StatusOr<pb::Tenant> TenantManager::GetTenant(const Principal& caller, const pb::GetTenantRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantIdFromName("name", request.name()));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, tenant_id));
  return store_.GetTenant(scope, tenant_id);
}

absl::StatusOr<pb::TenantUsage> TenantManager::GetTenantUsage(const Principal& caller,
                                                              const pb::GetTenantUsageRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantIdFromName("name", request.name(), "tenants/*/usage"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, tenant_id));
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(auto counted, store_.CountUsage(scope, tenant_id));
  const auto& [tenant, counts] = counted;
  pb::TenantUsage usage;
  usage.set_name(request.name());
  usage.set_devices(counts.devices);
  usage.set_stored_bytes(counts.stored_bytes);
  usage.set_installed_apps(static_cast<int32_t>(counts.installed_apps));
  *usage.mutable_quota() = tenant.quota();
  *usage.mutable_read_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  if (ingest_rates_ != nullptr) {
    absl::StatusOr<double> rate = ingest_rates_->PointsPerSecond(tenant_id);
    if (!rate.ok()) {
      return absl::UnavailableError(absl::StrCat("ingest_points_per_second: the ingest counts in Redis cannot be read (",
                                                 rate.status().message(), "); try again"));
    }
    usage.set_ingest_points_per_second(*rate);
  }
  return usage;
}

absl::StatusOr<pb::ListTenantsResponse> TenantManager::ListTenants(const Principal& caller,
                                                                   const pb::ListTenantsRequest& request) {
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  ASSIGN_OR_RETURN(const TenantFilter filter, ParseTenantFilter(request.filter()));
  const std::string binding = Binding(caller, "ListTenants", request.filter());
  std::string after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after, page_tokens_.Decode(binding, request.page_token()));
  }
  TenantScope scope;
  if (caller.IsParkAdmin()) {
    scope = TenantScope::ParkAdmin("park");
  } else {
    ASSIGN_OR_RETURN(scope, Scope(caller, caller.tenant_id));
  }
  // One row more than asked tells whether another page exists without a count query.
  ASSIGN_OR_RETURN(auto tenants, store_.ListTenants(scope, filter, after, page_size + 1));
  pb::ListTenantsResponse response;
  const bool more = static_cast<int>(tenants.size()) > page_size;
  if (more) tenants.resize(page_size);
  for (auto& tenant : tenants) *response.add_tenants() = std::move(tenant);
  if (more) {
    response.set_next_page_token(
        page_tokens_.Encode(binding, response.tenants(response.tenants_size() - 1).tenant_id()));
  }
  return response;
}

absl::StatusOr<pb::Tenant> TenantManager::UpdateTenant(const Principal& caller,
                                                       const pb::UpdateTenantRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantIdFromName("tenant.name", request.tenant().name()));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, tenant_id));
  if (request.update_mask().paths_size() == 0) {
    return FieldError("update_mask", "required: name the fields to change, e.g. display_name");
  }
  static const std::set<std::string> kTenantAdminFields = {"display_name", "contact_email"};
  static const std::set<std::string> kParkAdminFields = {
      "display_name", "contact_email", "plan", "provider", "quota", "quota.max_devices",
      "quota.max_ingest_points_per_second", "quota.retention_days", "quota.max_installed_apps"};
  static const std::set<std::string> kImmutableFields = {"name", "tenant_id", "code", "state", "suspend_reason",
                                                         "create_time", "update_time", "etag"};
  const pb::Tenant& requested = request.tenant();
  for (const std::string& path : request.update_mask().paths()) {
    if (kImmutableFields.count(path) != 0) {
      return FieldError("update_mask", absl::StrCat(path, " cannot be changed by UpdateTenant",
                                                    path == "state" ? "; use SuspendTenant or ResumeTenant" : ""));
    }
    if (kParkAdminFields.count(path) == 0) {
      return FieldError("update_mask", absl::StrCat("unknown field \"", absl::CEscape(path.substr(0, 100)), "\""));
    }
    if (!caller.IsParkAdmin() && kTenantAdminFields.count(path) == 0) {
      return absl::PermissionDeniedError(absl::StrCat("update_mask: only the park administrator may change ", path));
    }
  }
  std::set<std::string> paths(request.update_mask().paths().begin(), request.update_mask().paths().end());
  if (paths.count("display_name")) RETURN_IF_ERROR(ValidateText("tenant.display_name", requested.display_name(), 1, 200));
  if (paths.count("contact_email")) RETURN_IF_ERROR(ValidateEmail("tenant.contact_email", requested.contact_email()));
  if (paths.count("plan")) {
    if (requested.plan() == pb::PLAN_UNSPECIFIED) return FieldError("tenant.plan", "required when in update_mask");
    RETURN_IF_ERROR(ValidatePlan("tenant.plan", requested.plan()));
  }
  RETURN_IF_ERROR(ValidateQuota("tenant.quota", requested.quota()));

  auto mutate = [&](pb::Tenant& tenant) -> absl::Status {
    RETURN_IF_ERROR(CheckEtag("tenant.etag", requested.etag(), tenant.etag()));
    if (paths.count("display_name")) tenant.set_display_name(requested.display_name());
    if (paths.count("contact_email")) tenant.set_contact_email(requested.contact_email());
    if (paths.count("provider")) tenant.set_provider(requested.provider());
    if (paths.count("plan")) {
      tenant.set_plan(requested.plan());
      *tenant.mutable_quota() = PlanQuota(requested.plan());
    }
    const bool whole_quota = paths.count("quota") != 0;
    pb::Quota* quota = tenant.mutable_quota();
    const pb::Quota& wanted = requested.quota();
    const pb::Quota defaults = PlanQuota(tenant.plan());
    // A field in the mask takes the value sent, or the plan's default when it was left unset.
    auto pick = [&](absl::string_view field, bool present, int64_t value,
                    int64_t plan_default) -> std::optional<int64_t> {
      if (!whole_quota && paths.count(absl::StrCat("quota.", field)) == 0) return std::nullopt;
      return present ? value : plan_default;
    };
    if (auto v = pick("max_devices", wanted.has_max_devices(), wanted.max_devices(), defaults.max_devices())) {
      quota->set_max_devices(*v);
    }
    if (auto v = pick("max_ingest_points_per_second", wanted.has_max_ingest_points_per_second(),
                      wanted.max_ingest_points_per_second(), defaults.max_ingest_points_per_second())) {
      quota->set_max_ingest_points_per_second(*v);
    }
    if (auto v = pick("retention_days", wanted.has_retention_days(), wanted.retention_days(),
                      defaults.retention_days())) {
      quota->set_retention_days(static_cast<int32_t>(*v));
    }
    if (auto v = pick("max_installed_apps", wanted.has_max_installed_apps(), wanted.max_installed_apps(),
                      defaults.max_installed_apps())) {
      quota->set_max_installed_apps(static_cast<int32_t>(*v));
    }
    return absl::OkStatus();
  };
  return store_.UpdateTenant(scope, tenant_id, mutate,
                             Audit(caller, "UpdateTenant", absl::StrCat("tenants/", tenant_id), request));
}

absl::StatusOr<pb::Tenant> TenantManager::ChangeState(const Principal& caller, const std::string& name,
                                                      const std::string& action,
                                                      const google::protobuf::Message& request,
                                                      const TenantMutation& mutate) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantIdFromName("name", name));
  if (tenant_id == kParkTenantId) {
    return absl::FailedPreconditionError("tenants/park: the park's own tenant cannot be suspended or deleted");
  }
  ASSIGN_OR_RETURN(pb::Tenant tenant, store_.UpdateTenant(TenantScope::ParkAdmin(tenant_id), tenant_id, mutate,
                                                          Audit(caller, action, absl::StrCat("tenants/", tenant_id),
                                                                request)));
  // Suspended or resumed: every key of the tenant changed whether it is valid.
  if (auth_ != nullptr) auth_->TenantKeysChanged(tenant_id);
  return tenant;
}

absl::StatusOr<pb::Tenant> TenantManager::SuspendTenant(const Principal& caller,
                                                        const pb::SuspendTenantRequest& request) {
  RETURN_IF_ERROR(ValidateText("reason", request.reason(), 1, 500));
  return ChangeState(caller, request.name(), "SuspendTenant", request, [&](pb::Tenant& tenant) -> absl::Status {
    if (tenant.state() == pb::TENANT_STATE_SUSPENDED) {
      return absl::FailedPreconditionError(absl::StrCat(tenant.name(), ": already suspended"));
    }
    tenant.set_state(pb::TENANT_STATE_SUSPENDED);
    tenant.set_suspend_reason(request.reason());
    return absl::OkStatus();
  });
}

absl::StatusOr<pb::Tenant> TenantManager::ResumeTenant(const Principal& caller,
                                                       const pb::ResumeTenantRequest& request) {
  return ChangeState(caller, request.name(), "ResumeTenant", request, [&](pb::Tenant& tenant) -> absl::Status {
    if (tenant.state() != pb::TENANT_STATE_SUSPENDED) {
      return absl::FailedPreconditionError(absl::StrCat(tenant.name(), ": not suspended"));
    }
    tenant.set_state(pb::TENANT_STATE_ACTIVE);
    tenant.set_suspend_reason("");
    return absl::OkStatus();
  });
}

absl::Status TenantManager::DeleteTenant(const Principal& caller, const pb::DeleteTenantRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantIdFromName("name", request.name()));
  if (tenant_id == kParkTenantId) {
    return absl::FailedPreconditionError("tenants/park: the park's own tenant cannot be suspended or deleted");
  }
  ASSIGN_OR_RETURN(const pb::Tenant tenant, store_.GetTenant(TenantScope::ParkAdmin(tenant_id), tenant_id));
  // Checked before the purge, which cannot be undone, and again under the row lock of the final delete.
  RETURN_IF_ERROR(CheckEtag("etag", request.etag(), tenant.etag()));
  if (tenant.state() != pb::TENANT_STATE_SUSPENDED) {
    return absl::FailedPreconditionError(absl::StrCat(tenant.name(), ": suspend the tenant before deleting it"));
  }
  // Its rows first, a batch per transaction (a tenant's telemetry can be millions of rows: one cascading DELETE
  // would outlast the statement timeout), then what Redis holds for it, then the tenant itself. A failure at any
  // step leaves the tenant suspended and the delete can simply be sent again.
  // A batch that outlasts the statement timeout is halved and tried again: rows differ in cost (chunk rows carry
  // large values, devices several index entries). After a run of batches that fit, the size doubles again (up to
  // the start), so one slow moment or one costly table does not leave the rest of a large tenant in tiny batches.
  int batch_rows = kPurgeBatchRows;
  int fitted = 0;
  while (true) {
    absl::StatusOr<int64_t> deleted = store_.PurgeTenantRows(tenant_id, batch_rows);
    if (absl::IsDeadlineExceeded(deleted.status()) && batch_rows > kMinPurgeBatchRows) {
      batch_rows = std::max(kMinPurgeBatchRows, batch_rows / 2);
      fitted = 0;
      continue;
    }
    if (!deleted.ok()) return deleted.status();
    if (*deleted == 0) break;
    if (++fitted >= kPurgeBatchesBeforeGrowth && batch_rows < kPurgeBatchRows) {
      batch_rows = std::min(kPurgeBatchRows, batch_rows * 2);
      fitted = 0;
    }
  }
  if (cache_ != nullptr) RETURN_IF_ERROR(cache_->PurgeTenant(tenant_id));
  // The tenant is suspended (so its keys are refused, and no replica caches them) and the purge bumped its epoch;
  // the bump after the delete covers a resume that raced the deletion.
  absl::Status deleted = store_.DeleteTenant(
      TenantScope::ParkAdmin(tenant_id), tenant_id,
      [&request](pb::Tenant& tenant) -> absl::Status {
        RETURN_IF_ERROR(CheckEtag("etag", request.etag(), tenant.etag()));
        if (tenant.state() != pb::TENANT_STATE_SUSPENDED) {
          return absl::FailedPreconditionError(
              absl::StrCat(tenant.name(), ": suspend the tenant before deleting it"));
        }
        return absl::OkStatus();
      },
      Audit(caller, "DeleteTenant", absl::StrCat("tenants/", tenant_id), request));
  if (deleted.ok() && auth_ != nullptr) auth_->TenantKeysChanged(tenant_id);
  return deleted;
}

absl::StatusOr<pb::CreateApiKeyResponse> TenantManager::MintKey(const Principal& caller, const TenantScope& scope,
                                                                const std::string& tenant_id,
                                                                const pb::ApiKey& requested,
                                                                const google::protobuf::Message& request,
                                                                const ReplayTicket* replay) {
  MintedKey minted = MintApiKey(tenant_id);
  StoredKey stored;
  stored.key.set_key_id(minted.key_id);
  stored.key.set_display_name(requested.display_name());
  stored.key.set_role(requested.role());
  if (requested.has_expire_time()) *stored.key.mutable_expire_time() = requested.expire_time();
  stored.key.set_creator(caller.KeyName());
  stored.secret_sha256 = minted.secret_sha256;
  stored.secret = minted.key;
  ASSIGN_OR_RETURN(pb::ApiKey key,
                   store_.CreateApiKey(scope, stored,
                                       Audit(caller, "CreateApiKey",
                                             absl::StrCat("tenants/", tenant_id, "/apiKeys/", minted.key_id),
                                             request),
                                       replay));
  pb::CreateApiKeyResponse response;
  *response.mutable_api_key() = std::move(key);
  response.set_secret(minted.key);
  return response;
}

absl::StatusOr<pb::CreateApiKeyResponse> TenantManager::CreateApiKey(const Principal& caller,
                                                                     const pb::CreateApiKeyRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantIdFromName("parent", request.parent()));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, tenant_id));
  // A retry with a request id gets its first answer before anything else is looked at again.
  ASSIGN_OR_RETURN(const std::optional<ReplayKey> replay_key,
                   RequestReplays::KeyFor("request_id", "CreateApiKey", caller, request, request.request_id()));
  pb::CreateApiKeyResponse response;
  RETURN_IF_ERROR(MintOnce(replays_, scope, replay_key, response, [&](const ReplayTicket* ticket) -> absl::Status {
    const pb::ApiKey& requested = request.api_key();
    RETURN_IF_ERROR(ValidateText("api_key.display_name", requested.display_name(), 1, 200));
    switch (requested.role()) {
      case pb::ROLE_UNSPECIFIED:
        return FieldError("api_key.role", "required");
      case pb::ROLE_DEVICE:
        return FieldError("api_key.role", "device keys are minted by the device service for one device");
      case pb::ROLE_APP:
        return FieldError("api_key.role", "app credentials are minted by installing an app (MarketplaceService.InstallApp)");
      case pb::ROLE_PARK_ADMIN:
        if (!caller.IsParkAdmin()) {
          return absl::PermissionDeniedError("api_key.role: only the park administrator may mint park-admin keys");
        }
        if (tenant_id != kParkTenantId) {
          return FieldError("api_key.role", "park-admin keys exist only in tenants/park");
        }
        break;
      case pb::ROLE_TENANT_ADMIN:
      case pb::ROLE_DEVELOPER:
      case pb::ROLE_PROVIDER:
        if (tenant_id == kParkTenantId) return FieldError("api_key.role", "tenants/park holds only park-admin keys");
        break;
      default:
        return FieldError("api_key.role", absl::StrCat("unknown role ", static_cast<int>(requested.role())));
    }
    if (requested.role() == pb::ROLE_PROVIDER) {
      ASSIGN_OR_RETURN(const pb::Tenant tenant, store_.GetTenant(scope, tenant_id));
      if (!tenant.provider()) {
        return absl::FailedPreconditionError(
            absl::StrCat("tenants/", tenant_id, " lacks the provider capability; the park administrator grants it"));
      }
    }
    if (requested.has_expire_time()) {
      if (!IsValidTimestamp(requested.expire_time())) {
        return FieldError("api_key.expire_time",
                          "not a valid timestamp (0001-01-01 to 9999-12-31T23:59:59.999999999Z, nanos under a second)");
      }
      const absl::Time expire = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(requested.expire_time()));
      if (expire <= clock_.Now()) return FieldError("api_key.expire_time", "must be in the future");
    }
    ASSIGN_OR_RETURN(response, MintKey(caller, scope, tenant_id, requested, request, ticket));
    return absl::OkStatus();
  }));
  return response;
}

absl::StatusOr<pb::ListApiKeysResponse> TenantManager::ListApiKeys(const Principal& caller,
                                                                   const pb::ListApiKeysRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantIdFromName("parent", request.parent()));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, tenant_id));
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  const std::string binding = Binding(caller, "ListApiKeys", request.parent());
  std::string after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after, page_tokens_.Decode(binding, request.page_token()));
  }
  ASSIGN_OR_RETURN(auto keys, store_.ListApiKeys(scope, tenant_id, after, page_size + 1));
  pb::ListApiKeysResponse response;
  const bool more = static_cast<int>(keys.size()) > page_size;
  if (more) keys.resize(page_size);
  for (auto& key : keys) *response.add_api_keys() = std::move(key);
  if (more) {
    const pb::ApiKey& last = response.api_keys(response.api_keys_size() - 1);
    response.set_next_page_token(page_tokens_.Encode(
        binding, absl::StrCat(TimeUtil::TimestampToMicroseconds(last.create_time()), "/", last.key_id())));
  }
  return response;
}

absl::StatusOr<pb::ApiKey> TenantManager::RevokeApiKey(const Principal& caller,
                                                       const pb::RevokeApiKeyRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", request.name(), "tenants/*/apiKeys/*"));
  RETURN_IF_ERROR(ValidateTenantId("name", parts[0]));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(pb::ApiKey revoked, store_.UpdateApiKey(
      scope, parts[0], parts[1],
      [&](pb::ApiKey& key) -> absl::Status {
        if (key.has_revoke_time()) return absl::FailedPreconditionError(absl::StrCat(key.name(), ": already revoked"));
        *key.mutable_revoke_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
        return absl::OkStatus();
      },
      Audit(caller, "RevokeApiKey", request.name(), request)));
  if (auth_ != nullptr) auth_->TenantKeysChanged(parts[0]);
  return revoked;
}

absl::StatusOr<pb::ListAuditEventsResponse> TenantManager::ListAuditEvents(const Principal& caller,
                                                                           const pb::ListAuditEventsRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantIdFromName("parent", request.parent()));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, tenant_id));
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  const std::string binding = Binding(caller, "ListAuditEvents", request.parent());
  int64_t before = 0;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(const std::string position, page_tokens_.Decode(binding, request.page_token()));
    if (!absl::SimpleAtoi(position, &before)) return FieldError("page_token", "damaged");
  }
  ASSIGN_OR_RETURN(auto events, store_.ListAuditEvents(scope, tenant_id, before, page_size + 1));
  pb::ListAuditEventsResponse response;
  const bool more = static_cast<int>(events.size()) > page_size;
  if (more) events.resize(page_size);
  for (auto& event : events) *response.add_audit_events() = std::move(event);
  if (more) {
    response.set_next_page_token(page_tokens_.Encode(
        binding, absl::StrCat(response.audit_events(response.audit_events_size() - 1).event_id())));
  }
  return response;
}

absl::StatusOr<pb::CreateApiKeyResponse> TenantManager::BootstrapParkAdminKey(const std::string& display_name) {
  RETURN_IF_ERROR(ValidateText("display_name", display_name, 1, 200));
  Principal system;
  system.tenant_id = std::string(kParkTenantId);
  system.role = Role::kParkAdmin;
  pb::ApiKey requested;
  requested.set_display_name(display_name);
  requested.set_role(pb::ROLE_PARK_ADMIN);
  pb::CreateApiKeyRequest request;
  request.set_parent("tenants/park");
  *request.mutable_api_key() = requested;
  return MintKey(system, TenantScope::ParkAdmin(std::string(kParkTenantId)), std::string(kParkTenantId), requested,
                 request, /*replay=*/nullptr);
}

}  // namespace parkbase::tenant
