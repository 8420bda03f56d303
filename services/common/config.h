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
ABSL_DECLARE_FLAG(std::string, http_listen);
ABSL_DECLARE_FLAG(int64_t, http_max_body_bytes);
ABSL_DECLARE_FLAG(int32_t, http_timeout_ms);
ABSL_DECLARE_FLAG(std::string, http_cors_origins);
ABSL_DECLARE_FLAG(int32_t, http_threads);
ABSL_DECLARE_FLAG(std::string, console_dir);
ABSL_DECLARE_FLAG(std::string, database_url);
ABSL_DECLARE_FLAG(std::string, redis_url);
ABSL_DECLARE_FLAG(std::string, park_code);
ABSL_DECLARE_FLAG(std::string, tls_cert_file);
ABSL_DECLARE_FLAG(std::string, tls_key_file);
ABSL_DECLARE_FLAG(std::string, tls_client_ca_file);
ABSL_DECLARE_FLAG(int32_t, tls_refresh_interval_s);
ABSL_DECLARE_FLAG(std::string, trusted_proxies);
ABSL_DECLARE_FLAG(int32_t, auth_failures_per_source);
ABSL_DECLARE_FLAG(int32_t, auth_failures_per_key);
ABSL_DECLARE_FLAG(int32_t, auth_failure_window_s);
ABSL_DECLARE_FLAG(std::string, page_token_secret);
ABSL_DECLARE_FLAG(std::string, page_token_previous_secret);
ABSL_DECLARE_FLAG(std::string, database_password_file);
ABSL_DECLARE_FLAG(std::string, redis_password_file);
ABSL_DECLARE_FLAG(int32_t, db_pool_size);
ABSL_DECLARE_FLAG(int32_t, redis_pool_size);
ABSL_DECLARE_FLAG(bool, auth_cache);
ABSL_DECLARE_FLAG(bool, device_cache);
ABSL_DECLARE_FLAG(int32_t, auth_cache_epoch_check_ms);
ABSL_DECLARE_FLAG(int32_t, auth_cache_ttl_s);
ABSL_DECLARE_FLAG(int32_t, statement_timeout_ms);
ABSL_DECLARE_FLAG(int32_t, drain_seconds);
ABSL_DECLARE_FLAG(int32_t, max_message_bytes);
ABSL_DECLARE_FLAG(int32_t, server_threads);
ABSL_DECLARE_FLAG(std::string, log_level);
ABSL_DECLARE_FLAG(int32_t, telemetry_compaction_interval_ms);
ABSL_DECLARE_FLAG(int32_t, telemetry_compaction_threads);
ABSL_DECLARE_FLAG(int32_t, telemetry_retention_interval_s);
ABSL_DECLARE_FLAG(int64_t, telemetry_backlog_max_points);
ABSL_DECLARE_FLAG(bool, metrics_tenant_label);
ABSL_DECLARE_FLAG(int32_t, marketplace_metering_interval_s);
ABSL_DECLARE_FLAG(int32_t, max_streams);
ABSL_DECLARE_FLAG(int32_t, max_streams_per_key);
ABSL_DECLARE_FLAG(int32_t, max_streams_per_tenant);
ABSL_DECLARE_FLAG(int32_t, stream_idle_timeout_s);
ABSL_DECLARE_FLAG(int32_t, stream_max_age_s);
ABSL_DECLARE_FLAG(int32_t, callback_executor_threads);
ABSL_DECLARE_FLAG(int32_t, keepalive_time_ms);
ABSL_DECLARE_FLAG(int32_t, keepalive_timeout_ms);
ABSL_DECLARE_FLAG(bool, keepalive_permit_without_calls);
ABSL_DECLARE_FLAG(int32_t, keepalive_min_ping_interval_ms);
ABSL_DECLARE_FLAG(int64_t, max_parsing_bytes);
ABSL_DECLARE_FLAG(int32_t, bulk_statement_timeout_ms);
ABSL_DECLARE_FLAG(int64_t, max_scan_bytes);
ABSL_DECLARE_FLAG(int64_t, max_scan_points);

