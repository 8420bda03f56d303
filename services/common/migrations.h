// Forward-only SQL migrations, numbered per service and compiled into the binaries
// (parkbase_embed_migrations in cmake/Parkbase.cmake). Each runs once, in its own transaction, recorded with a
// checksum in `schema_migrations`; a PostgreSQL advisory lock makes concurrent runs (several pods of a
// pre-upgrade hook) take turns, so applying twice or at once is safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace parkbase {

struct Migration {
  std::string service;
  int version = 0;
  std::string name;
  std::string sql;
};

struct MigrationReport {
  std::vector<std::string> applied;   // "tenant/0001_tenants"
  std::vector<std::string> skipped;   // already there
};

// Applies `sets` in order (a service's schema may refer to an earlier one's). A migration already applied with a
// different checksum is FAILED_PRECONDITION: history must not be edited.
absl::StatusOr<MigrationReport> ApplyMigrations(const std::string& database_url,
                                                const std::vector<const std::vector<Migration>*>& sets);

}  // namespace parkbase
