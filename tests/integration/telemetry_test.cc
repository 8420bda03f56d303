// The telemetry write path over gRPC against the real PostgreSQL and Redis, as a client sees it: batches in both
// forms, per-point validation, batch-id dedupe, last-write-wins, the ingest quota, WriteStream, message size limits,
// and tenant isolation down to the SQL rows.
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "google/rpc/error_details.pb.h"
#include "integration/telemetry_env.h"

namespace parkbase::testing {
namespace {

// Every index of every rejection, expanded, with its reason; fails on overlaps and zero counts.
std::map<int64_t, telpb::RejectionReason> ReasonsByIndex(const telpb::WriteResponse& response) {
  std::map<int64_t, telpb::RejectionReason> reasons;
  int64_t previous = -1;
  for (const auto& rejection : response.rejections()) {
    INFO(rejection.ShortDebugString());
    CHECK(rejection.count() >= 1);
    CHECK(rejection.index() > previous);  // in index order
    previous = rejection.index();
    for (int64_t i = rejection.index(); i < rejection.index() + rejection.count(); ++i) {
      CHECK(reasons.count(i) == 0);
      reasons[i] = rejection.reason();
    }
    CHECK_FALSE(rejection.description().empty());
  }
  return reasons;
}

// The rejection that starts at `index`, or an empty one.
telpb::PointRejection RejectionAt(const telpb::WriteResponse& response, int64_t index) {
  for (const auto& rejection : response.rejections()) {
    if (rejection.index() == index) return rejection;
  }
  return {};
}

int64_t SumOfCounts(const telpb::WriteResponse& response) {
  int64_t sum = 0;
  for (const auto& rejection : response.rejections()) sum += rejection.count();
  return sum;
}

telpb::WriteRequest Batch(const std::string& parent, std::vector<telpb::Point> points,
                          const std::string& batch_id = "") {
  telpb::WriteRequest request;
  request.set_parent(parent);
  request.set_batch_id(batch_id);
  for (auto& point : points) *request.add_points() = std::move(point);
  return request;
}

// A series of `n` temp values at `start_ms`, `start_ms + 1`, ...
telpb::Series TempSeries(const std::string& device, int64_t start_ms, int n) {
  telpb::Series series;
  series.set_device(device);
  series.set_metric("temp");
  for (int i = 0; i < n; ++i) {
    series.add_timestamps_ms(start_ms + i);
    series.add_double_values(static_cast<double>(i % 100));
  }
  return series;
}

absl::Duration RetryDelay(const google::rpc::RetryInfo& retry) {
  return absl::Seconds(retry.retry_delay().seconds()) + absl::Nanoseconds(retry.retry_delay().nanos());
}

bool QuotaNamesIngestLimit(const google::rpc::QuotaFailure& quota) {
  for (const auto& violation : quota.violations()) {
    if (absl::StrContains(violation.subject(), "max_ingest_points_per_second") ||
        absl::StrContains(violation.description(), "max_ingest_points_per_second")) {
      return true;
    }
  }
  return false;
}

TEST_CASE("telemetry: a batch in both forms is stored, readable at once, to the millisecond",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("wr", 2);
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  const absl::Time t0 = FloorTo(env.Now() - absl::Minutes(30), absl::Seconds(1));
  const int64_t t0_ms = ToMs(t0);

  telpb::WriteRequest request = Batch(acme.parent, {
                                                       MakePoint(d0, "temp", t0, DoubleValue(21.5)),
                                                       MakePoint(d0, "count", t0, IntValue(7)),
                                                       MakePoint(d0, "on", t0, BoolValue(true)),
                                                       MakePoint(d0, "state", t0, StringValue("running")),
                                                       // sub-millisecond parts are truncated
                                                       MakePoint(d0, "temp", t0 + absl::Nanoseconds(1123456789),
                                                                 DoubleValue(22.25)),
                                                       // a device named by its industrial identifier
                                                       MakePoint(acme.devices[1].identifier(), "temp", t0,
                                                                 DoubleValue(-3.125)),
                                                   });
  auto* counts = request.add_series();
  counts->set_device(d1);
  counts->set_metric("count");
  for (int64_t offset : {2000, 1000, 3000}) counts->add_timestamps_ms(t0_ms + offset);  // any order
  for (int64_t value : {2, 1, 3}) counts->add_int_values(value);
  auto* states = request.add_series();
  states->set_device(acme.devices[1].identifier());
  states->set_metric("state");
  states->add_timestamps_ms(t0_ms);
  states->add_string_values("idle");
  auto* flags = request.add_series();
  flags->set_device(d1);
  flags->set_metric("on");
  flags->add_timestamps_ms(t0_ms + 5);
  flags->add_bool_values(false);

  const absl::Time before_write = env.Now();
  telpb::WriteResponse response = env.MustWrite(acme.keys.developer_key, request);
  const absl::Time after_write = env.Now();
  INFO(response.ShortDebugString());
  // The commit's time, by the server's clock, is in the answer.
  REQUIRE(response.has_commit_time());
  const absl::Time committed = absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(response.commit_time()));
  CHECK(committed >= before_write);
  CHECK(committed <= after_write);
  CHECK(response.accepted_points() == 11);
  CHECK(response.rejected_points() == 0);
  CHECK(response.rejections_size() == 0);
  CHECK_FALSE(response.duplicate());
  CHECK_FALSE(response.has_error());
  CHECK_FALSE(response.batch_id().empty());  // assigned by the server

  const std::vector<std::string> expected_d0 = {
      absl::StrCat(d0, "/count@", t0_ms, "=i:7"),
      absl::StrCat(d0, "/on@", t0_ms, "=b:1"),
      absl::StrCat(d0, "/state@", t0_ms, "=s:running"),
      absl::StrCat(d0, "/temp@", t0_ms, "=d:21.5"),
      absl::StrCat(d0, "/temp@", t0_ms + 1123, "=d:22.25"),
  };
  CHECK(PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t0, t0 + absl::Hours(1))) == expected_d0);
  const std::vector<std::string> expected_d1 = {
      absl::StrCat(d1, "/count@", t0_ms + 1000, "=i:1"),
      absl::StrCat(d1, "/count@", t0_ms + 2000, "=i:2"),
      absl::StrCat(d1, "/count@", t0_ms + 3000, "=i:3"),
      absl::StrCat(d1, "/on@", t0_ms + 5, "=b:0"),
      absl::StrCat(d1, "/state@", t0_ms, "=s:idle"),
      absl::StrCat(d1, "/temp@", t0_ms, "=d:-3.125"),
  };
  // Read by identifier: the points still carry the device's id.
  CHECK(PointTexts(env.ReadAll(acme.keys.developer_key, acme.parent, acme.devices[1].identifier(), t0,
                               t0 + absl::Hours(1))) == expected_d1);
  // The time of a read-back point has no sub-millisecond part.
  auto d0_points = env.ReadAll(acme.keys.admin_key, acme.parent, d0, t0, t0 + absl::Hours(1), {"temp"});
  REQUIRE(d0_points.size() == 2);
  CHECK(d0_points[1].time().nanos() == 123000000);

  telpb::GetLatestResponse latest = env.MustGetLatest(acme.keys.admin_key, acme.parent, {d0, d1});
  std::vector<std::string> latest_texts;
  for (const auto& value : latest.values()) latest_texts.push_back(PointText(value));
  CHECK(latest_texts == std::vector<std::string>{
                            absl::StrCat(d0, "/count@", t0_ms, "=i:7"),
                            absl::StrCat(d0, "/on@", t0_ms, "=b:1"),
                            absl::StrCat(d0, "/state@", t0_ms, "=s:running"),
                            absl::StrCat(d0, "/temp@", t0_ms + 1123, "=d:22.25"),
                            absl::StrCat(d1, "/count@", t0_ms + 3000, "=i:3"),
                            absl::StrCat(d1, "/on@", t0_ms + 5, "=b:0"),
                            absl::StrCat(d1, "/state@", t0_ms, "=s:idle"),
                            absl::StrCat(d1, "/temp@", t0_ms, "=d:-3.125"),
                        });

  // Batches without an id get distinct ones.
  telpb::WriteResponse again = env.MustWrite(acme.keys.admin_key, request);
  CHECK_FALSE(again.batch_id().empty());
  CHECK(again.batch_id() != response.batch_id());
  CHECK_FALSE(again.duplicate());
  CHECK(again.accepted_points() == 11);
  // Stored again, which last-write-wins makes harmless.
  CHECK(PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t0, t0 + absl::Hours(1))) == expected_d0);
}

