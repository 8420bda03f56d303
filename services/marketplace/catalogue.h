// The pure parts of the marketplace: semantic versions, the search document of an app and the parsing of a search
// query, and the monthly statement arithmetic. No I/O, so the unit tests cover them exhaustively.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "parkbase/marketplace/v1/marketplace.pb.h"

namespace parkbase::marketplace {

namespace pb = ::parkbase::marketplace::v1;

// MAJOR.MINOR.PATCH[-PRERELEASE] (semver.org 2.0.0 without build metadata, which has no precedence and would only
// make two names for one version).
struct SemVer {
  int64_t major = 0;
  int64_t minor = 0;
  int64_t patch = 0;
  std::string prerelease;
};
absl::StatusOr<SemVer> ParseSemVer(absl::string_view field, absl::string_view text);
// Negative, zero or positive as `a` precedes, equals or follows `b` (semver.org's precedence rules).
int CompareSemVer(const SemVer& a, const SemVer& b);

// What the catalogue searches for one app: its text lower-cased (for trigram LIKE matches of words of three
// characters or more) and its short terms (every Chinese character and pair of adjacent Chinese characters, every
// whole Latin word), which answer one- and two-character words that trigrams cannot.
struct SearchDocument {
  std::string text;
  std::vector<std::string> terms;
};
SearchDocument BuildSearchDocument(const pb::App& app);

// A search query split into words, each matched either as a short term or as a substring.
struct SearchWords {
  std::vector<std::string> terms;            // words of one or two characters: exact terms
  std::vector<std::string> like_patterns;    // longer words: `%word%` with LIKE's wildcards escaped
  std::vector<std::string> words;            // every word, lower-cased, for ranking
};
// `%word%` for LIKE, with LIKE's wildcards and escape character in `word` escaped.
std::string LikePattern(absl::string_view word);
absl::StatusOr<SearchWords> ParseSearchQuery(absl::string_view query);

// Days are cut at midnight in Asia/Shanghai. China has kept UTC+8 without daylight saving since 1991, so a fixed
// offset is exact for every date Parkbase bills and needs no tz database in the image.
absl::TimeZone ShanghaiTime();
// `YYYY-MM-DD` of the Shanghai day holding `time`.
std::string ShanghaiDay(absl::Time time);

// A billing month `YYYY-MM`: its first and last day (`YYYY-MM-DD`) and its length.
struct BillingMonth {
  std::string first_day;
  std::string last_day;
  int days = 0;
};
absl::StatusOr<BillingMonth> ParseBillingMonth(absl::string_view field, absl::string_view month);

// One day of one installation, as metered.
struct UsageDay {
  std::string day;
  pb::PricingModel pricing_model = pb::PRICING_MODEL_UNSPECIFIED;
  int64_t price_fen = 0;
  int64_t granted_devices = 0;
};
// A statement line from the installation's days in one month (in day order): per device, Σ price × devices ÷ days
// in the month; flat, Σ price ÷ days in the month; the division done once, rounded half up, in integers.
pb::StatementLine ComputeStatementLine(const std::vector<UsageDay>& days, int days_in_month);

}  // namespace parkbase::marketplace
