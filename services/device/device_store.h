// Storage of device types, devices, device credentials and identifiers. DeviceStore is the interface the logic
// depends on; PgDeviceStore keeps all of the service's SQL (device_queries.h) and runs every statement under the
// caller's TenantScope, so row-level security applies to each one. Identifiers are written in the same
// transactions as the devices and types they describe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/audit.h"
#include "common/db.h"
#include "common/libpq_pool.h"
#include "common/request_replay.h"
#include "parkbase/device/v1/device.pb.h"

namespace parkbase::device {

namespace pb = ::parkbase::device::v1;

struct DeviceFilter {
  std::optional<std::string> device_type_id;
  std::optional<pb::DeviceState> state;
  // Labels the device must carry, all of them.
  std::vector<std::pair<std::string, std::string>> labels;
  // The caller's data scope: labels an app credential's grant requires (common/app_grant.h). A condition of its
  // own, apart from `labels`, so nothing in a filter can widen it.
  std::map<std::string, std::string> grant_labels;
};

// Changes a row in place inside the store's transaction; an error aborts the transaction.
using DeviceTypeMutation = std::function<absl::Status(pb::DeviceType&)>;
using DeviceMutation = std::function<absl::Status(pb::Device&)>;

// A validated row of a bulk import with its position in the call.
struct ImportRow {
  int index = 0;
  pb::Device device;  // device_id assigned
};

struct NewCredential {
  pb::DeviceCredential credential;
  std::string secret;
};

class DeviceStore {
 public:
  virtual ~DeviceStore() = default;

  // ALREADY_EXISTS when the id is taken.
  virtual absl::StatusOr<pb::DeviceType> CreateDeviceType(const TenantScope& scope, const pb::DeviceType& type) = 0;
  // version 0: the latest. NOT_FOUND for a missing type or version.
  virtual absl::StatusOr<pb::DeviceType> GetDeviceType(const TenantScope& scope, const std::string& type_id,
                                                       int64_t version) = 0;
  virtual absl::StatusOr<std::vector<pb::DeviceType>> ListDeviceTypes(const TenantScope& scope,
                                                                      const std::string& after_type_id,
                                                                      int limit) = 0;
  // Reads the latest version (locked), lets `mutate` change it and stores it as version latest + 1.
  virtual absl::StatusOr<pb::DeviceType> UpdateDeviceType(const TenantScope& scope, const std::string& type_id,
                                                          const DeviceTypeMutation& mutate) = 0;
  // FAILED_PRECONDITION while devices use the type; ABORTED when `etag` is set and no longer the type's.
  virtual absl::Status DeleteDeviceType(const TenantScope& scope, const std::string& type_id,
                                        const std::string& etag) = 0;

  // `device.device_id` must be set. Enforces the tenant's max_devices under a lock on the tenant row.
  virtual absl::StatusOr<pb::Device> CreateDevice(const TenantScope& scope, const std::string& park_code,
                                                  const pb::Device& device) = 0;
  virtual absl::StatusOr<pb::Device> GetDevice(const TenantScope& scope, const std::string& device_id) = 0;
  virtual absl::StatusOr<std::vector<pb::Device>> ListDevices(const TenantScope& scope, const DeviceFilter& filter,
                                                              const std::string& after_device_id, int limit) = 0;
  // Reads the device (locked), lets `mutate` change it, writes it back, keeps the identifier and the device's keys
  // (blocked while DISABLED) in step. `seen` records the device as seen now. `audit`, when given, is written in
  // the same transaction.
  virtual absl::StatusOr<pb::Device> UpdateDevice(const TenantScope& scope, const std::string& device_id,
                                                  const DeviceMutation& mutate, bool seen,
                                                  const AuditEntry* audit = nullptr) = 0;
  // Deletes the device and its identifier, revokes its keys and keeps its id taken (device_tombstones). ABORTED
  // when `etag` is set and no longer the device's.
  virtual absl::Status DeleteDevice(const TenantScope& scope, const std::string& device_id, const std::string& etag,
                                    const AuditEntry& audit) = 0;

  // Applies one batch of valid rows in one transaction; returns a result for each row, in order.
  virtual absl::StatusOr<std::vector<pb::ImportRowResult>> ImportBatch(const TenantScope& scope,
                                                                       const std::string& park_code,
                                                                       const std::vector<ImportRow>& rows) = 0;

