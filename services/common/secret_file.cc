#include "common/secret_file.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "common/log.h"

namespace parkbase {

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    LogLine(LogLevel::kWarning, "secret file unreadable").Str("path", path).Emit();
    return absl::UnavailableError("cannot read a credentials file; retry the call");
  }
  std::stringstream content;
  content << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(content.str()));
}

}  // namespace parkbase
