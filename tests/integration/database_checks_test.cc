// The database half of tenant isolation, read from PostgreSQL's own catalog: every tenant table has row-level
// security enabled and forced with a tenant-keyed policy for every command, the serving role cannot bypass it,
// a pooled connection carries nothing of one tenant's transaction into the next, and every key of a tenant table
// leads with tenant_id (what distributing the tables by tenant needs).
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/db.h"
#include "common/libpq_pool.h"
#include "support/tenant_client.h"

namespace parkbase::testing {
namespace {

// Tables in `public` without a tenant_id column, each with the reason it has none. A new table must either lead
// with tenant_id (and then the checks below cover it) or be added here with its reason.
const std::set<std::string> kTablesWithoutTenant = {
    "schema_migrations",  // migration bookkeeping, written only by the migrating owner role
};

// Policies that are deliberately not keyed on the request's tenant, by "table command".
const std::set<std::string> kParkWidePolicies = {
    // Industrial identifiers resolve park-wide: the row holds only what the owner chose to publish.
    "device_identifiers SELECT",
    // The marketplace catalogue's search table holds only listed apps with a published version (what every tenant
    // may read in apps anyway); a `true` policy keeps its search indexes usable (marketplace/0002).
    "app_catalogue SELECT",
};

// Keys of tenant tables that deliberately do not lead with tenant_id, by constraint or unique index name: the
// park-wide tables, which a database distributed by tenant_id (Citus) keeps as reference tables.
const std::map<std::string, std::string> kParkWideKeys = {
    {"tenants_code_key", "tenant codes are unique across the park (the <tenant> segment of identifiers)"},
    {"device_identifiers_identifier_key", "industrial identifiers resolve park-wide"},
};

// What keeps `schema`'s tenant tables distributable by tenant_id: every primary key, unique constraint and unique
// index leads with tenant_id, and every foreign key carries tenant_id on both sides. Returns the violations as
// "<table>: <key>: <why>".
std::vector<std::string> DistributionViolations(pqxx::work& work, const std::string& schema) {
  std::vector<std::string> violations;
  for (const auto& row : work.exec_params(
           "SELECT r.relname, i.relname, (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = x.indrelid "
           "AND a.attnum = x.indkey[0]) FROM pg_index x JOIN pg_class r ON r.oid = x.indrelid "
           "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
           "WHERE n.nspname = $1 AND x.indisunique AND EXISTS (SELECT 1 FROM pg_attribute a "
           "WHERE a.attrelid = r.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) ORDER BY 1, 2",
           schema)) {
    const std::string key = row[1].as<std::string>();
    if (row[2].is_null() || row[2].as<std::string>() != "tenant_id") {
      if (kParkWideKeys.count(key) == 0) {
        violations.push_back(absl::StrCat(row[0].as<std::string>(), ": ", key, ": does not lead with tenant_id"));
      }
    }
  }
  for (const auto& row : work.exec_params(
           "SELECT r.relname, c.conname, EXISTS (SELECT 1 FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) "
           "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
           "JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = c.confkey[k.ord] "
           "WHERE a.attname = 'tenant_id' AND f.attname = 'tenant_id') "
           "FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
           "WHERE n.nspname = $1 AND c.contype = 'f' ORDER BY 1, 2",
           schema)) {
    if (!row[2].as<bool>()) {
      violations.push_back(absl::StrCat(row[0].as<std::string>(), ": ", row[1].as<std::string>(),
                                        ": a foreign key without tenant_id on both sides"));
    }
  }
  return violations;
}

std::vector<std::string> TenantTables(pqxx::work& work) {
  std::vector<std::string> tables;
  for (const auto& row : work.exec(
           "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
           "WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' AND EXISTS (SELECT 1 FROM pg_attribute a "
           "WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) ORDER BY 1")) {
    tables.push_back(row[0].as<std::string>());
  }
  return tables;
}

TEST_CASE("database: every tenant table forces row-level security with a tenant-keyed policy per command",
          "[database][integration][isolation]") {
  pqxx::connection owner(SharedDatabase().owner_url());
  pqxx::work work(owner);
  const std::vector<std::string> tables = TenantTables(work);
  // Every service's schema is there (tenant, device, telemetry): the check is not vacuous.
  REQUIRE(tables.size() >= 16);

  for (const auto& row : work.exec(
           "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
           "WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_attribute a "
           "WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)")) {
    INFO("table without tenant_id: " << row[0].as<std::string>());
    CHECK(kTablesWithoutTenant.count(row[0].as<std::string>()) == 1);
  }

  for (const std::string& table : tables) {
    INFO(table);
    pqxx::row security =
        work.exec_params1("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass", table);
    CHECK(security[0].as<bool>());  // ENABLE ROW LEVEL SECURITY
    CHECK(security[1].as<bool>());  // FORCE: binds the owner too
    // cmd: ALL, SELECT, INSERT, UPDATE or DELETE; qual and with_check are the policy's expressions as text.
    pqxx::result policies = work.exec_params(
        "SELECT cmd, coalesce(qual, ''), coalesce(with_check, ''), permissive FROM pg_policies "
        "WHERE schemaname = 'public' AND tablename = $1",
        table);
    for (const char* command : {"SELECT", "INSERT", "UPDATE", "DELETE"}) {
      INFO(command);
      int covering = 0;
      for (const auto& policy : policies) {
        const std::string cmd = policy[0].as<std::string>();
        if (cmd != "ALL" && cmd != command) continue;
        ++covering;
        if (kParkWidePolicies.count(absl::StrCat(table, " ", command)) == 1) continue;
        // A permissive policy that does not compare the row's tenant with the request's would open the table to
        // every tenant; the one other kind allowed is "park scope only" (creating and deleting tenants).
        const std::string expressions = policy[1].as<std::string>() + " " + policy[2].as<std::string>();
        INFO("policy expressions: " << expressions);
        const bool tenant_keyed = absl::StrContains(expressions, "tenant_id") &&
                                  absl::StrContains(expressions, "current_setting('parkbase.tenant_id'");
        const bool park_only =
            std::string(absl::StripAsciiWhitespace(expressions)) == "(current_setting('parkbase.scope'::text, true) = 'park'::text)";
        CHECK((tenant_keyed || park_only));
      }
      // No policy for a command means RLS refuses it outright, which is also safe; but every table is written
      // and read by the services, so every command must be covered on purpose.
      CHECK(covering >= 1);
    }
  }
}

TEST_CASE("database: the serving role is no superuser, cannot bypass row-level security and owns nothing",
          "[database][integration][isolation]") {
  pqxx::connection service(SharedDatabase().app_url());
  pqxx::work work(service);
  pqxx::row role = work.exec1(
      "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user");
  CHECK_FALSE(role[0].as<bool>());
  CHECK_FALSE(role[1].as<bool>());
  CHECK_FALSE(role[2].as<bool>());  // could create a role with BYPASSRLS otherwise
  CHECK_FALSE(role[3].as<bool>());
  // Owns no table, directly or through a role it is a member of.
  const int owned = work.exec1(
                            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') "
                            "AND pg_has_role(current_user, c.relowner, 'MEMBER')")[0]
                        .as<int>();
  CHECK(owned == 0);
  // The server's own start-up check agrees.
  pqxx::row check = work.exec1(kServingRoleCheckSql);
  CHECK(ServingRoleProblem(check[0].as<std::string>(), check[1].as<std::string>(), check[2].as<std::string>())
            .ok());
  work.abort();

  // And the database refuses what an owner could do.
  for (const char* statement : {"ALTER TABLE devices DISABLE ROW LEVEL SECURITY",
                                "ALTER TABLE devices NO FORCE ROW LEVEL SECURITY", "DROP POLICY devices_isolation ON devices",
                                "ALTER ROLE CURRENT_USER BYPASSRLS", "TRUNCATE api_keys"}) {
    INFO(statement);
    pqxx::work attempt(service);
    CHECK_THROWS_AS(attempt.exec(statement), pqxx::sql_error);
  }
  {
    // row_security = off makes a query that RLS would filter fail rather than see everything.
    pqxx::work attempt(service);
    attempt.exec("SET LOCAL row_security = off");
    CHECK_THROWS_AS(attempt.exec("SELECT count(*) FROM devices"), pqxx::sql_error);
  }
}

// What one transaction saw: the tenants of the rows it could read, and the park-scope setting it ran under.
struct Seen {
  std::set<std::string> tenants;
  std::string scope;
};

constexpr char kVisibleTenantsSql[] =
    "SELECT tenant_id FROM tenants UNION SELECT tenant_id FROM api_keys UNION SELECT tenant_id FROM audit_events "
    "UNION SELECT tenant_id FROM devices";

TEST_CASE("database: two tenants interleaved over a pool of one connection never see each other's rows",
          "[database][integration][isolation]") {
  TestServer server;
  TenantClient client(server);
  const TestTenant a = client.CreateTenant("poola");
  const TestTenant b = client.CreateTenant("poolb");
  constexpr int kRounds = 150;

  // Each thread runs, in turn: a tenant transaction, a park-scope transaction of the same tenant (the registry
  // becomes visible park-wide), one that fails with an SQL error, one its body refuses, and one with no tenant.
  // The other thread does the same for the other tenant, on the same single connection.
  auto exercise = [&](auto transact, const std::string& own, std::atomic<int>& violations) {
    for (int round = 0; round < kRounds; ++round) {
      Seen seen;
      absl::Status status = transact(TenantScope::Tenant(own), false, false, seen);
      if (!status.ok() || seen.tenants != std::set<std::string>{own} || seen.scope == "park") ++violations;
      Seen park;
      status = transact(TenantScope::ParkAdmin(own), false, false, park);
      if (!status.ok() || park.scope != "park") ++violations;
      Seen failed;
      if (transact(TenantScope::Tenant(own), true, false, failed).ok()) ++violations;
      Seen refused;
      if (transact(TenantScope::Tenant(own), false, true, refused).ok()) ++violations;
      Seen nobody;
      status = transact(TenantScope{}, false, false, nobody);
      if (!status.ok() || !nobody.tenants.empty() || nobody.scope == "park") ++violations;
    }
  };

  SECTION("DbPool (libpqxx)") {
    DbPool pool({.url = SharedDatabase().app_url(), .size = 1, .verify_serving_role = true});
    auto transact = [&](const TenantScope& scope, bool sql_error, bool refuse, Seen& seen) {
      return pool.Transact(scope, [&](pqxx::work& work) -> absl::Status {
        for (const auto& row : work.exec(kVisibleTenantsSql)) seen.tenants.insert(row[0].as<std::string>());
        seen.scope = work.exec1("SELECT coalesce(current_setting('parkbase.scope', true), '')")[0].as<std::string>();
        if (sql_error) work.exec("SELECT 1 / 0");
        if (refuse) return absl::FailedPreconditionError("refused by the body");
        return absl::OkStatus();
      });
    };
    std::atomic<int> violations{0};
    std::thread other([&] { exercise(transact, b.tenant_id, violations); });
    exercise(transact, a.tenant_id, violations);
    other.join();
    CHECK(violations == 0);
  }
  SECTION("LibpqPool (raw libpq, the telemetry hot path)") {
    LibpqPool pool({.url = SharedDatabase().app_url(), .size = 1, .verify_serving_role = true});
    auto transact = [&](const TenantScope& scope, bool sql_error, bool refuse, Seen& seen) {
      return pool.Transact(scope, [&](LibpqSession& session) -> absl::Status {
        absl::StatusOr<PgRows> rows = session.Exec(kVisibleTenantsSql);
        if (!rows.ok()) return rows.status();
        for (int i = 0; i < rows->size(); ++i) seen.tenants.insert(std::string(rows->Bytes(i, 0)));
        absl::StatusOr<PgRows> scope_row =
            session.Exec("SELECT coalesce(current_setting('parkbase.scope', true), '')");
        if (!scope_row.ok()) return scope_row.status();
        seen.scope = std::string(scope_row->Bytes(0, 0));
        if (sql_error) {
          absl::StatusOr<PgRows> failed = session.Exec("SELECT 1 / 0");
          if (!failed.ok()) return failed.status();
        }
        if (refuse) return absl::FailedPreconditionError("refused by the body");
        return absl::OkStatus();
      });
    };
    std::atomic<int> violations{0};
    std::thread other([&] { exercise(transact, b.tenant_id, violations); });
    exercise(transact, a.tenant_id, violations);
    other.join();
    CHECK(violations == 0);
  }
  SECTION("LibpqPool::Read (pipelined: the scope and the queries in one round trip)") {
    LibpqPool pool({.url = SharedDatabase().app_url(), .size = 1, .verify_serving_role = true});
    static constexpr PgStatement kVisible{"check_visible", kVisibleTenantsSql};
    static constexpr PgStatement kScope{"check_scope", "SELECT coalesce(current_setting('parkbase.scope', true), '')"};
    static constexpr PgStatement kDivide{"check_divide", "SELECT 1 / 0"};
    static constexpr PgStatement kBadSql{"check_bad_sql", "SELEKT 1"};
    // An SQL error fails a query mid-pipeline; a "refusal" here is SQL that does not even prepare.
    auto transact = [&](const TenantScope& scope, bool sql_error, bool refuse, Seen& seen) -> absl::Status {
      std::vector<PgQuery> queries = {{&kVisible, {}}, {&kScope, {}}};
      if (sql_error) queries.insert(queries.begin() + 1, PgQuery{&kDivide, {}});
      if (refuse) queries.insert(queries.begin() + 1, PgQuery{&kBadSql, {}});
      absl::StatusOr<std::vector<PgRows>> rows = pool.Read(scope, queries);
      if (!rows.ok()) return rows.status();
      if (rows->size() != 2) return absl::InternalError("expected two results");
      for (int i = 0; i < (*rows)[0].size(); ++i) seen.tenants.insert(std::string((*rows)[0].Bytes(i, 0)));
      seen.scope = std::string((*rows)[1].Bytes(0, 0));
      return absl::OkStatus();
    };
    std::atomic<int> violations{0};
    std::thread other([&] { exercise(transact, b.tenant_id, violations); });
    exercise(transact, a.tenant_id, violations);
    other.join();
    CHECK(violations == 0);
  }
}

TEST_CASE("database: a pipelined read maps errors to statuses and leaves its connection clean for the next",
          "[database][integration]") {
  TestServer server;
  TenantClient client(server);
  const TestTenant a = client.CreateTenant("pipea");
  const TestTenant b = client.CreateTenant("pipeb");
  // One connection, so every read below runs on the connection the previous one left behind.
  LibpqPool pool({.url = SharedDatabase().app_url(),
                  .size = 1,
                  .statement_timeout = absl::Milliseconds(200),
                  .verify_serving_role = true});
  static constexpr PgStatement kTenant{"pipe_tenant", "SELECT tenant_id FROM tenants WHERE tenant_id = $1"};
  auto visible = [&](const TenantScope& scope, const std::string& tenant) -> absl::StatusOr<bool> {
    absl::StatusOr<PgRows> rows = pool.ReadOne(scope, kTenant, {PgParam::Bytes(tenant)});
    if (!rows.ok()) return rows.status();
    return rows->size() == 1;
  };
  auto clean = [&] {
    // The next read still sees exactly its own tenant: nothing of the failed one's transaction is left.
    CHECK(visible(TenantScope::Tenant(b.tenant_id), b.tenant_id).value_or(false));
    CHECK_FALSE(visible(TenantScope::Tenant(b.tenant_id), a.tenant_id).value_or(true));
  };
  CHECK(visible(TenantScope::Tenant(a.tenant_id), a.tenant_id).value_or(false));
  CHECK_FALSE(visible(TenantScope::Tenant(a.tenant_id), b.tenant_id).value_or(true));

  SECTION("the statement timeout applies: DEADLINE_EXCEEDED") {
    static constexpr PgStatement kSleep{"pipe_sleep", "SELECT pg_sleep(2)"};
    absl::StatusOr<PgRows> slept = pool.ReadOne(TenantScope::Tenant(a.tenant_id), kSleep, {});
    CHECK(slept.status().code() == absl::StatusCode::kDeadlineExceeded);
    clean();
  }
  SECTION("SQL that does not prepare: INTERNAL, and a read before it on the same pipeline is not returned") {
    static constexpr PgStatement kBad{"pipe_bad", "SELECT FROM WHERE"};
    absl::StatusOr<std::vector<PgRows>> rows =
        pool.Read(TenantScope::Tenant(a.tenant_id), {{&kTenant, {PgParam::Bytes(a.tenant_id)}}, {&kBad, {}}});
    CHECK(rows.status().code() == absl::StatusCode::kInternal);
    clean();
  }
  SECTION("the read is read-only: a write through it fails and changes nothing") {
    static constexpr PgStatement kWrite{"pipe_write",
                                        "UPDATE tenants SET display_name = 'changed' WHERE tenant_id = $1 "
                                        "RETURNING tenant_id"};
    absl::StatusOr<PgRows> written =
        pool.ReadOne(TenantScope::Tenant(a.tenant_id), kWrite, {PgParam::Bytes(a.tenant_id)});
    CHECK(written.status().code() == absl::StatusCode::kInternal);
    static constexpr PgStatement kName{"pipe_name", "SELECT display_name FROM tenants WHERE tenant_id = $1"};
    absl::StatusOr<PgRows> name = pool.ReadOne(TenantScope::Tenant(a.tenant_id), kName, {PgParam::Bytes(a.tenant_id)});
    REQUIRE(name.ok());
    REQUIRE(name->size() == 1);
    CHECK(name->Bytes(0, 0) != "changed");
    clean();
  }
  SECTION("a connection lost mid-pipeline: UNAVAILABLE, and the pool reconnects") {
    static constexpr PgStatement kDie{"pipe_die", "SELECT pg_terminate_backend(pg_backend_pid())"};
    absl::StatusOr<PgRows> died = pool.ReadOne(TenantScope::Tenant(a.tenant_id), kDie, {});
    CHECK(died.status().code() == absl::StatusCode::kUnavailable);
    clean();
  }
}

}  // namespace
}  // namespace parkbase::testing

