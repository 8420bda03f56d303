#include "fuzz/fake_device_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/app_grant.h"
#include "common/errors.h"
#include "common/etag.h"
#include "common/status_macros.h"
#include "fuzz/fuzz_checks.h"
#include "google/protobuf/util/time_util.h"

namespace parkbase::fuzz {
namespace {

using google::protobuf::util::TimeUtil;

absl::Status DeviceNotFound(const std::string& tenant_id, const std::string& device_id) {
  return absl::NotFoundError(absl::StrCat("tenants/", tenant_id, "/devices/", device_id, ": not found"));
}

absl::Status TypeNotFound(const std::string& tenant_id, const std::string& type_id) {
  return absl::NotFoundError(absl::StrCat("tenants/", tenant_id, "/deviceTypes/", type_id, ": not found"));
}

std::string DeletedIdMessage(const std::string& tenant_id, const std::string& device_id) {
  return absl::StrCat("device.device_id: tenants/", tenant_id, "/devices/", device_id,
                      " belonged to a deleted device; ids are never reused; choose another id");
}

std::string AuditBytes(const AuditEntry& entry) {
  return absl::StrCat(entry.actor, "|", entry.actor_role, "|", entry.action, "|", entry.resource, "|",
                      entry.details_json, "\n");
}

}  // namespace

absl::Status FakeDeviceStore::Enter(absl::string_view operation, const TenantScope& scope) {
  return testing::EnterHook(hook, absl::StrCat("DeviceStore.", operation), scope.tenant_id, scope.park_wide);
}

absl::StatusOr<FakeDeviceStore::TenantRows*> FakeDeviceStore::Rows(const TenantScope& scope) {
  auto found = tenants.find(scope.tenant_id);
  if (found == tenants.end()) return absl::NotFoundError(absl::StrCat("tenants/", scope.tenant_id, ": not found"));
  return &found->second;
}

google::protobuf::Timestamp FakeDeviceStore::Now() {
  now_micros_ += 1000;
  return TimeUtil::MicrosecondsToTimestamp(now_micros_);
}

devicepb::Device FakeDeviceStore::Stored(const std::string& tenant_id, const TenantRows& rows,
                                         devicepb::Device device) {
  device.set_name(absl::StrCat("tenants/", tenant_id, "/devices/", device.device_id()));
  device.set_identifier(device::MakeIdentifier(park_code_, rows.code, device.serial_number()));
  *device.mutable_create_time() = Now();
  *device.mutable_update_time() = device.create_time();
  return device;
}

void FakeDeviceStore::AddType(const std::string& tenant_id, devicepb::DeviceType type) {
  type.set_name(absl::StrCat("tenants/", tenant_id, "/deviceTypes/", type.device_type_id()));
  type.set_version(1);
  *type.mutable_create_time() = Now();
  *type.mutable_update_time() = type.create_time();
  tenants[tenant_id].types[type.device_type_id()] = {type};
}

void FakeDeviceStore::AddDevice(const std::string& tenant_id, devicepb::Device device) {
  TenantRows& rows = tenants[tenant_id];
  const std::string id = device.device_id();
  rows.devices[id] = Stored(tenant_id, rows, std::move(device));
}

std::vector<std::string> FakeDeviceStore::DevicesOutside(const std::string& tenant_id,
                                                         const access::v1::AppGrant& grant) const {
  std::vector<std::string> outside;
  auto found = tenants.find(tenant_id);
  if (found == tenants.end()) return outside;
  for (const auto& [id, device] : found->second.devices) {
    if (!GrantCoversLabels(grant, device.labels())) outside.push_back(id);
  }
  return outside;
}

std::string FakeDeviceStore::Digest(const std::string& tenant_id) const {
  auto found = tenants.find(tenant_id);
  if (found == tenants.end()) return "";
  const TenantRows& rows = found->second;
  std::string digest = absl::StrCat(rows.code, "|", rows.max_devices, "\n");
  for (const auto& [id, versions] : rows.types) {
    for (const auto& version : versions) absl::StrAppend(&digest, "type ", StableBytes(version), "\n");
  }
  for (const auto& [id, device] : rows.devices) absl::StrAppend(&digest, "device ", StableBytes(device), "\n");
  for (const auto& id : rows.tombstones) absl::StrAppend(&digest, "tombstone ", id, "\n");
  for (const auto& [id, keys] : rows.credentials) {
    for (const auto& key : keys) absl::StrAppend(&digest, "key ", StableBytes(key), "\n");
  }
  for (const auto& entry : rows.audit) absl::StrAppend(&digest, "audit ", AuditBytes(entry));
  return digest;
}

absl::StatusOr<devicepb::DeviceType> FakeDeviceStore::CreateDeviceType(const TenantScope& scope,
                                                                      const devicepb::DeviceType& type) {
  if (absl::Status entered = Enter("CreateDeviceType", scope); !entered.ok()) return entered;
  // PgDeviceStore's insert would fail the tenant's foreign key here; NOT_FOUND is what the caller should see.
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok()) return rows.status();
  if ((*rows)->types.count(type.device_type_id()) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("device_type_id: tenants/", scope.tenant_id, "/deviceTypes/",
                                                 type.device_type_id(), " already exists"));
  }
  devicepb::DeviceType stored = type;
  stored.set_name(absl::StrCat("tenants/", scope.tenant_id, "/deviceTypes/", type.device_type_id()));
  stored.set_version(1);
  *stored.mutable_create_time() = Now();
  *stored.mutable_update_time() = stored.create_time();
  (*rows)->types[type.device_type_id()] = {stored};
  return stored;
}

