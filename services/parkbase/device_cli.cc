#include "parkbase/device_cli.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "parkbase/cli_import.h"
#include "parkbase/device/v1/device.grpc.pb.h"

// Flags of admin_cli.cc and app_cli.cc that these commands read too.
ABSL_DECLARE_FLAG(std::optional<std::string>, display_name);
ABSL_DECLARE_FLAG(std::string, description);
ABSL_DECLARE_FLAG(std::string, vendor);
ABSL_DECLARE_FLAG(std::string, filter);
ABSL_DECLARE_FLAG(std::optional<std::vector<std::string>>, labels);

ABSL_FLAG(std::string, model, "", "device-type: the model designation");
ABSL_FLAG(std::optional<std::vector<std::string>>, metric_specs, std::nullopt,
          "device-type: the telemetry schema, NAME:TYPE[:UNIT[:MIN:MAX]] comma-separated (TYPE double, int64, bool "
          "or string), e.g. temp:double:degC:-40:150,count:int64");
ABSL_FLAG(int64_t, type_version, 0, "device-type get: the version to read (0: the latest)");
ABSL_FLAG(std::string, device_type, "", "device create/update, device list filter: the device type's id");
ABSL_FLAG(std::string, serial_number, "", "device create: the manufacturer's serial number");
ABSL_FLAG(std::optional<std::vector<std::string>>, attributes, std::nullopt,
          "device create/update: attributes KEY=VALUE comma-separated (a number, true/false, or text)");
ABSL_FLAG(std::string, state, "", "device update: provisioned, active or disabled; device list: only these");

namespace parkbase::cli {
namespace {

namespace dpb = ::parkbase::device::v1;
using Client = ServiceClient<dpb::DeviceService>;
using Stub = dpb::DeviceService::Stub;

// Rows an ImportDevices message carries: small enough that the progress bar moves and one message stays far
// under the 16 MiB message limit (a device row is well under 1 KiB), large enough that a 100,000-row file (the
// call's limit, device.proto) is 200 messages.
constexpr size_t kImportRowsPerMessage = 500;
// The import's deadline: the server commits 5,000 rows a batch; 100,000 rows take well under a minute on the
// reference machine (docs/performance.md), so ten minutes is a stuck call, not a slow one.
constexpr absl::Duration kImportDeadline = absl::Minutes(10);

const std::map<std::string, dpb::ValueType>& ValueTypes() {
  static const auto* types = new std::map<std::string, dpb::ValueType>{{"double", dpb::VALUE_TYPE_DOUBLE},
                                                                      {"int64", dpb::VALUE_TYPE_INT64},
                                                                      {"bool", dpb::VALUE_TYPE_BOOL},
                                                                      {"string", dpb::VALUE_TYPE_STRING}};
  return *types;
}

std::string TypeWord(dpb::ValueType type) {
  for (const auto& [word, value] : ValueTypes()) {
    if (value == type) return word;
  }
  return "-";
}

// --metric-specs=temp:double:degC:-40:150 into MetricSpecs; INVALID_ARGUMENT naming the item.
absl::StatusOr<std::vector<dpb::MetricSpec>> MetricSpecsFromFlag(const std::vector<std::string>& items) {
  std::vector<dpb::MetricSpec> specs;
  for (const std::string& item : items) {
    std::vector<std::string> parts = absl::StrSplit(item, ':');
    const auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("--metric-specs: '", item, "': ", why));
    };
    if (parts.size() < 2 || parts.size() == 4 || parts.size() > 5) return bad("write NAME:TYPE[:UNIT[:MIN:MAX]]");
    auto type = ValueTypes().find(parts[1]);
    if (type == ValueTypes().end()) return bad("TYPE must be double, int64, bool or string");
    dpb::MetricSpec spec;
    spec.set_name(parts[0]);
    spec.set_value_type(type->second);
    if (parts.size() >= 3) spec.set_unit(parts[2]);
    if (parts.size() == 5) {
      double bound = 0;
      if (!parts[3].empty()) {
        if (!absl::SimpleAtod(parts[3], &bound)) return bad("MIN must be a number");
        spec.set_min(bound);
      }
      if (!parts[4].empty()) {
        if (!absl::SimpleAtod(parts[4], &bound)) return bad("MAX must be a number");
        spec.set_max(bound);
      }
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

// --labels / --attributes KEY=VALUE items into a map; INVALID_ARGUMENT naming the flag.
absl::StatusOr<std::map<std::string, std::string>> PairsFromFlag(absl::string_view flag,
                                                                  const std::vector<std::string>& items) {
  std::map<std::string, std::string> pairs;
  for (const std::string& item : items) {
    const size_t equals = item.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": '", item, "' is not KEY=VALUE"));
    }
    pairs[item.substr(0, equals)] = item.substr(equals + 1);
  }
  return pairs;
}

