-- The marketplace: apps and their versions (owned by the provider tenant), installations and their day-by-day
-- usage (owned by the installing tenant), ratings (owned by the rating tenant).
-- Row-level security as in tenant/0001, keyed on current_setting('parkbase.tenant_id'), with three deliberate
-- widenings, each for SELECT only:
-- * the catalogue: every tenant may read listed apps that have a published version, and published or deprecated
--   versions (what tenants browse and install);
-- * providers read the installations, usage days and ratings of their own apps (usage statements);
-- * ratings of catalogue apps are public reviews.
-- Writes are the owner's only, except the counters on apps (installs, ratings), which triggers keep in step with
-- the installing or rating tenant's own rows.

-- Search: trigram indexes for words of three characters or more. pg_trgm is a trusted extension (PostgreSQL 13+),
-- so the migrating role creates it with CREATE on the database; it needs a UTF-8 LC_CTYPE to see Chinese
-- characters as word characters, which the service checks at start.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE apps (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,  -- the provider
  app_id text NOT NULL CHECK (app_id ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'),
  display_name text NOT NULL,
  summary text NOT NULL,
  description text NOT NULL DEFAULT '',
  category smallint NOT NULL,                    -- parkbase.marketplace.v1.Category
  tags text[] NOT NULL DEFAULT '{}',
  vendor text NOT NULL DEFAULT '',
  homepage text NOT NULL DEFAULT '',
  listed boolean NOT NULL DEFAULT true,
  delist_reason text NOT NULL DEFAULT '',
  delisted_by_park boolean NOT NULL DEFAULT false,
  -- The newest PUBLISHED version and its pricing, kept by the service when versions change state.
  latest_version text NOT NULL DEFAULT '',
  pricing_model smallint NOT NULL DEFAULT 0,
  price_fen bigint NOT NULL DEFAULT 0,
  -- Search: the listing's text, lower-cased (trigram index), and its short terms: every Chinese character and
  -- pair of adjacent characters, and every whole Latin word, which trigrams cannot find.
  search_text text NOT NULL DEFAULT '',
  search_terms text[] NOT NULL DEFAULT '{}',
  rating_sum bigint NOT NULL DEFAULT 0,
  rating_count integer NOT NULL DEFAULT 0,
  install_count bigint NOT NULL DEFAULT 0,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, app_id)
);
CREATE INDEX apps_search_text ON apps USING gin (search_text gin_trgm_ops);
CREATE INDEX apps_search_terms ON apps USING gin (search_terms);

CREATE TABLE app_versions (
  tenant_id text NOT NULL,
  app_id text NOT NULL,
  version text NOT NULL,
  -- Semantic-version precedence, so "newest" is computed in SQL: (major, minor, patch, release before
  -- prerelease, prerelease text).
  major bigint NOT NULL,
  minor bigint NOT NULL,
  patch bigint NOT NULL,
  prerelease text NOT NULL DEFAULT '',
  changelog text NOT NULL DEFAULT '',
  image text NOT NULL,
  chart text NOT NULL DEFAULT '',
  requested_scopes text[] NOT NULL,
  write_metrics text[] NOT NULL DEFAULT '{}',
  pricing_model smallint NOT NULL,
  price_fen bigint NOT NULL,
  state smallint NOT NULL DEFAULT 1,             -- parkbase.marketplace.v1.VersionState
  review_reason text NOT NULL DEFAULT '',
  submit_time timestamptz,
  publish_time timestamptz,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, app_id, version),
  FOREIGN KEY (tenant_id, app_id) REFERENCES apps (tenant_id, app_id) ON DELETE CASCADE
);
CREATE INDEX app_versions_review_queue ON app_versions (submit_time, tenant_id, app_id, version) WHERE state = 2;

CREATE TABLE installations (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,  -- the installing tenant
  installation_id text NOT NULL,
  provider_id text NOT NULL,
  app_id text NOT NULL,
  version text NOT NULL,
  previous_version text NOT NULL DEFAULT '',
  pinned boolean NOT NULL DEFAULT false,
  scopes text[] NOT NULL,
  device_labels jsonb NOT NULL DEFAULT '{}',
  metrics text[] NOT NULL DEFAULT '{}',
  credential_key_id text NOT NULL,
  pricing_model smallint NOT NULL,
  price_fen bigint NOT NULL,
  state smallint NOT NULL DEFAULT 1,             -- parkbase.marketplace.v1.InstallationState
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now(),
  uninstall_time timestamptz,
  PRIMARY KEY (tenant_id, installation_id)
);
-- One active installation of an app per tenant.
CREATE UNIQUE INDEX installations_one_active ON installations (tenant_id, provider_id, app_id) WHERE state = 1;
CREATE INDEX installations_by_app ON installations (provider_id, app_id);
CREATE INDEX installations_by_create_time ON installations (tenant_id, create_time DESC, installation_id);

