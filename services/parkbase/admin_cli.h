// The park administrator's command line: `parkbase tenant ...` and `parkbase key ...` talk gRPC to a running
// server, print tables (or JSON with --output=json) and exit with codes scripts can rely on (see kExitCodes).
#pragma once

#include <string>
#include <vector>

namespace parkbase::cli {

// Exit codes: 0 success, 1 local failure, 2 usage error, and 10 + the gRPC status code when a call failed, 11
// CANCELLED to 26 UNAUTHENTICATED (e.g. 14 DEADLINE_EXCEEDED, 15 NOT_FOUND, 24 UNAVAILABLE); the help text lists
// them all.
inline constexpr int kExitUsage = 2;
inline constexpr int kExitServerErrorBase = 10;

// Prints the help of a command path (e.g. {"tenant", "create"}); returns false when the path is unknown.
bool PrintHelp(const std::vector<std::string>& command);

// Runs `parkbase tenant|key|health ...` with the positional arguments after the program name.
int RunAdminCommand(const std::vector<std::string>& args);

}  // namespace parkbase::cli
