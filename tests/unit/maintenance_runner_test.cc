// The background compaction runner (telemetry/telemetry_service.h, MaintenanceRunner): it must not leave a pass of
// log waiting for its interval. Driven here with a maintenance that only counts what it is asked to do; the
// interval is an hour, so anything that happens within the test's few seconds happened without the timer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/tracing.h"
#include "telemetry/telemetry_service.h"

namespace parkbase::telemetry {
namespace {

class CountingMaintenance final : public TelemetryMaintenance {
 public:
  struct Log {
    absl::Mutex mu;
    int compact_all_calls ABSL_GUARDED_BY(mu) = 0;
    std::vector<std::string> folded ABSL_GUARDED_BY(mu);
    // Rows each CompactAll call reports folded, in order; later calls fold nothing.
    std::vector<int64_t> rows_per_round ABSL_GUARDED_BY(mu);
  };
  explicit CountingMaintenance(Log& log) : log_(log) {}

  absl::StatusOr<CompactionStats> CompactTenant(const std::string& tenant_id) override { return FoldTenant(tenant_id); }
  absl::StatusOr<CompactionStats> FoldTenant(const std::string& tenant_id) override {
    absl::MutexLock lock(&log_.mu);
    log_.folded.push_back(tenant_id);
    return CompactionStats{};
  }
  absl::StatusOr<CompactionStats> CompactAll() override {
    absl::MutexLock lock(&log_.mu);
    CompactionStats stats;
    if (log_.compact_all_calls < static_cast<int>(log_.rows_per_round.size())) {
      stats.log_rows = log_.rows_per_round[log_.compact_all_calls];
    }
    ++log_.compact_all_calls;
    return stats;
  }
  absl::StatusOr<RetentionStats> ApplyRetention(const std::string&, absl::Time) override { return RetentionStats{}; }
  absl::StatusOr<RetentionStats> ApplyRetentionAll(absl::Time) override { return RetentionStats{}; }

 private:
  Log& log_;
};

// Waits up to `limit` for `done` (read under the log's lock); true when it came.
template <typename Done>
bool WaitFor(CountingMaintenance::Log& log, Done done, absl::Duration limit = absl::Seconds(5)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    {
      absl::MutexLock lock(&log.mu);
      if (done()) return true;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

TEST_CASE("maintenance runner: a compaction round that folded rows is followed by another at once, then the "
          "interval",
          "[telemetry][unit]") {
  CountingMaintenance::Log log;
  {
    absl::MutexLock lock(&log.mu);
    log.rows_per_round = {64, 64, 3};  // a backlog of three rounds, then nothing due
  }
  SystemClock clock;
  MaintenanceRunner runner(std::make_unique<CountingMaintenance>(log), clock, absl::Hours(1), absl::ZeroDuration());
  // The three rounds that folded rows and the one that found nothing, without waiting an hour.
  CHECK(WaitFor(log, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return log.compact_all_calls >= 4; }));
  absl::SleepFor(absl::Milliseconds(300));
  absl::MutexLock lock(&log.mu);
  CHECK(log.compact_all_calls == 4);  // a round that folded nothing waits for the interval
}

TEST_CASE("maintenance runner: a nudged tenant is folded at once, and not when compaction is off",
          "[telemetry][unit]") {
  SECTION("compaction on") {
    CountingMaintenance::Log log;
    SystemClock clock;
    MaintenanceRunner runner(std::make_unique<CountingMaintenance>(log), clock, absl::Hours(1), absl::ZeroDuration());
    REQUIRE(WaitFor(log, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return log.compact_all_calls >= 1; }));
    runner.Nudge("tenant-a");
    runner.Nudge("tenant-b");
    CHECK(WaitFor(log, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return log.folded.size() >= 2; }));
    absl::MutexLock lock(&log.mu);
    std::vector<std::string> folded = log.folded;
    std::sort(folded.begin(), folded.end());
    CHECK(folded == std::vector<std::string>{"tenant-a", "tenant-b"});
    CHECK(log.compact_all_calls == 1);  // only the tenants nudged, not a round over every tenant
  }
  SECTION("compaction off, retention on") {
    CountingMaintenance::Log log;
    SystemClock clock;
    MaintenanceRunner runner(std::make_unique<CountingMaintenance>(log), clock, absl::ZeroDuration(),
                             absl::Hours(1));
    runner.Nudge("tenant-a");
    absl::SleepFor(absl::Milliseconds(300));
    absl::MutexLock lock(&log.mu);
    CHECK(log.folded.empty());
    CHECK(log.compact_all_calls == 0);
  }
}

// Keeps the names and tenants of the spans handed to it.
class SpanNames final : public SpanSink {
 public:
  void Accept(SpanData span) override {
    absl::MutexLock lock(&mu_);
    std::string tenant;
    for (const auto& [key, value] : span.attributes) {
      if (key == "parkbase.tenant_id") tenant = std::get<std::string>(value);
    }
    names_.push_back(tenant.empty() ? span.name : span.name + " " + tenant);
  }
  std::vector<std::string> names() {
    absl::MutexLock lock(&mu_);
    return names_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> names_;
};

TEST_CASE("maintenance runner: each pass that did work is a root span of its own, an idle pass is not exported",
          "[telemetry][unit]") {
  auto sink = std::make_shared<SpanNames>();
  SetSpanSink(sink);
  {
    CountingMaintenance::Log log;
    {
      absl::MutexLock lock(&log.mu);
      log.rows_per_round = {5};  // one round with work, then idle rounds
    }
    SystemClock clock;
    MaintenanceRunner runner(std::make_unique<CountingMaintenance>(log), clock, absl::Hours(1), absl::ZeroDuration());
    REQUIRE(WaitFor(log, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return log.compact_all_calls >= 2; }));
    runner.Nudge("tenant-a");
    REQUIRE(WaitFor(log, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return log.folded.size() >= 1; }));
  }
  SetSpanSink(nullptr);
  // The runner is gone, so every span it made has ended.
  CHECK(sink->names() == std::vector<std::string>{"telemetry.compact_all", "telemetry.fold_tenant tenant-a"});
}

}  // namespace
}  // namespace parkbase::telemetry
