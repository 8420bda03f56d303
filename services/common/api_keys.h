// Writing API keys from inside another service's transaction. Keys are a platform concept (authentication in
// auth.h reads them), so the device service mints and blocks device keys through these functions rather than
// through SQL of its own; the transaction must run under the key's tenant scope.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"
#include "common/auth.h"
#include "parkbase/access/v1/access.pb.h"

namespace parkbase {

struct DeviceKey {
  std::string key_id;
  std::string key;  // shown once
};

// Mints a ROLE_DEVICE key bound to `device_id`; `creator` is the minting key's resource name.
DeviceKey InsertDeviceKey(pqxx::work& work, const std::string& tenant_id, const std::string& device_id,
                          const std::string& display_name, const std::string& creator);

// Blocks (disabled = true) or unblocks every key of a device, at once for every replica.
void SetDeviceKeysDisabled(pqxx::work& work, const std::string& tenant_id, const std::string& device_id,
                           bool disabled);

// Revokes one key of a device; false when the device has no such unrevoked key.
bool RevokeDeviceKey(pqxx::work& work, const std::string& tenant_id, const std::string& device_id,
                     const std::string& key_id);

// Revokes every unrevoked key of a device (the device is being deleted); returns how many.
int RevokeAllDeviceKeys(pqxx::work& work, const std::string& tenant_id, const std::string& device_id);

// What may be shown of a device key: never its secret or hash.
struct DeviceKeyInfo {
  std::string key_id;
  std::string display_name;
  int64_t create_micros = 0;
  int64_t revoke_micros = 0;  // 0 while unrevoked
};

// Every key of a device, newest first.
std::vector<DeviceKeyInfo> ListDeviceKeys(pqxx::work& work, const std::string& tenant_id,
                                          const std::string& device_id);

}  // namespace parkbase

namespace parkbase {

struct AppCredential {
  std::string key_id;
  std::string key;  // shown once
};

// Mints a ROLE_APP key for `installation` (`tenants/{tenant}/installations/{id}`) carrying `grant`.
AppCredential InsertAppKey(pqxx::work& work, const std::string& tenant_id, const std::string& installation,
                           const access::v1::AppGrant& grant, const std::string& creator);

// Replaces the grant of an unrevoked app credential; false when there is no such key.
bool UpdateAppKeyGrant(pqxx::work& work, const std::string& tenant_id, const std::string& key_id,
                       const access::v1::AppGrant& grant);

// Revokes an app credential; false when it was already revoked or does not exist.
bool RevokeAppKey(pqxx::work& work, const std::string& tenant_id, const std::string& key_id);

}  // namespace parkbase
