#include "common/http_transcoding.h"

#include <cmath>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "google/protobuf/struct.pb.h"
#include "parkbase/api/v1/http_error.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace parkbase {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

const FieldDescriptor* FindField(const Descriptor* message, absl::string_view name) {
  const FieldDescriptor* field = message->FindFieldByName(std::string(name));
  if (field == nullptr) field = message->FindFieldByCamelcaseName(std::string(name));
  return field;
}

// A JSON string literal holding `text`, printed by protobuf (no hand-made escaping).
std::string JsonString(absl::string_view text) {
  google::protobuf::Value value;
  value.set_string_value(std::string(text));
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(value, &json);
  return json;
}

// Sets (or, for a repeated field, adds) the field at `path` from text, as a path variable or query parameter
// carries it. `what` names the source in errors.
absl::Status SetFromText(Message& root, absl::string_view path, absl::string_view text, absl::string_view what) {
  Message* message = &root;
  std::vector<absl::string_view> names = absl::StrSplit(path, '.');
  for (size_t i = 0; i < names.size(); ++i) {
    const FieldDescriptor* field = FindField(message->GetDescriptor(), names[i]);
    if (field == nullptr) return FieldError(what, "names no field of the request");
    const Reflection& reflection = *message->GetReflection();
    const bool last = i + 1 == names.size();
    if (!last) {
      if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || field->is_repeated() || field->is_map()) {
        return FieldError(what, "names no field of the request");
      }
      message = reflection.MutableMessage(message, field);
      continue;
    }
    if (field->is_map()) return FieldError(what, "a map field cannot be set from the URL; send it in the body");
    auto bad = [&](absl::string_view expected) {
      return FieldError(what, absl::StrCat("must be ", expected, ", got '", Utf8Prefix(text, 64), "'"));
    };
    const bool repeated = field->is_repeated();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string value(text);
        if (field->type() == FieldDescriptor::TYPE_BYTES &&
            !absl::WebSafeBase64Unescape(text, &value) && !absl::Base64Unescape(text, &value)) {
          return bad("base64");
        }
        repeated ? reflection.AddString(message, field, value) : reflection.SetString(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool value = false;
        if (text == "true" || text == "1") {
          value = true;
        } else if (text != "false" && text != "0") {
          return bad("true or false");
        }
        repeated ? reflection.AddBool(message, field, value) : reflection.SetBool(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_INT32: {
        int32_t value = 0;
        if (!absl::SimpleAtoi(text, &value)) return bad("a 32-bit integer");
        repeated ? reflection.AddInt32(message, field, value) : reflection.SetInt32(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t value = 0;
        if (!absl::SimpleAtoi(text, &value)) return bad("a 64-bit integer");
        repeated ? reflection.AddInt64(message, field, value) : reflection.SetInt64(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_UINT32: {
        uint32_t value = 0;
        if (!absl::SimpleAtoi(text, &value)) return bad("an unsigned 32-bit integer");
        repeated ? reflection.AddUInt32(message, field, value) : reflection.SetUInt32(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t value = 0;
        if (!absl::SimpleAtoi(text, &value)) return bad("an unsigned 64-bit integer");
        repeated ? reflection.AddUInt64(message, field, value) : reflection.SetUInt64(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double value = 0;
        if (!absl::SimpleAtod(text, &value)) return bad("a number");
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
          repeated ? reflection.AddFloat(message, field, static_cast<float>(value))
                   : reflection.SetFloat(message, field, static_cast<float>(value));
        } else {
          repeated ? reflection.AddDouble(message, field, value) : reflection.SetDouble(message, field, value);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* value = field->enum_type()->FindValueByName(std::string(text));
        int number = 0;
        if (value == nullptr && absl::SimpleAtoi(text, &number)) value = field->enum_type()->FindValueByNumber(number);
        if (value == nullptr) return bad(absl::StrCat("a value of ", field->enum_type()->name()));
        repeated ? reflection.AddEnum(message, field, value) : reflection.SetEnum(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        // Well-known types that JSON spells as a string (Timestamp, Duration, FieldMask, wrappers).
        Message* target = repeated ? reflection.AddMessage(message, field) : reflection.MutableMessage(message, field);
        if (absl::Status status = ParseJsonInto(JsonString(text), *target, what); !status.ok()) {
          if (field->message_type()->full_name() == "google.protobuf.FieldMask" ||
              field->message_type()->full_name() == "google.protobuf.Timestamp" ||
              field->message_type()->full_name() == "google.protobuf.Duration") {
            return bad(field->message_type()->name());
          }
          return status;
        }
        break;
      }
    }
  }
  return absl::OkStatus();
}

// True when `path` is `prefix` or lies inside it (device.name inside device).
bool Within(absl::string_view path, absl::string_view prefix) {
  return path == prefix || (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
                            path[prefix.size()] == '.');
}

}  // namespace

absl::Status ParseJsonInto(absl::string_view json, Message& message, absl::string_view what) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(std::string(json), &message, options);
  if (!status.ok()) return FieldError(what, absl::StrCat("not valid JSON for ", message.GetDescriptor()->full_name(),
                                                         ": ", Utf8Prefix(std::string(status.message()), 200)));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Message>> RequestFromHttp(const HttpRouteMatch& match, absl::string_view query,
                                                         absl::string_view body, const Message& prototype) {
  const HttpRoute& route = *match.route;
  std::unique_ptr<Message> request(prototype.New());
  if (route.body.empty()) {
    if (!body.empty()) return FieldError("body", absl::StrCat(route.verb, " ", route.path_template, " takes no body"));
  } else {
    const absl::string_view json = body.empty() ? absl::string_view("{}") : body;
    if (route.body == "*") {
      if (absl::Status status = ParseJsonInto(json, *request, "body"); !status.ok()) return status;
    } else {
      const FieldDescriptor* field = request->GetDescriptor()->FindFieldByName(route.body);
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated()) {
        Message* target = request->GetReflection()->MutableMessage(request.get(), field);
        if (absl::Status status = ParseJsonInto(json, *target, "body"); !status.ok()) return status;
      } else {
        // A repeated or scalar body field: parse it as the one member of a request object.
        std::unique_ptr<Message> holder(prototype.New());
        const std::string wrapped = absl::StrCat("{", JsonString(field->json_name()), ":", json, "}");
        if (absl::Status status = ParseJsonInto(wrapped, *holder, "body"); !status.ok()) return status;
        request->MergeFrom(*holder);
      }
    }
  }
  std::set<std::string> set_by_path;
  for (const auto& [field_path, value] : match.bindings) {
    // A path variable overrides what the body said of the same field (the URL names the resource).
    if (absl::Status status = SetFromText(*request, field_path, value, field_path); !status.ok()) return status;
    set_by_path.insert(field_path);
  }
  if (query.empty()) return request;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t equals = pair.find('=');
    auto name = PercentDecode(pair.substr(0, equals), /*plus_is_space=*/true);
    if (!name.ok()) return FieldError("query", "malformed percent-escape in a parameter's name");
    auto value = PercentDecode(equals == absl::string_view::npos ? absl::string_view() : pair.substr(equals + 1), true);
    if (!value.ok()) return FieldError(*name, "malformed percent-escape");
    if (route.body == "*") return FieldError(*name, "this method takes its fields in the JSON body, not the query");
    if (!route.body.empty() && Within(*name, route.body)) {
      return FieldError(*name, "is sent in the JSON body, not the query");
    }
    for (const std::string& path_field : set_by_path) {
      if (Within(*name, path_field)) return FieldError(*name, "is set by the URL's path");
    }
    if (absl::Status status = SetFromText(*request, *name, *value, *name); !status.ok()) return status;
  }
  return request;
}

absl::StatusOr<std::string> ResponseToJson(const HttpRoute& route, const Message& response) {
  google::protobuf::util::JsonPrintOptions options;
  const Message* printed = &response;
  if (!route.response_body.empty()) {
    const FieldDescriptor* field = response.GetDescriptor()->FindFieldByName(route.response_body);
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated()) {
      printed = &response.GetReflection()->GetMessage(response, field);
    }
  }
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(*printed, &json, options);
  if (!status.ok()) return absl::InternalError(absl::StrCat("cannot print the response: ", std::string(status.message())));
  return json;
}

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return 200;
    case grpc::CANCELLED: return 499;
    case grpc::UNKNOWN: return 500;
    case grpc::INVALID_ARGUMENT: return 400;
    case grpc::DEADLINE_EXCEEDED: return 504;
    case grpc::NOT_FOUND: return 404;
    case grpc::ALREADY_EXISTS: return 409;
    case grpc::PERMISSION_DENIED: return 403;
    case grpc::UNAUTHENTICATED: return 401;
    case grpc::RESOURCE_EXHAUSTED: return 429;
    case grpc::FAILED_PRECONDITION: return 400;
    case grpc::ABORTED: return 409;
    case grpc::OUT_OF_RANGE: return 400;
    case grpc::UNIMPLEMENTED: return 501;
    case grpc::INTERNAL: return 500;
    case grpc::UNAVAILABLE: return 503;
    case grpc::DATA_LOSS: return 500;
    default: return 500;
  }
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return "OK";
    case grpc::CANCELLED: return "CANCELLED";
    case grpc::UNKNOWN: return "UNKNOWN";
    case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND: return "NOT_FOUND";
    case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::ABORTED: return "ABORTED";
    case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::INTERNAL: return "INTERNAL";
    case grpc::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::DATA_LOSS: return "DATA_LOSS";
    default: return "UNKNOWN";
  }
}

