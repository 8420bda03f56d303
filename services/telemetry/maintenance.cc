#include "telemetry/maintenance.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <system_error>
#include <thread>

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

// Besides kLogRowsPerPass and kPointsPerPass (maintenance.h), the decoded bytes a pass may hold: together they bound
// the compactor's memory (~40 bytes a decoded numeric point, a string's own bytes more) and the length of its
// transaction, and keep every chunk row it writes far under PostgreSQL's 1 GB value limit (1 KiB strings once made
// a pass of ~1 GB).
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
constexpr int kChunkZstdLevel = 3;
constexpr int kRollupZstdLevel = 9;
// A window's rollups are computed once it has settled: its hour is over and no log row waiting to be folded has
// points in it, or nothing was folded into it for this long (a quiet device in the current hour). Until then readers
// compute its buckets from raw points: at most an hour of each device's points.
constexpr int64_t kRollupSettleMs = 60'000;
// Windows whose rollups one transaction computes, and the stored points they may hold together (a window alone may
// hold more): their blocks are fetched at once (~2 bytes a point) and each is decoded a generation at a time, so a
// thread holds one generation's points plus its window's buckets.
constexpr int64_t kRollupWindowsPerPass = 16;
constexpr int64_t kRollupPointsPerPass = 16'000'000;
// Threads a compaction uses when MaintenanceOptions::threads is 0: one per core, at most this many (a pass's work
// splits into its windows; past a few threads the single PostgreSQL session writing them is the limit).
constexpr unsigned kMaxDefaultThreads = 4;
// Batch ids are remembered this long (see WriteRequest.batch_id).
constexpr absl::Duration kBatchIdWindow = absl::Hours(24 * 7);

struct WindowKey {
  int64_t group_id;
  int64_t window_start_ms;
  bool operator<(const WindowKey& other) const {
    return std::tie(group_id, window_start_ms) < std::tie(other.group_id, other.window_start_ms);
  }
  bool operator==(const WindowKey& other) const {
    return group_id == other.group_id && window_start_ms == other.window_start_ms;
  }
  template <typename H>
  friend H AbslHashValue(H state, const WindowKey& key) {
    return H::combine(std::move(state), key.group_id, key.window_start_ms);
  }
};

struct Group {
  int64_t id = 0;
  std::string device_type_id;
};

