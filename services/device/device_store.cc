#include "device/device_store.h"

#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/api_keys.h"
#include "common/errors.h"
#include "common/etag.h"
#include "common/status_macros.h"
#include "device/device_queries.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace parkbase::device {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using google::protobuf::util::TimeUtil;

// Every jsonb value is produced and read by protobuf's JSON support: labels and attributes as Struct objects,
// sets of rows as ListValue arrays, the metric schema as a DeviceType carrying only `metrics`.
std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
    throw std::runtime_error("cannot encode a row as JSON");
  }
  return json;
}

void FromJson(const std::string& json, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(json, message, options).ok()) {
    throw std::runtime_error("stored JSON does not decode");
  }
}

// AttributeValue <-> the object its proto JSON would be ({"int64_value": "5"}), built with Struct so no JSON is
// written by hand.
Value AttributeToValue(const pb::AttributeValue& attribute) {
  Value value;
  auto& fields = *value.mutable_struct_value()->mutable_fields();
  switch (attribute.value_case()) {
    case pb::AttributeValue::kDoubleValue:
      fields["double_value"].set_number_value(attribute.double_value());
      break;
    case pb::AttributeValue::kInt64Value:
      fields["int64_value"].set_string_value(absl::StrCat(attribute.int64_value()));
      break;
    case pb::AttributeValue::kBoolValue:
      fields["bool_value"].set_bool_value(attribute.bool_value());
      break;
    case pb::AttributeValue::kStringValue:
      fields["string_value"].set_string_value(attribute.string_value());
      break;
    case pb::AttributeValue::VALUE_NOT_SET:
      break;
  }
  return value;
}

pb::AttributeValue ValueToAttribute(const Value& value) {
  pb::AttributeValue attribute;
  for (const auto& [kind, inner] : value.struct_value().fields()) {
    if (kind == "double_value") attribute.set_double_value(inner.number_value());
    if (kind == "bool_value") attribute.set_bool_value(inner.bool_value());
    if (kind == "string_value") attribute.set_string_value(inner.string_value());
    if (kind == "int64_value") {
      int64_t number = 0;
      if (absl::SimpleAtoi(inner.string_value(), &number)) attribute.set_int64_value(number);
    }
  }
  return attribute;
}

Struct LabelsStruct(const google::protobuf::Map<std::string, std::string>& labels) {
  Struct object;
  for (const auto& [key, value] : labels) (*object.mutable_fields())[key].set_string_value(value);
  return object;
}

Struct AttributesStruct(const google::protobuf::Map<std::string, pb::AttributeValue>& attributes) {
  Struct object;
  for (const auto& [key, value] : attributes) (*object.mutable_fields())[key] = AttributeToValue(value);
  return object;
}

// Only the attributes the owner listed as public.
Struct PublicAttributesStruct(const pb::Device& device) {
  Struct object;
  for (const std::string& key : device.public_attribute_keys()) {
    auto found = device.attributes().find(key);
    if (found != device.attributes().end()) (*object.mutable_fields())[key] = AttributeToValue(found->second);
  }
  return object;
}

ListValue StringList(const google::protobuf::RepeatedPtrField<std::string>& strings) {
  ListValue list;
  for (const std::string& text : strings) list.add_values()->set_string_value(text);
  return list;
}

std::string MetricsJson(const pb::DeviceType& type) {
  pb::DeviceType carrier;
  *carrier.mutable_metrics() = type.metrics();
  return ToJson(carrier);
}

void DecodeLabels(const std::string& json, google::protobuf::Map<std::string, std::string>* labels) {
  Struct object;
  FromJson(json, &object);
  for (const auto& [key, value] : object.fields()) (*labels)[key] = value.string_value();
}

// A row of either driver: libpqxx's text columns or the read pool's binary ones (the same columns, so one decoder).
class PqxxRow {
 public:
  explicit PqxxRow(const pqxx::row& row) : row_(row) {}
  std::string Text(int column) const { return row_[column].as<std::string>(); }
  int64_t Int64(int column) const { return row_[column].as<int64_t>(); }
  int Int(int column) const { return row_[column].as<int>(); }

 private:
  const pqxx::row& row_;
};

class BinaryRow {
 public:
  BinaryRow(const PgRows& rows, int row) : rows_(rows), row_(row) {}
  std::string Text(int column) const { return std::string(rows_.Bytes(row_, column)); }
  int64_t Int64(int column) const { return rows_.Int64(row_, column); }
  int Int(int column) const { return rows_.Int16(row_, column); }  // smallint columns (state)

 private:
  const PgRows& rows_;
  int row_;
};

