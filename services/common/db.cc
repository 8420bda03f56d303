#include "common/db.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/pool_metrics.h"
#include "common/secret_file.h"

namespace parkbase {
namespace {

// libpq waits forever for an unreachable host unless told otherwise; a probe or a call must fail within seconds.
constexpr char kConnectTimeoutSeconds[] = "3";

void ApplyScope(pqxx::work& work, const TenantScope& scope, absl::Duration statement_timeout) {
  work.exec_params("SELECT set_config('parkbase.tenant_id', $1, true), set_config('parkbase.scope', $2, true), "
                   "set_config('statement_timeout', $3, true)",
                   scope.tenant_id, scope.park_wide ? "park" : "tenant",
                   absl::StrCat(absl::ToInt64Milliseconds(statement_timeout)));
}

}  // namespace

std::string ConninfoWithPassword(absl::string_view conninfo, absl::string_view password) {
  std::string result(conninfo);
  if (absl::StartsWith(conninfo, "postgresql://") || absl::StartsWith(conninfo, "postgres://")) {
    // RFC 3986 unreserved characters pass; everything else is %XX, which libpq decodes in URI parameters.
    constexpr char kHex[] = "0123456789ABCDEF";
    std::string encoded;
    for (const unsigned char c : password) {
      if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
        encoded += static_cast<char>(c);
      } else {
        encoded += '%';
        encoded += kHex[c >> 4];
        encoded += kHex[c & 0xF];
      }
    }
    absl::StrAppend(&result, absl::StrContains(conninfo, '?') ? "&" : "?", "password=", encoded);
    return result;
  }
  std::string quoted;
  for (const char c : password) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  absl::StrAppend(&result, result.empty() ? "" : " ", "password='", quoted, "'");
  return result;
}

absl::StatusOr<std::string> ConninfoFor(const std::string& url, const std::string& password_file) {
  if (password_file.empty()) return url;
  absl::StatusOr<std::string> password = ReadSecretFile(password_file);
  if (!password.ok()) return password.status();
  return ConninfoWithPassword(url, *password);
}

std::string PgTextArray(const std::vector<std::string>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  return literal;
}

std::string PgInt64Array(const std::vector<int64_t>& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

std::string SqlState(const std::exception& error) {
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error); sql != nullptr && !sql->sqlstate().empty()) {
    return sql->sqlstate();
  }
  // libpqxx 6.4 throws these classes without the SQLSTATE it chose them by (its result.cxx), and the rollback ones
  // are not even sql_errors: give the code back, or a serialization failure would never become ABORTED.
  if (dynamic_cast<const pqxx::serialization_failure*>(&error) != nullptr) return "40001";
  if (dynamic_cast<const pqxx::deadlock_detected*>(&error) != nullptr) return "40P01";
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&error) != nullptr) return "40003";
  if (dynamic_cast<const pqxx::transaction_rollback*>(&error) != nullptr) return "40000";
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&error) != nullptr) return "42501";
  if (dynamic_cast<const pqxx::unique_violation*>(&error) != nullptr) return "23505";
  if (dynamic_cast<const pqxx::foreign_key_violation*>(&error) != nullptr) return "23503";
  if (dynamic_cast<const pqxx::not_null_violation*>(&error) != nullptr) return "23502";
  if (dynamic_cast<const pqxx::check_violation*>(&error) != nullptr) return "23514";
  if (dynamic_cast<const pqxx::restrict_violation*>(&error) != nullptr) return "23001";
  if (dynamic_cast<const pqxx::disk_full*>(&error) != nullptr) return "53100";
  if (dynamic_cast<const pqxx::out_of_memory*>(&error) != nullptr) return "53200";
  if (dynamic_cast<const pqxx::insufficient_resources*>(&error) != nullptr) return "53000";
  return "";
}

absl::Status TranslateDbError(const std::exception& error) {
  if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) {
    LogLine(LogLevel::kWarning, "database connection lost").Str("error", error.what()).Emit();
    return absl::UnavailableError("database: connection lost; retry the call");
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr) {
    LogLine(LogLevel::kError, "database commit in doubt").Str("error", error.what()).Emit();
    return absl::UnavailableError("database: the commit's outcome is unknown; retry idempotently");
  }
  return StatusForSqlState(SqlState(error), error.what());
}

absl::Status StatusForSqlState(absl::string_view state, absl::string_view text) {
  if (state == "40001" || state == "40P01") {
    return absl::AbortedError("database: transaction conflicted with another; retry it");
  }
  if (state == "57014") return absl::DeadlineExceededError("database: statement timed out");
  if (absl::StartsWith(state, "08") || absl::StartsWith(state, "53") || state == "57P01" || state == "57P03") {
    LogLine(LogLevel::kWarning, "database unavailable").Str("sqlstate", state).Str("error", text).Emit();
    return absl::UnavailableError("database: unavailable; retry the call");
  }
  LogLine(LogLevel::kError, "database error").Str("sqlstate", state).Str("error", text).Emit();
  return absl::InternalError(absl::StrCat("database error ", state, ": ", text));
}