TEST_CASE("telemetry: parent, batch id and empty batches are checked and refuse the whole batch",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("par", 1);
  TelemetryTenant other = env.CreateTenant("parx", 1);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time t0 = FloorTo(env.Now() - absl::Minutes(5), absl::Seconds(1));
  const std::vector<telpb::Point> points = {MakePoint(d0, "temp", t0, DoubleValue(1.5))};
  auto stored = [&] {
    return env.ReadAll(env.server.park_admin_key(), acme.parent, d0, t0 - absl::Hours(1), t0 + absl::Hours(1)).size();
  };
  telpb::WriteResponse response;

  for (const std::string parent : {"", "tenant/x", "tenants/", "tenants/a/b", "devices/x"}) {
    INFO("parent '" << parent << "'");
    grpc::Status status = env.Write(acme.keys.admin_key, Batch(parent, points), &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "parent"));
  }

  grpc::Status status = env.Write(acme.keys.admin_key, Batch(acme.parent, {}), &response);
  CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(absl::StrContains(status.error_message(), "points"));

  for (const std::string& batch_id : {std::string(129, 'b'), std::string("b\tx"), std::string("b\xc3\xa4tch")}) {
    INFO("batch_id '" << batch_id << "'");
    status = env.Write(acme.keys.admin_key, Batch(acme.parent, points, batch_id), &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "batch_id"));
  }
  // 128 printable characters are fine.
  status = env.Write(acme.keys.admin_key, Batch(acme.parent, points, std::string(127, 'b') + "~"), &response);
  CHECK(status.ok());

  SECTION("another tenant's parent is NOT_FOUND, no key is UNAUTHENTICATED, and nothing is stored") {
    const size_t before = stored();
    status = env.Write(other.keys.admin_key, Batch(acme.parent, {MakePoint(d0, "temp", t0 + absl::Seconds(1),
                                                                           DoubleValue(2))}),
                       &response);
    CHECK(status.error_code() == grpc::NOT_FOUND);
    status = env.Write("", Batch(acme.parent, {MakePoint(d0, "temp", t0 + absl::Seconds(2), DoubleValue(2))}),
                       &response);
    CHECK(status.error_code() == grpc::UNAUTHENTICATED);
    status = env.Write(env.server.park_admin_key(),
                       Batch(Parent(UniqueId("nosuch")), {MakePoint(d0, "temp", t0, DoubleValue(2))}), &response);
    CHECK(status.error_code() == grpc::NOT_FOUND);
    CHECK(stored() == before);
  }
  SECTION("the park admin writes for any tenant by naming it") {
    const size_t before = stored();
    response = env.MustWrite(env.server.park_admin_key(),
                             Batch(acme.parent, {MakePoint(d0, "temp", t0 + absl::Seconds(3), DoubleValue(3))}));
    CHECK(response.accepted_points() == 1);
    CHECK(stored() == before + 1);
  }
}

