// Status codes as go-grpc-prometheus spells them ("OK", "NotFound", "ResourceExhausted"): the grpc_code label of
// the call metrics, and the `code` of the call log lines, so a query copied from a dashboard finds the log lines.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace parkbase {

const char* GrpcCodeName(grpc::StatusCode code);
const char* GrpcCodeName(absl::StatusCode code);

}  // namespace parkbase
