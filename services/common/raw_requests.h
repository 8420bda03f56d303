// Services parse their own requests. gRPC 1.51's synchronous server parses a request before any handler runs and
// answers a malformed one (a string field that is not UTF-8, a truncated field) with a bare INTERNAL that no
// handler logs and that the metrics count as the server's fault; and it parses a 16 MiB message however many are
// being parsed already. A service deriving from OwnParsing<GeneratedService> registers its methods to receive the
// wire bytes instead (the generated code's "streamed" method hook): the request is parsed here under the server's
// ParseBudget, and a malformed one is INVALID_ARGUMENT naming the field, logged and counted like any refused call.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/call.h"
#include "common/errors.h"
#include "common/parse_budget.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/impl/service_type.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/method_handler.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/sync_stream.h"

namespace parkbase {

class RequestParser {
 public:
  // A parsed message is assumed to take up to this many times its wire size until it is parsed (a batch of single
  // points parses to ~5-8x; the columnar form to ~1x): the reservation is then corrected to the measured size.
  static constexpr int64_t kParsedBytesPerWireByte = 8;
  // How long a unary call waits for parse budget before RESOURCE_EXHAUSTED; streams wait as long as they live
  // (their client is held back by flow control meanwhile).
  static constexpr absl::Duration kUnaryWait = absl::Seconds(2);

  RequestParser(CallRunner& calls, ParseBudget& budget);

  // Parses `buffer` into `message` under a reservation of the budget, which the caller holds as long as it holds the
  // message. INVALID_ARGUMENT naming the field for bytes that are not a valid message; RESOURCE_EXHAUSTED when no
  // budget came within `max_wait`. `buffer` is emptied.
  absl::StatusOr<ParseBudget::Reservation> Parse(grpc::ServerContextBase* context, grpc::ByteBuffer& buffer,
                                                 google::protobuf::Message* message, absl::Duration max_wait);

  CallRunner& calls() { return calls_; }

  // Routes protobuf's own log lines into the JSON log; while a request is parsed on this thread, its complaint
  // (which names the offending field) is kept for the error message instead. Installed once per process.
  static void InstallProtobufLogHandler();

 private:
  CallRunner& calls_;
  ParseBudget& budget_;
};

// A stream of requests that the handler reads through the parser; the responses are typed as usual.
template <class Request, class Response>
class RawStream {
 public:
  RawStream(grpc::ServerContext* context, grpc::ServerReaderWriter<Response, grpc::ByteBuffer>* stream,
            RequestParser& parser)
      : context_(context), stream_(stream), parser_(parser) {}

  // The next request: true with `request` filled and `reservation` holding its memory; false at the end of the
  // stream; an error for a malformed message or a cancelled wait.
  absl::StatusOr<bool> Read(Request* request, ParseBudget::Reservation* reservation) {
    grpc::ByteBuffer buffer;
    if (!stream_->Read(&buffer)) return false;
    ++read_;
    absl::StatusOr<ParseBudget::Reservation> parsed =
        parser_.Parse(context_, buffer, request, absl::InfiniteDuration());
    if (!parsed.ok()) {
      if (absl::IsInvalidArgument(parsed.status())) {
        return absl::InvalidArgumentError(absl::StrCat("message ", read_ - 1, " of the stream: ",
                                                       parsed.status().message()));
      }
      return parsed.status();
    }
    *reservation = *std::move(parsed);
    return true;
  }
  bool Write(const Response& response) { return stream_->Write(response); }
  grpc::ServerContext* context() { return context_; }

 private:
  grpc::ServerContext* context_;
  grpc::ServerReaderWriter<Response, grpc::ByteBuffer>* stream_;
  RequestParser& parser_;
  int64_t read_ = 0;
};

template <class GeneratedService>
class OwnParsing : public GeneratedService {
 protected:
  // `service_full_name`: e.g. pb::TelemetryService::service_full_name(), to find method indexes by name.
  OwnParsing(RequestParser& parser, absl::string_view service_full_name)
      : parser_(parser),
        descriptor_(google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            std::string(service_full_name))) {}

  RequestParser& parser() { return parser_; }
  // The descriptor of one of this service's methods (for CallRunner, which checks its access rule).
  const google::protobuf::MethodDescriptor& Method(absl::string_view method) const {
    return *descriptor_->method(Index(method));
  }

