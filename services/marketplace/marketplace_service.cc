#include "marketplace/marketplace_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace parkbase::marketplace {

MarketplaceServiceImpl::MarketplaceServiceImpl(CallRunner& calls, RequestParser& parser, MarketplaceManager& manager)
    : OwnParsing(parser, pb::MarketplaceService::service_full_name()), calls_(calls), manager_(manager) {
  ParseUnary("CreateApp", &MarketplaceServiceImpl::CreateApp);
  ParseUnary("GetApp", &MarketplaceServiceImpl::GetApp);
  ParseUnary("ListApps", &MarketplaceServiceImpl::ListApps);
  ParseUnary("UpdateApp", &MarketplaceServiceImpl::UpdateApp);
  ParseUnary("DelistApp", &MarketplaceServiceImpl::DelistApp);
  ParseUnary("RelistApp", &MarketplaceServiceImpl::RelistApp);
  ParseUnary("CreateAppVersion", &MarketplaceServiceImpl::CreateAppVersion);
  ParseUnary("GetAppVersion", &MarketplaceServiceImpl::GetAppVersion);
  ParseUnary("ListAppVersions", &MarketplaceServiceImpl::ListAppVersions);
  ParseUnary("UpdateAppVersion", &MarketplaceServiceImpl::UpdateAppVersion);
  ParseUnary("SubmitAppVersion", &MarketplaceServiceImpl::SubmitAppVersion);
  ParseUnary("ReviewAppVersion", &MarketplaceServiceImpl::ReviewAppVersion);
  ParseUnary("PublishAppVersion", &MarketplaceServiceImpl::PublishAppVersion);
  ParseUnary("DeprecateAppVersion", &MarketplaceServiceImpl::DeprecateAppVersion);
  ParseUnary("ListReviewQueue", &MarketplaceServiceImpl::ListReviewQueue);
  ParseUnary("SearchApps", &MarketplaceServiceImpl::SearchApps);
  ParseUnary("InstallApp", &MarketplaceServiceImpl::InstallApp);
  ParseUnary("GetInstallation", &MarketplaceServiceImpl::GetInstallation);
  ParseUnary("ListInstallations", &MarketplaceServiceImpl::ListInstallations);
  ParseUnary("UpgradeInstallation", &MarketplaceServiceImpl::UpgradeInstallation);
  ParseUnary("RollbackInstallation", &MarketplaceServiceImpl::RollbackInstallation);
  ParseUnary("PinInstallation", &MarketplaceServiceImpl::PinInstallation);
  ParseUnary("UninstallApp", &MarketplaceServiceImpl::UninstallApp);
  ParseUnary("RateApp", &MarketplaceServiceImpl::RateApp);
  ParseUnary("ListRatings", &MarketplaceServiceImpl::ListRatings);
  ParseUnary("GetAppUsage", &MarketplaceServiceImpl::GetAppUsage);
  ParseUnary("GetAppStatement", &MarketplaceServiceImpl::GetAppStatement);
}

grpc::Status MarketplaceServiceImpl::CreateApp(grpc::ServerContext* context, const pb::CreateAppRequest* request,
                                              pb::App* response) {
  return calls_.Serve(context, Method("CreateApp"), manager_, &MarketplaceManager::CreateApp, request, response);
}

grpc::Status MarketplaceServiceImpl::GetApp(grpc::ServerContext* context, const pb::GetAppRequest* request,
                                              pb::App* response) {
  return calls_.Serve(context, Method("GetApp"), manager_, &MarketplaceManager::GetApp, request, response);
}

grpc::Status MarketplaceServiceImpl::ListApps(grpc::ServerContext* context, const pb::ListAppsRequest* request,
                                              pb::ListAppsResponse* response) {
  return calls_.Serve(context, Method("ListApps"), manager_, &MarketplaceManager::ListApps, request, response);
}

grpc::Status MarketplaceServiceImpl::UpdateApp(grpc::ServerContext* context, const pb::UpdateAppRequest* request,
                                              pb::App* response) {
  return calls_.Serve(context, Method("UpdateApp"), manager_, &MarketplaceManager::UpdateApp, request, response);
}

grpc::Status MarketplaceServiceImpl::DelistApp(grpc::ServerContext* context, const pb::DelistAppRequest* request,
                                              pb::App* response) {
  return calls_.Serve(context, Method("DelistApp"), manager_, &MarketplaceManager::DelistApp, request, response);
}

grpc::Status MarketplaceServiceImpl::RelistApp(grpc::ServerContext* context, const pb::RelistAppRequest* request,
                                              pb::App* response) {
  return calls_.Serve(context, Method("RelistApp"), manager_, &MarketplaceManager::RelistApp, request, response);
}

grpc::Status MarketplaceServiceImpl::CreateAppVersion(grpc::ServerContext* context, const pb::CreateAppVersionRequest* request,
                                              pb::AppVersion* response) {
  return calls_.Serve(context, Method("CreateAppVersion"), manager_, &MarketplaceManager::CreateAppVersion, request, response);
}

