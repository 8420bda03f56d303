#include "support/observed.h"

#include <unistd.h>

#include <cstdio>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "prometheus/text_serializer.h"

namespace parkbase::testing {

std::vector<google::protobuf::Struct> CapturedLogLines(const std::function<void()>& emit) {
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

double SeriesValue(const std::string& exposition, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (absl::StartsWith(line, series + " ")) return std::stod(std::string(line.substr(series.size() + 1)));
  }
  return -1;
}

double SeriesValue(prometheus::Registry& registry, const std::string& series) {
  return SeriesValue(prometheus::TextSerializer().Serialize(registry.Collect()), series);
}

}  // namespace parkbase::testing
