#include "common/http_server.h"

#include <array>
#include <atomic>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <optional>
#include <thread>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace parkbase {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

absl::string_view HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

class HttpServer::Impl {
 public:
  Impl(Options options, HttpHandler& handler)
      : options_(std::move(options)), handler_(handler), work_(net::make_work_guard(io_)), acceptor_(io_) {}

  ~Impl() {
    StopAccepting();
    work_.reset();
    io_.stop();
    for (auto& thread : threads_) thread.join();
  }

  absl::Status Listen();
  // With TLS files: once the refresh interval has passed, reads them again and builds a new context when they
  // changed. Runs only in the accept handler, which runs one at a time.
  void RefreshTls();
  void StopAccepting() {
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
  }

  const Options& options() const { return options_; }
  HttpHandler& handler() { return handler_; }
  int port() const { return port_; }

 private:
  void Accept();

  Options options_;
  HttpHandler& handler_;
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  // Connections hold the context they were accepted with, so a refresh never frees one in use.
  std::shared_ptr<ssl::context> tls_;
  std::string tls_pems_;  // what tls_ was built from (cert, key and CA text), to tell whether the files changed
  absl::Time next_tls_refresh_ = absl::InfinitePast();
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

namespace {

std::string PeerOf(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  if (address.is_v4()) return absl::StrCat("ipv4:", address.to_string(), ":", endpoint.port());
  if (address.to_v6().is_v4_mapped()) {
    return absl::StrCat("ipv4:", address.to_v6().to_v4().to_string(), ":", endpoint.port());
  }
  return absl::StrCat("ipv6:[", address.to_string(), "]:", endpoint.port());
}

template <typename Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(HttpServer::Impl& server, Stream stream, std::string peer,
             std::shared_ptr<ssl::context> tls_context = nullptr)
      : server_(server), tls_context_(std::move(tls_context)), stream_(std::move(stream)), peer_(std::move(peer)) {}

