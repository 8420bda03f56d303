#include "device/schema_resolver.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace parkbase::device {

std::string SchemaEpochKey(const std::string& tenant_id) { return absl::StrCat("pb:schema-epoch:", tenant_id); }

std::string SchemaKey(const std::string& tenant_id, int64_t epoch, const std::string& device_id) {
  return absl::StrCat("pb:schema:", tenant_id, ":", epoch, ":", device_id);
}

RedisSchemaInvalidator::RedisSchemaInvalidator(RedisClient& redis) : redis_(redis) {}

void RedisSchemaInvalidator::TenantChanged(const std::string& tenant_id) {
  auto reply = redis_.Command({"INCR", SchemaEpochKey(tenant_id)});
  if (!reply.ok()) {
    LogLine(LogLevel::kWarning, "schema invalidation lost")
        .Str("tenant", tenant_id)
        .Str("error", reply.status().message())
        .Emit();
  }
}

DeviceSchemaResolver::DeviceSchemaResolver(DeviceStore& store, RedisClient* redis, Clock& clock, Options options)
    : store_(store), redis_(redis), clock_(clock), options_(options) {}

DeviceSchemaResolver::DeviceSchemaResolver(DeviceStore& store, RedisClient* redis, Clock& clock)
    : DeviceSchemaResolver(store, redis, clock, Options()) {}

std::optional<int64_t> DeviceSchemaResolver::CurrentEpoch(const std::string& tenant_id) {
  if (redis_ == nullptr) return std::nullopt;
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    auto found = epochs_.find(tenant_id);
    if (found != epochs_.end() && now - found->second.checked < options_.epoch_check_interval) {
      if (!found->second.from_redis) return std::nullopt;
      return found->second.value;
    }
  }
  Epoch epoch;
  epoch.checked = now;
  auto reply = redis_->Command({"GET", SchemaEpochKey(tenant_id)});
  if (reply.ok()) {
    epoch.from_redis = true;
    // A missing key (never changed, or Redis flushed) is epoch 0.
    if (reply->type == RedisReply::Type::kString && !absl::SimpleAtoi(reply->text, &epoch.value)) epoch.value = 0;
  }
  absl::MutexLock lock(&mu_);
  if (epochs_.size() >= options_.max_entries) epochs_.clear();
  epochs_[tenant_id] = epoch;
  if (!epoch.from_redis) return std::nullopt;
  return epoch.value;
}

absl::StatusOr<pb::DeviceSchema> DeviceSchemaResolver::Resolve(const std::string& tenant_id,
                                                               const std::string& device_id) {
  const std::string local_key = absl::StrCat(tenant_id, "/", device_id);
  const std::optional<int64_t> epoch = CurrentEpoch(tenant_id);
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    auto found = entries_.find(local_key);
    if (found != entries_.end() && now - found->second.loaded < options_.local_ttl &&
        (!epoch.has_value() || found->second.epoch == *epoch)) {
      ++stats_.local_hits;
      return found->second.schema;
    }
  }
  auto remember = [&](const pb::DeviceSchema& schema) {
    absl::MutexLock lock(&mu_);
    if (entries_.size() >= options_.max_entries) entries_.erase(entries_.begin());
    entries_[local_key] = Entry{schema, epoch.value_or(-1), now};
  };

  if (epoch.has_value()) {
    auto cached = redis_->Command({"GET", SchemaKey(tenant_id, *epoch, device_id)});
    pb::DeviceSchema schema;
    if (cached.ok() && cached->type == RedisReply::Type::kString && schema.ParseFromString(cached->text)) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.redis_hits;
      }
      remember(schema);
      return schema;
    }
  }

  auto loaded = store_.LoadSchema(TenantScope::Tenant(tenant_id), device_id);
  if (!loaded.ok()) return loaded.status();
  {
    absl::MutexLock lock(&mu_);
    ++stats_.database_loads;
  }
  if (epoch.has_value()) {
    // Best effort: a failed SET only costs the next resolver a database read.
    (void)redis_->Command({"SET", SchemaKey(tenant_id, *epoch, device_id), loaded->SerializeAsString(), "EX",
                           absl::StrCat(absl::ToInt64Seconds(options_.redis_ttl))});
  }
  remember(*loaded);
  return *loaded;
}

DeviceSchemaResolver::Stats DeviceSchemaResolver::stats() {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace parkbase::device
