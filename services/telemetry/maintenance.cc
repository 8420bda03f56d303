#include "telemetry/maintenance.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/libpq_pool.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "absl/strings/str_join.h"
#include "telemetry/redis_state.h"
#include "telemetry/rollup.h"
#include "telemetry/series.h"
#include "telemetry/telemetry_queries.h"
#include "telemetry/telemetry_store.h"

namespace parkbase::telemetry {
namespace {

// Log rows folded per transaction, and the points they may hold together: bounds the compactor's memory
// (~40 bytes a decoded point) and the length of its transaction.
constexpr int kLogRowsPerPass = 64;
constexpr int64_t kPointsPerPass = 2'000'000;
// A window's newest generation takes new points while it holds fewer than this; then a new generation starts.
// Bounds what one compaction rewrites, whatever the device's rate.
constexpr int64_t kGenerationPoints = 16'384;
// Chunks are compressed harder than the log: they are written once and kept for the retention period.
constexpr int kChunkZstdLevel = 3;
// Batch ids are remembered this long (see WriteRequest.batch_id).
constexpr absl::Duration kBatchIdWindow = absl::Hours(24 * 7);

struct WindowKey {
  std::string device_id;
  int64_t window_start_ms;
  bool operator<(const WindowKey& other) const {
    return std::tie(device_id, window_start_ms) < std::tie(other.device_id, other.window_start_ms);
  }
};

struct Generation {
  int64_t number = 0;
  int64_t points = 0;
  std::vector<SeriesEntry> entries;
};

int64_t CountPoints(const SeriesMap& series) {
  int64_t points = 0;
  for (const auto& [key, data] : series) points += static_cast<int64_t>(data.size());
  return points;
}

std::vector<SeriesEntry> ToEntries(SeriesMap&& series) {
  std::vector<SeriesEntry> entries;
  entries.reserve(series.size());
  for (auto& [key, data] : series) entries.push_back(SeriesEntry{key.first, key.second, std::move(data)});
  // Deterministic blocks: metric order.
  std::sort(entries.begin(), entries.end(),
            [](const SeriesEntry& a, const SeriesEntry& b) { return a.metric < b.metric; });
  return entries;
}

std::vector<SeriesEntry> CopyEntries(const std::vector<SeriesEntry>& entries) { return entries; }

class Maintenance final : public TelemetryMaintenance {
 public:
  Maintenance(DbPool& db, RedisClient* redis, Clock& clock, MaintenanceOptions options)
      : pool_(LibpqPool::Options{.url = db.options().url,
                                 .size = 2,
                                 // Folding a pass can take longer than a call may.
                                 .statement_timeout = std::max(db.options().statement_timeout, absl::Seconds(60)),
                                 .acquire_timeout = absl::Seconds(30)}),
        redis_(redis),
        clock_(clock),
        options_(std::move(options)) {}

  absl::StatusOr<CompactionStats> CompactTenant(const std::string& tenant_id) override {
    CompactionStats total;
    while (true) {
      bool more = false;
      absl::StatusOr<CompactionStats> pass = CompactPass(tenant_id, &more);
      if (!pass.ok()) return pass.status();
      total.log_rows += pass->log_rows;
      total.points += pass->points;
      total.chunks_written += pass->chunks_written;
      if (!more) break;
    }
    return total;
  }

  absl::StatusOr<CompactionStats> CompactAll() override {
    absl::StatusOr<std::vector<std::string>> tenants = Tenants();
    if (!tenants.ok()) return tenants.status();
    CompactionStats total;
    for (const std::string& tenant : *tenants) {
      absl::StatusOr<CompactionStats> stats = CompactTenant(tenant);
      if (!stats.ok()) return stats.status();
      total.log_rows += stats->log_rows;
      total.points += stats->points;
      total.chunks_written += stats->chunks_written;
    }
    return total;
  }

