// A Redis client for the shared platform: one synchronous hiredis connection behind a mutex, with time limits on
// connect and on every command, and reconnection after any failure (at most one attempt per backoff period, so a
// Redis outage costs callers a fast UNAVAILABLE, not a pile of blocked threads).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct redisContext;

namespace parkbase {

// A decoded reply: a string, an integer, nil, or an array of replies.
struct RedisReply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus };
  Type type = Type::kNil;
  std::string text;
  int64_t integer = 0;
  std::vector<RedisReply> elements;
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
  };

  static absl::StatusOr<std::unique_ptr<RedisClient>> Create(Options options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command, e.g. Command({"SET", key, value}). A Redis error reply is FAILED_PRECONDITION with its text;
  // a lost connection is UNAVAILABLE and the next call reconnects.
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args);

  absl::Status Ping();

 private:
  RedisClient(Options options, RedisAddress address);
  absl::Status EnsureConnected() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const RedisAddress address_;
  absl::Mutex mu_;
  redisContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Time next_connect_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace parkbase
