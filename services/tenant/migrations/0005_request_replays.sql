-- Request ids on the creates that mint secrets (AIP-155; services/common/request_replay.h): the first answer of
-- CreateApiKey, CreateDeviceCredential or InstallApp sent with a request_id, sealed (AES-256-GCM under a key the
-- database never sees), kept an hour so a retry gets the same secret back instead of a second one. `fingerprint`
-- (SHA-256 of caller, method and request) makes the id useless to anyone but the caller who sent that request.
CREATE TABLE request_replays (
  tenant_id text NOT NULL,
  method text NOT NULL,
  request_id text NOT NULL,
  fingerprint text NOT NULL,
  sealed_answer bytea NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, method, request_id)
);

ALTER TABLE request_replays ENABLE ROW LEVEL SECURITY;
ALTER TABLE request_replays FORCE ROW LEVEL SECURITY;
CREATE POLICY request_replays_isolation ON request_replays
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));

-- No UPDATE: a remembered answer is written once and expires.
GRANT SELECT, INSERT, DELETE ON request_replays TO parkbase_app;
