// Subscribe's in-process fan-out (telemetry/live_hub.h): a tenant's subscribers on one replica share one Redis
// reader, which decodes each committed block once; every subscriber still receives what it may see, and nothing of
// another tenant; subscribers that receive the same points share one serialised response; a subscriber that falls
// behind is ended with RESOURCE_EXHAUSTED instead of silently losing points or slowing the others.
#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "integration/telemetry_env.h"
#include "prometheus/metric_family.h"

namespace parkbase::testing {
namespace {

// The value of a metric without labels (0 when absent).
double MetricValue(TelemetryEnv& env, const std::string& name) {
  for (const prometheus::MetricFamily& family : env.server.server().registry().Collect()) {
    if (family.name != name || family.metric.empty()) continue;
    const prometheus::ClientMetric& metric = family.metric.front();
    return family.type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value;
  }
  return 0;
}

bool WaitFor(absl::Duration limit, const std::function<bool()>& done) {
  const absl::Time give_up = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

// A subscription read on a thread of its own; `live` once the server said it is joined (its initial metadata).
struct LiveClient {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<telpb::SubscribeResponse>> reader;
  std::thread thread;
  std::atomic<bool> live{false};
  std::atomic<bool> ended{false};
  std::atomic<bool> reading;
  absl::Mutex mu;
  std::vector<telpb::DataPoint> points ABSL_GUARDED_BY(mu);
  grpc::Status status;

  LiveClient(telpb::TelemetryService::Stub& stub, const std::string& key, const telpb::SubscribeRequest& request,
             bool read = true)
      : reading(read) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    reader = stub.Subscribe(&context, request);
    thread = std::thread([this] {
      reader->WaitForInitialMetadata();
      live = true;
      while (!reading) absl::SleepFor(absl::Milliseconds(10));
      telpb::SubscribeResponse message;
      while (reader->Read(&message)) {
        absl::MutexLock lock(&mu);
        for (const auto& point : message.points()) points.push_back(point);
      }
      status = reader->Finish();
      ended = true;
    });
  }
  ~LiveClient() {
    context.TryCancel();
    reading = true;
    thread.join();
  }
  std::vector<telpb::DataPoint> received() {
    absl::MutexLock lock(&mu);
    return points;
  }
};

telpb::SubscribeRequest SubscribeTo(const std::string& parent, const std::vector<std::string>& devices = {}) {
  telpb::SubscribeRequest request;
  request.set_parent(parent);
  for (const std::string& device : devices) request.add_devices(device);
  return request;
}

TEST_CASE("live fan-out: 200 subscribers of one tenant share one Redis reader, which decodes each block once",
          "[telemetry][integration]") {
  ServerConfig config;
  config.max_streams_per_key = 1000;
  config.max_streams_per_tenant = 1000;
  TelemetryEnv env(config);
  TelemetryTenant acme = env.CreateTenant("fan", 2);
  const std::string d0 = acme.devices[0].device_id();
  const std::string d1 = acme.devices[1].device_id();
  CHECK(MetricValue(env, "parkbase_telemetry_live_readers") == 0);

  constexpr int kSubscribers = 200;
  std::vector<std::unique_ptr<LiveClient>> clients;
  for (int i = 0; i < kSubscribers; ++i) {
    // Half follow the whole tenant, half one device each (subscriber 1 names its device twice, and must still get
    // each point once): all are served by the same reader.
    telpb::SubscribeRequest request = i % 2 == 0 ? SubscribeTo(acme.parent)
                                      : i == 1   ? SubscribeTo(acme.parent, {d0, d0})
                                                 : SubscribeTo(acme.parent, {i % 4 == 1 ? d0 : d1});
    clients.push_back(std::make_unique<LiveClient>(*env.stub, acme.keys.developer_key, request));
  }
  REQUIRE(WaitFor(absl::Seconds(20), [&] {
    for (const auto& client : clients) {
      if (!client->live) return false;
    }
    return true;
  }));
  CHECK(MetricValue(env, "parkbase_telemetry_live_readers") == 1);
  CHECK(MetricValue(env, "parkbase_telemetry_live_subscribers") == kSubscribers);
  CHECK(env.server.server().streams().open() == kSubscribers);

  // Writers learn within half a second that the tenant has subscribers; then one batch of two points.
  absl::SleepFor(absl::Milliseconds(600));
  const double decoded_before = MetricValue(env, "parkbase_telemetry_live_blocks_decoded_total");
  const double serialized_before = MetricValue(env, "parkbase_telemetry_live_responses_serialized_total");
  const double responses_before = MetricValue(env, "parkbase_telemetry_live_responses_total");
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(1), absl::Seconds(1));
  telpb::WriteRequest write;
  write.set_parent(acme.parent);
  *write.add_points() = MakePoint(d0, "temp", t, DoubleValue(21.5));
  *write.add_points() = MakePoint(d1, "temp", t, DoubleValue(22.5));
  env.MustWrite(acme.keys.developer_key, write);

