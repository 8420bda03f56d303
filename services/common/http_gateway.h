// The REST/JSON door of the API. An HTTP request is matched to the gRPC method its google.api.http annotation
// names (http_routes.h), turned into that method's request (http_transcoding.h) and sent as a gRPC call over a
// channel: the server's own in-process channel in `parkbase serve` and the service binaries, the owning service's
// address in `parkbase gateway`. So an HTTP call passes the same handler, CallRunner (authentication, the access
// rules, the log line) and gRPC metrics as a gRPC client's call; this class adds only the HTTP side: routing,
// JSON, the error model, CORS, http_server_* metrics, and the OpenAPI document at kOpenApiPath.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "common/auth_limits.h"
#include "common/http_routes.h"
#include "common/http_server.h"
#include "common/static_files.h"
#include "common/tracing.h"

namespace parkbase {

class HttpGateway final : public HttpHandler {
 public:
  // Server-Sent Events' default heartbeat: well inside the 60 s idle timeouts of common proxies and load balancers.
  static constexpr absl::Duration kHeartbeat = absl::Seconds(15);
  // Where GET answers the API's OpenAPI document (common/openapi_document.h), without a key: it describes the API
  // and holds no tenant data.
  static constexpr absl::string_view kOpenApiPath = "/openapi.json";
  // Where the park console's files appear when Options::console_dir is set (services/console, docs/console.md).
  static constexpr absl::string_view kConsolePath = "/console/";

  struct Options {
    // The deadline of the gRPC call an HTTP request becomes.
    absl::Duration call_timeout = absl::Seconds(30);
    // Origins a browser may call from (exact match, scheme://host[:port]); "*" allows any. Empty: no CORS headers,
    // so browsers allow only same-origin calls.
    std::vector<std::string> cors_origins;
    // Finds the client's address from the connection's peer and X-Forwarded-For (may be null: the peer).
    const SourceAddresses* sources = nullptr;
    // A path answering GET without a key: 200 while serving, 503 once draining (for HTTP probes and load
    // balancers); empty: none.
    std::string health_path;
    // Server-Sent Events: a comment line this often on an idle stream, so proxies and clients see it alive.
    absl::Duration heartbeat = kHeartbeat;
    // The park console's built files (common/static_files.h), served under kConsolePath; empty: none.
    std::string console_dir;
  };
  // The channel that reaches a service, by its full name.
  using ChannelFor = std::function<std::shared_ptr<grpc::Channel>(const std::string& service)>;

  // Routes every annotated method of `services`. `registry` (may be null) gets the http_server_* families.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Create(
      const std::vector<const google::protobuf::ServiceDescriptor*>& services, ChannelFor channel_for,
      Options options, prometheus::Registry* registry);
  ~HttpGateway() override;

  void Handle(HttpRequest request, std::shared_ptr<HttpExchange> exchange) override;
  HttpResponse Refusal(int http_status, absl::string_view message) override;

  // Refuses later requests (UNAVAILABLE) and waits until each call in flight has answered: each ends by its
  // deadline, sooner when the gRPC server's shutdown cancels it. Called before the HTTP server and the channels go.
  void StopAndWait();

  const HttpRouter& router() const { return router_; }

  // What health_path answers: false once the process drains, so load balancers stop sending before it stops.
  void SetServing(bool serving) { serving_ = serving; }

  struct Call;
  class Stream;

  // NDJSON uploads to a client stream: rows a message.
  static constexpr int kNdjsonRowsPerMessage = 1000;

 private:
  friend class Stream;
  // The metadata every forwarded call carries: the key, the request id, the caller's address, and the trace context
  // of `span`, the request's HTTP span, so the gRPC call's span is its child.
  void PrepareContext(grpc::ClientContext& context, const HttpRequest& request, const Span& span) const;
  void StreamFinished();
  void Count(const std::string& service, const std::string& method, absl::Time start, int http_status);
  HttpGateway(HttpRouter router, ChannelFor channel_for, Options options, prometheus::Registry* registry);
  void Answer(HttpExchange& exchange, const std::string& service, const std::string& method, absl::Time start,
              HttpResponse response);
  void Finished(Call* call);
  // The CORS headers for `request` (none when its Origin is not allowed or CORS is off).
  std::vector<std::pair<std::string, std::string>> CorsHeaders(const HttpRequest& request) const;

  HttpRouter router_;
  std::optional<StaticFiles> console_;
  std::atomic<bool> serving_{true};
  ChannelFor channel_for_;
  Options options_;
  prometheus::Family<prometheus::Counter>* handled_ = nullptr;
  prometheus::Family<prometheus::Histogram>* handling_seconds_ = nullptr;

  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Call*> in_flight_ ABSL_GUARDED_BY(mu_);
  // Streams in flight; StopAndWait cancels them (a subscription has no end of its own).
  std::vector<std::weak_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  int open_streams_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace parkbase
