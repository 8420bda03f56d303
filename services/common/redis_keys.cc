#include "common/redis_keys.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"

namespace parkbase::redis_keys {
namespace {

// Keys a SCAN step looks at, and keys deleted per UNLINK.
constexpr int kScanCount = 1000;

std::string Tag(const std::string& tenant_id) { return absl::StrCat("{", tenant_id, "}"); }

// KEYS[1]: an epoch key; ARGV[1]: the start value should it be missing. Returns its value (as a string).
constexpr char kReadEpochScript[] = R"lua(
local value = redis.call('GET', KEYS[1])
if value then return value end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
)lua";
// The same start, then INCR; returns the new value.
constexpr char kBumpEpochScript[] = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])
)lua";

// 2^48 values: two starts after a data loss collide with odds of about 1 in 10^14, and INCR has 2^63 of room.
std::string RandomEpochStart() {
  uint64_t value = 0;
  const std::string bytes = RandomBytes(6);
  for (unsigned char byte : bytes) value = (value << 8) | byte;
  return absl::StrCat(value + 1);
}

}  // namespace

std::string IngestQuota(const std::string& tenant_id) { return absl::StrCat("pb:quota:", Tag(tenant_id), ":points"); }
std::string IngestCounts(const std::string& tenant_id) {
  return absl::StrCat("pb:ingest-counts:", Tag(tenant_id));
}
std::string LatestValues(const std::string& tenant_id, const std::string& device_id) {
  return absl::StrCat("pb:latest:", Tag(tenant_id), ":", device_id);
}
std::string LiveFeed(const std::string& tenant_id) { return absl::StrCat("pb:live:", Tag(tenant_id)); }
std::string LivePresence(const std::string& tenant_id) {
  return absl::StrCat("pb:live-subscribers:", Tag(tenant_id));
}
std::string SchemaEpoch(const std::string& tenant_id) { return absl::StrCat("pb:schema-epoch:", Tag(tenant_id)); }
std::string Schema(const std::string& tenant_id, int64_t epoch, const std::string& device_id) {
  return absl::StrCat("pb:schema:", Tag(tenant_id), ":", epoch, ":", device_id);
}

std::string AuthEpoch(const std::string& tenant_id) { return absl::StrCat("pb:auth-epoch:", Tag(tenant_id)); }
std::string DeviceEpoch(const std::string& tenant_id) { return absl::StrCat("pb:device-epoch:", Tag(tenant_id)); }

absl::StatusOr<int64_t> ReadEpoch(RedisClient& redis, const std::string& key) {
  absl::StatusOr<RedisReply> reply = redis.Command({"GET", key});
  if (!reply.ok()) return reply.status();
  if (reply->type == RedisReply::Type::kNil) {
    reply = redis.Command({"EVAL", kReadEpochScript, "1", key, RandomEpochStart()});
    if (!reply.ok()) return reply.status();
  }
  int64_t epoch = 0;
  if (reply->type == RedisReply::Type::kInteger) return reply->integer;
  if (reply->type != RedisReply::Type::kString || !absl::SimpleAtoi(reply->text, &epoch)) {
    return absl::UnavailableError(absl::StrCat("redis: ", key, " holds no epoch"));
  }
  return epoch;
}

absl::StatusOr<int64_t> BumpEpoch(RedisClient& redis, const std::string& key) {
  absl::StatusOr<RedisReply> reply = redis.Command({"EVAL", kBumpEpochScript, "1", key, RandomEpochStart()});
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kInteger) return absl::UnavailableError("redis: unexpected INCR reply");
  return reply->integer;
}

std::string TenantKeyPattern(const std::string& tenant_id) { return absl::StrCat("pb:*", Tag(tenant_id), "*"); }

absl::Status PurgeTenant(RedisClient& redis, const std::string& tenant_id) {
  const std::string epoch_key = SchemaEpoch(tenant_id);
  const std::string auth_epoch_key = AuthEpoch(tenant_id);
  const std::string device_epoch_key = DeviceEpoch(tenant_id);
  std::string cursor = "0";
  do {
    absl::StatusOr<RedisReply> page = redis.Command(
        {"SCAN", cursor, "MATCH", TenantKeyPattern(tenant_id), "COUNT", absl::StrCat(kScanCount)});
    if (!page.ok()) return page.status();
    if (page->type != RedisReply::Type::kArray || page->elements.size() != 2) {
      return absl::UnavailableError("redis: unexpected SCAN reply");
    }
    cursor = page->elements[0].text;
    std::vector<std::string> unlink = {"UNLINK"};
    for (const RedisReply& key : page->elements[1].elements) {
      if (key.text != epoch_key && key.text != auth_epoch_key && key.text != device_epoch_key) unlink.push_back(key.text);
    }
    if (unlink.size() > 1) {
      absl::StatusOr<RedisReply> removed = redis.Command(unlink);
      if (!removed.ok()) return removed.status();
    }
  } while (cursor != "0");
  if (absl::Status bumped = BumpEpoch(redis, auth_epoch_key).status(); !bumped.ok()) return bumped;
  if (absl::Status bumped = BumpEpoch(redis, device_epoch_key).status(); !bumped.ok()) return bumped;
  return redis.Command({"INCR", epoch_key}).status();
}

}  // namespace parkbase::redis_keys