-- What each installation covered on each day (Asia/Shanghai): the most devices its grant reached that day and the
-- pricing of the version it ran. Statements are computed from these rows.
CREATE TABLE installation_days (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  installation_id text NOT NULL,
  day date NOT NULL,
  provider_id text NOT NULL,
  app_id text NOT NULL,
  version text NOT NULL,
  pricing_model smallint NOT NULL,
  price_fen bigint NOT NULL,
  granted_devices bigint NOT NULL,
  PRIMARY KEY (tenant_id, installation_id, day),
  FOREIGN KEY (tenant_id, installation_id) REFERENCES installations (tenant_id, installation_id) ON DELETE CASCADE
);
CREATE INDEX installation_days_by_app ON installation_days (provider_id, app_id, day);

CREATE TABLE app_ratings (
  tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,  -- the rating tenant, first in every key
  provider_id text NOT NULL,
  app_id text NOT NULL,
  stars smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
  review text NOT NULL DEFAULT '',
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, provider_id, app_id)
);
CREATE INDEX app_ratings_by_update_time ON app_ratings (provider_id, app_id, update_time DESC, tenant_id);

-- Row-level security.
ALTER TABLE apps ENABLE ROW LEVEL SECURITY;
ALTER TABLE apps FORCE ROW LEVEL SECURITY;
CREATE POLICY apps_select ON apps FOR SELECT
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park'
         OR (listed AND latest_version <> ''));
-- Only a tenant with the provider capability creates apps.
CREATE POLICY apps_insert ON apps FOR INSERT
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true)
              AND EXISTS (SELECT 1 FROM tenants t WHERE t.tenant_id = apps.tenant_id AND t.provider));
CREATE POLICY apps_update ON apps FOR UPDATE
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park')
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true)
              OR current_setting('parkbase.scope', true) = 'park');
CREATE POLICY apps_delete ON apps FOR DELETE
  USING (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE app_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE app_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY app_versions_select ON app_versions FOR SELECT
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park'
         OR state IN (5, 6));
CREATE POLICY app_versions_insert ON app_versions FOR INSERT
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true) AND state = 1);
CREATE POLICY app_versions_update ON app_versions FOR UPDATE
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
CREATE POLICY app_versions_delete ON app_versions FOR DELETE
  USING (tenant_id = current_setting('parkbase.tenant_id', true));

-- The review workflow holds in the database too: a provider moves its versions DRAFT/REJECTED -> SUBMITTED,
-- APPROVED -> PUBLISHED, PUBLISHED -> DEPRECATED; only the park scope approves or rejects a SUBMITTED version;
-- a version's content changes only while DRAFT or REJECTED.
CREATE FUNCTION app_versions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  park boolean := current_setting('parkbase.scope', true) IS NOT DISTINCT FROM 'park';
BEGIN
  IF (NEW.tenant_id, NEW.app_id, NEW.version, NEW.create_time) IS DISTINCT FROM
     (OLD.tenant_id, OLD.app_id, OLD.version, OLD.create_time) THEN
    RAISE EXCEPTION 'app_versions: a version''s identity never changes' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.state <> OLD.state THEN
    IF NOT ((NOT park AND (OLD.state, NEW.state) IN ((1, 2), (4, 2), (3, 5), (5, 6)))
            OR (park AND (OLD.state, NEW.state) IN ((2, 3), (2, 4), (5, 6)))) THEN
      RAISE EXCEPTION 'app_versions: % may not move a version from state % to %',
        CASE WHEN park THEN 'the park' ELSE 'the provider' END, OLD.state, NEW.state
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END IF;
  IF OLD.state NOT IN (1, 4) AND
     (NEW.changelog, NEW.image, NEW.chart, NEW.requested_scopes, NEW.write_metrics, NEW.pricing_model,
      NEW.price_fen) IS DISTINCT FROM
     (OLD.changelog, OLD.image, OLD.chart, OLD.requested_scopes, OLD.write_metrics, OLD.pricing_model,
      OLD.price_fen) THEN
    RAISE EXCEPTION 'app_versions: only a draft or rejected version may change' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER app_versions_guard BEFORE UPDATE ON app_versions FOR EACH ROW EXECUTE FUNCTION app_versions_guard();

