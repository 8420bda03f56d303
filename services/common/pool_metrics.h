// What an operator needs to tell a saturated connection pool from a slow database: how many connections a pool may
// open and how many are lent out, how many callers wait for one, how long they waited, and how often a wait gave up
// (the caller then got UNAVAILABLE). One set of series per pool name ("postgres", "postgres_ingest", "redis");
// several pools of one name in a process (the all-in-one server) add up.
#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace parkbase {

class PoolMetrics {
 public:
  PoolMetrics(prometheus::Registry& registry, absl::string_view pool);

  // A pool adds its size when it is made and takes it back when it goes.
  void AddCapacity(int connections);
  // Around a wait for a free connection (only when none was free at once).
  void WaitStarted();
  void WaitEnded();
  // A connection was lent out after `waited` (zero when one was free at once); Returned when it comes back (or is
  // closed instead).
  void Acquired(absl::Duration waited);
  void Returned();
  // A wait gave up after the pool's acquire timeout.
  void TimedOut();

 private:
  prometheus::Gauge& capacity_;
  prometheus::Gauge& in_use_;
  prometheus::Gauge& waiting_;
  prometheus::Histogram& acquire_seconds_;
  prometheus::Counter& timeouts_;
};

// Waits, holding `mu`, until `available` holds, at most `timeout`; false when it gave up. Sets `waited` (zero when
// a connection was free at once, without reading the clock) and counts waiters and timeouts in `metrics` (may be
// null). The caller reports Acquired once it really holds a connection.
bool AwaitFreeConnection(absl::Mutex& mu, const absl::Condition& available, absl::Duration timeout,
                         PoolMetrics* metrics, absl::Duration& waited) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

// The metrics of pool `pool` in `registry`; null when `registry` is (pools then keep no metrics).
std::shared_ptr<PoolMetrics> MakePoolMetrics(prometheus::Registry* registry, absl::string_view pool);

}  // namespace parkbase
