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

  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace parkbase::telemetry
