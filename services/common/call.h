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

namespace parkbase {

class CallRunner {
 public:
  explicit CallRunner(Authenticator& authenticator);

  // Runs `body` for an authenticated caller. Exceptions become INTERNAL (logged, never sent).
  grpc::Status Run(grpc::ServerContext* context, absl::string_view method,
                   absl::FunctionRef<absl::Status(const Principal&)> body);

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
  Authenticator& authenticator_;
};

}  // namespace parkbase
