#include "telemetry/telemetry_store.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "telemetry/telemetry_queries.h"

namespace parkbase::telemetry {
namespace {

// Windows fetched per statement of a scan: a few hours of a group, so a page of a 1 Hz metric takes one or two
// statements while a sparse metric's long range does not take one statement a window.
constexpr int64_t kWindowsPerFetch = 8;
// A group compacted before latest rows existed is searched back this many chunk rows for its latest values (two
// days of a busy group); older values are found again once the group is next compacted.
constexpr int64_t kLatestFallbackRows = 48;
// The whole log a latest-value rebuild may read: the compactor keeps the log far smaller than this.
constexpr int64_t kLatestLogBytes = int64_t{512} << 20;

struct Matcher {
  const SeriesFilter& filter;

  bool operator()(absl::string_view device, absl::string_view metric) const {
    if (std::find(filter.device_ids.begin(), filter.device_ids.end(), device) == filter.device_ids.end()) {
      return false;
    }
    if (filter.metrics.empty()) return true;
    return std::find(filter.metrics.begin(), filter.metrics.end(), metric) != filter.metrics.end();
  }
};

// Rollup rows are read whole: their statistic columns span every series of the row (at most a chunk group's).
// Callers pick their devices and metrics out of the decoded cells.
struct KeepAll {
  bool operator()(absl::string_view, absl::string_view) const { return true; }
};

int64_t CountPoints(const std::vector<SeriesEntry>& entries) {
  int64_t points = 0;
  for (const SeriesEntry& entry : entries) points += static_cast<int64_t>(entry.data.size());
  return points;
}

absl::Status ScanTooLarge(const ScanBudget& budget) {
  return QuotaError("request", "max_scan_bytes",
                    absl::StrCat("answering would read more than ", budget.max_bytes,
                                 " bytes of stored telemetry in one call; narrow the time range, name fewer devices "
                                 "or metrics, or use a bucket of whole minutes or hours (rollups)"),
                    absl::Seconds(1));
}

// Charges `bytes` about to be fetched. RESOURCE_EXHAUSTED when they would not fit what is left.
absl::Status Charge(ScanBudget& budget, int64_t bytes) {
  if (budget.bytes + bytes > budget.max_bytes) return ScanTooLarge(budget);
  budget.bytes += bytes;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SizeOf(LibpqSession& session, const char* sql, const std::vector<PgParam>& params) {
  absl::StatusOr<PgRows> rows = session.Exec(sql, params);
  if (!rows.ok()) return rows.status();
  return rows->size() == 0 ? 0 : rows->Int64(0, 0);
}

}  // namespace

absl::StatusOr<std::string> EncodeRetentionOverrides(const absl::flat_hash_map<std::string, int32_t>& overrides) {
  pb::RetentionPolicy carrier;
  for (const auto& [type, days] : overrides) (*carrier.mutable_device_type_raw_retention_days())[type] = days;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(carrier, &json, options).ok()) {
    return absl::InternalError("retention overrides: cannot encode");
  }
  return json;
}

absl::StatusOr<absl::flat_hash_map<std::string, int32_t>> DecodeRetentionOverrides(absl::string_view json) {
  pb::RetentionPolicy carrier;
  const auto parsed = google::protobuf::util::JsonStringToMessage(std::string(json), &carrier);
  if (!parsed.ok() || !carrier.name().empty() || carrier.raw_retention_days() != 0 ||
      carrier.rollup_1m_retention_days() != 0 || carrier.rollup_1h_retention_days() != 0) {
    return absl::DataLossError(absl::StrCat("telemetry_retention.overrides: stored policy does not decode (",
                                            parsed.ok() ? "unexpected fields" : parsed.ToString(),
                                            "); retention is not applied until it is repaired"));
  }
  absl::flat_hash_map<std::string, int32_t> overrides;
  for (const auto& [type, days] : carrier.device_type_raw_retention_days()) overrides[type] = days;
  return overrides;
}

PgTelemetryStore::PgTelemetryStore(LibpqPool& pool) : pool_(pool) {}

absl::StatusOr<std::optional<EarlierBatch>> PgTelemetryStore::AppendBatch(
    const TenantScope& scope, const BatchIdentity& identity, const std::string& response, absl::string_view block,
    int64_t min_time_ms, int64_t max_time_ms, int64_t points, int64_t raw_bytes) {
  std::optional<EarlierBatch> earlier;
  absl::Status status = pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
    if (identity.batch_id.empty()) {
      return session
          .Exec(queries::kAppendBatch,
                {PgParam::Bytes(scope.tenant_id), PgParam::Int64(min_time_ms), PgParam::Int64(max_time_ms),
                 PgParam::Int32(static_cast<int32_t>(points)), PgParam::Int64(raw_bytes), PgParam::Bytes(block)})
          .status();
    }
    absl::StatusOr<PgRows> inserted = session.Exec(
        queries::kAppendBatchWithId,
        {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(identity.writer), PgParam::Bytes(identity.batch_id),
         PgParam::Bytes(response), PgParam::Bytes(identity.payload_sha256), PgParam::Int64(min_time_ms),
         PgParam::Int64(max_time_ms), PgParam::Int32(static_cast<int32_t>(points)), PgParam::Int64(raw_bytes),
         PgParam::Bytes(block)});
    if (!inserted.ok()) return inserted.status();
    if (inserted->affected() == 1) return absl::OkStatus();
    absl::StatusOr<PgRows> first = session.Exec(
        queries::kSelectBatchResponse,
        {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(identity.writer), PgParam::Bytes(identity.batch_id)});
    if (!first.ok()) return first.status();
    if (first->size() != 1) return absl::AbortedError("batch_id: a concurrent commit of this batch id; retry");
    earlier = EarlierBatch{std::string(first->Bytes(0, 0)), std::string(first->Bytes(0, 1))};
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return earlier;
}

absl::StatusOr<LogBacklog> PgTelemetryStore::ReadLogBacklog(const TenantScope& scope) {
  LogBacklog backlog;
  absl::Status status = pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
    absl::StatusOr<PgRows> rows = session.Exec(queries::kSelectLogBacklog, {PgParam::Bytes(scope.tenant_id)});
    if (!rows.ok()) return rows.status();
    backlog.rows = rows->Int64(0, 0);
    backlog.points = rows->Int64(0, 1);
    backlog.raw_bytes = rows->Int64(0, 2);
    backlog.oldest_age = absl::Milliseconds(rows->Int64(0, 3));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return backlog;
}

absl::StatusOr<TenantLimits> PgTelemetryStore::LoadLimits(const TenantScope& scope) {
  TenantLimits limits;
  absl::Status status = pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
    absl::StatusOr<PgRows> rows = session.Exec(queries::kSelectLimits, {PgParam::Bytes(scope.tenant_id)});
    if (!rows.ok()) return rows.status();
    if (rows->size() == 0) return absl::NotFoundError(absl::StrCat("tenants/", scope.tenant_id, ": not found"));
    limits.points_per_second = rows->Int64(0, 0);
    limits.quota_retention_days = static_cast<int32_t>(rows->Int64(0, 1));
    limits.raw_retention_days = static_cast<int32_t>(rows->Int64(0, 2));
    absl::StatusOr<absl::flat_hash_map<std::string, int32_t>> overrides = DecodeRetentionOverrides(rows->Bytes(0, 3));
    if (!overrides.ok()) return overrides.status();
    // A quota lowered after the policy was set caps the policy: the quota is what the tenant pays for.
    for (const auto& [type, days] : *overrides) {
      limits.device_type_raw_retention_days[type] = std::min(days, limits.quota_retention_days);
    }
    limits.rollup_1m_retention_days = static_cast<int32_t>(rows->Int64(0, 4));
    limits.rollup_1h_retention_days = static_cast<int32_t>(rows->Int64(0, 5));
    limits.policy_revision = rows->Int64(0, 6);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return limits;
}

absl::Status PgTelemetryStore::SaveRetention(const TenantScope& scope, const TenantLimits& limits,
                                             int64_t if_revision, const AuditEntry& audit) {
  absl::StatusOr<std::string> overrides = EncodeRetentionOverrides(limits.device_type_raw_retention_days);
  if (!overrides.ok()) return overrides.status();
  return pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
    absl::StatusOr<PgRows> saved = session.Exec(
        queries::kUpsertRetention,
        {PgParam::Bytes(scope.tenant_id), PgParam::Int64(limits.raw_retention_days), PgParam::Bytes(*overrides),
         PgParam::Int64(limits.rollup_1m_retention_days), PgParam::Int64(limits.rollup_1h_retention_days),
         PgParam::Int64(if_revision)});
    if (!saved.ok()) return saved.status();
    if (saved->size() == 0) {
      return absl::AbortedError(absl::StrCat("retention_policy.etag: stale, tenants/", scope.tenant_id,
                                             "/retentionPolicy changed while this change was made; read it again "
                                             "and reapply the change"));
    }
    const std::string role = absl::StrCat(audit.actor_role);
    return session
        .Exec(kInsertAuditSql, {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(audit.actor), PgParam::Bytes(role),
                                PgParam::Bytes(audit.action), PgParam::Bytes(audit.resource),
                                PgParam::Bytes(audit.details_json.empty() ? "{}" : audit.details_json)})
        .status();
  });
}

