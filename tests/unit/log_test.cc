#include "common/log.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "google/protobuf/struct.pb.h"
#include "support/observed.h"

namespace parkbase {
namespace {

using testing::CapturedLogLines;

TEST_CASE("log: every line carries its severity as OpenTelemetry names it, and --log_level filters", "[unit]") {
  SetMinLogLevel(LogLevel::kDebug);
  const auto lines = CapturedLogLines([] {
    LogLine(LogLevel::kDebug, "d").Emit();
    LogLine(LogLevel::kInfo, "i").Emit();
    LogLine(LogLevel::kWarning, "w").Str("tenant", "acme").Emit();
    LogLine(LogLevel::kError, "e").Emit();
  });
  REQUIRE(lines.size() == 4);
  const std::vector<std::pair<std::string, double>> expected = {{"DEBUG", 5}, {"INFO", 9}, {"WARN", 13}, {"ERROR", 17}};
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& fields = lines[i].fields();
    CHECK(fields.at("level").string_value() == expected[i].first);
    CHECK(fields.at("severity_number").number_value() == expected[i].second);
    CHECK(fields.contains("time"));
  }
  CHECK(lines[2].fields().at("tenant").string_value() == "acme");

  SetMinLogLevel(ParseLogLevel("warning"));
  CHECK(CapturedLogLines([] {
          LogLine(LogLevel::kInfo, "i").Emit();
          LogLine(LogLevel::kWarning, "w").Emit();
        }).size() == 1);
  CHECK(ParseLogLevel("warn") == LogLevel::kWarning);
  CHECK(ParseLogLevel("error") == LogLevel::kError);
  SetMinLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace parkbase
