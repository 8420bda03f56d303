#include "parkbase/telemetry_cli.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "parkbase/cli_import.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"

// Flags of admin_cli.cc, app_cli.cc and device_cli.cc that these commands read too.
ABSL_DECLARE_FLAG(std::optional<std::vector<std::string>>, metrics);
ABSL_DECLARE_FLAG(std::optional<std::vector<std::string>>, labels);
ABSL_DECLARE_FLAG(int32_t, page_size);

ABSL_FLAG(std::string, start, "", "telemetry read/aggregate: inclusive start, RFC 3339 (default: an hour before --end)");
ABSL_FLAG(std::string, end, "", "telemetry read/aggregate: exclusive end, RFC 3339 (default: now)");
ABSL_FLAG(std::string, metric, "", "telemetry aggregate: the numeric metric");
ABSL_FLAG(std::string, bucket, "1h", "telemetry aggregate: bucket width, whole seconds (e.g. 1m, 15m, 1h)");
ABSL_FLAG(bool, per_device, false, "telemetry aggregate: buckets per device");
ABSL_FLAG(std::string, from_csv, "", "telemetry write: the CSV file device,metric,timestamp,value to import");

namespace parkbase::cli {
namespace {

namespace tpb = ::parkbase::telemetry::v1;
namespace dpb = ::parkbase::device::v1;
using Client = ServiceClient<tpb::TelemetryService>;
using Stub = tpb::TelemetryService::Stub;

// Points a Write carries: far under the 1,000,000-point batch limit and the 16 MiB message limit (telemetry.proto),
// and small enough that a quota refusal costs one short retry, not a whole file.
constexpr size_t kPointsPerWrite = 5000;

std::string Parent() { return absl::StrCat("tenants/", Tenant()); }

// [--start, --end): end defaults to now, start to an hour before end.
absl::Status RangeFromFlags(google::protobuf::Timestamp& start, google::protobuf::Timestamp& end) {
  if (!absl::GetFlag(FLAGS_end).empty()) {
    absl::StatusOr<google::protobuf::Timestamp> parsed = TimeFromRfc3339(absl::GetFlag(FLAGS_end));
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("--end: ", parsed.status().message()));
    end = *parsed;
  } else {
    end.set_seconds(absl::ToUnixSeconds(absl::Now()) + 1);
  }
  if (!absl::GetFlag(FLAGS_start).empty()) {
    absl::StatusOr<google::protobuf::Timestamp> parsed = TimeFromRfc3339(absl::GetFlag(FLAGS_start));
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("--start: ", parsed.status().message()));
    start = *parsed;
  } else {
    start.set_seconds(end.seconds() - 3600);
  }
  return absl::OkStatus();
}

void PrintPoints(const google::protobuf::RepeatedPtrField<tpb::DataPoint>& points) {
  if (Output() == OutputFormat::kCsv) {
    std::cout << CsvRecord({"device", "metric", "timestamp", "value"});
    for (const auto& p : points) std::cout << CsvRecord({p.device(), p.metric(), TimeToRfc3339(p.time()), ValueToText(p.value())});
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : points) rows.push_back({p.device(), p.metric(), TimeToRfc3339(p.time()), ValueToText(p.value())});
  std::cout << RenderTable({"DEVICE", "METRIC", "TIME", "VALUE"}, rows);
}

int Latest(const std::vector<std::string>& devices) {
  if (devices.empty()) return Usage("telemetry latest takes one or more DEVICE ids");
  tpb::GetLatestRequest request;
  request.set_parent(Parent());
  for (const auto& device : devices) request.add_devices(device);
  for (const auto& metric : absl::GetFlag(FLAGS_metrics).value_or(std::vector<std::string>{})) request.add_metrics(metric);
  tpb::GetLatestResponse response;
  if (auto s = Client().Call(&Stub::GetLatest, request, &response); !s.ok()) return Fail(s);
  if (Structured()) {
    PrintStructured(response);
    return 0;
  }
  PrintPoints(response.values());
  return 0;
}