template <typename Row>
pb::DeviceType DecodeType(const std::string& tenant_id, const Row& row) {
  pb::DeviceType type;
  FromJson(row.Text(6), &type);  // fills `metrics`
  type.set_device_type_id(row.Text(0));
  type.set_name(absl::StrCat("tenants/", tenant_id, "/deviceTypes/", type.device_type_id()));
  type.set_version(row.Int64(1));
  type.set_display_name(row.Text(2));
  type.set_description(row.Text(3));
  type.set_vendor(row.Text(4));
  type.set_model(row.Text(5));
  *type.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(row.Int64(7));
  type.set_etag(EtagOf(type.version(), row.Int64(7)));
  *type.mutable_update_time() = TimeUtil::MicrosecondsToTimestamp(row.Int64(8));
  return type;
}
pb::DeviceType DecodeType(const std::string& tenant_id, const pqxx::row& row) {
  return DecodeType(tenant_id, PqxxRow(row));
}

template <typename Row>
pb::Device DecodeDevice(const std::string& tenant_id, const Row& row) {
  pb::Device device;
  device.set_device_id(row.Text(0));
  device.set_name(absl::StrCat("tenants/", tenant_id, "/devices/", device.device_id()));
  device.set_device_type_id(row.Text(1));
  device.set_serial_number(row.Text(2));
  device.set_display_name(row.Text(3));
  DecodeLabels(row.Text(4), device.mutable_labels());
  Struct attributes;
  FromJson(row.Text(5), &attributes);
  for (const auto& [key, value] : attributes.fields()) (*device.mutable_attributes())[key] = ValueToAttribute(value);
  ListValue public_keys;
  FromJson(row.Text(6), &public_keys);
  for (const Value& key : public_keys.values()) device.add_public_attribute_keys(key.string_value());
  device.set_state(static_cast<pb::DeviceState>(row.Int(7)));
  device.set_identifier(row.Text(8));
  *device.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(row.Int64(9));
  *device.mutable_update_time() = TimeUtil::MicrosecondsToTimestamp(row.Int64(10));
  if (const auto seen = row.Int64(11); seen != 0) {
    *device.mutable_last_seen_time() = TimeUtil::MicrosecondsToTimestamp(seen);
  }
  device.set_etag(EtagOf(row.Int64(12), row.Int64(9)));
  return device;
}
pb::Device DecodeDevice(const std::string& tenant_id, const pqxx::row& row) {
  return DecodeDevice(tenant_id, PqxxRow(row));
}

pb::DeviceCredential DecodeCredential(const std::string& tenant_id, const std::string& device_id,
                                      const DeviceKeyInfo& key) {
  pb::DeviceCredential credential;
  credential.set_key_id(key.key_id);
  credential.set_name(absl::StrCat("tenants/", tenant_id, "/devices/", device_id, "/credentials/", key.key_id));
  credential.set_display_name(key.display_name);
  *credential.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(key.create_micros);
  if (key.revoke_micros != 0) *credential.mutable_revoke_time() = TimeUtil::MicrosecondsToTimestamp(key.revoke_micros);
  return credential;
}

std::string DeletedIdMessage(const std::string& tenant_id, const std::string& device_id) {
  return absl::StrCat("device.device_id: tenants/", tenant_id, "/devices/", device_id,
                      " belonged to a deleted device; ids are never reused, because the deleted device's telemetry is "
                      "kept until retention drops it; choose another id");
}

absl::Status DeviceNotFound(const std::string& tenant_id, const std::string& device_id) {
  return absl::NotFoundError(absl::StrCat("tenants/", tenant_id, "/devices/", device_id, ": not found"));
}

absl::Status TypeNotFound(const std::string& tenant_id, const std::string& type_id) {
  return absl::NotFoundError(absl::StrCat("tenants/", tenant_id, "/deviceTypes/", type_id, ": not found"));
}

// Quota failures are retried only after the tenant frees devices or gets a bigger quota; a minute is a hint, not
// a promise.
constexpr absl::Duration kQuotaRetryAfter = absl::Minutes(1);

absl::Status QuotaExceeded(const std::string& tenant_id, int64_t max_devices) {
  return QuotaError(absl::StrCat("tenants/", tenant_id), "max_devices",
                    absl::StrCat("the tenant already has its maximum of ", max_devices, " devices"),
                    kQuotaRetryAfter);
}

Value DeviceRowJson(const pb::Device& device) {
  Value row;
  auto& fields = *row.mutable_struct_value()->mutable_fields();
  fields["device_id"].set_string_value(device.device_id());
  fields["device_type_id"].set_string_value(device.device_type_id());
  fields["serial_number"].set_string_value(device.serial_number());
  fields["display_name"].set_string_value(device.display_name());
  *fields["labels"].mutable_struct_value() = LabelsStruct(device.labels());
  *fields["attributes"].mutable_struct_value() = AttributesStruct(device.attributes());
  *fields["public_attribute_keys"].mutable_list_value() = StringList(device.public_attribute_keys());
  return row;
}

