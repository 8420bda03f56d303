// The List calls' filter parser (common/list_filter.h) on any text. It refuses with INVALID_ARGUMENT on `filter`,
// quoting little of what was sent, or returns terms whose fields are field names and whose values hold no '"'; and
// the terms, written back in the canonical form (every value quoted), parse to the same terms.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/list_filter.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_target.h"

namespace parkbase::fuzz {
namespace {

bool IsFieldName(absl::string_view field) {
  return !field.empty() && std::all_of(field.begin(), field.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '.' || c == '-';
  });
}

std::string Canonical(const std::vector<FilterTerm>& terms) {
  return absl::StrJoin(terms, " AND ", [](std::string* out, const FilterTerm& term) {
    absl::StrAppend(out, term.field, " = \"", term.value, "\"");
  });
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  return {"",
          "state = ACTIVE",
          "state = ACTIVE AND plan = FREE AND provider = true",
          "labels.line = \"3\" AND device_type = press",
          "labels.site = \"north hall\"",
          "labels.note = \"\"",
          "  state=ACTIVE  ",
          "state = ACTIVE and plan = FREE",
          "labels.x = a\"b",
          std::string(1025, 'a')};
}

int ParseAnyFilter(absl::string_view text) {
  // QuoteForError echoes what was sent: escaped, cut, printable.
  const std::string quoted = QuoteForError(text);
  if (quoted.size() > 4 * 64 + 5 ||
      !std::all_of(quoted.begin(), quoted.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
    Fail(absl::StrCat("QuoteForError made ", Printable(quoted)));
  }
  absl::StatusOr<std::vector<FilterTerm>> terms = ParseListFilter(text);
  if (!terms.ok()) {
    CheckStatus(terms.status(), "ParseListFilter");
    if (terms.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(terms.status().message(), "filter: ")) {
      Fail(absl::StrCat("ParseListFilter refused without naming `filter`: ", terms.status().ToString()));
    }
    return 0;
  }
  for (const FilterTerm& term : *terms) {
    if (!IsFieldName(term.field) || absl::StrContains(term.value, '"')) {
      Fail(absl::StrCat("ParseListFilter returned the term ", Printable(term.field), " = ", Printable(term.value)));
    }
  }
  const std::string canonical = Canonical(*terms);
  if (canonical.size() > kMaxFilterLength) return 0;  // quoting made it longer than a filter may be
  absl::StatusOr<std::vector<FilterTerm>> again = ParseListFilter(canonical);
  bool same = again.ok() && again->size() == terms->size();
  for (size_t i = 0; same && i < terms->size(); ++i) {
    same = (*again)[i].field == (*terms)[i].field && (*again)[i].value == (*terms)[i].value;
  }
  if (!same) {
    Fail(absl::StrCat("ParseListFilter(", Printable(text), ") wrote back as ", Printable(canonical),
                      " parses otherwise: ", again.ok() ? Canonical(*again) : again.status().ToString()));
  }
  return 0;
}

}  // namespace parkbase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return parkbase::fuzz::ParseAnyFilter(absl::string_view(reinterpret_cast<const char*>(data), size));
}
