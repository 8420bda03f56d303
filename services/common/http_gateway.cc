#include "common/http_gateway.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/http_transcoding.h"
#include "common/log.h"
#include "google/protobuf/message.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace parkbase {

using google::protobuf::MessageFactory;

// One HTTP request forwarded as a gRPC call; lives until the call's callback has answered the exchange.
struct HttpGateway::Call {
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;
  std::shared_ptr<HttpExchange> exchange;
  const HttpRoute* route = nullptr;
  std::vector<std::pair<std::string, std::string>> cors;
  absl::Time start;
};

namespace {

// What a client may put in gRPC metadata: printable ASCII (gRPC refuses anything else in a text header).
bool IsMetadataValue(absl::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// Request ids a client picks travel on, if they are short and printable; the server makes one otherwise.
constexpr size_t kMaxRequestIdBytes = 128;

bool IsJson(absl::string_view content_type) {
  const absl::string_view media = absl::StripAsciiWhitespace(content_type.substr(0, content_type.find(';')));
  return absl::EqualsIgnoreCase(media, "application/json");
}

HttpResponse ErrorResponse(const HttpError& error) {
  HttpResponse response;
  response.status = error.http_status;
  response.body = error.body;
  if (error.retry_after_seconds.has_value()) {
    response.headers.emplace_back("Retry-After", absl::StrCat(*error.retry_after_seconds));
  }
  return response;
}

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Create(
    const std::vector<const google::protobuf::ServiceDescriptor*>& services, ChannelFor channel_for, Options options,
    prometheus::Registry* registry) {
  auto router = HttpRouter::Build(services);
  if (!router.ok()) return router.status();
  return std::unique_ptr<HttpGateway>(
      new HttpGateway(*std::move(router), std::move(channel_for), std::move(options), registry));
}

HttpGateway::HttpGateway(HttpRouter router, ChannelFor channel_for, Options options, prometheus::Registry* registry)
    : router_(std::move(router)), channel_for_(std::move(channel_for)), options_(std::move(options)) {
  if (registry != nullptr) {
    handled_ = &prometheus::BuildCounter()
                    .Name("http_server_handled_total")
                    .Help("HTTP/JSON requests answered, by the gRPC method they called (empty when none matched) "
                          "and the HTTP status")
                    .Register(*registry);
    handling_seconds_ = &prometheus::BuildHistogram()
                             .Name("http_server_handling_seconds")
                             .Help("Time from an HTTP/JSON request's arrival to its answer")
                             .Register(*registry);
  }
}

HttpGateway::~HttpGateway() { StopAndWait(); }

std::vector<std::pair<std::string, std::string>> HttpGateway::CorsHeaders(const HttpRequest& request) const {
  std::vector<std::pair<std::string, std::string>> headers;
  const absl::string_view origin = request.Header("origin");
  if (origin.empty() || options_.cors_origins.empty()) return headers;
  const bool any = std::find(options_.cors_origins.begin(), options_.cors_origins.end(), "*") !=
                   options_.cors_origins.end();
  if (!any && std::find(options_.cors_origins.begin(), options_.cors_origins.end(), origin) ==
                  options_.cors_origins.end()) {
    return headers;
  }
  headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  headers.emplace_back("Vary", "Origin");
  headers.emplace_back("Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
  return headers;
}

void HttpGateway::Answer(HttpExchange& exchange, const std::string& service, const std::string& method,
                         absl::Time start, HttpResponse response) {
  if (handled_ != nullptr) {
    handled_->Add({{"grpc_service", service}, {"grpc_method", method}, {"code", absl::StrCat(response.status)}})
        .Increment();
    handling_seconds_
        ->Add({{"grpc_service", service}, {"grpc_method", method}},
              prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1, 2.5, 5, 10})
        .Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
  exchange.Respond(std::move(response));
}

HttpResponse HttpGateway::Refusal(int http_status, absl::string_view message) {
  const grpc::StatusCode code = http_status == 413 || http_status == 431 ? grpc::RESOURCE_EXHAUSTED
                                                                         : grpc::INVALID_ARGUMENT;
  return ErrorResponse(HttpErrorOf(grpc::Status(code, std::string(message)), http_status));
}

void HttpGateway::Handle(HttpRequest request, std::shared_ptr<HttpExchange> exchange) {
  const absl::Time start = absl::Now();
  std::vector<std::pair<std::string, std::string>> cors = CorsHeaders(request);
  auto refuse = [&](int http_status, const absl::Status& status, const HttpRoute* route = nullptr) {
    HttpResponse response = ErrorResponse(HttpErrorOf(ToGrpcStatus(status), http_status));
    response.headers.insert(response.headers.end(), cors.begin(), cors.end());
    Answer(*exchange, route != nullptr ? route->method->service()->full_name() : "",
           route != nullptr ? route->method->name() : "", start, std::move(response));
  };
  if (!options_.health_path.empty() && request.path == options_.health_path && request.verb == "GET") {
    HttpResponse response;
    response.status = serving_ ? 200 : 503;
    response.body = serving_ ? R"({"status":"SERVING"})" : R"({"status":"NOT_SERVING"})";
    return exchange->Respond(std::move(response));
  }
  if (request.verb == "OPTIONS") {
    // A CORS preflight (or a plain OPTIONS): which verbs the path takes.
    std::vector<std::string> verbs = router_.VerbsFor(request.path);
    if (verbs.empty()) return refuse(404, absl::NotFoundError("no API method has this path"));
    verbs.push_back("OPTIONS");
    HttpResponse response;
    response.status = 204;
    response.headers.emplace_back("Allow", absl::StrJoin(verbs, ", "));
    if (!cors.empty()) {
      response.headers.insert(response.headers.end(), cors.begin(), cors.end());
      response.headers.emplace_back("Access-Control-Allow-Methods", absl::StrJoin(verbs, ", "));
      response.headers.emplace_back("Access-Control-Allow-Headers",
                                    "Authorization, Content-Type, X-Request-Id, Last-Event-ID");
      response.headers.emplace_back("Access-Control-Max-Age", "600");
    }
    return Answer(*exchange, "", "", start, std::move(response));
  }
  absl::StatusOr<HttpRouteMatch> match = router_.Match(request.verb, request.path);
  if (!match.ok()) {
    if (absl::IsUnimplemented(match.status())) {
      HttpResponse response = ErrorResponse(HttpErrorOf(ToGrpcStatus(match.status()), 405));
      response.headers.emplace_back("Allow", absl::StrJoin(router_.VerbsFor(request.path), ", "));
      response.headers.insert(response.headers.end(), cors.begin(), cors.end());
      return Answer(*exchange, "", "", start, std::move(response));
    }
    if (absl::IsInvalidArgument(match.status())) return refuse(400, FieldError("path", match.status().message()));
    return refuse(404, match.status());
  }
  const HttpRoute& route = *match->route;
  const auto& method = *route.method;
  if (method.client_streaming() || method.server_streaming()) {
    return refuse(501, absl::UnimplementedError(absl::StrCat(method.full_name(),
                                                             " streams; it is served over gRPC only for now")),
                  &route);
  }
  if (!request.body.empty() && !IsJson(request.Header("content-type"))) {
    return refuse(415, FieldError("Content-Type", "must be application/json"), &route);
  }
  const google::protobuf::Message* prototype =
      MessageFactory::generated_factory()->GetPrototype(method.input_type());
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> message =
      RequestFromHttp(*match, request.query, request.body, *prototype);
  if (!message.ok()) return refuse(400, message.status(), &route);
  const absl::string_view authorization = request.Header("authorization");
  if (!IsMetadataValue(authorization)) {
    return refuse(401, absl::UnauthenticatedError("Authorization: not a valid header value"), &route);
  }

  auto call = std::make_unique<Call>();
  call->route = &route;
  call->exchange = std::move(exchange);
  call->cors = std::move(cors);
  call->start = start;
  if (!authorization.empty()) call->context.AddMetadata("authorization", std::string(authorization));
  const absl::string_view request_id = request.Header("x-request-id");
  if (!request_id.empty() && request_id.size() <= kMaxRequestIdBytes && IsMetadataValue(request_id)) {
    call->context.AddMetadata("x-request-id", std::string(request_id));
  }
  // The gRPC server sees this process as the caller: it is told who the caller is (auth_limits.h trusts this
  // hop from an in-process peer, and from a gateway listed in --trusted_proxies).
  const std::string source = options_.sources != nullptr
                                 ? options_.sources->Of(request.peer, request.Header("x-forwarded-for"))
                                 : PeerAddress(request.peer);
  if (IsMetadataValue(source)) call->context.AddMetadata("x-forwarded-for", source);
  call->context.set_deadline(absl::ToChronoTime(start + options_.call_timeout));
  const std::string bytes = (*message)->SerializeAsString();
  grpc::Slice slice(bytes);
  call->request = grpc::ByteBuffer(&slice, 1);
  call->channel = channel_for_(method.service()->full_name());
  if (call->channel == nullptr) {
    return refuse(503, absl::UnavailableError(absl::StrCat("no backend for ", method.service()->full_name())),
                  &route);
  }
  call->stub = std::make_unique<grpc::GenericStub>(call->channel);
  Call* raw = call.get();
  {
    absl::MutexLock lock(&mu_);
    if (closed_) {
      cors = std::move(call->cors);
      exchange = std::move(call->exchange);
      return refuse(503, absl::UnavailableError("the server is shutting down"), &route);
    }
    in_flight_.push_back(raw);
  }
  call.release();
  const std::string path = absl::StrCat("/", method.service()->full_name(), "/", method.name());
  raw->stub->UnaryCall(&raw->context, path, grpc::StubOptions(), &raw->request, &raw->response,
                       [this, raw](grpc::Status status) {
                         std::unique_ptr<Call> done(raw);
                         const auto& method = *done->route->method;
                         HttpResponse response;
                         if (status.ok()) {
                           std::unique_ptr<google::protobuf::Message> answer(
                               MessageFactory::generated_factory()->GetPrototype(method.output_type())->New());
                           absl::StatusOr<std::string> json =
                               answer->ParseFromString(Flatten(done->response))
                                   ? ResponseToJson(*done->route, *answer)
                                   : absl::InternalError("the service's answer did not parse");
                           if (json.ok()) {
                             response.body = *std::move(json);
                           } else {
                             response = ErrorResponse(HttpErrorOf(json.status()));
                           }
                         } else {
                           response = ErrorResponse(HttpErrorOf(status));
                         }
                         const auto& initial = done->context.GetServerInitialMetadata();
                         if (auto id = initial.find("x-request-id"); id != initial.end()) {
                           response.headers.emplace_back("X-Request-Id",
                                                         std::string(id->second.data(), id->second.size()));
                         }
                         response.headers.insert(response.headers.end(), done->cors.begin(), done->cors.end());
                         Answer(*done->exchange, method.service()->full_name(), method.name(), done->start,
                                std::move(response));
                         // Gone before StopAndWait may return: it holds the connection, whose I/O context the
                         // HTTP server destroys next.
                         done.reset();
                         Finished(raw);
                       });
}

void HttpGateway::Finished(Call* call) {
  absl::MutexLock lock(&mu_);
  in_flight_.erase(std::remove(in_flight_.begin(), in_flight_.end(), call), in_flight_.end());
}

void HttpGateway::StopAndWait() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  mu_.Await(absl::Condition(+[](std::vector<Call*>* calls) { return calls->empty(); }, &in_flight_));
}

}  // namespace parkbase
