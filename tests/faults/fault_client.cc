// fault_client: the Jepsen-style client of the fault tests (faults.sh). It writes a fixed history of batches through
// TelemetryService/WriteStream while faults.sh kills and restarts PostgreSQL, Redis or the server, retries like a
// gateway does (reconnect with back-off, resend every unacknowledged batch with its batch id, in order), then reads
// the device's points back with ReadRange and checks them against what it sent and what was acknowledged:
//
//   attempted     points of batches sent at least once
//   acknowledged  points of batches answered without `error` (first commit or `duplicate: true`)
//   stored        distinct sent points that ReadRange returns with the value sent
//   lost          acknowledged points not stored                                   (must be 0)
//   duplicated    points of batches answered `duplicate: false` more than once       (must be 0)
//   unexpected    points ReadRange returns that were never sent, with another value,
//                 or more than once                                                  (must be 0)
//   recovered     acknowledged points of batches that needed more than one attempt
//
// Batch i (`b<i>`) holds points_per_batch points of one DOUBLE metric at start_ms + i * points_per_batch + j, a
// timestamp no other batch uses, with value 1000 + k / 8 for the k-th point overall: eighths are exact both in
// binary and as the codec's scaled decimals, so a stored value either equals the sent one or is wrong.
//
// Prints `faults <scenario>: attempted=.. acknowledged=.. stored=.. lost=.. duplicated=.. unexpected=.. recovered=..`
// (the same line, with more figures after it, goes to --report), and exits 1 when lost, duplicated or unexpected is
// not 0, some batch was not acknowledged before --deadline_seconds, or an answer broke the protocol (out of order,
// or fewer points accepted than sent); 2 on bad flags.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"

ABSL_FLAG(std::string, address, "", "The server, host:port (plaintext)");
ABSL_FLAG(std::string, key, "", "API key that may write and read the tenant's telemetry");
ABSL_FLAG(std::string, tenant, "", "Tenant id");
ABSL_FLAG(std::string, device, "", "Device id");
ABSL_FLAG(std::string, metric, "", "A VALUE_TYPE_DOUBLE metric of the device's type");
ABSL_FLAG(int32_t, batches, 200, "Batches to write");
ABSL_FLAG(int32_t, points_per_batch, 500, "Points a batch");
ABSL_FLAG(int64_t, start_ms, 0, "Timestamp of the first point, ms since the epoch; 0: an hour ago");
ABSL_FLAG(std::string, writer_id, "fault-client", "The WriteRequest.writer_id that scopes the batch ids");
ABSL_FLAG(std::string, report, "", "File for the result line");
ABSL_FLAG(int32_t, deadline_seconds, 120, "Time to get every batch acknowledged, and then again to read back");
ABSL_FLAG(std::string, scenario, "client", "Name printed in the result line");
ABSL_FLAG(int32_t, in_flight, 4, "Batches sent ahead of their answers on a stream");
ABSL_FLAG(int32_t, pace_ms, 0,
          "Least time between two sends of the first attempt, so a fault script has time to strike mid-stream; "
          "resends after a failure are not paced");
ABSL_FLAG(int32_t, stall_seconds, 20,
          "A stream with batches outstanding and no answer for this long is abandoned and opened again");
ABSL_FLAG(std::string, progress_file, "",
          "File rewritten as batches are acknowledged: `acked=<batches> streams=<n> phase=<writing|written|verifying|"
          "done>`, so a fault script can time its faults");
ABSL_FLAG(std::string, verify_gate, "",
          "When set, wait after writing until this file exists before reading back (e.g. until compaction ends)");

namespace parkbase::faults {
namespace {

namespace pb = ::parkbase::telemetry::v1;
using SteadyClock = std::chrono::steady_clock;

// Back-off between stream attempts: short, since faults last seconds and a test waits for the recovery.
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);
// Each ReadRange page: the most the server allows.
constexpr int kReadPageSize = 10'000;

struct Options {
  std::string address, key, tenant, device, metric, writer_id, scenario, report, progress_file, verify_gate;
  int batches = 0;
  int points_per_batch = 0;
  int64_t start_ms = 0;
  int in_flight = 0;
  absl::Duration pace;
  absl::Duration deadline, stall;
};

// What happened to one batch over the whole run.
struct BatchRecord {
  int attempts = 0;         // times sent on a stream
  bool acknowledged = false;
  double ack_seconds = -1;  // since the start of the run
  int first_commits = 0;    // answers with duplicate=false and no error: more than one is a double commit
  int duplicate_answers = 0;
  int64_t accepted_points = -1;  // from the first successful answer
  std::string refused;           // a non-retryable `error`: the batch is not sent again
};

double Value(int64_t k) { return 1000.0 + static_cast<double>(k) / 8.0; }

bool Retryable(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return true;
    default:
      return false;
  }
}

