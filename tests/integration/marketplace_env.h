// What the marketplace tests share: a server, the tenant, device and marketplace clients, providers and published
// apps made through the public API as providers and the park admin would.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/marketplace/v1/marketplace.grpc.pb.h"
#include "support/tenant_client.h"
#include "support/test_env.h"

namespace parkbase::testing {

namespace mpb = ::parkbase::marketplace::v1;
namespace dpb = ::parkbase::device::v1;

struct Provider {
  TestTenant tenant;
  std::string provider_key;  // ROLE_PROVIDER
};

// What a published app is made of; defaults make a free devices.read app.
struct AppSpec {
  std::string app_id;
  std::string display_name = "Test app";
  std::string summary = "An app for tests";
  std::string description;
  std::vector<std::string> tags;
  mpb::Category category = mpb::CATEGORY_OTHER;
  std::string version = "1.0.0";
  std::vector<std::string> scopes = {"devices.read"};
  std::vector<std::string> write_metrics;
  mpb::PricingModel pricing = mpb::PRICING_MODEL_FREE;
  int64_t price_fen = 0;
};

class MarketplaceEnv {
 public:
  explicit MarketplaceEnv(TestDatabase& database = SharedDatabase());

  TestServer server;
  TenantClient tenants{server};
  std::unique_ptr<mpb::MarketplaceService::Stub> market;
  std::unique_ptr<dpb::DeviceService::Stub> devices;

  // A tenant with the provider capability and a provider key.
  Provider CreateProvider();
  // Creates the app with one version and takes it through submit, approve and publish. REQUIREs success.
  mpb::App PublishApp(const Provider& provider, const AppSpec& spec);
  // Adds a version to an existing app and publishes it.
  mpb::AppVersion PublishVersion(const Provider& provider, const std::string& app_id, const AppSpec& spec);
  // Installs `app` with `scopes` (and labels); REQUIREs success.
  mpb::InstallAppResponse Install(const TestTenant& tenant, const std::string& app, std::vector<std::string> scopes,
                                  const std::map<std::string, std::string>& labels = {});
  // Sets a tenant's quota field max_installed_apps as the park admin.
  void SetMaxInstalledApps(const std::string& tenant_id, int value);
  // Creates a device type `sensor` (metrics temperature, anomaly_score) once per tenant and a device with labels.
  void CreateDevice(const TestTenant& tenant, const std::string& device_id,
                    const std::map<std::string, std::string>& labels);

  std::string Park() { return server.park_admin_key(); }
};

std::string AppName(const Provider& provider, const std::string& app_id);

}  // namespace parkbase::testing
