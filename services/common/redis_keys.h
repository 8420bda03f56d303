// Every Redis key Parkbase writes, in one place. Each key of a tenant carries the tenant in a hash tag ({tenant}),
// so a tenant's keys share one Redis Cluster slot (multi-key scripts work) and can all be found by the pattern
// TenantKeyPattern: that is how a deleted tenant's keys are purged, so an id used again never sees them.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/redis.h"

namespace parkbase::redis_keys {

// Telemetry: the ingest quota bucket and counts, a device's latest values, the live feed and its subscribers' presence.
std::string IngestQuota(const std::string& tenant_id);
// The points admitted in each recent second (common/ingest_counts.h).
std::string IngestCounts(const std::string& tenant_id);
std::string LatestValues(const std::string& tenant_id, const std::string& device_id);
std::string LiveFeed(const std::string& tenant_id);
std::string LivePresence(const std::string& tenant_id);
// The device registry's schema cache: the tenant's epoch and one entry per device and epoch.
std::string SchemaEpoch(const std::string& tenant_id);
std::string Schema(const std::string& tenant_id, int64_t epoch, const std::string& device_id);
// Authentication: the tenant's auth epoch, bumped whenever one of its keys changes who it is or whether it is valid
// (common/auth_cache.h).
std::string AuthEpoch(const std::string& tenant_id);
// The device registry's read cache: the tenant's device epoch, bumped after every change to one of its devices
// (device/device_cache.h).
std::string DeviceEpoch(const std::string& tenant_id);

// An epoch key's value, started at a random number when missing: a Redis that lost its data (flushed, restarted
// empty) then never hands out a value that a replica may still hold from before (a counter restarted at 0 or 1
// would come back to values already seen). UNAVAILABLE when Redis cannot be reached.
absl::StatusOr<int64_t> ReadEpoch(RedisClient& redis, const std::string& key);
// Increments an epoch key, starting it at a random number when missing (as ReadEpoch); returns the new value.
absl::StatusOr<int64_t> BumpEpoch(RedisClient& redis, const std::string& key);

// Matches every key above of `tenant_id` (tenant ids are [a-z0-9-], so nothing in them is a glob character).
std::string TenantKeyPattern(const std::string& tenant_id);

// Deletes every key of the tenant except its schema, auth and device epochs, which are bumped instead: in-process caches
// on other replicas compare epochs, and an epoch must never go back to a value they may still hold. SCAN-based,
// so it never blocks Redis; UNAVAILABLE when Redis cannot be reached (the caller retries the whole deletion).
absl::Status PurgeTenant(RedisClient& redis, const std::string& tenant_id);

}  // namespace parkbase::redis_keys
