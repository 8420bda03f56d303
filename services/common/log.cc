#include "common/log.h"

#include <unistd.h>

#include <atomic>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "common/tracing.h"

namespace parkbase {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

// OpenTelemetry's log data model: SeverityText in its short form and the SeverityNumber of the range's first
// step, so a collector maps a line without a table of ours.
struct Severity {
  absl::string_view text;
  int number;
};
Severity SeverityOf(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return {"DEBUG", 5};
    case LogLevel::kInfo:
      return {"INFO", 9};
    case LogLevel::kWarning:
      return {"WARN", 13};
    case LogLevel::kError:
      return {"ERROR", 17};
  }
  return {"INFO", 9};
}

}  // namespace

void SetMinLogLevel(LogLevel level) { min_level.store(static_cast<int>(level)); }

LogLevel ParseLogLevel(absl::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "warning" || name == "warn") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

LogLine::LogLine(LogLevel level, absl::string_view message) : level_(level) {
  Str("time", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone()));
  const Severity severity = SeverityOf(level);
  Str("level", severity.text);
  Num("severity_number", severity.number);
  Str("msg", message);
  // OpenTelemetry's log data model names these two: a log backend links the line to its trace.
  if (const SpanContext* span = CurrentSpanContext(); span != nullptr) {
    Str("trace_id", span->TraceIdHex());
    Str("span_id", span->SpanIdHex());
  }
}

LogLine& LogLine::Str(absl::string_view key, absl::string_view value) {
  (*fields_.mutable_fields())[std::string(key)].set_string_value(std::string(value));
  return *this;
}

LogLine& LogLine::Num(absl::string_view key, double value) {
  (*fields_.mutable_fields())[std::string(key)].set_number_value(value);
  return *this;
}

void LogLine::Emit() {
  if (static_cast<int>(level_) < min_level.load()) return;
  std::string line;
  if (!google::protobuf::util::MessageToJsonString(fields_, &line).ok()) return;
  line.push_back('\n');
  // A short write to stderr leaves nothing better to do than to drop the rest of the line.
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace parkbase
