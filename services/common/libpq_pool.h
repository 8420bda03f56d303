// A bounded pool of raw libpq connections for hot paths that move large binary values: libpqxx 6.4 sends and
// receives bytea as hex text and keeps its PGconn private, which costs more than the rest of the ingest path.
// The rules are DbPool's: every transaction first sets the tenant scope and the statement timeout, so row-level
// security applies exactly as it does to libpqxx code, and driver errors are mapped to statuses here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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
    // As DbPool::Options::verify_serving_role.
    bool verify_serving_role = false;
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

 private:
  absl::Status Run(const TenantScope& scope, const char* begin,
                   absl::FunctionRef<absl::Status(LibpqSession&)> body);
  absl::StatusOr<pg_conn*> Acquire();
  void Release(pg_conn* connection, bool healthy);

  const Options options_;
  absl::Mutex mu_;
  std::vector<pg_conn*> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace parkbase
