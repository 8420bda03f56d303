// WriteStreamPipeline with plain functions for its stages: a throwing worker or a thread that cannot start ends
// the stream with a status (the process survives), a stream that must end commits nothing more, answers keep the
// order of the batches, and one stream holds a bounded number of parsed bytes.
#include <atomic>
#include <deque>
#include <system_error>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "telemetry/write_stream.h"

namespace parkbase::telemetry {
namespace {

struct Script {
  int batches = 5;
  int64_t bytes_per_batch = 0;  // parse budget each read holds
  ParseBudget budget{int64_t{4} << 30};
  std::atomic<int> read{0};
  std::atomic<int> committed{0};
  absl::Mutex mu;
  std::vector<std::string> answers ABSL_GUARDED_BY(mu);

  WriteStreamPipeline::Stages Stages() {
    WriteStreamPipeline::Stages stages;
    stages.read = [this](pb::WriteRequest* request, ParseBudget::Reservation* held) -> absl::StatusOr<bool> {
      const int n = read.fetch_add(1);
      if (n >= batches) return false;
      request->set_parent("tenants/acme");
      request->set_batch_id(absl::StrCat("b", n));
      if (bytes_per_batch > 0) {
        auto reserved = budget.Reserve(bytes_per_batch, absl::Seconds(10), nullptr);
        if (!reserved.ok()) return reserved.status();
        *held = *std::move(reserved);
      }
      return true;
    };
    stages.prepare = [](const pb::WriteRequest& request) -> absl::StatusOr<TelemetryManager::PreparedBatch> {
      TelemetryManager::PreparedBatch batch;
      batch.identity.batch_id = request.batch_id();
      return batch;
    };
    stages.commit = [this](TelemetryManager::PreparedBatch batch) -> absl::StatusOr<pb::WriteResponse> {
      committed.fetch_add(1);
      pb::WriteResponse response;
      response.set_batch_id(batch.identity.batch_id);
      return response;
    };
    stages.may_commit = [] { return absl::OkStatus(); };
    stages.answer = [this](const pb::WriteResponse& response) {
      absl::MutexLock lock(&mu);
      answers.push_back(response.batch_id());
      return true;
    };
    stages.cancel = [] {};
    return stages;
  }
};

TEST_CASE("write stream: answers come in the order batches came", "[telemetry][unit]") {
  Script script;
  script.batches = 50;
  REQUIRE(WriteStreamPipeline::Run(script.Stages()).ok());
  absl::MutexLock lock(&script.mu);
  REQUIRE(script.answers.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(script.answers[i] == absl::StrCat("b", i));
}

TEST_CASE("write stream: a worker that throws ends the stream with INTERNAL, not the process",
          "[telemetry][unit][defects]") {
  Script script;
  WriteStreamPipeline::Stages stages = script.Stages();
  std::atomic<bool> cancelled{false};
  stages.prepare = [](const pb::WriteRequest& request) -> absl::StatusOr<TelemetryManager::PreparedBatch> {
    if (request.batch_id() == "b2") throw std::runtime_error("a bug in validation");
    return TelemetryManager::PreparedBatch{};
  };
  stages.cancel = [&] { cancelled = true; };
  const absl::Status status = WriteStreamPipeline::Run(stages);
  CHECK(status.code() == absl::StatusCode::kInternal);
  CHECK(cancelled);
  CHECK(script.committed < script.batches);

  SECTION("likewise a committer that throws") {
    Script other;
    WriteStreamPipeline::Stages throwing = other.Stages();
    throwing.commit = [](TelemetryManager::PreparedBatch) -> absl::StatusOr<pb::WriteResponse> {
      throw std::bad_alloc();
    };
    CHECK(WriteStreamPipeline::Run(throwing).code() == absl::StatusCode::kInternal);
  }
}

TEST_CASE("write stream: a worker thread that cannot start ends the stream with UNAVAILABLE",
          "[telemetry][unit][defects]") {
  Script script;
  int started = 0;
  const WriteStreamPipeline::ThreadStarter starter = [&](std::function<void()> body) {
    if (++started == 2) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    return std::thread(std::move(body));
  };
  const absl::Status status = WriteStreamPipeline::Run(script.Stages(), starter);
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
  const absl::Status status = WriteStreamPipeline::Run(stages);
  CHECK(status.code() == absl::StatusCode::kUnauthenticated);
  CHECK(script.committed == 2);
}

TEST_CASE("write stream: one stream holds a bounded number of parsed bytes", "[telemetry][unit][defects]") {
  Script script;
  script.batches = 12;
  script.bytes_per_batch = int64_t{100} << 20;  // 100 MiB each, so at most two are held at once
  WriteStreamPipeline::Stages stages = script.Stages();
  std::atomic<int64_t> most{0};
  stages.commit = [&](TelemetryManager::PreparedBatch batch) -> absl::StatusOr<pb::WriteResponse> {
    int64_t held = script.budget.in_use();
    int64_t seen = most.load();
    while (held > seen && !most.compare_exchange_weak(seen, held)) {
    }
    absl::SleepFor(absl::Milliseconds(5));
    pb::WriteResponse response;
    response.set_batch_id(batch.identity.batch_id);
    return response;
  };
  REQUIRE(WriteStreamPipeline::Run(stages).ok());
  CHECK(most.load() <= WriteStreamPipeline::kInFlightBytes + script.bytes_per_batch);
  CHECK(script.budget.in_use() == 0);
}

}  // namespace
}  // namespace parkbase::telemetry
