// Redis Cluster runs a multi-key command or a script only when all its keys hash to one slot, and a script may
// touch only keys of that slot. Parkbase keeps each tenant's keys in one slot with a `{tenant}` hash tag. This test
// watches Redis itself (MONITOR, which also shows every redis.call a Lua script makes) while a workload of two
// tenants runs the real code paths — writes (quota script, device-schema MGET and cache script, latest-value
// scripts), GetLatest (read and rebuild scripts), Subscribe (XREAD of the live feed) and a tenant's deletion (UNLINK
// of its keys) — and checks every command and every script run: each key has exactly one hash tag, a tenant id, and
// all keys of one command or one script (its declared KEYS and what it touched) hash to one slot, one tenant's.
// Slots are computed as Redis Cluster does: CRC16 (XMODEM) of the hash tag, mod 16384.
#include <hiredis/hiredis.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/names.h"
#include "common/redis.h"
#include "integration/telemetry_env.h"
#include "telemetry/redis_state.h"

namespace parkbase::testing {
namespace {

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), what Redis Cluster hashes keys with.
uint16_t Crc16(absl::string_view bytes) {
  uint16_t crc = 0;
  for (unsigned char byte : bytes) {
    crc ^= static_cast<uint16_t>(byte) << 8;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : crc << 1;
  }
  return crc;
}

// The hash tag Redis Cluster hashes: between the first '{' and the next '}', if that is not empty; else the key.
absl::string_view HashTag(absl::string_view key) {
  const size_t open = key.find('{');
  if (open == absl::string_view::npos) return key;
  const size_t close = key.find('}', open + 1);
  if (close == absl::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

int Slot(absl::string_view key) { return Crc16(HashTag(key)) % 16384; }

// One command as MONITOR showed it: the database, whether a Lua script issued it, and its arguments.
struct Observed {
  int database = -1;
  bool from_lua = false;
  std::vector<std::string> args;
};

// Parses a MONITOR line: `<time> [<db> <client address>|lua] "ARG" "ARG" ...`, arguments escaped as Redis'
// sdscatrepr does (\\ \" \n \r \t \a \b \xHH).
std::optional<Observed> ParseMonitorLine(absl::string_view line) {
  const size_t open = line.find('[');
  const size_t close = line.find(']', open);
  if (open == absl::string_view::npos || close == absl::string_view::npos) return std::nullopt;
  Observed observed;
  const absl::string_view source = line.substr(open + 1, close - open - 1);
  const size_t space = source.find(' ');
  if (space == absl::string_view::npos || !absl::SimpleAtoi(source.substr(0, space), &observed.database)) {
    return std::nullopt;
  }
  observed.from_lua = source.substr(space + 1) == "lua";
  size_t i = close + 1;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    if (line[i] != '"') return std::nullopt;
    ++i;
    std::string arg;
    while (i < line.size() && line[i] != '"') {
      if (line[i] != '\\' || i + 1 >= line.size()) {
        arg.push_back(line[i++]);
        continue;
      }
      const char escaped = line[i + 1];
      i += 2;
      switch (escaped) {
        case 'n': arg.push_back('\n'); break;
        case 'r': arg.push_back('\r'); break;
        case 't': arg.push_back('\t'); break;
        case 'a': arg.push_back('\a'); break;
        case 'b': arg.push_back('\b'); break;
        case 'x': {
          int value = 0;
          if (i + 2 > line.size() || !absl::SimpleHexAtoi(line.substr(i, 2), &value)) return std::nullopt;
          arg.push_back(static_cast<char>(value));
          i += 2;
          break;
        }
        default: arg.push_back(escaped); break;  // \\ and \"
      }
    }
    ++i;  // the closing quote
    observed.args.push_back(std::move(arg));
  }
  if (observed.args.empty()) return std::nullopt;
  return observed;
}

// The keys of a command, by Redis' key specs for the commands Parkbase uses. nullopt for a command this table does
// not know: the test then fails, so a new command cannot slip past the check.
std::optional<std::vector<std::string>> KeysOf(const std::vector<std::string>& args) {
  const std::string name = absl::AsciiStrToUpper(args[0]);
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  static const std::set<std::string> kNoKeys = {"PING", "ECHO", "SELECT", "TIME", "SCAN", "INFO", "CLIENT", "HELLO",
                                                "AUTH", "FLUSHDB", "SCRIPT", "DBSIZE", "COMMAND", "MULTI", "EXEC"};
  static const std::set<std::string> kAllKeys = {"MGET", "DEL", "UNLINK", "EXISTS", "TOUCH", "WATCH"};
  static const std::set<std::string> kFirstKey = {
      "GET", "SET", "SETEX", "PSETEX", "SETNX", "GETDEL", "GETEX", "INCR", "INCRBY", "DECR", "DECRBY", "EXPIRE",
      "PEXPIRE", "PERSIST", "TTL", "PTTL", "TYPE", "HSET", "HGET", "HMGET", "HGETALL", "HDEL", "HINCRBY", "HEXISTS",
      "HLEN", "HKEYS", "XADD", "XRANGE", "XREVRANGE", "XLEN", "XTRIM", "EXPIREAT", "PEXPIREAT", "SADD", "SREM",
      "SMEMBERS", "ZADD", "ZREM", "ZRANGE", "ZREMRANGEBYSCORE", "ZCARD", "LPUSH", "RPUSH", "LRANGE", "LTRIM"};
  if (kNoKeys.contains(name)) return std::vector<std::string>{};
  if (kAllKeys.contains(name)) return rest;
  if (kFirstKey.contains(name)) {
    if (rest.empty()) return std::nullopt;
    return std::vector<std::string>{rest[0]};
  }
  if (name == "MSET" || name == "MSETNX") {
    std::vector<std::string> keys;
    for (size_t i = 0; i < rest.size(); i += 2) keys.push_back(rest[i]);
    return keys;
  }
  if (name == "EVAL" || name == "EVALSHA" || name == "EVAL_RO" || name == "EVALSHA_RO" || name == "FCALL") {
    int count = 0;
    if (rest.size() < 2 || !absl::SimpleAtoi(rest[1], &count) || count < 0 ||
        static_cast<size_t>(count) + 2 > rest.size()) {
      return std::nullopt;
    }
    return std::vector<std::string>(rest.begin() + 2, rest.begin() + 2 + count);
  }
  if (name == "XREAD" || name == "XREADGROUP") {
    for (size_t i = 0; i < rest.size(); ++i) {
      if (absl::AsciiStrToUpper(rest[i]) != "STREAMS") continue;
      const size_t streams = (rest.size() - i - 1) / 2;
      return std::vector<std::string>(rest.begin() + i + 1, rest.begin() + i + 1 + streams);
    }
    return std::nullopt;
  }
  return std::nullopt;
}

// Reads MONITOR on a connection of its own until it sees the ECHO of `sentinel`.
class RedisMonitor {
 public:
  RedisMonitor(const std::string& url, std::string sentinel) : sentinel_(std::move(sentinel)) {
    absl::StatusOr<RedisAddress> address = ParseRedisUrl(url);
    REQUIRE(address.ok());
    context_ = redisConnect(address->host.c_str(), address->port);
    REQUIRE(context_ != nullptr);
    REQUIRE(context_->err == 0);
    if (!address->password.empty()) {
      auto* auth = static_cast<redisReply*>(redisCommand(context_, "AUTH %s", address->password.c_str()));
      REQUIRE(auth != nullptr);
      freeReplyObject(auth);
    }
    auto* ok = static_cast<redisReply*>(redisCommand(context_, "MONITOR"));
    REQUIRE(ok != nullptr);
    REQUIRE(ok->type == REDIS_REPLY_STATUS);
    freeReplyObject(ok);
    thread_ = std::thread([this] {
      for (;;) {
        void* raw = nullptr;
        if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) return;
        auto* reply = static_cast<redisReply*>(raw);
        std::string line(reply->str == nullptr ? "" : reply->str, reply->len);
        freeReplyObject(reply);
        const bool last = absl::StrContains(line, absl::StrCat("\"", sentinel_, "\""));
        lines_.push_back(std::move(line));
        if (last) return;
      }
    });
  }
  ~RedisMonitor() {
    if (thread_.joinable()) thread_.join();
    redisFree(context_);
  }

  // Waits for the sentinel (sent by the caller on any connection) and returns every line seen.
  std::vector<std::string> Finish() {
    thread_.join();
    return std::move(lines_);
  }

 private:
  const std::string sentinel_;
  redisContext* context_ = nullptr;
  std::vector<std::string> lines_;
  std::thread thread_;
};

// A command issued by a client, with the commands its script issued (a script runs atomically, so MONITOR lists
// its redis.call lines right after it).
struct Call {
  Observed command;
  std::vector<Observed> script_calls;
};

std::string Describe(const Call& call) {
  std::vector<std::string> shown;
  for (const std::string& arg : call.command.args) {
    shown.push_back(arg.size() > 60 ? absl::StrCat(arg.substr(0, 40), "...(", arg.size(), " bytes)") : arg);
  }
  return absl::StrJoin(shown, " ");
}

TEST_CASE("redis: every multi-key command and script keeps to one tenant's hash slot",
          "[telemetry][integration][redis]") {
  // The CRC is Redis Cluster's: CLUSTER KEYSLOT gives these for these keys.
  REQUIRE(Slot("foo") == 12182);
  REQUIRE(Slot("123456789") == 12739);
  REQUIRE(Slot("{user1000}.following") == Slot("{user1000}.followers"));

  TelemetryEnv env;
  const int database = RedisDatabaseOf(RedisUrl());
  const std::string sentinel = UniqueId("slots-end-");
  RedisMonitor monitor(RedisUrl(), sentinel);

  TelemetryTenant first = env.CreateTenant("slota", 3);
  TelemetryTenant second = env.CreateTenant("slotb", 2);
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(5), absl::Seconds(1));
  auto write_all = [&](TelemetryTenant& tenant, absl::Time at) {
    telpb::WriteRequest write;
    write.set_parent(tenant.parent);
    for (const devpb::Device& device : tenant.devices) {
      *write.add_points() = MakePoint(device.device_id(), "temp", at, DoubleValue(20));
      *write.add_points() = MakePoint(device.device_id(), "count", at, IntValue(1));
    }
    REQUIRE(env.MustWrite(tenant.keys.admin_key, write).accepted_points() ==
            2 * static_cast<int64_t>(tenant.devices.size()));
  };
  auto ids_of = [](const TelemetryTenant& tenant) {
    std::vector<std::string> ids;
    for (const devpb::Device& device : tenant.devices) ids.push_back(device.device_id());
    return ids;
  };

