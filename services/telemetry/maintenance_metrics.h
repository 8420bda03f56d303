// The telemetry maintenance's counters: what an on-call operator looks at when the ingest backlog grows (is the
// compactor running, folding, failing, and why) or disk use does (does retention delete anything).
#pragma once

#include <memory>

#include "prometheus/registry.h"
#include "telemetry/maintenance.h"

namespace parkbase::telemetry {

// `maintenance`, with every run it does counted in `registry`, whoever asks for it (the background runner or a
// test): parkbase_telemetry_compaction_{passes,log_rows,points,chunks_written,rollup_windows}_total, the seconds a
// run took by operation, failures by reason (the status code, spelled as the gRPC metrics spell it), and the time
// of the last successful run; parkbase_telemetry_retention_deleted_total by kind and retention's failures.
std::unique_ptr<TelemetryMaintenance> WithMaintenanceMetrics(std::unique_ptr<TelemetryMaintenance> maintenance,
                                                             prometheus::Registry& registry);

}  // namespace parkbase::telemetry
