// Open streams under the server's limits: one key's streams never refuse other tenants' calls or the health check,
// idle and old streams end, and a revoked key, a suspended tenant or a disabled device ends its open streams
// within a second, committing and delivering nothing after.
#include <atomic>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/grpc_client.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "integration/telemetry_env.h"

namespace parkbase::testing {
namespace {

// The bound every revocation, suspension and disable must meet on open streams (docs/architecture.md).
constexpr absl::Duration kRevocationBound = absl::Seconds(1);

telpb::WriteRequest OnePoint(const std::string& parent, const std::string& device, absl::Time time, double value,
                             const std::string& batch_id) {
  telpb::WriteRequest request;
  request.set_parent(parent);
  request.set_batch_id(batch_id);
  *request.add_points() = MakePoint(device, "temp", time, DoubleValue(value));
  return request;
}

// A WriteStream that sends nothing: admitted (blocked reading) or refused at once.
struct IdleStream {
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientReaderWriter<telpb::WriteRequest, telpb::WriteResponse>> stream;
  std::thread reader;
  std::atomic<bool> finished{false};
  std::atomic<int> answers{0};
  grpc::Status status;

  IdleStream(telpb::TelemetryService::Stub& stub, const std::string& key) {
    context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", absl::StrCat("Bearer ", key));
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stream = stub.WriteStream(context.get());
    reader = std::thread([this] {
      telpb::WriteResponse response;
      while (stream->Read(&response)) ++answers;
      status = stream->Finish();
      finished = true;
    });
  }
  ~IdleStream() {
    context->TryCancel();
    reader.join();
  }
};

// Opens a WriteStream with `key`, sends `request`, checks its one point is acknowledged and the stream ends OK.
void WriteOneOnNewStream(telpb::TelemetryService::Stub& stub, const std::string& key,
                         const telpb::WriteRequest& request, std::chrono::seconds deadline) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  auto stream = stub.WriteStream(&context);
  REQUIRE(stream->Write(request));
  telpb::WriteResponse answer;
  REQUIRE(stream->Read(&answer));
  CHECK(answer.accepted_points() == 1);
  stream->WritesDone();
  CHECK(stream->Finish().ok());
}

// Waits until `done` or `limit` passes; true when done.
bool WaitFor(absl::Duration limit, const std::function<bool()>& done) {
  const absl::Time give_up = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

TEST_CASE("telemetry streams: one key's idle streams never refuse other tenants' calls or the health check",
          "[telemetry][integration][defects]") {
  // The threads for 56 streams and 8 kept back: the key's 16 streams take 16 of them, and the 24 refused ones pass
  // through the rest without exhausting them. (Until streams leave the thread pool, a burst of new calls larger
  // than the threads left can still be refused by gRPC itself, with RESOURCE_EXHAUSTED.)
  ServerConfig config;
  config.server_threads = 64;
  TelemetryEnv env(config);
  TelemetryTenant greedy = env.CreateTenant("greedy", 1);
  TelemetryTenant other = env.CreateTenant("other", 1);

  std::vector<std::unique_ptr<IdleStream>> streams;
  for (int i = 0; i < 40; ++i) streams.push_back(std::make_unique<IdleStream>(*env.stub, greedy.keys.developer_key));
  // The key's 17th and later streams are refused at once, naming the limit.
  REQUIRE(WaitFor(absl::Seconds(5), [&] {
    int finished = 0;
    for (const auto& stream : streams) finished += stream->finished ? 1 : 0;
    return finished == 24;
  }));
  int refused = 0;
  for (const auto& stream : streams) {
    if (!stream->finished) continue;
    INFO(stream->status.error_message());
    CHECK(stream->status.error_code() == grpc::RESOURCE_EXHAUSTED);
    CHECK(absl::StrContains(stream->status.error_message(), "max_streams_per_key"));
    google::rpc::RetryInfo retry;
    CHECK(FindDetail(stream->status, &retry));
    ++refused;
  }
  CHECK(refused == 24);

  // Meanwhile every other call goes on: unary calls of another tenant, its streams, and the health check.
  for (int i = 0; i < 20; ++i) {
    tenantpb::GetTenantRequest get;
    get.set_name(other.parent);
    tenantpb::Tenant tenant;
    grpc::Status status = env.tenants.stub().GetTenant(Context(other.keys.admin_key).get(), get, &tenant);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  auto health = CheckHealth(*env.server.channel(), "", absl::Seconds(5));
  REQUIRE(health.ok());
  CHECK(*health == ServingStatus::kServing);
  WriteOneOnNewStream(*env.stub, other.keys.developer_key,
                      OnePoint(other.parent, other.devices[0].device_id(), env.Now() - absl::Minutes(1), 1, "b1"),
                      std::chrono::seconds(10));
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", other.keys.developer_key));
    telpb::SubscribeRequest request;
    request.set_parent(other.parent);
    auto reader = env.stub->Subscribe(&context, request);
    absl::SleepFor(absl::Milliseconds(300));
    context.TryCancel();
    telpb::SubscribeResponse message;
    while (reader->Read(&message)) {
    }
    CHECK(reader->Finish().error_code() == grpc::CANCELLED);  // it ran until the client left, not refused
  }
}

// An ImportDevices stream that sends nothing: admitted (waiting for its client) or refused at once.
struct IdleImport {
  grpc::ClientContext context;
  devpb::ImportDevicesResponse response;
  std::unique_ptr<grpc::ClientWriter<devpb::ImportDevicesRequest>> writer;
  std::thread waiter;
  std::atomic<bool> finished{false};
  grpc::Status status;

  IdleImport(devpb::DeviceService::Stub& stub, const std::string& key) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    writer = stub.ImportDevices(&context, &response);
    waiter = std::thread([this] {
      status = writer->Finish();
      finished = true;
    });
  }
  ~IdleImport() {
    context.TryCancel();
    waiter.join();
  }
};

TEST_CASE("telemetry streams: idle WriteStream and ImportDevices streams hold no server thread",
          "[telemetry][integration][defects]") {
  // The fewest server threads allowed. When every stream held one, at most 8 (16 minus the reserve) could be open
  // and the 9th was refused with max_thread_streams; streams served through the callback API hold none, so many
  // more than there are threads stay open and idle while unary calls and other streams are served at once.
  ServerConfig config;
  config.server_threads = 16;
  TelemetryEnv env(config);
  TelemetryTenant greedy = env.CreateTenant("nothread", 1);
  TelemetryTenant other = env.CreateTenant("nothread2", 1);
  const std::string third_key =
      env.tenants.CreateKey(greedy.keys.admin_key, greedy.tenant_id, tenantpb::ROLE_DEVELOPER);

  std::vector<std::unique_ptr<IdleStream>> streams;
  for (int i = 0; i < 16; ++i) streams.push_back(std::make_unique<IdleStream>(*env.stub, greedy.keys.developer_key));
  for (int i = 0; i < 16; ++i) streams.push_back(std::make_unique<IdleStream>(*env.stub, greedy.keys.admin_key));
  std::vector<std::unique_ptr<IdleImport>> imports;
  for (int i = 0; i < 12; ++i) imports.push_back(std::make_unique<IdleImport>(*env.device_stub, third_key));
  REQUIRE(WaitFor(absl::Seconds(10), [&] { return env.server.server().streams().open() == 44; }));
  absl::SleepFor(absl::Milliseconds(300));
  for (const auto& stream : streams) {
    INFO(stream->status.error_message());
    CHECK_FALSE(stream->finished);
  }
  for (const auto& import : imports) {
    INFO(import->status.error_message());
    CHECK_FALSE(import->finished);
  }

  // Unary calls are served promptly meanwhile.
  for (int i = 0; i < 20; ++i) {
    tenantpb::GetTenantRequest get;
    get.set_name(other.parent);
    tenantpb::Tenant tenant;
    auto context = Context(other.keys.admin_key);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::Status status = env.tenants.stub().GetTenant(context.get(), get, &tenant);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  // So are a new stream of another tenant and a write on one of the idle streams.
  WriteOneOnNewStream(*env.stub, other.keys.developer_key,
                      OnePoint(other.parent, other.devices[0].device_id(), env.Now() - absl::Minutes(1), 1, "b1"),
                      std::chrono::seconds(5));
  REQUIRE(streams[20]->stream->Write(
      OnePoint(greedy.parent, greedy.devices[0].device_id(), env.Now() - absl::Minutes(1), 2, "idle-1")));
  CHECK(WaitFor(absl::Seconds(5), [&] { return streams[20]->answers.load() == 1; }));
  // And an idle import, woken, stores what it is sent.
  devpb::ImportDevicesRequest rows;
  rows.set_parent(greedy.parent);
  devpb::Device* row = rows.add_devices();
  row->set_device_type_id("sensor");
  row->set_serial_number("NT-1");
  REQUIRE(imports[3]->writer->Write(rows));
  imports[3]->writer->WritesDone();
  REQUIRE(WaitFor(absl::Seconds(5), [&] { return imports[3]->finished.load(); }));
  INFO(imports[3]->status.error_message());
  CHECK(imports[3]->status.ok());
  CHECK(imports[3]->response.created_count() == 1);
}

TEST_CASE("telemetry streams: a client that cancels with batches in flight loses no acknowledged batch",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("cancelled", 1);
  const std::string device = acme.devices[0].device_id();
  const absl::Time t = FloorTo(env.Now() - absl::Hours(2), absl::Seconds(1));
  constexpr int kRounds = 5;
  constexpr int kBatches = 200;
  std::set<int> acknowledged;
  for (int round = 0; round < kRounds; ++round) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", acme.keys.developer_key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto stream = env.stub->WriteStream(&context);
    // Writes as fast as flow control lets it, so that batches are in flight when the client leaves.
    std::thread writer([&] {
      for (int i = 0; i < kBatches; ++i) {
        const int n = round * kBatches + i;
        if (!stream->Write(OnePoint(acme.parent, device, t + absl::Seconds(n), n % 100, absl::StrCat("c", n)))) break;
      }
    });
    telpb::WriteResponse answer;
    int answered = 0;
    while (stream->Read(&answer)) {
      INFO(answer.batch_id() << ": " << answer.error().message());
      REQUIRE(answer.accepted_points() == 1);
      acknowledged.insert(std::stoi(answer.batch_id().substr(1)));
      if (++answered == 10 + 7 * round) context.TryCancel();
    }
    writer.join();
    CHECK(stream->Finish().error_code() == grpc::CANCELLED);
  }
  // The server let go of every stream and goes on serving.
  REQUIRE(WaitFor(absl::Seconds(5), [&] { return env.server.server().streams().open() == 0; }));
  std::set<int64_t> stored;
  for (const auto& point : env.ReadAll(acme.keys.admin_key, acme.parent, device, t - absl::Hours(1),
                                       t + absl::Hours(1))) {
    stored.insert(point.time().seconds() - absl::ToUnixSeconds(t));
  }
  REQUIRE(acknowledged.size() >= static_cast<size_t>(kRounds * 10));
  for (int n : acknowledged) {
    INFO("acknowledged batch c" << n);
    CHECK(stored.contains(n));
  }
}

TEST_CASE("telemetry streams: an import whose client cancels mid-way is let go, and the server goes on",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("cancelimport", 1);
  for (int round = 0; round < 5; ++round) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", acme.keys.admin_key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    devpb::ImportDevicesResponse response;
    auto writer = env.device_stub->ImportDevices(&context, &response);
    // Messages of 1,000 rows: a batch of 5,000 is being stored now and then when the client leaves.
    for (int message = 0; message < 8 + 3 * round; ++message) {
      devpb::ImportDevicesRequest rows;
      if (message == 0) rows.set_parent(acme.parent);
      for (int i = 0; i < 1000; ++i) {
        devpb::Device* row = rows.add_devices();
        row->set_device_type_id("sensor");
        row->set_serial_number(absl::StrCat("CI-", round, "-", message, "-", i));
      }
      if (!writer->Write(rows)) break;
    }
    context.TryCancel();
    CHECK(writer->Finish().error_code() == grpc::CANCELLED);
  }
  REQUIRE(WaitFor(absl::Seconds(10), [&] { return env.server.server().streams().open() == 0; }));
  tenantpb::GetTenantRequest get;
  get.set_name(acme.parent);
  tenantpb::Tenant tenant;
  CHECK(env.tenants.stub().GetTenant(Context(acme.keys.admin_key).get(), get, &tenant).ok());
}

