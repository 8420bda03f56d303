// The device service's rules: who may do what to which device, input validation, field masks, identifiers and the
// bulk import's batching. Plain C++ over the DeviceStore interface; the gRPC handler only decodes, calls this and
// encodes.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

// One ImportDevices call, fed a streamed message at a time: the callback-API reactor pushes what it reads, so nothing
// waits on the client. Add and End may block on the database (a full batch is stored): call them off gRPC's
// reactor threads. An import that stops early (past kMaxImportRows, a batch the database refused, Fail, a refused
// `may_write`) still answers the result of every row it read — what was stored, what failed, the rows of a batch
// that was not applied marked FAILED saying so — with `error` set to why it stopped.
class DeviceImport {
 public:
  // `may_write` is asked before each batch is stored (a revoked credential stops there).
  DeviceImport(DeviceStore& store, std::string park_code, Principal caller, std::function<absl::Status()> may_write);

  // One streamed message: true when the import goes on, false when it is over (Result says how).
  bool Add(const pb::ImportDevicesRequest& message);
  // The stream failed (a malformed message): what came before is stored, and said so.
  void Fail(const absl::Status& why);
  // The client closed the stream: the last batch is stored.
  void End();
  // Once Add returned false, or after Fail or End: the answer, or the call's error when no message was accepted.
  absl::StatusOr<pb::ImportDevicesResponse> Result() const { return result_; }

 private:
  pb::ImportDevicesResponse Summary();
  // Ends the import early with `why`; `batch_not_applied`: the pending batch's rows are marked FAILED.
  void Stop(const absl::Status& why, bool batch_not_applied);
  // Stores the pending batch; false when the import had to stop there (result_ says how).
  bool Flush();
  // Flushes, then stops with `why` (what came before `why` is stored, and said so).
  void FlushAndStop(const absl::Status& why);

  DeviceStore& store_;
  const std::string park_code_;
  const Principal caller_;
  const std::function<absl::Status()> may_write_;
  std::vector<pb::ImportRowResult> results_;
  std::vector<ImportRow> batch_;
  // First row of each serial number and device id in this call: a repeat would be a second device with the same
  // key, which the database refuses; reported per row instead.
  absl::flat_hash_map<std::string, int> serials_;
  absl::flat_hash_map<std::string, int> ids_;
  std::string parent_;
  std::optional<TenantScope> scope_;
  bool over_ = false;
  absl::StatusOr<pb::ImportDevicesResponse> result_ = absl::UnknownError("the import is not over");
};

class DeviceManager {
 public:
  // `park_code` is the park's segment of identifiers; `invalidator` hears of every change to resolved schemas,
  // `auth` (may be null: nothing caches keys) of every change to whether a device key is valid.
  DeviceManager(DeviceStore& store, PageTokens& page_tokens, SchemaInvalidator& invalidator, std::string park_code,
                AuthInvalidator* auth = nullptr, const RequestReplays* replays = nullptr);

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

  // An import fed by the caller, message by message (DeviceImport).
  std::unique_ptr<DeviceImport> StartImport(const Principal& caller, std::function<absl::Status()> may_write);
  // An import that pulls its messages: `next` fills the next one (true), says the stream ended (false) or failed
  // (an error). Answers as DeviceImport does.
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
  const RequestReplays* replays_;  // may be null: request ids are then refused
  const std::string park_code_;
};

}  // namespace parkbase::device
