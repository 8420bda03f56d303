// soak_load: the soak test's own load client (scripts/soak.sh drives it next to ghz). For --duration_s it sends,
// for each tenant and at fixed rates chosen below the tenant's quotas, the calls ghz cannot check:
//   - unary Write batches (point and columnar forms), every answer checked: all points accepted, none rejected;
//   - WriteStream streams, one batch in flight, each answer checked (batch id, accepted count, no `error`); a
//     stream is closed and a new one opened every --stream_seconds, so stream set-up and tear-down are soaked too;
//   - registry churn on devices of its own: CreateDevice, a first Write for the new device, UpdateDevice,
//     SetDeviceAttributes, DeleteDevice;
//   - a Subscribe stream on the streamed devices, reopened every --stream_seconds, which must receive points.
// Pacing is a fixed schedule (a late call does not make the next ones come sooner), so a slow server sees the same
// rate, never a burst. At the end it writes one JSON object (protobuf's JSON printer over a Struct) to --report:
// per RPC the calls, the answers by status code, p50/p99 latency in ms and calls per second; and a line per RPC to
// stdout. A non-OK answer is counted, never fatal: the soak script decides. Exits 2 on bad flags, 1 when the
// server cannot be reached or the report cannot be written, else 0.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"

ABSL_FLAG(std::string, address, "", "The server, host:port (plaintext)");
ABSL_FLAG(std::vector<std::string>, tenants, {}, "Tenant ids, comma-separated");
ABSL_FLAG(std::vector<std::string>, keys, {}, "A developer key of each tenant, in the order of --tenants");
ABSL_FLAG(std::vector<std::string>, devices, {},
          "Per tenant: how many stable devices dev-000.. of type `meter` (temp DOUBLE, count INT64, ok BOOL) exist. "
          "Unary Write takes the first half, the streams the second half");
ABSL_FLAG(std::vector<std::string>, write_rps, {}, "Per tenant: unary Write batches a second");
ABSL_FLAG(std::vector<std::string>, write_devices, {}, "Per tenant: devices in a Write batch (3 points each)");
ABSL_FLAG(std::vector<std::string>, streams, {}, "Per tenant: WriteStream streams open at once");
ABSL_FLAG(std::vector<std::string>, stream_devices, {},
          "Per tenant: devices in a WriteStream batch (2 series of --stream_samples points each)");
ABSL_FLAG(std::vector<std::string>, registry_rps, {},
          "Per tenant: calls a second of the device cycle (CreateDevice, Write, UpdateDevice, SetDeviceAttributes, "
          "DeleteDevice)");
ABSL_FLAG(int32_t, stream_batches_per_second, 5, "WriteStream batches a second on each stream");
ABSL_FLAG(int32_t, stream_samples, 5, "Samples of each series in a WriteStream batch");
ABSL_FLAG(int32_t, stream_seconds, 30, "WriteStream and Subscribe streams are closed and reopened after this long");
ABSL_FLAG(bool, subscribe, true, "One Subscribe stream a tenant on its streamed devices");
ABSL_FLAG(int32_t, duration_s, 60, "How long to send");
ABSL_FLAG(int32_t, progress_s, 60, "Seconds between progress lines on stderr; 0: none");
ABSL_FLAG(std::string, run_id, "soak",
          "Prefix of batch ids and of the ids of the devices the registry churn creates; unique per run against one "
          "database (batch ids stay taken for 7 days, deleted devices' ids for ever)");
ABSL_FLAG(std::string, report, "", "File for the JSON report (required)");

namespace parkbase::soak {
namespace {

namespace devicepb = ::parkbase::device::v1;
namespace telemetrypb = ::parkbase::telemetry::v1;
using SteadyClock = std::chrono::steady_clock;

// Each RPC's deadline: generous, since a soak measures latency rather than enforcing it, but finite so a hung call
// shows up as DEADLINE_EXCEEDED instead of stopping a thread for the rest of the run.
constexpr absl::Duration kCallDeadline = absl::Seconds(10);
// Pause before reopening a stream that failed, so a server that is gone costs a few calls a second, not a spin.
constexpr auto kReopenBackoff = std::chrono::seconds(1);

std::string CodeName(int code) {
  // Abseil's names are gRPC's ("INVALID_ARGUMENT"); it has none for a code outside the canonical set.
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? absl::StrCat("CODE_", code) : name;
}

// What one RPC (or one kind of stream message) did over the run. Thread-safe.
class RpcStats {
 public:
  // `code` is a gRPC code name, or a check of ours that failed on an OK answer (e.g. POINTS_REJECTED).
  void Record(const std::string& code, double latency_ms, const std::string& detail = "") {
    std::lock_guard lock(mu_);
    ++codes_[code];
    if (latency_ms >= 0) latencies_ms_.push_back(static_cast<float>(latency_ms));
    if (code != "OK" && examples_.size() < 5 && !detail.empty()) examples_.push_back(absl::StrCat(code, ": ", detail));
  }
  void AddPoints(int64_t points) {
    std::lock_guard lock(mu_);
    points_ += points;
  }

