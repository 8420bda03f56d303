// The telemetry read side over gRPC against the real PostgreSQL and Redis: ReadRange pages, GetLatest (also after
// Redis loses its data), Aggregate over raw points and rollups, compaction checked against a last-write-wins model
// (also when it crashes half-way), retention, and live subscriptions.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <tuple>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/create_channel.h"
#include "integration/telemetry_env.h"

namespace parkbase::testing {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// Aggregation model: what Aggregate must answer for a set of points.

struct NumericPoint {
  std::string device;
  int64_t ms;
  double value;
};

struct ExpectedBucket {
  int64_t start_ms = 0;
  std::string device;
  int64_t count = 0;
  double min = 0, max = 0, sum = 0;
  int64_t first_ms = 0, last_ms = 0;
  double first = 0, last = 0;
};

std::vector<ExpectedBucket> ModelBuckets(const std::vector<NumericPoint>& points, int64_t start_ms, int64_t end_ms,
                                         int64_t width_ms, bool per_device) {
  std::map<std::pair<std::string, int64_t>, ExpectedBucket> buckets;
  for (const auto& point : points) {
    if (point.ms < start_ms || point.ms >= end_ms) continue;
    const int64_t bucket_start = point.ms - ((point.ms % width_ms) + width_ms) % width_ms;
    const std::string device = per_device ? point.device : "";
    auto [it, inserted] = buckets.try_emplace({device, bucket_start});
    ExpectedBucket& b = it->second;
    if (inserted) {
      b.start_ms = bucket_start;
      b.device = device;
      b.min = b.max = b.first = b.last = point.value;
      b.first_ms = b.last_ms = point.ms;
    }
    ++b.count;
    b.sum += point.value;
    b.min = std::min(b.min, point.value);
    b.max = std::max(b.max, point.value);
    if (point.ms < b.first_ms) {
      b.first_ms = point.ms;
      b.first = point.value;
    }
    if (point.ms > b.last_ms) {
      b.last_ms = point.ms;
      b.last = point.value;
    }
  }
  std::vector<ExpectedBucket> out;
  for (auto& [key, bucket] : buckets) out.push_back(bucket);
  return out;
}

bool Near(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)}); }

