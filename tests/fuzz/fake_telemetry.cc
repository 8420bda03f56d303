#include "fuzz/fake_telemetry.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "fuzz/fuzz_checks.h"
#include "telemetry/rollup.h"
#include "telemetry/series.h"

namespace parkbase::fuzz {
namespace {

using telemetry::SeriesEntry;

// What a compacted chunk point costs to fetch, roughly (codec.h: a few bytes a point once compressed).
constexpr int64_t kChunkBytesPerPoint = 16;
constexpr int64_t kRollupBytesPerEntry = 64;
// Blocks a tenant's live stream keeps here.
constexpr size_t kPublishedBlocks = 16;

struct Matcher {
  const telemetry::SeriesFilter& filter;
  bool operator()(absl::string_view device, absl::string_view metric) const {
    if (std::find(filter.device_ids.begin(), filter.device_ids.end(), device) == filter.device_ids.end()) {
      return false;
    }
    return filter.metrics.empty() ||
           std::find(filter.metrics.begin(), filter.metrics.end(), metric) != filter.metrics.end();
  }
};

absl::Status Charge(telemetry::ScanBudget& budget, int64_t bytes) {
  if (budget.bytes + bytes > budget.max_bytes) {
    return QuotaError("request", "max_scan_bytes",
                      absl::StrCat("answering would read more than ", budget.max_bytes, " bytes"), absl::Seconds(1));
  }
  budget.bytes += bytes;
  return absl::OkStatus();
}

int64_t CountPoints(const std::vector<SeriesEntry>& entries) {
  int64_t points = 0;
  for (const SeriesEntry& entry : entries) points += static_cast<int64_t>(entry.data.size());
  return points;
}

// The points of the `entries` that `keep` accepts in [start_ms, end_ms), by chunk window.
void SplitByWindow(const std::vector<SeriesEntry>& entries, const Matcher& keep, int64_t start_ms, int64_t end_ms,
                   std::map<int64_t, std::vector<SeriesEntry>>& windows) {
  for (const SeriesEntry& entry : entries) {
    if (!keep(entry.device_id, entry.metric)) continue;
    std::map<int64_t, telemetry::SeriesData> parts;
    for (size_t i = 0; i < entry.data.size(); ++i) {
      const int64_t time = entry.data.timestamps_ms[i];
      if (time < start_ms || time >= end_ms) continue;
      telemetry::SeriesData& part = parts[telemetry::WindowStart(time, telemetry::kChunkWindowMs)];
      part.kind = entry.data.kind;
      telemetry::AppendPoint(entry.data, i, part);
    }
    for (auto& [window, part] : parts) windows[window].push_back(SeriesEntry{entry.device_id, entry.metric, part});
  }
}

std::string LimitsBytes(const telemetry::TenantLimits& limits) {
  std::string bytes = absl::StrCat(limits.points_per_second, "|", limits.quota_retention_days, "|",
                                   limits.raw_retention_days, "|", limits.rollup_1m_retention_days, "|",
                                   limits.rollup_1h_retention_days);
  std::map<std::string, int32_t> overrides(limits.device_type_raw_retention_days.begin(),
                                           limits.device_type_raw_retention_days.end());
  for (const auto& [type, days] : overrides) absl::StrAppend(&bytes, "|", type, "=", days);
  return bytes;
}

}  // namespace

absl::Status FakeTelemetryStore::Enter(absl::string_view operation, const TenantScope& scope) {
  return testing::EnterHook(hook, absl::StrCat("TelemetryStore.", operation), scope.tenant_id, scope.park_wide);
}

void FakeTelemetryStore::Compact(const std::string& tenant_id, std::vector<SeriesEntry> chunks) {
  TenantData& data = tenants[tenant_id];
  for (SeriesEntry& entry : chunks) telemetry::SortAndDeduplicate(entry.data);
  auto rollups = std::make_shared<Rollups>();
  for (const auto& [resolution_s, row_span_ms] :
       std::vector<std::pair<int, int64_t>>{{60, telemetry::kChunkWindowMs}, {3600, 24 * telemetry::kChunkWindowMs}}) {
    std::map<int64_t, std::map<telemetry::SeriesKey, telemetry::Buckets>> rows;
    for (const SeriesEntry& entry : chunks) {
      for (const auto& [start, stats] : telemetry::Bucketize(entry.data, int64_t{resolution_s} * 1000)) {
        rows[telemetry::WindowStart(start, row_span_ms)][{entry.device_id, entry.metric}][start] = stats;
      }
    }
    for (const auto& [row, cells] : rows) (*rollups)[resolution_s][row] = telemetry::EncodeRollupRow(cells);
  }
  data.rollups = std::move(rollups);
  data.chunks = std::make_shared<const std::vector<SeriesEntry>>(std::move(chunks));
}

std::string FakeTelemetryStore::Digest(const std::string& tenant_id) const {
  auto found = tenants.find(tenant_id);
  if (found == tenants.end()) return "";
  const TenantData& data = found->second;
  std::string digest = LimitsBytes(data.limits);
  for (const Batch& batch : data.log) {
    absl::StrAppend(&digest, "\nbatch ", batch.identity.writer, "|", batch.identity.batch_id, "|",
                    batch.min_time_ms, "|", batch.max_time_ms, "|", batch.block);
  }
  for (const AuditEntry& entry : data.audit) absl::StrAppend(&digest, "\naudit ", entry.action, "|", entry.details_json);
  // Chunks and rollups are set up once and never written by the logic.
  absl::StrAppend(&digest, "\n", data.chunks->size(), " chunk series, ", data.rollups->size(), " rollup resolutions");
  return digest;
}

std::vector<SeriesEntry> FakeTelemetryStore::LogEntries(const TenantData& data, const telemetry::SeriesFilter& filter,
                                                        int64_t start_ms, int64_t end_ms, int64_t& bytes) const {
  std::vector<SeriesEntry> entries;
  for (const Batch& batch : data.log) {
    if (batch.max_time_ms < start_ms || batch.min_time_ms >= end_ms) continue;
    bytes += static_cast<int64_t>(batch.block.size());
    absl::StatusOr<std::vector<SeriesEntry>> decoded = telemetry::DecodeBlock(batch.block, Matcher{filter});
    if (!decoded.ok()) Fail(absl::StrCat("a committed block does not decode: ", decoded.status().ToString()));
    for (SeriesEntry& entry : *decoded) entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::optional<telemetry::EarlierBatch>> FakeTelemetryStore::AppendBatch(
    const TenantScope& scope, const telemetry::BatchIdentity& identity, const std::string& response,
    absl::string_view block, int64_t min_time_ms, int64_t max_time_ms, int64_t points, int64_t raw_bytes) {
  if (absl::Status entered = Enter("AppendBatch", scope); !entered.ok()) return entered;
  auto found = tenants.find(scope.tenant_id);
  if (found == tenants.end()) return absl::NotFoundError(absl::StrCat("tenants/", scope.tenant_id, ": not found"));
  // What the write path hands over must be what it says: a block that decodes to `points` points in the range.
  absl::StatusOr<std::vector<SeriesEntry>> decoded = telemetry::DecodeBlock(block);
  if (!decoded.ok()) Fail(absl::StrCat("Write encoded a block that does not decode: ", decoded.status().ToString()));
  int64_t low = std::numeric_limits<int64_t>::max();
  int64_t high = std::numeric_limits<int64_t>::min();
  for (const SeriesEntry& entry : *decoded) {
    for (int64_t time : entry.data.timestamps_ms) {
      low = std::min(low, time);
      high = std::max(high, time);
    }
  }
  if (CountPoints(*decoded) != points || low != min_time_ms || high != max_time_ms ||
      telemetry::DecodedBytes(*decoded) != raw_bytes) {
    Fail(absl::StrCat("Write's block holds ", CountPoints(*decoded), " points in [", low, ", ", high, "] (",
                      telemetry::DecodedBytes(*decoded), " bytes decoded) but says ", points, " in [", min_time_ms,
                      ", ", max_time_ms, "] (", raw_bytes, ")"));
  }
  TenantData& data = found->second;
  if (!identity.batch_id.empty()) {
    for (const Batch& batch : data.log) {
      if (batch.identity.writer == identity.writer && batch.identity.batch_id == identity.batch_id) {
        return telemetry::EarlierBatch{batch.response, batch.identity.payload_sha256};
      }
    }
  }
  data.log.push_back(Batch{identity, response, std::string(block), min_time_ms, max_time_ms});
  return std::nullopt;
}

absl::StatusOr<telemetry::LogBacklog> FakeTelemetryStore::ReadLogBacklog(const TenantScope& scope) {
  if (absl::Status entered = Enter("ReadLogBacklog", scope); !entered.ok()) return entered;
  telemetry::LogBacklog backlog;
  auto found = tenants.find(scope.tenant_id);
  if (found == tenants.end()) return backlog;
  for (const Batch& batch : found->second.log) {
    backlog.rows++;
    backlog.raw_bytes += static_cast<int64_t>(batch.block.size());
  }
  return backlog;
}

absl::StatusOr<telemetry::TenantLimits> FakeTelemetryStore::LoadLimits(const TenantScope& scope) {
  if (absl::Status entered = Enter("LoadLimits", scope); !entered.ok()) return entered;
  auto found = tenants.find(scope.tenant_id);
  if (found == tenants.end()) return absl::NotFoundError(absl::StrCat("tenants/", scope.tenant_id, ": not found"));
  return found->second.limits;
}

absl::Status FakeTelemetryStore::SaveRetention(const TenantScope& scope, const telemetry::TenantLimits& limits,
                                               int64_t if_revision, const AuditEntry& audit) {
  if (absl::Status entered = Enter("SaveRetention", scope); !entered.ok()) return entered;
  auto found = tenants.find(scope.tenant_id);
  if (found == tenants.end()) return absl::NotFoundError(absl::StrCat("tenants/", scope.tenant_id, ": not found"));
  const int64_t revision = found->second.limits.policy_revision;
  if (if_revision >= 0 && if_revision != revision) return absl::AbortedError("retention_policy.etag: stale");
  found->second.limits = limits;
  found->second.limits.policy_revision = revision + 1;
  found->second.audit.push_back(audit);
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeTelemetryStore::DeviceByIdentifier(const TenantScope& scope,
                                                                   const std::string& identifier) {
  if (absl::Status entered = Enter("DeviceByIdentifier", scope); !entered.ok()) return entered;
  auto rows = devices_.tenants.find(scope.tenant_id);
  if (rows != devices_.tenants.end()) {
    for (const auto& [id, device] : rows->second.devices) {
      if (device.identifier() == identifier) return id;
    }
  }
  return absl::NotFoundError("identifier: no device of the tenant has it");
}

absl::StatusOr<std::vector<std::string>> FakeTelemetryStore::DevicesByLabels(
    const TenantScope& scope, const absl::flat_hash_map<std::string, std::string>& labels, int limit) {
  if (absl::Status entered = Enter("DevicesByLabels", scope); !entered.ok()) return entered;
  std::vector<std::string> ids;
  auto rows = devices_.tenants.find(scope.tenant_id);
  if (rows == devices_.tenants.end()) return ids;
  for (const auto& [id, device] : rows->second.devices) {
    if (static_cast<int>(ids.size()) >= limit) break;
    const bool labelled = std::all_of(labels.begin(), labels.end(), [&](const auto& label) {
      auto found = device.labels().find(label.first);
      return found != device.labels().end() && found->second == label.second;
    });
    if (labelled) ids.push_back(id);
  }
  return ids;
}

absl::StatusOr<std::vector<std::string>> FakeTelemetryStore::ExistingDeviceTypes(
    const TenantScope& scope, const std::vector<std::string>& type_ids) {
  if (absl::Status entered = Enter("ExistingDeviceTypes", scope); !entered.ok()) return entered;
  std::vector<std::string> existing;
  auto rows = devices_.tenants.find(scope.tenant_id);
  if (rows == devices_.tenants.end()) return existing;
  for (const std::string& id : type_ids) {
    if (rows->second.types.count(id) != 0) existing.push_back(id);
  }
  return existing;
}

absl::StatusOr<std::vector<std::string>> FakeTelemetryStore::MetricsOfDeviceType(const TenantScope& scope,
                                                                                 const std::string& device_type_id) {
  if (absl::Status entered = Enter("MetricsOfDeviceType", scope); !entered.ok()) return entered;
  std::set<std::string> metrics;
  auto rows = devices_.tenants.find(scope.tenant_id);
  if (rows != devices_.tenants.end()) {
    auto type = rows->second.types.find(device_type_id);
    if (type != rows->second.types.end()) {
      for (const auto& version : type->second) {
        for (const auto& metric : version.metrics()) metrics.insert(metric.name());
      }
    }
  }
  return std::vector<std::string>(metrics.begin(), metrics.end());
}

absl::StatusOr<telemetry::ScanOutcome> FakeTelemetryStore::ScanWindows(
    const TenantScope& scope, const telemetry::SeriesFilter& filter, int64_t start_ms, int64_t end_ms,
    telemetry::ScanBudget& budget, absl::FunctionRef<bool(int64_t, telemetry::SeriesMap&)> visit) {
  telemetry::ScanOutcome outcome;
  if (start_ms >= end_ms || filter.device_ids.empty()) return outcome;
  if (absl::Status entered = Enter("ScanWindows", scope); !entered.ok()) return entered;
  auto found = tenants.find(scope.tenant_id);
  if (found == tenants.end()) return outcome;
  const TenantData& data = found->second;
  int64_t log_bytes = 0;
  std::vector<SeriesEntry> log = LogEntries(data, filter, start_ms, end_ms, log_bytes);
  if (absl::Status charged = Charge(budget, log_bytes); !charged.ok()) return charged;
  budget.points += CountPoints(log);
  const Matcher keep{filter};
  std::map<int64_t, std::vector<SeriesEntry>> chunk_windows;
  std::map<int64_t, std::vector<SeriesEntry>> log_windows;
  SplitByWindow(*data.chunks, keep, start_ms, end_ms, chunk_windows);
  SplitByWindow(log, keep, start_ms, end_ms, log_windows);
  std::set<int64_t> windows;
  for (const auto& [window, entries] : chunk_windows) windows.insert(window);
  for (const auto& [window, entries] : log_windows) windows.insert(window);
  bool first = true;
  for (int64_t window : windows) {
    const int64_t points = CountPoints(chunk_windows[window]);
    // At least one window a call; then only what the budget has room for.
    if (!first && (budget.exhausted() || budget.bytes + points * kChunkBytesPerPoint > budget.max_bytes)) {
      outcome.complete = false;
      outcome.resume_ms = window;
      return outcome;
    }
    first = false;
    budget.bytes += points * kChunkBytesPerPoint;
    budget.points += points;
    telemetry::SeriesMap series;
    telemetry::MergeInto(std::move(chunk_windows[window]), series);
    telemetry::MergeInto(std::move(log_windows[window]), series);
    for (auto& [id, points_of] : series) {
      telemetry::SortAndDeduplicate(points_of);
      telemetry::KeepRange(points_of, start_ms, end_ms);
    }
    if (!visit(window, series)) {
      outcome.complete = false;
      outcome.resume_ms = window + telemetry::kChunkWindowMs;
      return outcome;
    }
  }
  return outcome;
}

absl::StatusOr<telemetry::StoredSeries> FakeTelemetryStore::ReadRollups(const TenantScope& scope,
                                                                       const telemetry::SeriesFilter& filter,
                                                                       int resolution_s, int64_t start_ms,
                                                                       int64_t end_ms, telemetry::ScanBudget& budget) {
  if (absl::Status entered = Enter("ReadRollups", scope); !entered.ok()) return entered;
  telemetry::StoredSeries series;
  auto found = tenants.find(scope.tenant_id);
  if (found == tenants.end()) return series;
  const TenantData& data = found->second;
  const int64_t row_span_ms = resolution_s == 60 ? telemetry::kChunkWindowMs : 24 * telemetry::kChunkWindowMs;
  int64_t bytes = 0;
  auto rows = data.rollups->find(resolution_s);
  if (rows != data.rollups->end()) {
    for (const auto& [row, entries] : rows->second) {
      if (row >= end_ms || row + row_span_ms <= start_ms) continue;
      bytes += kRollupBytesPerEntry * static_cast<int64_t>(entries.size());
      series.compacted.insert(series.compacted.end(), entries.begin(), entries.end());
    }
  }
  series.log = LogEntries(data, filter, start_ms, end_ms, bytes);
  if (absl::Status charged = Charge(budget, bytes); !charged.ok()) return charged;
  budget.points += CountPoints(series.log);
  return series;
}

absl::StatusOr<absl::flat_hash_map<telemetry::SeriesKey, telemetry::LatestPoint>> FakeTelemetryStore::ReadLatest(
    const TenantScope& scope, const absl::flat_hash_map<std::string, std::vector<std::string>>& wanted) {
  if (absl::Status entered = Enter("ReadLatest", scope); !entered.ok()) return entered;
  absl::flat_hash_map<telemetry::SeriesKey, telemetry::LatestPoint> latest;
  auto found = tenants.find(scope.tenant_id);
  if (found == tenants.end()) return latest;
  auto is_wanted = [&](absl::string_view device, absl::string_view metric) {
    auto metrics = wanted.find(device);
    return metrics != wanted.end() &&
           std::find(metrics->second.begin(), metrics->second.end(), metric) != metrics->second.end();
  };
  // Write order: the chunks, then the log; `>=` keeps the last write of the newest time.
  auto offer = [&](const SeriesEntry& entry) {
    if (!is_wanted(entry.device_id, entry.metric)) return;
    for (size_t i = 0; i < entry.data.size(); ++i) {
      auto [it, inserted] = latest.try_emplace(telemetry::SeriesKey(entry.device_id, entry.metric));
      if (inserted || entry.data.timestamps_ms[i] >= it->second.time_ms) {
        it->second.time_ms = entry.data.timestamps_ms[i];
        it->second.value = telemetry::ValueAt(entry.data, i);
      }
    }
  };
  for (const SeriesEntry& entry : *found->second.chunks) offer(entry);
  for (const Batch& batch : found->second.log) {
    absl::StatusOr<std::vector<SeriesEntry>> decoded = telemetry::DecodeBlock(batch.block, is_wanted);
    if (!decoded.ok()) Fail(absl::StrCat("a committed block does not decode: ", decoded.status().ToString()));
    for (const SeriesEntry& entry : *decoded) offer(entry);
  }
  return latest;
}

absl::StatusOr<telemetry::IngestRateLimiter::Decision> FakeIngestRateLimiter::Take(const std::string& tenant_id,
                                                                                  int64_t points_per_second,
                                                                                  int64_t points) {
  if (absl::Status entered = testing::EnterHook(hook, "IngestRateLimiter.Take", tenant_id, false); !entered.ok()) {
    return entered;
  }
  Decision decision;
  int64_t& taken = taken_[tenant_id];
  const int64_t burst = std::max<int64_t>(points_per_second, 1) * 2;
  if (points > burst - taken) {
    decision.allowed = false;
    decision.retry_after = absl::Seconds(1);
    return decision;
  }
  taken += points;
  return decision;
}

void FakeLatestValues::Offer(Hash& hash, const std::string& metric, const telemetry::LatestPoint& point) {
  auto [it, inserted] = hash.points.try_emplace(metric, point);
  if (!inserted && point.time_ms >= it->second.time_ms) it->second = point;
}

absl::Status FakeLatestValues::Update(const std::string& tenant_id, const std::vector<SeriesEntry>& series) {
  if (absl::Status entered = testing::EnterHook(hook, "LatestValues.Update", tenant_id, false); !entered.ok()) {
    return entered;
  }
  for (const SeriesEntry& entry : series) {
    auto hash = hashes_.find({tenant_id, entry.device_id});
    if (hash == hashes_.end() || entry.data.size() == 0) continue;
    size_t newest = 0;
    for (size_t i = 1; i < entry.data.size(); ++i) {
      if (entry.data.timestamps_ms[i] >= entry.data.timestamps_ms[newest]) newest = i;
    }
    Offer(hash->second, entry.metric,
          telemetry::LatestPoint{entry.data.timestamps_ms[newest], telemetry::ValueAt(entry.data, newest)});
  }
  return absl::OkStatus();
}

absl::Status FakeLatestValues::BeginRebuild(const std::string& tenant_id, const std::vector<std::string>& devices) {
  if (absl::Status entered = testing::EnterHook(hook, "LatestValues.BeginRebuild", tenant_id, false);
      !entered.ok()) {
    return entered;
  }
  for (const std::string& device : devices) hashes_.try_emplace({tenant_id, device});
  return absl::OkStatus();
}

absl::Status FakeLatestValues::FinishRebuild(
    const std::string& tenant_id, const absl::flat_hash_map<telemetry::SeriesKey, telemetry::LatestPoint>& points,
    const std::vector<std::string>& devices) {
  if (absl::Status entered = testing::EnterHook(hook, "LatestValues.FinishRebuild", tenant_id, false);
      !entered.ok()) {
    return entered;
  }
  for (const std::string& device : devices) {
    auto hash = hashes_.find({tenant_id, device});
    if (hash == hashes_.end()) continue;
    for (const auto& [key, point] : points) {
      if (key.first == device) Offer(hash->second, key.second, point);
    }
    hash->second.complete = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::optional<absl::flat_hash_map<std::string, telemetry::LatestPoint>>>>
FakeLatestValues::Read(const std::string& tenant_id, const std::vector<std::string>& device_ids) {
  if (absl::Status entered = testing::EnterHook(hook, "LatestValues.Read", tenant_id, false); !entered.ok()) {
    return entered;
  }
  std::vector<std::optional<absl::flat_hash_map<std::string, telemetry::LatestPoint>>> result(device_ids.size());
  for (size_t i = 0; i < device_ids.size(); ++i) {
    auto hash = hashes_.find({tenant_id, device_ids[i]});
    if (hash == hashes_.end() || !hash->second.complete) continue;
    result[i].emplace(hash->second.points.begin(), hash->second.points.end());
  }
  return result;
}

std::string FakeLatestValues::Digest(const std::string& tenant_id) const {
  std::string digest;
  for (const auto& [key, hash] : hashes_) {
    if (key.first != tenant_id) continue;
    absl::StrAppend(&digest, key.second, hash.complete ? " complete" : " pending");
    for (const auto& [metric, point] : hash.points) {
      absl::StrAppend(&digest, " ", metric, "@", point.time_ms, "=", StableBytes(point.value));
    }
    digest += "\n";
  }
  return digest;
}

void FakeLiveFeed::Publish(const std::string& tenant_id, const std::string& block) {
  // Best effort, as the real feed: an injected failure drops the block.
  if (!testing::EnterHook(hook, "LiveFeed.Publish", tenant_id, false).ok()) return;
  std::vector<std::string>& blocks = published_[tenant_id];
  if (blocks.size() == kPublishedBlocks) blocks.erase(blocks.begin());
  blocks.push_back(block);
}

std::string FakeLiveFeed::Digest(const std::string& tenant_id) const {
  auto found = published_.find(tenant_id);
  if (found == published_.end()) return "";
  std::string digest;
  for (const std::string& block : found->second) absl::StrAppend(&digest, block.size(), ":", block);
  return digest;
}

}  // namespace parkbase::fuzz
