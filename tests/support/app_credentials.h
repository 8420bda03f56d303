// App credentials for tests, minted the way the marketplace's InstallApp mints them (common/api_keys.h, in a
// transaction under the tenant's own scope), before the marketplace service exists to call.
#pragma once

#include <string>

#include "common/auth_cache.h"
#include "parkbase/access/v1/access.pb.h"

namespace parkbase::testing {

struct TestAppCredential {
  std::string key_id;
  std::string key;
};

// Mints an app credential of `tenant_id` carrying `grant` in the process's database. REQUIREs success.
TestAppCredential MintAppCredential(const std::string& tenant_id, const access::v1::AppGrant& grant);
// Replaces its grant (an upgrade) or revokes it, as the marketplace would: committed, then told to `auth` (the
// server's, PlatformServer::auth_invalidator, so its cached keys and every replica's see it). REQUIRE success.
void UpdateAppCredentialGrant(const std::string& tenant_id, const std::string& key_id,
                              const access::v1::AppGrant& grant, AuthInvalidator& auth);
void RevokeAppCredential(const std::string& tenant_id, const std::string& key_id, AuthInvalidator& auth);

// A grant holding every scope of kAppScopes and narrowing nothing else.
access::v1::AppGrant EveryScopeGrant();

}  // namespace parkbase::testing
