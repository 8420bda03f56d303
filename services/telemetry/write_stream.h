// WriteStream's pipeline, apart from gRPC so it can be tested with plain functions. It holds no thread: the
// transport (the callback-API reactor in telemetry_service.cc, or a test) tells it what happened — a request was read
// and parsed, the client closed its side, an answer went out, the client left — and it starts what may start next:
// the next read, up to kPreparers batches preparing (validate, charge the quota, encode), one commit at a time, one
// answer at a time in the order the batches came. Preparing and committing block on PostgreSQL and Redis, so they run
// through `run` (the server's BlockingExecutor), never on the transport's threads.
//
// Flow control: at most kInFlight batches, holding at most kInFlightBytes of parsed requests, are between reading
// and answering; the next read is not started while the limit is reached, so the client is held back by gRPC's
// flow control and a fast client cannot make the server hold many batches.
//
// A stage that throws, or work the executor refuses, ends the stream with a status instead of taking the process
// down; a stream whose credential stopped being valid commits nothing more. Whatever ends the stream, `done` is
// called once, after every piece of work the pipeline started has returned and no answer is being sent: the
// transport may then free what the stages reference.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/parse_budget.h"
#include "parkbase/telemetry/v1/telemetry.pb.h"
#include "telemetry/telemetry_logic.h"

namespace parkbase::telemetry {

class WriteStreamPipeline : public std::enable_shared_from_this<WriteStreamPipeline> {
 public:
  // Batches of one stream prepared at once: preparing, committing and parsing each take a core's share, and two
  // preparers keep both cores of a small machine busy while the committer waits for fsync.
  static constexpr int kPreparers = 2;
  static constexpr int64_t kInFlight = 4;
  static constexpr int64_t kInFlightBytes = int64_t{128} << 20;

  // Runs `work` where it may block; false when it refuses (the stream then ends with UNAVAILABLE).
  using Runner = std::function<bool(std::function<void()> work)>;

  struct Stages {
    // Through `run`:
    std::function<absl::StatusOr<TelemetryManager::PreparedBatch>(const pb::WriteRequest&)> prepare;
    std::function<absl::StatusOr<pb::WriteResponse>(TelemetryManager::PreparedBatch)> commit;
    // Asked before every commit: OK, or why the stream must end.
    std::function<absl::Status()> may_commit;
    // Called without blocking, never two at once of the same kind:
    // Starts reading (and parsing) the next request into `request`; the transport answers with Received, ReadFailed
    // or ReadEnded. `request` stays valid until then.
    std::function<void(pb::WriteRequest* request)> read;
    // Starts sending one answer (`response` stays valid until the transport calls Sent).
    std::function<void(const pb::WriteResponse* response)> answer;
    // The stream is over: OK when the client closed it and every batch was answered; otherwise why it stopped (a
    // malformed message, a revoked credential, a worker's failure, CANCELLED when the client left). Called once;
    // no stage is called after it.
    std::function<void(absl::Status status)> done;
  };

  static std::shared_ptr<WriteStreamPipeline> Create(Stages stages, Runner run);

  // Starts the first read.
  void Start();

  // From the transport. The request read into with `read`, parsed under `held` (kept until it is answered).
  void Received(ParseBudget::Reservation held);
  // The read failed (a malformed message, a refused first message): the stream ends with `why`.
  void ReadFailed(absl::Status why);
  // The client closed its side: the stream ends once every batch read is answered.
  void ReadEnded();
  // The answer started with `answer` went out (`ok`), or the client is gone.
  void Sent(bool ok);
  // The client cancelled the call: nothing more is read, committed or answered.
  void Cancelled();

  WriteStreamPipeline(Stages stages, Runner run);  // through Create

 private:
  // A read request with the parse budget it holds, until its batch is answered.
  struct Item {
    int64_t sequence = 0;
    std::unique_ptr<pb::WriteRequest> request;
    ParseBudget::Reservation held;
  };
  struct Ready {
    std::string batch_id;
    absl::StatusOr<TelemetryManager::PreparedBatch> batch;
    ParseBudget::Reservation held;
  };
  struct Answer {
    pb::WriteResponse response;
    int64_t bytes = 0;
  };

  // Starts whatever may start now (outside mu_), or calls `done`.
  void Pump();
  void Prepare(Item item);
  void Commit(Ready ready);
  // Stops every stage; the first failure is what the stream answers.
  void Fail(absl::Status why);
  void FailLocked(absl::Status why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Stages stages_;
  const Runner run_;

  absl::Mutex mu_;
  // The request being read into (owned here so that `read` may keep a plain pointer), and spare ones: recycled, so
  // their repeated fields keep their capacity.
  std::unique_ptr<pb::WriteRequest> reading_request_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<pb::WriteRequest>> free_ ABSL_GUARDED_BY(mu_);
  std::string parent_ ABSL_GUARDED_BY(mu_);
  std::deque<Item> to_prepare_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, Ready> ready_ ABSL_GUARDED_BY(mu_);
  std::deque<Answer> answers_ ABSL_GUARDED_BY(mu_);  // the front one is being sent while sending_
  int64_t submitted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_ ABSL_GUARDED_BY(mu_) = 0;  // the next batch to commit
  int64_t answered_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int preparing_ ABSL_GUARDED_BY(mu_) = 0;
  int dispatching_ ABSL_GUARDED_BY(mu_) = 0;  // Pumps starting stages outside mu_
  bool committing_ ABSL_GUARDED_BY(mu_) = false;
  bool sending_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool first_prepared_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parkbase::telemetry