  absl::StatusOr<RetentionStats> ApplyRetention(const std::string& tenant_id, absl::Time now) override {
    const TenantScope scope = TenantScope::Tenant(tenant_id);
    PgTelemetryStore store(pool_);
    absl::StatusOr<TenantLimits> limits = store.LoadLimits(scope);
    if (!limits.ok()) return limits.status();
    RetentionStats stats;
    const int64_t now_ms = absl::ToUnixMillis(now);
    auto cutoff = [&](int32_t days) { return now_ms - int64_t{days} * kDayMs; };
    absl::Status status = pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
      std::vector<std::string> overridden;
      for (const auto& [type, days] : limits->device_type_raw_retention_days) {
        overridden.push_back(type);
        absl::StatusOr<PgRows> dropped = session.Exec(
            queries::kDropChunksOfType,
            {PgParam::Bytes(tenant_id), PgParam::Int64(cutoff(days)), PgParam::Bytes(type)});
        if (!dropped.ok()) return dropped.status();
        stats.chunks_dropped += dropped->affected();
      }
      absl::StatusOr<PgRows> dropped =
          session.Exec(queries::kDropChunks, {PgParam::Bytes(tenant_id), PgParam::Int64(cutoff(limits->raw_retention_days)),
                                              PgParam::Bytes(PgTextArray(overridden))});
      if (!dropped.ok()) return dropped.status();
      stats.chunks_dropped += dropped->affected();
      const struct {
        int resolution_s;
        int64_t span_ms;
        int32_t days;
      } rollups[] = {{60, kHourMs, limits->rollup_1m_retention_days}, {3600, kDayMs, limits->rollup_1h_retention_days}};
      for (const auto& rollup : rollups) {
        absl::StatusOr<PgRows> gone = session.Exec(
            queries::kDropRollups, {PgParam::Bytes(tenant_id), PgParam::Int64(rollup.resolution_s),
                                    PgParam::Int64(rollup.span_ms), PgParam::Int64(cutoff(rollup.days))});
        if (!gone.ok()) return gone.status();
        stats.rollups_dropped += gone->affected();
      }
      absl::StatusOr<PgRows> expired = session.Exec(
          queries::kExpireBatchIds,
          {PgParam::Bytes(tenant_id), PgParam::Int64(absl::ToUnixMillis(now - kBatchIdWindow))});
      if (!expired.ok()) return expired.status();
      stats.batch_ids_expired = expired->affected();
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return stats;
  }

  absl::StatusOr<RetentionStats> ApplyRetentionAll(absl::Time now) override {
    absl::StatusOr<std::vector<std::string>> tenants = Tenants();
    if (!tenants.ok()) return tenants.status();
    RetentionStats total;
    for (const std::string& tenant : *tenants) {
      absl::StatusOr<RetentionStats> stats = ApplyRetention(tenant, now);
      if (!stats.ok()) return stats.status();
      total.chunks_dropped += stats->chunks_dropped;
      total.rollups_dropped += stats->rollups_dropped;
      total.batch_ids_expired += stats->batch_ids_expired;
    }
    return total;
  }