// A raw bidirectional stream on `method`, for messages that are not valid requests.
struct RawStream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream;

  RawStream(grpc::Channel& channel, const char* method, const std::string& key) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    stream.reset(grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
        &channel, grpc::internal::RpcMethod(method, grpc::internal::RpcMethod::BIDI_STREAMING), &context));
  }
  bool Write(const std::string& bytes) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer message(&slice, 1);
    return stream->Write(message);
  }
  // The next message parsed into `message`; false at the end.
  bool Read(google::protobuf::Message* message) {
    grpc::ByteBuffer buffer;
    if (!stream->Read(&buffer)) return false;
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (buffer.Dump(&slices).ok()) {
      for (const grpc::Slice& part : slices) bytes.append(reinterpret_cast<const char*>(part.begin()), part.size());
    }
    return message->ParseFromString(bytes);
  }
};

TEST_CASE("telemetry streams: a malformed message ends WriteStream and ImportDevices naming it and its field",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("malformed", 1);
  // Field 1 (parent), wire type 2, length 2, bytes 0xff 0xfe: not UTF-8.
  const std::string malformed("\x0a\x02\xff\xfe", 4);

  SECTION("WriteStream answers the batches before it, then ends with INVALID_ARGUMENT") {
    RawStream raw(*env.server.channel(), "/parkbase.telemetry.v1.TelemetryService/WriteStream",
                  acme.keys.developer_key);
    REQUIRE(raw.Write(
        OnePoint(acme.parent, acme.devices[0].device_id(), env.Now() - absl::Minutes(1), 1, "m0").SerializeAsString()));
    telpb::WriteResponse answer;
    REQUIRE(raw.Read(&answer));
    CHECK(answer.accepted_points() == 1);
    raw.Write(malformed);
    while (raw.Read(&answer)) {
    }
    grpc::Status status = raw.stream->Finish();
    INFO(status.error_message());
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(),
                           "message 1 of the stream: parkbase.telemetry.v1.WriteRequest.parent: must be valid UTF-8"));
  }
  SECTION("ImportDevices stores the rows before it and says why it stopped") {
    RawStream raw(*env.server.channel(), "/parkbase.device.v1.DeviceService/ImportDevices", acme.keys.admin_key);
    devpb::ImportDevicesRequest rows;
    rows.set_parent(acme.parent);
    devpb::Device* row = rows.add_devices();
    row->set_device_type_id("sensor");
    row->set_serial_number("MF-1");
    REQUIRE(raw.Write(rows.SerializeAsString()));
    raw.Write(malformed);
    raw.stream->WritesDone();
    devpb::ImportDevicesResponse response;
    REQUIRE(raw.Read(&response));
    grpc::Status status = raw.stream->Finish();
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(response.created_count() == 1);
    CHECK(response.error().code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(response.error().message(),
                           "message 1 of the stream: parkbase.device.v1.ImportDevicesRequest.parent: must be valid "
                           "UTF-8"));
  }
}

