// The marketplace over gRPC against the real PostgreSQL and Redis: the review workflow and who sees what of it,
// installs and their grants and credentials, the install quota and ratings under concurrency, the catalogue's
// search in Chinese and English, usage and statements, and row-level security on every marketplace table in SQL.
#include <atomic>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "integration/marketplace_env.h"
#include "marketplace/marketplace_service.h"
#include "marketplace/marketplace_store.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"

namespace parkbase::testing {
namespace {

grpc::StatusCode GetAppCode(MarketplaceEnv& env, const std::string& key, const std::string& name) {
  mpb::GetAppRequest request;
  request.set_name(name);
  mpb::App app;
  return env.market->GetApp(Context(key).get(), request, &app).error_code();
}

std::vector<std::string> SearchIds(MarketplaceEnv& env, const std::string& key, const std::string& query,
                                   const std::string& provider, mpb::SearchOrder order = mpb::SEARCH_ORDER_UNSPECIFIED) {
  mpb::SearchAppsRequest request;
  request.set_query(query);
  request.set_provider(provider);
  request.set_order(order);
  request.set_page_size(100);
  mpb::SearchAppsResponse response;
  grpc::Status status = env.market->SearchApps(Context(key).get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  std::vector<std::string> ids;
  for (const mpb::App& app : response.apps()) ids.push_back(app.app_id());
  return ids;
}

std::vector<std::string> AuditActions(MarketplaceEnv& env, const TestTenant& tenant) {
  tenantpb::ListAuditEventsRequest request;
  request.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  request.set_page_size(1000);
  tenantpb::ListAuditEventsResponse response;
  REQUIRE(env.tenants.stub().ListAuditEvents(Context(tenant.admin_key).get(), request, &response).ok());
  std::vector<std::string> actions;
  for (auto it = response.audit_events().rbegin(); it != response.audit_events().rend(); ++it) actions.push_back(it->action());
  return actions;
}

TEST_CASE("marketplace: a version goes from draft through review to published and reaches tenants only then",
          "[marketplace][integration]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  TestTenant tenant = env.tenants.CreateTenant("buyer");

  mpb::CreateAppRequest create;
  create.set_parent(absl::StrCat("tenants/", provider.tenant.tenant_id));
  create.set_app_id("vibration-ai");
  create.mutable_app()->set_display_name("振动异常检测 Vibration AI");
  create.mutable_app()->set_summary("Finds bearing faults from vibration");
  create.mutable_app()->set_category(mpb::CATEGORY_AI_MODEL);
  mpb::App app;
  REQUIRE(env.market->CreateApp(Context(provider.provider_key).get(), create, &app).ok());

  // A tenant without the provider capability publishes nothing, whatever its key.
  mpb::CreateAppRequest not_provider = create;
  not_provider.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  mpb::App refused;
  CHECK(env.market->CreateApp(Context(tenant.admin_key).get(), not_provider, &refused).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);

  mpb::CreateAppVersionRequest version;
  version.set_parent(app.name());
  version.set_version_id("1.0.0");
  version.mutable_version()->set_image("registry.example.com/vibration-ai:1.0.0");
  version.mutable_version()->add_requested_scopes("telemetry.read");
  version.mutable_version()->add_requested_scopes("telemetry.write");
  version.mutable_version()->mutable_pricing()->set_model(mpb::PRICING_MODEL_FREE);
  mpb::AppVersion draft;
  // telemetry.write without declared write-back metrics is refused, naming the field.
  grpc::Status status = env.market->CreateAppVersion(Context(provider.provider_key).get(), version, &draft);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "version.write_metrics"));
  version.mutable_version()->add_write_metrics("anomaly_score");
  REQUIRE(env.market->CreateAppVersion(Context(provider.provider_key).get(), version, &draft).ok());
  CHECK(draft.state() == mpb::VERSION_STATE_DRAFT);

  // Drafts are the provider's alone: the tenant finds nothing, the park admin sees everything.
  CHECK(GetAppCode(env, tenant.admin_key, app.name()) == grpc::StatusCode::NOT_FOUND);
  CHECK(GetAppCode(env, env.Park(), app.name()) == grpc::StatusCode::OK);
  CHECK(SearchIds(env, tenant.admin_key, "", provider.tenant.tenant_id).empty());

  // The provider cannot approve its own version, nor publish before approval.
  mpb::ReviewAppVersionRequest self_review;
  self_review.set_name(draft.name());
  self_review.set_decision(mpb::REVIEW_DECISION_APPROVE);
  mpb::AppVersion answer;
  CHECK(env.market->ReviewAppVersion(Context(provider.provider_key).get(), self_review, &answer).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  mpb::PublishAppVersionRequest publish;
  publish.set_name(draft.name());
  CHECK(env.market->PublishAppVersion(Context(provider.provider_key).get(), publish, &answer).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);

  mpb::SubmitAppVersionRequest submit;
  submit.set_name(draft.name());
  REQUIRE(env.market->SubmitAppVersion(Context(provider.provider_key).get(), submit, &answer).ok());
  CHECK(answer.state() == mpb::VERSION_STATE_SUBMITTED);

  // The park admin's queue holds it; a rejection needs a reason, which the provider then reads.
  mpb::ListReviewQueueRequest queue_request;
  queue_request.set_page_size(1000);
  mpb::ListReviewQueueResponse queue;
  REQUIRE(env.market->ListReviewQueue(Context(env.Park()).get(), queue_request, &queue).ok());
  bool queued = false;
  for (const mpb::AppVersion& queued_version : queue.versions()) queued |= queued_version.name() == draft.name();
  CHECK(queued);
  CHECK(env.market->ListReviewQueue(Context(provider.provider_key).get(), queue_request, &queue).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);

  mpb::ReviewAppVersionRequest reject;
  reject.set_name(draft.name());
  reject.set_decision(mpb::REVIEW_DECISION_REJECT);
  status = env.market->ReviewAppVersion(Context(env.Park()).get(), reject, &answer);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "reason"));
  reject.set_reason("描述缺少数据处理说明 / the description must say how data is processed");
  REQUIRE(env.market->ReviewAppVersion(Context(env.Park()).get(), reject, &answer).ok());
  mpb::GetAppVersionRequest get_version;
  get_version.set_name(draft.name());
  REQUIRE(env.market->GetAppVersion(Context(provider.provider_key).get(), get_version, &answer).ok());
  CHECK(answer.state() == mpb::VERSION_STATE_REJECTED);
  CHECK(answer.review_reason() == reject.reason());

