// Back-pressure on the ingest log (services/telemetry/ingest_backlog.h) against the real PostgreSQL and Redis: with a
// tiny bound and the compactor run only when a test says so, a write past the bound is refused RESOURCE_EXHAUSTED
// with RetryInfo, stores nothing, leaves what was acknowledged readable, and once compaction ran is accepted exactly
// once; the same per WriteStream batch on a stream that stays open; another tenant is not affected.
#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/rpc/error_details.pb.h"
#include "integration/telemetry_env.h"
#include "prometheus/text_serializer.h"
#include "telemetry/maintenance.h"

namespace parkbase::testing {
namespace {

// The bound of these tests: one 100-point batch reaches it.
constexpr int64_t kBound = 100;

ServerConfig WithBound(int64_t max_points) {
  ServerConfig config;
  config.telemetry_backlog_max_points = max_points;
  return config;
}

telpb::WriteRequest TempBatch(const std::string& parent, const std::string& device, int64_t start_ms, int n,
                              const std::string& batch_id) {
  telpb::WriteRequest request;
  request.set_parent(parent);
  request.set_batch_id(batch_id);
  telpb::Series* series = request.add_series();
  series->set_device(device);
  series->set_metric("temp");
  for (int i = 0; i < n; ++i) {
    series->add_timestamps_ms(start_ms + i);
    series->add_double_values(static_cast<double>(i % 100));
  }
  return request;
}

absl::Duration RetryDelay(const google::rpc::RetryInfo& retry) {
  return absl::Seconds(retry.retry_delay().seconds()) + absl::Nanoseconds(retry.retry_delay().nanos());
}

// What a client reading the refusal's details sees: the code, RetryInfo, a QuotaFailure naming the bound and an
// ErrorInfo with the reason.
template <typename AnyStatus>
void CheckBacklogRefusal(int code, const std::string& message, const AnyStatus& status) {
  INFO(message);
  CHECK(code == grpc::RESOURCE_EXHAUSTED);
  CHECK(absl::StrContains(message, "telemetry_backlog_max_points"));
  CHECK(absl::StrContains(message, "not yet compacted"));
  google::rpc::RetryInfo retry;
  REQUIRE(FindDetail(status, &retry));
  CHECK(RetryDelay(retry) == absl::Seconds(1));
  google::rpc::QuotaFailure quota;
  REQUIRE(FindDetail(status, &quota));
  REQUIRE(quota.violations_size() == 1);
  CHECK(absl::StrContains(quota.violations(0).description(), "telemetry_backlog_max_points"));
  CHECK(absl::StartsWith(quota.violations(0).subject(), "tenants/"));
  google::rpc::ErrorInfo info;
  REQUIRE(FindDetail(status, &info));
  CHECK(info.reason() == "INGEST_BACKLOG");
}

int64_t CountRows(const std::string& sql, const std::string& tenant_id, const std::string& batch_id = "") {
  pqxx::connection owner(SharedDatabase().owner_url());
  pqxx::work work(owner);
  if (batch_id.empty()) return work.exec_params(sql, tenant_id)[0][0].as<int64_t>();
  return work.exec_params(sql, tenant_id, batch_id)[0][0].as<int64_t>();
}

int64_t LogRows(const std::string& tenant_id) {
  return CountRows("SELECT count(*) FROM telemetry_ingest_log WHERE tenant_id = $1", tenant_id);
}

int64_t BatchIdRows(const std::string& tenant_id, const std::string& batch_id) {
  return CountRows("SELECT count(*) FROM telemetry_batches WHERE tenant_id = $1 AND batch_id = $2", tenant_id,
                   batch_id);
}

// The value of the sample of `metric` whose labels include every one of `labels`, or 0.
double MetricValue(TestServer& server, const std::string& metric, const std::vector<std::string>& labels) {
  const std::string text = prometheus::TextSerializer().Serialize(server.server().registry().Collect());
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, absl::StrCat(metric, "{"))) continue;
    bool all = true;
    for (const std::string& label : labels) all = all && absl::StrContains(line, label);
    if (!all) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) return value;
  }
  return 0;
}