TEST_CASE("telemetry: invalid points are rejected one by one, naming index, field and reason, and the rest stored",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("val", 3);
  TelemetryTenant other = env.CreateTenant("valx", 1);
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  env.DisableDevice(acme, acme.devices[2]);
  const absl::Time now = env.Now();
  const absl::Time t = FloorTo(now - absl::Minutes(10), absl::Seconds(1));
  const int64_t t_ms = ToMs(t);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  telpb::WriteRequest request;
  request.set_parent(acme.parent);
  std::vector<std::string> expected;  // stored points of d0 and d1, as read back
  struct Bad {
    int64_t index;
    telpb::RejectionReason reason;
    std::string field;  // exact, or a prefix when it ends with '.'
  };
  std::vector<Bad> bad;
  auto add = [&](telpb::Point point) {
    *request.add_points() = std::move(point);
    return static_cast<int64_t>(request.points_size() - 1);
  };
  auto good = [&](const std::string& device, const std::string& metric, int64_t ms, const telpb::Value& value) {
    add(MakePointMs(device, metric, ms, value));
    expected.push_back(absl::StrCat(device, "/", metric, "@", ms, "=", ValueText(value)));
  };
  auto reject = [&](telpb::Point point, telpb::RejectionReason reason, const std::string& field_suffix) {
    const int64_t index = add(std::move(point));
    bad.push_back({index, reason, absl::StrCat("points[", index, "]", field_suffix)});
  };

  good(d0, "temp", t_ms, DoubleValue(20));
  reject(MakePointMs("no-such-device", "temp", t_ms, DoubleValue(1)), telpb::REJECTION_REASON_UNKNOWN_DEVICE,
         ".device");
  reject(MakePointMs(d0, "pressure", t_ms, DoubleValue(1)), telpb::REJECTION_REASON_UNKNOWN_METRIC, ".metric");
  reject(MakePointMs(d0, "temp", t_ms + 1, IntValue(1)), telpb::REJECTION_REASON_WRONG_VALUE_TYPE, ".value");
  reject(MakePointMs(d0, "temp", t_ms + 2, telpb::Value()), telpb::REJECTION_REASON_WRONG_VALUE_TYPE, ".value");
  reject(MakePointMs(d0, "temp", t_ms + 3, DoubleValue(nan)), telpb::REJECTION_REASON_INVALID_VALUE, ".value");
  reject(MakePointMs(d0, "temp", t_ms + 4, DoubleValue(inf)), telpb::REJECTION_REASON_INVALID_VALUE, ".value");
  reject(MakePointMs(d0, "temp", t_ms + 5, DoubleValue(-inf)), telpb::REJECTION_REASON_INVALID_VALUE, ".value");
  reject(MakePointMs(d0, "temp", t_ms + 6, DoubleValue(150.0001)), telpb::REJECTION_REASON_INVALID_VALUE, ".value");
  reject(MakePointMs(d0, "temp", t_ms + 7, DoubleValue(-50.0001)), telpb::REJECTION_REASON_INVALID_VALUE, ".value");
  good(d0, "temp", t_ms + 8, DoubleValue(kTempMax));  // bounds are inclusive
  good(d0, "temp", t_ms + 9, DoubleValue(kTempMin));
  reject(MakePointMs(d0, "state", t_ms + 10, StringValue(std::string(1025, 'x'))),
         telpb::REJECTION_REASON_INVALID_VALUE, ".value");
  good(d0, "state", t_ms + 11, StringValue(std::string(1024, 'y')));
  reject(MakePoint(d0, "temp", now + absl::Minutes(11), DoubleValue(1)), telpb::REJECTION_REASON_TIMESTAMP_IN_FUTURE,
         ".time");
  {
    const int64_t soon = ToMs(now + absl::Minutes(9));
    good(d0, "temp", soon, DoubleValue(9));
  }
  {
    telpb::Point no_time = MakePointMs(d0, "temp", 0, DoubleValue(1));
    no_time.clear_time();
    reject(no_time, telpb::REJECTION_REASON_TIMESTAMP_OUT_OF_RANGE, ".time");
  }
  reject(MakePoint(d0, "temp", absl::UnixEpoch() - absl::Seconds(10), DoubleValue(1)),
         telpb::REJECTION_REASON_TIMESTAMP_OUT_OF_RANGE, ".time");
  // The STANDARD plan keeps raw points 90 days.
  reject(MakePoint(d0, "temp", now - absl::Hours(24 * 91), DoubleValue(1)),
         telpb::REJECTION_REASON_TIMESTAMP_OUT_OF_RANGE, ".time");
  good(d0, "temp", ToMs(FloorTo(now - absl::Hours(24 * 89), absl::Seconds(1))), DoubleValue(89));
  reject(MakePointMs(acme.devices[2].device_id(), "temp", t_ms, DoubleValue(1)),
         telpb::REJECTION_REASON_DEVICE_DISABLED, ".");
  reject(MakePointMs(other.devices[0].device_id(), "temp", t_ms, DoubleValue(1)),
         telpb::REJECTION_REASON_UNKNOWN_DEVICE, ".device");
  reject(MakePointMs(other.devices[0].identifier(), "temp", t_ms, DoubleValue(1)),
         telpb::REJECTION_REASON_UNKNOWN_DEVICE, ".device");
  reject(MakePointMs("88.x/", "temp", t_ms, DoubleValue(1)), telpb::REJECTION_REASON_UNKNOWN_DEVICE, ".device");
  reject(MakePointMs("", "temp", t_ms, DoubleValue(1)), telpb::REJECTION_REASON_UNKNOWN_DEVICE, ".device");
  reject(MakePointMs(d0, "on", t_ms, StringValue("true")), telpb::REJECTION_REASON_WRONG_VALUE_TYPE, ".value");
  reject(MakePointMs(d0, "count", t_ms, DoubleValue(1)), telpb::REJECTION_REASON_WRONG_VALUE_TYPE, ".value");
  good(d0, "count", t_ms, IntValue(-5));
  good(d1, "on", t_ms, BoolValue(true));

  int64_t next = request.points_size();
  // series[0]: one value out of range, the others stored.
  {
    auto* series = request.add_series();
    series->set_device(d1);
    series->set_metric("temp");
    for (int i = 0; i < 3; ++i) series->add_timestamps_ms(t_ms + 100 + i);
    for (double value : {10.0, 200.0, 30.0}) series->add_double_values(value);
    expected.push_back(absl::StrCat(d1, "/temp@", t_ms + 100, "=d:10"));
    expected.push_back(absl::StrCat(d1, "/temp@", t_ms + 102, "=d:30"));
    bad.push_back({next + 1, telpb::REJECTION_REASON_INVALID_VALUE, "series[0].double_values[1]"});
    next += 3;
  }
  // series[1]: an unknown device, rejected whole in one rejection.
  const int64_t unknown_series_index = next;
  {
    auto* series = request.add_series();
    series->set_device("no-such-device");
    series->set_metric("temp");
    for (int i = 0; i < 4; ++i) {
      series->add_timestamps_ms(t_ms + i);
      series->add_double_values(i);
    }
    next += 4;
  }
  // series[2]: fewer values than timestamps; series[3]: two value lists; series[4]: values but no timestamps.
  const int64_t short_series_index = next;
  {
    auto* series = request.add_series();
    series->set_device(d0);
    series->set_metric("count");
    for (int i = 0; i < 3; ++i) series->add_timestamps_ms(t_ms + 200 + i);
    series->add_int_values(1);
    series->add_int_values(2);
    next += 3;
  }
  const int64_t two_lists_index = next;
  {
    auto* series = request.add_series();
    series->set_device(d0);
    series->set_metric("count");
    for (int i = 0; i < 2; ++i) {
      series->add_timestamps_ms(t_ms + 300 + i);
      series->add_int_values(i);
      series->add_double_values(i);
    }
    next += 2;
  }
  const int64_t no_timestamps_index = next;
  {
    auto* series = request.add_series();
    series->set_device(d0);
    series->set_metric("count");
    series->add_int_values(1);
    series->add_int_values(2);
    next += 2;
  }
  // series[5]: one timestamp in the future.
  {
    auto* series = request.add_series();
    series->set_device(d1);
    series->set_metric("temp");
    series->add_timestamps_ms(t_ms + 400);
    series->add_timestamps_ms(ToMs(now + absl::Minutes(20)));
    series->add_double_values(1.25);
    series->add_double_values(2.5);
    expected.push_back(absl::StrCat(d1, "/temp@", t_ms + 400, "=d:1.25"));
    bad.push_back({next + 1, telpb::REJECTION_REASON_TIMESTAMP_IN_FUTURE, "series[5].timestamps_ms[1]"});
    next += 2;
  }
  // series[6]: the wrong value list for a BOOL metric.
  const int64_t wrong_list_index = next;
  {
    auto* series = request.add_series();
    series->set_device(d1);
    series->set_metric("on");
    series->add_timestamps_ms(t_ms + 500);
    series->add_timestamps_ms(t_ms + 501);
    series->add_int_values(1);
    series->add_int_values(0);
    next += 2;
  }
  const int64_t total = next;

  telpb::WriteResponse response = env.MustWrite(acme.keys.admin_key, request);
  INFO(response.ShortDebugString());
  const auto reasons = ReasonsByIndex(response);
  const int64_t rejected = total - static_cast<int64_t>(expected.size());
  CHECK(response.rejected_points() == rejected);
  CHECK(SumOfCounts(response) == rejected);
  CHECK(response.accepted_points() == static_cast<int64_t>(expected.size()));
  CHECK_FALSE(response.rejections_truncated());
  CHECK(static_cast<int64_t>(reasons.size()) == rejected);

  for (const Bad& b : bad) {
    INFO("index " << b.index << " expected " << telpb::RejectionReason_Name(b.reason) << " at " << b.field);
    auto it = reasons.find(b.index);
    REQUIRE(it != reasons.end());
    CHECK(it->second == b.reason);
    const telpb::PointRejection rejection = RejectionAt(response, b.index);
    if (absl::EndsWith(b.field, ".")) {
      CHECK(absl::StartsWith(rejection.field(), b.field.substr(0, b.field.size() - 1)));
    } else {
      CHECK(rejection.field() == b.field);
    }
  }
  {
    INFO("a series of an unknown device is one rejection covering it");
    const telpb::PointRejection rejection = RejectionAt(response, unknown_series_index);
    CHECK(rejection.reason() == telpb::REJECTION_REASON_UNKNOWN_DEVICE);
    CHECK(rejection.count() == 4);
    CHECK(absl::StartsWith(rejection.field(), "series[1]"));
  }
  {
    INFO("malformed series are rejected whole");
    const telpb::PointRejection short_series = RejectionAt(response, short_series_index);
    CHECK(short_series.reason() == telpb::REJECTION_REASON_MALFORMED_SERIES);
    CHECK(short_series.count() == 3);
    CHECK(absl::StartsWith(short_series.field(), "series[2]"));
    const telpb::PointRejection two_lists = RejectionAt(response, two_lists_index);
    CHECK(two_lists.reason() == telpb::REJECTION_REASON_MALFORMED_SERIES);
    CHECK(two_lists.count() == 2);
    CHECK(absl::StartsWith(two_lists.field(), "series[3]"));
    const telpb::PointRejection no_timestamps = RejectionAt(response, no_timestamps_index);
    CHECK(no_timestamps.reason() == telpb::REJECTION_REASON_MALFORMED_SERIES);
    CHECK(no_timestamps.count() == 2);
    CHECK(absl::StartsWith(no_timestamps.field(), "series[4]"));
  }
  {
    INFO("the wrong value list rejects every point of the series");
    for (int64_t i = wrong_list_index; i < wrong_list_index + 2; ++i) {
      auto it = reasons.find(i);
      REQUIRE(it != reasons.end());
      CHECK(it->second == telpb::REJECTION_REASON_WRONG_VALUE_TYPE);
    }
    CHECK(absl::StartsWith(RejectionAt(response, wrong_list_index).field(), "series[6]"));
  }

  // Exactly the valid points were stored.
  std::vector<std::string> stored;
  for (const auto& device : {d0, d1}) {
    for (const auto& text : PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, device,
                                                   now - absl::Hours(24 * 100), now + absl::Hours(1)))) {
      stored.push_back(text);
    }
  }
  std::sort(stored.begin(), stored.end());
  std::sort(expected.begin(), expected.end());
  CHECK(stored == expected);
  CHECK(env.ReadAll(env.server.park_admin_key(), other.parent, other.devices[0].device_id(),
                    now - absl::Hours(24 * 100), now + absl::Hours(1))
            .empty());
}

