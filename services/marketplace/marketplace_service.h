// The gRPC face of the marketplace service: each method authenticates and passes the access gate through
// CallRunner, calls MarketplaceManager and copies the answer out. No rules live here.
#pragma once

#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "common/call.h"
#include "common/raw_requests.h"
#include "common/server.h"
#include "marketplace/marketplace_logic.h"
#include "parkbase/marketplace/v1/marketplace.grpc.pb.h"

namespace parkbase::marketplace {

class MarketplaceServiceImpl final : public OwnParsing<pb::MarketplaceService::Service> {
 public:
  MarketplaceServiceImpl(CallRunner& calls, RequestParser& parser, MarketplaceManager& manager);
  grpc::Status CreateApp(grpc::ServerContext* context, const pb::CreateAppRequest* request, pb::App* response) override;
  grpc::Status GetApp(grpc::ServerContext* context, const pb::GetAppRequest* request, pb::App* response) override;
  grpc::Status ListApps(grpc::ServerContext* context, const pb::ListAppsRequest* request, pb::ListAppsResponse* response) override;
  grpc::Status UpdateApp(grpc::ServerContext* context, const pb::UpdateAppRequest* request, pb::App* response) override;
  grpc::Status DelistApp(grpc::ServerContext* context, const pb::DelistAppRequest* request, pb::App* response) override;
  grpc::Status RelistApp(grpc::ServerContext* context, const pb::RelistAppRequest* request, pb::App* response) override;
  grpc::Status CreateAppVersion(grpc::ServerContext* context, const pb::CreateAppVersionRequest* request, pb::AppVersion* response) override;
  grpc::Status GetAppVersion(grpc::ServerContext* context, const pb::GetAppVersionRequest* request, pb::AppVersion* response) override;
  grpc::Status ListAppVersions(grpc::ServerContext* context, const pb::ListAppVersionsRequest* request, pb::ListAppVersionsResponse* response) override;
  grpc::Status UpdateAppVersion(grpc::ServerContext* context, const pb::UpdateAppVersionRequest* request, pb::AppVersion* response) override;
  grpc::Status SubmitAppVersion(grpc::ServerContext* context, const pb::SubmitAppVersionRequest* request, pb::AppVersion* response) override;
  grpc::Status ReviewAppVersion(grpc::ServerContext* context, const pb::ReviewAppVersionRequest* request, pb::AppVersion* response) override;
  grpc::Status PublishAppVersion(grpc::ServerContext* context, const pb::PublishAppVersionRequest* request, pb::AppVersion* response) override;
  grpc::Status DeprecateAppVersion(grpc::ServerContext* context, const pb::DeprecateAppVersionRequest* request, pb::AppVersion* response) override;
  grpc::Status ListReviewQueue(grpc::ServerContext* context, const pb::ListReviewQueueRequest* request, pb::ListReviewQueueResponse* response) override;
  grpc::Status SearchApps(grpc::ServerContext* context, const pb::SearchAppsRequest* request, pb::SearchAppsResponse* response) override;
  grpc::Status InstallApp(grpc::ServerContext* context, const pb::InstallAppRequest* request, pb::InstallAppResponse* response) override;
  grpc::Status GetInstallation(grpc::ServerContext* context, const pb::GetInstallationRequest* request, pb::Installation* response) override;
  grpc::Status ListInstallations(grpc::ServerContext* context, const pb::ListInstallationsRequest* request, pb::ListInstallationsResponse* response) override;
  grpc::Status UpgradeInstallation(grpc::ServerContext* context, const pb::UpgradeInstallationRequest* request, pb::Installation* response) override;
  grpc::Status RollbackInstallation(grpc::ServerContext* context, const pb::RollbackInstallationRequest* request, pb::Installation* response) override;
  grpc::Status PinInstallation(grpc::ServerContext* context, const pb::PinInstallationRequest* request, pb::Installation* response) override;
  grpc::Status UninstallApp(grpc::ServerContext* context, const pb::UninstallAppRequest* request, pb::Installation* response) override;
  grpc::Status RateApp(grpc::ServerContext* context, const pb::RateAppRequest* request, pb::Rating* response) override;
  grpc::Status ListRatings(grpc::ServerContext* context, const pb::ListRatingsRequest* request, pb::ListRatingsResponse* response) override;
  grpc::Status GetAppUsage(grpc::ServerContext* context, const pb::GetAppUsageRequest* request, pb::AppUsage* response) override;
  grpc::Status GetAppStatement(grpc::ServerContext* context, const pb::GetAppStatementRequest* request, pb::AppStatement* response) override;

 private:
  CallRunner& calls_;
  MarketplaceManager& manager_;
};

// Records every active installation's usage of the day on an interval until destroyed.
class MeteringRunner {
 public:
  MeteringRunner(MarketplaceManager& manager, absl::Duration interval);
  ~MeteringRunner();

 private:
  void Loop();

  MarketplaceManager& manager_;
  const absl::Duration interval_;
  absl::Notification stop_;
  std::thread thread_;
};

// The database's readiness for search, asked of PostgreSQL: a UTF-8 LC_CTYPE and pg_trgm.
class PgSearchReadiness final : public SearchReadiness {
 public:
  explicit PgSearchReadiness(DbPool& db);
  absl::Status Check() override;

 private:
  DbPool& db_;
};

// Adds the marketplace service to a server (its own binary or `parkbase serve`). Needs PostgreSQL; refuses to
// start when the database's LC_CTYPE is not UTF-8 or pg_trgm is missing.
absl::Status RegisterMarketplaceService(ServiceHost& host);

}  // namespace parkbase::marketplace
