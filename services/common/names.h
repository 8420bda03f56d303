// Resource names (`tenants/{tenant}`, `tenants/{tenant}/apiKeys/{key}`) and the id rules they rest on.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace parkbase {

// Tenant ids: 3 to 40 characters of [a-z0-9-], starting with a letter, not ending with '-'.
absl::Status ValidateTenantId(absl::string_view field, absl::string_view tenant_id);

// Matches `name` against a pattern such as "tenants/*/apiKeys/*" and returns the values of the `*` segments.
// A mismatch is INVALID_ARGUMENT naming `field` and the expected pattern.
absl::StatusOr<std::vector<std::string>> ParseResourceName(absl::string_view field, absl::string_view name,
                                                           absl::string_view pattern);

// Checks a human-readable text: `min` to `max` characters (UTF-8 code points), no control characters.
absl::Status ValidateText(absl::string_view field, absl::string_view text, size_t min, size_t max);

}  // namespace parkbase
