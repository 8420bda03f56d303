// The files the command line imports, read into rows before any call: devices (CSV with a header row, or JSON lines
// of parkbase.device.v1.Device) and telemetry history (CSV device,metric,timestamp,value). A bad line is reported
// with its line number and the rest still import; only a file that cannot be read at all (a bad header) is an error.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/timestamp.pb.h"
#include "parkbase/device/v1/device.pb.h"

namespace parkbase::cli {

struct LineError {
  int line = 0;  // from 1, as an editor counts
  std::string message;
};

struct DeviceRow {
  int line = 0;
  device::v1::Device device;
};
struct DeviceImportFile {
  std::vector<DeviceRow> rows;
  std::vector<LineError> errors;
};
// JSON lines when the first non-blank character is `{` (each line a Device in protobuf's JSON), else CSV whose
// header names the columns: device_id, device_type_id (or device_type), serial_number (or serial), display_name,
// labels (`key=value;key=value`), label.KEY and attribute.KEY (a number, true/false, or text). Blank lines are
// skipped; header names may be kebab-case.
absl::StatusOr<DeviceImportFile> ParseDeviceImport(absl::string_view text);

struct PointRow {
  int line = 0;
  std::string device;
  std::string metric;
  google::protobuf::Timestamp time;
  std::string value;  // as written: its type comes from the device type's schema
};
struct PointImportFile {
  std::vector<PointRow> rows;
  std::vector<LineError> errors;
};
// CSV with the header device,metric,timestamp,value (in any order; what `telemetry read -o csv` writes), timestamps
// RFC 3339.
absl::StatusOr<PointImportFile> ParsePointCsv(absl::string_view text);

}  // namespace parkbase::cli
