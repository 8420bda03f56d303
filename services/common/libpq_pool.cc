#include "common/libpq_pool.h"

#include <endian.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/pool_metrics.h"

namespace parkbase {
namespace {

// Every transaction's first statement: the tenant scope row-level security reads, and the statement timeout.
constexpr char kScopeSql[] =
    "SELECT set_config('parkbase.tenant_id', $1, true), set_config('parkbase.scope', $2, true), "
    "set_config('statement_timeout', $3, true)";
// Read's first statement: the same scope, and the transaction made read-only (what BEGIN READ ONLY does; setting
// it is allowed before the first query). Prepared under a name a pool's other statements must not use.
constexpr char kReadScopeName[] = "parkbase_read_scope";
constexpr char kReadScopeSql[] =
    "SELECT set_config('parkbase.tenant_id', $1, true), set_config('parkbase.scope', $2, true), "
    "set_config('statement_timeout', $3, true), set_config('transaction_read_only', 'on', true)";
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

int16_t PgRows::Int16(int row, int column) const {
  if (IsNull(row, column) || PQgetlength(result_, row, column) != 2) return 0;
  uint16_t big;
  std::memcpy(&big, PQgetvalue(result_, row, column), sizeof(big));
  return static_cast<int16_t>(be16toh(big));
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
  if (options_.metrics != nullptr) options_.metrics->AddCapacity(options_.size);
}

LibpqPool::~LibpqPool() {
  if (options_.metrics != nullptr) options_.metrics->AddCapacity(-options_.size);
  absl::MutexLock lock(&mu_);
  for (const auto& connection : idle_) PQfinish(connection->connection);
}

absl::StatusOr<std::unique_ptr<LibpqPool::Connection>> LibpqPool::Acquire() {
  PoolMetrics* const metrics = options_.metrics.get();
  absl::Duration waited;
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.size;
    };
    if (!AwaitFreeConnection(mu_, absl::Condition(&available), options_.acquire_timeout, metrics, waited)) {
      return absl::UnavailableError(absl::StrCat("database: all ", options_.size, " ingest connections busy for ",
                                                 absl::FormatDuration(options_.acquire_timeout), "; retry later"));
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (metrics != nullptr) metrics->Acquired(waited);
      return connection;
    }
    ++open_;
  }
  // Read per connection, as DbPool does: a rotated password reaches new connections without a restart.
  absl::StatusOr<std::string> conninfo = ConninfoFor(options_.url, options_.password_file);
  if (!conninfo.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return conninfo.status();
  }
  pg_conn* connection = PQconnectdb(conninfo->c_str());
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
  auto pooled = std::make_unique<Connection>();
  pooled->connection = connection;
  if (metrics != nullptr) metrics->Acquired(waited);
  return pooled;
}

