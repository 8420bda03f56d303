#include "common/redis_keys.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace parkbase::redis_keys {
namespace {

// Keys a SCAN step looks at, and keys deleted per UNLINK.
constexpr int kScanCount = 1000;

std::string Tag(const std::string& tenant_id) { return absl::StrCat("{", tenant_id, "}"); }

}  // namespace

std::string IngestQuota(const std::string& tenant_id) { return absl::StrCat("pb:quota:", Tag(tenant_id), ":points"); }
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

std::string TenantKeyPattern(const std::string& tenant_id) { return absl::StrCat("pb:*", Tag(tenant_id), "*"); }

absl::Status PurgeTenant(RedisClient& redis, const std::string& tenant_id) {
  const std::string epoch_key = SchemaEpoch(tenant_id);
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
      if (key.text != epoch_key) unlink.push_back(key.text);
    }
    if (unlink.size() > 1) {
      absl::StatusOr<RedisReply> removed = redis.Command(unlink);
      if (!removed.ok()) return removed.status();
    }
  } while (cursor != "0");
  return redis.Command({"INCR", epoch_key}).status();
}

}  // namespace parkbase::redis_keys