// A Subscribe stream held open until the test lets go: admitted (blocked reading) or refused at once.
struct OpenSubscription {
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientReader<telpb::SubscribeResponse>> reader;
  std::thread thread;
  std::atomic<bool> finished{false};
  std::atomic<int> points{0};
  grpc::Status status;

  OpenSubscription(telpb::TelemetryService::Stub& stub, const std::string& key, const std::string& parent) {
    context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", absl::StrCat("Bearer ", key));
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    telpb::SubscribeRequest request;
    request.set_parent(parent);
    reader = stub.Subscribe(context.get(), request);
    thread = std::thread([this] {
      telpb::SubscribeResponse message;
      while (reader->Read(&message)) points += message.points_size();
      status = reader->Finish();
      finished = true;
    });
  }
  // Leaves the stream and waits until it has ended.
  void Close() {
    context->TryCancel();
    if (thread.joinable()) thread.join();
  }
  ~OpenSubscription() { Close(); }
};

TEST_CASE("telemetry streams: one tenant's subscriptions never lock out other tenants or the park admin",
          "[telemetry][integration][defects]") {
  // Once eight subscriptions of one developer key took the server's whole subscription cap. Subscriptions now count
  // against the stream limits per key and per tenant like WriteStreams.
  ServerConfig config;
  config.server_threads = 64;
  TelemetryEnv env(config);
  TelemetryTenant greedy = env.CreateTenant("subgreedy", 1);
  TelemetryTenant other = env.CreateTenant("subother", 1);

  std::vector<std::unique_ptr<OpenSubscription>> greedy_subscriptions;
  for (int i = 0; i < 24; ++i) {
    greedy_subscriptions.push_back(
        std::make_unique<OpenSubscription>(*env.stub, greedy.keys.developer_key, greedy.parent));
  }
  REQUIRE(WaitFor(absl::Seconds(5), [&] {
    int finished = 0;
    for (const auto& subscription : greedy_subscriptions) finished += subscription->finished ? 1 : 0;
    return finished == 8;
  }));
  for (const auto& subscription : greedy_subscriptions) {
    if (!subscription->finished) continue;
    INFO(subscription->status.error_message());
    CHECK(subscription->status.error_code() == grpc::RESOURCE_EXHAUSTED);
    CHECK(absl::StrContains(subscription->status.error_message(), "max_streams_per_key"));
  }

  // Another tenant's subscriptions and the park admin's are admitted, receive what is written, and run until their
  // clients leave.
  std::vector<std::unique_ptr<OpenSubscription>> others;
  for (int i = 0; i < 8; ++i) {
    others.push_back(std::make_unique<OpenSubscription>(*env.stub, other.keys.developer_key, other.parent));
  }
  others.push_back(std::make_unique<OpenSubscription>(*env.stub, env.server.park_admin_key(), other.parent));
  absl::SleepFor(absl::Milliseconds(500));
  for (const auto& subscription : others) CHECK_FALSE(subscription->finished);
  env.MustWrite(other.keys.developer_key,
                OnePoint(other.parent, other.devices[0].device_id(), env.Now() - absl::Minutes(1), 7, "sub-1"));
  CHECK(WaitFor(absl::Seconds(5), [&] {
    for (const auto& subscription : others) {
      if (subscription->points == 0) return false;
    }
    return true;
  }));
  for (auto& subscription : others) {
    subscription->Close();
    INFO(subscription->status.error_message());
    CHECK(subscription->status.error_code() == grpc::CANCELLED);  // ran until the client left, never refused
  }
}

