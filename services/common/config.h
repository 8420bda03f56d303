// Server configuration: absl flags, each also settable through a PARKBASE_<FLAG> environment variable (the
// command line wins). Validated once at start-up so a bad deployment fails before it serves a call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

ABSL_DECLARE_FLAG(std::string, listen);
ABSL_DECLARE_FLAG(std::string, health_listen);
ABSL_DECLARE_FLAG(std::string, metrics_listen);
ABSL_DECLARE_FLAG(std::string, database_url);
ABSL_DECLARE_FLAG(std::string, redis_url);
ABSL_DECLARE_FLAG(std::string, park_code);
ABSL_DECLARE_FLAG(std::string, tls_cert_file);
ABSL_DECLARE_FLAG(std::string, tls_key_file);
ABSL_DECLARE_FLAG(std::string, page_token_secret);
ABSL_DECLARE_FLAG(int32_t, db_pool_size);
ABSL_DECLARE_FLAG(int32_t, statement_timeout_ms);
ABSL_DECLARE_FLAG(int32_t, drain_seconds);
ABSL_DECLARE_FLAG(int32_t, max_message_bytes);
ABSL_DECLARE_FLAG(int32_t, server_threads);
ABSL_DECLARE_FLAG(std::string, log_level);
ABSL_DECLARE_FLAG(int32_t, telemetry_compaction_interval_ms);
ABSL_DECLARE_FLAG(int32_t, telemetry_retention_interval_s);

namespace parkbase {

struct ServerConfig {
  std::string listen;
  std::string health_listen;
  std::string metrics_listen;
  std::string database_url;
  std::string redis_url;
  std::string park_code = "1";
  std::string tls_cert_file;
  std::string tls_key_file;
  // Empty means "generate one": fine for one replica, and start-up warns that replicas must share one.
  std::string page_token_secret;
  int db_pool_size = 8;
  absl::Duration statement_timeout = absl::Seconds(5);
  absl::Duration drain = absl::Seconds(5);
  int max_message_bytes = 16 << 20;
  int server_threads = 32;
  std::string log_level = "info";
  // Telemetry background work; zero turns it off (tests run it on demand).
  absl::Duration telemetry_compaction_interval = absl::Seconds(2);
  absl::Duration telemetry_retention_interval = absl::Hours(1);
};

// Sets flags from PARKBASE_* environment variables. An environment variable that names no flag of this binary is
// an error (a typo must not silently leave a default in force), except the names the tools and tests use:
// PARKBASE_TEST_*, PARKBASE_BUILD_DIR, PARKBASE_FUZZ_SECONDS, PARKBASE_SOAK_SECONDS, and the command line's
// PARKBASE_ADDRESS, PARKBASE_KEY and PARKBASE_OUTPUT.
absl::Status ApplyEnvironmentToFlags();

// Reads and validates the server flags.
absl::StatusOr<ServerConfig> ServerConfigFromFlags();

// Checks one config; exposed for tests.
absl::Status ValidateServerConfig(const ServerConfig& config);

}  // namespace parkbase