namespace parkbase {

struct ServerConfig {
  std::string listen;
  std::string health_listen;
  std::string metrics_listen;
  // The REST/JSON door (common/http_gateway.h); empty: none. It shares the gRPC port's TLS files.
  std::string http_listen;
  // A request body past this is refused with 413; 0: max_message_bytes, the gRPC door's limit.
  int64_t http_max_body_bytes = 0;
  // The deadline of the call an HTTP request becomes, and how long reading a request or writing an answer may take.
  absl::Duration http_timeout = absl::Seconds(30);
  // Comma-separated origins browsers may call the HTTP door from (CORS); empty: none, same-origin only.
  std::string http_cors_origins;
  // I/O threads of the HTTP door: they only parse, route and print JSON; the calls run on gRPC's threads.
  int http_threads = 2;
  std::string database_url;
  std::string redis_url;
  // Set: the password of every new database (Redis) connection is read from this file, overriding the URL's, so
  // a rotated Kubernetes Secret mounted as a file takes effect without a restart (docs/operations.md).
  std::string database_password_file;
  std::string redis_password_file;
  std::string park_code = "1";
  std::string tls_cert_file;
  std::string tls_key_file;
  // Set: mutual TLS, every client presents a certificate signed by one of these CAs.
  std::string tls_client_ca_file;
  // How often the TLS files are read again, so a renewed certificate is served without a restart.
  absl::Duration tls_refresh_interval = absl::Seconds(60);
  // Proxies (CIDR list) whose x-forwarded-for is believed when finding a caller's source address.
  std::string trusted_proxies;
  // Failed authentications allowed per window, per source address and per key id (common/auth_limits.h).
  int auth_failures_per_source = 120;
  int auth_failures_per_key = 10;
  absl::Duration auth_failure_window = absl::Minutes(1);
  // Empty means "generate one": fine for one replica, and start-up warns that replicas must share one.
  std::string page_token_secret;
  // The secret before the last rotation: what it signed or sealed is still accepted, nothing new uses it. A
  // rotation deploys the new secret here first, then swaps the two, so no replica ever refuses another's tokens.
  std::string page_token_previous_secret;
  int db_pool_size = 8;
  // Connections of the server's Redis client (common/redis.h).
  int redis_pool_size = 8;  // kDefaultRedisPoolSize
  // The in-process cache of authenticated keys (common/auth_cache.h); needs Redis, whose per-tenant epochs tell
  // replicas of revocations. The revocation bound is auth_cache_epoch_check plus one Redis round trip; an entry
  // never outlives auth_cache_ttl (the bound when an epoch bump itself was lost to a Redis outage).
  bool auth_cache = true;
  absl::Duration auth_cache_epoch_check = absl::Milliseconds(250);
  absl::Duration auth_cache_ttl = absl::Seconds(5);
  // The in-process cache of GetDevice's reads (device/device_cache.h), with the auth cache's epoch check and ttl:
  // a change on another replica shows within auth_cache_epoch_check plus one Redis round trip.
  bool device_cache = true;
  absl::Duration statement_timeout = absl::Seconds(5);
  absl::Duration drain = absl::Seconds(5);
  int max_message_bytes = 16 << 20;
  int server_threads = 256;
  // Streaming calls (WriteStream, Subscribe, ImportDevices), bounded per API key, per tenant and per server, so one
  // caller's streams never take what other tenants' calls and the health check need. Subscribe holds no thread
  // (callback API) and costs only memory; the streams that still hold a synchronous thread each are bounded by
  // server_threads minus StreamReserve(server_threads) as well. max_streams 0: kDefaultMaxStreams.
  int max_streams = 0;
  int max_streams_per_key = 16;
  int max_streams_per_tenant = 64;
  // A client-streaming call that sends nothing for this long is ended; every stream ends at max age (clients
  // reconnect), which also rebalances long-lived streams across replicas.
  absl::Duration stream_idle_timeout = absl::Minutes(5);
  absl::Duration stream_max_age = absl::Hours(1);
  // Threads of the executor that runs the blocking work (authentication, PostgreSQL, Redis) of calls served through
  // gRPC's callback API, whose own reactor threads must never block (common/executor.h).
  int callback_executor_threads = 16;
  // HTTP/2 keepalive (docs/operations.md): the server pings a connection idle for keepalive_time and drops it when
  // the ping is not answered within keepalive_timeout, so a vanished subscriber's stream is freed; it accepts
  // client pings no more often than keepalive_min_ping_interval, and pings (and accepts pings) on connections
  // without calls only with keepalive_permit_without_calls.
  absl::Duration keepalive_time = absl::Seconds(60);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  bool keepalive_permit_without_calls = false;
  absl::Duration keepalive_min_ping_interval = absl::Seconds(10);
  // Request bytes being parsed and held at once, server-wide (a parsed message takes several times its wire
  // size); calls wait for room, unary calls at most briefly before RESOURCE_EXHAUSTED.
  int64_t max_parsing_bytes = int64_t{512} << 20;
  // statement_timeout of bulk work (an ImportDevices batch), which would not fit an interactive call's budget.
  absl::Duration bulk_statement_timeout = absl::Seconds(60);
  // What one telemetry read (a ReadRange page, an Aggregate) may fetch from PostgreSQL and decode. At ~2.5 bytes
  // a stored point, 256 MiB is ~100M points; decoding 50M points takes a few seconds of a core.
  int64_t max_scan_bytes = int64_t{256} << 20;
  int64_t max_scan_points = 50'000'000;
  std::string log_level = "info";
  // Telemetry background work; zero turns it off (tests run it on demand).
  absl::Duration telemetry_compaction_interval = absl::Seconds(2);
  int telemetry_compaction_threads = 0;  // 0: one per core, at most 4
  absl::Duration telemetry_retention_interval = absl::Hours(1);
  // Back-pressure: a tenant with this many points written but not yet compacted gets RESOURCE_EXHAUSTED with
  // RetryInfo until the compactor catches up (0: off). Ten compaction passes' worth (2M points each, maintenance.cc):
  // twenty 1M-point bursts in a row fit, a writer that outruns the compactor for ~10 s does not (docs/telemetry.md).
  int64_t telemetry_backlog_max_points = 20'000'000;
  // Whether the ingest counters (parkbase_points_ingested_total, _rejected_total, batches refused) carry a tenant
  // label. A park with thousands of tenants turns it off: one series per tenant and reason is more than its
  // Prometheus wants to keep, and per-tenant usage is in the tenant service anyway.
  bool metrics_tenant_label = true;
  // The marketplace's metering pass (zero: off, as in tests, which meter on demand).
  absl::Duration marketplace_metering_interval = absl::Minutes(10);
  // The park console's built files (services/console), served by the HTTP door at /console/; empty: no console.
  std::string console_dir;
};

// Threads kept back from streams when --max_streams is 0: enough for unary calls and health checks to go on while
// every stream slot is taken (gRPC's synchronous server also needs a few threads to poll for new calls).
int StreamReserve(int server_threads);
// The server-wide cap on open streams when --max_streams is 0. A stream served through the callback API costs memory
// only (docs/performance.md measures it per idle Subscribe); this many idle ones fit comfortably in a pod of 1 GiB.
inline constexpr int kDefaultMaxStreams = 16'384;
// The effective server-wide stream cap.
int MaxStreams(const ServerConfig& config);
// The cap on open streams that hold a synchronous server thread each: server_threads minus the reserve.
int MaxThreadStreams(const ServerConfig& config);

// Sets flags from PARKBASE_* environment variables. An environment variable that names no flag of this binary is
// an error (a typo must not silently leave a default in force), except the names the tools and tests use:
// PARKBASE_TEST_*, PARKBASE_BUILD_DIR, PARKBASE_FUZZ_SECONDS, PARKBASE_SOAK_SECONDS, and the command line's
// PARKBASE_ADDRESS, PARKBASE_KEY and PARKBASE_OUTPUT, and PARKBASE_HTTP_URL (the dev script's REST/JSON address).
absl::Status ApplyEnvironmentToFlags();

// absl::ParseCommandLine exits 1 by itself at an unknown flag or a value that does not parse; a usage error must
// exit 2. Checks every flag argument first, reading argv as ParseCommandLine does: INVALID_ARGUMENT naming the
// flag for anything it would refuse.
absl::Status CheckFlagArguments(int argc, char** argv);

// The HTTP door's body limit: http_max_body_bytes, or max_message_bytes when that is 0.
int64_t HttpMaxBodyBytes(const ServerConfig& config);

// Reads and validates the server flags.
absl::StatusOr<ServerConfig> ServerConfigFromFlags();

// Checks one config; exposed for tests.
absl::Status ValidateServerConfig(const ServerConfig& config);

}  // namespace parkbase
