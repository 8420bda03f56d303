// Regression tests for the defects found by review and from outside (docs/reliability.md lists them by number):
// data kept across a metric's type change, retention that fails loudly, latest values that never stick empty, a
// deleted tenant's id reused, bounded reads and compaction passes, overflowing durations, and the parse budget.
#include <atomic>
#include <limits>
#include <map>
#include <thread>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "common/db.h"
#include "common/libpq_pool.h"
#include "common/names.h"
#include "common/redis.h"
#include "device/device_store.h"
#include "device/schema_resolver.h"
#include "integration/telemetry_env.h"
#include "telemetry/device_directory.h"
#include "telemetry/telemetry_store.h"
#include "prometheus/text_serializer.h"

namespace parkbase::testing {
namespace {

telpb::WriteRequest Batch(const std::string& parent, std::vector<telpb::Point> points,
                          const std::string& batch_id = "") {
  telpb::WriteRequest request;
  request.set_parent(parent);
  request.set_batch_id(batch_id);
  for (auto& point : points) *request.add_points() = std::move(point);
  return request;
}

// A device's latest-values key, spelled out: releases must keep finding what earlier ones wrote there.
std::string LatestRedisKey(const std::string& tenant_id, const std::string& device) {
  return absl::StrCat("pb:latest:{", tenant_id, "}:", device);
}

// GetLatest's answer as "device/metric@ms=value" texts, in its order.
std::vector<std::string> LatestTexts(TelemetryEnv& env, const std::string& key, const std::string& parent,
                                     const std::vector<std::string>& devices,
                                     const std::vector<std::string>& metrics = {}) {
  const telpb::GetLatestResponse response = env.MustGetLatest(key, parent, devices, metrics);
  return PointTexts(std::vector<telpb::DataPoint>(response.values().begin(), response.values().end()));
}

// Writes until the batch is accepted whole: a device type change reaches the write path's schema cache within
// its epoch check interval (250 ms of real time).
void WriteOnceSchemaAllows(TelemetryEnv& env, const std::string& key, const telpb::WriteRequest& request) {
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (true) {
    telpb::WriteResponse response = env.MustWrite(key, request);
    if (response.rejected_points() == 0) return;
    REQUIRE(absl::Now() < give_up);
    absl::SleepFor(absl::Milliseconds(100));
  }
}

void RetypeCountAsString(TelemetryEnv& env, const TelemetryTenant& tenant) {
  devpb::GetDeviceTypeRequest get;
  get.set_name(absl::StrCat(tenant.parent, "/deviceTypes/sensor"));
  devpb::DeviceType type;
  REQUIRE(env.device_stub->GetDeviceType(Context(tenant.keys.admin_key).get(), get, &type).ok());
  for (auto& metric : *type.mutable_metrics()) {
    if (metric.name() == "count") metric.set_value_type(devpb::VALUE_TYPE_STRING);
  }
  devpb::UpdateDeviceTypeRequest update;
  *update.mutable_device_type() = type;
  update.mutable_update_mask()->add_paths("metrics");
  devpb::DeviceType updated;
  grpc::Status status = env.device_stub->UpdateDeviceType(Context(tenant.keys.admin_key).get(), update, &updated);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

std::string Metrics(TestServer& server) {
  return prometheus::TextSerializer().Serialize(server.server().registry().Collect());
}

// The value of the first sample line of `metric` with all of `labels` in it, or 0.
double Sample(const std::string& text, const std::string& metric, const std::vector<std::string>& labels) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, metric + "{")) continue;
    bool all = true;
    for (const std::string& label : labels) all = all && absl::StrContains(line, label);
    if (!all) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) return value;
  }
  return 0;
}

TEST_CASE("telemetry defects: a metric's value type change keeps its stored points, before and after compaction",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("retype", 1);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(30), absl::Seconds(1));
  env.MustWrite(acme.keys.admin_key, Batch(acme.parent, {MakePoint(d0, "count", t, IntValue(1)),
                                                         MakePoint(d0, "count", t + absl::Seconds(1), IntValue(2)),
                                                         MakePoint(d0, "count", t + absl::Seconds(2), IntValue(3))}));
  RetypeCountAsString(env, acme);
  // A new point, and one at the time of an INT64 point: the later write wins that millisecond.
  WriteOnceSchemaAllows(env, acme.keys.admin_key,
                        Batch(acme.parent, {MakePoint(d0, "count", t + absl::Seconds(3), StringValue("high")),
                                            MakePoint(d0, "count", t + absl::Seconds(1), StringValue("low"))}));
  const std::vector<std::string> expected = {
      absl::StrCat(d0, "/count@", ToMs(t), "=i:1"),
      absl::StrCat(d0, "/count@", ToMs(t) + 1000, "=s:low"),
      absl::StrCat(d0, "/count@", ToMs(t) + 2000, "=i:3"),
      absl::StrCat(d0, "/count@", ToMs(t) + 3000, "=s:high"),
  };
  auto read = [&] {
    return PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t - absl::Hours(1), t + absl::Hours(1)));
  };
  CHECK(read() == expected);
  TestMaintenance maintenance(env.server.clock());
  maintenance.Compact(acme.tenant_id);
  CHECK(read() == expected);
  // Compacted again with a new point: the older kind's points are still not rewritten away.
  WriteOnceSchemaAllows(env, acme.keys.admin_key,
                        Batch(acme.parent, {MakePoint(d0, "count", t + absl::Seconds(4), StringValue("top"))}));
  maintenance.Compact(acme.tenant_id);
  std::vector<std::string> more = expected;
  more.push_back(absl::StrCat(d0, "/count@", ToMs(t) + 4000, "=s:top"));
  CHECK(read() == more);
  auto latest = env.MustGetLatest(acme.keys.admin_key, acme.parent, {d0}, {"count"});
  REQUIRE(latest.values_size() == 1);
  CHECK(PointText(latest.values(0)) == more.back());
}

