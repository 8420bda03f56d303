// What the telemetry service keeps in Redis: per-tenant ingest rate limits (GCRA), latest values, and the live
// feed that Subscribe reads on every replica. Keys carry the tenant in a hash tag ({tenant}) so a tenant's keys
// stay on one Redis Cluster slot. PostgreSQL stays the system of record: everything here is rebuilt or refreshed
// from it (see docs/telemetry.md). Each is an interface with its Redis implementation, so the telemetry logic runs
// over fakes in the fuzz targets (tests/fuzz).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/redis.h"
#include "telemetry/codec.h"
#include "telemetry/series.h"
#include "telemetry/telemetry_store.h"

namespace parkbase::telemetry {

// Per-tenant ingest rate limits: whether a tenant may store `points` more points now.
class IngestRateLimiter {
 public:
  virtual ~IngestRateLimiter() = default;

  struct Decision {
    bool allowed = true;
    absl::Duration retry_after;
  };
  // UNAVAILABLE when the limiter cannot answer (the caller decides whether to fail open).
  virtual absl::StatusOr<Decision> Take(const std::string& tenant_id, int64_t points_per_second, int64_t points) = 0;
};

// GCRA over Redis' own clock, so every replica shares one bucket per tenant. A burst of one second's worth is
// allowed; a batch larger than that passes only when the bucket is full, and later batches then wait.
class RedisIngestRateLimiter final : public IngestRateLimiter {
 public:
  explicit RedisIngestRateLimiter(RedisClient& redis) : redis_(redis) {}

  absl::StatusOr<Decision> Take(const std::string& tenant_id, int64_t points_per_second, int64_t points) override;

 private:
  RedisClient& redis_;
};

// Latest values: one string per device holding each metric's newest (or equal-time, later) point, so a read of
// many devices is one MGET (the format is in redis_state.cc). Writes and compaction update only devices whose
// string exists; a reader that finds none rebuilds it from storage in two steps, marked by the string's state:
//   1. BeginRebuild creates it "pending", with an expiry, so writes that commit while storage is read land in it;
//   2. FinishRebuild offers what storage held, marks it "complete" and drops the expiry.
// Only a complete string is trusted. A rebuild that fails half-way leaves a pending string that readers ignore (they
// rebuild again) and that expires by itself, so no device is ever stuck without its values.
class LatestValues {
 public:
  // How long a pending string lives: far longer than a rebuild takes.
  static constexpr absl::Duration kPendingTtl = absl::Seconds(30);

  virtual ~LatestValues() = default;

  // Offers the newest point of each series to the devices' strings that exist (a missing one is rebuilt from
  // storage by the next reader, which then sees this point too).
  virtual absl::Status Update(const std::string& tenant_id, const std::vector<SeriesEntry>& series) = 0;
  virtual absl::Status BeginRebuild(const std::string& tenant_id, const std::vector<std::string>& devices) = 0;
  // Completes the strings of `devices` that are still there (pending or complete) with `points`.
  virtual absl::Status FinishRebuild(const std::string& tenant_id,
                                     const absl::flat_hash_map<SeriesKey, LatestPoint>& points,
                                     const std::vector<std::string>& devices) = 0;

  // Per device: nullopt unless Redis holds a complete string for it (never read, lost, or a rebuild under way or
  // failed); otherwise metric -> point.
  virtual absl::StatusOr<std::vector<std::optional<absl::flat_hash_map<std::string, LatestPoint>>>> Read(
      const std::string& tenant_id, const std::vector<std::string>& device_ids) = 0;

  // A latest value as stored: the value still serialized, so GetLatest copies its bytes into the answer. Views
  // into the StoredLatest that holds it: a read of 1,000 values allocates per device, not per value.
  struct Stored {
    absl::string_view metric;
    int64_t time_ms = 0;
    absl::string_view value;  // a serialized pb::Value
  };
  struct StoredLatest {
    // Per device (in the order asked): nullopt as Read says; otherwise its values, in no particular order.
    std::vector<std::optional<std::vector<Stored>>> devices;
    // What the views point into. A deque, so adding bytes never moves those already viewed (nor does moving it).
    std::deque<std::string> bytes;
    absl::string_view Keep(std::string owned) { return bytes.emplace_back(std::move(owned)); }
  };
  // As Read, values left serialized. This form serializes Read's answer; the Redis form reads the stored bytes as
  // they are.
  virtual absl::StatusOr<StoredLatest> ReadStored(const std::string& tenant_id,
                                                  const std::vector<std::string>& device_ids);
};

class RedisLatestValues final : public LatestValues {
 public:
  explicit RedisLatestValues(RedisClient& redis) : redis_(redis) {}

  absl::Status Update(const std::string& tenant_id, const std::vector<SeriesEntry>& series) override;
  absl::Status BeginRebuild(const std::string& tenant_id, const std::vector<std::string>& devices) override;
  absl::Status FinishRebuild(const std::string& tenant_id, const absl::flat_hash_map<SeriesKey, LatestPoint>& points,
                             const std::vector<std::string>& devices) override;
  absl::StatusOr<std::vector<std::optional<absl::flat_hash_map<std::string, LatestPoint>>>> Read(
      const std::string& tenant_id, const std::vector<std::string>& device_ids) override;
  absl::StatusOr<StoredLatest> ReadStored(const std::string& tenant_id,
                                          const std::vector<std::string>& device_ids) override;

 private:
  RedisClient& redis_;
};

// Publishes committed batches to a per-tenant Redis stream, but only while someone subscribes (a presence key
// the subscribers refresh), so a tenant without subscribers costs one cached GET a second.
class LiveFeed {
 public:
  virtual ~LiveFeed() = default;

  // Best effort: a failure is logged; the batch is committed either way.
  virtual void Publish(const std::string& tenant_id, const std::string& block) = 0;

  static std::string StreamKey(const std::string& tenant_id);
  static std::string PresenceKey(const std::string& tenant_id);
  // How long the presence key lives; subscribers refresh it at a third of that.
  static constexpr absl::Duration kPresenceTtl = absl::Seconds(6);
  // How long a publisher trusts what it learnt about presence.
  static constexpr absl::Duration kPresenceCheckInterval = absl::Milliseconds(500);
  // Entries kept in a tenant's stream for slow readers.
  static constexpr int kStreamLength = 1000;
};

class RedisLiveFeed final : public LiveFeed {
 public:
  explicit RedisLiveFeed(RedisClient& redis) : redis_(redis) {}

  void Publish(const std::string& tenant_id, const std::string& block) override;

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
