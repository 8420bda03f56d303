-- Rollups are computed once a window has settled, not on every compaction pass (docs/telemetry.md, "Rollups").
-- A row here says the window's chunks changed since its rollups were last computed: the compactor inserts it in the
-- transaction that writes the chunks, and deletes it in the one that writes the rollups. Until then readers take
-- the window's buckets from raw points. Recomputing a group-hour's rollups on every pass re-read every earlier
-- generation of the window (most of the compactor's CPU on a long burst) and rewrote the rollup rows each time,
-- leaving dead TOAST that a plain VACUUM cannot give back.
CREATE TABLE telemetry_rollup_pending (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  group_id bigint NOT NULL,
  window_start_ms bigint NOT NULL,
  folded_ms bigint NOT NULL,  -- when the compactor last folded points into the window (the compactor's clock)
  PRIMARY KEY (tenant_id, group_id, window_start_ms)
);
ALTER TABLE telemetry_rollup_pending ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_rollup_pending FORCE ROW LEVEL SECURITY;
CREATE POLICY telemetry_rollup_pending_isolation ON telemetry_rollup_pending
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON telemetry_rollup_pending TO parkbase_app;

-- Windows folded before this migration have their rollups already.
