// The marketplace's pure parts: semantic-version precedence, search documents and queries (Chinese and English),
// Shanghai days and billing months, and the statement arithmetic in fen.
#include <algorithm>

#include <catch2/catch.hpp>

#include "absl/time/civil_time.h"
#include "marketplace/catalogue.h"

namespace parkbase::marketplace {
namespace {

bool HasTerm(const SearchDocument& document, const std::string& term) {
  return std::find(document.terms.begin(), document.terms.end(), term) != document.terms.end();
}

TEST_CASE("catalogue: semantic versions parse strictly and order by semver.org precedence", "[unit][marketplace]") {
  for (const char* bad : {"", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.x", "1.2.3-", "1.2.3-a..b", "v1.2.3", "1.2.3 ",
                          "-1.2.3", "1.2.3-é"}) {
    INFO(bad);
    absl::StatusOr<SemVer> parsed = ParseSemVer("version_id", bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().message().rfind("version_id", 0) == 0);
  }
  // semver.org's own example chain, each preceding the next.
  const std::vector<std::string> ordered = {"1.0.0-alpha",      "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                                            "1.0.0-beta.2",     "1.0.0-beta.11", "1.0.0-rc.1",       "1.0.0",
                                            "1.0.1",            "1.2.0",         "1.10.0",           "2.0.0"};
  for (size_t i = 0; i < ordered.size(); ++i) {
    for (size_t j = 0; j < ordered.size(); ++j) {
      const SemVer a = *ParseSemVer("v", ordered[i]);
      const SemVer b = *ParseSemVer("v", ordered[j]);
      INFO(ordered[i] << " vs " << ordered[j]);
      const int expected = i < j ? -1 : (i == j ? 0 : 1);
      const int got = CompareSemVer(a, b);
      CHECK((got < 0 ? -1 : (got == 0 ? 0 : 1)) == expected);
    }
  }
}

TEST_CASE("catalogue: the search document holds Chinese characters and pairs and whole Latin words",
          "[unit][marketplace]") {
  pb::App app;
  app.set_display_name("水泵预测性维护 Pump-Care AI");
  app.set_summary("基于振动");
  app.add_tags("预测维护");
  const SearchDocument document = BuildSearchDocument(app);
  CHECK(document.text.find("水泵预测性维护 pump-care ai") == 0);  // Latin lower-cased, Chinese kept
  for (const char* term : {"水", "泵", "水泵", "泵预", "维护", "振动", "pump", "care", "ai"}) {
    INFO(term);
    CHECK(HasTerm(document, term));
  }
  // Pairs never span a break between runs of Chinese text, and no term is made of Latin fragments.
  CHECK_FALSE(HasTerm(document, "护基"));
  CHECK_FALSE(HasTerm(document, "pu"));
  CHECK_FALSE(HasTerm(document, "Pump"));
}

TEST_CASE("catalogue: queries split into exact short terms and escaped substring patterns", "[unit][marketplace]") {
  absl::StatusOr<SearchWords> words = ParseSearchQuery("泵  能耗\u3000预测维护 AI 50%_off");
  REQUIRE(words.ok());
  CHECK(words->terms == std::vector<std::string>{"泵", "能耗", "ai"});
  CHECK(words->like_patterns == std::vector<std::string>{"%预测维护%", "%50\\%\\_off%"});
  CHECK(words->words.size() == 5);
  CHECK(ParseSearchQuery("").ok());
  CHECK(ParseSearchQuery("")->words.empty());
  CHECK_FALSE(ParseSearchQuery("a b c d e f g h i j k").ok());  // eleven words
  CHECK_FALSE(ParseSearchQuery(std::string(201, 'x')).ok());
  absl::StatusOr<SearchWords> control = ParseSearchQuery("pump\x01");
  REQUIRE_FALSE(control.ok());
  CHECK(control.status().message().rfind("query", 0) == 0);
}

TEST_CASE("catalogue: days are cut at midnight Asia/Shanghai and months know their length", "[unit][marketplace]") {
  const absl::TimeZone utc = absl::UTCTimeZone();
  CHECK(ShanghaiDay(absl::FromCivil(absl::CivilSecond(2026, 11, 30, 15, 59, 59), utc)) == "2026-11-30");
  CHECK(ShanghaiDay(absl::FromCivil(absl::CivilSecond(2026, 11, 30, 16, 0, 0), utc)) == "2026-12-01");
  CHECK(ShanghaiDay(absl::FromCivil(absl::CivilSecond(2026, 12, 31, 16, 0, 0), utc)) == "2027-01-01");
  CHECK(ParseBillingMonth("month", "2028-02")->days == 29);
  CHECK(ParseBillingMonth("month", "2026-02")->days == 28);
  CHECK(ParseBillingMonth("month", "2026-12")->last_day == "2026-12-31");
  CHECK(ParseBillingMonth("month", "2026-11")->first_day == "2026-11-01");
  for (const char* bad : {"2026-13", "2026-00", "26-11", "2026/11", "2026-1", ""}) {
    INFO(bad);
    CHECK_FALSE(ParseBillingMonth("month", bad).ok());
  }
}

TEST_CASE("catalogue: statement lines prorate by day in whole fen, rounded half up once", "[unit][marketplace]") {
  const auto day = [](pb::PricingModel model, int64_t price, int64_t devices) {
    UsageDay usage;
    usage.pricing_model = model;
    usage.price_fen = price;
    usage.granted_devices = devices;
    return usage;
  };
  // 10 devices for 15 days and 20 for 15 days of a 30-day month at 3,000 fen per device: 15,000 + 30,000 fen.
  std::vector<UsageDay> days;
  for (int i = 0; i < 15; ++i) days.push_back(day(pb::PRICING_MODEL_PER_DEVICE_MONTHLY, 3000, 10));
  for (int i = 0; i < 15; ++i) days.push_back(day(pb::PRICING_MODEL_PER_DEVICE_MONTHLY, 3000, 20));
  pb::StatementLine line = ComputeStatementLine(days, 30);
  CHECK(line.active_days() == 30);
  CHECK(line.device_days() == 450);
  CHECK(line.amount_fen() == 45000);
  // Flat price for 10 of 31 days: 10,000 x 10 / 31 = 3,225.8 -> 3,226.
  days.assign(10, day(pb::PRICING_MODEL_FLAT_MONTHLY, 10000, 7));
  CHECK(ComputeStatementLine(days, 31).amount_fen() == 3226);
  // Exactly half rounds up: 1 fen x 1 device x 1 day / 2 days.
  CHECK(ComputeStatementLine({day(pb::PRICING_MODEL_PER_DEVICE_MONTHLY, 1, 1)}, 2).amount_fen() == 1);
  // Rounding happens once per line, not per day: 31 days of 1 fen/device at 1 device in a 31-day month is 1 fen.
  days.assign(31, day(pb::PRICING_MODEL_PER_DEVICE_MONTHLY, 1, 1));
  CHECK(ComputeStatementLine(days, 31).amount_fen() == 1);
  // Free costs nothing whatever the devices; the biggest bill stays exact in int64.
  CHECK(ComputeStatementLine({day(pb::PRICING_MODEL_FREE, 0, 1000)}, 30).amount_fen() == 0);
  days.assign(31, day(pb::PRICING_MODEL_PER_DEVICE_MONTHLY, 100'000'000, 10'000'000));
  CHECK(ComputeStatementLine(days, 31).amount_fen() == int64_t{100'000'000} * 10'000'000);
  // A version change mid-month bills each day at that day's price; the line shows the last.
  days = {day(pb::PRICING_MODEL_FREE, 0, 5), day(pb::PRICING_MODEL_PER_DEVICE_MONTHLY, 3100, 5)};
  line = ComputeStatementLine(days, 31);
  CHECK(line.amount_fen() == 500);
  CHECK(line.pricing().model() == pb::PRICING_MODEL_PER_DEVICE_MONTHLY);
}

}  // namespace
}  // namespace parkbase::marketplace
