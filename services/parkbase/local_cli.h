// The commands that need no server: `parkbase version`, `parkbase completion bash|zsh` (scripts made from the
// same command table as the help, so the two cannot drift) and `parkbase config ...` (the profiles file).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "parkbase/admin_cli.h"

namespace parkbase::cli {

const std::vector<std::pair<std::string, Command>>& LocalCommands();

// Whether `args[0]` is one of these commands.
bool IsLocalCommand(const std::vector<std::string>& args);
// Runs `parkbase version|completion|config ...`; `args` are the positional arguments after the program name.
int RunLocalCommand(const std::vector<std::string>& args);

// The completion script for `shell` ("bash" or "zsh"); empty for any other shell.
std::string CompletionScript(const std::string& shell);

}  // namespace parkbase::cli
