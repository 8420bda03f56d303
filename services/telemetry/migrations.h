// The telemetry service's schema, compiled in from migrations/*.sql. It refers to the tenant service's `tenants`
// and reads the device registry's tables, so it is applied after TenantMigrations() and DeviceMigrations().
#pragma once

#include <vector>

#include "common/migrations.h"

namespace parkbase {
const std::vector<Migration>& TelemetryMigrations();
}  // namespace parkbase
