-- The catalogue's search table. Row-level security on `apps` kept both search indexes unused: the array-contains
-- and LIKE operators are not leakproof, so under a policy PostgreSQL must evaluate the policy before them, row by
-- row, and every search read all apps (~100 ms at 10,000 apps; docs/performance.md). This table holds only what
-- every tenant may read anyway — listed apps that have a published version — so its SELECT policy is `true` and
-- puts nothing in front of the indexes. A trigger on `apps` keeps it in step in the same transaction as every
-- change of an app (listing, versions, counters); writes are the provider's or the park scope's only.

CREATE TABLE app_catalogue (
  tenant_id text NOT NULL,                       -- the provider
  app_id text NOT NULL,
  category smallint NOT NULL,
  pricing_model smallint NOT NULL,
  install_count bigint NOT NULL,
  rating_sum bigint NOT NULL,
  rating_count integer NOT NULL,
  name_lower text NOT NULL,
  tags_lower text NOT NULL,
  summary_lower text NOT NULL,
  search_text text NOT NULL,
  search_terms text[] NOT NULL,
  PRIMARY KEY (tenant_id, app_id),
  FOREIGN KEY (tenant_id, app_id) REFERENCES apps (tenant_id, app_id) ON DELETE CASCADE
);
CREATE INDEX app_catalogue_text ON app_catalogue USING gin (search_text gin_trgm_ops);
CREATE INDEX app_catalogue_terms ON app_catalogue USING gin (search_terms);
-- Without statistics on these columns the planner always takes the indexes: with them, it judged a word found in
-- most apps cheap to check row by row, which costs ten times the index scan (unpacking every app's term array).
ALTER TABLE app_catalogue ALTER COLUMN search_terms SET STATISTICS 0;
ALTER TABLE app_catalogue ALTER COLUMN search_text SET STATISTICS 0;

ALTER TABLE app_catalogue ENABLE ROW LEVEL SECURITY;
ALTER TABLE app_catalogue FORCE ROW LEVEL SECURITY;
CREATE POLICY app_catalogue_select ON app_catalogue FOR SELECT USING (true);
CREATE POLICY app_catalogue_insert ON app_catalogue FOR INSERT
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true)
              OR current_setting('parkbase.scope', true) = 'park');
CREATE POLICY app_catalogue_update ON app_catalogue FOR UPDATE
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park')
  WITH CHECK (tenant_id = current_setting('parkbase.tenant_id', true)
              OR current_setting('parkbase.scope', true) = 'park');
CREATE POLICY app_catalogue_delete ON app_catalogue FOR DELETE
  USING (tenant_id = current_setting('parkbase.tenant_id', true)
         OR current_setting('parkbase.scope', true) = 'park');

CREATE FUNCTION apps_catalogue_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.listed AND NEW.latest_version <> '' THEN
    INSERT INTO app_catalogue (tenant_id, app_id, category, pricing_model, install_count, rating_sum, rating_count,
                               name_lower, tags_lower, summary_lower, search_text, search_terms)
    VALUES (NEW.tenant_id, NEW.app_id, NEW.category, NEW.pricing_model, NEW.install_count, NEW.rating_sum,
            NEW.rating_count, lower(NEW.display_name), lower(array_to_string(NEW.tags, ' ')), lower(NEW.summary),
            NEW.search_text, NEW.search_terms)
    ON CONFLICT (tenant_id, app_id) DO UPDATE SET
      category = excluded.category, pricing_model = excluded.pricing_model, install_count = excluded.install_count,
      rating_sum = excluded.rating_sum, rating_count = excluded.rating_count, name_lower = excluded.name_lower,
      tags_lower = excluded.tags_lower, summary_lower = excluded.summary_lower, search_text = excluded.search_text,
      search_terms = excluded.search_terms;
  ELSE
    DELETE FROM app_catalogue WHERE tenant_id = NEW.tenant_id AND app_id = NEW.app_id;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER apps_catalogue_sync AFTER INSERT OR UPDATE ON apps
  FOR EACH ROW EXECUTE FUNCTION apps_catalogue_sync();

-- Apps already in the catalogue (migrations run as the owner, whom FORCE ROW LEVEL SECURITY binds too).
SELECT set_config('parkbase.scope', 'park', true);
INSERT INTO app_catalogue (tenant_id, app_id, category, pricing_model, install_count, rating_sum, rating_count,
                           name_lower, tags_lower, summary_lower, search_text, search_terms)
SELECT tenant_id, app_id, category, pricing_model, install_count, rating_sum, rating_count, lower(display_name),
       lower(array_to_string(tags, ' ')), lower(summary), search_text, search_terms
FROM apps WHERE listed AND latest_version <> '';
SELECT set_config('parkbase.scope', '', true);

-- Unusable under row-level security, and they only slowed every write of an app.
DROP INDEX apps_search_text;
DROP INDEX apps_search_terms;

GRANT SELECT, INSERT, UPDATE, DELETE ON app_catalogue TO parkbase_app;