TEST_CASE("telemetry backpressure: past the backlog bound Write is refused with RetryInfo, stores nothing, and the "
          "same batch is accepted exactly once after compaction",
          "[telemetry][integration][backpressure]") {
  TelemetryEnv env(WithBound(kBound));
  TelemetryTenant acme = env.CreateTenant("bpw", 1);
  TelemetryTenant other = env.CreateTenant("bpo", 1);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time start = FloorTo(env.Now() - absl::Minutes(30), absl::Seconds(1));
  const int64_t base_ms = ToMs(start);
  auto stored = [&] { return env.ReadAll(acme.keys.admin_key, acme.parent, d0, start, start + absl::Hours(1)); };

  // Up to the bound: accepted (a batch is admitted while the backlog is under the bound).
  CHECK(env.MustWrite(acme.keys.admin_key, TempBatch(acme.parent, d0, base_ms, 100, "bp-1")).accepted_points() ==
        100);

  // At the bound: refused whole.
  const telpb::WriteRequest refused = TempBatch(acme.parent, d0, base_ms + 100, 50, "bp-2");
  telpb::WriteResponse response;
  grpc::Status status = env.Write(acme.keys.admin_key, refused, &response);
  CheckBacklogRefusal(status.error_code(), status.error_message(), status);
  CHECK(stored().size() == 100);  // what was acknowledged is all there, the refused batch not at all
  CHECK(LogRows(acme.tenant_id) == 1);
  CHECK(BatchIdRows(acme.tenant_id, "bp-2") == 0);
  CHECK(MetricValue(env.server, "parkbase_telemetry_batches_refused_total",
                    {absl::StrCat("tenant=\"", acme.tenant_id, "\""), "reason=\"ingest_backlog\""}) == 1);

  // Fairness: the bound is per tenant, so another tenant writes on.
  telpb::WriteRequest theirs = TempBatch(other.parent, other.devices[0].device_id(), base_ms, 80, "bp-o1");
  CHECK(env.MustWrite(other.keys.admin_key, theirs).accepted_points() == 80);

  // A fresh sample (the clock moved past the sampling interval) still finds the backlog: refused again.
  env.server.clock().Advance(absl::Seconds(1));
  status = env.Write(acme.keys.admin_key, refused, &response);
  CHECK(status.error_code() == grpc::RESOURCE_EXHAUSTED);
  CHECK(stored().size() == 100);

  // The compactor folds the log; after the retry delay the same batch is accepted, once.
  TestMaintenance maintenance(env.server.clock());
  CHECK(maintenance.Compact(acme.tenant_id).points == 100);
  CHECK(LogRows(acme.tenant_id) == 0);
  env.server.clock().Advance(absl::Seconds(1));
  response = env.MustWrite(acme.keys.admin_key, refused);
  CHECK(response.accepted_points() == 50);
  CHECK_FALSE(response.duplicate());  // the refused attempts left no trace of the batch id
  // Sent again (say, its answer was lost): the first answer, nothing stored twice.
  response = env.MustWrite(acme.keys.admin_key, refused);
  CHECK(response.duplicate());
  CHECK(response.accepted_points() == 50);
  CHECK(LogRows(acme.tenant_id) == 1);
  CHECK(BatchIdRows(acme.tenant_id, "bp-2") == 1);

  const std::vector<telpb::DataPoint> points = stored();
  REQUIRE(points.size() == 150);
  for (size_t i = 0; i < points.size(); ++i) {
    INFO(i);
    CHECK(MsOf(points[i].time()) == base_ms + static_cast<int64_t>(i));
    CHECK(points[i].value().double_value() == static_cast<double>(i % 100));
  }
}

