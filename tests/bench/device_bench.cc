// Device registry figures on this machine, in one run: GetDevice calls/s through gRPC next to a bare gRPC echo
// server (the ceiling any unary call can reach here), measured in alternating rounds (echo, GetDevice, echo, ...)
// because the echo itself varies between runs by ±20%, and the same GetDevice over the REST/JSON door in each round
// (same threads, one keep-alive connection each); GetLatest of 100 devices x 10 metrics (serial calls, p50
// and p99 per round, each call followed by a bare echo of an answer as large, the floor under it on this machine);
// the in-process schema resolver's look-ups/s, and bulk import devices/s. Needs
// PARKBASE_TEST_PG_ADMIN_URL and PARKBASE_TEST_REDIS_URL like the integration tests.
//
//   device_bench [--seconds=3] [--threads=4] [--rounds=3] [--latest_calls=1000] [--import_rows=100000]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/db.h"
#include "common/redis.h"
#include "common/server.h"
#include "device/device_store.h"
#include "device/schema_resolver.h"
#include "echo.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"
#include "google/protobuf/util/time_util.h"
#include "support/test_env.h"

ABSL_FLAG(int, seconds, 3, "How long each call-rate measurement runs");
ABSL_FLAG(int, threads, 4, "Concurrent client threads, each with its own channel");
ABSL_FLAG(int, import_rows, 100'000, "Rows in the bulk import measurement");
ABSL_FLAG(int, rounds, 3,
          "Alternating echo / GetDevice rounds, and GetLatest rounds; the median ratio and median p99 are reported");
ABSL_FLAG(int, latest_calls, 1000, "Serial GetLatest calls (100 devices x 10 metrics) a round, timed for p50 and p99");

namespace parkbase::bench {
namespace {

namespace devicepb = ::parkbase::device::v1;
namespace tenantpb = ::parkbase::tenant::v1;
namespace telpb = ::parkbase::telemetry::v1;

constexpr int kLatestDevices = 100;
constexpr int kLatestMetrics = 10;
using testing::Context;

class EchoServiceImpl final : public EchoService::Service {
  grpc::Status Echo(grpc::ServerContext*, const EchoMessage* request, EchoMessage* response) override {
    *response = *request;
    return grpc::Status::OK;
  }
};

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", what, status.error_message().c_str());
    std::exit(1);
  }
}

// Runs from `threads` threads, each with the call `make_call()` gives it (its own connection), for `duration`;
// returns calls/s. A call returns whether it succeeded.
template <typename MakeCall>
double RateOf(int threads, absl::Duration duration, MakeCall make_call) {
  std::atomic<int64_t> calls{0};
  std::atomic<int64_t> failures{0};
  std::vector<std::thread> workers;
  const absl::Time end = absl::Now() + duration;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      auto call = make_call();
      while (absl::Now() < end) {
        if (call()) {
          ++calls;
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  if (failures > 0) std::fprintf(stderr, "warning: %lld failed calls\n", static_cast<long long>(failures.load()));
  return static_cast<double>(calls) / absl::ToDoubleSeconds(duration);
}

// Runs `call` from `threads` threads (each with its own channel to `address`) for `duration`; returns calls/s.
template <typename MakeCall>
double CallRate(const std::string& address, int threads, absl::Duration duration, MakeCall make_call) {
  return RateOf(threads, duration,
                [&] { return make_call(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())); });
}

// As CallRate, over the REST/JSON door: each thread keeps one HTTP/1.1 connection to 127.0.0.1:`port` and sends
// GET `target` with the key, as a JSON client would; a call counts when it answers 200 and its body parses.
double HttpCallRate(int port, int threads, absl::Duration duration, const std::string& target, const std::string& key) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  return RateOf(threads, duration, [&] {
    auto io = std::make_shared<boost::asio::io_context>();
    auto stream = std::make_shared<beast::tcp_stream>(*io);
    stream->connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                   static_cast<unsigned short>(port)));
    stream->socket().set_option(boost::asio::ip::tcp::no_delay(true));
    auto request = std::make_shared<http::request<http::empty_body>>(http::verb::get, target, 11);
    request->set(http::field::host, "127.0.0.1");
    request->set(http::field::authorization, absl::StrCat("Bearer ", key));
    request->keep_alive(true);
    auto buffer = std::make_shared<beast::flat_buffer>();
    return [io, stream, request, buffer] {
      http::write(*stream, *request);
      http::response<http::string_body> response;
      http::read(*stream, *buffer, response);
      devicepb::Device device;
      return response.result_int() == 200 &&
             google::protobuf::util::JsonStringToMessage(response.body(), &device).ok();
    };
  });
}

