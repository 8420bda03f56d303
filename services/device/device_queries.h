// Every SQL statement of the device service, prepared by name on each pooled connection. Times travel as
// microseconds since the epoch; labels, attributes and schemas as jsonb text. Sets of rows travel as one jsonb
// array parameter (jsonb_to_recordset), because libpqxx 6.4 cannot bind arrays and one statement per batch is
// what makes bulk import fast.
#pragma once

namespace parkbase::device::queries {

#define PARKBASE_MICROS(column) "floor(extract(epoch FROM " column ") * 1000000)::bigint"

#define PARKBASE_TYPE_COLUMNS                                                                               \
  "t.device_type_id, v.version, v.display_name, v.description, v.vendor, v.model, v.metrics::text, " \
  PARKBASE_MICROS("t.create_time") ", " PARKBASE_MICROS("v.create_time")

#define PARKBASE_DEVICE_COLUMNS                                                                           \
  "d.device_id, d.device_type_id, d.serial_number, d.display_name, d.labels::text, d.attributes::text, " \
  "d.public_attribute_keys::text, d.state, coalesce(i.identifier, ''), " PARKBASE_MICROS("d.create_time") \
  ", " PARKBASE_MICROS("d.update_time") ", coalesce(" PARKBASE_MICROS("d.last_seen_time") ", 0), d.revision"

#define PARKBASE_DEVICE_FROM \
  " FROM devices d LEFT JOIN device_identifiers i ON i.tenant_id = d.tenant_id AND i.device_id = d.device_id "

// --- device types --------------------------------------------------------------------------------------------

inline constexpr char kInsertType[] = "device_type_insert";
inline constexpr char kInsertTypeSql[] =
    "INSERT INTO device_types (tenant_id, device_type_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";

inline constexpr char kInsertTypeVersion[] = "device_type_version_insert";
inline constexpr char kInsertTypeVersionSql[] =
    "INSERT INTO device_type_versions (tenant_id, device_type_id, version, display_name, description, vendor, "
    "model, metrics) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)";

// version = 0 selects the latest.
inline constexpr char kSelectType[] = "device_type_select";
inline constexpr char kSelectTypeSql[] =
    "SELECT " PARKBASE_TYPE_COLUMNS " FROM device_types t JOIN device_type_versions v "
    "ON v.tenant_id = t.tenant_id AND v.device_type_id = t.device_type_id "
    "AND v.version = CASE WHEN $3::bigint = 0 THEN t.latest_version ELSE $3::bigint END "
    "WHERE t.tenant_id = $1 AND t.device_type_id = $2";

inline constexpr char kLockType[] = "device_type_lock";
inline constexpr char kLockTypeSql[] =
    "SELECT latest_version, " PARKBASE_MICROS("create_time") " FROM device_types "
    "WHERE tenant_id = $1 AND device_type_id = $2 FOR UPDATE";

// Shares the lock with other creators; DeleteDeviceType's FOR UPDATE waits for them and they for it.
inline constexpr char kShareTypes[] = "device_type_share";
inline constexpr char kShareTypesSql[] =
    "SELECT device_type_id FROM device_types WHERE tenant_id = $1 "
    "AND device_type_id IN (SELECT jsonb_array_elements_text($2::jsonb)) FOR SHARE";

inline constexpr char kListTypes[] = "device_type_list";
inline constexpr char kListTypesSql[] =
    "SELECT " PARKBASE_TYPE_COLUMNS " FROM device_types t JOIN device_type_versions v "
    "ON v.tenant_id = t.tenant_id AND v.device_type_id = t.device_type_id AND v.version = t.latest_version "
    "WHERE t.tenant_id = $1 AND t.device_type_id > $2 ORDER BY t.device_type_id LIMIT $3";

inline constexpr char kBumpTypeVersion[] = "device_type_bump";
inline constexpr char kBumpTypeVersionSql[] =
    "UPDATE device_types SET latest_version = $3 WHERE tenant_id = $1 AND device_type_id = $2";

inline constexpr char kCountDevicesOfType[] = "device_count_of_type";
inline constexpr char kCountDevicesOfTypeSql[] =
    "SELECT count(*) FROM devices WHERE tenant_id = $1 AND device_type_id = $2";

inline constexpr char kDeleteType[] = "device_type_delete";
inline constexpr char kDeleteTypeSql[] = "DELETE FROM device_types WHERE tenant_id = $1 AND device_type_id = $2";

// The public copy of a type's fields in every identifier of its devices.
inline constexpr char kRefreshTypeIdentifiers[] = "device_identifiers_refresh_type";
inline constexpr char kRefreshTypeIdentifiersSql[] =
    "UPDATE device_identifiers SET type_display_name = $3, vendor = $4, model = $5 "
    "WHERE tenant_id = $1 AND device_type_id = $2";

// --- devices -------------------------------------------------------------------------------------------------

// Locks the tenant row: every device creation of a tenant takes it, so counting against max_devices is exact even
// under concurrent creates. Readable under the tenant's own RLS scope.
// The tenant's device-creation lock, then what creation needs. An advisory lock rather than FOR UPDATE on the
// tenant row: a tenant-scoped transaction may not lock (or change) its tenants row (tenant/0002).
inline constexpr char kLockTenant[] = "device_tenant_lock";
inline constexpr char kLockTenantSql[] =
    "SELECT pg_advisory_xact_lock(hashtextextended('parkbase.device.create:' || $1, 0))";
inline constexpr char kSelectTenantLimits[] = "device_tenant_limits";
inline constexpr char kSelectTenantLimitsSql[] = "SELECT code, max_devices FROM tenants WHERE tenant_id = $1";

inline constexpr char kCountDevices[] = "device_count";
inline constexpr char kCountDevicesSql[] = "SELECT count(*) FROM devices WHERE tenant_id = $1";

// $2: jsonb array of serial numbers.
inline constexpr char kExistingSerials[] = "device_existing_serials";
inline constexpr char kExistingSerialsSql[] =
    "SELECT serial_number, device_id FROM devices WHERE tenant_id = $1 "
    "AND serial_number IN (SELECT jsonb_array_elements_text($2::jsonb))";

// $2: jsonb array of device ids.
inline constexpr char kExistingIds[] = "device_existing_ids";
inline constexpr char kExistingIdsSql[] =
    "SELECT device_id FROM devices WHERE tenant_id = $1 AND device_id IN (SELECT jsonb_array_elements_text($2::jsonb))";

// Inserts devices and their identifiers in one statement, so no row can exist without the other. $2 is a jsonb
// array of objects; $3 is the identifier prefix `88.<park>.<tenant code>/`. The identifier row is built from what
// the device insert returns (no join back to the input: at 5,000 rows that join cost more than the insert), with
// the type's public fields from its latest version and the public attributes picked out by key. Returns the ids
// inserted.
inline constexpr char kInsertDevices[] = "device_insert_many";
inline constexpr char kInsertDevicesSql[] =
    "WITH inserted AS (INSERT INTO devices (tenant_id, device_id, device_type_id, serial_number, display_name, "
    "  labels, attributes, public_attribute_keys) "
    "  SELECT $1, r.device_id, r.device_type_id, r.serial_number, r.display_name, r.labels, r.attributes, "
    "    r.public_attribute_keys "
    "  FROM jsonb_to_recordset($2::jsonb) AS r(device_id text, device_type_id text, serial_number text, "
    "    display_name text, labels jsonb, attributes jsonb, public_attribute_keys jsonb) "
    "  ON CONFLICT DO NOTHING "
    "  RETURNING device_id, device_type_id, serial_number, attributes, public_attribute_keys), "
    "identified AS (INSERT INTO device_identifiers (tenant_id, device_id, identifier, device_type_id, "
    "  type_display_name, vendor, model, public_attributes) "
    "  SELECT $1, n.device_id, $3 || n.serial_number, n.device_type_id, v.display_name, v.vendor, v.model, "
    "    CASE WHEN n.public_attribute_keys = '[]'::jsonb THEN '{}'::jsonb ELSE coalesce((SELECT "
    "      jsonb_object_agg(k, n.attributes -> k) FROM jsonb_array_elements_text(n.public_attribute_keys) AS k "
    "      WHERE n.attributes ? k), '{}'::jsonb) END "
    "  FROM inserted n "
    "  JOIN device_types t ON t.tenant_id = $1 AND t.device_type_id = n.device_type_id "
    "  JOIN device_type_versions v ON v.tenant_id = $1 AND v.device_type_id = t.device_type_id "
    "    AND v.version = t.latest_version "
    "  RETURNING device_id) "
    "SELECT device_id FROM identified";

// Identifiers go with their device; there is no cascade (see the migration).
inline constexpr char kDeleteIdentifier[] = "device_identifier_delete";
inline constexpr char kDeleteIdentifierSql[] = "DELETE FROM device_identifiers WHERE tenant_id = $1 AND device_id = $2";

inline constexpr char kSelectDevice[] = "device_select";
inline constexpr char kSelectDeviceSql[] =
    "SELECT " PARKBASE_DEVICE_COLUMNS PARKBASE_DEVICE_FROM "WHERE d.tenant_id = $1 AND d.device_id = $2";

inline constexpr char kSelectDeviceForUpdate[] = "device_select_for_update";
inline constexpr char kSelectDeviceForUpdateSql[] =
    "SELECT " PARKBASE_DEVICE_COLUMNS PARKBASE_DEVICE_FROM
    "WHERE d.tenant_id = $1 AND d.device_id = $2 FOR UPDATE OF d";

// NULL filters match everything; `labels @> '{}'` too, so one prepared statement serves every filter. $7 is the
// caller's grant (an app credential's device_labels), a condition of its own beside the filter's labels ($5); both
// use the GIN index on labels, and the page is cut after both, so paging stays right.
inline constexpr char kListDevices[] = "device_list";
inline constexpr char kListDevicesSql[] =
    "SELECT " PARKBASE_DEVICE_COLUMNS PARKBASE_DEVICE_FROM
    "WHERE d.tenant_id = $1 AND d.device_id > $2 AND ($3::text IS NULL OR d.device_type_id = $3) "
    "AND ($4::smallint IS NULL OR d.state = $4) AND d.labels @> $5::jsonb AND d.labels @> $7::jsonb "
    "ORDER BY d.device_id LIMIT $6";

inline constexpr char kUpdateDevice[] = "device_update";
inline constexpr char kUpdateDeviceSql[] =
    "UPDATE devices SET device_type_id = $3, display_name = $4, labels = $5::jsonb, attributes = $6::jsonb, "
    "public_attribute_keys = $7::jsonb, state = $8, update_time = now(), "
    "last_seen_time = CASE WHEN $9 THEN now() ELSE last_seen_time END "
    "WHERE tenant_id = $1 AND device_id = $2";

// Keeps a device's identifier in step: its type's public fields (latest version) and its public attributes.
inline constexpr char kRefreshDeviceIdentifier[] = "device_identifier_refresh";
inline constexpr char kRefreshDeviceIdentifierSql[] =
    "UPDATE device_identifiers i SET device_type_id = v.device_type_id, type_display_name = v.display_name, "
    "vendor = v.vendor, model = v.model, public_attributes = $4::jsonb "
    "FROM device_types t JOIN device_type_versions v ON v.tenant_id = t.tenant_id "
    "AND v.device_type_id = t.device_type_id AND v.version = t.latest_version "
    "WHERE i.tenant_id = $1 AND i.device_id = $2 AND t.tenant_id = $1 AND t.device_type_id = $3";

inline constexpr char kDeleteDevice[] = "device_delete";
inline constexpr char kDeleteDeviceSql[] = "DELETE FROM devices WHERE tenant_id = $1 AND device_id = $2";

// Ids of deleted devices stay taken (device/0002): their telemetry outlives them.
inline constexpr char kInsertTombstone[] = "device_tombstone_insert";
inline constexpr char kInsertTombstoneSql[] =
    "INSERT INTO device_tombstones (tenant_id, device_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
// $2: jsonb array of device ids.
inline constexpr char kTombstonedIds[] = "device_tombstoned_ids";
inline constexpr char kTombstonedIdsSql[] =
    "SELECT device_id FROM device_tombstones WHERE tenant_id = $1 "
    "AND device_id IN (SELECT jsonb_array_elements_text($2::jsonb))";

// --- identifiers and schemas ---------------------------------------------------------------------------------
// A resolved schema carries the device's labels too: app grants select devices by them (DeviceSchema.labels).

// Park-wide: device_identifiers' SELECT policy lets every tenant read it.
inline constexpr char kResolveIdentifier[] = "device_identifier_resolve";
inline constexpr char kResolveIdentifierSql[] =
    "SELECT identifier, type_display_name, vendor, model, public_attributes::text FROM device_identifiers "
    "WHERE identifier = $1";

inline constexpr char kSelectSchema[] = "device_schema_select";
inline constexpr char kSelectSchemaSql[] =
    "SELECT d.state, d.device_type_id, v.version, v.metrics::text, d.labels::text FROM devices d "
    "JOIN device_types t ON t.tenant_id = d.tenant_id AND t.device_type_id = d.device_type_id "
    "JOIN device_type_versions v ON v.tenant_id = t.tenant_id AND v.device_type_id = t.device_type_id "
    "AND v.version = t.latest_version WHERE d.tenant_id = $1 AND d.device_id = $2";

// The same for many devices at once (cold caches on the ingest path): $2 is a text[] of device ids.
inline constexpr char kSelectSchemas[] = "device_schemas_select";
inline constexpr char kSelectSchemasSql[] =
    "SELECT d.state, d.device_type_id, v.version, v.metrics::text, d.device_id, d.labels::text FROM devices d "
    "JOIN device_types t ON t.tenant_id = d.tenant_id AND t.device_type_id = d.device_type_id "
    "JOIN device_type_versions v ON v.tenant_id = t.tenant_id AND v.device_type_id = t.device_type_id "
    "AND v.version = t.latest_version WHERE d.tenant_id = $1 AND d.device_id = ANY($2::text[])";

#undef PARKBASE_DEVICE_FROM
#undef PARKBASE_DEVICE_COLUMNS
#undef PARKBASE_TYPE_COLUMNS
#undef PARKBASE_MICROS

}  // namespace parkbase::device::queries
