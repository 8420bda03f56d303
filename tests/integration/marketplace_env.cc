#include "integration/marketplace_env.h"

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"

namespace parkbase::testing {

std::string AppName(const Provider& provider, const std::string& app_id) {
  return absl::StrCat("tenants/", provider.tenant.tenant_id, "/apps/", app_id);
}

MarketplaceEnv::MarketplaceEnv(TestDatabase& database)
    : server(database),
      market(mpb::MarketplaceService::NewStub(server.channel())),
      devices(dpb::DeviceService::NewStub(server.channel())) {}

Provider MarketplaceEnv::CreateProvider() {
  Provider provider;
  provider.tenant = tenants.CreateTenant("prov");
  tenantpb::UpdateTenantRequest update;
  update.mutable_tenant()->set_name(absl::StrCat("tenants/", provider.tenant.tenant_id));
  update.mutable_tenant()->set_provider(true);
  update.mutable_update_mask()->add_paths("provider");
  tenantpb::Tenant updated;
  grpc::Status status = tenants.stub().UpdateTenant(Context(Park()).get(), update, &updated);
  INFO(status.error_message());
  REQUIRE(status.ok());
  provider.provider_key = tenants.CreateKey(provider.tenant.admin_key, provider.tenant.tenant_id,
                                            tenantpb::ROLE_PROVIDER);
  return provider;
}

mpb::AppVersion MarketplaceEnv::PublishVersion(const Provider& provider, const std::string& app_id,
                                               const AppSpec& spec) {
  mpb::CreateAppVersionRequest create;
  create.set_parent(AppName(provider, app_id));
  create.set_version_id(spec.version);
  mpb::AppVersion* version = create.mutable_version();
  version->set_changelog("first release");
  version->set_image(absl::StrCat("registry.example.com/", app_id, ":", spec.version));
  version->set_chart(absl::StrCat("oci://registry.example.com/charts/", app_id));
  for (const std::string& scope : spec.scopes) version->add_requested_scopes(scope);
  for (const std::string& metric : spec.write_metrics) version->add_write_metrics(metric);
  version->mutable_pricing()->set_model(spec.pricing);
  version->mutable_pricing()->set_price_fen(spec.price_fen);
  mpb::AppVersion created;
  grpc::Status status = market->CreateAppVersion(Context(provider.provider_key).get(), create, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());

  mpb::SubmitAppVersionRequest submit;
  submit.set_name(created.name());
  mpb::AppVersion submitted;
  status = market->SubmitAppVersion(Context(provider.provider_key).get(), submit, &submitted);
  INFO(status.error_message());
  REQUIRE(status.ok());

  mpb::ReviewAppVersionRequest review;
  review.set_name(created.name());
  review.set_decision(mpb::REVIEW_DECISION_APPROVE);
  mpb::AppVersion approved;
  status = market->ReviewAppVersion(Context(Park()).get(), review, &approved);
  INFO(status.error_message());
  REQUIRE(status.ok());

  mpb::PublishAppVersionRequest publish;
  publish.set_name(created.name());
  mpb::AppVersion published;
  status = market->PublishAppVersion(Context(provider.provider_key).get(), publish, &published);
  INFO(status.error_message());
  REQUIRE(status.ok());
  REQUIRE(published.state() == mpb::VERSION_STATE_PUBLISHED);
  return published;
}

mpb::App MarketplaceEnv::PublishApp(const Provider& provider, const AppSpec& spec) {
  mpb::CreateAppRequest create;
  create.set_parent(absl::StrCat("tenants/", provider.tenant.tenant_id));
  create.set_app_id(spec.app_id);
  mpb::App* app = create.mutable_app();
  app->set_display_name(spec.display_name);
  app->set_summary(spec.summary);
  app->set_description(spec.description);
  app->set_category(spec.category);
  for (const std::string& tag : spec.tags) app->add_tags(tag);
  app->set_vendor("Test vendor");
  mpb::App created;
  grpc::Status status = market->CreateApp(Context(provider.provider_key).get(), create, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
  PublishVersion(provider, spec.app_id, spec);
  mpb::GetAppRequest get;
  get.set_name(created.name());
  mpb::App listed;
  status = market->GetApp(Context(provider.provider_key).get(), get, &listed);
  REQUIRE(status.ok());
  return listed;
}

mpb::InstallAppResponse MarketplaceEnv::Install(const TestTenant& tenant, const std::string& app,
                                                std::vector<std::string> scopes,
                                                const std::map<std::string, std::string>& labels) {
  mpb::InstallAppRequest request;
  request.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  request.set_app(app);
  for (const std::string& scope : scopes) request.mutable_grant()->add_scopes(scope);
  for (const auto& [key, value] : labels) {
    (*request.mutable_grant()->mutable_data_scope()->mutable_device_labels())[key] = value;
  }
  mpb::InstallAppResponse response;
  grpc::Status status = market->InstallApp(Context(tenant.admin_key).get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  RecordSecret(response.credential());
  return response;
}

void MarketplaceEnv::SetMaxInstalledApps(const std::string& tenant_id, int value) {
  tenantpb::UpdateTenantRequest update;
  update.mutable_tenant()->set_name(absl::StrCat("tenants/", tenant_id));
  update.mutable_tenant()->mutable_quota()->set_max_installed_apps(value);
  update.mutable_update_mask()->add_paths("quota.max_installed_apps");
  tenantpb::Tenant updated;
  grpc::Status status = tenants.stub().UpdateTenant(Context(Park()).get(), update, &updated);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

void MarketplaceEnv::CreateDevice(const TestTenant& tenant, const std::string& device_id,
                                  const std::map<std::string, std::string>& labels) {
  dpb::CreateDeviceTypeRequest type;
  type.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  type.set_device_type_id("sensor");
  type.mutable_device_type()->set_display_name("Sensor");
  for (const char* name : {"temperature", "anomaly_score"}) {
    dpb::MetricSpec* metric = type.mutable_device_type()->add_metrics();
    metric->set_name(name);
    metric->set_value_type(dpb::VALUE_TYPE_DOUBLE);
  }
  dpb::DeviceType created_type;
  grpc::Status status = devices->CreateDeviceType(Context(tenant.admin_key).get(), type, &created_type);
  REQUIRE((status.ok() || status.error_code() == grpc::StatusCode::ALREADY_EXISTS));

  dpb::CreateDeviceRequest request;
  request.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  request.mutable_device()->set_device_id(device_id);
  request.mutable_device()->set_device_type_id("sensor");
  request.mutable_device()->set_serial_number(absl::StrCat("SN-", device_id));
  for (const auto& [key, value] : labels) (*request.mutable_device()->mutable_labels())[key] = value;
  dpb::Device device;
  status = devices->CreateDevice(Context(tenant.admin_key).get(), request, &device);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

}  // namespace parkbase::testing