  // The first tenant's live feed: a subscriber, a batch it receives (presence, XADD, XREAD).
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", first.keys.admin_key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    telpb::SubscribeRequest request;
    request.set_parent(first.parent);
    auto reader = env.stub->Subscribe(&context, request);
    absl::StatusOr<std::unique_ptr<RedisClient>> redis = RedisClient::Create({.url = RedisUrl()});
    REQUIRE(redis.ok());
    const std::string presence = telemetry::LiveFeed::PresenceKey(first.tenant_id);
    bool present = false;
    for (int i = 0; i < 200 && !present; ++i) {
      absl::StatusOr<RedisReply> exists = (*redis)->Command({"EXISTS", presence});
      present = exists.ok() && exists->integer == 1;
      if (!present) absl::SleepFor(absl::Milliseconds(25));
    }
    REQUIRE(present);
    write_all(first, t);
    telpb::SubscribeResponse message;
    REQUIRE(reader->Read(&message));
    CHECK(message.points_size() == 6);
    context.TryCancel();
    while (reader->Read(&message)) {
    }
    (void)reader->Finish();
  }
  // Both tenants: writes, reads that rebuild and read latest values, a write that updates them.
  write_all(second, t);
  CHECK(env.MustGetLatest(first.keys.admin_key, first.parent, ids_of(first)).values_size() == 6);
  CHECK(env.MustGetLatest(second.keys.admin_key, second.parent, ids_of(second)).values_size() == 4);
  write_all(first, t + absl::Seconds(1));
  write_all(second, t + absl::Seconds(1));
  // The second tenant deleted: its keys purged.
  {
    tenantpb::SuspendTenantRequest suspend;
    suspend.set_name(second.parent);
    suspend.set_reason("slot test");
    tenantpb::Tenant suspended;
    REQUIRE(env.tenants.stub().SuspendTenant(Context(env.server.park_admin_key()).get(), suspend, &suspended).ok());
    tenantpb::DeleteTenantRequest remove;
    remove.set_name(second.parent);
    tenantpb::DeleteTenantResponse removed;
    grpc::Status status = env.tenants.stub().DeleteTenant(Context(env.server.park_admin_key()).get(), remove, &removed);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  {
    absl::StatusOr<std::unique_ptr<RedisClient>> redis = RedisClient::Create({.url = RedisUrl()});
    REQUIRE(redis.ok());
    REQUIRE((*redis)->Command({"ECHO", sentinel}).ok());
  }
  const std::vector<std::string> lines = monitor.Finish();

  // Group this database's commands into calls: a client's command and the script calls after it.
  std::vector<Call> calls;
  for (const std::string& line : lines) {
    std::optional<Observed> observed = ParseMonitorLine(line);
    INFO(line.substr(0, 200));
    REQUIRE(observed.has_value());
    if (observed->database != database) continue;
    if (observed->from_lua) {
      REQUIRE_FALSE(calls.empty());
      calls.back().script_calls.push_back(*std::move(observed));
    } else {
      calls.push_back(Call{*std::move(observed), {}});
    }
  }

  std::map<std::string, int> multi_key_calls;  // command name -> calls with two or more keys
  int script_calls = 0;
  for (const Call& call : calls) {
    INFO(Describe(call));
    std::optional<std::vector<std::string>> declared = KeysOf(call.command.args);
    REQUIRE(declared.has_value());  // a command the table does not know: add it
    std::vector<std::string> keys = *declared;
    std::vector<std::string> touched;
    for (const Observed& inner : call.script_calls) {
      std::optional<std::vector<std::string>> inner_keys = KeysOf(inner.args);
      INFO(absl::StrJoin(inner.args, " "));
      REQUIRE(inner_keys.has_value());
      touched.insert(touched.end(), inner_keys->begin(), inner_keys->end());
      ++script_calls;
    }
    // A script may touch only keys it declared: Redis Cluster routes it by KEYS alone.
    for (const std::string& key : touched) {
      INFO("touched by the script: " << key);
      CHECK(std::find(keys.begin(), keys.end(), key) != keys.end());
    }
    keys.insert(keys.end(), touched.begin(), touched.end());
    if (declared->size() >= 2) ++multi_key_calls[absl::AsciiStrToUpper(call.command.args[0])];
    std::set<int> slots;
    std::set<std::string> tenants;
    for (const std::string& key : keys) {
      INFO("key: " << key);
      const size_t open = key.find('{');
      REQUIRE(open != std::string::npos);
      CHECK(key.find('{', open + 1) == std::string::npos);  // one tag
      const absl::string_view tag = HashTag(key);
      CHECK(ValidateTenantId("tag", std::string(tag)).ok());
      slots.insert(Slot(key));
      tenants.insert(std::string(tag));
    }
    CHECK(slots.size() <= 1);
    CHECK(tenants.size() <= 1);
  }

  // Not vacuous: the multi-key paths ran with several keys each, and scripts were seen from the inside.
  INFO("multi-key calls: " << absl::StrJoin(multi_key_calls, ", ", absl::PairFormatter("=")));
  CHECK(multi_key_calls["EVAL"] >= 4);    // latest-value update, rebuild begin and finish, read; schema cache
  CHECK(multi_key_calls["MGET"] >= 1);    // device schemas of a batch
  CHECK(multi_key_calls["UNLINK"] >= 1);  // a deleted tenant's keys
  CHECK(script_calls >= 10);
  bool xread = false;
  for (const Call& call : calls) xread = xread || absl::AsciiStrToUpper(call.command.args[0]) == "XREAD";
  CHECK(xread);
}

}  // namespace
}  // namespace parkbase::testing
