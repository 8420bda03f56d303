-- A window awaiting its rollups is marked on its chunk rows instead of in telemetry_rollup_pending (0003). The
-- separate table cost 40,960 bytes even when empty (its key's index, its TOAST table, free-space and visibility
-- maps): 0.04 bytes a point on the 1M-point benchmark, where the whole budget is < 2.5. A partial index holds only
-- the marked rows, so finding the windows to roll up reads no more than the table did.
--
-- folded_ms: when the compactor last folded points into this chunk row (the compactor's clock); NULL once the
-- window's rollups include it. A window is pending while any of its chunk rows is marked; its fold time is the
-- newest mark. Clearing a mark rewrites only the small heap row: PostgreSQL keeps an UPDATE's unchanged TOASTed
-- block where it is.
ALTER TABLE telemetry_chunks ADD COLUMN folded_ms bigint;
CREATE INDEX telemetry_chunks_rollup_pending ON telemetry_chunks (tenant_id, window_start_ms, group_id)
  WHERE folded_ms IS NOT NULL;

-- Carry the marks over. Migrations run as the tables' owner, whom FORCE ROW LEVEL SECURITY subjects to the
-- tenant policies like everyone else: lifted for these two statements, inside this migration's transaction.
ALTER TABLE telemetry_chunks NO FORCE ROW LEVEL SECURITY;
ALTER TABLE telemetry_rollup_pending NO FORCE ROW LEVEL SECURITY;
UPDATE telemetry_chunks c SET folded_ms = p.folded_ms
  FROM telemetry_rollup_pending p
  WHERE c.tenant_id = p.tenant_id AND c.group_id = p.group_id AND c.window_start_ms = p.window_start_ms;
ALTER TABLE telemetry_chunks FORCE ROW LEVEL SECURITY;
DROP TABLE telemetry_rollup_pending;
