// Open streaming calls (WriteStream, Subscribe, ImportDevices): admission limits per API key, per tenant and per
// server, and a watchdog that ends a stream whose credential stopped being valid (key revoked or expired, tenant
// suspended, device disabled), that sat idle, or that reached its maximum age.
//
// Why: gRPC's synchronous server holds one thread per open call. Without limits, one key's idle streams took every
// thread and the server refused all other tenants' calls and its own health check. Streams served through the
// callback API (Subscribe, WriteStream, ImportDevices: all of ours) hold no thread: they count against
// `max_streams` (memory) but not against `max_thread_streams`, which bounds only a stream served by a synchronous
// handler. And authentication runs
// when a call starts: a stream opened before a revocation would otherwise go on writing and reading for as long as the
// client keeps it. The watchdog checks every open stream's credential again every `recheck_interval` through the
// server's authenticator. That is the auth cache (auth_cache.h) when it is on: a revocation is then seen within
// recheck_interval (250 ms) plus the cache's epoch check (250 ms) plus one Redis round trip, inside the documented
// 1 s, and a thousand open device streams cost a few cache look-ups per interval rather than 4,000 database
// transactions a second. On the replica that made the change the cache drops the tenant's keys at once; with
// Redis unreachable the cache answers from the database, as the watchdog did before.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/auth.h"
#include "common/clock.h"
#include "grpcpp/server_context.h"

namespace parkbase {

class StreamRegistry {
 public:
  struct Limits {
    // Every open stream, whatever serves it (bounded by memory: docs/performance.md has the bytes an idle stream costs).
    int max_streams = 224;
    // Streams that hold a synchronous server thread each: server_threads minus a reserve for unary calls and health.
    int max_thread_streams = 224;
    int per_key = 16;
    int per_tenant = 64;
    absl::Duration idle_timeout = absl::Minutes(5);
    absl::Duration max_age = absl::Hours(1);
    // How often open streams' credentials, idleness and age are checked. With the auth cache's epoch check this
    // bounds how long a revoked credential keeps an open stream (documented as 1 s; see above).
    absl::Duration recheck_interval = absl::Milliseconds(250);
  };

  // Ages and idleness are measured on `clock` (the server's, fake in tests); the watchdog wakes on real time.
  StreamRegistry(Limits limits, Authenticator& authenticator, Clock& clock);
  ~StreamRegistry();
  StreamRegistry(const StreamRegistry&) = delete;
  StreamRegistry& operator=(const StreamRegistry&) = delete;

  // One admitted stream; unregisters when destroyed.
  class Stream {
   public:
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // The client sent a message: the stream is not idle.
    void Touch();
    // The access gate admitted the stream's request (CallRunner): until then Check refuses every side effect.
    void MarkAdmitted();
    // OK while the stream may go on; otherwise why it must end, which is what the call answers. Handlers check it
    // before every side effect (a commit, a delivery), so nothing happens on behalf of a revoked credential once
    // the watchdog has seen the revocation.
    absl::Status Check() const;

   private:
    friend class StreamRegistry;
    struct State;
    Stream(StreamRegistry& registry, int64_t id, std::shared_ptr<State> state);

    StreamRegistry& registry_;
    const int64_t id_;
    std::shared_ptr<State> state_;
  };

  // Admits a stream of `caller` (authenticated with `authorization`, the raw metadata value). RESOURCE_EXHAUSTED
  // with QuotaFailure naming the limit and RetryInfo when the key, the tenant or the server is at its limit.
  // `client_sends`: the client streams messages (idleness applies, and a blocked read is cancelled to end it).
  // `holds_thread`: a synchronous handler serves it (max_thread_streams applies).
  absl::StatusOr<std::unique_ptr<Stream>> Open(grpc::ServerContextBase* context, const Principal& caller,
                                               std::string authorization, absl::string_view method,
                                               bool client_sends, bool holds_thread = true);

  // Streams open now.
  int open();
  const Limits& limits() const { return limits_; }

 private:
  struct Entry {
    grpc::ServerContextBase* context;
    std::string key_id;
    std::string tenant_id;
    std::string authorization;
    std::string method;
    bool client_sends;
    bool holds_thread;
    absl::Time opened;
    std::shared_ptr<Stream::State> state;
    // When the stream was told to end (real time); a stream still open one interval later is cancelled.
    absl::Time ended_at = absl::InfiniteFuture();
  };

  void Close(int64_t id);
  void Watch();
  // Ends the stream with `why` (under mu_).
  void EndLocked(Entry& entry, absl::Status why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Limits limits_;
  Authenticator& authenticator_;
  Clock& clock_;
  absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<int64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> per_key_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> per_tenant_ ABSL_GUARDED_BY(mu_);
  int thread_streams_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Notification stop_;
  std::thread watchdog_;
};

}  // namespace parkbase
