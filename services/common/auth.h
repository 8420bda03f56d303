// Who is calling. Every call carries `authorization: Bearer <api key>`; the key resolves to a Principal or the call
// is refused. Keys look like `pbk.<tenant_id>.<key_id>.<secret>`: the tenant id in the key lets the look-up run
// under that tenant's row-level security like any other query, and only SHA-256 of the secret is stored.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/db.h"
#include "common/tenant_epochs.h"
#include "parkbase/access/v1/access.pb.h"

namespace parkbase {

// Numbers match parkbase.tenant.v1.Role.
enum class Role {
  kUnspecified = 0,
  kParkAdmin = 1,
  kTenantAdmin = 2,
  kDeveloper = 3,
  kDevice = 4,
  kProvider = 5,
  kApp = 6,
};

absl::string_view RoleName(Role role);

// The park operator's own tenant; park-admin keys live there.
inline constexpr absl::string_view kParkTenantId = "park";

struct Principal {
  std::string tenant_id;
  Role role = Role::kUnspecified;
  std::string key_id;
  // Set for device keys: the only device whose data the key may touch.
  std::string device_id;
  // Set for app credentials (Role::kApp): the installation's grant, which narrows everything the key may touch
  // (common/app_grant.h).
  std::shared_ptr<const access::v1::AppGrant> app;

  bool IsParkAdmin() const { return role == Role::kParkAdmin && tenant_id == kParkTenantId; }
  // `tenants/{tenant}/apiKeys/{key}`, or "system" for in-process administration.
  std::string KeyName() const;
};

struct ApiKeyParts {
  std::string tenant_id;
  std::string key_id;
  std::string secret;
};

// Splits and checks the shape of a key string. Errors are UNAUTHENTICATED and never echo the key.
absl::StatusOr<ApiKeyParts> ParseApiKey(absl::string_view key);

// The key of an `authorization` metadata value ("Bearer pbk...."). UNAUTHENTICATED when the value is missing, not
// a Bearer value, or not a key's shape.
absl::StatusOr<ApiKeyParts> ParseAuthorization(absl::string_view authorization);

// "<tenant>/<key_id>" of the key in an `authorization` value ("Bearer pbk...."), whether or not the key is valid;
// empty when it does not have a key's shape. Never the secret.
std::string KeyIdOf(absl::string_view authorization);

// A freshly minted key: the string to hand out once, and what to store.
struct MintedKey {
  std::string key_id;
  std::string key;            // pbk.<tenant>.<key_id>.<secret>
  std::string secret_sha256;  // hex; what the database keeps
};
MintedKey MintApiKey(absl::string_view tenant_id);

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // `authorization` is the raw metadata value ("Bearer pbk...."). UNAUTHENTICATED for a missing, malformed,
  // unknown, revoked or expired key; PERMISSION_DENIED when the key's tenant is suspended.
  virtual absl::StatusOr<Principal> Authenticate(absl::string_view authorization) = 0;
};

// Resolves keys in PostgreSQL on every call, so revocation and suspension take effect at once on every replica.
// CachingAuthenticator (auth_cache.h) answers most calls without it.
class PgAuthenticator final : public Authenticator {
 public:
  // `device_epochs` (may be null: no Redis, so no replica caches devices) hears of a device's activation by its
  // first authenticated call: the tenant's device epoch is bumped after it commits (device/device_cache.h).
  PgAuthenticator(DbPool& db, Clock& clock, TenantEpochs* device_epochs = nullptr);
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization) override;

  // The database's verdict on one parsed key; for a principal, `expire_time` (when not null) is set to the key's
  // expiry (InfiniteFuture when it has none), which a cache must not serve past.
  absl::StatusOr<Principal> Lookup(const ApiKeyParts& key, absl::Time* expire_time);

 private:
  DbPool& db_;
  Clock& clock_;
  TenantEpochs* device_epochs_;
};

}  // namespace parkbase
