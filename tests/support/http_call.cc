#include "support/http_call.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/http_routes.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/status.pb.h"
#include "parkbase/api/v1/http_error.pb.h"

namespace parkbase::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

std::string Encode(const std::string& text, bool keep_slash) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// The message holding the field at a dotted path, and that field (creating nothing).
std::pair<Message*, const FieldDescriptor*> Locate(Message& root, const std::string& path) {
  Message* message = &root;
  std::vector<std::string> names = absl::StrSplit(path, '.');
  for (size_t i = 0; i + 1 < names.size(); ++i) {
    const FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(names[i]);
    REQUIRE(field != nullptr);
    message = message->GetReflection()->MutableMessage(message, field);
  }
  const FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(names.back());
  REQUIRE(field != nullptr);
  return {message, field};
}

std::string Json(const Message& message) {
  std::string json;
  REQUIRE(google::protobuf::util::MessageToJsonString(message, &json).ok());
  return json;
}

// A scalar's (or a JSON-string well-known type's) text in a query parameter.
std::string QueryText(const Message& message, const FieldDescriptor* field, int index) {
  const auto& r = *message.GetReflection();
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return repeated ? r.GetRepeatedString(message, field, index) : r.GetString(message, field);
    case FieldDescriptor::CPPTYPE_BOOL:
      return (repeated ? r.GetRepeatedBool(message, field, index) : r.GetBool(message, field)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(repeated ? r.GetRepeatedInt32(message, field, index) : r.GetInt32(message, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(repeated ? r.GetRepeatedInt64(message, field, index) : r.GetInt64(message, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(repeated ? r.GetRepeatedUInt32(message, field, index) : r.GetUInt32(message, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(repeated ? r.GetRepeatedUInt64(message, field, index) : r.GetUInt64(message, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(repeated ? r.GetRepeatedDouble(message, field, index) : r.GetDouble(message, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return absl::StrCat(repeated ? r.GetRepeatedFloat(message, field, index) : r.GetFloat(message, field));
    case FieldDescriptor::CPPTYPE_ENUM:
      return (repeated ? r.GetRepeatedEnum(message, field, index) : r.GetEnum(message, field))->name();
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      std::string json = Json(repeated ? r.GetRepeatedMessage(message, field, index) : r.GetMessage(message, field));
      REQUIRE(json.size() >= 2);
      REQUIRE(json.front() == '"');  // only well-known types JSON spells as a string fit a query parameter
      return json.substr(1, json.size() - 2);
    }
  }
  return "";
}

bool IsStringWellKnownType(const FieldDescriptor* field) {
  if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return false;
  const std::string& name = field->message_type()->full_name();
  return name == "google.protobuf.Timestamp" || name == "google.protobuf.Duration" ||
         name == "google.protobuf.FieldMask";
}

void AppendQuery(const Message& message, const std::string& prefix, std::vector<std::string>& params) {
  std::vector<const FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string name = absl::StrCat(prefix, field->name());
    INFO("query field " << name);
    REQUIRE_FALSE(field->is_map());
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !IsStringWellKnownType(field)) {
      REQUIRE_FALSE(field->is_repeated());
      AppendQuery(message.GetReflection()->GetMessage(message, field), name + ".", params);
      continue;
    }
    const int count = field->is_repeated() ? message.GetReflection()->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      params.push_back(absl::StrCat(Encode(name, false), "=", Encode(QueryText(message, field, i), false)));
    }
  }
}

grpc::StatusCode CodeNamed(const std::string& name) {
  for (int code = 0; code <= 16; ++code) {
    static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                   "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                   "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                   "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
    if (name == kNames[code]) return static_cast<grpc::StatusCode>(code);
  }
  FAIL("unknown status name " << name);
  return grpc::UNKNOWN;
}

}  // namespace

std::string HttpExchangeResult::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

HttpExchangeResult SendHttp(int port, const std::string& verb, const std::string& target, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& headers) {
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                static_cast<unsigned short>(port)));
  http::request<http::string_body> request(http::string_to_verb(verb), target, 11);
  request.set(http::field::host, absl::StrCat("127.0.0.1:", port));
  for (const auto& [name, value] : headers) request.set(name, value);
  if (!body.empty() && request[http::field::content_type].empty()) {
    request.set(http::field::content_type, "application/json");
  }
  request.body() = body;
  request.prepare_payload();
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 30);
  http::read(stream, buffer, parser);
  HttpExchangeResult result;
  result.http_status = static_cast<int>(parser.get().result_int());
  for (const auto& field : parser.get()) {
    result.headers.emplace_back(absl::AsciiStrToLower(std::string(field.name_string())), std::string(field.value()));
  }
  result.body = parser.get().body();
  beast::error_code ignored;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  return result;
}

HttpRequestParts HttpRequestFor(const google::protobuf::MethodDescriptor& method, const Message& request) {
  auto routes = RoutesOf(method);
  REQUIRE(routes.ok());
  REQUIRE_FALSE(routes->empty());
  const HttpRoute& route = routes->front();
  std::unique_ptr<Message> rest(request.New());
  rest->CopyFrom(request);
  HttpRequestParts parts;
  parts.verb = route.verb;
  // The path: literals as written, each variable's field value in its place.
  std::vector<std::string> segments;
  for (size_t i = 0; i < route.segments.size(); ++i) {
    const HttpRoute::Variable* variable = nullptr;
    for (const auto& v : route.variables) {
      if (i >= v.first && i < v.end) variable = &v;
    }
    if (variable == nullptr) {
      segments.push_back(route.segments[i].literal);
      continue;
    }
    if (i != variable->first) continue;
    auto [holder, field] = Locate(*rest, variable->field_path);
    segments.push_back(Encode(holder->GetReflection()->GetString(*holder, field), /*keep_slash=*/true));
    holder->GetReflection()->ClearField(holder, field);
  }
  parts.target = absl::StrCat("/", absl::StrJoin(segments, "/"));
  if (!route.custom_verb.empty()) absl::StrAppend(&parts.target, ":", route.custom_verb);
  if (route.body == "*") {
    parts.body = Json(*rest);
    return parts;
  }
  if (!route.body.empty()) {
    const FieldDescriptor* field = rest->GetDescriptor()->FindFieldByName(route.body);
    REQUIRE(field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE);
    parts.body = Json(rest->GetReflection()->GetMessage(*rest, field));
    rest->GetReflection()->ClearField(rest.get(), field);
  }
  std::vector<std::string> params;
  AppendQuery(*rest, "", params);
  if (!params.empty()) absl::StrAppend(&parts.target, "?", absl::StrJoin(params, "&"));
  return parts;
}

grpc::Status CallOverHttp(int port, const google::protobuf::MethodDescriptor& method, const std::string& key,
                          const Message& request, std::string* response) {
  const HttpRequestParts parts = HttpRequestFor(method, request);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!key.empty()) headers.emplace_back("Authorization", absl::StrCat("Bearer ", key));
  const HttpExchangeResult answer = SendHttp(port, parts.verb, parts.target, parts.body, headers);
  INFO(parts.verb << " " << parts.target << " -> " << answer.http_status << " " << answer.body);
  if (answer.http_status == 200) {
    std::unique_ptr<Message> message(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(method.output_type())->New());
    REQUIRE(google::protobuf::util::JsonStringToMessage(answer.body, message.get()).ok());
    if (response != nullptr) *response = message->SerializeAsString();
    return grpc::Status::OK;
  }
  api::v1::HttpErrorBody error;
  google::protobuf::util::JsonParseOptions strict;
  REQUIRE(google::protobuf::util::JsonStringToMessage(answer.body, &error, strict).ok());
  REQUIRE(error.error().code() == answer.http_status);
  google::rpc::Status rich;
  rich.set_code(CodeNamed(error.error().status()));
  rich.set_message(error.error().message());
  *rich.mutable_details() = error.error().details();
  return grpc::Status(static_cast<grpc::StatusCode>(rich.code()), rich.message(),
                      rich.details().empty() ? "" : rich.SerializeAsString());
}

}  // namespace parkbase::testing