TEST_CASE("telemetry: a device key writes only its own device and reads nothing", "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("dk", 2);
  const devpb::Device& own = acme.devices[0];
  const std::string sibling = acme.devices[1].device_id();
  const std::string device_key = env.MintDeviceKey(acme, own);
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(2), absl::Seconds(1));

  telpb::WriteResponse response =
      env.MustWrite(device_key, Batch(acme.parent, {
                                                       MakePoint(own.device_id(), "temp", t, DoubleValue(1)),
                                                       MakePoint(sibling, "temp", t, DoubleValue(2)),
                                                       MakePoint(own.identifier(), "count", t, IntValue(3)),
                                                   }));
  INFO(response.ShortDebugString());
  CHECK(response.accepted_points() == 2);
  CHECK(response.rejected_points() == 1);
  REQUIRE(response.rejections_size() == 1);
  CHECK(response.rejections(0).index() == 1);
  CHECK(response.rejections(0).reason() == telpb::REJECTION_REASON_NOT_THIS_DEVICE);
  CHECK(absl::StartsWith(response.rejections(0).field(), "points[1]"));
  CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, own.device_id(), t, t + absl::Minutes(1)).size() == 2);
  CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, sibling, t, t + absl::Minutes(1)).empty());

  {
    telpb::GetLatestRequest request;
    request.set_parent(acme.parent);
    request.add_devices(own.device_id());
    telpb::GetLatestResponse latest;
    CHECK(env.stub->GetLatest(Context(device_key).get(), request, &latest).error_code() ==
          grpc::PERMISSION_DENIED);
  }
  {
    telpb::ReadRangeRequest request;
    request.set_parent(acme.parent);
    request.set_device(own.device_id());
    *request.mutable_start_time() = ToProto(t);
    *request.mutable_end_time() = ToProto(t + absl::Minutes(1));
    telpb::ReadRangeResponse range;
    CHECK(env.stub->ReadRange(Context(device_key).get(), request, &range).error_code() == grpc::PERMISSION_DENIED);
  }
  {
    telpb::AggregateResponse aggregate;
    CHECK(env.stub
              ->Aggregate(Context(device_key).get(),
                          MakeAggregate(acme.parent, {own.device_id()}, "temp", t, t + absl::Minutes(1),
                                        absl::Seconds(10), false),
                          &aggregate)
              .error_code() == grpc::PERMISSION_DENIED);
  }
  {
    telpb::SubscribeRequest request;
    request.set_parent(acme.parent);
    request.add_devices(own.device_id());
    auto context = Context(device_key);
    auto reader = env.stub->Subscribe(context.get(), request);
    telpb::SubscribeResponse message;
    CHECK_FALSE(reader->Read(&message));
    CHECK(reader->Finish().error_code() == grpc::PERMISSION_DENIED);
  }
  {
    telpb::UpdateRetentionPolicyRequest request;
    request.mutable_retention_policy()->set_name(absl::StrCat(acme.parent, "/retentionPolicy"));
    request.mutable_retention_policy()->set_raw_retention_days(5);
    request.mutable_update_mask()->add_paths("raw_retention_days");
    telpb::RetentionPolicy policy;
    CHECK(env.stub->UpdateRetentionPolicy(Context(device_key).get(), request, &policy).error_code() ==
          grpc::PERMISSION_DENIED);
  }

  // Once the device is disabled its key is refused outright.
  env.DisableDevice(acme, own);
  CHECK(env.Write(device_key, Batch(acme.parent, {MakePoint(own.device_id(), "temp", t, DoubleValue(9))}), &response)
            .error_code() == grpc::PERMISSION_DENIED);
  CHECK(PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, own.device_id(), t, t + absl::Minutes(1), {"temp"})) ==
        std::vector<std::string>{absl::StrCat(own.device_id(), "/temp@", ToMs(t), "=d:1")});
}

TEST_CASE("telemetry: a batch sent again with its id is stored once and answered as the first time",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("dup", 1);
  TelemetryTenant other = env.CreateTenant("dupx", 1);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(3), absl::Seconds(1));
  const std::string batch_id = "gateway-7:batch-000001";
  const telpb::WriteRequest request = Batch(acme.parent,
                                            {
                                                MakePoint(d0, "temp", t, DoubleValue(1)),
                                                MakePoint(d0, "temp", t + absl::Seconds(1), DoubleValue(2)),
                                                MakePoint(d0, "nope", t, DoubleValue(3)),
                                                MakePoint(d0, "count", t, IntValue(4)),
                                            },
                                            batch_id);
  const std::vector<std::string> expected = {
      absl::StrCat(d0, "/count@", ToMs(t), "=i:4"),
      absl::StrCat(d0, "/temp@", ToMs(t), "=d:1"),
      absl::StrCat(d0, "/temp@", ToMs(t) + 1000, "=d:2"),
  };
  auto read = [&] { return PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t, t + absl::Hours(1))); };

  const telpb::WriteResponse first = env.MustWrite(acme.keys.admin_key, request);
  CHECK(first.batch_id() == batch_id);
  CHECK_FALSE(first.duplicate());
  CHECK(first.accepted_points() == 3);
  CHECK(first.rejected_points() == 1);
  CHECK(read() == expected);

  CHECK(first.has_commit_time());
  auto check_duplicate = [&](const telpb::WriteResponse& again) {
    INFO(again.ShortDebugString());
    CHECK(again.duplicate());
    CHECK_FALSE(again.has_commit_time());  // this request committed nothing
    CHECK(again.batch_id() == batch_id);
    CHECK(again.accepted_points() == first.accepted_points());
    CHECK(again.rejected_points() == first.rejected_points());
    REQUIRE(again.rejections_size() == first.rejections_size());
    for (int i = 0; i < first.rejections_size(); ++i) {
      CHECK(again.rejections(i).SerializeAsString() == first.rejections(i).SerializeAsString());
    }
  };
  check_duplicate(env.MustWrite(acme.keys.admin_key, request));
  // The same writer reusing the id for other points is refused, and nothing of them is stored.
  telpb::WriteRequest changed = request;
  changed.mutable_points(0)->mutable_value()->set_double_value(99);
  changed.add_points()->CopyFrom(MakePoint(d0, "temp", t + absl::Seconds(5), DoubleValue(5)));
  telpb::WriteResponse refused;
  grpc::Status reused = env.Write(acme.keys.admin_key, changed, &refused);
  CHECK(reused.error_code() == grpc::ALREADY_EXISTS);
  CHECK(absl::StartsWith(reused.error_message(), "batch_id"));
  google::rpc::ErrorInfo reason;
  REQUIRE(FindDetail(reused, &reason));
  CHECK(reason.reason() == "BATCH_ID_REUSED");
  CHECK(read() == expected);

  // After compaction the id is still remembered.
  TestMaintenance maintenance(env.server.clock());
  maintenance.Compact(acme.tenant_id);
  check_duplicate(env.MustWrite(acme.keys.admin_key, request));
  CHECK(env.Write(acme.keys.admin_key, changed, &refused).error_code() == grpc::ALREADY_EXISTS);
  CHECK(read() == expected);

  // Batch ids belong to their tenant: the same id is new for another tenant.
  const telpb::WriteResponse theirs = env.MustWrite(
      other.keys.admin_key,
      Batch(other.parent, {MakePoint(other.devices[0].device_id(), "temp", t, DoubleValue(7))}, batch_id));
  CHECK_FALSE(theirs.duplicate());
  CHECK(theirs.accepted_points() == 1);
}

TEST_CASE("telemetry: batch ids are unique per writer, so two gateways numbering alike lose nothing",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("wrt", 3);
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  const std::string d2 = acme.devices[2].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(3), absl::Seconds(1));
  auto points_of = [&](const std::string& device) {
    return env.ReadAll(acme.keys.admin_key, acme.parent, device, t - absl::Hours(1), t + absl::Hours(1)).size();
  };

  SECTION("two keys: each its own writer") {
    const telpb::WriteResponse first =
        env.MustWrite(acme.keys.admin_key, Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(1))}, "1"));
    const telpb::WriteResponse second =
        env.MustWrite(acme.keys.developer_key, Batch(acme.parent, {MakePoint(d1, "temp", t, DoubleValue(2))}, "1"));
    CHECK_FALSE(first.duplicate());
    CHECK_FALSE(second.duplicate());
    CHECK(points_of(d0) == 1);
    CHECK(points_of(d1) == 1);
  }
  SECTION("one shared key, two named writers") {
    telpb::WriteRequest a = Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(1))}, "7");
    a.set_writer_id("gateway-a");
    telpb::WriteRequest b = Batch(acme.parent, {MakePoint(d1, "temp", t, DoubleValue(2))}, "7");
    b.set_writer_id("gateway-b");
    CHECK_FALSE(env.MustWrite(acme.keys.developer_key, a).duplicate());
    CHECK_FALSE(env.MustWrite(acme.keys.developer_key, b).duplicate());
    CHECK(points_of(d1) == 1);
    // A rotated key of the same gateway keeps its ids: a retry after rotation is a duplicate.
    CHECK(env.MustWrite(acme.keys.admin_key, a).duplicate());
  }
  SECTION("a device key cannot claim another writer's ids nor read their answers") {
    const std::string key0 = env.MintDeviceKey(acme, acme.devices[0]);
    const std::string key2 = env.MintDeviceKey(acme, acme.devices[2]);
    telpb::WriteRequest gateway = Batch(acme.parent, {MakePoint(d1, "nope", t, DoubleValue(1)),
                                                      MakePoint(d1, "temp", t, DoubleValue(1))},
                                        "42");
    gateway.set_writer_id("gateway-a");
    CHECK(env.MustWrite(acme.keys.developer_key, gateway).rejected_points() == 1);
    // The device names the gateway's writer id and batch id: it is still only itself.
    telpb::WriteRequest device = Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(3))}, "42");
    device.set_writer_id("gateway-a");
    const telpb::WriteResponse own = env.MustWrite(key0, device);
    CHECK_FALSE(own.duplicate());
    CHECK(own.rejections_size() == 0);
    CHECK(points_of(d0) == 1);
    // Two devices numbering alike do not collide either.
    const telpb::WriteResponse other =
        env.MustWrite(key2, Batch(acme.parent, {MakePoint(d2, "temp", t, DoubleValue(4))}, "42"));
    CHECK_FALSE(other.duplicate());
    CHECK(points_of(d2) == 1);
  }
  SECTION("writer ids are checked") {
    telpb::WriteRequest bad = Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(1))}, "1");
    bad.set_writer_id("has space");
    telpb::WriteResponse response;
    grpc::Status status = env.Write(acme.keys.admin_key, bad, &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "writer_id"));
  }
}

