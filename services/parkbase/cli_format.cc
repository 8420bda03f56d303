#include "parkbase/cli_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace parkbase::cli {
namespace {

// The range of google.protobuf.Timestamp (timestamp.proto): 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Terminal columns of a code point: two for the East Asian wide and full-width ranges (Unicode's UAX #11, the
// blocks a Chinese, Japanese or Korean name uses), one for everything else a name holds.
int Columns(char32_t c) {
  const bool wide = (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) || (c >= 0xAC00 && c <= 0xD7A3) ||
                    (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
                    (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x20000 && c <= 0x3FFFD);
  return wide ? 2 : 1;
}

// Calls `each(bytes, columns)` for every UTF-8 character of `text`; stops at a cut-off character.
template <typename Each>
void ForEachCharacter(absl::string_view text, Each each) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (i + length > text.size()) return;
    char32_t c = length == 1 ? lead : lead & (0x7F >> length);
    for (size_t k = 1; k < length; ++k) c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    if (!each(text.substr(i, length), Columns(c))) return;
    i += length;
  }
}

std::string ShortestDouble(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

// Words a YAML 1.1 or 1.2 reader takes for something other than a string.
bool IsYamlKeyword(absl::string_view text) {
  static const auto* words = new std::vector<std::string>{"true", "false", "yes", "no", "on", "off", "null", "y",
                                                          "n", "~"};
  const std::string lower = absl::AsciiStrToLower(text);
  return std::find(words->begin(), words->end(), lower) != words->end();
}

// A string as a YAML scalar: plain when it is letters, digits and `_ . / -` not starting with a digit, sign or dot
// and not a keyword; otherwise double-quoted with JSON's escapes (a double-quoted YAML scalar reads them alike).
std::string YamlString(absl::string_view text) {
  bool plain = !text.empty() && absl::ascii_isalpha(static_cast<unsigned char>(text[0])) && !IsYamlKeyword(text);
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '/' && c != '-') {
      plain = false;
    }
  }
  if (plain) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      absl::StrAppend(&quoted, "\\", std::string(1, c));
    } else if (c == '\n') {
      quoted += "\\n";
    } else if (c == '\t') {
      quoted += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      absl::StrAppend(&quoted, absl::StrFormat("\\x%02x", byte));
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

bool IsBlock(const google::protobuf::Value& value) {
  return (value.has_struct_value() && !value.struct_value().fields().empty()) ||
         (value.has_list_value() && !value.list_value().values().empty());
}

std::string YamlScalar(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case google::protobuf::Value::kNumberValue:
      return ShortestDouble(value.number_value());
    case google::protobuf::Value::kStringValue:
      return YamlString(value.string_value());
    case google::protobuf::Value::kStructValue:
      return "{}";
    case google::protobuf::Value::kListValue:
      return "[]";
    default:
      return "null";
  }
}

void EmitYaml(const google::protobuf::Value& value, int indent, std::string& out);

void EmitYamlStruct(const google::protobuf::Struct& object, int indent, std::string& out) {
  const std::map<std::string, google::protobuf::Value> sorted(object.fields().begin(), object.fields().end());
  for (const auto& [key, field] : sorted) {
    absl::StrAppend(&out, std::string(indent, ' '), YamlString(key), ":");
    if (IsBlock(field)) {
      out += "\n";
      EmitYaml(field, indent + 2, out);
    } else {
      absl::StrAppend(&out, " ", YamlScalar(field), "\n");
    }
  }
}

// A list item that is a map starts on the dash's line: "- key: value", its other keys under the first.
void EmitYamlList(const google::protobuf::ListValue& list, int indent, std::string& out) {
  for (const google::protobuf::Value& item : list.values()) {
    if (!IsBlock(item)) {
      absl::StrAppend(&out, std::string(indent, ' '), "- ", YamlScalar(item), "\n");
      continue;
    }
    std::string nested;
    EmitYaml(item, indent + 2, nested);
    if (item.has_struct_value()) {
      nested.replace(0, static_cast<size_t>(indent) + 2, std::string(indent, ' ') + "- ");
      out += nested;
    } else {
      absl::StrAppend(&out, std::string(indent, ' '), "-\n", nested);
    }
  }
}

void EmitYaml(const google::protobuf::Value& value, int indent, std::string& out) {
  if (value.has_struct_value()) {
    EmitYamlStruct(value.struct_value(), indent, out);
  } else if (value.has_list_value()) {
    EmitYamlList(value.list_value(), indent, out);
  } else {
    absl::StrAppend(&out, std::string(indent, ' '), YamlScalar(value), "\n");
  }
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json") return OutputFormat::kJson;
  if (text == "yaml") return OutputFormat::kYaml;
  if (text == "csv") return OutputFormat::kCsv;
  return absl::InvalidArgumentError(absl::StrCat("--output: must be table, json, yaml or csv, got '", text, "'"));
}

std::string MessageToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string MessageToYaml(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  google::protobuf::Value value;
  // Protobuf's own JSON always parses back as a google.protobuf.Value; should it not, JSON is valid YAML too.
  if (!google::protobuf::util::JsonStringToMessage(json, &value).ok()) return json + "\n";
  if (!IsBlock(value)) return YamlScalar(value) + "\n";
  std::string out;
  EmitYaml(value, 0, out);
  return out;
}

