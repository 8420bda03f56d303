#include "marketplace/marketplace_logic.h"

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/access.h"
#include "common/app_grant.h"
#include "common/audit.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/names.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace parkbase::marketplace {
namespace {

constexpr size_t kMaxTags = 20;
constexpr size_t kMaxWriteMetrics = 50;
constexpr size_t kMaxGrantMetrics = 100;
constexpr size_t kMaxGrantLabels = 20;
constexpr int64_t kMaxPriceFen = 100'000'000;  // one million CNY a month

std::string Quoted(absl::string_view text) {
  return absl::StrCat("\"", absl::CEscape(Utf8Prefix(text, 100)), "\"");
}

// App ids: as tenant ids (3 to 40 characters of [a-z0-9-], starting with a letter, not ending with '-').
absl::Status ValidateAppId(absl::string_view field, absl::string_view id) {
  const bool ok = id.size() >= 3 && id.size() <= 40 && absl::ascii_islower(id.front()) && id.back() != '-' &&
                  std::all_of(id.begin(), id.end(), [](char c) {
                    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
                  });
  if (ok) return absl::OkStatus();
  return FieldError(field, absl::StrCat("must be 3 to 40 characters of lowercase letters, digits and '-', starting "
                                        "with a letter, got ",
                                        Quoted(id)));
}

// Metric names, as the device registry's schemas spell them.
absl::Status ValidateMetricName(absl::string_view field, absl::string_view name) {
  const bool ok = !name.empty() && name.size() <= 64 && absl::ascii_islower(name.front()) &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '.';
                  });
  if (ok) return absl::OkStatus();
  return FieldError(field, absl::StrCat("must be a metric name: 1 to 64 characters of lowercase letters, digits, "
                                        "'_' and '.', starting with a letter, got ",
                                        Quoted(name)));
}

// Label keys, as the device registry's.
absl::Status ValidateLabelKey(absl::string_view field, absl::string_view key) {
  const bool ok = !key.empty() && key.size() <= 63 && absl::ascii_islower(key.front()) &&
                  std::all_of(key.begin(), key.end(), [](char c) {
                    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '-' || c == '.';
                  });
  if (ok) return absl::OkStatus();
  return FieldError(field, absl::StrCat("label keys are 1 to 63 characters of lowercase letters, digits, '_', '-' "
                                        "and '.', starting with a letter, got ",
                                        Quoted(key)));
}

