-- Etags (AIP-154) on the retention policy: the revision counts the policy's changes, and UpdateRetentionPolicy
-- with an etag writes only if the stored revision is still the one it read (compare and set in the upsert).
ALTER TABLE telemetry_retention ADD COLUMN revision bigint NOT NULL DEFAULT 1;