  void Start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      ReadHeader();
    } else {
      beast::get_lowest_layer(stream_).expires_after(Timeout());
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->CloseNow();
                                self->ReadHeader();
                              });
    }
  }

  // Runs on the connection's strand.
  void Write(HttpResponse answer) {
    auto response = std::make_shared<http::response<http::string_body>>();
    response->version(11);
    response->result(static_cast<unsigned>(answer.status));
    if (answer.status == 499) response->reason("Client Closed Request");
    response->set(http::field::content_type, answer.content_type);
    response->set(http::field::cache_control, "no-store");
    response->set("X-Content-Type-Options", "nosniff");
    for (const auto& [name, value] : answer.headers) response->set(name, value);
    response->keep_alive(keep_alive_);
    response->body() = std::move(answer.body);
    response->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(Timeout());
    http::async_write(stream_, *response,
                      [self = this->shared_from_this(), response](beast::error_code ec, size_t) {
                        if (ec || !self->keep_alive_) return self->Close();
                        self->ReadHeader();
                      });
  }

  // Runs on the connection's strand: the stream's head, then its chunks in order.
  void BeginStream(HttpResponse head, absl::Duration heartbeat, std::string heartbeat_comment,
                   std::function<void()> on_closed) {
    keep_alive_ = false;
    on_closed_ = std::move(on_closed);
    auto response = std::make_shared<http::response<http::empty_body>>();
    response->version(11);
    response->result(static_cast<unsigned>(head.status));
    response->set(http::field::content_type, head.content_type);
    response->set(http::field::cache_control, "no-store");
    response->set("X-Content-Type-Options", "nosniff");
    // Proxies such as nginx would otherwise hold events back to fill their buffers.
    response->set("X-Accel-Buffering", "no");
    for (const auto& [name, value] : head.headers) response->set(name, value);
    response->keep_alive(false);
    response->chunked(true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*response);
    // A stream has no end in time: a client that stops reading is found by the backlog bound, one that leaves by
    // the read below.
    beast::get_lowest_layer(stream_).expires_never();
    writing_ = true;
    http::async_write_header(stream_, *serializer,
                             [self = this->shared_from_this(), response, serializer](beast::error_code ec, size_t) {
                               self->writing_ = false;
                               if (ec) return self->StreamBroken();
                               self->Pump();
                             });
    WatchForClose();
    heartbeat_interval_ = std::chrono::milliseconds(std::max<int64_t>(absl::ToInt64Milliseconds(heartbeat), 1));
    heartbeat_comment_ = std::move(heartbeat_comment);
    ArmHeartbeat();
  }

  void Enqueue(std::string bytes) {
    if (broken_ || finishing_ || bytes.empty()) return;
    backlog_ += bytes.size();
    if (backlog_ > kMaxStreamBacklogBytes) return StreamBroken();
    queue_.push_back(std::move(bytes));
    sent_since_heartbeat_ = true;
    Pump();
  }

  void EndStream() {
    finishing_ = true;
    Pump();
  }

  void CloseOnStrand() {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->CloseNow(); });
  }

  auto executor() { return stream_.get_executor(); }

 private:
  void Pump() {
    if (broken_ || writing_) return;
    if (queue_.empty()) {
      if (finishing_ && !last_written_) {
        last_written_ = true;
        writing_ = true;
        if (heartbeat_.has_value()) heartbeat_->cancel();
        net::async_write(stream_, http::make_chunk_last(), [self = this->shared_from_this()](beast::error_code, size_t) {
          self->writing_ = false;
          self->Close();
        });
      }
      return;
    }
    auto data = std::make_shared<std::string>(std::move(queue_.front()));
    queue_.pop_front();
    writing_ = true;
    net::async_write(stream_, http::make_chunk(net::buffer(*data)),
                     [self = this->shared_from_this(), data](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       self->backlog_ -= data->size();
                       if (ec) return self->StreamBroken();
                       self->Pump();
                     });
  }

  // A streaming client sends nothing more: a read that ends means it left.
  void WatchForClose() {
    stream_.async_read_some(net::buffer(scratch_), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->StreamBroken();
      self->WatchForClose();
    });
  }

  void ArmHeartbeat() {
    if (!heartbeat_.has_value()) heartbeat_.emplace(stream_.get_executor());
    heartbeat_->expires_after(heartbeat_interval_);
    heartbeat_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->broken_ || self->finishing_) return;
      if (!self->sent_since_heartbeat_) self->Enqueue(self->heartbeat_comment_);
      self->sent_since_heartbeat_ = false;
      self->ArmHeartbeat();
    });
  }

  void StreamBroken() {
    if (broken_) return;
    broken_ = true;
    if (heartbeat_.has_value()) heartbeat_->cancel();
    queue_.clear();
    CloseNow();
    if (auto callback = std::move(on_closed_)) callback();
  }

  absl::Duration TimeoutAbsl() const { return server_.options().io_timeout; }
  std::chrono::milliseconds Timeout() const {
    return std::chrono::milliseconds(absl::ToInt64Milliseconds(TimeoutAbsl()));
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.options().max_header_bytes));
    parser_->body_limit(static_cast<uint64_t>(server_.options().max_body_bytes));
    beast::get_lowest_layer(stream_).expires_after(Timeout());
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    // curl and others wait for "100 Continue" before sending a body they announced with Expect.
    const auto& header = parser_->get();
    if (absl::EqualsIgnoreCase(std::string(header[http::field::expect]), "100-continue")) {
      if (header.has_content_length() && header.payload_size().value_or(0) >
                                             static_cast<uint64_t>(server_.options().max_body_bytes)) {
        return Refuse(413, TooLarge());
      }
      auto interim = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *interim, [self = this->shared_from_this(), interim](beast::error_code ec, size_t) {
        if (ec) return self->CloseNow();
        self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->OnRead(ec);
    });
  }

  std::string TooLarge() const {
    return absl::StrCat("request body: larger than --http_max_body_bytes (", server_.options().max_body_bytes,
                        " bytes)");
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) return Refuse(413, TooLarge());
    if (ec == http::error::header_limit) return Refuse(431, "request headers: too large");
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Refuse(400, "malformed HTTP request");
    }
    Close();
  }

  void Refuse(int status, absl::string_view message) {
    keep_alive_ = false;
    Write(server_.handler().Refusal(status, message));
  }

  void OnRead(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    beast::get_lowest_layer(stream_).expires_never();
    http::request<http::string_body> message = parser_->release();
    keep_alive_ = message.keep_alive();
    HttpRequest request;
    request.verb = std::string(message.method_string());
    const absl::string_view target(message.target().data(), message.target().size());
    const size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != absl::string_view::npos) request.query = std::string(target.substr(question + 1));
    for (const auto& field : message) {
      request.headers.emplace_back(absl::AsciiStrToLower(std::string(field.name_string())),
                                   std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.peer = peer_;
    server_.handler().Handle(std::move(request), std::make_shared<Exchange>(this->shared_from_this()));
  }

  void Close() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    } else {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->CloseNow(); });
    }
  }

  void CloseNow() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  class Exchange final : public HttpExchange {
   public:
    explicit Exchange(std::shared_ptr<Connection> connection) : connection_(std::move(connection)) {}
    ~Exchange() override {
      if (!answered_.exchange(true)) connection_->CloseOnStrand();
    }
    void Respond(HttpResponse response) override {
      if (answered_.exchange(true)) return;
      net::post(connection_->executor(), [connection = connection_, response = std::move(response)]() mutable {
        connection->Write(std::move(response));
      });
    }
    void StartStream(HttpResponse head, absl::Duration heartbeat, std::string heartbeat_comment,
                     std::function<void()> on_closed) override {
      if (answered_.exchange(true)) return;
      net::post(connection_->executor(), [connection = connection_, head = std::move(head), heartbeat,
                                          comment = std::move(heartbeat_comment),
                                          on_closed = std::move(on_closed)]() mutable {
        connection->BeginStream(std::move(head), heartbeat, std::move(comment), std::move(on_closed));
      });
    }
    void Send(std::string bytes) override {
      net::post(connection_->executor(), [connection = connection_, bytes = std::move(bytes)]() mutable {
        connection->Enqueue(std::move(bytes));
      });
    }
    void FinishStream() override {
      net::post(connection_->executor(), [connection = connection_] { connection->EndStream(); });
    }

   private:
    std::shared_ptr<Connection> connection_;
    std::atomic<bool> answered_{false};
  };

  HttpServer::Impl& server_;
  std::shared_ptr<ssl::context> tls_context_;  // declared before stream_: outlives the SSL object made from it
  Stream stream_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = false;
  // A streamed answer's state, used on the strand only.
  std::deque<std::string> queue_;
  size_t backlog_ = 0;
  bool writing_ = false;
  bool finishing_ = false;
  bool last_written_ = false;
  bool broken_ = false;
  bool sent_since_heartbeat_ = false;
  std::function<void()> on_closed_;
  std::optional<net::steady_timer> heartbeat_;
  std::chrono::milliseconds heartbeat_interval_{15000};
  std::string heartbeat_comment_;
  std::array<char, 512> scratch_{};
};

