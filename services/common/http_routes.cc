#include "common/http_routes.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/api/annotations.pb.h"
#include "google/api/http.pb.h"

namespace parkbase {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

absl::Status TemplateError(absl::string_view path_template, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("path template ", path_template, ": ", problem));
}

bool IsLiteral(absl::string_view segment) {
  return !segment.empty() && segment.find_first_of("{}*=:") == absl::string_view::npos;
}

// Appends the segments of `pattern` (a template's or a variable's, e.g. tenants/*/devices/*) to `route`.
absl::Status AppendSegments(absl::string_view whole, absl::string_view pattern, HttpRoute& route) {
  for (absl::string_view part : absl::StrSplit(pattern, '/')) {
    HttpRoute::Segment segment;
    if (part == "*") {
      segment.kind = HttpRoute::Segment::Kind::kOne;
    } else if (part == "**") {
      segment.kind = HttpRoute::Segment::Kind::kAny;
    } else if (IsLiteral(part)) {
      segment.literal = std::string(part);
    } else {
      return TemplateError(whole, absl::StrCat("bad segment '", part, "'"));
    }
    route.segments.push_back(std::move(segment));
  }
  return absl::OkStatus();
}

// The field a dotted path names in `message`, or null.
const FieldDescriptor* FieldAt(const Descriptor* message, absl::string_view path) {
  const FieldDescriptor* field = nullptr;
  for (absl::string_view name : absl::StrSplit(path, '.')) {
    if (message == nullptr) return nullptr;
    field = message->FindFieldByName(std::string(name));
    if (field == nullptr) return nullptr;
    message = field->message_type();
  }
  return field;
}

size_t LiteralCount(const HttpRoute& route) {
  return std::count_if(route.segments.begin(), route.segments.end(),
                       [](const HttpRoute::Segment& s) { return s.kind == HttpRoute::Segment::Kind::kLiteral; });
}

bool HasAnySegment(const HttpRoute& route) {
  return std::any_of(route.segments.begin(), route.segments.end(),
                     [](const HttpRoute::Segment& s) { return s.kind == HttpRoute::Segment::Kind::kAny; });
}

// The request path split into decoded segments and its custom verb ("" when the last segment has no ':').
struct SplitPath {
  std::vector<std::string> segments;
  std::string custom_verb;
  // The last segment as sent, verb included, for templates without a verb.
  std::string last_with_verb;
};

absl::StatusOr<SplitPath> Split(absl::string_view path) {
  if (!absl::StartsWith(path, "/")) return absl::InvalidArgumentError("path: must start with '/'");
  SplitPath split;
  std::vector<absl::string_view> raw = absl::StrSplit(path.substr(1), '/');
  for (absl::string_view segment : raw) {
    auto decoded = PercentDecode(segment, /*plus_is_space=*/false);
    if (!decoded.ok()) return decoded.status();
    split.segments.push_back(*std::move(decoded));
  }
  split.last_with_verb = split.segments.back();
  // The verb is split off the raw segment, so an escaped ':' (%3A) stays part of the value.
  const absl::string_view last = raw.back();
  const size_t colon = last.rfind(':');
  if (colon != absl::string_view::npos) {
    split.custom_verb = std::string(last.substr(colon + 1));
    auto decoded = PercentDecode(last.substr(0, colon), false);
    if (!decoded.ok()) return decoded.status();
    split.segments.back() = *std::move(decoded);
  }
  return split;
}

