// Every SQL statement of the tenant service, prepared by name on each pooled connection. Times travel as
// microseconds since the epoch so rows decode without string parsing.
#pragma once

namespace parkbase::tenant::queries {

#define PARKBASE_TENANT_COLUMNS                                                                        \
  "tenant_id, display_name, code, state, plan, max_devices, max_ingest_points_per_second, "            \
  "retention_days, max_installed_apps, provider, contact_email, suspend_reason, "                      \
  "floor(extract(epoch FROM create_time) * 1000000)::bigint, "                                         \
  "floor(extract(epoch FROM update_time) * 1000000)::bigint, revision"

#define PARKBASE_KEY_COLUMNS                                                                           \
  "tenant_id, key_id, display_name, role, coalesce(device_id, ''), creator, "                          \
  "floor(extract(epoch FROM create_time) * 1000000)::bigint, "                                         \
  "coalesce(floor(extract(epoch FROM expire_time) * 1000000)::bigint, 0), "                            \
  "coalesce(floor(extract(epoch FROM revoke_time) * 1000000)::bigint, 0), coalesce(installation, '')"

// Microseconds since the epoch to timestamptz, exactly: to_timestamp(micros / 1e6) goes through a double, which
// rounds 9999-12-31T23:59:59.999999 up into year 10000 (a Timestamp that protobuf refuses to hold).
#define PARKBASE_FROM_MICROS(param)                                                                  \
  "(to_timestamp((" param "::bigint / 1000000)::double precision) + "                                \
  "(" param "::bigint % 1000000)::double precision * interval '1 microsecond')"

inline constexpr char kTenantExists[] = "tenant_exists";
inline constexpr char kTenantExistsSql[] = "SELECT 1 FROM tenants WHERE tenant_id = $1";

inline constexpr char kInsertTenant[] = "tenant_insert";
inline constexpr char kInsertTenantSql[] =
    "INSERT INTO tenants (tenant_id, display_name, code, plan, max_devices, max_ingest_points_per_second, "
    "retention_days, max_installed_apps, provider, contact_email) "
    "VALUES ($1, $2, nextval('tenant_code_seq')::text, $3, $4, $5, $6, $7, $8, $9) "
    "RETURNING " PARKBASE_TENANT_COLUMNS;

inline constexpr char kSelectTenant[] = "tenant_select";
inline constexpr char kSelectTenantSql[] = "SELECT " PARKBASE_TENANT_COLUMNS " FROM tenants WHERE tenant_id = $1";

// What GetTenantUsage counts of a tenant, each in its service's tables and under the tenant's row-level security:
// devices, the stored size of its telemetry blocks (pg_column_size: compressed, as stored, read from the TOAST
// pointer without fetching the value) and its active installations (state 1, INSTALLATION_STATE_ACTIVE). Cost grows
// with the tenant's rows (a scan of its key range in each table), so it runs on request, never per write.
inline constexpr char kCountUsage[] = "tenant_count_usage";
inline constexpr char kCountUsageSql[] =
    "SELECT (SELECT count(*) FROM devices WHERE tenant_id = $1), "
    "(SELECT coalesce(sum(pg_column_size(block)), 0)::bigint FROM telemetry_ingest_log WHERE tenant_id = $1) + "
    "(SELECT coalesce(sum(pg_column_size(block)), 0)::bigint FROM telemetry_chunks WHERE tenant_id = $1) + "
    "(SELECT coalesce(sum(pg_column_size(block)), 0)::bigint FROM telemetry_rollups WHERE tenant_id = $1), "
    "(SELECT count(*) FROM installations WHERE tenant_id = $1 AND state = 1)";

inline constexpr char kSelectTenantForUpdate[] = "tenant_select_for_update";
inline constexpr char kSelectTenantForUpdateSql[] =
    "SELECT " PARKBASE_TENANT_COLUMNS " FROM tenants WHERE tenant_id = $1 FOR UPDATE";

// NULL filter parameters match everything, so one prepared statement serves every filter.
inline constexpr char kListTenants[] = "tenant_list";
inline constexpr char kListTenantsSql[] =
    "SELECT " PARKBASE_TENANT_COLUMNS " FROM tenants "
    "WHERE tenant_id > $1 AND ($2::smallint IS NULL OR state = $2) AND ($3::smallint IS NULL OR plan = $3) "
    "AND ($4::boolean IS NULL OR provider = $4) ORDER BY tenant_id LIMIT $5";

inline constexpr char kUpdateTenant[] = "tenant_update";
inline constexpr char kUpdateTenantSql[] =
    "UPDATE tenants SET display_name = $2, state = $3, plan = $4, max_devices = $5, "
    "max_ingest_points_per_second = $6, retention_days = $7, max_installed_apps = $8, provider = $9, "
    "contact_email = $10, suspend_reason = $11, update_time = now() WHERE tenant_id = $1 "
    "RETURNING " PARKBASE_TENANT_COLUMNS;

inline constexpr char kDeleteTenant[] = "tenant_delete";
inline constexpr char kDeleteTenantSql[] = "DELETE FROM tenants WHERE tenant_id = $1";

inline constexpr char kInsertKey[] = "key_insert";
inline constexpr char kInsertKeySql[] =
    "INSERT INTO api_keys (tenant_id, key_id, display_name, role, device_id, secret_sha256, creator, expire_time) "
    "VALUES ($1, $2, $3, $4, nullif($5, ''), $6, $7, "
    "CASE WHEN $8::bigint = 0 THEN NULL ELSE " PARKBASE_FROM_MICROS("$8") " END) "
    "RETURNING " PARKBASE_KEY_COLUMNS;

inline constexpr char kListKeys[] = "key_list";
inline constexpr char kListKeysSql[] =
    "SELECT " PARKBASE_KEY_COLUMNS " FROM api_keys WHERE tenant_id = $1 "
    "AND ($2::bigint = 0 OR (floor(extract(epoch FROM create_time) * 1000000)::bigint, key_id) < ($2, $3)) "
    "ORDER BY create_time DESC, key_id DESC LIMIT $4";

inline constexpr char kSelectKeyForUpdate[] = "key_select_for_update";
inline constexpr char kSelectKeyForUpdateSql[] =
    "SELECT " PARKBASE_KEY_COLUMNS " FROM api_keys WHERE tenant_id = $1 AND key_id = $2 FOR UPDATE";

inline constexpr char kUpdateKey[] = "key_update";
inline constexpr char kUpdateKeySql[] =
    "UPDATE api_keys SET display_name = $3, "
    "revoke_time = CASE WHEN $4::bigint = 0 THEN NULL ELSE " PARKBASE_FROM_MICROS("$4") " END "
    "WHERE tenant_id = $1 AND key_id = $2 RETURNING " PARKBASE_KEY_COLUMNS;

inline constexpr char kListAudit[] = "audit_list";
inline constexpr char kListAuditSql[] =
    "SELECT event_id, floor(extract(epoch FROM time) * 1000000)::bigint, actor, actor_role, action, resource, "
    "details::text FROM audit_events WHERE tenant_id = $1 AND ($2::bigint = 0 OR event_id < $2) "
    "ORDER BY event_id DESC LIMIT $3";

// Every table besides tenants with a tenant_id column, children first (a table referenced by another's foreign
// key comes after it), so batched deletes never cascade into more rows than the batch.
inline constexpr char kTenantTables[] = "tenant_tables";
inline constexpr char kTenantTablesSql[] =
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() AND c.relname <> 'tenants' "
    "AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' "
    "AND NOT a.attisdropped) "
    "ORDER BY (SELECT count(*) FROM pg_constraint f WHERE f.contype = 'f' AND f.confrelid = c.oid "
    "AND f.conrelid <> c.oid), c.relname";

// The park's log receives the record of a tenant's deletion, because the tenant's own log goes with it.
inline constexpr char kSwitchToParkLog[] = "audit_switch_to_park";
inline constexpr char kSwitchToParkLogSql[] = "SELECT set_config('parkbase.tenant_id', 'park', true)";

#undef PARKBASE_FROM_MICROS
#undef PARKBASE_TENANT_COLUMNS
#undef PARKBASE_KEY_COLUMNS

}  // namespace parkbase::tenant::queries
