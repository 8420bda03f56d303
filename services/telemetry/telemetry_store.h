// The telemetry service's storage interface and its PostgreSQL implementation (all SQL in telemetry_queries.h).
// Readers get decoded points in last-write-wins order, a chunk window at a time and within a budget per call;
// the compactor (maintenance.cc) has SQL of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/audit.h"
#include "common/db.h"
#include "common/libpq_pool.h"
#include "parkbase/telemetry/v1/telemetry.pb.h"
#include "telemetry/codec.h"
#include "telemetry/series.h"

namespace parkbase::telemetry {

namespace pb = ::parkbase::telemetry::v1;

// A tenant's limits and retention, as stored (quota from the tenant registry, policy from telemetry_retention).
struct TenantLimits {
  int64_t points_per_second = 0;
  int32_t quota_retention_days = 0;
  int32_t raw_retention_days = 0;
  absl::flat_hash_map<std::string, int32_t> device_type_raw_retention_days;
  int32_t rollup_1m_retention_days = 90;
  int32_t rollup_1h_retention_days = 730;
  // Counts the policy's changes; 0 while the tenant has never set one.
  int64_t policy_revision = 0;
};

// One point: its time and value.
struct LatestPoint {
  int64_t time_ms = 0;
  pb::Value value;
};

// What a reader gets: series in write order, from chunks (or rollups) first and the ingest log after.
struct StoredSeries {
  std::vector<SeriesEntry> compacted;  // chunk generations or rollup rows, oldest first
  std::vector<SeriesEntry> log;        // not yet compacted, by log id
  // ReadRollups: (device, window start) of the hours whose chunks changed since their rollups were computed; their
  // rollup buckets are stale or missing and must come from raw points.
  std::vector<std::pair<std::string, int64_t>> unsettled_windows;
};

// The series of `device_ids` (all their metrics when `metrics` is empty).
struct SeriesFilter {
  std::vector<std::string> device_ids;
  std::vector<std::string> metrics;  // empty: all
};

// What one call may read from storage: bytes fetched and points decoded. Reads stop (or are refused) once either
// runs out, so no request can make a replica fetch or decode without bound.
struct ScanBudget {
  int64_t max_bytes = 0;
  int64_t max_points = 0;
  int64_t bytes = 0;
  int64_t points = 0;

  bool exhausted() const { return bytes >= max_bytes || points >= max_points; }
};

// How far a window scan got.
struct ScanOutcome {
  // False: the budget ran out (or the visitor stopped) before `end_ms`; the windows before `resume_ms` were visited.
  bool complete = true;
  int64_t resume_ms = 0;
};

// Who wrote a batch, for batch-id dedupe: ids are unique per writer (docs/telemetry.md).
struct BatchIdentity {
  std::string writer;      // "key:<key id>", "device:<device id>[/<writer id>]" or "writer:<writer id>"
  std::string batch_id;    // empty: no dedupe
  std::string payload_sha256;  // raw digest of the batch's points
};

// What a tenant's ingest log holds that the compactor has not folded yet (back-pressure, ingest_backlog.h).
struct LogBacklog {
  int64_t rows = 0;
  int64_t points = 0;
  int64_t raw_bytes = 0;  // decoded size
  absl::Duration oldest_age;
};

// The stored answer to a batch id seen before.
struct EarlierBatch {
  std::string response;        // serialized WriteResponse
  std::string payload_sha256;  // empty for batches stored before digests were kept
};

class TelemetryStore {
 public:
  virtual ~TelemetryStore() = default;

  // Commits one encoded batch. With a batch id, a batch id the writer used before stores nothing and returns the
  // earlier batch instead. `raw_bytes`: the block's decoded size.
  virtual absl::StatusOr<std::optional<EarlierBatch>> AppendBatch(const TenantScope& scope,
                                                                  const BatchIdentity& identity,
                                                                  const std::string& response,
                                                                  absl::string_view block, int64_t min_time_ms,
                                                                  int64_t max_time_ms, int64_t points,
                                                                  int64_t raw_bytes) = 0;
  // One aggregate over the tenant's ingest log (its rows are few: the compactor keeps folding them).
  virtual absl::StatusOr<LogBacklog> ReadLogBacklog(const TenantScope& scope) = 0;
  // NOT_FOUND when the tenant does not exist; DATA_LOSS when the stored policy does not parse (never "no
  // overrides": retention would then drop what the tenant asked to keep).
  virtual absl::StatusOr<TenantLimits> LoadLimits(const TenantScope& scope) = 0;
  // Stores the policy and the audit event of the change in one transaction. With `if_revision` >= 0, only if the
  // stored policy is still at that revision (ABORTED otherwise).
  virtual absl::Status SaveRetention(const TenantScope& scope, const TenantLimits& limits, int64_t if_revision,
                                     const AuditEntry& audit) = 0;