int Run() {
  const int threads = absl::GetFlag(FLAGS_threads);
  const absl::Duration duration = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  const int import_rows = absl::GetFlag(FLAGS_import_rows);

  testing::TestDatabase database;
  ServerConfig config;
  config.park_code = "7";
  config.log_level = "warning";  // one log line per call would measure the logger
  testing::TestServer server(database, config);
  // The same server without the auth and device caches (every call looks its key up and reads the device in
  // PostgreSQL, as before issue 12), for a third rate in each round: what the caches are worth under the same load.
  ServerConfig uncached_config = config;
  uncached_config.auth_cache = false;
  uncached_config.device_cache = false;
  testing::TestServer uncached(database, uncached_config);

  // A tenant, a key, a type and a device, through the public API.
  auto tenants = tenantpb::TenantService::NewStub(server.channel());
  const std::string tenant_id = "bench";
  {
    tenantpb::CreateTenantRequest request;
    request.set_tenant_id(tenant_id);
    request.mutable_tenant()->set_display_name("Bench");
    request.mutable_tenant()->set_plan(tenantpb::PLAN_ENTERPRISE);
    tenantpb::Tenant tenant;
    Check(tenants->CreateTenant(Context(server.park_admin_key()).get(), request, &tenant), "CreateTenant");
  }
  std::string key;
  {
    tenantpb::CreateApiKeyRequest request;
    request.set_parent("tenants/bench");
    request.mutable_api_key()->set_display_name("bench");
    request.mutable_api_key()->set_role(tenantpb::ROLE_TENANT_ADMIN);
    tenantpb::CreateApiKeyResponse response;
    Check(tenants->CreateApiKey(Context(server.park_admin_key()).get(), request, &response), "CreateApiKey");
    key = response.secret();
  }
  auto devices = devicepb::DeviceService::NewStub(server.channel());
  {
    devicepb::CreateDeviceTypeRequest request;
    request.set_parent("tenants/bench");
    request.set_device_type_id("meter");
    request.mutable_device_type()->set_display_name("Meter");
    auto* metric = request.mutable_device_type()->add_metrics();
    metric->set_name("power");
    metric->set_value_type(devicepb::VALUE_TYPE_DOUBLE);
    devicepb::DeviceType type;
    Check(devices->CreateDeviceType(Context(key).get(), request, &type), "CreateDeviceType");
  }
  devicepb::Device device;
  {
    devicepb::CreateDeviceRequest request;
    request.set_parent("tenants/bench");
    request.mutable_device()->set_device_type_id("meter");
    request.mutable_device()->set_serial_number("BENCH-1");
    (*request.mutable_device()->mutable_labels())["line"] = "1";
    Check(devices->CreateDevice(Context(key).get(), request, &device), "CreateDevice");
  }

  // The bare echo server, in the same process and built the same way (synchronous API).
  EchoServiceImpl echo_service;
  grpc::ServerBuilder builder;
  int echo_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &echo_port);
  builder.RegisterService(&echo_service);
  std::unique_ptr<grpc::Server> echo_server = builder.BuildAndStart();
  const std::string echo_address = absl::StrCat("127.0.0.1:", echo_port);

  auto echo_call = [](std::shared_ptr<grpc::Channel> channel) {
    auto stub = EchoService::NewStub(channel);
    return [stub = std::shared_ptr<EchoService::Stub>(std::move(stub))] {
      EchoMessage request;
      request.set_payload("tenants/bench/devices/d0123456789abcdef");
      EchoMessage response;
      grpc::ClientContext context;
      return stub->Echo(&context, request, &response).ok();
    };
  };
  auto get_call = [&](std::shared_ptr<grpc::Channel> channel) {
    auto stub = std::shared_ptr<devicepb::DeviceService::Stub>(devicepb::DeviceService::NewStub(channel));
    return [stub, &key, &device] {
      devicepb::GetDeviceRequest request;
      request.set_name(device.name());
      devicepb::Device response;
      return stub->GetDevice(Context(key).get(), request, &response).ok();
    };
  };
  // Alternating rounds: the two rates of a round see the same machine load.
  std::vector<std::pair<double, double>> rounds;
  std::vector<double> uncached_rates;
  std::vector<double> http_rates;
  const std::string http_target = absl::StrCat("/v1/", device.name());
  for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
    const double echo = CallRate(echo_address, threads, duration, echo_call);
    const double get = CallRate(server.address(), threads, duration, get_call);
    http_rates.push_back(HttpCallRate(server.server().http_port(), threads, duration, http_target, key));
    uncached_rates.push_back(CallRate(uncached.address(), threads, duration, get_call));
    rounds.emplace_back(echo, get);
  }
  std::vector<double> ratios;
  for (const auto& [echo, get] : rounds) ratios.push_back(get / echo);
  std::vector<double> sorted_ratios = ratios;
  std::sort(sorted_ratios.begin(), sorted_ratios.end());
  const double median_ratio = sorted_ratios.empty() ? 0 : sorted_ratios[sorted_ratios.size() / 2];

  // GetLatest of 100 devices x 10 metrics, each with a latest value written first.
  // Per round: the GetLatest latencies and those of the echo alternated with them, each sorted.
  std::vector<std::vector<double>> latest_ms;
  std::vector<std::vector<double>> echo_ms;
  size_t echo_bytes = 0;
  {
    devicepb::CreateDeviceTypeRequest type_request;
    type_request.set_parent("tenants/bench");
    type_request.set_device_type_id("sensor10");
    type_request.mutable_device_type()->set_display_name("Ten metrics");
    for (int m = 0; m < kLatestMetrics; ++m) {
      auto* metric = type_request.mutable_device_type()->add_metrics();
      metric->set_name(absl::StrCat("m", m));
      metric->set_value_type(devicepb::VALUE_TYPE_DOUBLE);
    }
    devicepb::DeviceType type;
    Check(devices->CreateDeviceType(Context(key).get(), type_request, &type), "CreateDeviceType");
    telpb::GetLatestRequest latest_request;
    latest_request.set_parent("tenants/bench");
    telpb::WriteRequest write;
    write.set_parent("tenants/bench");
    const auto when = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
        absl::ToUnixMillis(server.clock().Now() - absl::Minutes(1)));
    for (int d = 0; d < kLatestDevices; ++d) {
      devicepb::CreateDeviceRequest request;
      request.set_parent("tenants/bench");
      request.mutable_device()->set_device_type_id("sensor10");
      request.mutable_device()->set_serial_number(absl::StrCat("LATEST-", d));
      devicepb::Device created;
      Check(devices->CreateDevice(Context(key).get(), request, &created), "CreateDevice");
      latest_request.add_devices(created.device_id());
      for (int m = 0; m < kLatestMetrics; ++m) {
        telpb::Point* point = write.add_points();
        point->set_device(created.device_id());
        point->set_metric(absl::StrCat("m", m));
        *point->mutable_time() = when;
        point->mutable_value()->set_double_value(20.0 + d + 0.1 * m);
      }
    }
    auto telemetry = telpb::TelemetryService::NewStub(server.channel());
    telpb::WriteResponse written;
    Check(telemetry->Write(Context(key).get(), write, &written), "Write");
    if (written.accepted_points() != kLatestDevices * kLatestMetrics) {
      std::fprintf(stderr, "Write accepted %lld points\n", static_cast<long long>(written.accepted_points()));
      return 1;
    }
    telpb::GetLatestResponse response;
    for (int warm = 0; warm < 50; ++warm) {
      Check(telemetry->GetLatest(Context(key).get(), latest_request, &response), "GetLatest");
    }
    if (response.values_size() != kLatestDevices * kLatestMetrics) {
      std::fprintf(stderr, "GetLatest answered %d values\n", response.values_size());
      return 1;
    }
    // The floor under it: a bare echo of an answer as large, on the same kind of channel, timed in alternation
    // with GetLatest so both see the same machine.
    auto echo = EchoService::NewStub(grpc::CreateChannel(echo_address, grpc::InsecureChannelCredentials()));
    EchoMessage echo_request;
    echo_request.set_payload(std::string(response.ByteSizeLong(), 'x'));
    EchoMessage echo_response;
    for (int round = 0; round < std::max(1, absl::GetFlag(FLAGS_rounds)); ++round) {
      std::vector<double>& latest_round = latest_ms.emplace_back();
      std::vector<double>& echo_round = echo_ms.emplace_back();
      for (int call = 0; call < absl::GetFlag(FLAGS_latest_calls); ++call) {
        absl::Time start = absl::Now();
        Check(telemetry->GetLatest(Context(key).get(), latest_request, &response), "GetLatest");
        latest_round.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
        grpc::ClientContext echo_context;
        start = absl::Now();
        Check(echo->Echo(&echo_context, echo_request, &echo_response), "Echo");
        echo_round.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
      }
      std::sort(latest_round.begin(), latest_round.end());
      std::sort(echo_round.begin(), echo_round.end());
    }
    echo_bytes = echo_request.payload().size();
  }
  auto percentile = [](const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0.0;
    return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
  };

  // The ingestion path's look-up: in-process hits, as the telemetry service would see them.
  double resolve_rate = 0;
  {
    DbPool db(DbPool::Options{.url = database.app_url(), .size = 2});
    device::PgDeviceStore store(db);
    auto redis = RedisClient::Create({.url = testing::RedisUrl()});
    if (!redis.ok()) return 1;
    SystemClock clock;
    device::DeviceSchemaResolver resolver(store, redis->get(), clock);
    std::atomic<int64_t> resolved{0};
    std::vector<std::thread> workers;
    const absl::Time end = absl::Now() + duration;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        while (absl::Now() < end) {
          if (resolver.Resolve(tenant_id, device.device_id()).ok()) ++resolved;
        }
      });
    }
    for (auto& worker : workers) worker.join();
    resolve_rate = static_cast<double>(resolved) / absl::ToDoubleSeconds(duration);
  }

  // Bulk import: one call, 1,000 rows a message.
  double import_rate = 0;
  double rerun_rate = 0;
  // --import_rows=0 leaves the import out (a quicker run for the call rates).
  for (int run = 0; run < (import_rows > 0 ? 2 : 0); ++run) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
    devicepb::ImportDevicesResponse response;
    const absl::Time start = absl::Now();
    auto writer = devices->ImportDevices(&context, &response);
    for (int first = 0; first < import_rows; first += 1000) {
      devicepb::ImportDevicesRequest message;
      if (first == 0) message.set_parent("tenants/bench");
      for (int i = first; i < std::min(import_rows, first + 1000); ++i) {
        devicepb::Device* row = message.add_devices();
        row->set_device_type_id("meter");
        row->set_serial_number(absl::StrCat("IMP-", i));
        (*row->mutable_labels())["line"] = absl::StrCat(i % 10);
      }
      writer->Write(message);
    }
    writer->WritesDone();
    Check(writer->Finish(), "ImportDevices");
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const int applied = run == 0 ? response.created_count() : response.unchanged_count();
    if (applied != import_rows) std::fprintf(stderr, "warning: %d of %d rows applied\n", applied, import_rows);
    (run == 0 ? import_rate : rerun_rate) = import_rows / seconds;
  }

  std::printf("device registry benchmark (%d client threads, %lld s per rate, %u hardware threads)\n", threads,
              static_cast<long long>(absl::ToInt64Seconds(duration)), std::thread::hardware_concurrency());
  for (size_t r = 0; r < rounds.size(); ++r) {
    std::printf("  round %zu: grpc echo (bare sync server) %8.0f calls/s, GetDevice (auth + read) %6.0f calls/s "
                "(%.0f%% of echo), without the auth and device caches %6.0f calls/s (%.0f%%)\n",
                r + 1, rounds[r].first, rounds[r].second, 100.0 * ratios[r], uncached_rates[r],
                100.0 * uncached_rates[r] / rounds[r].first);
  }
  std::printf("  GetDevice / echo, median of %zu rounds  %9.0f%%\n", rounds.size(), 100.0 * median_ratio);
  std::vector<double> http_ratios;
  for (size_t r = 0; r < rounds.size(); ++r) {
    std::printf("  round %zu: GetDevice over HTTP/JSON (same server, %d keep-alive connections) %6.0f calls/s, "
                "%.0f%% of GetDevice over gRPC\n",
                r + 1, threads, http_rates[r], 100.0 * http_rates[r] / rounds[r].second);
    http_ratios.push_back(http_rates[r] / rounds[r].second);
  }
  std::sort(http_ratios.begin(), http_ratios.end());
  std::printf("  GetDevice HTTP/JSON / gRPC, median of %zu rounds %5.0f%%\n", http_ratios.size(),
              http_ratios.empty() ? 0.0 : 100.0 * http_ratios[http_ratios.size() / 2]);
  std::vector<double> latest_p99s;
  for (size_t r = 0; r < latest_ms.size(); ++r) {
    std::printf("  round %zu: GetLatest %d devices x %d metrics p50 %.2f ms p99 %.2f ms (%zu serial calls); echo of as "
                "many bytes (%zu) between them p50 %.2f ms p99 %.2f ms\n",
                r + 1, kLatestDevices, kLatestMetrics, percentile(latest_ms[r], 0.50), percentile(latest_ms[r], 0.99),
                latest_ms[r].size(), echo_bytes, percentile(echo_ms[r], 0.50), percentile(echo_ms[r], 0.99));
    latest_p99s.push_back(percentile(latest_ms[r], 0.99));
  }
  std::sort(latest_p99s.begin(), latest_p99s.end());
  std::printf("  GetLatest p99, median of %zu rounds     %9.2f ms\n", latest_p99s.size(),
              latest_p99s.empty() ? 0.0 : latest_p99s[latest_p99s.size() / 2]);
  std::printf("  DeviceSchemaResolver.Resolve (cached)  %10.0f look-ups/s\n", resolve_rate);
  std::printf("  ImportDevices, %d new rows         %10.0f devices/s\n", import_rows, import_rate);
  std::printf("  ImportDevices, same rows again         %10.0f devices/s (all unchanged)\n", rerun_rate);
  echo_server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace parkbase::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // The servers in this process are measured as `parkbase serve` runs them (malloc arenas, Abseil's lock checks).
  parkbase::PrepareServingProcess();
  return parkbase::bench::Run();
}