absl::StatusOr<std::string> PgTelemetryStore::DeviceByIdentifier(const TenantScope& scope,
                                                                 const std::string& identifier) {
  std::string device_id;
  absl::Status status = pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
    absl::StatusOr<PgRows> rows = session.Exec(queries::kSelectDeviceByIdentifier,
                                               {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(identifier)});
    if (!rows.ok()) return rows.status();
    if (rows->size() == 0) return absl::NotFoundError(absl::StrCat("device \"", identifier, "\": not found"));
    device_id = std::string(rows->Bytes(0, 0));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return device_id;
}

absl::StatusOr<std::vector<std::string>> PgTelemetryStore::DevicesByLabels(
    const TenantScope& scope, const absl::flat_hash_map<std::string, std::string>& labels, int limit) {
  google::protobuf::Struct object;
  for (const auto& [key, value] : labels) (*object.mutable_fields())[key].set_string_value(value);
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(object, &json).ok()) {
    return absl::InternalError("labels: cannot encode");
  }
  std::vector<std::string> ids;
  absl::Status status = pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
    absl::StatusOr<PgRows> rows = session.Exec(
        queries::kSelectDevicesByLabels, {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(json), PgParam::Int64(limit)});
    if (!rows.ok()) return rows.status();
    for (int row = 0; row < rows->size(); ++row) ids.emplace_back(rows->Bytes(row, 0));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return ids;
}