// Matches `route` against a split path; fills `match` on success.
bool MatchRoute(const HttpRoute& route, const SplitPath& path, HttpRouteMatch* match) {
  std::vector<std::string> segments = path.segments;
  if (route.custom_verb.empty()) {
    segments.back() = path.last_with_verb;
  } else if (route.custom_verb != path.custom_verb) {
    return false;
  }
  const size_t route_size = route.segments.size();
  const size_t size = segments.size();
  // Where each route segment starts in the request, and how many request segments it covers.
  std::vector<std::pair<size_t, size_t>> spans(route_size);
  size_t any_at = route_size;
  for (size_t i = 0; i < route_size; ++i) {
    if (route.segments[i].kind == HttpRoute::Segment::Kind::kAny) any_at = i;
  }
  if (any_at == route_size) {
    if (size != route_size) return false;
    for (size_t i = 0; i < route_size; ++i) spans[i] = {i, 1};
  } else {
    if (size + 1 < route_size) return false;
    const size_t covered = size - (route_size - 1);
    for (size_t i = 0; i < route_size; ++i) {
      if (i < any_at) spans[i] = {i, 1};
      if (i == any_at) spans[i] = {i, covered};
      if (i > any_at) spans[i] = {i + covered - 1, 1};
    }
  }
  for (size_t i = 0; i < route_size; ++i) {
    const HttpRoute::Segment& segment = route.segments[i];
    if (segment.kind == HttpRoute::Segment::Kind::kAny) continue;
    const std::string& value = segments[spans[i].first];
    if (value.empty()) return false;
    if (segment.kind == HttpRoute::Segment::Kind::kLiteral && value != segment.literal) return false;
  }
  match->route = &route;
  match->bindings.clear();
  for (const HttpRoute::Variable& variable : route.variables) {
    const size_t begin = spans[variable.first].first;
    const size_t end = variable.end == variable.first ? begin
                                                       : spans[variable.end - 1].first + spans[variable.end - 1].second;
    std::vector<absl::string_view> parts(segments.begin() + begin, segments.begin() + end);
    match->bindings.emplace_back(variable.field_path, absl::StrJoin(parts, "/"));
  }
  return true;
}

absl::StatusOr<HttpRoute> RouteFor(const google::protobuf::MethodDescriptor& method, const google::api::HttpRule& rule) {
  std::string verb;
  std::string path;
  switch (rule.pattern_case()) {
    case google::api::HttpRule::kGet: verb = "GET"; path = rule.get(); break;
    case google::api::HttpRule::kPut: verb = "PUT"; path = rule.put(); break;
    case google::api::HttpRule::kPost: verb = "POST"; path = rule.post(); break;
    case google::api::HttpRule::kDelete: verb = "DELETE"; path = rule.delete_(); break;
    case google::api::HttpRule::kPatch: verb = "PATCH"; path = rule.patch(); break;
    case google::api::HttpRule::kCustom:
      verb = absl::AsciiStrToUpper(rule.custom().kind());
      path = rule.custom().path();
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(method.full_name(), ": google.api.http names no verb"));
  }
  auto route = ParsePathTemplate(path);
  if (!route.ok()) return absl::InvalidArgumentError(absl::StrCat(method.full_name(), ": ", route.status().message()));
  route->method = &method;
  route->verb = verb;
  route->body = rule.body();
  route->response_body = rule.response_body();
  for (const HttpRoute::Variable& variable : route->variables) {
    const FieldDescriptor* field = FieldAt(method.input_type(), variable.field_path);
    if (field == nullptr || field->is_repeated() || field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(absl::StrCat(method.full_name(), ": path variable ", variable.field_path,
                                                     " is not a singular scalar field of the request"));
    }
  }
  if (!route->body.empty() && route->body != "*" &&
      method.input_type()->FindFieldByName(route->body) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(method.full_name(), ": body field ", route->body, " not found"));
  }
  if (!route->response_body.empty() && method.output_type()->FindFieldByName(route->response_body) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(method.full_name(), ": response_body field ", route->response_body, " not found"));
  }
  return route;
}

}  // namespace

std::vector<std::string> HttpRoute::PathFields() const {
  std::vector<std::string> fields;
  for (const Variable& variable : variables) fields.push_back(variable.field_path);
  return fields;
}