  int64_t Calls() const {
    std::lock_guard lock(mu_);
    int64_t calls = 0;
    for (const auto& [code, n] : codes_) calls += n;
    return calls;
  }

  google::protobuf::Value ToJson(double seconds) const {
    std::lock_guard lock(mu_);
    google::protobuf::Value value;
    auto& fields = *value.mutable_struct_value()->mutable_fields();
    int64_t calls = 0;
    auto& codes = *fields["codes"].mutable_struct_value()->mutable_fields();
    for (const auto& [code, n] : codes_) {
      codes[code].set_number_value(static_cast<double>(n));
      calls += n;
    }
    fields["calls"].set_number_value(static_cast<double>(calls));
    fields["per_second"].set_number_value(seconds > 0 ? calls / seconds : 0);
    std::vector<float> sorted = latencies_ms_;
    std::sort(sorted.begin(), sorted.end());
    fields["p50_ms"].set_number_value(Percentile(sorted, 50));
    fields["p99_ms"].set_number_value(Percentile(sorted, 99));
    if (points_ > 0) {
      fields["points"].set_number_value(static_cast<double>(points_));
      fields["points_per_second"].set_number_value(seconds > 0 ? points_ / seconds : 0);
    }
    auto& examples = *fields["examples"].mutable_list_value();
    for (const auto& example : examples_) examples.add_values()->set_string_value(example);
    return value;
  }

 private:
  static double Percentile(const std::vector<float>& sorted, double p) {
    if (sorted.empty()) return 0;
    const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
  }

  mutable std::mutex mu_;
  std::map<std::string, int64_t> codes_;
  std::vector<float> latencies_ms_;
  std::vector<std::string> examples_;
  int64_t points_ = 0;
};

class Report {
 public:
  RpcStats& For(const std::string& name) {
    std::lock_guard lock(mu_);
    auto& slot = stats_[name];
    if (slot == nullptr) slot = std::make_unique<RpcStats>();
    return *slot;
  }
  std::map<std::string, RpcStats*> All() {
    std::lock_guard lock(mu_);
    std::map<std::string, RpcStats*> all;
    for (auto& [name, stats] : stats_) all[name] = stats.get();
    return all;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<RpcStats>> stats_;
};

// Calls on a fixed schedule: the n-th call is due at start + n * period. A call that runs late does not make the
// next ones come sooner (the schedule skips ahead instead), so an overloaded server never sees a catch-up burst.
class Pacer {
 public:
  Pacer(double per_second, SteadyClock::time_point end)
      : period_(std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(1.0 / per_second))),
        next_(SteadyClock::now()),
        end_(end) {}
  // Waits for the next slot; false once the run is over.
  bool Wait() {
    const auto now = SteadyClock::now();
    if (next_ < now - period_) next_ = now;
    if (next_ >= end_) return false;
    std::this_thread::sleep_until(next_);
    next_ += period_;
    return true;
  }

