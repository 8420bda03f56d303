// Page tokens (common/page_token.h) on any bytes. A token decodes only for the binding (tenant, method, query) it was
// issued for, to the position it was issued with; anything else, a token of another tenant included, is
// INVALID_ARGUMENT on page_token. Page sizes resolve to 1..max or INVALID_ARGUMENT on page_size.
//
// Input: binding, position and a token, separated by NUL bytes (missing parts are empty).
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/page_token.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_target.h"

namespace parkbase::fuzz {
namespace {

constexpr char kSecret[] = "fuzz-page-token-secret";

const PageTokens& Tokens() {
  static const auto* tokens = new PageTokens(kSecret);
  return *tokens;
}

void CheckRefused(const absl::Status& status, absl::string_view context) {
  CheckStatus(status, context);
  if (status.code() != absl::StatusCode::kInvalidArgument || !absl::StartsWith(status.message(), "page_token: ")) {
    Fail(absl::StrCat(context, ": refused with ", status.ToString(), ", not INVALID_ARGUMENT on page_token"));
  }
}

// Bindings the services would compute for another caller or another query.
std::vector<std::string> OtherBindings(const std::string& binding) {
  std::vector<std::string> others = {binding + "x", "globex|" + binding, binding + std::string(1, '\0')};
  if (!binding.empty()) others.push_back(binding.substr(1));
  if (absl::StartsWith(binding, "acme|")) others.push_back("globex|" + binding.substr(5));
  return others;
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  // Bindings as the services build them; the tokens are valid for them.
  std::vector<std::string> seeds;
  for (const auto& [binding, position] : std::vector<std::pair<std::string, std::string>>{
           {"acme|ListTenants|state = ACTIVE", "globex"},
           {"acme|acmedevkey|ListDevices|tenants/acme|labels.line = 3", "press-1"},
           {"acme|ListApiKeys|tenants/acme", "1800000000000001/acmekey1"},
           {"telemetry.ReadRange\nacme\npress-1\ntemp\n1799989200000\n1800000000000", "temp\n1799990000000"},
           {"", ""}}) {
    seeds.push_back(absl::StrCat(binding, std::string(1, '\0'), position, std::string(1, '\0'),
                                 Tokens().Encode(binding, position)));
  }
  return seeds;
}

int CheckTokens(absl::string_view input) {
  std::vector<std::string> parts = absl::StrSplit(input, absl::MaxSplits('\0', 2));
  parts.resize(3);
  const std::string& binding = parts[0];
  const std::string& position = parts[1];
  const std::string& token = parts[2];

  // What Encode issues decodes for its binding only.
  const std::string issued = Tokens().Encode(binding, position);
  absl::StatusOr<std::string> decoded = Tokens().Decode(binding, issued);
  if (!decoded.ok() || *decoded != position) {
    Fail(absl::StrCat("a token does not decode to its position for its binding: ", decoded.status().ToString()));
  }
  for (const std::string& other : OtherBindings(binding)) {
    absl::StatusOr<std::string> replayed = Tokens().Decode(other, issued);
    if (replayed.ok()) Fail(absl::StrCat("a token of ", Printable(binding), " decodes for ", Printable(other)));
    CheckRefused(replayed.status(), "a token replayed for another binding");
  }

  // Any other token: refused, or the one Encode would issue for what it decodes to.
  absl::StatusOr<std::string> sent = Tokens().Decode(binding, token);
  if (!sent.ok()) {
    CheckRefused(sent.status(), "a token that was not issued");
  } else {
    std::string raw_sent;
    std::string raw_issued;
    if (!absl::WebSafeBase64Unescape(token, &raw_sent) ||
        !absl::WebSafeBase64Unescape(Tokens().Encode(binding, *sent), &raw_issued) || raw_sent != raw_issued) {
      Fail(absl::StrCat("a token that was never issued decodes: ", Printable(token), " to ", Printable(*sent)));
    }
  }

  // Page sizes: any int resolves to 1..max or is refused.
  if (input.size() >= 4) {
    int requested = 0;
    std::memcpy(&requested, input.data(), sizeof(requested));
    for (const int max : {1000, 10'000}) {
      absl::StatusOr<int> size = ResolvePageSize(requested, 100, max);
      if (size.ok() && (*size < 1 || *size > max)) Fail(absl::StrCat("page size ", requested, " became ", *size));
      if (!size.ok()) {
        CheckStatus(size.status(), "ResolvePageSize");
        if (!absl::StartsWith(size.status().message(), "page_size: ")) Fail("a page size refused without naming it");
      }
    }
  }
  return 0;
}

}  // namespace parkbase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return parkbase::fuzz::CheckTokens(absl::string_view(reinterpret_cast<const char*>(data), size));
}
