// Storage of apps, versions, installations, usage days and ratings. MarketplaceStore is the interface the logic
// depends on; PgMarketplaceStore holds all of the service's SQL and runs every statement under the caller's
// TenantScope, so row-level security applies to each one (the catalogue and the providers' usage are the
// deliberate widenings, declared in migrations/0001_marketplace.sql).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/audit.h"
#include "common/db.h"
#include "common/request_replay.h"
#include "marketplace/catalogue.h"
#include "parkbase/access/v1/access.pb.h"
#include "parkbase/marketplace/v1/marketplace.pb.h"

namespace parkbase::marketplace {

// An app and what only the store and the logic see of it.
struct StoredApp {
  pb::App app;
  // Delisted by the park admin: only the park admin relists it.
  bool delisted_by_park = false;
};

// An installation and the keys the logic needs.
struct StoredInstallation {
  pb::Installation installation;
  std::string tenant_id;
  std::string installation_id;
  std::string provider_id;
  std::string app_id;
};

// What an installation change does to the app credential.
struct CredentialChange {
  bool revoke = false;
  access::v1::AppGrant grant;  // the credential's new grant unless revoked
};

struct SearchCursor {
  int64_t primary = 0;
  int64_t secondary = 0;
  std::string provider_id;
  std::string app_id;
};

struct CatalogueQuery {
  SearchWords words;
  std::vector<int> categories;
  std::vector<int> pricing_models;
  std::string provider_id;  // empty: every provider
  pb::SearchOrder order = pb::SEARCH_ORDER_INSTALLS;
  std::optional<SearchCursor> after;
  int limit = 20;
};

// The catalogue search's one SQL statement and its text parameters: what PgMarketplaceStore::Search runs, and
// what the search benchmark EXPLAINs. Conditions and order run on app_catalogue (its indexes stay usable under
// row-level security, 0002_app_catalogue.sql); only the page's rows are read from apps. Each row is the app's
// columns followed by the two sort keys.
struct CatalogueStatement {
  std::string sql;
  std::vector<std::string> parameters;
};
CatalogueStatement CatalogueSearchStatement(const CatalogueQuery& query);

struct SearchHit {
  StoredApp app;
  SearchCursor position;
};

// One metered day of an installation, with whose installation it is.
struct InstallationDay {
  std::string tenant_id;
  std::string installation_id;
  UsageDay usage;
};

class MarketplaceStore {
 public:
  virtual ~MarketplaceStore() = default;

  // Whether the tenant holds the provider capability.
  virtual absl::StatusOr<bool> IsProvider(const TenantScope& scope, const std::string& tenant_id) = 0;

  // ALREADY_EXISTS when the app id is taken in the provider.
  virtual absl::StatusOr<StoredApp> CreateApp(const TenantScope& scope, const StoredApp& app,
                                              const AuditEntry& audit) = 0;
  // NOT_FOUND when missing or invisible under `scope`.
  virtual absl::StatusOr<StoredApp> GetApp(const TenantScope& scope, const std::string& provider_id,
                                           const std::string& app_id) = 0;
  // A provider's apps in app id order after `after_app_id`.
  virtual absl::StatusOr<std::vector<StoredApp>> ListApps(const TenantScope& scope, const std::string& provider_id,
                                                          const std::string& after_app_id, int limit) = 0;
  using AppMutation = std::function<absl::Status(StoredApp&)>;
  // Locks the app's row, lets `mutate` change it, writes it back (with its search document) and the audit entry.
  virtual absl::StatusOr<StoredApp> UpdateApp(const TenantScope& scope, const std::string& provider_id,
                                              const std::string& app_id, const AppMutation& mutate,
                                              const AuditEntry& audit) = 0;

