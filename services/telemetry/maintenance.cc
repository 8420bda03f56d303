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

// Log rows folded per transaction, and the points and decoded bytes they may hold together: bounds the compactor's
// memory (~40 bytes a decoded numeric point, a string's own bytes more) and the length of its transaction, and
// keeps every chunk row it writes far under PostgreSQL's 1 GB value limit (1 KiB strings once made a pass of ~1 GB).
constexpr int kLogRowsPerPass = 64;
constexpr int64_t kPointsPerPass = 2'000'000;
constexpr int64_t kBytesPerPass = int64_t{64} << 20;
// A window's newest generation is rewritten with the new points only while it holds fewer than this (and the
// result stays under kGenerationPoints); otherwise the new points start a generation of their own. This bounds
// what one compaction rewrites, whatever the devices' rates, and a burst folded in two passes is written twice at
// most once.
constexpr int64_t kMergeBelowPoints = 4'096;
constexpr int64_t kGenerationPoints = 16'384;
// Devices per chunk group (see migrations/0001): 16 devices of 10 metrics at 1 Hz fill a 4,096-point generation
// in under half a minute, and a group-hour row of a typical device is tens of kilobytes.
constexpr int64_t kDevicesPerGroup = 16;
// The longest the background compactor lets a tenant's log wait for a burst to settle (MaintenanceOptions).
constexpr int64_t kMaxLogAgeMs = 10'000;
// Chunks are compressed harder than the log: they are written once and kept for the retention period. Rollup
// rows are small and mostly headers, which a strong level squeezes for little CPU.
constexpr int kChunkZstdLevel = 9;
constexpr int kRollupZstdLevel = 19;
// Batch ids are remembered this long (see WriteRequest.batch_id).
constexpr absl::Duration kBatchIdWindow = absl::Hours(24 * 7);

struct WindowKey {
  int64_t group_id;
  int64_t window_start_ms;
  bool operator<(const WindowKey& other) const {
    return std::tie(group_id, window_start_ms) < std::tie(other.group_id, other.window_start_ms);
  }
};

struct Group {
  int64_t id = 0;
  std::string device_type_id;
};

// The newest point of each (device, metric), in a block of one-point series: a group's latest row.
using LatestOfGroup = std::map<SeriesKey, SeriesData>;

