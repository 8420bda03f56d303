#include "fuzz/telemetry_world.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/access.h"
#include "common/app_grant.h"
#include "fuzz/fuzz_checks.h"
#include "google/protobuf/util/time_util.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "telemetry/codec.h"
#include "telemetry/series.h"

namespace parkbase::fuzz {
namespace {

using google::protobuf::util::TimeUtil;
using telemetry::SeriesEntry;
using telemetry::TelemetryManager;
using telemetry::ValueKind;

// Small scan budgets, so reads reach them: two days of one metric every ten minutes is ~300 points.
constexpr int64_t kScanBytes = 16 * 1024;
constexpr int64_t kScanPoints = 600;
constexpr size_t kMaxSubscribedPoints = 1000;

constexpr int64_t kNowMs = kNowSeconds * 1000;
constexpr int64_t kTenMinutesMs = 600'000;
constexpr int64_t kTwoDaysMs = 2 * 86'400'000;

// A series of `kind` every `step_ms` over the two days before now; `value(i)` gives the i-th value.
template <typename Value>
SeriesEntry Series(const std::string& device, const std::string& metric, ValueKind kind, int64_t step_ms,
                   Value value) {
  SeriesEntry entry{device, metric, {}};
  entry.data.kind = kind;
  int i = 0;
  for (int64_t time = kNowMs - kTwoDaysMs; time < kNowMs; time += step_ms, ++i) {
    entry.data.timestamps_ms.push_back(time);
    value(entry.data, i);
  }
  return entry;
}

telemetry::TenantLimits Limits(int64_t points_per_second, int32_t quota_days, int32_t raw_days) {
  telemetry::TenantLimits limits;
  limits.points_per_second = points_per_second;
  limits.quota_retention_days = quota_days;
  limits.raw_retention_days = raw_days;
  return limits;
}

// Points a batch holds, counted as CheckBatchShape counts them.
int64_t PointsOf(const telemetrypb::WriteRequest& request) {
  int64_t points = request.points_size();
  for (const telemetrypb::Series& series : request.series()) {
    points += series.timestamps_ms_size() > 0
                  ? series.timestamps_ms_size()
                  : std::max({series.double_values_size(), series.int_values_size(), series.bool_values_size(),
                              series.string_values_size()});
  }
  return points;
}

// Two days of points of each tenant, compacted with their rollups, and the last minutes in the ingest log. Built
// once: encoding and bucketing them for every input would cost more than most inputs.
const std::map<std::string, FakeTelemetryStore::TenantData>& ExampleTelemetry() {
  static const auto* data = new std::map<std::string, FakeTelemetryStore::TenantData>([] {
    FakeDeviceStore devices(kParkCode);
    FakeTelemetryStore example(devices);
    example.tenants["acme"].limits = Limits(1000, 90, 30);
    example.tenants["acme"].limits.device_type_raw_retention_days["press"] = 7;
    example.tenants["globex"].limits = Limits(100, 30, 30);
    example.tenants["park"].limits = Limits(1000, 365, 365);
    using telemetry::SeriesData;
    example.Compact(
        "acme",
        {Series("press-1", "temp", ValueKind::kDouble, kTenMinutesMs,
                [](SeriesData& data, int i) { data.doubles.push_back(20 + (i % 50) * 0.5); }),
         Series("press-1", "count", ValueKind::kInt64, 6 * kTenMinutesMs,
                [](SeriesData& data, int i) { data.ints.push_back(i * 7); }),
         Series("press-1", "running", ValueKind::kBool, 3 * kTenMinutesMs,
                [](SeriesData& data, int i) { data.bools.push_back(i % 3 != 0); }),
         Series("press-1", "status", ValueKind::kString, 12 * kTenMinutesMs,
                [](SeriesData& data, int i) { data.strings.push_back(i % 4 == 0 ? "warn" : "ok"); }),
         Series("press-2", "temp", ValueKind::kDouble, 36 * kTenMinutesMs,
                [](SeriesData& data, int i) { data.doubles.push_back(-12.25 * i); }),
         Series("mixer-1", "speed", ValueKind::kDouble, 48 * kTenMinutesMs,
                [](SeriesData& data, int i) { data.doubles.push_back(1500 + i); })});
    example.Compact("globex", {Series("lathe-1", "rpm", ValueKind::kDouble, kTenMinutesMs,
                                      [](SeriesData& data, int i) { data.doubles.push_back(4242.5 + i); }),
                               Series("lathe-1", "spindle_load", ValueKind::kInt64, 3 * kTenMinutesMs,
                                      [](SeriesData& data, int i) { data.ints.push_back(i % 100); })});
    // The last minutes are still in the ingest log, not compacted.
    for (const auto& [tenant, device, metric] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"acme", "press-1", "temp"}, {"globex", "lathe-1", "rpm"}}) {
      SeriesEntry recent{device, metric, {}};
      for (int i = 0; i < 6; ++i) {
        recent.data.timestamps_ms.push_back(kNowMs - 300'000 + i * 60'000);
        recent.data.doubles.push_back(30 + i * 0.25);
      }
      telemetrypb::WriteResponse answer;
      answer.set_batch_id("seed-batch-1");
      answer.set_accepted_points(6);
      example.tenants[tenant].log.push_back(FakeTelemetryStore::Batch{
          telemetry::BatchIdentity{absl::StrCat("key:", tenant, "adminkey"), "seed-batch-1", ""},
          answer.SerializeAsString(), telemetry::EncodeBlock({recent}, telemetry::BlockOptions{.zstd_level = 1}),
          recent.data.timestamps_ms.front(), recent.data.timestamps_ms.back()});
    }
    return example.tenants;
  }());
  return *data;
}

}  // namespace

