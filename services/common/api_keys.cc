#include "common/api_keys.h"

namespace parkbase {

DeviceKey InsertDeviceKey(pqxx::work& work, const std::string& tenant_id, const std::string& device_id,
                          const std::string& display_name, const std::string& creator) {
  MintedKey minted = MintApiKey(tenant_id);
  work.exec_params(
      "INSERT INTO api_keys (tenant_id, key_id, display_name, role, device_id, secret_sha256, creator) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7)",
      tenant_id, minted.key_id, display_name, static_cast<int>(Role::kDevice), device_id, minted.secret_sha256,
      creator);
  return DeviceKey{minted.key_id, minted.key};
}

void SetDeviceKeysDisabled(pqxx::work& work, const std::string& tenant_id, const std::string& device_id,
                           bool disabled) {
  work.exec_params("UPDATE api_keys SET device_disabled = $3 WHERE tenant_id = $1 AND device_id = $2", tenant_id,
                   device_id, disabled);
}

bool RevokeDeviceKey(pqxx::work& work, const std::string& tenant_id, const std::string& device_id,
                     const std::string& key_id) {
  pqxx::result result = work.exec_params(
      "UPDATE api_keys SET revoke_time = now() WHERE tenant_id = $1 AND device_id = $2 AND key_id = $3 "
      "AND revoke_time IS NULL",
      tenant_id, device_id, key_id);
  return result.affected_rows() == 1;
}

int RevokeAllDeviceKeys(pqxx::work& work, const std::string& tenant_id, const std::string& device_id) {
  pqxx::result result = work.exec_params(
      "UPDATE api_keys SET revoke_time = now() WHERE tenant_id = $1 AND device_id = $2 AND revoke_time IS NULL",
      tenant_id, device_id);
  return static_cast<int>(result.affected_rows());
}

std::vector<DeviceKeyInfo> ListDeviceKeys(pqxx::work& work, const std::string& tenant_id,
                                          const std::string& device_id) {
  pqxx::result result = work.exec_params(
      "SELECT key_id, display_name, floor(extract(epoch FROM create_time) * 1000000)::bigint, "
      "coalesce(floor(extract(epoch FROM revoke_time) * 1000000)::bigint, 0) "
      "FROM api_keys WHERE tenant_id = $1 AND device_id = $2 ORDER BY create_time DESC, key_id DESC",
      tenant_id, device_id);
  std::vector<DeviceKeyInfo> keys;
  keys.reserve(result.size());
  for (const auto& row : result) {
    keys.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<int64_t>(), row[3].as<int64_t>()});
  }
  return keys;
}

}  // namespace parkbase