TEST_CASE("telemetry streams: the per-tenant and per-server stream limits hold", "[telemetry][integration][defects]") {
  ServerConfig config;
  config.max_streams_per_tenant = 5;
  config.max_streams = 8;
  TelemetryEnv env(config);
  TelemetryTenant acme = env.CreateTenant("lim", 1);
  TelemetryTenant other = env.CreateTenant("lim2", 1);
  TelemetryTenant third = env.CreateTenant("lim3", 1);
  auto finished_with = [](const std::vector<std::unique_ptr<IdleStream>>& streams, const std::string& limit) {
    int count = 0;
    for (const auto& stream : streams) {
      if (stream->finished && absl::StrContains(stream->status.error_message(), limit)) ++count;
    }
    return count;
  };
  std::vector<std::unique_ptr<IdleStream>> tenant_streams;
  for (int i = 0; i < 3; ++i) tenant_streams.push_back(std::make_unique<IdleStream>(*env.stub, acme.keys.admin_key));
  for (int i = 0; i < 3; ++i) {
    tenant_streams.push_back(std::make_unique<IdleStream>(*env.stub, acme.keys.developer_key));
  }
  REQUIRE(WaitFor(absl::Seconds(5), [&] { return finished_with(tenant_streams, "max_streams_per_tenant") == 1; }));
  std::vector<std::unique_ptr<IdleStream>> more;
  for (int i = 0; i < 5; ++i) more.push_back(std::make_unique<IdleStream>(*env.stub, other.keys.admin_key));
  // 5 + 3 fill the server's 8; a third tenant's first stream is refused by the server-wide cap.
  REQUIRE(WaitFor(absl::Seconds(5), [&] { return finished_with(more, "max_streams") == 2; }));
  std::vector<std::unique_ptr<IdleStream>> last;
  last.push_back(std::make_unique<IdleStream>(*env.stub, third.keys.admin_key));
  REQUIRE(WaitFor(absl::Seconds(5), [&] { return finished_with(last, "max_streams") == 1; }));
  CHECK(env.server.server().streams().open() == 8);
}

