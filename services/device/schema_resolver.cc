#include "device/schema_resolver.h"

#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/redis_keys.h"

namespace parkbase::device {
namespace {

// KEYS: schema keys (one tenant's, so one Redis Cluster slot). ARGV[1]: TTL in seconds, then one value per key.
// SET key value EX ttl for each, in one round trip.
constexpr char kSetSchemasScript[] = R"lua(
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1]) end
return 1
)lua";

}  // namespace

std::string SchemaEpochKey(const std::string& tenant_id) { return redis_keys::SchemaEpoch(tenant_id); }

std::string SchemaKey(const std::string& tenant_id, int64_t epoch, const std::string& device_id) {
  // The tenant in a hash tag: one tenant's entries share a Redis Cluster slot, so MGET and the batch SET work.
  return redis_keys::Schema(tenant_id, epoch, device_id);
}

RedisSchemaInvalidator::RedisSchemaInvalidator(RedisClient& redis) : redis_(redis) {}

void RedisSchemaInvalidator::DeviceDeleted(const std::string& tenant_id, const std::string& device_id) {
  // Its latest values are of no use (the id is never reused): free them now rather than leave them to a purge.
  auto reply = redis_.Command({"UNLINK", redis_keys::LatestValues(tenant_id, device_id)});
  if (!reply.ok()) {
    LogLine(LogLevel::kWarning, "deleted device's latest values not freed")
        .Str("tenant", tenant_id)
        .Str("error", reply.status().message())
        .Emit();
  }
}

void RedisSchemaInvalidator::TenantChanged(const std::string& tenant_id) {
  // From a random start when missing (redis_keys::BumpEpoch), so a flushed Redis never hands out an epoch again.
  absl::StatusOr<int64_t> bumped = redis_keys::BumpEpoch(redis_, SchemaEpochKey(tenant_id));
  if (!bumped.ok()) {
    LogLine(LogLevel::kWarning, "schema invalidation lost")
        .Str("tenant", tenant_id)
        .Str("error", bumped.status().message())
        .Emit();
  }
}

DeviceSchemaResolver::DeviceSchemaResolver(DeviceStore& store, RedisClient* redis, Clock& clock, Options options)
    : store_(store),
      redis_(redis),
      clock_(clock),
      options_(options),
      epochs_(redis == nullptr ? nullptr
                               : std::make_unique<TenantEpochs>(*redis, clock, redis_keys::SchemaEpoch,
                                                                options.epoch_check_interval, options.max_entries)) {}

DeviceSchemaResolver::DeviceSchemaResolver(DeviceStore& store, RedisClient* redis, Clock& clock)
    : DeviceSchemaResolver(store, redis, clock, Options()) {}

std::optional<int64_t> DeviceSchemaResolver::CurrentEpoch(const std::string& tenant_id, Freshness freshness) {
  if (epochs_ == nullptr) return std::nullopt;
  return freshness == Freshness::kCached ? epochs_->Current(tenant_id) : epochs_->ReadNow(tenant_id);
}

bool DeviceSchemaResolver::Serves(const Entry& entry, const std::optional<int64_t>& epoch, Freshness freshness,
                                  absl::Time now) const {
  if (now - entry.loaded >= options_.local_ttl) return false;
  if (epoch.has_value()) return entry.epoch == *epoch;
  // Without Redis there is no epoch to compare: a look-up that must see every commit reads PostgreSQL.
  return freshness == Freshness::kCached;
}