absl::StatusOr<std::vector<std::string>> PgTelemetryStore::ExistingDeviceTypes(
    const TenantScope& scope, const std::vector<std::string>& type_ids) {
  std::vector<std::string> found;
  const std::string ids = PgTextArray(type_ids);
  absl::Status status = pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
    absl::StatusOr<PgRows> rows =
        session.Exec(queries::kSelectExistingDeviceTypes, {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(ids)});
    if (!rows.ok()) return rows.status();
    for (int row = 0; row < rows->size(); ++row) found.emplace_back(rows->Bytes(row, 0));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<std::vector<std::string>> PgTelemetryStore::MetricsOfDeviceType(const TenantScope& scope,
                                                                               const std::string& device_type_id) {
  std::vector<std::string> metrics;
  absl::Status status = pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
    absl::StatusOr<PgRows> rows = session.Exec(queries::kSelectMetricsOfType,
                                               {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(device_type_id)});
    if (!rows.ok()) return rows.status();
    for (int row = 0; row < rows->size(); ++row) {
      if (!rows->IsNull(row, 0)) metrics.emplace_back(rows->Bytes(row, 0));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return metrics;
}

absl::StatusOr<ScanOutcome> PgTelemetryStore::ScanWindows(const TenantScope& scope, const SeriesFilter& filter,
                                                          int64_t start_ms, int64_t end_ms, ScanBudget& budget,
                                                          absl::FunctionRef<bool(int64_t, SeriesMap&)> visit) {
  ScanOutcome outcome;
  if (start_ms >= end_ms || filter.device_ids.empty()) return outcome;
  const Matcher keep{filter};
  const std::string tenant = scope.tenant_id;
  absl::Status status = pool_.ReadSnapshot(scope, [&](LibpqSession& session) -> absl::Status {
    // The log's points of the range, by window, in log order (they are later writes than any chunk).
    ASSIGN_OR_RETURN(const int64_t log_bytes,
                     SizeOf(session, queries::kSizeOfLogRange,
                            {PgParam::Bytes(tenant), PgParam::Int64(start_ms), PgParam::Int64(end_ms)}));
    RETURN_IF_ERROR(Charge(budget, log_bytes));
    std::map<int64_t, std::vector<SeriesEntry>> log_windows;
    {
      absl::StatusOr<PgRows> log = session.Exec(
          queries::kSelectLogRange, {PgParam::Bytes(tenant), PgParam::Int64(start_ms), PgParam::Int64(end_ms)});
      if (!log.ok()) return log.status();
      for (int row = 0; row < log->size(); ++row) {
        ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(log->Bytes(row, 1), keep));
        budget.points += CountPoints(entries);
        for (SeriesEntry& entry : entries) {
          std::map<int64_t, SeriesData> parts;
          for (size_t i = 0; i < entry.data.size(); ++i) {
            const int64_t time = entry.data.timestamps_ms[i];
            if (time < start_ms || time >= end_ms) continue;
            SeriesData& part = parts[WindowStart(time, kChunkWindowMs)];
            part.kind = entry.data.kind;
            AppendPoint(entry.data, i, part);
          }
          for (auto& [window, part] : parts) {
            log_windows[window].push_back(SeriesEntry{entry.device_id, entry.metric, std::move(part)});
          }
        }
      }
    }
    std::vector<int64_t> groups;
    {
      absl::StatusOr<PgRows> rows =
          session.Exec(queries::kSelectGroupsOf, {PgParam::Bytes(tenant), PgParam::Bytes(PgTextArray(filter.device_ids))});
      if (!rows.ok()) return rows.status();
      for (int row = 0; row < rows->size(); ++row) groups.push_back(rows->Int64(row, 0));
    }
    const std::string group_array = PgInt64Array(groups);

    int64_t cursor = WindowStart(start_ms, kChunkWindowMs);
    bool first_batch = true;
    while (cursor < end_ms) {
      // The next windows holding chunks; log-only windows before them are visited on the way.
      std::vector<int64_t> windows;
      if (!groups.empty()) {
        absl::StatusOr<PgRows> rows = session.Exec(
            queries::kSelectNextWindows, {PgParam::Bytes(tenant), PgParam::Bytes(group_array), PgParam::Int64(cursor),
                                          PgParam::Int64(end_ms), PgParam::Int64(kWindowsPerFetch)});
        if (!rows.ok()) return rows.status();
        for (int row = 0; row < rows->size(); ++row) windows.push_back(rows->Int64(row, 0));
      }
      const int64_t batch_last = windows.empty() ? end_ms : windows.back();
      std::map<int64_t, SeriesMap> batch;
      if (!windows.empty()) {
        if (!first_batch && budget.exhausted()) {
          outcome.complete = false;
          outcome.resume_ms = cursor;
          return absl::OkStatus();
        }
        ASSIGN_OR_RETURN(const int64_t bytes,
                         SizeOf(session, queries::kSizeOfWindows,
                                {PgParam::Bytes(tenant), PgParam::Bytes(group_array), PgParam::Int64(windows.front()),
                                 PgParam::Int64(batch_last)}));
        if (!first_batch && budget.bytes + bytes > budget.max_bytes) {
          outcome.complete = false;
          outcome.resume_ms = cursor;
          return absl::OkStatus();
        }
        RETURN_IF_ERROR(Charge(budget, bytes));
        absl::StatusOr<PgRows> rows = session.Exec(
            queries::kSelectWindowBlocks, {PgParam::Bytes(tenant), PgParam::Bytes(group_array),
                                           PgParam::Int64(windows.front()), PgParam::Int64(batch_last)});
        if (!rows.ok()) return rows.status();
        for (int row = 0; row < rows->size(); ++row) {
          ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(rows->Bytes(row, 3), keep));
          budget.points += CountPoints(entries);
          MergeInto(std::move(entries), batch[rows->Int64(row, 0)]);
        }
      }
      first_batch = false;
      // Log points of windows up to the end of this batch go after the chunks of their window.
      const int64_t batch_end = windows.empty() ? end_ms : batch_last + kChunkWindowMs;
      for (auto it = log_windows.lower_bound(cursor); it != log_windows.end() && it->first < batch_end;) {
        MergeInto(std::move(it->second), batch[it->first]);
        it = log_windows.erase(it);
      }
      for (auto& [window, series] : batch) {
        for (auto& [id, data] : series) {
          SortAndDeduplicate(data);
          KeepRange(data, start_ms, end_ms);
        }
        if (!visit(window, series)) {
          outcome.complete = false;
          outcome.resume_ms = window + kChunkWindowMs;
          return absl::OkStatus();
        }
      }
      cursor = batch_end;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return outcome;
}

absl::StatusOr<StoredSeries> PgTelemetryStore::ReadRollups(const TenantScope& scope, const SeriesFilter& filter,
                                                           int resolution_s, int64_t start_ms, int64_t end_ms,
                                                           ScanBudget& budget) {
  StoredSeries series;
  const std::string devices = PgTextArray(filter.device_ids);
  // A rollup row spans 60 buckets (an hour of minutes) or 24 (a day of hours).
  const int64_t row_span_ms = resolution_s == 60 ? kChunkWindowMs : 24 * kChunkWindowMs;
  const std::string tenant = scope.tenant_id;
  absl::Status status = pool_.ReadSnapshot(scope, [&](LibpqSession& session) -> absl::Status {
    const std::vector<PgParam> rollup_params = {PgParam::Bytes(tenant),          PgParam::Bytes(devices),
                                                PgParam::Int64(start_ms),        PgParam::Int64(end_ms),
                                                PgParam::Int32(resolution_s),    PgParam::Int64(row_span_ms)};
    ASSIGN_OR_RETURN(const int64_t rollup_bytes, SizeOf(session, queries::kSizeOfRollups, rollup_params));
    ASSIGN_OR_RETURN(const int64_t log_bytes,
                     SizeOf(session, queries::kSizeOfLogRange,
                            {PgParam::Bytes(tenant), PgParam::Int64(start_ms), PgParam::Int64(end_ms)}));
    RETURN_IF_ERROR(Charge(budget, rollup_bytes + log_bytes));
    absl::StatusOr<PgRows> rows = session.Exec(queries::kSelectRollups, rollup_params);
    if (!rows.ok()) return rows.status();
    for (int row = 0; row < rows->size(); ++row) {
      ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(rows->Bytes(row, 2), KeepAll{}));
      for (SeriesEntry& entry : entries) series.compacted.push_back(std::move(entry));
    }
    absl::StatusOr<PgRows> log = session.Exec(
        queries::kSelectLogRange, {PgParam::Bytes(tenant), PgParam::Int64(start_ms), PgParam::Int64(end_ms)});
    if (!log.ok()) return log.status();
    for (int row = 0; row < log->size(); ++row) {
      ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(log->Bytes(row, 1), Matcher{filter}));
      budget.points += CountPoints(entries);
      for (SeriesEntry& entry : entries) series.log.push_back(std::move(entry));
    }
    absl::StatusOr<PgRows> unsettled =
        session.Exec(queries::kSelectPendingOfDevices,
                     {PgParam::Bytes(tenant), PgParam::Bytes(devices), PgParam::Int64(start_ms), PgParam::Int64(end_ms)});
    if (!unsettled.ok()) return unsettled.status();
    for (int row = 0; row < unsettled->size(); ++row) {
      series.unsettled_windows.emplace_back(std::string(unsettled->Bytes(row, 0)), unsettled->Int64(row, 1));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return series;
}

absl::StatusOr<absl::flat_hash_map<SeriesKey, LatestPoint>> PgTelemetryStore::ReadLatest(
    const TenantScope& scope, const absl::flat_hash_map<std::string, std::vector<std::string>>& wanted) {
  absl::flat_hash_map<SeriesKey, LatestPoint> latest;
  // Sources are visited in write order (latest rows and chunks, then the log by id), so `>=` leaves the last write
  // of the newest time.
  auto offer = [&](const SeriesEntry& entry) {
    for (size_t i = 0; i < entry.data.size(); ++i) {
      const int64_t time = entry.data.timestamps_ms[i];
      auto [it, inserted] = latest.try_emplace(SeriesKey(entry.device_id, entry.metric));
      if (inserted || time >= it->second.time_ms) {
        it->second.time_ms = time;
        it->second.value = ValueAt(entry.data, i);
      }
    }
  };
  auto is_wanted = [&](absl::string_view device, absl::string_view metric) {
    auto found = wanted.find(device);
    if (found == wanted.end()) return false;
    return std::find(found->second.begin(), found->second.end(), metric) != found->second.end();
  };
  std::vector<std::string> devices;
  devices.reserve(wanted.size());
  for (const auto& [device, metrics] : wanted) devices.push_back(device);
  const std::string tenant = scope.tenant_id;
  absl::Status status = pool_.ReadSnapshot(scope, [&](LibpqSession& session) -> absl::Status {
    absl::StatusOr<PgRows> groups =
        session.Exec(queries::kSelectGroupLatest, {PgParam::Bytes(tenant), PgParam::Bytes(PgTextArray(devices))});
    if (!groups.ok()) return groups.status();
    for (int row = 0; row < groups->size(); ++row) {
      if (groups->Int64(row, 2) == 1) {
        ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(groups->Bytes(row, 1), is_wanted));
        for (const SeriesEntry& entry : entries) offer(entry);
        continue;
      }
      // No latest row yet: the group's newest chunk rows, newest first, a bounded number of them.
      absl::StatusOr<PgRows> chunks =
          session.Exec(queries::kSelectNewestChunks, {PgParam::Bytes(tenant), PgParam::Int64(groups->Int64(row, 0)),
                                                      PgParam::Int64(kLatestFallbackRows)});
      if (!chunks.ok()) return chunks.status();
      for (int chunk = chunks->size() - 1; chunk >= 0; --chunk) {  // oldest of them first: write order
        ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(chunks->Bytes(chunk, 2), is_wanted));
        for (const SeriesEntry& entry : entries) offer(entry);
      }
    }
    ASSIGN_OR_RETURN(const int64_t log_bytes, SizeOf(session, queries::kSizeOfLog, {PgParam::Bytes(tenant)}));
    if (log_bytes > kLatestLogBytes) {
      return absl::UnavailableError(absl::StrCat("latest values: the tenant's uncompacted log holds ", log_bytes,
                                                 " bytes, more than a rebuild reads; retry once compaction caught up"));
    }
    absl::StatusOr<PgRows> log = session.Exec(queries::kSelectLogBlocks, {PgParam::Bytes(tenant)});
    if (!log.ok()) return log.status();
    for (int row = 0; row < log->size(); ++row) {
      ASSIGN_OR_RETURN(std::vector<SeriesEntry> entries, DecodeBlock(log->Bytes(row, 1), is_wanted));
      for (const SeriesEntry& entry : entries) offer(entry);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return latest;
}

}  // namespace parkbase::telemetry
