// What an on-call operator reads first about a process, in the names every Prometheus client library uses
// (process_resident_memory_bytes, process_open_fds, ...), so existing dashboards and alerts work unchanged, and
// parkbase_build_info{version,revision}, so a scrape tells which build answers. prometheus-cpp 1.0 has no process
// collector of its own; the values are read from /proc at each scrape, so they are never stale.
#pragma once

#include <memory>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace parkbase {

class ProcessMetrics final : public prometheus::Collectable {
 public:
  ProcessMetrics();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const double start_time_seconds_;
};

// One per process (the exposer holds collectables weakly: this one lives as long as the process).
std::shared_ptr<ProcessMetrics> SharedProcessMetrics();

// The version and revision built in (CMake: PARKBASE_VERSION, and the git revision at configure time).
const char* BuildVersion();
const char* BuildRevision();

}  // namespace parkbase
