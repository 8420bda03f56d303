#include "common/tenant_epochs.h"

#include <utility>

#include "common/log.h"
#include "common/redis_keys.h"

namespace parkbase {

TenantEpochs::TenantEpochs(RedisClient& redis, Clock& clock, KeyOf key_of, absl::Duration check_interval,
                           size_t max_tenants)
    : redis_(redis),
      clock_(clock),
      key_of_(std::move(key_of)),
      check_interval_(check_interval),
      max_tenants_(max_tenants) {}

int64_t TenantEpochs::generation() {
  absl::MutexLock lock(&mu_);
  return generation_;
}

std::optional<int64_t> TenantEpochs::Current(const std::string& tenant_id, bool* lost_redis) {
  if (lost_redis != nullptr) *lost_redis = false;
  const absl::Time now = clock_.Now();
  int64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    auto found = epochs_.find(tenant_id);
    if (found != epochs_.end() && now - found->second.checked < check_interval_) {
      if (!found->second.known) return std::nullopt;
      return found->second.value;
    }
    generation = generation_;
  }
  absl::StatusOr<int64_t> epoch = redis_keys::ReadEpoch(redis_, key_of_(tenant_id));
  absl::MutexLock lock(&mu_);
  if (!epoch.ok()) {
    if (lost_redis != nullptr) *lost_redis = true;
    epochs_[tenant_id] = Epoch{0, now, false};
    return std::nullopt;
  }
  // A read that began before one of this process's own bumps may predate it: used once, not kept.
  if (generation == generation_) {
    if (epochs_.size() >= max_tenants_) epochs_.clear();
    epochs_[tenant_id] = Epoch{*epoch, now, true};
  }
  return *epoch;
}

void TenantEpochs::Bump(const std::string& tenant_id, const char* what) {
  absl::StatusOr<int64_t> bumped = redis_keys::BumpEpoch(redis_, key_of_(tenant_id));
  if (!bumped.ok()) {
    LogLine(LogLevel::kWarning, "cache invalidation lost; other replicas see it within the cache ttl")
        .Str("cache", what)
        .Str("tenant", tenant_id)
        .Str("error", bumped.status().message())
        .Emit();
  }
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  ++generation_;
  epochs_[tenant_id] = bumped.ok() ? Epoch{*bumped, now, true} : Epoch{0, now, false};
}

}  // namespace parkbase
