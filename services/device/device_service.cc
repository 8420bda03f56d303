#include "device/device_service.h"

namespace parkbase::device {
DeviceServiceImpl::DeviceServiceImpl(CallRunner& calls, DeviceManager& manager) : calls_(calls), manager_(manager) {}

grpc::Status DeviceServiceImpl::CreateDeviceType(grpc::ServerContext* context, const pb::CreateDeviceTypeRequest* request,
                                    pb::DeviceType* response) {
  return calls_.Serve(context, "CreateDeviceType", manager_, &DeviceManager::CreateDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::GetDeviceType(grpc::ServerContext* context, const pb::GetDeviceTypeRequest* request,
                                    pb::DeviceType* response) {
  return calls_.Serve(context, "GetDeviceType", manager_, &DeviceManager::GetDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::ListDeviceTypes(grpc::ServerContext* context, const pb::ListDeviceTypesRequest* request,
                                    pb::ListDeviceTypesResponse* response) {
  return calls_.Serve(context, "ListDeviceTypes", manager_, &DeviceManager::ListDeviceTypes, request, response);
}

grpc::Status DeviceServiceImpl::UpdateDeviceType(grpc::ServerContext* context, const pb::UpdateDeviceTypeRequest* request,
                                    pb::DeviceType* response) {
  return calls_.Serve(context, "UpdateDeviceType", manager_, &DeviceManager::UpdateDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::DeleteDeviceType(grpc::ServerContext* context, const pb::DeleteDeviceTypeRequest* request,
                                    pb::DeleteDeviceTypeResponse* response) {
  return calls_.Serve(context, "DeleteDeviceType", manager_, &DeviceManager::DeleteDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::CreateDevice(grpc::ServerContext* context, const pb::CreateDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, "CreateDevice", manager_, &DeviceManager::CreateDevice, request, response);
}

grpc::Status DeviceServiceImpl::GetDevice(grpc::ServerContext* context, const pb::GetDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, "GetDevice", manager_, &DeviceManager::GetDevice, request, response);
}

grpc::Status DeviceServiceImpl::ListDevices(grpc::ServerContext* context, const pb::ListDevicesRequest* request,
                                    pb::ListDevicesResponse* response) {
  return calls_.Serve(context, "ListDevices", manager_, &DeviceManager::ListDevices, request, response);
}

grpc::Status DeviceServiceImpl::UpdateDevice(grpc::ServerContext* context, const pb::UpdateDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, "UpdateDevice", manager_, &DeviceManager::UpdateDevice, request, response);
}

grpc::Status DeviceServiceImpl::DeleteDevice(grpc::ServerContext* context, const pb::DeleteDeviceRequest* request,
                                    pb::DeleteDeviceResponse* response) {
  return calls_.Serve(context, "DeleteDevice", manager_, &DeviceManager::DeleteDevice, request, response);
}

grpc::Status DeviceServiceImpl::DisableDevice(grpc::ServerContext* context, const pb::DisableDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, "DisableDevice", manager_, &DeviceManager::DisableDevice, request, response);
}

grpc::Status DeviceServiceImpl::EnableDevice(grpc::ServerContext* context, const pb::EnableDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, "EnableDevice", manager_, &DeviceManager::EnableDevice, request, response);
}

grpc::Status DeviceServiceImpl::SetDeviceAttributes(grpc::ServerContext* context, const pb::SetDeviceAttributesRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, "SetDeviceAttributes", manager_, &DeviceManager::SetDeviceAttributes, request, response);
}

grpc::Status DeviceServiceImpl::CreateDeviceCredential(grpc::ServerContext* context, const pb::CreateDeviceCredentialRequest* request,
                                    pb::CreateDeviceCredentialResponse* response) {
  return calls_.Serve(context, "CreateDeviceCredential", manager_, &DeviceManager::CreateDeviceCredential, request, response);
}

grpc::Status DeviceServiceImpl::ListDeviceCredentials(grpc::ServerContext* context, const pb::ListDeviceCredentialsRequest* request,
                                    pb::ListDeviceCredentialsResponse* response) {
  return calls_.Serve(context, "ListDeviceCredentials", manager_, &DeviceManager::ListDeviceCredentials, request, response);
}

grpc::Status DeviceServiceImpl::RevokeDeviceCredential(grpc::ServerContext* context, const pb::RevokeDeviceCredentialRequest* request,
                                    pb::RevokeDeviceCredentialResponse* response) {
  return calls_.Serve(context, "RevokeDeviceCredential", manager_, &DeviceManager::RevokeDeviceCredential, request, response);
}

grpc::Status DeviceServiceImpl::ResolveIdentifier(grpc::ServerContext* context, const pb::ResolveIdentifierRequest* request,
                                    pb::IdentifierRecord* response) {
  return calls_.Serve(context, "ResolveIdentifier", manager_, &DeviceManager::ResolveIdentifier, request, response);
}

grpc::Status DeviceServiceImpl::ImportDevices(grpc::ServerContext* context,
                                              grpc::ServerReader<pb::ImportDevicesRequest>* reader,
                                              pb::ImportDevicesResponse* response) {
  return calls_.Run(context, "ImportDevices", [&](const Principal& caller) -> absl::Status {
    auto result = manager_.ImportDevices(caller, [&](pb::ImportDevicesRequest* message) {
      message->Clear();
      return reader->Read(message);
    });
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

absl::Status RegisterDeviceService(ServiceHost& host) {
  if (host.redis() == nullptr) {
    return absl::InvalidArgumentError("--redis_url: required by parkbase.device.v1.DeviceService");
  }
  auto& store = host.Own(std::make_unique<PgDeviceStore>(host.db()));
  auto& invalidator = host.Own(std::make_unique<RedisSchemaInvalidator>(*host.redis()));
  auto& manager =
      host.Own(std::make_unique<DeviceManager>(store, host.page_tokens(), invalidator, host.config().park_code));
  auto& service = host.Own(std::make_unique<DeviceServiceImpl>(host.calls(), manager));
  host.AddService(&service, pb::DeviceService::service_full_name(), {kPostgresDependency, kRedisDependency});
  return absl::OkStatus();
}

}  // namespace parkbase::device