// Compares an Aggregate answer with the model; `exact_first_last` is off for merged buckets, where two devices may
// share the earliest or latest millisecond.
void CheckBuckets(const telpb::AggregateResponse& response, const std::vector<ExpectedBucket>& expected,
                  bool exact_first_last = true) {
  INFO(response.ShortDebugString());
  REQUIRE(response.buckets_size() == static_cast<int>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    const telpb::Bucket& got = response.buckets(static_cast<int>(i));
    const ExpectedBucket& want = expected[i];
    INFO("bucket " << i << " at " << want.start_ms << " of '" << want.device << "'");
    CHECK(MsOf(got.start_time()) == want.start_ms);
    CHECK(got.device() == want.device);
    CHECK(got.count() == want.count);
    CHECK(got.min() == want.min);
    CHECK(got.max() == want.max);
    CHECK(Near(got.sum(), want.sum));
    CHECK(Near(got.avg(), want.sum / static_cast<double>(want.count)));
    if (exact_first_last) {
      CHECK(got.first() == want.first);
      CHECK(got.last() == want.last);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Last-write-wins model of everything written, and a snapshot of everything readable.

struct Key {
  std::string device;
  std::string metric;
  int64_t ms;
  bool operator<(const Key& other) const {
    return std::tie(device, metric, ms) < std::tie(other.device, other.metric, other.ms);
  }
};
using Model = std::map<Key, telpb::Value>;

// Applies a batch in request order: points, then series value by value.
void Apply(const telpb::WriteRequest& request, Model& model) {
  for (const auto& point : request.points()) {
    model[{point.device(), point.metric(), MsOf(point.time())}] = point.value();
  }
  for (const auto& series : request.series()) {
    for (int i = 0; i < series.timestamps_ms_size(); ++i) {
      telpb::Value value;
      if (series.double_values_size() > 0) value.set_double_value(series.double_values(i));
      if (series.int_values_size() > 0) value.set_int_value(series.int_values(i));
      if (series.bool_values_size() > 0) value.set_bool_value(series.bool_values(i));
      if (series.string_values_size() > 0) value.set_string_value(series.string_values(i));
      model[{series.device(), series.metric(), series.timestamps_ms(i)}] = value;
    }
  }
}

std::vector<NumericPoint> NumericPoints(const Model& model, const std::string& metric) {
  std::vector<NumericPoint> points;
  for (const auto& [key, value] : model) {
    if (key.metric != metric) continue;
    points.push_back({key.device, key.ms,
                      value.kind_case() == telpb::Value::kIntValue ? static_cast<double>(value.int_value())
                                                                   : value.double_value()});
  }
  return points;
}

std::vector<std::string> ModelTexts(const Model& model, const std::string& device) {
  std::vector<std::string> texts;
  for (const auto& [key, value] : model) {
    if (key.device != device) continue;
    texts.push_back(absl::StrCat(key.device, "/", key.metric, "@", key.ms, "=", ValueText(value)));
  }
  return texts;
}

std::vector<std::string> ModelLatest(const Model& model, const std::vector<std::string>& devices) {
  std::map<std::pair<std::string, std::string>, std::string> latest;  // the map is ordered by time within a key
  for (const auto& [key, value] : model) {
    if (std::find(devices.begin(), devices.end(), key.device) == devices.end()) continue;
    latest[{key.device, key.metric}] = absl::StrCat(key.device, "/", key.metric, "@", key.ms, "=", ValueText(value));
  }
  std::vector<std::string> texts;
  for (auto& [key, text] : latest) texts.push_back(text);
  return texts;
}

std::string BucketsText(const telpb::AggregateResponse& response) {
  std::string text;
  for (const auto& b : response.buckets()) {
    absl::StrAppend(&text, MsOf(b.start_time()), "/", b.device(), ":", b.count(), ",",
                    absl::StrFormat("%.17g,%.17g,%.10g,%.17g,%.17g;", b.min(), b.max(), b.sum(), b.first(), b.last()));
  }
  return text;
}

struct Snapshot {
  std::vector<std::string> points;  // every device's ReadRange, all metrics
  std::vector<std::string> latest;
  std::vector<std::string> aggregates;
  bool operator==(const Snapshot& other) const = default;
};

struct ModelWorld {
  TelemetryEnv& env;
  TelemetryTenant& tenant;
  absl::Time base;        // hour-aligned start of the written span
  absl::Duration span;    // points lie in [base, base + span)
  Model model;

  std::vector<std::string> DeviceIds() const {
    std::vector<std::string> ids;
    for (const auto& device : tenant.devices) ids.push_back(device.device_id());
    return ids;
  }

  // Reads everything and checks it against the model; returns what was read for comparisons across compactions.
  Snapshot ReadAndCheck(bool expect_rollups) {
    Snapshot snapshot;
    const std::vector<std::string> ids = DeviceIds();
    for (const auto& id : ids) {
      INFO("ReadRange of " << id);
      auto texts = PointTexts(env.ReadAll(tenant.keys.developer_key, tenant.parent, id, base - absl::Hours(1),
                                          base + span + absl::Hours(1), {}, 1000));
      CHECK(texts == ModelTexts(model, id));
      snapshot.points.insert(snapshot.points.end(), texts.begin(), texts.end());
    }
    {
      INFO("GetLatest");
      auto latest = env.MustGetLatest(tenant.keys.admin_key, tenant.parent, ids);
      for (const auto& value : latest.values()) snapshot.latest.push_back(PointText(value));
      CHECK(snapshot.latest == ModelLatest(model, ids));
    }
    for (const std::string metric : {"temp", "count"}) {
      const auto points = NumericPoints(model, metric);
      for (const absl::Duration width : {absl::Seconds(60), absl::Seconds(3600)}) {
        INFO("Aggregate " << metric << " per device, " << absl::FormatDuration(width));
        auto request = MakeAggregate(tenant.parent, ids, metric, base, base + span, width, true);
        auto response = env.MustAggregate(tenant.keys.admin_key, request);
        CheckBuckets(response, ModelBuckets(points, ToMs(base), ToMs(base + span), absl::ToInt64Milliseconds(width),
                                            true));
        if (expect_rollups) {
          CHECK(response.source() == (width == absl::Seconds(60) ? telpb::AGGREGATE_SOURCE_ROLLUP_1M
                                                                 : telpb::AGGREGATE_SOURCE_ROLLUP_1H));
        }
        snapshot.aggregates.push_back(BucketsText(response));
      }
      INFO("Aggregate " << metric << " merged, 1h");
      auto merged = env.MustAggregate(
          tenant.keys.admin_key, MakeAggregate(tenant.parent, ids, metric, base, base + span, absl::Hours(1), false));
      CheckBuckets(merged, ModelBuckets(points, ToMs(base), ToMs(base + span), 3600000, false), false);
    }
    return snapshot;
  }
};

// Random batches over the tenant's devices and all four metrics: decimals, large integers, bools, strings;
// timestamps out of order; about a quarter of the points rewrite an existing (device, metric, time), some within
// the same batch.
class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  telpb::WriteRequest Batch(ModelWorld& world, int points) {
    telpb::WriteRequest request;
    request.set_parent(world.tenant.parent);
    request.set_batch_id(absl::StrCat("prop-", batch_counter_++, "-", rng_()));
    const auto ids = world.DeviceIds();
    const int64_t base_ms = ToMs(world.base);
    const int64_t span_ms = absl::ToInt64Milliseconds(world.span);
    // Points go either into `points` or into one series per (device, metric).
    std::map<std::pair<std::string, std::string>, telpb::Series> series;
    for (int i = 0; i < points; ++i) {
      std::string device, metric;
      int64_t ms;
      if (!used_.empty() && Chance(0.25)) {
        const Key& key = used_[Uniform(0, static_cast<int64_t>(used_.size()) - 1)];
        device = key.device;
        metric = key.metric;
        ms = key.ms;
      } else {
        device = ids[Uniform(0, static_cast<int64_t>(ids.size()) - 1)];
        metric = kMetrics[Uniform(0, 3)];
        ms = base_ms + Uniform(0, span_ms - 1);
        used_.push_back({device, metric, ms});
      }
      const telpb::Value value = RandomValue(metric);
      if (Chance(0.5)) {
        *request.add_points() = MakePointMs(device, metric, ms, value);
      } else {
        telpb::Series& s = series[{device, metric}];
        s.set_device(device);
        s.set_metric(metric);
        s.add_timestamps_ms(ms);
        switch (value.kind_case()) {
          case telpb::Value::kDoubleValue: s.add_double_values(value.double_value()); break;
          case telpb::Value::kIntValue: s.add_int_values(value.int_value()); break;
          case telpb::Value::kBoolValue: s.add_bool_values(value.bool_value()); break;
          default: s.add_string_values(value.string_value()); break;
        }
      }
    }
    for (auto& [key, s] : series) *request.add_series() = std::move(s);
    return request;
  }

  // Writes `batches` random batches, checks each is accepted whole, and applies them to the model.
  void WriteRound(TelemetryEnv& env, ModelWorld& world, int batches, int points) {
    for (int b = 0; b < batches; ++b) {
      telpb::WriteRequest request = Batch(world, points);
      telpb::WriteResponse response = env.MustWrite(world.tenant.keys.admin_key, request);
      INFO(response.ShortDebugString());
      REQUIRE(response.rejected_points() == 0);
      REQUIRE(response.accepted_points() == points);
      Apply(request, world.model);
    }
  }

 private:
  static constexpr const char* kMetrics[] = {"temp", "count", "on", "state"};

  int64_t Uniform(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  telpb::Value RandomValue(const std::string& metric) {
    if (metric == "temp") {
      // A decimal with 0 to 4 fractional digits within the metric's bounds, sometimes an arbitrary double.
      const int digits = static_cast<int>(Uniform(0, 4));
      const double scale = std::pow(10.0, digits);
      double value = std::round(std::uniform_real_distribution<double>(kTempMin, kTempMax)(rng_) * scale) / scale;
      if (Chance(0.1)) value = std::uniform_real_distribution<double>(kTempMin, kTempMax)(rng_);
      return DoubleValue(std::clamp(value, kTempMin, kTempMax));
    }
    if (metric == "count") {
      return IntValue(Chance(0.5) ? Uniform(-1000, 1000) : Uniform(-(int64_t{1} << 50), int64_t{1} << 50));
    }
    if (metric == "on") return BoolValue(Chance(0.5));
    std::string text;
    const int length = static_cast<int>(Uniform(1, 24));
    for (int i = 0; i < length; ++i) text.push_back(static_cast<char>('a' + Uniform(0, 25)));
    return StringValue(text);
  }

  std::mt19937_64 rng_;
  int batch_counter_ = 0;
  std::vector<Key> used_;
};

uint64_t Seed() {
  std::random_device device;
  return (uint64_t{device()} << 32) | device();
}

// ---------------------------------------------------------------------------------------------------------------

TEST_CASE("telemetry: ReadRange pages through a half-open time range ordered by metric then time", "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("rr", 2);
  TelemetryTenant other = env.CreateTenant("rrx", 1);
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Hours(1), absl::Minutes(1));
  const int64_t t_ms = ToMs(t);
  telpb::WriteRequest request;
  request.set_parent(acme.parent);
  std::vector<std::string> counts, temps;
  for (int i = 24; i >= 0; --i) {  // written newest first
    *request.add_points() = MakePoint(d0, "temp", t + absl::Seconds(i), DoubleValue(i + 0.5));
    *request.add_points() = MakePoint(d0, "count", t + absl::Seconds(i), IntValue(i));
  }
  for (int i = 0; i < 25; ++i) {
    counts.push_back(absl::StrCat(d0, "/count@", t_ms + i * 1000, "=i:", i));
    temps.push_back(absl::StrCat(d0, "/temp@", t_ms + i * 1000, "=", ValueText(DoubleValue(i + 0.5))));
  }
  *request.add_points() = MakePoint(d1, "temp", t, DoubleValue(7));
  env.MustWrite(acme.keys.admin_key, request);
  std::vector<std::string> all = counts;
  all.insert(all.end(), temps.begin(), temps.end());

  auto base_request = [&] {
    telpb::ReadRangeRequest r;
    r.set_parent(acme.parent);
    r.set_device(d0);
    *r.mutable_start_time() = ToProto(t);
    *r.mutable_end_time() = ToProto(t + absl::Minutes(1));
    r.set_page_size(7);
    return r;
  };
  auto call = [&](const telpb::ReadRangeRequest& r, telpb::ReadRangeResponse* response) {
    return env.stub->ReadRange(Context(acme.keys.developer_key).get(), r, response);
  };

  SECTION("pages of 7, in metric then time order") {
    CHECK(PointTexts(env.ReadAll(acme.keys.developer_key, acme.parent, d0, t, t + absl::Minutes(1), {}, 7)) == all);
    telpb::ReadRangeResponse first;
    REQUIRE(call(base_request(), &first).ok());
    CHECK(first.points_size() == 7);
    CHECK_FALSE(first.next_page_token().empty());
  }
  SECTION("page_size 0 means 1,000: one page") {
    telpb::ReadRangeRequest r = base_request();
    r.set_page_size(0);
    telpb::ReadRangeResponse response;
    REQUIRE(call(r, &response).ok());
    CHECK(PointTexts({response.points().begin(), response.points().end()}) == all);
    CHECK(response.next_page_token().empty());
  }
  SECTION("start is inclusive, end exclusive, metrics filter") {
    std::vector<std::string> window(temps.begin() + 5, temps.begin() + 10);
    CHECK(PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t + absl::Seconds(5), t + absl::Seconds(10),
                                 {"temp"})) == window);
    CHECK(PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t + absl::Seconds(5),
                                 t + absl::Seconds(5) + absl::Milliseconds(1), {"count", "temp"})) ==
          std::vector<std::string>{counts[5], temps[5]});
    CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t - absl::Minutes(1), t).empty());
    CHECK(PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, acme.devices[1].identifier(), t,
                                 t + absl::Minutes(1))) ==
          std::vector<std::string>{absl::StrCat(d1, "/temp@", t_ms, "=d:7")});
  }
  SECTION("a page token is bound to its query") {
    telpb::ReadRangeResponse first;
    REQUIRE(call(base_request(), &first).ok());
    REQUIRE_FALSE(first.next_page_token().empty());
    std::vector<std::function<void(telpb::ReadRangeRequest&)>> changes = {
        [&](telpb::ReadRangeRequest& r) { r.set_device(d1); },
        [&](telpb::ReadRangeRequest& r) { *r.mutable_end_time() = ToProto(t + absl::Minutes(2)); },
        [&](telpb::ReadRangeRequest& r) { *r.mutable_start_time() = ToProto(t + absl::Seconds(1)); },
        [&](telpb::ReadRangeRequest& r) { r.add_metrics("temp"); },
        [&](telpb::ReadRangeRequest& r) { r.set_page_token("not-a-token"); },
    };
    for (size_t i = 0; i < changes.size(); ++i) {
      INFO("change " << i);
      telpb::ReadRangeRequest r = base_request();
      r.set_page_token(first.next_page_token());
      changes[i](r);
      telpb::ReadRangeResponse response;
      grpc::Status status = call(r, &response);
      CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
      CHECK(absl::StrContains(status.error_message(), "page_token"));
    }
    // Unchanged, it works; and another tenant cannot use it for a device of the same name.
    telpb::ReadRangeRequest r = base_request();
    r.set_page_token(first.next_page_token());
    telpb::ReadRangeResponse second;
    REQUIRE(call(r, &second).ok());
    CHECK(second.points_size() == 7);
    CHECK(PointText(second.points(0)) == all[7]);
    r.set_parent(other.parent);
    grpc::Status status = env.stub->ReadRange(Context(other.keys.admin_key).get(), r, &second);
    CHECK(((status.error_code() == grpc::INVALID_ARGUMENT) || (status.error_code() == grpc::NOT_FOUND)));
  }
  SECTION("bad requests name the field") {
    struct Case {
      std::function<void(telpb::ReadRangeRequest&)> change;
      std::string field;
    };
    const std::vector<Case> cases = {
        {[](telpb::ReadRangeRequest& r) { r.set_page_size(10001); }, "page_size"},
        {[](telpb::ReadRangeRequest& r) { r.set_page_size(-1); }, "page_size"},
        {[&](telpb::ReadRangeRequest& r) { *r.mutable_end_time() = ToProto(t); }, "end_time"},
        {[&](telpb::ReadRangeRequest& r) { *r.mutable_end_time() = ToProto(t - absl::Seconds(1)); }, "end_time"},
        {[](telpb::ReadRangeRequest& r) { r.clear_end_time(); }, "end_time"},
        {[](telpb::ReadRangeRequest& r) { r.clear_start_time(); }, "start_time"},
        {[](telpb::ReadRangeRequest& r) { r.clear_device(); }, "device"},
        {[](telpb::ReadRangeRequest& r) { r.clear_parent(); }, "parent"},
    };
    for (const auto& c : cases) {
      INFO(c.field);
      telpb::ReadRangeRequest r = base_request();
      c.change(r);
      telpb::ReadRangeResponse response;
      grpc::Status status = call(r, &response);
      CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
      CHECK(absl::StartsWith(status.error_message(), c.field));
    }
    telpb::ReadRangeRequest r = base_request();
    r.set_device("no-such-device");
    telpb::ReadRangeResponse response;
    grpc::Status status = call(r, &response);
    CHECK(status.error_code() == grpc::NOT_FOUND);
    CHECK(absl::StrContains(status.error_message(), "device"));
  }
}

