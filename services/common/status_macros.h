// RETURN_IF_ERROR / ASSIGN_OR_RETURN: Abseil 20220623 ships neither, and every layer that passes absl::Status
// along needs both.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PARKBASE_CONCAT_INNER(a, b) a##b
#define PARKBASE_CONCAT(a, b) PARKBASE_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    if (absl::Status parkbase_status = (expr); !parkbase_status.ok()) { \
      return parkbase_status;                                  \
    }                                                          \
  } while (false)

#define PARKBASE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

// ASSIGN_OR_RETURN(auto value, ComputeValue()); declares or assigns `value`, returning the error otherwise.
#define ASSIGN_OR_RETURN(lhs, expr) \
  PARKBASE_ASSIGN_OR_RETURN_IMPL(PARKBASE_CONCAT(parkbase_statusor_, __LINE__), lhs, expr)
