#include "common/http_gateway.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/call.h"
#include "common/errors.h"
#include "common/http_transcoding.h"
#include "common/log.h"
#include "common/openapi_document.h"
#include "google/protobuf/message.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"

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
  std::shared_ptr<Span> span;
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

bool IsNdjson(absl::string_view content_type) {
  const absl::string_view media = absl::StripAsciiWhitespace(content_type.substr(0, content_type.find(';')));
  return absl::EqualsIgnoreCase(media, "application/x-ndjson");
}

// The messages of a client stream uploaded as newline-delimited JSON: each line is one element of the request's
// repeated message field (one device of ImportDevices), kNdjsonRowsPerMessage to a message, the path's variables
// set on the first; a request without such a field takes one whole request a line. INVALID_ARGUMENT names the line.
absl::StatusOr<std::vector<std::string>> NdjsonMessages(const HttpRouteMatch& match, absl::string_view query,
                                                        absl::string_view body,
                                                        const google::protobuf::Message& prototype,
                                                        int rows_per_message) {
  const google::protobuf::FieldDescriptor* rows = nullptr;
  for (int i = 0; i < prototype.GetDescriptor()->field_count(); ++i) {
    const auto* field = prototype.GetDescriptor()->field(i);
    if (field->is_repeated() && !field->is_map() &&
        field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (rows != nullptr) return absl::InvalidArgumentError("this method takes no NDJSON upload");
      rows = field;
    }
  }
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> current = RequestFromHttp(match, query, "", prototype);
  if (!current.ok()) return current.status();
  std::vector<std::string> messages;
  int in_current = 0;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    google::protobuf::Message* target =
        rows != nullptr ? (*current)->GetReflection()->AddMessage(current->get(), rows) : current->get();
    if (absl::Status parsed = ParseJsonInto(line, *target, absl::StrCat("line ", line_number)); !parsed.ok()) {
      return parsed;
    }
    if (rows == nullptr || ++in_current == rows_per_message) {
      messages.push_back((*current)->SerializeAsString());
      current = std::unique_ptr<google::protobuf::Message>(prototype.New());
      in_current = 0;
    }
  }
  if (messages.empty() || in_current > 0) messages.push_back((*current)->SerializeAsString());
  return messages;
}

// The X-Request-Id header of an answer: the id the service gave the call, from its initial metadata.
void AddRequestIdHeader(const grpc::ClientContext& context, std::vector<std::pair<std::string, std::string>>& headers) {
  const auto& initial = context.GetServerInitialMetadata();
  if (auto id = initial.find("x-request-id"); id != initial.end()) {
    headers.emplace_back("X-Request-Id", std::string(id->second.data(), id->second.size()));
  }
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

// The HTTP server span of a request: under the caller's traceparent, or the root of a new trace. Named by the verb
// until the route is known (OpenTelemetry's HTTP conventions: "{method} {http.route}").
std::shared_ptr<Span> StartHttpSpan(const HttpRequest& request) {
  const std::optional<SpanContext> parent =
      ParseTraceparent(request.Header(kTraceparentHeader), request.Header(kTracestateHeader));
  auto span = std::make_shared<Span>(request.verb, SpanKind::kServer, parent.has_value() ? &*parent : nullptr);
  if (span->recording()) {
    span->SetAttribute("http.request.method", request.verb);
    span->SetAttribute("url.path", request.path);
  }
  return span;
}

void NameHttpSpan(Span& span, const HttpRoute& route) {
  if (!span.recording()) return;
  span.SetName(absl::StrCat(route.verb, " ", route.path_template));
  span.SetAttribute("http.route", route.path_template);
}

// A 5xx is the server's failure; a 4xx the client's, which leaves the span's status unset.
void EndHttpSpan(Span& span, int http_status) {
  if (span.recording()) {
    span.SetAttribute("http.response.status_code", static_cast<int64_t>(http_status));
    if (http_status >= 500) span.SetError(absl::StrCat("HTTP ", http_status));
  }
  span.End();
}

}  // namespace

// One HTTP request forwarded as a streaming gRPC call, through gRPC's generic bidirectional reactor (the wire is the
// same for every kind of stream). A server stream (Subscribe) becomes Server-Sent Events once the service has
// admitted it (its initial metadata); a client stream (ImportDevices) sends every message the body held and
// answers the one response as JSON. Owned by itself until gRPC calls OnDone.
class HttpGateway::Stream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                                  public std::enable_shared_from_this<HttpGateway::Stream> {
 public:
  Stream(HttpGateway& gateway, const HttpRoute& route, std::vector<std::string> requests,
         std::shared_ptr<HttpExchange> exchange, std::vector<std::pair<std::string, std::string>> cors,
         std::shared_ptr<grpc::Channel> channel, absl::Time start, std::shared_ptr<Span> span)
      : gateway_(gateway),
        route_(route),
        method_(*route.method),
        exchange_(std::move(exchange)),
        cors_(std::move(cors)),
        channel_(std::move(channel)),
        stub_(channel_),
        start_(start),
        span_(std::move(span)) {
    for (const std::string& bytes : requests) {
      grpc::Slice slice(bytes);
      requests_.emplace_back(&slice, 1);
    }
  }

