#include "common/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/names.h"
#include "google/protobuf/util/json_util.h"

namespace parkbase {
namespace {

constexpr char kKeyPrefix[] = "pbk";
// 32 random bytes: far beyond guessing, so a plain SHA-256 (no slow hash) is the right way to store them.
constexpr size_t kSecretBytes = 32;
constexpr size_t kKeyIdBytes = 8;

constexpr char kLookupStatement[] = "auth_lookup_key";
constexpr char kLookupSql[] =
    "SELECT k.role, coalesce(k.device_id, ''), "
    "       coalesce(floor(extract(epoch FROM k.expire_time) * 1000000)::bigint, 0), "
    "       k.revoke_time IS NOT NULL, t.state, k.device_disabled, t.suspend_reason, coalesce(d.state, 0), "
    "       coalesce(k.app_grant::text, '') "
    "FROM api_keys k JOIN tenants t ON t.tenant_id = k.tenant_id "
    "LEFT JOIN devices d ON d.tenant_id = k.tenant_id AND d.device_id = k.device_id "
    "WHERE k.tenant_id = $1 AND k.key_id = $2 AND k.secret_sha256 = $3";

// A device's first authenticated call moves it from PROVISIONED to ACTIVE (it has been heard from): the devices
// table belongs to the device service, but "a device called in" is decided here, where every call passes.
constexpr char kActivateStatement[] = "auth_activate_device";
constexpr char kActivateSql[] =
    "UPDATE devices SET state = 2, last_seen_time = now(), update_time = now() "
    "WHERE tenant_id = $1 AND device_id = $2 AND state = 1";
constexpr int kDeviceStateProvisioned = 1;  // parkbase.device.v1.DEVICE_STATE_PROVISIONED

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("authorization: ", why));
}

bool IsLowerHex(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
  });
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kParkAdmin:
      return "park_admin";
    case Role::kTenantAdmin:
      return "tenant_admin";
    case Role::kDeveloper:
      return "developer";
    case Role::kDevice:
      return "device";
    case Role::kProvider:
      return "provider";
    case Role::kApp:
      return "app";
    case Role::kUnspecified:
      break;
  }
  return "unspecified";
}

std::string Principal::KeyName() const {
  if (key_id.empty()) return "system";
  return absl::StrCat("tenants/", tenant_id, "/apiKeys/", key_id);
}

absl::StatusOr<ApiKeyParts> ParseApiKey(absl::string_view key) {
  std::vector<absl::string_view> parts = absl::StrSplit(key, '.');
  if (parts.size() != 4 || parts[0] != kKeyPrefix || !ValidateTenantId("key", parts[1]).ok() ||
      parts[2].size() != 2 * kKeyIdBytes || !IsLowerHex(parts[2]) || parts[3].size() != 2 * kSecretBytes ||
      !IsLowerHex(parts[3])) {
    return Unauthenticated("malformed API key; expected pbk.<tenant>.<key id>.<secret>");
  }
  return ApiKeyParts{std::string(parts[1]), std::string(parts[2]), std::string(parts[3])};
}

std::string KeyIdOf(absl::string_view authorization) {
  absl::string_view token = authorization;
  if (!absl::ConsumePrefix(&token, "Bearer ") && !absl::ConsumePrefix(&token, "bearer ")) return "";
  absl::StatusOr<ApiKeyParts> parts = ParseApiKey(absl::StripAsciiWhitespace(token));
  if (!parts.ok()) return "";
  return absl::StrCat(parts->tenant_id, "/", parts->key_id);
}

MintedKey MintApiKey(absl::string_view tenant_id) {
  MintedKey minted;
  minted.key_id = absl::BytesToHexString(RandomBytes(kKeyIdBytes));
  const std::string secret = absl::BytesToHexString(RandomBytes(kSecretBytes));
  minted.key = absl::StrCat(kKeyPrefix, ".", tenant_id, ".", minted.key_id, ".", secret);
  minted.secret_sha256 = Sha256Hex(secret);
  return minted;
}

PgAuthenticator::PgAuthenticator(DbPool& db, Clock& clock, TenantEpochs* device_epochs)
    : db_(db), clock_(clock), device_epochs_(device_epochs) {
  db_.Prepare(kLookupStatement, kLookupSql);
  db_.Prepare(kActivateStatement, kActivateSql);
}