int Read(const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("telemetry read takes one DEVICE id");
  tpb::ReadRangeRequest request;
  request.set_parent(Parent());
  request.set_device(args[0]);
  for (const auto& metric : absl::GetFlag(FLAGS_metrics).value_or(std::vector<std::string>{})) request.add_metrics(metric);
  if (auto s = RangeFromFlags(*request.mutable_start_time(), *request.mutable_end_time()); !s.ok()) {
    return Usage(std::string(s.message()));
  }
  // Every page: an export that stops at the first page would look complete and not be.
  Client client;
  request.set_page_size(absl::GetFlag(FLAGS_page_size));
  tpb::ReadRangeResponse all;
  do {
    tpb::ReadRangeResponse page;
    if (auto s = client.Call(&Stub::ReadRange, request, &page); !s.ok()) return Fail(s);
    all.mutable_points()->MergeFrom(page.points());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  if (Structured()) {
    PrintStructured(all);
    return 0;
  }
  PrintPoints(all.points());
  return 0;
}

int Aggregate(const std::vector<std::string>& devices) {
  tpb::AggregateRequest request;
  request.set_parent(Parent());
  for (const auto& device : devices) request.add_devices(device);
  for (const auto& item : absl::GetFlag(FLAGS_labels).value_or(std::vector<std::string>{})) {
    const size_t equals = item.find('=');
    if (equals == std::string::npos || equals == 0) return Usage(absl::StrCat("--labels: '", item, "' is not KEY=VALUE"));
    (*request.mutable_labels())[item.substr(0, equals)] = item.substr(equals + 1);
  }
  if (devices.empty() && request.labels().empty()) return Usage("telemetry aggregate: name DEVICE ids or --labels");
  if (absl::GetFlag(FLAGS_metric).empty()) return Usage("telemetry aggregate: --metric is required");
  request.set_metric(absl::GetFlag(FLAGS_metric));
  absl::Duration bucket;
  if (!absl::ParseDuration(absl::GetFlag(FLAGS_bucket), &bucket) || bucket < absl::Seconds(1) ||
      bucket % absl::Seconds(1) != absl::ZeroDuration() || bucket == absl::InfiniteDuration()) {
    return Usage(absl::StrCat("--bucket: must be whole seconds, at least 1s, got '", absl::GetFlag(FLAGS_bucket), "'"));
  }
  request.mutable_bucket()->set_seconds(absl::ToInt64Seconds(bucket));
  request.set_per_device(absl::GetFlag(FLAGS_per_device));
  if (auto s = RangeFromFlags(*request.mutable_start_time(), *request.mutable_end_time()); !s.ok()) {
    return Usage(std::string(s.message()));
  }
  tpb::AggregateResponse response;
  if (auto s = Client().Call(&Stub::Aggregate, request, &response); !s.ok()) return Fail(s);
  if (Structured()) {
    PrintStructured(response);
    return 0;
  }
  const std::vector<std::string> header = {"start", "device", "count", "min", "max", "avg", "sum", "first", "last"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& b : response.buckets()) {
    rows.push_back({TimeToRfc3339(b.start_time()), b.device(), absl::StrCat(b.count()), absl::StrCat(b.min()),
                    absl::StrCat(b.max()), absl::StrCat(b.avg()), absl::StrCat(b.sum()), absl::StrCat(b.first()),
                    absl::StrCat(b.last())});
  }
  if (Output() == OutputFormat::kCsv) {
    std::cout << CsvRecord(header);
    for (const auto& row : rows) std::cout << CsvRecord(row);
    return 0;
  }
  std::vector<std::string> upper;
  for (const auto& h : header) upper.push_back(absl::AsciiStrToUpper(h));
  std::cout << RenderTable(upper, rows);
  return 0;
}

// The value type of each metric of `device`, from its device type (at the version the device is on now); the
// CSV has no types, and a 21 for a double metric must go as 21.0, not as an integer the server refuses.
absl::StatusOr<std::map<std::string, dpb::ValueType>> MetricTypes(ServiceClient<dpb::DeviceService>& devices,
                                                                  const std::string& device_id) {
  dpb::GetDeviceRequest get_device;
  get_device.set_name(absl::StrCat(Parent(), "/devices/", device_id));
  dpb::Device device;
  if (auto s = devices.Call(&dpb::DeviceService::Stub::GetDevice, get_device, &device); !s.ok()) return s;
  dpb::GetDeviceTypeRequest get_type;
  get_type.set_name(absl::StrCat(Parent(), "/deviceTypes/", device.device_type_id()));
  dpb::DeviceType type;
  if (auto s = devices.Call(&dpb::DeviceService::Stub::GetDeviceType, get_type, &type); !s.ok()) return s;
  std::map<std::string, dpb::ValueType> types;
  for (const auto& spec : type.metrics()) types[spec.name()] = spec.value_type();
  return types;
}

int WriteFromCsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Usage(absl::StrCat("telemetry write: cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<PointImportFile> file = ParsePointCsv(text.str());
  if (!file.ok()) return Usage(absl::StrCat(path, ": ", file.status().message()));
  std::vector<LineError> errors = file->errors;

  // Type each value by its device's schema; a device that cannot be looked up fails its lines, not the file.
  ServiceClient<dpb::DeviceService> devices;
  std::map<std::string, absl::StatusOr<std::map<std::string, dpb::ValueType>>> schemas;
  std::vector<std::pair<int, tpb::Point>> points;  // with their line numbers
  for (const PointRow& row : file->rows) {
    auto schema = schemas.find(row.device);
    if (schema == schemas.end()) schema = schemas.emplace(row.device, MetricTypes(devices, row.device)).first;
    if (!schema->second.ok()) {
      errors.push_back({row.line, absl::StrCat("device ", row.device, ": ", schema->second.status().message())});
      continue;
    }
    auto type = schema->second->find(row.metric);
    if (type == schema->second->end()) {
      errors.push_back({row.line, absl::StrCat("metric ", row.metric, ": not in device ", row.device, "'s type")});
      continue;
    }
    absl::StatusOr<tpb::Value> value = ValueFromText(row.value, type->second);
    if (!value.ok()) {
      errors.push_back({row.line, std::string(value.status().message())});
      continue;
    }
    tpb::Point point;
    point.set_device(row.device);
    point.set_metric(row.metric);
    *point.mutable_time() = row.time;
    *point.mutable_value() = std::move(*value);
    points.emplace_back(row.line, std::move(point));
  }

  Client client;
  int64_t accepted = 0;
  for (size_t first = 0; first < points.size(); first += kPointsPerWrite) {
    const size_t end = std::min(points.size(), first + kPointsPerWrite);
    tpb::WriteRequest request;
    request.set_parent(Parent());
    for (size_t i = first; i < end; ++i) *request.add_points() = points[i].second;
    tpb::WriteResponse response;
    if (auto s = client.Call(&Stub::Write, request, &response); !s.ok()) {
      for (const auto& e : errors) std::cerr << path << ":" << e.line << ": " << e.message << "\n";
      std::cerr << absl::StrFormat("parkbase: %d points written before line %d; lines from there on were not\n",
                                   accepted, points[first].first);
      return Fail(s);
    }
    accepted += response.accepted_points();
    for (const auto& rejection : response.rejections()) {
      for (int64_t k = 0; k < rejection.count(); ++k) {
        const size_t index = first + static_cast<size_t>(rejection.index() + k);
        if (index < end) {
          errors.push_back({points[index].first,
                            absl::StrCat(Short(tpb::RejectionReason_Name(rejection.reason()), "REJECTION_REASON_"),
                                         ": ", rejection.description())});
        }
      }
    }
  }
  std::sort(errors.begin(), errors.end(), [](const LineError& a, const LineError& b) { return a.line < b.line; });
  for (const auto& e : errors) std::cerr << path << ":" << e.line << ": " << e.message << "\n";
  if (!Quiet()) std::cout << absl::StrFormat("wrote %s: %d points, %d lines failed\n", path, accepted, errors.size());
  return errors.empty() ? 0 : 1;
}

}  // namespace

const std::vector<std::pair<std::string, Command>>& TelemetryCommands() {
  static const auto* commands = new std::vector<std::pair<std::string, Command>>{
      {"telemetry latest", {"parkbase telemetry latest DEVICE... [--metrics=M,...]",
                            "The latest value of each metric of the devices.", "--metrics -o table|json|yaml|csv"}},
      {"telemetry read", {"parkbase telemetry read DEVICE [--start=RFC3339] [--end=RFC3339] [--metrics=M,...]",
                          "Raw points of one device in [start, end) (default: the last hour), every page; -o csv "
                          "exports device,metric,timestamp,value, which `telemetry write --from_csv` imports.",
                          "--start --end --metrics --page_size -o table|json|yaml|csv"}},
      {"telemetry aggregate", {"parkbase telemetry aggregate [DEVICE...] --metric=M [--labels=K=V,...] [--bucket=1h]",
                               "Time buckets (count, min, max, avg, sum, first, last) of a numeric metric.",
                               "--metric (required) --labels --bucket --per_device --start --end "
                               "-o table|json|yaml|csv"}},
      {"telemetry write", {"parkbase telemetry write --from_csv=FILE",
                           "Import history from CSV (header device,metric,timestamp,value; RFC 3339 timestamps kept "
                           "as written), in batches of 5,000 points; values typed by each device's type. Rejected "
                           "lines are reported by line number; exit 1 if any.",
                           "--from_csv (required)"}},
  };
  return *commands;
}

int TelemetryCommand(const std::string& verb, const std::vector<std::string>& args) {
  if (Tenant().empty()) return Usage("telemetry: which tenant? pass --tenant or set the profile's tenant");
  if (Output() == OutputFormat::kCsv && verb != "latest" && verb != "read" && verb != "aggregate") {
    return Usage("--output=csv: only telemetry latest, read and aggregate print CSV");
  }
  if (verb == "latest") return Latest(args);
  if (verb == "read") return Read(args);
  if (verb == "aggregate") return Aggregate(args);
  if (verb == "write") {
    if (!args.empty()) return Usage("telemetry write takes no arguments: name the file with --from-csv=FILE");
    if (absl::GetFlag(FLAGS_from_csv).empty()) return Usage("telemetry write: --from-csv=FILE is required");
    return WriteFromCsv(absl::GetFlag(FLAGS_from_csv));
  }
  return Usage(absl::StrCat("unknown command: telemetry ", verb));
}

}  // namespace parkbase::cli