  grpc::ClientContext& context() { return context_; }
  const Span& span() const { return *span_; }

  void Begin() {
    self_ = shared_from_this();
    stub_.PrepareBidiStreamingCall(&context_, absl::StrCat("/", method_.service()->full_name(), "/", method_.name()),
                                   grpc::StubOptions(), this);
    WriteNext();
    StartRead(&response_);
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }

  void OnReadInitialMetadataDone(bool ok) override {
    if (!ok || !method_.server_streaming()) return;
    // The service admitted the stream (common/call.h, kStreamLiveMetadata): the events start now, before the
    // first point. A refusal comes as trailers alone, answered as JSON in OnDone.
    const auto& initial = context_.GetServerInitialMetadata();
    if (initial.find(kStreamLiveMetadata) == initial.end()) return;
    HttpResponse head;
    head.content_type = "text/event-stream";
    AddRequestIdHeader(context_, head.headers);
    head.headers.insert(head.headers.end(), cors_.begin(), cors_.end());
    streaming_ = true;
    std::weak_ptr<Stream> weak = self_;
    exchange_->StartStream(std::move(head), gateway_.options_.heartbeat, ": heartbeat\n\n", [weak] {
      if (auto stream = weak.lock()) stream->Cancel();
    });
  }

  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (method_.server_streaming() && !streaming_) {
      // A message before admission cannot happen (the service sends its initial metadata first); keep the
      // protocol honest rather than write events into a connection that has no stream.
      StartRead(&response_);
      return;
    }
    std::unique_ptr<google::protobuf::Message> answer(
        MessageFactory::generated_factory()->GetPrototype(method_.output_type())->New());
    absl::StatusOr<std::string> json = answer->ParseFromString(Flatten(response_))
                                           ? ResponseToJson(route_, *answer)
                                           : absl::InternalError("the service's answer did not parse");
    if (!method_.server_streaming()) {
      last_answer_ = std::move(json);
    } else if (json.ok()) {
      // One event a message; ids count the stream's events (Subscribe replays nothing, so Last-Event-ID cannot
      // resume one: a client that reconnects gets what is committed from then on).
      exchange_->Send(absl::StrCat("id: ", ++events_, "\ndata: ", *json, "\n\n"));
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<Stream> keep = std::move(self_);
    const std::string service = method_.service()->full_name();
    if (streaming_) {
      // The status line went out long ago: an error is the stream's last event.
      if (!status.ok() && status.error_code() != grpc::CANCELLED) {
        exchange_->Send(absl::StrCat("event: error\ndata: ", HttpErrorOf(status).body, "\n\n"));
      }
      exchange_->FinishStream();
      gateway_.Count(service, method_.name(), start_, 200);
      EndHttpSpan(*span_, 200);
    } else {
      HttpResponse response;
      if (status.ok() && last_answer_.has_value() && last_answer_->ok()) {
        response.body = **last_answer_;
      } else if (status.ok()) {
        response = ErrorResponse(HttpErrorOf(last_answer_.has_value()
                                                 ? last_answer_->status()
                                                 : absl::InternalError("the service answered nothing")));
      } else {
        response = ErrorResponse(HttpErrorOf(status));
      }
      AddRequestIdHeader(context_, response.headers);
      response.headers.insert(response.headers.end(), cors_.begin(), cors_.end());
      EndHttpSpan(*span_, response.status);
      gateway_.Answer(*exchange_, service, method_.name(), start_, std::move(response));
    }
    exchange_.reset();
    HttpGateway& gateway = gateway_;
    keep.reset();
    gateway.StreamFinished();
  }

 private:
  void WriteNext() {
    if (next_ >= requests_.size()) {
      if (!writes_done_) {
        writes_done_ = true;
        StartWritesDone();
      }
      return;
    }
    StartWrite(&requests_[next_++]);
  }

