// The per-tenant epoch check that the in-process caches share (auth_cache.h, device/device_cache.h): each tenant's
// epoch lives in Redis under a key of its own; a cache files an entry under the epoch it read before loading it and
// serves it only while the epoch is unchanged. This class re-reads a tenant's epoch at most every
// `check_interval`, bumps it after a change, and counts this process's own bumps (its generation) so a read that
// began before one is never kept.
//
// A background thread re-reads the epochs of tenants used in the last kForgetAfter every half check_interval, so
// calls find a fresh copy and never wait for Redis themselves: a call reads inline only for a tenant it is the
// first to use (or after kForgetAfter unused), or when the refresher fell behind. The bound on how stale an epoch
// a call uses is check_interval plus one round trip either way.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/redis.h"

namespace parkbase {

class TenantEpochs {
 public:
  // The Redis key of a tenant's epoch (redis_keys.h); it must carry the tenant's hash tag.
  using KeyOf = std::function<std::string(const std::string& tenant_id)>;

  // `max_tenants`: epochs remembered; when full, all are forgotten (each costs one Redis read more).
  TenantEpochs(RedisClient& redis, Clock& clock, KeyOf key_of, absl::Duration check_interval, size_t max_tenants);
  ~TenantEpochs();
  TenantEpochs(const TenantEpochs&) = delete;
  TenantEpochs& operator=(const TenantEpochs&) = delete;

  // A tenant unused this long leaves the background refresh (its next call reads inline again).
  static constexpr absl::Duration kForgetAfter = absl::Seconds(10);

  // The tenant's epoch, read from Redis when the copy here is older than check_interval; nullopt while Redis is
  // unreachable (the caller then bypasses its cache). `lost_redis`, when given, is set when this very call found
  // Redis unreachable: what the caller holds may have been changed meanwhile, its bump lost.
  std::optional<int64_t> Current(const std::string& tenant_id, bool* lost_redis = nullptr);
  // As Current, but always read from Redis now: for a caller that must see every change committed before it.
  std::optional<int64_t> ReadNow(const std::string& tenant_id, bool* lost_redis = nullptr);

  // Bumps the tenant's epoch in Redis after a committed change and makes the new value this process's view at once
  // (without one, the tenant reads as unreachable until the next check). Logs `what` when the bump is lost.
  void Bump(const std::string& tenant_id, const char* what);

  // This process's bumps so far: a load that began under one generation and ends under another is not cached.
  int64_t generation();

 private:
  struct Epoch {
    int64_t value = 0;
    absl::Time checked = absl::InfinitePast();
    bool known = false;  // false: Redis could not be read at `checked`
    absl::Time used = absl::InfinitePast();
    // The refresher found Redis unreachable and no call has been told yet (Current's lost_redis).
    bool lost_untold = false;
  };

  // Reads the tenant's epoch from Redis and files it (unless one of this process's bumps happened meanwhile).
  // `inline_call`: a call waits for it (and is told of a loss), not the refresher.
  std::optional<int64_t> Read(const std::string& tenant_id, bool inline_call, bool* lost_redis);
  void RefreshLoop();

  RedisClient& redis_;
  Clock& clock_;
  const KeyOf key_of_;
  const absl::Duration check_interval_;
  const size_t max_tenants_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Epoch> epochs_ ABSL_GUARDED_BY(mu_);
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread refresher_;
};

}  // namespace parkbase