void LibpqPool::Release(std::unique_ptr<Connection> connection, bool healthy) {
  if (options_.metrics != nullptr) options_.metrics->Returned();
  pg_conn* raw = connection->connection;
  const bool reusable = healthy && PQstatus(raw) == CONNECTION_OK && PQtransactionStatus(raw) == PQTRANS_IDLE &&
                        PQpipelineStatus(raw) == PQ_PIPELINE_OFF;
  absl::MutexLock lock(&mu_);
  if (reusable) {
    idle_.push_back(std::move(connection));
  } else {
    PQfinish(raw);
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
  absl::StatusOr<std::unique_ptr<Connection>> acquired = Acquire();
  if (!acquired.ok()) return acquired.status();
  pg_conn* connection = (*acquired)->connection;
  LibpqSession session(connection);
  absl::Status status = session.Exec(begin).status();
  if (status.ok()) {
    status = session
                 .Exec(kScopeSql,
                       {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(scope.park_wide ? "park" : "tenant"),
                        PgParam::Bytes(absl::StrCat(absl::ToInt64Milliseconds(options_.statement_timeout)))})
                 .status();
  }
  if (status.ok()) status = body(session);
  if (status.ok()) {
    absl::Status committed = session.Exec("COMMIT").status();
    if (!committed.ok() && PQstatus(connection) != CONNECTION_OK) {
      committed = absl::UnavailableError("database: the commit's outcome is unknown; retry idempotently");
    }
    status = committed;
  } else if (PQstatus(connection) == CONNECTION_OK) {
    PGresult* rollback = PQexec(connection, "ROLLBACK");
    if (rollback != nullptr) PQclear(rollback);
  }
  Release(*std::move(acquired), true);
  return status;
}

absl::StatusOr<PgRows> LibpqPool::ReadOne(const TenantScope& scope, const PgStatement& statement,
                                          std::vector<PgParam> params) {
  std::vector<PgQuery> queries;
  queries.push_back(PgQuery{&statement, std::move(params)});
  absl::StatusOr<std::vector<PgRows>> rows = Read(scope, queries);
  if (!rows.ok()) return rows.status();
  return std::move(rows->front());
}

absl::StatusOr<std::vector<PgRows>> LibpqPool::Read(const TenantScope& scope, const std::vector<PgQuery>& queries) {
  absl::StatusOr<std::unique_ptr<Connection>> acquired = Acquire();
  if (!acquired.ok()) return acquired.status();
  bool healthy = true;
  absl::StatusOr<std::vector<PgRows>> rows = Pipeline(**acquired, scope, queries, healthy);
  Release(*std::move(acquired), healthy);
  return rows;
}

absl::StatusOr<std::vector<PgRows>> LibpqPool::Pipeline(Connection& pooled, const TenantScope& scope,
                                                        const std::vector<PgQuery>& queries, bool& healthy) {
  pg_conn* connection = pooled.connection;
  // What each queued command's result means, in the order they are sent.
  struct Step {
    enum Kind { kPrepare, kControl, kRows } kind;
    const char* name = nullptr;  // kPrepare: the statement now prepared
    size_t query = 0;            // kRows: the index of its query
  };
  std::vector<Step> steps;
  // The connection is closed after this (healthy = false), whatever state it was left in.
  auto lost = [&]() -> absl::Status {
    healthy = false;
    LogLine(LogLevel::kWarning, "database read pipeline broke off").Str("error", PQerrorMessage(connection)).Emit();
    return absl::UnavailableError("database: connection lost; retry the call");
  };
  if (PQenterPipelineMode(connection) != 1) return lost();

  bool sent = true;
  auto prepare = [&](const PgStatement& statement) {
    if (pooled.prepared.contains(statement.name)) return;
    for (const Step& queued : steps) {
      if (queued.kind == Step::kPrepare && std::strcmp(queued.name, statement.name) == 0) return;
    }
    sent = sent && PQsendPrepare(connection, statement.name, statement.sql, 0, nullptr) == 1;
    steps.push_back(Step{Step::kPrepare, statement.name});
  };
  auto execute = [&](const PgStatement& statement, const std::vector<PgParam>& params, Step step) {
    std::vector<const char*> values(params.size());
    std::vector<int> lengths(params.size());
    std::vector<int> formats(params.size(), 1);
    for (size_t i = 0; i < params.size(); ++i) {
      values[i] = params[i].bytes.data();
      lengths[i] = static_cast<int>(params[i].bytes.size());
    }
    sent = sent && PQsendQueryPrepared(connection, statement.name, static_cast<int>(params.size()), values.data(),
                                       lengths.data(), formats.data(), /*resultFormat=*/1) == 1;
    steps.push_back(step);
  };
  const PgStatement set_scope{kReadScopeName, kReadScopeSql};
  prepare(set_scope);
  for (const PgQuery& query : queries) prepare(*query.statement);
  execute(set_scope,
          {PgParam::Bytes(scope.tenant_id), PgParam::Bytes(scope.park_wide ? "park" : "tenant"),
           PgParam::Bytes(absl::StrCat(absl::ToInt64Milliseconds(options_.statement_timeout)))},
          Step{Step::kControl});
  for (size_t i = 0; i < queries.size(); ++i) {
    execute(*queries[i].statement, queries[i].params, Step{Step::kRows, nullptr, i});
  }
  sent = sent && PQpipelineSync(connection) == 1;
  if (!sent) return lost();

  // Each queued command answers with its result (PGRES_PIPELINE_ABORTED once an earlier one failed) and a null;
  // the sync answers last. Anything else means the connection broke.
  absl::Status first_error;
  std::vector<std::optional<PgRows>> results(queries.size());
  for (const Step& step : steps) {
    PGresult* result = PQgetResult(connection);
    if (result == nullptr) return lost();
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      if (step.kind == Step::kPrepare) pooled.prepared.insert(step.name);
      if (step.kind == Step::kRows) {
        results[step.query].emplace(result);
        result = nullptr;
      }
    } else if (status != PGRES_PIPELINE_ABORTED && first_error.ok()) {
      first_error = StatusFromResult(connection, result);
      if (first_error.ok()) first_error = absl::InternalError("database: a read failed without an error");
    }
    if (result != nullptr) PQclear(result);
    if (PQstatus(connection) != CONNECTION_OK) return lost();
    PGresult* end = PQgetResult(connection);
    if (end != nullptr) {
      PQclear(end);
      return lost();
    }
  }
  PGresult* sync = PQgetResult(connection);
  const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync != nullptr) PQclear(sync);
  if (!synced || PQexitPipelineMode(connection) != 1) return lost();
  if (!first_error.ok()) return first_error;
  std::vector<PgRows> rows;
  rows.reserve(results.size());
  for (auto& result : results) {
    if (!result.has_value()) return absl::InternalError("database: a read returned no result");
    rows.push_back(*std::move(result));
  }
  return rows;
}

}  // namespace parkbase