absl::StatusOr<devicepb::DeviceType> FakeDeviceStore::GetDeviceType(const TenantScope& scope,
                                                                   const std::string& type_id, int64_t version) {
  if (absl::Status entered = Enter("GetDeviceType", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok() || (*rows)->types.count(type_id) == 0) return TypeNotFound(scope.tenant_id, type_id);
  const std::vector<devicepb::DeviceType>& versions = (*rows)->types[type_id];
  if (version == 0) return versions.back();
  for (const auto& stored : versions) {
    if (stored.version() == version) return stored;
  }
  return absl::NotFoundError(
      absl::StrCat("tenants/", scope.tenant_id, "/deviceTypes/", type_id, ": version ", version, " not found"));
}

absl::StatusOr<std::vector<devicepb::DeviceType>> FakeDeviceStore::ListDeviceTypes(const TenantScope& scope,
                                                                                   const std::string& after_type_id,
                                                                                   int limit) {
  if (absl::Status entered = Enter("ListDeviceTypes", scope); !entered.ok()) return entered;
  std::vector<devicepb::DeviceType> types;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok()) return types;
  for (auto it = (*rows)->types.upper_bound(after_type_id);
       it != (*rows)->types.end() && static_cast<int>(types.size()) < limit; ++it) {
    types.push_back(it->second.back());
  }
  return types;
}