std::string Parent() { return absl::StrCat("tenants/", Tenant()); }

// --- device types ---------------------------------------------------------------------------------------------

std::string SchemaText(const dpb::DeviceType& type) {
  std::vector<std::string> metrics;
  for (const dpb::MetricSpec& spec : type.metrics()) {
    metrics.push_back(absl::StrCat(spec.name(), ":", TypeWord(spec.value_type()), spec.unit().empty() ? "" : ":",
                                   spec.unit()));
  }
  return metrics.empty() ? "-" : absl::StrJoin(metrics, ",");
}

void PrintDeviceTypes(const std::vector<dpb::DeviceType>& types) {
  if (Quiet()) {
    for (const auto& t : types) std::cout << t.device_type_id() << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : types) {
    rows.push_back({t.device_type_id(), absl::StrCat(t.version()), t.display_name(), t.vendor().empty() ? "-" : t.vendor(),
                    t.model().empty() ? "-" : t.model(), SchemaText(t), Time(t.update_time())});
  }
  std::cout << RenderTable({"TYPE", "VERSION", "DISPLAY NAME", "VENDOR", "MODEL", "METRICS", "UPDATED"}, rows);
}

int ShowDeviceType(const dpb::DeviceType& type) {
  if (Structured()) {
    PrintStructured(type);
  } else {
    PrintDeviceTypes({type});
  }
  return 0;
}

// The type fields given as flags, and their update_mask paths.
absl::Status DeviceTypeFromFlags(dpb::DeviceType& type, std::vector<std::string>& paths) {
  if (auto v = absl::GetFlag(FLAGS_display_name)) type.set_display_name(*v), paths.push_back("display_name");
  if (auto v = absl::GetFlag(FLAGS_description); !v.empty()) type.set_description(v), paths.push_back("description");
  if (auto v = absl::GetFlag(FLAGS_vendor); !v.empty()) type.set_vendor(v), paths.push_back("vendor");
  if (auto v = absl::GetFlag(FLAGS_model); !v.empty()) type.set_model(v), paths.push_back("model");
  if (auto v = absl::GetFlag(FLAGS_metric_specs)) {
    absl::StatusOr<std::vector<dpb::MetricSpec>> specs = MetricSpecsFromFlag(*v);
    if (!specs.ok()) return specs.status();
    for (auto& spec : *specs) *type.add_metrics() = std::move(spec);
    paths.push_back("metrics");
  }
  return absl::OkStatus();
}

// --- devices --------------------------------------------------------------------------------------------------

std::string LabelsText(const google::protobuf::Map<std::string, std::string>& labels) {
  if (labels.empty()) return "-";
  std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

void PrintDevices(const std::vector<dpb::Device>& devices) {
  if (Quiet()) {
    for (const auto& d : devices) std::cout << d.device_id() << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : devices) {
    rows.push_back({d.device_id(), d.device_type_id(), d.serial_number(), d.display_name().empty() ? "-" : d.display_name(),
                    Short(dpb::DeviceState_Name(d.state()), "DEVICE_STATE_"), LabelsText(d.labels()),
                    Time(d.last_seen_time())});
  }
  std::cout << RenderTable({"DEVICE", "TYPE", "SERIAL", "DISPLAY NAME", "STATE", "LABELS", "LAST SEEN"}, rows);
}

int ShowDevice(const dpb::Device& device) {
  if (Structured()) {
    PrintStructured(device);
  } else {
    PrintDevices({device});
  }
  return 0;
}

absl::StatusOr<dpb::DeviceState> StateFromFlag(const std::string& text) {
  dpb::DeviceState state;
  if (!dpb::DeviceState_Parse(absl::StrCat("DEVICE_STATE_", absl::AsciiStrToUpper(text)), &state) ||
      state == dpb::DEVICE_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat("--state: must be provisioned, active or disabled, got '", text, "'"));
  }
  return state;
}

