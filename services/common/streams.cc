#include "common/streams.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_names.h"

namespace parkbase {
namespace {

// A client refused for a full stream table retries after this; streams come and go within seconds.
constexpr absl::Duration kStreamRetryAfter = absl::Seconds(5);

bool EndsStream(const absl::Status& status) {
  // Only a verdict on the credential ends a stream; a database outage leaves streams as they are (the check is
  // repeated on the next interval).
  return absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status);
}

}  // namespace

struct StreamRegistry::Stream::State {
  mutable absl::Mutex mu;
  bool admitted ABSL_GUARDED_BY(mu) = false;
  absl::Status ended ABSL_GUARDED_BY(mu);
  absl::Time last_activity ABSL_GUARDED_BY(mu);
};

StreamRegistry::Stream::Stream(StreamRegistry& registry, int64_t id, std::shared_ptr<State> state)
    : registry_(registry), id_(id), state_(std::move(state)) {}

StreamRegistry::Stream::~Stream() { registry_.Close(id_); }

void StreamRegistry::Stream::Touch() {
  const absl::Time now = registry_.clock_.Now();
  absl::MutexLock lock(&state_->mu);
  state_->last_activity = now;
}

void StreamRegistry::Stream::MarkAdmitted() {
  absl::MutexLock lock(&state_->mu);
  state_->admitted = true;
}

absl::Status StreamRegistry::Stream::Check() const {
  absl::MutexLock lock(&state_->mu);
  if (!state_->admitted) return absl::PermissionDeniedError("the stream's first message was not admitted");
  return state_->ended;
}

StreamRegistry::StreamRegistry(Limits limits, Authenticator& authenticator, Clock& clock)
    : limits_(limits), authenticator_(authenticator), clock_(clock) {
  watchdog_ = std::thread([this] { Watch(); });
}

StreamRegistry::~StreamRegistry() {
  stop_.Notify();
  if (watchdog_.joinable()) watchdog_.join();
}

int StreamRegistry::open() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(entries_.size());
}

absl::StatusOr<std::unique_ptr<StreamRegistry::Stream>> StreamRegistry::Open(grpc::ServerContextBase* context,
                                                                              const Principal& caller,
                                                                              std::string authorization,
                                                                              absl::string_view method,
                                                                              bool client_sends,
                                                                              bool holds_thread) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  const std::string subject = absl::StrCat("tenants/", caller.tenant_id);
  if (static_cast<int>(entries_.size()) >= limits_.max_streams) {
    return QuotaError("server", "max_streams",
                      absl::StrCat("this server holds its maximum of ", limits_.max_streams,
                                   " open streams; retry, or use another replica"),
                      kStreamRetryAfter);
  }
  if (holds_thread && thread_streams_ >= limits_.max_thread_streams) {
    return QuotaError("server", "max_thread_streams",
                      absl::StrCat("this server's ", limits_.max_thread_streams,
                                   " threads for streams of this kind are taken (--server_threads minus a reserve); "
                                   "retry, or use another replica"),
                      kStreamRetryAfter);
  }
  int& per_key = per_key_[caller.key_id];
  if (per_key >= limits_.per_key) {
    return QuotaError(caller.KeyName(), "max_streams_per_key",
                      absl::StrCat("an API key may hold at most ", limits_.per_key,
                                   " open streams on a server; close one or use another key"),
                      kStreamRetryAfter);
  }
  int& per_tenant = per_tenant_[caller.tenant_id];
  if (per_tenant >= limits_.per_tenant) {
    return QuotaError(subject, "max_streams_per_tenant",
                      absl::StrCat("a tenant may hold at most ", limits_.per_tenant, " open streams on a server"),
                      kStreamRetryAfter);
  }
  ++per_key;
  ++per_tenant;
  if (holds_thread) ++thread_streams_;
  auto state = std::make_shared<Stream::State>();
  {
    absl::MutexLock state_lock(&state->mu);
    state->last_activity = now;
  }
  const int64_t id = next_id_++;
  entries_.emplace(id, Entry{context, caller.key_id, caller.tenant_id, std::move(authorization), std::string(method),
                             client_sends, holds_thread, now, state});
  return std::unique_ptr<Stream>(new Stream(*this, id, std::move(state)));
}

