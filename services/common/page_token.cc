#include "common/page_token.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/errors.h"

namespace parkbase {
namespace {

// 128 bits of the HMAC: plenty against forgery, and keeps tokens short.
constexpr size_t kMacBytes = 16;

std::string Mac(absl::string_view secret, absl::string_view binding, absl::string_view position) {
  return HmacSha256(secret, absl::StrCat(binding.size(), ":", binding, position)).substr(0, kMacBytes);
}

}  // namespace

PageTokens::PageTokens(std::string secret, std::string previous)
    : secret_(std::move(secret)), previous_(std::move(previous)) {}

std::string PageTokens::Encode(absl::string_view binding, absl::string_view position) const {
  return absl::WebSafeBase64Escape(absl::StrCat(Mac(secret_, binding, position), position));
}

absl::StatusOr<std::string> PageTokens::Decode(absl::string_view binding, absl::string_view token) const {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() < kMacBytes) {
    return FieldError("page_token", "is not a page token returned by this call");
  }
  std::string position = raw.substr(kMacBytes);
  const std::string mac = raw.substr(0, kMacBytes);
  const bool signed_by_either = ConstantTimeEquals(mac, Mac(secret_, binding, position)) ||
                                (!previous_.empty() && ConstantTimeEquals(mac, Mac(previous_, binding, position)));
  if (!signed_by_either) {
    return FieldError("page_token", "was issued for another caller or another query; start again without it");
  }
  return position;
}

absl::StatusOr<int> ResolvePageSize(int requested, int default_size, int max_size) {
  if (requested < 0 || requested > max_size) {
    return FieldError("page_size", absl::StrCat("must be 0 to ", max_size, ", got ", requested));
  }
  return requested == 0 ? default_size : requested;
}

}  // namespace parkbase
