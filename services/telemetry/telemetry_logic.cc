#include "telemetry/telemetry_logic.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/access.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/etag.h"
#include "common/log.h"
#include "common/names.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/time_util.h"
#include "google/protobuf/wire_format_lite.h"
#include "telemetry/rollup.h"
#include "telemetry/series.h"

namespace parkbase::telemetry {
namespace {

using google::protobuf::util::TimeUtil;

// How long a replica trusts a tenant's quota and retention before reading them again: a quota change reaches
// every replica within this.
constexpr absl::Duration kLimitsTtl = absl::Seconds(2);
// The ingest log is rewritten by the compactor within seconds: a fast zstd level.
constexpr int kLogZstdLevel = 1;
constexpr int kMaxDevicesPerRead = 1000;
constexpr int kDefaultReadPageSize = 1000;
constexpr int kMaxReadPageSize = 10'000;
// Buckets one Aggregate answers, over all devices with per_device: ~60 bytes each, so a 6 MB answer at most.
constexpr int64_t kMaxAggregateBuckets = 100'000;
// The widest bucket: ten years. Also keeps bucket * 1000 far from int64's end.
constexpr int64_t kMaxBucketSeconds = int64_t{3650} * 86'400;
constexpr int kMaxRetentionDays = 3650;
constexpr size_t kMaxWriterIdBytes = 128;

std::string Quoted(absl::string_view text) { return absl::StrCat("\"", absl::CEscape(text.substr(0, 100)), "\""); }

absl::StatusOr<int64_t> TimeField(absl::string_view field, const google::protobuf::Timestamp& time, bool present) {
  if (!present) return FieldError(field, "required");
  if (time.seconds() < 0 || time.nanos() < 0 || time.nanos() > 999'999'999 ||
      time.seconds() > 253'402'300'799) {  // 9999-12-31
    return FieldError(field, "must be a valid time from 1970 on");
  }
  return TimeUtil::TimestampToMilliseconds(time);
}

google::protobuf::Timestamp Millis(int64_t time_ms) { return TimeUtil::MillisecondsToTimestamp(time_ms); }

// Protobuf wire format, for answers appended as bytes (GetLatestEncoded). Each piece is written to a small buffer
// and appended once: byte-by-byte appends were a tenth of the call.
constexpr size_t kMaxVarint = 10;
size_t PutVarint(char* out, uint64_t value) {
  size_t size = 0;
  while (value >= 0x80) {
    out[size++] = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  out[size++] = static_cast<char>(value);
  return size;
}
size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}
// The tag and length of a length-delimited field (string, bytes or sub-message), at `out`; returns the end.
char* PutFieldHeader(char* out, int field, size_t size) {
  out += PutVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  return out + PutVarint(out, size);
}
char* PutField(char* out, int field, absl::string_view bytes) {
  out = PutFieldHeader(out, field, bytes.size());
  std::memcpy(out, bytes.data(), bytes.size());
  return out + bytes.size();
}
// Whether `bytes` are a serialized Value holding a double (field 1's tag as fixed64, then 8 bytes): the common case,
// known to decode without a parse.
bool IsDoubleValue(absl::string_view bytes) { return bytes.size() == 9 && bytes[0] == ((1 << 3) | 1); }
size_t FieldSize(int field, size_t size) { return VarintSize(static_cast<uint64_t>(field) << 3) + VarintSize(size) + size; }

std::string RandomBatchId() { return absl::StrCat("server-", absl::BytesToHexString(RandomBytes(12))); }

// Counts what a read fetched, however it ends.
struct ScanAccount {
  const ScanBudget& budget;
  prometheus::Counter& counter;
  ~ScanAccount() { counter.Increment(static_cast<double>(budget.bytes)); }
};

// Batch ids are unique per writer. A device key is always its device (with the writer id it names, if any), so no
// device key can claim another writer's ids; a gateway that shares or rotates keys names its writer id.
std::string WriterOf(const Principal& caller, const std::string& writer_id) {
  if (caller.role == Role::kDevice) {
    return writer_id.empty() ? absl::StrCat("device:", caller.device_id)
                             : absl::StrCat("device:", caller.device_id, "/", writer_id);
  }
  if (!writer_id.empty()) return absl::StrCat("writer:", writer_id);
  return absl::StrCat("key:", caller.key_id);
}

// SHA-256 of the batch's points as sent, so a batch id reused for other points is told from a retry.
std::string PayloadDigest(const pb::WriteRequest& request) {
  Sha256 digest;
  std::string bytes;
  for (const pb::Point& point : request.points()) {
    bytes.clear();
    point.SerializeToString(&bytes);
    digest.Update(absl::StrCat(bytes.size(), ":"));
    digest.Update(bytes);
  }
  digest.Update("|");
  for (const pb::Series& series : request.series()) {
    bytes.clear();
    series.SerializeToString(&bytes);
    digest.Update(absl::StrCat(bytes.size(), ":"));
    digest.Update(bytes);
  }
  return digest.Finish();
}

absl::Status ValidateWriterId(const std::string& writer_id) {
  if (writer_id.size() > kMaxWriterIdBytes) {
    return FieldError("writer_id", absl::StrCat("at most ", kMaxWriterIdBytes, " characters, got ", writer_id.size()));
  }
  for (char c : writer_id) {
    if (c < 0x21 || c > 0x7e) return FieldError("writer_id", "must be printable ASCII without spaces");
  }
  return absl::OkStatus();
}

// Device type ids, as the device registry allows them: 3 to 63 of [a-z0-9-], a letter first, no '-' last.
bool IsDeviceTypeId(absl::string_view id) {
  return id.size() >= 3 && id.size() <= 63 && absl::ascii_islower(id.front()) && id.back() != '-' &&
         std::all_of(id.begin(), id.end(),
                     [](char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-'; });
}

}  // namespace

TelemetryManager::TelemetryManager(Parts parts)
    : store_(parts.store),
      directory_(parts.directory),
      limiter_(parts.limiter),
      latest_(parts.latest),
      live_(parts.live),
      page_tokens_(parts.page_tokens),
      clock_(parts.clock),
      max_scan_bytes_(parts.max_scan_bytes),
      max_scan_points_(parts.max_scan_points),
      backlog_(parts.backlog),
      tenant_metric_label_(parts.tenant_metric_label),
      ingested_(prometheus::BuildCounter()
                    .Name("parkbase_points_ingested_total")
                    .Help("Telemetry points committed, by tenant (unless --metrics_tenant_label=false).")
                    .Register(parts.registry)),
      rejected_(prometheus::BuildCounter()
                    .Name("parkbase_points_rejected_total")
                    .Help("Telemetry points refused by validation, by reason and tenant (unless "
                          "--metrics_tenant_label=false).")
                    .Register(parts.registry)),
      scanned_(prometheus::BuildCounter()
                   .Name("parkbase_telemetry_scanned_bytes_total")
                   .Help("Stored telemetry fetched from PostgreSQL by reads, by method.")
                   .Register(parts.registry)) {}

// Who may call what is declared on the RPCs and checked before any of this runs (common/access.h); here the
// resource name is checked in full and the call's scope computed.
absl::StatusOr<TenantScope> TelemetryManager::Authorize(const Principal& caller, absl::string_view field,
                                                        absl::string_view parent) {
  const absl::string_view pattern = absl::EndsWith(field, "name") ? "tenants/*/retentionPolicy" : "tenants/*";
  ASSIGN_OR_RETURN(const std::vector<std::string> parts, ParseResourceName(field, parent, pattern));
  return ScopeFor(caller, parts[0], parent);
}

absl::StatusOr<DataScope> TelemetryManager::AuthorizeData(const Principal& caller, absl::string_view field,
                                                          absl::string_view parent) {
  ASSIGN_OR_RETURN(TenantScope tenant, Authorize(caller, field, parent));
  return DataScope(std::move(tenant), caller);
}

absl::StatusOr<TenantLimits> TelemetryManager::Limits(const TenantScope& scope) {
  const absl::Time now = absl::Now();  // cache age in real time, whatever the service clock
  {
    absl::MutexLock lock(&mu_);
    auto found = limits_.find(scope.tenant_id);
    if (found != limits_.end() && now - found->second.loaded < kLimitsTtl) return found->second.limits;
  }
  absl::StatusOr<TenantLimits> limits = store_.LoadLimits(TenantScope::Tenant(scope.tenant_id));
  if (absl::IsNotFound(limits.status())) {
    return absl::NotFoundError(absl::StrCat("tenants/", scope.tenant_id, ": not found"));
  }
  if (!limits.ok()) return limits.status();
  absl::MutexLock lock(&mu_);
  if (limits_.size() > 100'000) limits_.clear();
  limits_[scope.tenant_id] = CachedLimits{*limits, now};
  return *limits;
}

absl::StatusOr<pb::WriteResponse> TelemetryManager::Write(const Principal& caller, const pb::WriteRequest& request,
                                                          bool streamed) {
  ASSIGN_OR_RETURN(PreparedBatch prepared, PrepareWrite(caller, request, streamed));
  return CommitWrite(std::move(prepared));
}

absl::StatusOr<TelemetryManager::PreparedBatch> TelemetryManager::PrepareWrite(const Principal& caller,
                                                                               const pb::WriteRequest& request,
                                                                               bool streamed) {
  ASSIGN_OR_RETURN(const DataScope data, AuthorizeData(caller, "parent", request.parent()));
  const TenantScope& scope = data.tenant();
  RETURN_IF_ERROR(CheckBatchShape(request, streamed));
  RETURN_IF_ERROR(ValidateWriterId(request.writer_id()));
  // Before validation: a refusal under overload should cost as little as possible. Nothing is stored or charged.
  if (backlog_ != nullptr) RETURN_IF_ERROR(backlog_->Admit(scope.tenant_id));
  ASSIGN_OR_RETURN(const TenantLimits limits, Limits(scope));

  IngestRules rules;
  rules.tenant_id = scope.tenant_id;
  if (caller.role == Role::kDevice) rules.only_device_id = caller.device_id;
  rules.app = data.grant();
  rules.freshness = data.freshness();
  rules.now = clock_.Now();
  rules.raw_retention_days = limits.raw_retention_days;
  rules.device_type_raw_retention_days = limits.device_type_raw_retention_days;
  PreparedBatch prepared{scope, BatchIdentity{WriterOf(caller, request.writer_id()), request.batch_id(), ""}, {},
                         {}, 0};
  if (!request.batch_id().empty()) prepared.identity.payload_sha256 = PayloadDigest(request);
  ASSIGN_OR_RETURN(prepared.batch, ValidateBatch(request, rules, directory_));
  ValidatedBatch& batch = prepared.batch;
  batch.response.set_batch_id(request.batch_id().empty() ? RandomBatchId() : request.batch_id());
  for (const pb::PointRejection& rejection : batch.response.rejections()) {
    rejected_
        .Add(IngestCounterLabels(tenant_metric_label_, scope.tenant_id,
                                 {{"reason", pb::RejectionReason_Name(rejection.reason())}}))
        .Increment(static_cast<double>(rejection.count()));
  }
  if (batch.accepted_points == 0) return prepared;  // nothing to store, nothing to charge

  absl::StatusOr<IngestRateLimiter::Decision> decision =
      limiter_.Take(scope.tenant_id, limits.points_per_second, batch.accepted_points);
  if (!decision.ok()) {
    // Fail open: PostgreSQL, not Redis, decides whether data is safe; a Redis outage must not stop ingestion.
    LogLine(LogLevel::kWarning, "ingest quota not checked")
        .Str("tenant", scope.tenant_id)
        .Str("error", decision.status().message())
        .Emit();
  } else if (!decision->allowed) {
    if (backlog_ != nullptr) backlog_->CountRefusal(scope.tenant_id, "max_ingest_points_per_second");
    return QuotaError(absl::StrCat("tenants/", scope.tenant_id), "max_ingest_points_per_second",
                      absl::StrCat("the tenant may ingest ", limits.points_per_second,
                                   " points a second (max_ingest_points_per_second); this batch of ",
                                   batch.accepted_points, " valid points was not stored"),
                      decision->retry_after);
  }
  prepared.block = EncodeBlock(batch.series, BlockOptions{.zstd_level = kLogZstdLevel});
  prepared.raw_bytes = DecodedBytes(batch.series);
  return prepared;
}

absl::StatusOr<pb::WriteResponse> TelemetryManager::CommitWrite(PreparedBatch prepared) {
  const TenantScope& scope = prepared.scope;
  ValidatedBatch& batch = prepared.batch;
  if (batch.accepted_points == 0) return batch.response;
  ASSIGN_OR_RETURN(std::optional<EarlierBatch> earlier,
                   store_.AppendBatch(scope, prepared.identity, batch.response.SerializeAsString(), prepared.block,
                                      batch.min_time_ms, batch.max_time_ms, batch.accepted_points,
                                      prepared.raw_bytes));
  if (earlier.has_value()) {
    if (!earlier->payload_sha256.empty() && earlier->payload_sha256 != prepared.identity.payload_sha256) {
      return WithReason(absl::AlreadyExistsError(absl::StrCat(
                            "batch_id: \"", prepared.identity.batch_id,
                            "\" was already used by this writer for other points; nothing was stored. A retry must "
                            "resend the same points; new points need a new batch id (or a writer_id of their own)")),
                        "BATCH_ID_REUSED");
    }
    pb::WriteResponse duplicate;
    if (!duplicate.ParseFromString(earlier->response)) return absl::InternalError("stored batch answer unreadable");
    duplicate.set_duplicate(true);
    return duplicate;
  }
  // Not part of the stored answer (a duplicate's answer is the first commit's, which happened before).
  *batch.response.mutable_commit_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(clock_.Now()));
  ingested_.Add(IngestCounterLabels(tenant_metric_label_, scope.tenant_id))
      .Increment(static_cast<double>(batch.accepted_points));
  if (backlog_ != nullptr) backlog_->Committed(scope.tenant_id, batch.accepted_points);
  // Committed: from here on failures cost freshness, never data (the compactor refreshes latest values).
  if (absl::Status updated = latest_.Update(scope.tenant_id, batch.series); !updated.ok()) {
    LogLine(LogLevel::kWarning, "latest values not updated")
        .Str("tenant", scope.tenant_id)
        .Str("error", updated.message())
        .Emit();
  }
  live_.Publish(scope.tenant_id, prepared.block);
  return std::move(batch.response);
}

absl::StatusOr<std::vector<std::shared_ptr<const DeviceInfo>>> TelemetryManager::ResolveDevices(
    const DataScope& scope, absl::string_view field, const google::protobuf::RepeatedPtrField<std::string>& refs) {
  if (refs.size() > kMaxDevicesPerRead) {
    return FieldError(field, absl::StrCat("at most ", kMaxDevicesPerRead, " devices, got ", refs.size()));
  }
  // One look-up for all of them: for an app that is one Redis GET of the epoch, not one per device.
  std::vector<absl::StatusOr<std::shared_ptr<const DeviceInfo>>> resolved = directory_.ResolveMany(
      scope.tenant_id(), std::vector<std::string>(refs.begin(), refs.end()), scope.freshness());
  std::vector<std::shared_ptr<const DeviceInfo>> devices;
  devices.reserve(refs.size());
  for (int i = 0; i < refs.size(); ++i) {
    absl::StatusOr<std::shared_ptr<const DeviceInfo>>& device = resolved[i];
    if (absl::IsNotFound(device.status()) || absl::IsInvalidArgument(device.status()) || refs[i].empty() ||
        (device.ok() && !scope.CoversDevice(**device))) {
      return absl::NotFoundError(absl::StrCat(field, "[", i, "]: no device ", Quoted(refs[i]), " in the tenant"));
    }
    if (!device.ok()) return device.status();
    devices.push_back(*std::move(device));
  }
  return devices;
}

absl::StatusOr<pb::GetLatestResponse> TelemetryManager::GetLatest(const Principal& caller,
                                                                  const pb::GetLatestRequest& request) {
  ASSIGN_OR_RETURN(const std::string encoded, GetLatestEncoded(caller, request));
  pb::GetLatestResponse response;
  if (!response.ParseFromString(encoded)) return absl::InternalError("GetLatest: the answer does not decode");
  return response;
}

absl::StatusOr<std::string> TelemetryManager::GetLatestEncoded(const Principal& caller,
                                                               const pb::GetLatestRequest& request) {
  ASSIGN_OR_RETURN(const DataScope data, AuthorizeData(caller, "parent", request.parent()));
  const TenantScope& scope = data.tenant();
  if (request.devices_size() == 0) return FieldError("devices", "at least one device is required");
  ASSIGN_OR_RETURN(const auto devices, ResolveDevices(data, "devices", request.devices()));
  RETURN_IF_ERROR(data.CheckMetrics("metrics", request.metrics()));
  std::vector<std::string> ids;
  for (const auto& device : devices) ids.push_back(device->device_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());

  using Stored = LatestValues::Stored;
  // Per device (in `ids` order): its latest values, or nullopt while they are being rebuilt below.
  LatestValues::StoredLatest stored_latest;
  absl::flat_hash_map<std::string, std::vector<std::string>> missing;
  auto cached = latest_.ReadStored(scope.tenant_id, ids);
  if (cached.ok()) {
    stored_latest = *std::move(cached);
  } else {
    stored_latest.devices.resize(ids.size());
  }
  auto& values = stored_latest.devices;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (values[i].has_value()) continue;
    // Redis lost this device (or never had it): rebuild from storage, for every metric of its type.
    for (const auto& device : devices) {
      if (device->device_id != ids[i]) continue;
      auto& metrics = missing[ids[i]];
      for (const auto& [metric, rule] : device->metrics) metrics.push_back(metric);
      break;
    }
  }
  if (!missing.empty()) {
    std::vector<std::string> rebuilt_devices;
    for (const auto& [device, metrics] : missing) rebuilt_devices.push_back(device);
    // Pending strings first, so a write committing while storage is read lands in them; completed after. A
    // failure in between leaves pending strings, which readers do not trust and which expire (redis_state.h).
    const bool use_redis = cached.ok() && latest_.BeginRebuild(scope.tenant_id, rebuilt_devices).ok();
    ASSIGN_OR_RETURN(const auto rebuilt, store_.ReadLatest(scope, missing));
    absl::flat_hash_map<absl::string_view, size_t> index;
    for (size_t i = 0; i < ids.size(); ++i) index[ids[i]] = i;
    for (const auto& [key, point] : rebuilt) {
      auto found = index.find(key.first);
      if (found == index.end()) continue;
      auto& device_values = values[found->second];
      if (!device_values.has_value()) device_values.emplace();
      device_values->push_back(Stored{stored_latest.Keep(key.second), point.time_ms,
                                      stored_latest.Keep(point.value.SerializeAsString())});
    }
    if (use_redis) (void)latest_.FinishRebuild(scope.tenant_id, rebuilt, rebuilt_devices);
  }

  // The answer, encoded by hand: GetLatestResponse.values (1) holds DataPoints of device (1), metric (2), time (3:
  // Timestamp seconds 1, nanos 2, as TimeUtil normalizes them) and value (4, the stored bytes); proto3 leaves empty
  // strings and zero numbers out, while a set sub-message is always sent. Each stored value is checked to decode
  // (into one reused message, which allocates nothing for numbers), so bytes written by something else are left
  // out as they were when the answer was built from parsed values.
  const std::vector<std::string> wanted(request.metrics().begin(), request.metrics().end());
  // Written through a pointer into a buffer sized for the worst case first, then cut to what was written: one
  // bounds check per answer instead of six appends per value.
  size_t bound = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!values[i].has_value()) continue;
    for (const Stored& stored : *values[i]) {
      bound += 4 * (1 + kMaxVarint) + ids[i].size() + stored.metric.size() + 2 * (1 + kMaxVarint) + stored.value.size();
    }
  }
  std::string out(bound, '\0');
  char* next = out.data();
  pb::Value check;
  std::vector<const Stored*> metrics;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!values[i].has_value()) continue;
    const std::string& device = ids[i];
    metrics.clear();
    for (const Stored& stored : *values[i]) {
      // Named metrics were checked against the scope above; unnamed ones are left out unless it covers them.
      const bool named = std::find(wanted.begin(), wanted.end(), stored.metric) != wanted.end();
      if (wanted.empty() ? data.CoversMetric(stored.metric) : named) metrics.push_back(&stored);
    }
    auto by_metric = [](const Stored* a, const Stored* b) { return a->metric < b->metric; };
    if (!std::is_sorted(metrics.begin(), metrics.end(), by_metric)) std::sort(metrics.begin(), metrics.end(), by_metric);
    // A device's string holds a metric once; a rebuilt device could repeat one only if storage did: keep the first.
    metrics.erase(std::unique(metrics.begin(), metrics.end(),
                              [](const Stored* a, const Stored* b) { return a->metric == b->metric; }),
                  metrics.end());
    for (const Stored* stored : metrics) {
      if (!IsDoubleValue(stored->value) && !check.ParseFromArray(stored->value.data(), static_cast<int>(stored->value.size()))) continue;
      // TimeUtil::MillisecondsToTimestamp without the message: nanos in [0, 1e9).
      int64_t seconds = stored->time_ms / 1000;
      int64_t millis = stored->time_ms % 1000;
      if (millis < 0) {
        --seconds;
        millis += 1000;
      }
      char time[2 + 2 * kMaxVarint];
      size_t time_size = 0;
      if (seconds != 0) {
        time[time_size++] = 1 << 3;
        time_size += PutVarint(time + time_size, static_cast<uint64_t>(seconds));
      }
      if (millis != 0) {
        time[time_size++] = 2 << 3;
        time_size += PutVarint(time + time_size, static_cast<uint64_t>(millis * 1'000'000));
      }
      const size_t point_size = (device.empty() ? 0 : FieldSize(1, device.size())) +
                                (stored->metric.empty() ? 0 : FieldSize(2, stored->metric.size())) +
                                FieldSize(3, time_size) + FieldSize(4, stored->value.size());
      next = PutFieldHeader(next, 1, point_size);
      if (!device.empty()) next = PutField(next, 1, device);
      if (!stored->metric.empty()) next = PutField(next, 2, stored->metric);
      next = PutField(next, 3, absl::string_view(time, time_size));
      next = PutField(next, 4, stored->value);
    }
  }
  out.resize(static_cast<size_t>(next - out.data()));
  return out;
}