absl::StatusOr<devicepb::DeviceType> FakeDeviceStore::UpdateDeviceType(const TenantScope& scope,
                                                                      const std::string& type_id,
                                                                      const device::DeviceTypeMutation& mutate) {
  if (absl::Status entered = Enter("UpdateDeviceType", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok() || (*rows)->types.count(type_id) == 0) return TypeNotFound(scope.tenant_id, type_id);
  std::vector<devicepb::DeviceType>& versions = (*rows)->types[type_id];
  devicepb::DeviceType type = versions.back();
  if (absl::Status status = mutate(type); !status.ok()) return status;
  // What a row keeps, whatever the mutation did to the message.
  type.set_device_type_id(type_id);
  type.set_name(versions.back().name());
  type.set_version(versions.back().version() + 1);
  *type.mutable_create_time() = versions.back().create_time();
  *type.mutable_update_time() = Now();
  versions.push_back(type);
  return type;
}

absl::Status FakeDeviceStore::DeleteDeviceType(const TenantScope& scope, const std::string& type_id,
                                               const std::string& etag) {
  if (absl::Status entered = Enter("DeleteDeviceType", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok() || (*rows)->types.count(type_id) == 0) return TypeNotFound(scope.tenant_id, type_id);
  RETURN_IF_ERROR(CheckEtag("etag", etag, (*rows)->types[type_id].back().etag()));
  const int64_t in_use = std::count_if((*rows)->devices.begin(), (*rows)->devices.end(),
                                       [&](const auto& entry) { return entry.second.device_type_id() == type_id; });
  if (in_use > 0) {
    return absl::FailedPreconditionError(absl::StrCat("tenants/", scope.tenant_id, "/deviceTypes/", type_id, ": ",
                                                      in_use, in_use == 1 ? " device uses" : " devices use",
                                                      " this type; delete them or change their type first"));
  }
  (*rows)->types.erase(type_id);
  return absl::OkStatus();
}

absl::StatusOr<devicepb::Device> FakeDeviceStore::CreateDevice(const TenantScope& scope, const std::string& park_code,
                                                              const devicepb::Device& device) {
  if (absl::Status entered = Enter("CreateDevice", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> found = Rows(scope);
  if (!found.ok()) return found.status();
  TenantRows& rows = **found;
  const std::string& tenant_id = scope.tenant_id;
  if (rows.types.count(device.device_type_id()) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("device.device_type_id: tenants/", tenant_id, "/deviceTypes/",
                                                      device.device_type_id(), " does not exist; create it first"));
  }
  for (const auto& [id, existing] : rows.devices) {
    if (existing.serial_number() == device.serial_number()) {
      return absl::AlreadyExistsError(
          absl::StrCat("device.serial_number: a device with serial number ", device.serial_number(), " exists"));
    }
  }
  if (rows.devices.count(device.device_id()) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("device.device_id: tenants/", tenant_id, "/devices/", device.device_id(), " already exists"));
  }
  if (rows.tombstones.count(device.device_id()) != 0) {
    return absl::AlreadyExistsError(DeletedIdMessage(tenant_id, device.device_id()));
  }
  if (static_cast<int64_t>(rows.devices.size()) >= rows.max_devices) {
    return QuotaError(absl::StrCat("tenants/", tenant_id), "max_devices",
                      absl::StrCat("the tenant already has its maximum of ", rows.max_devices, " devices"),
                      absl::Minutes(1));
  }
  devicepb::Device stored = Stored(tenant_id, rows, device);
  rows.devices[device.device_id()] = stored;
  return stored;
}

absl::StatusOr<devicepb::Device> FakeDeviceStore::GetDevice(const TenantScope& scope, const std::string& device_id) {
  if (absl::Status entered = Enter("GetDevice", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok() || (*rows)->devices.count(device_id) == 0) return DeviceNotFound(scope.tenant_id, device_id);
  return (*rows)->devices[device_id];
}

absl::StatusOr<std::vector<devicepb::Device>> FakeDeviceStore::ListDevices(const TenantScope& scope,
                                                                          const device::DeviceFilter& filter,
                                                                          const std::string& after_device_id,
                                                                          int limit) {
  if (absl::Status entered = Enter("ListDevices", scope); !entered.ok()) return entered;
  last_list_filter = filter;
  std::vector<devicepb::Device> devices;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok()) return devices;
  // One label document, as the store builds it: a key named twice keeps its last value.
  std::map<std::string, std::string> labels;
  for (const auto& [key, value] : filter.labels) labels[key] = value;
  for (auto it = (*rows)->devices.upper_bound(after_device_id);
       it != (*rows)->devices.end() && static_cast<int>(devices.size()) < limit; ++it) {
    const devicepb::Device& device = it->second;
    if (filter.device_type_id && device.device_type_id() != *filter.device_type_id) continue;
    if (filter.state && device.state() != *filter.state) continue;
    auto carries = [&](const auto& label) {
      auto found = device.labels().find(label.first);
      return found != device.labels().end() && found->second == label.second;
    };
    // The caller's grant is a condition of its own, as in the store's query.
    const bool labelled = std::all_of(labels.begin(), labels.end(), carries) &&
                          std::all_of(filter.grant_labels.begin(), filter.grant_labels.end(), carries);
    if (labelled) devices.push_back(device);
  }
  return devices;
}

absl::StatusOr<devicepb::Device> FakeDeviceStore::UpdateDevice(const TenantScope& scope, const std::string& device_id,
                                                              const device::DeviceMutation& mutate, bool seen,
                                                              const AuditEntry* audit) {
  if (absl::Status entered = Enter("UpdateDevice", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok() || (*rows)->devices.count(device_id) == 0) return DeviceNotFound(scope.tenant_id, device_id);
  const devicepb::Device& before = (*rows)->devices[device_id];
  devicepb::Device device = before;
  if (absl::Status status = mutate(device); !status.ok()) return status;
  if (device.device_type_id() != before.device_type_id() && (*rows)->types.count(device.device_type_id()) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("device.device_type_id: tenants/", scope.tenant_id,
                                                      "/deviceTypes/", device.device_type_id(), " does not exist"));
  }
  // Columns the update does not write keep their values.
  device.set_device_id(before.device_id());
  device.set_name(before.name());
  device.set_serial_number(before.serial_number());
  device.set_identifier(before.identifier());
  *device.mutable_create_time() = before.create_time();
  *device.mutable_update_time() = Now();
  if (seen) *device.mutable_last_seen_time() = device.update_time();
  (*rows)->devices[device_id] = device;
  if (audit != nullptr) (*rows)->audit.push_back(*audit);
  return device;
}

absl::Status FakeDeviceStore::DeleteDevice(const TenantScope& scope, const std::string& device_id,
                                           const std::string& etag, const AuditEntry& audit) {
  if (absl::Status entered = Enter("DeleteDevice", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (rows.ok() && (*rows)->devices.count(device_id) != 0) {
    RETURN_IF_ERROR(CheckEtag("etag", etag, (*rows)->devices[device_id].etag()));
  }
  if (!rows.ok() || (*rows)->devices.erase(device_id) == 0) return DeviceNotFound(scope.tenant_id, device_id);
  (*rows)->tombstones.insert(device_id);
  for (auto& key : (*rows)->credentials[device_id]) {
    if (!key.has_revoke_time()) *key.mutable_revoke_time() = Now();
  }
  (*rows)->audit.push_back(audit);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<devicepb::ImportRowResult>> FakeDeviceStore::ImportBatch(
    const TenantScope& scope, const std::string& park_code, const std::vector<device::ImportRow>& import) {
  if (absl::Status entered = Enter("ImportBatch", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> found = Rows(scope);
  if (!found.ok()) return found.status();
  TenantRows& rows = **found;
  const std::string& tenant_id = scope.tenant_id;
  std::vector<devicepb::ImportRowResult> results(import.size());
  auto fail = [&](size_t i, absl::StatusCode code, std::string message) {
    results[i].set_outcome(devicepb::IMPORT_OUTCOME_FAILED);
    results[i].set_code(static_cast<int>(code));
    results[i].set_message(std::move(message));
    results[i].clear_device_id();
  };
  std::map<std::string, std::string> serials;  // serial -> device id, as stored before this batch
  for (const auto& [id, device] : rows.devices) serials.emplace(device.serial_number(), id);
  const std::map<std::string, devicepb::Device> before = rows.devices;
  int64_t room = rows.max_devices - static_cast<int64_t>(rows.devices.size());
  for (size_t i = 0; i < import.size(); ++i) {
    const devicepb::Device& device = import[i].device;
    results[i].set_row_index(import[i].index);
    if (auto existing = serials.find(device.serial_number()); existing != serials.end()) {
      results[i].set_outcome(devicepb::IMPORT_OUTCOME_UNCHANGED);
      results[i].set_device_id(existing->second);
    } else if (rows.types.count(device.device_type_id()) == 0) {
      fail(i, absl::StatusCode::kFailedPrecondition,
           absl::StrCat("device.device_type_id: tenants/", tenant_id, "/deviceTypes/", device.device_type_id(),
                        " does not exist"));
    } else if (before.count(device.device_id()) != 0) {
      fail(i, absl::StatusCode::kAlreadyExists,
           absl::StrCat("device.device_id: tenants/", tenant_id, "/devices/", device.device_id(),
                        " already exists with another serial number"));
    } else if (rows.tombstones.count(device.device_id()) != 0) {
      fail(i, absl::StatusCode::kAlreadyExists, DeletedIdMessage(tenant_id, device.device_id()));
    } else if (room <= 0) {
      fail(i, absl::StatusCode::kResourceExhausted,
           absl::StrCat("max_devices: the tenant already has its maximum of ", rows.max_devices, " devices"));
    } else {
      --room;
      rows.devices[device.device_id()] = Stored(tenant_id, rows, device);
      results[i].set_outcome(devicepb::IMPORT_OUTCOME_CREATED);
      results[i].set_device_id(device.device_id());
    }
  }
  return results;
}

absl::StatusOr<device::NewCredential> FakeDeviceStore::CreateCredential(const TenantScope& scope,
                                                                       const std::string& device_id,
                                                                       const std::string& display_name,
                                                                       const std::string& creator,
                                                                       const AuditEntry& audit,
                                                                       const ReplayTicket* /*replay*/) {
  // The manager over this store has no replays (request ids are refused before a store sees them).
  if (absl::Status entered = Enter("CreateCredential", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok() || (*rows)->devices.count(device_id) == 0) return DeviceNotFound(scope.tenant_id, device_id);
  const std::string key_id = absl::StrCat("devkey", next_key_++);
  devicepb::DeviceCredential credential;
  credential.set_key_id(key_id);
  credential.set_name(absl::StrCat("tenants/", scope.tenant_id, "/devices/", device_id, "/credentials/", key_id));
  credential.set_display_name(display_name);
  *credential.mutable_create_time() = Now();
  (*rows)->credentials[device_id].push_back(credential);
  AuditEntry minted = audit;
  minted.resource = credential.name();
  (*rows)->audit.push_back(minted);
  return device::NewCredential{credential, absl::StrCat("pbk.", scope.tenant_id, ".", key_id, ".secret")};
}

absl::StatusOr<std::vector<devicepb::DeviceCredential>> FakeDeviceStore::ListCredentials(const TenantScope& scope,
                                                                                        const std::string& device_id) {
  if (absl::Status entered = Enter("ListCredentials", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok() || (*rows)->devices.count(device_id) == 0) return DeviceNotFound(scope.tenant_id, device_id);
  return (*rows)->credentials[device_id];
}

absl::Status FakeDeviceStore::RevokeCredential(const TenantScope& scope, const std::string& device_id,
                                               const std::string& key_id, const AuditEntry& audit) {
  if (absl::Status entered = Enter("RevokeCredential", scope); !entered.ok()) return entered;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (rows.ok()) {
    for (auto& key : (*rows)->credentials[device_id]) {
      if (key.key_id() == key_id && !key.has_revoke_time()) {
        *key.mutable_revoke_time() = Now();
        (*rows)->audit.push_back(audit);
        return absl::OkStatus();
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("tenants/", scope.tenant_id, "/devices/", device_id, "/credentials/", key_id,
                                          ": not found or already revoked"));
}

absl::StatusOr<devicepb::IdentifierRecord> FakeDeviceStore::ResolveIdentifier(const TenantScope& scope,
                                                                              const std::string& identifier) {
  if (absl::Status entered = Enter("ResolveIdentifier", scope); !entered.ok()) return entered;
  // Public metadata: every tenant's identifiers, whatever the scope.
  for (const auto& [tenant_id, rows] : tenants) {
    for (const auto& [id, device] : rows.devices) {
      if (device.identifier() != identifier) continue;
      devicepb::IdentifierRecord record;
      record.set_identifier(identifier);
      auto type = rows.types.find(device.device_type_id());
      if (type != rows.types.end()) {
        record.set_type_display_name(type->second.back().display_name());
        record.set_vendor(type->second.back().vendor());
        record.set_model(type->second.back().model());
      }
      for (const std::string& key : device.public_attribute_keys()) {
        auto attribute = device.attributes().find(key);
        if (attribute != device.attributes().end()) (*record.mutable_public_attributes())[key] = attribute->second;
      }
      return record;
    }
  }
  return absl::NotFoundError(absl::StrCat("identifier: ", identifier, " is not registered"));
}

absl::StatusOr<devicepb::DeviceSchema> FakeDeviceStore::LoadSchema(const TenantScope& scope,
                                                                  const std::string& device_id) {
  absl::StatusOr<std::vector<devicepb::DeviceSchema>> schemas = LoadSchemas(scope, {device_id});
  if (!schemas.ok()) return schemas.status();
  if (schemas->empty()) return DeviceNotFound(scope.tenant_id, device_id);
  return (*schemas)[0];
}

absl::StatusOr<std::vector<devicepb::DeviceSchema>> FakeDeviceStore::LoadSchemas(
    const TenantScope& scope, const std::vector<std::string>& device_ids) {
  if (absl::Status entered = Enter("LoadSchemas", scope); !entered.ok()) return entered;
  std::vector<devicepb::DeviceSchema> schemas;
  absl::StatusOr<TenantRows*> rows = Rows(scope);
  if (!rows.ok()) return schemas;
  for (const std::string& id : device_ids) {
    auto device = (*rows)->devices.find(id);
    if (device == (*rows)->devices.end()) continue;
    devicepb::DeviceSchema& schema = schemas.emplace_back();
    schema.set_tenant_id(scope.tenant_id);
    schema.set_device_id(id);
    schema.set_state(device->second.state());
    schema.set_device_type_id(device->second.device_type_id());
    *schema.mutable_labels() = device->second.labels();
    auto type = (*rows)->types.find(device->second.device_type_id());
    if (type != (*rows)->types.end()) {
      schema.set_type_version(type->second.back().version());
      *schema.mutable_metrics() = type->second.back().metrics();
    }
  }
  return schemas;
}

}  // namespace parkbase::fuzz
