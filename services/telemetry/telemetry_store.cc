#include "telemetry/telemetry_store.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "telemetry/telemetry_queries.h"

namespace parkbase::telemetry {
namespace {

// Decodes the blocks of rows (source, device, a, b, block) into compacted/log series, keeping only what
// `keep` accepts.
absl::Status CollectBlocks(const PgRows& rows, absl::FunctionRef<bool(absl::string_view, absl::string_view)> keep,
                           StoredSeries& into) {
  for (int row = 0; row < rows.size(); ++row) {
    absl::StatusOr<std::vector<SeriesEntry>> entries = DecodeBlock(rows.Bytes(row, 4), keep);
    if (!entries.ok()) return entries.status();
    auto& target = rows.Int64(row, 0) == 0 ? into.compacted : into.log;
    for (SeriesEntry& entry : *entries) target.push_back(std::move(entry));
  }
  return absl::OkStatus();
}

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

}  // namespace

PgTelemetryStore::PgTelemetryStore(LibpqPool& pool) : pool_(pool) {}

absl::StatusOr<std::optional<std::string>> PgTelemetryStore::AppendBatch(const TenantScope& scope,
                                                                         const std::string& batch_id,
                                                                         const std::string& response,
                                                                         absl::string_view block,
                                                                         int64_t min_time_ms, int64_t max_time_ms,
                                                                         int64_t points) {
  std::optional<std::string> duplicate;
  absl::Status status = pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
    if (batch_id.empty()) {
      return session
          .Exec(queries::kAppendBatch,
                {PgParam::Bytes(scope.tenant_id), PgParam::Int64(min_time_ms), PgParam::Int64(max_time_ms),
                 PgParam::Int32(static_cast<int32_t>(points)), PgParam::Bytes(block)})
          .status();
    }
    absl::StatusOr<PgRows> inserted =
        session.Exec(queries::kAppendBatchWithId,
                     {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(batch_id), PgParam::Bytes(response),
                      PgParam::Int64(min_time_ms), PgParam::Int64(max_time_ms),
                      PgParam::Int32(static_cast<int32_t>(points)), PgParam::Bytes(block)});
    if (!inserted.ok()) return inserted.status();
    if (inserted->affected() == 1) return absl::OkStatus();
    absl::StatusOr<PgRows> first =
        session.Exec(queries::kSelectBatchResponse, {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(batch_id)});
    if (!first.ok()) return first.status();
    if (first->size() != 1) return absl::AbortedError("batch_id: a concurrent commit of this batch id; retry");
    duplicate = std::string(first->Bytes(0, 0));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return duplicate;
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
    pb::RetentionPolicy overrides;
    const std::string json =
        absl::StrCat("{\"device_type_raw_retention_days\":", rows->Bytes(0, 3), "}");
    if (google::protobuf::util::JsonStringToMessage(json, &overrides).ok()) {
      // A quota lowered after the policy was set caps the policy: the quota is what the tenant pays for.
      for (const auto& [type, days] : overrides.device_type_raw_retention_days()) {
        limits.device_type_raw_retention_days[type] = std::min(days, limits.quota_retention_days);
      }
    }
    limits.rollup_1m_retention_days = static_cast<int32_t>(rows->Int64(0, 4));
    limits.rollup_1h_retention_days = static_cast<int32_t>(rows->Int64(0, 5));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return limits;
}

absl::Status PgTelemetryStore::SaveRetention(const TenantScope& scope, const TenantLimits& limits) {
  pb::RetentionPolicy overrides;
  for (const auto& [type, days] : limits.device_type_raw_retention_days) {
    (*overrides.mutable_device_type_raw_retention_days())[type] = days;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(overrides, &json, options).ok()) {
    return absl::InternalError("retention overrides: cannot encode");
  }
  // {"device_type_raw_retention_days":{...}} or {} when there are none.
  google::protobuf::Struct parsed;
  std::string map_json = "{}";
  const std::string prefix = "{\"device_type_raw_retention_days\":";
  if (absl::StartsWith(json, prefix)) map_json = json.substr(prefix.size(), json.size() - prefix.size() - 1);
  return pool_.Transact(scope, [&](LibpqSession& session) -> absl::Status {
    return session
        .Exec(queries::kUpsertRetention,
              {PgParam::Bytes(scope.tenant_id), PgParam::Int64(limits.raw_retention_days), PgParam::Bytes(map_json),
               PgParam::Int64(limits.rollup_1m_retention_days), PgParam::Int64(limits.rollup_1h_retention_days)})
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

absl::StatusOr<StoredSeries> PgTelemetryStore::ReadRaw(const TenantScope& scope, const SeriesFilter& filter,
                                                       int64_t start_ms, int64_t end_ms) {
  StoredSeries series;
  const std::string devices = PgTextArray(filter.device_ids);
  absl::Status status = pool_.ReadSnapshot(scope, [&](LibpqSession& session) -> absl::Status {
    absl::StatusOr<PgRows> rows =
        session.Exec(queries::kSelectRawBlocks, {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(devices),
                                                 PgParam::Int64(start_ms), PgParam::Int64(end_ms)});
    if (!rows.ok()) return rows.status();
    return CollectBlocks(*rows, Matcher{filter}, series);
  });
  if (!status.ok()) return status;
  return series;
}

absl::StatusOr<StoredSeries> PgTelemetryStore::ReadRollups(const TenantScope& scope, const SeriesFilter& filter,
                                                           int resolution_s, int64_t start_ms, int64_t end_ms) {
  StoredSeries series;
  const std::string devices = PgTextArray(filter.device_ids);
  // A rollup row spans 60 buckets (an hour of minutes) or 24 (a day of hours).
  const int64_t row_span_ms = resolution_s == 60 ? 3'600'000 : 86'400'000;
  absl::Status status = pool_.ReadSnapshot(scope, [&](LibpqSession& session) -> absl::Status {
    absl::StatusOr<PgRows> rows = session.Exec(
        queries::kSelectRollupBlocks,
        {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(devices), PgParam::Int64(start_ms), PgParam::Int64(end_ms),
         PgParam::Int32(resolution_s), PgParam::Int64(row_span_ms)});
    if (!rows.ok()) return rows.status();
    for (int row = 0; row < rows->size(); ++row) {
      const bool rollup = rows->Int64(row, 0) == 0;
      absl::StatusOr<std::vector<SeriesEntry>> entries =
          rollup ? DecodeBlock(rows->Bytes(row, 4), KeepAll{}) : DecodeBlock(rows->Bytes(row, 4), Matcher{filter});
      if (!entries.ok()) return entries.status();
      auto& target = rollup ? series.compacted : series.log;
      for (SeriesEntry& entry : *entries) target.push_back(std::move(entry));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return series;
}

absl::StatusOr<absl::flat_hash_map<SeriesKey, LatestPoint>> PgTelemetryStore::ReadLatest(
    const TenantScope& scope, const absl::flat_hash_map<std::string, std::vector<std::string>>& wanted) {
  absl::flat_hash_map<SeriesKey, LatestPoint> latest;
  // Sources are visited in write order within a time, so `>=` leaves the last write of the newest time.
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
  constexpr int64_t kDayMs = 86'400'000;
  absl::Status status = pool_.ReadSnapshot(scope, [&](LibpqSession& session) -> absl::Status {
    // Chunks hold older writes than the log, so they are offered first: per device, newest day first, which is
    // fine because a newer day's times always beat an older day's.
    for (const auto& [device, metrics] : wanted) {
      absl::StatusOr<PgRows> bounds =
          session.Exec(queries::kSelectChunkWindowBounds, {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(device)});
      if (!bounds.ok()) return bounds.status();
      if (bounds->size() == 0 || bounds->IsNull(0, 0)) continue;
      const int64_t lowest = bounds->Int64(0, 0);
      int64_t end = bounds->Int64(0, 1) + 1;
      while (end > lowest) {
        const int64_t start = end - kDayMs;
        absl::StatusOr<PgRows> rows = session.Exec(
            queries::kSelectDeviceChunks,
            {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(device), PgParam::Int64(start), PgParam::Int64(end)});
        if (!rows.ok()) return rows.status();
        // Metrics already found in a later day: older days cannot beat them.
        absl::flat_hash_set<std::string> done;
        for (const std::string& metric : metrics) {
          if (latest.contains(SeriesKey(device, metric))) done.insert(metric);
        }
        for (int row = 0; row < rows->size(); ++row) {
          absl::StatusOr<std::vector<SeriesEntry>> entries = DecodeBlock(rows->Bytes(row, 2), is_wanted);
          if (!entries.ok()) return entries.status();
          for (const SeriesEntry& entry : *entries) {
            if (!done.contains(entry.metric)) offer(entry);
          }
        }
        const bool all_seen = std::all_of(metrics.begin(), metrics.end(), [&](const std::string& metric) {
          return latest.contains(SeriesKey(device, metric));
        });
        if (all_seen) break;
        end = start;
      }
    }
    absl::StatusOr<PgRows> log = session.Exec(queries::kSelectLogBlocks, {PgParam::Bytes(scope.tenant_id)});
    if (!log.ok()) return log.status();
    for (int row = 0; row < log->size(); ++row) {
      absl::StatusOr<std::vector<SeriesEntry>> entries = DecodeBlock(log->Bytes(row, 1), is_wanted);
      if (!entries.ok()) return entries.status();
      for (const SeriesEntry& entry : *entries) offer(entry);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return latest;
}

}  // namespace parkbase::telemetry
