// Back-pressure on the write path: a tenant whose ingest log holds more points than the compactor has folded
// (telemetry_ingest_log's backlog) past a bound gets RESOURCE_EXHAUSTED with RetryInfo instead of a log that grows
// without end. The backlog is sampled from PostgreSQL in the background, not read per batch (docs/telemetry.md,
// "Back-pressure").
//
// Per tenant, because the compactor works per tenant (one advisory lock each) and one tenant's burst must not
// refuse another tenant's writes. Between samples a replica adds the points it committed itself, so a burst into
// one replica is seen at once; other replicas' commits and the compactor's deletes are seen at the next sample.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "telemetry/telemetry_store.h"

namespace parkbase::telemetry {

// The labels of a per-tenant ingest counter: `labels` plus the tenant, or `labels` alone when the park turned the
// tenant label off (ServerConfig::metrics_tenant_label) to keep its series count bounded.
inline prometheus::Labels IngestCounterLabels(bool tenant_label, const std::string& tenant_id,
                                              prometheus::Labels labels = {}) {
  if (tenant_label) labels.emplace("tenant", tenant_id);
  return labels;
}

class IngestBacklog {
 public:
  struct Options {
    // Points written but not yet compacted that a tenant may have; at or past it, its writes are refused. 0: off.
    int64_t max_points = 0;
    // How old a sample may be before a refusal is checked against a fresh one, and how often the background
    // thread samples every tenant it tracks (real time; zero: no thread, samples only on refusals).
    absl::Duration sample_interval = absl::Milliseconds(250);
    // What a refused writer is told to wait (google.rpc.RetryInfo).
    absl::Duration retry_after = absl::Seconds(1);
    // Whether parkbase_telemetry_batches_refused_total carries the tenant (IngestCounterLabels).
    bool tenant_metric_label = true;
  };

  // `clock` decides how old a sample is (tests move it); the background thread runs on real time.
  IngestBacklog(Options options, TelemetryStore& store, Clock& clock, prometheus::Registry& registry);
  ~IngestBacklog();
  IngestBacklog(const IngestBacklog&) = delete;
  IngestBacklog& operator=(const IngestBacklog&) = delete;

  // OK when the tenant may write now; RESOURCE_EXHAUSTED (QuotaFailure naming telemetry_backlog_max_points,
  // ErrorInfo INGEST_BACKLOG, RetryInfo) while its backlog is at or past the bound. A refusal is checked against
  // a sample at most `sample_interval` old, so a tenant is let go as soon as the compactor has caught up.
  absl::Status Admit(const std::string& tenant_id);
  // A batch of `points` was committed to the tenant's log by this replica.
  void Committed(const std::string& tenant_id, int64_t points);
  // Calls `hook` with a tenant (on the writer's thread, outside this object's lock) each time this replica has
  // committed `rows` batches or `points` points to that tenant's log since the last call for it: a compaction
  // pass's worth, which the compactor then folds at once instead of at its next interval. Whatever the bound.
  // An empty hook turns it off; this returns only once no call of the previous hook runs.
  void SetPassHook(int64_t rows, int64_t points, std::function<void(const std::string&)> hook);

  // Counts a batch refused for another reason (say, the ingest quota) in the same refusal counter.
  void CountRefusal(const std::string& tenant_id, const std::string& reason);

  // Samples every tracked tenant now (what the background thread does each interval).
  void SampleAll();

 private:
  struct State {
    LogBacklog sampled;
    absl::Time sampled_at = absl::InfinitePast();
    // Points this replica committed: all time, and as of the sample (so the estimate adds only what came after).
    int64_t committed = 0;
    int64_t committed_at_sample = 0;
    absl::Time last_write = absl::InfinitePast();
    bool sampling = false;
    // Committed by this replica since the pass hook last ran for the tenant.
    int64_t rows_since_pass = 0;
    int64_t points_since_pass = 0;
    int64_t Estimate() const { return sampled.points + committed - committed_at_sample; }
  };

  void Sample(const std::string& tenant_id);
  void Loop();

  const Options options_;
  TelemetryStore& store_;
  Clock& clock_;
  prometheus::Family<prometheus::Gauge>& points_;
  prometheus::Family<prometheus::Gauge>& rows_;
  prometheus::Family<prometheus::Gauge>& oldest_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Gauge& bound_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, State> tenants_ ABSL_GUARDED_BY(mu_);
  int64_t pass_rows_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t pass_points_ ABSL_GUARDED_BY(mu_) = 0;
  // Held while the hook runs, so that replacing it waits for running calls. Taken before mu_, never under it.
  absl::Mutex hook_mu_;
  std::function<void(const std::string&)> pass_hook_ ABSL_GUARDED_BY(hook_mu_);

  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace parkbase::telemetry