  // Fixed and submitted again; approved; published.
  mpb::UpdateAppVersionRequest update;
  update.mutable_version()->set_name(draft.name());
  update.mutable_version()->set_changelog("Data stays in the tenant's namespace.");
  update.mutable_update_mask()->add_paths("changelog");
  REQUIRE(env.market->UpdateAppVersion(Context(provider.provider_key).get(), update, &answer).ok());
  REQUIRE(env.market->SubmitAppVersion(Context(provider.provider_key).get(), submit, &answer).ok());
  mpb::ReviewAppVersionRequest approve;
  approve.set_name(draft.name());
  approve.set_decision(mpb::REVIEW_DECISION_APPROVE);
  REQUIRE(env.market->ReviewAppVersion(Context(env.Park()).get(), approve, &answer).ok());
  CHECK(answer.state() == mpb::VERSION_STATE_APPROVED);
  CHECK(GetAppCode(env, tenant.admin_key, app.name()) == grpc::StatusCode::NOT_FOUND);  // approved is not published
  REQUIRE(env.market->PublishAppVersion(Context(provider.provider_key).get(), publish, &answer).ok());
  CHECK(answer.state() == mpb::VERSION_STATE_PUBLISHED);
  // A published version no longer changes.
  CHECK(env.market->UpdateAppVersion(Context(provider.provider_key).get(), update, &answer).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);

  CHECK(GetAppCode(env, tenant.admin_key, app.name()) == grpc::StatusCode::OK);
  CHECK(SearchIds(env, tenant.admin_key, "", provider.tenant.tenant_id) == std::vector<std::string>{"vibration-ai"});

