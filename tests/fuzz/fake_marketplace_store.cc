#include "fuzz/fake_marketplace_store.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "fuzz/fuzz_checks.h"
#include "google/protobuf/util/time_util.h"

namespace parkbase::fuzz {

using google::protobuf::util::TimeUtil;
using marketplace::InstallationDay;
using marketplace::SearchHit;
using marketplace::StoredApp;
using marketplace::StoredInstallation;

namespace {

std::string AppName(const std::string& provider, const std::string& app) {
  return absl::StrCat("tenants/", provider, "/apps/", app);
}

absl::Status AppNotFound(const std::string& provider, const std::string& app) {
  return absl::NotFoundError(
      absl::StrCat("tenants/", Utf8Prefix(provider, 64), "/apps/", Utf8Prefix(app, 64), ": not found"));
}

absl::Status VersionNotFound(const std::string& provider, const std::string& app, const std::string& version) {
  return absl::NotFoundError(absl::StrCat("tenants/", Utf8Prefix(provider, 64), "/apps/", Utf8Prefix(app, 64),
                                          "/versions/", Utf8Prefix(version, 64), ": not found"));
}

absl::Status InstallationNotFound(const std::string& tenant, const std::string& id) {
  return absl::NotFoundError(
      absl::StrCat("tenants/", Utf8Prefix(tenant, 64), "/installations/", Utf8Prefix(id, 64), ": not found"));
}

int64_t Micros(const google::protobuf::Timestamp& time) { return TimeUtil::TimestampToMicroseconds(time); }

// "<micros>/<text>" as a position; an empty position is before everything.
std::pair<int64_t, std::string> SplitPosition(const std::string& position) {
  const size_t slash = position.find('/');
  int64_t micros = 0;
  if (slash == std::string::npos || !absl::SimpleAtoi(position.substr(0, slash), &micros)) return {0, ""};
  return {micros, position.substr(slash + 1)};
}

bool Published(const marketpb::AppVersion& version) {
  return version.state() == marketpb::VERSION_STATE_PUBLISHED || version.state() == marketpb::VERSION_STATE_DEPRECATED;
}

}  // namespace

absl::Status FakeMarketplaceStore::Enter(absl::string_view operation, const TenantScope& scope) {
  return testing::EnterHook(hook, absl::StrCat("MarketplaceStore.", operation), scope.tenant_id, scope.park_wide);
}

google::protobuf::Timestamp FakeMarketplaceStore::Now() {
  now_micros_ += 1000;
  return TimeUtil::MicrosecondsToTimestamp(now_micros_);
}

bool FakeMarketplaceStore::AppVisible(const TenantScope& scope, const std::string& provider_id,
                                      const AppRows& rows) const {
  return Owns(scope, provider_id) || (rows.stored.app.listed() && !rows.stored.app.latest_version().empty());
}

bool FakeMarketplaceStore::VersionVisible(const TenantScope& scope, const std::string& provider_id,
                                          const AppRows& rows, const marketpb::AppVersion& version) const {
  return Owns(scope, provider_id) || (AppVisible(scope, provider_id, rows) && Published(version));
}

const FakeMarketplaceStore::AppRows* FakeMarketplaceStore::FindApp(const std::string& provider_id,
                                                                   const std::string& app_id) const {
  auto tenant = tenants.find(provider_id);
  if (tenant == tenants.end()) return nullptr;
  auto app = tenant->second.apps.find(app_id);
  return app == tenant->second.apps.end() ? nullptr : &app->second;
}

bool FakeMarketplaceStore::InCatalogue(const std::string& provider_id, const std::string& app_id) const {
  const AppRows* rows = FindApp(provider_id, app_id);
  return rows != nullptr && rows->stored.app.listed() && !rows->stored.app.latest_version().empty();
}

absl::StatusOr<FakeMarketplaceStore::AppRows*> FakeMarketplaceStore::WritableApp(const TenantScope& scope,
                                                                                const std::string& provider_id,
                                                                                const std::string& app_id) {
  const AppRows* rows = FindApp(provider_id, app_id);
  if (rows == nullptr || !Owns(scope, provider_id)) return AppNotFound(provider_id, app_id);
  return const_cast<AppRows*>(rows);
}

void FakeMarketplaceStore::RefreshLatestVersion(AppRows& rows) {
  std::string latest;
  marketpb::Pricing pricing;
  std::optional<marketplace::SemVer> newest;
  for (const auto& [id, version] : rows.versions) {
    if (version.state() != marketpb::VERSION_STATE_PUBLISHED) continue;
    absl::StatusOr<marketplace::SemVer> semver = marketplace::ParseSemVer("", id);
    if (!semver.ok()) continue;
    if (!newest.has_value() || marketplace::CompareSemVer(*semver, *newest) > 0) {
      newest = *semver;
      latest = id;
      pricing = version.pricing();
    }
  }
  rows.stored.app.set_latest_version(latest);
  *rows.stored.app.mutable_pricing() = pricing;
}

std::string FakeMarketplaceStore::Digest(const std::string& tenant_id) const {
  auto found = tenants.find(tenant_id);
  if (found == tenants.end()) return "";
  const TenantRows& rows = found->second;
  std::string digest = absl::StrCat(rows.provider, "/", rows.max_installed_apps, "/", rows.audit_entries, "\n");
  for (const auto& [id, app] : rows.apps) {
    absl::StrAppend(&digest, id, app.stored.delisted_by_park, StableBytes(app.stored.app), "\n");
    for (const auto& [version_id, version] : app.versions) absl::StrAppend(&digest, StableBytes(version), "\n");
  }
  for (const auto& [id, stored] : rows.installations) {
    absl::StrAppend(&digest, id, stored.provider_id, stored.app_id, StableBytes(stored.installation), "\n");
  }
  for (const auto& [key, rating] : rows.ratings) absl::StrAppend(&digest, key, StableBytes(rating), "\n");
  for (const InstallationDay& day : rows.days) {
    absl::StrAppend(&digest, day.installation_id, day.usage.day, day.usage.price_fen, day.usage.granted_devices, "\n");
  }
  for (const std::string& key : rows.credentials) absl::StrAppend(&digest, key, "\n");
  return digest;
}

absl::StatusOr<bool> FakeMarketplaceStore::IsProvider(const TenantScope& scope, const std::string& tenant_id) {
  if (absl::Status entered = Enter("IsProvider", scope); !entered.ok()) return entered;
  auto found = tenants.find(tenant_id);
  return found != tenants.end() && Owns(scope, tenant_id) && found->second.provider;
}

absl::StatusOr<StoredApp> FakeMarketplaceStore::CreateApp(const TenantScope& scope, const StoredApp& app,
                                                          const AuditEntry& audit) {
  if (absl::Status entered = Enter("CreateApp", scope); !entered.ok()) return entered;
  auto tenant = tenants.find(app.app.provider());
  if (tenant == tenants.end() || !Owns(scope, app.app.provider()) || !tenant->second.provider) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tenants/", Utf8Prefix(app.app.provider(), 64), ": only a tenant with the provider capability may publish apps"));
  }
  if (tenant->second.apps.count(app.app.app_id()) > 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("app_id: ", AppName(app.app.provider(), app.app.app_id()), " already exists"));
  }
  AppRows& rows = tenant->second.apps[app.app.app_id()];
  rows.stored = app;
  rows.stored.delisted_by_park = false;
  rows.stored.app.set_listed(true);
  rows.stored.app.clear_delist_reason();
  rows.stored.app.clear_latest_version();
  rows.stored.app.clear_pricing();
  *rows.stored.app.mutable_create_time() = Now();
  *rows.stored.app.mutable_update_time() = rows.stored.app.create_time();
  ++tenant->second.audit_entries;
  return rows.stored;
}

