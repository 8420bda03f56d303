#include "common/tenant_epochs.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/redis_keys.h"

namespace parkbase {

TenantEpochs::TenantEpochs(RedisClient& redis, Clock& clock, KeyOf key_of, absl::Duration check_interval,
                           size_t max_tenants)
    : redis_(redis),
      clock_(clock),
      key_of_(std::move(key_of)),
      check_interval_(check_interval),
      max_tenants_(max_tenants),
      refresher_([this] { RefreshLoop(); }) {}

TenantEpochs::~TenantEpochs() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  refresher_.join();
}

int64_t TenantEpochs::generation() {
  absl::MutexLock lock(&mu_);
  return generation_;
}

std::optional<int64_t> TenantEpochs::Current(const std::string& tenant_id, bool* lost_redis) {
  if (lost_redis != nullptr) *lost_redis = false;
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    auto found = epochs_.find(tenant_id);
    if (found != epochs_.end() && now - found->second.checked < check_interval_) {
      Epoch& epoch = found->second;
      epoch.used = now;
      if (!epoch.known) {
        if (epoch.lost_untold && lost_redis != nullptr) *lost_redis = true;
        epoch.lost_untold = false;
        return std::nullopt;
      }
      return epoch.value;
    }
  }
  return Read(tenant_id, /*inline_call=*/true, lost_redis);
}

std::optional<int64_t> TenantEpochs::ReadNow(const std::string& tenant_id, bool* lost_redis) {
  if (lost_redis != nullptr) *lost_redis = false;
  return Read(tenant_id, /*inline_call=*/true, lost_redis);
}

std::optional<int64_t> TenantEpochs::Read(const std::string& tenant_id, bool inline_call, bool* lost_redis) {
  int64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    generation = generation_;
  }
  absl::StatusOr<int64_t> epoch = redis_keys::ReadEpoch(redis_, key_of_(tenant_id));
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto found = epochs_.find(tenant_id);
  // The refresher keeps only tenants still in use: one forgotten meanwhile stays forgotten.
  if (!inline_call && found == epochs_.end()) return std::nullopt;
  const absl::Time used = inline_call ? now : found->second.used;
  if (!epoch.ok()) {
    if (lost_redis != nullptr) *lost_redis = true;
    epochs_[tenant_id] = Epoch{0, now, false, used, /*lost_untold=*/!inline_call};
    return std::nullopt;
  }
  // A read that began before one of this process's own bumps may predate it: used once, not kept.
  if (generation == generation_) {
    if (found == epochs_.end() && epochs_.size() >= max_tenants_) epochs_.clear();
    epochs_[tenant_id] = Epoch{*epoch, now, true, used, false};
  }
  return *epoch;
}

void TenantEpochs::RefreshLoop() {
  // Real time for the cadence; the service clock for ages, as Current judges them.
  const absl::Duration period = std::max(check_interval_ / 4, absl::Milliseconds(1));
  std::vector<std::string> due;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) return;
      const absl::Time now = clock_.Now();
      due.clear();
      for (auto entry = epochs_.begin(); entry != epochs_.end();) {
        if (now - entry->second.used >= kForgetAfter) {
          epochs_.erase(entry++);
          continue;
        }
        if (now - entry->second.checked >= check_interval_ / 2) due.push_back(entry->first);
        ++entry;
      }
    }
    for (const std::string& tenant_id : due) {
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
      }
      Read(tenant_id, /*inline_call=*/false, nullptr);
    }
  }
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
  const absl::Time used = epochs_.contains(tenant_id) ? epochs_[tenant_id].used : now;
  epochs_[tenant_id] = bumped.ok() ? Epoch{*bumped, now, true, used, false} : Epoch{0, now, false, used, false};
}

}  // namespace parkbase
