// Structured logs: one JSON object a line on stderr, so log shippers need no parsing rules.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "google/protobuf/struct.pb.h"

namespace parkbase {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Lines below this level are dropped. Set once at start-up from --log_level.
void SetMinLogLevel(LogLevel level);
LogLevel ParseLogLevel(absl::string_view name);

// Builds one line: LogLine(LogLevel::kInfo, "rpc").Str("method", m).Num("latency_ms", 1.5).Emit();
class LogLine {
 public:
  LogLine(LogLevel level, absl::string_view message);
  LogLine& Str(absl::string_view key, absl::string_view value);
  LogLine& Num(absl::string_view key, double value);
  // Writes the line with a single write(2), so lines from concurrent calls never interleave.
  void Emit();

 private:
  LogLevel level_;
  google::protobuf::Struct fields_;
};

inline void LogInfo(absl::string_view message) { LogLine(LogLevel::kInfo, message).Emit(); }
inline void LogWarning(absl::string_view message) { LogLine(LogLevel::kWarning, message).Emit(); }
inline void LogError(absl::string_view message) { LogLine(LogLevel::kError, message).Emit(); }

}  // namespace parkbase