  // Delisting hides the app from the catalogue; the provider may not relist what the park delisted.
  mpb::DelistAppRequest delist;
  delist.set_name(app.name());
  delist.set_reason("under investigation");
  mpb::App changed;
  REQUIRE(env.market->DelistApp(Context(env.Park()).get(), delist, &changed).ok());
  CHECK(GetAppCode(env, tenant.admin_key, app.name()) == grpc::StatusCode::NOT_FOUND);
  mpb::RelistAppRequest relist;
  relist.set_name(app.name());
  CHECK(env.market->RelistApp(Context(provider.provider_key).get(), relist, &changed).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  REQUIRE(env.market->RelistApp(Context(env.Park()).get(), relist, &changed).ok());
  CHECK(GetAppCode(env, tenant.admin_key, app.name()) == grpc::StatusCode::OK);

  // Deprecated: no longer installable, and with no other published version the app leaves the catalogue.
  mpb::DeprecateAppVersionRequest deprecate;
  deprecate.set_name(draft.name());
  REQUIRE(env.market->DeprecateAppVersion(Context(provider.provider_key).get(), deprecate, &answer).ok());
  CHECK(SearchIds(env, tenant.admin_key, "", provider.tenant.tenant_id).empty());

  // Every transition is in the provider's own audit log, the park's review included.
  const std::vector<std::string> actions = AuditActions(env, provider.tenant);
  const std::vector<std::string> expected = {"CreateApp",        "CreateAppVersion", "SubmitAppVersion",
                                             "ReviewAppVersion", "UpdateAppVersion", "SubmitAppVersion",
                                             "ReviewAppVersion", "PublishAppVersion", "DelistApp",
                                             "RelistApp",        "DeprecateAppVersion"};
  std::vector<std::string> marketplace_actions;
  for (const std::string& action : actions) {
    if (std::find(expected.begin(), expected.end(), action) != expected.end()) marketplace_actions.push_back(action);
  }
  CHECK(marketplace_actions == expected);
}

TEST_CASE("marketplace: a provider cannot see or change another provider's apps or usage",
          "[marketplace][integration][isolation]") {
  MarketplaceEnv env;
  Provider alpha = env.CreateProvider();
  Provider beta = env.CreateProvider();
  AppSpec spec;
  spec.app_id = "alpha-mes";
  env.PublishApp(alpha, spec);

  mpb::CreateAppRequest draft_request;
  draft_request.set_parent(absl::StrCat("tenants/", alpha.tenant.tenant_id));
  draft_request.set_app_id("alpha-draft");
  draft_request.mutable_app()->set_display_name("Draft");
  draft_request.mutable_app()->set_summary("not yet");
  draft_request.mutable_app()->set_category(mpb::CATEGORY_MES);
  mpb::App draft;
  REQUIRE(env.market->CreateApp(Context(alpha.provider_key).get(), draft_request, &draft).ok());

  // Beta sees alpha's published app like any tenant, never the draft, and changes neither.
  CHECK(GetAppCode(env, beta.provider_key, AppName(alpha, "alpha-mes")) == grpc::StatusCode::OK);
  CHECK(GetAppCode(env, beta.provider_key, draft.name()) == grpc::StatusCode::NOT_FOUND);
  mpb::UpdateAppRequest update;
  update.mutable_app()->set_name(AppName(alpha, "alpha-mes"));
  update.mutable_app()->set_summary("hijacked");
  update.mutable_update_mask()->add_paths("summary");
  mpb::App changed;
  CHECK(env.market->UpdateApp(Context(beta.provider_key).get(), update, &changed).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  mpb::CreateAppVersionRequest version;
  version.set_parent(AppName(alpha, "alpha-mes"));
  version.set_version_id("9.9.9");
  mpb::AppVersion created;
  CHECK(env.market->CreateAppVersion(Context(beta.provider_key).get(), version, &created).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  mpb::ListAppsRequest list;
  list.set_parent(absl::StrCat("tenants/", alpha.tenant.tenant_id));
  mpb::ListAppsResponse apps;
  CHECK(env.market->ListApps(Context(beta.provider_key).get(), list, &apps).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  mpb::GetAppUsageRequest usage;
  usage.set_app(AppName(alpha, "alpha-mes"));
  mpb::AppUsage answer;
  CHECK(env.market->GetAppUsage(Context(beta.provider_key).get(), usage, &answer).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  mpb::GetAppStatementRequest statement;
  statement.set_app(AppName(alpha, "alpha-mes"));
  statement.set_month("2026-11");
  mpb::AppStatement bill;
  CHECK(env.market->GetAppStatement(Context(beta.provider_key).get(), statement, &bill).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  // Alpha reads its own.
  CHECK(env.market->GetAppUsage(Context(alpha.provider_key).get(), usage, &answer).ok());
  CHECK(env.market->ListApps(Context(alpha.provider_key).get(), list, &apps).ok());
  CHECK(apps.apps_size() == 2);
}

TEST_CASE("marketplace: an install grants at most what the version requests and its credential dies with it",
          "[marketplace][integration]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  TestTenant tenant = env.tenants.CreateTenant("buyer");
  AppSpec spec;
  spec.app_id = "energy";
  spec.scopes = {"devices.read", "telemetry.read"};
  mpb::App app = env.PublishApp(provider, spec);

  mpb::InstallAppRequest request;
  request.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  request.set_app(app.name());
  request.mutable_grant()->add_scopes("devices.read");
  request.mutable_grant()->add_scopes("telemetry.write");
  mpb::InstallAppResponse response;
  grpc::Status status = env.market->InstallApp(Context(tenant.admin_key).get(), request, &response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "grant.scopes[1]"));
  // Developers do not install.
  request.mutable_grant()->clear_scopes();
  request.mutable_grant()->add_scopes("devices.read");
  CHECK(env.market->InstallApp(Context(tenant.developer_key).get(), request, &response).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);

  env.CreateDevice(tenant, "meter-1", {{"line", "a"}});
  env.CreateDevice(tenant, "meter-2", {{"line", "b"}});
  mpb::InstallAppResponse installed = env.Install(tenant, app.name(), {"devices.read"}, {{"line", "a"}});
  CHECK(absl::StartsWith(installed.credential(), absl::StrCat("pbk.", tenant.tenant_id, ".")));
  CHECK(installed.installation().version() == "1.0.0");
  CHECK(installed.installation().granted_devices() == 1);
  CHECK(installed.installation().state() == mpb::INSTALLATION_STATE_ACTIVE);

  // The credential is an app key: listed by the tenant, refused where its grant does not reach.
  tenantpb::ListApiKeysRequest keys_request;
  keys_request.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  tenantpb::ListApiKeysResponse keys;
  REQUIRE(env.tenants.stub().ListApiKeys(Context(tenant.admin_key).get(), keys_request, &keys).ok());
  bool listed = false;
  for (const tenantpb::ApiKey& key : keys.api_keys()) {
    if (key.key_id() == installed.installation().credential_key_id()) {
      listed = true;
      CHECK(key.role() == tenantpb::ROLE_APP);
      CHECK(key.installation() == installed.installation().name());
    }
  }
  CHECK(listed);
  dpb::ListDevicesRequest list;
  list.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  dpb::ListDevicesResponse devices;
  REQUIRE(env.devices->ListDevices(Context(installed.credential()).get(), list, &devices).ok());
  dpb::CreateDeviceRequest create;
  create.set_parent(list.parent());
  create.mutable_device()->set_device_type_id("sensor");
  create.mutable_device()->set_serial_number("SN-x");
  dpb::Device device;
  CHECK(env.devices->CreateDevice(Context(installed.credential()).get(), create, &device).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  mpb::SearchAppsRequest search;
  mpb::SearchAppsResponse found;
  CHECK(env.market->SearchApps(Context(installed.credential()).get(), search, &found).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);

  // One active installation per app.
  request.mutable_grant()->clear_scopes();
  request.mutable_grant()->add_scopes("devices.read");
  CHECK(env.market->InstallApp(Context(tenant.admin_key).get(), request, &response).error_code() ==
        grpc::StatusCode::ALREADY_EXISTS);

  mpb::UninstallAppRequest uninstall;
  uninstall.set_name(installed.installation().name());
  mpb::Installation gone;
  REQUIRE(env.market->UninstallApp(Context(tenant.admin_key).get(), uninstall, &gone).ok());
  CHECK(gone.state() == mpb::INSTALLATION_STATE_UNINSTALLED);
  CHECK(env.devices->ListDevices(Context(installed.credential()).get(), list, &devices).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  CHECK(env.market->UninstallApp(Context(tenant.admin_key).get(), uninstall, &gone).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);

  // The installation stays readable for the record; a new install after it is allowed.
  mpb::ListInstallationsRequest list_installations;
  list_installations.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  mpb::ListInstallationsResponse installations;
  REQUIRE(env.market->ListInstallations(Context(tenant.developer_key).get(), list_installations, &installations).ok());
  CHECK(installations.installations_size() == 0);
  list_installations.set_show_uninstalled(true);
  REQUIRE(env.market->ListInstallations(Context(tenant.developer_key).get(), list_installations, &installations).ok());
  CHECK(installations.installations_size() == 1);
  env.Install(tenant, app.name(), {"telemetry.read"});
  // Other tenants see none of it.
  TestTenant other = env.tenants.CreateTenant("other");
  mpb::GetInstallationRequest get;
  get.set_name(installed.installation().name());
  mpb::Installation read;
  CHECK(env.market->GetInstallation(Context(other.admin_key).get(), get, &read).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("marketplace: uninstalling ends the credential's open Subscribe stream within a second",
          "[marketplace][integration]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  TestTenant tenant = env.tenants.CreateTenant("buyer");
  AppSpec spec;
  spec.app_id = "live-view";
  spec.scopes = {"telemetry.read"};
  mpb::App app = env.PublishApp(provider, spec);
  mpb::InstallAppResponse installed = env.Install(tenant, app.name(), {"telemetry.read"});

  auto telemetry = ::parkbase::telemetry::v1::TelemetryService::NewStub(env.server.channel());
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", installed.credential()));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  ::parkbase::telemetry::v1::SubscribeRequest subscribe;
  subscribe.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  auto reader = telemetry->Subscribe(&context, subscribe);
  std::atomic<bool> ended{false};
  std::thread drain([&] {
    ::parkbase::telemetry::v1::SubscribeResponse message;
    while (reader->Read(&message)) {
    }
    ended = true;
  });
  // The stream is admitted and open.
  absl::SleepFor(absl::Milliseconds(300));
  REQUIRE_FALSE(ended);

  mpb::UninstallAppRequest uninstall;
  uninstall.set_name(installed.installation().name());
  mpb::Installation gone;
  REQUIRE(env.market->UninstallApp(Context(tenant.admin_key).get(), uninstall, &gone).ok());
  const absl::Time uninstalled = absl::Now();
  drain.join();
  const grpc::Status status = reader->Finish();
  const absl::Duration took = absl::Now() - uninstalled;
  INFO(status.error_message() << " after " << absl::FormatDuration(took));
  CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(took < absl::Seconds(1));
}

TEST_CASE("marketplace: a tenant's usage counts its active installations, not uninstalled ones",
          "[marketplace][tenant][integration]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  TestTenant tenant = env.tenants.CreateTenant("usage");
  TestTenant other = env.tenants.CreateTenant("usageother");
  AppSpec first;
  first.app_id = "meter";
  AppSpec second;
  second.app_id = "oee";
  env.PublishApp(provider, first);
  env.PublishApp(provider, second);
  auto installed_apps = [&](const TestTenant& whose) {
    tenantpb::GetTenantUsageRequest request;
    request.set_name(absl::StrCat("tenants/", whose.tenant_id, "/usage"));
    tenantpb::TenantUsage usage;
    const grpc::Status status = env.tenants.stub().GetTenantUsage(Context(whose.admin_key).get(), request, &usage);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(usage.quota().has_max_installed_apps());
    return usage.installed_apps();
  };
  CHECK(installed_apps(tenant) == 0);
  mpb::InstallAppResponse meter = env.Install(tenant, AppName(provider, "meter"), {"devices.read"});
  env.Install(tenant, AppName(provider, "oee"), {"devices.read"});
  CHECK(installed_apps(tenant) == 2);
  CHECK(installed_apps(other) == 0);

  mpb::UninstallAppRequest uninstall;
  uninstall.set_name(meter.installation().name());
  mpb::Installation gone;
  REQUIRE(env.market->UninstallApp(Context(tenant.admin_key).get(), uninstall, &gone).ok());
  CHECK(installed_apps(tenant) == 1);
}

TEST_CASE("marketplace: max_installed_apps holds under concurrent installs", "[marketplace][integration]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  TestTenant tenant = env.tenants.CreateTenant("buyer");
  env.SetMaxInstalledApps(tenant.tenant_id, 2);
  constexpr int kApps = 6;
  std::vector<std::string> apps;
  for (int i = 0; i < kApps; ++i) {
    AppSpec spec;
    spec.app_id = absl::StrCat("quota-app-", i);
    apps.push_back(env.PublishApp(provider, spec).name());
  }
  std::atomic<int> installed{0};
  std::atomic<int> exhausted{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kApps; ++i) {
    threads.emplace_back([&, i] {
      mpb::InstallAppRequest request;
      request.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
      request.set_app(apps[i]);
      request.mutable_grant()->add_scopes("devices.read");
      mpb::InstallAppResponse response;
      grpc::Status status = env.market->InstallApp(Context(tenant.admin_key).get(), request, &response);
      if (status.ok()) {
        RecordSecret(response.credential());
        ++installed;
      } else if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        ++exhausted;
      } else {
        ++other;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(installed == 2);
  CHECK(exhausted == kApps - 2);
  CHECK(other == 0);
}

TEST_CASE("marketplace: upgrades need a new grant for new scopes, a pin stops them, rollback narrows the grant",
          "[marketplace][integration]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  TestTenant tenant = env.tenants.CreateTenant("buyer");
  AppSpec v1;
  v1.app_id = "predictor";
  v1.scopes = {"devices.read"};
  mpb::App app = env.PublishApp(provider, v1);
  mpb::InstallAppResponse installed = env.Install(tenant, app.name(), {"devices.read"});
  const std::string name = installed.installation().name();

  AppSpec v2 = v1;
  v2.version = "1.1.0";
  v2.scopes = {"devices.read", "telemetry.read", "telemetry.write"};
  v2.write_metrics = {"anomaly_score"};
  v2.pricing = mpb::PRICING_MODEL_PER_DEVICE_MONTHLY;
  v2.price_fen = 500;
  env.PublishVersion(provider, "predictor", v2);

  mpb::GetInstallationRequest get;
  get.set_name(name);
  mpb::Installation current;
  REQUIRE(env.market->GetInstallation(Context(tenant.admin_key).get(), get, &current).ok());
  CHECK(current.upgrade_available() == "1.1.0");

  mpb::UpgradeInstallationRequest upgrade;
  upgrade.set_name(name);
  mpb::Installation answer;
  grpc::Status status = env.market->UpgradeInstallation(Context(tenant.admin_key).get(), upgrade, &answer);
  CHECK(status.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(absl::StrContains(status.error_message(), "telemetry.read"));

  mpb::PinInstallationRequest pin;
  pin.set_name(name);
  pin.set_pinned(true);
  REQUIRE(env.market->PinInstallation(Context(tenant.admin_key).get(), pin, &answer).ok());
  upgrade.mutable_grant()->add_scopes("devices.read");
  upgrade.mutable_grant()->add_scopes("telemetry.read");
  status = env.market->UpgradeInstallation(Context(tenant.admin_key).get(), upgrade, &answer);
  CHECK(status.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(absl::StrContains(status.error_message(), "pinned"));
  pin.set_pinned(false);
  REQUIRE(env.market->PinInstallation(Context(tenant.admin_key).get(), pin, &answer).ok());

  REQUIRE(env.market->UpgradeInstallation(Context(tenant.admin_key).get(), upgrade, &answer).ok());
  CHECK(answer.version() == "1.1.0");
  CHECK(answer.previous_version() == "1.0.0");
  CHECK(answer.grant().scopes_size() == 2);
  CHECK(answer.pricing().model() == mpb::PRICING_MODEL_PER_DEVICE_MONTHLY);
  CHECK(answer.upgrade_available().empty());
  // The same credential now reads telemetry; it never got telemetry.write, which was left out of the grant.
  CHECK(answer.credential_key_id() == installed.installation().credential_key_id());

  mpb::RollbackInstallationRequest rollback;
  rollback.set_name(name);
  REQUIRE(env.market->RollbackInstallation(Context(tenant.admin_key).get(), rollback, &answer).ok());
  CHECK(answer.version() == "1.0.0");
  CHECK(answer.previous_version() == "1.1.0");
  REQUIRE(answer.grant().scopes_size() == 1);
  CHECK(answer.grant().scopes(0) == "devices.read");
  CHECK(answer.pricing().model() == mpb::PRICING_MODEL_FREE);
  // Going back is not an upgrade to an older version.
  upgrade.set_version("1.0.0");
  CHECK(env.market->UpgradeInstallation(Context(tenant.admin_key).get(), upgrade, &answer).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("marketplace: only installers rate and the average and count stay exact under concurrency",
          "[marketplace][integration]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  AppSpec spec;
  spec.app_id = "rated";
  mpb::App app = env.PublishApp(provider, spec);

  TestTenant stranger = env.tenants.CreateTenant("stranger");
  mpb::RateAppRequest rate;
  rate.set_parent(absl::StrCat("tenants/", stranger.tenant_id));
  rate.set_app(app.name());
  rate.set_stars(1);
  mpb::Rating rating;
  CHECK(env.market->RateApp(Context(stranger.admin_key).get(), rate, &rating).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);

  constexpr int kRaters = 8;
  std::vector<TestTenant> raters;
  for (int i = 0; i < kRaters; ++i) {
    raters.push_back(env.tenants.CreateTenant("rater"));
    env.Install(raters.back(), app.name(), {"devices.read"});
  }
  // Every rater rates at once, each twice (the second replaces the first): stars 1..5 then 5.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kRaters; ++i) {
    threads.emplace_back([&, i] {
      for (int stars : {1 + i % 5, 5}) {
        mpb::RateAppRequest request;
        request.set_parent(absl::StrCat("tenants/", raters[i].tenant_id));
        request.set_app(app.name());
        request.set_stars(stars);
        request.set_review("很好用 works well");
        mpb::Rating answer;
        if (!env.market->RateApp(Context(raters[i].developer_key).get(), request, &answer).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == 0);
  mpb::App rated;
  mpb::GetAppRequest get;
  get.set_name(app.name());
  REQUIRE(env.market->GetApp(Context(stranger.admin_key).get(), get, &rated).ok());
  CHECK(rated.rating_count() == kRaters);
  CHECK(rated.rating_milli() == 5000);
  CHECK(rated.install_count() == kRaters);

  // One rater changes its mind: the count stays, the average moves exactly.
  rate.set_parent(absl::StrCat("tenants/", raters[0].tenant_id));
  rate.set_stars(1);
  REQUIRE(env.market->RateApp(Context(raters[0].admin_key).get(), rate, &rating).ok());
  REQUIRE(env.market->GetApp(Context(stranger.admin_key).get(), get, &rated).ok());
  CHECK(rated.rating_count() == kRaters);
  CHECK(rated.rating_milli() == (5 * (kRaters - 1) + 1) * 1000 / kRaters);

  mpb::ListRatingsRequest list;
  list.set_app(app.name());
  list.set_page_size(5);
  mpb::ListRatingsResponse page;
  REQUIRE(env.market->ListRatings(Context(stranger.admin_key).get(), list, &page).ok());
  CHECK(page.ratings_size() == 5);
  CHECK(page.ratings(0).tenant() == raters[0].tenant_id);  // newest first
  list.set_page_token(page.next_page_token());
  REQUIRE(env.market->ListRatings(Context(stranger.admin_key).get(), list, &page).ok());
  CHECK(page.ratings_size() == kRaters - 5);
}

TEST_CASE("marketplace: search finds one- and two-character Chinese words and English words, ranked and paged",
          "[marketplace][integration][search]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  const std::string& p = provider.tenant.tenant_id;
  const auto publish = [&](std::string id, std::string name, std::string summary, std::string description,
                           std::vector<std::string> tags, mpb::Category category, mpb::PricingModel pricing) {
    AppSpec spec;
    spec.app_id = std::move(id);
    spec.display_name = std::move(name);
    spec.summary = std::move(summary);
    spec.description = std::move(description);
    spec.tags = std::move(tags);
    spec.category = category;
    spec.pricing = pricing;
    spec.price_fen = pricing == mpb::PRICING_MODEL_FREE ? 0 : 9900;
    env.PublishApp(provider, spec);
  };
  publish("pump-care", "水泵预测性维护", "基于振动的水泵故障预警", "适用于离心泵与柱塞泵。", {"预测维护", "泵"},
          mpb::CATEGORY_PREDICTIVE_MAINTENANCE, mpb::PRICING_MODEL_PER_DEVICE_MONTHLY);
  publish("energy-board", "能耗管理平台", "Energy dashboard for workshops", "按车间统计电、水、气的能耗。",
          {"能耗", "energy"}, mpb::CATEGORY_ENERGY_MANAGEMENT, mpb::PRICING_MODEL_FLAT_MONTHLY);
  publish("vision-qc", "Vision QC", "AI visual inspection of weld seams", "Detects porosity and cracks; 支持焊缝质检。",
          {"AI", "quality"}, mpb::CATEGORY_QUALITY_INSPECTION, mpb::PRICING_MODEL_FREE);
  publish("maint-log", "Maintenance log", "Work orders for maintenance teams", "Plain maintenance records.",
          {"EAM"}, mpb::CATEGORY_EAM, mpb::PRICING_MODEL_FREE);
  publish("predictive-suite", "Asset health", "Predictive maintenance for motors",
          "Spectral analysis predicts bearing wear before failure.", {"maintenance"},
          mpb::CATEGORY_PREDICTIVE_MAINTENANCE, mpb::PRICING_MODEL_FREE);
  TestTenant tenant = env.tenants.CreateTenant("buyer");
  const std::string& key = tenant.developer_key;

  // One Chinese character, two, four; in a tag, the name or the description.
  CHECK(SearchIds(env, key, "泵", p) == std::vector<std::string>{"pump-care"});
  CHECK(SearchIds(env, key, "能耗", p) == std::vector<std::string>{"energy-board"});
  CHECK(SearchIds(env, key, "焊缝", p) == std::vector<std::string>{"vision-qc"});
  CHECK(SearchIds(env, key, "故障预警", p) == std::vector<std::string>{"pump-care"});
  CHECK(SearchIds(env, key, "车间", p) == std::vector<std::string>{"energy-board"});
  // A two-character word that occurs nowhere finds nothing (no false matches from single characters).
  CHECK(SearchIds(env, key, "泵能", p).empty());
  // English: a short whole word, a word anywhere, two words that must both match, case-insensitive.
  CHECK(SearchIds(env, key, "ai", p) == std::vector<std::string>{"vision-qc"});
  CHECK(SearchIds(env, key, "WELD", p) == std::vector<std::string>{"vision-qc"});
  CHECK(SearchIds(env, key, "bearing motors", p) == std::vector<std::string>{"predictive-suite"});
  // Relevance: the word in the name outranks it in the tags, which outranks the summary and description.
  CHECK(SearchIds(env, key, "maintenance", p) == std::vector<std::string>{"maint-log", "predictive-suite"});
  // Filters.
  mpb::SearchAppsRequest request;
  request.set_provider(p);
  request.add_categories(mpb::CATEGORY_PREDICTIVE_MAINTENANCE);
  mpb::SearchAppsResponse response;
  REQUIRE(env.market->SearchApps(Context(key).get(), request, &response).ok());
  CHECK(response.apps_size() == 2);
  request.clear_categories();
  request.add_pricing_models(mpb::PRICING_MODEL_FLAT_MONTHLY);
  REQUIRE(env.market->SearchApps(Context(key).get(), request, &response).ok());
  REQUIRE(response.apps_size() == 1);
  CHECK(response.apps(0).app_id() == "energy-board");
  CHECK(response.apps(0).pricing().price_fen() == 9900);
  // Cursor paging over the whole provider: every app once, in order.
  request.clear_pricing_models();
  request.set_page_size(2);
  request.set_order(mpb::SEARCH_ORDER_INSTALLS);
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    REQUIRE(env.market->SearchApps(Context(key).get(), request, &response).ok());
    for (const mpb::App& app : response.apps()) seen.push_back(app.app_id());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  CHECK(seen.size() == 5);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 5);
  // A token is bound to its query.
  request.set_query("泵");
  CHECK(env.market->SearchApps(Context(key).get(), request, &response).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  // Bad input names its field.
  mpb::SearchAppsRequest bad;
  bad.add_categories(static_cast<mpb::Category>(99));
  grpc::Status status = env.market->SearchApps(Context(key).get(), bad, &response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "categories[0]"));
}

TEST_CASE("marketplace: statements bill device-days cut at midnight Asia/Shanghai in whole fen",
          "[marketplace][integration][billing]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  TestTenant tenant = env.tenants.CreateTenant("buyer");
  AppSpec spec;
  spec.app_id = "metered";
  spec.pricing = mpb::PRICING_MODEL_PER_DEVICE_MONTHLY;
  spec.price_fen = 3000;  // 30 CNY per device a month
  mpb::App app = env.PublishApp(provider, spec);
  for (const char* device : {"m-1", "m-2", "m-3"}) env.CreateDevice(tenant, device, {{"line", "a"}});
  env.CreateDevice(tenant, "m-4", {{"line", "b"}});

  // 2026-11-30 23:30 in Shanghai is 15:30 UTC: the install lands on November's last day.
  const absl::Time nov30 = absl::FromCivil(absl::CivilSecond(2026, 11, 30, 15, 30, 0), absl::UTCTimeZone());
  env.server.clock().Advance(nov30 - env.server.clock().Now());
  mpb::InstallAppResponse installed = env.Install(tenant, app.name(), {"devices.read"}, {{"line", "a"}});
  CHECK(installed.installation().granted_devices() == 3);

  // An hour later it is December 1 in Shanghai (still November 30 in UTC): a change records the new day.
  env.server.clock().Advance(absl::Hours(1));
  mpb::PinInstallationRequest pin;
  pin.set_name(installed.installation().name());
  pin.set_pinned(true);
  mpb::Installation answer;
  REQUIRE(env.market->PinInstallation(Context(tenant.admin_key).get(), pin, &answer).ok());

  mpb::GetAppStatementRequest request;
  request.set_app(app.name());
  request.set_month("2026-11");
  mpb::AppStatement november;
  REQUIRE(env.market->GetAppStatement(Context(provider.provider_key).get(), request, &november).ok());
  CHECK(november.days_in_month() == 30);
  CHECK(november.currency() == "CNY");
  REQUIRE(november.lines_size() == 1);
  CHECK(november.lines(0).tenant() == tenant.tenant_id);
  CHECK(november.lines(0).active_days() == 1);
  CHECK(november.lines(0).device_days() == 3);
  CHECK(november.lines(0).amount_fen() == 300);  // 3000 fen x 3 devices x 1 day / 30 days
  CHECK(november.total_fen() == 300);

  request.set_month("2026-12");
  mpb::AppStatement december;
  REQUIRE(env.market->GetAppStatement(Context(provider.provider_key).get(), request, &december).ok());
  REQUIRE(december.lines_size() == 1);
  CHECK(december.days_in_month() == 31);
  CHECK(december.lines(0).active_days() == 1);
  CHECK(december.lines(0).amount_fen() == 290);  // 9000 / 31 = 290.3, rounded half up

  // Usage per tenant for the provider.
  mpb::GetAppUsageRequest usage_request;
  usage_request.set_app(app.name());
  mpb::AppUsage usage;
  REQUIRE(env.market->GetAppUsage(Context(provider.provider_key).get(), usage_request, &usage).ok());
  CHECK(usage.installs() == 1);
  CHECK(usage.active_installs() == 1);
  REQUIRE(usage.tenants_size() == 1);
  CHECK(usage.tenants(0).granted_devices() == 3);
  // The installing tenant does not read the provider's statement.
  CHECK(env.market->GetAppStatement(Context(tenant.admin_key).get(), request, &december).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  request.set_month("2026-13");
  grpc::Status status = env.market->GetAppStatement(Context(provider.provider_key).get(), request, &december);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "month"));
}

TEST_CASE("marketplace: the metering pass records the day of every active installation",
          "[marketplace][integration][billing]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  TestTenant tenant = env.tenants.CreateTenant("buyer");
  AppSpec spec;
  spec.app_id = "metered-pass";
  mpb::App app = env.PublishApp(provider, spec);
  env.CreateDevice(tenant, "d-1", {});
  mpb::InstallAppResponse installed = env.Install(tenant, app.name(), {"devices.read"});
  env.CreateDevice(tenant, "d-2", {});

  DbPool pool(DbPool::Options{.url = SharedDatabase().app_url(), .size = 2});
  marketplace::PgMarketplaceStore store(pool);
  absl::StatusOr<int> metered = store.MeterActiveInstallations("2099-01-15");
  REQUIRE(metered.ok());
  CHECK(*metered >= 1);
  absl::StatusOr<std::vector<marketplace::InstallationDay>> days =
      store.UsageDays(TenantScope::Tenant(provider.tenant.tenant_id), provider.tenant.tenant_id, "metered-pass",
                      "2099-01-01", "2099-01-31");
  REQUIRE(days.ok());
  REQUIRE(days->size() == 1);
  CHECK((*days)[0].usage.day == "2099-01-15");
  CHECK((*days)[0].usage.granted_devices == 2);
}

TEST_CASE("marketplace: the server refuses to start on a database whose LC_CTYPE is not UTF-8",
          "[marketplace][integration][database]") {
  // pg_trgm sees Chinese characters as word characters only under a UTF-8 ctype; under C every Chinese search
  // would quietly fall back to scanning, so the service refuses to serve such a database at all.
  TestDatabase c_ctype("LC_CTYPE 'C' TEMPLATE template0");
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "127.0.0.1:0";
  config.database_url = c_ctype.app_url();
  config.redis_url = RedisUrl();
  config.page_token_secret = "test-page-token-secret";
  absl::StatusOr<std::unique_ptr<PlatformServer>> server =
      PlatformServer::Start(config, {marketplace::RegisterMarketplaceService});
  REQUIRE_FALSE(server.ok());
  CHECK(server.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(server.status().message(), "LC_CTYPE is C"));

  // The same database with a UTF-8 ctype but without pg_trgm is refused too; with both the service starts.
  TestDatabase utf8;
  {
    pqxx::connection owner(utf8.owner_url());
    pqxx::work work(owner);
    work.exec("DROP EXTENSION pg_trgm CASCADE");
    work.commit();
  }
  config.database_url = utf8.app_url();
  server = PlatformServer::Start(config, {marketplace::RegisterMarketplaceService});
  REQUIRE_FALSE(server.ok());
  CHECK(absl::StrContains(server.status().message(), "pg_trgm"));
  config.database_url = SharedDatabase().app_url();
  server = PlatformServer::Start(config, {marketplace::RegisterMarketplaceService});
  CHECK(server.ok());
}

TEST_CASE("marketplace: deleting a provider or an installing tenant removes its marketplace rows and keeps counts",
          "[marketplace][integration]") {
  MarketplaceEnv env;
  Provider provider = env.CreateProvider();
  TestTenant leaver = env.tenants.CreateTenant("leaver");
  TestTenant stayer = env.tenants.CreateTenant("stayer");
  AppSpec spec;
  spec.app_id = "deleted-later";
  mpb::App app = env.PublishApp(provider, spec);
  for (const TestTenant* tenant : {&leaver, &stayer}) {
    env.Install(*tenant, app.name(), {"devices.read"});
    mpb::RateAppRequest rate;
    rate.set_parent(absl::StrCat("tenants/", tenant->tenant_id));
    rate.set_app(app.name());
    rate.set_stars(tenant == &leaver ? 1 : 5);
    mpb::Rating rating;
    REQUIRE(env.market->RateApp(Context(tenant->admin_key).get(), rate, &rating).ok());
  }
  const auto remove = [&](const std::string& tenant_id) {
    tenantpb::SuspendTenantRequest suspend;
    suspend.set_name(absl::StrCat("tenants/", tenant_id));
    suspend.set_reason("leaving the park");
    tenantpb::Tenant suspended;
    REQUIRE(env.tenants.stub().SuspendTenant(Context(env.Park()).get(), suspend, &suspended).ok());
    tenantpb::DeleteTenantRequest request;
    request.set_name(absl::StrCat("tenants/", tenant_id));
    tenantpb::DeleteTenantResponse deleted;
    grpc::Status status = env.tenants.stub().DeleteTenant(Context(env.Park()).get(), request, &deleted);
    INFO(status.error_message());
    REQUIRE(status.ok());
  };
  remove(leaver.tenant_id);
  mpb::GetAppRequest get;
  get.set_name(app.name());
  mpb::App after;
  REQUIRE(env.market->GetApp(Context(stayer.admin_key).get(), get, &after).ok());
  CHECK(after.rating_count() == 1);  // the leaver's rating went with it
  CHECK(after.rating_milli() == 5000);

  remove(provider.tenant.tenant_id);
  CHECK(GetAppCode(env, stayer.admin_key, app.name()) == grpc::StatusCode::NOT_FOUND);
  pqxx::connection owner(SharedDatabase().owner_url());
  pqxx::work work(owner);
  for (const char* table : {"apps", "app_versions", "installations", "installation_days", "app_ratings"}) {
    INFO(table);
    CHECK(work.exec_params(absl::StrCat("SELECT count(*) FROM ", table, " WHERE tenant_id IN ($1, $2)"),
                           leaver.tenant_id, provider.tenant.tenant_id)[0][0]
              .as<int64_t>() == 0);
  }
}

// Direct SQL as the serving role: the policies hold without the C++ in front of them.
TEST_CASE("marketplace: row-level security holds on every marketplace table in SQL",
          "[marketplace][integration][database][isolation]") {
  MarketplaceEnv env;
  Provider alpha = env.CreateProvider();
  Provider beta = env.CreateProvider();
  TestTenant tenant = env.tenants.CreateTenant("buyer");
  TestTenant outsider = env.tenants.CreateTenant("outsider");
  AppSpec spec;
  spec.app_id = "rls-app";
  mpb::App app = env.PublishApp(alpha, spec);
  mpb::InstallAppResponse installed = env.Install(tenant, app.name(), {"devices.read"});

  mpb::CreateAppVersionRequest draft;
  draft.set_parent(app.name());
  draft.set_version_id("2.0.0");
  draft.mutable_version()->set_image("registry.example.com/rls:2");
  draft.mutable_version()->add_requested_scopes("devices.read");
  draft.mutable_version()->mutable_pricing()->set_model(mpb::PRICING_MODEL_FREE);
  mpb::AppVersion created;
  REQUIRE(env.market->CreateAppVersion(Context(alpha.provider_key).get(), draft, &created).ok());
  mpb::SubmitAppVersionRequest submit;
  submit.set_name(created.name());
  REQUIRE(env.market->SubmitAppVersion(Context(alpha.provider_key).get(), submit, &created).ok());

  pqxx::connection connection(SharedDatabase().app_url());
  const auto as_tenant = [&](const std::string& tenant_id, auto body) {
    pqxx::work work(connection);
    work.exec_params("SELECT set_config('parkbase.tenant_id', $1, true), set_config('parkbase.scope', '', true)",
                     tenant_id);
    body(work);
  };
  const auto count = [](pqxx::work& work, const std::string& sql, const std::string& a, const std::string& b) {
    return work.exec_params(sql, a, b)[0][0].as<int64_t>();
  };
  const std::string& a = alpha.tenant.tenant_id;
  const std::string& t = tenant.tenant_id;

  // Drafts and submitted versions: the provider's alone.
  as_tenant(beta.tenant.tenant_id, [&](pqxx::work& work) {
    CHECK(count(work, "SELECT count(*) FROM app_versions WHERE tenant_id = $1 AND app_id = $2 AND version = '2.0.0'", a,
                "rls-app") == 0);
    CHECK(count(work, "SELECT count(*) FROM app_versions WHERE tenant_id = $1 AND app_id = $2 AND version = '1.0.0'", a,
                "rls-app") == 1);  // published: the catalogue
  });
  // A provider cannot approve its own version even by writing the row.
  as_tenant(a, [&](pqxx::work& work) {
    CHECK_THROWS_AS(work.exec_params("UPDATE app_versions SET state = 3 WHERE tenant_id = $1 AND version = '2.0.0'", a),
                    pqxx::insufficient_privilege);
  });
  // The catalogue table is readable by all and writable by none but the provider (and the park scope).
  as_tenant(beta.tenant.tenant_id, [&](pqxx::work& work) {
    CHECK(count(work, "SELECT count(*) FROM app_catalogue WHERE tenant_id = $1 AND app_id = $2", a, "rls-app") == 1);
    CHECK(work.exec_params("UPDATE app_catalogue SET install_count = 1000000 WHERE tenant_id = $1", a)
              .affected_rows() == 0);
    CHECK(work.exec_params("DELETE FROM app_catalogue WHERE tenant_id = $1", a).affected_rows() == 0);
  });
  as_tenant(beta.tenant.tenant_id, [&](pqxx::work& work) {
    CHECK_THROWS_AS(work.exec_params("INSERT INTO app_catalogue (tenant_id, app_id, category, pricing_model, "
                                     "install_count, rating_sum, rating_count, name_lower, tags_lower, summary_lower, "
                                     "search_text, search_terms) VALUES ($1, 'rls-app', 1, 1, 0, 0, 0, 'x', '', '', "
                                     "'x', '{}') ON CONFLICT DO NOTHING",
                                     a),
                    pqxx::insufficient_privilege);
  });
  // Another tenant's rows cannot be written, apps cannot be created for another tenant, nor by a non-provider.
  as_tenant(beta.tenant.tenant_id, [&](pqxx::work& work) {
    CHECK(work.exec_params("UPDATE apps SET summary = 'x' WHERE tenant_id = $1", a).affected_rows() == 0);
  });
  as_tenant(t, [&](pqxx::work& work) {
    CHECK_THROWS_AS(work.exec_params("INSERT INTO apps (tenant_id, app_id, display_name, summary, category) "
                                     "VALUES ($1, 'sneaky', 'x', 'y', 1)",
                                     t),
                    pqxx::insufficient_privilege);
  });
  as_tenant(t, [&](pqxx::work& work) {
    CHECK_THROWS_AS(work.exec_params("INSERT INTO apps (tenant_id, app_id, display_name, summary, category) "
                                     "VALUES ($1, 'sneaky', 'x', 'y', 1)",
                                     a),
                    pqxx::insufficient_privilege);
  });
  // Installations and usage days: the installing tenant and the app's provider, nobody else.
  as_tenant(outsider.tenant_id, [&](pqxx::work& work) {
    CHECK(count(work, "SELECT count(*) FROM installations WHERE tenant_id = $1 AND app_id = $2", t, "rls-app") == 0);
    CHECK(count(work, "SELECT count(*) FROM installation_days WHERE tenant_id = $1 AND app_id = $2", t, "rls-app") ==
          0);
    CHECK(work.exec_params("UPDATE installations SET pinned = true WHERE tenant_id = $1", t).affected_rows() == 0);
  });
  as_tenant(a, [&](pqxx::work& work) {
    CHECK(count(work, "SELECT count(*) FROM installations WHERE tenant_id = $1 AND app_id = $2", t, "rls-app") == 1);
    CHECK(count(work, "SELECT count(*) FROM installation_days WHERE tenant_id = $1 AND app_id = $2", t, "rls-app") ==
          1);
    // Reading is not changing: the provider cannot touch the tenant's installation.
    CHECK(work.exec_params("UPDATE installations SET pinned = true WHERE tenant_id = $1", t).affected_rows() == 0);
  });
  // Ratings: only a tenant that installed the app inserts one, and only as itself.
  as_tenant(outsider.tenant_id, [&](pqxx::work& work) {
    CHECK_THROWS_AS(work.exec_params("INSERT INTO app_ratings (tenant_id, provider_id, app_id, stars) "
                                     "VALUES ($1, $2, 'rls-app', 5)",
                                     outsider.tenant_id, a),
                    pqxx::insufficient_privilege);
  });
  as_tenant(outsider.tenant_id, [&](pqxx::work& work) {
    CHECK_THROWS_AS(work.exec_params("INSERT INTO app_ratings (tenant_id, provider_id, app_id, stars) "
                                     "VALUES ($1, $2, 'rls-app', 5)",
                                     t, a),
                    pqxx::insufficient_privilege);
  });
  as_tenant(t, [&](pqxx::work& work) {
    work.exec_params("INSERT INTO app_ratings (tenant_id, provider_id, app_id, stars) VALUES ($1, $2, 'rls-app', 4)",
                     t, a);
    // The counter trigger updated the provider's row from the rater's transaction.
    CHECK(count(work, "SELECT rating_count FROM apps WHERE tenant_id = $1 AND app_id = $2", a, "rls-app") == 1);
    // ... and the catalogue's copy with it (the trigger on apps, in the same transaction).
    CHECK(count(work, "SELECT rating_count FROM app_catalogue WHERE tenant_id = $1 AND app_id = $2", a, "rls-app") ==
          1);
    CHECK(work.exec("SELECT current_setting('parkbase.scope', true)")[0][0].as<std::string>().empty());
  });
  // The app credential's grant cannot be given to a non-app key, and a revoked credential stays revoked.
  as_tenant(t, [&](pqxx::work& work) {
    CHECK_THROWS(work.exec_params("UPDATE api_keys SET app_grant = '{}' WHERE tenant_id = $1 AND role <> 6", t));
  });
}

}  // namespace
}  // namespace parkbase::testing