 private:
  absl::StatusOr<std::vector<std::string>> Tenants() {
    std::vector<std::string> tenants;
    absl::Status status = pool_.Transact(TenantScope::ParkAdmin(""), [&](LibpqSession& session) -> absl::Status {
      absl::StatusOr<PgRows> rows = session.Exec(queries::kSelectTenants);
      if (!rows.ok()) return rows.status();
      for (int row = 0; row < rows->size(); ++row) tenants.emplace_back(rows->Bytes(row, 0));
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return tenants;
  }

  absl::Status Hook(absl::string_view stage) {
    if (!options_.fault_hook) return absl::OkStatus();
    return options_.fault_hook(stage);
  }

  // One transaction: read up to a pass of log rows, fold them into their windows' chunks and rollups, delete
  // exactly those rows. A crash anywhere before COMMIT leaves everything as it was.
  absl::StatusOr<CompactionStats> CompactPass(const std::string& tenant_id, bool* more) {
    CompactionStats stats;
    *more = false;
    // Newest point per series of what was folded, for the Redis refresh after commit.
    std::vector<SeriesEntry> folded_latest;
    const TenantScope scope = TenantScope::Tenant(tenant_id);
    absl::Status status = pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
      absl::StatusOr<PgRows> locked = session.Exec(queries::kTryLockTenant, {PgParam::Bytes(tenant_id)});
      if (!locked.ok()) return locked.status();
      if (locked->Bytes(0, 0) != absl::string_view("\x01", 1)) return absl::OkStatus();  // another compactor has it

      absl::StatusOr<PgRows> log =
          session.Exec(queries::kSelectLogForCompaction, {PgParam::Bytes(tenant_id), PgParam::Int64(kLogRowsPerPass)});
      if (!log.ok()) return log.status();
      if (log->size() == 0) return absl::OkStatus();
      *more = log->size() == kLogRowsPerPass;

      // Group the log's points by (device, window), in log order.
      std::map<WindowKey, SeriesMap> fresh;
      std::vector<std::string> log_ids;
      for (int row = 0; row < log->size(); ++row) {
        if (stats.points >= kPointsPerPass) {
          *more = true;
          break;
        }
        absl::StatusOr<std::vector<SeriesEntry>> entries = DecodeBlock(log->Bytes(row, 2));
        if (!entries.ok()) {
          // A block that cannot be decoded is left in place (and logged) rather than deleted: never lose data.
          LogLine(LogLevel::kError, "ingest log row cannot be decoded")
              .Str("tenant", tenant_id)
              .Num("log_id", static_cast<double>(log->Int64(row, 0)))
              .Emit();
          return entries.status();
        }
        log_ids.push_back(absl::StrCat(log->Int64(row, 0)));
        stats.log_rows++;
        stats.points += log->Int64(row, 1);
        for (SeriesEntry& entry : *entries) {
          // Split the series by window.
          absl::flat_hash_map<int64_t, SeriesData> parts;
          for (size_t i = 0; i < entry.data.size(); ++i) {
            SeriesData& part = parts[WindowStart(entry.data.timestamps_ms[i], kChunkWindowMs)];
            part.kind = entry.data.kind;
            AppendPoint(entry.data, i, part);
          }
          for (auto& [window, part] : parts) {
            std::vector<SeriesEntry> one;
            one.push_back(SeriesEntry{entry.device_id, entry.metric, std::move(part)});
            MergeInto(std::move(one), fresh[WindowKey{entry.device_id, window}]);
          }
        }
      }

      // Existing generations and device types of the windows concerned.
      std::vector<std::string> devices;
      std::vector<std::string> windows;
      absl::flat_hash_set<std::string> device_set;
      for (const auto& [key, series] : fresh) {
        devices.push_back(key.device_id);
        windows.push_back(absl::StrCat(key.window_start_ms));
        device_set.insert(key.device_id);
      }
      const std::string devices_array = PgTextArray(devices);
      const std::string windows_array = absl::StrCat("{", absl::StrJoin(windows, ","), "}");
      absl::StatusOr<PgRows> chunks = session.Exec(
          queries::kSelectChunksForWindows,
          {PgParam::Bytes(tenant_id), PgParam::Bytes(devices_array), PgParam::Bytes(windows_array)});
      if (!chunks.ok()) return chunks.status();
      std::map<WindowKey, std::vector<Generation>> existing;
      for (int row = 0; row < chunks->size(); ++row) {
        absl::StatusOr<std::vector<SeriesEntry>> entries = DecodeBlock(chunks->Bytes(row, 4));
        if (!entries.ok()) return entries.status();
        existing[WindowKey{std::string(chunks->Bytes(row, 0)), chunks->Int64(row, 1)}].push_back(
            Generation{chunks->Int64(row, 2), chunks->Int64(row, 3), *std::move(entries)});
      }
      std::vector<std::string> unique_devices(device_set.begin(), device_set.end());
      absl::StatusOr<PgRows> types = session.Exec(
          queries::kSelectDeviceTypes, {PgParam::Bytes(tenant_id), PgParam::Bytes(PgTextArray(unique_devices))});
      if (!types.ok()) return types.status();
      absl::flat_hash_map<std::string, std::string> type_of;
      for (int row = 0; row < types->size(); ++row) {
        type_of[std::string(types->Bytes(row, 0))] = std::string(types->Bytes(row, 1));
      }

      // Fold, and recompute each window's rollups from all of its points.
      std::vector<std::pair<WindowKey, std::vector<SeriesEntry>>> minute_rollups;
      std::map<std::pair<std::string, int64_t>, absl::flat_hash_map<std::string, Buckets>> hour_buckets;
      const BlockOptions chunk_options{.zstd_level = kChunkZstdLevel};
      for (auto& [key, series] : fresh) {
        for (auto& [series_key, data] : series) SortAndDeduplicate(data);
        const std::string& type = type_of[key.device_id];
        std::vector<Generation>& generations = existing[key];
        SeriesMap window_points;  // every generation then the new points: last write wins
        for (const Generation& generation : generations) MergeInto(CopyEntries(generation.entries), window_points);
        MergeInto(ToEntries(SeriesMap(series)), window_points);

        int64_t number = 0;
        SeriesMap to_write;
        if (!generations.empty() &&
            generations.back().points + CountPoints(series) <= kGenerationPoints) {
          number = generations.back().number;
          MergeInto(std::move(generations.back().entries), to_write);
          MergeInto(ToEntries(std::move(series)), to_write);
        } else {
          number = generations.empty() ? 0 : generations.back().number + 1;
          to_write = std::move(series);
        }
        for (auto& [series_key, data] : to_write) SortAndDeduplicate(data);
        const int64_t points = CountPoints(to_write);
        int64_t min_ms = std::numeric_limits<int64_t>::max();
        int64_t max_ms = std::numeric_limits<int64_t>::min();
        for (const auto& [series_key, data] : to_write) {
          if (data.size() == 0) continue;
          min_ms = std::min(min_ms, data.timestamps_ms.front());
          max_ms = std::max(max_ms, data.timestamps_ms.back());
        }
        const std::string block = EncodeBlock(ToEntries(std::move(to_write)), chunk_options);
        absl::StatusOr<PgRows> written = session.Exec(
            queries::kUpsertChunk,
            {PgParam::Bytes(tenant_id), PgParam::Bytes(key.device_id), PgParam::Int64(key.window_start_ms),
             PgParam::Int64(number), PgParam::Bytes(type), PgParam::Int64(min_ms), PgParam::Int64(max_ms),
             PgParam::Int64(points), PgParam::Bytes(block)});
        if (!written.ok()) return written.status();
        stats.chunks_written++;

        std::vector<SeriesEntry> minute_entries;
        for (auto& [series_key, data] : window_points) {
          SortAndDeduplicate(data);
          AppendRollupSeries(key.device_id, series_key.second, Bucketize(data, kMinuteMs), minute_entries);
          const Buckets hour = Bucketize(data, kHourMs);
          if (!hour.empty()) {
            hour_buckets[{key.device_id, WindowStart(key.window_start_ms, kDayMs)}][series_key.second][key.window_start_ms] =
                hour.begin()->second;
          }
          if (data.size() > 0) {
            SeriesEntry newest{key.device_id, series_key.second, SeriesData{}};
            newest.data.kind = data.kind;
            AppendPoint(data, data.size() - 1, newest.data);
            folded_latest.push_back(std::move(newest));
          }
        }
        minute_rollups.emplace_back(key, std::move(minute_entries));
      }
      RETURN_IF_ERROR(Hook("chunks-written"));

      for (auto& [key, entries] : minute_rollups) {
        if (entries.empty()) continue;
        absl::StatusOr<PgRows> written = session.Exec(
            queries::kUpsertRollup,
            {PgParam::Bytes(tenant_id), PgParam::Bytes(key.device_id), PgParam::Int64(60),
             PgParam::Int64(key.window_start_ms), PgParam::Bytes(type_of[key.device_id]),
             PgParam::Bytes(EncodeBlock(entries, chunk_options))});
        if (!written.ok()) return written.status();
      }
      if (!hour_buckets.empty()) {
        std::vector<std::string> day_devices;
        std::vector<std::string> days;
        for (const auto& [day_key, metrics] : hour_buckets) {
          day_devices.push_back(day_key.first);
          days.push_back(absl::StrCat(day_key.second));
        }
        absl::StatusOr<PgRows> stored = session.Exec(
            queries::kSelectRollupsForWindows,
            {PgParam::Bytes(tenant_id), PgParam::Bytes(PgTextArray(day_devices)),
             PgParam::Bytes(absl::StrCat("{", absl::StrJoin(days, ","), "}")), PgParam::Int64(3600)});
        if (!stored.ok()) return stored.status();
        std::map<std::pair<std::string, int64_t>, absl::flat_hash_map<SeriesKey, Buckets>> stored_days;
        for (int row = 0; row < stored->size(); ++row) {
          absl::StatusOr<std::vector<SeriesEntry>> entries = DecodeBlock(stored->Bytes(row, 2));
          if (!entries.ok()) return entries.status();
          stored_days[{std::string(stored->Bytes(row, 0)), stored->Int64(row, 1)}] = ReadRollupSeries(*entries);
        }
        for (auto& [day_key, metrics] : hour_buckets) {
          absl::flat_hash_map<SeriesKey, Buckets>& day = stored_days[day_key];
          for (auto& [metric, buckets] : metrics) {
            for (auto& [start, stats_of_hour] : buckets) day[SeriesKey(day_key.first, metric)][start] = stats_of_hour;
          }
          std::vector<SeriesEntry> entries;
          std::vector<SeriesKey> keys;
          for (const auto& [series_key, buckets] : day) keys.push_back(series_key);
          std::sort(keys.begin(), keys.end());
          for (const SeriesKey& series_key : keys) {
            AppendRollupSeries(series_key.first, series_key.second, day[series_key], entries);
          }
          absl::StatusOr<PgRows> written = session.Exec(
              queries::kUpsertRollup,
              {PgParam::Bytes(tenant_id), PgParam::Bytes(day_key.first), PgParam::Int64(3600),
               PgParam::Int64(day_key.second), PgParam::Bytes(type_of[day_key.first]),
               PgParam::Bytes(EncodeBlock(entries, chunk_options))});
          if (!written.ok()) return written.status();
        }
      }
      RETURN_IF_ERROR(Hook("rollups-written"));

      absl::StatusOr<PgRows> deleted =
          session.Exec(queries::kDeleteLogRows,
                       {PgParam::Bytes(tenant_id), PgParam::Bytes(absl::StrCat("{", absl::StrJoin(log_ids, ","), "}"))});
      if (!deleted.ok()) return deleted.status();
      RETURN_IF_ERROR(Hook("log-deleted"));
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    // Latest values missed while Redis was unreachable at write time are repaired here; older points never
    // replace newer ones.
    if (redis_ != nullptr && !folded_latest.empty()) {
      LatestValues latest(*redis_);
      (void)latest.Update(tenant_id, folded_latest);
    }
    return stats;
  }

  LibpqPool pool_;
  RedisClient* redis_;
  Clock& clock_;
  MaintenanceOptions options_;
};

}  // namespace

std::unique_ptr<TelemetryMaintenance> MakeTelemetryMaintenance(DbPool& db, RedisClient* redis, Clock& clock,
                                                               MaintenanceOptions options) {
  return std::make_unique<Maintenance>(db, redis, clock, std::move(options));
}

}  // namespace parkbase::telemetry
