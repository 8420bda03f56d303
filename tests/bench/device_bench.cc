// Device registry figures on this machine, in one run: GetDevice calls/s through gRPC next to a bare gRPC echo
// server (the ceiling any unary call can reach here), the in-process schema resolver's look-ups/s, and bulk import
// devices/s. Needs PARKBASE_TEST_PG_ADMIN_URL and PARKBASE_TEST_REDIS_URL like the integration tests.
//
//   device_bench [--seconds=3] [--threads=4] [--import_rows=100000]
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/db.h"
#include "common/redis.h"
#include "device/device_store.h"
#include "device/schema_resolver.h"
#include "echo.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"
#include "support/test_env.h"

ABSL_FLAG(int, seconds, 3, "How long each call-rate measurement runs");
ABSL_FLAG(int, threads, 4, "Concurrent client threads, each with its own channel");
ABSL_FLAG(int, import_rows, 100'000, "Rows in the bulk import measurement");

namespace parkbase::bench {
namespace {

namespace devicepb = ::parkbase::device::v1;
namespace tenantpb = ::parkbase::tenant::v1;
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

// Runs `call` from `threads` threads (each with its own channel to `address`) for `duration`; returns calls/s.
template <typename MakeCall>
double CallRate(const std::string& address, int threads, absl::Duration duration, MakeCall make_call) {
  std::atomic<int64_t> calls{0};
  std::atomic<int64_t> failures{0};
  std::vector<std::thread> workers;
  const absl::Time end = absl::Now() + duration;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      auto call = make_call(channel);
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

int Run() {
  const int threads = absl::GetFlag(FLAGS_threads);
  const absl::Duration duration = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  const int import_rows = absl::GetFlag(FLAGS_import_rows);

  testing::TestDatabase database;
  ServerConfig config;
  config.park_code = "7";
  config.log_level = "warning";  // one log line per call would measure the logger
  testing::TestServer server(database, config);

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

  const double echo_rate = CallRate(echo_address, threads, duration, [](std::shared_ptr<grpc::Channel> channel) {
    auto stub = EchoService::NewStub(channel);
    return [stub = std::shared_ptr<EchoService::Stub>(std::move(stub))] {
      EchoMessage request;
      request.set_payload("tenants/bench/devices/d0123456789abcdef");
      EchoMessage response;
      grpc::ClientContext context;
      return stub->Echo(&context, request, &response).ok();
    };
  });
  const double get_rate = CallRate(server.address(), threads, duration, [&](std::shared_ptr<grpc::Channel> channel) {
    auto stub = std::shared_ptr<devicepb::DeviceService::Stub>(devicepb::DeviceService::NewStub(channel));
    return [stub, &key, &device] {
      devicepb::GetDeviceRequest request;
      request.set_name(device.name());
      devicepb::Device response;
      return stub->GetDevice(Context(key).get(), request, &response).ok();
    };
  });

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
  for (int run = 0; run < 2; ++run) {
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
  std::printf("  grpc echo (bare sync server)           %10.0f calls/s\n", echo_rate);
  std::printf("  GetDevice (auth + read, via gRPC)      %10.0f calls/s  (%.0f%% of echo)\n", get_rate,
              100.0 * get_rate / echo_rate);
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
  return parkbase::bench::Run();
}