std::string CsvRecord(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line += ',';
    const std::string& field = fields[i];
    if (field.find_first_of(",\"\r\n") == std::string::npos) {
      line += field;
      continue;
    }
    line += '"';
    for (char c : field) {
      if (c == '"') line += '"';
      line += c;
    }
    line += '"';
  }
  return line + "\n";
}

absl::StatusOr<std::vector<std::string>> ParseCsvLine(absl::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> fields;
  size_t i = 0;
  while (true) {
    std::string field;
    if (i < line.size() && line[i] == '"') {
      const size_t opened = i++;
      while (true) {
        if (i >= line.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("column ", fields.size() + 1, ": the quote at character ", opened + 1,
                           " is not closed (a field may not span lines)"));
        }
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      if (i < line.size() && line[i] != ',') {
        return absl::InvalidArgumentError(
            absl::StrCat("column ", fields.size() + 1, ": text after the closing quote at character ", i + 1));
      }
    } else {
      const size_t comma = line.find(',', i);
      const size_t end = comma == absl::string_view::npos ? line.size() : comma;
      field = std::string(line.substr(i, end - i));
      if (field.find('"') != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("column ", fields.size() + 1, ": a quote inside an unquoted field (quote the field and "
                                                       "double the quote)"));
      }
      i = end;
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the comma
    if (i == line.size()) {
      fields.emplace_back();  // a trailing comma ends with an empty field
      break;
    }
  }
  return fields;
}

std::string TimeToRfc3339(const google::protobuf::Timestamp& time) {
  const absl::Time at = absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", at, absl::UTCTimeZone());  // "Z", not "+00:00"
}

absl::StatusOr<google::protobuf::Timestamp> TimeFromRfc3339(absl::string_view text) {
  absl::Time at;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &at, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("timestamp: must be RFC 3339 such as 2026-12-03T10:00:00Z, got '", text, "'"));
  }
  const int64_t seconds = absl::ToUnixSeconds(at);
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) {
    return absl::InvalidArgumentError(absl::StrCat("timestamp: must be in the years 1 to 9999, got '", text, "'"));
  }
  google::protobuf::Timestamp time;
  time.set_seconds(seconds);
  time.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(at - absl::FromUnixSeconds(seconds))));
  return time;
}

std::string ValueToText(const telemetry::v1::Value& value) {
  switch (value.kind_case()) {
    case telemetry::v1::Value::kDoubleValue:
      return ShortestDouble(value.double_value());
    case telemetry::v1::Value::kIntValue:
      return absl::StrCat(value.int_value());
    case telemetry::v1::Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case telemetry::v1::Value::kStringValue:
      return value.string_value();
    default:
      return "";
  }
}

absl::StatusOr<telemetry::v1::Value> ValueFromText(absl::string_view text, device::v1::ValueType type) {
  telemetry::v1::Value value;
  switch (type) {
    case device::v1::VALUE_TYPE_DOUBLE: {
      double number = 0;
      if (!absl::SimpleAtod(text, &number) || !std::isfinite(number)) {
        return absl::InvalidArgumentError(absl::StrCat("value: must be a finite number, got '", text, "'"));
      }
      value.set_double_value(number);
      return value;
    }
    case device::v1::VALUE_TYPE_INT64: {
      int64_t number = 0;
      if (!absl::SimpleAtoi(text, &number)) {
        return absl::InvalidArgumentError(absl::StrCat("value: must be a 64-bit integer, got '", text, "'"));
      }
      value.set_int_value(number);
      return value;
    }
    case device::v1::VALUE_TYPE_BOOL:
      if (text != "true" && text != "false") {
        return absl::InvalidArgumentError(absl::StrCat("value: must be true or false, got '", text, "'"));
      }
      value.set_bool_value(text == "true");
      return value;
    case device::v1::VALUE_TYPE_STRING:
      value.set_string_value(std::string(text));
      return value;
    default:
      return absl::InvalidArgumentError("value: the metric has no value type in its device type");
  }
}

device::v1::AttributeValue AttributeFromText(absl::string_view text) {
  device::v1::AttributeValue value;
  int64_t integer = 0;
  double number = 0;
  if (absl::SimpleAtoi(text, &integer)) {
    value.set_int64_value(integer);
  } else if (absl::SimpleAtod(text, &number) && std::isfinite(number)) {
    value.set_double_value(number);
  } else if (text == "true" || text == "false") {
    value.set_bool_value(text == "true");
  } else {
    value.set_string_value(std::string(text));
  }
  return value;
}

std::string Cell(absl::string_view text, int width) {
  std::string cell;
  int used = 0;
  ForEachCharacter(text, [&](absl::string_view character, int columns) {
    if (used + columns > width) return false;
    cell.append(character.data(), character.size());
    used += columns;
    return true;
  });
  cell.append(static_cast<size_t>(width - used), ' ');
  return cell;
}

int DisplayWidth(absl::string_view text) {
  int width = 0;
  ForEachCharacter(text, [&](absl::string_view, int columns) {
    width += columns;
    return true;
  });
  return width;
}

std::string RenderTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                        int max_width) {
  std::vector<int> widths(header.size(), 0);
  const auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::min(max_width, std::max(widths[i], DisplayWidth(row[i])));
    }
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  std::string out;
  const auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      if (i > 0) line += "  ";
      line += Cell(i < row.size() ? row[i] : "", widths[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  emit(header);
  for (const auto& row : rows) emit(row);
  return out;
}

}  // namespace parkbase::cli
