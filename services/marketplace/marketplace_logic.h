// The marketplace's rules: app and version validation, the review workflow, the catalogue's queries, installation
// grants and the app credentials they mint, ratings, and providers' usage and statements. Plain C++ over the
// MarketplaceStore interface; who may call each RPC is the access rule on the RPC (access.proto), checked before
// any of this runs.
#pragma once

#include <atomic>
#include <string>

#include "absl/status/statusor.h"
#include "common/auth.h"
#include "common/auth_cache.h"
#include "common/clock.h"
#include "common/page_token.h"
#include "marketplace/marketplace_store.h"

namespace parkbase::marketplace {

// Whether the database can serve the catalogue's search: a UTF-8 LC_CTYPE (pg_trgm sees Chinese characters as
// word characters only then) and the pg_trgm extension.
class SearchReadiness {
 public:
  virtual ~SearchReadiness() = default;
  // FAILED_PRECONDITION saying what is wrong; UNAVAILABLE when the database cannot be asked.
  virtual absl::Status Check() = 0;
};

class MarketplaceManager {
 public:
  // `auth` (may be null: nothing caches keys) hears of every app credential whose grant changed or that was revoked.
  MarketplaceManager(MarketplaceStore& store, Clock& clock, PageTokens& page_tokens, SearchReadiness& readiness,
                     AuthInvalidator* auth = nullptr, const RequestReplays* replays = nullptr);

  absl::StatusOr<pb::App> CreateApp(const Principal& caller, const pb::CreateAppRequest& request);
  absl::StatusOr<pb::App> GetApp(const Principal& caller, const pb::GetAppRequest& request);
  absl::StatusOr<pb::ListAppsResponse> ListApps(const Principal& caller, const pb::ListAppsRequest& request);
  absl::StatusOr<pb::App> UpdateApp(const Principal& caller, const pb::UpdateAppRequest& request);
  absl::StatusOr<pb::App> DelistApp(const Principal& caller, const pb::DelistAppRequest& request);
  absl::StatusOr<pb::App> RelistApp(const Principal& caller, const pb::RelistAppRequest& request);

  absl::StatusOr<pb::AppVersion> CreateAppVersion(const Principal& caller, const pb::CreateAppVersionRequest& request);
  absl::StatusOr<pb::AppVersion> GetAppVersion(const Principal& caller, const pb::GetAppVersionRequest& request);
  absl::StatusOr<pb::ListAppVersionsResponse> ListAppVersions(const Principal& caller,
                                                              const pb::ListAppVersionsRequest& request);
  absl::StatusOr<pb::AppVersion> UpdateAppVersion(const Principal& caller, const pb::UpdateAppVersionRequest& request);
  absl::StatusOr<pb::AppVersion> SubmitAppVersion(const Principal& caller, const pb::SubmitAppVersionRequest& request);
  absl::StatusOr<pb::AppVersion> ReviewAppVersion(const Principal& caller, const pb::ReviewAppVersionRequest& request);
  absl::StatusOr<pb::AppVersion> PublishAppVersion(const Principal& caller,
                                                   const pb::PublishAppVersionRequest& request);
  absl::StatusOr<pb::AppVersion> DeprecateAppVersion(const Principal& caller,
                                                     const pb::DeprecateAppVersionRequest& request);
  absl::StatusOr<pb::ListReviewQueueResponse> ListReviewQueue(const Principal& caller,
                                                              const pb::ListReviewQueueRequest& request);

  absl::StatusOr<pb::SearchAppsResponse> SearchApps(const Principal& caller, const pb::SearchAppsRequest& request);

  absl::StatusOr<pb::InstallAppResponse> InstallApp(const Principal& caller, const pb::InstallAppRequest& request);
  absl::StatusOr<pb::Installation> GetInstallation(const Principal& caller, const pb::GetInstallationRequest& request);
  absl::StatusOr<pb::ListInstallationsResponse> ListInstallations(const Principal& caller,
                                                                  const pb::ListInstallationsRequest& request);
  absl::StatusOr<pb::Installation> UpgradeInstallation(const Principal& caller,
                                                       const pb::UpgradeInstallationRequest& request);
  absl::StatusOr<pb::Installation> RollbackInstallation(const Principal& caller,
                                                        const pb::RollbackInstallationRequest& request);
  absl::StatusOr<pb::Installation> PinInstallation(const Principal& caller, const pb::PinInstallationRequest& request);
  absl::StatusOr<pb::Installation> UninstallApp(const Principal& caller, const pb::UninstallAppRequest& request);

  absl::StatusOr<pb::Rating> RateApp(const Principal& caller, const pb::RateAppRequest& request);
  absl::StatusOr<pb::ListRatingsResponse> ListRatings(const Principal& caller, const pb::ListRatingsRequest& request);

  absl::StatusOr<pb::AppUsage> GetAppUsage(const Principal& caller, const pb::GetAppUsageRequest& request);
  absl::StatusOr<pb::AppStatement> GetAppStatement(const Principal& caller, const pb::GetAppStatementRequest& request);

  // Records today's usage of every active installation (the metering pass the service runs on a timer).
  absl::StatusOr<int> MeterUsage();

 private:
  struct VersionRef {
    std::string provider;
    std::string app;
    std::string version;
  };
  absl::StatusOr<pb::AppVersion> ChangeVersion(const Principal& caller, const std::string& name,
                                               const std::string& action, const google::protobuf::Message& request,
                                               const MarketplaceStore::VersionMutation& mutate);
  // `from` -> `to`, refused with FAILED_PRECONDITION saying `refusal` in any other state.
  absl::StatusOr<pb::AppVersion> MoveVersion(const Principal& caller, const std::string& name,
                                             const std::string& action, const google::protobuf::Message& request,
                                             pb::VersionState from, pb::VersionState to, absl::string_view refusal);
  absl::StatusOr<pb::Installation> ChangeInstallation(const Principal& caller, const std::string& name,
                                                      const std::string& action,
                                                      const google::protobuf::Message& request,
                                                      const MarketplaceStore::InstallationMutation& mutate);
  // The app as `caller` may see it: its provider and the park admin always, others only in the catalogue.
  absl::StatusOr<StoredApp> VisibleApp(const Principal& caller, const std::string& provider, const std::string& app);

  MarketplaceStore& store_;
  Clock& clock_;
  PageTokens& page_tokens_;
  SearchReadiness& readiness_;
  AuthInvalidator* auth_;
  const RequestReplays* replays_;  // may be null: request ids are then refused
  std::atomic<bool> search_ready_{false};
};

}  // namespace parkbase::marketplace