// Decoding throws on stored JSON that does not parse (FromJson); inside DbPool::Transact that is caught and
// logged, and the read pool's callers get the same INTERNAL.
template <typename T, typename Decode>
absl::StatusOr<T> Decoded(Decode decode) {
  try {
    return decode();
  } catch (const std::exception& error) {
    return TranslateDbError(error);
  }
}

struct TenantLimits {
  std::string code;
  int64_t max_devices = 0;
  int64_t devices = 0;
};

// Takes the tenant's device-creation lock and reads what creation needs.
absl::StatusOr<TenantLimits> LockTenant(pqxx::work& work, const std::string& tenant_id) {
  work.exec_prepared(queries::kLockTenant, tenant_id);
  pqxx::result tenant = work.exec_prepared(queries::kSelectTenantLimits, tenant_id);
  if (tenant.empty()) return absl::NotFoundError(absl::StrCat("tenants/", tenant_id, ": not found"));
  TenantLimits limits;
  limits.code = tenant[0][0].as<std::string>();
  limits.max_devices = tenant[0][1].as<int64_t>();
  limits.devices = work.exec_prepared(queries::kCountDevices, tenant_id)[0][0].as<int64_t>();
  return limits;
}

}  // namespace

std::string IdentifierPrefix(const std::string& park_code, const std::string& tenant_code) {
  return absl::StrCat("88.", park_code, ".", tenant_code, "/");
}

std::string MakeIdentifier(const std::string& park_code, const std::string& tenant_code, const std::string& serial) {
  return absl::StrCat(IdentifierPrefix(park_code, tenant_code), serial);
}

PgDeviceStore::PgDeviceStore(DbPool& db, absl::Duration bulk_statement_timeout)
    : db_(db),
      bulk_statement_timeout_(bulk_statement_timeout),
      reads_(LibpqPool::Options{.url = db.options().url,
                                .size = db.options().size,
                                .statement_timeout = db.options().statement_timeout,
                                .acquire_timeout = db.options().acquire_timeout,
                                // Counted with the pool it mirrors: both are the service's PostgreSQL connections.
                                .metrics = db.options().metrics,
                                .verify_serving_role = db.options().verify_serving_role,
                                .password_file = db.options().password_file}) {
  db_.Prepare(queries::kInsertType, queries::kInsertTypeSql);
  db_.Prepare(queries::kInsertTypeVersion, queries::kInsertTypeVersionSql);
  db_.Prepare(queries::kSelectType, queries::kSelectTypeSql);
  db_.Prepare(queries::kLockType, queries::kLockTypeSql);
  db_.Prepare(queries::kShareTypes, queries::kShareTypesSql);
  db_.Prepare(queries::kListTypes, queries::kListTypesSql);
  db_.Prepare(queries::kBumpTypeVersion, queries::kBumpTypeVersionSql);
  db_.Prepare(queries::kCountDevicesOfType, queries::kCountDevicesOfTypeSql);
  db_.Prepare(queries::kDeleteType, queries::kDeleteTypeSql);
  db_.Prepare(queries::kRefreshTypeIdentifiers, queries::kRefreshTypeIdentifiersSql);
  db_.Prepare(queries::kLockTenant, queries::kLockTenantSql);
  db_.Prepare(queries::kSelectTenantLimits, queries::kSelectTenantLimitsSql);
  db_.Prepare(queries::kInsertTombstone, queries::kInsertTombstoneSql);
  db_.Prepare(queries::kTombstonedIds, queries::kTombstonedIdsSql);
  db_.Prepare(queries::kCountDevices, queries::kCountDevicesSql);
  db_.Prepare(queries::kExistingSerials, queries::kExistingSerialsSql);
  db_.Prepare(queries::kExistingIds, queries::kExistingIdsSql);
  db_.Prepare(queries::kInsertDevices, queries::kInsertDevicesSql);
  db_.Prepare(queries::kSelectDevice, queries::kSelectDeviceSql);
  db_.Prepare(queries::kSelectDeviceForUpdate, queries::kSelectDeviceForUpdateSql);
  db_.Prepare(queries::kListDevices, queries::kListDevicesSql);
  db_.Prepare(queries::kUpdateDevice, queries::kUpdateDeviceSql);
  db_.Prepare(queries::kRefreshDeviceIdentifier, queries::kRefreshDeviceIdentifierSql);
  db_.Prepare(queries::kDeleteDevice, queries::kDeleteDeviceSql);
  db_.Prepare(queries::kDeleteIdentifier, queries::kDeleteIdentifierSql);
  db_.Prepare(queries::kResolveIdentifier, queries::kResolveIdentifierSql);
  db_.Prepare(queries::kSelectSchema, queries::kSelectSchemaSql);
  db_.Prepare(queries::kSelectSchemas, queries::kSelectSchemasSql);
}