TEST_CASE("telemetry: the last write of a device, metric and millisecond wins, in and across batches",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("lww", 1);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(20), absl::Seconds(10));
  const int64_t t_ms = ToMs(t);
  auto read = [&] {
    return PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t - absl::Hours(1), t + absl::Hours(1),
                                  {"temp"}));
  };
  auto latest = [&] {
    auto response = env.MustGetLatest(acme.keys.admin_key, acme.parent, {d0}, {"temp"});
    REQUIRE(response.values_size() == 1);
    return PointText(response.values(0));
  };
  auto aggregate_count = [&] {
    auto response = env.MustAggregate(acme.keys.admin_key, MakeAggregate(acme.parent, {d0}, "temp", t - absl::Hours(1),
                                                                         t + absl::Hours(1), absl::Seconds(10),
                                                                         false));
    int64_t count = 0;
    for (const auto& bucket : response.buckets()) count += bucket.count();
    return count;
  };

  env.MustWrite(acme.keys.admin_key, Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(10)),
                                                         MakePoint(d0, "temp", t + absl::Seconds(1), DoubleValue(11))}));
  env.MustWrite(acme.keys.admin_key, Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(12.5))}));
  telpb::WriteRequest mixed = Batch(acme.parent, {
                                                     MakePoint(d0, "temp", t + absl::Seconds(1), DoubleValue(13)),
                                                     MakePoint(d0, "temp", t + absl::Seconds(1), DoubleValue(14)),
                                                     // the same millisecond, finer parts differing
                                                     MakePoint(d0, "temp", t + absl::Microseconds(2000100),
                                                               DoubleValue(1)),
                                                     MakePoint(d0, "temp", t + absl::Microseconds(2000900),
                                                               DoubleValue(2)),
                                                 });
  auto* series = mixed.add_series();  // series come after points in request order
  series->set_device(d0);
  series->set_metric("temp");
  for (int64_t ms : {t_ms + 1000, t_ms + 5000, t_ms + 5000}) series->add_timestamps_ms(ms);
  for (double value : {15.0, 3.0, 4.0}) series->add_double_values(value);
  telpb::WriteResponse response = env.MustWrite(acme.keys.admin_key, mixed);
  CHECK(response.accepted_points() == 7);

  std::vector<std::string> expected = {
      absl::StrCat(d0, "/temp@", t_ms, "=d:12.5"),
      absl::StrCat(d0, "/temp@", t_ms + 1000, "=d:15"),
      absl::StrCat(d0, "/temp@", t_ms + 2000, "=d:2"),
      absl::StrCat(d0, "/temp@", t_ms + 5000, "=d:4"),
  };
  CHECK(read() == expected);
  CHECK(latest() == absl::StrCat(d0, "/temp@", t_ms + 5000, "=d:4"));
  CHECK(aggregate_count() == 4);

  // An older point written later is stored but is not the latest.
  env.MustWrite(acme.keys.admin_key, Batch(acme.parent, {MakePoint(d0, "temp", t - absl::Minutes(1), DoubleValue(99))}));
  expected.insert(expected.begin(), absl::StrCat(d0, "/temp@", t_ms - 60000, "=d:99"));
  CHECK(read() == expected);
  CHECK(latest() == absl::StrCat(d0, "/temp@", t_ms + 5000, "=d:4"));

  TestMaintenance maintenance(env.server.clock());
  maintenance.Compact(acme.tenant_id);
  CHECK(read() == expected);
  CHECK(latest() == absl::StrCat(d0, "/temp@", t_ms + 5000, "=d:4"));
  CHECK(aggregate_count() == 5);

  // Overwrites of compacted points win, before and after the next compaction.
  env.MustWrite(acme.keys.admin_key, Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(33)),
                                                         MakePoint(d0, "temp", t + absl::Seconds(5), DoubleValue(34))}));
  expected[1] = absl::StrCat(d0, "/temp@", t_ms, "=d:33");
  expected[4] = absl::StrCat(d0, "/temp@", t_ms + 5000, "=d:34");
  CHECK(read() == expected);
  CHECK(latest() == absl::StrCat(d0, "/temp@", t_ms + 5000, "=d:34"));
  CHECK(aggregate_count() == 5);
  maintenance.Compact(acme.tenant_id);
  CHECK(read() == expected);
  CHECK(latest() == absl::StrCat(d0, "/temp@", t_ms + 5000, "=d:34"));
  CHECK(aggregate_count() == 5);
}

TEST_CASE("telemetry: the ingest quota refuses a burst whole with QuotaFailure and RetryInfo",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("quo", 1);
  const std::string d0 = acme.devices[0].device_id();
  const int64_t base_ms = ToMs(FloorTo(env.Now() - absl::Minutes(30), absl::Seconds(1)));
  auto stored = [&] {
    return env.ReadAll(acme.keys.admin_key, acme.parent, d0, FromMs(base_ms), FromMs(base_ms) + absl::Hours(1))
        .size();
  };
  auto series_batch = [&](int64_t start_ms, int n) {
    telpb::WriteRequest request;
    request.set_parent(acme.parent);
    *request.add_series() = TempSeries(d0, start_ms, n);
    return request;
  };

  SECTION("a second's worth passes, more at once is refused and stored not at all, then passes after the delay") {
    env.SetIngestQuota(acme.tenant_id, 1000);
    CHECK(env.MustWrite(acme.keys.admin_key, series_batch(base_ms, 1000)).accepted_points() == 1000);

    const telpb::WriteRequest refused = series_batch(base_ms + 1000, 900);
    telpb::WriteResponse response;
    grpc::Status status = env.Write(acme.keys.admin_key, refused, &response);
    REQUIRE(status.error_code() == grpc::RESOURCE_EXHAUSTED);
    google::rpc::QuotaFailure quota;
    REQUIRE(FindDetail(status, &quota));
    CHECK(QuotaNamesIngestLimit(quota));
    google::rpc::RetryInfo retry;
    REQUIRE(FindDetail(status, &retry));
    const absl::Duration delay = RetryDelay(retry);
    CHECK(delay > absl::ZeroDuration());
    CHECK(delay <= absl::Milliseconds(1500));
    CHECK(stored() == 1000);

    // Another tenant's bucket is its own.
    TelemetryTenant other = env.CreateTenant("quox", 1);
    env.SetIngestQuota(other.tenant_id, 1000);
    telpb::WriteRequest theirs;
    theirs.set_parent(other.parent);
    *theirs.add_series() = TempSeries(other.devices[0].device_id(), base_ms, 1000);
    CHECK(env.MustWrite(other.keys.admin_key, theirs).accepted_points() == 1000);

    std::this_thread::sleep_for(absl::ToChronoMilliseconds(delay + absl::Milliseconds(100)));
    CHECK(env.MustWrite(acme.keys.admin_key, refused).accepted_points() == 900);
    CHECK(stored() == 1900);
  }
  SECTION("only valid points count") {
    env.SetIngestQuota(acme.tenant_id, 1000);
    telpb::WriteRequest request = series_batch(base_ms, 1000);
    telpb::Series unknown = TempSeries(d0, base_ms, 3000);
    unknown.set_metric("nope");
    *request.add_series() = unknown;
    telpb::WriteResponse response = env.MustWrite(acme.keys.admin_key, request);
    CHECK(response.accepted_points() == 1000);
    CHECK(response.rejected_points() == 3000);
    // A full second later the bucket is full again only if the 3,000 rejected points were not counted.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    grpc::Status status = env.Write(acme.keys.admin_key, series_batch(base_ms + 1000, 1000), &response);
    INFO(status.error_message());
    CHECK(status.ok());
    CHECK(stored() == 2000);
  }
  SECTION("a batch over a second's worth passes on a full bucket, and later batches wait") {
    env.SetIngestQuota(acme.tenant_id, 100);
    CHECK(env.MustWrite(acme.keys.admin_key, series_batch(base_ms, 300)).accepted_points() == 300);
    telpb::WriteResponse response;
    grpc::Status status = env.Write(acme.keys.admin_key, series_batch(base_ms + 300, 1), &response);
    REQUIRE(status.error_code() == grpc::RESOURCE_EXHAUSTED);
    google::rpc::RetryInfo retry;
    REQUIRE(FindDetail(status, &retry));
    CHECK(RetryDelay(retry) > absl::Seconds(1));  // about two seconds of debt
    google::rpc::QuotaFailure quota;
    REQUIRE(FindDetail(status, &quota));
    CHECK(QuotaNamesIngestLimit(quota));
    status = env.Write(acme.keys.admin_key, series_batch(base_ms + 300, 300), &response);
    CHECK(status.error_code() == grpc::RESOURCE_EXHAUSTED);
    CHECK(stored() == 300);
  }
}

