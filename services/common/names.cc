#include "common/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"

namespace parkbase {

absl::Status ValidateTenantId(absl::string_view field, absl::string_view tenant_id) {
  constexpr absl::string_view kRule =
      "must be 3 to 40 characters of lowercase letters, digits and '-', starting with a letter";
  if (tenant_id.size() < 3 || tenant_id.size() > 40 || !absl::ascii_islower(tenant_id.front()) ||
      tenant_id.back() == '-') {
    return FieldError(field, absl::StrCat(kRule, ", got \"", absl::CEscape(tenant_id.substr(0, 64)), "\""));
  }
  for (char c : tenant_id) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') {
      return FieldError(field, absl::StrCat(kRule, ", got \"", absl::CEscape(tenant_id.substr(0, 64)), "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ParseResourceName(absl::string_view field, absl::string_view name,
                                                           absl::string_view pattern) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  std::vector<absl::string_view> expected = absl::StrSplit(pattern, '/');
  std::vector<std::string> values;
  bool matches = parts.size() == expected.size();
  for (size_t i = 0; matches && i < parts.size(); ++i) {
    if (expected[i] == "*") {
      if (parts[i].empty() || parts[i].size() > 128) matches = false;
      values.emplace_back(parts[i]);
    } else if (parts[i] != expected[i]) {
      matches = false;
    }
  }
  if (!matches) {
    return FieldError(field, absl::StrCat("must look like ", pattern, ", got \"",
                                          absl::CEscape(name.substr(0, 200)), "\""));
  }
  return values;
}

absl::Status ValidateText(absl::string_view field, absl::string_view text, size_t min, size_t max) {
  size_t code_points = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++code_points;
    if (c < 0x20 || c == 0x7F) return FieldError(field, "must not contain control characters");
  }
  if (code_points < min || code_points > max) {
    return FieldError(field, absl::StrCat("must be ", min, " to ", max, " characters, got ", code_points));
  }
  return absl::OkStatus();
}

}  // namespace parkbase
