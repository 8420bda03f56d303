#include "common/redis.h"

#include <hiredis/hiredis.h>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/pool_metrics.h"
#include "common/secret_file.h"

namespace parkbase {
namespace {

RedisReply Decode(const redisReply* reply) {
  RedisReply result;
  switch (reply->type) {
    case REDIS_REPLY_STRING:
      result.type = RedisReply::Type::kString;
      result.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_STATUS:
      result.type = RedisReply::Type::kStatus;
      result.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_INTEGER:
      result.type = RedisReply::Type::kInteger;
      result.integer = reply->integer;
      break;
    case REDIS_REPLY_ARRAY:
      result.type = RedisReply::Type::kArray;
      // Reserved: a GetLatest of 100 devices decodes ~2,300 nested replies, and regrowing the vectors was a
      // visible share of its allocations.
      result.elements.reserve(reply->elements);
      for (size_t i = 0; i < reply->elements; ++i) result.elements.push_back(Decode(reply->element[i]));
      break;
    default:
      result.type = RedisReply::Type::kNil;
  }
  return result;
}

}  // namespace

absl::StatusOr<RedisAddress> ParseRedisUrl(const std::string& url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "redis://")) {
    return absl::InvalidArgumentError("redis_url: must start with redis://");
  }
  RedisAddress address;
  if (const auto at = rest.rfind('@'); at != absl::string_view::npos) {
    absl::string_view credentials = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    if (const auto colon = credentials.find(':'); colon != absl::string_view::npos) {
      credentials.remove_prefix(colon + 1);  // the user name before ':' is ignored by Redis < 6 AUTH
    }
    address.password = std::string(credentials);
  }
  if (const auto slash = rest.find('/'); slash != absl::string_view::npos) {
    absl::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty() && !absl::SimpleAtoi(db, &address.database)) {
      return absl::InvalidArgumentError("redis_url: database must be a number");
    }
  }
  if (const auto colon = rest.rfind(':'); colon != absl::string_view::npos) {
    if (!absl::SimpleAtoi(rest.substr(colon + 1), &address.port) || address.port <= 0 || address.port > 65535) {
      return absl::InvalidArgumentError("redis_url: port must be 1 to 65535");
    }
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return absl::InvalidArgumentError("redis_url: host is required");
  address.host = std::string(rest);
  return address;
}

absl::StatusOr<std::unique_ptr<RedisClient>> RedisClient::Create(Options options) {
  auto address = ParseRedisUrl(options.url);
  if (!address.ok()) return address.status();
  if (options.pool_size < 1) return absl::InvalidArgumentError("redis pool_size: must be at least 1");
  return std::unique_ptr<RedisClient>(new RedisClient(std::move(options), *std::move(address)));
}

RedisClient::RedisClient(Options options, RedisAddress address)
    : options_(std::move(options)), address_(std::move(address)), contexts_(options_.pool_size, nullptr) {
  absl::MutexLock lock(&mu_);
  // Slot 0 last: it is taken first.
  for (size_t slot = contexts_.size(); slot-- > 0;) idle_.push_back(slot);
  if (options_.metrics != nullptr) options_.metrics->AddCapacity(options_.pool_size);
}

RedisClient::~RedisClient() {
  if (options_.metrics != nullptr) options_.metrics->AddCapacity(-options_.pool_size);
  absl::MutexLock lock(&mu_);
  for (redisContext* context : contexts_) {
    if (context != nullptr) redisFree(context);
  }
}

std::optional<size_t> RedisClient::Acquire() {
  PoolMetrics* const metrics = options_.metrics.get();
  absl::Duration waited;
  absl::MutexLock lock(&mu_);
  auto has_idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !idle_.empty(); };
  if (!AwaitFreeConnection(mu_, absl::Condition(&has_idle), options_.command_timeout, metrics, waited)) {
    return std::nullopt;
  }
  const size_t slot = idle_.back();
  idle_.pop_back();
  if (metrics != nullptr) metrics->Acquired(waited);
  return slot;
}

void RedisClient::Release(size_t slot) {
  if (options_.metrics != nullptr) options_.metrics->Returned();
  absl::MutexLock lock(&mu_);
  idle_.push_back(slot);
}

