// The device service's schema, compiled in from migrations/*.sql. It refers to the tenant service's `tenants`
// and `api_keys`, so it is applied after TenantMigrations().
#pragma once

#include <vector>

#include "common/migrations.h"

namespace parkbase {
const std::vector<Migration>& DeviceMigrations();
}  // namespace parkbase
