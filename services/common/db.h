// PostgreSQL access for every service: a bounded pool of libpqxx connections whose every transaction first sets
// the tenant for row-level security and a statement timeout. Code outside this file never opens a transaction
// without a scope, so a query can only ever see the rows of the tenant the request acts for.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace parkbase {

class PoolMetrics;

// Whose rows a transaction may touch. Row-level security policies read these settings.
struct TenantScope {
  // `parkbase.tenant_id`: the tenant whose rows are visible. Empty: no tenant's rows are.
  std::string tenant_id;
  // `parkbase.scope = 'park'`: park-level rows (the tenant registry itself) are visible. Only for park admins.
  bool park_wide = false;

  static TenantScope Tenant(std::string tenant_id) { return {std::move(tenant_id), false}; }
  static TenantScope ParkAdmin(std::string tenant_id) { return {std::move(tenant_id), true}; }
};

// Maps a libpqxx exception to a status chosen by what the caller should do; logs the driver's text, which never
// leaves the process.
absl::Status TranslateDbError(const std::exception& error);

// The status for a server error by its SQLSTATE, shared by the libpqxx pool and the raw libpq pool; logs `text`.
absl::Status StatusForSqlState(absl::string_view sqlstate, absl::string_view text);

// Array literals for parameters cast in SQL with ::text::text[] or ::text::int8[] (libpqxx 6.4 cannot bind arrays,
// and text-typed parameters travel the same way through libpq): {"a","b"} with '"' and '\\' escaped, {1,2}.
std::string PgTextArray(const std::vector<std::string>& values);
std::string PgInt64Array(const std::vector<int64_t>& values);

// `conninfo` (a postgresql:// URL or libpq's key=value form) with its password replaced by `password`: a URL gets a
// percent-encoded `password` query parameter, key=value form a quoted `password='...'`; libpq lets the last
// setting win, so a password already in `conninfo` is overridden.
std::string ConninfoWithPassword(absl::string_view conninfo, absl::string_view password);

// `url` with the password of `password_file` (common/secret_file.h) when that is set.
absl::StatusOr<std::string> ConninfoFor(const std::string& url, const std::string& password_file);

// The SQLSTATE of a libpqxx SQL error, or empty.
std::string SqlState(const std::exception& error);

// Row-level security binds the serving role only if that role is not a superuser, has no BYPASSRLS and owns no
// tenant table (an owner could switch RLS off). One row: rolsuper, rolbypassrls (as 'true'/'false') and the
// tenant tables the role owns or may act as the owner of (comma-separated, empty if none).
inline constexpr char kServingRoleCheckSql[] =
    "SELECT r.rolsuper::text, r.rolbypassrls::text, coalesce((SELECT string_agg(c.relname, ', ' ORDER BY c.relname) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND pg_has_role(current_user, c.relowner, 'MEMBER') AND EXISTS (SELECT 1 FROM pg_attribute a "
    "WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)), '') "
    "FROM pg_roles r WHERE r.rolname = current_user";
// FAILED_PRECONDITION saying what is wrong with the role, from kServingRoleCheckSql's row; OK for a safe role.
absl::Status ServingRoleProblem(absl::string_view superuser, absl::string_view bypass_rls,
                                absl::string_view owned_tables);

class DbPool {
 public:
  struct Options {
    std::string url;
    int size = 8;
    absl::Duration statement_timeout = absl::Seconds(5);
    // How long a call waits for a free connection before it is answered UNAVAILABLE.
    absl::Duration acquire_timeout = absl::Seconds(5);
    // Connections in use, waiters and acquire latency (pool_metrics.h); null: none kept.
    std::shared_ptr<PoolMetrics> metrics = nullptr;
    // Servers set this: every new connection first checks the role (kServingRoleCheckSql) and is refused with
    // FAILED_PRECONDITION if row-level security would not bind it. Tools that migrate or bypass RLS on purpose
    // (migrations, tests' direct checks) leave it off.
    bool verify_serving_role = false;
    // Set: every new connection reads its password from this file (common/secret_file.h), overriding url's.
    std::string password_file = {};
  };

  explicit DbPool(Options options);
  ~DbPool();
  DbPool(const DbPool&) = delete;
  DbPool& operator=(const DbPool&) = delete;

  // Registers a named statement; every connection prepares it. Call before the first transaction.
  void Prepare(std::string name, std::string sql);

  // Runs `body` in one transaction under `scope`; commits only if it returns OK. Database exceptions thrown inside
  // are caught and translated.
  absl::Status Transact(const TenantScope& scope, absl::FunctionRef<absl::Status(pqxx::work&)> body);
  // As Transact, with a statement timeout of its own (bulk work that would not fit an interactive call's).
  absl::Status Transact(const TenantScope& scope, absl::Duration statement_timeout,
                        absl::FunctionRef<absl::Status(pqxx::work&)> body);

  template <typename T>
  absl::StatusOr<T> Transact(const TenantScope& scope, absl::FunctionRef<absl::StatusOr<T>(pqxx::work&)> body) {
    std::optional<T> result;
    absl::Status status = Transact(scope, [&](pqxx::work& work) -> absl::Status {
      absl::StatusOr<T> value = body(work);
      if (!value.ok()) return value.status();
      result.emplace(*std::move(value));
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return *std::move(result);
  }

  template <typename T>
  absl::StatusOr<T> Transact(const TenantScope& scope, absl::Duration statement_timeout,
                             absl::FunctionRef<absl::StatusOr<T>(pqxx::work&)> body) {
    std::optional<T> result;
    absl::Status status = Transact(scope, statement_timeout, [&](pqxx::work& work) -> absl::Status {
      absl::StatusOr<T> value = body(work);
      if (!value.ok()) return value.status();
      result.emplace(*std::move(value));
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return *std::move(result);
  }

  // Checks that the database answers, on a connection of its own so a busy pool does not look like an outage.
  absl::Status Ping();

  // Connects once and checks the role as verify_serving_role does: FAILED_PRECONDITION for an unsafe role,
  // UNAVAILABLE when the database cannot be reached (the check then runs on every later connection).
  absl::Status VerifyServingRole();

  const Options& options() const { return options_; }

 private:
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire();
  void Release(std::unique_ptr<pqxx::connection> connection, bool healthy);
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect();

  const Options options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<std::string, std::string>> statements_ ABSL_GUARDED_BY(mu_);
  absl::Mutex ping_mu_;
  std::unique_ptr<pqxx::connection> ping_connection_ ABSL_GUARDED_BY(ping_mu_);
};

}  // namespace parkbase