void StreamRegistry::Close(int64_t id) {
  absl::MutexLock lock(&mu_);
  auto found = entries_.find(id);
  if (found == entries_.end()) return;
  if (--per_key_[found->second.key_id] <= 0) per_key_.erase(found->second.key_id);
  if (--per_tenant_[found->second.tenant_id] <= 0) per_tenant_.erase(found->second.tenant_id);
  if (found->second.holds_thread) --thread_streams_;
  entries_.erase(found);
}

void StreamRegistry::EndLocked(Entry& entry, absl::Status why) {
  {
    absl::MutexLock state_lock(&entry.state->mu);
    if (!entry.state->ended.ok()) return;
    entry.state->ended = why;
  }
  entry.ended_at = absl::Now();  // the grace before cancelling runs on real time
  LogLine(LogLevel::kInfo, "stream ended")
      .Str("method", entry.method)
      .Str("tenant", entry.tenant_id)
      .Str("code", GrpcCodeName(why.code()))
      .Str("reason", why.message())
      .Emit();
  // A server-streaming handler notices the flag within its loop and answers with `why` itself; a client-sending
  // one may be blocked reading, and only a cancellation wakes it (its client then sees CANCELLED).
}

void StreamRegistry::Watch() {
  while (!stop_.WaitForNotificationWithTimeout(limits_.recheck_interval)) {
    // Credentials first, outside the lock: one look-up per distinct key.
    std::vector<std::string> authorizations;
    {
      absl::MutexLock lock(&mu_);
      absl::flat_hash_map<std::string, bool> seen;
      for (const auto& [id, entry] : entries_) {
        if (seen.emplace(entry.authorization, true).second) authorizations.push_back(entry.authorization);
      }
    }
    absl::flat_hash_map<std::string, absl::Status> verdicts;
    for (const std::string& authorization : authorizations) {
      absl::StatusOr<Principal> principal = authenticator_.Authenticate(authorization);
      if (!principal.ok() && EndsStream(principal.status())) verdicts.emplace(authorization, principal.status());
    }
    const absl::Time now = clock_.Now();
    absl::MutexLock lock(&mu_);
    for (auto& [id, entry] : entries_) {
      auto verdict = verdicts.find(entry.authorization);
      if (verdict != verdicts.end()) {
        EndLocked(entry, verdict->second);
      } else if (now - entry.opened >= limits_.max_age) {
        EndLocked(entry, absl::UnavailableError(absl::StrCat("stream reached its maximum age of ",
                                                             absl::FormatDuration(limits_.max_age),
                                                             "; open a new one")));
      } else if (entry.client_sends) {
        absl::Time last;
        {
          absl::MutexLock state_lock(&entry.state->mu);
          last = entry.state->last_activity;
        }
        if (now - last >= limits_.idle_timeout) {
          EndLocked(entry, absl::DeadlineExceededError(absl::StrCat("stream idle for ",
                                                                    absl::FormatDuration(limits_.idle_timeout),
                                                                    "; open a new one when there is data to send")));
        }
      }
      // An ended stream whose handler did not finish within two intervals is blocked (in a read, or a write to a
      // client that stopped reading): cancel it. Handlers that loop (Subscribe waits at most 250 ms at a time) end
      // themselves first, with the status that says why. The context is valid while the entry exists (Close takes
      // mu_).
      if (entry.ended_at != absl::InfiniteFuture() && absl::Now() - entry.ended_at >= 2 * limits_.recheck_interval) {
        entry.context->TryCancel();
      }
    }
  }
}

}  // namespace parkbase
