#include "tenant/tenant_service.h"

#include "absl/strings/str_cat.h"
#include "common/ingest_counts.h"
#include "common/redis_keys.h"

namespace parkbase::tenant {
TenantServiceImpl::TenantServiceImpl(CallRunner& calls, RequestParser& parser, TenantManager& manager)
    : OwnParsing(parser, pb::TenantService::service_full_name()), calls_(calls), manager_(manager) {
  ParseUnary("CreateTenant", &TenantServiceImpl::CreateTenant);
  ParseUnary("GetTenant", &TenantServiceImpl::GetTenant);
  ParseUnary("GetTenantUsage", &TenantServiceImpl::GetTenantUsage);
  ParseUnary("ListTenants", &TenantServiceImpl::ListTenants);
  ParseUnary("UpdateTenant", &TenantServiceImpl::UpdateTenant);
  ParseUnary("SuspendTenant", &TenantServiceImpl::SuspendTenant);
  ParseUnary("ResumeTenant", &TenantServiceImpl::ResumeTenant);
  ParseUnary("DeleteTenant", &TenantServiceImpl::DeleteTenant);
  ParseUnary("CreateApiKey", &TenantServiceImpl::CreateApiKey);
  ParseUnary("ListApiKeys", &TenantServiceImpl::ListApiKeys);
  ParseUnary("RevokeApiKey", &TenantServiceImpl::RevokeApiKey);
  ParseUnary("ListAuditEvents", &TenantServiceImpl::ListAuditEvents);
}

grpc::Status TenantServiceImpl::CreateTenant(grpc::ServerContext* context, const pb::CreateTenantRequest* request,
                                             pb::Tenant* response) {
  return calls_.Serve(context, Method("CreateTenant"), manager_, &TenantManager::CreateTenant, request, response);
}

grpc::Status TenantServiceImpl::GetTenant(grpc::ServerContext* context, const pb::GetTenantRequest* request,
                                          pb::Tenant* response) {
  return calls_.Serve(context, Method("GetTenant"), manager_, &TenantManager::GetTenant, request, response);
}

grpc::Status TenantServiceImpl::GetTenantUsage(grpc::ServerContext* context,
                                               const pb::GetTenantUsageRequest* request,
                                               pb::TenantUsage* response) {
  return calls_.Serve(context, Method("GetTenantUsage"), manager_, &TenantManager::GetTenantUsage, request,
                      response);
}

grpc::Status TenantServiceImpl::ListTenants(grpc::ServerContext* context, const pb::ListTenantsRequest* request,
                                            pb::ListTenantsResponse* response) {
  return calls_.Serve(context, Method("ListTenants"), manager_, &TenantManager::ListTenants, request, response);
}

grpc::Status TenantServiceImpl::UpdateTenant(grpc::ServerContext* context, const pb::UpdateTenantRequest* request,
                                             pb::Tenant* response) {
  return calls_.Serve(context, Method("UpdateTenant"), manager_, &TenantManager::UpdateTenant, request, response);
}

grpc::Status TenantServiceImpl::SuspendTenant(grpc::ServerContext* context, const pb::SuspendTenantRequest* request,
                                              pb::Tenant* response) {
  return calls_.Serve(context, Method("SuspendTenant"), manager_, &TenantManager::SuspendTenant, request, response);
}

grpc::Status TenantServiceImpl::ResumeTenant(grpc::ServerContext* context, const pb::ResumeTenantRequest* request,
                                             pb::Tenant* response) {
  return calls_.Serve(context, Method("ResumeTenant"), manager_, &TenantManager::ResumeTenant, request, response);
}

grpc::Status TenantServiceImpl::DeleteTenant(grpc::ServerContext* context, const pb::DeleteTenantRequest* request,
                                             pb::DeleteTenantResponse* response) {
  return calls_.Run(context, Method("DeleteTenant"), *request,
                    [&](const Principal& caller) { return manager_.DeleteTenant(caller, *request); });
}

grpc::Status TenantServiceImpl::CreateApiKey(grpc::ServerContext* context, const pb::CreateApiKeyRequest* request,
                                             pb::CreateApiKeyResponse* response) {
  return calls_.Serve(context, Method("CreateApiKey"), manager_, &TenantManager::CreateApiKey, request, response);
}

grpc::Status TenantServiceImpl::ListApiKeys(grpc::ServerContext* context, const pb::ListApiKeysRequest* request,
                                            pb::ListApiKeysResponse* response) {
  return calls_.Serve(context, Method("ListApiKeys"), manager_, &TenantManager::ListApiKeys, request, response);
}

grpc::Status TenantServiceImpl::RevokeApiKey(grpc::ServerContext* context, const pb::RevokeApiKeyRequest* request,
                                             pb::ApiKey* response) {
  return calls_.Serve(context, Method("RevokeApiKey"), manager_, &TenantManager::RevokeApiKey, request, response);
}

grpc::Status TenantServiceImpl::ListAuditEvents(grpc::ServerContext* context,
                                                const pb::ListAuditEventsRequest* request,
                                                pb::ListAuditEventsResponse* response) {
  return calls_.Serve(context, Method("ListAuditEvents"), manager_, &TenantManager::ListAuditEvents, request, response);
}

namespace {

class RedisCachePurger final : public TenantCachePurger {
 public:
  explicit RedisCachePurger(RedisClient& redis) : redis_(redis) {}
  absl::Status PurgeTenant(const std::string& tenant_id) override {
    absl::Status purged = redis_keys::PurgeTenant(redis_, tenant_id);
    if (purged.ok()) return purged;
    return absl::UnavailableError(absl::StrCat("redis: the tenant's cached state could not be removed (",
                                               purged.message(), "); its rows are gone, send the delete again"));
  }

 private:
  RedisClient& redis_;
};

class RedisIngestRates final : public IngestRates {
 public:
  explicit RedisIngestRates(RedisClient& redis) : redis_(redis) {}
  absl::StatusOr<double> PointsPerSecond(const std::string& tenant_id) override {
    return ingest_counts::ReadPointsPerSecond(redis_, tenant_id);
  }

 private:
  RedisClient& redis_;
};

}  // namespace

absl::Status RegisterTenantService(ServiceHost& host) {
  auto& store = host.Own(std::make_unique<PgTenantStore>(host.db()));
  TenantCachePurger* cache = nullptr;
  IngestRates* ingest_rates = nullptr;
  if (host.redis() != nullptr) {
    cache = &host.Own(std::make_unique<RedisCachePurger>(*host.redis()));
    ingest_rates = &host.Own(std::make_unique<RedisIngestRates>(*host.redis()));
  }
  auto& manager =
      host.Own(std::make_unique<TenantManager>(store, host.clock(), host.page_tokens(), cache,
                                               &host.auth_invalidator(), &host.request_replays(), ingest_rates));
  auto& service = host.Own(std::make_unique<TenantServiceImpl>(host.calls(), host.parser(), manager));
  host.AddService(&service, pb::TenantService::service_full_name(), {kPostgresDependency});
  return absl::OkStatus();
}

}  // namespace parkbase::tenant
