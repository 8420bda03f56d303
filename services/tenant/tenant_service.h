// The gRPC face of the tenant service: each method authenticates through CallRunner, calls TenantManager and
// copies the answer out. No rules live here.
#pragma once

#include "absl/status/status.h"
#include "common/call.h"
#include "common/raw_requests.h"
#include "common/server.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"
#include "tenant/tenant_logic.h"

namespace parkbase::tenant {

class TenantServiceImpl final : public OwnParsing<pb::TenantService::Service> {
 public:
  TenantServiceImpl(CallRunner& calls, RequestParser& parser, TenantManager& manager);

  grpc::Status CreateTenant(grpc::ServerContext* context, const pb::CreateTenantRequest* request,
                            pb::Tenant* response) override;
  grpc::Status GetTenant(grpc::ServerContext* context, const pb::GetTenantRequest* request,
                         pb::Tenant* response) override;
  grpc::Status GetTenantUsage(grpc::ServerContext* context, const pb::GetTenantUsageRequest* request,
                              pb::TenantUsage* response) override;
  grpc::Status ListTenants(grpc::ServerContext* context, const pb::ListTenantsRequest* request,
                           pb::ListTenantsResponse* response) override;
  grpc::Status UpdateTenant(grpc::ServerContext* context, const pb::UpdateTenantRequest* request,
                            pb::Tenant* response) override;
  grpc::Status SuspendTenant(grpc::ServerContext* context, const pb::SuspendTenantRequest* request,
                             pb::Tenant* response) override;
  grpc::Status ResumeTenant(grpc::ServerContext* context, const pb::ResumeTenantRequest* request,
                            pb::Tenant* response) override;
  grpc::Status DeleteTenant(grpc::ServerContext* context, const pb::DeleteTenantRequest* request,
                            pb::DeleteTenantResponse* response) override;
  grpc::Status CreateApiKey(grpc::ServerContext* context, const pb::CreateApiKeyRequest* request,
                            pb::CreateApiKeyResponse* response) override;
  grpc::Status ListApiKeys(grpc::ServerContext* context, const pb::ListApiKeysRequest* request,
                           pb::ListApiKeysResponse* response) override;
  grpc::Status RevokeApiKey(grpc::ServerContext* context, const pb::RevokeApiKeyRequest* request,
                            pb::ApiKey* response) override;
  grpc::Status ListAuditEvents(grpc::ServerContext* context, const pb::ListAuditEventsRequest* request,
                               pb::ListAuditEventsResponse* response) override;

 private:
  CallRunner& calls_;
  TenantManager& manager_;
};

// Adds the tenant service to a server (its own binary or `parkbase serve`).
absl::Status RegisterTenantService(ServiceHost& host);

}  // namespace parkbase::tenant