// Offers `series`' newest point to `latest` (a later offer wins at an equal time: offers come in write order).
void OfferNewest(const SeriesKey& key, const SeriesData& series, LatestOfGroup& latest) {
  if (series.size() == 0) return;
  size_t newest = 0;
  for (size_t i = 1; i < series.size(); ++i) {
    if (series.timestamps_ms[i] >= series.timestamps_ms[newest]) newest = i;
  }
  auto found = latest.find(key);
  if (found != latest.end() && found->second.size() == 1 &&
      found->second.timestamps_ms[0] > series.timestamps_ms[newest]) {
    return;
  }
  SeriesData one;
  one.kind = series.kind;
  AppendPoint(series, newest, one);
  latest[key] = std::move(one);
}

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
      if (pass->log_rows > 0) total.passes++;
      total.log_rows += pass->log_rows;
      total.points += pass->points;
      total.chunks_written += pass->chunks_written;
      if (!more) break;
    }
    return total;
  }

  absl::StatusOr<CompactionStats> CompactAll() override {
    return ForEachTenant<CompactionStats>(
        "telemetry compaction failed",
        [&](const std::string& tenant) -> absl::StatusOr<CompactionStats> {
          ASSIGN_OR_RETURN(const bool due, CompactionDue(tenant));
          if (!due) return CompactionStats{};
          return CompactTenant(tenant);
        },
        [](CompactionStats& total, const CompactionStats& one) {
          total.passes += one.passes;
          total.log_rows += one.log_rows;
          total.points += one.points;
          total.chunks_written += one.chunks_written;
        });
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
    return ForEachTenant<RetentionStats>(
        "telemetry retention failed", [&](const std::string& tenant) { return ApplyRetention(tenant, now); },
        [](RetentionStats& total, const RetentionStats& one) {
          total.chunks_dropped += one.chunks_dropped;
          total.rollups_dropped += one.rollups_dropped;
          total.batch_ids_expired += one.batch_ids_expired;
        });
  }

 private:
  // Runs `one` for every tenant and sums the stats. One tenant's trouble (say, an undecodable log row) is logged
  // and does not stop the others; the first failure is returned once all ran.
  template <typename Stats>
  absl::StatusOr<Stats> ForEachTenant(absl::string_view failure_message,
                                      absl::FunctionRef<absl::StatusOr<Stats>(const std::string&)> one,
                                      absl::FunctionRef<void(Stats&, const Stats&)> add) {
    ASSIGN_OR_RETURN(const std::vector<std::string> tenants, Tenants());
    Stats total;
    absl::Status first_error;
    for (const std::string& tenant : tenants) {
      absl::StatusOr<Stats> stats = one(tenant);
      if (!stats.ok()) {
        LogLine(LogLevel::kWarning, failure_message)
            .Str("tenant", tenant)
            .Str("error", stats.status().message())
            .Emit();
        if (first_error.ok()) first_error = stats.status();
        continue;
      }
      add(total, *stats);
    }
    if (!first_error.ok()) return first_error;
    return total;
  }

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

  absl::StatusOr<bool> CompactionDue(const std::string& tenant_id) {
    bool due = false;
    absl::Status status = pool_.Transact(TenantScope::Tenant(tenant_id), [&](LibpqSession& session) -> absl::Status {
      absl::StatusOr<PgRows> state = session.Exec(queries::kSelectLogState, {PgParam::Bytes(tenant_id)});
      if (!state.ok()) return state.status();
      const int64_t rows = state->Int64(0, 0);
      due = rows > 0 && (rows >= kLogRowsPerPass || state->Int64(0, 1) >= kMaxLogAgeMs ||
                         state->Int64(0, 2) >= absl::ToInt64Milliseconds(options_.settle));
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return due;
  }

  // The chunk group of every device in `devices`, assigning new devices to open groups of their type (or new
  // groups). Runs under the tenant's compaction lock, so assignments never race.
  absl::StatusOr<absl::flat_hash_map<std::string, Group>> GroupsOf(LibpqSession& session, const std::string& tenant_id,
                                                                   const std::vector<std::string>& devices) {
    absl::flat_hash_map<std::string, Group> groups;
    const std::string devices_array = PgTextArray(devices);
    absl::StatusOr<PgRows> known =
        session.Exec(queries::kSelectMemberships, {PgParam::Bytes(tenant_id), PgParam::Bytes(devices_array)});
    if (!known.ok()) return known.status();
    for (int row = 0; row < known->size(); ++row) {
      groups[std::string(known->Bytes(row, 0))] = Group{known->Int64(row, 1), std::string(known->Bytes(row, 2))};
    }
    std::vector<std::string> unassigned;
    for (const std::string& device : devices) {
      if (!groups.contains(device)) unassigned.push_back(device);
    }
    if (unassigned.empty()) return groups;

    // Device types of the new members (a deleted device gets the type "").
    absl::StatusOr<PgRows> types = session.Exec(
        queries::kSelectDeviceTypes, {PgParam::Bytes(tenant_id), PgParam::Bytes(PgTextArray(unassigned))});
    if (!types.ok()) return types.status();
    absl::flat_hash_map<std::string, std::string> type_of;
    for (int row = 0; row < types->size(); ++row) {
      type_of[std::string(types->Bytes(row, 0))] = std::string(types->Bytes(row, 1));
    }
    absl::StatusOr<PgRows> open =
        session.Exec(queries::kSelectOpenGroups, {PgParam::Bytes(tenant_id), PgParam::Int64(kDevicesPerGroup)});
    if (!open.ok()) return open.status();
    struct OpenGroup {
      int64_t id;
      int64_t members;
    };
    absl::flat_hash_map<std::string, OpenGroup> open_by_type;  // the newest open group of each type
    for (int row = 0; row < open->size(); ++row) {
      open_by_type[std::string(open->Bytes(row, 1))] = OpenGroup{open->Int64(row, 0), open->Int64(row, 2)};
    }
    absl::StatusOr<PgRows> highest = session.Exec(queries::kSelectMaxGroup, {PgParam::Bytes(tenant_id)});
    if (!highest.ok()) return highest.status();
    int64_t next_id = highest->Int64(0, 0) + 1;

    std::map<int64_t, std::pair<std::string, int64_t>> changed;  // group -> (type, members)
    std::vector<std::string> member_devices;
    std::vector<int64_t> member_groups;
    std::sort(unassigned.begin(), unassigned.end());
    for (const std::string& device : unassigned) {
      const std::string& type = type_of[device];
      auto found = open_by_type.find(type);
      if (found == open_by_type.end() || found->second.members >= kDevicesPerGroup) {
        found = open_by_type.insert_or_assign(type, OpenGroup{next_id++, 0}).first;
      }
      found->second.members++;
      changed[found->second.id] = {type, found->second.members};
      groups[device] = Group{found->second.id, type};
      member_devices.push_back(device);
      member_groups.push_back(found->second.id);
    }
    std::vector<int64_t> group_ids;
    std::vector<std::string> group_types;
    std::vector<int64_t> group_members;
    for (const auto& [id, state] : changed) {
      group_ids.push_back(id);
      group_types.push_back(state.first);
      group_members.push_back(state.second);
    }
    absl::StatusOr<PgRows> upserted = session.Exec(
        queries::kUpsertGroups,
        {PgParam::Bytes(tenant_id), PgParam::Bytes(PgInt64Array(group_ids)),
         PgParam::Bytes(PgTextArray(group_types)),
         PgParam::Bytes(PgInt64Array(group_members))});
    if (!upserted.ok()) return upserted.status();
    absl::StatusOr<PgRows> inserted = session.Exec(
        queries::kInsertMembers, {PgParam::Bytes(tenant_id), PgParam::Bytes(PgTextArray(member_devices)),
                                  PgParam::Bytes(PgInt64Array(member_groups))});
    if (!inserted.ok()) return inserted.status();
    return groups;
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

      // The log's points by series, in log order.
      std::vector<int64_t> log_ids;
      std::vector<std::vector<SeriesEntry>> log_entries;
      absl::flat_hash_set<std::string> device_set;
      int64_t pass_bytes = 0;
      for (int row = 0; row < log->size(); ++row) {
        if (stats.points >= kPointsPerPass || pass_bytes >= kBytesPerPass ||
            (row > 0 && pass_bytes + log->Int64(row, 2) > kBytesPerPass)) {
          *more = true;
          break;
        }
        pass_bytes += log->Int64(row, 2);
        absl::StatusOr<std::vector<SeriesEntry>> entries = DecodeBlock(log->Bytes(row, 3));
        if (!entries.ok()) {
          // A block that cannot be decoded is left in place (and logged) rather than deleted: never lose data.
          LogLine(LogLevel::kError, "ingest log row cannot be decoded")
              .Str("tenant", tenant_id)
              .Num("log_id", static_cast<double>(log->Int64(row, 0)))
              .Emit();
          return entries.status();
        }
        log_ids.push_back(log->Int64(row, 0));
        stats.log_rows++;
        stats.points += log->Int64(row, 1);
        for (const SeriesEntry& entry : *entries) device_set.insert(entry.device_id);
        log_entries.push_back(*std::move(entries));
      }
      std::vector<std::string> devices(device_set.begin(), device_set.end());
      ASSIGN_OR_RETURN(const auto groups, GroupsOf(session, tenant_id, devices));

      // Split by (group, window).
      std::map<WindowKey, SeriesMap> fresh;
      for (std::vector<SeriesEntry>& entries : log_entries) {
        for (SeriesEntry& entry : entries) {
          const int64_t group = groups.at(entry.device_id).id;
          absl::flat_hash_map<int64_t, SeriesData> parts;
          for (size_t i = 0; i < entry.data.size(); ++i) {
            SeriesData& part = parts[WindowStart(entry.data.timestamps_ms[i], kChunkWindowMs)];
            part.kind = entry.data.kind;
            AppendPoint(entry.data, i, part);
          }
          for (auto& [window, part] : parts) {
            std::vector<SeriesEntry> one;
            one.push_back(SeriesEntry{entry.device_id, entry.metric, std::move(part)});
            MergeInto(std::move(one), fresh[WindowKey{group, window}]);
          }
        }
      }
      log_entries.clear();
      absl::flat_hash_map<int64_t, std::string> type_of_group;
      for (const auto& [device, group] : groups) type_of_group[group.id] = group.device_type_id;

      // Existing generations of the windows concerned.
      std::vector<int64_t> group_list;
      std::vector<int64_t> window_list;
      for (const auto& [key, series] : fresh) {
        group_list.push_back(key.group_id);
        window_list.push_back(key.window_start_ms);
      }
      const std::string groups_array = PgInt64Array(group_list);
      const std::string windows_array = PgInt64Array(window_list);
      absl::StatusOr<PgRows> chunks = session.Exec(
          queries::kSelectChunksForWindows,
          {PgParam::Bytes(tenant_id), PgParam::Bytes(groups_array), PgParam::Bytes(windows_array)});
      if (!chunks.ok()) return chunks.status();
      struct StoredGeneration {
        int64_t number;
        int64_t points;
        absl::string_view block;
      };
      std::map<WindowKey, std::vector<StoredGeneration>> existing;
      for (int row = 0; row < chunks->size(); ++row) {
        existing[WindowKey{chunks->Int64(row, 0), chunks->Int64(row, 1)}].push_back(
            StoredGeneration{chunks->Int64(row, 2), chunks->Int64(row, 3), chunks->Bytes(row, 4)});
      }

      // Fold, and recompute the rollup buckets of every (device, metric) this pass touched from all of its numeric
      // points in the window (a late or repeated point can change any statistic of its bucket). A metric whose
      // value type changed has a series per type: its rollups combine the numeric ones.
      std::map<WindowKey, std::map<SeriesKey, Buckets>> minute_updates;                 // (group, hour)
      std::map<WindowKey, std::map<SeriesKey, Buckets>> hour_updates;                   // (group, day)
      std::map<int64_t, LatestOfGroup> newest_by_group;
      const BlockOptions chunk_options{.zstd_level = kChunkZstdLevel};
      for (auto& [key, series] : fresh) {
        for (auto& [id, data] : series) SortAndDeduplicate(data);
        const std::vector<StoredGeneration>& generations = existing[key];
        const int64_t new_points = CountPoints(series);
        for (const auto& [id, data] : series) OfferNewest(id.key(), data, newest_by_group[key.group_id]);

        // This pass's numeric series, with all their points in the window: every generation, then the new points.
        absl::flat_hash_set<SeriesKey> touched_keys;
        for (const auto& [id, data] : series) {
          if (id.kind == ValueKind::kDouble || id.kind == ValueKind::kInt64) touched_keys.insert(id.key());
        }
        SeriesMap touched;
        if (!touched_keys.empty()) {
          auto is_touched = [&](absl::string_view device, absl::string_view metric) {
            return touched_keys.contains(SeriesKey(std::string(device), std::string(metric)));
          };
          for (const StoredGeneration& generation : generations) {
            ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(generation.block, is_touched));
            MergeInto(std::move(entries), touched);
          }
          SeriesMap numeric;
          for (const auto& [id, data] : series) {
            if (touched_keys.contains(id.key())) numeric.emplace(id, data);
          }
          MergeInto(ToEntries(std::move(numeric)), touched);
        }

        int64_t number = 0;
        SeriesMap to_write;
        if (!generations.empty() && generations.back().points < kMergeBelowPoints &&
            generations.back().points + new_points <= kGenerationPoints) {
          number = generations.back().number;
          ASSIGN_OR_RETURN(std::vector<SeriesEntry> newest, DecodeBlock(generations.back().block));
          MergeInto(std::move(newest), to_write);
          MergeInto(ToEntries(std::move(series)), to_write);
        } else {
          number = generations.empty() ? 0 : generations.back().number + 1;
          to_write = std::move(series);
        }
        for (auto& [id, data] : to_write) SortAndDeduplicate(data);
        const int64_t points = CountPoints(to_write);
        int64_t min_ms = std::numeric_limits<int64_t>::max();
        int64_t max_ms = std::numeric_limits<int64_t>::min();
        for (const auto& [id, data] : to_write) {
          if (data.size() == 0) continue;
          min_ms = std::min(min_ms, data.timestamps_ms.front());
          max_ms = std::max(max_ms, data.timestamps_ms.back());
        }
        const std::string block = EncodeBlock(ToEntries(std::move(to_write)), chunk_options);
        absl::StatusOr<PgRows> written = session.Exec(
            queries::kUpsertChunk,
            {PgParam::Bytes(tenant_id), PgParam::Int64(key.group_id), PgParam::Int64(key.window_start_ms),
             PgParam::Int64(number), PgParam::Bytes(type_of_group[key.group_id]), PgParam::Int64(min_ms),
             PgParam::Int64(max_ms), PgParam::Int64(points), PgParam::Bytes(block)});
        if (!written.ok()) return written.status();
        stats.chunks_written++;

        const WindowKey day{key.group_id, WindowStart(key.window_start_ms, kDayMs)};
        // Per (device, metric): its numeric series' buckets (one series unless the value type changed).
        std::map<SeriesKey, std::pair<Buckets, BucketStats>> buckets_of;
        for (auto& [id, data] : touched) {
          SortAndDeduplicate(data);
          auto& [minutes, hour] = buckets_of[id.key()];
          for (const auto& [start, bucket] : Bucketize(data, kMinuteMs)) minutes[start].Combine(bucket);
          for (const auto& [start, bucket] : Bucketize(data, kHourMs)) hour.Combine(bucket);
        }
        for (auto& [series_key, buckets] : buckets_of) {
          if (buckets.first.empty()) continue;
          hour_updates[day][series_key][key.window_start_ms] = buckets.second;
          minute_updates[key][series_key] = std::move(buckets.first);
        }
      }
      RETURN_IF_ERROR(Hook("chunks-written"));

      // Rollup rows: read the affected ones, replace the touched series' buckets, write them back.
      auto update_rollups = [&](int resolution_s, const std::vector<WindowKey>& keys,
                                absl::FunctionRef<void(const WindowKey&, std::map<SeriesKey, Buckets>&)> apply)
          -> absl::Status {
        if (keys.empty()) return absl::OkStatus();
        std::vector<int64_t> row_groups;
        std::vector<int64_t> row_windows;
        for (const WindowKey& key : keys) {
          row_groups.push_back(key.group_id);
          row_windows.push_back(key.window_start_ms);
        }
        absl::StatusOr<PgRows> stored = session.Exec(
            queries::kSelectRollupsForWindows,
            {PgParam::Bytes(tenant_id), PgParam::Bytes(PgInt64Array(row_groups)),
             PgParam::Bytes(PgInt64Array(row_windows)),
             PgParam::Int64(resolution_s)});
        if (!stored.ok()) return stored.status();
        std::map<WindowKey, std::map<SeriesKey, Buckets>> rows;
        for (int row = 0; row < stored->size(); ++row) {
          ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(stored->Bytes(row, 2)));
          rows[WindowKey{stored->Int64(row, 0), stored->Int64(row, 1)}] = DecodeRollupRow(entries);
        }
        for (const WindowKey& key : keys) {
          std::map<SeriesKey, Buckets>& cells = rows[key];
          apply(key, cells);
          absl::StatusOr<PgRows> written = session.Exec(
              queries::kUpsertRollup,
              {PgParam::Bytes(tenant_id), PgParam::Int64(key.group_id), PgParam::Int64(resolution_s),
               PgParam::Int64(key.window_start_ms), PgParam::Bytes(type_of_group[key.group_id]),
               PgParam::Bytes(EncodeBlock(EncodeRollupRow(cells), BlockOptions{.zstd_level = kRollupZstdLevel}))});
          if (!written.ok()) return written.status();
        }
        return absl::OkStatus();
      };
      std::vector<WindowKey> minute_keys;
      for (const auto& [key, cells] : minute_updates) minute_keys.push_back(key);
      RETURN_IF_ERROR(update_rollups(60, minute_keys, [&](const WindowKey& key, std::map<SeriesKey, Buckets>& cells) {
        for (auto& [series_key, buckets] : minute_updates[key]) cells[series_key] = std::move(buckets);
      }));
      std::vector<WindowKey> day_keys;
      for (const auto& [key, cells] : hour_updates) day_keys.push_back(key);
      RETURN_IF_ERROR(update_rollups(3600, day_keys, [&](const WindowKey& key, std::map<SeriesKey, Buckets>& cells) {
        for (const auto& [series_key, hours] : hour_updates[key]) {
          for (const auto& [start, stats] : hours) cells[series_key][start] = stats;
        }
      }));
      RETURN_IF_ERROR(Hook("rollups-written"));

      // Each touched group's latest row: what it held, overtaken by this pass's newer points.
      if (!newest_by_group.empty()) {
        std::vector<int64_t> latest_groups;
        for (const auto& [group, newest] : newest_by_group) latest_groups.push_back(group);
        absl::StatusOr<PgRows> stored_latest = session.Exec(
            queries::kSelectGroupLatestForUpdate,
            {PgParam::Bytes(tenant_id), PgParam::Bytes(PgInt64Array(latest_groups))});
        if (!stored_latest.ok()) return stored_latest.status();
        absl::flat_hash_map<int64_t, std::string> previous;
        for (int row = 0; row < stored_latest->size(); ++row) {
          previous[stored_latest->Int64(row, 0)] = std::string(stored_latest->Bytes(row, 1));
        }
        for (auto& [group, newest] : newest_by_group) {
          LatestOfGroup merged;
          auto found = previous.find(group);
          if (found != previous.end()) {
            ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(found->second));
            for (const SeriesEntry& entry : entries) OfferNewest(SeriesKey(entry.device_id, entry.metric), entry.data, merged);
          }
          for (const auto& [series_key, point] : newest) OfferNewest(series_key, point, merged);
          std::vector<SeriesEntry> entries;
          entries.reserve(merged.size());
          for (auto& [series_key, point] : merged) {
            folded_latest.push_back(SeriesEntry{series_key.first, series_key.second, point});
            entries.push_back(SeriesEntry{series_key.first, series_key.second, std::move(point)});
          }
          absl::StatusOr<PgRows> written = session.Exec(
              queries::kUpsertGroupLatest,
              {PgParam::Bytes(tenant_id), PgParam::Int64(group),
               PgParam::Bytes(EncodeBlock(entries, BlockOptions{.zstd_level = kRollupZstdLevel}))});
          if (!written.ok()) return written.status();
        }
      }

      absl::StatusOr<PgRows> deleted =
          session.Exec(queries::kDeleteLogRows,
                       {PgParam::Bytes(tenant_id), PgParam::Bytes(PgInt64Array(log_ids))});
      if (!deleted.ok()) return deleted.status();
      RETURN_IF_ERROR(Hook("log-deleted"));
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    // Latest values missed while Redis was unreachable at write time are repaired here; older points never
    // replace newer ones.
    if (redis_ != nullptr && !folded_latest.empty()) {
      RedisLatestValues latest(*redis_);
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
