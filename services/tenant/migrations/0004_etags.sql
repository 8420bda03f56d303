-- Etags (AIP-154): every change to a tenant row bumps its revision, whoever makes it (UpdateTenant, Suspend and
-- Resume, or a tenant-scoped profile edit), so an etag read before the change no longer matches after it.
ALTER TABLE tenants ADD COLUMN revision bigint NOT NULL DEFAULT 1;

CREATE FUNCTION tenants_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.revision := OLD.revision + 1;
  RETURN NEW;
END
$$;
CREATE TRIGGER tenants_bump_revision BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION tenants_bump_revision();
