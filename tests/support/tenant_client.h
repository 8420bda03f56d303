// Test helpers that set up tenants and keys through the public tenant API, as a park administrator would.
#pragma once

#include <memory>
#include <string>

#include "parkbase/tenant/v1/tenant.grpc.pb.h"
#include "support/test_env.h"

namespace parkbase::testing {

namespace tenantpb = ::parkbase::tenant::v1;

struct TestTenant {
  std::string tenant_id;
  std::string admin_key;      // ROLE_TENANT_ADMIN
  std::string developer_key;  // ROLE_DEVELOPER
};

class TenantClient {
 public:
  explicit TenantClient(TestServer& server);

  tenantpb::TenantService::Stub& stub() { return *stub_; }

  // Creates a tenant with a unique id and an admin and a developer key. REQUIREs success.
  TestTenant CreateTenant(const std::string& prefix = "t", tenantpb::Plan plan = tenantpb::PLAN_STANDARD);
  // Mints a key of `role` in `tenant_id` with the given key; REQUIREs success.
  std::string CreateKey(const std::string& caller_key, const std::string& tenant_id, tenantpb::Role role);

 private:
  TestServer& server_;
  std::unique_ptr<tenantpb::TenantService::Stub> stub_;
};

}  // namespace parkbase::testing
