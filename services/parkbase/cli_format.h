// The text the command line reads and writes besides tables of one command: YAML made from a message's JSON form
// (so `-o yaml` and `-o json` can never disagree on a field), CSV records (device import, telemetry import and
// export), telemetry values and times as text, and width-aware table cells. Plain functions without gRPC, so the
// unit tests reach every rule.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "parkbase/device/v1/device.pb.h"
#include "parkbase/telemetry/v1/telemetry.pb.h"

namespace parkbase::cli {

// What `-o/--output` asks for. CSV only where a command has rows of points (telemetry latest|read|aggregate).
enum class OutputFormat { kTable, kJson, kYaml, kCsv };
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text);

// protobuf's JSON with the proto field names, indented, ending in a newline.
std::string MessageToJson(const google::protobuf::Message& message);
// The same JSON form as block-style YAML: keys sorted (protobuf's JSON objects carry no order once parsed), strings
// quoted whenever a YAML reader could take them for anything but a string.
std::string MessageToYaml(const google::protobuf::Message& message);

// One CSV record (RFC 4180): fields with a comma, quote, CR or LF are quoted, quotes doubled; ends in "\n".
std::string CsvRecord(const std::vector<std::string>& fields);
// The fields of one CSV line (without its line break; a trailing CR is dropped). A quoted field may hold commas and
// doubled quotes but not a line break: our files hold one record a line, so line numbers in errors stay true.
absl::StatusOr<std::vector<std::string>> ParseCsvLine(absl::string_view line);

// RFC 3339 in UTC with as many fractional digits as needed ("2026-12-03T10:00:00.25Z"), as telemetry export writes
// and import reads, so an exported file imports to the same points.
std::string TimeToRfc3339(const google::protobuf::Timestamp& time);
absl::StatusOr<google::protobuf::Timestamp> TimeFromRfc3339(absl::string_view text);

// A telemetry value as CSV text: doubles in the shortest form that reads back to the same double.
std::string ValueToText(const telemetry::v1::Value& value);
// The value `text` means for a metric of `type` (the device type's schema says which; CSV carries no types).
absl::StatusOr<telemetry::v1::Value> ValueFromText(absl::string_view text, device::v1::ValueType type);
// An attribute value from `key=value` text: an integer, a finite number, true/false, or else a string.
device::v1::AttributeValue AttributeFromText(absl::string_view text);

// A table cell: `text` cut to `width` terminal columns (a Chinese character takes two) at a character boundary,
// then padded with spaces to `width`.
std::string Cell(absl::string_view text, int width);
// Terminal columns `text` takes.
int DisplayWidth(absl::string_view text);
// A table with a header row and columns as wide as their widest cell (at most `max_width` columns each), two
// spaces apart, trailing spaces trimmed.
std::string RenderTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                        int max_width = 60);

}  // namespace parkbase::cli