TEST_CASE("telemetry backpressure: a WriteStream batch past the bound is answered with its error, the stream stays "
          "open, and after compaction the batch is accepted",
          "[telemetry][integration][backpressure]") {
  TelemetryEnv env(WithBound(kBound));
  TelemetryTenant acme = env.CreateTenant("bps", 1);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time start = FloorTo(env.Now() - absl::Minutes(30), absl::Seconds(1));
  const int64_t base_ms = ToMs(start);

  auto context = Context(acme.keys.admin_key);
  auto stream = env.stub->WriteStream(context.get());
  telpb::WriteResponse ack;
  REQUIRE(stream->Write(TempBatch(acme.parent, d0, base_ms, 100, "s-1")));
  REQUIRE(stream->Read(&ack));
  CHECK_FALSE(ack.has_error());
  CHECK(ack.accepted_points() == 100);

  const telpb::WriteRequest second = TempBatch("", d0, base_ms + 100, 100, "s-2");
  REQUIRE(stream->Write(second));
  REQUIRE(stream->Read(&ack));
  CHECK(ack.batch_id() == "s-2");
  REQUIRE(ack.has_error());
  CheckBacklogRefusal(ack.error().code(), ack.error().message(), ack.error());
  CHECK(ack.accepted_points() == 0);
  CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, d0, start, start + absl::Hours(1)).size() == 100);

  TestMaintenance maintenance(env.server.clock());
  CHECK(maintenance.Compact(acme.tenant_id).points == 100);
  env.server.clock().Advance(absl::Seconds(1));

  // The same stream: the refused batch again, then a new one.
  REQUIRE(stream->Write(second));
  REQUIRE(stream->Read(&ack));
  CHECK(ack.batch_id() == "s-2");
  CHECK_FALSE(ack.has_error());
  CHECK_FALSE(ack.duplicate());
  CHECK(ack.accepted_points() == 100);
  stream->WritesDone();
  CHECK_FALSE(stream->Read(&ack));
  grpc::Status status = stream->Finish();
  INFO(status.error_message());
  CHECK(status.ok());

  const std::vector<telpb::DataPoint> points =
      env.ReadAll(acme.keys.admin_key, acme.parent, d0, start, start + absl::Hours(1));
  REQUIRE(points.size() == 200);
  for (size_t i = 0; i < points.size(); ++i) CHECK(MsOf(points[i].time()) == base_ms + static_cast<int64_t>(i));
  CHECK(BatchIdRows(acme.tenant_id, "s-2") == 1);
}

