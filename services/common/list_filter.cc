#include "common/list_filter.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"

namespace parkbase {
namespace {

bool IsFieldName(absl::string_view field) {
  return !field.empty() && std::all_of(field.begin(), field.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

std::string QuoteForError(absl::string_view text, size_t max) {
  const bool cut = text.size() > max;
  return absl::StrCat("\"", absl::CEscape(text.substr(0, max)), cut ? "...\"" : "\"");
}

absl::StatusOr<std::vector<FilterTerm>> ParseListFilter(absl::string_view filter) {
  std::vector<FilterTerm> terms;
  if (filter.size() > kMaxFilterLength) {
    return FieldError("filter", absl::StrCat("at most ", kMaxFilterLength, " characters, got ", filter.size()));
  }
  if (absl::StripAsciiWhitespace(filter).empty()) return terms;
  for (absl::string_view term : absl::StrSplit(filter, " AND ")) {
    const size_t equals = term.find('=');
    if (equals == absl::string_view::npos) {
      return FieldError("filter", absl::StrCat("expected `field = value` terms joined by ` AND `, got ",
                                               QuoteForError(absl::StripAsciiWhitespace(term))));
    }
    const absl::string_view field = absl::StripAsciiWhitespace(term.substr(0, equals));
    absl::string_view value = absl::StripAsciiWhitespace(term.substr(equals + 1));
    if (!IsFieldName(field)) {
      return FieldError("filter", absl::StrCat("expected a field name before `=`, got ", QuoteForError(field)));
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
      if (value.find('"') != absl::string_view::npos) {
        return FieldError("filter", absl::StrCat("the value of ", QuoteForError(field), " holds a '\"'"));
      }
    } else if (value.empty()) {
      return FieldError("filter", absl::StrCat("the value of ", QuoteForError(field),
                                               " is missing; write \"\" for an empty value"));
    } else if (std::any_of(value.begin(), value.end(), [](char c) { return absl::ascii_isspace(c) || c == '"'; })) {
      return FieldError("filter", absl::StrCat("the value of ", QuoteForError(field), " is ", QuoteForError(value),
                                               "; join terms with ` AND ` in capitals, and double-quote a value "
                                               "that holds spaces"));
    }
    terms.push_back(FilterTerm{std::string(field), std::string(value)});
  }
  return terms;
}

}  // namespace parkbase