absl::StatusOr<tcp::endpoint> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--http_listen: want host:port, got '", listen, "'"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("--http_listen: '", host, "' is not an IP address"));
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

absl::StatusOr<std::string> ReadText(const std::string& path, absl::string_view flag) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// Fills the PEM fields of `options` from its files; the three texts joined, to compare with a later read.
absl::StatusOr<std::string> ReadTlsFiles(HttpServer::Options& options) {
  absl::StatusOr<std::string> cert = ReadText(options.tls_cert_file, "tls_cert_file");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadText(options.tls_key_file, "tls_key_file");
  if (!key.ok()) return key.status();
  std::string client_ca;
  if (!options.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadText(options.tls_client_ca_file, "tls_client_ca_file");
    if (!ca.ok()) return ca.status();
    client_ca = *std::move(ca);
  }
  options.tls_cert_pem = *std::move(cert);
  options.tls_key_pem = *std::move(key);
  options.tls_client_ca_pem = std::move(client_ca);
  return absl::StrCat(options.tls_cert_pem, std::string(1, '\0'), options.tls_key_pem, std::string(1, '\0'),
                      options.tls_client_ca_pem);
}

absl::StatusOr<std::shared_ptr<ssl::context>> MakeTlsContext(const HttpServer::Options& options) {
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  beast::error_code ec;
  tls->use_certificate_chain(net::buffer(options.tls_cert_pem), ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("--tls_cert_file: ", ec.message()));
  tls->use_private_key(net::buffer(options.tls_key_pem), ssl::context::pem, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("--tls_key_file: ", ec.message()));
  if (!options.tls_client_ca_pem.empty()) {
    tls->add_certificate_authority(net::buffer(options.tls_client_ca_pem), ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("--tls_client_ca_file: ", ec.message()));
    tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  return tls;
}

}  // namespace