  HttpGateway& gateway_;
  const HttpRoute& route_;
  const google::protobuf::MethodDescriptor& method_;
  std::shared_ptr<HttpExchange> exchange_;
  std::vector<std::pair<std::string, std::string>> cors_;
  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
  grpc::ClientContext context_;
  std::vector<grpc::ByteBuffer> requests_;
  size_t next_ = 0;
  bool writes_done_ = false;
  grpc::ByteBuffer response_;
  std::optional<absl::StatusOr<std::string>> last_answer_;
  bool streaming_ = false;
  int64_t events_ = 0;
  absl::Time start_;
  std::shared_ptr<Span> span_;
  std::shared_ptr<Stream> self_;
};

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Create(
    const std::vector<const google::protobuf::ServiceDescriptor*>& services, ChannelFor channel_for, Options options,
    prometheus::Registry* registry) {
  auto router = HttpRouter::Build(services);
  if (!router.ok()) return router.status();
  std::optional<StaticFiles> console;
  if (!options.console_dir.empty()) {
    absl::StatusOr<StaticFiles> files =
        StaticFiles::Open(options.console_dir, std::string(kConsolePath), "console_dir");
    if (!files.ok()) return files.status();
    console = *std::move(files);
  }
  auto gateway = std::unique_ptr<HttpGateway>(
      new HttpGateway(*std::move(router), std::move(channel_for), std::move(options), registry));
  gateway->console_ = std::move(console);
  return gateway;
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
  Count(service, method, start, response.status);
  exchange.Respond(std::move(response));
}

void HttpGateway::Count(const std::string& service, const std::string& method, absl::Time start, int http_status) {
  if (handled_ != nullptr) {
    handled_->Add({{"grpc_service", service}, {"grpc_method", method}, {"code", absl::StrCat(http_status)}})
        .Increment();
    handling_seconds_
        ->Add({{"grpc_service", service}, {"grpc_method", method}},
              prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1, 2.5, 5, 10})
        .Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
}

HttpResponse HttpGateway::Refusal(int http_status, absl::string_view message) {
  const grpc::StatusCode code = http_status == 413 || http_status == 431 ? grpc::RESOURCE_EXHAUSTED
                                                                         : grpc::INVALID_ARGUMENT;
  return ErrorResponse(HttpErrorOf(grpc::Status(code, std::string(message)), http_status));
}

void HttpGateway::Handle(HttpRequest request, std::shared_ptr<HttpExchange> exchange) {
  const absl::Time start = absl::Now();
  std::vector<std::pair<std::string, std::string>> cors = CorsHeaders(request);
  // Probes and the OpenAPI document are answered before it: they are no one's operation worth a trace.
  std::shared_ptr<Span> span;
  auto refuse = [&](int http_status, const absl::Status& status, const HttpRoute* route = nullptr) {
    if (span != nullptr) EndHttpSpan(*span, http_status);
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
  if (console_.has_value()) {
    if (std::optional<HttpResponse> file = console_->Serve(request); file.has_value()) {
      return exchange->Respond(*std::move(file));
    }
  }
  if (request.path == kOpenApiPath && request.verb == "GET") {
    HttpResponse response;
    response.body = std::string(OpenApiDocument());
    response.headers = std::move(cors);
    return exchange->Respond(std::move(response));
  }
  span = StartHttpSpan(request);
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
    EndHttpSpan(*span, response.status);
    return Answer(*exchange, "", "", start, std::move(response));
  }
  absl::StatusOr<HttpRouteMatch> match = router_.Match(request.verb, request.path);
  if (!match.ok()) {
    if (absl::IsUnimplemented(match.status())) {
      HttpResponse response = ErrorResponse(HttpErrorOf(ToGrpcStatus(match.status()), 405));
      response.headers.emplace_back("Allow", absl::StrJoin(router_.VerbsFor(request.path), ", "));
      response.headers.insert(response.headers.end(), cors.begin(), cors.end());
      EndHttpSpan(*span, response.status);
      return Answer(*exchange, "", "", start, std::move(response));
    }
    if (absl::IsInvalidArgument(match.status())) return refuse(400, FieldError("path", match.status().message()));
    return refuse(404, match.status());
  }
  const HttpRoute& route = *match->route;
  const auto& method = *route.method;
  NameHttpSpan(*span, route);
  if (method.client_streaming() && method.server_streaming()) {
    return refuse(501, absl::UnimplementedError(absl::StrCat(method.full_name(),
                                                             " streams both ways, which HTTP/1.1 cannot carry")),
                  &route);
  }
  const google::protobuf::Message* prototype =
      MessageFactory::generated_factory()->GetPrototype(method.input_type());
  std::vector<std::string> messages;
  if (method.client_streaming() && IsNdjson(request.Header("content-type"))) {
    absl::StatusOr<std::vector<std::string>> batches =
        NdjsonMessages(*match, request.query, request.body, *prototype, kNdjsonRowsPerMessage);
    if (!batches.ok()) return refuse(400, batches.status(), &route);
    messages = *std::move(batches);
  } else {
    if (!request.body.empty() && !IsJson(request.Header("content-type"))) {
      return refuse(415,
                    FieldError("Content-Type", method.client_streaming()
                                                   ? "must be application/json or application/x-ndjson"
                                                   : "must be application/json"),
                    &route);
    }
    absl::StatusOr<std::unique_ptr<google::protobuf::Message>> message =
        RequestFromHttp(*match, request.query, request.body, *prototype);
    if (!message.ok()) return refuse(400, message.status(), &route);
    messages.push_back((*message)->SerializeAsString());
  }
  const absl::string_view authorization = request.Header("authorization");
  if (!IsMetadataValue(authorization)) {
    return refuse(401, absl::UnauthenticatedError("Authorization: not a valid header value"), &route);
  }
  std::shared_ptr<grpc::Channel> channel = channel_for_(method.service()->full_name());
  if (channel == nullptr) {
    return refuse(503, absl::UnavailableError(absl::StrCat("no backend for ", method.service()->full_name())),
                  &route);
  }
  if (method.client_streaming() || method.server_streaming()) {
    auto stream = std::make_shared<Stream>(*this, route, std::move(messages), exchange, cors, channel, start, span);
    PrepareContext(stream->context(), request, stream->span());
    // A client stream is bounded like a call; a subscription lasts until the client leaves or the service ends it.
    if (!method.server_streaming()) stream->context().set_deadline(absl::ToChronoTime(start + options_.call_timeout));
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return refuse(503, absl::UnavailableError("the server is shutting down"), &route);
      streams_.push_back(stream);
      ++open_streams_;
    }
    stream->Begin();
    return;
  }

  auto call = std::make_unique<Call>();
  call->route = &route;
  call->exchange = std::move(exchange);
  call->cors = std::move(cors);
  call->start = start;
  call->span = span;
  PrepareContext(call->context, request, *span);
  call->context.set_deadline(absl::ToChronoTime(start + options_.call_timeout));
  grpc::Slice slice(messages.front());
  call->request = grpc::ByteBuffer(&slice, 1);
  call->channel = std::move(channel);
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
                         AddRequestIdHeader(done->context, response.headers);
                         response.headers.insert(response.headers.end(), done->cors.begin(), done->cors.end());
                         EndHttpSpan(*done->span, response.status);
                         Answer(*done->exchange, method.service()->full_name(), method.name(), done->start,
                                std::move(response));
                         // Gone before StopAndWait may return: it holds the connection, whose I/O context the
                         // HTTP server destroys next.
                         done.reset();
                         Finished(raw);
                       });
}