std::string CodeName(int code) {
  // Abseil's names are gRPC's ("INVALID_ARGUMENT"); it has none for a code outside the canonical set.
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? absl::StrCat("CODE_", code) : name;
}

void Log(const std::string& line) {
  const std::string now = absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone());
  std::fprintf(stderr, "[fault_client %s] %s\n", now.c_str(), line.c_str());
}

// Writes `text` to `path` through a rename, so a reader never sees half of it.
void WriteFileAtomically(const std::string& path, const std::string& text) {
  if (path.empty()) return;
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
  }
  std::error_code ignored;
  std::filesystem::rename(temporary, path, ignored);
}

class FaultClient {
 public:
  explicit FaultClient(Options options) : options_(std::move(options)), records_(options_.batches) {
    grpc::ChannelArguments args;
    // gRPC's default reconnect back-off grows to two minutes; a restarted server must be found within a second.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(options_.address, grpc::InsecureChannelCredentials(), args);
    stub_ = pb::TelemetryService::NewStub(channel_);
    for (int i = 0; i < options_.batches; ++i) requests_.push_back(MakeBatch(i));
  }

  // Writes until every batch is acknowledged (or refused for good) or the deadline passes.
  void WriteAll() {
    start_ = SteadyClock::now();
    const absl::Time deadline = absl::Now() + options_.deadline;
    absl::Duration backoff = kFirstBackoff;
    Progress("writing");
    while (true) {
      std::vector<int> pending;
      {
        std::lock_guard lock(mu_);
        for (int i = 0; i < options_.batches; ++i) {
          if (!records_[i].acknowledged && records_[i].refused.empty()) pending.push_back(i);
        }
      }
      if (pending.empty()) break;
      if (absl::Now() >= deadline) {
        Log(absl::StrCat("deadline passed with ", pending.size(), " batches unacknowledged"));
        break;
      }
      const int acked_before = AckedBatches();
      const std::string outcome = StreamOnce(pending, deadline);
      const int acked_now = AckedBatches();
      if (outcome.empty()) continue;  // the stream ended cleanly; loop to check what is left
      Log(absl::StrCat("stream ", streams_, " failed after ", acked_now - acked_before, " acknowledgements: ", outcome,
                       "; reconnecting in ", absl::FormatDuration(backoff)));
      if (acked_now > acked_before) backoff = kFirstBackoff;
      absl::SleepFor(std::min(backoff, std::max(deadline - absl::Now(), absl::ZeroDuration())));
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    write_seconds_ = std::chrono::duration<double>(SteadyClock::now() - start_).count();
    Progress("written");
  }

  // Reads every point of the device's metric back and prints the verdict. Returns the exit code.
  int VerifyAndReport() {
    if (!options_.verify_gate.empty()) {
      const absl::Time gate_deadline = absl::Now() + options_.deadline;
      while (!std::filesystem::exists(options_.verify_gate) && absl::Now() < gate_deadline) {
        absl::SleepFor(absl::Milliseconds(50));
      }
      if (!std::filesystem::exists(options_.verify_gate)) Log("the verify gate never opened; reading back anyway");
    }
    Progress("verifying");
    std::vector<pb::DataPoint> points;
    const std::string read_error = ReadBack(&points);

    const int m = options_.points_per_batch;
    const int64_t first_ms = options_.start_ms;
    const int64_t end_ms = first_ms + int64_t{options_.batches} * m;
    std::vector<uint8_t> seen(static_cast<size_t>(options_.batches) * m, 0);
    int64_t unexpected = 0, never_sent = 0, wrong_value = 0, read_twice = 0;
    for (const pb::DataPoint& point : points) {
      const int64_t ms = point.time().seconds() * 1000 + point.time().nanos() / 1'000'000;
      if (point.metric() != options_.metric || ms < first_ms || ms >= end_ms) {
        ++unexpected;
        if (never_sent++ < 5) Log(absl::StrCat("point never sent: ", point.ShortDebugString()));
        continue;
      }
      const int64_t k = ms - first_ms;
      const double want = Value(k);
      if (!point.value().has_double_value() || point.value().double_value() != want) {
        ++unexpected;
        if (wrong_value++ < 5) Log(absl::StrCat("wrong value, want ", want, ": ", point.ShortDebugString()));
        continue;
      }
      if (seen[k]++ > 0) {
        ++unexpected;
        if (read_twice++ < 5) Log(absl::StrCat("point read more than once: ", point.ShortDebugString()));
      }
    }

    int64_t attempted = 0, acknowledged = 0, stored = 0, lost = 0, duplicated = 0, recovered = 0;
    int acked_batches = 0, unacked_batches = 0, refused_batches = 0, double_commits = 0, max_attempts = 0;
    // Batches committed whose first answer never arrived (a broken stream, or a commit reported as "outcome
    // unknown"): acknowledged only by a `duplicate` answer to a resend. The process that committed them counted
    // them only if it sent that lost answer.
    int answer_lost_batches = 0;
    int64_t short_answers = 0;
    std::unique_lock lock(mu_);
    for (int i = 0; i < options_.batches; ++i) {
      const BatchRecord& record = records_[i];
      int64_t stored_here = 0;
      for (int j = 0; j < m; ++j) stored_here += seen[static_cast<size_t>(i) * m + j] > 0 ? 1 : 0;
      stored += stored_here;
      max_attempts = std::max(max_attempts, record.attempts);
      if (record.attempts > 0) attempted += m;
      if (!record.refused.empty()) {
        ++refused_batches;
        Log(absl::StrCat("batch b", i, " refused: ", record.refused));
      }
      if (record.first_commits > 1) {
        ++double_commits;
        duplicated += m;
        Log(absl::StrCat("batch b", i, " was answered duplicate=false ", record.first_commits, " times"));
      }
      if (!record.acknowledged) {
        ++unacked_batches;
        continue;
      }
      ++acked_batches;
      acknowledged += m;
      if (record.first_commits == 0) answer_lost_batches++;
      if (record.accepted_points != m) {
        ++short_answers;
        Log(absl::StrCat("batch b", i, " was answered accepted_points=", record.accepted_points, ", want ", m));
      }
      lost += m - stored_here;
      if (stored_here != m) Log(absl::StrCat("batch b", i, " acknowledged but ", m - stored_here, " points missing"));
      if (record.attempts > 1) recovered += m;
    }
    // How long the fault held the writes up: the longest wait between two acknowledgements.
    std::vector<double> ack_times;
    for (const BatchRecord& record : records_) {
      if (record.acknowledged) ack_times.push_back(record.ack_seconds);
    }
    std::sort(ack_times.begin(), ack_times.end());
    double longest_gap = 0;
    for (size_t i = 1; i < ack_times.size(); ++i) longest_gap = std::max(longest_gap, ack_times[i] - ack_times[i - 1]);
    std::vector<std::string> codes;
    for (const auto& [name, count] : failure_codes_) codes.push_back(absl::StrCat(name, ":", count));
    const int duplicate_answers = DuplicateAnswersLocked();
    const int protocol_errors = protocol_errors_;
    lock.unlock();

    const std::string line = absl::StrCat("faults ", options_.scenario, ": attempted=", attempted,
                                          " acknowledged=", acknowledged, " stored=", stored, " lost=", lost,
                                          " duplicated=", duplicated, " unexpected=", unexpected,
                                          " recovered=", recovered);
    const std::string details = absl::StrCat(
        "batches=", options_.batches, " acked_batches=", acked_batches, " unacked_batches=", unacked_batches,
        " refused_batches=", refused_batches, " double_commits=", double_commits, " short_answers=", short_answers,
        " duplicate_answers=", duplicate_answers, " answer_lost_batches=", answer_lost_batches,
        " protocol_errors=", protocol_errors, " max_attempts=", max_attempts, " streams=", streams_,
        " read_points=", points.size(),
        " read_twice=", read_twice, " write_seconds=", absl::StrFormat("%.1f", write_seconds_),
        " longest_ack_gap_seconds=", absl::StrFormat("%.1f", longest_gap),
        " failures=", codes.empty() ? "none" : absl::StrJoin(codes, ","));
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    Log(details);
    // Also wrong: an answer out of order or for a batch not sent (protocol_errors), and an answer that did not
    // accept every point of a batch whose points are all valid (short_answers).
    const bool ok = lost == 0 && duplicated == 0 && unexpected == 0 && unacked_batches == 0 && short_answers == 0 &&
                    protocol_errors == 0 && read_error.empty();
    if (!read_error.empty()) Log(absl::StrCat("read back failed: ", read_error));
    WriteFileAtomically(options_.report, absl::StrCat(line, " ", details, " verdict=", ok ? "PASS" : "FAIL", "\n"));
    Progress("done");
    return ok ? 0 : 1;
  }

 private:
  pb::WriteRequest MakeBatch(int i) const {
    pb::WriteRequest request;
    request.set_parent(absl::StrCat("tenants/", options_.tenant));
    request.set_batch_id(absl::StrCat("b", i));
    request.set_writer_id(options_.writer_id);
    pb::Series* series = request.add_series();
    series->set_device(options_.device);
    series->set_metric(options_.metric);
    for (int j = 0; j < options_.points_per_batch; ++j) {
      const int64_t k = int64_t{i} * options_.points_per_batch + j;
      series->add_timestamps_ms(options_.start_ms + k);
      series->add_double_values(Value(k));
    }
    return request;
  }

  std::unique_ptr<grpc::ClientContext> Context(absl::Time deadline) const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.key));
    context->set_deadline(absl::ToChronoTime(deadline));
    return context;
  }

  int AckedBatches() {
    std::lock_guard lock(mu_);
    int acked = 0;
    for (const BatchRecord& record : records_) acked += record.acknowledged ? 1 : 0;
    return acked;
  }

  int DuplicateAnswersLocked() const {
    int answers = 0;
    for (const BatchRecord& record : records_) answers += record.duplicate_answers;
    return answers;
  }

  void Progress(const std::string& phase) {
    WriteFileAtomically(options_.progress_file,
                        absl::StrCat("acked=", AckedBatches(), " streams=", streams_, " phase=", phase, "\n"));
  }

  // One stream: sends `pending` in order with up to in_flight unanswered and records every answer. Returns "" when
  // the stream ended cleanly with every batch sent answered, else why it failed (the caller reconnects).
  std::string StreamOnce(const std::vector<int>& pending, absl::Time deadline) {
    ++streams_;
    std::unique_ptr<grpc::ClientContext> context = Context(deadline);
    std::unique_ptr<grpc::ClientReaderWriter<pb::WriteRequest, pb::WriteResponse>> stream =
        stub_->WriteStream(context.get());
    std::deque<int> outstanding;  // sent on this stream, not answered yet, in order
    bool stopped = false;         // no more sending: the stream failed or a batch asked for a resend
    std::string failure;
    bool cancelled_here = false;  // a CANCELLED status is then ours, not the server's
    SteadyClock::time_point last_answer = SteadyClock::now();
    // With mu_ held. Cancelling at once unblocks a Write and the Read; answers still on the way are lost, and their
    // batches are sent again (answered `duplicate`).
    auto fail = [&](std::string why, bool cancel = true) {
      if (failure.empty()) failure = std::move(why);
      stopped = true;
      if (cancel) {
        cancelled_here = true;
        context->TryCancel();
      }
      cv_.notify_all();
    };

    std::thread reader([&] {
      pb::WriteResponse response;
      while (stream->Read(&response)) {
        std::lock_guard lock(mu_);
        last_answer = SteadyClock::now();
        if (outstanding.empty()) {
          fail(absl::StrCat("answer for ", response.batch_id(), " with no batch outstanding"));
          protocol_errors_++;
          break;
        }
        const int i = outstanding.front();
        outstanding.pop_front();
        BatchRecord& record = records_[i];
        if (response.batch_id() != requests_[i].batch_id()) {
          protocol_errors_++;
          fail(absl::StrCat("answer for ", response.batch_id(), " where b", i, " was next"));
          break;
        }
        if (response.has_error()) {
          const int code = response.error().code();
          failure_codes_[absl::StrCat("batch_", CodeName(code))]++;
          if (Retryable(code)) {
            fail(absl::StrCat("b", i, " answered ", CodeName(code), ": ", response.error().message()));
            break;
          }
          record.refused = absl::StrCat(CodeName(code), ": ", response.error().message());
          cv_.notify_all();
          continue;
        }
        if (response.duplicate()) {
          record.duplicate_answers++;
        } else {
          record.first_commits++;
        }
        if (!record.acknowledged) {
          record.acknowledged = true;
          record.ack_seconds = std::chrono::duration<double>(SteadyClock::now() - start_).count();
          record.accepted_points = response.accepted_points();
        }
        acked_since_progress_++;
        cv_.notify_all();
      }
      std::lock_guard lock(mu_);
      // The server ended the stream (Finish below says how) or we cancelled it: nothing more to cancel.
      if (!outstanding.empty()) {
        fail(absl::StrCat("stream ended with ", outstanding.size(), " batches unanswered"), /*cancel=*/false);
      }
      reader_done_ = true;
      cv_.notify_all();
    });

    // The watchdog abandons a stream whose answers stopped (the main thread may be blocked in Write then) and keeps
    // the progress file current.
    bool finished = false;
    std::thread watchdog([&] {
      std::unique_lock lock(mu_);
      while (!finished) {
        cv_.wait_for(lock, std::chrono::milliseconds(100));
        FlushProgressLocked();
        if (!stopped && !outstanding.empty() &&
            SteadyClock::now() - last_answer > absl::ToChronoNanoseconds(options_.stall)) {
          fail(absl::StrCat("no answer for ", absl::FormatDuration(options_.stall)));
        }
      }
    });

    for (int i : pending) {
      if (options_.pace > absl::ZeroDuration() && records_[i].attempts == 0) {
        absl::SleepFor(std::max(next_send_ - absl::Now(), absl::ZeroDuration()));
        next_send_ = absl::Now() + options_.pace;
      }
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopped || static_cast<int>(outstanding.size()) < options_.in_flight; });
        if (stopped) break;
        records_[i].attempts++;
        outstanding.push_back(i);
        if (outstanding.size() == 1) last_answer = SteadyClock::now();
      }
      if (!stream->Write(requests_[i])) {
        std::lock_guard lock(mu_);
        // The call is over (Finish below says why): cancelling now would only hide the server's status.
        fail("the stream refused a write (it ended)", /*cancel=*/false);
        break;
      }
    }
    {
      std::unique_lock lock(mu_);
      if (!stopped) {
        // Every batch is sent: close our side and wait for the answers (or a failure, or a stall).
        lock.unlock();
        stream->WritesDone();
        lock.lock();
        cv_.wait(lock, [&] { return reader_done_ || stopped; });
      }
    }
    reader.join();
    {
      std::lock_guard lock(mu_);
      finished = true;
      cv_.notify_all();
    }
    watchdog.join();
    const grpc::Status status = stream->Finish();
    std::lock_guard lock(mu_);
    reader_done_ = false;
    FlushProgressLocked();
    if (!status.ok()) {
      const bool ours = cancelled_here && status.error_code() == grpc::StatusCode::CANCELLED;
      failure_codes_[ours ? "stream_cancelled_by_client" : absl::StrCat("stream_", CodeName(status.error_code()))]++;
      if (failure.empty()) failure = absl::StrCat("stream ended ", CodeName(status.error_code()));
      absl::StrAppend(&failure, " (stream status ", CodeName(status.error_code()), ": ", status.error_message(), ")");
    }
    return failure;
  }

  // Rewrites the progress file when batches were acknowledged since the last time (with mu_ held).
  void FlushProgressLocked() {
    if (acked_since_progress_ == 0 || options_.progress_file.empty()) return;
    acked_since_progress_ = 0;
    int acked = 0;
    for (const BatchRecord& record : records_) acked += record.acknowledged ? 1 : 0;
    WriteFileAtomically(options_.progress_file,
                        absl::StrCat("acked=", acked, " streams=", streams_, " phase=writing\n"));
  }

  // Every point of the device's metric around the written range, page by page; retries UNAVAILABLE and friends.
  std::string ReadBack(std::vector<pb::DataPoint>* points) {
    const absl::Time deadline = absl::Now() + options_.deadline;
    pb::ReadRangeRequest request;
    request.set_parent(absl::StrCat("tenants/", options_.tenant));
    request.set_device(options_.device);
    request.add_metrics(options_.metric);
    // A day either side: a point stored at a time the client never used is found too.
    const int64_t from_ms = options_.start_ms - 86'400'000;
    const int64_t to_ms = options_.start_ms + int64_t{options_.batches} * options_.points_per_batch + 86'400'000;
    request.mutable_start_time()->set_seconds(from_ms / 1000);
    request.mutable_end_time()->set_seconds(to_ms / 1000 + 1);
    request.set_page_size(kReadPageSize);
    absl::Duration backoff = kFirstBackoff;
    while (true) {
      pb::ReadRangeResponse response;
      std::unique_ptr<grpc::ClientContext> context = Context(std::min(deadline, absl::Now() + absl::Seconds(30)));
      const grpc::Status status = stub_->ReadRange(context.get(), request, &response);
      if (!status.ok()) {
        failure_codes_[absl::StrCat("read_", CodeName(status.error_code()))]++;
        if (!Retryable(status.error_code()) || absl::Now() >= deadline) {
          return absl::StrCat("ReadRange: ", CodeName(status.error_code()), ": ", status.error_message());
        }
        Log(absl::StrCat("ReadRange ", CodeName(status.error_code()), ": ", status.error_message(), "; retrying"));
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      backoff = kFirstBackoff;
      for (pb::DataPoint& point : *response.mutable_points()) points->push_back(std::move(point));
      if (response.next_page_token().empty()) return "";
      request.set_page_token(response.next_page_token());
    }
  }

  const Options options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::TelemetryService::Stub> stub_;
  std::vector<pb::WriteRequest> requests_;
  SteadyClock::time_point start_;
  double write_seconds_ = 0;
  absl::Time next_send_ = absl::InfinitePast();
  int streams_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<BatchRecord> records_;  // guarded by mu_
  std::map<std::string, int> failure_codes_;
  int protocol_errors_ = 0;
  int acked_since_progress_ = 0;
  bool reader_done_ = false;
};

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  Options options;
  options.address = absl::GetFlag(FLAGS_address);
  options.key = absl::GetFlag(FLAGS_key);
  options.tenant = absl::GetFlag(FLAGS_tenant);
  options.device = absl::GetFlag(FLAGS_device);
  options.metric = absl::GetFlag(FLAGS_metric);
  options.writer_id = absl::GetFlag(FLAGS_writer_id);
  options.scenario = absl::GetFlag(FLAGS_scenario);
  options.report = absl::GetFlag(FLAGS_report);
  options.progress_file = absl::GetFlag(FLAGS_progress_file);
  options.verify_gate = absl::GetFlag(FLAGS_verify_gate);
  options.batches = absl::GetFlag(FLAGS_batches);
  options.points_per_batch = absl::GetFlag(FLAGS_points_per_batch);
  options.start_ms = absl::GetFlag(FLAGS_start_ms);
  options.in_flight = absl::GetFlag(FLAGS_in_flight);
  options.pace = absl::Milliseconds(absl::GetFlag(FLAGS_pace_ms));
  options.deadline = absl::Seconds(absl::GetFlag(FLAGS_deadline_seconds));
  options.stall = absl::Seconds(absl::GetFlag(FLAGS_stall_seconds));
  if (options.start_ms == 0) options.start_ms = absl::ToUnixMillis(absl::Now() - absl::Hours(1));
  std::string problem;
  if (options.address.empty()) problem = "--address: required";
  if (options.key.empty()) problem = "--key: required";
  if (options.tenant.empty()) problem = "--tenant: required";
  if (options.device.empty()) problem = "--device: required";
  if (options.metric.empty()) problem = "--metric: required";
  if (options.batches < 1) problem = "--batches: must be at least 1";
  if (options.points_per_batch < 1) problem = "--points_per_batch: must be at least 1";
  if (options.in_flight < 1) problem = "--in_flight: must be at least 1";
  if (options.pace < absl::ZeroDuration()) problem = "--pace_ms: must not be negative";
  if (options.deadline <= absl::ZeroDuration()) problem = "--deadline_seconds: must be positive";
  if (options.stall <= absl::ZeroDuration()) problem = "--stall_seconds: must be positive";
  if (!problem.empty()) {
    std::fprintf(stderr, "fault_client: %s\n", problem.c_str());
    return 2;
  }
  FaultClient client(options);
  client.WriteAll();
  return client.VerifyAndReport();
}

}  // namespace
}  // namespace parkbase::faults

int main(int argc, char** argv) { return parkbase::faults::Main(argc, argv); }