  // `audit`'s resource is completed with the new key's id. With `replay`, the answer (credential and secret) is
  // remembered in the same transaction (request_replay.h).
  virtual absl::StatusOr<NewCredential> CreateCredential(const TenantScope& scope, const std::string& device_id,
                                                         const std::string& display_name, const std::string& creator,
                                                         const AuditEntry& audit, const ReplayTicket* replay) = 0;
  virtual absl::StatusOr<std::vector<pb::DeviceCredential>> ListCredentials(const TenantScope& scope,
                                                                            const std::string& device_id) = 0;
  virtual absl::Status RevokeCredential(const TenantScope& scope, const std::string& device_id,
                                        const std::string& key_id, const AuditEntry& audit) = 0;

  // Park-wide look-up of public metadata; any scope.
  virtual absl::StatusOr<pb::IdentifierRecord> ResolveIdentifier(const TenantScope& scope,
                                                                  const std::string& identifier) = 0;
  // The device's state, labels and its type's latest schema.
  virtual absl::StatusOr<pb::DeviceSchema> LoadSchema(const TenantScope& scope, const std::string& device_id) = 0;
  // LoadSchema for many devices in one query; unknown devices are simply absent from the result.
  virtual absl::StatusOr<std::vector<pb::DeviceSchema>> LoadSchemas(const TenantScope& scope,
                                                                    const std::vector<std::string>& device_ids) = 0;
};

class PgDeviceStore final : public DeviceStore {
 public:
  // `bulk_statement_timeout`: the statement timeout of an import batch (ServerConfig::bulk_statement_timeout).
  explicit PgDeviceStore(DbPool& db, absl::Duration bulk_statement_timeout = absl::Seconds(60));

  absl::StatusOr<pb::DeviceType> CreateDeviceType(const TenantScope& scope, const pb::DeviceType& type) override;
  absl::StatusOr<pb::DeviceType> GetDeviceType(const TenantScope& scope, const std::string& type_id,
                                               int64_t version) override;
  absl::StatusOr<std::vector<pb::DeviceType>> ListDeviceTypes(const TenantScope& scope,
                                                              const std::string& after_type_id, int limit) override;
  absl::StatusOr<pb::DeviceType> UpdateDeviceType(const TenantScope& scope, const std::string& type_id,
                                                  const DeviceTypeMutation& mutate) override;
  absl::Status DeleteDeviceType(const TenantScope& scope, const std::string& type_id,
                                const std::string& etag) override;
  absl::StatusOr<pb::Device> CreateDevice(const TenantScope& scope, const std::string& park_code,
                                          const pb::Device& device) override;
  absl::StatusOr<pb::Device> GetDevice(const TenantScope& scope, const std::string& device_id) override;
  absl::StatusOr<std::vector<pb::Device>> ListDevices(const TenantScope& scope, const DeviceFilter& filter,
                                                      const std::string& after_device_id, int limit) override;
  absl::StatusOr<pb::Device> UpdateDevice(const TenantScope& scope, const std::string& device_id,
                                          const DeviceMutation& mutate, bool seen,
                                          const AuditEntry* audit = nullptr) override;
  absl::Status DeleteDevice(const TenantScope& scope, const std::string& device_id, const std::string& etag,
                            const AuditEntry& audit) override;
  absl::StatusOr<std::vector<pb::ImportRowResult>> ImportBatch(const TenantScope& scope,
                                                               const std::string& park_code,
                                                               const std::vector<ImportRow>& rows) override;
  absl::StatusOr<NewCredential> CreateCredential(const TenantScope& scope, const std::string& device_id,
                                                 const std::string& display_name, const std::string& creator,
                                                 const AuditEntry& audit, const ReplayTicket* replay) override;
  absl::StatusOr<std::vector<pb::DeviceCredential>> ListCredentials(const TenantScope& scope,
                                                                    const std::string& device_id) override;
  absl::Status RevokeCredential(const TenantScope& scope, const std::string& device_id, const std::string& key_id,
                                const AuditEntry& audit) override;
  absl::StatusOr<pb::IdentifierRecord> ResolveIdentifier(const TenantScope& scope,
                                                          const std::string& identifier) override;
  absl::StatusOr<pb::DeviceSchema> LoadSchema(const TenantScope& scope, const std::string& device_id) override;
  absl::StatusOr<std::vector<pb::DeviceSchema>> LoadSchemas(const TenantScope& scope,
                                                            const std::vector<std::string>& device_ids) override;

 private:
  DbPool& db_;
  const absl::Duration bulk_statement_timeout_;
  // GetDevice and GetDeviceType: the scope, the query and the commit in one round trip, on connections of their
  // own (opened on first use, as many as `db`'s), with `db`'s URL, timeouts and serving-role check.
  LibpqPool reads_;
};

// `88.<park>.<tenant code>/`, and with the serial number appended.
std::string IdentifierPrefix(const std::string& park_code, const std::string& tenant_code);
std::string MakeIdentifier(const std::string& park_code, const std::string& tenant_code, const std::string& serial);

}  // namespace parkbase::device
