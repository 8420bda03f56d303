// The telemetry service's background work — folding the ingest log into chunks and rollups, and dropping what
// retention no longer keeps — as one object that the server runs on a timer and that tests and operators can run
// on demand.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/db.h"
#include "common/redis.h"

namespace parkbase::telemetry {

struct CompactionStats {
  int64_t passes = 0;          // transactions that folded log rows
  int64_t log_rows = 0;        // ingest-log rows folded and deleted
  int64_t points = 0;          // points read from them
  int64_t chunks_written = 0;  // chunk rows inserted or rewritten
  int64_t rollup_windows = 0;  // group-hours whose rollups were computed
};

struct RetentionStats {
  int64_t chunks_dropped = 0;
  int64_t rollups_dropped = 0;
  int64_t batch_ids_expired = 0;
};

struct MaintenanceOptions {
  // CompactAll folds a tenant's log once no row has arrived for `settle` (a burst is then folded in one pass
  // instead of rewritten pass after pass), or once its oldest row is 10 s old, or the log holds a pass's worth.
  // CompactTenant never waits.
  absl::Duration settle = absl::Seconds(1);
  // Called at named stages of a compaction ("chunks-written" and "log-deleted" inside a fold's transaction,
  // "rollups-written" inside a rollup computation's). A non-OK answer aborts the compaction there, as a crash
  // would. Tests only.
  std::function<absl::Status(absl::string_view stage)> fault_hook;
  // Threads that decode, fold and encode a pass's windows, and compute rollups; 0: one per core, at most 4.
  int threads = 0;
};

// What one compaction pass (one transaction) folds at most: log rows (batches), and the points they hold (the bound
// on the compactor's memory and transaction length; maintenance.cc). A tenant's log is due for folding once it
// holds kLogRowsPerPass rows, and the background runner folds a tenant at once when this replica alone has
// committed a pass's worth to its log (MaintenanceRunner::Nudge).
inline constexpr int kLogRowsPerPass = 64;
inline constexpr int64_t kPointsPerPass = 2'000'000;

class TelemetryMaintenance {
 public:
  virtual ~TelemetryMaintenance() = default;

  // Folds all of one tenant's ingest log into chunks, then computes the rollups of every window whose chunks
  // changed, settled or not. Safe to run concurrently with writes, with itself and on several replicas (a tenant is
  // compacted by one of them at a time; the others skip it).
  virtual absl::StatusOr<CompactionStats> CompactTenant(const std::string& tenant_id) = 0;
  // What the background compactor does for a tenant whose log is due, without waiting for the log to settle: folds
  // all of its log, then computes the rollups of the windows that have settled (see CompactAll).
  virtual absl::StatusOr<CompactionStats> FoldTenant(const std::string& tenant_id) = 0;
  // For every tenant: folds its log once it has settled (MaintenanceOptions::settle), and computes the rollups of
  // the windows that have settled (their hour is over and no log row has points in them, or nothing was folded
  // into them for a minute).
  virtual absl::StatusOr<CompactionStats> CompactAll() = 0;
  // Drops one tenant's chunks and rollups older than its retention policy says, as of `now`, whole rows at a time,
  // and forgets batch ids older than the 7-day dedupe window.
  virtual absl::StatusOr<RetentionStats> ApplyRetention(const std::string& tenant_id, absl::Time now) = 0;
  // ApplyRetention for every tenant.
  virtual absl::StatusOr<RetentionStats> ApplyRetentionAll(absl::Time now) = 0;
};

// `redis` may be null (latest values are then not refreshed by compaction).
std::unique_ptr<TelemetryMaintenance> MakeTelemetryMaintenance(DbPool& db, RedisClient* redis, Clock& clock,
                                                               MaintenanceOptions options = {});

}  // namespace parkbase::telemetry