// Runs work(0) ... work(n - 1) on up to `threads` threads, the calling one included, and returns when all are done.
// Should a thread not start, the others do its share.
void ParallelFor(int64_t n, int threads, absl::FunctionRef<void(int64_t)> work) {
  std::atomic<int64_t> next{0};
  auto run = [&] {
    for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) work(i);
  };
  std::vector<std::thread> helpers;
  for (int64_t t = 1; t < std::min<int64_t>(threads, n); ++t) {
    try {
      helpers.emplace_back(run);
    } catch (const std::system_error&) {
      break;
    }
  }
  run();
  for (std::thread& helper : helpers) helper.join();
}

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
                                 .acquire_timeout = absl::Seconds(30),
                                 .password_file = db.options().password_file}),
        redis_(redis),
        clock_(clock),
        options_(std::move(options)),
        threads_(options_.threads > 0
                     ? options_.threads
                     : static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, kMaxDefaultThreads))) {}

  absl::StatusOr<CompactionStats> CompactTenant(const std::string& tenant_id) override {
    ASSIGN_OR_RETURN(CompactionStats total, FoldLog(tenant_id));
    ASSIGN_OR_RETURN(const int64_t windows, ComputeRollups(tenant_id, /*settled_only=*/false));
    total.rollup_windows += windows;
    return total;
  }

  absl::StatusOr<CompactionStats> FoldTenant(const std::string& tenant_id) override {
    ASSIGN_OR_RETURN(CompactionStats total, FoldLog(tenant_id));
    ASSIGN_OR_RETURN(const int64_t windows, ComputeRollups(tenant_id, /*settled_only=*/true));
    total.rollup_windows += windows;
    return total;
  }

  absl::StatusOr<CompactionStats> CompactAll() override {
    return ForEachTenant<CompactionStats>(
        "telemetry compaction failed",
        [&](const std::string& tenant) -> absl::StatusOr<CompactionStats> {
          ASSIGN_OR_RETURN(const Due due, CompactionDue(tenant));
          if (due.log) return FoldTenant(tenant);
          CompactionStats stats;
          if (due.rollups) {
            ASSIGN_OR_RETURN(stats.rollup_windows, ComputeRollups(tenant, /*settled_only=*/true));
          }
          return stats;
        },
        [](CompactionStats& total, const CompactionStats& one) {
          total.passes += one.passes;
          total.log_rows += one.log_rows;
          total.points += one.points;
          total.chunks_written += one.chunks_written;
          total.rollup_windows += one.rollup_windows;
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

  struct Due {
    bool log = false;      // the log has settled (or grown) enough to fold
    bool rollups = false;  // some window's rollups can be computed
  };
  absl::StatusOr<Due> CompactionDue(const std::string& tenant_id) {
    Due due;
    absl::Status status = pool_.Transact(TenantScope::Tenant(tenant_id), [&](LibpqSession& session) -> absl::Status {
      absl::StatusOr<PgRows> state = session.Exec(queries::kSelectLogState, {PgParam::Bytes(tenant_id)});
      if (!state.ok()) return state.status();
      const int64_t rows = state->Int64(0, 0);
      due.log = rows > 0 && (rows >= kLogRowsPerPass || state->Int64(0, 1) >= kMaxLogAgeMs ||
                             state->Int64(0, 2) >= absl::ToInt64Milliseconds(options_.settle));
      if (due.log) return absl::OkStatus();
      absl::StatusOr<PgRows> settled = session.Exec(queries::kCountSettledWindows, SettledParams(tenant_id, true));
      if (!settled.ok()) return settled.status();
      due.rollups = settled->Int64(0, 0) > 0;
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return due;
  }

  int64_t NowMs() { return absl::ToUnixMillis(clock_.Now()); }

  // Parameters of kCountSettledWindows; kSelectSettledWindows adds the limit.
  std::vector<PgParam> SettledParams(const std::string& tenant_id, bool settled_only) {
    return {PgParam::Bytes(tenant_id), PgParam::Int64(NowMs()), PgParam::Int64(kRollupSettleMs),
            PgParam::Int64(settled_only ? 0 : 1)};
  }

  // Folds the whole log of a tenant, a pass (one transaction) at a time.
  absl::StatusOr<CompactionStats> FoldLog(const std::string& tenant_id) {
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

  // Computes the rollups of the tenant's pending windows (only the settled ones when `settled_only`), a few windows
  // a transaction. Returns how many windows it computed.
  absl::StatusOr<int64_t> ComputeRollups(const std::string& tenant_id, bool settled_only) {
    int64_t total = 0;
    while (true) {
      bool more = false;
      ASSIGN_OR_RETURN(const int64_t windows, RollupPass(tenant_id, settled_only, &more));
      total += windows;
      if (!more) break;
    }
    return total;
  }

  // One transaction: the rollups of up to kRollupWindowsPerPass pending windows, each computed from all of its
  // chunk generations, then their chunk rows' marks cleared. A crash before COMMIT leaves them pending (readers use raw
  // points for them meanwhile) and the next pass computes them again.
  absl::StatusOr<int64_t> RollupPass(const std::string& tenant_id, bool settled_only, bool* more) {
    *more = false;
    int64_t computed = 0;
    absl::Status status = pool_.Transact(TenantScope::Tenant(tenant_id), [&](LibpqSession& session) -> absl::Status {
      absl::StatusOr<PgRows> locked = session.Exec(queries::kTryLockTenant, {PgParam::Bytes(tenant_id)});
      if (!locked.ok()) return locked.status();
      if (locked->Bytes(0, 0) != absl::string_view("\x01", 1)) return absl::OkStatus();  // another compactor has it
      std::vector<PgParam> params = SettledParams(tenant_id, settled_only);
      params.push_back(PgParam::Int64(kRollupWindowsPerPass));
      absl::StatusOr<PgRows> pending = session.Exec(queries::kSelectSettledWindows, params);
      if (!pending.ok()) return pending.status();
      if (pending->size() == 0) return absl::OkStatus();
      *more = pending->size() == kRollupWindowsPerPass;
      int windows_taken = 0;
      int64_t points_taken = 0;
      for (; windows_taken < pending->size(); ++windows_taken) {
        const int64_t points = pending->Int64(windows_taken, 3);
        if (windows_taken > 0 && points_taken + points > kRollupPointsPerPass) {
          *more = true;
          break;
        }
        points_taken += points;
      }

      std::vector<WindowKey> windows;
      std::vector<int64_t> group_list;
      std::vector<int64_t> window_list;
      absl::flat_hash_map<int64_t, std::string> type_of_group;
      for (int row = 0; row < windows_taken; ++row) {
        windows.push_back(WindowKey{pending->Int64(row, 0), pending->Int64(row, 1)});
        group_list.push_back(windows.back().group_id);
        window_list.push_back(windows.back().window_start_ms);
        type_of_group[windows.back().group_id] = std::string(pending->Bytes(row, 2));
      }
      const std::string groups_array = PgInt64Array(group_list);
      const std::string windows_array = PgInt64Array(window_list);
      absl::StatusOr<PgRows> chunks = session.Exec(
          queries::kSelectChunksForWindows,
          {PgParam::Bytes(tenant_id), PgParam::Bytes(groups_array), PgParam::Bytes(windows_array)});
      if (!chunks.ok()) return chunks.status();
      absl::flat_hash_map<WindowKey, std::vector<absl::string_view>> generations;  // in generation order
      for (int row = 0; row < chunks->size(); ++row) {
        generations[WindowKey{chunks->Int64(row, 0), chunks->Int64(row, 1)}].push_back(chunks->Bytes(row, 4));
      }

      // Per window: every series' minute buckets; per (group, day): the hours to replace.
      std::map<WindowKey, std::map<SeriesKey, Buckets>> minute_rows;
      std::map<WindowKey, std::map<int64_t, std::map<SeriesKey, BucketStats>>> hour_updates;  // day -> hour -> stats
      std::vector<absl::StatusOr<std::map<SeriesKey, Buckets>>> computed_cells(windows.size());
      ParallelFor(static_cast<int64_t>(windows.size()), threads_, [&](int64_t i) {
        auto found = generations.find(windows[i]);
        if (found != generations.end()) computed_cells[i] = RollupOfWindow(found->second);
      });
      for (size_t i = 0; i < windows.size(); ++i) {
        const WindowKey& window = windows[i];
        // No chunks (retention dropped them): the rollups, kept longer on purpose, stay as they are.
        if (!generations.contains(window)) continue;
        if (!computed_cells[i].ok()) return computed_cells[i].status();
        std::map<SeriesKey, Buckets> cells = *std::move(computed_cells[i]);
        std::map<SeriesKey, BucketStats>& hours =
            hour_updates[WindowKey{window.group_id, WindowStart(window.window_start_ms, kDayMs)}]
                        [window.window_start_ms];
        for (const auto& [series_key, buckets] : cells) {
          BucketStats& hour = hours[series_key];
          for (const auto& [start, bucket] : buckets) hour.Combine(bucket);
        }
        minute_rows[window] = std::move(cells);
        ++computed;
      }

      for (const auto& [window, cells] : minute_rows) {
        absl::StatusOr<PgRows> written =
            cells.empty()
                ? session.Exec(queries::kDeleteRollup, {PgParam::Bytes(tenant_id), PgParam::Int64(window.group_id),
                                                        PgParam::Int64(60), PgParam::Int64(window.window_start_ms)})
                : session.Exec(queries::kUpsertRollup,
                               {PgParam::Bytes(tenant_id), PgParam::Int64(window.group_id), PgParam::Int64(60),
                                PgParam::Int64(window.window_start_ms), PgParam::Bytes(type_of_group[window.group_id]),
                                PgParam::Bytes(EncodeBlock(EncodeRollupRow(cells),
                                                           BlockOptions{.zstd_level = kRollupZstdLevel}))});
        if (!written.ok()) return written.status();
      }

      // Day rows: replace the computed hours of every series, keep the other hours.
      if (!hour_updates.empty()) {
        std::vector<int64_t> day_groups;
        std::vector<int64_t> day_starts;
        for (const auto& [day, hours] : hour_updates) {
          day_groups.push_back(day.group_id);
          day_starts.push_back(day.window_start_ms);
        }
        absl::StatusOr<PgRows> stored = session.Exec(
            queries::kSelectRollupsForWindows,
            {PgParam::Bytes(tenant_id), PgParam::Bytes(PgInt64Array(day_groups)),
             PgParam::Bytes(PgInt64Array(day_starts)), PgParam::Int64(3600)});
        if (!stored.ok()) return stored.status();
        std::map<WindowKey, std::map<SeriesKey, Buckets>> day_rows;
        for (int row = 0; row < stored->size(); ++row) {
          ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(stored->Bytes(row, 2)));
          day_rows[WindowKey{stored->Int64(row, 0), stored->Int64(row, 1)}] = DecodeRollupRow(entries);
        }
        for (const auto& [day, hours] : hour_updates) {
          std::map<SeriesKey, Buckets>& cells = day_rows[day];
          for (const auto& [hour, stats_of] : hours) {
            for (auto it = cells.begin(); it != cells.end();) {
              it->second.erase(hour);
              it = it->second.empty() ? cells.erase(it) : std::next(it);
            }
            for (const auto& [series_key, stats] : stats_of) cells[series_key][hour] = stats;
          }
          absl::StatusOr<PgRows> written =
              cells.empty()
                  ? session.Exec(queries::kDeleteRollup, {PgParam::Bytes(tenant_id), PgParam::Int64(day.group_id),
                                                          PgParam::Int64(3600), PgParam::Int64(day.window_start_ms)})
                  : session.Exec(queries::kUpsertRollup,
                                 {PgParam::Bytes(tenant_id), PgParam::Int64(day.group_id), PgParam::Int64(3600),
                                  PgParam::Int64(day.window_start_ms), PgParam::Bytes(type_of_group[day.group_id]),
                                  PgParam::Bytes(EncodeBlock(EncodeRollupRow(cells),
                                                             BlockOptions{.zstd_level = kRollupZstdLevel}))});
          if (!written.ok()) return written.status();
        }
      }
      RETURN_IF_ERROR(Hook("rollups-written"));
      absl::StatusOr<PgRows> deleted = session.Exec(
          queries::kClearPendingRollups,
          {PgParam::Bytes(tenant_id), PgParam::Bytes(groups_array), PgParam::Bytes(windows_array)});
      if (!deleted.ok()) return deleted.status();
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return computed;
  }

  // The minute buckets of every numeric (device, metric) of a window, from its generations (oldest first).
  // Generations are decoded one at a time. While each generation's points of a (device, metric) all come after
  // what the earlier ones held — data written in time order — its buckets simply combine with theirs. A
  // (device, metric) whose generations overlap in time (late data, rewrites) has its points merged in write order
  // instead, which a later generation winning at equal times requires.
  static absl::StatusOr<std::map<SeriesKey, Buckets>> RollupOfWindow(
      const std::vector<absl::string_view>& generations) {
    std::map<SeriesKey, Buckets> cells;
    absl::flat_hash_map<SeriesKey, int64_t> newest_ms;  // of any kind, numeric or not
    absl::flat_hash_set<SeriesKey> overlapping;
    for (absl::string_view block : generations) {
      ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(block));
      // A generation's series are sorted and deduplicated; a (device, metric) may have a series of each kind.
      absl::flat_hash_map<SeriesKey, std::pair<int64_t, int64_t>> span;  // earliest, newest in this generation
      for (const SeriesEntry& entry : entries) {
        if (entry.data.size() == 0) continue;
        auto [it, inserted] = span.try_emplace(SeriesKey(entry.device_id, entry.metric),
                                               entry.data.timestamps_ms.front(), entry.data.timestamps_ms.back());
        if (!inserted) {
          it->second.first = std::min(it->second.first, entry.data.timestamps_ms.front());
          it->second.second = std::max(it->second.second, entry.data.timestamps_ms.back());
        }
      }
      for (const auto& [series_key, times] : span) {
        auto [it, inserted] = newest_ms.try_emplace(series_key, times.second);
        if (inserted) continue;
        if (times.first <= it->second) overlapping.insert(series_key);
        it->second = std::max(it->second, times.second);
      }
      for (const SeriesEntry& entry : entries) {
        if (entry.data.kind != ValueKind::kDouble && entry.data.kind != ValueKind::kInt64) continue;
        SeriesKey series_key(entry.device_id, entry.metric);
        if (overlapping.contains(series_key)) continue;
        Buckets& buckets = cells[series_key];
        for (const auto& [start, bucket] : Bucketize(entry.data, kMinuteMs)) buckets[start].Combine(bucket);
      }
    }
    if (overlapping.empty()) return cells;

    // The overlapping ones again, merged across generations in write order.
    auto is_overlapping = [&](absl::string_view device, absl::string_view metric) {
      return overlapping.contains(SeriesKey(std::string(device), std::string(metric)));
    };
    SeriesMap merged;
    for (absl::string_view block : generations) {
      ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(block, is_overlapping));
      MergeInto(std::move(entries), merged);
    }
    for (const SeriesKey& series_key : overlapping) cells.erase(series_key);
    for (auto& [id, data] : merged) {
      SortAndDeduplicate(data);
      for (const auto& [start, bucket] : Bucketize(data, kMinuteMs)) cells[id.key()][start].Combine(bucket);
    }
    for (auto it = cells.begin(); it != cells.end();) it = it->second.empty() ? cells.erase(it) : std::next(it);
    return cells;
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

      // The rows this pass takes, within its bounds.
      std::vector<int> rows;
      int64_t pass_bytes = 0;
      for (int row = 0; row < log->size(); ++row) {
        if (stats.points >= kPointsPerPass || pass_bytes >= kBytesPerPass ||
            (row > 0 && pass_bytes + log->Int64(row, 2) > kBytesPerPass)) {
          *more = true;
          break;
        }
        pass_bytes += log->Int64(row, 2);
        stats.points += log->Int64(row, 1);
        rows.push_back(row);
      }
      // Their points by series, in log order.
      std::vector<absl::StatusOr<std::vector<SeriesEntry>>> log_entries(rows.size());
      ParallelFor(static_cast<int64_t>(rows.size()), threads_,
                  [&](int64_t i) { log_entries[i] = DecodeBlock(log->Bytes(rows[i], 3)); });
      std::vector<int64_t> log_ids;
      absl::flat_hash_set<std::string> device_set;
      for (size_t i = 0; i < rows.size(); ++i) {
        if (!log_entries[i].ok()) {
          // A block that cannot be decoded is left in place (and logged) rather than deleted: never lose data.
          LogLine(LogLevel::kError, "ingest log row cannot be decoded")
              .Str("tenant", tenant_id)
              .Num("log_id", static_cast<double>(log->Int64(rows[i], 0)))
              .Emit();
          return log_entries[i].status();
        }
        log_ids.push_back(log->Int64(rows[i], 0));
        stats.log_rows++;
        for (const SeriesEntry& entry : *log_entries[i]) device_set.insert(entry.device_id);
      }
      std::vector<std::string> devices(device_set.begin(), device_set.end());
      ASSIGN_OR_RETURN(const auto groups, GroupsOf(session, tenant_id, devices));

      // Split by (group, window). Each entry's window is found first; then each thread merges the entries of its
      // share of the windows, in log order (which last-write-wins needs), and only those.
      struct Placement {
        WindowKey window{0, 0};
        bool split = false;  // points in more than one window
      };
      std::vector<std::vector<Placement>> placements(log_entries.size());
      std::map<WindowKey, int> window_index;
      for (size_t row = 0; row < log_entries.size(); ++row) {
        placements[row].reserve(log_entries[row]->size());
        for (const SeriesEntry& entry : *log_entries[row]) {
          Placement placement;
          const std::vector<int64_t>& times = entry.data.timestamps_ms;
          placement.window.group_id = groups.at(entry.device_id).id;
          if (!times.empty()) {
            const auto [earliest, latest] = std::minmax_element(times.begin(), times.end());
            placement.window.window_start_ms = WindowStart(*earliest, kChunkWindowMs);
            placement.split = placement.window.window_start_ms != WindowStart(*latest, kChunkWindowMs);
            if (placement.split) {
              for (int64_t time : times) {
                window_index.try_emplace(WindowKey{placement.window.group_id, WindowStart(time, kChunkWindowMs)}, 0);
              }
            } else {
              window_index.try_emplace(placement.window, 0);
            }
          }
          placements[row].push_back(placement);
        }
      }
      std::vector<WindowKey> window_keys;
      for (auto& [key, index] : window_index) {
        index = static_cast<int>(window_keys.size());
        window_keys.push_back(key);
      }
      std::vector<SeriesMap> fresh(window_keys.size());
      const int shares = std::max(1, std::min(threads_, static_cast<int>(window_keys.size())));
      ParallelFor(shares, shares, [&](int64_t share) {
        auto mine = [&](const WindowKey& key) { return window_index.at(key) % shares == share; };
        for (size_t row = 0; row < log_entries.size(); ++row) {
          std::vector<SeriesEntry>& entries = *log_entries[row];
          for (size_t i = 0; i < entries.size(); ++i) {
            const Placement& placement = placements[row][i];
            SeriesEntry& entry = entries[i];
            if (entry.data.size() == 0) continue;
            if (!placement.split) {
              if (!mine(placement.window)) continue;
              std::vector<SeriesEntry> one;
              one.push_back(std::move(entry));
              MergeInto(std::move(one), fresh[window_index.at(placement.window)]);
              continue;
            }
            // Read only: every share takes its windows' points of a split entry.
            absl::flat_hash_map<int64_t, SeriesData> parts;
            for (size_t point = 0; point < entry.data.size(); ++point) {
              const int64_t window = WindowStart(entry.data.timestamps_ms[point], kChunkWindowMs);
              if (!mine(WindowKey{placement.window.group_id, window})) continue;
              SeriesData& part = parts[window];
              part.kind = entry.data.kind;
              AppendPoint(entry.data, point, part);
            }
            for (auto& [window, part] : parts) {
              std::vector<SeriesEntry> one;
              one.push_back(SeriesEntry{entry.device_id, entry.metric, std::move(part)});
              MergeInto(std::move(one), fresh[window_index.at(WindowKey{placement.window.group_id, window})]);
            }
          }
        }
      });
      log_entries.clear();
      absl::flat_hash_map<int64_t, std::string> type_of_group;
      for (const auto& [device, group] : groups) type_of_group[group.id] = group.device_type_id;

      // The newest generation of each window (with its block when it is small enough to be extended).
      std::vector<int64_t> group_list;
      std::vector<int64_t> window_list;
      for (const WindowKey& key : window_keys) {
        group_list.push_back(key.group_id);
        window_list.push_back(key.window_start_ms);
      }
      const std::string groups_array = PgInt64Array(group_list);
      const std::string windows_array = PgInt64Array(window_list);
      absl::StatusOr<PgRows> newest_rows = session.Exec(
          queries::kSelectNewestGenerations, {PgParam::Bytes(tenant_id), PgParam::Bytes(groups_array),
                                              PgParam::Bytes(windows_array), PgParam::Int64(kMergeBelowPoints)});
      if (!newest_rows.ok()) return newest_rows.status();
      struct StoredGeneration {
        int64_t number;
        int64_t points;
        absl::string_view block;  // empty unless points < kMergeBelowPoints
      };
      absl::flat_hash_map<int, StoredGeneration> newest_of;  // by window index
      for (int row = 0; row < newest_rows->size(); ++row) {
        newest_of[window_index.at(WindowKey{newest_rows->Int64(row, 0), newest_rows->Int64(row, 1)})] =
            StoredGeneration{newest_rows->Int64(row, 2), newest_rows->Int64(row, 3), newest_rows->Bytes(row, 4)};
      }

      // Fold each window's new points into its newest generation or a new one: the blocks are built in parallel,
      // written in order.
      struct Folded {
        absl::Status status;
        int64_t number = 0;
        int64_t points = 0;
        int64_t min_ms = 0;
        int64_t max_ms = 0;
        std::string block;
        LatestOfGroup newest;
      };
      std::vector<Folded> folded(window_keys.size());
      const BlockOptions chunk_options{.zstd_level = kChunkZstdLevel};
      ParallelFor(static_cast<int64_t>(window_keys.size()), threads_, [&](int64_t index) {
        Folded& out = folded[index];
        SeriesMap& series = fresh[index];
        for (auto& [id, data] : series) SortAndDeduplicate(data);
        const int64_t new_points = CountPoints(series);
        for (const auto& [id, data] : series) OfferNewest(id.key(), data, out.newest);
        auto stored = newest_of.find(static_cast<int>(index));
        SeriesMap to_write;
        if (stored != newest_of.end() && stored->second.points < kMergeBelowPoints &&
            stored->second.points + new_points <= kGenerationPoints) {
          out.number = stored->second.number;
          absl::StatusOr<std::vector<SeriesEntry>> newest = DecodeBlock(stored->second.block);
          if (!newest.ok()) {
            out.status = newest.status();
            return;
          }
          MergeInto(*std::move(newest), to_write);
          MergeInto(ToEntries(std::move(series)), to_write);
          for (auto& [id, data] : to_write) SortAndDeduplicate(data);
        } else {
          out.number = stored == newest_of.end() ? 0 : stored->second.number + 1;
          to_write = std::move(series);
        }
        out.points = CountPoints(to_write);
        out.min_ms = std::numeric_limits<int64_t>::max();
        out.max_ms = std::numeric_limits<int64_t>::min();
        for (const auto& [id, data] : to_write) {
          if (data.size() == 0) continue;
          out.min_ms = std::min(out.min_ms, data.timestamps_ms.front());
          out.max_ms = std::max(out.max_ms, data.timestamps_ms.back());
        }
        out.block = EncodeBlock(ToEntries(std::move(to_write)), chunk_options);
      });
      fresh.clear();
      std::map<int64_t, LatestOfGroup> newest_by_group;
      // Writing a window's chunk also marks its rollups stale: RollupPass computes them again once it settles.
      const int64_t folded_ms = NowMs();
      for (size_t index = 0; index < window_keys.size(); ++index) {
        const WindowKey& key = window_keys[index];
        Folded& out = folded[index];
        RETURN_IF_ERROR(out.status);
        absl::StatusOr<PgRows> written = session.Exec(
            queries::kUpsertChunk,
            {PgParam::Bytes(tenant_id), PgParam::Int64(key.group_id), PgParam::Int64(key.window_start_ms),
             PgParam::Int64(out.number), PgParam::Bytes(type_of_group[key.group_id]), PgParam::Int64(out.min_ms),
             PgParam::Int64(out.max_ms), PgParam::Int64(out.points), PgParam::Bytes(out.block),
             PgParam::Int64(folded_ms)});
        if (!written.ok()) return written.status();
        stats.chunks_written++;
        LatestOfGroup& group_newest = newest_by_group[key.group_id];
        for (const auto& [series_key, point] : out.newest) OfferNewest(series_key, point, group_newest);
        out.block.clear();
      }
      RETURN_IF_ERROR(Hook("chunks-written"));

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
  const int threads_;
};

}  // namespace

std::unique_ptr<TelemetryMaintenance> MakeTelemetryMaintenance(DbPool& db, RedisClient* redis, Clock& clock,
                                                               MaintenanceOptions options) {
  return std::make_unique<Maintenance>(db, redis, clock, std::move(options));
}

}  // namespace parkbase::telemetry
