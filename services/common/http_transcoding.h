// The JSON side of the HTTP door: a request message built from a matched route, its query string and its body
// (proto3 JSON through protobuf's own parser), a response message printed as proto3 JSON, and a gRPC status printed
// as Google's JSON error model ({"error": {"code", "message", "status", "details"}}) with the HTTP status that
// google/rpc/code.proto gives each code.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"
#include "common/http_routes.h"

namespace parkbase {

// Parses proto3 JSON into `message`, refusing unknown fields: INVALID_ARGUMENT naming `what` (the body, a
// parameter, a line of an upload) and the message type.
absl::Status ParseJsonInto(absl::string_view json, google::protobuf::Message& message, absl::string_view what);

// Builds the request `match` calls: the body first (the whole message for body "*", one field otherwise), then the
// path's variables, then the query string for the fields neither sets. INVALID_ARGUMENT naming the field, the
// parameter or "body" for anything that does not fit the request's type.
absl::StatusOr<std::unique_ptr<google::protobuf::Message>> RequestFromHttp(const HttpRouteMatch& match,
                                                                          absl::string_view query,
                                                                          absl::string_view body,
                                                                          const google::protobuf::Message& prototype);

// The response's JSON (only its response_body field when the route names one).
absl::StatusOr<std::string> ResponseToJson(const HttpRoute& route, const google::protobuf::Message& response);

// The HTTP status google/rpc/code.proto maps a gRPC code to.
int HttpStatusOf(grpc::StatusCode code);

// The code's name as google.rpc.Code spells it (NOT_FOUND).
std::string CodeName(grpc::StatusCode code);

struct HttpError {
  int http_status = 500;
  std::string body;  // application/json
  // Seconds for Retry-After, from the status's RetryInfo (429 and 503 only).
  std::optional<int64_t> retry_after_seconds;
};

// A gRPC status as Google's JSON error: its message and its details (google.rpc.Status in error_details), each
// detail printed with its @type. A status without details gets an empty list.
HttpError HttpErrorOf(const grpc::Status& status);
// The same with an HTTP status of the caller's choosing (405, 413, 415), in the body's code too.
HttpError HttpErrorOf(const grpc::Status& status, int http_status);

// A status as HttpErrorOf prints it, for refusals made before any call (no route, body too large).
HttpError HttpErrorOf(const absl::Status& status);

}  // namespace parkbase