absl::StatusOr<StoredApp> FakeMarketplaceStore::GetApp(const TenantScope& scope, const std::string& provider_id,
                                                       const std::string& app_id) {
  if (absl::Status entered = Enter("GetApp", scope); !entered.ok()) return entered;
  const AppRows* rows = FindApp(provider_id, app_id);
  if (rows == nullptr || !AppVisible(scope, provider_id, *rows)) return AppNotFound(provider_id, app_id);
  return rows->stored;
}

absl::StatusOr<std::vector<StoredApp>> FakeMarketplaceStore::ListApps(const TenantScope& scope,
                                                                      const std::string& provider_id,
                                                                      const std::string& after_app_id, int limit) {
  if (absl::Status entered = Enter("ListApps", scope); !entered.ok()) return entered;
  std::vector<StoredApp> apps;
  auto tenant = tenants.find(provider_id);
  if (tenant == tenants.end()) return apps;
  for (auto it = tenant->second.apps.upper_bound(after_app_id);
       it != tenant->second.apps.end() && static_cast<int>(apps.size()) < limit; ++it) {
    if (AppVisible(scope, provider_id, it->second)) apps.push_back(it->second.stored);
  }
  return apps;
}

absl::StatusOr<StoredApp> FakeMarketplaceStore::UpdateApp(const TenantScope& scope, const std::string& provider_id,
                                                          const std::string& app_id, const AppMutation& mutate,
                                                          const AuditEntry& audit) {
  if (absl::Status entered = Enter("UpdateApp", scope); !entered.ok()) return entered;
  absl::StatusOr<AppRows*> rows = WritableApp(scope, provider_id, app_id);
  if (!rows.ok()) return rows.status();
  StoredApp changed = (*rows)->stored;
  if (absl::Status status = mutate(changed); !status.ok()) return status;
  (*rows)->stored = changed;
  *(*rows)->stored.app.mutable_update_time() = Now();
  ++tenants[provider_id].audit_entries;
  return (*rows)->stored;
}