absl::StatusOr<pb::DeviceType> PgDeviceStore::CreateDeviceType(const TenantScope& scope, const pb::DeviceType& type) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact<pb::DeviceType>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::DeviceType> {
    pqxx::result inserted = work.exec_prepared(queries::kInsertType, tenant_id, type.device_type_id());
    if (inserted.affected_rows() == 0) {
      return absl::AlreadyExistsError(absl::StrCat("device_type_id: tenants/", tenant_id, "/deviceTypes/",
                                                   type.device_type_id(), " already exists"));
    }
    work.exec_prepared(queries::kInsertTypeVersion, tenant_id, type.device_type_id(), int64_t{1},
                       type.display_name(), type.description(), type.vendor(), type.model(), MetricsJson(type));
    pqxx::result row = work.exec_prepared(queries::kSelectType, tenant_id, type.device_type_id(), int64_t{0});
    return DecodeType(tenant_id, row[0]);
  });
}

absl::StatusOr<pb::DeviceType> PgDeviceStore::GetDeviceType(const TenantScope& scope, const std::string& type_id,
                                                            int64_t version) {
  const std::string& tenant_id = scope.tenant_id;
  static constexpr PgStatement kStatement{queries::kSelectType, queries::kSelectTypeSql};
  std::vector<PgParam> params = {PgParam::Bytes(tenant_id), PgParam::Bytes(type_id), PgParam::Int64(version)};
  ASSIGN_OR_RETURN(const PgRows rows, reads_.ReadOne(scope, kStatement, std::move(params)));
  if (rows.size() == 0) {
    if (version == 0) return TypeNotFound(tenant_id, type_id);
    return absl::NotFoundError(
        absl::StrCat("tenants/", tenant_id, "/deviceTypes/", type_id, ": version ", version, " not found"));
  }
  return Decoded<pb::DeviceType>([&] { return DecodeType(tenant_id, BinaryRow(rows, 0)); });
}

absl::StatusOr<std::vector<pb::DeviceType>> PgDeviceStore::ListDeviceTypes(const TenantScope& scope,
                                                                           const std::string& after_type_id,
                                                                           int limit) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact<std::vector<pb::DeviceType>>(
      scope, [&](pqxx::work& work) -> absl::StatusOr<std::vector<pb::DeviceType>> {
        pqxx::result result = work.exec_prepared(queries::kListTypes, tenant_id, after_type_id, limit);
        std::vector<pb::DeviceType> types;
        types.reserve(result.size());
        for (const auto& row : result) types.push_back(DecodeType(tenant_id, row));
        return types;
      });
}

absl::StatusOr<pb::DeviceType> PgDeviceStore::UpdateDeviceType(const TenantScope& scope, const std::string& type_id,
                                                               const DeviceTypeMutation& mutate) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact<pb::DeviceType>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::DeviceType> {
    pqxx::result locked = work.exec_prepared(queries::kLockType, tenant_id, type_id);
    if (locked.empty()) return TypeNotFound(tenant_id, type_id);
    pqxx::result current = work.exec_prepared(queries::kSelectType, tenant_id, type_id, int64_t{0});
    pb::DeviceType type = DecodeType(tenant_id, current[0]);
    if (absl::Status status = mutate(type); !status.ok()) return status;
    const int64_t version = locked[0][0].as<int64_t>() + 1;
    work.exec_prepared(queries::kInsertTypeVersion, tenant_id, type_id, version, type.display_name(),
                       type.description(), type.vendor(), type.model(), MetricsJson(type));
    work.exec_prepared(queries::kBumpTypeVersion, tenant_id, type_id, version);
    work.exec_prepared(queries::kRefreshTypeIdentifiers, tenant_id, type_id, type.display_name(), type.vendor(),
                       type.model());
    pqxx::result row = work.exec_prepared(queries::kSelectType, tenant_id, type_id, int64_t{0});
    return DecodeType(tenant_id, row[0]);
  });
}