  REQUIRE(WaitFor(absl::Seconds(10), [&] {
    for (int i = 0; i < kSubscribers; ++i) {
      if (clients[i]->received().size() < (i % 2 == 0 ? 2u : 1u)) return false;
    }
    return true;
  }));
  for (int i = 0; i < kSubscribers; ++i) {
    const std::vector<telpb::DataPoint> points = clients[i]->received();
    INFO("subscriber " << i);
    if (i % 2 == 0) {
      REQUIRE(points.size() == 2);
    } else {
      REQUIRE(points.size() == 1);
      CHECK(points[0].device() == (i % 4 == 1 ? d0 : d1));
      CHECK(points[0].value().double_value() == (i % 4 == 1 ? 21.5 : 22.5));
    }
  }
  // One block, decoded once for all 200.
  CHECK(MetricValue(env, "parkbase_telemetry_live_blocks_decoded_total") - decoded_before == 1);
  // 200 responses, serialised once per distinct choice of points: the whole block (100 subscribers), d0's point
  // (50, subscriber 1 with d0 named twice among them) and d1's (50). Each client parsed its own copy of the bytes.
  CHECK(MetricValue(env, "parkbase_telemetry_live_responses_total") - responses_before == kSubscribers);
  CHECK(MetricValue(env, "parkbase_telemetry_live_responses_serialized_total") - serialized_before == 3);
  CHECK(MetricValue(env, "parkbase_telemetry_live_readers") == 1);

  // Once the tenant has no subscriber left, its reader stops.
  for (auto& client : clients) client->context.TryCancel();
  clients.clear();
  CHECK(WaitFor(absl::Seconds(3), [&] { return MetricValue(env, "parkbase_telemetry_live_readers") == 0; }));
  CHECK(WaitFor(absl::Seconds(3), [&] { return env.server.server().streams().open() == 0; }));
}

TEST_CASE("live fan-out: a subscriber of one tenant never receives another tenant's points",
          "[telemetry][integration]") {
  ServerConfig config;
  config.max_streams_per_key = 100;
  config.max_streams_per_tenant = 100;
  TelemetryEnv env(config);
  TelemetryTenant a = env.CreateTenant("fana", 2);
  TelemetryTenant b = env.CreateTenant("fanb", 2);
  std::vector<std::unique_ptr<LiveClient>> of_a;
  std::vector<std::unique_ptr<LiveClient>> of_b;
  for (int i = 0; i < 10; ++i) {
    of_a.push_back(std::make_unique<LiveClient>(*env.stub, a.keys.developer_key, SubscribeTo(a.parent)));
    of_b.push_back(std::make_unique<LiveClient>(*env.stub, b.keys.developer_key, SubscribeTo(b.parent)));
  }
  // The park admin follows tenant a only: it names a, so it gets a's feed.
  of_a.push_back(std::make_unique<LiveClient>(*env.stub, env.server.park_admin_key(), SubscribeTo(a.parent)));
  REQUIRE(WaitFor(absl::Seconds(10), [&] {
    for (const auto* group : {&of_a, &of_b}) {
      for (const auto& client : *group) {
        if (!client->live) return false;
      }
    }
    return true;
  }));
  CHECK(MetricValue(env, "parkbase_telemetry_live_readers") == 2);
  absl::SleepFor(absl::Milliseconds(600));

  // Both tenants write, interleaved; b writes far more.
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(2), absl::Seconds(1));
  for (int round = 0; round < 5; ++round) {
    telpb::WriteRequest to_b;
    to_b.set_parent(b.parent);
    for (int i = 0; i < 20; ++i) {
      *to_b.add_points() =
          MakePoint(b.devices[i % 2].device_id(), "temp", t + absl::Seconds(round * 20 + i), DoubleValue(99));
    }
    env.MustWrite(b.keys.developer_key, to_b);
    telpb::WriteRequest to_a;
    to_a.set_parent(a.parent);
    *to_a.add_points() = MakePoint(a.devices[round % 2].device_id(), "temp", t + absl::Seconds(round), DoubleValue(1));
    env.MustWrite(a.keys.developer_key, to_a);
  }
  REQUIRE(WaitFor(absl::Seconds(10), [&] {
    for (const auto& client : of_a) {
      if (client->received().size() < 5) return false;
    }
    for (const auto& client : of_b) {
      if (client->received().size() < 100) return false;
    }
    return true;
  }));
  absl::SleepFor(absl::Milliseconds(300));  // anything wrongly fanned out would have arrived by now
  auto owned_by = [](const TelemetryTenant& tenant, const std::string& device) {
    for (const auto& own : tenant.devices) {
      if (own.device_id() == device) return true;
    }
    return false;
  };
  for (const auto& client : of_a) {
    const std::vector<telpb::DataPoint> points = client->received();
    CHECK(points.size() == 5);
    for (const auto& point : points) {
      INFO(PointText(point));
      CHECK(owned_by(a, point.device()));
      CHECK(point.value().double_value() == 1);
    }
  }
  for (const auto& client : of_b) {
    const std::vector<telpb::DataPoint> points = client->received();
    CHECK(points.size() == 100);
    for (const auto& point : points) {
      INFO(PointText(point));
      CHECK(owned_by(b, point.device()));
    }
  }
}