absl::StatusOr<pb::ReadRangeResponse> TelemetryManager::ReadRange(const Principal& caller,
                                                                  const pb::ReadRangeRequest& request) {
  ASSIGN_OR_RETURN(const DataScope data, AuthorizeData(caller, "parent", request.parent()));
  const TenantScope& scope = data.tenant();
  ASSIGN_OR_RETURN(const int64_t start_ms, TimeField("start_time", request.start_time(), request.has_start_time()));
  ASSIGN_OR_RETURN(const int64_t end_ms, TimeField("end_time", request.end_time(), request.has_end_time()));
  if (end_ms <= start_ms) return FieldError("end_time", "must be after start_time");
  ASSIGN_OR_RETURN(const int page_size,
                   ResolvePageSize(request.page_size(), kDefaultReadPageSize, kMaxReadPageSize));
  if (request.device().empty()) return FieldError("device", "required");
  absl::StatusOr<std::shared_ptr<const DeviceInfo>> device =
      directory_.Resolve(scope.tenant_id, request.device(), data.freshness());
  if (absl::IsNotFound(device.status()) || absl::IsInvalidArgument(device.status()) ||
      (device.ok() && !data.CoversDevice(**device))) {
    return absl::NotFoundError(absl::StrCat("device: no device ", Quoted(request.device()), " in the tenant"));
  }
  if (!device.ok()) return device.status();
  const std::string& device_id = (*device)->device_id;

  std::vector<std::string> metrics(request.metrics().begin(), request.metrics().end());
  for (int i = 0; i < request.metrics_size(); ++i) {
    if (request.metrics(i).empty()) return FieldError(absl::StrCat("metrics[", i, "]"), "must not be empty");
  }
  RETURN_IF_ERROR(data.CheckMetrics("metrics", request.metrics()));
  std::sort(metrics.begin(), metrics.end());
  metrics.erase(std::unique(metrics.begin(), metrics.end()), metrics.end());
  const std::string binding = absl::StrCat("telemetry.ReadRange\n", scope.tenant_id, "\n", device_id, "\n",
                                           absl::StrJoin(metrics, ","), "\n", start_ms, "\n", end_ms);
  if (metrics.empty()) {
    // Every metric the device's type has had, in any version: points of a metric since dropped from the schema
    // stay readable.
    ASSIGN_OR_RETURN(metrics, store_.MetricsOfDeviceType(scope, (*device)->device_type_id));
    for (const auto& [metric, rule] : (*device)->metrics) metrics.push_back(metric);
    std::erase_if(metrics, [&](const std::string& metric) { return !data.CoversMetric(metric); });
    std::sort(metrics.begin(), metrics.end());
    metrics.erase(std::unique(metrics.begin(), metrics.end()), metrics.end());
  }
  std::string after_metric;
  int64_t after_ms = 0;
  bool resume = false;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(const std::string position, page_tokens_.Decode(binding, request.page_token()));
    std::vector<std::string> parts = absl::StrSplit(position, absl::MaxSplits('\n', 1));
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &after_ms)) {
      return FieldError("page_token", "not a token of this query");
    }
    after_metric = parts[0];
    resume = true;
  }

  // Metric by metric, each scanned from where the page starts, a chunk window at a time: a page costs about what
  // it returns, not the whole range, and the scan budget bounds even a sparse metric over decades.
  // What a page may read (ServerConfig::max_scan_bytes): a page that reaches it answers the points it found with
  // a page token that resumes after what it scanned.
  pb::ReadRangeResponse response;
  ScanBudget budget{.max_bytes = max_scan_bytes_, .max_points = max_scan_points_};
  const ScanAccount account{budget, scanned_.Add({{"method", "ReadRange"}})};
  auto token = [&](const std::string& metric, int64_t through_ms) {
    response.set_next_page_token(page_tokens_.Encode(binding, absl::StrCat(metric, "\n", through_ms)));
  };
  for (const std::string& metric : metrics) {
    if (resume && metric < after_metric) continue;
    const int64_t from_ms = resume && metric == after_metric ? std::max(start_ms, after_ms + 1) : start_ms;
    if (from_ms >= end_ms) continue;
    bool full = false;
    absl::StatusOr<ScanOutcome> outcome = store_.ScanWindows(
        scope, SeriesFilter{{device_id}, {metric}}, from_ms, end_ms, budget,
        [&](int64_t window, SeriesMap& series) {
          // The metric's points of every value type it has had, in time order (no two at one time, see MergeInto).
          std::vector<std::pair<int64_t, pb::Value>> points;
          for (auto& [id, data] : series) {
            for (size_t i = 0; i < data.size(); ++i) {
              if (data.timestamps_ms[i] >= from_ms) points.emplace_back(data.timestamps_ms[i], ValueAt(data, i));
            }
          }
          std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
          for (auto& [time, value] : points) {
            if (response.points_size() == page_size) {
              full = true;
              return false;
            }
            pb::DataPoint* point = response.add_points();
            point->set_device(device_id);
            point->set_metric(metric);
            *point->mutable_time() = Millis(time);
            *point->mutable_value() = std::move(value);
          }
          return true;
        });
    if (!outcome.ok()) return outcome.status();
    if (full) {
      token(metric, TimeUtil::TimestampToMilliseconds(response.points(page_size - 1).time()));
      return response;
    }
    if (!outcome->complete) {
      // The budget ran out: what was found so far, and a token that resumes after what was scanned.
      token(metric, outcome->resume_ms - 1);
      return response;
    }
  }
  return response;
}