absl::StatusOr<marketpb::AppVersion> FakeMarketplaceStore::CreateVersion(const TenantScope& scope,
                                                                         const std::string& provider_id,
                                                                         const std::string& app_id,
                                                                         const marketpb::AppVersion& version,
                                                                         const marketplace::SemVer& semver,
                                                                         const AuditEntry& audit) {
  if (absl::Status entered = Enter("CreateVersion", scope); !entered.ok()) return entered;
  absl::StatusOr<AppRows*> rows = WritableApp(scope, provider_id, app_id);
  if (!rows.ok()) return rows.status();
  if ((*rows)->versions.count(version.version()) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("version_id: ", AppName(provider_id, app_id), "/versions/",
                                                 Utf8Prefix(version.version(), 64), " already exists"));
  }
  marketpb::AppVersion& stored = (*rows)->versions[version.version()];
  stored = version;
  stored.set_name(absl::StrCat(AppName(provider_id, app_id), "/versions/", version.version()));
  stored.set_state(marketpb::VERSION_STATE_DRAFT);
  stored.clear_review_reason();
  stored.clear_publish_time();
  *stored.mutable_create_time() = Now();
  *stored.mutable_update_time() = stored.create_time();
  ++tenants[provider_id].audit_entries;
  return stored;
}

absl::StatusOr<marketpb::AppVersion> FakeMarketplaceStore::GetVersion(const TenantScope& scope,
                                                                      const std::string& provider_id,
                                                                      const std::string& app_id,
                                                                      const std::string& version) {
  if (absl::Status entered = Enter("GetVersion", scope); !entered.ok()) return entered;
  const AppRows* rows = FindApp(provider_id, app_id);
  if (rows != nullptr) {
    auto found = rows->versions.find(version);
    if (found != rows->versions.end() && VersionVisible(scope, provider_id, *rows, found->second)) {
      return found->second;
    }
  }
  return VersionNotFound(provider_id, app_id, version);
}

absl::StatusOr<std::vector<marketpb::AppVersion>> FakeMarketplaceStore::ListVersions(const TenantScope& scope,
                                                                                     const std::string& provider_id,
                                                                                     const std::string& app_id,
                                                                                     const std::vector<int>& states) {
  if (absl::Status entered = Enter("ListVersions", scope); !entered.ok()) return entered;
  std::vector<std::pair<marketplace::SemVer, marketpb::AppVersion>> versions;
  const AppRows* rows = FindApp(provider_id, app_id);
  if (rows != nullptr) {
    for (const auto& [id, version] : rows->versions) {
      if (!VersionVisible(scope, provider_id, *rows, version)) continue;
      if (!states.empty() && std::find(states.begin(), states.end(), version.state()) == states.end()) continue;
      absl::StatusOr<marketplace::SemVer> semver = marketplace::ParseSemVer("", id);
      versions.emplace_back(semver.ok() ? *semver : marketplace::SemVer{}, version);
    }
  }
  std::stable_sort(versions.begin(), versions.end(), [](const auto& a, const auto& b) {
    return marketplace::CompareSemVer(a.first, b.first) > 0;
  });
  std::vector<marketpb::AppVersion> sorted;
  for (auto& [semver, version] : versions) sorted.push_back(std::move(version));
  return sorted;
}

