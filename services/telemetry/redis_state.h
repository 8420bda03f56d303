// What the telemetry service keeps in Redis: per-tenant ingest rate limits (GCRA), latest values, and the live
// feed that Subscribe reads on every replica. Keys carry the tenant in a hash tag ({tenant}) so a tenant's keys
// stay on one Redis Cluster slot. PostgreSQL stays the system of record: everything here is rebuilt or refreshed
// from it (see docs/telemetry.md).
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
#include "telemetry/codec.h"
#include "telemetry/series.h"
#include "telemetry/telemetry_store.h"

namespace parkbase::telemetry {

// GCRA over Redis' own clock, so every replica shares one bucket per tenant. A burst of one second's worth is
// allowed; a batch larger than that passes only when the bucket is full, and later batches then wait.
class IngestRateLimiter {
 public:
  explicit IngestRateLimiter(RedisClient& redis) : redis_(redis) {}

  struct Decision {
    bool allowed = true;
    absl::Duration retry_after;
  };
  // UNAVAILABLE when Redis cannot answer (the caller decides whether to fail open).
  absl::StatusOr<Decision> Take(const std::string& tenant_id, int64_t points_per_second, int64_t points);

 private:
  RedisClient& redis_;
};

// Latest values: one hash per device, metric -> "<time ms>|<serialized Value>", updated only by newer (or
// equal-time, later) writes. A hash exists only once a reader has rebuilt it from storage (the field "_" marks
// it); from then on every write and compaction keeps it current.
class LatestValues {
 public:
  explicit LatestValues(RedisClient& redis) : redis_(redis) {}

  // Offers the newest point of each series to the devices' hashes that exist (a missing hash is rebuilt from
  // storage by the next reader, which then sees this point too).
  absl::Status Update(const std::string& tenant_id, const std::vector<SeriesEntry>& series);
  // Creates the hashes of `rebuilt_devices` (marked as rebuilt) and offers `points` to them. A reader calls it
  // once with no points before reading storage — so writes that commit meanwhile land in the hash — and once
  // with what it read.
  absl::Status Update(const std::string& tenant_id, const absl::flat_hash_map<SeriesKey, LatestPoint>& points,
                      const std::vector<std::string>& rebuilt_devices);

  // Per device: nullopt when Redis holds nothing for it (never written, or lost); otherwise metric -> point.
  absl::StatusOr<std::vector<std::optional<absl::flat_hash_map<std::string, LatestPoint>>>> Read(
      const std::string& tenant_id, const std::vector<std::string>& device_ids);

 private:
  absl::Status Apply(const std::vector<std::string>& keys, bool create, std::vector<std::string> arguments);
  RedisClient& redis_;
};

// Publishes committed batches to a per-tenant Redis stream, but only while someone subscribes (a presence key
// the subscribers refresh), so a tenant without subscribers costs one cached GET a second.
class LiveFeed {
 public:
  explicit LiveFeed(RedisClient& redis) : redis_(redis) {}

  // Best effort: a failure is logged; the batch is committed either way.
  void Publish(const std::string& tenant_id, const std::string& block);

  static std::string StreamKey(const std::string& tenant_id);
  static std::string PresenceKey(const std::string& tenant_id);
  // How long the presence key lives; subscribers refresh it at a third of that.
  static constexpr absl::Duration kPresenceTtl = absl::Seconds(6);
  // How long a publisher trusts what it learnt about presence.
  static constexpr absl::Duration kPresenceCheckInterval = absl::Milliseconds(500);
  // Entries kept in a tenant's stream for slow readers.
  static constexpr int kStreamLength = 1000;

 private:
  RedisClient& redis_;
  absl::Mutex mu_;
  struct Presence {
    bool present = false;
    absl::Time checked = absl::InfinitePast();
  };
  absl::flat_hash_map<std::string, Presence> presence_ ABSL_GUARDED_BY(mu_);
};

std::string LatestKey(const std::string& tenant_id, const std::string& device_id);

}  // namespace parkbase::telemetry
