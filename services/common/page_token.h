// Opaque page tokens. A token carries the position to resume from and an HMAC over (binding, position); the
// binding names the caller's tenant, the method and the query, so a token replayed by another tenant or with
// another filter is refused instead of leaking or skipping rows. Two secrets at once let the secret rotate while
// replicas and clients hold tokens made under the old one: tokens are signed with the current, accepted under either.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace parkbase {

class PageTokens {
 public:
  // `previous`: empty, or the secret before the last rotation, still accepted when decoding.
  explicit PageTokens(std::string secret, std::string previous = "");

  std::string Encode(absl::string_view binding, absl::string_view position) const;
  // INVALID_ARGUMENT on `page_token` for anything Encode did not produce for this binding.
  absl::StatusOr<std::string> Decode(absl::string_view binding, absl::string_view token) const;

 private:
  std::string secret_;
  std::string previous_;
};

// Page sizes: 0 means the default; outside [0, max] is INVALID_ARGUMENT on `page_size`.
absl::StatusOr<int> ResolvePageSize(int requested, int default_size = 100, int max_size = 1000);

}  // namespace parkbase