ALTER TABLE installations ENABLE ROW LEVEL SECURITY;
ALTER TABLE installations FORCE ROW LEVEL SECURITY;
CREATE POLICY installations_select ON installations FOR SELECT
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR provider_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park');
CREATE POLICY installations_insert ON installations FOR INSERT
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
CREATE POLICY installations_update ON installations FOR UPDATE
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
CREATE POLICY installations_delete ON installations FOR DELETE
  USING (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE installation_days ENABLE ROW LEVEL SECURITY;
ALTER TABLE installation_days FORCE ROW LEVEL SECURITY;
CREATE POLICY installation_days_select ON installation_days FOR SELECT
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR provider_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park');
CREATE POLICY installation_days_insert ON installation_days FOR INSERT
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
CREATE POLICY installation_days_update ON installation_days FOR UPDATE
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
CREATE POLICY installation_days_delete ON installation_days FOR DELETE
  USING (tenant_id = current_setting('parkbase.tenant_id', true));

ALTER TABLE app_ratings ENABLE ROW LEVEL SECURITY;
ALTER TABLE app_ratings FORCE ROW LEVEL SECURITY;
CREATE POLICY app_ratings_select ON app_ratings FOR SELECT
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR provider_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park'
         OR EXISTS (SELECT 1 FROM apps a WHERE a.tenant_id = app_ratings.provider_id
                    AND a.app_id = app_ratings.app_id AND a.listed AND a.latest_version <> ''));
-- Only a tenant that installed the app (now or before) rates it.
CREATE POLICY app_ratings_insert ON app_ratings FOR INSERT
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true)
              AND EXISTS (SELECT 1 FROM installations i WHERE i.tenant_id = app_ratings.tenant_id
                          AND i.provider_id = app_ratings.provider_id AND i.app_id = app_ratings.app_id));
CREATE POLICY app_ratings_update ON app_ratings FOR UPDATE
  USING (tenant_id = current_setting('parkbase.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true));
CREATE POLICY app_ratings_delete ON app_ratings FOR DELETE
  USING (tenant_id = current_setting('parkbase.tenant_id', true));

-- Counters on apps, kept by triggers in the same transaction as the row that changes them, so they are exact
-- under any concurrency (the UPDATE locks the app's row). The functions run with the park scope for the one
-- statement, because the rating or installing tenant does not own the app's row. (A function's own SET clause
-- would need a superuser to grant SET on the parameter; set_config in the body needs nothing.)
CREATE FUNCTION app_ratings_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  scope text := current_setting('parkbase.scope', true);
BEGIN
  PERFORM set_config('parkbase.scope', 'park', true);
  IF TG_OP = 'INSERT' THEN
    UPDATE apps SET rating_sum = rating_sum + NEW.stars, rating_count = rating_count + 1
    WHERE tenant_id = NEW.provider_id AND app_id = NEW.app_id;
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE apps SET rating_sum = rating_sum + NEW.stars - OLD.stars
    WHERE tenant_id = NEW.provider_id AND app_id = NEW.app_id;
  ELSE
    UPDATE apps SET rating_sum = rating_sum - OLD.stars, rating_count = rating_count - 1
    WHERE tenant_id = OLD.provider_id AND app_id = OLD.app_id;
  END IF;
  PERFORM set_config('parkbase.scope', coalesce(scope, ''), true);
  RETURN NULL;
END
$$;
CREATE TRIGGER app_ratings_count AFTER INSERT OR UPDATE OF stars OR DELETE ON app_ratings
  FOR EACH ROW EXECUTE FUNCTION app_ratings_count();

CREATE FUNCTION installations_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  scope text := current_setting('parkbase.scope', true);
BEGIN
  PERFORM set_config('parkbase.scope', 'park', true);
  UPDATE apps SET install_count = install_count + 1 WHERE tenant_id = NEW.provider_id AND app_id = NEW.app_id;
  PERFORM set_config('parkbase.scope', coalesce(scope, ''), true);
  RETURN NULL;
END
$$;
CREATE TRIGGER installations_count AFTER INSERT ON installations
  FOR EACH ROW EXECUTE FUNCTION installations_count();

GRANT SELECT, INSERT, UPDATE, DELETE ON apps, app_versions, installations, installation_days, app_ratings
  TO parkbase_app;