TEST_CASE("telemetry: GetLatest orders by device then metric and survives Redis losing its data",
          "[telemetry][integration]") {
  // This test's server keeps its Redis data in a database of its own, so flushing it disturbs nothing else.
  const std::string redis_url = NewRedisDatabaseUrl();
  ServerConfig config;
  config.redis_url = redis_url;
  TelemetryEnv env(config);
  TelemetryTenant acme = env.CreateTenant("lat", 3);
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  const std::string d2 = acme.devices[2].device_id();  // never written
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(40), absl::Seconds(1));
  const int64_t t_ms = ToMs(t);
  env.MustWrite(acme.keys.admin_key, [&] {
    telpb::WriteRequest r;
    r.set_parent(acme.parent);
    *r.add_points() = MakePoint(d1, "count", t + absl::Seconds(2), IntValue(7));
    *r.add_points() = MakePoint(d0, "temp", t + absl::Seconds(1), DoubleValue(6));
    *r.add_points() = MakePoint(d0, "temp", t, DoubleValue(5));
    *r.add_points() = MakePoint(d0, "state", t, StringValue("a"));
    *r.add_points() = MakePoint(d1, "on", t, BoolValue(true));
    return r;
  }());
  env.MustWrite(acme.keys.admin_key, [&] {  // an older point, written later, is not the latest
    telpb::WriteRequest r;
    r.set_parent(acme.parent);
    *r.add_points() = MakePoint(d1, "count", t + absl::Seconds(1), IntValue(8));
    return r;
  }());

  std::vector<std::string> expected_all = {
      absl::StrCat(d0, "/state@", t_ms, "=s:a"),
      absl::StrCat(d0, "/temp@", t_ms + 1000, "=d:6"),
      absl::StrCat(d1, "/count@", t_ms + 2000, "=i:7"),
      absl::StrCat(d1, "/on@", t_ms, "=b:1"),
  };
  const std::vector<std::string> expected_filtered = {
      absl::StrCat(d0, "/temp@", t_ms + 1000, "=d:6"),
      absl::StrCat(d1, "/count@", t_ms + 2000, "=i:7"),
  };
  auto latest = [&](const std::vector<std::string>& devices, const std::vector<std::string>& metrics) {
    std::vector<std::string> texts;
    const telpb::GetLatestResponse response = env.MustGetLatest(acme.keys.developer_key, acme.parent, devices, metrics);
    for (const auto& value : response.values()) {
      texts.push_back(PointText(value));
    }
    return texts;
  };
  auto check_all = [&](const std::string& when) {
    INFO(when);
    CHECK(latest({d2, d1, d0}, {}) == expected_all);
    CHECK(latest({acme.devices[1].identifier(), d0}, {"temp", "count"}) == expected_filtered);
    CHECK(latest({d2}, {}).empty());
    CHECK(latest({d0}, {"on"}).empty());
  };
  check_all("fresh");

  {
    telpb::GetLatestRequest request;
    request.set_parent(acme.parent);
    telpb::GetLatestResponse response;
    grpc::Status status = env.stub->GetLatest(Context(acme.keys.admin_key).get(), request, &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StrContains(status.error_message(), "devices"));
    for (int i = 0; i < 1001; ++i) request.add_devices(absl::StrCat("dev-", i));
    status = env.stub->GetLatest(Context(acme.keys.admin_key).get(), request, &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StrContains(status.error_message(), "devices"));
  }

  auto redis = RedisClient::Create({.url = redis_url});
  REQUIRE(redis.ok());
  auto flush = [&] { REQUIRE((*redis)->Command({"FLUSHDB"}).ok()); };
  flush();
  check_all("after a Redis flush");

  TestMaintenance maintenance(env.server.clock(), redis_url);
  maintenance.Compact(acme.tenant_id);
  check_all("after compaction");
  flush();
  check_all("after compaction and a Redis flush");

  // A write after the flush must not hide what Redis forgot.
  flush();
  env.MustWrite(acme.keys.admin_key, [&] {
    telpb::WriteRequest r;
    r.set_parent(acme.parent);
    *r.add_points() = MakePoint(d0, "temp", t + absl::Seconds(3), DoubleValue(9));
    return r;
  }());
  expected_all[1] = absl::StrCat(d0, "/temp@", t_ms + 3000, "=d:9");
  CHECK(latest({d0, d1}, {}) == expected_all);
  flush();
  CHECK(latest({d0, d1}, {}) == expected_all);

  // The hashes exist now (rebuilt by that read): writes update them in place, newer or equal times only.
  env.MustWrite(acme.keys.admin_key, [&] {
    telpb::WriteRequest r;
    r.set_parent(acme.parent);
    *r.add_points() = MakePoint(d0, "state", t + absl::Seconds(4), StringValue(std::string("b|\0c", 4)));
    *r.add_points() = MakePoint(d0, "temp", t + absl::Seconds(2), DoubleValue(1));  // older than the stored 9
    *r.add_points() = MakePoint(d1, "count", t + absl::Seconds(2), IntValue(11));    // equal time, later write
    return r;
  }());
  expected_all[0] = absl::StrCat(d0, "/state@", t_ms + 4000, "=s:", std::string("b|\0c", 4));
  expected_all[2] = absl::StrCat(d1, "/count@", t_ms + 2000, "=i:11");
  CHECK(latest({d0, d1}, {}) == expected_all);
}

