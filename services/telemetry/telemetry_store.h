// The telemetry service's storage interface and its PostgreSQL implementation (all SQL in telemetry_queries.h).
// Readers get decoded blocks in last-write-wins order; the compactor (maintenance.cc) has SQL of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
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
};

// Keeps the series of `device` (all metrics when `metrics` is empty).
struct SeriesFilter {
  std::vector<std::string> device_ids;
  std::vector<std::string> metrics;  // empty: all
};

class TelemetryStore {
 public:
  virtual ~TelemetryStore() = default;

  // Commits one encoded batch. With a batch id, a second commit of the same id stores nothing and returns the
  // first commit's serialized response instead.
  virtual absl::StatusOr<std::optional<std::string>> AppendBatch(const TenantScope& scope,
                                                                 const std::string& batch_id,
                                                                 const std::string& response, absl::string_view block,
                                                                 int64_t min_time_ms, int64_t max_time_ms,
                                                                 int64_t points) = 0;
  // NOT_FOUND when the tenant does not exist.
  virtual absl::StatusOr<TenantLimits> LoadLimits(const TenantScope& scope) = 0;
  virtual absl::Status SaveRetention(const TenantScope& scope, const TenantLimits& limits) = 0;

  // NOT_FOUND when no device of the tenant has the identifier.
  virtual absl::StatusOr<std::string> DeviceByIdentifier(const TenantScope& scope, const std::string& identifier) = 0;
  // Device ids whose labels include `labels`, at most `limit`.
  virtual absl::StatusOr<std::vector<std::string>> DevicesByLabels(
      const TenantScope& scope, const absl::flat_hash_map<std::string, std::string>& labels, int limit) = 0;

  // Raw points overlapping [start_ms, end_ms) (callers trim), from one snapshot.
  virtual absl::StatusOr<StoredSeries> ReadRaw(const TenantScope& scope, const SeriesFilter& filter,
                                               int64_t start_ms, int64_t end_ms) = 0;
  // Rollup rows of `resolution_s` overlapping the range, and the log's points in it, from one snapshot. Rollup
  // series are named "<metric>/<stat>" (see rollup.h).
  virtual absl::StatusOr<StoredSeries> ReadRollups(const TenantScope& scope, const SeriesFilter& filter,
                                                   int resolution_s, int64_t start_ms, int64_t end_ms) = 0;
  // The latest point of each wanted (device, metric), from storage, in one snapshot. `wanted` maps a device id to
  // its metrics; the search for a device stops once all of them were seen (or its chunks ran out).
  virtual absl::StatusOr<absl::flat_hash_map<SeriesKey, LatestPoint>> ReadLatest(
      const TenantScope& scope, const absl::flat_hash_map<std::string, std::vector<std::string>>& wanted) = 0;
};

class PgTelemetryStore final : public TelemetryStore {
 public:
  explicit PgTelemetryStore(LibpqPool& pool);

  absl::StatusOr<std::optional<std::string>> AppendBatch(const TenantScope& scope, const std::string& batch_id,
                                                         const std::string& response, absl::string_view block,
                                                         int64_t min_time_ms, int64_t max_time_ms,
                                                         int64_t points) override;
  absl::StatusOr<TenantLimits> LoadLimits(const TenantScope& scope) override;
  absl::Status SaveRetention(const TenantScope& scope, const TenantLimits& limits) override;
  absl::StatusOr<std::string> DeviceByIdentifier(const TenantScope& scope, const std::string& identifier) override;
  absl::StatusOr<std::vector<std::string>> DevicesByLabels(
      const TenantScope& scope, const absl::flat_hash_map<std::string, std::string>& labels, int limit) override;
  absl::StatusOr<StoredSeries> ReadRaw(const TenantScope& scope, const SeriesFilter& filter, int64_t start_ms,
                                       int64_t end_ms) override;
  absl::StatusOr<StoredSeries> ReadRollups(const TenantScope& scope, const SeriesFilter& filter, int resolution_s,
                                           int64_t start_ms, int64_t end_ms) override;
  absl::StatusOr<absl::flat_hash_map<SeriesKey, LatestPoint>> ReadLatest(
      const TenantScope& scope, const absl::flat_hash_map<std::string, std::vector<std::string>>& wanted) override;

 private:
  LibpqPool& pool_;
};

}  // namespace parkbase::telemetry
