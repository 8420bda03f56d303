#include "parkbase/all_services.h"

#include "device/device_service.h"
#include "device/migrations.h"
#include "marketplace/marketplace_service.h"
#include "marketplace/migrations.h"
#include "tenant/migrations.h"
#include "telemetry/migrations.h"
#include "telemetry/telemetry_service.h"
#include "tenant/tenant_service.h"

namespace parkbase {

std::vector<ServiceRegistrar> AllServices() {
  return {
      tenant::RegisterTenantService,
      device::RegisterDeviceService,
      telemetry::RegisterTelemetryService,
      marketplace::RegisterMarketplaceService,
  };
}

std::vector<const std::vector<Migration>*> AllMigrations() {
  return {
      &TenantMigrations(),
      &DeviceMigrations(),
      &TelemetryMigrations(),
      &MarketplaceMigrations(),
  };
}

}  // namespace parkbase