TelemetryWorld::TelemetryWorld()
    : manager_(TelemetryManager::Parts{.store = store,
                                       .directory = directory_,
                                       .limiter = limiter_,
                                       .latest = latest_,
                                       .live = live_,
                                       .page_tokens = tokens_,
                                       .clock = clock_,
                                       .registry = registry_,
                                       .max_scan_bytes = kScanBytes,
                                       .max_scan_points = kScanPoints}) {
  AddExampleDevices(devices);
  store.tenants = ExampleTelemetry();
  devices.hook = &guard;
  store.hook = &guard;
  limiter_.hook = &guard;
  latest_.hook = &guard;
  live_.hook = &guard;
}

std::string TelemetryWorld::TenantDigest(const std::string& tenant_id) {
  return absl::StrCat(devices.Digest(tenant_id), "\n", store.Digest(tenant_id), "\n", latest_.Digest(tenant_id),
                      "\n", live_.Digest(tenant_id));
}

std::vector<std::string> TelemetryWorld::Secrets(const std::string& tenant_id) const {
  std::vector<std::string> secrets = ExampleDeviceSecrets(tenant_id);
  if (tenant_id == "globex") secrets.push_back("spindle_load");
  return secrets;
}

absl::Status TelemetryWorld::Call(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                                  const google::protobuf::Message& request,
                                  std::unique_ptr<google::protobuf::Message>& response) {
  const std::string& name = method.name();
  if (name == "Write" || name == "WriteStream") {
    return Write(method, caller, static_cast<const telemetrypb::WriteRequest&>(request), response);
  }
  if (name == "GetLatest") return Serve(manager_, &TelemetryManager::GetLatest, caller, request, response);
  if (name == "ReadRange") {
    absl::Status status = Serve(manager_, &TelemetryManager::ReadRange, caller, request, response);
    if (status.ok()) {
      CheckReadRange(static_cast<const telemetrypb::ReadRangeRequest&>(request),
                     static_cast<const telemetrypb::ReadRangeResponse&>(*response));
    }
    return status;
  }
  if (name == "Aggregate") {
    absl::Status status = Serve(manager_, &TelemetryManager::Aggregate, caller, request, response);
    if (status.ok()) {
      CheckAggregate(static_cast<const telemetrypb::AggregateRequest&>(request),
                     static_cast<const telemetrypb::AggregateResponse&>(*response));
    }
    return status;
  }
  if (name == "Subscribe") {
    return Subscribe(caller, static_cast<const telemetrypb::SubscribeRequest&>(request), response);
  }
  if (name == "GetRetentionPolicy") {
    return Serve(manager_, &TelemetryManager::GetRetentionPolicy, caller, request, response);
  }
  if (name == "UpdateRetentionPolicy") {
    return Serve(manager_, &TelemetryManager::UpdateRetentionPolicy, caller, request, response);
  }
  Fail(absl::StrCat("telemetry world: no handler for ", name));
}