TEST_CASE("telemetry: WriteStream answers every batch in order and stays open after a refused one",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("ws", 1);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(10), absl::Seconds(1));

  SECTION("acks in order, errors in place, the stream goes on") {
    auto context = Context(acme.keys.developer_key);
    auto stream = env.stub->WriteStream(context.get());
    std::vector<telpb::WriteRequest> batches = {
        Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(1))}, "s-1"),
        Batch("", {MakePoint(d0, "temp", t + absl::Seconds(1), DoubleValue(2)), MakePoint(d0, "x", t, IntValue(1))},
              "s-2"),
        Batch("", {MakePoint(d0, "temp", t + absl::Seconds(9), DoubleValue(9))}, ""),  // no batch id
        Batch(acme.parent, {MakePoint(d0, "temp", t, DoubleValue(1))}, "s-1"),          // again
        Batch("", {}, "s-4"),                                                           // empty
        Batch(acme.parent, {MakePoint(d0, "temp", t + absl::Seconds(2), DoubleValue(3))}, "s-5"),
    };
    for (const auto& batch : batches) REQUIRE(stream->Write(batch));
    stream->WritesDone();
    std::vector<telpb::WriteResponse> acks;
    telpb::WriteResponse ack;
    while (stream->Read(&ack)) acks.push_back(ack);
    grpc::Status status = stream->Finish();
    INFO(status.error_message());
    CHECK(status.ok());
    REQUIRE(acks.size() == batches.size());
    CHECK(acks[0].batch_id() == "s-1");
    CHECK(acks[0].accepted_points() == 1);
    CHECK_FALSE(acks[0].has_error());
    CHECK(acks[1].batch_id() == "s-2");
    CHECK(acks[1].accepted_points() == 1);
    CHECK(acks[1].rejected_points() == 1);
    REQUIRE(acks[2].has_error());
    CHECK(acks[2].error().code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StrContains(acks[2].error().message(), "batch_id"));
    CHECK(acks[2].accepted_points() == 0);
    CHECK(acks[3].batch_id() == "s-1");
    CHECK(acks[3].duplicate());
    CHECK(acks[3].accepted_points() == 1);
    REQUIRE(acks[4].has_error());
    CHECK(acks[4].error().code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StrContains(acks[4].error().message(), "points"));
    CHECK(acks[5].batch_id() == "s-5");
    CHECK(acks[5].accepted_points() == 1);
    CHECK_FALSE(acks[5].has_error());
    // Only the batches this stream committed carry their commit's time.
    CHECK(acks[0].has_commit_time());
    CHECK(acks[1].has_commit_time());
    CHECK_FALSE(acks[2].has_commit_time());
    CHECK_FALSE(acks[3].has_commit_time());
    CHECK_FALSE(acks[4].has_commit_time());
    CHECK(acks[5].has_commit_time());

    CHECK(PointTexts(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t, t + absl::Minutes(1))) ==
          std::vector<std::string>{
              absl::StrCat(d0, "/temp@", ToMs(t), "=d:1"),
              absl::StrCat(d0, "/temp@", ToMs(t) + 1000, "=d:2"),
              absl::StrCat(d0, "/temp@", ToMs(t) + 2000, "=d:3"),
          });
  }
  SECTION("a batch over quota is answered RESOURCE_EXHAUSTED with RetryInfo and can be sent again") {
    env.SetIngestQuota(acme.tenant_id, 100);
    auto context = Context(acme.keys.admin_key);
    auto stream = env.stub->WriteStream(context.get());
    telpb::WriteRequest first;
    first.set_parent(acme.parent);
    first.set_batch_id("q-1");
    *first.add_series() = TempSeries(d0, ToMs(t), 100);
    telpb::WriteRequest second;
    second.set_batch_id("q-2");
    *second.add_series() = TempSeries(d0, ToMs(t) + 100, 100);

    telpb::WriteResponse ack;
    REQUIRE(stream->Write(first));
    REQUIRE(stream->Read(&ack));
    CHECK(ack.batch_id() == "q-1");
    CHECK(ack.accepted_points() == 100);
    REQUIRE(stream->Write(second));
    REQUIRE(stream->Read(&ack));
    REQUIRE(ack.has_error());
    CHECK(ack.error().code() == grpc::RESOURCE_EXHAUSTED);
    google::rpc::RetryInfo retry;
    REQUIRE(FindDetail(ack.error(), &retry));
    const absl::Duration delay = RetryDelay(retry);
    CHECK(delay > absl::ZeroDuration());
    CHECK(delay <= absl::Milliseconds(1500));
    google::rpc::QuotaFailure quota;
    CHECK(FindDetail(ack.error(), &quota));
    CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t, t + absl::Minutes(1)).size() == 100);

    std::this_thread::sleep_for(absl::ToChronoMilliseconds(delay + absl::Milliseconds(100)));
    REQUIRE(stream->Write(second));
    REQUIRE(stream->Read(&ack));
    CHECK_FALSE(ack.has_error());
    CHECK_FALSE(ack.duplicate());  // the refused batch was not committed, so its id is new
    CHECK(ack.accepted_points() == 100);
    stream->WritesDone();
    CHECK_FALSE(stream->Read(&ack));
    CHECK(stream->Finish().ok());
    CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, d0, t, t + absl::Minutes(1)).size() == 200);
  }
}

TEST_CASE("telemetry: oversized requests are refused and the channel keeps working", "[telemetry][integration]") {
  SECTION("over the server's message size limit: RESOURCE_EXHAUSTED") {
    ServerConfig config;
    config.max_message_bytes = 1 << 20;
    TelemetryEnv env(config);
    TelemetryTenant acme = env.CreateTenant("big", 1);
    const std::string d0 = acme.devices[0].device_id();
    const int64_t base_ms = ToMs(FloorTo(env.Now() - absl::Minutes(30), absl::Seconds(1)));
    telpb::WriteRequest big;
    big.set_parent(acme.parent);
    *big.add_series() = TempSeries(d0, base_ms, 200000);  // about 2.8 MB
    REQUIRE(big.ByteSizeLong() > (1u << 20));
    telpb::WriteResponse response;
    CHECK(env.Write(acme.keys.admin_key, big, &response).error_code() == grpc::RESOURCE_EXHAUSTED);

    telpb::WriteRequest small;
    small.set_parent(acme.parent);
    *small.add_series() = TempSeries(d0, base_ms, 10);
    CHECK(env.MustWrite(acme.keys.admin_key, small).accepted_points() == 10);
    CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, d0, FromMs(base_ms), FromMs(base_ms) + absl::Hours(1))
              .size() == 10);
  }
  SECTION("over 1,000,000 points: INVALID_ARGUMENT, nothing stored") {
    TelemetryEnv env;
    TelemetryTenant acme = env.CreateTenant("many", 1);
    const std::string d0 = acme.devices[0].device_id();
    const int64_t base_ms = ToMs(FloorTo(env.Now() - absl::Hours(2), absl::Seconds(1)));
    telpb::WriteRequest many;
    many.set_parent(acme.parent);
    auto* series = many.add_series();
    series->set_device(d0);
    series->set_metric("on");
    for (int i = 0; i < 1000001; ++i) {
      series->add_timestamps_ms(base_ms + i);
      series->add_bool_values(i % 2 == 0);
    }
    telpb::WriteResponse response;
    auto context = Context(acme.keys.admin_key);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::Status status = env.stub->Write(context.get(), many, &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, d0, FromMs(base_ms), FromMs(base_ms) + absl::Hours(1),
                      {}, 10)
              .empty());
  }
}

