// The one path every RPC handler takes: authenticate the caller, run the logic, answer with a mapped status, and
// log one JSON line. A gRPC server interceptor cannot end a call with a status (grpc/grpc#24017), so this is a
// function the handlers call rather than an interceptor; the end-to-end tests call every method without a key to
// prove that none skips it.
#pragma once

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "common/access.h"
#include "common/auth.h"
#include "common/auth_limits.h"
#include "common/streams.h"
#include "common/tracing.h"

namespace parkbase {

// Initial metadata a server stream sends once it is admitted and live, before its first message: a refusal comes as
// trailers alone, which a client cannot always tell from initial metadata, so the HTTP door starts a stream of
// Server-Sent Events on this and nothing else.
inline constexpr char kStreamLiveMetadata[] = "parkbase-stream-live";

class CallRunner {
 public:
  // `streams` admits streaming calls; null refuses them (tools and tests that host no streaming method).
  // `auth_failures` (may be null: no limit) refuses callers that failed authentication too often, by the source
  // address `sources` finds (null: the peer's address).
  explicit CallRunner(Authenticator& authenticator, StreamRegistry* streams = nullptr,
                      AuthFailureLimiter* auth_failures = nullptr, const SourceAddresses* sources = nullptr);

  // Runs `body` for an authenticated caller whom `method`'s declared access rule admits with `request`
  // (common/access.h). Exceptions become INTERNAL (logged, never sent).
  grpc::Status Run(grpc::ServerContextBase* context, const google::protobuf::MethodDescriptor& method,
                   const google::protobuf::Message& request, absl::FunctionRef<absl::Status(const Principal&)> body);

  // The common handler shape: call a logic method `(logic.*method)(caller, request)` returning StatusOr<Response>
  // and store its value in `response`.
  template <typename Logic, typename Request, typename Response>
  grpc::Status Serve(grpc::ServerContextBase* context, const google::protobuf::MethodDescriptor& method, Logic& logic,
                     absl::StatusOr<Response> (Logic::*function)(const Principal&, const Request&),
                     const Request* request, Response* response) {
    return Run(context, method, *request, [&](const Principal& caller) -> absl::Status {
      absl::StatusOr<Response> result = (logic.*function)(caller, *request);
      if (!result.ok()) return result.status();
      *response = *std::move(result);
      return absl::OkStatus();
    });
  }

  // A streaming call, served through gRPC's callback API, outlives the function that opens it, so it runs in two
  // steps. OpenStream authenticates, checks `request` against the access rule and admits the stream under the
  // server's stream limits (it blocks on the database: call it from an executor, never a reactor); the stream's
  // handle is Touched on every message and Checked before every side effect. FinishStream logs the call's line and
  // maps its status. A stream refused by OpenStream is finished with FinishStream(call, refusal) like any other.
  struct StreamCall {
    std::string method;
    std::string request_id;
    std::string tenant;
    absl::Time start;
    // The call's server span, from OpenStream to FinishStream.
    std::shared_ptr<Span> span;
  };
  struct OpenedStream {
    Principal caller;
    std::unique_ptr<StreamRegistry::Stream> stream;
  };
  absl::StatusOr<OpenedStream> OpenStream(grpc::ServerContextBase* context,
                                          const google::protobuf::MethodDescriptor& method,
                                          const google::protobuf::Message& request, bool holds_thread,
                                          StreamCall* call);
  // OpenStream for a stream whose client sends the messages (WriteStream, ImportDevices): there is no request yet,
  // so the access gate is passed with the first message, through AdmitFirstMessage; until then the handle's Check
  // refuses every side effect.
  absl::StatusOr<OpenedStream> OpenClientStream(grpc::ServerContextBase* context,
                                                const google::protobuf::MethodDescriptor& method, StreamCall* call);
  grpc::Status FinishStream(const StreamCall& call, const absl::Status& status);

  // The access gate for a client stream's first message; marks the stream admitted.
  absl::StatusOr<AccessGrant> AdmitFirstMessage(const google::protobuf::MethodDescriptor& method,
                                                const Principal& caller, const google::protobuf::Message& first,
                                                StreamRegistry::Stream& stream);

  // Answers a call refused before its handler could run (a request that does not parse), with the same log line
  // and status mapping as every other call.
  grpc::Status Refuse(grpc::ServerContextBase* context, const google::protobuf::MethodDescriptor& method,
                      const absl::Status& status);

 private:
  // Authenticates the caller and runs `body`, with the log line and status mapping of every call.
  grpc::Status Authenticated(grpc::ServerContextBase* context, const google::protobuf::MethodDescriptor& method,
                             absl::FunctionRef<absl::Status(const Principal&)> body);
  // Logs the call's line (with `span`'s ids) and ends `span` with the call's status.
  grpc::Status Finish(absl::string_view method, absl::Time start, const std::string& request_id,
                      const std::string& tenant, Span& span, const absl::Status& status);
  // Admits an authenticated caller's stream under the access rule (when `request` is given) and the stream limits.
  absl::StatusOr<std::unique_ptr<StreamRegistry::Stream>> AdmitStream(
      grpc::ServerContextBase* context, const google::protobuf::MethodDescriptor& method, const Principal& caller,
      const google::protobuf::Message* request, bool client_sends, bool holds_thread);

  // OpenStream and OpenClientStream (`request` null for the latter).
  absl::StatusOr<OpenedStream> Open(grpc::ServerContextBase* context, const google::protobuf::MethodDescriptor& method,
                                    const google::protobuf::Message* request, bool client_sends, bool holds_thread,
                                    StreamCall* call);

  // Authenticates under the failed-authentication limits.
  absl::StatusOr<Principal> Authenticate(const grpc::ServerContextBase& context);

  Authenticator& authenticator_;
  StreamRegistry* streams_;
  AuthFailureLimiter* auth_failures_;
  const SourceAddresses* sources_;
};

}  // namespace parkbase
