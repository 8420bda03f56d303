// The gRPC face of the device service: each method authenticates through CallRunner, calls DeviceManager and
// copies the answer out. No rules live here.
#pragma once

#include "absl/status/status.h"
#include "common/call.h"
#include "common/executor.h"
#include "common/raw_requests.h"
#include "common/server.h"
#include "device/device_logic.h"
#include "parkbase/device/v1/device.grpc.pb.h"

namespace parkbase::device {

class DeviceServiceImpl final : public OwnParsing<pb::DeviceService::Service> {
 public:
  // ImportDevices is a callback-API reactor whose blocking work runs on `executor`: it holds no thread while it
  // waits for its client, and parses its requests one by one under the parse budget (raw_requests.h).
  DeviceServiceImpl(CallRunner& calls, RequestParser& parser, DeviceManager& manager, BlockingExecutor& executor);

  grpc::Status CreateDeviceType(grpc::ServerContext* context, const pb::CreateDeviceTypeRequest* request, pb::DeviceType* response) override;
  grpc::Status GetDeviceType(grpc::ServerContext* context, const pb::GetDeviceTypeRequest* request, pb::DeviceType* response) override;
  grpc::Status ListDeviceTypes(grpc::ServerContext* context, const pb::ListDeviceTypesRequest* request, pb::ListDeviceTypesResponse* response) override;
  grpc::Status UpdateDeviceType(grpc::ServerContext* context, const pb::UpdateDeviceTypeRequest* request, pb::DeviceType* response) override;
  grpc::Status DeleteDeviceType(grpc::ServerContext* context, const pb::DeleteDeviceTypeRequest* request, pb::DeleteDeviceTypeResponse* response) override;
  grpc::Status CreateDevice(grpc::ServerContext* context, const pb::CreateDeviceRequest* request, pb::Device* response) override;
  grpc::Status GetDevice(grpc::ServerContext* context, const pb::GetDeviceRequest* request, pb::Device* response) override;
  grpc::Status ListDevices(grpc::ServerContext* context, const pb::ListDevicesRequest* request, pb::ListDevicesResponse* response) override;
  grpc::Status UpdateDevice(grpc::ServerContext* context, const pb::UpdateDeviceRequest* request, pb::Device* response) override;
  grpc::Status DeleteDevice(grpc::ServerContext* context, const pb::DeleteDeviceRequest* request, pb::DeleteDeviceResponse* response) override;
  grpc::Status DisableDevice(grpc::ServerContext* context, const pb::DisableDeviceRequest* request, pb::Device* response) override;
  grpc::Status EnableDevice(grpc::ServerContext* context, const pb::EnableDeviceRequest* request, pb::Device* response) override;
  grpc::Status SetDeviceAttributes(grpc::ServerContext* context, const pb::SetDeviceAttributesRequest* request, pb::Device* response) override;
  grpc::Status CreateDeviceCredential(grpc::ServerContext* context, const pb::CreateDeviceCredentialRequest* request, pb::CreateDeviceCredentialResponse* response) override;
  grpc::Status ListDeviceCredentials(grpc::ServerContext* context, const pb::ListDeviceCredentialsRequest* request, pb::ListDeviceCredentialsResponse* response) override;
  grpc::Status RevokeDeviceCredential(grpc::ServerContext* context, const pb::RevokeDeviceCredentialRequest* request, pb::RevokeDeviceCredentialResponse* response) override;
  grpc::Status ResolveIdentifier(grpc::ServerContext* context, const pb::ResolveIdentifierRequest* request, pb::IdentifierRecord* response) override;

 private:
  CallRunner& calls_;
  DeviceManager& manager_;
};

// Adds the device service to a server (its own binary or `parkbase serve`). Needs PostgreSQL and Redis.
absl::Status RegisterDeviceService(ServiceHost& host);

}  // namespace parkbase::device
