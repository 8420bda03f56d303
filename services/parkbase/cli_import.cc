#include "parkbase/cli_import.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "parkbase/cli_format.h"

namespace parkbase::cli {
namespace {

// The lines of `text` with their numbers, blank ones left out.
std::vector<std::pair<int, absl::string_view>> NumberedLines(absl::string_view text) {
  std::vector<std::pair<int, absl::string_view>> lines;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    lines.emplace_back(number, line);
  }
  return lines;
}

std::string ColumnName(absl::string_view header) {
  std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(header));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

absl::StatusOr<DeviceImportFile> ParseDeviceJsonLines(const std::vector<std::pair<int, absl::string_view>>& lines) {
  DeviceImportFile file;
  for (const auto& [number, line] : lines) {
    DeviceRow row{number, {}};
    const auto parsed = google::protobuf::util::JsonStringToMessage(std::string(line), &row.device);
    if (parsed.ok()) {
      file.rows.push_back(std::move(row));
    } else {
      file.errors.push_back({number, absl::StrCat("not a Device in JSON: ", parsed.message().as_string())});
    }
  }
  return file;
}

// Sets one CSV cell on the device; the column was checked against the header.
absl::Status SetDeviceColumn(const std::string& column, const std::string& cell, device::v1::Device& device) {
  if (cell.empty()) return absl::OkStatus();
  if (column == "device_id") {
    device.set_device_id(cell);
  } else if (column == "device_type_id" || column == "device_type") {
    device.set_device_type_id(cell);
  } else if (column == "serial_number" || column == "serial") {
    device.set_serial_number(cell);
  } else if (column == "display_name") {
    device.set_display_name(cell);
  } else if (column == "labels") {
    for (absl::string_view pair : absl::StrSplit(cell, ';', absl::SkipWhitespace())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      if (!absl::StrContains(pair, '=')) {
        return absl::InvalidArgumentError(absl::StrCat("labels: '", pair, "' is not key=value"));
      }
      (*device.mutable_labels())[std::string(absl::StripAsciiWhitespace(kv.first))] = kv.second;
    }
  } else if (absl::StartsWith(column, "label.")) {
    (*device.mutable_labels())[column.substr(6)] = cell;
  } else if (absl::StartsWith(column, "attribute.")) {
    (*device.mutable_attributes())[column.substr(10)] = AttributeFromText(cell);
  }
  return absl::OkStatus();
}

bool IsDeviceColumn(const std::string& column) {
  static const auto* plain = new std::vector<std::string>{"device_id", "device_type_id", "device_type", "serial_number",
                                                          "serial", "display_name", "labels"};
  if (std::find(plain->begin(), plain->end(), column) != plain->end()) return true;
  return (absl::StartsWith(column, "label.") && column.size() > 6) ||
         (absl::StartsWith(column, "attribute.") && column.size() > 10);
}

absl::StatusOr<DeviceImportFile> ParseDeviceCsv(const std::vector<std::pair<int, absl::string_view>>& lines) {
  DeviceImportFile file;
  if (lines.empty()) return file;
  absl::StatusOr<std::vector<std::string>> header = ParseCsvLine(lines[0].second);
  if (!header.ok()) return absl::InvalidArgumentError(absl::StrCat("line ", lines[0].first, ": ", header.status().message()));
  std::vector<std::string> columns;
  for (const std::string& cell : *header) {
    const std::string column = ColumnName(cell);
    // Label and attribute keys keep their case as written after the prefix.
    const std::string stripped(absl::StripAsciiWhitespace(cell));
    const size_t dot = stripped.find('.');
    const std::string named = dot == std::string::npos ? column : column.substr(0, dot + 1) + stripped.substr(dot + 1);
    if (!IsDeviceColumn(column)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", lines[0].first, ": unknown column '", cell,
          "' (device_id, device_type_id, serial_number, display_name, labels, label.KEY, attribute.KEY)"));
    }
    columns.push_back(named);
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto& [number, line] = lines[i];
    absl::StatusOr<std::vector<std::string>> cells = ParseCsvLine(line);
    if (!cells.ok()) {
      file.errors.push_back({number, std::string(cells.status().message())});
      continue;
    }
    if (cells->size() != columns.size()) {
      file.errors.push_back({number, absl::StrCat(cells->size(), " fields, the header has ", columns.size())});
      continue;
    }
    DeviceRow row{number, {}};
    absl::Status status;
    for (size_t c = 0; c < columns.size() && status.ok(); ++c) status = SetDeviceColumn(columns[c], (*cells)[c], row.device);
    if (!status.ok()) {
      file.errors.push_back({number, std::string(status.message())});
      continue;
    }
    file.rows.push_back(std::move(row));
  }
  return file;
}

}  // namespace

absl::StatusOr<DeviceImportFile> ParseDeviceImport(absl::string_view text) {
  const std::vector<std::pair<int, absl::string_view>> lines = NumberedLines(text);
  if (!lines.empty() && absl::StartsWith(absl::StripLeadingAsciiWhitespace(lines[0].second), "{")) {
    return ParseDeviceJsonLines(lines);
  }
  return ParseDeviceCsv(lines);
}

absl::StatusOr<PointImportFile> ParsePointCsv(absl::string_view text) {
  PointImportFile file;
  const std::vector<std::pair<int, absl::string_view>> lines = NumberedLines(text);
  if (lines.empty()) return file;
  absl::StatusOr<std::vector<std::string>> header = ParseCsvLine(lines[0].second);
  if (!header.ok()) return absl::InvalidArgumentError(absl::StrCat("line ", lines[0].first, ": ", header.status().message()));
  std::map<std::string, size_t> at;
  for (size_t i = 0; i < header->size(); ++i) at[ColumnName((*header)[i])] = i;
  for (const char* needed : {"device", "metric", "timestamp", "value"}) {
    if (at.count(needed) == 0 || at.size() != 4) {
      return absl::InvalidArgumentError(absl::StrCat("line ", lines[0].first, ": the header must be device,metric,"
                                                     "timestamp,value (in any order), got '", lines[0].second, "'"));
    }
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto& [number, line] = lines[i];
    absl::StatusOr<std::vector<std::string>> cells = ParseCsvLine(line);
    if (!cells.ok()) {
      file.errors.push_back({number, std::string(cells.status().message())});
      continue;
    }
    if (cells->size() != 4) {
      file.errors.push_back({number, absl::StrCat(cells->size(), " fields, the header has 4")});
      continue;
    }
    PointRow row{number, (*cells)[at["device"]], (*cells)[at["metric"]], {}, (*cells)[at["value"]]};
    if (row.device.empty() || row.metric.empty()) {
      file.errors.push_back({number, "device and metric: must not be empty"});
      continue;
    }
    absl::StatusOr<google::protobuf::Timestamp> time = TimeFromRfc3339((*cells)[at["timestamp"]]);
    if (!time.ok()) {
      file.errors.push_back({number, std::string(time.status().message())});
      continue;
    }
    row.time = *time;
    file.rows.push_back(std::move(row));
  }
  return file;
}

}  // namespace parkbase::cli