  // A unary method, implemented as usual.
  template <class Impl, class Request, class Response>
  void ParseUnary(absl::string_view method, grpc::Status (Impl::*handler)(grpc::ServerContext*, const Request*,
                                                                          Response*)) {
    Impl* impl = static_cast<Impl*>(this);
    RequestParser* parser = &parser_;
    const std::string name(method);
    this->MarkMethodStreamed(
        Index(method), new grpc::internal::StreamedUnaryHandler<grpc::ByteBuffer, Response>(
                           [impl, handler, parser, name](
                               grpc::ServerContext* context,
                               grpc::ServerUnaryStreamer<grpc::ByteBuffer, Response>* streamer) -> grpc::Status {
                             grpc::ByteBuffer buffer;
                             if (!streamer->Read(&buffer)) {
                               return parser->calls().Refuse(context, name,
                                                             absl::InvalidArgumentError("request: missing"));
                             }
                             Request request;
                             absl::StatusOr<ParseBudget::Reservation> held =
                                 parser->Parse(context, buffer, &request, RequestParser::kUnaryWait);
                             if (!held.ok()) return parser->calls().Refuse(context, name, held.status());
                             Response response;
                             grpc::Status status = (impl->*handler)(context, &request, &response);
                             if (status.ok()) streamer->Write(response);
                             return status;
                           }));
  }

  // A server-streaming method; the handler writes through the generic writer interface.
  template <class Impl, class Request, class Response>
  void ParseServerStream(absl::string_view method,
                         grpc::Status (Impl::*handler)(grpc::ServerContext*, const Request*,
                                                       grpc::internal::WriterInterface<Response>*)) {
    Impl* impl = static_cast<Impl*>(this);
    RequestParser* parser = &parser_;
    const std::string name(method);
    this->MarkMethodStreamed(
        Index(method), new grpc::internal::SplitServerStreamingHandler<grpc::ByteBuffer, Response>(
                           [impl, handler, parser, name](
                               grpc::ServerContext* context,
                               grpc::ServerSplitStreamer<grpc::ByteBuffer, Response>* streamer) -> grpc::Status {
                             grpc::ByteBuffer buffer;
                             if (!streamer->Read(&buffer)) {
                               return parser->calls().Refuse(context, name,
                                                             absl::InvalidArgumentError("request: missing"));
                             }
                             Request request;
                             absl::StatusOr<ParseBudget::Reservation> held =
                                 parser->Parse(context, buffer, &request, RequestParser::kUnaryWait);
                             if (!held.ok()) return parser->calls().Refuse(context, name, held.status());
                             return (impl->*handler)(context, &request, streamer);
                           }));
  }

  // A client-streaming or bidirectional method: the handler reads requests through RawStream (a client-streaming
  // handler writes its one response before returning OK).
  template <class Impl, class Request, class Response>
  void ParseStream(absl::string_view method,
                   grpc::Status (Impl::*handler)(grpc::ServerContext*, RawStream<Request, Response>*)) {
    Impl* impl = static_cast<Impl*>(this);
    RequestParser* parser = &parser_;
    using Streamer = grpc::ServerReaderWriter<Response, grpc::ByteBuffer>;
    this->MarkMethodStreamed(
        Index(method), new grpc::internal::TemplatedBidiStreamingHandler<Streamer, false>(
                           [impl, handler, parser](grpc::ServerContext* context, Streamer* stream) -> grpc::Status {
                             RawStream<Request, Response> raw(context, stream, *parser);
                             return (impl->*handler)(context, &raw);
                           }));
  }

  // A server-streaming method served through gRPC's callback API: `reactor` makes the reactor of one call from its
  // request's wire bytes, which the reactor parses (RequestParser::Parse) off the reactor thread, since parsing may
  // wait for budget. The call holds no thread while it streams.
  template <class Response>
  void CallbackServerStream(
      absl::string_view method,
      std::function<grpc::ServerWriteReactor<Response>*(grpc::CallbackServerContext*, const grpc::ByteBuffer*)>
          reactor) {
    this->MarkMethodCallback(
        Index(method),
        new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, Response>(std::move(reactor)));
  }

 private:
  int Index(absl::string_view method) const {
    const google::protobuf::MethodDescriptor* found =
        descriptor_ == nullptr ? nullptr : descriptor_->FindMethodByName(std::string(method));
    // A misspelt name is a programming error caught by every test that starts a server.
    if (found == nullptr) throw std::logic_error(absl::StrCat("OwnParsing: no method ", method));
    return found->index();
  }

  RequestParser& parser_;
  const google::protobuf::ServiceDescriptor* descriptor_;
};

}  // namespace parkbase