TEST_CASE("telemetry defects: a retention policy that does not decode stops retention instead of dropping data",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("keep", 1);
  const std::string d0 = acme.devices[0].device_id();
  // Tenant-wide raw retention 1 day; the sensor type keeps 30.
  telpb::UpdateRetentionPolicyRequest policy;
  policy.mutable_retention_policy()->set_name(absl::StrCat(acme.parent, "/retentionPolicy"));
  policy.mutable_retention_policy()->set_raw_retention_days(1);
  (*policy.mutable_retention_policy()->mutable_device_type_raw_retention_days())["sensor"] = 30;
  policy.mutable_update_mask()->add_paths("raw_retention_days");
  policy.mutable_update_mask()->add_paths("device_type_raw_retention_days");
  telpb::RetentionPolicy stored;
  grpc::Status status = env.stub->UpdateRetentionPolicy(Context(acme.keys.admin_key).get(), policy, &stored);
  INFO(status.error_message());
  REQUIRE(status.ok());
  absl::SleepFor(absl::Seconds(2));  // the write path re-reads limits every 2 s of real time
  const absl::Time old = FloorTo(env.Now() - absl::Hours(24 * 5), absl::Hours(1));
  env.MustWrite(acme.keys.admin_key, Batch(acme.parent, {MakePoint(d0, "temp", old, DoubleValue(21.5))}));
  TestMaintenance maintenance(env.server.clock());
  maintenance.Compact(acme.tenant_id);

  // The stored overrides get damaged (a bad manual edit, a bug elsewhere).
  {
    pqxx::connection owner(SharedDatabase().owner_url());
    pqxx::work work(owner);
    work.exec_params("UPDATE telemetry_retention SET overrides = "
                     "'{\"device_type_raw_retention_days\": {\"sensor\": \"thirty\"}}'::jsonb WHERE tenant_id = $1",
                     acme.tenant_id);
    work.commit();
  }
  telpb::GetRetentionPolicyRequest get;
  get.set_name(absl::StrCat(acme.parent, "/retentionPolicy"));
  CHECK(env.stub->GetRetentionPolicy(Context(acme.keys.admin_key).get(), get, &stored).error_code() ==
        grpc::DATA_LOSS);
  auto applied = maintenance->ApplyRetention(acme.tenant_id, env.Now());
  CHECK(applied.status().code() == absl::StatusCode::kDataLoss);
  // Nothing the tenant asked to keep was dropped.
  CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, d0, old, old + absl::Hours(1)).size() == 1);
}

TEST_CASE("telemetry defects: a latest-value rebuild that fails leaves no device without values",
          "[telemetry][integration][defects]") {
  ServerConfig config;
  config.redis_url = NewRedisDatabaseUrl();
  TelemetryEnv env(config);
  TelemetryTenant acme = env.CreateTenant("mark", 1);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(5), absl::Seconds(1));
  env.MustWrite(acme.keys.admin_key, Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(20)),
                                                         MakePoint(d0, "count", t, IntValue(7))}));
  // A log row that cannot be decoded makes the rebuild from storage fail.
  {
    pqxx::connection owner(SharedDatabase().owner_url());
    pqxx::work work(owner);
    work.exec_params("INSERT INTO telemetry_ingest_log (tenant_id, min_time_ms, max_time_ms, point_count, block) "
                     "VALUES ($1, 0, 1, 1, '\\x00ffeedd'::bytea)",
                     acme.tenant_id);
    work.commit();
  }
  telpb::GetLatestRequest request;
  request.set_parent(acme.parent);
  request.add_devices(d0);
  telpb::GetLatestResponse response;
  CHECK(env.stub->GetLatest(Context(acme.keys.admin_key).get(), request, &response).error_code() ==
        grpc::DATA_LOSS);
  {
    pqxx::connection owner(SharedDatabase().owner_url());
    pqxx::work work(owner);
    work.exec_params("DELETE FROM telemetry_ingest_log WHERE tenant_id = $1 AND point_count = 1 AND max_time_ms = 1",
                     acme.tenant_id);
    work.commit();
  }
  // The failed rebuild's hash is pending, not trusted: the next call rebuilds and answers both values.
  CHECK(env.MustGetLatest(acme.keys.admin_key, acme.parent, {d0}).values_size() == 2);
  // The pending hash expires by itself (LatestValues::kPendingTtl) if nothing completes it.
  auto redis = RedisClient::Create({.url = config.redis_url});
  REQUIRE(redis.ok());
  auto stored = (*redis)->Command({"GET", LatestRedisKey(acme.tenant_id, d0)});
  REQUIRE(stored.ok());
  CHECK(absl::StartsWith(stored->text, "C"));  // complete
  auto ttl = (*redis)->Command({"PTTL", LatestRedisKey(acme.tenant_id, d0)});
  REQUIRE(ttl.ok());
  CHECK(ttl->integer == -1);  // and kept for good
}

