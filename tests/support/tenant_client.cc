#include "support/tenant_client.h"

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"

namespace parkbase::testing {

TenantClient::TenantClient(TestServer& server)
    : server_(server), stub_(tenantpb::TenantService::NewStub(server.channel())) {}

std::string TenantClient::CreateKey(const std::string& caller_key, const std::string& tenant_id,
                                    tenantpb::Role role) {
  tenantpb::CreateApiKeyRequest request;
  request.set_parent(absl::StrCat("tenants/", tenant_id));
  request.mutable_api_key()->set_display_name(absl::StrCat("test ", tenantpb::Role_Name(role)));
  request.mutable_api_key()->set_role(role);
  tenantpb::CreateApiKeyResponse response;
  grpc::Status status = stub_->CreateApiKey(Context(caller_key).get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  RecordSecret(response.secret());
  return response.secret();
}

TestTenant TenantClient::CreateTenant(const std::string& prefix, tenantpb::Plan plan) {
  TestTenant tenant;
  tenant.tenant_id = UniqueId(prefix);
  tenantpb::CreateTenantRequest request;
  request.set_tenant_id(tenant.tenant_id);
  request.mutable_tenant()->set_display_name(absl::StrCat("Tenant ", tenant.tenant_id));
  request.mutable_tenant()->set_plan(plan);
  tenantpb::Tenant created;
  grpc::Status status = stub_->CreateTenant(Context(server_.park_admin_key()).get(), request, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
  tenant.admin_key = CreateKey(server_.park_admin_key(), tenant.tenant_id, tenantpb::ROLE_TENANT_ADMIN);
  tenant.developer_key = CreateKey(tenant.admin_key, tenant.tenant_id, tenantpb::ROLE_DEVELOPER);
  return tenant;
}

}  // namespace parkbase::testing
