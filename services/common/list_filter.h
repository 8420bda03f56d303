// The `filter` of List calls: a small subset of AIP-160, `field = value` terms joined by ` AND ` (capitals). A value
// holding spaces, or an empty one, must be double-quoted, so `state = ACTIVE and plan = FREE` (a lowercase `and`)
// is refused instead of silently matching nothing. Error messages quote at most a few dozen characters of what
// was sent.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace parkbase {

struct FilterTerm {
  std::string field;
  std::string value;
};

// Longest filter accepted: far more than any combination of the fields the services filter on.
inline constexpr size_t kMaxFilterLength = 1024;

// INVALID_ARGUMENT naming `filter` for anything but well-formed terms. An empty or blank filter has no terms.
absl::StatusOr<std::vector<FilterTerm>> ParseListFilter(absl::string_view filter);

// `text` quoted and cut to `max` characters (with "..." when cut), control characters escaped: for echoing
// request data in an error message.
std::string QuoteForError(absl::string_view text, size_t max = 64);

}  // namespace parkbase
