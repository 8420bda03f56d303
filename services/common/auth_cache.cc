#include "common/auth_cache.h"

#include <openssl/crypto.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/redis_keys.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace parkbase {
namespace {

void LogLostBump(const std::string& tenant_id, const absl::Status& status) {
  LogLine(LogLevel::kWarning, "auth invalidation lost; other replicas see it within the cache ttl")
      .Str("tenant", tenant_id)
      .Str("error", status.message())
      .Emit();
}

bool SameDigest(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

RedisAuthInvalidator::RedisAuthInvalidator(RedisClient& redis) : redis_(redis) {}

void RedisAuthInvalidator::TenantKeysChanged(const std::string& tenant_id) {
  absl::StatusOr<int64_t> bumped = redis_keys::BumpEpoch(redis_, redis_keys::AuthEpoch(tenant_id));
  if (!bumped.ok()) LogLostBump(tenant_id, bumped.status());
}

CachingAuthenticator::CachingAuthenticator(PgAuthenticator& database, RedisClient& redis, Clock& clock,
                                           Options options, prometheus::Registry* registry)
    : database_(database),
      clock_(clock),
      options_(options),
      epochs_(redis, clock, redis_keys::AuthEpoch, options.epoch_check_interval, options.max_entries),
      entries_(options.max_entries, options.ttl) {
  if (registry != nullptr) {
    auto& family = prometheus::BuildCounter()
                       .Name("parkbase_auth_cache_lookups_total")
                       .Help("API key authentications by how the in-process cache answered: hit, miss (the "
                             "database answered and the key was cached), bypass (Redis unreachable, the database "
                             "answered), wrong_secret (refused against a cached key)")
                       .Register(*registry);
    hits_ = &family.Add({{"result", "hit"}});
    misses_ = &family.Add({{"result", "miss"}});
    bypassed_ = &family.Add({{"result", "bypass"}});
    wrong_secrets_ = &family.Add({{"result", "wrong_secret"}});
  }
}

void CachingAuthenticator::Count(prometheus::Counter* counter, int64_t Stats::*field) {
  if (counter != nullptr) counter->Increment();
  absl::MutexLock lock(&mu_);
  ++(stats_.*field);
}

CachingAuthenticator::Stats CachingAuthenticator::stats() {
  absl::MutexLock lock(&mu_);
  return stats_;
}

size_t CachingAuthenticator::cached_entries() {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

absl::StatusOr<Principal> CachingAuthenticator::Authenticate(absl::string_view authorization) {
  absl::StatusOr<ApiKeyParts> parts = ParseAuthorization(authorization);
  if (!parts.ok()) return parts.status();
  const int64_t generation = epochs_.generation();
  // The epoch first, then the database: an answer is filed under an epoch read before it, never after, so a
  // change committed between the two is caught by the next epoch check.
  bool lost_redis = false;
  const std::optional<int64_t> epoch = epochs_.Current(parts->tenant_id, &lost_redis);
  if (!epoch.has_value()) {
    if (lost_redis) {
      // Whatever is cached may have been revoked while Redis was out of reach, its bump lost: nothing cached
      // before the outage is served after it.
      absl::MutexLock lock(&mu_);
      entries_.Clear();
    }
    Count(bypassed_, &Stats::bypassed);
    return database_.Lookup(*parts, nullptr);
  }
  const std::string secret_sha256 = Sha256Hex(parts->secret);
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    const Entry* entry = entries_.Find(parts->tenant_id, parts->key_id);
    if (entry != nullptr && entry->epoch == *epoch && now - entry->loaded < options_.ttl && now < entry->expire) {
      if (SameDigest(entry->secret_sha256, secret_sha256)) {
        ++stats_.hits;
        if (hits_ != nullptr) hits_->Increment();
        return entry->principal;
      }
      ++stats_.wrong_secrets;
      if (wrong_secrets_ != nullptr) wrong_secrets_->Increment();
      // The database's own answer for a wrong secret (auth.cc), without asking it.
      return absl::UnauthenticatedError("authorization: unknown API key or wrong secret");
    }
  }
  Count(misses_, &Stats::misses);
  absl::Time expire = absl::InfiniteFuture();
  absl::StatusOr<Principal> principal = database_.Lookup(*parts, &expire);
  if (!principal.ok()) return principal;
  absl::MutexLock lock(&mu_);
  // An invalidation here raced the look-up: not kept. Checked under mu_, which TenantKeysChanged takes after
  // bumping, so an entry inserted before the bump is dropped by it.
  if (epochs_.generation() != generation) return principal;
  entries_.Put(parts->tenant_id, parts->key_id, Entry{*principal, secret_sha256, *epoch, now, expire}, now,
               [&](const Entry& entry) { return now - entry.loaded >= options_.ttl || now >= entry.expire; });
  return principal;
}

void CachingAuthenticator::TenantKeysChanged(const std::string& tenant_id) {
  epochs_.Bump(tenant_id, "auth");
  absl::MutexLock lock(&mu_);
  entries_.ForgetTenant(tenant_id);
}

}  // namespace parkbase
