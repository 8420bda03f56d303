#include "common/pool_metrics.h"

#include <string>

#include "absl/time/clock.h"
#include "prometheus/family.h"

namespace parkbase {
namespace {

prometheus::Labels PoolLabel(absl::string_view pool) { return {{"pool", std::string(pool)}}; }

}  // namespace

PoolMetrics::PoolMetrics(prometheus::Registry& registry, absl::string_view pool)
    : capacity_(prometheus::BuildGauge()
                    .Name("parkbase_pool_connections_max")
                    .Help("Connections the pool may open at most.")
                    .Register(registry)
                    .Add(PoolLabel(pool))),
      in_use_(prometheus::BuildGauge()
                  .Name("parkbase_pool_connections_in_use")
                  .Help("Connections lent out to callers right now.")
                  .Register(registry)
                  .Add(PoolLabel(pool))),
      waiting_(prometheus::BuildGauge()
                   .Name("parkbase_pool_acquire_waiting")
                   .Help("Callers waiting for a free connection right now.")
                   .Register(registry)
                   .Add(PoolLabel(pool))),
      // Most acquires find a connection at once (the first bucket); the rest wait for another caller's round trip
      // or, at worst, the whole acquire timeout (5 s by default).
      acquire_seconds_(prometheus::BuildHistogram()
                           .Name("parkbase_pool_acquire_seconds")
                           .Help("Time callers waited for a connection.")
                           .Register(registry)
                           .Add(PoolLabel(pool), prometheus::Histogram::BucketBoundaries{0.0001, 0.0005, 0.001, 0.005,
                                                                                          0.01, 0.05, 0.1, 0.5, 1, 5})),
      timeouts_(prometheus::BuildCounter()
                    .Name("parkbase_pool_acquire_timeouts_total")
                    .Help("Waits for a connection that gave up (the call was UNAVAILABLE).")
                    .Register(registry)
                    .Add(PoolLabel(pool))) {}

void PoolMetrics::AddCapacity(int connections) { capacity_.Increment(connections); }
void PoolMetrics::WaitStarted() { waiting_.Increment(); }
void PoolMetrics::WaitEnded() { waiting_.Decrement(); }
void PoolMetrics::Acquired(absl::Duration waited) {
  in_use_.Increment();
  acquire_seconds_.Observe(absl::ToDoubleSeconds(waited));
}
void PoolMetrics::Returned() { in_use_.Decrement(); }
void PoolMetrics::TimedOut() { timeouts_.Increment(); }

bool AwaitFreeConnection(absl::Mutex& mu, const absl::Condition& available, absl::Duration timeout,
                         PoolMetrics* metrics, absl::Duration& waited) {
  waited = absl::ZeroDuration();
  if (available.Eval()) return true;
  const absl::Time start = absl::Now();
  if (metrics != nullptr) metrics->WaitStarted();
  const bool free = mu.AwaitWithTimeout(available, timeout);
  if (metrics != nullptr) {
    metrics->WaitEnded();
    if (!free) metrics->TimedOut();
  }
  waited = absl::Now() - start;
  return free;
}

std::shared_ptr<PoolMetrics> MakePoolMetrics(prometheus::Registry* registry, absl::string_view pool) {
  if (registry == nullptr) return nullptr;
  return std::make_shared<PoolMetrics>(*registry, pool);
}

}  // namespace parkbase