absl::Status TelemetryWorld::Write(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                                   const telemetrypb::WriteRequest& request,
                                   std::unique_ptr<google::protobuf::Message>& response) {
  auto log_of_caller = [&]() -> const std::vector<FakeTelemetryStore::Batch>* {
    auto found = store.tenants.find(caller.tenant_id);
    return found == store.tenants.end() ? nullptr : &found->second.log;
  };
  const size_t logged_before = log_of_caller() == nullptr ? 0 : log_of_caller()->size();
  absl::StatusOr<telemetrypb::WriteResponse> written;
  if (method.client_streaming()) {
    // The stream's first message passes the access gate; its batch is prepared, then committed.
    absl::Status admitted = AdmitCall(caller, method, request).status();
    if (!admitted.ok()) return admitted;
    absl::StatusOr<TelemetryManager::PreparedBatch> prepared = manager_.PrepareWrite(caller, request, true);
    if (!prepared.ok()) return prepared.status();
    written = manager_.CommitWrite(*std::move(prepared));
  } else {
    written = manager_.Write(caller, request, false);
  }
  if (!written.ok()) return written.status();
  const telemetrypb::WriteResponse& answer = *written;
  if (!answer.duplicate() && answer.accepted_points() + answer.rejected_points() != PointsOf(request)) {
    Fail(absl::StrCat("Write: ", answer.accepted_points(), " points accepted and ", answer.rejected_points(),
                      " rejected of a batch of ", PointsOf(request)));
  }
  // A device key writes its own device's points only.
  const std::vector<FakeTelemetryStore::Batch>* log = log_of_caller();
  if (caller.role == Role::kDevice && log != nullptr) {
    for (size_t i = logged_before; i < log->size(); ++i) {
      absl::StatusOr<std::vector<SeriesEntry>> entries = telemetry::DecodeBlock((*log)[i].block);
      if (!entries.ok()) continue;  // the store's own check reports it
      for (const SeriesEntry& entry : *entries) {
        if (entry.device_id != caller.device_id) {
          Fail(absl::StrCat("Write: the device key of ", caller.device_id, " stored points of ", entry.device_id));
        }
      }
    }
  }
  // An app writes only its grant's write metrics, of devices inside its grant.
  if (const access::v1::AppGrant* grant = AppGrantOf(caller); grant != nullptr && log != nullptr) {
    const std::vector<std::string> outside = devices.DevicesOutside(caller.tenant_id, *grant);
    for (size_t i = logged_before; i < log->size(); ++i) {
      absl::StatusOr<std::vector<SeriesEntry>> entries = telemetry::DecodeBlock((*log)[i].block);
      if (!entries.ok()) continue;
      for (const SeriesEntry& entry : *entries) {
        if (std::find(outside.begin(), outside.end(), entry.device_id) != outside.end() ||
            !GrantAllowsWrite(*grant, entry.metric)) {
          Fail(absl::StrCat("Write: an app stored ", entry.device_id, "/", entry.metric, " outside its grant"));
        }
      }
    }
  }
  response = std::make_unique<telemetrypb::WriteResponse>(answer);
  return absl::OkStatus();
}

