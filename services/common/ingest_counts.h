// How many telemetry points each tenant ingests per second, counted in Redis by the ingest rate limiter (the
// telemetry service) and read by TenantService.GetTenantUsage. A Prometheus counter per tenant would answer too, but
// only where Prometheus runs and, in parks with thousands of tenants, at the cost of the per-tenant label that
// operators may switch off; these counts live beside the quota bucket, on the tenant's Redis Cluster slot.
//
// Layout: one hash per tenant (redis_keys::IngestCounts), a field per second (Redis' TIME, in whole seconds) holding
// the points admitted in it. The first write of a second refreshes the hash's expiry and, once the hash holds more
// than kMaxFields seconds, drops those older than the read window needs; so the common write is one HINCRBY, the hash
// stays small, and it expires when ingest stops.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/redis.h"

namespace parkbase::ingest_counts {

// The read covers this many whole seconds before the current one.
inline constexpr int kWindowSeconds = 60;
// Seconds the hash may hold before a write prunes it back to the last 64.
inline constexpr int kMaxFields = 128;

// Lua that adds the points admitted now to the tenant's hash. It is spliced into the rate limiter's script (one
// round trip on the write path, and the count uses the same Redis clock as the bucket); it expects the locals `t`
// (Redis' TIME reply), `now_s` (its whole seconds) and `cost` (points), and the hash's key as KEYS[2].
extern const char kRecordLua[];

// Points admitted over the kWindowSeconds whole seconds before Redis' current second, divided by kWindowSeconds.
// UNAVAILABLE when Redis cannot be reached.
absl::StatusOr<double> ReadPointsPerSecond(RedisClient& redis, const std::string& tenant_id);

}  // namespace parkbase::ingest_counts