 private:
  SteadyClock::duration period_;
  SteadyClock::time_point next_;
  SteadyClock::time_point end_;
};

double MsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

void Authorize(grpc::ClientContext& context, const std::string& key, absl::Duration deadline = kCallDeadline) {
  context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
}

struct TenantLoad {
  std::string tenant_id;
  std::string parent;
  std::string key;
  int devices = 0;
  double write_rps = 0;
  int write_devices = 0;
  int streams = 0;
  int stream_devices = 0;
  double registry_rps = 0;
};

std::string DeviceId(int i) { return absl::StrFormat("dev-%03d", i); }

// Values inside the `meter` type's bounds (temp -50..150, count >= 0).
struct Values {
  std::mt19937_64 rng;
  std::uniform_real_distribution<double> temp{20.0, 25.0};
  int64_t count = 0;
  explicit Values(uint64_t seed) : rng(seed) {}
  double Temp() { return std::round(temp(rng) * 1000) / 1000; }
};

// The batch's points: `write_devices` devices (round robin over the first half) x {temp point, ok point, count
// series of one}.
telemetrypb::WriteRequest WriteBatch(const TenantLoad& t, int64_t n, Values& values) {
  telemetrypb::WriteRequest request;
  request.set_parent(t.parent);
  request.set_batch_id(absl::StrCat(absl::GetFlag(FLAGS_run_id), "-w-", n));
  const int half = std::max(1, t.devices / 2);
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  for (int i = 0; i < t.write_devices; ++i) {
    const std::string device = DeviceId(static_cast<int>((n * t.write_devices + i) % half));
    auto* temp = request.add_points();
    temp->set_device(device);
    temp->set_metric("temp");
    temp->mutable_time()->set_seconds(now_ms / 1000);
    temp->mutable_time()->set_nanos(static_cast<int32_t>(now_ms % 1000) * 1'000'000);
    temp->mutable_value()->set_double_value(values.Temp());
    auto* ok = request.add_points();
    *ok = *temp;
    ok->set_metric("ok");
    ok->mutable_value()->set_bool_value(n % 2 == 0);
    auto* count = request.add_series();
    count->set_device(device);
    count->set_metric("count");
    count->add_timestamps_ms(now_ms);
    count->add_int_values(++values.count);
  }
  return request;
}

void RunWrites(const TenantLoad& t, telemetrypb::TelemetryService::Stub& stub, Report& report,
               SteadyClock::time_point end) {
  if (t.write_rps <= 0 || t.write_devices <= 0) return;
  RpcStats& stats = report.For("Write");
  Values values(std::hash<std::string>{}(t.tenant_id));
  Pacer pacer(t.write_rps, end);
  for (int64_t n = 0; pacer.Wait(); ++n) {
    const telemetrypb::WriteRequest request = WriteBatch(t, n, values);
    const int64_t expected = request.points_size() + request.series_size();
    grpc::ClientContext context;
    Authorize(context, t.key);
    telemetrypb::WriteResponse response;
    const auto start = SteadyClock::now();
    const grpc::Status status = stub.Write(&context, request, &response);
    const double ms = MsSince(start);
    if (!status.ok()) {
      stats.Record(CodeName(status.error_code()), ms, status.error_message());
    } else if (response.accepted_points() != expected || response.rejected_points() != 0) {
      stats.Record("POINTS_REJECTED", ms,
                   absl::StrCat(response.accepted_points(), " of ", expected, " accepted",
                                response.rejections_size() > 0
                                    ? absl::StrCat("; ", response.rejections(0).field(), ": ",
                                                   response.rejections(0).description())
                                    : ""));
    } else {
      stats.Record("OK", ms);
      stats.AddPoints(expected);
    }
  }
}

// One stream's batches: `stream_devices` devices of the stream's slice of the second half, two series each.
telemetrypb::WriteRequest StreamBatch(const TenantLoad& t, int stream, int64_t n, int samples, Values& values,
                                      int64_t* last_ms) {
  telemetrypb::WriteRequest request;
  request.set_parent(t.parent);
  request.set_batch_id(absl::StrCat(absl::GetFlag(FLAGS_run_id), "-s", stream, "-", n));
  const int half = t.devices / 2;
  const int slice = std::max(1, (t.devices - half) / std::max(1, t.streams));
  // Timestamps strictly after the previous batch's, so every point is new (ms resolution).
  int64_t ms = std::max(absl::ToUnixMillis(absl::Now()) - samples, *last_ms + 1);
  *last_ms = ms + samples - 1;
  for (int i = 0; i < t.stream_devices; ++i) {
    const std::string device = DeviceId(half + stream * slice + static_cast<int>((n * t.stream_devices + i) % slice));
    auto* temp = request.add_series();
    temp->set_device(device);
    temp->set_metric("temp");
    auto* count = request.add_series();
    count->set_device(device);
    count->set_metric("count");
    for (int s = 0; s < samples; ++s) {
      temp->add_timestamps_ms(ms + s);
      temp->add_double_values(values.Temp());
      count->add_timestamps_ms(ms + s);
      count->add_int_values(++values.count);
    }
  }
  return request;
}

void RunStream(const TenantLoad& t, int stream, telemetrypb::TelemetryService::Stub& stub, Report& report,
               SteadyClock::time_point end) {
  RpcStats& batches = report.For("WriteStream");
  RpcStats& calls = report.For("WriteStream.stream");
  const int samples = absl::GetFlag(FLAGS_stream_samples);
  const auto lifetime = std::chrono::seconds(absl::GetFlag(FLAGS_stream_seconds));
  Values values(std::hash<std::string>{}(t.tenant_id) + stream + 1);
  Pacer pacer(absl::GetFlag(FLAGS_stream_batches_per_second), end);
  int64_t n = 0;
  int64_t last_ms = 0;
  bool more = true;
  while (more) {
    grpc::ClientContext context;
    // The stream's own deadline covers its lifetime; each batch's answer is timed separately.
    Authorize(context, t.key, absl::FromChrono(lifetime) + kCallDeadline);
    const auto opened = SteadyClock::now();
    auto rw = stub.WriteStream(&context);
    bool broken = false;
    std::string why;
    while ((more = pacer.Wait())) {
      const telemetrypb::WriteRequest request = StreamBatch(t, stream, n++, samples, values, &last_ms);
      int64_t expected = 0;
      for (const auto& series : request.series()) expected += series.timestamps_ms_size();
      const auto start = SteadyClock::now();
      telemetrypb::WriteResponse response;
      if (!rw->Write(request) || !rw->Read(&response)) {
        broken = true;  // the status from Finish says why
        break;
      }
      const double ms = MsSince(start);
      if (response.has_error()) {
        batches.Record(CodeName(response.error().code()), ms, response.error().message());
      } else if (response.batch_id() != request.batch_id()) {
        batches.Record("WRONG_BATCH_ID", ms, absl::StrCat("sent ", request.batch_id(), ", answered ",
                                                          response.batch_id()));
      } else if (response.accepted_points() != expected || response.rejected_points() != 0 ||
                 response.duplicate()) {
        batches.Record("POINTS_REJECTED", ms,
                       absl::StrCat(response.accepted_points(), " of ", expected, " accepted, duplicate=",
                                    response.duplicate()));
      } else {
        batches.Record("OK", ms);
        batches.AddPoints(expected);
      }
      if (SteadyClock::now() - opened >= lifetime) break;
    }
    if (!broken) rw->WritesDone();
    const grpc::Status status = rw->Finish();
    if (broken && status.ok()) {
      calls.Record("STREAM_ENDED_EARLY", -1, "the server ended the stream with OK mid-batch");
    } else {
      calls.Record(CodeName(status.error_code()), -1, status.error_message());
    }
    if (broken || !status.ok()) std::this_thread::sleep_for(kReopenBackoff);
  }
}

void RunSubscribe(const TenantLoad& t, telemetrypb::TelemetryService::Stub& stub, Report& report,
                  SteadyClock::time_point end) {
  RpcStats& calls = report.For("Subscribe.stream");
  RpcStats& messages = report.For("Subscribe");
  const auto lifetime = std::chrono::seconds(absl::GetFlag(FLAGS_stream_seconds));
  telemetrypb::SubscribeRequest request;
  request.set_parent(t.parent);
  for (int d = t.devices / 2; d < t.devices; ++d) request.add_devices(DeviceId(d));
  while (SteadyClock::now() + std::chrono::seconds(2) < end) {
    const auto until = std::min(end, SteadyClock::now() + lifetime);
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", t.key));
    // The client ends its subscription by its deadline, as a client with a fixed session length would.
    context.set_deadline(std::chrono::system_clock::now() + (until - SteadyClock::now()));
    const auto opened = SteadyClock::now();
    auto reader = stub.Subscribe(&context, request);
    telemetrypb::SubscribeResponse response;
    int64_t received = 0;
    while (reader->Read(&response)) {
      received += response.points_size();
      messages.Record("OK", -1);
    }
    messages.AddPoints(received);
    const grpc::Status status = reader->Finish();
    const bool ended_by_us = status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
                             SteadyClock::now() + std::chrono::milliseconds(50) >= until;
    if (ended_by_us && received == 0 && until - opened >= std::chrono::seconds(5)) {
      calls.Record("NO_POINTS", -1, "a subscription on devices written 5 times a second got nothing");
    } else if (ended_by_us) {
      calls.Record("OK", -1);
    } else {
      calls.Record(CodeName(status.error_code()), -1, status.error_message());
      std::this_thread::sleep_for(kReopenBackoff);
    }
  }
}

// A 5-step cycle on one device of its own: create, a first point written (as a gateway does once a device is
// registered), update, set attributes, delete. Ids are never reused (a deleted device's id stays taken), so caches
// keyed by device see a steady stream of new and deleted devices.
void RunRegistry(const TenantLoad& t, devicepb::DeviceService::Stub& stub, telemetrypb::TelemetryService::Stub& writer,
                 Report& report, SteadyClock::time_point end) {
  if (t.registry_rps <= 0) return;
  const std::string prefix = absl::GetFlag(FLAGS_run_id);
  Pacer pacer(t.registry_rps, end);
  int64_t cycle = 0;
  int step = 0;
  auto record = [&](const char* rpc, const grpc::Status& status, SteadyClock::time_point start) {
    report.For(rpc).Record(CodeName(status.error_code()), MsSince(start), status.error_message());
  };
  // The cycle always finishes (a device left behind would count against the device quota on the next run).
  while (pacer.Wait() || step != 0) {
    const std::string id = absl::StrCat(prefix, "-", cycle);
    const std::string name = absl::StrCat(t.parent, "/devices/", id);
    grpc::ClientContext context;
    Authorize(context, t.key);
    const auto start = SteadyClock::now();
    devicepb::Device device;
    switch (step) {
      case 0: {
        devicepb::CreateDeviceRequest request;
        request.set_parent(t.parent);
        request.mutable_device()->set_device_id(id);
        request.mutable_device()->set_device_type_id("meter");
        request.mutable_device()->set_serial_number(absl::StrCat("SN-", id));
        (*request.mutable_device()->mutable_labels())["line"] = absl::StrCat(cycle % 7);
        record("CreateDevice", stub.CreateDevice(&context, request, &device), start);
        break;
      }
      case 1: {
        telemetrypb::WriteRequest request;
        request.set_parent(t.parent);
        request.set_batch_id(absl::StrCat(prefix, "-first-", cycle));
        auto* series = request.add_series();
        series->set_device(id);
        series->set_metric("count");
        series->add_timestamps_ms(absl::ToUnixMillis(absl::Now()));
        series->add_int_values(cycle);
        telemetrypb::WriteResponse response;
        const grpc::Status status = writer.Write(&context, request, &response);
        RpcStats& stats = report.For("Write.new_device");
        if (!status.ok()) {
          stats.Record(CodeName(status.error_code()), MsSince(start), status.error_message());
        } else if (response.accepted_points() != 1) {
          stats.Record("POINTS_REJECTED", MsSince(start),
                       response.rejections_size() > 0 ? response.rejections(0).description() : "not accepted");
        } else {
          stats.Record("OK", MsSince(start));
          stats.AddPoints(1);
        }
        break;
      }
      case 2: {
        devicepb::UpdateDeviceRequest request;
        request.mutable_device()->set_name(name);
        request.mutable_device()->set_display_name(absl::StrCat("Meter ", cycle));
        (*request.mutable_device()->mutable_labels())["line"] = absl::StrCat((cycle + 1) % 7);
        request.mutable_update_mask()->add_paths("display_name");
        request.mutable_update_mask()->add_paths("labels");
        record("UpdateDevice", stub.UpdateDevice(&context, request, &device), start);
        break;
      }
      case 3: {
        devicepb::SetDeviceAttributesRequest request;
        request.set_name(name);
        (*request.mutable_attributes())["firmware"].set_string_value(absl::StrCat("1.", cycle % 100));
        (*request.mutable_attributes())["cycles"].set_int64_value(cycle);
        record("SetDeviceAttributes", stub.SetDeviceAttributes(&context, request, &device), start);
        break;
      }
      default: {
        devicepb::DeleteDeviceRequest request;
        request.set_name(name);
        devicepb::DeleteDeviceResponse response;
        record("DeleteDevice", stub.DeleteDevice(&context, request, &response), start);
        ++cycle;
        break;
      }
    }
    step = (step + 1) % 5;
  }
}

int IntAt(const std::vector<std::string>& list, size_t i, const char* flag, bool* ok) {
  int value = 0;
  if (i >= list.size() || !absl::SimpleAtoi(list[i], &value) || value < 0) {
    std::fprintf(stderr, "soak_load: --%s needs a whole number >= 0 for each tenant\n", flag);
    *ok = false;
  }
  return value;
}

int Run() {
  const std::string address = absl::GetFlag(FLAGS_address);
  const std::vector<std::string> tenants = absl::GetFlag(FLAGS_tenants);
  const std::vector<std::string> keys = absl::GetFlag(FLAGS_keys);
  const std::string report_path = absl::GetFlag(FLAGS_report);
  const int duration_s = absl::GetFlag(FLAGS_duration_s);
  if (address.empty() || tenants.empty() || keys.size() != tenants.size() || report_path.empty() ||
      duration_s < 1 || absl::GetFlag(FLAGS_stream_seconds) < 1 || absl::GetFlag(FLAGS_stream_samples) < 1 ||
      absl::GetFlag(FLAGS_stream_batches_per_second) < 1) {
    std::fprintf(stderr,
                 "soak_load: needs --address, --tenants, as many --keys, --report, --duration_s >= 1 and positive "
                 "stream settings\n");
    return 2;
  }
  std::vector<TenantLoad> loads;
  bool ok = true;
  for (size_t i = 0; i < tenants.size(); ++i) {
    TenantLoad t;
    t.tenant_id = tenants[i];
    t.parent = absl::StrCat("tenants/", tenants[i]);
    t.key = keys[i];
    t.devices = IntAt(absl::GetFlag(FLAGS_devices), i, "devices", &ok);
    t.write_rps = IntAt(absl::GetFlag(FLAGS_write_rps), i, "write_rps", &ok);
    t.write_devices = IntAt(absl::GetFlag(FLAGS_write_devices), i, "write_devices", &ok);
    t.streams = IntAt(absl::GetFlag(FLAGS_streams), i, "streams", &ok);
    t.stream_devices = IntAt(absl::GetFlag(FLAGS_stream_devices), i, "stream_devices", &ok);
    t.registry_rps = IntAt(absl::GetFlag(FLAGS_registry_rps), i, "registry_rps", &ok);
    if (ok && t.devices < 2 * std::max(1, t.streams)) {
      std::fprintf(stderr, "soak_load: tenant %s needs at least 2 devices a stream\n", t.tenant_id.c_str());
      ok = false;
    }
    loads.push_back(t);
  }
  if (!ok) return 2;

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    std::fprintf(stderr, "soak_load: cannot connect to %s\n", address.c_str());
    return 1;
  }
  auto telemetry = telemetrypb::TelemetryService::NewStub(channel);
  auto devices = devicepb::DeviceService::NewStub(channel);

