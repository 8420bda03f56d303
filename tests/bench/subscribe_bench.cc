// The live-subscription benchmark (issue 12, "Streams hold no thread"): one replica holding --tenants x
// --subscribers_per_tenant Subscribe streams (default 100 x 100 = 10,000) from this client over --channels
// connections, each stream following --devices_per_subscriber of its tenant's --devices_per_tenant devices (every
// device followed by the same number of subscribers), while --points_per_second points are written across those
// devices for --duration_s seconds. A client of a running Parkbase; scripts/bench.sh subscribe starts PostgreSQL,
// Redis and `parkbase serve` with stream limits raised for 100 subscribers per tenant, then runs this program.
//
// It prints: streams established (and refused, with the first refusal), the server's RSS before subscribing, with
// every stream open and idle, and after the write phase (bytes per idle stream = the difference over the streams),
// delivery latency from the write's commit (the WriteResponse's commit_time, by the server's clock: this machine's)
// to receipt at each subscriber, p50/p99/max, with two bounds beside it (from the writer's acknowledgement, which
// comes after the commit, and from the send, before it), and points delivered against the points expected from the
// acknowledged writes (no loss, no duplicates).
//
// Subscribers are read through the async API on a few completion queues, so this client needs no thread per stream
// either. A point's value is the number of its batch, which maps each receipt to its batch's send and
// acknowledgement times.
// The last line reads `subscribe streams=<N> bytes_per_idle_stream=<B> p99_ms=<P> delivered=<D> expected=<E>`.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/support/async_stream.h"
#include "grpcpp/support/client_callback.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"

ABSL_FLAG(std::string, address, "", "Parkbase gRPC address (host:port)");
ABSL_FLAG(std::string, key, "", "A park-admin API key (parkbase admin bootstrap-key)");
ABSL_FLAG(int, server_pid, 0, "Parkbase server pid: its RSS before and after (0: not reported)");
ABSL_FLAG(int, tenants, 100, "Tenants");
ABSL_FLAG(int, subscribers_per_tenant, 100, "Subscribe streams per tenant");
ABSL_FLAG(int, devices_per_tenant, 100, "Devices per tenant");
ABSL_FLAG(int, devices_per_subscriber, 10, "Devices each subscriber follows");
ABSL_FLAG(int, points_per_second, 10000, "Points written per second across all tenants");
ABSL_FLAG(int, batch_interval_ms, 1000, "Each tenant writes one batch this often");
ABSL_FLAG(int, duration_s, 30, "Seconds of writing");
ABSL_FLAG(int, channels, 4, "Client connections the subscribers share");
ABSL_FLAG(int, client_queues, 4, "Completion queues (a thread each) the subscribers are read on");
ABSL_FLAG(int, writer_threads, 4, "Threads sending the writes (unary Write, callback API: none waits for an answer)");
ABSL_FLAG(int, settle_s, 5, "Seconds the established streams idle before RSS is read");

namespace {

namespace devicepb = ::parkbase::device::v1;
namespace telpb = ::parkbase::telemetry::v1;
namespace tenantpb = ::parkbase::tenant::v1;
using SteadyClock = std::chrono::steady_clock;

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "subscribe_bench: %s\n", message.c_str());
  std::exit(1);
}

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) Fail(absl::StrCat(what, ": ", status.error_code(), " ", status.error_message()));
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& key, absl::Duration deadline = absl::Seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", key));
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return context;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