absl::Status PgDeviceStore::DeleteDeviceType(const TenantScope& scope, const std::string& type_id,
                                             const std::string& etag) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact(scope, [&](pqxx::work& work) -> absl::Status {
    // The lock waits for creators holding FOR SHARE, so the count below cannot miss a device being created.
    pqxx::result locked = work.exec_prepared(queries::kLockType, tenant_id, type_id);
    if (locked.empty()) return TypeNotFound(tenant_id, type_id);
    RETURN_IF_ERROR(CheckEtag("etag", etag, EtagOf(locked[0][0].as<int64_t>(), locked[0][1].as<int64_t>())));
    const int64_t in_use = work.exec_prepared(queries::kCountDevicesOfType, tenant_id, type_id)[0][0].as<int64_t>();
    if (in_use > 0) {
      return absl::FailedPreconditionError(absl::StrCat("tenants/", tenant_id, "/deviceTypes/", type_id, ": ",
                                                        in_use, in_use == 1 ? " device uses" : " devices use",
                                                        " this type; delete them or change their type first"));
    }
    work.exec_prepared(queries::kDeleteType, tenant_id, type_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<pb::Device> PgDeviceStore::CreateDevice(const TenantScope& scope, const std::string& park_code,
                                                       const pb::Device& device) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact<pb::Device>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::Device> {
    auto limits = LockTenant(work, tenant_id);
    if (!limits.ok()) return limits.status();
    ListValue types;
    types.add_values()->set_string_value(device.device_type_id());
    if (work.exec_prepared(queries::kShareTypes, tenant_id, ToJson(types)).empty()) {
      return absl::FailedPreconditionError(absl::StrCat("device.device_type_id: tenants/", tenant_id,
                                                        "/deviceTypes/", device.device_type_id(),
                                                        " does not exist; create it first"));
    }
    ListValue serials;
    serials.add_values()->set_string_value(device.serial_number());
    if (!work.exec_prepared(queries::kExistingSerials, tenant_id, ToJson(serials)).empty()) {
      return absl::AlreadyExistsError(
          absl::StrCat("device.serial_number: a device with serial number ", device.serial_number(), " exists"));
    }
    ListValue ids;
    ids.add_values()->set_string_value(device.device_id());
    if (!work.exec_prepared(queries::kExistingIds, tenant_id, ToJson(ids)).empty()) {
      return absl::AlreadyExistsError(absl::StrCat("device.device_id: tenants/", tenant_id, "/devices/",
                                                   device.device_id(), " already exists"));
    }
    if (!work.exec_prepared(queries::kTombstonedIds, tenant_id, ToJson(ids)).empty()) {
      return absl::AlreadyExistsError(DeletedIdMessage(tenant_id, device.device_id()));
    }
    if (limits->devices >= limits->max_devices) return QuotaExceeded(tenant_id, limits->max_devices);
    ListValue rows;
    *rows.add_values() = DeviceRowJson(device);
    if (work.exec_prepared(queries::kInsertDevices, tenant_id, ToJson(rows), IdentifierPrefix(park_code, limits->code))
            .size() != 1) {
      return absl::AbortedError("device: conflicted with a concurrent change; retry");
    }
    return DecodeDevice(tenant_id, work.exec_prepared(queries::kSelectDevice, tenant_id, device.device_id())[0]);
  });
}

absl::StatusOr<pb::Device> PgDeviceStore::GetDevice(const TenantScope& scope, const std::string& device_id) {
  const std::string& tenant_id = scope.tenant_id;
  // One round trip (LibpqPool::Read): this is the registry's hottest read.
  static constexpr PgStatement kStatement{queries::kSelectDevice, queries::kSelectDeviceSql};
  std::vector<PgParam> params = {PgParam::Bytes(tenant_id), PgParam::Bytes(device_id)};
  ASSIGN_OR_RETURN(const PgRows rows, reads_.ReadOne(scope, kStatement, std::move(params)));
  if (rows.size() == 0) return DeviceNotFound(tenant_id, device_id);
  return Decoded<pb::Device>([&] { return DecodeDevice(tenant_id, BinaryRow(rows, 0)); });
}

absl::StatusOr<std::vector<pb::Device>> PgDeviceStore::ListDevices(const TenantScope& scope,
                                                                   const DeviceFilter& filter,
                                                                   const std::string& after_device_id, int limit) {
  const std::string& tenant_id = scope.tenant_id;
  Struct labels;
  for (const auto& [key, value] : filter.labels) (*labels.mutable_fields())[key].set_string_value(value);
  const std::string labels_json = ToJson(labels);
  Struct grant_labels;
  for (const auto& [key, value] : filter.grant_labels) (*grant_labels.mutable_fields())[key].set_string_value(value);
  const std::string grant_labels_json = ToJson(grant_labels);
  std::optional<int> state;
  if (filter.state.has_value()) state = static_cast<int>(*filter.state);
  return db_.Transact<std::vector<pb::Device>>(
      scope, [&](pqxx::work& work) -> absl::StatusOr<std::vector<pb::Device>> {
        pqxx::result result = work.exec_prepared(queries::kListDevices, tenant_id, after_device_id,
                                                 filter.device_type_id, state, labels_json, limit,
                                                 grant_labels_json);
        std::vector<pb::Device> devices;
        devices.reserve(result.size());
        for (const auto& row : result) devices.push_back(DecodeDevice(tenant_id, row));
        return devices;
      });
}

absl::StatusOr<pb::Device> PgDeviceStore::UpdateDevice(const TenantScope& scope, const std::string& device_id,
                                                       const DeviceMutation& mutate, bool seen,
                                                       const AuditEntry* audit) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact<pb::Device>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::Device> {
    pqxx::result current = work.exec_prepared(queries::kSelectDeviceForUpdate, tenant_id, device_id);
    if (current.empty()) return DeviceNotFound(tenant_id, device_id);
    const pb::Device before = DecodeDevice(tenant_id, current[0]);
    pb::Device device = before;
    if (absl::Status status = mutate(device); !status.ok()) return status;
    if (device.device_type_id() != before.device_type_id()) {
      ListValue types;
      types.add_values()->set_string_value(device.device_type_id());
      if (work.exec_prepared(queries::kShareTypes, tenant_id, ToJson(types)).empty()) {
        return absl::FailedPreconditionError(absl::StrCat("device.device_type_id: tenants/", tenant_id,
                                                          "/deviceTypes/", device.device_type_id(),
                                                          " does not exist"));
      }
    }
    work.exec_prepared(queries::kUpdateDevice, tenant_id, device_id, device.device_type_id(), device.display_name(),
                       ToJson(LabelsStruct(device.labels())), ToJson(AttributesStruct(device.attributes())),
                       ToJson(StringList(device.public_attribute_keys())), static_cast<int>(device.state()), seen);
    work.exec_prepared(queries::kRefreshDeviceIdentifier, tenant_id, device_id, device.device_type_id(),
                       ToJson(PublicAttributesStruct(device)));
    const bool was_disabled = before.state() == pb::DEVICE_STATE_DISABLED;
    const bool disabled = device.state() == pb::DEVICE_STATE_DISABLED;
    if (was_disabled != disabled) SetDeviceKeysDisabled(work, tenant_id, device_id, disabled);
    if (audit != nullptr) InsertAudit(work, tenant_id, *audit);
    return DecodeDevice(tenant_id, work.exec_prepared(queries::kSelectDevice, tenant_id, device_id)[0]);
  });
}

