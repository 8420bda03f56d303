-- Etags (AIP-154): every change to a device row bumps its revision, whoever makes it (UpdateDevice, Disable and
-- Enable, attribute writes, bulk import, or the device's first call in, which the authenticator records), so an
-- etag read before the change no longer matches after it. Device types need no column: every change to a type
-- makes a new version, and the version is the type's revision.
ALTER TABLE devices ADD COLUMN revision bigint NOT NULL DEFAULT 1;

CREATE FUNCTION devices_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.revision := OLD.revision + 1;
  RETURN NEW;
END
$$;
CREATE TRIGGER devices_bump_revision BEFORE UPDATE ON devices FOR EACH ROW EXECUTE FUNCTION devices_bump_revision();
