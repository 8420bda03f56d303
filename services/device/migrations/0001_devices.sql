-- The device registry: device types with every schema version, devices, and the park-wide identifier index.
-- Row-level security as in tenant/0001: every table is keyed on current_setting('parkbase.tenant_id').
-- device_identifiers is the one exception, on purpose: it holds only what owners publish (see docs/device-api.md)
-- and every tenant may read it, so ResolveIdentifier works park-wide without ever lifting RLS on devices.

CREATE TABLE device_types (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  device_type_id text NOT NULL,
  latest_version bigint NOT NULL DEFAULT 1,
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, device_type_id)
);

-- Versions are never changed or deleted while the type exists: telemetry stored under a version stays readable.
CREATE TABLE device_type_versions (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  device_type_id text NOT NULL,
  version bigint NOT NULL,
  display_name text NOT NULL,
  description text NOT NULL DEFAULT '',
  vendor text NOT NULL DEFAULT '',
  model text NOT NULL DEFAULT '',
  metrics jsonb NOT NULL DEFAULT '{}',          -- a DeviceType with only `metrics` set, as proto JSON
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, device_type_id, version),
  FOREIGN KEY (tenant_id, device_type_id) REFERENCES device_types (tenant_id, device_type_id) ON DELETE CASCADE
);

CREATE TABLE devices (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  device_id text NOT NULL,
  -- Deliberately no foreign key to device_types: a foreign-key check costs ~20 µs a row and bulk import inserts
  -- 100,000 rows. Orphans are prevented by locks instead: creators and type changes hold the type row FOR SHARE,
  -- DeleteDeviceType holds it FOR UPDATE and refuses while any device uses it.
  device_type_id text NOT NULL,
  serial_number text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  labels jsonb NOT NULL DEFAULT '{}',           -- {"key": "value"}
  attributes jsonb NOT NULL DEFAULT '{}',       -- {"key": parkbase.device.v1.AttributeValue as proto JSON}
  public_attribute_keys jsonb NOT NULL DEFAULT '[]',  -- ["key"]
  state smallint NOT NULL DEFAULT 1,            -- parkbase.device.v1.DeviceState
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now(),
  last_seen_time timestamptz,
  PRIMARY KEY (tenant_id, device_id),
  UNIQUE (tenant_id, serial_number)
);
CREATE INDEX devices_by_type ON devices (tenant_id, device_type_id);
CREATE INDEX devices_by_labels ON devices USING gin (labels jsonb_path_ops);

-- Public metadata only, kept in step with devices and device_type_versions in the same transactions (DeleteDevice
-- deletes the row itself; no foreign key to devices, for the same bulk-import reason as above).
CREATE TABLE device_identifiers (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  device_id text NOT NULL,
  identifier text NOT NULL UNIQUE,              -- 88.<park>.<tenant code>/<serial>
  device_type_id text NOT NULL,                 -- to refresh the type's public fields when the type changes
  type_display_name text NOT NULL,
  vendor text NOT NULL DEFAULT '',
  model text NOT NULL DEFAULT '',
  public_attributes jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, device_id)
);
CREATE INDEX device_identifiers_by_type ON device_identifiers (tenant_id, device_type_id);

ALTER TABLE device_types ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_types FORCE ROW LEVEL SECURITY;
CREATE POLICY device_types_isolation ON device_types
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE device_type_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_type_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY device_type_versions_isolation ON device_type_versions
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE devices FORCE ROW LEVEL SECURITY;
CREATE POLICY devices_isolation ON devices
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

-- Everyone reads, only the owner writes.
ALTER TABLE device_identifiers ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_identifiers FORCE ROW LEVEL SECURITY;
CREATE POLICY device_identifiers_read ON device_identifiers FOR SELECT USING (true);
CREATE POLICY device_identifiers_insert ON device_identifiers FOR INSERT
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
CREATE POLICY device_identifiers_update ON device_identifiers FOR UPDATE
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
CREATE POLICY device_identifiers_delete ON device_identifiers FOR DELETE
  USING (tenant_id = current_setting('parkbase.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON device_types, device_type_versions, devices, device_identifiers
  TO parkbase_app;
