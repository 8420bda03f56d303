-- App credentials (ROLE_APP = 6): the keys marketplace installations mint. The grant travels with the key, so
-- authentication loads it with the key in the same row and a revocation or a narrower grant is seen by every
-- replica on the next call. Only app credentials carry a grant; their grant may change (an upgrade with a new
-- grant), everything else about them stays as for every key (api_keys_guard).
ALTER TABLE api_keys ADD COLUMN installation text;
ALTER TABLE api_keys ADD COLUMN app_grant jsonb;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_app_grant
  CHECK ((role = 6) = (app_grant IS NOT NULL) AND (role = 6) = (installation IS NOT NULL));

CREATE OR REPLACE FUNCTION api_keys_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.tenant_id, NEW.key_id, NEW.role, NEW.device_id, NEW.secret_sha256, NEW.creator, NEW.create_time,
      NEW.expire_time, NEW.installation)
     IS DISTINCT FROM
     (OLD.tenant_id, OLD.key_id, OLD.role, OLD.device_id, OLD.secret_sha256, OLD.creator, OLD.create_time,
      OLD.expire_time, OLD.installation) THEN
    RAISE EXCEPTION 'api_keys: a key''s identity, role, secret and expiry never change'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.revoke_time IS NOT NULL AND (NEW.revoke_time IS DISTINCT FROM OLD.revoke_time
                                      OR NEW.app_grant IS DISTINCT FROM OLD.app_grant) THEN
    RAISE EXCEPTION 'api_keys: a revoked key stays revoked' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