  // ALREADY_EXISTS when the version exists.
  virtual absl::StatusOr<pb::AppVersion> CreateVersion(const TenantScope& scope, const std::string& provider_id,
                                                       const std::string& app_id, const pb::AppVersion& version,
                                                       const SemVer& semver, const AuditEntry& audit) = 0;
  virtual absl::StatusOr<pb::AppVersion> GetVersion(const TenantScope& scope, const std::string& provider_id,
                                                    const std::string& app_id, const std::string& version) = 0;
  // Newest first by semantic-version precedence; `states` empty: every state visible under `scope`.
  virtual absl::StatusOr<std::vector<pb::AppVersion>> ListVersions(const TenantScope& scope,
                                                                   const std::string& provider_id,
                                                                   const std::string& app_id,
                                                                   const std::vector<int>& states) = 0;
  using VersionMutation = std::function<absl::Status(pb::AppVersion&)>;
  // Locks the version's row, lets `mutate` change it, writes it back with the audit entry (into the provider's
  // log) and refreshes the app's newest published version and pricing.
  virtual absl::StatusOr<pb::AppVersion> UpdateVersion(const TenantScope& scope, const std::string& provider_id,
                                                       const std::string& app_id, const std::string& version,
                                                       const VersionMutation& mutate, const AuditEntry& audit) = 0;
  // SUBMITTED versions of every provider, oldest submission first, after the position "<micros>/<name>".
  virtual absl::StatusOr<std::vector<std::pair<pb::AppVersion, std::string>>> ListReviewQueue(
      const TenantScope& scope, const std::string& after, int limit) = 0;

  // The catalogue: listed apps with a published version matching `query`, in its order.
  virtual absl::StatusOr<std::vector<SearchHit>> Search(const TenantScope& scope, const CatalogueQuery& query) = 0;

  // Inserts the installation, mints its credential with `grant` and records today's usage, in one transaction
  // that holds the tenant's row locked while it counts active installations: RESOURCE_EXHAUSTED at
  // `max_installed_apps`, ALREADY_EXISTS when the tenant has an active installation of the app. Returns the
  // installation and the credential (shown once). With `replay`, that answer is remembered in the same transaction
  // (request_replay.h).
  virtual absl::StatusOr<std::pair<StoredInstallation, std::string>> Install(const TenantScope& scope,
                                                                             const StoredInstallation& installation,
                                                                             const access::v1::AppGrant& grant,
                                                                             const std::string& today,
                                                                             const AuditEntry& audit,
                                                                             const ReplayTicket* replay) = 0;
  virtual absl::StatusOr<StoredInstallation> GetInstallation(const TenantScope& scope, const std::string& tenant_id,
                                                             const std::string& installation_id) = 0;
  // Newest first after the position "<create micros>/<installation id>".
  virtual absl::StatusOr<std::vector<StoredInstallation>> ListInstallations(const TenantScope& scope,
                                                                            const std::string& tenant_id,
                                                                            const std::string& after,
                                                                            bool include_uninstalled,
                                                                            int limit) = 0;
  using InstallationMutation = std::function<absl::StatusOr<CredentialChange>(StoredInstallation&)>;
  // Locks the installation's row, lets `mutate` change it and say what happens to the credential, writes both,
  // records today's usage and the audit entry.
  virtual absl::StatusOr<StoredInstallation> UpdateInstallation(const TenantScope& scope,
                                                                const std::string& tenant_id,
                                                                const std::string& installation_id,
                                                                const InstallationMutation& mutate,
                                                                const std::string& today,
                                                                const AuditEntry& audit) = 0;

  // Whether the tenant ever installed the app.
  virtual absl::StatusOr<bool> EverInstalled(const TenantScope& scope, const std::string& tenant_id,
                                             const std::string& provider_id, const std::string& app_id) = 0;
  // Inserts or replaces the tenant's rating of the app.
  virtual absl::StatusOr<pb::Rating> Rate(const TenantScope& scope, const std::string& tenant_id,
                                          const std::string& provider_id, const std::string& app_id, int stars,
                                          const std::string& review, const AuditEntry& audit) = 0;
  // Newest first after the position "<update micros>/<tenant>".
  virtual absl::StatusOr<std::vector<pb::Rating>> ListRatings(const TenantScope& scope,
                                                              const std::string& provider_id,
                                                              const std::string& app_id, const std::string& after,
                                                              int limit) = 0;

  // Every installation of the app, with the devices its grant covered on its latest metered day.
  virtual absl::StatusOr<std::vector<StoredInstallation>> InstallationsOfApp(const TenantScope& scope,
                                                                             const std::string& provider_id,
                                                                             const std::string& app_id) = 0;
  // The app's metered days from `first_day` to `last_day` (inclusive), by installation and day.
  virtual absl::StatusOr<std::vector<InstallationDay>> UsageDays(const TenantScope& scope,
                                                                 const std::string& provider_id,
                                                                 const std::string& app_id,
                                                                 const std::string& first_day,
                                                                 const std::string& last_day) = 0;