absl::Status ValidateUrl(absl::string_view field, const std::string& url) {
  if (url.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(ValidateText(field, url, 1, 500));
  if (!absl::StartsWith(url, "https://") && !absl::StartsWith(url, "http://")) {
    return FieldError(field, absl::StrCat("must be an http(s) URL, got ", Quoted(url)));
  }
  if (url.find(' ') != std::string::npos) return FieldError(field, "must not contain spaces");
  return absl::OkStatus();
}

absl::Status ValidateListing(absl::string_view prefix, const pb::App& app, const std::set<std::string>& paths) {
  const auto field = [&](absl::string_view name) { return absl::StrCat(prefix, ".", name); };
  const auto has = [&](const char* path) { return paths.empty() || paths.count(path) > 0; };
  if (has("display_name")) RETURN_IF_ERROR(ValidateText(field("display_name"), app.display_name(), 1, 100));
  if (has("summary")) RETURN_IF_ERROR(ValidateText(field("summary"), app.summary(), 1, 200));
  if (has("description")) RETURN_IF_ERROR(ValidateText(field("description"), app.description(), 0, 10'000));
  if (has("category") && (app.category() == pb::CATEGORY_UNSPECIFIED || !pb::Category_IsValid(app.category()))) {
    return FieldError(field("category"), "required: MES, EAM, ENERGY_MANAGEMENT, QUALITY_INSPECTION, "
                                         "PREDICTIVE_MAINTENANCE, AI_MODEL or OTHER");
  }
  if (has("tags")) {
    if (static_cast<size_t>(app.tags_size()) > kMaxTags) {
      return FieldError(field("tags"), absl::StrCat("at most ", kMaxTags, " tags, got ", app.tags_size()));
    }
    std::set<std::string> seen;
    for (int i = 0; i < app.tags_size(); ++i) {
      const std::string tag_field = absl::StrCat(field("tags"), "[", i, "]");
      RETURN_IF_ERROR(ValidateText(tag_field, app.tags(i), 1, 40));
      if (!seen.insert(app.tags(i)).second) return FieldError(tag_field, "repeats an earlier tag");
    }
  }
  if (has("vendor")) RETURN_IF_ERROR(ValidateText(field("vendor"), app.vendor(), 0, 200));
  if (has("homepage")) RETURN_IF_ERROR(ValidateUrl(field("homepage"), app.homepage()));
  return absl::OkStatus();
}

absl::Status ValidatePricing(absl::string_view field, const pb::Pricing& pricing) {
  switch (pricing.model()) {
    case pb::PRICING_MODEL_FREE:
      if (pricing.price_fen() != 0) return FieldError(absl::StrCat(field, ".price_fen"), "must be 0 for FREE");
      return absl::OkStatus();
    case pb::PRICING_MODEL_PER_DEVICE_MONTHLY:
    case pb::PRICING_MODEL_FLAT_MONTHLY:
      if (pricing.price_fen() < 1 || pricing.price_fen() > kMaxPriceFen) {
        return FieldError(absl::StrCat(field, ".price_fen"),
                          absl::StrCat("must be 1 to ", kMaxPriceFen, " fen, got ", pricing.price_fen()));
      }
      return absl::OkStatus();
    default:
      return FieldError(absl::StrCat(field, ".model"), "required: FREE, PER_DEVICE_MONTHLY or FLAT_MONTHLY");
  }
}

absl::Status ValidateVersionContent(const pb::AppVersion& version, const std::set<std::string>& paths) {
  const auto has = [&](const char* path) { return paths.empty() || paths.count(path) > 0; };
  if (has("changelog")) RETURN_IF_ERROR(ValidateText("version.changelog", version.changelog(), 0, 10'000));
  if (has("image")) {
    RETURN_IF_ERROR(ValidateText("version.image", version.image(), 1, 500));
    if (version.image().find(' ') != std::string::npos) return FieldError("version.image", "must not contain spaces");
  }
  if (has("chart")) RETURN_IF_ERROR(ValidateText("version.chart", version.chart(), 0, 500));
  if (has("requested_scopes")) {
    if (version.requested_scopes().empty()) {
      return FieldError("version.requested_scopes",
                        absl::StrCat("required: at least one of ", absl::StrJoin(kAppScopes, ", ")));
    }
    std::set<std::string> seen;
    for (int i = 0; i < version.requested_scopes_size(); ++i) {
      const std::string& scope = version.requested_scopes(i);
      const std::string field = absl::StrCat("version.requested_scopes[", i, "]");
      if (!IsAppScope(scope)) {
        return FieldError(field, absl::StrCat("unknown scope ", Quoted(scope), "; scopes are ",
                                              absl::StrJoin(kAppScopes, ", ")));
      }
      if (!seen.insert(scope).second) return FieldError(field, "repeats an earlier scope");
    }
  }
  if (has("write_metrics") || has("requested_scopes")) {
    if (static_cast<size_t>(version.write_metrics_size()) > kMaxWriteMetrics) {
      return FieldError("version.write_metrics", absl::StrCat("at most ", kMaxWriteMetrics, " metrics"));
    }
    std::set<std::string> seen;
    for (int i = 0; i < version.write_metrics_size(); ++i) {
      const std::string field = absl::StrCat("version.write_metrics[", i, "]");
      RETURN_IF_ERROR(ValidateMetricName(field, version.write_metrics(i)));
      if (!seen.insert(version.write_metrics(i)).second) return FieldError(field, "repeats an earlier metric");
    }
    const bool writes = std::find(version.requested_scopes().begin(), version.requested_scopes().end(),
                                  "telemetry.write") != version.requested_scopes().end();
    if (writes && version.write_metrics().empty()) {
      return FieldError("version.write_metrics",
                        "required with telemetry.write: declare the metrics the app writes back (e.g. anomaly_score)");
    }
    if (!writes && !version.write_metrics().empty()) {
      return FieldError("version.write_metrics", "needs telemetry.write in requested_scopes");
    }
  }
  if (has("pricing")) RETURN_IF_ERROR(ValidatePricing("version.pricing", version.pricing()));
  return absl::OkStatus();
}

// Checks a grant against what the version requests.
absl::Status ValidateGrant(absl::string_view prefix, const pb::Grant& grant, const pb::AppVersion& version) {
  if (grant.scopes().empty()) {
    return FieldError(absl::StrCat(prefix, ".scopes"),
                      absl::StrCat("required: grant at least one of the scopes ", version.version(), " requests (",
                                   absl::StrJoin(version.requested_scopes(), ", "), ")"));
  }
  std::set<std::string> seen;
  for (int i = 0; i < grant.scopes_size(); ++i) {
    const std::string& scope = grant.scopes(i);
    const std::string field = absl::StrCat(prefix, ".scopes[", i, "]");
    if (std::find(version.requested_scopes().begin(), version.requested_scopes().end(), scope) ==
        version.requested_scopes().end()) {
      return FieldError(field, absl::StrCat(Quoted(scope), " is not requested by version ", version.version(),
                                            ", which requests ", absl::StrJoin(version.requested_scopes(), ", "),
                                            "; a grant may not exceed the request"));
    }
    if (!seen.insert(scope).second) return FieldError(field, "repeats an earlier scope");
  }
  const pb::DataScope& data = grant.data_scope();
  const std::string labels_field = absl::StrCat(prefix, ".data_scope.device_labels");
  if (static_cast<size_t>(data.device_labels_size()) > kMaxGrantLabels) {
    return FieldError(labels_field, absl::StrCat("at most ", kMaxGrantLabels, " labels"));
  }
  for (const auto& [key, value] : data.device_labels()) {
    RETURN_IF_ERROR(ValidateLabelKey(labels_field, key));
    RETURN_IF_ERROR(ValidateText(absl::StrCat(labels_field, "[", key, "]"), value, 0, 200));
  }
  const std::string metrics_field = absl::StrCat(prefix, ".data_scope.metrics");
  if (static_cast<size_t>(data.metrics_size()) > kMaxGrantMetrics) {
    return FieldError(metrics_field, absl::StrCat("at most ", kMaxGrantMetrics, " metrics"));
  }
  std::set<std::string> metrics;
  for (int i = 0; i < data.metrics_size(); ++i) {
    const std::string field = absl::StrCat(metrics_field, "[", i, "]");
    RETURN_IF_ERROR(ValidateMetricName(field, data.metrics(i)));
    if (!metrics.insert(data.metrics(i)).second) return FieldError(field, "repeats an earlier metric");
  }
  return absl::OkStatus();
}

// The credential's grant: what the tenant granted, and the write-back metrics of the version it runs.
access::v1::AppGrant CredentialGrant(const std::string& installation, const pb::Grant& grant,
                                     const pb::AppVersion& version) {
  access::v1::AppGrant credential;
  credential.set_installation(installation);
  *credential.mutable_scopes() = grant.scopes();
  *credential.mutable_device_labels() = grant.data_scope().device_labels();
  *credential.mutable_metrics() = grant.data_scope().metrics();
  if (std::find(grant.scopes().begin(), grant.scopes().end(), "telemetry.write") != grant.scopes().end()) {
    *credential.mutable_write_metrics() = version.write_metrics();
  }
  return credential;
}

absl::StatusOr<TenantScope> Scope(const Principal& caller, const std::string& tenant_id) {
  return ScopeFor(caller, tenant_id, absl::StrCat("tenants/", tenant_id));
}

// The scope of a park-wide read (the catalogue): the park admin sees every state, others their own rows and the
// catalogue.
TenantScope ReaderScope(const Principal& caller, const std::string& provider) {
  if (caller.IsParkAdmin()) return TenantScope::ParkAdmin(provider);
  return TenantScope::Tenant(caller.tenant_id);
}

bool SeesEverything(const Principal& caller, const std::string& provider) {
  return caller.IsParkAdmin() || caller.tenant_id == provider;
}

std::set<std::string> MaskPaths(const google::protobuf::FieldMask& mask) {
  return std::set<std::string>(mask.paths().begin(), mask.paths().end());
}

absl::Status CheckMask(const google::protobuf::FieldMask& mask, const std::set<std::string>& mutable_fields) {
  if (mask.paths().empty()) {
    return FieldError("update_mask", absl::StrCat("required: name the fields to change (",
                                                  absl::StrJoin(mutable_fields, ", "), ")"));
  }
  for (const std::string& path : mask.paths()) {
    if (mutable_fields.count(path) == 0) {
      return FieldError("update_mask", absl::StrCat(Quoted(path), " cannot be changed; mutable fields are ",
                                                    absl::StrJoin(mutable_fields, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::Status WrongState(const std::string& name, pb::VersionState state, absl::string_view wanted) {
  return absl::FailedPreconditionError(absl::StrCat(name, " is ", pb::VersionState_Name(state).substr(14), "; ",
                                                    wanted));
}

std::string NewInstallationId(const std::string& app_id) {
  return absl::StrCat(app_id, "-", absl::BytesToHexString(RandomBytes(3)));
}

}  // namespace

MarketplaceManager::MarketplaceManager(MarketplaceStore& store, Clock& clock, PageTokens& page_tokens,
                                       SearchReadiness& readiness, AuthInvalidator* auth,
                                       const RequestReplays* replays)
    : store_(store), clock_(clock), page_tokens_(page_tokens), readiness_(readiness), auth_(auth), replays_(replays) {}

absl::StatusOr<StoredApp> MarketplaceManager::VisibleApp(const Principal& caller, const std::string& provider,
                                                         const std::string& app) {
  ASSIGN_OR_RETURN(StoredApp stored, store_.GetApp(ReaderScope(caller, provider), provider, app));
  if (!SeesEverything(caller, provider) && (!stored.app.listed() || stored.app.latest_version().empty())) {
    return absl::NotFoundError(absl::StrCat(stored.app.name(), ": not found"));
  }
  return stored;
}

absl::StatusOr<pb::App> MarketplaceManager::CreateApp(const Principal& caller, const pb::CreateAppRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("parent", request.parent(), "tenants/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  RETURN_IF_ERROR(ValidateAppId("app_id", request.app_id()));
  RETURN_IF_ERROR(ValidateListing("app", request.app(), {}));
  ASSIGN_OR_RETURN(const bool provider, store_.IsProvider(scope, parts[0]));
  if (!provider) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tenants/", parts[0], ": only a tenant with the provider capability may publish apps; the park admin grants it "
        "(UpdateTenant provider = true)"));
  }
  StoredApp stored;
  stored.app = request.app();
  stored.app.set_app_id(request.app_id());
  stored.app.set_provider(parts[0]);
  stored.app.set_name(absl::StrCat("tenants/", parts[0], "/apps/", request.app_id()));
  ASSIGN_OR_RETURN(StoredApp created, store_.CreateApp(scope, stored, MakeAudit(caller, "CreateApp", stored.app.name(),
                                                                                request)));
  return created.app;
}

absl::StatusOr<pb::App> MarketplaceManager::GetApp(const Principal& caller, const pb::GetAppRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", request.name(), "tenants/*/apps/*"));
  ASSIGN_OR_RETURN(StoredApp stored, VisibleApp(caller, parts[0], parts[1]));
  return stored.app;
}

absl::StatusOr<pb::ListAppsResponse> MarketplaceManager::ListApps(const Principal& caller,
                                                                  const pb::ListAppsRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("parent", request.parent(), "tenants/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  const std::string binding = absl::StrCat("ListApps/", caller.tenant_id, "/", parts[0]);
  std::string after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after, page_tokens_.Decode(binding, request.page_token()));
  }
  ASSIGN_OR_RETURN(std::vector<StoredApp> apps, store_.ListApps(scope, parts[0], after, page_size + 1));
  pb::ListAppsResponse response;
  for (size_t i = 0; i < apps.size() && i < static_cast<size_t>(page_size); ++i) *response.add_apps() = apps[i].app;
  if (apps.size() > static_cast<size_t>(page_size)) {
    response.set_next_page_token(page_tokens_.Encode(binding, apps[page_size - 1].app.app_id()));
  }
  return response;
}

absl::StatusOr<pb::App> MarketplaceManager::UpdateApp(const Principal& caller, const pb::UpdateAppRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("app.name", request.app().name(), "tenants/*/apps/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  RETURN_IF_ERROR(CheckMask(request.update_mask(),
                            {"category", "description", "display_name", "homepage", "summary", "tags", "vendor"}));
  const std::set<std::string> paths = MaskPaths(request.update_mask());
  RETURN_IF_ERROR(ValidateListing("app", request.app(), paths));
  ASSIGN_OR_RETURN(StoredApp updated,
                   store_.UpdateApp(
                       scope, parts[0], parts[1],
                       [&](StoredApp& stored) -> absl::Status {
                         pb::App& app = stored.app;
                         const pb::App& changes = request.app();
                         if (paths.count("display_name")) app.set_display_name(changes.display_name());
                         if (paths.count("summary")) app.set_summary(changes.summary());
                         if (paths.count("description")) app.set_description(changes.description());
                         if (paths.count("category")) app.set_category(changes.category());
                         if (paths.count("tags")) *app.mutable_tags() = changes.tags();
                         if (paths.count("vendor")) app.set_vendor(changes.vendor());
                         if (paths.count("homepage")) app.set_homepage(changes.homepage());
                         return absl::OkStatus();
                       },
                       MakeAudit(caller, "UpdateApp", request.app().name(), request)));
  return updated.app;
}

absl::StatusOr<pb::App> MarketplaceManager::DelistApp(const Principal& caller, const pb::DelistAppRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", request.name(), "tenants/*/apps/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  RETURN_IF_ERROR(ValidateText("reason", request.reason(), 1, 1000));
  ASSIGN_OR_RETURN(StoredApp updated, store_.UpdateApp(
                                          scope, parts[0], parts[1],
                                          [&](StoredApp& stored) -> absl::Status {
                                            if (!stored.app.listed()) {
                                              return absl::FailedPreconditionError(
                                                  absl::StrCat(request.name(), " is already delisted"));
                                            }
                                            stored.app.set_listed(false);
                                            stored.app.set_delist_reason(request.reason());
                                            stored.delisted_by_park = caller.IsParkAdmin();
                                            return absl::OkStatus();
                                          },
                                          MakeAudit(caller, "DelistApp", request.name(), request)));
  return updated.app;
}

absl::StatusOr<pb::App> MarketplaceManager::RelistApp(const Principal& caller, const pb::RelistAppRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", request.name(), "tenants/*/apps/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  ASSIGN_OR_RETURN(StoredApp updated,
                   store_.UpdateApp(
                       scope, parts[0], parts[1],
                       [&](StoredApp& stored) -> absl::Status {
                         if (stored.app.listed()) {
                           return absl::FailedPreconditionError(absl::StrCat(request.name(), " is listed"));
                         }
                         if (stored.delisted_by_park && !caller.IsParkAdmin()) {
                           return absl::PermissionDeniedError(
                               absl::StrCat("the park delisted ", request.name(), " (", stored.app.delist_reason(),
                                            "); only the park admin relists it"));
                         }
                         stored.app.set_listed(true);
                         stored.app.set_delist_reason("");
                         stored.delisted_by_park = false;
                         return absl::OkStatus();
                       },
                       MakeAudit(caller, "RelistApp", request.name(), request)));
  return updated.app;
}

absl::StatusOr<pb::AppVersion> MarketplaceManager::CreateAppVersion(const Principal& caller,
                                                                    const pb::CreateAppVersionRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("parent", request.parent(), "tenants/*/apps/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  ASSIGN_OR_RETURN(const SemVer semver, ParseSemVer("version_id", request.version_id()));
  RETURN_IF_ERROR(ValidateVersionContent(request.version(), {}));
  pb::AppVersion version = request.version();
  version.set_version(request.version_id());
  const std::string name = absl::StrCat(request.parent(), "/versions/", request.version_id());
  return store_.CreateVersion(scope, parts[0], parts[1], version, semver,
                              MakeAudit(caller, "CreateAppVersion", name, request));
}

absl::StatusOr<pb::AppVersion> MarketplaceManager::GetAppVersion(const Principal& caller,
                                                                 const pb::GetAppVersionRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", request.name(), "tenants/*/apps/*/versions/*"));
  RETURN_IF_ERROR(VisibleApp(caller, parts[0], parts[1]).status());
  ASSIGN_OR_RETURN(pb::AppVersion version,
                   store_.GetVersion(ReaderScope(caller, parts[0]), parts[0], parts[1], parts[2]));
  if (!SeesEverything(caller, parts[0]) && version.state() != pb::VERSION_STATE_PUBLISHED &&
      version.state() != pb::VERSION_STATE_DEPRECATED) {
    return absl::NotFoundError(absl::StrCat(request.name(), ": not found"));
  }
  return version;
}

absl::StatusOr<pb::ListAppVersionsResponse> MarketplaceManager::ListAppVersions(
    const Principal& caller, const pb::ListAppVersionsRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("parent", request.parent(), "tenants/*/apps/*"));
  RETURN_IF_ERROR(VisibleApp(caller, parts[0], parts[1]).status());
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  const std::string binding = absl::StrCat("ListAppVersions/", caller.tenant_id, "/", request.parent());
  int64_t offset = 0;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(std::string position, page_tokens_.Decode(binding, request.page_token()));
    if (!absl::SimpleAtoi(position, &offset)) return FieldError("page_token", "unreadable");
  }
  std::vector<int> states;
  if (!SeesEverything(caller, parts[0])) states = {pb::VERSION_STATE_PUBLISHED, pb::VERSION_STATE_DEPRECATED};
  // An app has tens of versions, not thousands: one read, paged here by offset (the token is bound to the app).
  ASSIGN_OR_RETURN(std::vector<pb::AppVersion> versions,
                   store_.ListVersions(ReaderScope(caller, parts[0]), parts[0], parts[1], states));
  pb::ListAppVersionsResponse response;
  for (int64_t i = offset; i < static_cast<int64_t>(versions.size()) && i < offset + page_size; ++i) {
    *response.add_versions() = versions[i];
  }
  if (offset + page_size < static_cast<int64_t>(versions.size())) {
    response.set_next_page_token(page_tokens_.Encode(binding, absl::StrCat(offset + page_size)));
  }
  return response;
}

absl::StatusOr<pb::AppVersion> MarketplaceManager::ChangeVersion(const Principal& caller, const std::string& name,
                                                                 const std::string& action,
                                                                 const google::protobuf::Message& request,
                                                                 const MarketplaceStore::VersionMutation& mutate) {
  const std::string field = action == "UpdateAppVersion" ? "version.name" : "name";
  ASSIGN_OR_RETURN(auto parts, ParseResourceName(field, name, "tenants/*/apps/*/versions/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  return store_.UpdateVersion(scope, parts[0], parts[1], parts[2], mutate, MakeAudit(caller, action, name, request));
}

absl::StatusOr<pb::AppVersion> MarketplaceManager::UpdateAppVersion(const Principal& caller,
                                                                    const pb::UpdateAppVersionRequest& request) {
  RETURN_IF_ERROR(CheckMask(request.update_mask(),
                            {"changelog", "chart", "image", "pricing", "requested_scopes", "write_metrics"}));
  const std::set<std::string> paths = MaskPaths(request.update_mask());
  return ChangeVersion(caller, request.version().name(), "UpdateAppVersion", request,
                       [&](pb::AppVersion& version) -> absl::Status {
                         if (version.state() != pb::VERSION_STATE_DRAFT &&
                             version.state() != pb::VERSION_STATE_REJECTED) {
                           return WrongState(version.name(), version.state(),
                                             "only DRAFT or REJECTED versions change; create a new version");
                         }
                         const pb::AppVersion& changes = request.version();
                         if (paths.count("changelog")) version.set_changelog(changes.changelog());
                         if (paths.count("image")) version.set_image(changes.image());
                         if (paths.count("chart")) version.set_chart(changes.chart());
                         if (paths.count("requested_scopes")) {
                           *version.mutable_requested_scopes() = changes.requested_scopes();
                         }
                         if (paths.count("write_metrics")) *version.mutable_write_metrics() = changes.write_metrics();
                         if (paths.count("pricing")) *version.mutable_pricing() = changes.pricing();
                         return ValidateVersionContent(version, {});
                       });
}

absl::StatusOr<pb::AppVersion> MarketplaceManager::SubmitAppVersion(const Principal& caller,
                                                                    const pb::SubmitAppVersionRequest& request) {
  return ChangeVersion(caller, request.name(), "SubmitAppVersion", request, [&](pb::AppVersion& version) {
    if (version.state() != pb::VERSION_STATE_DRAFT && version.state() != pb::VERSION_STATE_REJECTED) {
      return WrongState(version.name(), version.state(), "only DRAFT or REJECTED versions are submitted");
    }
    version.set_state(pb::VERSION_STATE_SUBMITTED);
    return absl::OkStatus();
  });
}

absl::StatusOr<pb::AppVersion> MarketplaceManager::ReviewAppVersion(const Principal& caller,
                                                                    const pb::ReviewAppVersionRequest& request) {
  if (request.decision() != pb::REVIEW_DECISION_APPROVE && request.decision() != pb::REVIEW_DECISION_REJECT) {
    return FieldError("decision", "required: APPROVE or REJECT");
  }
  if (request.decision() == pb::REVIEW_DECISION_REJECT) {
    RETURN_IF_ERROR(ValidateText("reason", request.reason(), 1, 2000));
  } else {
    RETURN_IF_ERROR(ValidateText("reason", request.reason(), 0, 2000));
  }
  return ChangeVersion(caller, request.name(), "ReviewAppVersion", request, [&](pb::AppVersion& version) {
    if (version.state() != pb::VERSION_STATE_SUBMITTED) {
      return WrongState(version.name(), version.state(), "only SUBMITTED versions are reviewed");
    }
    version.set_state(request.decision() == pb::REVIEW_DECISION_APPROVE ? pb::VERSION_STATE_APPROVED
                                                                         : pb::VERSION_STATE_REJECTED);
    version.set_review_reason(request.reason());
    return absl::OkStatus();
  });
}

absl::StatusOr<pb::AppVersion> MarketplaceManager::PublishAppVersion(const Principal& caller,
                                                                     const pb::PublishAppVersionRequest& request) {
  return MoveVersion(caller, request.name(), "PublishAppVersion", request, pb::VERSION_STATE_APPROVED,
                     pb::VERSION_STATE_PUBLISHED, "only APPROVED versions are published");
}

absl::StatusOr<pb::AppVersion> MarketplaceManager::DeprecateAppVersion(const Principal& caller,
                                                                       const pb::DeprecateAppVersionRequest& request) {
  return MoveVersion(caller, request.name(), "DeprecateAppVersion", request, pb::VERSION_STATE_PUBLISHED,
                     pb::VERSION_STATE_DEPRECATED, "only PUBLISHED versions are deprecated");
}

absl::StatusOr<pb::AppVersion> MarketplaceManager::MoveVersion(const Principal& caller, const std::string& name,
                                                               const std::string& action,
                                                               const google::protobuf::Message& request,
                                                               pb::VersionState from, pb::VersionState to,
                                                               absl::string_view refusal) {
  return ChangeVersion(caller, name, action, request, [&](pb::AppVersion& version) {
    if (version.state() != from) return WrongState(version.name(), version.state(), refusal);
    version.set_state(to);
    return absl::OkStatus();
  });
}

absl::StatusOr<pb::ListReviewQueueResponse> MarketplaceManager::ListReviewQueue(
    const Principal& caller, const pb::ListReviewQueueRequest& request) {
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  const std::string binding = absl::StrCat("ListReviewQueue/", caller.tenant_id);
  std::string after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after, page_tokens_.Decode(binding, request.page_token()));
  }
  ASSIGN_OR_RETURN(auto queue, store_.ListReviewQueue(TenantScope::ParkAdmin(caller.tenant_id), after, page_size + 1));
  pb::ListReviewQueueResponse response;
  for (size_t i = 0; i < queue.size() && i < static_cast<size_t>(page_size); ++i) {
    *response.add_versions() = queue[i].first;
  }
  if (queue.size() > static_cast<size_t>(page_size)) {
    response.set_next_page_token(page_tokens_.Encode(binding, queue[page_size - 1].second));
  }
  return response;
}

absl::StatusOr<pb::SearchAppsResponse> MarketplaceManager::SearchApps(const Principal& caller,
                                                                      const pb::SearchAppsRequest& request) {
  if (!search_ready_.load(std::memory_order_relaxed)) {
    RETURN_IF_ERROR(readiness_.Check());
    search_ready_.store(true, std::memory_order_relaxed);
  }
  CatalogueQuery query;
  ASSIGN_OR_RETURN(query.words, ParseSearchQuery(request.query()));
  for (int i = 0; i < request.categories_size(); ++i) {
    const int category = request.categories(i);
    if (category == pb::CATEGORY_UNSPECIFIED || !pb::Category_IsValid(category)) {
      return FieldError(absl::StrCat("categories[", i, "]"), absl::StrCat("unknown category ", category));
    }
    query.categories.push_back(category);
  }
  for (int i = 0; i < request.pricing_models_size(); ++i) {
    const int model = request.pricing_models(i);
    if (model == pb::PRICING_MODEL_UNSPECIFIED || !pb::PricingModel_IsValid(model)) {
      return FieldError(absl::StrCat("pricing_models[", i, "]"), absl::StrCat("unknown pricing model ", model));
    }
    query.pricing_models.push_back(model);
  }
  if (!request.provider().empty()) RETURN_IF_ERROR(ValidateTenantId("provider", request.provider()));
  query.provider_id = request.provider();
  if (!pb::SearchOrder_IsValid(request.order())) {
    return FieldError("order", absl::StrCat("unknown order ", static_cast<int>(request.order())));
  }
  query.order = request.order();
  if (query.order == pb::SEARCH_ORDER_UNSPECIFIED) {
    query.order = query.words.words.empty() ? pb::SEARCH_ORDER_INSTALLS : pb::SEARCH_ORDER_RELEVANCE;
  }
  ASSIGN_OR_RETURN(query.limit, ResolvePageSize(request.page_size(), 20, 100));
  pb::SearchAppsRequest bound = request;
  bound.clear_page_token();
  bound.clear_page_size();
  const std::string binding = absl::StrCat("SearchApps/", caller.tenant_id, "/", bound.SerializeAsString());
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(std::string position, page_tokens_.Decode(binding, request.page_token()));
    std::vector<std::string> fields = absl::StrSplit(position, '/');
    SearchCursor cursor;
    if (fields.size() != 4 || !absl::SimpleAtoi(fields[0], &cursor.primary) ||
        !absl::SimpleAtoi(fields[1], &cursor.secondary)) {
      return FieldError("page_token", "unreadable");
    }
    cursor.provider_id = fields[2];
    cursor.app_id = fields[3];
    query.after = cursor;
  }
  const int page_size = query.limit;
  query.limit = page_size + 1;
  ASSIGN_OR_RETURN(std::vector<SearchHit> hits,
                   store_.Search(caller.IsParkAdmin() ? TenantScope::ParkAdmin(caller.tenant_id)
                                                      : TenantScope::Tenant(caller.tenant_id),
                                 query));
  pb::SearchAppsResponse response;
  for (size_t i = 0; i < hits.size() && i < static_cast<size_t>(page_size); ++i) *response.add_apps() = hits[i].app.app;
  if (hits.size() > static_cast<size_t>(page_size)) {
    const SearchCursor& last = hits[page_size - 1].position;
    response.set_next_page_token(page_tokens_.Encode(
        binding, absl::StrCat(last.primary, "/", last.secondary, "/", last.provider_id, "/", last.app_id)));
  }
  return response;
}

absl::StatusOr<pb::InstallAppResponse> MarketplaceManager::InstallApp(const Principal& caller,
                                                                      const pb::InstallAppRequest& request) {
  ASSIGN_OR_RETURN(auto tenant, ParseResourceName("parent", request.parent(), "tenants/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, tenant[0]));
  ASSIGN_OR_RETURN(auto app_parts, ParseResourceName("app", request.app(), "tenants/*/apps/*"));
  ASSIGN_OR_RETURN(const std::optional<ReplayKey> replay_key,
                   RequestReplays::KeyFor("request_id", "InstallApp", caller, request, request.request_id()));
  // A retry with a request id gets its first answer before the catalogue is looked at again.
  pb::InstallAppResponse response;
  RETURN_IF_ERROR(MintOnce(replays_, scope, replay_key, response, [&](const ReplayTicket* ticket) -> absl::Status {
    // What the installing tenant sees of the app: the catalogue.
    ASSIGN_OR_RETURN(StoredApp app, store_.GetApp(TenantScope::Tenant(tenant[0]), app_parts[0], app_parts[1]));
    if (!app.app.listed() || app.app.latest_version().empty()) {
      return absl::FailedPreconditionError(absl::StrCat(request.app(), " is not in the catalogue (",
                                                        app.app.listed() ? "no published version" : "delisted", ")"));
    }
    const std::string version_id = request.version().empty() ? app.app.latest_version() : request.version();
    ASSIGN_OR_RETURN(const pb::AppVersion version,
                     store_.GetVersion(TenantScope::Tenant(tenant[0]), app_parts[0], app_parts[1], version_id));
    if (version.state() != pb::VERSION_STATE_PUBLISHED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "version: ", version.name(), " is ", pb::VersionState_Name(version.state()).substr(14),
          "; only PUBLISHED versions are installed"));
    }
    RETURN_IF_ERROR(ValidateGrant("grant", request.grant(), version));

    StoredInstallation stored;
    stored.tenant_id = tenant[0];
    stored.installation_id = NewInstallationId(app_parts[1]);
    stored.provider_id = app_parts[0];
    stored.app_id = app_parts[1];
    pb::Installation& installation = stored.installation;
    installation.set_name(absl::StrCat("tenants/", tenant[0], "/installations/", stored.installation_id));
    installation.set_app(request.app());
    installation.set_version(version.version());
    *installation.mutable_grant() = request.grant();
    *installation.mutable_pricing() = version.pricing();
    const access::v1::AppGrant grant = CredentialGrant(installation.name(), request.grant(), version);
    ASSIGN_OR_RETURN(auto installed, store_.Install(scope, stored, grant, ShanghaiDay(clock_.Now()),
                                                    MakeAudit(caller, "InstallApp", installation.name(), request),
                                                    ticket));
    *response.mutable_installation() = installed.first.installation;
    response.set_credential(installed.second);
    return absl::OkStatus();
  }));
  return response;
}

absl::StatusOr<pb::Installation> MarketplaceManager::GetInstallation(const Principal& caller,
                                                                     const pb::GetInstallationRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", request.name(), "tenants/*/installations/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  ASSIGN_OR_RETURN(StoredInstallation stored, store_.GetInstallation(scope, parts[0], parts[1]));
  return stored.installation;
}

absl::StatusOr<pb::ListInstallationsResponse> MarketplaceManager::ListInstallations(
    const Principal& caller, const pb::ListInstallationsRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("parent", request.parent(), "tenants/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  const std::string binding = absl::StrCat("ListInstallations/", caller.tenant_id, "/", parts[0], "/",
                                           request.show_uninstalled());
  std::string after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after, page_tokens_.Decode(binding, request.page_token()));
  }
  ASSIGN_OR_RETURN(std::vector<StoredInstallation> rows,
                   store_.ListInstallations(scope, parts[0], after, request.show_uninstalled(), page_size + 1));
  pb::ListInstallationsResponse response;
  for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(page_size); ++i) {
    *response.add_installations() = rows[i].installation;
  }
  if (rows.size() > static_cast<size_t>(page_size)) {
    const StoredInstallation& last = rows[page_size - 1];
    response.set_next_page_token(page_tokens_.Encode(
        binding, absl::StrCat(google::protobuf::util::TimeUtil::TimestampToMicroseconds(last.installation.create_time()),
                              "/", last.installation_id)));
  }
  return response;
}

absl::StatusOr<pb::Installation> MarketplaceManager::ChangeInstallation(
    const Principal& caller, const std::string& name, const std::string& action,
    const google::protobuf::Message& request, const MarketplaceStore::InstallationMutation& mutate) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", name, "tenants/*/installations/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  ASSIGN_OR_RETURN(StoredInstallation updated,
                   store_.UpdateInstallation(scope, parts[0], parts[1], mutate, ShanghaiDay(clock_.Now()),
                                             MakeAudit(caller, action, name, request)));
  // Every installation change rewrites or revokes its app credential's grant, which cached principals carry.
  if (auth_ != nullptr) auth_->TenantKeysChanged(parts[0]);
  return updated.installation;
}

absl::StatusOr<pb::Installation> MarketplaceManager::UpgradeInstallation(
    const Principal& caller, const pb::UpgradeInstallationRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", request.name(), "tenants/*/installations/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  ASSIGN_OR_RETURN(StoredInstallation current, store_.GetInstallation(scope, parts[0], parts[1]));
  ASSIGN_OR_RETURN(StoredApp app,
                   store_.GetApp(TenantScope::Tenant(parts[0]), current.provider_id, current.app_id));
  const std::string target = request.version().empty() ? app.app.latest_version() : request.version();
  if (target.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(current.installation.app(), " has no published version"));
  }
  ASSIGN_OR_RETURN(const pb::AppVersion version,
                   store_.GetVersion(TenantScope::Tenant(parts[0]), current.provider_id, current.app_id, target));
  if (version.state() != pb::VERSION_STATE_PUBLISHED) {
    return absl::FailedPreconditionError(absl::StrCat("version: ", version.name(), " is ",
                                                      pb::VersionState_Name(version.state()).substr(14),
                                                      "; upgrades go to PUBLISHED versions"));
  }
  if (request.has_grant()) RETURN_IF_ERROR(ValidateGrant("grant", request.grant(), version));
  return ChangeInstallation(
      caller, request.name(), "UpgradeInstallation", request,
      [&](StoredInstallation& stored) -> absl::StatusOr<CredentialChange> {
        pb::Installation& installation = stored.installation;
        if (installation.state() != pb::INSTALLATION_STATE_ACTIVE) {
          return absl::FailedPreconditionError(absl::StrCat(installation.name(), " is uninstalled"));
        }
        if (installation.pinned()) {
          return absl::FailedPreconditionError(absl::StrCat(installation.name(), " is pinned to ",
                                                            installation.version(), "; unpin it to upgrade"));
        }
        ASSIGN_OR_RETURN(const SemVer from, ParseSemVer("version", installation.version()));
        ASSIGN_OR_RETURN(const SemVer to, ParseSemVer("version", version.version()));
        if (CompareSemVer(to, from) <= 0) {
          return FieldError("version", absl::StrCat(version.version(), " is not newer than the installed ",
                                                    installation.version(), "; use RollbackInstallation to go back"));
        }
        if (!request.has_grant()) {
          // New scopes are never granted silently: the tenant admin decides with a new grant.
          std::vector<std::string> ungranted;
          for (const std::string& scope : version.requested_scopes()) {
            const auto& held = installation.grant().scopes();
            if (std::find(held.begin(), held.end(), scope) == held.end()) ungranted.push_back(scope);
          }
          if (!ungranted.empty()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "grant: ", version.version(), " requests ", absl::StrJoin(ungranted, ", "),
                ", which the current grant does not hold; send a grant (it may leave them out)"));
          }
          RETURN_IF_ERROR(ValidateGrant("grant", installation.grant(), version));
        } else {
          *installation.mutable_grant() = request.grant();
        }
        installation.set_previous_version(installation.version());
        installation.set_version(version.version());
        *installation.mutable_pricing() = version.pricing();
        return CredentialChange{false, CredentialGrant(installation.name(), installation.grant(), version)};
      });
}

absl::StatusOr<pb::Installation> MarketplaceManager::RollbackInstallation(
    const Principal& caller, const pb::RollbackInstallationRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", request.name(), "tenants/*/installations/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  ASSIGN_OR_RETURN(StoredInstallation current, store_.GetInstallation(scope, parts[0], parts[1]));
  if (current.installation.previous_version().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(request.name(), " has no earlier version to roll back to"));
  }
  ASSIGN_OR_RETURN(const pb::AppVersion previous,
                   store_.GetVersion(TenantScope::Tenant(parts[0]), current.provider_id, current.app_id,
                                     current.installation.previous_version()));
  return ChangeInstallation(
      caller, request.name(), "RollbackInstallation", request,
      [&](StoredInstallation& stored) -> absl::StatusOr<CredentialChange> {
        pb::Installation& installation = stored.installation;
        if (installation.state() != pb::INSTALLATION_STATE_ACTIVE) {
          return absl::FailedPreconditionError(absl::StrCat(installation.name(), " is uninstalled"));
        }
        if (installation.pinned()) {
          return absl::FailedPreconditionError(absl::StrCat(installation.name(), " is pinned to ",
                                                            installation.version(), "; unpin it to roll back"));
        }
        if (installation.previous_version() != previous.version()) {
          return absl::AbortedError(absl::StrCat(installation.name(), " changed meanwhile; retry"));
        }
        // The grant keeps only what the earlier version requests.
        pb::Grant grant = installation.grant();
        grant.clear_scopes();
        for (const std::string& scope : installation.grant().scopes()) {
          if (std::find(previous.requested_scopes().begin(), previous.requested_scopes().end(), scope) !=
              previous.requested_scopes().end()) {
            grant.add_scopes(scope);
          }
        }
        if (grant.scopes().empty()) {
          return absl::FailedPreconditionError(absl::StrCat(previous.version(),
                                                            " requests none of the granted scopes; uninstall instead"));
        }
        *installation.mutable_grant() = grant;
        installation.set_previous_version(installation.version());
        installation.set_version(previous.version());
        *installation.mutable_pricing() = previous.pricing();
        return CredentialChange{false, CredentialGrant(installation.name(), grant, previous)};
      });
}

absl::StatusOr<pb::Installation> MarketplaceManager::PinInstallation(const Principal& caller,
                                                                     const pb::PinInstallationRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", request.name(), "tenants/*/installations/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  ASSIGN_OR_RETURN(StoredInstallation current, store_.GetInstallation(scope, parts[0], parts[1]));
  ASSIGN_OR_RETURN(const pb::AppVersion version,
                   store_.GetVersion(TenantScope::Tenant(parts[0]), current.provider_id, current.app_id,
                                     current.installation.version()));
  return ChangeInstallation(caller, request.name(), "PinInstallation", request,
                            [&](StoredInstallation& stored) -> absl::StatusOr<CredentialChange> {
                              pb::Installation& installation = stored.installation;
                              if (installation.state() != pb::INSTALLATION_STATE_ACTIVE) {
                                return absl::FailedPreconditionError(
                                    absl::StrCat(installation.name(), " is uninstalled"));
                              }
                              installation.set_pinned(request.pinned());
                              return CredentialChange{
                                  false, CredentialGrant(installation.name(), installation.grant(), version)};
                            });
}

absl::StatusOr<pb::Installation> MarketplaceManager::UninstallApp(const Principal& caller,
                                                                  const pb::UninstallAppRequest& request) {
  return ChangeInstallation(caller, request.name(), "UninstallApp", request,
                            [&](StoredInstallation& stored) -> absl::StatusOr<CredentialChange> {
                              if (stored.installation.state() != pb::INSTALLATION_STATE_ACTIVE) {
                                return absl::FailedPreconditionError(
                                    absl::StrCat(stored.installation.name(), " is already uninstalled"));
                              }
                              stored.installation.set_state(pb::INSTALLATION_STATE_UNINSTALLED);
                              return CredentialChange{true, {}};
                            });
}

absl::StatusOr<pb::Rating> MarketplaceManager::RateApp(const Principal& caller, const pb::RateAppRequest& request) {
  ASSIGN_OR_RETURN(auto tenant, ParseResourceName("parent", request.parent(), "tenants/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, tenant[0]));
  ASSIGN_OR_RETURN(auto app, ParseResourceName("app", request.app(), "tenants/*/apps/*"));
  if (request.stars() < 1 || request.stars() > 5) {
    return FieldError("stars", absl::StrCat("must be 1 to 5, got ", request.stars()));
  }
  RETURN_IF_ERROR(ValidateText("review", request.review(), 0, 2000));
  ASSIGN_OR_RETURN(const bool installed, store_.EverInstalled(scope, tenant[0], app[0], app[1]));
  if (!installed) {
    return absl::FailedPreconditionError(
        absl::StrCat("app: tenants/", tenant[0], " never installed ", request.app(), "; only its users rate it"));
  }
  return store_.Rate(scope, tenant[0], app[0], app[1], request.stars(), request.review(),
                     MakeAudit(caller, "RateApp", absl::StrCat(request.app(), "/ratings/", tenant[0]), request));
}

absl::StatusOr<pb::ListRatingsResponse> MarketplaceManager::ListRatings(const Principal& caller,
                                                                        const pb::ListRatingsRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("app", request.app(), "tenants/*/apps/*"));
  RETURN_IF_ERROR(VisibleApp(caller, parts[0], parts[1]).status());
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  const std::string binding = absl::StrCat("ListRatings/", caller.tenant_id, "/", request.app());
  std::string after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after, page_tokens_.Decode(binding, request.page_token()));
  }
  ASSIGN_OR_RETURN(std::vector<pb::Rating> ratings,
                   store_.ListRatings(ReaderScope(caller, parts[0]), parts[0], parts[1], after, page_size + 1));
  pb::ListRatingsResponse response;
  for (size_t i = 0; i < ratings.size() && i < static_cast<size_t>(page_size); ++i) {
    *response.add_ratings() = ratings[i];
  }
  if (ratings.size() > static_cast<size_t>(page_size)) {
    const pb::Rating& last = ratings[page_size - 1];
    response.set_next_page_token(page_tokens_.Encode(
        binding,
        absl::StrCat(google::protobuf::util::TimeUtil::TimestampToMicroseconds(last.update_time()), "/", last.tenant())));
  }
  return response;
}

absl::StatusOr<pb::AppUsage> MarketplaceManager::GetAppUsage(const Principal& caller,
                                                             const pb::GetAppUsageRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("app", request.app(), "tenants/*/apps/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  RETURN_IF_ERROR(store_.GetApp(scope, parts[0], parts[1]).status());
  ASSIGN_OR_RETURN(std::vector<StoredInstallation> installations,
                   store_.InstallationsOfApp(scope, parts[0], parts[1]));
  pb::AppUsage usage;
  usage.set_app(request.app());
  usage.set_installs(static_cast<int64_t>(installations.size()));
  // Per tenant: its active installation, or else its latest one.
  std::map<std::string, const StoredInstallation*> by_tenant;
  for (const StoredInstallation& stored : installations) {
    if (stored.installation.state() == pb::INSTALLATION_STATE_ACTIVE) usage.set_active_installs(usage.active_installs() + 1);
    const StoredInstallation*& chosen = by_tenant[stored.tenant_id];
    if (chosen == nullptr || chosen->installation.state() != pb::INSTALLATION_STATE_ACTIVE) chosen = &stored;
  }
  for (const auto& [tenant, stored] : by_tenant) {
    pb::TenantUsage* line = usage.add_tenants();
    line->set_tenant(tenant);
    line->set_version(stored->installation.version());
    if (stored->installation.state() == pb::INSTALLATION_STATE_ACTIVE) {
      line->set_installation(stored->installation.name());
      line->set_granted_devices(stored->installation.granted_devices());
    }
  }
  return usage;
}

absl::StatusOr<pb::AppStatement> MarketplaceManager::GetAppStatement(const Principal& caller,
                                                                     const pb::GetAppStatementRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("app", request.app(), "tenants/*/apps/*"));
  ASSIGN_OR_RETURN(const TenantScope scope, Scope(caller, parts[0]));
  ASSIGN_OR_RETURN(const BillingMonth month, ParseBillingMonth("month", request.month()));
  RETURN_IF_ERROR(store_.GetApp(scope, parts[0], parts[1]).status());
  ASSIGN_OR_RETURN(std::vector<InstallationDay> days,
                   store_.UsageDays(scope, parts[0], parts[1], month.first_day, month.last_day));
  pb::AppStatement statement;
  statement.set_app(request.app());
  statement.set_month(request.month());
  statement.set_days_in_month(month.days);
  statement.set_currency("CNY");
  // Rows come ordered by tenant, installation and day.
  for (size_t start = 0; start < days.size();) {
    size_t end = start;
    std::vector<UsageDay> usage;
    while (end < days.size() && days[end].tenant_id == days[start].tenant_id &&
           days[end].installation_id == days[start].installation_id) {
      usage.push_back(days[end].usage);
      ++end;
    }
    pb::StatementLine line = ComputeStatementLine(usage, month.days);
    line.set_tenant(days[start].tenant_id);
    line.set_installation(absl::StrCat("tenants/", days[start].tenant_id, "/installations/", days[start].installation_id));
    statement.set_total_fen(statement.total_fen() + line.amount_fen());
    *statement.add_lines() = std::move(line);
    start = end;
  }
  return statement;
}

absl::StatusOr<int> MarketplaceManager::MeterUsage() {
  return store_.MeterActiveInstallations(ShanghaiDay(clock_.Now()));
}

}  // namespace parkbase::marketplace