TEST_CASE("telemetry defects: a deleted tenant's id used again starts with nothing of the former tenant",
          "[telemetry][integration][defects]") {
  ServerConfig config;
  config.redis_url = NewRedisDatabaseUrl();
  TelemetryEnv env(config);
  const std::string id = UniqueId("reuse");
  auto create = [&]() -> TelemetryTenant {
    tenantpb::CreateTenantRequest request;
    request.set_tenant_id(id);
    request.mutable_tenant()->set_display_name("Reused");
    request.mutable_tenant()->set_plan(tenantpb::PLAN_STANDARD);
    tenantpb::Tenant tenant;
    grpc::Status status =
        env.tenants.stub().CreateTenant(Context(env.server.park_admin_key()).get(), request, &tenant);
    INFO(status.error_message());
    REQUIRE(status.ok());
    TelemetryTenant made;
    made.keys.tenant_id = id;
    made.keys.admin_key = env.tenants.CreateKey(env.server.park_admin_key(), id, tenantpb::ROLE_TENANT_ADMIN);
    made.keys.developer_key = env.tenants.CreateKey(made.keys.admin_key, id, tenantpb::ROLE_DEVELOPER);
    made.tenant_id = id;
    made.parent = Parent(id);
    env.CreateSensorType(made, "sensor");
    env.AddDevice(made, "sensor");
    return made;
  };
  TelemetryTenant first = create();
  const std::string device = first.devices[0].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(5), absl::Seconds(1));
  env.MustWrite(first.keys.admin_key, Batch(first.parent, {MakePoint(device, "temp", t, DoubleValue(42))}));
  REQUIRE(env.MustGetLatest(first.keys.admin_key, first.parent, {device}).values_size() == 1);

  tenantpb::SuspendTenantRequest suspend;
  suspend.set_name(first.parent);
  suspend.set_reason("contract ended");
  tenantpb::Tenant suspended;
  REQUIRE(env.tenants.stub().SuspendTenant(Context(env.server.park_admin_key()).get(), suspend, &suspended).ok());
  tenantpb::DeleteTenantRequest remove;
  remove.set_name(first.parent);
  tenantpb::DeleteTenantResponse removed;
  grpc::Status deleted = env.tenants.stub().DeleteTenant(Context(env.server.park_admin_key()).get(), remove, &removed);
  INFO(deleted.error_message());
  REQUIRE(deleted.ok());
  // Redis holds nothing of it but its schema, auth and device epochs (which only ever grow: caches compare them).
  auto redis = RedisClient::Create({.url = config.redis_url});
  REQUIRE(redis.ok());
  auto keys = (*redis)->Command({"KEYS", absl::StrCat("pb:*{", id, "}*")});
  REQUIRE(keys.ok());
  for (const auto& key : keys->elements) {
    INFO(key.text);
    CHECK((absl::StartsWith(key.text, "pb:schema-epoch:") || absl::StartsWith(key.text, "pb:auth-epoch:") ||
           absl::StartsWith(key.text, "pb:device-epoch:")));
  }

  TelemetryTenant second = create();
  REQUIRE(second.devices[0].device_id() == device);
  CHECK(env.MustGetLatest(second.keys.admin_key, second.parent, {device}).values_size() == 0);
  CHECK(env.ReadAll(second.keys.admin_key, second.parent, device, t - absl::Hours(1), t + absl::Hours(1)).empty());
}

