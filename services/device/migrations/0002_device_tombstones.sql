-- Device ids are never reused within a tenant: a deleted device's telemetry stays stored until retention drops it
-- (points live in chunks shared by a group of devices, so they are not rewritten on delete), and a new device
-- under the same id would otherwise inherit that history and its latest values. A tombstone keeps the id taken.
CREATE TABLE device_tombstones (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  device_id text NOT NULL,
  delete_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, device_id)
);

ALTER TABLE device_tombstones ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_tombstones FORCE ROW LEVEL SECURITY;
CREATE POLICY device_tombstones_isolation ON device_tombstones
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

GRANT SELECT, INSERT, DELETE ON device_tombstones TO parkbase_app;