void HttpServer::Impl::RefreshTls() {
  if (options_.tls_cert_file.empty()) return;
  const absl::Time now = absl::Now();
  if (now < next_tls_refresh_) return;
  next_tls_refresh_ = now + options_.tls_refresh_interval;
  HttpServer::Options read = options_;
  absl::StatusOr<std::string> pems = ReadTlsFiles(read);
  if (pems.ok() && *pems == tls_pems_) return;
  // Mid-update (a key that does not match its certificate yet) or gone: keep serving the last good pair.
  absl::StatusOr<std::shared_ptr<ssl::context>> tls =
      pems.ok() ? MakeTlsContext(read) : absl::StatusOr<std::shared_ptr<ssl::context>>(pems.status());
  if (!tls.ok()) {
    LogLine(LogLevel::kWarning, "http tls files not reloaded").Str("error", tls.status().message()).Emit();
    return;
  }
  tls_ = *std::move(tls);
  tls_pems_ = *std::move(pems);
  LogInfo("http tls files reloaded");
}

absl::Status HttpServer::Impl::Listen() {
  auto endpoint = ParseListen(options_.listen);
  if (!endpoint.ok()) return endpoint.status();
  if (!options_.tls_cert_file.empty()) {
    absl::StatusOr<std::string> pems = ReadTlsFiles(options_);
    if (!pems.ok()) return pems.status();
    tls_pems_ = *std::move(pems);
    next_tls_refresh_ = absl::Now() + options_.tls_refresh_interval;
  }
  if (!options_.tls_cert_pem.empty()) {
    absl::StatusOr<std::shared_ptr<ssl::context>> tls = MakeTlsContext(options_);
    if (!tls.ok()) return tls.status();
    tls_ = *std::move(tls);
  }
  beast::error_code ec;
  acceptor_.open(endpoint->protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("--http_listen: cannot listen on ", options_.listen, ": ",
                                                     ec.message()));
  port_ = acceptor_.local_endpoint().port();
  Accept();
  for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { io_.run(); });
  return absl::OkStatus();
}

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      beast::error_code peer_error;
      const tcp::endpoint remote = socket.remote_endpoint(peer_error);
      const std::string peer = peer_error ? "unknown" : PeerOf(remote);
      RefreshTls();
      if (tls_ != nullptr) {
        std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
            *this, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls_), peer, tls_)
            ->Start();
      } else {
        std::make_shared<Connection<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(socket)), peer)->Start();
      }
    } else {
      LogLine(LogLevel::kWarning, "http accept failed").Str("error", ec.message()).Emit();
    }
    Accept();
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(Options options, HttpHandler& handler) {
  auto impl = std::make_unique<Impl>(std::move(options), handler);
  if (absl::Status status = impl->Listen(); !status.ok()) return status;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port(); }
void HttpServer::StopAccepting() { impl_->StopAccepting(); }

}  // namespace parkbase