// The device fields given as flags, and their update_mask paths.
absl::Status DeviceFromFlags(dpb::Device& device, std::vector<std::string>& paths) {
  if (auto v = absl::GetFlag(FLAGS_display_name)) device.set_display_name(*v), paths.push_back("display_name");
  if (auto v = absl::GetFlag(FLAGS_device_type); !v.empty()) device.set_device_type_id(v), paths.push_back("device_type_id");
  if (auto v = absl::GetFlag(FLAGS_labels)) {
    absl::StatusOr<std::map<std::string, std::string>> labels = PairsFromFlag("--labels", *v);
    if (!labels.ok()) return labels.status();
    device.mutable_labels()->insert(labels->begin(), labels->end());
    paths.push_back("labels");
  }
  if (auto v = absl::GetFlag(FLAGS_attributes)) {
    absl::StatusOr<std::map<std::string, std::string>> attributes = PairsFromFlag("--attributes", *v);
    if (!attributes.ok()) return attributes.status();
    for (const auto& [key, text] : *attributes) (*device.mutable_attributes())[key] = AttributeFromText(text);
    paths.push_back("attributes");
  }
  if (auto v = absl::GetFlag(FLAGS_state); !v.empty()) {
    absl::StatusOr<dpb::DeviceState> state = StateFromFlag(v);
    if (!state.ok()) return state.status();
    device.set_state(*state);
    paths.push_back("state");
  }
  return absl::OkStatus();
}

// "device_type = press AND state = ACTIVE AND labels.line = 3" from --device-type, --state, --labels and --filter.
absl::StatusOr<std::string> DeviceFilter() {
  std::vector<std::string> terms;
  if (!absl::GetFlag(FLAGS_filter).empty()) terms.push_back(absl::GetFlag(FLAGS_filter));
  if (auto v = absl::GetFlag(FLAGS_device_type); !v.empty()) terms.push_back(absl::StrCat("device_type = ", v));
  if (auto v = absl::GetFlag(FLAGS_state); !v.empty()) {
    absl::StatusOr<dpb::DeviceState> state = StateFromFlag(v);
    if (!state.ok()) return state.status();
    terms.push_back(absl::StrCat("state = ", Short(dpb::DeviceState_Name(*state), "DEVICE_STATE_")));
  }
  if (auto v = absl::GetFlag(FLAGS_labels)) {
    absl::StatusOr<std::map<std::string, std::string>> labels = PairsFromFlag("--labels", *v);
    if (!labels.ok()) return labels.status();
    for (const auto& [key, value] : *labels) terms.push_back(absl::StrCat("labels.", key, " = \"", value, "\""));
  }
  return absl::StrJoin(terms, " AND ");
}

// The progress of an import on stderr: a bar redrawn in place on a terminal, nothing otherwise (a log file or a
// pipe gets the summary only, not hundreds of carriage returns).
class ImportProgress {
 public:
  explicit ImportProgress(size_t total) : total_(total), terminal_(isatty(STDERR_FILENO) == 1 && !Quiet()) {}
  void Sent(size_t rows) {
    if (!terminal_ || total_ == 0) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * rows / total_);
    std::cerr << absl::StrFormat("\rimporting [%s%s] %d/%d rows", std::string(filled, '#'),
                                 std::string(kWidth - filled, ' '), rows, total_)
              << std::flush;
  }
  void Done() {
    if (terminal_ && total_ > 0) std::cerr << "\n";
  }

 private:
  size_t total_;
  bool terminal_;
};