absl::StatusOr<pb::DeviceSchema> DeviceSchemaResolver::Resolve(const std::string& tenant_id,
                                                               const std::string& device_id, Freshness freshness) {
  const std::string local_key = absl::StrCat(tenant_id, "/", device_id);
  const std::optional<int64_t> epoch = CurrentEpoch(tenant_id, freshness);
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    auto found = entries_.find(local_key);
    if (found != entries_.end() && Serves(found->second, epoch, freshness, now)) {
      ++stats_.local_hits;
      return *found->second.schema;
    }
  }
  auto remember = [&](const pb::DeviceSchema& schema) {
    absl::MutexLock lock(&mu_);
    SweepExpired(now);
    if (entries_.size() >= options_.max_entries) entries_.erase(entries_.begin());
    entries_[local_key] = Entry{std::make_shared<const pb::DeviceSchema>(schema), epoch.value_or(-1), now};
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

std::vector<absl::StatusOr<DeviceSchemaResolver::SharedSchema>> DeviceSchemaResolver::ResolveMany(
    const std::string& tenant_id, const std::vector<std::string>& device_ids, Freshness freshness) {
  std::vector<absl::StatusOr<SharedSchema>> results(device_ids.size(), absl::UnknownError("unresolved"));
  const std::optional<int64_t> epoch = CurrentEpoch(tenant_id, freshness);
  const absl::Time now = clock_.Now();
  const std::string key_prefix = absl::StrCat(tenant_id, "/");
  std::vector<size_t> misses;
  {
    absl::MutexLock lock(&mu_);
    std::string local_key = key_prefix;
    for (size_t i = 0; i < device_ids.size(); ++i) {
      local_key.resize(key_prefix.size());
      local_key.append(device_ids[i]);
      auto found = entries_.find(local_key);
      if (found != entries_.end() && Serves(found->second, epoch, freshness, now)) {
        ++stats_.local_hits;
        results[i] = found->second.schema;
      } else {
        misses.push_back(i);
      }
    }
  }
  if (misses.empty()) return results;

  std::vector<std::pair<size_t, SharedSchema>> fresh;  // (index, schema) to remember locally
  if (epoch.has_value()) {
    std::vector<std::string> command = {"MGET"};
    command.reserve(misses.size() + 1);
    for (size_t i : misses) command.push_back(SchemaKey(tenant_id, *epoch, device_ids[i]));
    absl::StatusOr<RedisReply> cached = redis_->Command(command);
    if (cached.ok() && cached->type == RedisReply::Type::kArray && cached->elements.size() == misses.size()) {
      std::vector<size_t> still_missing;
      int64_t hits = 0;
      for (size_t m = 0; m < misses.size(); ++m) {
        auto schema = std::make_shared<pb::DeviceSchema>();
        const RedisReply& element = cached->elements[m];
        if (element.type == RedisReply::Type::kString && schema->ParseFromString(element.text)) {
          results[misses[m]] = schema;
          fresh.emplace_back(misses[m], std::move(schema));
          ++hits;
        } else {
          still_missing.push_back(misses[m]);
        }
      }
      absl::MutexLock lock(&mu_);
      stats_.redis_hits += hits;
      misses = std::move(still_missing);
    }
  }

  if (!misses.empty()) {
    std::vector<std::string> ids;
    ids.reserve(misses.size());
    for (size_t i : misses) ids.push_back(device_ids[i]);
    absl::StatusOr<std::vector<pb::DeviceSchema>> loaded = store_.LoadSchemas(TenantScope::Tenant(tenant_id), ids);
    if (!loaded.ok()) {
      for (size_t i : misses) results[i] = loaded.status();
    } else {
      absl::flat_hash_map<std::string, SharedSchema> by_id;
      for (pb::DeviceSchema& schema : *loaded) {
        std::string id = schema.device_id();
        by_id.emplace(std::move(id), std::make_shared<const pb::DeviceSchema>(std::move(schema)));
      }
      // Best effort, one round trip: a failed SET only costs the next resolver a database read.
      std::vector<std::string> keys;
      std::vector<std::string> values = {absl::StrCat(absl::ToInt64Seconds(options_.redis_ttl))};
      for (size_t i : misses) {
        auto found = by_id.find(device_ids[i]);
        if (found == by_id.end()) {
          results[i] = absl::NotFoundError(absl::StrCat("tenants/", tenant_id, "/devices/", device_ids[i],
                                                        ": not found"));
          continue;
        }
        results[i] = found->second;
        fresh.emplace_back(i, found->second);
        if (epoch.has_value()) {
          keys.push_back(SchemaKey(tenant_id, *epoch, device_ids[i]));
          values.push_back(found->second->SerializeAsString());
        }
      }
      {
        absl::MutexLock lock(&mu_);
        stats_.database_loads += static_cast<int64_t>(by_id.size());
      }
      if (!keys.empty()) {
        std::vector<std::string> set = {"EVAL", kSetSchemasScript, absl::StrCat(keys.size())};
        set.reserve(3 + keys.size() + values.size());
        std::move(keys.begin(), keys.end(), std::back_inserter(set));
        std::move(values.begin(), values.end(), std::back_inserter(set));
        (void)redis_->Command(set);
      }
    }
  }

  absl::MutexLock lock(&mu_);
  SweepExpired(now);
  for (auto& [i, schema] : fresh) {
    if (entries_.size() >= options_.max_entries) entries_.erase(entries_.begin());
    entries_[absl::StrCat(key_prefix, device_ids[i])] = Entry{std::move(schema), epoch.value_or(-1), now};
  }
  return results;
}

DeviceSchemaResolver::Stats DeviceSchemaResolver::stats() {
  absl::MutexLock lock(&mu_);
  return stats_;
}

size_t DeviceSchemaResolver::cached_entries() {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

void DeviceSchemaResolver::SweepExpired(absl::Time now) {
  // An entry older than local_ttl is never served again, whatever the epoch says; without this sweep the entries
  // of devices nobody asks for any more (deleted ones, above all) stayed until the cache was full. One pass per
  // local_ttl keeps the cost at a few microseconds per thousand cached devices every few seconds.
  if (now - last_sweep_ < options_.local_ttl) return;
  last_sweep_ = now;
  for (auto entry = entries_.begin(); entry != entries_.end();) {
    if (now - entry->second.loaded >= options_.local_ttl) {
      entries_.erase(entry++);
    } else {
      ++entry;
    }
  }
}

}  // namespace parkbase::device