TEST_CASE("telemetry streams: an idle stream and an old stream end", "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("idle", 1);
  SECTION("a WriteStream that sends nothing for the idle timeout") {
    IdleStream idle(*env.stub, acme.keys.developer_key);
    absl::SleepFor(absl::Milliseconds(300));
    REQUIRE_FALSE(idle.finished);
    env.server.clock().Advance(absl::Minutes(5) + absl::Seconds(1));
    REQUIRE(WaitFor(absl::Seconds(2), [&] { return idle.finished.load(); }));
    CHECK_FALSE(idle.status.ok());
    // The slot is freed when the server's reactor is done, which can come just after the client has the status.
    CHECK(WaitFor(absl::Seconds(2), [&] { return env.server.server().streams().open() == 0; }));
  }
  SECTION("a subscription at its maximum age") {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", acme.keys.developer_key));
    telpb::SubscribeRequest request;
    request.set_parent(acme.parent);
    auto reader = env.stub->Subscribe(&context, request);
    absl::SleepFor(absl::Milliseconds(300));
    env.server.clock().Advance(absl::Hours(1) + absl::Seconds(1));
    const absl::Time start = absl::Now();
    telpb::SubscribeResponse message;
    while (reader->Read(&message)) {
    }
    grpc::Status status = reader->Finish();
    CHECK(absl::Now() - start < absl::Seconds(2));
    CHECK(status.error_code() == grpc::UNAVAILABLE);
    CHECK(absl::StrContains(status.error_message(), "maximum age"));
  }
}