TEST_CASE("telemetry backpressure: the backlog gauges follow the log and another tenant's backlog refuses nothing",
          "[telemetry][integration][backpressure]") {
  TelemetryEnv env(WithBound(kBound));
  TelemetryTenant busy = env.CreateTenant("bpb", 1);
  TelemetryTenant quiet = env.CreateTenant("bpq", 1);
  const int64_t base_ms = ToMs(FloorTo(env.Now() - absl::Minutes(30), absl::Seconds(1)));
  const std::string busy_label = absl::StrCat("tenant=\"", busy.tenant_id, "\"");

  // The busy tenant passes its bound several times over across its batches' refusals.
  env.MustWrite(busy.keys.admin_key, TempBatch(busy.parent, busy.devices[0].device_id(), base_ms, 150, "b-1"));
  for (int i = 0; i < 3; ++i) {
    telpb::WriteResponse response;
    grpc::Status status =
        env.Write(busy.keys.admin_key,
                  TempBatch(busy.parent, busy.devices[0].device_id(), base_ms + 150 + i, 1, absl::StrCat("b-r", i)),
                  &response);
    CHECK(status.error_code() == grpc::RESOURCE_EXHAUSTED);
    env.server.clock().Advance(absl::Seconds(1));  // each refusal checks a fresh sample
  }
  CHECK(MetricValue(env.server, "parkbase_telemetry_ingest_backlog_points", {busy_label}) == 150);
  CHECK(MetricValue(env.server, "parkbase_telemetry_ingest_backlog_rows", {busy_label}) == 1);
  CHECK(MetricValue(env.server, "parkbase_telemetry_batches_refused_total", {busy_label, "ingest_backlog"}) == 3);
  const std::string text = prometheus::TextSerializer().Serialize(env.server.server().registry().Collect());
  CHECK(absl::StrContains(text, "parkbase_telemetry_ingest_backlog_max_points 100"));

  // The quiet tenant, under its own bound, writes batch after batch while the busy one is refused.
  for (int i = 0; i < 3; ++i) {
    CHECK(env.MustWrite(quiet.keys.admin_key, TempBatch(quiet.parent, quiet.devices[0].device_id(),
                                                        base_ms + i * 30, 30, absl::StrCat("q-", i)))
              .accepted_points() == 30);
  }
  // 90 points: still under 100. One more takes it to 120, past the bound: its next batch is refused too.
  env.MustWrite(quiet.keys.admin_key, TempBatch(quiet.parent, quiet.devices[0].device_id(), base_ms + 90, 30, "q-3"));
  telpb::WriteResponse response;
  CHECK(env.Write(quiet.keys.admin_key,
                  TempBatch(quiet.parent, quiet.devices[0].device_id(), base_ms + 120, 1, "q-4"), &response)
            .error_code() == grpc::RESOURCE_EXHAUSTED);

  // Compaction of the busy tenant lets it go and leaves the quiet one refused: the bound is each tenant's own.
  TestMaintenance maintenance(env.server.clock());
  maintenance.Compact(busy.tenant_id);
  env.server.clock().Advance(absl::Seconds(1));
  CHECK(env.MustWrite(busy.keys.admin_key,
                      TempBatch(busy.parent, busy.devices[0].device_id(), base_ms + 150, 1, "b-r0"))
            .accepted_points() == 1);
  // Sampled at 0 before that batch committed; a background sample since may have seen the batch.
  CHECK(MetricValue(env.server, "parkbase_telemetry_ingest_backlog_points", {busy_label}) <= 1);
  CHECK(env.Write(quiet.keys.admin_key,
                  TempBatch(quiet.parent, quiet.devices[0].device_id(), base_ms + 120, 1, "q-4"), &response)
            .error_code() == grpc::RESOURCE_EXHAUSTED);
}

TEST_CASE("telemetry backpressure: a pass's worth of batches committed on a replica is folded at once, not at the "
          "compactor's next interval",
          "[telemetry][integration][backpressure]") {
  ServerConfig config;
  config.telemetry_compaction_interval = absl::Hours(1);  // the timer never fires during the test
  TelemetryEnv env(config);
  TelemetryTenant acme = env.CreateTenant("pass", 1);
  const std::string d0 = acme.devices[0].device_id();
  const absl::Time start = FloorTo(env.Now() - absl::Minutes(30), absl::Seconds(1));
  const int64_t base_ms = ToMs(start);
  constexpr int kPoints = 10;
  auto write = [&](int i) {
    CHECK(env.MustWrite(acme.keys.admin_key, TempBatch(acme.parent, d0, base_ms + i * kPoints, kPoints,
                                                       absl::StrCat("pass-", i)))
              .accepted_points() == kPoints);
  };

  // One batch short of a pass: it waits for the interval (or for the log to be due on another replica's timer).
  for (int i = 0; i + 1 < telemetry::kLogRowsPerPass; ++i) write(i);
  absl::SleepFor(absl::Milliseconds(500));
  CHECK(LogRows(acme.tenant_id) == telemetry::kLogRowsPerPass - 1);

  // The pass's last batch: the runner folds the tenant's log within moments.
  write(telemetry::kLogRowsPerPass - 1);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (LogRows(acme.tenant_id) > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  CHECK(LogRows(acme.tenant_id) == 0);
  CHECK(env.ReadAll(acme.keys.admin_key, acme.parent, d0, start, start + absl::Hours(1)).size() ==
        static_cast<size_t>(telemetry::kLogRowsPerPass * kPoints));
}

}  // namespace
}  // namespace parkbase::testing
