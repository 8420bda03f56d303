#include "common/migrations.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/db.h"
#include "common/log.h"

namespace parkbase {
namespace {

// An arbitrary constant shared by every Parkbase binary: the advisory lock that serialises migration runs.
constexpr int64_t kMigrationLockId = 0x5061726b62617365;  // "Parkbase"

}  // namespace

absl::StatusOr<MigrationReport> ApplyMigrations(const std::string& database_url,
                                                const std::vector<const std::vector<Migration>*>& sets) {
  MigrationReport report;
  try {
    pqxx::connection connection(database_url);
    {
      pqxx::nontransaction session(connection);
      session.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockId);
      session.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "  service text NOT NULL, version integer NOT NULL, name text NOT NULL, checksum text NOT NULL,"
          "  applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (service, version))");
    }
    for (const auto* set : sets) {
      for (const Migration& migration : *set) {
        const std::string label = absl::StrCat(migration.service, "/", migration.name);
        const std::string checksum = Sha256Hex(migration.sql);
        pqxx::work work(connection);
        pqxx::result existing = work.exec_params(
            "SELECT checksum FROM schema_migrations WHERE service = $1 AND version = $2", migration.service,
            migration.version);
        if (!existing.empty()) {
          if (existing[0][0].as<std::string>() != checksum) {
            return absl::FailedPreconditionError(
                absl::StrCat("migration ", label, " was changed after it was applied; add a new migration instead"));
          }
          report.skipped.push_back(label);
          continue;
        }
        work.exec(migration.sql);
        work.exec_params("INSERT INTO schema_migrations (service, version, name, checksum) VALUES ($1, $2, $3, $4)",
                         migration.service, migration.version, migration.name, checksum);
        work.commit();
        LogLine(LogLevel::kInfo, "migration applied").Str("migration", label).Emit();
        report.applied.push_back(label);
      }
    }
    pqxx::nontransaction session(connection);
    session.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockId);
  } catch (const std::exception& error) {
    LogLine(LogLevel::kError, "migration failed").Str("error", error.what()).Emit();
    if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) {
      return absl::UnavailableError(absl::StrCat("migrate: cannot reach the database: ", error.what()));
    }
    return absl::InternalError(absl::StrCat("migrate: ", error.what()));
  }
  return report;
}

}  // namespace parkbase
