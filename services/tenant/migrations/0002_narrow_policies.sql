-- Row-level security that holds by itself, not only through application code (docs/architecture.md):
-- * tenants: a tenant-scoped transaction may read its own row and change only its profile (display name,
--   contact email); quota, plan, state, provider capability and suspend reason change only in park scope, and only
--   park scope creates or deletes tenants.
-- * api_keys: park-admin keys can be inserted only in park scope into tenants/park; a key's identity (role,
--   device, secret, creator, expiry) never changes after insert, and a revoked key stays revoked.
-- Policies are per command; the column rules are triggers, because a policy cannot compare a row's old and new
-- values. Violations are SQLSTATE 42501 (insufficient_privilege).

DROP POLICY tenants_isolation ON tenants;
CREATE POLICY tenants_select ON tenants FOR SELECT
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park');
CREATE POLICY tenants_insert ON tenants FOR INSERT
  WITH CHECK (current_setting('parkbase.scope', true) = 'park');
CREATE POLICY tenants_update ON tenants FOR UPDATE
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park')
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true)
              OR current_setting('parkbase.scope', true) = 'park');
CREATE POLICY tenants_delete ON tenants FOR DELETE
  USING (current_setting('parkbase.scope', true) = 'park');

CREATE FUNCTION tenants_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('parkbase.scope', true) IS DISTINCT FROM 'park' AND
     (NEW.tenant_id, NEW.code, NEW.state, NEW.plan, NEW.max_devices, NEW.max_ingest_points_per_second,
      NEW.retention_days, NEW.max_installed_apps, NEW.provider, NEW.suspend_reason, NEW.create_time)
     IS DISTINCT FROM
     (OLD.tenant_id, OLD.code, OLD.state, OLD.plan, OLD.max_devices, OLD.max_ingest_points_per_second,
      OLD.retention_days, OLD.max_installed_apps, OLD.provider, OLD.suspend_reason, OLD.create_time) THEN
    RAISE EXCEPTION 'tenants: only the park scope may change quota, plan, state, capabilities or identity'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER tenants_guard BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION tenants_guard();

DROP POLICY api_keys_isolation ON api_keys;
CREATE POLICY api_keys_select ON api_keys FOR SELECT
  USING (tenant_id = current_setting('parkbase.tenant_id', true));
CREATE POLICY api_keys_insert ON api_keys FOR INSERT
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true)
              AND (role <> 1 OR (tenant_id = 'park' AND current_setting('parkbase.scope', true) = 'park')));
CREATE POLICY api_keys_update ON api_keys FOR UPDATE
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
CREATE POLICY api_keys_delete ON api_keys FOR DELETE
  USING (tenant_id = current_setting('parkbase.tenant_id', true));

CREATE FUNCTION api_keys_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.tenant_id, NEW.key_id, NEW.role, NEW.device_id, NEW.secret_sha256, NEW.creator, NEW.create_time,
      NEW.expire_time)
     IS DISTINCT FROM
     (OLD.tenant_id, OLD.key_id, OLD.role, OLD.device_id, OLD.secret_sha256, OLD.creator, OLD.create_time,
      OLD.expire_time) THEN
    RAISE EXCEPTION 'api_keys: a key''s identity, role, secret and expiry never change'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.revoke_time IS NOT NULL AND NEW.revoke_time IS DISTINCT FROM OLD.revoke_time THEN
    RAISE EXCEPTION 'api_keys: a revoked key stays revoked' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER api_keys_guard BEFORE UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION api_keys_guard();