HttpError HttpErrorOf(const grpc::Status& status, int http_status) {
  HttpError error;
  error.http_status = http_status;
  api::v1::HttpErrorBody body;
  api::v1::HttpError& inner = *body.mutable_error();
  inner.set_code(http_status);
  inner.set_message(status.error_message());
  inner.set_status(CodeName(status.error_code()));
  google::rpc::Status rich;
  if (!status.error_details().empty() && rich.ParseFromString(status.error_details())) {
    for (const auto& any : rich.details()) {
      // A detail of a type this binary does not link could not be printed as JSON; it is left out, not garbled.
      if (google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
              std::string(absl::StripPrefix(any.type_url(), "type.googleapis.com/"))) == nullptr) {
        continue;
      }
      *inner.add_details() = any;
      google::rpc::RetryInfo retry;
      if ((http_status == 429 || http_status == 503) && any.UnpackTo(&retry)) {
        const double seconds = retry.retry_delay().seconds() + retry.retry_delay().nanos() / 1e9;
        error.retry_after_seconds = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(seconds)));
      }
    }
  }
  if (!google::protobuf::util::MessageToJsonString(body, &error.body).ok()) {
    inner.clear_details();
    (void)google::protobuf::util::MessageToJsonString(body, &error.body);
  }
  return error;
}

HttpError HttpErrorOf(const grpc::Status& status) { return HttpErrorOf(status, HttpStatusOf(status.error_code())); }

HttpError HttpErrorOf(const absl::Status& status) { return HttpErrorOf(ToGrpcStatus(status)); }

}  // namespace parkbase