TEST_CASE("telemetry defects: reads do bounded work per call and page without reading the range again",
          "[telemetry][integration][defects]") {
  ServerConfig config;
  config.max_scan_bytes = int64_t{1} << 20;
  config.max_scan_points = 10'000;
  TelemetryEnv env(config);
  TelemetryTenant acme = env.CreateTenant("bound", 2, tenantpb::PLAN_ENTERPRISE);
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  // Ten hours of a 1 Hz temp, in ten batches, compacted into ten chunk windows.
  const absl::Time start = FloorTo(env.Now() - absl::Hours(12), absl::Hours(1));
  constexpr int kHours = 10;
  for (int hour = 0; hour < kHours; ++hour) {
    telpb::WriteRequest request;
    request.set_parent(acme.parent);
    telpb::Series* series = request.add_series();
    series->set_device(d0);
    series->set_metric("temp");
    for (int s = 0; s < 3600; ++s) {
      series->add_timestamps_ms(ToMs(start) + (hour * 3600 + s) * 1000);
      series->add_double_values(20 + (s % 100) / 10.0);
    }
    REQUIRE(env.MustWrite(acme.keys.admin_key, request).accepted_points() == 3600);
  }
  TestMaintenance maintenance(env.server.clock());
  maintenance.Compact(acme.tenant_id);

  SECTION("ReadRange answers within the budget, pages on, and reads each chunk about once") {
    const double scanned_before =
        Sample(Metrics(env.server), "parkbase_telemetry_scanned_bytes_total", {"method=\"ReadRange\""});
    telpb::ReadRangeRequest request;
    request.set_parent(acme.parent);
    request.set_device(d0);
    request.add_metrics("temp");
    *request.mutable_start_time() = ToProto(absl::UnixEpoch());  // from 1970: the range is not what bounds the work
    *request.mutable_end_time() = ToProto(env.Now());
    request.set_page_size(10'000);
    int64_t points = 0;
    int pages = 0;
    int64_t previous = -1;
    while (true) {
      telpb::ReadRangeResponse response;
      grpc::Status status = env.stub->ReadRange(Context(acme.keys.admin_key).get(), request, &response);
      INFO(status.error_message());
      REQUIRE(status.ok());
      ++pages;
      for (const auto& point : response.points()) {
        CHECK(MsOf(point.time()) > previous);
        previous = MsOf(point.time());
      }
      points += response.points_size();
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
      REQUIRE(pages < 100);
    }
    CHECK(points == kHours * 3600);
    CHECK(pages >= 4);
    pqxx::connection owner(SharedDatabase().owner_url());
    pqxx::work work(owner);
    const double stored = work.exec_params("SELECT sum(octet_length(block)) FROM telemetry_chunks WHERE tenant_id = $1",
                                           acme.tenant_id)[0][0]
                              .as<double>();
    const double scanned =
        Sample(Metrics(env.server), "parkbase_telemetry_scanned_bytes_total", {"method=\"ReadRange\""}) -
        scanned_before;
    // Each page starts where the last one stopped: about one read of every chunk, not one per page. (Counted at
    // all: a renamed metric must not pass as zero.)
    CHECK(scanned >= stored);
    CHECK(scanned <= 2.5 * stored);
  }
  SECTION("Aggregate over raw points past the budget is RESOURCE_EXHAUSTED naming the limit") {
    telpb::AggregateResponse response;
    grpc::Status status = env.stub->Aggregate(
        Context(acme.keys.admin_key).get(),
        MakeAggregate(acme.parent, {d0}, "temp", start, start + absl::Hours(kHours), absl::Seconds(61), false),
        &response);
    CHECK(status.error_code() == grpc::RESOURCE_EXHAUSTED);
    CHECK(absl::StrContains(status.error_message(), "max_scan"));
    google::rpc::QuotaFailure quota;
    CHECK(FindDetail(status, &quota));
    // The rollups answer the same range within the budget.
    CHECK(env.MustAggregate(acme.keys.admin_key, MakeAggregate(acme.parent, {d0}, "temp", start,
                                                               start + absl::Hours(kHours), absl::Minutes(1), false))
              .buckets_size() == kHours * 60);
  }
  SECTION("Aggregate answers at most 100,000 buckets, per device included") {
    telpb::AggregateResponse response;
    grpc::Status status = env.stub->Aggregate(
        Context(acme.keys.admin_key).get(),
        MakeAggregate(acme.parent, {d0, d1}, "temp", env.Now() - absl::Hours(24 * 40), env.Now(), absl::Seconds(61),
                      true),
        &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "bucket"));
  }
}

