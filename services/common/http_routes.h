// The HTTP routes of a set of gRPC services, read from their methods' `google.api.http` annotations (the binding and
// its additional_bindings): which method a verb and a path call, and which request fields the path's variables set.
// Built from descriptors alone, so an annotated RPC needs no HTTP code; the template grammar is google/api/http.proto's.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace parkbase {

// One binding: `verb path` calls `method`.
struct HttpRoute {
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::string verb;           // GET, POST, PATCH, PUT, DELETE (upper case)
  std::string path_template;  // as annotated, e.g. /v1/{name=tenants/*/devices/*}:disable
  // "" (no body), "*" (the whole request) or a top-level field's name.
  std::string body;
  // "" (the whole response) or a top-level field of the response.
  std::string response_body;

  // One path segment of the template: a literal, `*` (one segment) or `**` (any number, at most one per template).
  struct Segment {
    enum class Kind { kLiteral, kOne, kAny } kind = Kind::kLiteral;
    std::string literal;
  };
  struct Variable {
    std::string field_path;  // dotted proto field names, e.g. device.name
    size_t first = 0;        // its segments: [first, end)
    size_t end = 0;
  };
  std::vector<Segment> segments;
  std::vector<Variable> variables;
  std::string custom_verb;  // the `:verb` suffix, without the colon

  // The request fields the path sets (each variable's field path).
  std::vector<std::string> PathFields() const;
};

// A request's path matched to a route: the route and each variable's value (segments joined by '/', decoded).
struct HttpRouteMatch {
  const HttpRoute* route = nullptr;
  std::vector<std::pair<std::string, std::string>> bindings;  // field path -> value
};

class HttpRouter {
 public:
  // The routes of every method of `services` that has a google.api.http annotation. INVALID_ARGUMENT naming the
  // method for a template that does not parse or names a field its request lacks.
  static absl::StatusOr<HttpRouter> Build(const std::vector<const google::protobuf::ServiceDescriptor*>& services);

  // What a request calls. NOT_FOUND when no template matches the path; UNIMPLEMENTED when templates match it but
  // none with `verb` (the caller answers 405 with VerbsFor as Allow).
  absl::StatusOr<HttpRouteMatch> Match(absl::string_view verb, absl::string_view path) const;

  // The verbs the templates matching `path` accept (for 405's Allow and CORS preflight); empty if none matches.
  std::vector<std::string> VerbsFor(absl::string_view path) const;

  const std::vector<HttpRoute>& routes() const { return routes_; }

 private:
  // Most specific first: more literal segments, then fewer `**`, so /v1/tenants beats /v1/{name=*}.
  std::vector<HttpRoute> routes_;
};

// The routes of one method, its primary binding first, then its additional_bindings; empty without an annotation.
absl::StatusOr<std::vector<HttpRoute>> RoutesOf(const google::protobuf::MethodDescriptor& method);

// Parses one path template (exposed for tests).
absl::StatusOr<HttpRoute> ParsePathTemplate(absl::string_view path_template);

// Percent-decodes one path segment or query component; `plus_is_space` for query strings. INVALID_ARGUMENT on a
// malformed escape.
absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space);

}  // namespace parkbase
