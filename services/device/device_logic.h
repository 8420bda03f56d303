// The device service's rules: who may do what to which device, input validation, field masks, identifiers and the
// bulk import's batching. Plain C++ over the DeviceStore interface; the gRPC handler only decodes, calls this and
// encodes.
#pragma once

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "common/auth.h"
#include "common/auth_cache.h"
#include "common/page_token.h"
#include "device/device_store.h"
#include "device/schema_resolver.h"

namespace parkbase::device {

// Rows a single ImportDevices call may carry: big enough for a plant's whole inventory in one call, small enough
// that the per-row answer (~30 bytes a row) stays within a client's default 4 MB receive limit.
inline constexpr int kMaxImportRows = 100'000;
// Rows per import transaction: large enough that per-statement costs vanish, small enough that one batch's jsonb
// parameter stays around a megabyte and a tenant's creation lock is held for well under a second.
inline constexpr int kImportBatchRows = 5'000;

class DeviceManager {
 public:
  // `park_code` is the park's segment of identifiers; `invalidator` hears of every change to resolved schemas,
  // `auth` (may be null: nothing caches keys) of every change to whether a device key is valid.
  DeviceManager(DeviceStore& store, PageTokens& page_tokens, SchemaInvalidator& invalidator, std::string park_code,
                AuthInvalidator* auth = nullptr);

  absl::StatusOr<pb::DeviceType> CreateDeviceType(const Principal& caller, const pb::CreateDeviceTypeRequest& request);
  absl::StatusOr<pb::DeviceType> GetDeviceType(const Principal& caller, const pb::GetDeviceTypeRequest& request);
  absl::StatusOr<pb::ListDeviceTypesResponse> ListDeviceTypes(const Principal& caller,
                                                              const pb::ListDeviceTypesRequest& request);
  absl::StatusOr<pb::DeviceType> UpdateDeviceType(const Principal& caller, const pb::UpdateDeviceTypeRequest& request);
  absl::StatusOr<pb::DeleteDeviceTypeResponse> DeleteDeviceType(const Principal& caller,
                                                                const pb::DeleteDeviceTypeRequest& request);

  absl::StatusOr<pb::Device> CreateDevice(const Principal& caller, const pb::CreateDeviceRequest& request);
  absl::StatusOr<pb::Device> GetDevice(const Principal& caller, const pb::GetDeviceRequest& request);
  absl::StatusOr<pb::ListDevicesResponse> ListDevices(const Principal& caller, const pb::ListDevicesRequest& request);
  absl::StatusOr<pb::Device> UpdateDevice(const Principal& caller, const pb::UpdateDeviceRequest& request);
  absl::StatusOr<pb::DeleteDeviceResponse> DeleteDevice(const Principal& caller, const pb::DeleteDeviceRequest& request);
  absl::StatusOr<pb::Device> DisableDevice(const Principal& caller, const pb::DisableDeviceRequest& request);
  absl::StatusOr<pb::Device> EnableDevice(const Principal& caller, const pb::EnableDeviceRequest& request);
  absl::StatusOr<pb::Device> SetDeviceAttributes(const Principal& caller,
                                                 const pb::SetDeviceAttributesRequest& request);

  absl::StatusOr<pb::CreateDeviceCredentialResponse> CreateDeviceCredential(
      const Principal& caller, const pb::CreateDeviceCredentialRequest& request);
  absl::StatusOr<pb::ListDeviceCredentialsResponse> ListDeviceCredentials(
      const Principal& caller, const pb::ListDeviceCredentialsRequest& request);
  absl::StatusOr<pb::RevokeDeviceCredentialResponse> RevokeDeviceCredential(
      const Principal& caller, const pb::RevokeDeviceCredentialRequest& request);

  // `next` fills the next streamed message: true, false at the end of the stream, or an error (a malformed message,
  // a stream that must end). `may_write` is asked before each batch is stored (a revoked credential stops there).
  // An import that stops early (past kMaxImportRows, a batch the database refused, an error from `next` or
  // `may_write`) still answers the result of every row it read — what was stored, what failed, the rows of a batch
  // that was not applied marked FAILED saying so — with `error` set to why it stopped.
  absl::StatusOr<pb::ImportDevicesResponse> ImportDevices(
      const Principal& caller, absl::FunctionRef<absl::StatusOr<bool>(pb::ImportDevicesRequest*)> next,
      absl::FunctionRef<absl::Status()> may_write);

  absl::StatusOr<pb::IdentifierRecord> ResolveIdentifier(const Principal& caller,
                                                         const pb::ResolveIdentifierRequest& request);

 private:
  absl::StatusOr<pb::Device> ChangeState(const Principal& caller, const std::string& name, bool disable,
                                         const google::protobuf::Message& request);
  // After a committed change to whether some of the tenant's device keys are valid.
  void DeviceKeysChanged(const std::string& tenant_id);

  DeviceStore& store_;
  PageTokens& page_tokens_;
  SchemaInvalidator& invalidator_;
  AuthInvalidator* auth_;
  const std::string park_code_;
};

}  // namespace parkbase::device