  // NOT_FOUND when no device of the tenant has the identifier.
  virtual absl::StatusOr<std::string> DeviceByIdentifier(const TenantScope& scope, const std::string& identifier) = 0;
  // Device ids whose labels include `labels`, at most `limit`.
  virtual absl::StatusOr<std::vector<std::string>> DevicesByLabels(
      const TenantScope& scope, const absl::flat_hash_map<std::string, std::string>& labels, int limit) = 0;
  // The ids among `type_ids` that name device types of the tenant.
  virtual absl::StatusOr<std::vector<std::string>> ExistingDeviceTypes(const TenantScope& scope,
                                                                       const std::vector<std::string>& type_ids) = 0;
  // The metric names of every version of a device type, sorted.
  virtual absl::StatusOr<std::vector<std::string>> MetricsOfDeviceType(const TenantScope& scope,
                                                                       const std::string& device_type_id) = 0;

  // Visits the stored points of `filter` in [start_ms, end_ms), one chunk window (kChunkWindowMs) at a time in
  // time order, each window's points merged last-write-wins from its chunk generations and the not yet compacted
  // log, all from one snapshot. Stops when `visit` returns false or `budget` runs out (checked before each fetch;
  // at least one window is visited per call).
  virtual absl::StatusOr<ScanOutcome> ScanWindows(
      const TenantScope& scope, const SeriesFilter& filter, int64_t start_ms, int64_t end_ms, ScanBudget& budget,
      absl::FunctionRef<bool(int64_t window_start_ms, SeriesMap& points)> visit) = 0;
  // Rollup rows of `resolution_s` overlapping the range, and the log's points in it, from one snapshot. Rollup
  // series are named "<metric>/<stat>" (see rollup.h). RESOURCE_EXHAUSTED when they exceed `budget`.
  virtual absl::StatusOr<StoredSeries> ReadRollups(const TenantScope& scope, const SeriesFilter& filter,
                                                   int resolution_s, int64_t start_ms, int64_t end_ms,
                                                   ScanBudget& budget) = 0;
  // The latest point of each wanted (device, metric), from storage, in one snapshot: each device group's latest row
  // (kept by the compactor) and the log. `wanted` maps a device id to its metrics.
  virtual absl::StatusOr<absl::flat_hash_map<SeriesKey, LatestPoint>> ReadLatest(
      const TenantScope& scope, const absl::flat_hash_map<std::string, std::vector<std::string>>& wanted) = 0;
};

class PgTelemetryStore final : public TelemetryStore {
 public:
  explicit PgTelemetryStore(LibpqPool& pool);

  absl::StatusOr<std::optional<EarlierBatch>> AppendBatch(const TenantScope& scope, const BatchIdentity& identity,
                                                          const std::string& response, absl::string_view block,
                                                          int64_t min_time_ms, int64_t max_time_ms, int64_t points,
                                                          int64_t raw_bytes) override;
  absl::StatusOr<LogBacklog> ReadLogBacklog(const TenantScope& scope) override;
  absl::StatusOr<TenantLimits> LoadLimits(const TenantScope& scope) override;
  absl::Status SaveRetention(const TenantScope& scope, const TenantLimits& limits, int64_t if_revision,
                             const AuditEntry& audit) override;
  absl::StatusOr<std::string> DeviceByIdentifier(const TenantScope& scope, const std::string& identifier) override;
  absl::StatusOr<std::vector<std::string>> DevicesByLabels(
      const TenantScope& scope, const absl::flat_hash_map<std::string, std::string>& labels, int limit) override;
  absl::StatusOr<std::vector<std::string>> ExistingDeviceTypes(const TenantScope& scope,
                                                               const std::vector<std::string>& type_ids) override;
  absl::StatusOr<std::vector<std::string>> MetricsOfDeviceType(const TenantScope& scope,
                                                               const std::string& device_type_id) override;
  absl::StatusOr<ScanOutcome> ScanWindows(const TenantScope& scope, const SeriesFilter& filter, int64_t start_ms,
                                          int64_t end_ms, ScanBudget& budget,
                                          absl::FunctionRef<bool(int64_t, SeriesMap&)> visit) override;
  absl::StatusOr<StoredSeries> ReadRollups(const TenantScope& scope, const SeriesFilter& filter, int resolution_s,
                                           int64_t start_ms, int64_t end_ms, ScanBudget& budget) override;
  absl::StatusOr<absl::flat_hash_map<SeriesKey, LatestPoint>> ReadLatest(
      const TenantScope& scope, const absl::flat_hash_map<std::string, std::vector<std::string>>& wanted) override;

 private:
  LibpqPool& pool_;
};

// The stored form of the per-type overrides: the proto JSON of a RetentionPolicy carrying only
// device_type_raw_retention_days (both ways through protobuf's JSON mapping).
absl::StatusOr<std::string> EncodeRetentionOverrides(const absl::flat_hash_map<std::string, int32_t>& overrides);
absl::StatusOr<absl::flat_hash_map<std::string, int32_t>> DecodeRetentionOverrides(absl::string_view json);

}  // namespace parkbase::telemetry
