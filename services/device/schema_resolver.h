// The ingestion path's look-up of (tenant, device) -> the device's state, labels and telemetry schema, without a
// database round trip on the hot path: an in-process cache in front of a Redis cache in front of PostgreSQL.
//
// Invalidation: every change that can alter a resolved schema (a type update or delete, a device's type, state or
// labels change, a device delete) bumps the tenant's schema epoch in Redis (`pb:schema-epoch:{<tenant>}`) after its
// transaction commits. Redis entries are keyed by epoch (`pb:schema:{<tenant>}:<epoch>:<device>`), so a bump
// retires all of a tenant's entries at once; in-process entries remember the epoch they were read under, and a
// resolver re-reads a tenant's epoch at most every `epoch_check_interval`.
// Staleness bound: a committed change is seen within `epoch_check_interval` (default 250 ms) while Redis is up;
// while Redis is down, resolvers read PostgreSQL and keep entries for at most `local_ttl` (default 5 s). If the
// bump itself is lost (Redis down at that moment but back before readers notice), Redis entries expire after
// `redis_ttl` (default 60 s), which is then the bound. A flushed Redis reads as epoch 0, which differs from any
// cached epoch after the first change, so a flush never serves stale entries.
//
// A look-up with Freshness::kCommitted reads the tenant's epoch from Redis whatever its age (one GET) and so sees
// every change committed before it; with Redis down it reads PostgreSQL. App credentials need that: their grants
// select devices by labels, and a device relabelled out of a grant must drop out of it at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/redis.h"
#include "common/tenant_epochs.h"
#include "device/device_store.h"

namespace parkbase::device {

// Tells resolvers everywhere that a tenant's schemas changed. Called after the change committed.
class SchemaInvalidator {
 public:
  virtual ~SchemaInvalidator() = default;
  virtual void TenantChanged(const std::string& tenant_id) = 0;
  // A device was deleted: what Redis holds for it alone can go.
  virtual void DeviceDeleted(const std::string& tenant_id, const std::string& device_id) = 0;
};

// Bumps the tenant's epoch in Redis. A failure is logged, not returned: the change already committed, and the
// TTLs above bound how long it can stay unseen.
class RedisSchemaInvalidator final : public SchemaInvalidator {
 public:
  explicit RedisSchemaInvalidator(RedisClient& redis);
  void TenantChanged(const std::string& tenant_id) override;
  void DeviceDeleted(const std::string& tenant_id, const std::string& device_id) override;

 private:
  RedisClient& redis_;
};

// How current a resolved schema must be.
enum class Freshness {
  // Within the staleness bound above (epoch_check_interval): the ingest hot path.
  kCached,
  // Reflecting every change committed before the look-up began: one Redis GET of the epoch more.
  kCommitted,
};

class DeviceSchemaResolver {
 public:
  struct Options {
    absl::Duration local_ttl = absl::Seconds(5);
    absl::Duration epoch_check_interval = absl::Milliseconds(250);
    absl::Duration redis_ttl = absl::Seconds(60);
    // In-process entries; at ~200 bytes a schema, 100,000 entries cost ~20 MB. When full, entries are dropped
    // in no particular order (a miss costs one Redis GET).
    size_t max_entries = 100'000;
  };

  // `redis` may be null: PostgreSQL and the in-process cache only.
  DeviceSchemaResolver(DeviceStore& store, RedisClient* redis, Clock& clock, Options options);
  DeviceSchemaResolver(DeviceStore& store, RedisClient* redis, Clock& clock);

  // NOT_FOUND for an unknown device. The caller decides what a DISABLED state means for it.
  absl::StatusOr<pb::DeviceSchema> Resolve(const std::string& tenant_id, const std::string& device_id,
                                           Freshness freshness = Freshness::kCached);

  using SharedSchema = std::shared_ptr<const pb::DeviceSchema>;
  // Resolve for many devices of one tenant, answered in the order of `device_ids`: the in-process misses cost one
  // Redis MGET, the Redis misses one database query (a cold batch of 1,000 devices costs 3 round trips, not 2,000).
  // While an entry stays cached the same pointer comes back, so callers may key what they derive from a schema
  // by the pointer. A whole-call failure (database down) is returned for every device that needed the database.
  std::vector<absl::StatusOr<SharedSchema>> ResolveMany(const std::string& tenant_id,
                                                        const std::vector<std::string>& device_ids,
                                                        Freshness freshness = Freshness::kCached);

  struct Stats {
    int64_t local_hits = 0;
    int64_t redis_hits = 0;
    int64_t database_loads = 0;
  };
  Stats stats();
  // Devices cached in this process (expired entries are swept every local_ttl).
  size_t cached_entries();

 private:
  struct Entry {
    SharedSchema schema;
    int64_t epoch = 0;
    absl::Time loaded;
  };
  // The tenant's epoch (common/tenant_epochs.h: kept fresh in the background, read inline for kCommitted).
  // nullopt: Redis is unavailable.
  std::optional<int64_t> CurrentEpoch(const std::string& tenant_id, Freshness freshness);
  // Whether an in-process entry may answer a look-up made under `epoch`.
  bool Serves(const Entry& entry, const std::optional<int64_t>& epoch, Freshness freshness, absl::Time now) const;
  // Drops the entries no lookup may serve any more (older than local_ttl), at most once per local_ttl.
  void SweepExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  DeviceStore& store_;
  RedisClient* redis_;
  Clock& clock_;
  const Options options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<TenantEpochs> epochs_;  // null without Redis
  Stats stats_ ABSL_GUARDED_BY(mu_);
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Redis key names, shared by the invalidator and the resolver.
std::string SchemaEpochKey(const std::string& tenant_id);
std::string SchemaKey(const std::string& tenant_id, int64_t epoch, const std::string& device_id);

}  // namespace parkbase::device
