// Builders for the errors a client can act on. They carry google.rpc details (BadRequest, QuotaFailure,
// RetryInfo, ErrorInfo) as absl::Status payloads; ToGrpcStatus turns them into `grpc-status-details-bin`.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace parkbase {

// INVALID_ARGUMENT whose message starts with the field ("tenant.display_name: must be ...") and whose details hold
// a BadRequest.FieldViolation for it.
absl::Status FieldError(absl::string_view field, absl::string_view description);

// RESOURCE_EXHAUSTED naming the limit that tripped, with QuotaFailure and RetryInfo details.
absl::Status QuotaError(absl::string_view subject, absl::string_view limit, absl::string_view description,
                        absl::Duration retry_after);

// At most `max_bytes` of `text`, cut before a character rather than inside one: what an error message or an answer
// echoes of a request must stay UTF-8, or the client cannot parse the answer (a proto3 string) and protobuf logs an
// error for every copy the server makes of it.
absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes);

// Adds an ErrorInfo with a stable machine-readable reason (e.g. "TENANT_SUSPENDED") to a status.
absl::Status WithReason(absl::Status status, absl::string_view reason);

// Adds any message as a google.rpc.Status detail (e.g. the per-row results of a bulk call that stopped early).
absl::Status WithDetail(absl::Status status, const google::protobuf::Message& detail);

// The one mapping from absl::Status to the wire. INTERNAL and UNKNOWN messages are replaced: their text may come
// from a database driver and must never reach a tenant (it is logged instead).
grpc::Status ToGrpcStatus(const absl::Status& status);

// The google.rpc.Status a response message carries when a whole part of a call failed but the call answers (a
// WriteStream batch refused whole, an import that stopped early): the same code, message and details as the wire.
google::rpc::Status ToRpcStatus(const absl::Status& status);

// The reverse, used by clients (the admin command line, tests) to read a server's answer.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace parkbase