grpc::Status MarketplaceServiceImpl::GetAppVersion(grpc::ServerContext* context, const pb::GetAppVersionRequest* request,
                                              pb::AppVersion* response) {
  return calls_.Serve(context, Method("GetAppVersion"), manager_, &MarketplaceManager::GetAppVersion, request, response);
}

grpc::Status MarketplaceServiceImpl::ListAppVersions(grpc::ServerContext* context, const pb::ListAppVersionsRequest* request,
                                              pb::ListAppVersionsResponse* response) {
  return calls_.Serve(context, Method("ListAppVersions"), manager_, &MarketplaceManager::ListAppVersions, request, response);
}

grpc::Status MarketplaceServiceImpl::UpdateAppVersion(grpc::ServerContext* context, const pb::UpdateAppVersionRequest* request,
                                              pb::AppVersion* response) {
  return calls_.Serve(context, Method("UpdateAppVersion"), manager_, &MarketplaceManager::UpdateAppVersion, request, response);
}

grpc::Status MarketplaceServiceImpl::SubmitAppVersion(grpc::ServerContext* context, const pb::SubmitAppVersionRequest* request,
                                              pb::AppVersion* response) {
  return calls_.Serve(context, Method("SubmitAppVersion"), manager_, &MarketplaceManager::SubmitAppVersion, request, response);
}

grpc::Status MarketplaceServiceImpl::ReviewAppVersion(grpc::ServerContext* context, const pb::ReviewAppVersionRequest* request,
                                              pb::AppVersion* response) {
  return calls_.Serve(context, Method("ReviewAppVersion"), manager_, &MarketplaceManager::ReviewAppVersion, request, response);
}

grpc::Status MarketplaceServiceImpl::PublishAppVersion(grpc::ServerContext* context, const pb::PublishAppVersionRequest* request,
                                              pb::AppVersion* response) {
  return calls_.Serve(context, Method("PublishAppVersion"), manager_, &MarketplaceManager::PublishAppVersion, request, response);
}

grpc::Status MarketplaceServiceImpl::DeprecateAppVersion(grpc::ServerContext* context, const pb::DeprecateAppVersionRequest* request,
                                              pb::AppVersion* response) {
  return calls_.Serve(context, Method("DeprecateAppVersion"), manager_, &MarketplaceManager::DeprecateAppVersion, request, response);
}

grpc::Status MarketplaceServiceImpl::ListReviewQueue(grpc::ServerContext* context, const pb::ListReviewQueueRequest* request,
                                              pb::ListReviewQueueResponse* response) {
  return calls_.Serve(context, Method("ListReviewQueue"), manager_, &MarketplaceManager::ListReviewQueue, request, response);
}

grpc::Status MarketplaceServiceImpl::SearchApps(grpc::ServerContext* context, const pb::SearchAppsRequest* request,
                                              pb::SearchAppsResponse* response) {
  return calls_.Serve(context, Method("SearchApps"), manager_, &MarketplaceManager::SearchApps, request, response);
}

grpc::Status MarketplaceServiceImpl::InstallApp(grpc::ServerContext* context, const pb::InstallAppRequest* request,
                                              pb::InstallAppResponse* response) {
  return calls_.Serve(context, Method("InstallApp"), manager_, &MarketplaceManager::InstallApp, request, response);
}

grpc::Status MarketplaceServiceImpl::GetInstallation(grpc::ServerContext* context, const pb::GetInstallationRequest* request,
                                              pb::Installation* response) {
  return calls_.Serve(context, Method("GetInstallation"), manager_, &MarketplaceManager::GetInstallation, request, response);
}

grpc::Status MarketplaceServiceImpl::ListInstallations(grpc::ServerContext* context, const pb::ListInstallationsRequest* request,
                                              pb::ListInstallationsResponse* response) {
  return calls_.Serve(context, Method("ListInstallations"), manager_, &MarketplaceManager::ListInstallations, request, response);
}

grpc::Status MarketplaceServiceImpl::UpgradeInstallation(grpc::ServerContext* context, const pb::UpgradeInstallationRequest* request,
                                              pb::Installation* response) {
  return calls_.Serve(context, Method("UpgradeInstallation"), manager_, &MarketplaceManager::UpgradeInstallation, request, response);
}

grpc::Status MarketplaceServiceImpl::RollbackInstallation(grpc::ServerContext* context, const pb::RollbackInstallationRequest* request,
                                              pb::Installation* response) {
  return calls_.Serve(context, Method("RollbackInstallation"), manager_, &MarketplaceManager::RollbackInstallation, request, response);
}

grpc::Status MarketplaceServiceImpl::PinInstallation(grpc::ServerContext* context, const pb::PinInstallationRequest* request,
                                              pb::Installation* response) {
  return calls_.Serve(context, Method("PinInstallation"), manager_, &MarketplaceManager::PinInstallation, request, response);
}

