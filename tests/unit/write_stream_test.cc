// WriteStreamPipeline with plain functions for its stages and a scripted transport that reads and answers on an
// executor, as the callback-API reactor does: answers keep the order of the batches, one stream holds a bounded
// number of batches and parsed bytes, a throwing worker or refused work ends the stream with a status (the process
// survives), a stream that must end commits nothing more, a malformed message ends it, and a client that leaves
// with batches in flight ends it only once every piece of work has returned, with every answered batch committed.
#include <atomic>
#include <set>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/executor.h"
#include "telemetry/write_stream.h"

namespace parkbase::telemetry {
namespace {

// Bumps `most` to `value` if larger.
void Raise(std::atomic<int64_t>& most, int64_t value) {
  int64_t seen = most.load();
  while (value > seen && !most.compare_exchange_weak(seen, value)) {
  }
}

struct Script {
  int batches = 5;
  int64_t bytes_per_batch = 0;  // parse budget each read holds
  int malformed = -1;           // the message that does not parse
  absl::Duration answer_delay = absl::ZeroDuration();
  ParseBudget budget{int64_t{4} << 30};
  std::atomic<int> read{0};
  std::atomic<int> committed{0};
  std::atomic<int> sent{0};
  std::atomic<int> running{0};  // prepares and commits running now
  std::atomic<int64_t> most_in_flight{0};
  std::atomic<bool> overlapping{false};  // two reads or two answers outstanding at once
  std::atomic<int> reads_outstanding{0};
  std::atomic<int> answers_outstanding{0};
  std::atomic<int> running_at_done{-1};
  absl::Mutex mu;
  std::vector<std::string> answers ABSL_GUARDED_BY(mu);
  std::set<std::string> committed_ids ABSL_GUARDED_BY(mu);
  absl::Notification finished;
  absl::Status status;
  std::shared_ptr<WriteStreamPipeline> pipeline;
  // Last, so that it is destroyed first: its threads finish what was queued while the rest is alive.
  BlockingExecutor executor{BlockingExecutor::Options{.threads = 4, .max_queued = 1024}};

  WriteStreamPipeline::Stages Stages() {
    WriteStreamPipeline::Stages stages;
    stages.prepare = [this](const pb::WriteRequest& request) -> absl::StatusOr<TelemetryManager::PreparedBatch> {
      running.fetch_add(1);
      // Uneven work, so that batches prepared side by side finish out of order.
      if (request.batch_id().back() % 3 == 0) absl::SleepFor(absl::Milliseconds(2));
      TelemetryManager::PreparedBatch batch;
      batch.identity.batch_id = request.batch_id();
      running.fetch_sub(1);
      return batch;
    };
    stages.commit = [this](TelemetryManager::PreparedBatch batch) -> absl::StatusOr<pb::WriteResponse> {
      running.fetch_add(1);
      committed.fetch_add(1);
      {
        absl::MutexLock lock(&mu);
        committed_ids.insert(batch.identity.batch_id);
      }
      pb::WriteResponse response;
      response.set_batch_id(batch.identity.batch_id);
      running.fetch_sub(1);
      return response;
    };
    stages.may_commit = [] { return absl::OkStatus(); };
    stages.read = [this](pb::WriteRequest* request) {
      if (reads_outstanding.fetch_add(1) != 0) overlapping = true;
      Raise(most_in_flight, read.load() + 1 - sent.load());
      executor.Submit([this, request] {
        const int n = read.fetch_add(1);
        reads_outstanding.fetch_sub(1);
        if (n >= batches) {
          pipeline->ReadEnded();
          return;
        }
        if (n == malformed) {
          pipeline->ReadFailed(absl::InvalidArgumentError(
              absl::StrCat("message ", n, " of the stream: points[0].metric: must be valid UTF-8")));
          return;
        }
        request->set_parent("tenants/acme");
        request->set_batch_id(absl::StrCat("b", n));
        ParseBudget::Reservation held;
        if (bytes_per_batch > 0) {
          auto reserved = budget.Reserve(bytes_per_batch, absl::Seconds(10), nullptr);
          if (!reserved.ok()) {
            pipeline->ReadFailed(reserved.status());
            return;
          }
          held = *std::move(reserved);
        }
        pipeline->Received(std::move(held));
      });
    };
    stages.answer = [this](const pb::WriteResponse* response) {
      if (answers_outstanding.fetch_add(1) != 0) overlapping = true;
      {
        absl::MutexLock lock(&mu);
        answers.push_back(response->batch_id());
      }
      executor.Submit([this] {
        absl::SleepFor(answer_delay);
        answers_outstanding.fetch_sub(1);
        sent.fetch_add(1);
        pipeline->Sent(true);
      });
    };
    stages.done = [this](absl::Status why) {
      running_at_done = running.load();
      status = std::move(why);
      finished.Notify();
    };
    return stages;
  }

