#include "common/log.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace parkbase {
namespace {

// The lines `emit` writes to stderr, each parsed as JSON.
std::vector<google::protobuf::Struct> CapturedLines(void (*emit)()) {
  std::fflush(stderr);
  FILE* capture = std::tmpfile();
  REQUIRE(capture != nullptr);
  const int saved = dup(STDERR_FILENO);
  REQUIRE(dup2(fileno(capture), STDERR_FILENO) >= 0);
  emit();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string text;
  std::rewind(capture);
  char buffer[4096];
  size_t read = 0;
  while ((read = std::fread(buffer, 1, sizeof buffer, capture)) > 0) text.append(buffer, read);
  std::fclose(capture);
  std::vector<google::protobuf::Struct> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct parsed;
    REQUIRE(google::protobuf::util::JsonStringToMessage(std::string(line), &parsed).ok());
    lines.push_back(parsed);
  }
  return lines;
}

TEST_CASE("log: every line carries its severity as OpenTelemetry names it, and --log_level filters", "[unit]") {
  SetMinLogLevel(LogLevel::kDebug);
  const auto lines = CapturedLines([] {
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
  CHECK(CapturedLines([] {
          LogLine(LogLevel::kInfo, "i").Emit();
          LogLine(LogLevel::kWarning, "w").Emit();
        }).size() == 1);
  CHECK(ParseLogLevel("warn") == LogLevel::kWarning);
  CHECK(ParseLogLevel("error") == LogLevel::kError);
  SetMinLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace parkbase