int ImportDevices(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Usage(absl::StrCat("device import: cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<DeviceImportFile> file = ParseDeviceImport(text.str());
  if (!file.ok()) return Usage(absl::StrCat(path, ": ", file.status().message()));
  std::vector<LineError> errors = file->errors;

  auto stub = dpb::DeviceService::NewStub(ServerChannel());
  grpc::ClientContext context;
  PrepareCall(context);
  context.set_deadline(absl::ToChronoTime(absl::Now() + kImportDeadline));
  dpb::ImportDevicesResponse response;
  auto writer = stub->ImportDevices(&context, &response);
  ImportProgress progress(file->rows.size());
  size_t sent = 0;
  while (sent < file->rows.size()) {
    dpb::ImportDevicesRequest request;
    request.set_parent(Parent());
    const size_t end = std::min(file->rows.size(), sent + kImportRowsPerMessage);
    for (size_t i = sent; i < end; ++i) *request.add_devices() = file->rows[i].device;
    if (!writer->Write(request)) break;  // the server ended the call; Finish says why
    sent = end;
    progress.Sent(sent);
  }
  if (file->rows.empty()) {
    dpb::ImportDevicesRequest request;  // the parent still has to reach the server
    request.set_parent(Parent());
    writer->Write(request);
  }
  writer->WritesDone();
  const absl::Status status = FromGrpcStatus(writer->Finish());
  progress.Done();
  if (!status.ok()) return Fail(status);
  for (const dpb::ImportRowResult& result : response.results()) {
    if (result.outcome() != dpb::IMPORT_OUTCOME_FAILED) continue;
    const int line = result.row_index() >= 0 && static_cast<size_t>(result.row_index()) < file->rows.size()
                         ? file->rows[static_cast<size_t>(result.row_index())].line
                         : 0;
    errors.push_back({line, absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(result.code())), ": ",
                                         result.message())});
  }
  std::sort(errors.begin(), errors.end(), [](const LineError& a, const LineError& b) { return a.line < b.line; });
  if (Structured()) {
    PrintStructured(response);
  } else if (Quiet()) {
    for (const auto& result : response.results()) {
      if (result.outcome() != dpb::IMPORT_OUTCOME_FAILED) std::cout << result.device_id() << "\n";
    }
  }
  for (const LineError& error : errors) std::cerr << path << ":" << error.line << ": " << error.message << "\n";
  if (!Structured() && !Quiet()) {
    std::cout << absl::StrFormat("imported %s: %d created, %d unchanged, %d failed\n", path, response.created_count(),
                                 response.unchanged_count(), errors.size());
  }
  if (response.has_error() && response.error().code() != 0) {
    return Fail(absl::Status(static_cast<absl::StatusCode>(response.error().code()),
                             absl::StrCat("the import stopped early: ", response.error().message())));
  }
  return errors.empty() ? 0 : 1;
}

}  // namespace

