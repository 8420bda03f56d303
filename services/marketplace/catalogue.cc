#include "marketplace/catalogue.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "common/errors.h"
#include "common/list_filter.h"

namespace parkbase::marketplace {
namespace {

constexpr size_t kMaxQueryCharacters = 200;
constexpr size_t kMaxQueryWords = 10;
constexpr int kShortWordCharacters = 2;

// Decodes one UTF-8 code point at `text[*pos]` and advances; U+FFFD for a malformed byte (input is validated
// UTF-8, so this only keeps the loop total).
char32_t NextCodePoint(absl::string_view text, size_t* pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(*pos);
  int length = 1;
  char32_t value = lead;
  if (lead >= 0xF0) {
    length = 4;
    value = lead & 0x07;
  } else if (lead >= 0xE0) {
    length = 3;
    value = lead & 0x0F;
  } else if (lead >= 0xC0) {
    length = 2;
    value = lead & 0x1F;
  } else if (lead >= 0x80) {
    ++*pos;
    return 0xFFFD;
  }
  if (*pos + length > text.size()) {
    *pos = text.size();
    return 0xFFFD;
  }
  for (int i = 1; i < length; ++i) value = (value << 6) | (byte(*pos + i) & 0x3F);
  *pos += length;
  return value;
}

// Han ideographs: what Chinese words are written in, and what has no spaces between words.
bool IsIdeograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0x20000 && c <= 0x2FFFF);
}

bool IsLatinWordCharacter(char32_t c) { return c < 0x80 && absl::ascii_isalnum(static_cast<char>(c)); }

