// Every SQL statement of the telemetry service, with $n placeholders, run through LibpqPool with binary
// parameters and results (integers are cast to int8 so one decoder reads them all; jsonb travels as text).
#pragma once

namespace parkbase::telemetry::queries {

// --- the write path -----------------------------------------------------------------------------------------

// One statement, so a batch id and its points commit together: the log row is written only if the batch id was
// new. A concurrent duplicate waits for the first to commit and then inserts nothing.
inline constexpr char kAppendBatchWithId[] =
    "WITH batch AS (INSERT INTO telemetry_batches (tenant_id, batch_id, response) VALUES ($1, $2, $3) "
    "ON CONFLICT DO NOTHING RETURNING 1) "
    "INSERT INTO telemetry_ingest_log (tenant_id, min_time_ms, max_time_ms, point_count, block) "
    "SELECT $1, $4, $5, $6, $7 FROM batch";

inline constexpr char kAppendBatch[] =
    "INSERT INTO telemetry_ingest_log (tenant_id, min_time_ms, max_time_ms, point_count, block) "
    "VALUES ($1, $2, $3, $4, $5)";

inline constexpr char kSelectBatchResponse[] =
    "SELECT response FROM telemetry_batches WHERE tenant_id = $1 AND batch_id = $2";

inline constexpr char kSelectLimits[] =
    "SELECT t.max_ingest_points_per_second::int8, t.retention_days::int8, "
    "least(coalesce(r.raw_retention_days, t.retention_days), t.retention_days)::int8, "
    "coalesce(r.device_type_raw_retention_days, '{}'::jsonb)::text, "
    "coalesce(r.rollup_1m_retention_days, 90)::int8, coalesce(r.rollup_1h_retention_days, 730)::int8 "
    "FROM tenants t LEFT JOIN telemetry_retention r ON r.tenant_id = t.tenant_id WHERE t.tenant_id = $1";

inline constexpr char kUpsertRetention[] =
    "INSERT INTO telemetry_retention (tenant_id, raw_retention_days, device_type_raw_retention_days, "
    "rollup_1m_retention_days, rollup_1h_retention_days) VALUES ($1, $2::int8::int4, $3::text::jsonb, "
    "$4::int8::int4, $5::int8::int4) "
    "ON CONFLICT (tenant_id) DO UPDATE SET raw_retention_days = excluded.raw_retention_days, "
    "device_type_raw_retention_days = excluded.device_type_raw_retention_days, "
    "rollup_1m_retention_days = excluded.rollup_1m_retention_days, "
    "rollup_1h_retention_days = excluded.rollup_1h_retention_days";

// --- devices (the registry's tables, read under the same row-level security) ---------------------------------

inline constexpr char kSelectDeviceByIdentifier[] =
    "SELECT device_id FROM device_identifiers WHERE tenant_id = $1 AND identifier = $2";

// $2: a jsonb object of labels that must all match.
inline constexpr char kSelectDevicesByLabels[] =
    "SELECT device_id FROM devices WHERE tenant_id = $1 AND labels @> $2::text::jsonb ORDER BY device_id "
    "LIMIT $3";

inline constexpr char kSelectDeviceTypes[] =
    "SELECT device_id, device_type_id FROM devices WHERE tenant_id = $1 AND device_id = ANY($2::text::text[])";

// The chunk groups of the devices in a text[] parameter.
#define PARKBASE_GROUPS_OF(devices) \
  "SELECT group_id FROM telemetry_group_members WHERE tenant_id = $1 AND device_id = ANY(" devices ")"

// --- readers: one statement, so chunks and log come from one snapshot even while the compactor moves points ------

// $2: device ids as a text[] literal; $3, $4: [start, end) in ms. Chunks first (by device, window, generation),
// then the log by id: the order in which later writes win.
inline constexpr char kSelectRawBlocks[] =
    "SELECT 0::int8 AS source, group_id::int8 AS g, window_start_ms::int8 AS a, generation::int8 AS b, block "
    "FROM telemetry_chunks WHERE tenant_id = $1 AND group_id IN (" PARKBASE_GROUPS_OF("$2::text::text[]") ") "
    "AND window_start_ms > $3::int8 - 3600000 AND window_start_ms < $4::int8 AND max_time_ms >= $3::int8 AND min_time_ms < $4::int8 "
    "UNION ALL "
    "SELECT 1::int8, 0::int8, log_id::int8, 0::int8, block FROM telemetry_ingest_log "
    "WHERE tenant_id = $1 AND max_time_ms >= $3::int8 AND min_time_ms < $4::int8 "
    "ORDER BY 1, 2, 3, 4";

// Rollup rows of a resolution, and the log (points not yet folded into rollups), in one snapshot.
inline constexpr char kSelectRollupBlocks[] =
    "SELECT 0::int8 AS source, group_id::int8 AS g, window_start_ms::int8 AS a, 0::int8 AS b, block "
    "FROM telemetry_rollups WHERE tenant_id = $1 AND group_id IN (" PARKBASE_GROUPS_OF("$2::text::text[]") ") "
    "AND resolution_s = $5::int4 AND window_start_ms > $3::int8 - $6::int8 AND window_start_ms < $4::int8 "
    "UNION ALL "
    "SELECT 1::int8, 0::int8, log_id::int8, 0::int8, block FROM telemetry_ingest_log "
    "WHERE tenant_id = $1 AND max_time_ms >= $3::int8 AND min_time_ms < $4::int8 "
    "ORDER BY 1, 2, 3, 4";

// Latest values, rebuilt when Redis lost them: the whole log, then each device's chunks a day at a time from the
// newest back, until every wanted metric was seen.
inline constexpr char kSelectLogBlocks[] =
    "SELECT log_id::int8, block FROM telemetry_ingest_log WHERE tenant_id = $1 ORDER BY log_id";
inline constexpr char kSelectChunkWindowBounds[] =
    "SELECT min(window_start_ms)::int8, max(window_start_ms)::int8 FROM telemetry_chunks "
    "WHERE tenant_id = $1 AND group_id IN (" PARKBASE_GROUPS_OF("ARRAY[$2::text]") ")";
inline constexpr char kSelectDeviceChunks[] =
    "SELECT window_start_ms::int8, generation::int8, block FROM telemetry_chunks "
    "WHERE tenant_id = $1 AND group_id IN (" PARKBASE_GROUPS_OF("ARRAY[$2::text]") ") "
    "AND window_start_ms >= $3 AND window_start_ms < $4 ORDER BY window_start_ms, generation";

// --- the compactor ------------------------------------------------------------------------------------------

inline constexpr char kSelectTenants[] = "SELECT tenant_id FROM tenants ORDER BY tenant_id";

// One compactor per tenant at a time, across replicas; the lock ends with the transaction.
inline constexpr char kTryLockTenant[] =
    "SELECT pg_try_advisory_xact_lock(hashtextextended('parkbase.telemetry.compact:' || $1, 0))";

// How much log a tenant has and how old its oldest and newest rows are, in ms.
inline constexpr char kSelectLogState[] =
    "SELECT count(*)::int8, coalesce(floor(extract(epoch FROM now() - min(received_time)) * 1000), 0)::int8, "
    "coalesce(floor(extract(epoch FROM now() - max(received_time)) * 1000), 0)::int8 "
    "FROM telemetry_ingest_log WHERE tenant_id = $1";

inline constexpr char kSelectLogForCompaction[] =
    "SELECT log_id::int8, point_count::int8, block FROM telemetry_ingest_log WHERE tenant_id = $1 "
    "ORDER BY log_id LIMIT $2";

// Exactly the rows read: a row with a smaller id may commit after the read (ids are taken at insert).
inline constexpr char kDeleteLogRows[] =
    "DELETE FROM telemetry_ingest_log WHERE tenant_id = $1 AND log_id = ANY($2::text::int8[])";

// Chunk groups: the members known, the open groups (fewer than 16 members) and the highest group id.
inline constexpr char kSelectMemberships[] =
    "SELECT m.device_id, m.group_id::int8, g.device_type_id FROM telemetry_group_members m "
    "JOIN telemetry_groups g ON g.tenant_id = m.tenant_id AND g.group_id = m.group_id "
    "WHERE m.tenant_id = $1 AND m.device_id = ANY($2::text::text[])";
inline constexpr char kSelectOpenGroups[] =
    "SELECT group_id::int8, device_type_id, members::int8 FROM telemetry_groups "
    "WHERE tenant_id = $1 AND members < $2::int8::int4 ORDER BY group_id";
inline constexpr char kSelectMaxGroup[] =
    "SELECT coalesce(max(group_id), 0)::int8 FROM telemetry_groups WHERE tenant_id = $1";
// $2..$4: parallel arrays of group ids, device type ids and member counts.
inline constexpr char kUpsertGroups[] =
    "INSERT INTO telemetry_groups (tenant_id, group_id, device_type_id, members) "
    "SELECT $1, g, t, m FROM unnest($2::text::int8[], $3::text::text[], $4::text::int4[]) AS u(g, t, m) "
    "ON CONFLICT (tenant_id, group_id) DO UPDATE SET members = excluded.members";
inline constexpr char kInsertMembers[] =
    "INSERT INTO telemetry_group_members (tenant_id, device_id, group_id) "
    "SELECT $1, d, g FROM unnest($2::text::text[], $3::text::int8[]) AS u(d, g)";

// Generations of the windows being compacted; $2 and $3 are parallel arrays (group id, window start).
inline constexpr char kSelectChunksForWindows[] =
    "SELECT c.group_id::int8, c.window_start_ms::int8, c.generation::int8, c.point_count::int8, c.block "
    "FROM telemetry_chunks c JOIN unnest($2::text::int8[], $3::text::int8[]) AS w(group_id, window_start_ms) "
    "ON c.group_id = w.group_id AND c.window_start_ms = w.window_start_ms WHERE c.tenant_id = $1 "
    "ORDER BY 1, 2, 3";

inline constexpr char kUpsertChunk[] =
    "INSERT INTO telemetry_chunks (tenant_id, group_id, window_start_ms, generation, device_type_id, "
    "min_time_ms, max_time_ms, point_count, block) VALUES ($1, $2, $3, $4::int8::int4, $5, $6, $7, "
    "$8::int8::int4, $9) ON CONFLICT (tenant_id, group_id, window_start_ms, generation) DO UPDATE SET "
    "device_type_id = excluded.device_type_id, min_time_ms = excluded.min_time_ms, "
    "max_time_ms = excluded.max_time_ms, point_count = excluded.point_count, block = excluded.block";

inline constexpr char kSelectRollupsForWindows[] =
    "SELECT r.group_id::int8, r.window_start_ms::int8, r.block FROM telemetry_rollups r "
    "JOIN unnest($2::text::int8[], $3::text::int8[]) AS w(group_id, window_start_ms) "
    "ON r.group_id = w.group_id AND r.window_start_ms = w.window_start_ms "
    "WHERE r.tenant_id = $1 AND r.resolution_s = $4::int8::int4";

inline constexpr char kUpsertRollup[] =
    "INSERT INTO telemetry_rollups (tenant_id, group_id, resolution_s, window_start_ms, device_type_id, block) "
    "VALUES ($1, $2, $3::int8::int4, $4, $5, $6) ON CONFLICT (tenant_id, group_id, resolution_s, "
    "window_start_ms) DO UPDATE SET device_type_id = excluded.device_type_id, block = excluded.block";

// --- retention: whole chunks and rollup rows, one tenant at a time --------------------------------------------

// $3: device type ids with their own raw retention, handled by kDropChunksOfType.
inline constexpr char kDropChunks[] =
    "DELETE FROM telemetry_chunks WHERE tenant_id = $1 AND window_start_ms + 3600000 <= $2 "
    "AND device_type_id <> ALL($3::text::text[])";
inline constexpr char kDropChunksOfType[] =
    "DELETE FROM telemetry_chunks WHERE tenant_id = $1 AND window_start_ms + 3600000 <= $2 "
    "AND device_type_id = $3";
inline constexpr char kDropRollups[] =
    "DELETE FROM telemetry_rollups WHERE tenant_id = $1 AND resolution_s = $2::int8::int4 "
    "AND window_start_ms + $3 <= $4";
inline constexpr char kExpireBatchIds[] =
    "DELETE FROM telemetry_batches WHERE tenant_id = $1 AND commit_time < to_timestamp($2::int8 / 1000.0)";

}  // namespace parkbase::telemetry::queries
