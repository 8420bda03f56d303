#include "fuzz/device_world.h"

#include "absl/strings/str_cat.h"
#include "common/access.h"
#include "fuzz/fuzz_checks.h"
#include "parkbase/device/v1/device.grpc.pb.h"

namespace parkbase::fuzz {

using device::DeviceManager;

void GuardedInvalidator::TenantChanged(const std::string& tenant_id) {
  // The guard may fail it (a lost Redis bump): the manager logs nothing and goes on, as with Redis down.
  (void)guard_.Enter("SchemaInvalidator.TenantChanged", tenant_id, /*park_wide=*/false);
}

void GuardedInvalidator::DeviceDeleted(const std::string& tenant_id, const std::string& device_id) {
  (void)guard_.Enter("SchemaInvalidator.DeviceDeleted", tenant_id, /*park_wide=*/false);
}

DeviceWorld::DeviceWorld() {
  AddExampleDevices(store);
  store.hook = &guard;
}

absl::Status DeviceWorld::Call(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                               const google::protobuf::Message& request,
                               std::unique_ptr<google::protobuf::Message>& response) {
  const std::string& name = method.name();
  if (name == "CreateDeviceType") return Serve(manager_, &DeviceManager::CreateDeviceType, caller, request, response);
  if (name == "GetDeviceType") return Serve(manager_, &DeviceManager::GetDeviceType, caller, request, response);
  if (name == "ListDeviceTypes") return Serve(manager_, &DeviceManager::ListDeviceTypes, caller, request, response);
  if (name == "UpdateDeviceType") return Serve(manager_, &DeviceManager::UpdateDeviceType, caller, request, response);
  if (name == "DeleteDeviceType") return Serve(manager_, &DeviceManager::DeleteDeviceType, caller, request, response);
  if (name == "CreateDevice") return Serve(manager_, &DeviceManager::CreateDevice, caller, request, response);
  if (name == "GetDevice") return Serve(manager_, &DeviceManager::GetDevice, caller, request, response);
  if (name == "ListDevices") return Serve(manager_, &DeviceManager::ListDevices, caller, request, response);
  if (name == "UpdateDevice") return Serve(manager_, &DeviceManager::UpdateDevice, caller, request, response);
  if (name == "DeleteDevice") return Serve(manager_, &DeviceManager::DeleteDevice, caller, request, response);
  if (name == "DisableDevice") return Serve(manager_, &DeviceManager::DisableDevice, caller, request, response);
  if (name == "EnableDevice") return Serve(manager_, &DeviceManager::EnableDevice, caller, request, response);
  if (name == "SetDeviceAttributes") {
    return Serve(manager_, &DeviceManager::SetDeviceAttributes, caller, request, response);
  }
  if (name == "CreateDeviceCredential") {
    return Serve(manager_, &DeviceManager::CreateDeviceCredential, caller, request, response);
  }
  if (name == "ListDeviceCredentials") {
    return Serve(manager_, &DeviceManager::ListDeviceCredentials, caller, request, response);
  }
  if (name == "RevokeDeviceCredential") {
    return Serve(manager_, &DeviceManager::RevokeDeviceCredential, caller, request, response);
  }
  if (name == "ResolveIdentifier") {
    return Serve(manager_, &DeviceManager::ResolveIdentifier, caller, request, response);
  }
  if (name == "ImportDevices") {
    return Import(method, caller, static_cast<const devicepb::ImportDevicesRequest&>(request), response);
  }
  Fail(absl::StrCat("device world: no handler for ", name));
}

absl::Status DeviceWorld::Import(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                                 const devicepb::ImportDevicesRequest& request,
                                 std::unique_ptr<google::protobuf::Message>& response) {
  std::vector<devicepb::ImportDevicesRequest> messages(request.devices_size() > 1 ? 2 : 1);
  messages[0].set_parent(request.parent());
  for (int i = 0; i < request.devices_size(); ++i) {
    *messages[i < (request.devices_size() + 1) / 2 ? 0 : 1].add_devices() = request.devices(i);
  }
  size_t next = 0;
  absl::StatusOr<devicepb::ImportDevicesResponse> imported = manager_.ImportDevices(
      caller,
      [&](devicepb::ImportDevicesRequest* message) -> absl::StatusOr<bool> {
        message->Clear();
        if (next == messages.size()) return false;
        *message = messages[next];
        if (next++ == 0) {
          absl::Status admitted = AdmitCall(caller, method, *message).status();
          if (!admitted.ok()) return admitted;
        }
        return true;
      },
      // The stream's check before each batch (a revoked key ends it there).
      [&] { return guard.Enter("ImportDevices.may_write", caller.tenant_id, /*park_wide=*/false); });
  if (!imported.ok()) return imported.status();
  for (const devicepb::ImportRowResult& row : imported->results()) {
    if (row.outcome() == devicepb::IMPORT_OUTCOME_FAILED) {
      CheckError(row.code(), row.message(), absl::StrCat("ImportDevices, row ", row.row_index()));
    }
  }
  response = std::make_unique<devicepb::ImportDevicesResponse>(*std::move(imported));
  return absl::OkStatus();
}

}  // namespace parkbase::fuzz
