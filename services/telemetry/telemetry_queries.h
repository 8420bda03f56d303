// Every SQL statement of the telemetry service, with $n placeholders, run through LibpqPool with binary
// parameters and results (integers are cast to int8 so one decoder reads them all; jsonb travels as text).
#pragma once

namespace parkbase::telemetry::queries {

// --- the write path -----------------------------------------------------------------------------------------

// One statement, so a batch id and its points commit together: the log row is written only if the writer's batch
// id was new. A concurrent duplicate waits for the first to commit and then inserts nothing.
inline constexpr char kAppendBatchWithId[] =
    "WITH batch AS (INSERT INTO telemetry_batches (tenant_id, writer, batch_id, response, payload_sha256) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1) "
    "INSERT INTO telemetry_ingest_log (tenant_id, min_time_ms, max_time_ms, point_count, raw_bytes, block) "
    "SELECT $1, $6, $7, $8, $9, $10 FROM batch";

inline constexpr char kAppendBatch[] =
    "INSERT INTO telemetry_ingest_log (tenant_id, min_time_ms, max_time_ms, point_count, raw_bytes, block) "
    "VALUES ($1, $2, $3, $4, $5, $6)";

inline constexpr char kSelectBatchResponse[] =
    "SELECT response, coalesce(payload_sha256, ''::bytea) FROM telemetry_batches "
    "WHERE tenant_id = $1 AND writer = $2 AND batch_id = $3";

// The tenant's not yet compacted log: rows, points, decoded bytes and the oldest row's age in ms (back-pressure).
inline constexpr char kSelectLogBacklog[] =
    "SELECT count(*)::int8, coalesce(sum(point_count), 0)::int8, coalesce(sum(raw_bytes), 0)::int8, "
    "coalesce(floor(extract(epoch FROM now() - min(received_time)) * 1000), 0)::int8 "
    "FROM telemetry_ingest_log WHERE tenant_id = $1";

inline constexpr char kSelectLimits[] =
    "SELECT t.max_ingest_points_per_second::int8, t.retention_days::int8, "
    "least(coalesce(r.raw_retention_days, t.retention_days), t.retention_days)::int8, "
    "coalesce(r.overrides, '{}'::jsonb)::text, "
    "coalesce(r.rollup_1m_retention_days, 90)::int8, coalesce(r.rollup_1h_retention_days, 730)::int8, "
    "coalesce(r.revision, 0)::int8 "
    "FROM tenants t LEFT JOIN telemetry_retention r ON r.tenant_id = t.tenant_id WHERE t.tenant_id = $1";

inline constexpr char kUpsertRetention[] =
    "INSERT INTO telemetry_retention (tenant_id, raw_retention_days, overrides, "
    "rollup_1m_retention_days, rollup_1h_retention_days) VALUES ($1, $2::int8::int4, $3::text::jsonb, "
    "$4::int8::int4, $5::int8::int4) "
    "ON CONFLICT (tenant_id) DO UPDATE SET raw_retention_days = excluded.raw_retention_days, "
    "overrides = excluded.overrides, "
    "rollup_1m_retention_days = excluded.rollup_1m_retention_days, "
    "rollup_1h_retention_days = excluded.rollup_1h_retention_days, "
    "revision = telemetry_retention.revision + 1 "
    // Compare and set: $6 is the revision the caller's change was made on (-1: any). A first policy (no row yet)
    // was made on revision 0; two such writers race into the conflict branch, where the loser finds revision 1.
    "WHERE $6::int8 < 0 OR telemetry_retention.revision = $6::int8 "
    "RETURNING revision";

// --- devices (the registry's tables, read under the same row-level security) ---------------------------------

inline constexpr char kSelectDeviceByIdentifier[] =
    "SELECT device_id FROM device_identifiers WHERE tenant_id = $1 AND identifier = $2";

// $2: a jsonb object of labels that must all match.
inline constexpr char kSelectDevicesByLabels[] =
    "SELECT device_id FROM devices WHERE tenant_id = $1 AND labels @> $2::text::jsonb ORDER BY device_id "
    "LIMIT $3";

inline constexpr char kSelectDeviceTypes[] =
    "SELECT device_id, device_type_id FROM devices WHERE tenant_id = $1 AND device_id = ANY($2::text::text[])";

inline constexpr char kSelectExistingDeviceTypes[] =
    "SELECT device_type_id FROM device_types WHERE tenant_id = $1 AND device_type_id = ANY($2::text::text[])";

// Every metric name any version of the type has had (device_type_versions.metrics is a DeviceType as proto JSON).
inline constexpr char kSelectMetricsOfType[] =
    "SELECT DISTINCT m ->> 'name' FROM device_type_versions v, "
    "jsonb_array_elements(coalesce(v.metrics -> 'metrics', '[]'::jsonb)) m "
    "WHERE v.tenant_id = $1 AND v.device_type_id = $2 ORDER BY 1";

// The chunk groups of the devices in a text[] parameter.
#define PARKBASE_GROUPS_OF(devices) \
  "SELECT group_id FROM telemetry_group_members WHERE tenant_id = $1 AND device_id = ANY(" devices ")"

// --- readers: windows in time order, a batch at a time, all from one REPEATABLE READ snapshot ----------------

inline constexpr char kSelectGroupsOf[] =
    "SELECT DISTINCT group_id::int8 FROM telemetry_group_members "
    "WHERE tenant_id = $1 AND device_id = ANY($2::text::text[])";

// $2: group ids as an int8[] literal; [$3, $4): window starts; $5: how many windows.
inline constexpr char kSelectNextWindows[] =
    "SELECT DISTINCT window_start_ms::int8 FROM telemetry_chunks "
    "WHERE tenant_id = $1 AND group_id = ANY($2::text::int8[]) AND window_start_ms >= $3 AND window_start_ms < $4 "
    "ORDER BY 1 LIMIT $5";

// The bytes of the chunk rows of windows [$3, $4] (octet_length reads the TOAST pointer, not the value).
inline constexpr char kSizeOfWindows[] =
    "SELECT coalesce(sum(octet_length(block)), 0)::int8 FROM telemetry_chunks "
    "WHERE tenant_id = $1 AND group_id = ANY($2::text::int8[]) AND window_start_ms >= $3 AND window_start_ms <= $4";

// Chunk generations of windows [$3, $4], in the order later writes win.
inline constexpr char kSelectWindowBlocks[] =
    "SELECT window_start_ms::int8, group_id::int8, generation::int8, block FROM telemetry_chunks "
    "WHERE tenant_id = $1 AND group_id = ANY($2::text::int8[]) AND window_start_ms >= $3 AND window_start_ms <= $4 "
    "ORDER BY 1, 2, 3";

// The log rows with points in [$2, $3): their size first, then their blocks by log id.
inline constexpr char kSizeOfLogRange[] =
    "SELECT coalesce(sum(octet_length(block)), 0)::int8 FROM telemetry_ingest_log "
    "WHERE tenant_id = $1 AND max_time_ms >= $2 AND min_time_ms < $3";
inline constexpr char kSelectLogRange[] =
    "SELECT log_id::int8, block FROM telemetry_ingest_log "
    "WHERE tenant_id = $1 AND max_time_ms >= $2 AND min_time_ms < $3 ORDER BY log_id";

// Rollup rows of a resolution ($5) overlapping [$3, $4) ($6: the span of a row).
inline constexpr char kSizeOfRollups[] =
    "SELECT coalesce(sum(octet_length(block)), 0)::int8 FROM telemetry_rollups "
    "WHERE tenant_id = $1 AND group_id IN (" PARKBASE_GROUPS_OF("$2::text::text[]") ") "
    "AND resolution_s = $5::int4 AND window_start_ms > $3::int8 - $6::int8 AND window_start_ms < $4::int8";
inline constexpr char kSelectRollups[] =
    "SELECT group_id::int8, window_start_ms::int8, block FROM telemetry_rollups "
    "WHERE tenant_id = $1 AND group_id IN (" PARKBASE_GROUPS_OF("$2::text::text[]") ") "
    "AND resolution_s = $5::int4 AND window_start_ms > $3::int8 - $6::int8 AND window_start_ms < $4::int8 "
    "ORDER BY 1, 2";

// Windows of the devices $2 whose rollups are not computed yet (a chunk row of theirs still marked), overlapping
// [$3, $4): (device, window start).
inline constexpr char kSelectPendingOfDevices[] =
    "SELECT DISTINCT m.device_id, c.window_start_ms::int8 FROM telemetry_chunks c "
    "JOIN telemetry_group_members m ON m.tenant_id = c.tenant_id AND m.group_id = c.group_id "
    "WHERE c.tenant_id = $1 AND c.folded_ms IS NOT NULL AND m.device_id = ANY($2::text::text[]) "
    "AND c.window_start_ms > $3::int8 - 3600000 AND c.window_start_ms < $4::int8";

// Latest values, rebuilt when Redis lost them: the groups' latest rows, then the whole log.
inline constexpr char kSelectGroupLatest[] =
    "SELECT g.group_id::int8, coalesce(l.block, ''::bytea), CASE WHEN l.group_id IS NULL THEN 0 ELSE 1 END::int8 "
    "FROM (" PARKBASE_GROUPS_OF("$2::text::text[]") " GROUP BY group_id) g "
    "LEFT JOIN telemetry_group_latest l ON l.tenant_id = $1 AND l.group_id = g.group_id";
// A group compacted before latest rows existed: its newest chunk rows, at most $3 of them.
inline constexpr char kSelectNewestChunks[] =
    "SELECT window_start_ms::int8, generation::int8, block FROM telemetry_chunks "
    "WHERE tenant_id = $1 AND group_id = $2 ORDER BY window_start_ms DESC, generation DESC LIMIT $3";
inline constexpr char kSizeOfLog[] =
    "SELECT coalesce(sum(octet_length(block)), 0)::int8 FROM telemetry_ingest_log WHERE tenant_id = $1";
inline constexpr char kSelectLogBlocks[] =
    "SELECT log_id::int8, block FROM telemetry_ingest_log WHERE tenant_id = $1 ORDER BY log_id";

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
    "SELECT log_id::int8, point_count::int8, greatest(raw_bytes, octet_length(block))::int8, block "
    "FROM telemetry_ingest_log WHERE tenant_id = $1 ORDER BY log_id LIMIT $2";

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

// The newest generation of each window being folded into ($2, $3: parallel arrays of group id and window start),
// with its block only when it holds fewer than $4 points (it is then extended, see the compactor): the older
// generations are never read again by a fold.
inline constexpr char kSelectNewestGenerations[] =
    "SELECT DISTINCT ON (c.group_id, c.window_start_ms) c.group_id::int8, c.window_start_ms::int8, "
    "c.generation::int8, c.point_count::int8, CASE WHEN c.point_count < $4::int8 THEN c.block ELSE ''::bytea END "
    "FROM telemetry_chunks c JOIN unnest($2::text::int8[], $3::text::int8[]) AS w(group_id, window_start_ms) "
    "ON c.group_id = w.group_id AND c.window_start_ms = w.window_start_ms WHERE c.tenant_id = $1 "
    "ORDER BY c.group_id, c.window_start_ms, c.generation DESC";
// Every generation of some windows, oldest first: what their rollups are computed from.
inline constexpr char kSelectChunksForWindows[] =
    "SELECT c.group_id::int8, c.window_start_ms::int8, c.generation::int8, c.point_count::int8, c.block "
    "FROM telemetry_chunks c JOIN unnest($2::text::int8[], $3::text::int8[]) AS w(group_id, window_start_ms) "
    "ON c.group_id = w.group_id AND c.window_start_ms = w.window_start_ms WHERE c.tenant_id = $1 "
    "ORDER BY 1, 2, 3";

// $10: now on the compactor's clock, which also marks the window's rollups stale (RollupPass computes them again
// once the window settles, and clears the marks).
inline constexpr char kUpsertChunk[] =
    "INSERT INTO telemetry_chunks (tenant_id, group_id, window_start_ms, generation, device_type_id, "
    "min_time_ms, max_time_ms, point_count, block, folded_ms) VALUES ($1, $2, $3, $4::int8::int4, $5, $6, $7, "
    "$8::int8::int4, $9, $10) ON CONFLICT (tenant_id, group_id, window_start_ms, generation) DO UPDATE SET "
    "device_type_id = excluded.device_type_id, min_time_ms = excluded.min_time_ms, "
    "max_time_ms = excluded.max_time_ms, point_count = excluded.point_count, block = excluded.block, "
    "folded_ms = excluded.folded_ms";

inline constexpr char kSelectRollupsForWindows[] =
    "SELECT r.group_id::int8, r.window_start_ms::int8, r.block FROM telemetry_rollups r "
    "JOIN unnest($2::text::int8[], $3::text::int8[]) AS w(group_id, window_start_ms) "
    "ON r.group_id = w.group_id AND r.window_start_ms = w.window_start_ms "
    "WHERE r.tenant_id = $1 AND r.resolution_s = $4::int8::int4";

// A group's latest row, read and rewritten by the compactor under the tenant's compaction lock.
inline constexpr char kSelectGroupLatestForUpdate[] =
    "SELECT group_id::int8, block FROM telemetry_group_latest "
    "WHERE tenant_id = $1 AND group_id = ANY($2::text::int8[])";
inline constexpr char kUpsertGroupLatest[] =
    "INSERT INTO telemetry_group_latest (tenant_id, group_id, block) VALUES ($1, $2, $3) "
    "ON CONFLICT (tenant_id, group_id) DO UPDATE SET block = excluded.block";

// A pending window (a chunk row of it marked) is settled when nothing was folded into it for $3 ms, or when its hour
// is over ($2: now) and no log row waiting to be folded has points in it. $4: every pending window, settled or not.
#define PARKBASE_SETTLED(p)                                                                                     \
  "($4::int8 = 1 OR " p ".folded_ms <= $2::int8 - $3::int8 OR (" p ".window_start_ms + 3600000 <= $2::int8 "   \
  "AND NOT EXISTS (SELECT 1 FROM telemetry_ingest_log l WHERE l.tenant_id = $1 "                              \
  "AND l.max_time_ms >= " p ".window_start_ms AND l.min_time_ms < " p ".window_start_ms + 3600000)))"
// The tenant's pending windows with their newest fold time (read through the partial index of marked rows).
#define PARKBASE_PENDING_WINDOWS                                                                               \
  "(SELECT group_id, window_start_ms, max(folded_ms) AS folded_ms FROM telemetry_chunks "                     \
  "WHERE tenant_id = $1 AND folded_ms IS NOT NULL GROUP BY group_id, window_start_ms)"
// The settled windows of a tenant, oldest first, at most $5, with their group's device type and stored points.
inline constexpr char kSelectSettledWindows[] =
    "SELECT p.group_id::int8, p.window_start_ms::int8, g.device_type_id, (SELECT coalesce(sum(c.point_count), 0) "
    "FROM telemetry_chunks c WHERE c.tenant_id = $1 AND c.group_id = p.group_id "
    "AND c.window_start_ms = p.window_start_ms)::int8 FROM " PARKBASE_PENDING_WINDOWS " p "
    "JOIN telemetry_groups g ON g.tenant_id = $1 AND g.group_id = p.group_id "
    "WHERE " PARKBASE_SETTLED("p") " ORDER BY 2, 1 LIMIT $5";
inline constexpr char kCountSettledWindows[] =
    "SELECT count(*)::int8 FROM " PARKBASE_PENDING_WINDOWS " p WHERE " PARKBASE_SETTLED("p");
// The windows ($2, $3: parallel arrays of group id and window start) whose rollups were just computed.
inline constexpr char kClearPendingRollups[] =
    "UPDATE telemetry_chunks c SET folded_ms = NULL FROM unnest($2::text::int8[], $3::text::int8[]) AS w(g, s) "
    "WHERE c.tenant_id = $1 AND c.group_id = w.g AND c.window_start_ms = w.s AND c.folded_ms IS NOT NULL";
inline constexpr char kDeleteRollup[] =
    "DELETE FROM telemetry_rollups WHERE tenant_id = $1 AND group_id = $2 AND resolution_s = $3::int8::int4 "
    "AND window_start_ms = $4";

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