  // Records `today` for every active installation of every tenant (the metering pass). Returns how many.
  virtual absl::StatusOr<int> MeterActiveInstallations(const std::string& today) = 0;
};

class PgMarketplaceStore final : public MarketplaceStore {
 public:
  explicit PgMarketplaceStore(DbPool& db);

  absl::StatusOr<bool> IsProvider(const TenantScope& scope, const std::string& tenant_id) override;
  absl::StatusOr<StoredApp> CreateApp(const TenantScope& scope, const StoredApp& app,
                                      const AuditEntry& audit) override;
  absl::StatusOr<StoredApp> GetApp(const TenantScope& scope, const std::string& provider_id,
                                   const std::string& app_id) override;
  absl::StatusOr<std::vector<StoredApp>> ListApps(const TenantScope& scope, const std::string& provider_id,
                                                  const std::string& after_app_id, int limit) override;
  absl::StatusOr<StoredApp> UpdateApp(const TenantScope& scope, const std::string& provider_id,
                                      const std::string& app_id, const AppMutation& mutate,
                                      const AuditEntry& audit) override;
  absl::StatusOr<pb::AppVersion> CreateVersion(const TenantScope& scope, const std::string& provider_id,
                                               const std::string& app_id, const pb::AppVersion& version,
                                               const SemVer& semver, const AuditEntry& audit) override;
  absl::StatusOr<pb::AppVersion> GetVersion(const TenantScope& scope, const std::string& provider_id,
                                            const std::string& app_id, const std::string& version) override;
  absl::StatusOr<std::vector<pb::AppVersion>> ListVersions(const TenantScope& scope, const std::string& provider_id,
                                                           const std::string& app_id,
                                                           const std::vector<int>& states) override;
  absl::StatusOr<pb::AppVersion> UpdateVersion(const TenantScope& scope, const std::string& provider_id,
                                               const std::string& app_id, const std::string& version,
                                               const VersionMutation& mutate, const AuditEntry& audit) override;
  absl::StatusOr<std::vector<std::pair<pb::AppVersion, std::string>>> ListReviewQueue(const TenantScope& scope,
                                                                                      const std::string& after,
                                                                                      int limit) override;
  absl::StatusOr<std::vector<SearchHit>> Search(const TenantScope& scope, const CatalogueQuery& query) override;
  absl::StatusOr<std::pair<StoredInstallation, std::string>> Install(const TenantScope& scope,
                                                                     const StoredInstallation& installation,
                                                                     const access::v1::AppGrant& grant,
                                                                     const std::string& today,
                                                                     const AuditEntry& audit,
                                                                     const ReplayTicket* replay) override;
  absl::StatusOr<StoredInstallation> GetInstallation(const TenantScope& scope, const std::string& tenant_id,
                                                     const std::string& installation_id) override;
  absl::StatusOr<std::vector<StoredInstallation>> ListInstallations(const TenantScope& scope,
                                                                    const std::string& tenant_id,
                                                                    const std::string& after,
                                                                    bool include_uninstalled, int limit) override;
  absl::StatusOr<StoredInstallation> UpdateInstallation(const TenantScope& scope, const std::string& tenant_id,
                                                        const std::string& installation_id,
                                                        const InstallationMutation& mutate,
                                                        const std::string& today, const AuditEntry& audit) override;
  absl::StatusOr<bool> EverInstalled(const TenantScope& scope, const std::string& tenant_id,
                                     const std::string& provider_id, const std::string& app_id) override;
  absl::StatusOr<pb::Rating> Rate(const TenantScope& scope, const std::string& tenant_id,
                                  const std::string& provider_id, const std::string& app_id, int stars,
                                  const std::string& review, const AuditEntry& audit) override;
  absl::StatusOr<std::vector<pb::Rating>> ListRatings(const TenantScope& scope, const std::string& provider_id,
                                                      const std::string& app_id, const std::string& after,
                                                      int limit) override;
  absl::StatusOr<std::vector<StoredInstallation>> InstallationsOfApp(const TenantScope& scope,
                                                                     const std::string& provider_id,
                                                                     const std::string& app_id) override;
  absl::StatusOr<std::vector<InstallationDay>> UsageDays(const TenantScope& scope, const std::string& provider_id,
                                                         const std::string& app_id, const std::string& first_day,
                                                         const std::string& last_day) override;
  absl::StatusOr<int> MeterActiveInstallations(const std::string& today) override;

 private:
  DbPool& db_;
};

}  // namespace parkbase::marketplace