absl::StatusOr<marketpb::AppVersion> FakeMarketplaceStore::UpdateVersion(const TenantScope& scope,
                                                                         const std::string& provider_id,
                                                                         const std::string& app_id,
                                                                         const std::string& version,
                                                                         const VersionMutation& mutate,
                                                                         const AuditEntry& audit) {
  if (absl::Status entered = Enter("UpdateVersion", scope); !entered.ok()) return entered;
  absl::StatusOr<AppRows*> rows = WritableApp(scope, provider_id, app_id);
  if (!rows.ok()) return rows.status();
  auto found = (*rows)->versions.find(version);
  if (found == (*rows)->versions.end()) return VersionNotFound(provider_id, app_id, version);
  marketpb::AppVersion changed = found->second;
  const marketpb::VersionState before = changed.state();
  if (absl::Status status = mutate(changed); !status.ok()) return status;
  *changed.mutable_update_time() = Now();
  if (before != changed.state() && changed.state() == marketpb::VERSION_STATE_SUBMITTED) {
    (*rows)->submit_micros[version] = Micros(changed.update_time());
  }
  if (before != changed.state() && changed.state() == marketpb::VERSION_STATE_PUBLISHED) {
    *changed.mutable_publish_time() = changed.update_time();
  }
  found->second = changed;
  RefreshLatestVersion(**rows);
  ++tenants[provider_id].audit_entries;
  return changed;
}