TEST_CASE("live fan-out: a subscriber that stops reading is ended with RESOURCE_EXHAUSTED and never delays others",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("slow", 1);
  env.SetIngestQuota(acme.tenant_id, 10'000'000);
  const std::string d0 = acme.devices[0].device_id();
  LiveClient slow(*env.stub, acme.keys.developer_key, SubscribeTo(acme.parent), /*read=*/false);
  LiveClient fast(*env.stub, acme.keys.developer_key, SubscribeTo(acme.parent));
  REQUIRE(WaitFor(absl::Seconds(10), [&] { return slow.live && fast.live; }));
  absl::SleepFor(absl::Milliseconds(600));

  // Batches of 1,000 points (a ~20 KB response each) until the server gives up on the slow subscriber: its client
  // and transport buffers fill, then its queue on the server.
  const int64_t first_ms = ToMs(FloorTo(env.Now() - absl::Hours(1), absl::Seconds(1)));
  int64_t next_ms = first_ms;
  int batches = 0;
  // It then has kFinishGrace (2 s) to take its status before the server cancels the call.
  while (MetricValue(env, "parkbase_telemetry_live_subscribers_fell_behind_total") == 0 && batches < 2000) {
    telpb::WriteRequest write;
    write.set_parent(acme.parent);
    for (int i = 0; i < 1000; ++i) *write.add_points() = MakePointMs(d0, "temp", next_ms++, DoubleValue(i % 100));
    env.MustWrite(acme.keys.developer_key, write);
    ++batches;
  }
  REQUIRE(MetricValue(env, "parkbase_telemetry_live_subscribers_fell_behind_total") == 1);
  const int64_t written = next_ms - first_ms;

  // The slow client now reads: an unbroken prefix of the feed, in order, then the status that says why it ended.
  slow.reading = true;
  REQUIRE(WaitFor(absl::Seconds(10), [&] { return slow.ended.load(); }));
  INFO(slow.status.error_message());
  CHECK(slow.status.error_code() == grpc::RESOURCE_EXHAUSTED);
  CHECK(absl::StrContains(slow.status.error_message(), "fell behind"));
  const std::vector<telpb::DataPoint> prefix = slow.received();
  CHECK(static_cast<int64_t>(prefix.size()) < written);
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (MsOf(prefix[i].time()) != first_ms + static_cast<int64_t>(i)) {
      FAIL("point " << i << " of the slow subscriber is " << PointText(prefix[i]));
    }
  }
  // The reader kept serving the other subscriber: it has every point.
  REQUIRE(WaitFor(absl::Seconds(10), [&] { return static_cast<int64_t>(fast.received().size()) == written; }));
  CHECK_FALSE(fast.ended.load());
  // In order, each point once, though its responses' bytes were the very buffers queued for the slow one.
  const std::vector<telpb::DataPoint> all = fast.received();
  for (size_t i = 0; i < all.size(); ++i) {
    if (MsOf(all[i].time()) != first_ms + static_cast<int64_t>(i)) {
      FAIL("point " << i << " of the fast subscriber is " << PointText(all[i]));
    }
  }
}

}  // namespace
}  // namespace parkbase::testing
