// App credentials hold in the device and telemetry services exactly as their grant says, tested from the access
// rules declared on the RPCs. Every method of DeviceService and TelemetryService is called with app credentials:
// (a) a method without `app_scope` refuses one holding every scope; (b) a method with `app_scope` refuses one
// lacking that scope and admits one holding it; (c) each method with `app_scope` has an entry in DataScopeChecks(),
// the checks of what its grant narrows (a device outside the grant's labels, a metric outside its metrics or
// write_metrics, another tenant's resources, a device relabelled out of the grant), and a declared method without
// one fails the test by name, so a new RPC cannot be left out.
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/access.h"
#include "common/app_grant.h"
#include "google/protobuf/dynamic_message.h"
#include "integration/telemetry_env.h"
#include "support/app_credentials.h"
#include "support/raw_call.h"
#include "support/resource_names.h"

namespace parkbase::testing {
namespace {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

// How soon a revoked credential's open streams must end (docs/architecture.md).
constexpr absl::Duration kRevocationBound = absl::Seconds(1);

bool WaitFor(absl::Duration limit, const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

// The services whose methods app credentials may be declared on.
std::vector<const google::protobuf::ServiceDescriptor*> AppServices() {
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  std::vector<const google::protobuf::ServiceDescriptor*> services;
  for (const char* name : {devpb::DeviceService::service_full_name(),
                                  telpb::TelemetryService::service_full_name()}) {
    const auto* service = pool->FindServiceByName(name);
    REQUIRE(service != nullptr);
    services.push_back(service);
  }
  return services;
}

// A tenant `acme` whose sensors are labelled for a grant on line 3, another tenant `globex`, points of every metric
// on every device, and the narrowed app credential the checks call with.
class AppWorld {
 public:
  AppWorld() : acme(env.CreateTenant("app", 0)), globex(env.CreateTenant("appother", 0)) {
    in0 = env.AddDevice(acme, "sensor", {{"line", "3"}});
    in1 = env.AddDevice(acme, "sensor", {{"line", "3"}, {"site", "north"}});
    out = env.AddDevice(acme, "sensor", {{"line", "4"}, {"site", "north"}});
    foreign = env.AddDevice(globex, "sensor", {{"line", "3"}});
    t = FloorTo(env.Now() - absl::Minutes(10), absl::Seconds(1));
    for (const devpb::Device& device : {in0, in1, out}) WriteEveryMetric(acme, device.device_id(), t);
    WriteEveryMetric(globex, foreign.device_id(), t);
    narrowed = MintAppCredential(acme.tenant_id, NarrowGrant()).key;
  }

  // Every scope; only devices on line 3; reads temp, count and state (not `on`); writes only state.
  static access::v1::AppGrant NarrowGrant() {
    access::v1::AppGrant grant = EveryScopeGrant();
    (*grant.mutable_device_labels())["line"] = "3";
    for (const char* metric : {"temp", "count", "state"}) grant.add_metrics(metric);
    grant.add_write_metrics("state");
    return grant;
  }

  void WriteEveryMetric(const TelemetryTenant& tenant, const std::string& device, absl::Time when) {
    telpb::WriteRequest request;
    request.set_parent(tenant.parent);
    *request.add_points() = MakePoint(device, "temp", when, DoubleValue(21.5));
    *request.add_points() = MakePoint(device, "count", when, IntValue(7));
    *request.add_points() = MakePoint(device, "on", when, BoolValue(true));
    *request.add_points() = MakePoint(device, "state", when, StringValue("idle"));
    REQUIRE(env.MustWrite(tenant.keys.admin_key, request).accepted_points() == 4);
  }

  // A device of acme on line 3, for a check that relabels it.
  devpb::Device AddInside() { return env.AddDevice(acme, "sensor", {{"line", "3"}}); }

  void Relabel(const devpb::Device& device, const std::map<std::string, std::string>& labels) {
    devpb::UpdateDeviceRequest request;
    request.mutable_device()->set_name(device.name());
    for (const auto& [key, value] : labels) (*request.mutable_device()->mutable_labels())[key] = value;
    request.mutable_update_mask()->add_paths("labels");
    devpb::Device updated;
    grpc::Status status = env.device_stub->UpdateDevice(Context(acme.keys.admin_key).get(), request, &updated);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }

  // Makes the telemetry service's schema cache hold `device` as it is now, so a change made right after is one the
  // cache has not seen: an admin's write resolves the device through the cache.
  void WarmCache(const devpb::Device& device) {
    telpb::WriteRequest request;
    request.set_parent(acme.parent);
    *request.add_points() = MakePoint(device.device_id(), "temp", t - absl::Minutes(1), DoubleValue(1));
    REQUIRE(env.MustWrite(acme.keys.admin_key, request).accepted_points() == 1);
  }

  grpc::Status GetLatest(const std::string& key, const std::string& parent, const std::vector<std::string>& devices,
                         const std::vector<std::string>& metrics, telpb::GetLatestResponse* response) {
    telpb::GetLatestRequest request;
    request.set_parent(parent);
    for (const auto& device : devices) request.add_devices(device);
    for (const auto& metric : metrics) request.add_metrics(metric);
    return env.stub->GetLatest(Context(key).get(), request, response);
  }

  grpc::Status ReadRange(const std::string& key, const std::string& parent, const std::string& device,
                         const std::vector<std::string>& metrics, telpb::ReadRangeResponse* response) {
    telpb::ReadRangeRequest request;
    request.set_parent(parent);
    request.set_device(device);
    for (const auto& metric : metrics) request.add_metrics(metric);
    *request.mutable_start_time() = ToProto(t - absl::Hours(1));
    *request.mutable_end_time() = ToProto(t + absl::Hours(1));
    return env.stub->ReadRange(Context(key).get(), request, response);
  }

  telpb::AggregateRequest AggregateOf(const std::vector<std::string>& devices,
                                      const std::map<std::string, std::string>& labels, const std::string& metric) {
    telpb::AggregateRequest request =
        MakeAggregate(acme.parent, devices, metric, t - absl::Hours(1), t + absl::Hours(1), absl::Hours(2), true);
    for (const auto& [key, value] : labels) (*request.mutable_labels())[key] = value;
    return request;
  }

  grpc::Status Aggregate(const std::string& key, const telpb::AggregateRequest& request,
                         telpb::AggregateResponse* response) {
    return env.stub->Aggregate(Context(key).get(), request, response);
  }

  grpc::Status GetDevice(const std::string& key, const std::string& name, devpb::Device* device) {
    devpb::GetDeviceRequest request;
    request.set_name(name);
    return env.device_stub->GetDevice(Context(key).get(), request, device);
  }

  // Every page of ListDevices; the ids in order.
  grpc::Status ListDevices(const std::string& key, const std::string& parent, const std::string& filter,
                           int page_size, std::vector<std::string>* ids) {
    devpb::ListDevicesRequest request;
    request.set_parent(parent);
    request.set_filter(filter);
    request.set_page_size(page_size);
    for (int pages = 0; pages < 1000; ++pages) {
      devpb::ListDevicesResponse response;
      grpc::Status status = env.device_stub->ListDevices(Context(key).get(), request, &response);
      if (!status.ok()) return status;
      if (page_size > 0) CHECK(response.devices_size() <= page_size);
      for (const auto& device : response.devices()) ids->push_back(device.device_id());
      if (response.next_page_token().empty()) return status;
      request.set_page_token(response.next_page_token());
    }
    FAIL("ListDevices: too many pages");
    return grpc::Status::CANCELLED;
  }

  // Write, or one batch through WriteStream (a batch refused whole comes back as the status).
  grpc::Status Write(const std::string& key, telpb::WriteRequest request, bool streamed,
                     telpb::WriteResponse* response) {
    if (!streamed) return env.stub->Write(Context(key).get(), request, response);
    request.set_batch_id(UniqueId("b"));
    auto context = Context(key);
    auto stream = env.stub->WriteStream(context.get());
    if (stream->Write(request)) stream->Read(response);
    stream->WritesDone();
    while (stream->Read(response)) {
    }
    grpc::Status status = stream->Finish();
    if (status.ok() && response->has_error()) {
      return grpc::Status(static_cast<grpc::StatusCode>(response->error().code()), response->error().message());
    }
    return status;
  }

  // Points stored for `device`/`metric`, as the tenant admin reads them.
  size_t Stored(const std::string& device, const std::string& metric) {
    return env.ReadAll(acme.keys.admin_key, acme.parent, device, t - absl::Hours(1), t + absl::Hours(1), {metric})
        .size();
  }

  std::vector<std::string> AdminListOnLine3() {
    std::vector<std::string> ids;
    REQUIRE(ListDevices(acme.keys.admin_key, acme.parent, "labels.line = 3", 0, &ids).ok());
    return ids;
  }

  TelemetryEnv env;
  TelemetryTenant acme;
  TelemetryTenant globex;
  devpb::Device in0;      // line 3
  devpb::Device in1;      // line 3, site north
  devpb::Device out;      // line 4, site north: outside the grant
  devpb::Device foreign;  // globex's, line 3
  absl::Time t;
  std::string narrowed;  // NarrowGrant()
};

std::set<std::string> DevicesOf(const telpb::GetLatestResponse& response) {
  std::set<std::string> devices;
  for (const auto& value : response.values()) devices.insert(value.device());
  return devices;
}

std::set<std::string> MetricsOf(const google::protobuf::RepeatedPtrField<telpb::DataPoint>& points) {
  std::set<std::string> metrics;
  for (const auto& point : points) metrics.insert(point.metric());
  return metrics;
}

std::string UnknownDevice(const std::string& reference) {
  return absl::StrCat("no device \"", reference, "\" in the tenant");
}

// A subscription held open in the background, collecting what it is delivered.
struct Subscription {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<telpb::SubscribeResponse>> reader;
  std::thread thread;
  absl::Mutex mu;
  std::vector<telpb::DataPoint> points ABSL_GUARDED_BY(mu);
  std::atomic<bool> ended{false};
  absl::Time ended_at;
  grpc::Status status;

  Subscription(AppWorld& world, const std::string& key, const telpb::SubscribeRequest& request) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    reader = world.env.stub->Subscribe(&context, request);
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
  std::vector<telpb::DataPoint> received() {
    absl::MutexLock lock(&mu);
    return points;
  }
  void Forget() {
    absl::MutexLock lock(&mu);
    points.clear();
  }
  // Whether a point of `device`/`metric` at `time` was delivered.
  bool Has(const std::string& device, const std::string& metric, absl::Time time) {
    for (const auto& point : received()) {
      if (point.device() == device && point.metric() == metric && MsOf(point.time()) == ToMs(time)) return true;
    }
    return false;
  }
};

telpb::SubscribeRequest SubscribeTo(const std::string& parent, const std::vector<std::string>& devices = {},
                                    const std::vector<std::string>& metrics = {}) {
  telpb::SubscribeRequest request;
  request.set_parent(parent);
  for (const auto& device : devices) request.add_devices(device);
  for (const auto& metric : metrics) request.add_metrics(metric);
  return request;
}

// A subscription the server refuses at once: its status.
grpc::Status RefusedSubscription(AppWorld& world, const std::string& key, const telpb::SubscribeRequest& request) {
  auto context = Context(key);
  auto reader = world.env.stub->Subscribe(context.get(), request);
  telpb::SubscribeResponse message;
  while (reader->Read(&message)) {
  }
  return reader->Finish();
}

// Returns once `subscription` is delivered what is written (the server publishes only while it knows of a
// subscriber, which it learns within half a second): writes a probe point of a device and metric inside the grant
// until one arrives, then forgets what arrived.
void AwaitLive(AppWorld& world, Subscription& subscription) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (int probe = 0; absl::Now() < deadline; ++probe) {
    const absl::Time when = world.t - absl::Minutes(30) + absl::Seconds(probe);
    telpb::WriteRequest request;
    request.set_parent(world.acme.parent);
    *request.add_points() = MakePoint(world.in1.device_id(), "temp", when, DoubleValue(probe));
    world.env.MustWrite(world.acme.keys.admin_key, request);
    if (WaitFor(absl::Milliseconds(200), [&] { return subscription.Has(world.in1.device_id(), "temp", when); })) {
      subscription.Forget();
      return;
    }
  }
  FAIL("the subscription never received a point");
}

struct DataScopeCheck {
  std::string what;
  std::function<void(AppWorld&)> run;
};

// --- checks shared by methods ----------------------------------------------------------------------------------

void ForeignParentIsNotFound(AppWorld& world, const std::string& full_method) {
  const auto* method = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_method);
  REQUIRE(method != nullptr);
  const access::v1::Rule* rule = AccessRuleOf(*method);
  REQUIRE(rule != nullptr);
  REQUIRE_FALSE(rule->tenant_field().empty());
  google::protobuf::DynamicMessageFactory factory;
  std::unique_ptr<Message> request(factory.GetPrototype(method->input_type())->New());
  const std::optional<std::string> name =
      ResourceNameFor(*method, rule->tenant_field(), world.globex.tenant_id,
                      {{"devices", world.foreign.device_id()}, {"deviceTypes", "sensor"}});
  REQUIRE(name.has_value());
  SetStringAt(*request, rule->tenant_field(), *name);
  const std::string path = absl::StrCat("/", method->service()->full_name(), "/", method->name());
  const grpc::Status status = CallAnyMethodWithin(*world.env.server.channel(), path, world.narrowed,
                                                  request->SerializeAsString(), absl::Seconds(5));
  INFO(full_method << " naming " << *name << ": " << status.error_message());
  CHECK(status.error_code() == grpc::NOT_FOUND);
}

void WriteIsNarrowed(AppWorld& world, bool streamed) {
  const std::string in0 = world.in0.device_id();
  const std::string in1 = world.in1.device_id();
  const std::string out = world.out.device_id();
  const std::string missing = "no-such-device";
  const absl::Time when = world.t + absl::Seconds(streamed ? 2 : 1);
  const size_t in0_state = world.Stored(in0, "state");
  const size_t in1_state = world.Stored(in1, "state");
  const size_t out_state = world.Stored(out, "state");
  const size_t in0_temp = world.Stored(in0, "temp");
  telpb::WriteRequest request;
  request.set_parent(world.acme.parent);
  *request.add_points() = MakePoint(in0, "state", when, StringValue("set by the app"));       // stored
  *request.add_points() = MakePoint(out, "state", when, StringValue("outside"));              // outside the grant
  *request.add_points() = MakePoint(in0, "temp", when, DoubleValue(30));                      // not a write metric
  *request.add_points() = MakePoint(missing, "state", when, StringValue("nothing"));         // no such device
  *request.add_points() = MakePoint(world.foreign.device_id(), "state", when, StringValue("x"));  // globex's
  telpb::Series* series = request.add_series();
  series->set_device(in1);
  series->set_metric("state");
  series->add_timestamps_ms(ToMs(when));
  series->add_string_values("set by the app");  // stored
  telpb::Series* on = request.add_series();
  on->set_device(in1);
  on->set_metric("on");
  on->add_timestamps_ms(ToMs(when));
  on->add_bool_values(false);  // neither read nor written by the grant
  telpb::WriteResponse response;
  grpc::Status status = world.Write(world.narrowed, request, streamed, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(response.accepted_points() == 2);
  CHECK(response.rejected_points() == 5);
  std::map<std::string, std::pair<telpb::RejectionReason, std::string>> rejected;
  for (const auto& rejection : response.rejections()) {
    rejected[rejection.field()] = {rejection.reason(), rejection.description()};
  }
  using Rejection = std::pair<telpb::RejectionReason, std::string>;
  // A device outside the grant is rejected exactly like one that does not exist.
  CHECK(rejected["points[1].device"] == Rejection{telpb::REJECTION_REASON_UNKNOWN_DEVICE, UnknownDevice(out)});
  CHECK(rejected["points[3].device"] == Rejection{telpb::REJECTION_REASON_UNKNOWN_DEVICE, UnknownDevice(missing)});
  CHECK(rejected["points[4].device"] ==
        Rejection{telpb::REJECTION_REASON_UNKNOWN_DEVICE, UnknownDevice(world.foreign.device_id())});
  CHECK(rejected["points[2].metric"].first == telpb::REJECTION_REASON_NOT_GRANTED);
  CHECK(rejected["series[1].metric"].first == telpb::REJECTION_REASON_NOT_GRANTED);
  CHECK(rejected.size() == 5);
  CHECK(world.Stored(in0, "state") == in0_state + 1);
  CHECK(world.Stored(in1, "state") == in1_state + 1);
  CHECK(world.Stored(out, "state") == out_state);
  CHECK(world.Stored(in0, "temp") == in0_temp);
}

void WriteDropsRelabelled(AppWorld& world, bool streamed) {
  const devpb::Device device = world.AddInside();
  telpb::WriteRequest request;
  request.set_parent(world.acme.parent);
  *request.add_points() = MakePoint(device.device_id(), "state", world.t, StringValue("before"));
  telpb::WriteResponse response;
  REQUIRE(world.Write(world.narrowed, request, streamed, &response).ok());
  REQUIRE(response.accepted_points() == 1);
  world.WarmCache(device);
  world.Relabel(device, {{"line", "4"}});
  *request.mutable_points(0)->mutable_value() = StringValue("after");
  *request.mutable_points(0)->mutable_time() = ToProto(world.t + absl::Seconds(1));
  telpb::WriteResponse after;
  REQUIRE(world.Write(world.narrowed, request, streamed, &after).ok());
  CHECK(after.accepted_points() == 0);
  REQUIRE(after.rejections_size() == 1);
  CHECK(after.rejections(0).reason() == telpb::REJECTION_REASON_UNKNOWN_DEVICE);
  CHECK(world.Stored(device.device_id(), "state") == 1);
}

void WriteToForeignTenant(AppWorld& world, bool streamed) {
  telpb::WriteRequest request;
  request.set_parent(world.globex.parent);
  *request.add_points() = MakePoint(world.foreign.device_id(), "state", world.t, StringValue("x"));
  telpb::WriteResponse response;
  CHECK(world.Write(world.narrowed, request, streamed, &response).error_code() == grpc::NOT_FOUND);
}

// --- the table ---------------------------------------------------------------------------------------------------

// What an app credential's grant narrows, by method (full name). Every method declared with `app_scope` needs an
// entry: the test fails naming any that has none.
const std::map<std::string, std::vector<DataScopeCheck>>& DataScopeChecks() {
  static const auto* checks = new std::map<std::string, std::vector<DataScopeCheck>>{
      {"parkbase.device.v1.DeviceService.GetDeviceType",
       {{"types are schemas, not data: every type of the tenant is readable",
         [](AppWorld& world) {
           devpb::GetDeviceTypeRequest request;
           request.set_name(absl::StrCat(world.acme.parent, "/deviceTypes/sensor"));
           devpb::DeviceType type;
           CHECK(world.env.device_stub->GetDeviceType(Context(world.narrowed).get(), request, &type).ok());
           CHECK(type.metrics_size() == 4);  // metrics the grant does not cover are still part of the schema
         }},
        {"another tenant's type is NOT_FOUND",
         [](AppWorld& world) { ForeignParentIsNotFound(world, "parkbase.device.v1.DeviceService.GetDeviceType"); }}}},
      {"parkbase.device.v1.DeviceService.ListDeviceTypes",
       {{"types are schemas, not data: every type of the tenant is listed",
         [](AppWorld& world) {
           devpb::ListDeviceTypesRequest request;
           request.set_parent(world.acme.parent);
           devpb::ListDeviceTypesResponse response;
           CHECK(world.env.device_stub->ListDeviceTypes(Context(world.narrowed).get(), request, &response).ok());
           CHECK(response.device_types_size() == 1);
         }},
        {"another tenant's types are NOT_FOUND",
         [](AppWorld& world) {
           ForeignParentIsNotFound(world, "parkbase.device.v1.DeviceService.ListDeviceTypes");
         }}}},
      {"parkbase.device.v1.DeviceService.GetDevice",
       {{"a device inside the grant is readable",
         [](AppWorld& world) {
           devpb::Device device;
           CHECK(world.GetDevice(world.narrowed, world.in1.name(), &device).ok());
           CHECK(device.device_id() == world.in1.device_id());
         }},
        {"a device outside the grant is NOT_FOUND, exactly like a missing one",
         [](AppWorld& world) {
           devpb::Device device;
           const grpc::Status outside = world.GetDevice(world.narrowed, world.out.name(), &device);
           CHECK(outside.error_code() == grpc::NOT_FOUND);
           CHECK(outside.error_message() == absl::StrCat(world.out.name(), ": not found"));
           const std::string missing = absl::StrCat(world.acme.parent, "/devices/no-such-device");
           const grpc::Status absent = world.GetDevice(world.narrowed, missing, &device);
           CHECK(absent.error_code() == grpc::NOT_FOUND);
           CHECK(absent.error_message() == absl::StrCat(missing, ": not found"));
         }},
        {"a device relabelled out of the grant is NOT_FOUND at once",
         [](AppWorld& world) {
           const devpb::Device device = world.AddInside();
           devpb::Device read;
           REQUIRE(world.GetDevice(world.narrowed, device.name(), &read).ok());
           world.Relabel(device, {{"line", "4"}});
           CHECK(world.GetDevice(world.narrowed, device.name(), &read).error_code() == grpc::NOT_FOUND);
         }},
        {"another tenant's device is NOT_FOUND",
         [](AppWorld& world) { ForeignParentIsNotFound(world, "parkbase.device.v1.DeviceService.GetDevice"); }}}},
      {"parkbase.device.v1.DeviceService.ListDevices",
       {{"only the devices inside the grant, page by page",
         [](AppWorld& world) {
           const std::vector<std::string> expected = world.AdminListOnLine3();
           REQUIRE(expected.size() >= 2);
           for (int page_size : {0, 1}) {
             std::vector<std::string> ids;
             REQUIRE(world.ListDevices(world.narrowed, world.acme.parent, "", page_size, &ids).ok());
             CHECK(ids == expected);
           }
         }},
        {"a filter cannot widen the grant",
         [](AppWorld& world) {
           std::vector<std::string> ids;
           REQUIRE(world.ListDevices(world.narrowed, world.acme.parent, "labels.line = 4", 0, &ids).ok());
           CHECK(ids.empty());
           ids.clear();
           REQUIRE(world.ListDevices(world.narrowed, world.acme.parent, "labels.site = north", 0, &ids).ok());
           CHECK(ids == std::vector<std::string>{world.in1.device_id()});
         }},
        {"a device relabelled out of the grant is not listed at once",
         [](AppWorld& world) {
           const devpb::Device device = world.AddInside();
           std::vector<std::string> before;
           REQUIRE(world.ListDevices(world.narrowed, world.acme.parent, "", 0, &before).ok());
           REQUIRE(std::count(before.begin(), before.end(), device.device_id()) == 1);
           world.Relabel(device, {{"line", "4"}});
           std::vector<std::string> after;
           REQUIRE(world.ListDevices(world.narrowed, world.acme.parent, "", 0, &after).ok());
           CHECK(std::count(after.begin(), after.end(), device.device_id()) == 0);
         }},
        {"another tenant's devices are NOT_FOUND",
         [](AppWorld& world) { ForeignParentIsNotFound(world, "parkbase.device.v1.DeviceService.ListDevices"); }}}},
      {"parkbase.device.v1.DeviceService.ResolveIdentifier",
       {{"park-wide public records resolve whatever the grant selects",
         [](AppWorld& world) {
           for (const devpb::Device* device : {&world.out, &world.foreign}) {
             devpb::ResolveIdentifierRequest request;
             request.set_identifier(device->identifier());
             devpb::IdentifierRecord record;
             grpc::Status status =
                 world.env.device_stub->ResolveIdentifier(Context(world.narrowed).get(), request, &record);
             INFO(status.error_message());
             CHECK(status.ok());
             CHECK(record.identifier() == device->identifier());
           }
         }}}},
      {"parkbase.telemetry.v1.TelemetryService.Write",
       {{"points outside the grant are rejected one by one, the rest stored",
         [](AppWorld& world) { WriteIsNarrowed(world, /*streamed=*/false); }},
        {"a device relabelled out of the grant is rejected at once",
         [](AppWorld& world) { WriteDropsRelabelled(world, /*streamed=*/false); }},
        {"another tenant is NOT_FOUND", [](AppWorld& world) { WriteToForeignTenant(world, /*streamed=*/false); }}}},
      {"parkbase.telemetry.v1.TelemetryService.WriteStream",
       {{"points outside the grant are rejected one by one, the rest stored",
         [](AppWorld& world) { WriteIsNarrowed(world, /*streamed=*/true); }},
        {"a device relabelled out of the grant is rejected at once",
         [](AppWorld& world) { WriteDropsRelabelled(world, /*streamed=*/true); }},
        {"another tenant is NOT_FOUND", [](AppWorld& world) { WriteToForeignTenant(world, /*streamed=*/true); }}}},
      {"parkbase.telemetry.v1.TelemetryService.GetLatest",
       {{"without metrics named, only the metrics the grant covers",
         [](AppWorld& world) {
           telpb::GetLatestResponse response;
           REQUIRE(world.GetLatest(world.narrowed, world.acme.parent, {world.in0.device_id(), world.in1.device_id()},
                                   {}, &response)
                       .ok());
           CHECK(DevicesOf(response) == std::set<std::string>{world.in0.device_id(), world.in1.device_id()});
           CHECK(MetricsOf(response.values()) == std::set<std::string>{"count", "state", "temp"});
         }},
        {"a device outside the grant is NOT_FOUND naming the field",
         [](AppWorld& world) {
           telpb::GetLatestResponse response;
           grpc::Status status = world.GetLatest(world.narrowed, world.acme.parent,
                                                 {world.in0.device_id(), world.out.device_id()}, {}, &response);
           CHECK(status.error_code() == grpc::NOT_FOUND);
           CHECK(status.error_message() == absl::StrCat("devices[1]: ", UnknownDevice(world.out.device_id())));
           CHECK(response.values_size() == 0);
         }},
        {"a metric the grant does not cover is PERMISSION_DENIED naming the field",
         [](AppWorld& world) {
           telpb::GetLatestResponse response;
           grpc::Status status =
               world.GetLatest(world.narrowed, world.acme.parent, {world.in0.device_id()}, {"temp", "on"}, &response);
           CHECK(status.error_code() == grpc::PERMISSION_DENIED);
           CHECK(absl::StartsWith(status.error_message(), "metrics[1]"));
         }},
        {"a device relabelled out of the grant is NOT_FOUND at once",
         [](AppWorld& world) {
           const devpb::Device device = world.AddInside();
           world.WriteEveryMetric(world.acme, device.device_id(), world.t);
           telpb::GetLatestResponse response;
           REQUIRE(world.GetLatest(world.narrowed, world.acme.parent, {device.device_id()}, {}, &response).ok());
           REQUIRE(response.values_size() == 3);
           world.WarmCache(device);
           world.Relabel(device, {{"line", "4"}});
           CHECK(world.GetLatest(world.narrowed, world.acme.parent, {device.device_id()}, {}, &response)
                     .error_code() == grpc::NOT_FOUND);
         }},
        {"another tenant's device, named in the app's own tenant or in its own, is NOT_FOUND",
         [](AppWorld& world) {
           telpb::GetLatestResponse response;
           CHECK(world.GetLatest(world.narrowed, world.acme.parent, {world.foreign.device_id()}, {}, &response)
                     .error_code() == grpc::NOT_FOUND);
           CHECK(world.GetLatest(world.narrowed, world.globex.parent, {world.foreign.device_id()}, {}, &response)
                     .error_code() == grpc::NOT_FOUND);
         }}}},
      {"parkbase.telemetry.v1.TelemetryService.ReadRange",
       {{"without metrics named, only the metrics the grant covers",
         [](AppWorld& world) {
           telpb::ReadRangeResponse response;
           REQUIRE(world.ReadRange(world.narrowed, world.acme.parent, world.in0.device_id(), {}, &response).ok());
           CHECK(MetricsOf(response.points()) == std::set<std::string>{"count", "state", "temp"});
         }},
        {"a device outside the grant is NOT_FOUND",
         [](AppWorld& world) {
           telpb::ReadRangeResponse response;
           grpc::Status status =
               world.ReadRange(world.narrowed, world.acme.parent, world.out.device_id(), {"temp"}, &response);
           CHECK(status.error_code() == grpc::NOT_FOUND);
           CHECK(status.error_message() == absl::StrCat("device: ", UnknownDevice(world.out.device_id())));
         }},
        {"a metric the grant does not cover is PERMISSION_DENIED naming the field",
         [](AppWorld& world) {
           telpb::ReadRangeResponse response;
           grpc::Status status =
               world.ReadRange(world.narrowed, world.acme.parent, world.in0.device_id(), {"on"}, &response);
           CHECK(status.error_code() == grpc::PERMISSION_DENIED);
           CHECK(absl::StartsWith(status.error_message(), "metrics[0]"));
         }},
        {"a device relabelled out of the grant is NOT_FOUND at once",
         [](AppWorld& world) {
           const devpb::Device device = world.AddInside();
           world.WriteEveryMetric(world.acme, device.device_id(), world.t);
           world.WarmCache(device);
           world.Relabel(device, {{"line", "4"}});
           telpb::ReadRangeResponse response;
           CHECK(world.ReadRange(world.narrowed, world.acme.parent, device.device_id(), {}, &response).error_code() ==
                 grpc::NOT_FOUND);
         }},
        {"another tenant's device is NOT_FOUND",
         [](AppWorld& world) {
           telpb::ReadRangeResponse response;
           CHECK(world.ReadRange(world.narrowed, world.acme.parent, world.foreign.device_id(), {}, &response)
                     .error_code() == grpc::NOT_FOUND);
           ForeignParentIsNotFound(world, "parkbase.telemetry.v1.TelemetryService.ReadRange");
         }}}},
      {"parkbase.telemetry.v1.TelemetryService.Aggregate",
       {{"by labels: only devices matching both the request's labels and the grant's",
         [](AppWorld& world) {
           telpb::AggregateResponse response;
           REQUIRE(world.Aggregate(world.narrowed, world.AggregateOf({}, {{"site", "north"}}, "temp"), &response)
                       .ok());
           std::set<std::string> devices;
           for (const auto& bucket : response.buckets()) devices.insert(bucket.device());
           CHECK(devices == std::set<std::string>{world.in1.device_id()});  // `out` is in the north hall too
         }},
        {"by labels contradicting the grant: nothing",
         [](AppWorld& world) {
           telpb::AggregateResponse response;
           REQUIRE(world.Aggregate(world.narrowed, world.AggregateOf({}, {{"line", "4"}}, "temp"), &response).ok());
           CHECK(response.buckets_size() == 0);
         }},
        {"by ids: a device outside the grant is NOT_FOUND naming the field",
         [](AppWorld& world) {
           telpb::AggregateResponse response;
           grpc::Status status = world.Aggregate(
               world.narrowed, world.AggregateOf({world.in0.device_id(), world.out.device_id()}, {}, "temp"),
               &response);
           CHECK(status.error_code() == grpc::NOT_FOUND);
           CHECK(status.error_message() == absl::StrCat("devices[1]: ", UnknownDevice(world.out.device_id())));
         }},
        {"a metric the grant does not cover is PERMISSION_DENIED naming the field",
         [](AppWorld& world) {
           telpb::AggregateResponse response;
           grpc::Status status =
               world.Aggregate(world.narrowed, world.AggregateOf({world.in0.device_id()}, {}, "on"), &response);
           CHECK(status.error_code() == grpc::PERMISSION_DENIED);
           CHECK(absl::StartsWith(status.error_message(), "metric:"));
         }},
        {"a device relabelled out of the grant is NOT_FOUND at once",
         [](AppWorld& world) {
           const devpb::Device device = world.AddInside();
           world.WarmCache(device);
           world.Relabel(device, {{"line", "4"}});
           telpb::AggregateResponse response;
           CHECK(world.Aggregate(world.narrowed, world.AggregateOf({device.device_id()}, {}, "temp"), &response)
                     .error_code() == grpc::NOT_FOUND);
         }},
        {"another tenant's device is NOT_FOUND",
         [](AppWorld& world) {
           telpb::AggregateResponse response;
           CHECK(world.Aggregate(world.narrowed, world.AggregateOf({world.foreign.device_id()}, {}, "temp"),
                                 &response)
                     .error_code() == grpc::NOT_FOUND);
           ForeignParentIsNotFound(world, "parkbase.telemetry.v1.TelemetryService.Aggregate");
         }}}},
      {"parkbase.telemetry.v1.TelemetryService.Subscribe",
       {{"delivers only the grant's devices and metrics",
         [](AppWorld& world) {
           Subscription subscription(world, world.narrowed, SubscribeTo(world.acme.parent));
           AwaitLive(world, subscription);
           const absl::Time when = world.t + absl::Seconds(10);
           telpb::WriteRequest hidden;
           hidden.set_parent(world.acme.parent);
           *hidden.add_points() = MakePoint(world.out.device_id(), "temp", when, DoubleValue(1));
           *hidden.add_points() = MakePoint(world.in0.device_id(), "on", when, BoolValue(true));
           world.env.MustWrite(world.acme.keys.admin_key, hidden);
           telpb::WriteRequest shown;
           shown.set_parent(world.acme.parent);
           *shown.add_points() = MakePoint(world.in0.device_id(), "temp", when, DoubleValue(2));
           *shown.add_points() = MakePoint(world.in1.device_id(), "count", when, IntValue(3));
           world.env.MustWrite(world.acme.keys.admin_key, shown);
           // Batches are delivered in order: once the second is here, the first was filtered.
           REQUIRE(WaitFor(absl::Seconds(5), [&] { return subscription.received().size() >= 2; }));
           std::set<std::string> delivered;
           for (const auto& point : subscription.received()) {
             delivered.insert(absl::StrCat(point.device(), "/", point.metric()));
           }
           CHECK(delivered == std::set<std::string>{absl::StrCat(world.in0.device_id(), "/temp"),
                                                    absl::StrCat(world.in1.device_id(), "/count")});
         }},
        {"a device outside the grant or a metric it does not cover is refused naming the field",
         [](AppWorld& world) {
           grpc::Status device = RefusedSubscription(world, world.narrowed,
                                                     SubscribeTo(world.acme.parent, {world.out.device_id()}));
           CHECK(device.error_code() == grpc::NOT_FOUND);
           CHECK(absl::StartsWith(device.error_message(), "devices[0]"));
           grpc::Status metric =
               RefusedSubscription(world, world.narrowed, SubscribeTo(world.acme.parent, {}, {"temp", "on"}));
           CHECK(metric.error_code() == grpc::PERMISSION_DENIED);
           CHECK(absl::StartsWith(metric.error_message(), "metrics[1]"));
         }},
        {"a device relabelled out of the grant is no longer delivered",
         [](AppWorld& world) {
           const devpb::Device device = world.AddInside();
           Subscription subscription(world, world.narrowed, SubscribeTo(world.acme.parent, {}, {"temp"}));
           AwaitLive(world, subscription);
           world.WarmCache(device);
           world.Relabel(device, {{"line", "4"}});
           const absl::Time when = world.t + absl::Seconds(20);
           telpb::WriteRequest relabelled;
           relabelled.set_parent(world.acme.parent);
           *relabelled.add_points() = MakePoint(device.device_id(), "temp", when, DoubleValue(4));
           world.env.MustWrite(world.acme.keys.admin_key, relabelled);
           telpb::WriteRequest sentinel;
           sentinel.set_parent(world.acme.parent);
           *sentinel.add_points() = MakePoint(world.in1.device_id(), "temp", when, DoubleValue(5));
           world.env.MustWrite(world.acme.keys.admin_key, sentinel);
           REQUIRE(WaitFor(absl::Seconds(5), [&] { return subscription.Has(world.in1.device_id(), "temp", when); }));
           CHECK_FALSE(subscription.Has(device.device_id(), "temp", when));
         }},
        {"revoking the app credential ends the subscription within 1 s",
         [](AppWorld& world) {
           const TestAppCredential credential = MintAppCredential(world.acme.tenant_id, AppWorld::NarrowGrant());
           Subscription subscription(world, credential.key, SubscribeTo(world.acme.parent));
           AwaitLive(world, subscription);
           REQUIRE_FALSE(subscription.ended.load());
           RevokeAppCredential(world.acme.tenant_id, credential.key_id, world.env.server.server().auth_invalidator());
           const absl::Time revoked_at = absl::Now();
           REQUIRE(WaitFor(absl::Seconds(3), [&] { return subscription.ended.load(); }));
           CHECK(subscription.ended_at - revoked_at < kRevocationBound);
           CHECK(subscription.status.error_code() == grpc::UNAUTHENTICATED);
         }},
        {"another tenant is NOT_FOUND",
         [](AppWorld& world) {
           CHECK(RefusedSubscription(world, world.narrowed, SubscribeTo(world.globex.parent)).error_code() ==
                 grpc::NOT_FOUND);
           CHECK(RefusedSubscription(world, world.narrowed,
                                     SubscribeTo(world.acme.parent, {world.foreign.device_id()}))
                     .error_code() == grpc::NOT_FOUND);
         }}}},
      {"parkbase.telemetry.v1.TelemetryService.GetRetentionPolicy",
       {{"the tenant's policy is configuration, not device data: readable whole",
         [](AppWorld& world) {
           telpb::GetRetentionPolicyRequest request;
           request.set_name(absl::StrCat(world.acme.parent, "/retentionPolicy"));
           telpb::RetentionPolicy policy;
           CHECK(world.env.stub->GetRetentionPolicy(Context(world.narrowed).get(), request, &policy).ok());
           CHECK(policy.raw_retention_days() > 0);
         }},
        {"another tenant's policy is NOT_FOUND",
         [](AppWorld& world) {
           ForeignParentIsNotFound(world, "parkbase.telemetry.v1.TelemetryService.GetRetentionPolicy");
         }}}},
  };
  return *checks;
}

// A request of `method` addressed to `world`'s tenant acme, as a client with a real use for it would send.
std::string OwnRequest(AppWorld& world, const MethodDescriptor& method) {
  google::protobuf::DynamicMessageFactory factory;
  std::unique_ptr<Message> request(factory.GetPrototype(method.input_type())->New());
  const access::v1::Rule* rule = AccessRuleOf(method);
  REQUIRE(rule != nullptr);
  if (!rule->tenant_field().empty()) {
    const std::optional<std::string> name = ResourceNameFor(
        method, rule->tenant_field(), world.acme.tenant_id,
        {{"devices", world.in0.device_id()}, {"deviceTypes", "sensor"}, {"credentials", "0123456789abcdef"}});
    INFO(method.full_name() << " has no resource name for " << rule->tenant_field());
    REQUIRE(name.has_value());
    SetStringAt(*request, rule->tenant_field(), *name);
  }
  if (method.name() == "ResolveIdentifier") SetStringAt(*request, "identifier", world.in0.identifier());
  return request->SerializeAsString();
}

grpc::Status CallAs(AppWorld& world, const MethodDescriptor& method, const std::string& key,
                    const std::string& request) {
  // An admitted Subscribe stays open: it ends at this deadline, DEADLINE_EXCEEDED.
  return CallAnyMethodWithin(*world.env.server.channel(),
                             absl::StrCat("/", method.service()->full_name(), "/", method.name()), key, request,
                             absl::Seconds(2));
}

TEST_CASE("app grant: the declared app scopes are the known ones and each is declared",
          "[app][telemetry][integration]") {
  std::set<std::string> declared;
  for (const auto* service : AppServices()) {
    for (int m = 0; m < service->method_count(); ++m) {
      const access::v1::Rule* rule = AccessRuleOf(*service->method(m));
      REQUIRE(rule != nullptr);
      if (rule->app_scope().empty()) continue;
      INFO(service->method(m)->full_name() << " declares app_scope " << rule->app_scope());
      CHECK(IsAppScope(rule->app_scope()));
      declared.insert(rule->app_scope());
    }
  }
  for (absl::string_view scope : kAppScopes) {
    INFO(scope);
    CHECK(declared.count(std::string(scope)) == 1);
  }
}

TEST_CASE("app grant: every method admits app credentials exactly by its declared scope",
          "[app][telemetry][integration]") {
  AppWorld world;
  const std::string every_scope = MintAppCredential(world.acme.tenant_id, EveryScopeGrant()).key;
  std::map<std::string, std::string> holding;  // scope -> a credential holding only it
  std::map<std::string, std::string> lacking;  // scope -> a credential holding every other scope
  for (absl::string_view scope : kAppScopes) {
    access::v1::AppGrant only;
    only.add_scopes(std::string(scope));
    holding[std::string(scope)] = MintAppCredential(world.acme.tenant_id, only).key;
    access::v1::AppGrant others;
    for (absl::string_view other : kAppScopes) {
      if (other != scope) others.add_scopes(std::string(other));
    }
    lacking[std::string(scope)] = MintAppCredential(world.acme.tenant_id, others).key;
  }
  int undeclared = 0;
  int declared = 0;
  for (const auto* service : AppServices()) {
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor& method = *service->method(m);
      const access::v1::Rule* rule = AccessRuleOf(method);
      REQUIRE(rule != nullptr);
      const std::string request = OwnRequest(world, method);
      if (rule->app_scope().empty()) {
        // (a) no app_scope: refused, whatever the grant holds.
        ++undeclared;
        const grpc::Status status = CallAs(world, method, every_scope, request);
        INFO(method.full_name() << " with an app credential holding every scope: " << status.error_message());
        CHECK(status.error_code() == grpc::PERMISSION_DENIED);
        continue;
      }
      // (b) app_scope: refused without it, admitted with it (the request addresses the app's own resources, so
      // nothing but the gate can refuse it).
      ++declared;
      const grpc::Status refused = CallAs(world, method, lacking[rule->app_scope()], request);
      INFO(method.full_name() << " with a credential lacking " << rule->app_scope() << ": "
                              << refused.error_message());
      CHECK(refused.error_code() == grpc::PERMISSION_DENIED);
      CHECK(absl::StrContains(refused.error_message(), rule->app_scope()));
      const grpc::Status admitted = CallAs(world, method, holding[rule->app_scope()], request);
      INFO(method.full_name() << " with a credential holding " << rule->app_scope() << ": "
                              << admitted.error_message());
      CHECK(admitted.error_code() != grpc::PERMISSION_DENIED);
      CHECK(admitted.error_code() != grpc::UNAUTHENTICATED);
      CHECK(admitted.error_code() != grpc::NOT_FOUND);
    }
  }
  CHECK(undeclared >= 10);
  CHECK(declared >= 12);
}

// The methods declared with an app_scope.
std::vector<const MethodDescriptor*> AppScopedMethods() {
  std::vector<const MethodDescriptor*> methods;
  for (const auto* service : AppServices()) {
    for (int m = 0; m < service->method_count(); ++m) {
      const access::v1::Rule* rule = AccessRuleOf(*service->method(m));
      REQUIRE(rule != nullptr);
      if (!rule->app_scope().empty()) methods.push_back(service->method(m));
    }
  }
  return methods;
}

TEST_CASE("app grant: every method with an app scope has data-scope checks", "[app][telemetry][integration]") {
  std::vector<std::string> unchecked;
  for (const MethodDescriptor* method : AppScopedMethods()) {
    auto checks = DataScopeChecks().find(method->full_name());
    if (checks == DataScopeChecks().end() || checks->second.empty()) unchecked.push_back(method->full_name());
  }
  // A method an app may call whose narrowing nobody wrote down: add its checks to DataScopeChecks().
  INFO("methods with app_scope but no data-scope checks: " << absl::StrJoin(unchecked, ", "));
  CHECK(unchecked.empty());
  // And no entry for a method that is gone or lost its scope.
  for (const auto& [name, checks] : DataScopeChecks()) {
    const MethodDescriptor* method = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(name);
    INFO(name << " has data-scope checks but no app_scope");
    REQUIRE(method != nullptr);
    CHECK_FALSE(AccessRuleOf(*method)->app_scope().empty());
  }
}

TEST_CASE("app grant: every method with an app scope narrows to the grant as its checks say",
          "[app][telemetry][integration]") {
  int methods = 0;
  for (const MethodDescriptor* method : AppScopedMethods()) {
    auto checks = DataScopeChecks().find(method->full_name());
    if (checks == DataScopeChecks().end()) continue;  // the test case above fails on it
    ++methods;
    // A world of its own per method: one method's failed check cannot stop or disturb another's.
    DYNAMIC_SECTION(method->full_name()) {
      AppWorld world;
      for (const DataScopeCheck& check : checks->second) {
        INFO(method->full_name() << ": " << check.what);
        check.run(world);
      }
    }
  }
  CHECK(methods >= 12);
}

TEST_CASE("app grant: a narrower grant and a revoked credential take effect on the next call",
          "[app][telemetry][integration]") {
  AppWorld world;
  const TestAppCredential credential = MintAppCredential(world.acme.tenant_id, EveryScopeGrant());
  telpb::GetLatestResponse response;
  REQUIRE(world.GetLatest(credential.key, world.acme.parent, {world.out.device_id()}, {"on"}, &response).ok());
  CHECK(response.values_size() == 1);
  UpdateAppCredentialGrant(world.acme.tenant_id, credential.key_id, AppWorld::NarrowGrant(),
                           world.env.server.server().auth_invalidator());
  CHECK(world.GetLatest(credential.key, world.acme.parent, {world.out.device_id()}, {}, &response).error_code() ==
        grpc::NOT_FOUND);
  CHECK(world.GetLatest(credential.key, world.acme.parent, {world.in0.device_id()}, {"on"}, &response)
            .error_code() == grpc::PERMISSION_DENIED);
  RevokeAppCredential(world.acme.tenant_id, credential.key_id, world.env.server.server().auth_invalidator());
  CHECK(world.GetLatest(credential.key, world.acme.parent, {world.in0.device_id()}, {}, &response).error_code() ==
        grpc::UNAUTHENTICATED);
}

}  // namespace
}  // namespace parkbase::testing