TEST_CASE("telemetry: Aggregate computes every statistic per epoch-aligned bucket, per device or merged",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("agg", 0);
  env.AddDevice(acme, "sensor", {{"line", "1"}, {"site", "north"}});
  env.AddDevice(acme, "sensor", {{"line", "2"}, {"site", "north"}});
  env.AddDevice(acme, "sensor", {{"line", "1"}, {"site", "south"}});
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  const std::string d2 = acme.devices[2].device_id();
  const absl::Time T = FloorTo(env.Now() - absl::Hours(3), absl::Hours(2));  // aligned to 2 h and so to all below
  const int64_t T_ms = ToMs(T);
  const std::vector<NumericPoint> temps = {
      {d0, T_ms + 1000, 10},  {d0, T_ms + 5000, 20},  {d0, T_ms + 12000, 30}, {d0, T_ms + 65000, -5},
      {d0, T_ms + 3601000, 100}, {d1, T_ms + 2000, 40}, {d1, T_ms + 15000, 50.5}, {d2, T_ms + 3000, 1.25},
  };
  const std::vector<NumericPoint> counts = {{d0, T_ms + 1000, 3}, {d0, T_ms + 2000, 5}, {d0, T_ms + 7201000, 9}};
  telpb::WriteRequest request;
  request.set_parent(acme.parent);
  for (const auto& p : temps) *request.add_points() = MakePointMs(p.device, "temp", p.ms, DoubleValue(p.value));
  for (const auto& p : counts) {
    *request.add_points() = MakePointMs(p.device, "count", p.ms, IntValue(static_cast<int64_t>(p.value)));
  }
  *request.add_points() = MakePointMs(d0, "state", T_ms, StringValue("x"));
  *request.add_points() = MakePointMs(d0, "on", T_ms, BoolValue(true));
  env.MustWrite(acme.keys.admin_key, request);

  const absl::Time end = T + absl::Hours(3);
  auto only = [](const std::vector<NumericPoint>& points, std::vector<std::string> devices) {
    std::vector<NumericPoint> out;
    for (const auto& p : points) {
      if (std::find(devices.begin(), devices.end(), p.device) != devices.end()) out.push_back(p);
    }
    return out;
  };
  auto expect = [&](const telpb::AggregateRequest& r, const std::vector<NumericPoint>& points) {
    INFO(r.ShortDebugString());
    auto response = env.MustAggregate(acme.keys.developer_key, r);
    CheckBuckets(response,
                 ModelBuckets(points, MsOf(r.start_time()), MsOf(r.end_time()), r.bucket().seconds() * 1000,
                              r.per_device()));
    return response;
  };

  // Hand-checked, so the model itself is checked too.
  {
    auto response = env.MustAggregate(acme.keys.admin_key,
                                      MakeAggregate(acme.parent, {d0, d1}, "temp", T, end, absl::Seconds(10), false));
    CHECK(response.source() == telpb::AGGREGATE_SOURCE_RAW);
    REQUIRE(response.buckets_size() == 4);
    const telpb::Bucket& b = response.buckets(0);
    CHECK(MsOf(b.start_time()) == T_ms);
    CHECK(b.device().empty());
    CHECK(b.count() == 3);
    CHECK(b.min() == 10);
    CHECK(b.max() == 40);
    CHECK(b.sum() == 70);
    CHECK(Near(b.avg(), 70.0 / 3));
    CHECK(b.first() == 10);
    CHECK(b.last() == 20);
    CHECK(MsOf(response.buckets(1).start_time()) == T_ms + 10000);
    CHECK(response.buckets(1).sum() == 80.5);
    CHECK(MsOf(response.buckets(2).start_time()) == T_ms + 60000);
    CHECK(MsOf(response.buckets(3).start_time()) == T_ms + 3600000);
  }

  auto check_all = [&](bool compacted) {
    for (const int64_t seconds : {10, 60, 90, 120, 3600, 7200}) {
      INFO("bucket " << seconds << " s, compacted " << compacted);
      const absl::Duration width = absl::Seconds(seconds);
      expect(MakeAggregate(acme.parent, {d0, d1}, "temp", T, end, width, false), only(temps, {d0, d1}));
      auto per_device = expect(MakeAggregate(acme.parent, {d1, d0}, "temp", T, end, width, true),
                               only(temps, {d0, d1}));
      if (compacted) {
        const telpb::AggregateSource source = seconds % 3600 == 0 ? telpb::AGGREGATE_SOURCE_ROLLUP_1H
                                              : seconds % 60 == 0 ? telpb::AGGREGATE_SOURCE_ROLLUP_1M
                                                                  : telpb::AGGREGATE_SOURCE_RAW;
        CHECK(per_device.source() == source);
      } else if (seconds == 10 || seconds == 90) {
        CHECK(per_device.source() == telpb::AGGREGATE_SOURCE_RAW);
      }
      expect(MakeAggregate(acme.parent, {acme.devices[0].identifier()}, "count", T, end, width, false),
             only(counts, {d0}));
      // By labels, and by ids and labels together (a union).
      auto by_site = MakeAggregate(acme.parent, {}, "temp", T, end, width, true);
      (*by_site.mutable_labels())["site"] = "north";
      expect(by_site, only(temps, {d0, d1}));
      auto by_line = MakeAggregate(acme.parent, {}, "temp", T, end, width, true);
      (*by_line.mutable_labels())["line"] = "1";
      expect(by_line, only(temps, {d0, d2}));
      auto both_labels = MakeAggregate(acme.parent, {}, "temp", T, end, width, true);
      (*both_labels.mutable_labels())["line"] = "1";
      (*both_labels.mutable_labels())["site"] = "south";
      expect(both_labels, only(temps, {d2}));
      auto union_request = MakeAggregate(acme.parent, {d1}, "temp", T, end, width, true);
      (*union_request.mutable_labels())["line"] = "1";
      expect(union_request, temps);
      // A start inside a bucket: buckets stay epoch-aligned, points before the start are left out.
      expect(MakeAggregate(acme.parent, {d0, d1, d2}, "temp", T + absl::Seconds(5), end, width, false),
             only(temps, {d0, d1, d2}));
    }
  };
  check_all(false);

  SECTION("bad requests name the field") {
    struct Case {
      telpb::AggregateRequest request;
      std::string field;
    };
    std::vector<Case> cases;
    cases.push_back({MakeAggregate(acme.parent, {d0}, "state", T, end, absl::Seconds(60), false), "metric"});
    cases.push_back({MakeAggregate(acme.parent, {d0}, "on", T, end, absl::Seconds(60), false), "metric"});
    cases.push_back({MakeAggregate(acme.parent, {d0}, "", T, end, absl::Seconds(60), false), "metric"});
    cases.push_back({MakeAggregate(acme.parent, {d0}, "temp", T, end, absl::ZeroDuration(), false), "bucket"});
    {
      auto r = MakeAggregate(acme.parent, {d0}, "temp", T, end, absl::Seconds(1), false);
      r.mutable_bucket()->set_nanos(500000000);
      cases.push_back({r, "bucket"});
      r = MakeAggregate(acme.parent, {d0}, "temp", T, end, absl::Seconds(1), false);
      r.clear_bucket();
      cases.push_back({r, "bucket"});
    }
    cases.push_back({MakeAggregate(acme.parent, {d0}, "temp", T, T, absl::Seconds(60), false), "end_time"});
    {
      auto r = MakeAggregate(acme.parent, {d0}, "temp", T, end, absl::Seconds(60), false);
      r.clear_start_time();
      cases.push_back({r, "start_time"});
    }
    for (const auto& c : cases) {
      INFO(c.request.ShortDebugString() << " should name " << c.field);
      telpb::AggregateResponse response;
      grpc::Status status = env.stub->Aggregate(Context(acme.keys.admin_key).get(), c.request, &response);
      CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
      CHECK(absl::StrContains(status.error_message(), c.field));
    }
    // More than 100,000 buckets.
    telpb::AggregateResponse response;
    grpc::Status status = env.stub->Aggregate(
        Context(acme.keys.admin_key).get(),
        MakeAggregate(acme.parent, {d0}, "temp", T - absl::Hours(48), end, absl::Seconds(1), false), &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
  }
  SECTION("after compaction the rollups answer the same") {
    TestMaintenance maintenance(env.server.clock());
    maintenance.Compact(acme.tenant_id);
    check_all(true);
  }
}

TEST_CASE("telemetry: compaction changes no answer (random data against a last-write-wins model)",
          "[telemetry][integration][property]") {
  const uint64_t seed = Seed();
  INFO("seed " << seed);
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("prop", 4);
  ModelWorld world{env, acme, FloorTo(env.Now() - absl::Hours(4), absl::Hours(1)), absl::Hours(3), {}};
  Generator generator(seed);
  TestMaintenance maintenance(env.server.clock());

  generator.WriteRound(env, world, 6, 400);
  const Snapshot written = world.ReadAndCheck(false);
  const telemetry::CompactionStats stats = maintenance.Compact(acme.tenant_id);
  CHECK(stats.log_rows >= 1);
  const Snapshot compacted = world.ReadAndCheck(true);
  CHECK(compacted == written);

  // A second round over the same, already compacted hours: its overwrites must win.
  generator.WriteRound(env, world, 5, 400);
  const Snapshot rewritten = world.ReadAndCheck(false);
  CHECK_FALSE(rewritten == compacted);
  maintenance.Compact(acme.tenant_id);
  CHECK(world.ReadAndCheck(true) == rewritten);
  // Compacting again with nothing new changes nothing.
  maintenance.Compact(acme.tenant_id);
  CHECK(world.ReadAndCheck(true) == rewritten);
}

TEST_CASE("telemetry: a window's rollups are computed once it settles, and Aggregate answers the same before",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("settle", 2);
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  TestMaintenance maintenance(env.server.clock());
  pqxx::connection owner(SharedDatabase().owner_url());
  auto count = [&](const std::string& sql, int64_t window_ms) {
    pqxx::work work(owner);
    return work.exec_params(sql, acme.tenant_id, window_ms)[0][0].as<int64_t>();
  };
  auto pending_rows = [&](int64_t window_ms) {
    return count("SELECT count(*) FROM telemetry_chunks WHERE tenant_id = $1 AND window_start_ms = $2 "
                 "AND folded_ms IS NOT NULL", window_ms);
  };
  auto minute_rollups = [&](int64_t window_ms) {
    return count("SELECT count(*) FROM telemetry_rollups WHERE tenant_id = $1 AND resolution_s = 60 "
                 "AND window_start_ms = $2", window_ms);
  };
  auto generations = [&](int64_t window_ms) {
    return count("SELECT count(*) FROM telemetry_chunks WHERE tenant_id = $1 AND window_start_ms = $2", window_ms);
  };

  // (device, metric, ms) -> value, last write wins.
  std::map<std::tuple<std::string, std::string, int64_t>, double> model;
  auto write = [&](const std::vector<std::tuple<std::string, std::string, int64_t, double>>& points) {
    telpb::WriteRequest request;
    request.set_parent(acme.parent);
    for (const auto& [device, metric, ms, value] : points) {
      *request.add_points() = MakePointMs(device, metric, ms,
                                          metric == "count" ? IntValue(static_cast<int64_t>(value)) : DoubleValue(value));
      model[{device, metric, ms}] = value;
    }
    env.MustWrite(acme.keys.admin_key, request);
  };
  auto check = [&](int64_t start_ms, int64_t end_ms) {
    for (const std::string metric : {"temp", "count"}) {
      std::vector<NumericPoint> points;
      for (const auto& [key, value] : model) {
        if (std::get<1>(key) == metric) points.push_back({std::get<0>(key), std::get<2>(key), value});
      }
      for (const int64_t width_ms : {int64_t{60000}, int64_t{3600000}}) {
        INFO(metric << " in buckets of " << width_ms << " ms");
        auto response = env.MustAggregate(
            acme.keys.admin_key, MakeAggregate(acme.parent, {d0, d1}, metric, FromMs(start_ms), FromMs(end_ms),
                                               absl::Milliseconds(width_ms), true));
        CheckBuckets(response, ModelBuckets(points, start_ms, end_ms, width_ms, true));
      }
    }
  };

  SECTION("an hour that is over, written in time order over three generations, then rewritten in part") {
    const int64_t hour = ToMs(FloorTo(env.Now() - absl::Hours(3), absl::Hours(1)));
    // 2 devices x 2 metrics x 1,200 s: 4,800 points a part, past the 4,096 below which a generation is extended,
    // so each part is a generation of its own.
    for (int part = 0; part < 3; ++part) {
      std::vector<std::tuple<std::string, std::string, int64_t, double>> points;
      for (const std::string& device : {d0, d1}) {
        for (int64_t second = part * 1200; second < (part + 1) * 1200; ++second) {
          points.emplace_back(device, "temp", hour + second * 1000, (second % 97) * 0.25 - 10);
          points.emplace_back(device, "count", hour + second * 1000, second % 13);
        }
      }
      write(points);
      maintenance->FoldTenant(acme.tenant_id).value();
      // The hour is over and no log row has points in it: settled, so its rollups are there at once.
      CHECK(pending_rows(hour) == 0);
      CHECK(minute_rollups(hour) == 1);
      check(hour - 3600000, hour + 7200000);
    }
    CHECK(generations(hour) == 3);

    // Late points rewriting earlier times of one device (and adding a few): this generation overlaps the others.
    std::vector<std::tuple<std::string, std::string, int64_t, double>> late;
    for (int64_t second = 100; second < 3500; second += 37) late.emplace_back(d0, "temp", hour + second * 1000, 99.5);
    late.emplace_back(d1, "count", hour + 1500, 7);
    write(late);
    maintenance->FoldTenant(acme.tenant_id).value();
    CHECK(generations(hour) == 4);
    CHECK(pending_rows(hour) == 0);
    check(hour - 3600000, hour + 7200000);
  }

  SECTION("the current hour keeps its buckets from raw points until no compaction touched it for a minute") {
    FakeClock& clock = env.server.clock();
    if (clock.Now() - FloorTo(clock.Now(), absl::Hours(1)) < absl::Minutes(2)) clock.Advance(absl::Minutes(2));
    const int64_t hour = ToMs(FloorTo(clock.Now(), absl::Hours(1)));
    const int64_t now = ToMs(clock.Now());
    std::vector<std::tuple<std::string, std::string, int64_t, double>> points;
    for (int64_t ms = now - 90000; ms < now; ms += 1000) {
      if (ms < hour) continue;
      points.emplace_back(d0, "temp", ms, (ms / 1000 % 50) * 0.5);
      points.emplace_back(d1, "count", ms, ms / 1000 % 7);
    }
    write(points);
    maintenance->FoldTenant(acme.tenant_id).value();
    CHECK(pending_rows(hour) == 1);
    CHECK(minute_rollups(hour) == 0);
    check(hour, hour + 3600000);

    clock.Advance(absl::Seconds(30));
    maintenance->FoldTenant(acme.tenant_id).value();
    CHECK(pending_rows(hour) == 1);

    clock.Advance(absl::Seconds(31));
    const telemetry::CompactionStats stats = maintenance->FoldTenant(acme.tenant_id).value();
    CHECK(stats.rollup_windows == 1);
    CHECK(pending_rows(hour) == 0);
    CHECK(minute_rollups(hour) == 1);
    check(hour, hour + 3600000);
    auto response = env.MustAggregate(acme.keys.admin_key, MakeAggregate(acme.parent, {d0}, "temp", FromMs(hour),
                                                                         FromMs(hour + 3600000), absl::Minutes(1),
                                                                         true));
    CHECK(response.source() == telpb::AGGREGATE_SOURCE_ROLLUP_1M);
  }
}

TEST_CASE("telemetry: a compaction that fails half-way changes nothing and the next one doubles nothing",
          "[telemetry][integration]") {
  const uint64_t seed = Seed();
  INFO("seed " << seed);
  const std::string stage = GENERATE(as<std::string>{}, "chunks-written", "rollups-written", "log-deleted");
  INFO("failing at " << stage);
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("crash", 2);
  ModelWorld world{env, acme, FloorTo(env.Now() - absl::Hours(3), absl::Hours(1)), absl::Hours(2), {}};
  Generator generator(seed);
  TestMaintenance maintenance(env.server.clock());

  auto total_points = [&] {
    int64_t points = 0;
    for (const auto& device : acme.devices) {
      points += static_cast<int64_t>(env.ReadAll(acme.keys.admin_key, acme.parent, device.device_id(),
                                                 world.base - absl::Hours(1), world.base + world.span + absl::Hours(1))
                                         .size());
    }
    return points;
  };
  auto aggregate_count = [&](const std::string& metric, absl::Duration width) {
    int64_t count = 0;
    auto response = env.MustAggregate(acme.keys.admin_key, MakeAggregate(acme.parent, world.DeviceIds(), metric,
                                                                         world.base, world.base + world.span, width,
                                                                         false));
    for (const auto& bucket : response.buckets()) count += bucket.count();
    return count;
  };
  auto check_counts = [&] {
    CHECK(total_points() == static_cast<int64_t>(world.model.size()));
    for (const std::string metric : {"temp", "count"}) {
      const auto expected = static_cast<int64_t>(NumericPoints(world.model, metric).size());
      CHECK(aggregate_count(metric, absl::Seconds(10)) == expected);
      CHECK(aggregate_count(metric, absl::Seconds(60)) == expected);
      CHECK(aggregate_count(metric, absl::Seconds(3600)) == expected);
    }
  };

  std::atomic<bool> reached{false};
  telemetry::MaintenanceOptions options;
  options.fault_hook = [&](absl::string_view at) {
    if (at != stage) return absl::OkStatus();
    reached = true;
    return absl::UnavailableError(absl::StrCat("injected crash at ", at));
  };
  TestMaintenance crashing(env.server.clock(), RedisUrl(), options);

  SECTION("the first compaction of the tenant fails") {
    generator.WriteRound(env, world, 3, 300);
    const Snapshot before = world.ReadAndCheck(false);
    CHECK_FALSE(crashing->CompactTenant(acme.tenant_id).ok());
    CHECK(reached);
    CHECK(world.ReadAndCheck(false) == before);
    check_counts();
    maintenance.Compact(acme.tenant_id);
    CHECK(world.ReadAndCheck(true) == before);
    check_counts();
  }
  SECTION("a compaction over already compacted windows fails") {
    generator.WriteRound(env, world, 3, 300);
    maintenance.Compact(acme.tenant_id);
    generator.WriteRound(env, world, 3, 300);
    const Snapshot before = world.ReadAndCheck(false);
    CHECK_FALSE(crashing->CompactTenant(acme.tenant_id).ok());
    CHECK(reached);
    CHECK(world.ReadAndCheck(false) == before);
    check_counts();
    maintenance.Compact(acme.tenant_id);
    CHECK(world.ReadAndCheck(true) == before);
    check_counts();
  }
}

TEST_CASE("telemetry: retention policy defaults, validation and who may change it", "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("retp", 0);
  env.CreateSensorType(acme, "keeper");
  TelemetryTenant other = env.CreateTenant("retpx", 0);
  const std::string name = absl::StrCat(acme.parent, "/retentionPolicy");
  auto get = [&](const std::string& key, const std::string& policy_name) {
    telpb::GetRetentionPolicyRequest request;
    request.set_name(policy_name);
    telpb::RetentionPolicy policy;
    grpc::Status status = env.stub->GetRetentionPolicy(Context(key).get(), request, &policy);
    INFO(status.error_message());
    REQUIRE(status.ok());
    return policy;
  };
  auto update = [&](const std::string& key, const telpb::RetentionPolicy& policy,
                    const std::vector<std::string>& paths, telpb::RetentionPolicy* out) {
    telpb::UpdateRetentionPolicyRequest request;
    *request.mutable_retention_policy() = policy;
    for (const auto& path : paths) request.mutable_update_mask()->add_paths(path);
    return env.stub->UpdateRetentionPolicy(Context(key).get(), request, out);
  };

  const telpb::RetentionPolicy defaults = get(acme.keys.developer_key, name);
  CHECK(defaults.name() == name);
  CHECK(defaults.raw_retention_days() == 90);  // the STANDARD plan's retention_days
  CHECK(defaults.rollup_1m_retention_days() == 90);
  CHECK(defaults.rollup_1h_retention_days() == 730);
  CHECK(defaults.device_type_raw_retention_days().empty());

  telpb::RetentionPolicy out;
  {
    struct Case {
      std::function<void(telpb::RetentionPolicy&)> set;
      std::string path;
      std::string field;
    };
    const std::vector<Case> cases = {
        {[](telpb::RetentionPolicy& p) { p.set_raw_retention_days(0); }, "raw_retention_days", "raw_retention_days"},
        {[](telpb::RetentionPolicy& p) { p.set_raw_retention_days(91); }, "raw_retention_days", "raw_retention_days"},
        {[](telpb::RetentionPolicy& p) { p.set_rollup_1m_retention_days(0); }, "rollup_1m_retention_days",
         "rollup_1m_retention_days"},
        {[](telpb::RetentionPolicy& p) { p.set_rollup_1m_retention_days(3651); }, "rollup_1m_retention_days",
         "rollup_1m_retention_days"},
        {[](telpb::RetentionPolicy& p) { p.set_rollup_1h_retention_days(3651); }, "rollup_1h_retention_days",
         "rollup_1h_retention_days"},
        {[](telpb::RetentionPolicy& p) { (*p.mutable_device_type_raw_retention_days())["keeper"] = 0; },
         "device_type_raw_retention_days", "device_type_raw_retention_days"},
        {[](telpb::RetentionPolicy& p) { (*p.mutable_device_type_raw_retention_days())["keeper"] = 91; },
         "device_type_raw_retention_days", "device_type_raw_retention_days"},
        {[](telpb::RetentionPolicy& p) { p.set_raw_retention_days(5); }, "", "update_mask"},
        {[](telpb::RetentionPolicy& p) { p.set_raw_retention_days(5); }, "name", "update_mask"},
    };
    for (const auto& c : cases) {
      INFO(c.field);
      telpb::RetentionPolicy policy;
      policy.set_name(name);
      c.set(policy);
      grpc::Status status = update(acme.keys.admin_key, policy, c.path.empty() ? std::vector<std::string>{}
                                                                                : std::vector<std::string>{c.path},
                                   &out);
      CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
      CHECK(absl::StrContains(status.error_message(), c.field));
    }
  }
  CHECK(get(acme.keys.admin_key, name).SerializeAsString() == defaults.SerializeAsString());

  telpb::RetentionPolicy change;
  change.set_name(name);
  change.set_raw_retention_days(3);
  (*change.mutable_device_type_raw_retention_days())["keeper"] = 30;
  CHECK(update(acme.keys.developer_key, change, {"raw_retention_days"}, &out).error_code() ==
        grpc::PERMISSION_DENIED);
  CHECK(update(other.keys.admin_key, change, {"raw_retention_days"}, &out).error_code() == grpc::NOT_FOUND);
  {
    telpb::GetRetentionPolicyRequest request;
    request.set_name(name);
    CHECK(env.stub->GetRetentionPolicy(Context(other.keys.admin_key).get(), request, &out).error_code() ==
          grpc::NOT_FOUND);
  }
  CHECK(get(acme.keys.admin_key, name).raw_retention_days() == 90);

  grpc::Status status = update(acme.keys.admin_key, change, {"raw_retention_days", "device_type_raw_retention_days"},
                               &out);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(out.name() == name);
  CHECK(out.raw_retention_days() == 3);
  CHECK(out.device_type_raw_retention_days().at("keeper") == 30);
  CHECK(out.rollup_1m_retention_days() == 90);
  CHECK(out.rollup_1h_retention_days() == 730);
  CHECK(get(acme.keys.developer_key, name).SerializeAsString() == out.SerializeAsString());

  // Only the masked fields change; the park admin may change any tenant's policy.
  telpb::RetentionPolicy partial;
  partial.set_name(name);
  partial.set_raw_retention_days(7);
  partial.set_rollup_1h_retention_days(700);
  status = update(env.server.park_admin_key(), partial, {"rollup_1h_retention_days"}, &out);
  INFO(status.error_message());
  REQUIRE(status.ok());
  const telpb::RetentionPolicy now_policy = get(acme.keys.admin_key, name);
  CHECK(now_policy.raw_retention_days() == 3);
  CHECK(now_policy.rollup_1h_retention_days() == 700);
  CHECK(now_policy.device_type_raw_retention_days().at("keeper") == 30);

  // The other tenant's policy is still the default.
  const telpb::RetentionPolicy theirs = get(other.keys.admin_key, absl::StrCat(other.parent, "/retentionPolicy"));
  CHECK(theirs.raw_retention_days() == 90);
  CHECK(theirs.device_type_raw_retention_days().empty());
}

TEST_CASE("telemetry: retention drops old raw points while rollups keep answering, per type and per tenant",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("ret", 1);  // devices[0]: sensor
  env.CreateSensorType(acme, "keeper");
  env.AddDevice(acme, "keeper");  // devices[1]
  TelemetryTenant other = env.CreateTenant("retx", 1);
  const std::string a0 = acme.devices[0].device_id();
  const std::string a1 = acme.devices[1].device_id();
  const std::string b0 = other.devices[0].device_id();
  const std::string name = absl::StrCat(acme.parent, "/retentionPolicy");

  telpb::UpdateRetentionPolicyRequest update;
  update.mutable_retention_policy()->set_name(name);
  update.mutable_retention_policy()->set_raw_retention_days(3);
  (*update.mutable_retention_policy()->mutable_device_type_raw_retention_days())["keeper"] = 30;
  update.mutable_update_mask()->add_paths("raw_retention_days");
  update.mutable_update_mask()->add_paths("device_type_raw_retention_days");
  telpb::RetentionPolicy policy;
  grpc::Status status = env.stub->UpdateRetentionPolicy(Context(acme.keys.admin_key).get(), update, &policy);
  INFO(status.error_message());
  REQUIRE(status.ok());

  const absl::Time now = env.Now();
  // Writes older than the raw retention of the device's type are refused.
  {
    telpb::WriteRequest old;
    old.set_parent(acme.parent);
    *old.add_points() = MakePoint(a0, "temp", now - absl::Hours(24 * 4), DoubleValue(1));
    *old.add_points() = MakePoint(a1, "temp", now - absl::Hours(24 * 4), DoubleValue(1));
    telpb::WriteResponse response = env.MustWrite(acme.keys.admin_key, old);
    REQUIRE(response.rejections_size() == 1);
    CHECK(response.rejections(0).index() == 0);
    CHECK(response.rejections(0).reason() == telpb::REJECTION_REASON_TIMESTAMP_OUT_OF_RANGE);
    CHECK(response.accepted_points() == 1);
  }

  const absl::Time t = FloorTo(now - absl::Minutes(10), absl::Minutes(1));
  std::vector<NumericPoint> points;
  for (int i = 0; i < 12; ++i) points.push_back({"", ToMs(t) + i * 10000, i * 1.5});
  auto write_all = [&](TelemetryTenant& tenant, const std::vector<std::string>& devices) {
    telpb::WriteRequest request;
    request.set_parent(tenant.parent);
    for (const auto& device : devices) {
      for (const auto& p : points) *request.add_points() = MakePointMs(device, "temp", p.ms, DoubleValue(p.value));
    }
    env.MustWrite(tenant.keys.admin_key, request);
  };
  write_all(acme, {a0, a1});
  write_all(other, {b0});
  TestMaintenance maintenance(env.server.clock());
  maintenance.Compact(acme.tenant_id);
  maintenance.Compact(other.tenant_id);

  auto raw = [&](TelemetryTenant& tenant, const std::string& device) {
    return env.ReadAll(tenant.keys.admin_key, tenant.parent, device, t - absl::Hours(1), t + absl::Hours(1),
                       {"temp"})
        .size();
  };
  // Hour-aligned, so hour buckets can come from the hour rollups whole.
  const absl::Time from = FloorTo(t, absl::Hours(1)) - absl::Hours(1);
  const absl::Time to = from + absl::Hours(3);
  auto aggregate = [&](TelemetryTenant& tenant, const std::string& device, absl::Duration width) {
    return env.MustAggregate(tenant.keys.admin_key,
                             MakeAggregate(tenant.parent, {device}, "temp", from, to, width, false));
  };
  auto expected_buckets = [&](absl::Duration width) {
    return ModelBuckets(points, ToMs(from), ToMs(to), absl::ToInt64Milliseconds(width), false);
  };
  REQUIRE(raw(acme, a0) == 12);
  REQUIRE(raw(acme, a1) == 12);
  REQUIRE(raw(other, b0) == 12);

  auto apply = [&](const std::string& tenant_id, absl::Duration after) {
    auto stats = maintenance->ApplyRetention(tenant_id, now + after);
    INFO(stats.status().ToString());
    REQUIRE(stats.ok());
    return *stats;
  };

  // Five days on: past the sensor type's 3 days, within the keeper type's 30 and the other tenant's 90.
  CHECK(apply(acme.tenant_id, absl::Hours(24 * 5)).chunks_dropped >= 1);
  CHECK(raw(acme, a0) == 0);
  {
    auto minutes = aggregate(acme, a0, absl::Seconds(60));
    CHECK(minutes.source() == telpb::AGGREGATE_SOURCE_ROLLUP_1M);
    CheckBuckets(minutes, expected_buckets(absl::Seconds(60)));
  }
  CHECK(raw(acme, a1) == 12);
  CHECK(raw(other, b0) == 12);
  apply(other.tenant_id, absl::Hours(24 * 5));
  CHECK(raw(other, b0) == 12);
  CheckBuckets(aggregate(other, b0, absl::Seconds(10)), expected_buckets(absl::Seconds(10)));

  // Forty days on: the keeper's raw points go too; the minute rollups (90 days) still answer.
  apply(acme.tenant_id, absl::Hours(24 * 40));
  CHECK(raw(acme, a1) == 0);
  CheckBuckets(aggregate(acme, a1, absl::Seconds(60)), expected_buckets(absl::Seconds(60)));

  // A hundred days on: minute rollups are gone, hour rollups (730 days) remain; the other tenant is untouched.
  apply(acme.tenant_id, absl::Hours(24 * 100));
  CHECK(aggregate(acme, a0, absl::Seconds(60)).buckets_size() == 0);
  {
    auto hours = aggregate(acme, a0, absl::Seconds(3600));
    CHECK(hours.source() == telpb::AGGREGATE_SOURCE_ROLLUP_1H);
    CheckBuckets(hours, expected_buckets(absl::Seconds(3600)));
  }
  CHECK(raw(other, b0) == 12);
  CheckBuckets(aggregate(other, b0, absl::Seconds(60)), expected_buckets(absl::Seconds(60)));
}

TEST_CASE("telemetry: lowering the retention quota caps a stored retention policy at once",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("retcap", 1);
  const std::string name = absl::StrCat(acme.parent, "/retentionPolicy");
  {
    telpb::UpdateRetentionPolicyRequest request;
    request.mutable_retention_policy()->set_name(name);
    request.mutable_retention_policy()->set_raw_retention_days(30);
    (*request.mutable_retention_policy()->mutable_device_type_raw_retention_days())["sensor"] = 20;
    request.mutable_update_mask()->add_paths("raw_retention_days");
    request.mutable_update_mask()->add_paths("device_type_raw_retention_days");
    telpb::RetentionPolicy policy;
    grpc::Status status = env.stub->UpdateRetentionPolicy(Context(acme.keys.admin_key).get(), request, &policy);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(policy.raw_retention_days() == 30);
  }
  // The park admin downgrades the tenant to 7 days.
  tenantpb::UpdateTenantRequest downgrade;
  downgrade.mutable_tenant()->set_name(acme.parent);
  downgrade.mutable_tenant()->mutable_quota()->set_retention_days(7);
  downgrade.mutable_update_mask()->add_paths("quota.retention_days");
  tenantpb::Tenant updated;
  grpc::Status status = env.tenants.stub().UpdateTenant(Context(env.server.park_admin_key()).get(), downgrade, &updated);
  INFO(status.error_message());
  REQUIRE(status.ok());

  telpb::GetRetentionPolicyRequest get;
  get.set_name(name);
  telpb::RetentionPolicy policy;
  REQUIRE(env.stub->GetRetentionPolicy(Context(acme.keys.admin_key).get(), get, &policy).ok());
  CHECK(policy.raw_retention_days() == 7);
  CHECK(policy.device_type_raw_retention_days().at("sensor") == 7);

  // Writes follow the cap (the limits cache lives 2 s): a point 10 days old is refused once it is seen.
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time old = env.Now() - absl::Hours(24 * 10);
  bool refused = false;
  for (int attempt = 0; attempt < 40 && !refused; ++attempt) {
    telpb::WriteRequest request;
    request.set_parent(acme.parent);
    *request.add_points() = MakePoint(d0, "temp", old + absl::Seconds(attempt), DoubleValue(1));
    const telpb::WriteResponse response = env.MustWrite(acme.keys.admin_key, request);
    refused = response.rejections_size() == 1 &&
              response.rejections(0).reason() == telpb::REJECTION_REASON_TIMESTAMP_OUT_OF_RANGE;
    if (!refused) absl::SleepFor(absl::Milliseconds(100));
  }
  CHECK(refused);
}

// Reads a Subscribe stream on a thread of its own until cancelled.
class Subscription {
 public:
  Subscription(telpb::TelemetryService::Stub& stub, const std::string& key, const telpb::SubscribeRequest& request)
      : context_(Context(key)) {
    context_->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    reader_ = stub.Subscribe(context_.get(), request);
    thread_ = std::thread([this] {
      telpb::SubscribeResponse message;
      while (reader_->Read(&message)) {
        std::lock_guard<std::mutex> lock(mu_);
        messages_.push_back(message);
      }
    });
  }
  ~Subscription() { Stop(); }

  grpc::Status Stop() {
    if (thread_.joinable()) {
      context_->TryCancel();
      thread_.join();
      status_ = reader_->Finish();
    }
    return status_;
  }

  std::vector<telpb::SubscribeResponse> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }

  // Waits until some received point satisfies `match`, or `timeout`.
  bool WaitFor(const std::function<bool(const telpb::DataPoint&)>& match, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      for (const auto& message : messages()) {
        for (const auto& point : message.points()) {
          if (match(point)) return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<telpb::SubscribeResponse>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<telpb::SubscribeResponse> messages_;
  grpc::Status status_;
};

TEST_CASE("telemetry: Subscribe streams only the tenant's newly committed points that match the filter",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant a = env.CreateTenant("suba", 2);
  TelemetryTenant b = env.CreateTenant("subb", 1);
  const std::string a0 = a.devices[0].device_id();
  const std::string a1 = a.devices[1].device_id();
  const std::string b0 = b.devices[0].device_id();
  // Writes go through a channel of their own, as from another client.
  auto writer = telpb::TelemetryService::NewStub(
      grpc::CreateChannel(env.server.address(), grpc::InsecureChannelCredentials()));
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(5), absl::Seconds(1));
  int64_t next_ms = ToMs(t);
  auto write = [&](TelemetryTenant& tenant, std::vector<telpb::Point> points) {
    telpb::WriteRequest request;
    request.set_parent(tenant.parent);
    for (auto& point : points) *request.add_points() = std::move(point);
    telpb::WriteResponse response;
    grpc::Status status = writer->Write(Context(tenant.keys.admin_key).get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    REQUIRE(response.rejected_points() == 0);
  };
  // Probes until the subscription sees one: the writing side may take a moment to notice a new subscriber.
  auto establish = [&](Subscription& subscription, TelemetryTenant& tenant, const std::string& device) {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (absl::Now() < give_up) {
      const int64_t ms = next_ms++;
      write(tenant, {MakePointMs(device, "temp", ms, DoubleValue(1))});
      if (subscription.WaitFor([&](const telpb::DataPoint& p) { return p.device() == device; },
                               absl::Milliseconds(200))) {
        return true;
      }
    }
    return false;
  };

  telpb::SubscribeRequest filter;
  filter.set_parent(a.parent);
  filter.add_devices(a0);
  filter.add_metrics("temp");
  Subscription a_sub(*env.stub, a.keys.developer_key, filter);
  telpb::SubscribeRequest everything;
  everything.set_parent(b.parent);
  Subscription b_sub(*env.stub, b.keys.admin_key, everything);

  REQUIRE(establish(a_sub, a, a0));
  REQUIRE(establish(b_sub, b, b0));

  // Points that do not match, alone and mixed with one that does, then one that does.
  write(a, {MakePointMs(a1, "temp", next_ms++, DoubleValue(2))});
  write(a, {MakePointMs(a0, "count", next_ms++, IntValue(3))});
  const int64_t mixed_ms = next_ms++;
  write(a, {MakePointMs(a1, "temp", mixed_ms, DoubleValue(43)), MakePointMs(a0, "temp", mixed_ms, DoubleValue(42.5)),
            MakePointMs(a0, "count", mixed_ms, IntValue(44)), MakePointMs(a0, "state", mixed_ms, StringValue("s"))});
  const int64_t last_ms = next_ms++;
  write(a, {MakePointMs(a0, "temp", last_ms, DoubleValue(77.25))});
  CHECK(a_sub.WaitFor([&](const telpb::DataPoint& p) { return MsOf(p.time()) == last_ms; }, absl::Seconds(10)));
  // b's own points keep flowing to b.
  const int64_t b_ms = next_ms++;
  write(b, {MakePointMs(b0, "count", b_ms, IntValue(5))});
  CHECK(b_sub.WaitFor([&](const telpb::DataPoint& p) { return MsOf(p.time()) == b_ms; }, absl::Seconds(10)));

  const auto a_messages = a_sub.messages();
  bool saw_mixed = false, saw_last = false;
  for (const auto& message : a_messages) {
    CHECK(message.points_size() >= 1);
    for (const auto& point : message.points()) {
      INFO(PointText(point));
      CHECK(point.device() == a0);
      CHECK(point.metric() == "temp");
      if (MsOf(point.time()) == mixed_ms) {
        saw_mixed = true;
        CHECK(ValueText(point.value()) == "d:42.5");
      }
      if (MsOf(point.time()) == last_ms) {
        saw_last = true;
        CHECK(ValueText(point.value()) == "d:77.25");
      }
    }
  }
  CHECK(saw_mixed);
  CHECK(saw_last);
  for (const auto& message : b_sub.messages()) {
    for (const auto& point : message.points()) {
      INFO(PointText(point));
      CHECK(point.device() == b0);
    }
  }

  // Cancelled by the client: the stream ends CANCELLED.
  CHECK(a_sub.Stop().error_code() == grpc::CANCELLED);
  CHECK(b_sub.Stop().error_code() == grpc::CANCELLED);
}

TEST_CASE("telemetry: a subscription on one replica receives points written through another",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("subrep", 1);
  const std::string d0 = acme.devices[0].device_id();
  // A second server on the same PostgreSQL and Redis: another replica.
  TestServer replica(SharedDatabase());
  auto replica_stub = telpb::TelemetryService::NewStub(replica.channel());

  telpb::SubscribeRequest request;
  request.set_parent(acme.parent);
  Subscription subscription(*env.stub, acme.keys.developer_key, request);

  int64_t ms = ToMs(FloorTo(env.Now() - absl::Minutes(5), absl::Seconds(1)));
  bool received = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!received && absl::Now() < give_up) {
    const int64_t this_ms = ms++;
    telpb::WriteRequest write;
    write.set_parent(acme.parent);
    *write.add_points() = MakePointMs(d0, "temp", this_ms, DoubleValue(12.5));
    telpb::WriteResponse response;
    grpc::Status status = replica_stub->Write(Context(acme.keys.admin_key).get(), write, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    REQUIRE(response.accepted_points() == 1);
    received = subscription.WaitFor(
        [&](const telpb::DataPoint& p) {
          return p.device() == d0 && MsOf(p.time()) == this_ms && p.value().double_value() == 12.5;
        },
        absl::Milliseconds(200));
  }
  CHECK(received);
}

}  // namespace
}  // namespace parkbase::testing
