#include "common/libpq_pool.h"

#include <endian.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace parkbase {
namespace {

// The same as DbPool: an unreachable host must fail within seconds.
constexpr char kConnectTimeoutSeconds[] = "3";

absl::Status StatusFromResult(pg_conn* connection, const PGresult* result) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state != nullptr ? state : "";
  const std::string text = result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(connection);
  if (PQstatus(connection) != CONNECTION_OK) {
    LogLine(LogLevel::kWarning, "database connection lost").Str("error", text).Emit();
    return absl::UnavailableError("database: connection lost; retry the call");
  }
  return StatusForSqlState(sqlstate, text);
}

}  // namespace

PgParam PgParam::Int64(int64_t value) {
  PgParam param;
  const uint64_t big = htobe64(static_cast<uint64_t>(value));
  param.storage.assign(reinterpret_cast<const char*>(&big), sizeof(big));
  param.bytes = param.storage;
  return param;
}

PgParam PgParam::Int32(int32_t value) {
  PgParam param;
  const uint32_t big = htobe32(static_cast<uint32_t>(value));
  param.storage.assign(reinterpret_cast<const char*>(&big), sizeof(big));
  param.bytes = param.storage;
  return param;
}

PgParam PgParam::Bytes(absl::string_view bytes) {
  PgParam param;
  param.bytes = bytes;
  return param;
}

PgRows::PgRows(pg_result* result) : result_(result) {}
PgRows::~PgRows() {
  if (result_ != nullptr) PQclear(result_);
}
PgRows::PgRows(PgRows&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }

int PgRows::size() const { return PQntuples(result_); }
bool PgRows::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

int64_t PgRows::Int64(int row, int column) const {
  if (IsNull(row, column) || PQgetlength(result_, row, column) != 8) return 0;
  uint64_t big;
  std::memcpy(&big, PQgetvalue(result_, row, column), sizeof(big));
  return static_cast<int64_t>(be64toh(big));
}

int32_t PgRows::Int32(int row, int column) const {
  if (IsNull(row, column) || PQgetlength(result_, row, column) != 4) return 0;
  uint32_t big;
  std::memcpy(&big, PQgetvalue(result_, row, column), sizeof(big));
  return static_cast<int32_t>(be32toh(big));
}

absl::string_view PgRows::Bytes(int row, int column) const {
  if (IsNull(row, column)) return {};
  return absl::string_view(PQgetvalue(result_, row, column), PQgetlength(result_, row, column));
}

int64_t PgRows::affected() const {
  const char* tuples = PQcmdTuples(result_);
  return tuples != nullptr && *tuples != '\0' ? std::strtoll(tuples, nullptr, 10) : 0;
}

absl::StatusOr<PgRows> LibpqSession::Exec(const char* sql, const std::vector<PgParam>& params) {
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size());
  std::vector<int> formats(params.size(), 1);
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i].bytes.data();
    lengths[i] = static_cast<int>(params[i].bytes.size());
  }
  PGresult* result = PQexecParams(connection_, sql, static_cast<int>(params.size()), nullptr, values.data(),
                                  lengths.data(), formats.data(), /*resultFormat=*/1);
  const ExecStatusType status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    absl::Status error = StatusFromResult(connection_, result);
    if (result != nullptr) PQclear(result);
    return error;
  }
  return PgRows(result);
}

LibpqPool::LibpqPool(Options options) : options_(std::move(options)) {
  ::setenv("PGCONNECT_TIMEOUT", kConnectTimeoutSeconds, /*overwrite=*/0);
}

LibpqPool::~LibpqPool() {
  absl::MutexLock lock(&mu_);
  for (pg_conn* connection : idle_) PQfinish(connection);
}

absl::StatusOr<pg_conn*> LibpqPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.size;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&available), options_.acquire_timeout)) {
      return absl::UnavailableError(absl::StrCat("database: all ", options_.size, " ingest connections busy for ",
                                                 absl::FormatDuration(options_.acquire_timeout), "; retry later"));
    }
    if (!idle_.empty()) {
      pg_conn* connection = idle_.back();
      idle_.pop_back();
      return connection;
    }
    ++open_;
  }
  pg_conn* connection = PQconnectdb(options_.url.c_str());
  if (connection == nullptr || PQstatus(connection) != CONNECTION_OK) {
    LogLine(LogLevel::kWarning, "database connect failed")
        .Str("error", connection != nullptr ? PQerrorMessage(connection) : "out of memory")
        .Emit();
    if (connection != nullptr) PQfinish(connection);
    absl::MutexLock lock(&mu_);
    --open_;
    return absl::UnavailableError("database: cannot connect; retry the call");
  }
  if (options_.verify_serving_role) {
    absl::Status safe = absl::UnavailableError("database: cannot check the serving role; retry the call");
    PGresult* role = PQexec(connection, kServingRoleCheckSql);
    if (role != nullptr && PQresultStatus(role) == PGRES_TUPLES_OK && PQntuples(role) == 1) {
      safe = ServingRoleProblem(PQgetvalue(role, 0, 0), PQgetvalue(role, 0, 1), PQgetvalue(role, 0, 2));
      if (!safe.ok()) LogLine(LogLevel::kError, "unsafe serving role").Str("error", safe.message()).Emit();
    }
    if (role != nullptr) PQclear(role);
    if (!safe.ok()) {
      PQfinish(connection);
      absl::MutexLock lock(&mu_);
      --open_;
      return safe;
    }
  }
  return connection;
}

void LibpqPool::Release(pg_conn* connection, bool healthy) {
  absl::MutexLock lock(&mu_);
  if (healthy && PQstatus(connection) == CONNECTION_OK && PQtransactionStatus(connection) == PQTRANS_IDLE) {
    idle_.push_back(connection);
  } else {
    PQfinish(connection);
    --open_;
  }
}

absl::Status LibpqPool::Transact(const TenantScope& scope, absl::FunctionRef<absl::Status(LibpqSession&)> body) {
  return Run(scope, "BEGIN", body);
}

absl::Status LibpqPool::ReadSnapshot(const TenantScope& scope,
                                     absl::FunctionRef<absl::Status(LibpqSession&)> body) {
  return Run(scope, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body);
}

absl::Status LibpqPool::Run(const TenantScope& scope, const char* begin,
                            absl::FunctionRef<absl::Status(LibpqSession&)> body) {
  absl::StatusOr<pg_conn*> connection = Acquire();
  if (!connection.ok()) return connection.status();
  LibpqSession session(*connection);
  absl::Status status = session.Exec(begin).status();
  if (status.ok()) {
    status = session
                 .Exec("SELECT set_config('parkbase.tenant_id', $1, true), set_config('parkbase.scope', $2, true), "
                       "set_config('statement_timeout', $3, true)",
                       {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(scope.park_wide ? "park" : "tenant"),
                        PgParam::Bytes(absl::StrCat(absl::ToInt64Milliseconds(options_.statement_timeout)))})
                 .status();
  }
  if (status.ok()) status = body(session);
  if (status.ok()) {
    absl::Status committed = session.Exec("COMMIT").status();
    if (!committed.ok() && PQstatus(*connection) != CONNECTION_OK) {
      committed = absl::UnavailableError("database: the commit's outcome is unknown; retry idempotently");
    }
    status = committed;
  } else if (PQstatus(*connection) == CONNECTION_OK) {
    PGresult* rollback = PQexec(*connection, "ROLLBACK");
    if (rollback != nullptr) PQclear(rollback);
  }
  Release(*connection, true);
  return status;
}

}  // namespace parkbase
