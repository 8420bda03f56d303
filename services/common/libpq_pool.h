// A bounded pool of raw libpq connections for hot paths that move large binary values: libpqxx 6.4 sends and
// receives bytea as hex text and keeps its PGconn private, which costs more than the rest of the ingest path.
// The rules are DbPool's: every transaction first sets the tenant scope and the statement timeout, so row-level
// security applies exactly as it does to libpqxx code, and driver errors are mapped to statuses here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/db.h"

struct pg_conn;
struct pg_result;

namespace parkbase {

class PoolMetrics;

// A parameter sent in binary form: int8 and bytea/text bytes. The pointed-to bytes must outlive the call.
struct PgParam {
  static PgParam Int64(int64_t value);
  static PgParam Int32(int32_t value);
  static PgParam Bytes(absl::string_view bytes);  // bytea or text (text in binary form is its UTF-8 bytes)

  PgParam() = default;
  // A copy of an integer parameter points at its own bytes, so parameter lists can be kept in variables.
  PgParam(const PgParam& other) : storage(other.storage), bytes(other.OwnsBytes() ? storage : other.bytes) {}
  PgParam& operator=(const PgParam& other) {
    storage = other.storage;
    bytes = other.OwnsBytes() ? absl::string_view(storage) : other.bytes;
    return *this;
  }

  std::string storage;  // big-endian integer bytes
  absl::string_view bytes;

 private:
  bool OwnsBytes() const { return !storage.empty() && bytes.data() == storage.data(); }
};

// A statement that LibpqPool::Read prepares by `name` on each connection the first time it runs there. Names are
// per pool: one name, one SQL text.
struct PgStatement {
  const char* name;
  const char* sql;
};

// One statement of a pipelined read and its binary parameters.
struct PgQuery {
  const PgStatement* statement;
  std::vector<PgParam> params;
};

// A query result with binary columns.
class PgRows {
 public:
  explicit PgRows(pg_result* result);
  ~PgRows();
  PgRows(PgRows&& other) noexcept;
  PgRows& operator=(PgRows&&) = delete;
  PgRows(const PgRows&) = delete;

  int size() const;
  bool IsNull(int row, int column) const;
  int64_t Int64(int row, int column) const;  // int8 column
  int32_t Int32(int row, int column) const;  // int4 column
  int16_t Int16(int row, int column) const;  // int2 column
  absl::string_view Bytes(int row, int column) const;  // bytea or text
  // Rows changed by an INSERT, UPDATE or DELETE.
  int64_t affected() const;

 private:
  pg_result* result_;
};

class LibpqSession {
 public:
  explicit LibpqSession(pg_conn* connection) : connection_(connection) {}
  // Runs one statement with binary parameters and binary results. Errors become statuses (and poison the
  // transaction, as in PostgreSQL).
  absl::StatusOr<PgRows> Exec(const char* sql, const std::vector<PgParam>& params = {});

 private:
  pg_conn* connection_;
};

class LibpqPool {
 public:
  struct Options {
    std::string url;
    int size = 4;
    absl::Duration statement_timeout = absl::Seconds(5);
    absl::Duration acquire_timeout = absl::Seconds(5);
    // As DbPool::Options::metrics.
    std::shared_ptr<PoolMetrics> metrics = nullptr;
    // As DbPool::Options::verify_serving_role.
    bool verify_serving_role = false;
    // As DbPool::Options::password_file.
    std::string password_file = {};
  };

  explicit LibpqPool(Options options);
  ~LibpqPool();
  LibpqPool(const LibpqPool&) = delete;
  LibpqPool& operator=(const LibpqPool&) = delete;

  // Runs `body` in one transaction under `scope`; commits only if it returns OK. A commit whose outcome is
  // unknown (connection lost during COMMIT) is UNAVAILABLE, so the caller retries idempotently.
  absl::Status Transact(const TenantScope& scope, absl::FunctionRef<absl::Status(LibpqSession&)> body);
  // As Transact, but REPEATABLE READ, READ ONLY: every statement sees one snapshot.
  absl::Status ReadSnapshot(const TenantScope& scope, absl::FunctionRef<absl::Status(LibpqSession&)> body);

  // Runs `queries` in one read-only transaction under `scope` in one round trip: the scope and statement timeout
  // (set_config, as every transaction here) and the queries are sent together in libpq's pipeline mode and run
  // as the pipeline's implicit transaction, which its sync commits (or rolls back after an error). The scope is
  // set in that transaction before the first query, so row-level security binds exactly as in Transact; a failed
  // scope skips every query. READ COMMITTED: each query takes its own snapshot (ReadSnapshot shares one).
  // Statements are prepared on first use per connection. One result per query, in order; the first error fails
  // the read (statement timeout DEADLINE_EXCEEDED, lost connection UNAVAILABLE), and the connection is left idle
  // or closed, never mid-pipeline or mid-transaction.
  absl::StatusOr<std::vector<PgRows>> Read(const TenantScope& scope, const std::vector<PgQuery>& queries);
  absl::StatusOr<PgRows> ReadOne(const TenantScope& scope, const PgStatement& statement,
                                 std::vector<PgParam> params);

 private:
  // A pooled connection and the statements prepared on it (only its holder touches the set).
  struct Connection {
    pg_conn* connection = nullptr;
    absl::flat_hash_set<std::string> prepared;
  };
  absl::StatusOr<std::vector<PgRows>> Pipeline(Connection& connection, const TenantScope& scope,
                                                const std::vector<PgQuery>& queries, bool& healthy);
  absl::Status Run(const TenantScope& scope, const char* begin,
                   absl::FunctionRef<absl::Status(LibpqSession&)> body);
  absl::StatusOr<std::unique_ptr<Connection>> Acquire();
  void Release(std::unique_ptr<Connection> connection, bool healthy);

  const Options options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace parkbase
