// Every service of the all-in-one server and its schema, in dependency order (a later schema may refer to an
// earlier one's tables). A new service adds itself here once; `parkbase serve`, `parkbase migrate` and the tests
// all read this list.
#pragma once

#include <vector>

#include "common/migrations.h"
#include "common/server.h"

namespace parkbase {

std::vector<ServiceRegistrar> AllServices();
std::vector<const std::vector<Migration>*> AllMigrations();

}  // namespace parkbase