// VmRSS of a process in bytes (0 when unknown).
int64_t RssBytes(int pid) {
  if (pid <= 0) return 0;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      int64_t kb = 0;
      fields >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

// User plus system CPU seconds a process has used (0 when unknown).
double CpuSeconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t end = stat.rfind(')');
  if (end == std::string::npos) return 0;
  std::istringstream fields(stat.substr(end + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

struct Tenant {
  std::string parent;
  std::string key;
  std::vector<std::string> devices;
};

Tenant SetUpTenant(const std::shared_ptr<grpc::Channel>& channel, const std::string& admin_key,
                   const std::string& tenant_id, int devices) {
  auto tenants = tenantpb::TenantService::NewStub(channel);
  Tenant tenant{absl::StrCat("tenants/", tenant_id), "", {}};
  {
    tenantpb::CreateTenantRequest request;
    request.set_tenant_id(tenant_id);
    request.mutable_tenant()->set_display_name("Subscribe benchmark");
    request.mutable_tenant()->set_plan(tenantpb::PLAN_ENTERPRISE);
    request.mutable_tenant()->mutable_quota()->set_max_ingest_points_per_second(1'000'000);
    request.mutable_tenant()->mutable_quota()->set_max_devices(100'000);
    tenantpb::Tenant created;
    Check(tenants->CreateTenant(Context(admin_key).get(), request, &created), "CreateTenant");
  }
  {
    tenantpb::CreateApiKeyRequest request;
    request.set_parent(tenant.parent);
    request.mutable_api_key()->set_display_name("subscribe benchmark");
    request.mutable_api_key()->set_role(tenantpb::ROLE_TENANT_ADMIN);
    tenantpb::CreateApiKeyResponse response;
    Check(tenants->CreateApiKey(Context(admin_key).get(), request, &response), "CreateApiKey");
    tenant.key = response.secret();
  }
  auto registry = devicepb::DeviceService::NewStub(channel);
  {
    devicepb::CreateDeviceTypeRequest request;
    request.set_parent(tenant.parent);
    request.set_device_type_id("sensor");
    request.mutable_device_type()->set_display_name("Sensor");
    auto* metric = request.mutable_device_type()->add_metrics();
    metric->set_name("v");
    metric->set_value_type(devicepb::VALUE_TYPE_DOUBLE);
    devicepb::DeviceType type;
    Check(registry->CreateDeviceType(Context(tenant.key).get(), request, &type), "CreateDeviceType");
  }
  {
    auto context = Context(tenant.key, absl::Minutes(5));
    devicepb::ImportDevicesResponse response;
    auto writer = registry->ImportDevices(context.get(), &response);
    devicepb::ImportDevicesRequest message;
    message.set_parent(tenant.parent);
    for (int d = 0; d < devices; ++d) {
      devicepb::Device* device = message.add_devices();
      device->set_device_id(absl::StrFormat("dev-%04d", d));
      device->set_device_type_id("sensor");
      device->set_serial_number(absl::StrCat("SUB-", tenant_id, "-", d));
      tenant.devices.push_back(device->device_id());
    }
    writer->Write(message);
    writer->WritesDone();
    Check(writer->Finish(), "ImportDevices");
    if (response.created_count() != devices) {
      Fail(absl::StrCat("ImportDevices created ", response.created_count(), " of ", devices, " devices"));
    }
  }
  return tenant;
}

// One Subscribe stream, read through the async API on one of a few completion queues. Not callback reactors: the
// Debian build of gRPC checks every completion against a list of all operations pending on its queue (a linear
// scan, debug builds only), and the callback API has one queue for the whole process, where 10,000 streams keep
// 20,000 operations pending. A stream here has one operation pending at a time, on one of --client_queues queues.
class Subscriber {
 public:
  Subscriber(telpb::TelemetryService::Stub& stub, grpc::CompletionQueue& queue, const std::string& key,
             telpb::SubscribeRequest request, std::atomic<int>& established, std::atomic<int>& ended)
      : request_(std::move(request)), established_(established), ended_(ended) {
    context_.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    reader_ = stub.PrepareAsyncSubscribe(&context_, request_, &queue);
    reader_->StartCall(Tag(kStarted));
  }
  // The completion of the operation `tag` names (on the queue's thread).
  static void Complete(void* tag, bool ok) {
    auto* subscriber = reinterpret_cast<Subscriber*>(reinterpret_cast<uintptr_t>(tag) & ~uintptr_t{3});
    subscriber->Step(static_cast<int>(reinterpret_cast<uintptr_t>(tag) & 3), ok);
  }
  void Cancel() { context_.TryCancel(); }
  void AwaitDone() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }
  struct Receipt {
    int64_t batch;
    int64_t at_ns;
    int64_t at_unix_ns;  // the wall clock, to compare with the server's commit_time
  };
  std::vector<Receipt> receipts() {
    absl::MutexLock lock(&mu_);
    return receipts_;
  }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }

 private:
  enum { kStarted = 0, kMetadata = 1, kRead = 2, kFinished = 3 };
  void* Tag(int step) { return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(this) | step); }
  void Step(int step, bool ok) {
    switch (step) {
      case kStarted:
        if (ok) {
          reader_->ReadInitialMetadata(Tag(kMetadata));
          return;
        }
        break;
      case kMetadata:
        if (ok) {
          ++established_;
          reader_->Read(&response_, Tag(kRead));
          return;
        }
        break;
      case kRead:
        if (ok) {
          const int64_t now = NowNs();
          const int64_t now_unix = absl::GetCurrentTimeNanos();
          {
            absl::MutexLock lock(&mu_);
            for (const auto& point : response_.points()) {
              receipts_.push_back({static_cast<int64_t>(point.value().double_value()), now, now_unix});
            }
          }
          reader_->Read(&response_, Tag(kRead));
          return;
        }
        break;
      case kFinished: {
        {
          absl::MutexLock lock(&mu_);
          status_ = finish_status_;
          done_ = true;
        }
        ++ended_;
        return;
      }
    }
    reader_->Finish(&finish_status_, Tag(kFinished));
  }

  grpc::ClientContext context_;
  telpb::SubscribeRequest request_;
  std::unique_ptr<grpc::ClientAsyncReader<telpb::SubscribeResponse>> reader_;
  telpb::SubscribeResponse response_;
  grpc::Status finish_status_;
  std::atomic<int>& established_;
  std::atomic<int>& ended_;
  absl::Mutex mu_;
  std::vector<Receipt> receipts_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

struct Batch {
  int tenant = 0;
  std::vector<int> devices;  // device index of each point
  std::unique_ptr<grpc::ClientContext> context;
  telpb::WriteRequest request;
  telpb::WriteResponse response;
  int64_t sent_ns = 0;
  int64_t acked_ns = 0;
  int64_t commit_unix_ns = 0;
  bool ok = false;
};

double Percentile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index), values.end());
  return values[index];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As in the server (common/server.h, PrepareServingProcess): Debian's Abseil checks the order of every lock, gRPC's
  // included, under one global spin lock, and this client shares the server's cores.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string address = absl::GetFlag(FLAGS_address);
  const std::string admin_key = absl::GetFlag(FLAGS_key);
  if (address.empty() || admin_key.empty()) Fail("--address and --key are required");
  const int pid = absl::GetFlag(FLAGS_server_pid);
  const int tenants_count = absl::GetFlag(FLAGS_tenants);
  const int per_tenant = absl::GetFlag(FLAGS_subscribers_per_tenant);
  const int devices_per_tenant = absl::GetFlag(FLAGS_devices_per_tenant);
  const int follow = std::min(absl::GetFlag(FLAGS_devices_per_subscriber), devices_per_tenant);
  const int channels_count = std::max(1, absl::GetFlag(FLAGS_channels));
  const absl::Duration interval = absl::Milliseconds(absl::GetFlag(FLAGS_batch_interval_ms));
  const int points_per_batch = std::max<int>(
      1, static_cast<int>(absl::GetFlag(FLAGS_points_per_second) * absl::ToDoubleSeconds(interval) / tenants_count));
  std::printf("machine: %u CPUs, load average %s\n", std::thread::hardware_concurrency(), LoadAverage().c_str());
  std::printf("set-up: %d tenants x %d devices; %d subscribers each following %d devices; %d points a batch per "
              "tenant every %lld ms (%d points/s)\n",
              tenants_count, devices_per_tenant, per_tenant, follow, points_per_batch,
              static_cast<long long>(absl::ToInt64Milliseconds(interval)),
              static_cast<int>(points_per_batch * tenants_count / absl::ToDoubleSeconds(interval)));
  std::fflush(stdout);

  // Channels of their own (distinct arguments, so gRPC does not share one connection between them).
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < channels_count; ++c) {
    grpc::ChannelArguments arguments;
    arguments.SetInt("parkbase.bench.channel", c);
    arguments.SetMaxReceiveMessageSize(64 << 20);
    channels.push_back(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments));
  }
  auto setup_channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());

  const absl::Time setup_start = absl::Now();
  const std::string run = absl::StrCat(absl::ToUnixSeconds(absl::Now()) % 1'000'000);
  std::vector<Tenant> tenants(tenants_count);
  {
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < 8; ++w) {
      threads.emplace_back([&] {
        for (int t = next++; t < tenants_count; t = next++) {
          tenants[t] = SetUpTenant(setup_channel, admin_key, absl::StrCat("sub", run, "-", t), devices_per_tenant);
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  std::printf("tenants, keys and devices created in %.1f s\n", absl::ToDoubleSeconds(absl::Now() - setup_start));
  absl::SleepFor(absl::Seconds(2));
  const int64_t rss_before = RssBytes(pid);

  // Subscribe: subscriber j of a tenant follows devices j*follow .. j*follow+follow-1 (mod devices).
  std::vector<std::unique_ptr<telpb::TelemetryService::Stub>> stubs;
  for (const auto& channel : channels) stubs.push_back(telpb::TelemetryService::NewStub(channel));
  std::atomic<int> established{0};
  std::atomic<int> ended{0};
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues;
  std::vector<std::thread> queue_threads;
  for (int q = 0; q < std::max(1, absl::GetFlag(FLAGS_client_queues)); ++q) {
    queues.push_back(std::make_unique<grpc::CompletionQueue>());
    queue_threads.emplace_back([queue = queues.back().get()] {
      void* tag = nullptr;
      bool ok = false;
      while (queue->Next(&tag, &ok)) Subscriber::Complete(tag, ok);
    });
  }
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  // follows[t][d]: subscribers of tenant t following device d.
  std::vector<std::vector<int>> follows(tenants_count, std::vector<int>(devices_per_tenant, 0));
  std::vector<int> subscriber_tenant;
  const absl::Time subscribe_start = absl::Now();
  int index = 0;
  for (int j = 0; j < per_tenant; ++j) {
    for (int t = 0; t < tenants_count; ++t) {
      telpb::SubscribeRequest request;
      request.set_parent(tenants[t].parent);
      for (int k = 0; k < follow; ++k) {
        const int d = (j * follow + k) % devices_per_tenant;
        request.add_devices(tenants[t].devices[d]);
        ++follows[t][d];
      }
      subscribers.push_back(std::make_unique<Subscriber>(*stubs[index % stubs.size()], *queues[index % queues.size()],
                                                         tenants[t].key, std::move(request), established, ended));
      ++index;
      subscriber_tenant.push_back(t);
    }
    // Pace the opening a little (each is an authentication on the server).
    while (established + ended < static_cast<int>(subscribers.size()) - 2000) absl::SleepFor(absl::Milliseconds(5));
  }
  const int total = static_cast<int>(subscribers.size());
  const absl::Time give_up = absl::Now() + absl::Minutes(3);
  while (established + ended < total && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(50));
  const double subscribe_seconds = absl::ToDoubleSeconds(absl::Now() - subscribe_start);
  int refused = 0;
  std::string first_refusal;
  for (const auto& subscriber : subscribers) {
    if (subscriber->done()) {
      ++refused;
      if (first_refusal.empty()) {
        grpc::Status status = subscriber->status();
        first_refusal = absl::StrCat(status.error_code(), " ", status.error_message());
      }
    }
  }
  std::printf("streams established: %d of %d in %.1f s (refused or ended: %d%s%s)\n", established.load(), total,
              subscribe_seconds, refused, first_refusal.empty() ? "" : "; first: ", first_refusal.c_str());
  std::fflush(stdout);
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_settle_s)));
  const int64_t rss_idle = RssBytes(pid);
  const int open = established.load() - (ended.load() - refused);
  if (pid > 0) {
    std::printf("server RSS: %.1f MB before subscribing, %.1f MB with %d idle streams: %.0f bytes per idle stream\n",
                rss_before / 1e6, rss_idle / 1e6, open,
                open > 0 ? static_cast<double>(rss_idle - rss_before) / open : 0.0);
  }
  std::printf("load average after subscribing: %s\n", LoadAverage().c_str());
  std::fflush(stdout);

  // Write: each tenant a batch every interval (tenant t at t/tenants of it), points on devices round robin; a point's
// value is its batch's number.
  const int duration_s = absl::GetFlag(FLAGS_duration_s);
  const int rounds = static_cast<int>(absl::Seconds(duration_s) / interval);
  std::vector<Batch> batches(static_cast<size_t>(rounds) * tenants_count);
  const int writers = std::max(1, absl::GetFlag(FLAGS_writer_threads));
  const absl::Time write_start = absl::Now() + absl::Milliseconds(200);
  const double cpu_before = CpuSeconds(pid);
  const double client_cpu_before = CpuSeconds(getpid());
  // Writes go out through the callback API when they are due, whatever earlier writes are still waiting for their
  // acknowledgement (gateways do not wait for each other): a blocking writer per few tenants fell behind the
  // schedule whenever the server's Write slowed, and the rate written was then below the rate asked for.
  std::vector<std::thread> writer_threads;
  std::atomic<int> write_failures{0};
  std::atomic<int> late{0};
  std::string first_write_failure;
  std::mutex failure_mu;
  absl::Mutex pending_mu;
  int pending = 0;
  std::vector<std::unique_ptr<telpb::TelemetryService::Stub>> write_stubs;
  for (int w = 0; w < writers; ++w) write_stubs.push_back(telpb::TelemetryService::NewStub(setup_channel));
  for (int w = 0; w < writers; ++w) {
    writer_threads.emplace_back([&, w] {
      for (int round = 0; round < rounds; ++round) {
        for (int t = w; t < tenants_count; t += writers) {
          // Tenants' writes are spread over the interval, as unsynchronised gateways' are.
          const absl::Time due = write_start + round * interval + t * (interval / tenants_count);
          if (absl::Now() > due + absl::Milliseconds(5)) ++late;
          absl::SleepFor(due - absl::Now());
          const int64_t number = static_cast<int64_t>(round) * tenants_count + t;
          Batch& batch = batches[number];
          batch.tenant = t;
          batch.context = Context(tenants[t].key);
          const int64_t time_ms = absl::ToUnixMillis(absl::Now());
          batch.request.set_parent(tenants[t].parent);
          for (int p = 0; p < points_per_batch; ++p) {
            const int d = (round * points_per_batch + p) % devices_per_tenant;
            // One point per device and millisecond: devices repeat only in a later round.
            auto* point = batch.request.add_points();
            point->set_device(tenants[t].devices[d]);
            point->set_metric("v");
            *point->mutable_time() =
                google::protobuf::util::TimeUtil::MillisecondsToTimestamp(time_ms + p / devices_per_tenant);
            point->mutable_value()->set_double_value(static_cast<double>(number));
            batch.devices.push_back(d);
          }
          {
            absl::MutexLock lock(&pending_mu);
            ++pending;
          }
          batch.sent_ns = NowNs();
          write_stubs[w]->async()->Write(
              batch.context.get(), &batch.request, &batch.response, [&, number](grpc::Status status) {
                Batch& done = batches[number];
                done.acked_ns = NowNs();
                done.ok = status.ok() && done.response.rejected_points() == 0;
                if (done.ok) {
                  done.commit_unix_ns =
                      google::protobuf::util::TimeUtil::TimestampToNanoseconds(done.response.commit_time());
                }
                if (!done.ok) {
                  ++write_failures;
                  std::lock_guard<std::mutex> lock(failure_mu);
                  if (first_write_failure.empty()) {
                    first_write_failure = status.ok()
                                              ? absl::StrCat(done.response.rejected_points(), " points rejected")
                                              : absl::StrCat(status.error_code(), " ", status.error_message());
                  }
                }
                absl::MutexLock lock(&pending_mu);
                --pending;
              });
        }
      }
    });
  }
  for (auto& thread : writer_threads) thread.join();
  const double issue_seconds = absl::ToDoubleSeconds(absl::Now() - write_start);
  {
    absl::MutexLock lock(&pending_mu);
    pending_mu.Await(absl::Condition(+[](int* left) { return *left == 0; }, &pending));
  }
  const double write_seconds = absl::ToDoubleSeconds(absl::Now() - write_start);
  const double cpu_used = CpuSeconds(pid) - cpu_before;
  const double client_cpu_used = CpuSeconds(getpid()) - client_cpu_before;
  int64_t points_written = 0;
  for (const Batch& batch : batches) points_written += batch.ok ? static_cast<int64_t>(batch.devices.size()) : 0;
  std::printf("write phase: %zu batches, %lld points in %.1f s (%.0f points/s acknowledged; sent in %.1f s, %d "
              "batches sent over 5 ms late; %d failed%s%s), load average %s\n",
              batches.size(), static_cast<long long>(points_written), write_seconds, points_written / write_seconds,
              issue_seconds, late.load(), write_failures.load(), first_write_failure.empty() ? "" : "; first: ",
              first_write_failure.c_str(), LoadAverage().c_str());
  if (pid > 0) {
    std::printf("server CPU during the write phase: %.1f s in %.1f s (%.0f%% of one core); this client's: %.1f s "
                "(%.0f%%)\n",
                cpu_used, write_seconds, 100 * cpu_used / write_seconds, client_cpu_used,
                100 * client_cpu_used / write_seconds);
  }
  absl::SleepFor(absl::Seconds(3));  // the last deliveries
  const int64_t rss_after = RssBytes(pid);

  // Expected deliveries: every point of an acknowledged batch, once for each subscriber following its device.
  int64_t expected = 0;
  for (const Batch& batch : batches) {
    if (!batch.ok) continue;
    for (int d : batch.devices) expected += follows[batch.tenant][d];
  }
  int64_t delivered = 0;
  int64_t unknown = 0;
  std::vector<double> from_commit;
  std::vector<double> from_ack;
  std::vector<double> from_send;
  from_commit.reserve(static_cast<size_t>(expected));
  from_ack.reserve(static_cast<size_t>(expected));
  from_send.reserve(static_cast<size_t>(expected));
  int still_open = 0;
  for (auto& subscriber : subscribers) {
    if (!subscriber->done()) ++still_open;
    for (const Subscriber::Receipt& receipt : subscriber->receipts()) {
      ++delivered;
      if (receipt.batch < 0 || receipt.batch >= static_cast<int64_t>(batches.size())) {
        ++unknown;
        continue;
      }
      const Batch& batch = batches[receipt.batch];
      from_commit.push_back(static_cast<double>(receipt.at_unix_ns - batch.commit_unix_ns) / 1e6);
      from_ack.push_back(static_cast<double>(receipt.at_ns - batch.acked_ns) / 1e6);
      from_send.push_back(static_cast<double>(receipt.at_ns - batch.sent_ns) / 1e6);
    }
  }
  const double commit_p50 = Percentile(from_commit, 0.5), commit_p99 = Percentile(from_commit, 0.99);
  const double commit_max = from_commit.empty() ? 0 : *std::max_element(from_commit.begin(), from_commit.end());
  const double ack_p50 = Percentile(from_ack, 0.5), ack_p99 = Percentile(from_ack, 0.99);
  const double ack_max = from_ack.empty() ? 0 : *std::max_element(from_ack.begin(), from_ack.end());
  const double send_p50 = Percentile(from_send, 0.5), send_p99 = Percentile(from_send, 0.99);
  const double send_max = from_send.empty() ? 0 : *std::max_element(from_send.begin(), from_send.end());
  std::printf("delivery latency, commit (commit_time) -> receipt:             p50 %.1f ms, p99 %.1f ms, max %.1f "
              "ms\n",
              commit_p50, commit_p99, commit_max);
  std::printf("delivery latency, acknowledgement (after commit) -> receipt:    p50 %.1f ms, p99 %.1f ms, max %.1f "
              "ms\n",
              ack_p50, ack_p99, ack_max);
  std::printf("delivery latency, send (before commit) -> receipt:              p50 %.1f ms, p99 %.1f ms, max %.1f "
              "ms\n",
              send_p50, send_p99, send_max);
  std::printf("points delivered: %lld, expected %lld (%s)%s; streams still open: %d of %d\n",
              static_cast<long long>(delivered), static_cast<long long>(expected),
              delivered == expected ? "no loss" : (delivered < expected ? "LOSS" : "DUPLICATES"),
              unknown > 0 ? absl::StrCat(", ", unknown, " of unknown batches").c_str() : "", still_open, total);
  if (pid > 0) std::printf("server RSS after the write phase: %.1f MB\n", rss_after / 1e6);

  for (auto& subscriber : subscribers) subscriber->Cancel();
  for (auto& subscriber : subscribers) subscriber->AwaitDone();
  for (auto& queue : queues) queue->Shutdown();
  for (auto& thread : queue_threads) thread.join();
  std::printf("subscribe streams=%d bytes_per_idle_stream=%.0f p99_ms=%.1f delivered=%lld expected=%lld\n",
              established.load(), open > 0 && pid > 0 ? static_cast<double>(rss_idle - rss_before) / open : 0.0,
              commit_p99, static_cast<long long>(delivered), static_cast<long long>(expected));
  return delivered == expected && write_failures == 0 ? 0 : 1;
}
