// A Redis client for the shared platform: a small pool of synchronous hiredis connections, with time limits on
// connect and on every command, and reconnection after any failure (while Redis is failing, at most one connect
// attempt per backoff period for the whole pool, so an outage costs callers a fast UNAVAILABLE, not a pile of
// blocked threads).
//
// Why a pool: with one connection behind a mutex every caller waited for every other caller's round trip, so the
// calls of a busy server (authentication epochs, latest values, quotas) queued on one socket. Each command takes
// an idle connection for its round trip; connections are opened on demand (a client used from one thread holds
// one), and the most recently used is reused first, so a light load keeps few connections warm.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct redisContext;
struct redisReply;

namespace parkbase {

class PoolMetrics;

// Connections per client. Redis answers a simple command in tens of microseconds; what a caller waits for is the
// round trip, so a few connections let as many callers overlap as this 2-core class of machine can feed, and each
// replica costs Redis only a handful of clients (its default maxclients is 10,000).
inline constexpr int kDefaultRedisPoolSize = 8;

// A decoded reply: a string, an integer, nil, or an array of replies.
struct RedisReply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus };
  Type type = Type::kNil;
  std::string text;
  int64_t integer = 0;
  std::vector<RedisReply> elements;
};

// A reply as hiredis decoded it, read in place: for large replies read once (GetLatest's 100 hashes), where
// copying every element into a RedisReply cost as much as the rest of the call. Valid only inside the visitor that
// receives it.
class RedisReplyView {
 public:
  explicit RedisReplyView(const redisReply& reply) : reply_(reply) {}
  bool is_nil() const;
  bool is_array() const;
  // The text of a string or status reply; empty otherwise.
  absl::string_view text() const;
  // Elements of an array reply; 0 otherwise.
  size_t size() const;
  RedisReplyView element(size_t i) const;

 private:
  const redisReply& reply_;
};

struct RedisAddress {
  std::string host;
  int port = 6379;
  std::string password;
  int database = 0;
};

// Parses redis://[:password@]host[:port][/db].
absl::StatusOr<RedisAddress> ParseRedisUrl(const std::string& url);

class RedisClient {
 public:
  struct Options {
    std::string url;
    absl::Duration connect_timeout = absl::Seconds(2);
    absl::Duration command_timeout = absl::Seconds(2);
    absl::Duration reconnect_backoff = absl::Milliseconds(500);
    // At most this many connections, each serving one command at a time. A command that finds them all busy
    // waits up to command_timeout for one, then is UNAVAILABLE.
    int pool_size = kDefaultRedisPoolSize;
    // As DbPool::Options::metrics.
    std::shared_ptr<PoolMetrics> metrics = nullptr;
    // Set: every new connection AUTHs with the password in this file (read again each time, whitespace trimmed)
    // instead of url's, so a rotated Secret reaches reconnects without a restart.
    std::string password_file = {};
  };

  static absl::StatusOr<std::unique_ptr<RedisClient>> Create(Options options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command, e.g. Command({"SET", key, value}), on an idle connection of the pool; calls from several
  // threads overlap. A Redis error reply is FAILED_PRECONDITION with its text; a lost connection is UNAVAILABLE and
  // the next call on it reconnects.
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args);
  // As Command, but hands the reply to `visit` in place instead of copying it; `visit`'s status is returned.
  absl::Status Visit(const std::vector<std::string>& args, absl::FunctionRef<absl::Status(RedisReplyView)> visit);

  absl::Status Ping();

 private:
  RedisClient(Options options, RedisAddress address);
  // Takes an idle connection slot (its context may be null: not connected yet); nullopt when none came free
  // within command_timeout.
  std::optional<size_t> Acquire();
  void Release(size_t slot);
  // Runs `args` on a pooled connection and hands the raw reply (never an error reply) to `use`.
  absl::Status Run(const std::vector<std::string>& args, absl::FunctionRef<absl::Status(const redisReply&)> use);
  // Connects `context` (a slot's, owned by the caller between Acquire and Release) when it is not connected.
  absl::Status EnsureConnected(redisContext*& context);

  const Options options_;
  const RedisAddress address_;
  absl::Mutex mu_;
  // One context per slot; a slot's context is touched only by the thread that acquired the slot.
  std::vector<redisContext*> contexts_;
  // Idle slots, the most recently released last (taken first).
  std::vector<size_t> idle_ ABSL_GUARDED_BY(mu_);
  // Set when a connect failed: until next_connect_attempt_ no slot tries again.
  bool failing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_connect_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace parkbase
