// Authentication without a database round trip: an in-process cache of authenticated keys in front of
// PgAuthenticator, invalidated across replicas through a per-tenant auth epoch in Redis
// (`pb:auth-epoch:{<tenant>}`, redis_keys.h).
//
// Why: every call looked its key up in PostgreSQL (a transaction under the tenant's row-level security) before the
// handler ran its own; on the 2-core machine that halved what a cheap call like GetDevice could reach.
//
// How revocation still reaches every replica:
// - Every change to who a key is or whether it is valid bumps its tenant's epoch after the change commits
//   (AuthInvalidator::TenantKeysChanged): RevokeApiKey, SuspendTenant, ResumeTenant, DeleteTenant, a device's
//   disable, enable or delete and a device credential's revoke, an app installation's grant change or uninstall.
//   Key roles never change (the database refuses it), and new keys need no bump (nothing cached them).
// - An entry remembers the epoch it was read under, and is served only while the tenant's epoch is still that
//   value. The epoch is re-read from Redis at most every `epoch_check_interval` (250 ms) per tenant, and always
//   before the database look-up whose answer is cached, so an answer read before a change is never filed under
//   the epoch bumped after it. **Bound: a committed revocation is refused on every replica within
//   epoch_check_interval plus one Redis round trip (≤ 1 s documented; 250 ms + ~1 ms here).** On the replica
//   that made the change it is refused at once: the bump also drops that tenant's entries in process.
// - Entries also end at the key's expire_time and after `ttl` (5 s), whatever the epoch says.
// - A wrong secret for a cached key id is refused: the entry holds SHA-256 of the secret that was verified,
//   compared in constant time with the presented one's.
//
// When Redis is unreachable (bounded staleness): a tenant whose epoch cannot be read is not served from the cache
// at all, every call goes to PostgreSQL, and the whole cache is dropped (what it held may have been revoked
// meanwhile, its bump lost). A bump that fails is logged and counted; the change is still refused at once by the
// replica that made it, and by other replicas as soon as they fail to read the epoch. The one case the epoch cannot
// cover is a bump lost while another replica kept reading the old epoch (an outage shorter than its check
// interval, or a bump refused while reads succeed): then `ttl` is the bound. A Redis that lost its data starts
// epochs at a random value (redis_keys::ReadEpoch), so it never hands back one a replica still holds.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/redis.h"
#include "common/tenant_entries.h"
#include "common/tenant_epochs.h"

namespace prometheus {
class Counter;
class Registry;
}  // namespace prometheus

namespace parkbase {

// Tells authenticators everywhere that a key of `tenant_id` changed who it is or whether it is valid. Called after
// the change committed; never fails the change (a lost bump is bounded as above).
class AuthInvalidator {
 public:
  virtual ~AuthInvalidator() = default;
  virtual void TenantKeysChanged(const std::string& tenant_id) = 0;
};

// Bumps the tenant's auth epoch in Redis: what a replica without a cache of its own still owes the others.
class RedisAuthInvalidator final : public AuthInvalidator {
 public:
  explicit RedisAuthInvalidator(RedisClient& redis);
  void TenantKeysChanged(const std::string& tenant_id) override;

 private:
  RedisClient& redis_;
};

class CachingAuthenticator final : public Authenticator, public AuthInvalidator {
 public:
  struct Options {
    absl::Duration epoch_check_interval = absl::Milliseconds(250);
    absl::Duration ttl = absl::Seconds(5);
    // Cached keys; an entry is ~300 bytes (more for an app credential's grant), so 100,000 cost ~30 MB. When
    // full, the cache is emptied (a miss costs one database look-up).
    size_t max_entries = 100'000;
  };

  // `database` answers misses and every call while Redis is unreachable. `registry` (may be null) gets
  // parkbase_auth_cache_lookups_total{result="hit|miss|bypass|wrong_secret"}.
  CachingAuthenticator(PgAuthenticator& database, RedisClient& redis, Clock& clock, Options options,
                       prometheus::Registry* registry = nullptr);

  absl::StatusOr<Principal> Authenticate(absl::string_view authorization) override;
  // Bumps the epoch in Redis and drops the tenant's entries here.
  void TenantKeysChanged(const std::string& tenant_id) override;

  struct Stats {
    int64_t hits = 0;
    int64_t misses = 0;
    // Calls answered by the database because the tenant's epoch could not be read.
    int64_t bypassed = 0;
    int64_t wrong_secrets = 0;
  };
  Stats stats();
  // Keys cached in this process (entries past their ttl are swept at most once per ttl).
  size_t cached_entries();

 private:
  struct Entry {
    Principal principal;
    std::string secret_sha256;  // of the secret the database verified
    int64_t epoch = 0;
    absl::Time loaded;
    absl::Time expire;  // the key's expire_time; InfiniteFuture when it has none
  };
  void Count(prometheus::Counter* counter, int64_t Stats::*field);

  PgAuthenticator& database_;
  Clock& clock_;
  const Options options_;
  // The tenants' auth epochs, shared logic with the device cache (tenant_epochs.h).
  TenantEpochs epochs_;
  absl::Mutex mu_;
  // By tenant, then key id: a tenant's entries go at once when its keys change. Swept once per ttl of the
  // entries past their ttl or their key's expire_time.
  TenantEntries<Entry> entries_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  prometheus::Counter* hits_ = nullptr;
  prometheus::Counter* misses_ = nullptr;
  prometheus::Counter* bypassed_ = nullptr;
  prometheus::Counter* wrong_secrets_ = nullptr;
};

}  // namespace parkbase
