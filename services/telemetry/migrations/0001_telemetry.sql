-- Telemetry storage (docs/telemetry.md): write batches land in telemetry_ingest_log, one row a batch, encoded as
-- a codec block; the compactor folds them into telemetry_chunks (one row per chunk group of devices, one-hour
-- window and generation) and keeps the 1-minute and 1-hour rollups in telemetry_rollups. Blocks are
-- compressed by the codec, so PostgreSQL is told not to try again (STORAGE EXTERNAL).
-- Every table leads its key with tenant_id and is under row-level security like tenant/0001.

CREATE TABLE telemetry_ingest_log (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  log_id bigint GENERATED ALWAYS AS IDENTITY,
  received_time timestamptz NOT NULL DEFAULT now(),  -- lets the compactor wait for a burst to settle
  min_time_ms bigint NOT NULL,
  max_time_ms bigint NOT NULL,
  point_count integer NOT NULL,
  block bytea NOT NULL,
  PRIMARY KEY (tenant_id, log_id)
);
ALTER TABLE telemetry_ingest_log ALTER COLUMN block SET STORAGE EXTERNAL;

-- A batch id seen within the dedupe window, with the answer it got, so a retry is answered the same.
CREATE TABLE telemetry_batches (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  batch_id text NOT NULL,
  commit_time timestamptz NOT NULL DEFAULT now(),
  response bytea NOT NULL,                      -- the serialized parkbase.telemetry.v1.WriteResponse
  PRIMARY KEY (tenant_id, batch_id)
);
-- No index on commit_time: expiry runs hourly per tenant and scans the tenant's key range.

-- Chunk groups: the compactor packs up to 16 devices of one device type into a group, and stores a group's
-- points of one hour in one chunk row (every metric of every member). A row per device and hour would hold only a
-- few hundred points for a typical device, and then the row's own overhead (tuple header, index entry, page
-- slack: ~0.3 KB) costs as much as the points. A device keeps its group for life; retention by device type drops
-- whole rows because a group holds one type.
CREATE TABLE telemetry_groups (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  group_id bigint NOT NULL,
  device_type_id text NOT NULL,
  members integer NOT NULL,
  PRIMARY KEY (tenant_id, group_id)
);

CREATE TABLE telemetry_group_members (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  device_id text NOT NULL,
  group_id bigint NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);

-- Generations: the compactor adds points to a window's newest generation while it is small and starts a new one
-- after, so a busy window is never rewritten whole. For the same (device, metric, time), a later generation wins.
-- No index beyond the key: retention scans a tenant's rows once an hour, and every index entry costs bytes a point.
CREATE TABLE telemetry_chunks (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  group_id bigint NOT NULL,
  window_start_ms bigint NOT NULL,
  generation integer NOT NULL,
  device_type_id text NOT NULL,                 -- for per-type retention
  min_time_ms bigint NOT NULL,
  max_time_ms bigint NOT NULL,
  point_count integer NOT NULL,
  block bytea NOT NULL,
  PRIMARY KEY (tenant_id, group_id, window_start_ms, generation)
);
ALTER TABLE telemetry_chunks ALTER COLUMN block SET STORAGE EXTERNAL;

-- resolution_s 60: one row per group and hour, a bucket a minute; 3600: one row per group and day, a bucket an
-- hour. The block layout is in rollup.h.
CREATE TABLE telemetry_rollups (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  group_id bigint NOT NULL,
  resolution_s integer NOT NULL,
  window_start_ms bigint NOT NULL,
  device_type_id text NOT NULL,
  block bytea NOT NULL,
  PRIMARY KEY (tenant_id, group_id, resolution_s, window_start_ms)
);
ALTER TABLE telemetry_rollups ALTER COLUMN block SET STORAGE EXTERNAL;

-- A tenant without a row has the defaults: raw retention = the quota's retention_days, 90 and 730 days of rollups.
CREATE TABLE telemetry_retention (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  raw_retention_days integer,                   -- NULL: the quota's retention_days
  device_type_raw_retention_days jsonb NOT NULL DEFAULT '{}',
  rollup_1m_retention_days integer NOT NULL DEFAULT 90,
  rollup_1h_retention_days integer NOT NULL DEFAULT 730,
  PRIMARY KEY (tenant_id)
);

ALTER TABLE telemetry_ingest_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_ingest_log FORCE ROW LEVEL SECURITY;
CREATE POLICY telemetry_ingest_log_isolation ON telemetry_ingest_log
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE telemetry_batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_batches FORCE ROW LEVEL SECURITY;
CREATE POLICY telemetry_batches_isolation ON telemetry_batches
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE telemetry_groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_groups FORCE ROW LEVEL SECURITY;
CREATE POLICY telemetry_groups_isolation ON telemetry_groups
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE telemetry_group_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_group_members FORCE ROW LEVEL SECURITY;
CREATE POLICY telemetry_group_members_isolation ON telemetry_group_members
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE telemetry_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY telemetry_chunks_isolation ON telemetry_chunks
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE telemetry_rollups ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_rollups FORCE ROW LEVEL SECURITY;
CREATE POLICY telemetry_rollups_isolation ON telemetry_rollups
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE telemetry_retention ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_retention FORCE ROW LEVEL SECURITY;
CREATE POLICY telemetry_retention_isolation ON telemetry_retention
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE
  ON telemetry_ingest_log, telemetry_batches, telemetry_groups, telemetry_group_members, telemetry_chunks,
     telemetry_rollups, telemetry_retention
  TO parkbase_app;