absl::StatusOr<std::vector<std::pair<marketpb::AppVersion, std::string>>> FakeMarketplaceStore::ListReviewQueue(
    const TenantScope& scope, const std::string& after, int limit) {
  if (absl::Status entered = Enter("ListReviewQueue", scope); !entered.ok()) return entered;
  std::vector<std::pair<std::pair<int64_t, std::string>, marketpb::AppVersion>> queue;
  for (const auto& [tenant_id, rows] : tenants) {
    for (const auto& [app_id, app] : rows.apps) {
      for (const auto& [id, version] : app.versions) {
        if (version.state() != marketpb::VERSION_STATE_SUBMITTED || !VersionVisible(scope, tenant_id, app, version)) {
          continue;
        }
        auto submitted = app.submit_micros.find(id);
        queue.push_back({{submitted == app.submit_micros.end() ? 0 : submitted->second, version.name()}, version});
      }
    }
  }
  std::sort(queue.begin(), queue.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::pair<int64_t, std::string> position = SplitPosition(after);
  std::vector<std::pair<marketpb::AppVersion, std::string>> page;
  for (const auto& [key, version] : queue) {
    if (!after.empty() && !(position < key)) continue;
    if (static_cast<int>(page.size()) >= limit) break;
    page.emplace_back(version, absl::StrCat(key.first, "/", key.second));
  }
  return page;
}

absl::StatusOr<std::vector<SearchHit>> FakeMarketplaceStore::Search(const TenantScope& scope,
                                                                    const marketplace::CatalogueQuery& query) {
  if (absl::Status entered = Enter("Search", scope); !entered.ok()) return entered;
  std::vector<SearchHit> hits;
  for (const auto& [tenant_id, rows] : tenants) {
    if (!query.provider_id.empty() && query.provider_id != tenant_id) continue;
    for (const auto& [app_id, app] : rows.apps) {
      const marketpb::App& listed = app.stored.app;
      if (!listed.listed() || listed.latest_version().empty()) continue;  // the catalogue only, for everyone
      if (!query.categories.empty() && std::find(query.categories.begin(), query.categories.end(),
                                                 static_cast<int>(listed.category())) == query.categories.end()) {
        continue;
      }
      if (!query.pricing_models.empty() &&
          std::find(query.pricing_models.begin(), query.pricing_models.end(),
                    static_cast<int>(listed.pricing().model())) == query.pricing_models.end()) {
        continue;
      }
      const std::string text =
          absl::AsciiStrToLower(absl::StrCat(listed.display_name(), " ", listed.summary(), " ", listed.description()));
      bool matches = true;
      for (const std::string& word : query.words.words) matches = matches && absl::StrContains(text, word);
      if (!matches) continue;
      if (query.after.has_value() &&
          std::tie(tenant_id, app_id) <= std::tie(query.after->provider_id, query.after->app_id)) {
        continue;
      }
      if (static_cast<int>(hits.size()) >= query.limit) return hits;
      hits.push_back(SearchHit{app.stored, marketplace::SearchCursor{0, 0, tenant_id, app_id}});
    }
  }
  return hits;
}

void FakeMarketplaceStore::RecordUsageDay(TenantRows& rows, const StoredInstallation& stored,
                                          const std::string& today) {
  if (stored.installation.state() != marketpb::INSTALLATION_STATE_ACTIVE) return;
  marketplace::UsageDay usage{today, stored.installation.pricing().model(), stored.installation.pricing().price_fen(),
                              stored.installation.granted_devices()};
  for (InstallationDay& day : rows.days) {
    if (day.installation_id == stored.installation_id && day.usage.day == today) {
      day.usage = usage;
      return;
    }
  }
  rows.days.push_back(InstallationDay{stored.tenant_id, stored.installation_id, usage});
}

absl::StatusOr<std::pair<StoredInstallation, std::string>> FakeMarketplaceStore::Install(
    const TenantScope& scope, const StoredInstallation& installation, const access::v1::AppGrant& grant,
    const std::string& today, const AuditEntry& audit, const ReplayTicket* /*replay*/) {
  // The manager over this store has no replays (request ids are refused before a store sees them).
  if (absl::Status entered = Enter("Install", scope); !entered.ok()) return entered;
  auto tenant = tenants.find(installation.tenant_id);
  if (tenant == tenants.end() || !Owns(scope, installation.tenant_id)) {
    return absl::NotFoundError(absl::StrCat("tenants/", Utf8Prefix(installation.tenant_id, 64), ": not found"));
  }
  TenantRows& rows = tenant->second;
  int64_t active = 0;
  for (const auto& [id, stored] : rows.installations) {
    if (stored.installation.state() != marketpb::INSTALLATION_STATE_ACTIVE) continue;
    ++active;
    if (stored.provider_id == installation.provider_id && stored.app_id == installation.app_id) {
      return absl::AlreadyExistsError(absl::StrCat("app: tenants/", installation.tenant_id, " already has ",
                                                   Utf8Prefix(installation.installation.app(), 200),
                                                   " installed; upgrade that installation or uninstall it first"));
    }
  }
  if (active >= rows.max_installed_apps) {
    return QuotaError(absl::StrCat("tenants/", installation.tenant_id), "max_installed_apps",
                      absl::StrCat("the tenant may have ", rows.max_installed_apps,
                                   " apps installed at once (max_installed_apps) and has ", active),
                      absl::ZeroDuration());
  }
  if (rows.installations.count(installation.installation_id) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("tenants/", installation.tenant_id, "/installations/",
                                                 installation.installation_id, " already exists"));
  }
  StoredInstallation& stored = rows.installations[installation.installation_id];
  stored = installation;
  const std::string key_id = absl::StrCat("appkey", next_key_++);
  rows.credentials.push_back(key_id);
  stored.installation.set_credential_key_id(key_id);
  stored.installation.set_state(marketpb::INSTALLATION_STATE_ACTIVE);
  *stored.installation.mutable_create_time() = Now();
  *stored.installation.mutable_update_time() = stored.installation.create_time();
  RecordUsageDay(rows, stored, today);
  ++rows.audit_entries;
  (void)grant;
  return std::make_pair(stored, absl::StrCat("pbapp_", key_id, "_secret"));
}

absl::StatusOr<StoredInstallation> FakeMarketplaceStore::GetInstallation(const TenantScope& scope,
                                                                         const std::string& tenant_id,
                                                                         const std::string& installation_id) {
  if (absl::Status entered = Enter("GetInstallation", scope); !entered.ok()) return entered;
  auto tenant = tenants.find(tenant_id);
  if (tenant == tenants.end() || !Owns(scope, tenant_id)) return InstallationNotFound(tenant_id, installation_id);
  auto found = tenant->second.installations.find(installation_id);
  if (found == tenant->second.installations.end()) return InstallationNotFound(tenant_id, installation_id);
  return found->second;
}