absl::StatusOr<HttpRoute> ParsePathTemplate(absl::string_view path_template) {
  HttpRoute route;
  route.path_template = std::string(path_template);
  if (!absl::StartsWith(path_template, "/")) return TemplateError(path_template, "must start with '/'");
  absl::string_view rest = path_template.substr(1);
  // A custom verb follows the last segment, after any variable's closing brace.
  const size_t colon = rest.rfind(':');
  const size_t brace = rest.rfind('}');
  if (colon != absl::string_view::npos && (brace == absl::string_view::npos || colon > brace) &&
      rest.find('/', colon) == absl::string_view::npos) {
    route.custom_verb = std::string(rest.substr(colon + 1));
    if (!IsLiteral(route.custom_verb)) return TemplateError(path_template, "bad custom verb");
    rest = rest.substr(0, colon);
  }
  while (!rest.empty()) {
    if (rest.front() == '{') {
      const size_t close = rest.find('}');
      if (close == absl::string_view::npos) return TemplateError(path_template, "unclosed '{'");
      const absl::string_view inside = rest.substr(1, close - 1);
      const size_t equals = inside.find('=');
      HttpRoute::Variable variable;
      variable.field_path = std::string(inside.substr(0, equals));
      if (variable.field_path.empty()) return TemplateError(path_template, "variable without a field");
      variable.first = route.segments.size();
      const absl::string_view pattern = equals == absl::string_view::npos ? "*" : inside.substr(equals + 1);
      if (absl::Status status = AppendSegments(path_template, pattern, route); !status.ok()) return status;
      variable.end = route.segments.size();
      route.variables.push_back(std::move(variable));
      rest = rest.substr(close + 1);
    } else {
      const size_t slash = rest.find('/');
      const absl::string_view part = rest.substr(0, slash);
      if (absl::Status status = AppendSegments(path_template, part, route); !status.ok()) return status;
      rest = slash == absl::string_view::npos ? absl::string_view() : rest.substr(slash);
    }
    if (rest.empty()) break;
    if (rest.front() != '/') return TemplateError(path_template, "a segment must end at '/'");
    rest = rest.substr(1);
    if (rest.empty()) return TemplateError(path_template, "ends with '/'");
  }
  if (route.segments.empty()) return TemplateError(path_template, "has no segments");
  if (std::count_if(route.segments.begin(), route.segments.end(), [](const HttpRoute::Segment& s) {
        return s.kind == HttpRoute::Segment::Kind::kAny;
      }) > 1) {
    return TemplateError(path_template, "has more than one '**'");
  }
  return route;
}

absl::StatusOr<std::vector<HttpRoute>> RoutesOf(const google::protobuf::MethodDescriptor& method) {
  std::vector<HttpRoute> routes;
  if (!method.options().HasExtension(google::api::http)) return routes;
  const google::api::HttpRule& rule = method.options().GetExtension(google::api::http);
  std::vector<const google::api::HttpRule*> rules = {&rule};
  for (const auto& additional : rule.additional_bindings()) rules.push_back(&additional);
  for (const google::api::HttpRule* binding : rules) {
    auto route = RouteFor(method, *binding);
    if (!route.ok()) return route.status();
    routes.push_back(*std::move(route));
  }
  return routes;
}

absl::StatusOr<HttpRouter> HttpRouter::Build(const std::vector<const google::protobuf::ServiceDescriptor*>& services) {
  HttpRouter router;
  for (const auto* service : services) {
    for (int m = 0; m < service->method_count(); ++m) {
      auto routes = RoutesOf(*service->method(m));
      if (!routes.ok()) return routes.status();
      for (HttpRoute& route : *routes) router.routes_.push_back(std::move(route));
    }
  }
  std::stable_sort(router.routes_.begin(), router.routes_.end(), [](const HttpRoute& a, const HttpRoute& b) {
    if (LiteralCount(a) != LiteralCount(b)) return LiteralCount(a) > LiteralCount(b);
    if (a.custom_verb.empty() != b.custom_verb.empty()) return !a.custom_verb.empty();
    return !HasAnySegment(a) && HasAnySegment(b);
  });
  return router;
}

absl::StatusOr<HttpRouteMatch> HttpRouter::Match(absl::string_view verb, absl::string_view path) const {
  auto split = Split(path);
  if (!split.ok()) return split.status();
  bool path_matched = false;
  HttpRouteMatch match;
  for (const HttpRoute& route : routes_) {
    if (!MatchRoute(route, *split, &match)) continue;
    if (route.verb == verb) return match;
    path_matched = true;
  }
  if (path_matched) return absl::UnimplementedError(absl::StrCat("method ", verb, " is not allowed on this path"));
  return absl::NotFoundError("no API method has this path");
}

std::vector<std::string> HttpRouter::VerbsFor(absl::string_view path) const {
  std::vector<std::string> verbs;
  auto split = Split(path);
  if (!split.ok()) return verbs;
  HttpRouteMatch match;
  for (const HttpRoute& route : routes_) {
    if (MatchRoute(route, *split, &match) &&
        std::find(verbs.begin(), verbs.end(), route.verb) == verbs.end()) {
      verbs.push_back(route.verb);
    }
  }
  return verbs;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size() || !absl::ascii_isxdigit(text[i + 1]) || !absl::ascii_isxdigit(text[i + 2])) {
        return absl::InvalidArgumentError("malformed percent-escape");
      }
      auto hex = [](char h) { return absl::ascii_isdigit(h) ? h - '0' : absl::ascii_tolower(h) - 'a' + 10; };
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace parkbase