absl::Status ServingRoleProblem(absl::string_view superuser, absl::string_view bypass_rls,
                                absl::string_view owned_tables) {
  std::vector<std::string> problems;
  if (superuser == "true") problems.push_back("is a superuser");
  if (bypass_rls == "true") problems.push_back("has BYPASSRLS");
  if (!owned_tables.empty()) problems.push_back(absl::StrCat("owns (or may act as the owner of) ", owned_tables));
  if (problems.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "--database_url: the serving role ", absl::StrJoin(problems, " and "),
      ", so row-level security would not bind it; serve with a role that owns no table, is no superuser and has no "
      "BYPASSRLS, and run migrations as the owner (docs/operations.md)"));
}

DbPool::DbPool(Options options) : options_(std::move(options)) {
  ::setenv("PGCONNECT_TIMEOUT", kConnectTimeoutSeconds, /*overwrite=*/0);
  if (options_.metrics != nullptr) options_.metrics->AddCapacity(options_.size);
}

DbPool::~DbPool() {
  if (options_.metrics != nullptr) options_.metrics->AddCapacity(-options_.size);
}

void DbPool::Prepare(std::string name, std::string sql) {
  absl::MutexLock lock(&mu_);
  statements_.emplace_back(std::move(name), std::move(sql));
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> DbPool::Connect() {
  std::vector<std::pair<std::string, std::string>> statements;
  {
    absl::MutexLock lock(&mu_);
    statements = statements_;
  }
  // Read per connection: after a password rotation, new connections use the new one while open ones carry on.
  absl::StatusOr<std::string> conninfo = ConninfoFor(options_.url, options_.password_file);
  if (!conninfo.ok()) return conninfo.status();
  try {
    auto connection = std::make_unique<pqxx::connection>(*conninfo);
    if (options_.verify_serving_role) {
      pqxx::nontransaction work(*connection);
      pqxx::result role = work.exec(kServingRoleCheckSql);
      if (role.empty()) return absl::FailedPreconditionError("--database_url: the serving role is not in pg_roles");
      absl::Status safe = ServingRoleProblem(role[0][0].c_str(), role[0][1].c_str(), role[0][2].c_str());
      if (!safe.ok()) {
        LogLine(LogLevel::kError, "unsafe serving role").Str("error", safe.message()).Emit();
        return safe;
      }
    }
    for (const auto& [name, sql] : statements) connection->prepare(name, sql);
    return connection;
  } catch (const std::exception& error) {
    LogLine(LogLevel::kWarning, "database connect failed").Str("error", error.what()).Emit();
    return absl::UnavailableError("database: cannot connect; retry the call");
  }
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> DbPool::Acquire() {
  PoolMetrics* const metrics = options_.metrics.get();
  absl::Duration waited;
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.size;
    };
    if (!AwaitFreeConnection(mu_, absl::Condition(&available), options_.acquire_timeout, metrics, waited)) {
      return absl::UnavailableError(absl::StrCat("database: all ", options_.size, " connections busy for ",
                                                 absl::FormatDuration(options_.acquire_timeout), "; retry later"));
    }
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      if (metrics != nullptr) metrics->Acquired(waited);
      return connection;
    }
    ++open_;  // reserve the slot, connect outside the lock
  }
  auto connection = Connect();
  if (!connection.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
  } else if (metrics != nullptr) {
    metrics->Acquired(waited);
  }
  return connection;
}

void DbPool::Release(std::unique_ptr<pqxx::connection> connection, bool healthy) {
  if (options_.metrics != nullptr) options_.metrics->Returned();
  absl::MutexLock lock(&mu_);
  if (healthy && connection->is_open()) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
}

absl::Status DbPool::Transact(const TenantScope& scope, absl::FunctionRef<absl::Status(pqxx::work&)> body) {
  return Transact(scope, options_.statement_timeout, body);
}

absl::Status DbPool::VerifyServingRole() {
  absl::StatusOr<std::unique_ptr<pqxx::connection>> connection = Connect();
  return connection.status();
}

absl::Status DbPool::Transact(const TenantScope& scope, absl::Duration statement_timeout,
                              absl::FunctionRef<absl::Status(pqxx::work&)> body) {
  auto connection = Acquire();
  if (!connection.ok()) return connection.status();
  bool healthy = true;
  absl::Status status;
  try {
    pqxx::work work(**connection);
    ApplyScope(work, scope, statement_timeout);
    status = body(work);
    if (status.ok()) {
      work.commit();
    } else {
      work.abort();
    }
  } catch (const std::exception& error) {
    healthy = dynamic_cast<const pqxx::broken_connection*>(&error) == nullptr &&
              dynamic_cast<const pqxx::in_doubt_error*>(&error) == nullptr;
    status = TranslateDbError(error);
  }
  Release(*std::move(connection), healthy);
  return status;
}

absl::Status DbPool::Ping() {
  absl::MutexLock lock(&ping_mu_);
  try {
    if (ping_connection_ == nullptr || !ping_connection_->is_open()) {
      absl::StatusOr<std::string> conninfo = ConninfoFor(options_.url, options_.password_file);
      if (!conninfo.ok()) return conninfo.status();
      ping_connection_ = std::make_unique<pqxx::connection>(*conninfo);
    }
    pqxx::nontransaction work(*ping_connection_);
    work.exec("SELECT 1");
    return absl::OkStatus();
  } catch (const std::exception& error) {
    ping_connection_.reset();
    return absl::UnavailableError(absl::StrCat("database: ", error.what()));
  }
}

}  // namespace parkbase
