// The park administrator's command line: `parkbase tenant ...` and `parkbase key ...` talk gRPC to a running
// server, print tables (or JSON with --output=json) and exit with codes scripts can rely on (see kExitCodes).
#pragma once

#include <string>
#include <vector>

namespace parkbase::cli {

// Exit codes: 0 success, 1 local failure, 2 usage error, and 10 + the gRPC status code when the server refused
// (e.g. 15 NOT_FOUND, 16 ALREADY_EXISTS, 17 PERMISSION_DENIED, 19 FAILED_PRECONDITION, 24 UNAVAILABLE,
// 26 UNAUTHENTICATED).
inline constexpr int kExitUsage = 2;
inline constexpr int kExitServerErrorBase = 10;

// Prints the help of a command path (e.g. {"tenant", "create"}); returns false when the path is unknown.
bool PrintHelp(const std::vector<std::string>& command);

// Runs `parkbase tenant|key|health ...` with the positional arguments after the program name.
int RunAdminCommand(const std::vector<std::string>& args);

}  // namespace parkbase::cli
