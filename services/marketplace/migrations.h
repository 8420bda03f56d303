// The marketplace's schema, compiled in from migrations/*.sql. It refers to the tenant service's `tenants` and
// `api_keys` and the device service's `devices` (granted device counts), so it is applied after both.
#pragma once

#include <vector>

#include "common/migrations.h"

namespace parkbase {
const std::vector<Migration>& MarketplaceMigrations();
}  // namespace parkbase
