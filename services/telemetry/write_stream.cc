#include "telemetry/write_stream.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/log.h"
#include "google/rpc/status.pb.h"

namespace parkbase::telemetry {
namespace {

// Runs a stage; anything it throws becomes INTERNAL (the exception's text is logged, never sent) rather than
// escaping into the executor. nullopt when it returned.
template <class Body>
std::optional<absl::Status> Guarded(absl::string_view stage, Body&& body) {
  try {
    body();
    return std::nullopt;
  } catch (const std::exception& error) {
    LogLine(LogLevel::kError, "write stream worker failed").Str("worker", stage).Str("error", error.what()).Emit();
  } catch (...) {
    LogLine(LogLevel::kError, "write stream worker failed").Str("worker", stage).Emit();
  }
  return absl::InternalError(absl::StrCat("write stream ", stage, " failed"));
}

absl::Status RefusedWork() {
  return absl::UnavailableError("this server has too much blocking work queued to serve the stream now; retry");
}

}  // namespace

std::shared_ptr<WriteStreamPipeline> WriteStreamPipeline::Create(Stages stages, Runner run) {
  return std::make_shared<WriteStreamPipeline>(std::move(stages), std::move(run));
}

WriteStreamPipeline::WriteStreamPipeline(Stages stages, Runner run)
    : stages_(std::move(stages)), run_(std::move(run)) {}

void WriteStreamPipeline::Start() {
  {
    absl::MutexLock lock(&mu_);
    started_ = true;
  }
  Pump();
}

void WriteStreamPipeline::Received(ParseBudget::Reservation held) {
  {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    std::unique_ptr<pb::WriteRequest> request = std::move(reading_request_);
    if (!stopped_ && request != nullptr) {
      if (parent_.empty()) parent_ = request->parent();
      if (request->parent().empty()) request->set_parent(parent_);
      held_bytes_ += held.bytes();
      to_prepare_.push_back(Item{submitted_++, std::move(request), std::move(held)});
    }
  }
  Pump();
}

void WriteStreamPipeline::ReadFailed(absl::Status why) {
  {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    FailLocked(std::move(why));
  }
  Pump();
}

void WriteStreamPipeline::ReadEnded() {
  {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    closed_ = true;
  }
  Pump();
}

void WriteStreamPipeline::Sent(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    sending_ = false;
    if (!answers_.empty()) {
      held_bytes_ -= answers_.front().bytes;
      answers_.pop_front();
      ++answered_;
    }
    if (!ok) FailLocked(absl::CancelledError("the client went away"));
  }
  Pump();
}

void WriteStreamPipeline::Cancelled() { Fail(absl::CancelledError("the client cancelled the stream")); }

void WriteStreamPipeline::Fail(absl::Status why) {
  {
    absl::MutexLock lock(&mu_);
    FailLocked(std::move(why));
  }
  Pump();
}

void WriteStreamPipeline::FailLocked(absl::Status why) {
  if (failure_.ok()) failure_ = std::move(why);
  stopped_ = true;
  // What was read and not committed is dropped unanswered (the client sends it again); its budget goes with it.
  to_prepare_.clear();
  ready_.clear();
}

bool WriteStreamPipeline::HasRoom() const {
  const int64_t in_flight = submitted_ - answered_;
  return in_flight == 0 || (in_flight < kInFlight && held_bytes_ < kInFlightBytes);
}

