// An asynchronous HTTP/1.1 server (Boost.Beast over Asio) for the REST/JSON door. Beast rather than libmicrohttpd:
// both are asynchronous, but Beast speaks TLS through the OpenSSL that gRPC already links (libmicrohttpd needs
// GnuTLS), and its connections are plain objects on a few I/O threads whose answers may come later from any thread,
// which is how a call forwarded to gRPC's callback API completes; a long stream (Server-Sent Events) costs a
// connection object, not a thread. The server reads a request (bounded in bytes and time), hands it to an
// HttpHandler and writes whatever the handler's exchange answers, keeping the connection alive when the client
// asks to.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace parkbase {

struct HttpRequest {
  std::string verb;  // GET, POST, ...
  std::string path;  // before '?', still percent-encoded
  std::string query;  // after '?', still percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  // The client's address as gRPC spells a peer ("ipv4:10.1.2.3:5555", "ipv6:[::1]:5555").
  std::string peer;

  // The first header named `name` (lower case), or "".
  absl::string_view Header(absl::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One request's answer: Respond once, or a stream (StartStream, Send..., FinishStream). Any thread may call them;
// after Respond the connection reads its next request, after a stream it closes.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  virtual void Respond(HttpResponse response) = 0;

  // A streamed answer (Server-Sent Events): `head`'s status and headers with chunked transfer encoding (its body is
  // ignored), then the bytes of each Send in order, and `heartbeat_comment` whenever nothing was sent for
  // `heartbeat`, until FinishStream. `on_closed` runs once, on an I/O thread, if the client goes away or falls more
  // than kMaxStreamBacklogBytes behind; Send does nothing after it.
  virtual void StartStream(HttpResponse head, absl::Duration heartbeat, std::string heartbeat_comment,
                           std::function<void()> on_closed) = 0;
  virtual void Send(std::string bytes) = 0;
  virtual void FinishStream() = 0;
};

// What a streamed answer may have waiting for a slow client before the server gives up on it: a subscriber that
// cannot keep up is dropped (it reconnects) rather than held in memory.
inline constexpr size_t kMaxStreamBacklogBytes = 4 << 20;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Must eventually call exchange->Respond (an exchange dropped unanswered closes the connection).
  virtual void Handle(HttpRequest request, std::shared_ptr<HttpExchange> exchange) = 0;
  // The answer to a request the server refuses before the handler sees it (too large, malformed).
  virtual HttpResponse Refusal(int http_status, absl::string_view message) = 0;
};

class HttpServer {
 public:
  struct Options {
    std::string listen;  // host:port, [v6]:port or :port (every address); port 0 picks one
    int threads = 2;
    // A body past this is refused with 413 before it is read whole.
    int64_t max_body_bytes = 16 << 20;
    // The request line and headers, at most (Beast's default).
    int64_t max_header_bytes = 8 << 10;
    // Reading one request, headers and body, and writing one answer, each at most this long (a client that trickles
    // bytes cannot hold a connection); a connection idle between requests is closed after it too.
    absl::Duration io_timeout = absl::Seconds(30);
    // PEM text; both set: TLS on every connection. client_ca set too: every client presents a certificate it signed.
    std::string tls_cert_pem;
    std::string tls_key_pem;
    std::string tls_client_ca_pem;
    // Files instead of PEM text (the file wins): read at start, and again at the first connection after each
    // refresh interval, so a renewed certificate is served without a restart. A file that does not load then is
    // logged and the last good certificate kept.
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_client_ca_file;
    absl::Duration tls_refresh_interval = absl::Seconds(60);
  };

  // Listens and starts serving on `options.threads` I/O threads. `handler` must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(Options options, HttpHandler& handler);
  // Stops listening, closes every connection and joins the I/O threads.
  ~HttpServer();

  int port() const;
  // Stops accepting connections; open ones finish their exchange (used while draining).
  void StopAccepting();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace parkbase
