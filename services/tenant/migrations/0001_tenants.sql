-- The tenant registry, API keys and the audit log.
-- Row-level security: every table is keyed on current_setting('parkbase.tenant_id'), set per transaction by
-- services/common/db.cc. The registry itself is also visible park-wide when parkbase.scope = 'park' (park admins).

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'parkbase_app') THEN
    CREATE ROLE parkbase_app NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;  -- another database of the same cluster created it at the same moment
END
$$;

-- Tenant codes (the <tenant> segment of 88.<park>.<tenant>/<serial>) are never reused, even after a delete.
CREATE SEQUENCE tenant_code_seq START 1000;

CREATE TABLE tenants (
  tenant_id text PRIMARY KEY CHECK (tenant_id ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'),
  display_name text NOT NULL,
  code text NOT NULL UNIQUE,
  state smallint NOT NULL DEFAULT 1,          -- parkbase.tenant.v1.TenantState
  plan smallint NOT NULL DEFAULT 1,           -- parkbase.tenant.v1.Plan
  max_devices bigint NOT NULL,
  max_ingest_points_per_second bigint NOT NULL,
  retention_days integer NOT NULL,
  max_installed_apps integer NOT NULL,
  provider boolean NOT NULL DEFAULT false,
  contact_email text NOT NULL DEFAULT '',
  suspend_reason text NOT NULL DEFAULT '',
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  key_id text NOT NULL,
  display_name text NOT NULL,
  role smallint NOT NULL,                     -- parkbase.tenant.v1.Role
  device_id text,
  -- Set while the key's device is disabled (device service): the key is refused but not revoked.
  device_disabled boolean NOT NULL DEFAULT false,
  secret_sha256 text NOT NULL,
  creator text NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  expire_time timestamptz,
  revoke_time timestamptz,
  PRIMARY KEY (tenant_id, key_id)
);
CREATE INDEX api_keys_by_create_time ON api_keys (tenant_id, create_time DESC, key_id);
CREATE INDEX api_keys_by_device ON api_keys (tenant_id, device_id) WHERE device_id IS NOT NULL;

CREATE TABLE audit_events (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  event_id bigserial NOT NULL,
  time timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  actor_role smallint NOT NULL,
  action text NOT NULL,
  resource text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, event_id)
);

-- The park operator's own tenant: park-admin keys live here. It can be neither suspended nor deleted.
INSERT INTO tenants (tenant_id, display_name, code, plan, max_devices, max_ingest_points_per_second,
                     retention_days, max_installed_apps)
VALUES ('park', 'Park administration', '0', 3, 1000000, 1000000, 365, 100);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenants_isolation ON tenants
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park')
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true)
              OR current_setting('parkbase.scope', true) = 'park');

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_isolation ON api_keys
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_events_isolation ON audit_events
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

GRANT USAGE ON SCHEMA public TO parkbase_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, api_keys, audit_events TO parkbase_app;
GRANT USAGE ON SEQUENCE tenant_code_seq, audit_events_event_id_seq TO parkbase_app;

