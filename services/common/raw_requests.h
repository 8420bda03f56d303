// Services parse their own requests. gRPC 1.51's synchronous server parses a request before any handler runs and
// answers a malformed one (a string field that is not UTF-8, a truncated field) with a bare INTERNAL that no
// handler logs and that the metrics count as the server's fault; and it parses a 16 MiB message however many are
// being parsed already. A service deriving from OwnParsing<GeneratedService> registers its methods to receive the
// wire bytes instead (the generated code's "streamed" method hook): the request is parsed here under the server's
// ParseBudget, and a malformed one is INVALID_ARGUMENT naming the field, logged and counted like any refused call.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/call.h"
#include "common/errors.h"
#include "common/executor.h"
#include "common/parse_budget.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/impl/service_type.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/method_handler.h"
#include "grpcpp/support/server_callback.h"

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

  // Parses message `index` (from 0) of a client's stream on `executor`, never on a reactor thread, and calls `then`
  // there exactly once: with the reservation, INVALID_ARGUMENT "message <index> of the stream: <field>: ...",
  // CANCELLED, or UNAVAILABLE when the executor refuses the work. A stream's message waits for budget as long as the
  // call lives, but in slices of kStreamBudgetSlice, queued again between slices: the executor's threads also run
  // the work that frees budget (a WriteStream's commits), which a thread waiting without end could starve.
  // `buffer` and `message` must stay alive until `then` runs.
  static constexpr absl::Duration kStreamBudgetSlice = absl::Milliseconds(50);
  void ParseStreamed(BlockingExecutor& executor, grpc::ServerContextBase* context, grpc::ByteBuffer* buffer,
                     google::protobuf::Message* message, int64_t index,
                     std::function<void(absl::StatusOr<ParseBudget::Reservation>)> then);

  CallRunner& calls() { return calls_; }

  // Routes protobuf's own log lines into the JSON log; while a request is parsed on this thread, its complaint
  // (which names the offending field) is kept for the error message instead. Installed once per process.
  static void InstallProtobufLogHandler();

 private:
  CallRunner& calls_;
  ParseBudget& budget_;
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
    const google::protobuf::MethodDescriptor* descriptor = &Method(method);
    this->MarkMethodStreamed(
        Index(method), new grpc::internal::StreamedUnaryHandler<grpc::ByteBuffer, Response>(
                           [impl, handler, parser, descriptor](
                               grpc::ServerContext* context,
                               grpc::ServerUnaryStreamer<grpc::ByteBuffer, Response>* streamer) -> grpc::Status {
                             grpc::ByteBuffer buffer;
                             if (!streamer->Read(&buffer)) {
                               return parser->calls().Refuse(context, *descriptor,
                                                             absl::InvalidArgumentError("request: missing"));
                             }
                             Request request;
                             absl::StatusOr<ParseBudget::Reservation> held =
                                 parser->Parse(context, buffer, &request, RequestParser::kUnaryWait);
                             if (!held.ok()) return parser->calls().Refuse(context, *descriptor, held.status());
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
    const google::protobuf::MethodDescriptor* descriptor = &Method(method);
    this->MarkMethodStreamed(
        Index(method), new grpc::internal::SplitServerStreamingHandler<grpc::ByteBuffer, Response>(
                           [impl, handler, parser, descriptor](
                               grpc::ServerContext* context,
                               grpc::ServerSplitStreamer<grpc::ByteBuffer, Response>* streamer) -> grpc::Status {
                             grpc::ByteBuffer buffer;
                             if (!streamer->Read(&buffer)) {
                               return parser->calls().Refuse(context, *descriptor,
                                                             absl::InvalidArgumentError("request: missing"));
                             }
                             Request request;
                             absl::StatusOr<ParseBudget::Reservation> held =
                                 parser->Parse(context, buffer, &request, RequestParser::kUnaryWait);
                             if (!held.ok()) return parser->calls().Refuse(context, *descriptor, held.status());
                             return (impl->*handler)(context, &request, streamer);
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

  // A client-streaming method served through the callback API: `reactor` makes the reactor of one call, which reads
  // the requests' wire bytes and parses them with RequestParser::ParseStreamed; `response` is sent by a Finish with
  // OK. The call holds no thread while it waits for its client.
  template <class Response>
  void CallbackClientStream(
      absl::string_view method,
      std::function<grpc::ServerReadReactor<grpc::ByteBuffer>*(grpc::CallbackServerContext*, Response* response)>
          reactor) {
    this->MarkMethodCallback(
        Index(method),
        new grpc::internal::CallbackClientStreamingHandler<grpc::ByteBuffer, Response>(std::move(reactor)));
  }

  // A bidirectional method served through the callback API, reading as CallbackClientStream does.
  template <class Response>
  void CallbackBidiStream(
      absl::string_view method,
      std::function<grpc::ServerBidiReactor<grpc::ByteBuffer, Response>*(grpc::CallbackServerContext*)> reactor) {
    this->MarkMethodCallback(Index(method),
                             new grpc::internal::CallbackBidiHandler<grpc::ByteBuffer, Response>(std::move(reactor)));
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
