#include "telemetry/write_stream.h"

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/errors.h"
#include "common/log.h"
#include "google/rpc/status.pb.h"

namespace parkbase::telemetry {
namespace {

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

// The queues between the stages, under one lock.
class Pipeline {
 public:
  // A request object to read into: recycled, so their repeated fields keep their capacity.
  std::unique_ptr<pb::WriteRequest> Blank() {
    absl::MutexLock lock(&mu_);
    if (free_.empty()) return std::make_unique<pb::WriteRequest>();
    std::unique_ptr<pb::WriteRequest> request = std::move(free_.back());
    free_.pop_back();
    return request;
  }
  // Waits until another batch may be read. False once the stream failed or the client is gone.
  bool WaitForRoom() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Pipeline::HasRoom));
    return Going();
  }
  void Submit(std::unique_ptr<pb::WriteRequest> request, ParseBudget::Reservation held) {
    absl::MutexLock lock(&mu_);
    held_bytes_ += held.bytes();
    to_prepare_.push_back(Item{submitted_++, std::move(request), std::move(held)});
  }
  // For preparers: the next request, or nullopt when there will be none.
  std::optional<Item> TakeToPrepare() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Pipeline::HasWorkToPrepare));
    if (!Going() || to_prepare_.empty()) return std::nullopt;
    Item item = std::move(to_prepare_.front());
    to_prepare_.pop_front();
    return item;
  }
  void PutReady(int64_t sequence, Ready prepared, std::unique_ptr<pb::WriteRequest> request) {
    absl::MutexLock lock(&mu_);
    first_prepared_ = true;
    ready_.emplace(sequence, std::move(prepared));
    request->Clear();
    free_.push_back(std::move(request));
  }
  // For the committer: the next batch in order, or nullopt once the reader closed and every batch was taken.
  std::optional<Ready> NextInOrder() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Pipeline::HasNextOrDone));
    auto found = ready_.find(next_);
    if (!Going() || found == ready_.end()) return std::nullopt;
    Ready prepared = std::move(found->second);
    ready_.erase(found);
    ++next_;
    return prepared;
  }
  // The committer answered one batch: room for another.
  void Answered(int64_t bytes) {
    absl::MutexLock lock(&mu_);
    ++answered_;
    held_bytes_ -= bytes;
  }
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  // Stops every stage; the first failure is what the stream answers.
  void Fail(absl::Status why) {
    absl::MutexLock lock(&mu_);
    if (failure_.ok()) failure_ = std::move(why);
    stopped_ = true;
  }
  void ClientGone() {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
  }
  absl::Status failure() {
    absl::MutexLock lock(&mu_);
    return failure_;
  }

 private:
  bool Going() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !stopped_; }
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t in_flight = submitted_ - answered_;
    return stopped_ || in_flight == 0 ||
           (in_flight < WriteStreamPipeline::kInFlight && held_bytes_ < WriteStreamPipeline::kInFlightBytes);
  }
  // The first batch of a stream warms the device caches alone: preparing the second beside it would repeat the
  // same cold look-ups.
  bool HasWorkToPrepare() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stopped_) return true;
    if (!to_prepare_.empty()) return to_prepare_.front().sequence == 0 || first_prepared_;
    return closed_;
  }
  bool HasNextOrDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopped_ || ready_.contains(next_) || (closed_ && next_ == submitted_);
  }

  absl::Mutex mu_;
  std::deque<Item> to_prepare_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, Ready> ready_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<pb::WriteRequest>> free_ ABSL_GUARDED_BY(mu_);
  int64_t submitted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t answered_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool first_prepared_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

// Runs a worker's loop; anything it throws ends the stream with INTERNAL (the exception's text is logged, never
// sent) rather than escaping the thread, which would terminate the process.
void Guarded(Pipeline& pipeline, const WriteStreamPipeline::Stages& stages, absl::string_view worker,
             const std::function<void()>& loop) {
  try {
    loop();
  } catch (const std::exception& error) {
    LogLine(LogLevel::kError, "write stream worker failed").Str("worker", worker).Str("error", error.what()).Emit();
    pipeline.Fail(absl::InternalError(absl::StrCat("write stream ", worker, " failed")));
    if (stages.cancel) stages.cancel();
  } catch (...) {
    LogLine(LogLevel::kError, "write stream worker failed").Str("worker", worker).Emit();
    pipeline.Fail(absl::InternalError(absl::StrCat("write stream ", worker, " failed")));
    if (stages.cancel) stages.cancel();
  }
}

}  // namespace

WriteStreamPipeline::ThreadStarter WriteStreamPipeline::DefaultThreadStarter() {
  return [](std::function<void()> body) { return std::thread(std::move(body)); };
}

absl::Status WriteStreamPipeline::Run(const Stages& stages, const ThreadStarter& start_thread) {
  Pipeline pipeline;
  std::vector<std::thread> workers;
  auto stop_workers = [&] {
    for (std::thread& worker : workers) {
      if (worker.joinable()) worker.join();
    }
  };

  auto preparer = [&] {
    Guarded(pipeline, stages, "preparer", [&] {
      while (std::optional<Item> item = pipeline.TakeToPrepare()) {
        Ready prepared{item->request->batch_id(), stages.prepare(*item->request), std::move(item->held)};
        pipeline.PutReady(item->sequence, std::move(prepared), std::move(item->request));
      }
    });
  };
  auto committer = [&] {
    Guarded(pipeline, stages, "committer", [&] {
      while (std::optional<Ready> item = pipeline.NextInOrder()) {
        // Nothing more is committed for a credential that stopped being valid (streams.h).
        if (absl::Status allowed = stages.may_commit(); !allowed.ok()) {
          pipeline.Fail(allowed);
          if (stages.cancel) stages.cancel();
          return;
        }
        pb::WriteResponse response;
        absl::StatusOr<pb::WriteResponse> answer =
            item->batch.ok() ? stages.commit(*std::move(item->batch)) : item->batch.status();
        if (answer.ok()) {
          response = *std::move(answer);
        } else {
          // The batch is refused whole; the stream goes on so the client can tell which batches to send again.
          response.set_batch_id(item->batch_id);
          *response.mutable_error() = ToRpcStatus(answer.status());
        }
        const int64_t bytes = item->held.bytes();
        item->held.Release();
        if (!stages.answer(response)) {
          pipeline.ClientGone();
          return;
        }
        pipeline.Answered(bytes);
      }
    });
  };

  try {
    for (int i = 0; i < kPreparers; ++i) workers.push_back(start_thread(preparer));
    workers.push_back(start_thread(committer));
  } catch (const std::exception& error) {
    LogLine(LogLevel::kError, "write stream cannot start a worker").Str("error", error.what()).Emit();
    pipeline.Fail(absl::UnavailableError("this server cannot start a thread for the stream now; retry"));
    stop_workers();
    return pipeline.failure();
  }

  std::string parent;
  Guarded(pipeline, stages, "reader", [&] {
    while (pipeline.WaitForRoom()) {
      std::unique_ptr<pb::WriteRequest> request = pipeline.Blank();
      ParseBudget::Reservation held;
      absl::StatusOr<bool> read = stages.read(request.get(), &held);
      if (!read.ok()) {
        pipeline.Fail(read.status());
        break;
      }
      if (!*read) break;
      if (parent.empty()) parent = request->parent();
      if (request->parent().empty()) request->set_parent(parent);
      pipeline.Submit(std::move(request), std::move(held));
    }
  });
  pipeline.Close();
  stop_workers();
  return pipeline.failure();
}

}  // namespace parkbase::telemetry
