// What the fuzz targets assert besides "no crash, no undefined behaviour": every answer is one a client can read and
// act on. A violation aborts, so libFuzzer reports the input as a crash and saves it (docs/fuzzing.md turns it into
// a regression input).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "google/rpc/status.pb.h"

namespace parkbase::fuzz {

// Prints `what` and aborts.
[[noreturn]] void Fail(absl::string_view what);

// True for well-formed UTF-8: what a proto3 string field must hold for the receiver to parse the message, and what a
// log line must hold to be written (common/log.h renders lines through protobuf's JSON).
bool IsUtf8(absl::string_view text);

// The longest error message an input may produce: messages quote what was sent, but cut (a request is up to 16 MiB;
// its echo would flood logs and clients).
inline constexpr size_t kMaxErrorMessageBytes = 2048;

// Aborts unless `status` is OK or an error a caller may get for its input alone:
// - a code from the allowed set: INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, RESOURCE_EXHAUSTED,
//   FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE, ABORTED, UNAVAILABLE, DEADLINE_EXCEEDED, UNAUTHENTICATED
//   (never INTERNAL, UNKNOWN or DATA_LOSS, which say the server is broken);
// - a message that is not empty, is UTF-8 and at most kMaxErrorMessageBytes;
// - details (google.rpc payloads) that parse, with UTF-8 strings, and RetryInfo on RESOURCE_EXHAUSTED.
// `context` names the call in the report.
void CheckStatus(const absl::Status& status, absl::string_view context);

// The code and message rules of CheckStatus, for an error carried inside an answer (a row's result, a batch's
// google.rpc.Status) where there are no details.
void CheckError(int code, absl::string_view message, absl::string_view context);

// CheckError for a google.rpc.Status inside an answer (code 0: no error), whose details must parse.
void CheckRpcStatus(const google::rpc::Status& status, absl::string_view context);

// Aborts when a string field anywhere in `message` is not UTF-8: the client could not parse the answer.
void CheckStrings(const google::protobuf::Message& message, absl::string_view context);

// `text` for a report: escaped and cut.
std::string Printable(absl::string_view text, size_t max = 200);

// `message` serialized with maps in key order, so equal messages give equal bytes (for digests).
std::string StableBytes(const google::protobuf::Message& message);

}  // namespace parkbase::fuzz