absl::Status PgDeviceStore::DeleteDevice(const TenantScope& scope, const std::string& device_id,
                                         const std::string& etag, const AuditEntry& audit) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact(scope, [&](pqxx::work& work) -> absl::Status {
    if (!etag.empty()) {
      pqxx::result current = work.exec_prepared(queries::kSelectDeviceForUpdate, tenant_id, device_id);
      if (current.empty()) return DeviceNotFound(tenant_id, device_id);
      RETURN_IF_ERROR(CheckEtag("etag", etag, DecodeDevice(tenant_id, current[0]).etag()));
    }
    if (work.exec_prepared(queries::kDeleteDevice, tenant_id, device_id).affected_rows() == 0) {
      return DeviceNotFound(tenant_id, device_id);
    }
    work.exec_prepared(queries::kDeleteIdentifier, tenant_id, device_id);
    work.exec_prepared(queries::kInsertTombstone, tenant_id, device_id);
    // Revoked rather than blocked: a revoked key never works again, whatever happens to the device later.
    RevokeAllDeviceKeys(work, tenant_id, device_id);
    InsertAudit(work, tenant_id, audit);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<pb::ImportRowResult>> PgDeviceStore::ImportBatch(const TenantScope& scope,
                                                                            const std::string& park_code,
                                                                            const std::vector<ImportRow>& rows) {
  const std::string& tenant_id = scope.tenant_id;
  // Bulk work has a statement budget of its own: a 5,000-row batch on a busy machine outlasts an interactive one.
  return db_.Transact<std::vector<pb::ImportRowResult>>(
      scope, bulk_statement_timeout_, [&](pqxx::work& work) -> absl::StatusOr<std::vector<pb::ImportRowResult>> {
        std::vector<pb::ImportRowResult> results(rows.size());
        auto fail = [&](size_t i, absl::StatusCode code, std::string message) {
          results[i].set_outcome(pb::IMPORT_OUTCOME_FAILED);
          results[i].set_code(static_cast<int>(code));
          results[i].set_message(std::move(message));
          results[i].clear_device_id();
        };
        for (size_t i = 0; i < rows.size(); ++i) results[i].set_row_index(rows[i].index);

        auto limits = LockTenant(work, tenant_id);
        if (!limits.ok()) return limits.status();

        // What exists already, in three set-valued queries rather than three per row.
        ListValue type_ids, serials, ids;
        std::set<std::string> seen_types;
        for (const ImportRow& row : rows) {
          if (seen_types.insert(row.device.device_type_id()).second) {
            type_ids.add_values()->set_string_value(row.device.device_type_id());
          }
          serials.add_values()->set_string_value(row.device.serial_number());
          ids.add_values()->set_string_value(row.device.device_id());
        }
        std::set<std::string> known_types;
        for (const auto& found : work.exec_prepared(queries::kShareTypes, tenant_id, ToJson(type_ids))) {
          known_types.insert(found[0].as<std::string>());
        }
        std::unordered_map<std::string, std::string> existing_serials;
        for (const auto& found : work.exec_prepared(queries::kExistingSerials, tenant_id, ToJson(serials))) {
          existing_serials.emplace(found[0].as<std::string>(), found[1].as<std::string>());
        }
        std::set<std::string> existing_ids;
        for (const auto& found : work.exec_prepared(queries::kExistingIds, tenant_id, ToJson(ids))) {
          existing_ids.insert(found[0].as<std::string>());
        }
        std::set<std::string> deleted_ids;
        for (const auto& found : work.exec_prepared(queries::kTombstonedIds, tenant_id, ToJson(ids))) {
          deleted_ids.insert(found[0].as<std::string>());
        }

        int64_t room = limits->max_devices - limits->devices;
        ListValue inserts;
        std::vector<size_t> inserted_rows;
        for (size_t i = 0; i < rows.size(); ++i) {
          const pb::Device& device = rows[i].device;
          if (auto found = existing_serials.find(device.serial_number()); found != existing_serials.end()) {
            results[i].set_outcome(pb::IMPORT_OUTCOME_UNCHANGED);
            results[i].set_device_id(found->second);
          } else if (known_types.count(device.device_type_id()) == 0) {
            fail(i, absl::StatusCode::kFailedPrecondition,
                 absl::StrCat("device.device_type_id: tenants/", tenant_id, "/deviceTypes/", device.device_type_id(),
                              " does not exist"));
          } else if (existing_ids.count(device.device_id()) != 0) {
            fail(i, absl::StatusCode::kAlreadyExists,
                 absl::StrCat("device.device_id: tenants/", tenant_id, "/devices/", device.device_id(),
                              " already exists with another serial number"));
          } else if (deleted_ids.count(device.device_id()) != 0) {
            fail(i, absl::StatusCode::kAlreadyExists, DeletedIdMessage(tenant_id, device.device_id()));
          } else if (room <= 0) {
            fail(i, absl::StatusCode::kResourceExhausted,
                 absl::StrCat("max_devices: the tenant already has its maximum of ", limits->max_devices,
                              " devices"));
          } else {
            --room;
            *inserts.add_values() = DeviceRowJson(device);
            inserted_rows.push_back(i);
          }
        }
        if (inserts.values_size() > 0) {
          std::set<std::string> inserted;
          for (const auto& found : work.exec_prepared(queries::kInsertDevices, tenant_id, ToJson(inserts),
                                                      IdentifierPrefix(park_code, limits->code))) {
            inserted.insert(found[0].as<std::string>());
          }
          for (size_t i : inserted_rows) {
            if (inserted.count(rows[i].device.device_id()) != 0) {
              results[i].set_outcome(pb::IMPORT_OUTCOME_CREATED);
              results[i].set_device_id(rows[i].device.device_id());
            } else {
              // Cannot happen while the tenant lock is held; reported rather than assumed.
              fail(i, absl::StatusCode::kAborted, "device: conflicted with a concurrent change; retry the row");
            }
          }
        }
        return results;
      });
}

absl::StatusOr<NewCredential> PgDeviceStore::CreateCredential(const TenantScope& scope, const std::string& device_id,
                                                              const std::string& display_name,
                                                              const std::string& creator, const AuditEntry& audit,
                                                              const ReplayTicket* replay) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact<NewCredential>(scope, [&](pqxx::work& work) -> absl::StatusOr<NewCredential> {
    pqxx::result current = work.exec_prepared(queries::kSelectDeviceForUpdate, tenant_id, device_id);
    if (current.empty()) return DeviceNotFound(tenant_id, device_id);
    const pb::Device device = DecodeDevice(tenant_id, current[0]);
    DeviceKey key = InsertDeviceKey(work, tenant_id, device_id, display_name, creator);
    // A key minted while the device is disabled starts blocked like its siblings.
    if (device.state() == pb::DEVICE_STATE_DISABLED) SetDeviceKeysDisabled(work, tenant_id, device_id, true);
    AuditEntry minted = audit;
    minted.resource = absl::StrCat("tenants/", tenant_id, "/devices/", device_id, "/credentials/", key.key_id);
    InsertAudit(work, tenant_id, minted);
    for (const DeviceKeyInfo& info : ListDeviceKeys(work, tenant_id, device_id)) {
      if (info.key_id != key.key_id) continue;
      NewCredential created{DecodeCredential(tenant_id, device_id, info), key.key};
      if (replay != nullptr) {
        pb::CreateDeviceCredentialResponse answer;
        *answer.mutable_credential() = created.credential;
        answer.set_secret(created.secret);
        RETURN_IF_ERROR(replay->Record(work, tenant_id, answer));
      }
      return created;
    }
    return absl::InternalError("minted key not found");
  });
}

absl::StatusOr<std::vector<pb::DeviceCredential>> PgDeviceStore::ListCredentials(const TenantScope& scope,
                                                                                 const std::string& device_id) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact<std::vector<pb::DeviceCredential>>(
      scope, [&](pqxx::work& work) -> absl::StatusOr<std::vector<pb::DeviceCredential>> {
        if (work.exec_prepared(queries::kSelectDevice, tenant_id, device_id).empty()) {
          return DeviceNotFound(tenant_id, device_id);
        }
        std::vector<pb::DeviceCredential> credentials;
        for (const DeviceKeyInfo& info : ListDeviceKeys(work, tenant_id, device_id)) {
          credentials.push_back(DecodeCredential(tenant_id, device_id, info));
        }
        return credentials;
      });
}

