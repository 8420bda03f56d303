// The marketplace's text parsers (marketplace/catalogue.h) on any bytes: semantic versions, search queries, the
// search document of a listing and billing months. Each refuses with INVALID_ARGUMENT naming its field, or returns
// what its contract says: a version that prints back as the input, query words and document terms that are valid
// UTF-8 (what PostgreSQL will be sent) with short terms of at most two characters, months of 28 to 31 days.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_target.h"
#include "marketplace/catalogue.h"

namespace parkbase::fuzz {
namespace {

using marketplace::pb::App;

size_t CodePoints(absl::string_view text) {
  size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

void ExpectFieldError(const absl::Status& status, absl::string_view field, absl::string_view context) {
  CheckStatus(status, context);
  if (status.code() != absl::StatusCode::kInvalidArgument || !absl::StartsWith(status.message(), field)) {
    Fail(absl::StrCat(context, " refused without naming ", field, ": ", status.ToString()));
  }
}

void Version(absl::string_view text) {
  absl::StatusOr<marketplace::SemVer> version = marketplace::ParseSemVer("version_id", text);
  if (!version.ok()) return ExpectFieldError(version.status(), "version_id", "ParseSemVer");
  std::string printed = absl::StrCat(version->major, ".", version->minor, ".", version->patch);
  if (!version->prerelease.empty()) absl::StrAppend(&printed, "-", version->prerelease);
  if (printed != text) Fail(absl::StrCat("ParseSemVer(", Printable(text), ") prints back as ", Printable(printed)));
  if (marketplace::CompareSemVer(*version, *version) != 0) Fail("a version does not equal itself");
}

void Query(absl::string_view text) {
  absl::StatusOr<marketplace::SearchWords> words = marketplace::ParseSearchQuery(text);
  if (!words.ok()) return ExpectFieldError(words.status(), "query", "ParseSearchQuery");
  if (words->terms.size() + words->like_patterns.size() != words->words.size()) Fail("words lost or duplicated");
  if (!IsUtf8(text)) return;  // the gRPC layer refuses invalid UTF-8 strings before this runs
  for (const std::string& term : words->terms) {
    if (term.empty() || !IsUtf8(term) || CodePoints(term) > 2) Fail(absl::StrCat("bad term ", Printable(term)));
  }
  for (const std::string& pattern : words->like_patterns) {
    if (!IsUtf8(pattern) || !absl::StartsWith(pattern, "%") || !absl::EndsWith(pattern, "%")) {
      Fail(absl::StrCat("bad pattern ", Printable(pattern)));
    }
  }
}

void Document(absl::string_view text) {
  if (!IsUtf8(text)) return;  // listings are validated text
  App app;
  app.set_display_name(std::string(text));
  app.set_summary(std::string(text.substr(text.size() / 2)));
  app.add_tags(std::string(text.substr(0, text.size() / 3)));
  const marketplace::SearchDocument document = marketplace::BuildSearchDocument(app);
  if (!IsUtf8(document.text)) Fail(absl::StrCat("search text not UTF-8 for ", Printable(text)));
  for (const std::string& term : document.terms) {
    if (term.empty() || !IsUtf8(term)) Fail(absl::StrCat("bad document term ", Printable(term)));
  }
}

void Month(absl::string_view text) {
  absl::StatusOr<marketplace::BillingMonth> month = marketplace::ParseBillingMonth("month", text);
  if (!month.ok()) return ExpectFieldError(month.status(), "month", "ParseBillingMonth");
  if (month->days < 28 || month->days > 31) Fail(absl::StrCat(Printable(text), " has ", month->days, " days"));
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  return {std::string("\0") + "1.0.0",        std::string("\0") + "2.0.0-rc.1",     std::string("\0") + "01.2.3",
          std::string("\1") + "泵 能耗 predictive", std::string("\1") + "50%_off\u3000AI", std::string("\2") + "水泵预测性维护 Pump-Care AI",
          std::string("\2") + "焊缝质检：支持 AI。",    std::string("\3") + "2026-02",        std::string("\3") + "2026-13"};
}

}  // namespace parkbase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      parkbase::fuzz::Version(text);
      break;
    case 1:
      parkbase::fuzz::Query(text);
      break;
    case 2:
      parkbase::fuzz::Document(text);
      break;
    default:
      parkbase::fuzz::Month(text);
      break;
  }
  return 0;
}