const std::vector<std::pair<std::string, Command>>& DeviceCommands() {
  static const auto* commands = new std::vector<std::pair<std::string, Command>>{
      {"device-type create", {"parkbase device-type create TYPE_ID --display_name=NAME [--metric_specs=...]",
                              "Create a device type (version 1) with its telemetry schema.",
                              "--display_name (required) --description --vendor --model "
                              "--metric_specs=NAME:TYPE[:UNIT[:MIN:MAX]],..."}},
      {"device-type get", {"parkbase device-type get TYPE_ID [--type_version=N]",
                           "Show a device type (its latest version, or --type_version).", "--type_version"}},
      {"device-type list", {"parkbase device-type list [--all]", "List the tenant's device types.",
                            "--page_size --page_token --all"}},
      {"device-type update", {"parkbase device-type update TYPE_ID [flags to change]",
                              "Change the fields given as flags; the type gets a new version.",
                              "--display_name --description --vendor --model --metric_specs (replaces all)"}},
      {"device-type delete", {"parkbase device-type delete TYPE_ID", "Delete a device type no device uses.", ""}},
      {"device create", {"parkbase device create [DEVICE_ID] --device_type=TYPE_ID --serial_number=SN",
                         "Register a device (PROVISIONED); without DEVICE_ID the server picks one.",
                         "--device_type (required) --serial_number (required) --display_name --labels=K=V,... "
                         "--attributes=K=V,..."}},
      {"device get", {"parkbase device get DEVICE_ID", "Show one device.", ""}},
      {"device list", {"parkbase device list [--device_type=T] [--state=S] [--labels=K=V,...] [--all]",
                       "List the tenant's devices, optionally filtered.",
                       "--device_type --state --labels --filter --page_size --page_token --all"}},
      {"device update", {"parkbase device update DEVICE_ID [flags to change]",
                         "Change the fields given as flags (--labels and --attributes replace all).",
                         "--display_name --device_type --labels --attributes --state=provisioned|active|disabled"}},
      {"device delete", {"parkbase device delete DEVICE_ID", "Delete a device and revoke its credentials.", ""}},
      {"device enable", {"parkbase device enable DEVICE_ID", "Enable a disabled device.", ""}},
      {"device disable", {"parkbase device disable DEVICE_ID", "Disable a device: its keys are refused at once.", ""}},
      {"device import", {"parkbase device import FILE",
                         "Register many devices from CSV (header: device_id, device_type_id, serial_number, "
                         "display_name, labels, label.KEY, attribute.KEY) or JSON lines (one Device each); rows whose "
                         "serial number exists are UNCHANGED. Bad lines are reported by line number; exit 1 if any.",
                         ""}},
  };
  return *commands;
}

int DeviceTypeCommand(const std::string& verb, const std::vector<std::string>& args) {
  if (Tenant().empty()) return Usage("device-type: which tenant? pass --tenant or set the profile's tenant");
  Client client;
  if (verb == "list") {
    if (!args.empty()) return Usage("device-type list takes no arguments");
    dpb::ListDeviceTypesRequest request;
    request.set_parent(Parent());
    dpb::ListDeviceTypesResponse all;
    if (auto s = client.ListPages(&Stub::ListDeviceTypes, request, all); !s.ok()) return Fail(s);
    if (Structured()) {
      PrintStructured(all);
      return 0;
    }
    PrintDeviceTypes({all.device_types().begin(), all.device_types().end()});
    if (!all.next_page_token().empty() && !Quiet()) std::cout << "next page: --page-token=" << all.next_page_token() << "\n";
    return 0;
  }
  if (args.size() != 1) return Usage(absl::StrCat("device-type ", verb, " takes one TYPE_ID"));
  const std::string name = absl::StrCat(Parent(), "/deviceTypes/", args[0]);
  dpb::DeviceType type;
  absl::Status status;
  if (verb == "create") {
    dpb::CreateDeviceTypeRequest request;
    request.set_parent(Parent());
    request.set_device_type_id(args[0]);
    std::vector<std::string> paths;
    if (absl::Status s = DeviceTypeFromFlags(*request.mutable_device_type(), paths); !s.ok()) return Usage(std::string(s.message()));
    status = client.Call(&Stub::CreateDeviceType, request, &type);
  } else if (verb == "get") {
    dpb::GetDeviceTypeRequest request;
    request.set_name(name);
    request.set_version(absl::GetFlag(FLAGS_type_version));
    status = client.Call(&Stub::GetDeviceType, request, &type);
  } else if (verb == "update") {
    dpb::UpdateDeviceTypeRequest request;
    std::vector<std::string> paths;
    if (absl::Status s = DeviceTypeFromFlags(*request.mutable_device_type(), paths); !s.ok()) return Usage(std::string(s.message()));
    if (paths.empty()) return Usage("device-type update: give at least one field flag to change");
    request.mutable_device_type()->set_name(name);
    for (const auto& path : paths) request.mutable_update_mask()->add_paths(path);
    status = client.Call(&Stub::UpdateDeviceType, request, &type);
  } else if (verb == "delete") {
    dpb::DeleteDeviceTypeRequest request;
    request.set_name(name);
    dpb::DeleteDeviceTypeResponse response;
    if (auto s = client.Call(&Stub::DeleteDeviceType, request, &response); !s.ok()) return Fail(s);
    return PrintDeleted(response, name);
  } else {
    return Usage(absl::StrCat("unknown command: device-type ", verb));
  }
  if (!status.ok()) return Fail(status);
  return ShowDeviceType(type);
}