absl::Status PgDeviceStore::RevokeCredential(const TenantScope& scope, const std::string& device_id,
                                             const std::string& key_id, const AuditEntry& audit) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact(scope, [&](pqxx::work& work) -> absl::Status {
    if (!RevokeDeviceKey(work, tenant_id, device_id, key_id)) {
      return absl::NotFoundError(absl::StrCat("tenants/", tenant_id, "/devices/", device_id, "/credentials/", key_id,
                                              ": not found or already revoked"));
    }
    InsertAudit(work, tenant_id, audit);
    return absl::OkStatus();
  });
}

absl::StatusOr<pb::IdentifierRecord> PgDeviceStore::ResolveIdentifier(const TenantScope& scope,
                                                                      const std::string& identifier) {
  return db_.Transact<pb::IdentifierRecord>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::IdentifierRecord> {
    pqxx::result row = work.exec_prepared(queries::kResolveIdentifier, identifier);
    if (row.empty()) return absl::NotFoundError(absl::StrCat("identifier: ", identifier, " is not registered"));
    pb::IdentifierRecord record;
    record.set_identifier(row[0][0].as<std::string>());
    record.set_type_display_name(row[0][1].as<std::string>());
    record.set_vendor(row[0][2].as<std::string>());
    record.set_model(row[0][3].as<std::string>());
    Struct attributes;
    FromJson(row[0][4].as<std::string>(), &attributes);
    for (const auto& [key, value] : attributes.fields()) {
      (*record.mutable_public_attributes())[key] = ValueToAttribute(value);
    }
    return record;
  });
}