TEST_CASE("telemetry defects: client-supplied durations and timestamps never overflow",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("ovf", 1);
  const std::string d0 = acme.devices[0].device_id();
  for (const int64_t seconds : {int64_t{2305843009213693952}, std::numeric_limits<int64_t>::max(),
                                int64_t{3650} * 86'400 + 1}) {
    INFO(seconds);
    telpb::AggregateRequest request =
        MakeAggregate(acme.parent, {d0}, "temp", env.Now() - absl::Hours(1), env.Now(), absl::Seconds(60), false);
    request.mutable_bucket()->set_seconds(seconds);
    telpb::AggregateResponse response;
    grpc::Status status = env.stub->Aggregate(Context(acme.keys.admin_key).get(), request, &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "bucket"));
  }
  // A point whose Timestamp is far outside what a Timestamp can hold is refused, naming it; the rest is stored.
  telpb::Point far = MakePoint(d0, "temp", env.Now(), DoubleValue(1));
  far.mutable_time()->set_seconds(int64_t{1} << 62);
  telpb::Point negative_nanos = MakePoint(d0, "temp", env.Now(), DoubleValue(1));
  negative_nanos.mutable_time()->set_nanos(-5);
  telpb::WriteResponse response = env.MustWrite(
      acme.keys.admin_key,
      Batch(acme.parent, {far, negative_nanos, MakePoint(d0, "temp", env.Now() - absl::Minutes(1), DoubleValue(2))}));
  CHECK(response.accepted_points() == 1);
  REQUIRE(response.rejections_size() == 2);
  CHECK(response.rejections(0).field() == "points[0].time");
  CHECK(response.rejections(0).reason() == telpb::REJECTION_REASON_TIMESTAMP_OUT_OF_RANGE);
  CHECK(response.rejections(1).field() == "points[1].time");

  // Range ends at and past the edges of a Timestamp: INVALID_ARGUMENT naming the field, or (inside the range) a
  // bounded answer, never a conversion that overflows.
  struct Edge {
    int64_t seconds;
    int32_t nanos;
  };
  for (const Edge edge : {Edge{std::numeric_limits<int64_t>::min(), 0}, Edge{std::numeric_limits<int64_t>::max(), 0},
                          Edge{int64_t{1} << 62, 0}, Edge{-1, 0}, Edge{0, -1}, Edge{0, 1'000'000'000},
                          Edge{253'402'300'800, 0}}) {
    INFO(edge.seconds << "s " << edge.nanos << "ns");
    for (const std::string field : {"start_time", "end_time"}) {
      telpb::ReadRangeRequest read;
      read.set_parent(acme.parent);
      read.set_device(d0);
      *read.mutable_start_time() = ToProto(absl::UnixEpoch());
      *read.mutable_end_time() = ToProto(env.Now());
      google::protobuf::Timestamp& bad = field == "start_time" ? *read.mutable_start_time() : *read.mutable_end_time();
      bad.set_seconds(edge.seconds);
      bad.set_nanos(edge.nanos);
      telpb::ReadRangeResponse page;
      grpc::Status status = env.stub->ReadRange(Context(acme.keys.admin_key).get(), read, &page);
      CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
      CHECK(absl::StartsWith(status.error_message(), field));

      telpb::AggregateRequest aggregate =
          MakeAggregate(acme.parent, {d0}, "temp", env.Now() - absl::Hours(1), env.Now(), absl::Seconds(60), false);
      google::protobuf::Timestamp& bad_end =
          field == "start_time" ? *aggregate.mutable_start_time() : *aggregate.mutable_end_time();
      bad_end.set_seconds(edge.seconds);
      bad_end.set_nanos(edge.nanos);
      telpb::AggregateResponse buckets;
      status = env.stub->Aggregate(Context(acme.keys.admin_key).get(), aggregate, &buckets);
      CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
      CHECK(absl::StartsWith(status.error_message(), field));
    }
  }
  // The widest valid range, 1970 to the end of 9999: a page of ReadRange, and an Aggregate refused for its bucket
  // count rather than computed.
  telpb::ReadRangeRequest widest;
  widest.set_parent(acme.parent);
  widest.set_device(d0);
  widest.mutable_start_time()->set_seconds(0);
  widest.mutable_end_time()->set_seconds(253'402'300'799);
  widest.mutable_end_time()->set_nanos(999'999'999);
  telpb::ReadRangeResponse page;
  grpc::Status widest_status = env.stub->ReadRange(Context(acme.keys.admin_key).get(), widest, &page);
  INFO(widest_status.error_message());
  CHECK(widest_status.ok());
  CHECK(page.points_size() == 1);
  telpb::AggregateRequest widest_aggregate =
      MakeAggregate(acme.parent, {d0}, "temp", absl::FromUnixSeconds(0), absl::FromUnixSeconds(253'402'300'799),
                    absl::Seconds(60), false);
  telpb::AggregateResponse buckets;
  grpc::Status aggregate_status =
      env.stub->Aggregate(Context(acme.keys.admin_key).get(), widest_aggregate, &buckets);
  CHECK(aggregate_status.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(aggregate_status.error_message(), "bucket"));
}

TEST_CASE("telemetry defects: a device's first Write with its own key makes it ACTIVE and sets last_seen_time",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("firstw", 1);
  const devpb::Device& device = acme.devices[0];
  auto get = [&] {
    devpb::GetDeviceRequest request;
    request.set_name(device.name());
    devpb::Device answer;
    grpc::Status status = env.device_stub->GetDevice(Context(acme.keys.admin_key).get(), request, &answer);
    INFO(status.error_message());
    REQUIRE(status.ok());
    return answer;
  };
  const devpb::Device before = get();
  REQUIRE(before.state() == devpb::DEVICE_STATE_PROVISIONED);
  REQUIRE_FALSE(before.has_last_seen_time());
  const std::string device_key = env.MintDeviceKey(acme, device);
  env.MustWrite(device_key, Batch(acme.parent, {MakePoint(device.device_id(), "temp", env.Now() - absl::Minutes(1),
                                                          DoubleValue(20))}));
  const devpb::Device after = get();
  CHECK(after.state() == devpb::DEVICE_STATE_ACTIVE);
  CHECK(after.has_last_seen_time());
}

TEST_CASE("telemetry defects: NaN and out-of-range values are refused in words that fit them",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("nan", 1);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time t = env.Now() - absl::Minutes(1);
  telpb::WriteResponse response =
      env.MustWrite(acme.keys.admin_key, Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(std::nan(""))),
                                                             MakePoint(d0, "temp", t, DoubleValue(1e9)),
                                                             MakePoint(d0, "count", t, IntValue(5))}));
  REQUIRE(response.rejections_size() == 2);
  CHECK(response.rejections(0).description() == "must be a number, got NaN");
  CHECK(absl::StrContains(response.rejections(1).description(), "must be in [-50, 150]"));
  CHECK_FALSE(absl::StrContains(response.rejections(0).description(), "inf"));
}

TEST_CASE("telemetry defects: compaction passes are bounded by decoded bytes, not only rows and points",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("big", 1, tenantpb::PLAN_ENTERPRISE);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time start = FloorTo(env.Now() - absl::Hours(2), absl::Hours(1));
  // Six batches of 12,000 strings of 1,000 bytes: 72 MB once decoded, in six log rows.
  for (int batch = 0; batch < 6; ++batch) {
    telpb::WriteRequest request;
    request.set_parent(acme.parent);
    telpb::Series* series = request.add_series();
    series->set_device(d0);
    series->set_metric("state");
    for (int i = 0; i < 12'000; ++i) {
      series->add_timestamps_ms(ToMs(start) + batch * 12'000 + i);
      std::string value = absl::StrCat(batch, ":", i, ":");
      value.resize(1000, static_cast<char>('a' + (i % 26)));
      series->add_string_values(std::move(value));
    }
    REQUIRE(env.MustWrite(acme.keys.admin_key, request).accepted_points() == 12'000);
  }
  TestMaintenance maintenance(env.server.clock());
  const telemetry::CompactionStats stats = maintenance.Compact(acme.tenant_id);
  CHECK(stats.log_rows == 6);
  CHECK(stats.points == 72'000);
  CHECK(stats.passes >= 2);  // 64 MiB of decoded points a pass at most
  CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, d0, start, start + absl::Hours(1), {"state"}).size() ==
        72'000);
}

TEST_CASE("telemetry defects: requests wait for the server's parse budget, and unary ones give up with RetryInfo",
          "[telemetry][integration][defects]") {
  ServerConfig config;
  config.max_parsing_bytes = int64_t{16} << 20;
  TelemetryEnv env(config);
  TelemetryTenant acme = env.CreateTenant("parse", 1);
  const std::string d0 = acme.devices[0].device_id();
  const telpb::WriteRequest request =
      Batch(acme.parent, {MakePoint(d0, "temp", env.Now() - absl::Minutes(1), DoubleValue(1))});
  // Something else holds the whole budget.
  auto held = env.server.server().parse_budget().Reserve(int64_t{16} << 20, absl::ZeroDuration(), nullptr);
  REQUIRE(held.ok());
  telpb::WriteResponse response;
  grpc::Status refused = env.Write(acme.keys.admin_key, request, &response);
  CHECK(refused.error_code() == grpc::RESOURCE_EXHAUSTED);
  CHECK(absl::StrContains(refused.error_message(), "max_parsing_bytes"));
  google::rpc::RetryInfo retry;
  CHECK(FindDetail(refused, &retry));
  held->Release();
  CHECK(env.Write(acme.keys.admin_key, request, &response).ok());
  CHECK(env.server.server().parse_budget().in_use() == 0);
}

TEST_CASE("telemetry defects: latest values rebuild from each group's latest row, not by walking its chunks",
          "[telemetry][integration][defects]") {
  ServerConfig config;
  config.redis_url = NewRedisDatabaseUrl();
  TelemetryEnv env(config);
  TelemetryTenant acme = env.CreateTenant("lrow", 2);
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Hours(24 * 6), absl::Hours(1));
  // Points days apart, so a walk back through the chunks would cross many windows.
  for (int day = 0; day < 6; ++day) {
    env.MustWrite(acme.keys.admin_key,
                  Batch(acme.parent, {MakePoint(d0, "temp", t + absl::Hours(24 * day), DoubleValue(day)),
                                      MakePoint(d1, "count", t + absl::Hours(24 * day), IntValue(day))}));
  }
  TestMaintenance maintenance(env.server.clock(), config.redis_url);
  maintenance.Compact(acme.tenant_id);
  auto redis = RedisClient::Create({.url = config.redis_url});
  REQUIRE(redis.ok());
  REQUIRE((*redis)->Command({"FLUSHDB"}).ok());
  // Without the chunks the answer can only come from the latest rows.
  {
    pqxx::connection owner(SharedDatabase().owner_url());
    pqxx::work work(owner);
    work.exec_params("DELETE FROM telemetry_chunks WHERE tenant_id = $1", acme.tenant_id);
    work.commit();
  }
  const telpb::GetLatestResponse latest = env.MustGetLatest(acme.keys.admin_key, acme.parent, {d0, d1});
  CHECK(PointTexts({latest.values().begin(), latest.values().end()}) ==
        std::vector<std::string>{absl::StrCat(d0, "/temp@", ToMs(t + absl::Hours(24 * 5)), "=d:5"),
                                 absl::StrCat(d1, "/count@", ToMs(t + absl::Hours(24 * 5)), "=i:5")});
}

}  // namespace
}  // namespace parkbase::testing

namespace parkbase::testing {
namespace {

TEST_CASE("telemetry defects: the device caches drop what no lookup will serve again",
          "[telemetry][integration][defects]") {
  // The soak's device churn grew RSS steadily: the schema resolver and the device directory kept an entry for every
  // device id ever written to (deleted ones included) until each cache held 100,000.
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("sweep", 1100);
  DbPool db(DbPool::Options{.url = SharedDatabase().app_url(), .size = 2});
  device::PgDeviceStore devices(db);
  LibpqPool pool(LibpqPool::Options{.url = SharedDatabase().app_url(), .size = 2});
  telemetry::PgTelemetryStore store(pool);
  auto redis = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(redis.ok());
  FakeClock clock(absl::Now());
  device::DeviceSchemaResolver resolver(devices, redis->get(), clock);
  telemetry::RegistryDeviceDirectory directory(resolver, store);

  std::vector<std::string> all;
  for (const devpb::Device& device : acme.devices) all.push_back(device.device_id());
  for (const auto& info : directory.ResolveMany(acme.tenant_id, all, telemetry::Freshness::kCached)) REQUIRE(info.ok());
  CHECK(resolver.cached_entries() == 1100);
  CHECK(directory.converted_entries() == 1100);  // a sweep ran at the 1,024th conversion: all were in use

  // After the local TTL only the devices still written to are looked up again; the other 100 must not stay.
  clock.Advance(absl::Seconds(6));
  const std::vector<std::string> active(all.begin(), all.begin() + 1000);
  for (const auto& info : directory.ResolveMany(acme.tenant_id, active, telemetry::Freshness::kCached)) REQUIRE(info.ok());
  CHECK(resolver.cached_entries() == 1000);
  CHECK(directory.converted_entries() == 1000);
}

}  // namespace
}  // namespace parkbase::testing

namespace parkbase::testing {
namespace {

// Redis Cluster keeps a key in the slot of its hash tag: every key of a tenant must carry `{<tenant>}` and nothing
// else in braces, or a tenant's keys scatter over slots and the multi-key scripts (the quota bucket, the live feed)
// fail there. Checked on the keys a workload of two tenants leaves behind, read back from Redis itself.
TEST_CASE("redis: every key a workload leaves keeps its tenant in one hash tag", "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant first = env.CreateTenant("slot", 2);
  TelemetryTenant second = env.CreateTenant("slot", 1);
  for (TelemetryTenant* tenant : {&first, &second}) {
    telpb::WriteRequest write;
    write.set_parent(tenant->parent);
    for (const devpb::Device& device : tenant->devices) {
      *write.add_points() = MakePoint(device.device_id(), "temp", env.Now() - absl::Seconds(5), DoubleValue(20));
    }
    REQUIRE(env.MustWrite(tenant->keys.admin_key, write).accepted_points() == static_cast<int64_t>(tenant->devices.size()));
    std::vector<std::string> ids;
    for (const devpb::Device& device : tenant->devices) ids.push_back(device.device_id());
    env.MustGetLatest(tenant->keys.admin_key, tenant->parent, ids);
  }

  absl::StatusOr<std::unique_ptr<RedisClient>> redis = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(redis.ok());
  std::map<std::string, int> keys_by_tenant;
  std::string cursor = "0";
  do {
    absl::StatusOr<RedisReply> page = (*redis)->Command({"SCAN", cursor, "COUNT", "1000"});
    REQUIRE(page.ok());
    REQUIRE(page->elements.size() == 2);
    cursor = page->elements[0].text;
    for (const RedisReply& key_reply : page->elements[1].elements) {
      const std::string& key = key_reply.text;
      INFO(key);
      CHECK(absl::StartsWith(key, "pb:"));
      const size_t open = key.find('{');
      const size_t close = key.find('}', open);
      REQUIRE(open != std::string::npos);
      REQUIRE(close != std::string::npos);
      CHECK(key.find('{', open + 1) == std::string::npos);  // one tag: Redis hashes the first
      const std::string tag = key.substr(open + 1, close - open - 1);
      CHECK(ValidateTenantId("tag", tag).ok());
      ++keys_by_tenant[tag];
    }
  } while (cursor != "0");
  // Not vacuous: both tenants' quota buckets, latest values and schema entries are there.
  CHECK(keys_by_tenant[first.tenant_id] >= 3);
  CHECK(keys_by_tenant[second.tenant_id] >= 2);
}

TEST_CASE("telemetry: a device's latest values left as a hash by an earlier release are rebuilt, and writes meanwhile "
          "still commit",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("legacy", 1);
  const std::string& key = acme.keys.admin_key;
  const std::string d0 = acme.devices[0].device_id();
  const int64_t base = ToMs(FloorTo(env.Now() - absl::Minutes(5), absl::Seconds(1)));
  env.MustWrite(key, Batch(acme.parent, {MakePointMs(d0, "temp", base, DoubleValue(20))}));
  // What releases before the one-string form kept: a hash of metric -> "<time>|<Value>", marked complete.
  auto redis = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(redis.ok());
  const std::string latest_key = LatestRedisKey(acme.tenant_id, d0);
  REQUIRE((*redis)->Command({"DEL", latest_key}).ok());
  REQUIRE((*redis)->Command({"HSET", latest_key, "_", "complete", "temp", absl::StrCat(base - 1000, "|stale")}).ok());
  // A write while the hash is there commits (its Redis update skips the hash) ...
  const telpb::WriteResponse written =
      env.MustWrite(key, Batch(acme.parent, {MakePointMs(d0, "count", base + 5, IntValue(3))}));
  CHECK(written.accepted_points() == 1);
  const std::vector<std::string> expected = {absl::StrCat(d0, "/count@", base + 5, "=i:3"),
                                             absl::StrCat(d0, "/temp@", base, "=d:20")};
  auto latest = [&] { return LatestTexts(env, key, acme.parent, {d0}); };
  // ... and the first read replaces the hash with what storage holds, never the hash's stale value.
  CHECK(latest() == expected);
  auto type = (*redis)->Command({"TYPE", latest_key});
  REQUIRE(type.ok());
  CHECK(type->text == "string");
  // From then on writes keep it current.
  env.MustWrite(key, Batch(acme.parent, {MakePointMs(d0, "temp", base + 10, DoubleValue(21.5))}));
  CHECK(latest() == std::vector<std::string>{expected[0], absl::StrCat(d0, "/temp@", base + 10, "=d:21.5")});
  // An older point does not replace a newer one.
  env.MustWrite(key, Batch(acme.parent, {MakePointMs(d0, "temp", base + 1, DoubleValue(-1))}));
  CHECK(latest() == std::vector<std::string>{expected[0], absl::StrCat(d0, "/temp@", base + 10, "=d:21.5")});
}

TEST_CASE("telemetry defects: a device's latest values that do not parse are rebuilt, and stop no other device's "
          "update",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("garbled", 2);
  const std::string& key = acme.keys.admin_key;
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  const int64_t base = ToMs(FloorTo(env.Now() - absl::Minutes(5), absl::Seconds(1)));
  env.MustWrite(key, Batch(acme.parent, {MakePointMs(d0, "temp", base, DoubleValue(1)),
                                         MakePointMs(d1, "temp", base, DoubleValue(2))}));
  auto latest = [&](const std::string& device) { return LatestTexts(env, key, acme.parent, {device}); };
  REQUIRE(latest(d0) == std::vector<std::string>{absl::StrCat(d0, "/temp@", base, "=d:1")});
  REQUIRE(latest(d1) == std::vector<std::string>{absl::StrCat(d1, "/temp@", base, "=d:2")});
  auto redis = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(redis.ok());
  const std::string d0_key = LatestRedisKey(acme.tenant_id, d0);
  // Complete, but cut short inside its first metric's name: nothing Parkbase writes, so something else did.
  const std::string garbled = std::string("C\0\x09te", 5);
  REQUIRE((*redis)->Command({"SET", d0_key, garbled}).ok());
  // A batch for both devices commits, and the other device's values still move on.
  env.MustWrite(key, Batch(acme.parent, {MakePointMs(d0, "temp", base + 10, DoubleValue(3)),
                                         MakePointMs(d1, "temp", base + 10, DoubleValue(4))}));
  CHECK(latest(d1) == std::vector<std::string>{absl::StrCat(d1, "/temp@", base + 10, "=d:4")});
  CHECK(latest(d0) == std::vector<std::string>{absl::StrCat(d0, "/temp@", base + 10, "=d:3")});
  // Read before any write: rebuilt from storage, and the string repaired.
  REQUIRE((*redis)->Command({"SET", d0_key, garbled}).ok());
  CHECK(latest(d0) == std::vector<std::string>{absl::StrCat(d0, "/temp@", base + 10, "=d:3")});
  auto stored = (*redis)->Command({"GET", d0_key});
  REQUIRE(stored.ok());
  CHECK(stored->text != garbled);
  CHECK(absl::StartsWith(stored->text, "C"));
  CHECK(latest(d0) == std::vector<std::string>{absl::StrCat(d0, "/temp@", base + 10, "=d:3")});
  // An empty string too (no state byte at all).
  REQUIRE((*redis)->Command({"SET", d0_key, ""}).ok());
  CHECK(latest(d0) == std::vector<std::string>{absl::StrCat(d0, "/temp@", base + 10, "=d:3")});
  stored = (*redis)->Command({"GET", d0_key});
  REQUIRE(stored.ok());
  CHECK(absl::StartsWith(stored->text, "C"));
}

TEST_CASE("telemetry: GetLatest's answer, encoded from the stored bytes, is exact for every kind of value and time",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("encoded", 2);
  const std::string& key = acme.keys.admin_key;
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  const int64_t base = ToMs(FloorTo(env.Now() - absl::Minutes(5), absl::Seconds(1)));
  // A whole second (no nanos), odd milliseconds, a negative integer, false (a value of zero), a non-ASCII string.
  env.MustWrite(key, Batch(acme.parent, {MakePointMs(d0, "temp", base, DoubleValue(-12.5)),
                                         MakePointMs(d0, "count", base + 7, IntValue(-3)),
                                         MakePointMs(d0, "on", base + 999, BoolValue(false)),
                                         MakePointMs(d0, "state", base + 1, StringValue("größer ✓")),
                                         MakePointMs(d1, "temp", base + 2, DoubleValue(0))}));
  std::vector<std::string> expected = {
      absl::StrCat(d0, "/count@", base + 7, "=i:-3"),   absl::StrCat(d0, "/on@", base + 999, "=b:0"),
      absl::StrCat(d0, "/state@", base + 1, "=s:größer ✓"), absl::StrCat(d0, "/temp@", base, "=d:-12.5"),
      absl::StrCat(d1, "/temp@", base + 2, "=d:0"),
  };
  auto latest = [&](const std::vector<std::string>& metrics = {}) {
    return LatestTexts(env, key, acme.parent, {d1, d0}, metrics);
  };
  CHECK(latest() == expected);  // rebuilt from storage (no device had a hash yet)
  CHECK(latest() == expected);  // from Redis
  // The time fields themselves, as TimeUtil would set them.
  const telpb::GetLatestResponse response = env.MustGetLatest(key, acme.parent, {d0}, {"on", "temp"});
  REQUIRE(response.values_size() == 2);
  CHECK(response.values(0).time().seconds() == (base + 999) / 1000);
  CHECK(response.values(0).time().nanos() == 999'000'000);
  CHECK(response.values(0).value().has_bool_value());
  CHECK(response.values(1).time().nanos() == 0);
  // A newer write reaches the hash; the filter keeps only the named metrics, in order.
  env.MustWrite(key, Batch(acme.parent, {MakePointMs(d0, "temp", base + 5000, DoubleValue(30.25))}));
  expected[3] = absl::StrCat(d0, "/temp@", base + 5000, "=d:30.25");
  CHECK(latest() == expected);
  CHECK(latest({"temp", "on"}) == std::vector<std::string>{expected[1], expected[3], expected[4]});
  // Rebuilt from storage after Redis lost the hashes: the same answer.
  auto redis = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(redis.ok());
  for (const std::string& device : {d0, d1}) {
    REQUIRE((*redis)->Command({"DEL", LatestRedisKey(acme.tenant_id, device)}).ok());
  }
  CHECK(latest() == expected);
}

}  // namespace
}  // namespace parkbase::testing