int DeviceCommand(const std::string& verb, const std::vector<std::string>& args) {
  if (Tenant().empty()) return Usage("device: which tenant? pass --tenant or set the profile's tenant");
  Client client;
  if (verb == "import") {
    if (args.size() != 1) return Usage("device import takes one FILE");
    return ImportDevices(args[0]);
  }
  if (verb == "list") {
    if (!args.empty()) return Usage("device list takes no arguments");
    dpb::ListDevicesRequest request;
    request.set_parent(Parent());
    absl::StatusOr<std::string> filter = DeviceFilter();
    if (!filter.ok()) return Usage(std::string(filter.status().message()));
    request.set_filter(*filter);
    dpb::ListDevicesResponse all;
    if (auto s = client.ListPages(&Stub::ListDevices, request, all); !s.ok()) return Fail(s);
    if (Structured()) {
      PrintStructured(all);
      return 0;
    }
    PrintDevices({all.devices().begin(), all.devices().end()});
    if (!all.next_page_token().empty() && !Quiet()) std::cout << "next page: --page-token=" << all.next_page_token() << "\n";
    return 0;
  }
  dpb::Device device;
  absl::Status status;
  if (verb == "create") {
    if (args.size() > 1) return Usage("device create takes at most one DEVICE_ID");
    dpb::CreateDeviceRequest request;
    request.set_parent(Parent());
    std::vector<std::string> paths;
    if (absl::Status s = DeviceFromFlags(*request.mutable_device(), paths); !s.ok()) return Usage(std::string(s.message()));
    if (!args.empty()) request.mutable_device()->set_device_id(args[0]);
    request.mutable_device()->set_serial_number(absl::GetFlag(FLAGS_serial_number));
    status = client.Call(&Stub::CreateDevice, request, &device);
    if (status.ok() && Quiet()) {
      std::cout << device.device_id() << "\n";  // what a script creating devices needs
      return 0;
    }
  } else {
    if (args.size() != 1) return Usage(absl::StrCat("device ", verb, " takes one DEVICE_ID"));
    const std::string name = absl::StrCat(Parent(), "/devices/", args[0]);
    if (verb == "get") {
      dpb::GetDeviceRequest request;
      request.set_name(name);
      status = client.Call(&Stub::GetDevice, request, &device);
    } else if (verb == "update") {
      dpb::UpdateDeviceRequest request;
      std::vector<std::string> paths;
      if (absl::Status s = DeviceFromFlags(*request.mutable_device(), paths); !s.ok()) return Usage(std::string(s.message()));
      if (paths.empty()) return Usage("device update: give at least one field flag to change");
      request.mutable_device()->set_name(name);
      for (const auto& path : paths) request.mutable_update_mask()->add_paths(path);
      status = client.Call(&Stub::UpdateDevice, request, &device);
    } else if (verb == "enable" || verb == "disable") {
      if (verb == "enable") {
        dpb::EnableDeviceRequest request;
        request.set_name(name);
        status = client.Call(&Stub::EnableDevice, request, &device);
      } else {
        dpb::DisableDeviceRequest request;
        request.set_name(name);
        status = client.Call(&Stub::DisableDevice, request, &device);
      }
    } else if (verb == "delete") {
      dpb::DeleteDeviceRequest request;
      request.set_name(name);
      dpb::DeleteDeviceResponse response;
      if (auto s = client.Call(&Stub::DeleteDevice, request, &response); !s.ok()) return Fail(s);
      return PrintDeleted(response, name);
    } else {
      return Usage(absl::StrCat("unknown command: device ", verb));
    }
  }
  if (!status.ok()) return Fail(status);
  if (Quiet()) return 0;
  return ShowDevice(device);
}

}  // namespace parkbase::cli
