// Calls a gRPC method through the server's REST/JSON door, as an HTTP client would: the request message is laid
// out by the method's google.api.http binding (path variables, JSON body, query parameters for the rest) and the
// answer read back into the response message or, for an error, into a grpc::Status with the same code, message and
// google.rpc details. So a test written against gRPC statuses and messages runs over HTTP unchanged.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"

namespace parkbase::testing {

struct HttpExchangeResult {
  int http_status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  std::string Header(const std::string& name) const;
};

// One HTTP/1.1 request to 127.0.0.1:`port` (a new connection each time).
HttpExchangeResult SendHttp(int port, const std::string& verb, const std::string& target, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& headers);

struct HttpRequestParts {
  std::string verb;
  std::string target;  // path and query, encoded
  std::string body;    // JSON, or empty
};

// How `method`'s first binding carries `request`. REQUIREs that it can (a map outside the body cannot).
HttpRequestParts HttpRequestFor(const google::protobuf::MethodDescriptor& method,
                                const google::protobuf::Message& request);

// Calls `method` over HTTP with `key` (none when empty). On success the response message's wire bytes go to
// `response` (when given); an error answer becomes the status a gRPC client would have seen.
grpc::Status CallOverHttp(int port, const google::protobuf::MethodDescriptor& method, const std::string& key,
                          const google::protobuf::Message& request, std::string* response = nullptr);

}  // namespace parkbase::testing
