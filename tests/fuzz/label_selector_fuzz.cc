// The label selectors, over the example park where both tenants label a device line=3: ListDevices' filter with its
// `labels.<key> = <value>` terms (the device registry) and Aggregate's `labels` map (telemetry). A selector selects
// exactly the caller's devices that carry every label, never another tenant's; the device filter the store is
// given, written back as text, parses to the same filter and selects the same devices.
//
// Input: one byte (even: a ListDevices filter follows; odd: Aggregate labels follow, as `key=value` lines).
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/access.h"
#include "common/list_filter.h"
#include "fuzz/device_world.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/telemetry_world.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"

namespace parkbase::fuzz {
namespace {

constexpr char kTenant[] = "acme";

const google::protobuf::MethodDescriptor& MethodNamed(const std::string& full_name) {
  const auto* method = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
  if (method == nullptr) Fail(absl::StrCat("no method ", full_name));
  return *method;
}

// Runs a call as the server does: the access gate, then the logic.
absl::Status Run(World& world, const google::protobuf::MethodDescriptor& method, const google::protobuf::Message& request,
                 std::unique_ptr<google::protobuf::Message>& response) {
  const Principal& caller = Callers()[kAcmeDeveloper];
  absl::Status status = AdmitCall(caller, method, request).status();
  if (!status.ok()) return status;
  world.guard.Begin(caller, /*fault=*/0, method.name());
  status = world.Call(method, caller, request, response);
  world.guard.End();
  CheckStatus(status, method.full_name());
  return status;
}

// The label keys the registry allows: 1 to 63 of [a-z0-9_.-], a letter first.
bool IsLabelKey(absl::string_view key) {
  return !key.empty() && key.size() <= 63 && absl::ascii_islower(key.front()) &&
         std::all_of(key.begin(), key.end(), [](char c) {
           return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '-' || c == '.';
         });
}

// The caller's devices a device filter selects, computed from the rows themselves.
std::set<std::string> Selected(const FakeDeviceStore& store, const device::DeviceFilter& filter) {
  std::map<std::string, std::string> labels(filter.labels.begin(), filter.labels.end());
  for (const auto& [key, value] : filter.labels) labels[key] = value;  // a key named twice keeps its last value
  std::set<std::string> ids;
  for (const auto& [id, device] : store.tenants.at(kTenant).devices) {
    if (filter.device_type_id && device.device_type_id() != *filter.device_type_id) continue;
    if (filter.state && device.state() != *filter.state) continue;
    const bool labelled = std::all_of(labels.begin(), labels.end(), [&](const auto& label) {
      auto found = device.labels().find(label.first);
      return found != device.labels().end() && found->second == label.second;
    });
    if (labelled) ids.insert(id);
  }
  return ids;
}

std::string Canonical(const device::DeviceFilter& filter) {
  std::vector<std::string> terms;
  if (filter.device_type_id) terms.push_back(absl::StrCat("device_type = \"", *filter.device_type_id, "\""));
  if (filter.state) {
    terms.push_back(absl::StrCat("state = ", absl::StripPrefix(devicepb::DeviceState_Name(*filter.state),
                                                                "DEVICE_STATE_")));
  }
  for (const auto& [key, value] : filter.labels) terms.push_back(absl::StrCat("labels.", key, " = \"", value, "\""));
  return absl::StrJoin(terms, " AND ");
}

bool SameFilter(const device::DeviceFilter& a, const device::DeviceFilter& b) {
  return a.device_type_id == b.device_type_id && a.state == b.state && a.labels == b.labels;
}

void SelectDevices(const std::string& text) {
  DeviceWorld world;
  const google::protobuf::MethodDescriptor& method = MethodNamed("parkbase.device.v1.DeviceService.ListDevices");
  auto list = [&](const std::string& filter, std::set<std::string>& ids) {
    devicepb::ListDevicesRequest request;
    request.set_parent(absl::StrCat("tenants/", kTenant));
    request.set_filter(filter);
    request.set_page_size(1000);
    world.store.last_list_filter.reset();
    std::unique_ptr<google::protobuf::Message> response;
    absl::Status status = Run(world, method, request, response);
    if (!status.ok()) return status;
    for (const auto& device : static_cast<const devicepb::ListDevicesResponse&>(*response).devices()) {
      ids.insert(device.device_id());
    }
    return status;
  };
  std::set<std::string> ids;
  absl::Status status = list(text, ids);
  if (!status.ok()) {
    if (status.code() != absl::StatusCode::kInvalidArgument || !absl::StartsWith(status.message(), "filter: ")) {
      Fail(absl::StrCat("ListDevices refused a filter without naming it: ", status.ToString()));
    }
    return;
  }
  if (!world.store.last_list_filter.has_value()) Fail("ListDevices answered without asking the store");
  const device::DeviceFilter filter = *world.store.last_list_filter;
  for (const auto& [key, value] : filter.labels) {
    if (!IsLabelKey(key)) Fail(absl::StrCat("ListDevices selected by the label key ", Printable(key)));
  }
  if (ids != Selected(world.store, filter)) {
    Fail(absl::StrCat("ListDevices(", Printable(text), ") answered ", absl::StrJoin(ids, ","), " instead of ",
                      absl::StrJoin(Selected(world.store, filter), ",")));
  }
  const std::string canonical = Canonical(filter);
  if (canonical.size() > kMaxFilterLength) return;
  std::set<std::string> again;
  absl::Status rerun = list(canonical, again);
  if (!rerun.ok() || !world.store.last_list_filter.has_value() || !SameFilter(filter, *world.store.last_list_filter) ||
      again != ids) {
    Fail(absl::StrCat("ListDevices: ", Printable(text), " written back as ", Printable(canonical),
                      " selects otherwise (", rerun.ToString(), ")"));
  }
}

void SelectTelemetry(const std::string& text) {
  std::map<std::string, std::string> labels;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::pair<std::string, std::string> label = absl::StrSplit(line, absl::MaxSplits('=', 1));
    labels[label.first] = label.second;
  }
  for (const auto& [key, value] : labels) {
    if (!IsUtf8(key) || !IsUtf8(value)) return;  // the server's parser refuses such a request before any of this
  }
  TelemetryWorld world;
  telemetrypb::AggregateRequest request;
  request.set_parent(absl::StrCat("tenants/", kTenant));
  request.set_metric("temp");
  request.mutable_start_time()->set_seconds(kNowSeconds - 7200);
  request.mutable_end_time()->set_seconds(kNowSeconds);
  request.mutable_bucket()->set_seconds(600);
  request.set_per_device(true);
  request.mutable_labels()->insert(labels.begin(), labels.end());
  std::unique_ptr<google::protobuf::Message> response;
  absl::Status status = Run(world, MethodNamed("parkbase.telemetry.v1.TelemetryService.Aggregate"), request, response);
  const bool empty_key = labels.count("") != 0;
  if (!status.ok()) {
    if (!empty_key) Fail(absl::StrCat("Aggregate refused the labels ", Printable(text), ": ", status.ToString()));
    return;
  }
  if (empty_key) Fail("Aggregate took a label with an empty key");
  device::DeviceFilter filter;
  filter.labels.assign(labels.begin(), labels.end());
  const std::set<std::string> selected = Selected(world.devices, filter);
  std::set<std::string> answered;
  for (const telemetrypb::Bucket& bucket : static_cast<const telemetrypb::AggregateResponse&>(*response).buckets()) {
    if (selected.count(bucket.device()) == 0) {
      Fail(absl::StrCat("Aggregate by labels ", Printable(text), " answered for device ", Printable(bucket.device())));
    }
    answered.insert(bucket.device());
  }
  // press-1 has a temperature every ten minutes: selected, it must be in the answer.
  if (selected.count("press-1") != 0 && answered.count("press-1") == 0) {
    Fail(absl::StrCat("Aggregate by labels ", Printable(text), " left out press-1"));
  }
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  std::vector<std::string> seeds;
  for (const char* filter : {"labels.line = 3", "labels.line = \"3\" AND labels.site = north-hall",
                             "device_type = press AND state = ACTIVE AND labels.line = 3",
                             "labels.line = 3 AND labels.line = 4", "labels.Line = 3", "labels. = 3"}) {
    seeds.push_back(absl::StrCat(std::string(1, '\0'), filter));
  }
  for (const char* labels : {"line=3", "line=3\nsite=north-hall", "line=4", "=3", "line"}) {
    seeds.push_back(absl::StrCat("\x01", labels));
  }
  return seeds;
}

int SelectByLabels(absl::string_view input) {
  if (input.empty()) return 0;
  const std::string text(input.substr(1));
  if (input[0] % 2 == 0) {
    // A filter that is not UTF-8 never reaches the logic: the server's parser refuses it.
    if (IsUtf8(text)) SelectDevices(text);
  } else {
    SelectTelemetry(text);
  }
  return 0;
}

}  // namespace parkbase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return parkbase::fuzz::SelectByLabels(absl::string_view(reinterpret_cast<const char*>(data), size));
}