namespace parkbase::testing {
namespace {

TEST_CASE("database: every key of a tenant table leads with tenant_id and every foreign key carries it",
          "[database][integration]") {
  pqxx::connection owner(SharedDatabase().owner_url());
  pqxx::work work(owner);
  // Every service's schema: only the park-wide keys listed with their reasons stand out.
  const std::vector<std::string> violations = DistributionViolations(work, "public");
  for (const std::string& violation : violations) INFO(violation);
  CHECK(violations.empty());
  // The check itself finds what it looks for: a scratch schema with one table of each mistake.
  work.exec("CREATE SCHEMA distribution_check");
  work.exec("CREATE TABLE distribution_check.parent (tenant_id text, id text, PRIMARY KEY (tenant_id, id))");
  work.exec("CREATE TABLE distribution_check.wrong (tenant_id text, id text, serial text UNIQUE, parent_id text, "
            "PRIMARY KEY (id, tenant_id))");
  work.exec("CREATE TABLE distribution_check.loose (tenant_id text, parent_id text, PRIMARY KEY (tenant_id, parent_id))");
  work.exec("CREATE UNIQUE INDEX loose_parent ON distribution_check.loose (parent_id)");
  work.exec("CREATE TABLE distribution_check.solo (id text PRIMARY KEY)");
  work.exec("ALTER TABLE distribution_check.loose ADD CONSTRAINT loose_parent_fk FOREIGN KEY (parent_id, tenant_id) "
            "REFERENCES distribution_check.parent (id, tenant_id)");
  work.exec("ALTER TABLE distribution_check.wrong ADD CONSTRAINT wrong_solo_fk FOREIGN KEY (parent_id) "
            "REFERENCES distribution_check.solo (id)");
  const std::vector<std::string> planted = DistributionViolations(work, "distribution_check");
  for (const std::string& violation : planted) INFO(violation);
  CHECK(planted == std::vector<std::string>{"loose: loose_parent: does not lead with tenant_id",
                                            "wrong: wrong_pkey: does not lead with tenant_id",
                                            "wrong: wrong_serial_key: does not lead with tenant_id",
                                            "wrong: wrong_solo_fk: a foreign key without tenant_id on both sides"});
  // The scratch schema goes with the transaction, which is never committed.
}

}  // namespace
}  // namespace parkbase::testing
