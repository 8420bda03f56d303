-- 1. Batch ids are unique per writer, not per tenant: two gateways of one tenant that both number their batches
--    1, 2, 3... are two writers. The writer is the API key, a device key's device, or the writer_id a gateway
--    names (docs/telemetry.md). The payload's SHA-256 is kept so a reused id with other points is refused rather
--    than answered as a duplicate. Rows from before this migration belong to the writer '' and are never matched
--    again; they expire with the 7-day window.
ALTER TABLE telemetry_batches ADD COLUMN writer text NOT NULL DEFAULT '';
ALTER TABLE telemetry_batches ADD COLUMN payload_sha256 bytea;
ALTER TABLE telemetry_batches DROP CONSTRAINT telemetry_batches_pkey;
ALTER TABLE telemetry_batches ADD PRIMARY KEY (tenant_id, writer, batch_id);

-- 2. The decoded size of a log row's block, so a compaction pass is bounded by bytes as well as rows and points
--    (1 KiB strings made a pass of ~1 GB). Rows from before this migration count their stored size.
ALTER TABLE telemetry_ingest_log ADD COLUMN raw_bytes bigint NOT NULL DEFAULT 0;
UPDATE telemetry_ingest_log SET raw_bytes = octet_length(block) WHERE raw_bytes = 0;

-- 3. The newest point of every (device, metric) of a chunk group, as of the compacted data: one small row per
--    group, rewritten by the compactor with the group's chunks. Latest values lost from Redis are rebuilt from it
--    and the log instead of walking a group's chunks back through the retention period.
CREATE TABLE telemetry_group_latest (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  group_id bigint NOT NULL,
  block bytea NOT NULL,
  PRIMARY KEY (tenant_id, group_id)
);
ALTER TABLE telemetry_group_latest ALTER COLUMN block SET STORAGE EXTERNAL;
ALTER TABLE telemetry_group_latest ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_group_latest FORCE ROW LEVEL SECURITY;
CREATE POLICY telemetry_group_latest_isolation ON telemetry_group_latest
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON telemetry_group_latest TO parkbase_app;

-- 4. Per-type raw retention overrides are stored as the proto JSON of a RetentionPolicy carrying only
--    device_type_raw_retention_days, written and read with protobuf's JSON mapping (a value that does not parse is
--    an error, never "no overrides").
ALTER TABLE telemetry_retention ADD COLUMN overrides jsonb NOT NULL DEFAULT '{}';
UPDATE telemetry_retention
  SET overrides = jsonb_build_object('device_type_raw_retention_days', device_type_raw_retention_days)
  WHERE device_type_raw_retention_days <> '{}'::jsonb;
ALTER TABLE telemetry_retention DROP COLUMN device_type_raw_retention_days;