  absl::Status Run(WriteStreamPipeline::Stages stages, WriteStreamPipeline::Runner run = nullptr) {
    if (run == nullptr) run = [this](std::function<void()> work) { return executor.Submit(std::move(work)); };
    pipeline = WriteStreamPipeline::Create(std::move(stages), std::move(run));
    pipeline->Start();
    REQUIRE(finished.WaitForNotificationWithTimeout(absl::Seconds(30)));
    CHECK(running_at_done == 0);  // nothing the pipeline started was still running when it said it was done
    return status;
  }
};

TEST_CASE("write stream: answers come in the order batches came, one read and one answer at a time",
          "[telemetry][unit]") {
  Script script;
  script.batches = 50;
  REQUIRE(script.Run(script.Stages()).ok());
  absl::MutexLock lock(&script.mu);
  REQUIRE(script.answers.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(script.answers[i] == absl::StrCat("b", i));
  CHECK_FALSE(script.overlapping);
}

TEST_CASE("write stream: at most kInFlight batches are between reading and answering", "[telemetry][unit][defects]") {
  // Answers that leave slowly: a pipeline without flow control would read every batch at once.
  Script script;
  script.batches = 30;
  script.answer_delay = absl::Milliseconds(3);
  REQUIRE(script.Run(script.Stages()).ok());
  CHECK(script.most_in_flight.load() <= WriteStreamPipeline::kInFlight);
  CHECK(script.most_in_flight.load() >= 2);  // it does read ahead
  CHECK(script.sent == 30);
}

TEST_CASE("write stream: a worker that throws ends the stream with INTERNAL, not the process",
          "[telemetry][unit][defects]") {
  Script script;
  WriteStreamPipeline::Stages stages = script.Stages();
  stages.prepare = [](const pb::WriteRequest& request) -> absl::StatusOr<TelemetryManager::PreparedBatch> {
    if (request.batch_id() == "b2") throw std::runtime_error("a bug in validation");
    return TelemetryManager::PreparedBatch{};
  };
  const absl::Status status = script.Run(stages);
  CHECK(status.code() == absl::StatusCode::kInternal);
  CHECK(script.committed < script.batches);

  SECTION("likewise a committer that throws") {
    Script other;
    WriteStreamPipeline::Stages throwing = other.Stages();
    throwing.commit = [](TelemetryManager::PreparedBatch) -> absl::StatusOr<pb::WriteResponse> {
      throw std::bad_alloc();
    };
    CHECK(other.Run(throwing).code() == absl::StatusCode::kInternal);
  }
}

TEST_CASE("write stream: work the executor refuses ends the stream with UNAVAILABLE", "[telemetry][unit][defects]") {
  Script script;
  std::atomic<int> asked{0};
  const absl::Status status = script.Run(script.Stages(), [&](std::function<void()> work) {
    if (asked.fetch_add(1) >= 1) return false;  // the first batch's prepare runs, its commit is refused
    return script.executor.Submit(std::move(work));
  });
  CHECK(status.code() == absl::StatusCode::kUnavailable);
  CHECK(script.committed == 0);
}

TEST_CASE("write stream: once the stream must end nothing more is committed", "[telemetry][unit][defects]") {
  Script script;
  WriteStreamPipeline::Stages stages = script.Stages();
  std::atomic<int> asked{0};
  stages.may_commit = [&]() -> absl::Status {
    if (asked.fetch_add(1) >= 2) return absl::UnauthenticatedError("authorization: API key revoked");
    return absl::OkStatus();
  };
  const absl::Status status = script.Run(stages);
  CHECK(status.code() == absl::StatusCode::kUnauthenticated);
  CHECK(script.committed == 2);
}

TEST_CASE("write stream: a malformed message ends the stream with INVALID_ARGUMENT naming it",
          "[telemetry][unit][defects]") {
  Script script;
  script.batches = 10;
  script.malformed = 3;
  const absl::Status status = script.Run(script.Stages());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(status.message() == "message 3 of the stream: points[0].metric: must be valid UTF-8");
  CHECK(script.committed <= 3);
  absl::MutexLock lock(&script.mu);
  for (const std::string& answered : script.answers) CHECK(script.committed_ids.contains(answered));
}

TEST_CASE("write stream: a client that leaves with batches in flight ends the stream once its work returned",
          "[telemetry][unit][defects]") {
  Script script;
  script.batches = 1000;
  WriteStreamPipeline::Stages stages = script.Stages();
  const auto commit = stages.commit;
  stages.commit = [&, commit](TelemetryManager::PreparedBatch batch) -> absl::StatusOr<pb::WriteResponse> {
    // The client leaves while the fifth batch commits (slowly, as one waiting for fsync).
    script.running.fetch_add(1);
    if (batch.identity.batch_id == "b4") {
      script.pipeline->Cancelled();
      absl::SleepFor(absl::Milliseconds(20));
    }
    absl::StatusOr<pb::WriteResponse> answer = commit(std::move(batch));
    script.running.fetch_sub(1);
    return answer;
  };
  const absl::Status status = script.Run(stages);
  CHECK(status.code() == absl::StatusCode::kCancelled);
  CHECK(script.committed >= 5);    // the commit under way when the client left completed
  CHECK(script.committed < 1000);  // and the stream stopped there
  absl::MutexLock lock(&script.mu);
  for (const std::string& answered : script.answers) CHECK(script.committed_ids.contains(answered));
}

TEST_CASE("write stream: one stream holds a bounded number of parsed bytes", "[telemetry][unit][defects]") {
  Script script;
  script.batches = 12;
  script.bytes_per_batch = int64_t{100} << 20;  // 100 MiB each, so at most two are held at once
  WriteStreamPipeline::Stages stages = script.Stages();
  std::atomic<int64_t> most{0};
  stages.commit = [&](TelemetryManager::PreparedBatch batch) -> absl::StatusOr<pb::WriteResponse> {
    Raise(most, script.budget.in_use());
    absl::SleepFor(absl::Milliseconds(5));
    pb::WriteResponse response;
    response.set_batch_id(batch.identity.batch_id);
    return response;
  };
  REQUIRE(script.Run(stages).ok());
  CHECK(most.load() <= WriteStreamPipeline::kInFlightBytes + script.bytes_per_batch);
  CHECK(script.budget.in_use() == 0);
}

}  // namespace
}  // namespace parkbase::telemetry