grpc::Status MarketplaceServiceImpl::UninstallApp(grpc::ServerContext* context, const pb::UninstallAppRequest* request,
                                              pb::Installation* response) {
  return calls_.Serve(context, Method("UninstallApp"), manager_, &MarketplaceManager::UninstallApp, request, response);
}

grpc::Status MarketplaceServiceImpl::RateApp(grpc::ServerContext* context, const pb::RateAppRequest* request,
                                              pb::Rating* response) {
  return calls_.Serve(context, Method("RateApp"), manager_, &MarketplaceManager::RateApp, request, response);
}

grpc::Status MarketplaceServiceImpl::ListRatings(grpc::ServerContext* context, const pb::ListRatingsRequest* request,
                                              pb::ListRatingsResponse* response) {
  return calls_.Serve(context, Method("ListRatings"), manager_, &MarketplaceManager::ListRatings, request, response);
}

grpc::Status MarketplaceServiceImpl::GetAppUsage(grpc::ServerContext* context, const pb::GetAppUsageRequest* request,
                                              pb::AppUsage* response) {
  return calls_.Serve(context, Method("GetAppUsage"), manager_, &MarketplaceManager::GetAppUsage, request, response);
}

grpc::Status MarketplaceServiceImpl::GetAppStatement(grpc::ServerContext* context, const pb::GetAppStatementRequest* request,
                                              pb::AppStatement* response) {
  return calls_.Serve(context, Method("GetAppStatement"), manager_, &MarketplaceManager::GetAppStatement, request, response);
}

MeteringRunner::MeteringRunner(MarketplaceManager& manager, absl::Duration interval)
    : manager_(manager), interval_(interval) {
  if (interval_ > absl::ZeroDuration()) thread_ = std::thread([this] { Loop(); });
}

MeteringRunner::~MeteringRunner() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void MeteringRunner::Loop() {
  // The first pass after a minute, so a fresh start serves first.
  absl::Time next = absl::Now() + absl::Minutes(1);
  while (!stop_.WaitForNotificationWithDeadline(next)) {
    absl::StatusOr<int> metered = manager_.MeterUsage();
    if (!metered.ok()) {
      LogLine(LogLevel::kWarning, "marketplace metering failed").Str("error", metered.status().message()).Emit();
    }
    next = absl::Now() + interval_;
  }
}

PgSearchReadiness::PgSearchReadiness(DbPool& db) : db_(db) {}

absl::Status PgSearchReadiness::Check() {
  return db_.Transact(TenantScope::Tenant(""), [&](pqxx::work& work) -> absl::Status {
    pqxx::result rows = work.exec(
        "SELECT datctype, EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') FROM pg_database "
        "WHERE datname = current_database()");
    const std::string ctype = rows[0][0].as<std::string>();
    const std::string lowered = absl::AsciiStrToLower(ctype);
    if (!absl::StrContains(lowered, "utf-8") && !absl::StrContains(lowered, "utf8")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--database_url: the database's LC_CTYPE is ", ctype,
          "; the marketplace's search needs a UTF-8 LC_CTYPE (e.g. C.UTF-8) so that pg_trgm reads Chinese text. "
          "Create the database with LC_CTYPE 'C.UTF-8' TEMPLATE template0 (docs/operations.md)"));
    }
    if (!rows[0][1].as<bool>()) {
      return absl::FailedPreconditionError(
          "--database_url: the pg_trgm extension is missing; run the migrations (parkbase migrate) as the schema "
          "owner");
    }
    return absl::OkStatus();
  });
}

absl::Status RegisterMarketplaceService(ServiceHost& host) {
  auto& store = host.Own(std::make_unique<PgMarketplaceStore>(host.db()));
  auto& readiness = host.Own(std::make_unique<PgSearchReadiness>(host.db()));
  // Refuse to start on a database whose search would silently find no Chinese words; a database that cannot be
  // reached now is checked again by the first search.
  if (absl::Status ready = readiness.Check(); absl::IsFailedPrecondition(ready)) {
    return ready;
  } else if (!ready.ok()) {
    LogLine(LogLevel::kWarning, "marketplace search readiness not checked").Str("error", ready.message()).Emit();
  }
  auto& manager = host.Own(std::make_unique<MarketplaceManager>(store, host.clock(), host.page_tokens(), readiness,
                                                                &host.auth_invalidator(), &host.request_replays()));
  auto& service = host.Own(std::make_unique<MarketplaceServiceImpl>(host.calls(), host.parser(), manager));
  host.Own(std::make_unique<MeteringRunner>(manager, host.config().marketplace_metering_interval));
  host.AddService(&service, pb::MarketplaceService::service_full_name(), {kPostgresDependency});
  return absl::OkStatus();
}

}  // namespace parkbase::marketplace
