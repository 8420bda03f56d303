// DeviceStore in memory, for the device and telemetry fuzz targets: the rows of each tenant as PgDeviceStore keeps
// them (type versions, devices, tombstones, credentials, audit), scoped the way row-level security scopes them, with
// the status codes PgDeviceStore answers with.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/audit.h"
#include "device/device_store.h"
#include "parkbase/access/v1/access.pb.h"
#include "support/store_hook.h"

namespace parkbase::fuzz {

namespace devicepb = ::parkbase::device::v1;

class FakeDeviceStore final : public device::DeviceStore {
 public:
  struct TenantRows {
    std::string code;  // the tenant's segment of identifiers
    int64_t max_devices = 100;
    std::map<std::string, std::vector<devicepb::DeviceType>> types;  // by id: every version, oldest first
    std::map<std::string, devicepb::Device> devices;
    std::set<std::string> tombstones;
    std::map<std::string, std::vector<devicepb::DeviceCredential>> credentials;  // by device id
    std::vector<AuditEntry> audit;
  };

  explicit FakeDeviceStore(std::string park_code) : park_code_(std::move(park_code)) {}

  std::map<std::string, TenantRows> tenants;
  testing::StoreHook* hook = nullptr;
  // The filter of the last ListDevices (the label-selector target compares it with what was asked).
  std::optional<device::DeviceFilter> last_list_filter;

  // Set-up without a caller: a type (version 1) and a device of it, as the store would hold them.
  void AddType(const std::string& tenant_id, devicepb::DeviceType type);
  void AddDevice(const std::string& tenant_id, devicepb::Device device);
  // Everything of one tenant, serialized.
  std::string Digest(const std::string& tenant_id) const;
  // Ids of the tenant's devices outside an app's grant (their labels lack one of its device_labels).
  std::vector<std::string> DevicesOutside(const std::string& tenant_id, const access::v1::AppGrant& grant) const;

  absl::StatusOr<devicepb::DeviceType> CreateDeviceType(const TenantScope& scope,
                                                        const devicepb::DeviceType& type) override;
  absl::StatusOr<devicepb::DeviceType> GetDeviceType(const TenantScope& scope, const std::string& type_id,
                                                     int64_t version) override;
  absl::StatusOr<std::vector<devicepb::DeviceType>> ListDeviceTypes(const TenantScope& scope,
                                                                    const std::string& after_type_id,
                                                                    int limit) override;
  absl::StatusOr<devicepb::DeviceType> UpdateDeviceType(const TenantScope& scope, const std::string& type_id,
                                                        const device::DeviceTypeMutation& mutate) override;
  absl::Status DeleteDeviceType(const TenantScope& scope, const std::string& type_id,
                                const std::string& etag) override;
  absl::StatusOr<devicepb::Device> CreateDevice(const TenantScope& scope, const std::string& park_code,
                                                const devicepb::Device& device) override;
  absl::StatusOr<devicepb::Device> GetDevice(const TenantScope& scope, const std::string& device_id) override;
  absl::StatusOr<std::vector<devicepb::Device>> ListDevices(const TenantScope& scope,
                                                            const device::DeviceFilter& filter,
                                                            const std::string& after_device_id, int limit) override;
  absl::StatusOr<devicepb::Device> UpdateDevice(const TenantScope& scope, const std::string& device_id,
                                                const device::DeviceMutation& mutate, bool seen,
                                                const AuditEntry* audit = nullptr) override;
  absl::Status DeleteDevice(const TenantScope& scope, const std::string& device_id, const std::string& etag,
                            const AuditEntry& audit) override;
  absl::StatusOr<std::vector<devicepb::ImportRowResult>> ImportBatch(const TenantScope& scope,
                                                                     const std::string& park_code,
                                                                     const std::vector<device::ImportRow>& rows) override;
  absl::StatusOr<device::NewCredential> CreateCredential(const TenantScope& scope, const std::string& device_id,
                                                         const std::string& display_name, const std::string& creator,
                                                         const AuditEntry& audit, const ReplayTicket* replay) override;
  absl::StatusOr<std::vector<devicepb::DeviceCredential>> ListCredentials(const TenantScope& scope,
                                                                          const std::string& device_id) override;
  absl::Status RevokeCredential(const TenantScope& scope, const std::string& device_id, const std::string& key_id,
                                const AuditEntry& audit) override;
  absl::StatusOr<devicepb::IdentifierRecord> ResolveIdentifier(const TenantScope& scope,
                                                                const std::string& identifier) override;
  absl::StatusOr<devicepb::DeviceSchema> LoadSchema(const TenantScope& scope, const std::string& device_id) override;
  absl::StatusOr<std::vector<devicepb::DeviceSchema>> LoadSchemas(const TenantScope& scope,
                                                                  const std::vector<std::string>& device_ids) override;

 private:
  absl::Status Enter(absl::string_view operation, const TenantScope& scope);
  // The tenant's rows; NOT_FOUND for a tenant that does not exist (where PgDeviceStore's tenant lock finds none).
  absl::StatusOr<TenantRows*> Rows(const TenantScope& scope);
  google::protobuf::Timestamp Now();
  devicepb::Device Stored(const std::string& tenant_id, const TenantRows& rows, devicepb::Device device);

  const std::string park_code_;
  int64_t now_micros_ = int64_t{1'800'000'000} * 1'000'000;
  int64_t next_key_ = 1;
};

}  // namespace parkbase::fuzz
