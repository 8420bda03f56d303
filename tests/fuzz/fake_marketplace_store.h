// MarketplaceStore in memory, for the marketplace request target: apps, versions, installations, usage days and
// ratings, visible the way the row-level security policies of migrations/0001_marketplace.sql show them (a reader
// sees its own apps and the catalogue: listed apps with a published version, and their PUBLISHED or DEPRECATED
// versions; a park-wide scope sees everything), with the status codes PgMarketplaceStore answers with.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "marketplace/marketplace_store.h"
#include "support/store_hook.h"

namespace parkbase::fuzz {

namespace marketpb = ::parkbase::marketplace::v1;

class FakeMarketplaceStore final : public marketplace::MarketplaceStore {
 public:
  struct AppRows {
    marketplace::StoredApp stored;
    std::map<std::string, marketpb::AppVersion> versions;  // by version id
    std::map<std::string, int64_t> submit_micros;           // by version id, while SUBMITTED
  };
  struct TenantRows {
    bool provider = false;
    int64_t max_installed_apps = 5;
    std::map<std::string, AppRows> apps;  // by app id: the apps the tenant provides
    std::map<std::string, marketplace::StoredInstallation> installations;  // by installation id
    std::map<std::string, marketpb::Rating> ratings;                        // by "<provider>/<app>"
    std::vector<marketplace::InstallationDay> days;
    std::vector<std::string> credentials;  // the app credentials' key ids, revoked ones prefixed "revoked:"
    int64_t audit_entries = 0;
  };

  std::map<std::string, TenantRows> tenants;
  testing::StoreHook* hook = nullptr;

  // Everything of one tenant, serialized.
  std::string Digest(const std::string& tenant_id) const;
  // Whether the app is in the catalogue: listed, with a published version.
  bool InCatalogue(const std::string& provider_id, const std::string& app_id) const;
  // The app row, or nullptr.
  const AppRows* FindApp(const std::string& provider_id, const std::string& app_id) const;
  // Points the app at its newest PUBLISHED version and that version's pricing (as the store does on every change).
  void RefreshLatestVersion(AppRows& rows);

  absl::StatusOr<bool> IsProvider(const TenantScope& scope, const std::string& tenant_id) override;
  absl::StatusOr<marketplace::StoredApp> CreateApp(const TenantScope& scope, const marketplace::StoredApp& app,
                                                   const AuditEntry& audit) override;
  absl::StatusOr<marketplace::StoredApp> GetApp(const TenantScope& scope, const std::string& provider_id,
                                                const std::string& app_id) override;
  absl::StatusOr<std::vector<marketplace::StoredApp>> ListApps(const TenantScope& scope,
                                                               const std::string& provider_id,
                                                               const std::string& after_app_id, int limit) override;
  absl::StatusOr<marketplace::StoredApp> UpdateApp(const TenantScope& scope, const std::string& provider_id,
                                                   const std::string& app_id, const AppMutation& mutate,
                                                   const AuditEntry& audit) override;
  absl::StatusOr<marketpb::AppVersion> CreateVersion(const TenantScope& scope, const std::string& provider_id,
                                                     const std::string& app_id, const marketpb::AppVersion& version,
                                                     const marketplace::SemVer& semver,
                                                     const AuditEntry& audit) override;
  absl::StatusOr<marketpb::AppVersion> GetVersion(const TenantScope& scope, const std::string& provider_id,
                                                  const std::string& app_id, const std::string& version) override;
  absl::StatusOr<std::vector<marketpb::AppVersion>> ListVersions(const TenantScope& scope,
                                                                 const std::string& provider_id,
                                                                 const std::string& app_id,
                                                                 const std::vector<int>& states) override;
  absl::StatusOr<marketpb::AppVersion> UpdateVersion(const TenantScope& scope, const std::string& provider_id,
                                                     const std::string& app_id, const std::string& version,
                                                     const VersionMutation& mutate, const AuditEntry& audit) override;
  absl::StatusOr<std::vector<std::pair<marketpb::AppVersion, std::string>>> ListReviewQueue(
      const TenantScope& scope, const std::string& after, int limit) override;
  absl::StatusOr<std::vector<marketplace::SearchHit>> Search(const TenantScope& scope,
                                                             const marketplace::CatalogueQuery& query) override;
  absl::StatusOr<std::pair<marketplace::StoredInstallation, std::string>> Install(
      const TenantScope& scope, const marketplace::StoredInstallation& installation,
      const access::v1::AppGrant& grant, const std::string& today, const AuditEntry& audit,
      const ReplayTicket* replay) override;
  absl::StatusOr<marketplace::StoredInstallation> GetInstallation(const TenantScope& scope,
                                                                  const std::string& tenant_id,
                                                                  const std::string& installation_id) override;
  absl::StatusOr<std::vector<marketplace::StoredInstallation>> ListInstallations(const TenantScope& scope,
                                                                                 const std::string& tenant_id,
                                                                                 const std::string& after,
                                                                                 bool include_uninstalled,
                                                                                 int limit) override;
  absl::StatusOr<marketplace::StoredInstallation> UpdateInstallation(const TenantScope& scope,
                                                                     const std::string& tenant_id,
                                                                     const std::string& installation_id,
                                                                     const InstallationMutation& mutate,
                                                                     const std::string& today,
                                                                     const AuditEntry& audit) override;
  absl::StatusOr<bool> EverInstalled(const TenantScope& scope, const std::string& tenant_id,
                                     const std::string& provider_id, const std::string& app_id) override;
  absl::StatusOr<marketpb::Rating> Rate(const TenantScope& scope, const std::string& tenant_id,
                                        const std::string& provider_id, const std::string& app_id, int stars,
                                        const std::string& review, const AuditEntry& audit) override;
  absl::StatusOr<std::vector<marketpb::Rating>> ListRatings(const TenantScope& scope, const std::string& provider_id,
                                                            const std::string& app_id, const std::string& after,
                                                            int limit) override;
  absl::StatusOr<std::vector<marketplace::StoredInstallation>> InstallationsOfApp(
      const TenantScope& scope, const std::string& provider_id, const std::string& app_id) override;
  absl::StatusOr<std::vector<marketplace::InstallationDay>> UsageDays(const TenantScope& scope,
                                                                      const std::string& provider_id,
                                                                      const std::string& app_id,
                                                                      const std::string& first_day,
                                                                      const std::string& last_day) override;
  absl::StatusOr<int> MeterActiveInstallations(const std::string& today) override;

 private:
  absl::Status Enter(absl::string_view operation, const TenantScope& scope);
  // What row-level security lets `scope` see.
  bool AppVisible(const TenantScope& scope, const std::string& provider_id, const AppRows& rows) const;
  bool VersionVisible(const TenantScope& scope, const std::string& provider_id, const AppRows& rows,
                      const marketpb::AppVersion& version) const;
  bool Owns(const TenantScope& scope, const std::string& tenant_id) const {
    return scope.park_wide || scope.tenant_id == tenant_id;
  }
  // The app for a write under `scope`: NOT_FOUND when missing or not the scope's own.
  absl::StatusOr<AppRows*> WritableApp(const TenantScope& scope, const std::string& provider_id,
                                       const std::string& app_id);
  void RecordUsageDay(TenantRows& rows, const marketplace::StoredInstallation& stored, const std::string& today);
  google::protobuf::Timestamp Now();

  int64_t now_micros_ = int64_t{1'800'000'000} * 1'000'000;
  int64_t next_key_ = 1;
};

}  // namespace parkbase::fuzz