absl::StatusOr<ApiKeyParts> ParseAuthorization(absl::string_view authorization) {
  if (authorization.empty()) return Unauthenticated("missing; send the metadata 'authorization: Bearer <api key>'");
  absl::string_view token = authorization;
  if (!absl::ConsumePrefix(&token, "Bearer ") && !absl::ConsumePrefix(&token, "bearer ")) {
    return Unauthenticated("must be 'Bearer <api key>'");
  }
  return ParseApiKey(absl::StripAsciiWhitespace(token));
}

absl::StatusOr<Principal> PgAuthenticator::Authenticate(absl::string_view authorization) {
  absl::StatusOr<ApiKeyParts> parts = ParseAuthorization(authorization);
  if (!parts.ok()) return parts.status();
  return Lookup(*parts, nullptr);
}

absl::StatusOr<Principal> PgAuthenticator::Lookup(const ApiKeyParts& parts, absl::Time* expire_time) {
  struct Row {
    int role = 0;
    std::string device_id;
    int64_t expire_micros = 0;
    bool revoked = false;
    int tenant_state = 0;
    bool device_disabled = false;
    std::string suspend_reason;
    int device_state = 0;
    std::string app_grant_json;
    bool activated = false;
  };
  auto row = db_.Transact<std::optional<Row>>(
      TenantScope::Tenant(parts.tenant_id), [&](pqxx::work& work) -> absl::StatusOr<std::optional<Row>> {
        pqxx::result result =
            work.exec_prepared(kLookupStatement, parts.tenant_id, parts.key_id, Sha256Hex(parts.secret));
        if (result.empty()) return std::optional<Row>();
        Row found;
        found.role = result[0][0].as<int>();
        found.device_id = result[0][1].as<std::string>();
        found.expire_micros = result[0][2].as<int64_t>();
        found.revoked = result[0][3].as<bool>();
        found.tenant_state = result[0][4].as<int>();
        found.device_disabled = result[0][5].as<bool>();
        found.suspend_reason = result[0][6].as<std::string>();
        found.device_state = result[0][7].as<int>();
        found.app_grant_json = result[0][8].as<std::string>();
        const bool usable = !found.revoked && !found.device_disabled && found.tenant_state != 2 &&
                            (found.expire_micros == 0 || absl::FromUnixMicros(found.expire_micros) > clock_.Now());
        if (usable && found.device_state == kDeviceStateProvisioned) {
          work.exec_prepared(kActivateStatement, parts.tenant_id, found.device_id);
          found.activated = true;
        }
        return std::optional<Row>(found);
      });
  if (!row.ok()) return row.status();
  if (!row->has_value()) return Unauthenticated("unknown API key or wrong secret");
  const Row& key = **row;
  // The device's state and last_seen_time changed: cached GetDevice answers on every replica must go (once per
  // device).
  if (key.activated && device_epochs_ != nullptr) device_epochs_->Bump(parts.tenant_id, "device");
  if (key.revoked) return Unauthenticated("API key revoked");
  if (key.device_disabled) {
    return WithReason(absl::PermissionDeniedError("the key's device is disabled"), "DEVICE_DISABLED");
  }
  if (key.expire_micros != 0 && absl::FromUnixMicros(key.expire_micros) <= clock_.Now()) {
    return Unauthenticated("API key expired");
  }
  constexpr int kTenantStateSuspended = 2;  // parkbase.tenant.v1.TENANT_STATE_SUSPENDED
  if (key.tenant_state == kTenantStateSuspended) {
    // The reason is the park's message to the tenant: this refusal is the one place the tenant can read it.
    return WithReason(absl::PermissionDeniedError(absl::StrCat("tenant ", parts.tenant_id, " is suspended: ",
                                                               key.suspend_reason)),
                      "TENANT_SUSPENDED");
  }
  Principal principal;
  principal.tenant_id = parts.tenant_id;
  principal.role = static_cast<Role>(key.role);
  principal.key_id = parts.key_id;
  principal.device_id = key.device_id;
  if (principal.role == Role::kApp) {
    auto grant = std::make_shared<access::v1::AppGrant>();
    if (!google::protobuf::util::JsonStringToMessage(key.app_grant_json, grant.get()).ok()) {
      // Only InstallApp writes grants; an unreadable one is refused rather than read as "no narrowing".
      return absl::InternalError("app credential: stored grant unreadable");
    }
    principal.app = std::move(grant);
  }
  if (expire_time != nullptr) {
    *expire_time = key.expire_micros == 0 ? absl::InfiniteFuture() : absl::FromUnixMicros(key.expire_micros);
  }
  return principal;
}

}  // namespace parkbase