absl::StatusOr<std::vector<StoredInstallation>> FakeMarketplaceStore::ListInstallations(
    const TenantScope& scope, const std::string& tenant_id, const std::string& after, bool include_uninstalled,
    int limit) {
  if (absl::Status entered = Enter("ListInstallations", scope); !entered.ok()) return entered;
  std::vector<StoredInstallation> rows;
  auto tenant = tenants.find(tenant_id);
  if (tenant == tenants.end() || !Owns(scope, tenant_id)) return rows;
  for (const auto& [id, stored] : tenant->second.installations) {
    if (include_uninstalled || stored.installation.state() == marketpb::INSTALLATION_STATE_ACTIVE) {
      rows.push_back(stored);
    }
  }
  const auto key = [](const StoredInstallation& stored) {
    return std::make_pair(Micros(stored.installation.create_time()), stored.installation_id);
  };
  std::sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) { return key(a) > key(b); });
  const std::pair<int64_t, std::string> position = SplitPosition(after);
  std::vector<StoredInstallation> page;
  for (const StoredInstallation& stored : rows) {
    if (position.first != 0 && !(key(stored) < position)) continue;
    if (static_cast<int>(page.size()) >= limit) break;
    page.push_back(stored);
  }
  return page;
}

absl::StatusOr<StoredInstallation> FakeMarketplaceStore::UpdateInstallation(const TenantScope& scope,
                                                                            const std::string& tenant_id,
                                                                            const std::string& installation_id,
                                                                            const InstallationMutation& mutate,
                                                                            const std::string& today,
                                                                            const AuditEntry& audit) {
  if (absl::Status entered = Enter("UpdateInstallation", scope); !entered.ok()) return entered;
  auto tenant = tenants.find(tenant_id);
  if (tenant == tenants.end() || !Owns(scope, tenant_id)) return InstallationNotFound(tenant_id, installation_id);
  TenantRows& rows = tenant->second;
  auto found = rows.installations.find(installation_id);
  if (found == rows.installations.end()) return InstallationNotFound(tenant_id, installation_id);
  StoredInstallation changed = found->second;
  absl::StatusOr<marketplace::CredentialChange> change = mutate(changed);
  if (!change.ok()) return change.status();
  RecordUsageDay(rows, found->second, today);
  auto key = std::find(rows.credentials.begin(), rows.credentials.end(), changed.installation.credential_key_id());
  if (change->revoke) {
    if (key != rows.credentials.end()) *key = absl::StrCat("revoked:", *key);
  } else if (key == rows.credentials.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        changed.installation.name(), ": its app credential was revoked (RevokeApiKey); uninstall and install again"));
  }
  *changed.installation.mutable_update_time() = Now();
  if (changed.installation.state() != marketpb::INSTALLATION_STATE_ACTIVE &&
      !changed.installation.has_uninstall_time()) {
    *changed.installation.mutable_uninstall_time() = changed.installation.update_time();
  }
  found->second = changed;
  RecordUsageDay(rows, changed, today);
  ++rows.audit_entries;
  return changed;
}

absl::StatusOr<bool> FakeMarketplaceStore::EverInstalled(const TenantScope& scope, const std::string& tenant_id,
                                                         const std::string& provider_id, const std::string& app_id) {
  if (absl::Status entered = Enter("EverInstalled", scope); !entered.ok()) return entered;
  auto tenant = tenants.find(tenant_id);
  if (tenant == tenants.end() || !Owns(scope, tenant_id)) return false;
  for (const auto& [id, stored] : tenant->second.installations) {
    if (stored.provider_id == provider_id && stored.app_id == app_id) return true;
  }
  return false;
}

absl::StatusOr<marketpb::Rating> FakeMarketplaceStore::Rate(const TenantScope& scope, const std::string& tenant_id,
                                                            const std::string& provider_id, const std::string& app_id,
                                                            int stars, const std::string& review,
                                                            const AuditEntry& audit) {
  if (absl::Status entered = Enter("Rate", scope); !entered.ok()) return entered;
  auto tenant = tenants.find(tenant_id);
  if (tenant == tenants.end() || !Owns(scope, tenant_id)) {
    return absl::NotFoundError(absl::StrCat("tenants/", Utf8Prefix(tenant_id, 64), ": not found"));
  }
  marketpb::Rating& rating = tenant->second.ratings[absl::StrCat(provider_id, "/", app_id)];
  const google::protobuf::Timestamp now = Now();
  if (!rating.has_create_time()) *rating.mutable_create_time() = now;
  rating.set_name(absl::StrCat(AppName(provider_id, app_id), "/ratings/", tenant_id));
  rating.set_tenant(tenant_id);
  rating.set_stars(stars);
  rating.set_review(review);
  *rating.mutable_update_time() = now;
  ++tenant->second.audit_entries;
  return rating;
}

