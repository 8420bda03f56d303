// `parkbase device-type ...` and `parkbase device ...`: a tenant's device registry from the command line, including
// `device import FILE` (CSV or JSON lines through the streaming ImportDevices call, a progress bar when stderr is a
// terminal). Same flags, output and exit codes as admin_cli.h; the tenant is Tenant().
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "parkbase/admin_cli.h"

namespace parkbase::cli {

const std::vector<std::pair<std::string, Command>>& DeviceCommands();

// `verb` is the word after `device-type` / `device`, `args` the positional arguments after it.
int DeviceTypeCommand(const std::string& verb, const std::vector<std::string>& args);
int DeviceCommand(const std::string& verb, const std::vector<std::string>& args);

}  // namespace parkbase::cli