// Subscribes with `key` until the server ends the stream; returns its status and when it ended.
struct Subscription {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<telpb::SubscribeResponse>> reader;
  std::thread thread;
  absl::Mutex mu;
  std::vector<telpb::DataPoint> points ABSL_GUARDED_BY(mu);
  std::atomic<bool> ended{false};
  absl::Time ended_at;
  grpc::Status status;

  Subscription(TelemetryEnv& env, const std::string& key, const std::string& parent) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    telpb::SubscribeRequest request;
    request.set_parent(parent);
    reader = env.stub->Subscribe(&context, request);
    thread = std::thread([this] {
      telpb::SubscribeResponse message;
      while (reader->Read(&message)) {
        absl::MutexLock lock(&mu);
        for (const auto& point : message.points()) points.push_back(point);
      }
      status = reader->Finish();
      ended_at = absl::Now();
      ended = true;
    });
  }
  ~Subscription() {
    context.TryCancel();
    thread.join();
  }
  size_t received() {
    absl::MutexLock lock(&mu);
    return points.size();
  }
};

TEST_CASE("telemetry streams: a revoked key, a suspended tenant or a disabled device ends open streams within 1 s",
          "[telemetry][integration][defects]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("rev", 2);
  const std::string d0 = acme.devices[0].device_id();
  const std::string writer_key = env.tenants.CreateKey(acme.keys.admin_key, acme.tenant_id, tenantpb::ROLE_DEVELOPER);
  const std::string reader_key = env.tenants.CreateKey(acme.keys.admin_key, acme.tenant_id, tenantpb::ROLE_DEVELOPER);
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(10), absl::Seconds(1));
  auto stored = [&] {
    return env.ReadAll(acme.keys.admin_key, acme.parent, d0, t - absl::Hours(1), t + absl::Hours(1)).size();
  };

  SECTION("revoking the key of an open WriteStream and an open Subscribe") {
    Subscription subscription(env, reader_key, acme.parent);
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", writer_key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto stream = env.stub->WriteStream(&context);
    REQUIRE(stream->Write(OnePoint(acme.parent, d0, t, 1, "b0")));
    telpb::WriteResponse answer;
    REQUIRE(stream->Read(&answer));
    REQUIRE(answer.accepted_points() == 1);
    absl::SleepFor(absl::Milliseconds(300));  // the subscription is established

    auto revoke = [&](const std::string& key) {
      tenantpb::ListApiKeysRequest list;
      list.set_parent(acme.parent);
      list.set_page_size(100);
      tenantpb::ListApiKeysResponse keys;
      REQUIRE(env.tenants.stub().ListApiKeys(Context(acme.keys.admin_key).get(), list, &keys).ok());
      const std::string key_id = std::vector<std::string>(absl::StrSplit(key, '.'))[2];
      tenantpb::RevokeApiKeyRequest request;
      request.set_name(absl::StrCat(acme.parent, "/apiKeys/", key_id));
      tenantpb::ApiKey revoked;
      REQUIRE(env.tenants.stub().RevokeApiKey(Context(acme.keys.admin_key).get(), request, &revoked).ok());
    };
    revoke(writer_key);
    revoke(reader_key);
    const absl::Time revoked_at = absl::Now();
    // The writer keeps sending: nothing it sends once the bound has passed is stored, and the stream ends.
    int sent = 1;
    absl::Time ended = absl::InfiniteFuture();
    while (absl::Now() - revoked_at < absl::Seconds(3)) {
      if (!stream->Write(OnePoint(acme.parent, d0, t + absl::Seconds(sent), sent, absl::StrCat("b", sent)))) {
        ended = absl::Now();
        break;
      }
      ++sent;
      absl::SleepFor(absl::Milliseconds(50));
    }
    while (stream->Read(&answer)) {
    }
    grpc::Status status = stream->Finish();
    if (ended == absl::InfiniteFuture()) ended = absl::Now();
    CHECK(ended - revoked_at < kRevocationBound + absl::Milliseconds(200));
    CHECK_FALSE(status.ok());
    // Points stored are only those committed before the server saw the revocation: at most the first second's.
    CHECK(stored() <= static_cast<size_t>(1 + absl::ToInt64Milliseconds(kRevocationBound) / 50 + 1));
    CHECK(stored() < static_cast<size_t>(sent));

    REQUIRE(WaitFor(absl::Seconds(3), [&] { return subscription.ended.load(); }));
    CHECK(subscription.ended_at - revoked_at < kRevocationBound);
    CHECK(subscription.status.error_code() == grpc::UNAUTHENTICATED);
  }

  SECTION("suspending the tenant ends its subscriptions") {
    Subscription subscription(env, reader_key, acme.parent);
    absl::SleepFor(absl::Milliseconds(300));
    tenantpb::SuspendTenantRequest suspend;
    suspend.set_name(acme.parent);
    suspend.set_reason("unpaid invoices");
    tenantpb::Tenant suspended;
    REQUIRE(env.tenants.stub().SuspendTenant(Context(env.server.park_admin_key()).get(), suspend, &suspended).ok());
    const absl::Time suspended_at = absl::Now();
    REQUIRE(WaitFor(absl::Seconds(3), [&] { return subscription.ended.load(); }));
    CHECK(subscription.ended_at - suspended_at < kRevocationBound);
    CHECK(subscription.status.error_code() == grpc::PERMISSION_DENIED);
    CHECK(absl::StrContains(subscription.status.error_message(), "unpaid invoices"));
  }

  SECTION("disabling the device ends its own key's WriteStream") {
    const std::string device_key = env.MintDeviceKey(acme, acme.devices[0]);
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", device_key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto stream = env.stub->WriteStream(&context);
    REQUIRE(stream->Write(OnePoint(acme.parent, d0, t, 1, "d0")));
    telpb::WriteResponse answer;
    REQUIRE(stream->Read(&answer));
    REQUIRE(answer.accepted_points() == 1);
    env.DisableDevice(acme, acme.devices[0]);
    const absl::Time disabled_at = absl::Now();
    // Idle now: the stream is ended by the server even though the client sends nothing.
    while (stream->Read(&answer)) {
    }
    grpc::Status status = stream->Finish();
    CHECK(absl::Now() - disabled_at < kRevocationBound);
    CHECK_FALSE(status.ok());
    CHECK(stored() == 1);
  }
}

}  // namespace
}  // namespace parkbase::testing