absl::StatusOr<pb::DeviceSchema> PgDeviceStore::LoadSchema(const TenantScope& scope, const std::string& device_id) {
  const std::string& tenant_id = scope.tenant_id;
  return db_.Transact<pb::DeviceSchema>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::DeviceSchema> {
    pqxx::result row = work.exec_prepared(queries::kSelectSchema, tenant_id, device_id);
    if (row.empty()) return DeviceNotFound(tenant_id, device_id);
    pb::DeviceType carrier;
    FromJson(row[0][3].as<std::string>(), &carrier);
    pb::DeviceSchema schema;
    schema.set_tenant_id(tenant_id);
    schema.set_device_id(device_id);
    schema.set_state(static_cast<pb::DeviceState>(row[0][0].as<int>()));
    schema.set_device_type_id(row[0][1].as<std::string>());
    schema.set_type_version(row[0][2].as<int64_t>());
    *schema.mutable_metrics() = carrier.metrics();
    DecodeLabels(row[0][4].as<std::string>(), schema.mutable_labels());
    return schema;
  });
}

absl::StatusOr<std::vector<pb::DeviceSchema>> PgDeviceStore::LoadSchemas(const TenantScope& scope,
                                                                         const std::vector<std::string>& device_ids) {
  const std::string& tenant_id = scope.tenant_id;
  const std::string ids = PgTextArray(device_ids);
  using Schemas = std::vector<pb::DeviceSchema>;
  return db_.Transact<Schemas>(scope, [&](pqxx::work& work) -> absl::StatusOr<Schemas> {
    pqxx::result rows = work.exec_prepared(queries::kSelectSchemas, tenant_id, ids);
    Schemas schemas;
    schemas.reserve(rows.size());
    // Devices of one type share its metrics: parse each (type, version)'s JSON once, not once a device.
    absl::flat_hash_map<std::pair<std::string, int64_t>, pb::DeviceType> types;
    for (const auto& row : rows) {
      auto [found, inserted] = types.try_emplace(std::make_pair(row[1].as<std::string>(), row[2].as<int64_t>()));
      if (inserted) FromJson(row[3].as<std::string>(), &found->second);
      const pb::DeviceType& carrier = found->second;
      pb::DeviceSchema& schema = schemas.emplace_back();
      schema.set_tenant_id(tenant_id);
      schema.set_device_id(row[4].as<std::string>());
      schema.set_state(static_cast<pb::DeviceState>(row[0].as<int>()));
      schema.set_device_type_id(row[1].as<std::string>());
      schema.set_type_version(row[2].as<int64_t>());
      *schema.mutable_metrics() = carrier.metrics();
      DecodeLabels(row[5].as<std::string>(), schema.mutable_labels());
    }
    return schemas;
  });
}

}  // namespace parkbase::device