TEST_CASE("telemetry: another tenant's keys get NOT_FOUND for every telemetry RPC and change nothing",
          "[telemetry][integration][isolation]") {
  TelemetryEnv env;
  TelemetryTenant a = env.CreateTenant("isoa", 0);
  env.AddDevice(a, "sensor", {{"zone", "shared"}});
  env.AddDevice(a, "sensor", {{"zone", "shared"}});
  TelemetryTenant b = env.CreateTenant("isob", 0);
  env.AddDevice(b, "sensor", {{"zone", "other"}});
  const std::string a0 = a.devices[0].device_id();
  const std::string a1 = a.devices[1].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(15), absl::Minutes(1));
  env.MustWrite(a.keys.admin_key, Batch(a.parent, {MakePoint(a0, "temp", t, DoubleValue(1)),
                                                   MakePoint(a1, "temp", t, DoubleValue(2)),
                                                   MakePoint(a0, "count", t, IntValue(3))}));
  auto a_points = [&] {
    std::vector<std::string> all;
    for (const auto& device : {a0, a1}) {
      for (auto& text : PointTexts(env.ReadAll(a.keys.admin_key, a.parent, device, t - absl::Hours(1),
                                               t + absl::Hours(1)))) {
        all.push_back(text);
      }
    }
    return all;
  };
  const std::vector<std::string> before = a_points();
  REQUIRE(before.size() == 3);
  const std::string b_device_key = env.MintDeviceKey(b, b.devices[0]);

  for (const std::string& key : {b.keys.admin_key, b.keys.developer_key, b_device_key}) {
    INFO((key == b.keys.admin_key ? "admin" : key == b.keys.developer_key ? "developer" : "device") << " key of b");
    // A device key may read nothing at all, so PERMISSION_DENIED tells it nothing about a either.
    const bool device = key == b_device_key;
    auto refused = [&](grpc::StatusCode code) {
      return code == grpc::NOT_FOUND || (device && code == grpc::PERMISSION_DENIED);
    };
    telpb::WriteResponse written;
    CHECK(env.Write(key, Batch(a.parent, {MakePoint(a0, "temp", t, DoubleValue(66))}), &written).error_code() ==
          grpc::NOT_FOUND);
    CHECK(env.Write(key, Batch(a.parent, {MakePoint(a0, "temp", t, DoubleValue(66))}, "iso-1"), &written)
              .error_code() == grpc::NOT_FOUND);
    {
      auto context = Context(key);
      auto stream = env.stub->WriteStream(context.get());
      stream->Write(Batch(a.parent, {MakePoint(a0, "temp", t, DoubleValue(67))}, "iso-2"));
      stream->WritesDone();
      telpb::WriteResponse ack;
      const bool answered = stream->Read(&ack);
      grpc::Status status = stream->Finish();
      INFO(ack.ShortDebugString() << " / " << status.error_message());
      if (answered) {
        CHECK(ack.error().code() == grpc::NOT_FOUND);
        CHECK(ack.accepted_points() == 0);
      } else {
        CHECK(status.error_code() == grpc::NOT_FOUND);
      }
    }
    {
      telpb::GetLatestRequest request;
      request.set_parent(a.parent);
      request.add_devices(a0);
      telpb::GetLatestResponse latest;
      CHECK(refused(env.stub->GetLatest(Context(key).get(), request, &latest).error_code()));
      CHECK(latest.values_size() == 0);
    }
    {
      telpb::ReadRangeRequest request;
      request.set_parent(a.parent);
      request.set_device(a0);
      *request.mutable_start_time() = ToProto(t - absl::Hours(1));
      *request.mutable_end_time() = ToProto(t + absl::Hours(1));
      telpb::ReadRangeResponse range;
      CHECK(refused(env.stub->ReadRange(Context(key).get(), request, &range).error_code()));
      CHECK(range.points_size() == 0);
    }
    {
      telpb::AggregateResponse aggregate;
      CHECK(refused(env.stub
                        ->Aggregate(Context(key).get(),
                                    MakeAggregate(a.parent, {a0}, "temp", t - absl::Hours(1), t + absl::Hours(1),
                                                  absl::Seconds(60), false),
                                    &aggregate)
                        .error_code()));
      CHECK(aggregate.buckets_size() == 0);
    }
    {
      telpb::SubscribeRequest request;
      request.set_parent(a.parent);
      auto context = Context(key);
      auto reader = env.stub->Subscribe(context.get(), request);
      telpb::SubscribeResponse message;
      CHECK_FALSE(reader->Read(&message));
      CHECK(refused(reader->Finish().error_code()));
    }
    {
      telpb::GetRetentionPolicyRequest request;
      request.set_name(absl::StrCat(a.parent, "/retentionPolicy"));
      telpb::RetentionPolicy policy;
      CHECK(refused(env.stub->GetRetentionPolicy(Context(key).get(), request, &policy).error_code()));
    }
    {
      telpb::UpdateRetentionPolicyRequest request;
      request.mutable_retention_policy()->set_name(absl::StrCat(a.parent, "/retentionPolicy"));
      request.mutable_retention_policy()->set_raw_retention_days(1);
      request.mutable_update_mask()->add_paths("raw_retention_days");
      telpb::RetentionPolicy policy;
      CHECK(refused(env.stub->UpdateRetentionPolicy(Context(key).get(), request, &policy).error_code()));
    }
  }

  // Nothing of a's changed.
  CHECK(a_points() == before);
  {
    telpb::GetRetentionPolicyRequest request;
    request.set_name(absl::StrCat(a.parent, "/retentionPolicy"));
    telpb::RetentionPolicy policy;
    REQUIRE(env.stub->GetRetentionPolicy(Context(a.keys.admin_key).get(), request, &policy).ok());
    CHECK(policy.raw_retention_days() == 90);
  }

  SECTION("under its own parent, b sees a's devices as unknown") {
    telpb::WriteResponse response =
        env.MustWrite(b.keys.admin_key, Batch(b.parent, {MakePoint(a0, "temp", t, DoubleValue(77)),
                                                         MakePoint(a.devices[1].identifier(), "temp", t,
                                                                   DoubleValue(78))}));
    CHECK(response.accepted_points() == 0);
    const auto reasons = ReasonsByIndex(response);
    CHECK(reasons.size() == 2);
    for (const auto& [index, reason] : reasons) CHECK(reason == telpb::REJECTION_REASON_UNKNOWN_DEVICE);
    telpb::WriteRequest series_request;
    series_request.set_parent(b.parent);
    *series_request.add_series() = TempSeries(a1, ToMs(t), 5);
    response = env.MustWrite(b.keys.admin_key, series_request);
    REQUIRE(response.rejections_size() == 1);
    CHECK(response.rejections(0).reason() == telpb::REJECTION_REASON_UNKNOWN_DEVICE);
    CHECK(response.rejections(0).count() == 5);
    CHECK(a_points() == before);

    {
      telpb::GetLatestRequest request;
      request.set_parent(b.parent);
      request.add_devices(a0);
      request.add_devices(a1);
      telpb::GetLatestResponse latest;
      grpc::Status status = env.stub->GetLatest(Context(b.keys.admin_key).get(), request, &latest);
      CHECK((status.ok() || status.error_code() == grpc::NOT_FOUND));
      CHECK(latest.values_size() == 0);
    }
    {
      telpb::ReadRangeRequest request;
      request.set_parent(b.parent);
      request.set_device(a0);
      *request.mutable_start_time() = ToProto(t - absl::Hours(1));
      *request.mutable_end_time() = ToProto(t + absl::Hours(1));
      telpb::ReadRangeResponse range;
      grpc::Status status = env.stub->ReadRange(Context(b.keys.admin_key).get(), request, &range);
      CHECK(status.error_code() == grpc::NOT_FOUND);
      CHECK(absl::StrContains(status.error_message(), "device"));
      CHECK(range.points_size() == 0);
    }
    {
      telpb::AggregateResponse aggregate;
      grpc::Status status = env.stub->Aggregate(
          Context(b.keys.admin_key).get(),
          MakeAggregate(b.parent, {a0}, "temp", t - absl::Hours(1), t + absl::Hours(1), absl::Seconds(60), false),
          &aggregate);
      CHECK(status.error_code() == grpc::NOT_FOUND);
      CHECK(absl::StrContains(status.error_message(), "device"));
      CHECK(aggregate.buckets_size() == 0);
      // Selecting by a's labels finds none of a's devices.
      telpb::AggregateRequest by_labels =
          MakeAggregate(b.parent, {}, "temp", t - absl::Hours(1), t + absl::Hours(1), absl::Seconds(60), true);
      (*by_labels.mutable_labels())["zone"] = "shared";
      status = env.stub->Aggregate(Context(b.keys.admin_key).get(), by_labels, &aggregate);
      CHECK((status.ok() || status.error_code() == grpc::NOT_FOUND));
      CHECK(aggregate.buckets_size() == 0);
    }
  }
  SECTION("the park admin reads a's telemetry by naming a") {
    CHECK(env.ReadAll(env.server.park_admin_key(), a.parent, a0, t - absl::Hours(1), t + absl::Hours(1)).size() ==
          2);
    CHECK(env.MustGetLatest(env.server.park_admin_key(), a.parent, {a0, a1}).values_size() == 3);
  }
}