void HttpGateway::PrepareContext(grpc::ClientContext& context, const HttpRequest& request, const Span& span) const {
  context.AddMetadata(kTraceparentHeader, FormatTraceparent(span.context()));
  if (!span.context().trace_state.empty()) context.AddMetadata(kTracestateHeader, span.context().trace_state);
  const absl::string_view authorization = request.Header("authorization");
  if (!authorization.empty()) context.AddMetadata("authorization", std::string(authorization));
  const absl::string_view request_id = request.Header("x-request-id");
  if (!request_id.empty() && request_id.size() <= kMaxRequestIdBytes && IsMetadataValue(request_id)) {
    context.AddMetadata("x-request-id", std::string(request_id));
  }
  // The gRPC server sees this process as the caller: it is told who the caller is (auth_limits.h trusts this hop
  // from an in-process peer, and from a gateway listed in --trusted_proxies).
  const std::string source = options_.sources != nullptr
                                 ? options_.sources->Of(request.peer, request.Header("x-forwarded-for"))
                                 : PeerAddress(request.peer);
  if (IsMetadataValue(source)) context.AddMetadata("x-forwarded-for", source);
}

void HttpGateway::StreamFinished() {
  absl::MutexLock lock(&mu_);
  --open_streams_;
  streams_.erase(std::remove_if(streams_.begin(), streams_.end(),
                                [](const std::weak_ptr<Stream>& stream) { return stream.expired(); }),
                 streams_.end());
}

void HttpGateway::Finished(Call* call) {
  absl::MutexLock lock(&mu_);
  in_flight_.erase(std::remove(in_flight_.begin(), in_flight_.end(), call), in_flight_.end());
}

void HttpGateway::StopAndWait() {
  std::vector<std::shared_ptr<Stream>> streams;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (const auto& weak : streams_) {
      if (auto stream = weak.lock()) streams.push_back(std::move(stream));
    }
  }
  // Outside the lock: a cancelled stream's OnDone takes it.
  for (const auto& stream : streams) stream->Cancel();
  streams.clear();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](HttpGateway* gateway) ABSL_EXCLUSIVE_LOCKS_REQUIRED(gateway->mu_) { return gateway->open_streams_ == 0; },
      this));
  mu_.Await(absl::Condition(+[](std::vector<Call*>* calls) { return calls->empty(); }, &in_flight_));
}

}  // namespace parkbase
