// `parkbase telemetry latest|read|aggregate|write`: a tenant's telemetry from the command line. Reads print tables,
// JSON, YAML or CSV (-o csv, for export); `write --from-csv FILE` imports history with the points' own timestamps,
// in batches, each value typed by the device type's schema. Same flags and exit codes as admin_cli.h.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "parkbase/admin_cli.h"

namespace parkbase::cli {

const std::vector<std::pair<std::string, Command>>& TelemetryCommands();

// `verb` is the word after `telemetry`, `args` the positional arguments after it.
int TelemetryCommand(const std::string& verb, const std::vector<std::string>& args);

}  // namespace parkbase::cli