  Report report;
  const auto start = SteadyClock::now();
  const auto end = start + std::chrono::seconds(duration_s);
  std::vector<std::thread> threads;
  for (const TenantLoad& t : loads) {
    threads.emplace_back([&, t] { RunWrites(t, *telemetry, report, end); });
    for (int s = 0; s < t.streams; ++s) threads.emplace_back([&, t, s] { RunStream(t, s, *telemetry, report, end); });
    if (absl::GetFlag(FLAGS_subscribe) && t.streams > 0) {
      threads.emplace_back([&, t] { RunSubscribe(t, *telemetry, report, end); });
    }
    threads.emplace_back([&, t] { RunRegistry(t, *devices, *telemetry, report, end); });
  }
  std::atomic<bool> done{false};
  std::thread progress([&] {
    const int every = absl::GetFlag(FLAGS_progress_s);
    if (every <= 0) return;
    auto next = start + std::chrono::seconds(every);
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (SteadyClock::now() < next) continue;
      next += std::chrono::seconds(every);
      std::string line;
      for (const auto& [name, stats] : report.All()) absl::StrAppend(&line, " ", name, "=", stats->Calls());
      std::fprintf(stderr, "[soak_load] %.0f s:%s\n", MsSince(start) / 1000, line.c_str());
    }
  });
  for (auto& thread : threads) thread.join();
  done = true;
  progress.join();
  const double seconds = MsSince(start) / 1000;

  google::protobuf::Struct out;
  auto& fields = *out.mutable_fields();
  fields["seconds"].set_number_value(seconds);
  auto& rpcs = *fields["rpcs"].mutable_struct_value()->mutable_fields();
  for (const auto& [name, stats] : report.All()) {
    rpcs[name] = stats->ToJson(seconds);
    const auto& f = rpcs[name].struct_value().fields();
    std::printf("soak_load %-22s calls=%-8.0f %7.2f/s p50=%.1fms p99=%.1fms\n", name.c_str(),
                f.at("calls").number_value(), f.at("per_second").number_value(), f.at("p50_ms").number_value(),
                f.at("p99_ms").number_value());
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(out, &json, options).ok()) {
    std::fprintf(stderr, "soak_load: cannot print the report\n");
    return 1;
  }
  std::ofstream file(report_path);
  file << json;
  if (!file.good()) {
    std::fprintf(stderr, "soak_load: cannot write %s\n", report_path.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace parkbase::soak

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return parkbase::soak::Run();
}