absl::StatusOr<pb::AggregateResponse> TelemetryManager::Aggregate(const Principal& caller,
                                                                  const pb::AggregateRequest& request) {
  ASSIGN_OR_RETURN(const DataScope data, AuthorizeData(caller, "parent", request.parent()));
  const TenantScope& scope = data.tenant();
  if (request.metric().empty()) return FieldError("metric", "required");
  RETURN_IF_ERROR(data.CheckMetric("metric", request.metric()));
  ASSIGN_OR_RETURN(const int64_t start_ms, TimeField("start_time", request.start_time(), request.has_start_time()));
  ASSIGN_OR_RETURN(const int64_t end_ms, TimeField("end_time", request.end_time(), request.has_end_time()));
  if (end_ms <= start_ms) return FieldError("end_time", "must be after start_time");
  if (!request.has_bucket() || request.bucket().nanos() != 0 || request.bucket().seconds() < 1 ||
      request.bucket().seconds() > kMaxBucketSeconds) {
    return FieldError("bucket", absl::StrCat("must be a whole number of seconds from 1 s to ", kMaxBucketSeconds,
                                             " s (3650 days)"));
  }
  const int64_t bucket_ms = request.bucket().seconds() * 1000;  // at most 3.2e14: no overflow
  // Buckets touched by the range, counting the partial ones at either end.
  const int64_t bucket_count = (WindowStart(end_ms - 1, bucket_ms) - WindowStart(start_ms, bucket_ms)) / bucket_ms + 1;
  if (bucket_count > kMaxAggregateBuckets) {
    return FieldError("bucket", absl::StrCat("at most ", kMaxAggregateBuckets,
                                             " buckets between start_time and end_time; use a wider bucket"));
  }
  if (request.devices_size() == 0 && request.labels().empty()) {
    return FieldError("devices", "name devices or labels to select them by");
  }
  for (const auto& [key, value] : request.labels()) {
    if (key.empty()) return FieldError("labels", "keys must not be empty");
  }

  ASSIGN_OR_RETURN(auto devices, ResolveDevices(data, "devices", request.devices()));
  std::vector<std::string> ids;
  for (const auto& device : devices) ids.push_back(device->device_id);
  absl::flat_hash_map<std::string, std::string> labels(request.labels().begin(), request.labels().end());
  // An app's labels select only inside its grant: the grant's labels join the query (nothing if they contradict).
  if (!labels.empty() && data.NarrowSelector(labels)) {
    ASSIGN_OR_RETURN(std::vector<std::string> labelled,
                     store_.DevicesByLabels(scope, labels, kMaxDevicesPerRead + 1));
    std::vector<absl::StatusOr<std::shared_ptr<const DeviceInfo>>> resolved =
        directory_.ResolveMany(scope.tenant_id, labelled, data.freshness());
    for (size_t i = 0; i < labelled.size(); ++i) {
      if (resolved[i].ok()) devices.push_back(*resolved[i]);
      ids.push_back(std::move(labelled[i]));
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.size() > static_cast<size_t>(kMaxDevicesPerRead)) {
    return FieldError("labels", absl::StrCat("select at most ", kMaxDevicesPerRead, " devices"));
  }
  if (request.per_device() && bucket_count * static_cast<int64_t>(ids.size()) > kMaxAggregateBuckets) {
    return FieldError("bucket", absl::StrCat("at most ", kMaxAggregateBuckets, " buckets in all: ", bucket_count,
                                             " buckets for each of ", ids.size(),
                                             " devices; use a wider bucket, fewer devices or per_device false"));
  }
  for (const auto& device : devices) {
    auto rule = device->metrics.find(request.metric());
    if (rule != device->metrics.end() && rule->second.kind != ValueKind::kDouble &&
        rule->second.kind != ValueKind::kInt64) {
      return FieldError("metric", absl::StrCat("\"", request.metric(), "\" of device \"", device->device_id,
                                               "\" is not a DOUBLE or INT64 metric"));
    }
  }

  pb::AggregateResponse response;
  if (ids.empty()) {
    response.set_source(pb::AGGREGATE_SOURCE_RAW);
    return response;
  }
  const SeriesFilter filter{ids, {request.metric()}};
  // Aggregate cannot answer part of a bucket: past the budget it is RESOURCE_EXHAUSTED.
  ScanBudget budget{.max_bytes = max_scan_bytes_, .max_points = max_scan_points_};
  const ScanAccount account{budget, scanned_.Add({{"method", "Aggregate"}})};
  // Epoch-aligned buckets: the first one starts at or before start_time.
  auto aligned_bucket = [&](int64_t time) { return WindowStart(time, bucket_ms); };

  // per device: bucket start -> stats. Raw points arrive a chunk window at a time, so a bucket that spans windows
  // is combined from the windows' parts.
  absl::flat_hash_map<std::string, Buckets> per_device;
  auto raw_buckets = [&](int64_t from_ms, int64_t to_ms,
                         const absl::flat_hash_set<std::pair<std::string, int64_t>>* only) -> absl::Status {
    ASSIGN_OR_RETURN(const ScanOutcome outcome,
                     store_.ScanWindows(scope, filter, from_ms, to_ms, budget, [&](int64_t, SeriesMap& series) {
                       for (auto& [id, data] : series) {
                         for (const auto& [bucket, stats] : Bucketize(data, bucket_ms)) {
                           if (only != nullptr && !only->contains(std::make_pair(id.device_id, bucket))) continue;
                           per_device[id.device_id][bucket].Combine(stats);
                         }
                       }
                       return true;
                     }));
    if (!outcome.complete) {
      return QuotaError("request", "max_scan_points",
                        absl::StrCat("answering would decode more than ", budget.max_points, " points or read more "
                                     "than ", budget.max_bytes, " bytes in one call; narrow the time range or the "
                                     "devices, or use a bucket of whole minutes or hours (rollups)"),
                        absl::Seconds(1));
    }
    return absl::OkStatus();
  };

  // Buckets lying wholly inside the range come from the coarsest rollup that divides them; the partial buckets at
  // either end from the next finer source, down to raw points. `source` names the coarsest one used.
  int coarsest = 0;  // 0 raw, 1 one-minute rollups, 2 one-hour rollups
  std::function<absl::Status(int, int64_t, int64_t)> compute = [&](int level, int64_t from,
                                                                    int64_t to) -> absl::Status {
    if (from >= to) return absl::OkStatus();
    if (level == 0) return raw_buckets(from, to, nullptr);
    const int64_t resolution_ms = level == 2 ? kHourMs : kMinuteMs;
    const int64_t first_full = WindowStart(from + bucket_ms - 1, bucket_ms);
    const int64_t full_end = WindowStart(to, bucket_ms);
    if (bucket_ms % resolution_ms != 0 || first_full >= full_end) return compute(level - 1, from, to);
    RETURN_IF_ERROR(compute(level - 1, from, first_full));
    RETURN_IF_ERROR(compute(level - 1, full_end, to));
    coarsest = std::max(coarsest, level);
    ASSIGN_OR_RETURN(StoredSeries stored, store_.ReadRollups(scope, filter, level == 2 ? 3600 : 60, first_full,
                                                             full_end, budget));
    // Buckets holding points not yet folded into rollups are computed from raw points instead: points still in
    // the log, and the hours compacted since their rollups were last computed (the compactor computes a window's
    // rollups once it has settled).
    absl::flat_hash_set<std::pair<std::string, int64_t>> dirty;
    for (const SeriesEntry& entry : stored.log) {
      for (int64_t time : entry.data.timestamps_ms) {
        if (time >= first_full && time < full_end) dirty.emplace(entry.device_id, aligned_bucket(time));
      }
    }
    for (const auto& [device, window] : stored.unsettled_windows) {
      const int64_t window_end = std::min(window + kChunkWindowMs, full_end);
      for (int64_t time = std::max(window, first_full); time < window_end;
           time = aligned_bucket(time) + bucket_ms) {
        dirty.emplace(device, aligned_bucket(time));
      }
    }
    for (const auto& [key, buckets] : DecodeRollupRow(stored.compacted)) {
      // A rollup row holds every device of a chunk group: keep the selected ones.
      if (key.second != request.metric() || !std::binary_search(ids.begin(), ids.end(), key.first)) continue;
      for (const auto& [start, stats] : buckets) {
        if (start < first_full || start >= full_end) continue;
        const int64_t bucket = aligned_bucket(start);
        if (dirty.contains(std::make_pair(key.first, bucket))) continue;
        per_device[key.first][bucket].Combine(stats);
      }
    }
    if (!dirty.empty()) {
      int64_t dirty_from = std::numeric_limits<int64_t>::max();
      int64_t dirty_to = std::numeric_limits<int64_t>::min();
      for (const auto& [device, bucket] : dirty) {
        dirty_from = std::min(dirty_from, bucket);
        dirty_to = std::max(dirty_to, bucket + bucket_ms);
      }
      RETURN_IF_ERROR(raw_buckets(dirty_from, dirty_to, &dirty));
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(compute(2, start_ms, end_ms));
  response.set_source(coarsest == 2   ? pb::AGGREGATE_SOURCE_ROLLUP_1H
                      : coarsest == 1 ? pb::AGGREGATE_SOURCE_ROLLUP_1M
                                      : pb::AGGREGATE_SOURCE_RAW);

  auto emit = [&](const std::string& device, int64_t start, const BucketStats& stats) {
    pb::Bucket* out = response.add_buckets();
    *out->mutable_start_time() = Millis(start);
    out->set_device(device);
    out->set_count(stats.count);
    out->set_min(stats.min);
    out->set_max(stats.max);
    out->set_sum(stats.sum);
    out->set_avg(stats.sum / static_cast<double>(stats.count));
    out->set_first(stats.first);
    out->set_last(stats.last);
  };
  if (request.per_device()) {
    for (const std::string& device : ids) {
      auto found = per_device.find(device);
      if (found == per_device.end()) continue;
      for (const auto& [start, stats] : found->second) {
        if (stats.count > 0) emit(device, start, stats);
      }
    }
  } else {
    Buckets all;
    for (const std::string& device : ids) {
      auto found = per_device.find(device);
      if (found == per_device.end()) continue;
      for (const auto& [start, stats] : found->second) all[start].Combine(stats);
    }
    for (const auto& [start, stats] : all) {
      if (stats.count > 0) emit("", start, stats);
    }
  }
  return response;
}

absl::StatusOr<pb::RetentionPolicy> TelemetryManager::GetRetentionPolicy(
    const Principal& caller, const pb::GetRetentionPolicyRequest& request) {
  ASSIGN_OR_RETURN(const TenantScope scope, Authorize(caller, "name", request.name()));
  ASSIGN_OR_RETURN(const TenantLimits limits, store_.LoadLimits(TenantScope::Tenant(scope.tenant_id)));
  pb::RetentionPolicy policy;
  policy.set_name(absl::StrCat("tenants/", scope.tenant_id, "/retentionPolicy"));
  policy.set_raw_retention_days(limits.raw_retention_days);
  for (const auto& [type, days] : limits.device_type_raw_retention_days) {
    (*policy.mutable_device_type_raw_retention_days())[type] = days;
  }
  policy.set_rollup_1m_retention_days(limits.rollup_1m_retention_days);
  policy.set_rollup_1h_retention_days(limits.rollup_1h_retention_days);
  policy.set_etag(EtagOf(limits.policy_revision, 0));
  return policy;
}

absl::StatusOr<pb::RetentionPolicy> TelemetryManager::UpdateRetentionPolicy(
    const Principal& caller, const pb::UpdateRetentionPolicyRequest& request) {
  const pb::RetentionPolicy& update = request.retention_policy();
  ASSIGN_OR_RETURN(const TenantScope scope,
                   Authorize(caller, "retention_policy.name", update.name()));
  if (!request.has_update_mask() || request.update_mask().paths_size() == 0) {
    return FieldError("update_mask", "name the fields to change");
  }
  ASSIGN_OR_RETURN(TenantLimits limits, store_.LoadLimits(TenantScope::Tenant(scope.tenant_id)));
  RETURN_IF_ERROR(CheckEtag("retention_policy.etag", update.etag(), EtagOf(limits.policy_revision, 0)));
  for (std::string path : request.update_mask().paths()) {
    // Over HTTP the mask arrives in JSON names, and protobuf turns `rollup1mRetentionDays` back into
    // `rollup1m_retention_days`, not the field's name (a digit starts the segment): accept that spelling too.
    if (path == "rollup1m_retention_days") path = "rollup_1m_retention_days";
    if (path == "rollup1h_retention_days") path = "rollup_1h_retention_days";
    if (path == "raw_retention_days") {
      if (update.raw_retention_days() < 1 || update.raw_retention_days() > limits.quota_retention_days) {
        return FieldError("retention_policy.raw_retention_days",
                          absl::StrCat("must be 1 to the quota's retention_days (", limits.quota_retention_days,
                                       "), got ", update.raw_retention_days()));
      }
      limits.raw_retention_days = update.raw_retention_days();
    } else if (path == "device_type_raw_retention_days") {
      limits.device_type_raw_retention_days.clear();
      std::vector<std::string> types;
      for (const auto& [type, days] : update.device_type_raw_retention_days()) {
        const std::string field = absl::StrCat("retention_policy.device_type_raw_retention_days[", Quoted(type), "]");
        if (!IsDeviceTypeId(type)) {
          return FieldError(field, "must name a device type id (3 to 63 of a-z, 0-9 and '-', a letter first)");
        }
        if (days < 1 || days > limits.quota_retention_days) {
          return FieldError(field, absl::StrCat("must be 1 to the quota's retention_days (",
                                                limits.quota_retention_days, "), got ", days));
        }
        limits.device_type_raw_retention_days[type] = days;
        types.push_back(type);
      }
      // An override for a type the tenant does not have would silently apply to nothing.
      ASSIGN_OR_RETURN(const std::vector<std::string> existing, store_.ExistingDeviceTypes(scope, types));
      for (const std::string& type : types) {
        if (std::find(existing.begin(), existing.end(), type) == existing.end()) {
          return FieldError(absl::StrCat("retention_policy.device_type_raw_retention_days[", Quoted(type), "]"),
                            absl::StrCat("no device type ", Quoted(type), " in the tenant"));
        }
      }
    } else if (path == "rollup_1m_retention_days" || path == "rollup_1h_retention_days") {
      const int32_t days =
          path == "rollup_1m_retention_days" ? update.rollup_1m_retention_days() : update.rollup_1h_retention_days();
      if (days < 1 || days > kMaxRetentionDays) {
        return FieldError(absl::StrCat("retention_policy.", path),
                          absl::StrCat("must be 1 to ", kMaxRetentionDays, ", got ", days));
      }
      (path == "rollup_1m_retention_days" ? limits.rollup_1m_retention_days : limits.rollup_1h_retention_days) = days;
    } else {
      return FieldError("update_mask", absl::StrCat("unknown or immutable field ", Quoted(path)));
    }
  }
  // Without an etag the change is made on whatever is stored; with one, only on the revision it was checked on.
  RETURN_IF_ERROR(store_.SaveRetention(
      TenantScope::Tenant(scope.tenant_id), limits, update.etag().empty() ? -1 : limits.policy_revision,
      MakeAudit(caller, "UpdateRetentionPolicy", absl::StrCat("tenants/", scope.tenant_id, "/retentionPolicy"),
                request)));
  {
    absl::MutexLock lock(&mu_);
    limits_.erase(scope.tenant_id);
  }
  pb::GetRetentionPolicyRequest get;
  get.set_name(update.name());
  return GetRetentionPolicy(caller, get);
}

absl::StatusOr<SubscriptionFilter> TelemetryManager::AuthorizeSubscription(const Principal& caller,
                                                                           const pb::SubscribeRequest& request) {
  ASSIGN_OR_RETURN(const DataScope data, AuthorizeData(caller, "parent", request.parent()));
  ASSIGN_OR_RETURN(const auto devices, ResolveDevices(data, "devices", request.devices()));
  RETURN_IF_ERROR(data.CheckMetrics("metrics", request.metrics()));
  SubscriptionFilter filter;
  filter.scope = data;
  for (const auto& device : devices) filter.device_ids.push_back(device->device_id);
  filter.metrics.assign(request.metrics().begin(), request.metrics().end());
  return filter;
}

std::vector<std::vector<pb::DataPoint>> TelemetryManager::FilterBlocks(const SubscriptionFilter& filter,
                                                                      const std::vector<absl::string_view>& blocks) {
  const std::vector<std::vector<SeriesEntry>> decoded = DecodeLiveBlocks(blocks);
  LiveDevices devices;
  if (filter.scope.grant() != nullptr) devices = ResolveLiveDevices(filter.scope.tenant_id(), decoded);
  return FilterDecoded(filter, decoded, devices);
}

std::vector<std::vector<SeriesEntry>> TelemetryManager::DecodeLiveBlocks(const std::vector<absl::string_view>& blocks) {
  std::vector<std::vector<SeriesEntry>> decoded;
  decoded.reserve(blocks.size());
  for (absl::string_view block : blocks) {
    absl::StatusOr<std::vector<SeriesEntry>> entries = DecodeBlock(block);
    decoded.push_back(entries.ok() ? *std::move(entries) : std::vector<SeriesEntry>());
  }
  return decoded;
}

TelemetryManager::LiveDevices TelemetryManager::ResolveLiveDevices(
    const std::string& tenant_id, const std::vector<std::vector<SeriesEntry>>& decoded) {
  // An app sees a device while its labels are inside the grant: asked of the registry as it is now, once for all
  // the blocks' devices. A device that cannot be resolved (deleted, or the registry unreachable) is left out.
  std::vector<std::string> ids;
  absl::flat_hash_set<absl::string_view> seen;
  for (const auto& entries : decoded) {
    for (const SeriesEntry& entry : entries) {
      if (seen.insert(entry.device_id).second) ids.push_back(entry.device_id);
    }
  }
  LiveDevices devices;
  std::vector<absl::StatusOr<std::shared_ptr<const DeviceInfo>>> resolved =
      directory_.ResolveMany(tenant_id, ids, Freshness::kCommitted);
  for (size_t i = 0; i < ids.size() && i < resolved.size(); ++i) {
    if (resolved[i].ok() && *resolved[i] != nullptr) devices.emplace(ids[i], *resolved[i]);
  }
  return devices;
}

TelemetryManager::LiveIndex TelemetryManager::IndexLiveBlocks(const std::vector<std::vector<SeriesEntry>>& decoded) {
  LiveIndex index(decoded.size());
  for (size_t b = 0; b < decoded.size(); ++b) {
    for (size_t e = 0; e < decoded[b].size(); ++e) index[b][decoded[b][e].device_id].push_back(static_cast<int>(e));
  }
  return index;
}

std::vector<std::vector<int>> TelemetryManager::SelectDecoded(const SubscriptionFilter& filter,
                                                              const std::vector<std::vector<SeriesEntry>>& decoded,
                                                              const LiveDevices& devices, const LiveIndex* index) {
  const DataScope& scope = filter.scope;
  auto keep = [&](absl::string_view device, absl::string_view metric) {
    if (!filter.device_ids.empty() &&
        std::find(filter.device_ids.begin(), filter.device_ids.end(), device) == filter.device_ids.end()) {
      return false;
    }
    if (!filter.metrics.empty() && std::find(filter.metrics.begin(), filter.metrics.end(), metric) ==
                                       filter.metrics.end()) {
      return false;
    }
    if (!scope.CoversMetric(metric)) return false;
    if (scope.grant() == nullptr) return true;
    auto found = devices.find(device);
    return found != devices.end() && scope.CoversDevice(*found->second);
  };
  std::vector<std::vector<int>> selected(decoded.size());
  std::vector<int> entries;
  for (size_t b = 0; b < decoded.size(); ++b) {
    entries.clear();
    if (index != nullptr && b < index->size() && !filter.device_ids.empty()) {
      // Only the followed devices' series, in the block's order.
      for (const std::string& device : filter.device_ids) {
        auto found = (*index)[b].find(device);
        if (found != (*index)[b].end()) entries.insert(entries.end(), found->second.begin(), found->second.end());
      }
      std::sort(entries.begin(), entries.end());
      entries.erase(std::unique(entries.begin(), entries.end()), entries.end());  // a device named twice
    } else {
      for (size_t e = 0; e < decoded[b].size(); ++e) entries.push_back(static_cast<int>(e));
    }
    for (int e : entries) {
      const SeriesEntry& entry = decoded[b][e];
      if (entry.data.size() > 0 && keep(entry.device_id, entry.metric)) selected[b].push_back(e);
    }
  }
  return selected;
}

namespace {

void LivePoint(const SeriesEntry& entry, size_t i, pb::DataPoint& point) {
  point.set_device(entry.device_id);
  point.set_metric(entry.metric);
  *point.mutable_time() = Millis(entry.data.timestamps_ms[i]);
  *point.mutable_value() = ValueAt(entry.data, i);
}

}  // namespace

std::vector<std::vector<pb::DataPoint>> TelemetryManager::FilterDecoded(
    const SubscriptionFilter& filter, const std::vector<std::vector<SeriesEntry>>& decoded,
    const LiveDevices& devices, const LiveIndex* index) {
  const std::vector<std::vector<int>> selected = SelectDecoded(filter, decoded, devices, index);
  std::vector<std::vector<pb::DataPoint>> points(decoded.size());
  for (size_t b = 0; b < decoded.size(); ++b) {
    for (int e : selected[b]) {
      const SeriesEntry& entry = decoded[b][e];
      for (size_t i = 0; i < entry.data.size(); ++i) LivePoint(entry, i, points[b].emplace_back());
    }
  }
  return points;
}

std::string TelemetryManager::SerializeLiveEntry(const SeriesEntry& entry) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    pb::DataPoint point;
    for (size_t i = 0; i < entry.data.size(); ++i) {
      LivePoint(entry, i, point);
      coded.WriteTag(google::protobuf::internal::WireFormatLite::MakeTag(
          pb::SubscribeResponse::kPointsFieldNumber,
          google::protobuf::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
      coded.WriteVarint32(static_cast<uint32_t>(point.ByteSizeLong()));
      point.SerializeWithCachedSizes(&coded);
    }
  }  // the coded stream writes its last bytes to `bytes` when it goes
  return bytes;
}

}  // namespace parkbase::telemetry
