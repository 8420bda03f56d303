// `parkbase app ...`: the marketplace from the command line. Providers create apps and versions and read their
// usage and statements, the park admin works through the review queue, tenant admins search the catalogue and
// install, upgrade, pin, roll back, uninstall and rate apps. Same flags, output and exit codes as admin_cli.h.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "parkbase/admin_cli.h"

namespace parkbase::cli {

// The help of every `app` command ("app create", "app version list", ...), in the order of the workflow: provider,
// park admin, tenant.
const std::vector<std::pair<std::string, Command>>& AppCommands();

// Runs `parkbase app VERB ...`; `args` are the positional arguments after `app`.
int AppCommand(const std::vector<std::string>& args);

}  // namespace parkbase::cli