void WriteStreamPipeline::Pump() {
  // Alive until this returns, whatever `done` lets the transport free.
  const std::shared_ptr<WriteStreamPipeline> self = shared_from_this();
  while (true) {
    pb::WriteRequest* read = nullptr;
    std::vector<Item> prepare;
    std::optional<Ready> commit;
    const pb::WriteResponse* answer = nullptr;
    std::optional<absl::Status> done;
    {
      absl::MutexLock lock(&mu_);
      if (!started_ || done_) return;
      if (!stopped_) {
        if (!reading_ && !closed_ && HasRoom()) {
          reading_ = true;
          if (free_.empty()) {
            reading_request_ = std::make_unique<pb::WriteRequest>();
          } else {
            reading_request_ = std::move(free_.back());
            free_.pop_back();
          }
          read = reading_request_.get();
        }
        // The first batch of a stream warms the device caches alone: preparing the second beside it would repeat
        // the same cold look-ups.
        while (preparing_ < kPreparers && !to_prepare_.empty() &&
               (to_prepare_.front().sequence == 0 || first_prepared_)) {
          ++preparing_;
          prepare.push_back(std::move(to_prepare_.front()));
          to_prepare_.pop_front();
        }
        if (auto found = ready_.find(next_); !committing_ && found != ready_.end()) {
          committing_ = true;
          commit = std::move(found->second);
          ready_.erase(found);
          ++next_;
        }
        if (!sending_ && !answers_.empty()) {
          sending_ = true;
          answer = &answers_.front().response;
        }
      }
      const bool starts = read != nullptr || !prepare.empty() || commit.has_value() || answer != nullptr;
      if (starts) {
        // Until they are started, `done` waits: a stage must not be called after it.
        ++dispatching_;
      } else {
        // A read still outstanding when the stream stopped is the transport's to end (it may wait on the client).
        const bool finished = stopped_ || (closed_ && answered_ == submitted_);
        if (!finished || preparing_ > 0 || committing_ || sending_ || dispatching_ > 0) return;
        done_ = true;
        done = failure_;
      }
    }
    if (done.has_value()) {
      stages_.done(*std::move(done));  // the last thing this object does for the stream
      return;
    }
    if (read != nullptr) stages_.read(read);
    if (answer != nullptr) stages_.answer(answer);
    for (Item& item : prepare) {
      auto shared = std::make_shared<Item>(std::move(item));
      if (!run_([self, shared] { self->Prepare(std::move(*shared)); })) {
        absl::MutexLock lock(&mu_);
        --preparing_;
        FailLocked(RefusedWork());
      }
    }
    if (commit.has_value()) {
      auto shared = std::make_shared<Ready>(*std::move(commit));
      if (!run_([self, shared] { self->Commit(std::move(*shared)); })) {
        absl::MutexLock lock(&mu_);
        committing_ = false;
        FailLocked(RefusedWork());
      }
    }
    absl::MutexLock lock(&mu_);
    --dispatching_;
  }
}

void WriteStreamPipeline::Prepare(Item item) {
  absl::StatusOr<TelemetryManager::PreparedBatch> batch = absl::UnknownError("not prepared");
  const std::optional<absl::Status> thrown =
      Guarded("preparer", [&] { batch = stages_.prepare(*item.request); });
  {
    absl::MutexLock lock(&mu_);
    --preparing_;
    first_prepared_ = true;
    if (thrown.has_value()) {
      FailLocked(*thrown);
    } else if (!stopped_) {
      ready_.emplace(item.sequence, Ready{item.request->batch_id(), std::move(batch), std::move(item.held)});
    }
    item.request->Clear();
    free_.push_back(std::move(item.request));
  }
  Pump();
}

void WriteStreamPipeline::Commit(Ready ready) {
  std::optional<Answer> answer;
  absl::Status stop;
  const std::optional<absl::Status> thrown = Guarded("committer", [&] {
    // Nothing more is committed for a credential that stopped being valid (streams.h).
    stop = stages_.may_commit();
    if (!stop.ok()) return;
    absl::StatusOr<pb::WriteResponse> committed =
        ready.batch.ok() ? stages_.commit(*std::move(ready.batch)) : ready.batch.status();
    answer.emplace();
    if (committed.ok()) {
      answer->response = *std::move(committed);
    } else {
      // The batch is refused whole; the stream goes on so the client can tell which batches to send again.
      answer->response.set_batch_id(ready.batch_id);
      *answer->response.mutable_error() = ToRpcStatus(committed.status());
    }
    answer->bytes = ready.held.bytes();
  });
  if (thrown.has_value()) stop = *thrown;
  ready.held.Release();
  {
    absl::MutexLock lock(&mu_);
    committing_ = false;
    if (!stop.ok()) {
      FailLocked(stop);
    } else if (!stopped_ && answer.has_value()) {
      answers_.push_back(*std::move(answer));
    }
  }
  Pump();
}

}  // namespace parkbase::telemetry
