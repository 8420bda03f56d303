#include "common/api_keys.h"

#include "google/protobuf/util/json_util.h"

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

namespace parkbase {
namespace {

std::string GrantJson(const access::v1::AppGrant& grant) {
  std::string json;
  // Serializing a message we built cannot fail.
  (void)google::protobuf::util::MessageToJsonString(grant, &json);
  return json;
}

}  // namespace

AppCredential InsertAppKey(pqxx::work& work, const std::string& tenant_id, const std::string& installation,
                           const access::v1::AppGrant& grant, const std::string& creator) {
  MintedKey minted = MintApiKey(tenant_id);
  const std::string installation_id = installation.substr(installation.rfind('/') + 1);
  work.exec_params(
      "INSERT INTO api_keys (tenant_id, key_id, display_name, role, secret_sha256, creator, installation, "
      "app_grant) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
      tenant_id, minted.key_id, "app credential of installation " + installation_id, static_cast<int>(Role::kApp),
      minted.secret_sha256, creator, installation, GrantJson(grant));
  return AppCredential{minted.key_id, minted.key};
}

bool UpdateAppKeyGrant(pqxx::work& work, const std::string& tenant_id, const std::string& key_id,
                       const access::v1::AppGrant& grant) {
  pqxx::result result = work.exec_params(
      "UPDATE api_keys SET app_grant = $3::jsonb WHERE tenant_id = $1 AND key_id = $2 AND role = $4 "
      "AND revoke_time IS NULL",
      tenant_id, key_id, GrantJson(grant), static_cast<int>(Role::kApp));
  return result.affected_rows() == 1;
}

bool RevokeAppKey(pqxx::work& work, const std::string& tenant_id, const std::string& key_id) {
  pqxx::result result = work.exec_params(
      "UPDATE api_keys SET revoke_time = now() WHERE tenant_id = $1 AND key_id = $2 AND role = $3 "
      "AND revoke_time IS NULL",
      tenant_id, key_id, static_cast<int>(Role::kApp));
  return result.affected_rows() == 1;
}

}  // namespace parkbase
