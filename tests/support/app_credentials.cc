#include "support/app_credentials.h"

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "common/api_keys.h"
#include "common/app_grant.h"
#include "common/db.h"
#include "support/test_env.h"

namespace parkbase::testing {
namespace {

DbPool& Pool() {
  // The services' own role, so row-level security applies to the insert as it will to InstallApp's.
  static auto* pool = new DbPool(DbPool::Options{.url = SharedDatabase().app_url(), .size = 1});
  return *pool;
}

}  // namespace

TestAppCredential MintAppCredential(const std::string& tenant_id, const access::v1::AppGrant& grant) {
  TestAppCredential minted;
  const std::string installation = absl::StrCat("tenants/", tenant_id, "/installations/", UniqueId("i"));
  absl::Status status = Pool().Transact(TenantScope::Tenant(tenant_id), [&](pqxx::work& work) -> absl::Status {
    AppCredential credential = InsertAppKey(work, tenant_id, installation, grant, "system");
    minted.key_id = credential.key_id;
    minted.key = credential.key;
    return absl::OkStatus();
  });
  INFO(status.ToString());
  REQUIRE(status.ok());
  RecordSecret(minted.key);
  return minted;
}

void UpdateAppCredentialGrant(const std::string& tenant_id, const std::string& key_id,
                              const access::v1::AppGrant& grant, AuthInvalidator& auth) {
  absl::Status status = Pool().Transact(TenantScope::Tenant(tenant_id), [&](pqxx::work& work) -> absl::Status {
    if (!UpdateAppKeyGrant(work, tenant_id, key_id, grant)) return absl::NotFoundError("no such app credential");
    return absl::OkStatus();
  });
  INFO(status.ToString());
  REQUIRE(status.ok());
  auth.TenantKeysChanged(tenant_id);
}

void RevokeAppCredential(const std::string& tenant_id, const std::string& key_id, AuthInvalidator& auth) {
  absl::Status status = Pool().Transact(TenantScope::Tenant(tenant_id), [&](pqxx::work& work) -> absl::Status {
    if (!RevokeAppKey(work, tenant_id, key_id)) return absl::NotFoundError("no such app credential");
    return absl::OkStatus();
  });
  INFO(status.ToString());
  REQUIRE(status.ok());
  auth.TenantKeysChanged(tenant_id);
}

access::v1::AppGrant EveryScopeGrant() {
  access::v1::AppGrant grant;
  for (absl::string_view scope : kAppScopes) grant.add_scopes(std::string(scope));
  return grant;
}

}  // namespace parkbase::testing
