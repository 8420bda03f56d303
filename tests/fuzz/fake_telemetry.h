// The telemetry service's dependencies in memory, for its fuzz target: a TelemetryStore holding each tenant's chunks,
// rollup rows and ingest log as PgTelemetryStore reads them (a chunk window at a time, within the scan budget), and
// the Redis-backed rate limiter, latest values and live feed. Device rows come from a FakeDeviceStore, as the real
// store reads the registry's tables.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fuzz/fake_device_store.h"
#include "support/store_hook.h"
#include "telemetry/redis_state.h"
#include "telemetry/telemetry_store.h"

namespace parkbase::fuzz {

class FakeTelemetryStore final : public telemetry::TelemetryStore {
 public:
  struct Batch {
    telemetry::BatchIdentity identity;
    std::string response;
    std::string block;
    int64_t min_time_ms = 0;
    int64_t max_time_ms = 0;
  };
  // resolution in seconds -> row start -> the row's series (rollup.h)
  using Rollups = std::map<int, std::map<int64_t, std::vector<telemetry::SeriesEntry>>>;
  struct TenantData {
    telemetry::TenantLimits limits;
    // Compacted points and their rollups: set up once, never written by the logic, so shared by every input's copy.
    std::shared_ptr<const std::vector<telemetry::SeriesEntry>> chunks =
        std::make_shared<std::vector<telemetry::SeriesEntry>>();
    std::shared_ptr<const Rollups> rollups = std::make_shared<Rollups>();
    std::vector<Batch> log;  // committed batches, in commit order
    std::vector<AuditEntry> audit;
  };

  explicit FakeTelemetryStore(FakeDeviceStore& devices) : devices_(devices) {}

  std::map<std::string, TenantData> tenants;
  testing::StoreHook* hook = nullptr;

  // Set-up: `chunks` become the tenant's compacted points, with their one-minute and one-hour rollup rows.
  void Compact(const std::string& tenant_id, std::vector<telemetry::SeriesEntry> chunks);
  std::string Digest(const std::string& tenant_id) const;

  absl::StatusOr<std::optional<telemetry::EarlierBatch>> AppendBatch(const TenantScope& scope,
                                                                     const telemetry::BatchIdentity& identity,
                                                                     const std::string& response,
                                                                     absl::string_view block, int64_t min_time_ms,
                                                                     int64_t max_time_ms, int64_t points,
                                                                     int64_t raw_bytes) override;
  // Rows and block bytes of the tenant's log (points are not kept per batch here; the fuzz targets run without
  // back-pressure).
  absl::StatusOr<telemetry::LogBacklog> ReadLogBacklog(const TenantScope& scope) override;
  absl::StatusOr<telemetry::TenantLimits> LoadLimits(const TenantScope& scope) override;
  absl::Status SaveRetention(const TenantScope& scope, const telemetry::TenantLimits& limits, int64_t if_revision,
                             const AuditEntry& audit) override;
  absl::StatusOr<std::string> DeviceByIdentifier(const TenantScope& scope, const std::string& identifier) override;
  absl::StatusOr<std::vector<std::string>> DevicesByLabels(
      const TenantScope& scope, const absl::flat_hash_map<std::string, std::string>& labels, int limit) override;
  absl::StatusOr<std::vector<std::string>> ExistingDeviceTypes(const TenantScope& scope,
                                                               const std::vector<std::string>& type_ids) override;
  absl::StatusOr<std::vector<std::string>> MetricsOfDeviceType(const TenantScope& scope,
                                                               const std::string& device_type_id) override;
  absl::StatusOr<telemetry::ScanOutcome> ScanWindows(
      const TenantScope& scope, const telemetry::SeriesFilter& filter, int64_t start_ms, int64_t end_ms,
      telemetry::ScanBudget& budget,
      absl::FunctionRef<bool(int64_t window_start_ms, telemetry::SeriesMap& points)> visit) override;
  absl::StatusOr<telemetry::StoredSeries> ReadRollups(const TenantScope& scope, const telemetry::SeriesFilter& filter,
                                                      int resolution_s, int64_t start_ms, int64_t end_ms,
                                                      telemetry::ScanBudget& budget) override;
  absl::StatusOr<absl::flat_hash_map<telemetry::SeriesKey, telemetry::LatestPoint>> ReadLatest(
      const TenantScope& scope,
      const absl::flat_hash_map<std::string, std::vector<std::string>>& wanted) override;

 private:
  absl::Status Enter(absl::string_view operation, const TenantScope& scope);
  // The log's entries of `filter` in batches overlapping [start_ms, end_ms), in commit order.
  std::vector<telemetry::SeriesEntry> LogEntries(const TenantData& data, const telemetry::SeriesFilter& filter,
                                                 int64_t start_ms, int64_t end_ms, int64_t& bytes) const;

  FakeDeviceStore& devices_;
};

// Per tenant, a bucket of twice its points per second, refilled by nothing: later batches are refused with a retry.
class FakeIngestRateLimiter final : public telemetry::IngestRateLimiter {
 public:
  testing::StoreHook* hook = nullptr;
  absl::StatusOr<Decision> Take(const std::string& tenant_id, int64_t points_per_second, int64_t points) override;

 private:
  std::map<std::string, int64_t> taken_;
};

// Latest values as RedisLatestValues keeps them: a hash per device, pending while rebuilt, trusted once complete.
class FakeLatestValues final : public telemetry::LatestValues {
 public:
  testing::StoreHook* hook = nullptr;

  absl::Status Update(const std::string& tenant_id, const std::vector<telemetry::SeriesEntry>& series) override;
  absl::Status BeginRebuild(const std::string& tenant_id, const std::vector<std::string>& devices) override;
  absl::Status FinishRebuild(const std::string& tenant_id,
                             const absl::flat_hash_map<telemetry::SeriesKey, telemetry::LatestPoint>& points,
                             const std::vector<std::string>& devices) override;
  absl::StatusOr<std::vector<std::optional<absl::flat_hash_map<std::string, telemetry::LatestPoint>>>> Read(
      const std::string& tenant_id, const std::vector<std::string>& device_ids) override;

  std::string Digest(const std::string& tenant_id) const;

 private:
  struct Hash {
    bool complete = false;
    std::map<std::string, telemetry::LatestPoint> points;
  };
  void Offer(Hash& hash, const std::string& metric, const telemetry::LatestPoint& point);
  std::map<std::pair<std::string, std::string>, Hash> hashes_;  // by (tenant, device)
};

// Keeps what was published, per tenant (the last few blocks, as a capped stream would).
class FakeLiveFeed final : public telemetry::LiveFeed {
 public:
  testing::StoreHook* hook = nullptr;
  void Publish(const std::string& tenant_id, const std::string& block) override;
  const std::vector<std::string>& Blocks(const std::string& tenant_id) { return published_[tenant_id]; }
  std::string Digest(const std::string& tenant_id) const;

 private:
  std::map<std::string, std::vector<std::string>> published_;
};

}  // namespace parkbase::fuzz
