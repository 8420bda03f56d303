#include "device/device_service.h"

#include "device/device_cache.h"

namespace parkbase::device {
DeviceServiceImpl::DeviceServiceImpl(CallRunner& calls, RequestParser& parser, DeviceManager& manager)
    : OwnParsing(parser, pb::DeviceService::service_full_name()), calls_(calls), manager_(manager) {
  ParseUnary("CreateDeviceType", &DeviceServiceImpl::CreateDeviceType);
  ParseUnary("GetDeviceType", &DeviceServiceImpl::GetDeviceType);
  ParseUnary("ListDeviceTypes", &DeviceServiceImpl::ListDeviceTypes);
  ParseUnary("UpdateDeviceType", &DeviceServiceImpl::UpdateDeviceType);
  ParseUnary("DeleteDeviceType", &DeviceServiceImpl::DeleteDeviceType);
  ParseUnary("CreateDevice", &DeviceServiceImpl::CreateDevice);
  ParseUnary("GetDevice", &DeviceServiceImpl::GetDevice);
  ParseUnary("ListDevices", &DeviceServiceImpl::ListDevices);
  ParseUnary("UpdateDevice", &DeviceServiceImpl::UpdateDevice);
  ParseUnary("DeleteDevice", &DeviceServiceImpl::DeleteDevice);
  ParseUnary("DisableDevice", &DeviceServiceImpl::DisableDevice);
  ParseUnary("EnableDevice", &DeviceServiceImpl::EnableDevice);
  ParseUnary("SetDeviceAttributes", &DeviceServiceImpl::SetDeviceAttributes);
  ParseUnary("CreateDeviceCredential", &DeviceServiceImpl::CreateDeviceCredential);
  ParseUnary("ListDeviceCredentials", &DeviceServiceImpl::ListDeviceCredentials);
  ParseUnary("RevokeDeviceCredential", &DeviceServiceImpl::RevokeDeviceCredential);
  ParseUnary("ResolveIdentifier", &DeviceServiceImpl::ResolveIdentifier);
  ParseStream("ImportDevices", &DeviceServiceImpl::ServeImportDevices);
}

grpc::Status DeviceServiceImpl::CreateDeviceType(grpc::ServerContext* context, const pb::CreateDeviceTypeRequest* request,
                                    pb::DeviceType* response) {
  return calls_.Serve(context, Method("CreateDeviceType"), manager_, &DeviceManager::CreateDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::GetDeviceType(grpc::ServerContext* context, const pb::GetDeviceTypeRequest* request,
                                    pb::DeviceType* response) {
  return calls_.Serve(context, Method("GetDeviceType"), manager_, &DeviceManager::GetDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::ListDeviceTypes(grpc::ServerContext* context, const pb::ListDeviceTypesRequest* request,
                                    pb::ListDeviceTypesResponse* response) {
  return calls_.Serve(context, Method("ListDeviceTypes"), manager_, &DeviceManager::ListDeviceTypes, request, response);
}

grpc::Status DeviceServiceImpl::UpdateDeviceType(grpc::ServerContext* context, const pb::UpdateDeviceTypeRequest* request,
                                    pb::DeviceType* response) {
  return calls_.Serve(context, Method("UpdateDeviceType"), manager_, &DeviceManager::UpdateDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::DeleteDeviceType(grpc::ServerContext* context, const pb::DeleteDeviceTypeRequest* request,
                                    pb::DeleteDeviceTypeResponse* response) {
  return calls_.Serve(context, Method("DeleteDeviceType"), manager_, &DeviceManager::DeleteDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::CreateDevice(grpc::ServerContext* context, const pb::CreateDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("CreateDevice"), manager_, &DeviceManager::CreateDevice, request, response);
}

grpc::Status DeviceServiceImpl::GetDevice(grpc::ServerContext* context, const pb::GetDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("GetDevice"), manager_, &DeviceManager::GetDevice, request, response);
}

grpc::Status DeviceServiceImpl::ListDevices(grpc::ServerContext* context, const pb::ListDevicesRequest* request,
                                    pb::ListDevicesResponse* response) {
  return calls_.Serve(context, Method("ListDevices"), manager_, &DeviceManager::ListDevices, request, response);
}

grpc::Status DeviceServiceImpl::UpdateDevice(grpc::ServerContext* context, const pb::UpdateDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("UpdateDevice"), manager_, &DeviceManager::UpdateDevice, request, response);
}

grpc::Status DeviceServiceImpl::DeleteDevice(grpc::ServerContext* context, const pb::DeleteDeviceRequest* request,
                                    pb::DeleteDeviceResponse* response) {
  return calls_.Serve(context, Method("DeleteDevice"), manager_, &DeviceManager::DeleteDevice, request, response);
}

grpc::Status DeviceServiceImpl::DisableDevice(grpc::ServerContext* context, const pb::DisableDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("DisableDevice"), manager_, &DeviceManager::DisableDevice, request, response);
}

grpc::Status DeviceServiceImpl::EnableDevice(grpc::ServerContext* context, const pb::EnableDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("EnableDevice"), manager_, &DeviceManager::EnableDevice, request, response);
}

grpc::Status DeviceServiceImpl::SetDeviceAttributes(grpc::ServerContext* context, const pb::SetDeviceAttributesRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("SetDeviceAttributes"), manager_, &DeviceManager::SetDeviceAttributes, request, response);
}

grpc::Status DeviceServiceImpl::CreateDeviceCredential(grpc::ServerContext* context, const pb::CreateDeviceCredentialRequest* request,
                                    pb::CreateDeviceCredentialResponse* response) {
  return calls_.Serve(context, Method("CreateDeviceCredential"), manager_, &DeviceManager::CreateDeviceCredential, request, response);
}

grpc::Status DeviceServiceImpl::ListDeviceCredentials(grpc::ServerContext* context, const pb::ListDeviceCredentialsRequest* request,
                                    pb::ListDeviceCredentialsResponse* response) {
  return calls_.Serve(context, Method("ListDeviceCredentials"), manager_, &DeviceManager::ListDeviceCredentials, request, response);
}

grpc::Status DeviceServiceImpl::RevokeDeviceCredential(grpc::ServerContext* context, const pb::RevokeDeviceCredentialRequest* request,
                                    pb::RevokeDeviceCredentialResponse* response) {
  return calls_.Serve(context, Method("RevokeDeviceCredential"), manager_, &DeviceManager::RevokeDeviceCredential, request, response);
}

grpc::Status DeviceServiceImpl::ResolveIdentifier(grpc::ServerContext* context, const pb::ResolveIdentifierRequest* request,
                                    pb::IdentifierRecord* response) {
  return calls_.Serve(context, Method("ResolveIdentifier"), manager_, &DeviceManager::ResolveIdentifier, request, response);
}

grpc::Status DeviceServiceImpl::ServeImportDevices(
    grpc::ServerContext* context, RawStream<pb::ImportDevicesRequest, pb::ImportDevicesResponse>* stream) {
  return calls_.RunStream(
      context, Method("ImportDevices"), /*request=*/nullptr, /*client_sends=*/true,
      [&](const Principal& caller, StreamRegistry::Stream& open) -> absl::Status {
        ParseBudget::Reservation held;
        bool first = true;
        auto result = manager_.ImportDevices(
            caller,
            [&](pb::ImportDevicesRequest* message) -> absl::StatusOr<bool> {
              message->Clear();
              absl::StatusOr<bool> read = stream->Read(message, &held);
              if (!read.ok() || !*read) return read;
              open.Touch();
              if (first) {
                // The first message names the tenant and passes the access gate.
                first = false;
                absl::StatusOr<AccessGrant> admitted =
                    calls_.AdmitFirstMessage(Method("ImportDevices"), caller, *message, open);
                if (!admitted.ok()) return admitted.status();
              }
              return true;
            },
            [&] { return open.Check(); });
        if (!result.ok()) return result.status();
        stream->Write(*result);
        return absl::OkStatus();
      });
}

absl::Status RegisterDeviceService(ServiceHost& host) {
  if (host.redis() == nullptr) {
    return absl::InvalidArgumentError("--redis_url: required by parkbase.device.v1.DeviceService");
  }
  DeviceStore* store = &host.Own(std::make_unique<PgDeviceStore>(host.db(), host.config().bulk_statement_timeout));
  if (host.config().device_cache && host.device_epochs() != nullptr) {
    // The auth cache's epoch check (device_epochs) and ttl: both bound what another replica's change takes to show.
    store = &host.Own(std::make_unique<CachingDeviceStore>(
        *store, *host.device_epochs(), host.clock(),
        CachingDeviceStore::Options{.ttl = host.config().auth_cache_ttl}, &host.registry()));
  }
  auto& invalidator = host.Own(std::make_unique<RedisSchemaInvalidator>(*host.redis()));
  auto& manager =
      host.Own(std::make_unique<DeviceManager>(*store, host.page_tokens(), invalidator, host.config().park_code,
                                               &host.auth_invalidator()));
  auto& service = host.Own(std::make_unique<DeviceServiceImpl>(host.calls(), host.parser(), manager));
  host.AddService(&service, pb::DeviceService::service_full_name(), {kPostgresDependency, kRedisDependency});
  return absl::OkStatus();
}

}  // namespace parkbase::device
