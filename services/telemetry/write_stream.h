// WriteStream's pipeline, apart from gRPC so it can be tested with plain functions: the calling thread reads (and
// parses, under the server's parse budget), kPreparers threads prepare (validate, charge the quota, encode) and
// one committer commits and answers in the order the batches came. At most kInFlight batches, holding at most
// kInFlightBytes of parsed requests, are between reading and answering, so a fast client cannot make the server
// hold many batches.
//
// A worker that throws, or a worker thread that cannot be started, ends the stream with a status instead of
// taking the process down; a stream whose credential stopped being valid commits nothing more.
#pragma once

#include <functional>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/parse_budget.h"
#include "parkbase/telemetry/v1/telemetry.pb.h"
#include "telemetry/telemetry_logic.h"

namespace parkbase::telemetry {

class WriteStreamPipeline {
 public:
  // Parsing, preparing and committing each take a core's share; two preparers keep both cores of a small machine
  // busy while the reader parses and the committer waits for fsync.
  static constexpr int kPreparers = 2;
  static constexpr int64_t kInFlight = 4;
  static constexpr int64_t kInFlightBytes = int64_t{128} << 20;

  // Starts a thread running `body`; throws (std::system_error, like std::thread) when it cannot.
  using ThreadStarter = std::function<std::thread(std::function<void()> body)>;
  static ThreadStarter DefaultThreadStarter();

  struct Stages {
    // Reads the next request, keeping its parse reservation in `held`: true, false at the end, or an error.
    std::function<absl::StatusOr<bool>(pb::WriteRequest* request, ParseBudget::Reservation* held)> read;
    std::function<absl::StatusOr<TelemetryManager::PreparedBatch>(const pb::WriteRequest&)> prepare;
    std::function<absl::StatusOr<pb::WriteResponse>(TelemetryManager::PreparedBatch)> commit;
    // Asked before every commit: OK, or why the stream must end.
    std::function<absl::Status()> may_commit;
    // Sends one answer; false when the client is gone.
    std::function<bool(const pb::WriteResponse&)> answer;
    // Unblocks a read that waits on the client, once the stream has failed.
    std::function<void()> cancel;
  };

  // Runs the stream to its end: OK when the client closed it and every batch was answered; otherwise why it
  // stopped (a malformed message, a revoked credential, a worker's failure).
  static absl::Status Run(const Stages& stages, const ThreadStarter& start_thread = DefaultThreadStarter());
};

}  // namespace parkbase::telemetry