absl::StatusOr<std::vector<marketpb::Rating>> FakeMarketplaceStore::ListRatings(const TenantScope& scope,
                                                                                const std::string& provider_id,
                                                                                const std::string& app_id,
                                                                                const std::string& after, int limit) {
  if (absl::Status entered = Enter("ListRatings", scope); !entered.ok()) return entered;
  std::vector<marketpb::Rating> ratings;
  const AppRows* app = FindApp(provider_id, app_id);
  if (app == nullptr) return ratings;
  for (const auto& [tenant_id, rows] : tenants) {
    auto found = rows.ratings.find(absl::StrCat(provider_id, "/", app_id));
    // A rater sees its own rating; everyone the ratings of catalogue apps.
    if (found != rows.ratings.end() && (Owns(scope, tenant_id) || AppVisible(scope, provider_id, *app))) {
      ratings.push_back(found->second);
    }
  }
  const auto key = [](const marketpb::Rating& rating) {
    return std::make_pair(Micros(rating.update_time()), rating.tenant());
  };
  std::sort(ratings.begin(), ratings.end(), [&](const auto& a, const auto& b) { return key(a) > key(b); });
  const std::pair<int64_t, std::string> position = SplitPosition(after);
  std::vector<marketpb::Rating> page;
  for (const marketpb::Rating& rating : ratings) {
    if (position.first != 0 && !(key(rating) < position)) continue;
    if (static_cast<int>(page.size()) >= limit) break;
    page.push_back(rating);
  }
  return page;
}

absl::StatusOr<std::vector<StoredInstallation>> FakeMarketplaceStore::InstallationsOfApp(
    const TenantScope& scope, const std::string& provider_id, const std::string& app_id) {
  if (absl::Status entered = Enter("InstallationsOfApp", scope); !entered.ok()) return entered;
  std::vector<StoredInstallation> installations;
  if (!Owns(scope, provider_id)) return installations;  // the providers' widening: their own apps only
  for (const auto& [tenant_id, rows] : tenants) {
    for (const auto& [id, stored] : rows.installations) {
      if (stored.provider_id != provider_id || stored.app_id != app_id) continue;
      StoredInstallation copy = stored;
      for (const InstallationDay& day : rows.days) {
        if (day.installation_id == id) copy.installation.set_granted_devices(day.usage.granted_devices);
      }
      installations.push_back(std::move(copy));
    }
  }
  return installations;
}

absl::StatusOr<std::vector<InstallationDay>> FakeMarketplaceStore::UsageDays(const TenantScope& scope,
                                                                             const std::string& provider_id,
                                                                             const std::string& app_id,
                                                                             const std::string& first_day,
                                                                             const std::string& last_day) {
  if (absl::Status entered = Enter("UsageDays", scope); !entered.ok()) return entered;
  std::vector<InstallationDay> days;
  if (!Owns(scope, provider_id)) return days;
  for (const auto& [tenant_id, rows] : tenants) {
    for (const InstallationDay& day : rows.days) {
      auto installation = rows.installations.find(day.installation_id);
      if (installation == rows.installations.end() || installation->second.provider_id != provider_id ||
          installation->second.app_id != app_id || day.usage.day < first_day || day.usage.day > last_day) {
        continue;
      }
      days.push_back(day);
    }
  }
  std::sort(days.begin(), days.end(), [](const InstallationDay& a, const InstallationDay& b) {
    return std::tie(a.tenant_id, a.installation_id, a.usage.day) < std::tie(b.tenant_id, b.installation_id, b.usage.day);
  });
  return days;
}

absl::StatusOr<int> FakeMarketplaceStore::MeterActiveInstallations(const std::string& today) {
  if (absl::Status entered = Enter("MeterActiveInstallations", TenantScope::ParkAdmin("")); !entered.ok()) {
    return entered;
  }
  int metered = 0;
  for (auto& [tenant_id, rows] : tenants) {
    for (const auto& [id, stored] : rows.installations) {
      if (stored.installation.state() != marketpb::INSTALLATION_STATE_ACTIVE) continue;
      RecordUsageDay(rows, stored, today);
      ++metered;
    }
  }
  return metered;
}

}  // namespace parkbase::fuzz
