// The one path every RPC handler takes: authenticate the caller, run the logic, answer with a mapped status, and
// log one JSON line. A gRPC server interceptor cannot end a call with a status (grpc/grpc#24017), so this is a
// function the handlers call rather than an interceptor; the end-to-end tests call every method without a key to
// prove that none skips it.
#pragma once

#include "absl/strings/string_view.h"

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "common/auth.h"
#include "common/streams.h"

namespace parkbase {

class CallRunner {
 public:
  // `streams` admits streaming calls; null refuses them (tools and tests that host no streaming method).
  explicit CallRunner(Authenticator& authenticator, StreamRegistry* streams = nullptr);

  // Runs `body` for an authenticated caller. Exceptions become INTERNAL (logged, never sent).
  grpc::Status Run(grpc::ServerContext* context, absl::string_view method,
                   absl::FunctionRef<absl::Status(const Principal&)> body);

  // Run for a streaming call: the caller is also admitted under the server's stream limits, and `body` gets the
  // stream's handle (Touch it on every message, Check it before every side effect). `client_sends`: the client
  // streams messages.
  grpc::Status RunStream(grpc::ServerContext* context, absl::string_view method, bool client_sends,
                         absl::FunctionRef<absl::Status(const Principal&, StreamRegistry::Stream&)> body);

  // Answers a call refused before its handler could run (a request that does not parse), with the same log line
  // and status mapping as every other call.
  grpc::Status Refuse(grpc::ServerContext* context, absl::string_view method, const absl::Status& status);

  // The common handler shape: call a logic method `(logic.*method)(caller, request)` returning StatusOr<Response>
  // and store its value in `response`.
  template <typename Logic, typename Request, typename Response>
  grpc::Status Serve(grpc::ServerContext* context, absl::string_view name, Logic& logic,
                     absl::StatusOr<Response> (Logic::*method)(const Principal&, const Request&),
                     const Request* request, Response* response) {
    return Run(context, name, [&](const Principal& caller) -> absl::Status {
      absl::StatusOr<Response> result = (logic.*method)(caller, *request);
      if (!result.ok()) return result.status();
      *response = *std::move(result);
      return absl::OkStatus();
    });
  }

 private:
  grpc::Status Finish(absl::string_view method, absl::Time start, const std::string& request_id,
                      const std::string& tenant, const absl::Status& status);

  Authenticator& authenticator_;
  StreamRegistry* streams_;
};

}  // namespace parkbase
