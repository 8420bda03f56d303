// What the in-memory fakes of stores and caches call first in every operation, with the scope the operation runs
// under: the fuzz targets check there that a caller only ever reaches its own tenant, and fail operations on purpose.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace parkbase::testing {

class StoreHook {
 public:
  virtual ~StoreHook() = default;
  // `operation` names the store method ("TenantStore.GetTenant"); `tenant_id` and `park_wide` are its scope (the
  // tenant whose rows row-level security would show, and whether park-level rows are visible too). An error is
  // returned by the operation as it is, before it touches anything.
  virtual absl::Status Enter(absl::string_view operation, const std::string& tenant_id, bool park_wide) = 0;
};

// Runs the hook when there is one.
inline absl::Status EnterHook(StoreHook* hook, absl::string_view operation, const std::string& tenant_id,
                              bool park_wide) {
  return hook == nullptr ? absl::OkStatus() : hook->Enter(operation, tenant_id, park_wide);
}

}  // namespace parkbase::testing
