// The metrics an on-call operator reads when something breaks, checked where they are computed: the telemetry
// maintenance's counters (telemetry/maintenance_metrics.h) and a pool's wait accounting (common/pool_metrics.h).
// The pools themselves, against real PostgreSQL and Redis, are in tests/integration/operability_metrics_test.cc.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/pool_metrics.h"
#include "prometheus/registry.h"
#include "support/observed.h"
#include "telemetry/maintenance_metrics.h"

namespace parkbase::telemetry {
namespace {

// A maintenance whose every answer the test sets.
class ScriptedMaintenance final : public TelemetryMaintenance {
 public:
  absl::StatusOr<CompactionStats> compaction = CompactionStats{};
  absl::StatusOr<RetentionStats> retention = RetentionStats{};

  absl::StatusOr<CompactionStats> CompactTenant(const std::string&) override { return compaction; }
  absl::StatusOr<CompactionStats> FoldTenant(const std::string&) override { return compaction; }
  absl::StatusOr<CompactionStats> CompactAll() override { return compaction; }
  absl::StatusOr<RetentionStats> ApplyRetention(const std::string&, absl::Time) override { return retention; }
  absl::StatusOr<RetentionStats> ApplyRetentionAll(absl::Time) override { return retention; }
};

double Series(prometheus::Registry& registry, const std::string& series) {
  return parkbase::testing::SeriesValue(registry, series);
}

TEST_CASE("maintenance metrics: a run's stats are added up, failures counted by operation and reason",
          "[telemetry][unit]") {
  prometheus::Registry registry;
  auto scripted = std::make_unique<ScriptedMaintenance>();
  ScriptedMaintenance& script = *scripted;
  std::unique_ptr<TelemetryMaintenance> maintenance = WithMaintenanceMetrics(std::move(scripted), registry);

  // Nothing has run: the counters exist at zero, so an alert's rate() answers from the first scrape.
  CHECK(Series(registry, "parkbase_telemetry_compaction_points_total") == 0);
  CHECK(Series(registry, "parkbase_telemetry_retention_deleted_total{kind=\"chunks\"}") == 0);
  CHECK(Series(registry, "parkbase_telemetry_compaction_last_success_timestamp_seconds") == 0);

  script.compaction = CompactionStats{
      .passes = 2, .log_rows = 70, .points = 1'500'000, .chunks_written = 12, .rollup_windows = 3};
  REQUIRE(maintenance->FoldTenant("acme").ok());
  script.compaction = CompactionStats{.passes = 1, .log_rows = 5, .points = 500, .chunks_written = 1};
  REQUIRE(maintenance->CompactAll().ok());
  CHECK(Series(registry, "parkbase_telemetry_compaction_passes_total") == 3);
  CHECK(Series(registry, "parkbase_telemetry_compaction_log_rows_total") == 75);
  CHECK(Series(registry, "parkbase_telemetry_compaction_points_total") == 1'500'500);
  CHECK(Series(registry, "parkbase_telemetry_compaction_chunks_written_total") == 13);
  CHECK(Series(registry, "parkbase_telemetry_compaction_rollup_windows_total") == 3);
  CHECK(Series(registry, "parkbase_telemetry_compaction_seconds_count{operation=\"fold_tenant\"}") == 1);
  CHECK(Series(registry, "parkbase_telemetry_compaction_seconds_count{operation=\"compact_all\"}") == 1);
  const double last_success = Series(registry, "parkbase_telemetry_compaction_last_success_timestamp_seconds");
  CHECK(last_success > absl::ToUnixSeconds(absl::Now()) - 60);

  // A failure passes through unchanged, adds no stats, and is counted by its code as the gRPC metrics spell it.
  script.compaction = absl::UnavailableError("database: cannot connect; retry the call");
  absl::StatusOr<CompactionStats> failed = maintenance->CompactTenant("acme");
  CHECK(absl::IsUnavailable(failed.status()));
  script.compaction = absl::DeadlineExceededError("statement timeout");
  CHECK(absl::IsDeadlineExceeded(maintenance->CompactAll().status()));
  const std::string failures = "parkbase_telemetry_compaction_failures_total";
  CHECK(Series(registry, failures + "{operation=\"compact_tenant\",reason=\"Unavailable\"}") == 1);
  CHECK(Series(registry, failures + "{operation=\"compact_all\",reason=\"DeadlineExceeded\"}") == 1);
  CHECK(Series(registry, "parkbase_telemetry_compaction_passes_total") == 3);
  CHECK(Series(registry, "parkbase_telemetry_compaction_seconds_count{operation=\"compact_tenant\"}") == 1);

  script.retention = RetentionStats{.chunks_dropped = 40, .rollups_dropped = 7, .batch_ids_expired = 1000};
  REQUIRE(maintenance->ApplyRetentionAll(absl::Now()).ok());
  REQUIRE(maintenance->ApplyRetention("acme", absl::Now()).ok());
  CHECK(Series(registry, "parkbase_telemetry_retention_deleted_total{kind=\"chunks\"}") == 80);
  CHECK(Series(registry, "parkbase_telemetry_retention_deleted_total{kind=\"rollups\"}") == 14);
  CHECK(Series(registry, "parkbase_telemetry_retention_deleted_total{kind=\"batch_ids\"}") == 2000);
  CHECK(Series(registry, "parkbase_telemetry_retention_last_success_timestamp_seconds") > 0);
  script.retention = absl::InternalError("corrupt chunk");
  CHECK(absl::IsInternal(maintenance->ApplyRetentionAll(absl::Now()).status()));
  CHECK(Series(registry, "parkbase_telemetry_retention_failures_total{reason=\"Internal\"}") == 1);
  CHECK(Series(registry, "parkbase_telemetry_retention_deleted_total{kind=\"chunks\"}") == 80);
}

TEST_CASE("pool metrics: a caller that finds no free connection is counted waiting, then timed out or served",
          "[unit]") {
  prometheus::Registry registry;
  std::shared_ptr<PoolMetrics> metrics = MakePoolMetrics(&registry, "test");
  metrics->AddCapacity(1);
  CHECK(Series(registry, "parkbase_pool_connections_max{pool=\"test\"}") == 1);
  CHECK(MakePoolMetrics(nullptr, "none") == nullptr);

  absl::Mutex mu;
  bool free = true;
  auto available = [&free]() { return free; };
  absl::Duration waited;
  {
    absl::MutexLock lock(&mu);
    REQUIRE(AwaitFreeConnection(mu, absl::Condition(&available), absl::Seconds(1), metrics.get(), waited));
    CHECK(waited == absl::ZeroDuration());
    metrics->Acquired(waited);
    free = false;
  }
  CHECK(Series(registry, "parkbase_pool_connections_in_use{pool=\"test\"}") == 1);

  // No connection comes free: the caller waits, counted, and gives up after the timeout.
  {
    absl::MutexLock lock(&mu);
    CHECK_FALSE(AwaitFreeConnection(mu, absl::Condition(&available), absl::Milliseconds(50), metrics.get(), waited));
    CHECK(waited >= absl::Milliseconds(50));
  }
  CHECK(Series(registry, "parkbase_pool_acquire_timeouts_total{pool=\"test\"}") == 1);
  CHECK(Series(registry, "parkbase_pool_acquire_waiting{pool=\"test\"}") == 0);

  // A waiter is visible while it waits, and is served once the holder gives the connection back.
  std::atomic<bool> served{false};
  std::thread waiter([&] {
    absl::Duration waiter_waited;
    absl::MutexLock lock(&mu);
    if (AwaitFreeConnection(mu, absl::Condition(&available), absl::Seconds(10), metrics.get(), waiter_waited)) {
      free = false;
      metrics->Acquired(waiter_waited);
      served = true;
    }
  });
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (Series(registry, "parkbase_pool_acquire_waiting{pool=\"test\"}") != 1 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  CHECK(Series(registry, "parkbase_pool_acquire_waiting{pool=\"test\"}") == 1);
  {
    absl::MutexLock lock(&mu);
    metrics->Returned();
    free = true;
  }
  waiter.join();
  CHECK(served);
  CHECK(Series(registry, "parkbase_pool_acquire_waiting{pool=\"test\"}") == 0);
  CHECK(Series(registry, "parkbase_pool_connections_in_use{pool=\"test\"}") == 1);
  // Two acquires are observed, the one at once and the waiter's: the wait that timed out got no connection.
  CHECK(Series(registry, "parkbase_pool_acquire_seconds_count{pool=\"test\"}") == 2);
  metrics->AddCapacity(-1);
  CHECK(Series(registry, "parkbase_pool_connections_max{pool=\"test\"}") == 0);
}

}  // namespace
}  // namespace parkbase::telemetry