absl::Status TelemetryWorld::Subscribe(const Principal& caller, const telemetrypb::SubscribeRequest& request,
                                       std::unique_ptr<google::protobuf::Message>& response) {
  absl::StatusOr<telemetry::SubscriptionFilter> filter = manager_.AuthorizeSubscription(caller, request);
  if (!filter.ok()) return filter.status();
  if (!caller.IsParkAdmin() && filter->scope.tenant_id() != caller.tenant_id) {
    Fail(absl::StrCat("Subscribe: the caller of tenants/", caller.tenant_id, " reads the feed of tenants/",
                      filter->scope.tenant_id()));
  }
  auto answer = std::make_unique<telemetrypb::SubscribeResponse>();
  for (const std::string& block : live_.Blocks(filter->scope.tenant_id())) {
    std::vector<std::vector<telemetrypb::DataPoint>> filtered = manager_.FilterBlocks(*filter, {block});
    for (telemetrypb::DataPoint& point : filtered[0]) {
      const bool device_ok = filter->device_ids.empty() || std::find(filter->device_ids.begin(),
                                                                     filter->device_ids.end(),
                                                                     point.device()) != filter->device_ids.end();
      const bool metric_ok = filter->metrics.empty() || std::find(filter->metrics.begin(), filter->metrics.end(),
                                                                  point.metric()) != filter->metrics.end();
      if (!device_ok || !metric_ok) {
        Fail(absl::StrCat("Subscribe: a point of ", point.device(), "/", point.metric(), " passed the filter"));
      }
      if (static_cast<size_t>(answer->points_size()) < kMaxSubscribedPoints) *answer->add_points() = std::move(point);
    }
  }
  response = std::move(answer);
  return absl::OkStatus();
}

void TelemetryWorld::CheckReadRange(const telemetrypb::ReadRangeRequest& request,
                                    const telemetrypb::ReadRangeResponse& response) {
  const int64_t start_ms = TimeUtil::TimestampToMilliseconds(request.start_time());
  const int64_t end_ms = TimeUtil::TimestampToMilliseconds(request.end_time());
  for (int i = 0; i < response.points_size(); ++i) {
    const telemetrypb::DataPoint& point = response.points(i);
    const int64_t time = TimeUtil::TimestampToMilliseconds(point.time());
    if (time < start_ms || time >= end_ms) {
      Fail(absl::StrCat("ReadRange: point ", i, " at ", time, " ms is outside [", start_ms, ", ", end_ms, ")"));
    }
    // Metric by metric, each in time order, one point a millisecond (last write wins).
    if (i > 0 && response.points(i - 1).metric() == point.metric() &&
        TimeUtil::TimestampToMilliseconds(response.points(i - 1).time()) >= time) {
      Fail(absl::StrCat("ReadRange: points ", i - 1, " and ", i, " of ", point.metric(), " are out of order"));
    }
  }
}

void TelemetryWorld::CheckAggregate(const telemetrypb::AggregateRequest& request,
                                    const telemetrypb::AggregateResponse& response) {
  const int64_t bucket_ms = request.bucket().seconds() * 1000;
  for (int i = 0; i < response.buckets_size(); ++i) {
    const telemetrypb::Bucket& bucket = response.buckets(i);
    const int64_t start = TimeUtil::TimestampToMilliseconds(bucket.start_time());
    const bool sane = bucket.count() > 0 && bucket.min() <= bucket.max() && bucket.first() >= bucket.min() &&
                      bucket.first() <= bucket.max() && bucket.last() >= bucket.min() &&
                      bucket.last() <= bucket.max() &&
                      telemetry::WindowStart(start, bucket_ms) == start &&
                      (request.per_device() || bucket.device().empty());
    if (!sane) Fail(absl::StrCat("Aggregate: bucket ", i, " is not a bucket: ", bucket.ShortDebugString()));
  }
}

}  // namespace parkbase::fuzz