int64_t CountRows(pqxx::work& work, const std::string& table, const std::string& tenant_id) {
  return work.exec_params(absl::StrCat("SELECT count(*) FROM ", table, " WHERE tenant_id = $1"), tenant_id)[0][0]
      .as<int64_t>();
}

TEST_CASE("telemetry: row-level security hides and protects another tenant's telemetry rows",
          "[telemetry][integration][isolation]") {
  TelemetryEnv env;
  TelemetryTenant a = env.CreateTenant("rlsta", 1);
  TelemetryTenant b = env.CreateTenant("rlstb", 1);
  const std::string a0 = a.devices[0].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(30), absl::Minutes(1));
  env.MustWrite(a.keys.admin_key, Batch(a.parent, {MakePoint(a0, "temp", t, DoubleValue(1))}, "rls-1"));
  TestMaintenance maintenance(env.server.clock());
  maintenance.Compact(a.tenant_id);
  // A batch after compaction, so a has rows in the log as well as in chunks and rollups.
  env.MustWrite(a.keys.admin_key, Batch(a.parent, {MakePoint(a0, "temp", t + absl::Seconds(1), DoubleValue(2))},
                                        "rls-2"));

  const std::vector<std::string> tables = {"telemetry_ingest_log", "telemetry_chunks",        "telemetry_rollups",
                                           "telemetry_batches",    "telemetry_group_members", "telemetry_groups"};
  pqxx::connection service(SharedDatabase().app_url());
  {
    pqxx::work work(service);
    work.exec_params("SELECT set_config('parkbase.tenant_id', $1, true)", a.tenant_id);
    for (const auto& table : tables) {
      INFO(table);
      CHECK(CountRows(work, table, a.tenant_id) > 0);  // the rows exist
    }
  }
  {
    pqxx::work work(service);
    work.exec_params("SELECT set_config('parkbase.tenant_id', $1, true)", b.tenant_id);
    for (const auto& table : tables) {
      INFO(table);
      CHECK(CountRows(work, table, a.tenant_id) == 0);
    }
    CHECK(work.exec_params("DELETE FROM telemetry_chunks WHERE tenant_id = $1", a.tenant_id).affected_rows() == 0);
    CHECK(work.exec_params("UPDATE telemetry_ingest_log SET point_count = 0 WHERE tenant_id = $1", a.tenant_id)
              .affected_rows() == 0);
  }
  {
    pqxx::work work(service);
    work.exec_params("SELECT set_config('parkbase.tenant_id', $1, true)", b.tenant_id);
    CHECK_THROWS_AS(work.exec_params("INSERT INTO telemetry_ingest_log (tenant_id, min_time_ms, max_time_ms, "
                                     "point_count, block) VALUES ($1, 0, 0, 0, ''::bytea)",
                                     a.tenant_id),
                    pqxx::sql_error);
  }
  {
    pqxx::work work(service);
    work.exec_params("SELECT set_config('parkbase.tenant_id', $1, true)", b.tenant_id);
    // The statement is valid (b may insert such a row for itself); only row-level security refuses it.
    CHECK_NOTHROW(work.exec_params("SAVEPOINT own"));
    CHECK_NOTHROW(work.exec_params("INSERT INTO telemetry_chunks (tenant_id, group_id, window_start_ms, "
                                   "generation, device_type_id, min_time_ms, max_time_ms, point_count, block) "
                                   "VALUES ($1, 1, 0, 99, 'sensor', 0, 0, 0, ''::bytea)",
                                   b.tenant_id));
    CHECK_NOTHROW(work.exec_params("ROLLBACK TO SAVEPOINT own"));
    CHECK_THROWS_AS(work.exec_params("INSERT INTO telemetry_chunks (tenant_id, group_id, window_start_ms, "
                                     "generation, device_type_id, min_time_ms, max_time_ms, point_count, block) "
                                     "VALUES ($1, 1, 0, 99, 'sensor', 0, 0, 0, ''::bytea)",
                                     a.tenant_id),
                    pqxx::sql_error);
  }
  // a's data is as written.
  CHECK(PointTexts(env.ReadAll(a.keys.admin_key, a.parent, a0, t, t + absl::Minutes(1))) ==
        std::vector<std::string>{absl::StrCat(a0, "/temp@", ToMs(t), "=d:1"),
                                 absl::StrCat(a0, "/temp@", ToMs(t) + 1000, "=d:2")});
}

TEST_CASE("telemetry: one tenant's undecodable log row stops neither its other work nor other tenants' compaction",
          "[telemetry][integration][isolation]") {
  TelemetryEnv env;
  TelemetryTenant broken = env.CreateTenant("cmpbad", 1);
  TelemetryTenant healthy = env.CreateTenant("cmpok", 1);
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(30), absl::Minutes(1));
  {
    pqxx::connection owner(SharedDatabase().owner_url());
    pqxx::work work(owner);
    work.exec_params("INSERT INTO telemetry_ingest_log (tenant_id, min_time_ms, max_time_ms, point_count, block) "
                     "VALUES ($1, 0, 0, 1, '\\x00ff'::bytea)",
                     broken.tenant_id);
    work.commit();
  }
  const std::string h0 = healthy.devices[0].device_id();
  env.MustWrite(healthy.keys.admin_key, Batch(healthy.parent, {MakePoint(h0, "temp", t, DoubleValue(4))}));

  telemetry::MaintenanceOptions no_wait;
  no_wait.settle = absl::ZeroDuration();
  TestMaintenance maintenance(env.server.clock(), RedisUrl(), no_wait);
  // CompactAll visits every tenant of the shared test database; it reports the broken tenant's failure...
  auto all = maintenance->CompactAll();
  CHECK_FALSE(all.ok());
  // ...but still folded the healthy tenant's log, and left the undecodable row where it was (never dropped).
  pqxx::connection owner(SharedDatabase().owner_url());
  pqxx::work work(owner);
  CHECK(CountRows(work, "telemetry_ingest_log", healthy.tenant_id) == 0);
  CHECK(CountRows(work, "telemetry_chunks", healthy.tenant_id) == 1);
  CHECK(CountRows(work, "telemetry_ingest_log", broken.tenant_id) == 1);
  CHECK(PointTexts(env.ReadAll(healthy.keys.admin_key, healthy.parent, h0, t, t + absl::Minutes(1))) ==
        std::vector<std::string>{absl::StrCat(h0, "/temp@", ToMs(t), "=d:4")});
  // Remove the row so CompactAll in other tests of this database is not affected.
  work.exec_params("DELETE FROM telemetry_ingest_log WHERE tenant_id = $1", broken.tenant_id);
  work.commit();
}

}  // namespace
}  // namespace parkbase::testing