// Separators in a query besides ASCII white space: the ideographic space and Chinese punctuation.
bool IsQuerySeparator(char32_t c) {
  return c == 0x3000 || c == 0xFF0C || c == 0x3001 || c == 0x3002 || c == 0xFF1B || c == 0xFF1A;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

size_t CodePoints(absl::string_view text) {
  size_t count = 0;
  for (size_t pos = 0; pos < text.size(); ++count) NextCodePoint(text, &pos);
  return count;
}

absl::StatusOr<int64_t> VersionNumber(absl::string_view field, absl::string_view part) {
  int64_t value = 0;
  const bool leading_zero = part.size() > 1 && part[0] == '0';
  if (part.empty() || part.size() > 9 || leading_zero || !absl::SimpleAtoi(part, &value) || value < 0 ||
      !std::all_of(part.begin(), part.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return FieldError(field, absl::StrCat("must be a semantic version MAJOR.MINOR.PATCH[-PRERELEASE] such as 1.4.0 "
                                          "(numbers without leading zeros), got ",
                                          QuoteForError(part, 40)));
  }
  return value;
}

}  // namespace

absl::StatusOr<SemVer> ParseSemVer(absl::string_view field, absl::string_view text) {
  const auto refuse = [&] {
    return FieldError(field, absl::StrCat("must be a semantic version MAJOR.MINOR.PATCH[-PRERELEASE] such as 1.4.0 "
                                          "or 2.0.0-rc.1, got ",
                                          QuoteForError(text)));
  };
  if (text.empty() || text.size() > 64) return refuse();
  absl::string_view core = text;
  SemVer version;
  if (size_t dash = text.find('-'); dash != absl::string_view::npos) {
    core = text.substr(0, dash);
    version.prerelease = std::string(text.substr(dash + 1));
    if (version.prerelease.empty()) return refuse();
    for (absl::string_view identifier : absl::StrSplit(version.prerelease, '.')) {
      if (identifier.empty() || !std::all_of(identifier.begin(), identifier.end(), [](char c) {
            return absl::ascii_isalnum(c) || c == '-';
          })) {
        return refuse();
      }
    }
  }
  std::vector<absl::string_view> parts = absl::StrSplit(core, '.');
  if (parts.size() != 3) return refuse();
  absl::StatusOr<int64_t> major = VersionNumber(field, parts[0]);
  absl::StatusOr<int64_t> minor = VersionNumber(field, parts[1]);
  absl::StatusOr<int64_t> patch = VersionNumber(field, parts[2]);
  if (!major.ok() || !minor.ok() || !patch.ok()) return refuse();
  version.major = *major;
  version.minor = *minor;
  version.patch = *patch;
  return version;
}

int CompareSemVer(const SemVer& a, const SemVer& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  // A release follows its prereleases.
  if (a.prerelease.empty() || b.prerelease.empty()) {
    if (a.prerelease.empty() && b.prerelease.empty()) return 0;
    return a.prerelease.empty() ? 1 : -1;
  }
  std::vector<absl::string_view> left = absl::StrSplit(a.prerelease, '.');
  std::vector<absl::string_view> right = absl::StrSplit(b.prerelease, '.');
  for (size_t i = 0; i < left.size() && i < right.size(); ++i) {
    int64_t left_number = 0;
    int64_t right_number = 0;
    const bool left_numeric = absl::SimpleAtoi(left[i], &left_number);
    const bool right_numeric = absl::SimpleAtoi(right[i], &right_number);
    if (left_numeric && right_numeric) {
      if (left_number != right_number) return left_number < right_number ? -1 : 1;
    } else if (left_numeric != right_numeric) {
      return left_numeric ? -1 : 1;  // numeric identifiers precede alphanumeric ones
    } else if (left[i] != right[i]) {
      return left[i] < right[i] ? -1 : 1;
    }
  }
  if (left.size() == right.size()) return 0;
  return left.size() < right.size() ? -1 : 1;
}

SearchDocument BuildSearchDocument(const pb::App& app) {
  const std::string source = absl::StrCat(app.display_name(), "\n", app.summary(), "\n", app.description(), "\n",
                                          absl::StrJoin(app.tags(), "\n"), "\n", app.vendor());
  SearchDocument document;
  document.text.reserve(source.size());
  std::set<std::string> terms;
  std::string latin_word;
  char32_t previous_ideograph = 0;
  const auto end_latin_word = [&] {
    if (!latin_word.empty()) terms.insert(latin_word);
    latin_word.clear();
  };
  for (size_t pos = 0; pos < source.size();) {
    char32_t c = NextCodePoint(source, &pos);
    if (c < 0x80) c = static_cast<char32_t>(absl::ascii_tolower(static_cast<char>(c)));
    AppendUtf8(c, &document.text);
    if (IsLatinWordCharacter(c)) {
      latin_word.push_back(static_cast<char>(c));
    } else {
      end_latin_word();
    }
    if (IsIdeograph(c)) {
      std::string single;
      AppendUtf8(c, &single);
      terms.insert(single);
      if (previous_ideograph != 0) {
        std::string pair;
        AppendUtf8(previous_ideograph, &pair);
        pair += single;
        terms.insert(pair);
      }
      previous_ideograph = c;
    } else {
      previous_ideograph = 0;
    }
  }
  end_latin_word();
  document.terms.assign(terms.begin(), terms.end());
  return document;
}

std::string LikePattern(absl::string_view word) {
  std::string pattern = "%";
  for (char c : word) {
    if (c == '%' || c == '_' || c == '\\') pattern.push_back('\\');
    pattern.push_back(c);
  }
  pattern.push_back('%');
  return pattern;
}

absl::StatusOr<SearchWords> ParseSearchQuery(absl::string_view query) {
  if (CodePoints(query) > kMaxQueryCharacters) {
    return FieldError("query", absl::StrCat("at most ", kMaxQueryCharacters, " characters"));
  }
  SearchWords parsed;
  std::string word;
  const auto end_word = [&]() -> absl::Status {
    if (word.empty()) return absl::OkStatus();
    if (parsed.words.size() == kMaxQueryWords) {
      return FieldError("query", absl::StrCat("at most ", kMaxQueryWords, " words"));
    }
    if (CodePoints(word) <= kShortWordCharacters) {
      parsed.terms.push_back(word);
    } else {
      parsed.like_patterns.push_back(LikePattern(word));
    }
    parsed.words.push_back(std::move(word));
    word.clear();
    return absl::OkStatus();
  };
  for (size_t pos = 0; pos < query.size();) {
    char32_t c = NextCodePoint(query, &pos);
    if (c < 0x20 || c == 0x7F) return FieldError("query", "must not contain control characters");
    if ((c < 0x80 && absl::ascii_isspace(static_cast<char>(c))) || IsQuerySeparator(c)) {
      if (absl::Status ended = end_word(); !ended.ok()) return ended;
      continue;
    }
    if (c < 0x80) c = static_cast<char32_t>(absl::ascii_tolower(static_cast<char>(c)));
    AppendUtf8(c, &word);
  }
  if (absl::Status ended = end_word(); !ended.ok()) return ended;
  return parsed;
}

absl::TimeZone ShanghaiTime() { return absl::FixedTimeZone(8 * 60 * 60); }

std::string ShanghaiDay(absl::Time time) {
  const absl::CivilDay day = absl::ToCivilDay(time, ShanghaiTime());
  return absl::StrFormat("%04d-%02d-%02d", day.year(), day.month(), day.day());
}

absl::StatusOr<BillingMonth> ParseBillingMonth(absl::string_view field, absl::string_view month) {
  int year = 0;
  int number = 0;
  std::vector<absl::string_view> parts = absl::StrSplit(month, '-');
  if (month.size() != 7 || parts.size() != 2 || !absl::SimpleAtoi(parts[0], &year) ||
      !absl::SimpleAtoi(parts[1], &number) || year < 2000 || year > 9999 || number < 1 || number > 12) {
    return FieldError(field, absl::StrCat("must be a month YYYY-MM such as 2026-11, got ", QuoteForError(month, 40)));
  }
  const absl::CivilMonth civil(year, number);
  const absl::CivilDay first(civil);
  const absl::CivilDay next(civil + 1);
  const absl::CivilDay last = next - 1;
  BillingMonth billing;
  billing.first_day = absl::StrFormat("%04d-%02d-%02d", first.year(), first.month(), first.day());
  billing.last_day = absl::StrFormat("%04d-%02d-%02d", last.year(), last.month(), last.day());
  billing.days = static_cast<int>(next - first);
  return billing;
}

pb::StatementLine ComputeStatementLine(const std::vector<UsageDay>& days, int days_in_month) {
  pb::StatementLine line;
  int64_t numerator = 0;  // fen × days: at most 1e8 fen × 1e7 devices × 31 days, well inside int64
  for (const UsageDay& day : days) {
    line.set_active_days(line.active_days() + 1);
    line.set_device_days(line.device_days() + day.granted_devices);
    switch (day.pricing_model) {
      case pb::PRICING_MODEL_PER_DEVICE_MONTHLY:
        numerator += day.price_fen * day.granted_devices;
        break;
      case pb::PRICING_MODEL_FLAT_MONTHLY:
        numerator += day.price_fen;
        break;
      default:
        break;
    }
  }
  if (!days.empty()) {
    line.mutable_pricing()->set_model(days.back().pricing_model);
    line.mutable_pricing()->set_price_fen(days.back().price_fen);
  }
  if (days_in_month > 0) line.set_amount_fen((2 * numerator + days_in_month) / (2 * days_in_month));
  return line;
}

}  // namespace parkbase::marketplace