absl::Status RedisClient::EnsureConnected(redisContext*& context) {
  if (context != nullptr && context->err == 0) return absl::OkStatus();
  if (context != nullptr) {
    redisFree(context);
    context = nullptr;
  }
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (now < next_connect_attempt_) return absl::UnavailableError("redis: unavailable; retry the call");
    // While Redis is failing, this attempt is the pool's one probe of the period; while it is fine, slots connect
    // side by side (a new slot, or one whose connection was dropped).
    if (failing_) next_connect_attempt_ = now + options_.reconnect_backoff;
  }
  auto failed = [&](absl::Status status) {
    absl::MutexLock lock(&mu_);
    failing_ = true;
    next_connect_attempt_ = now + options_.reconnect_backoff;
    return status;
  };
  const timeval connect_timeout = absl::ToTimeval(options_.connect_timeout);
  redisContext* connecting = redisConnectWithTimeout(address_.host.c_str(), address_.port, connect_timeout);
  if (connecting == nullptr || connecting->err != 0) {
    std::string error = connecting != nullptr ? connecting->errstr : "out of memory";
    if (connecting != nullptr) redisFree(connecting);
    LogLine(LogLevel::kWarning, "redis connect failed").Str("error", error).Emit();
    return failed(absl::UnavailableError("redis: cannot connect; retry the call"));
  }
  const timeval command_timeout = absl::ToTimeval(options_.command_timeout);
  redisSetTimeout(connecting, command_timeout);
  auto handshake = [&](std::vector<std::string> args) -> absl::Status {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const auto& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(connecting, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (reply == nullptr) return absl::UnavailableError("redis: connection lost during handshake");
    const bool refused = reply->type == REDIS_REPLY_ERROR;
    std::string text = refused ? std::string(reply->str, reply->len) : "";
    freeReplyObject(reply);
    if (refused) return absl::FailedPreconditionError(absl::StrCat("redis: ", text));
    return absl::OkStatus();
  };
  absl::Status status;
  std::string password = address_.password;
  if (!options_.password_file.empty()) {
    // Read per connect: after a rotation reconnects use the new password while open connections carry on.
    absl::StatusOr<std::string> from_file = ReadSecretFile(options_.password_file);
    if (from_file.ok()) {
      password = *std::move(from_file);
    } else {
      status = from_file.status();
    }
  }
  if (status.ok() && !password.empty()) status = handshake({"AUTH", password});
  if (status.ok() && address_.database != 0) status = handshake({"SELECT", absl::StrCat(address_.database)});
  if (!status.ok()) {
    redisFree(connecting);
    return failed(status);
  }
  context = connecting;
  absl::MutexLock lock(&mu_);
  failing_ = false;
  next_connect_attempt_ = absl::InfinitePast();
  return absl::OkStatus();
}

absl::Status RedisClient::Run(const std::vector<std::string>& args,
                              absl::FunctionRef<absl::Status(const redisReply&)> use) {
  const std::optional<size_t> slot = Acquire();
  if (!slot.has_value()) {
    return absl::UnavailableError(absl::StrCat("redis: all ", options_.pool_size,
                                               " connections stayed busy; retry the call"));
  }
  // The slot is this thread's until Release: its context needs no lock.
  struct Releaser {
    RedisClient* client;
    size_t slot;
    ~Releaser() { client->Release(slot); }
  } releaser{this, *slot};
  redisContext*& context = contexts_[*slot];
  if (absl::Status status = EnsureConnected(context); !status.ok()) return status;
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (reply == nullptr) {
    std::string error = context->errstr;
    redisFree(context);
    context = nullptr;
    LogLine(LogLevel::kWarning, "redis command failed").Str("error", error).Emit();
    return absl::UnavailableError("redis: connection lost; retry the call");
  }
  std::unique_ptr<redisReply, void (*)(void*)> owned(reply, freeReplyObject);
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::FailedPreconditionError(absl::StrCat("redis: ", absl::string_view(reply->str, reply->len)));
  }
  return use(*reply);
}

absl::StatusOr<RedisReply> RedisClient::Command(const std::vector<std::string>& args) {
  RedisReply decoded;
  absl::Status status = Run(args, [&](const redisReply& reply) {
    decoded = Decode(&reply);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return decoded;
}

absl::Status RedisClient::Visit(const std::vector<std::string>& args,
                                absl::FunctionRef<absl::Status(RedisReplyView)> visit) {
  return Run(args, [&](const redisReply& reply) { return visit(RedisReplyView(reply)); });
}

bool RedisReplyView::is_nil() const { return reply_.type == REDIS_REPLY_NIL; }
bool RedisReplyView::is_array() const { return reply_.type == REDIS_REPLY_ARRAY; }
absl::string_view RedisReplyView::text() const {
  if (reply_.type != REDIS_REPLY_STRING && reply_.type != REDIS_REPLY_STATUS) return {};
  return absl::string_view(reply_.str, reply_.len);
}
size_t RedisReplyView::size() const { return reply_.type == REDIS_REPLY_ARRAY ? reply_.elements : 0; }
RedisReplyView RedisReplyView::element(size_t i) const { return RedisReplyView(*reply_.element[i]); }

absl::Status RedisClient::Ping() {
  auto reply = Command({"PING"});
  if (!reply.ok()) return reply.status();
  if (reply->text != "PONG") return absl::UnavailableError("redis: unexpected PING answer");
  return absl::OkStatus();
}

}  // namespace parkbase
