// The tenant service's schema, compiled in from migrations/*.sql.
#pragma once

#include <vector>

#include "common/migrations.h"

namespace parkbase {
const std::vector<Migration>& TenantMigrations();
}  // namespace parkbase
