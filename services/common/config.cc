#include "common/config.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include "absl/strings/string_view.h"

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/auth_limits.h"
#include "common/redis.h"
#include "common/static_files.h"

extern char** environ;

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC API address (host:port)");
ABSL_FLAG(std::string, health_listen, "",
          "Optional plaintext address serving only grpc.health.v1 (for kubelet probes when the API port uses TLS)");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9464", "Prometheus /metrics HTTP address; empty disables it");
ABSL_FLAG(std::string, http_listen, "0.0.0.0:8080",
          "REST/JSON address (host:port): every annotated RPC over HTTP/1.1; empty disables it");
ABSL_FLAG(int64_t, http_max_body_bytes, 0,
          "Largest HTTP request body, bytes (413 past it); 0: --max_message_bytes");
ABSL_FLAG(int32_t, http_timeout_ms, 30000,
          "Deadline of the call an HTTP request becomes, and of reading a request or writing an answer, ms");
ABSL_FLAG(std::string, http_cors_origins, "",
          "Comma-separated origins (scheme://host[:port], or *) browsers may call the HTTP API from; empty: none");
ABSL_FLAG(int32_t, http_threads, 2, "I/O threads of the HTTP door, 1 to 64");
ABSL_FLAG(std::string, console_dir, "",
          "Directory of the park console's built files (services/console), served at /console/ by the HTTP door; "
          "empty: no console");
ABSL_FLAG(std::string, database_url, "", "PostgreSQL connection URI (libpq syntax) of the service's login role");
ABSL_FLAG(std::string, redis_url, "", "Redis URL, redis://[:password@]host:port[/db]");
ABSL_FLAG(std::string, park_code, "1", "The park's segment of industrial identifiers, 88.<park_code>.<tenant>/<serial>");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate chain for the API port; set with --tls_key_file");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key for the API port; set with --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificates; when set, the API port requires a client certificate signed by one (mutual TLS)");
ABSL_FLAG(int32_t, tls_refresh_interval_s, 60,
          "How often the TLS certificate, key and client CA files are read again (renewals need no restart), "
          "1 to 86400 seconds");
ABSL_FLAG(std::string, trusted_proxies, "",
          "Comma-separated IP addresses or CIDR ranges of proxies whose x-forwarded-for names the caller");
ABSL_FLAG(int32_t, auth_failures_per_source, 120,
          "Failed authentications one source address may make per window before it is refused, 1 to 1000000");
ABSL_FLAG(int32_t, auth_failures_per_key, 10,
          "Failed authentications with one key id per window before that key id is refused, 1 to 1000000");
ABSL_FLAG(int32_t, auth_failure_window_s, 60, "The window of the failed-authentication limits, seconds, 1 to 86400");
ABSL_FLAG(std::string, page_token_secret, "",
          "Server secret: signs page tokens and keys the sealed answers of request ids; every replica must share it "
          "(empty: a random one per process)");
ABSL_FLAG(std::string, page_token_previous_secret, "",
          "The server secret before the last rotation: page tokens and sealed answers made under it are still "
          "accepted, new ones use --page_token_secret (docs/operations.md, Rotating secrets)");
ABSL_FLAG(std::string, database_password_file, "",
          "File holding the database password, read again for every new connection and overriding the password of "
          "--database_url (a mounted Secret rotates without a restart)");
ABSL_FLAG(std::string, redis_password_file, "",
          "File holding the Redis password, read again for every new connection and overriding the password of "
          "--redis_url");
ABSL_FLAG(int32_t, db_pool_size, 8, "PostgreSQL connections per process, 1 to 256");
ABSL_FLAG(int32_t, redis_pool_size, parkbase::kDefaultRedisPoolSize,
          "Redis connections per process (commands from several threads overlap), 1 to 256");
ABSL_FLAG(bool, auth_cache, true,
          "Cache authenticated API keys in process, invalidated through per-tenant epochs in Redis (needs "
          "--redis_url); false looks every key up in PostgreSQL on every call");
ABSL_FLAG(bool, device_cache, true,
          "Cache devices read by GetDevice in process, invalidated through per-tenant device epochs in Redis, with "
          "the auth cache's epoch check and ttl; false reads every GetDevice from PostgreSQL");
ABSL_FLAG(int32_t, auth_cache_epoch_check_ms, 250,
          "How often a tenant's auth epoch is read from Redis: a revocation reaches every replica within this plus "
          "one round trip; 1 to 750");
ABSL_FLAG(int32_t, auth_cache_ttl_s, 5,
          "Longest life of a cached API key, seconds (the bound when a revocation's epoch bump was lost to a Redis "
          "outage); 1 to 60");
ABSL_FLAG(int32_t, statement_timeout_ms, 5000, "statement_timeout of every database transaction, 100 to 600000");
ABSL_FLAG(int32_t, drain_seconds, 5,
          "After SIGTERM: seconds of NOT_SERVING health before the server stops accepting calls, 0 to 300");
ABSL_FLAG(int32_t, max_message_bytes, 16 << 20, "Largest request message accepted, 1 KiB to 256 MiB");
ABSL_FLAG(int32_t, server_threads, 256, "Most threads serving calls at once, 16 to 4096");
ABSL_FLAG(int32_t, max_streams, 0,
          "Most streaming calls open at once on this server, 0 to 1000000; 0: 16384 (streams that hold a thread are "
          "also bounded by server_threads minus a reserve for unary calls)");
ABSL_FLAG(int32_t, max_streams_per_key, 16, "Most streaming calls one API key may hold open on this server, 1 to 10000");
ABSL_FLAG(int32_t, max_streams_per_tenant, 64,
          "Most streaming calls one tenant's keys may hold open on this server, 1 to 100000");
ABSL_FLAG(int32_t, stream_idle_timeout_s, 300,
          "A client-streaming call (WriteStream, ImportDevices) that sends nothing for this long is ended, 1 to 86400");
ABSL_FLAG(int32_t, stream_max_age_s, 3600, "Every streaming call is ended after this long (clients reconnect), 1 to 604800");
ABSL_FLAG(int32_t, callback_executor_threads, 16,
          "Threads for the blocking work of calls served through gRPC's callback API (Subscribe), 1 to 1024");
ABSL_FLAG(int32_t, keepalive_time_ms, 60000,
          "HTTP/2 keepalive: ping a connection idle this long, 1000 to 86400000 (GRPC_ARG_KEEPALIVE_TIME_MS)");
ABSL_FLAG(int32_t, keepalive_timeout_ms, 20000,
          "HTTP/2 keepalive: close a connection whose ping is unanswered this long, 1000 to 600000");
ABSL_FLAG(bool, keepalive_permit_without_calls, false,
          "HTTP/2 keepalive: ping, and accept clients' pings on, connections with no call open");
ABSL_FLAG(int32_t, keepalive_min_ping_interval_ms, 10000,
          "HTTP/2 keepalive: the shortest interval between a client's pings the server accepts, 1000 to 86400000");
ABSL_FLAG(int64_t, max_parsing_bytes, int64_t{512} << 20,
          "Estimated memory of requests being parsed and held at once, server-wide; 16 MiB to 64 GiB");
ABSL_FLAG(int32_t, bulk_statement_timeout_ms, 60000,
          "statement_timeout of bulk work such as an ImportDevices batch, 1000 to 3600000");
ABSL_FLAG(int64_t, max_scan_bytes, int64_t{256} << 20,
          "Stored telemetry one read (a ReadRange page, an Aggregate) may fetch, bytes; 1 MiB to 16 GiB");
ABSL_FLAG(int64_t, max_scan_points, 50'000'000,
          "Telemetry points one read (a ReadRange page, an Aggregate) may decode; 10000 to 10000000000");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(int32_t, telemetry_compaction_interval_ms, 2000,
          "How often the telemetry compactor folds the ingest log into chunks, 0 (off) or 100 to 3600000");
ABSL_FLAG(int32_t, telemetry_compaction_threads, 0,
          "Threads a telemetry compaction pass decodes, folds and encodes with, 1 to 64; 0: one per core, at most 4");
ABSL_FLAG(int32_t, telemetry_retention_interval_s, 3600,
          "How often telemetry retention drops expired chunks and rollups, 0 (off) or 1 to 86400");
ABSL_FLAG(int64_t, telemetry_backlog_max_points, 20'000'000,
          "Points a tenant may have written but not yet compacted before its telemetry writes are refused "
          "(RESOURCE_EXHAUSTED with RetryInfo), 0 (off) or 1 to 10000000000");
ABSL_FLAG(bool, metrics_tenant_label, true,
          "Whether the telemetry ingest counters carry a tenant label (one series per tenant); false for parks with "
          "thousands of tenants");
ABSL_FLAG(int32_t, marketplace_metering_interval_s, 600,
          "How often the marketplace records each active installation's granted devices for the day, 0 (off) or 1 "
          "to 86400");

namespace parkbase {
namespace {

// Names that tools and clients put in the environment and that servers rightly ignore.
constexpr std::array<absl::string_view, 4> kIgnoredPrefixes = {"PARKBASE_TEST_", "PARKBASE_BUILD_DIR",
                                                               "PARKBASE_FUZZ_", "PARKBASE_SOAK_"};
// The command line's variables (services/parkbase/admin_cli.cc), which a shell may export while servers start.
constexpr std::array<absl::string_view, 8> kClientNames = {"PARKBASE_ADDRESS", "PARKBASE_KEY",     "PARKBASE_OUTPUT",
                                                           "PARKBASE_HTTP_URL", "PARKBASE_CONFIG", "PARKBASE_PROFILE",
                                                           "PARKBASE_TENANT",   "PARKBASE_QUIET"};

bool IsIgnored(absl::string_view name) {
  for (auto prefix : kIgnoredPrefixes) {
    if (absl::StartsWith(name, prefix)) return true;
  }
  for (auto client : kClientNames) {
    if (name == client) return true;
  }
  return false;
}

absl::Status CheckAddress(absl::string_view field, const std::string& address, bool may_be_empty) {
  if (address.empty()) {
    return may_be_empty ? absl::OkStatus()
                        : absl::InvalidArgumentError(absl::StrCat("--", field, ": required (host:port)"));
  }
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(absl::StrCat("--", field, ": must be host:port, got \"", address, "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckRange(absl::string_view field, int64_t value, int64_t low, int64_t high) {
  if (value < low || value > high) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", field, ": must be ", low, " to ", high, ", got ", value));
  }
  return absl::OkStatus();
}

// Flags whose values Abseil's parser acts on itself (reading files or the environment, skipping unknown flags); the
// check below leaves them to it.
bool IsGeneratorFlag(absl::string_view name) {
  return name == "flagfile" || name == "fromenv" || name == "tryfromenv" || name == "undefok";
}

// Abseil's usage flags (--helpshort, --helpon=FILE, --version, ...), which are not flags in its registry: its parser
// recognizes them by name (absl/flags/internal/usage.h, DeduceUsageFlags) and takes a value only after "=".
bool IsUsageFlag(absl::string_view name) {
  return name == "help" || name == "helpfull" || name == "helpshort" || name == "helppackage" || name == "helpon" ||
         name == "helpmatch" || name == "version" || name == "only_check_args";
}

// absl::ParseCommandLine exits 1 on its own at an unknown flag or a value that does not parse, but a usage error
// must exit kExitUsage (2). So every flag argument is checked first, read as ParseCommandLine reads it (Abseil
// 20220623, absl/flags/parse.cc): "-name" or "--name"; "=value", or for a non-boolean flag the next argument;
// "--noname" for a boolean; "--" ends the flags. Checking a value parses it into the flag, which ParseCommandLine
// then does again with the same text.
absl::Status CheckFlagArgumentsImpl(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "-") || arg.empty()) continue;  // a positional argument, or "-"
    absl::ConsumePrefix(&arg, "-");
    if (arg.empty()) break;  // "--": the rest is positional
    const size_t equals = arg.find('=');
    const absl::string_view name = arg.substr(0, equals);
    const bool has_value = equals != absl::string_view::npos;
    if (IsUsageFlag(name)) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    bool negative = false;
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      flag = absl::FindCommandLineFlag(name.substr(2));
      negative = flag != nullptr;
    }
    if (flag == nullptr) return absl::InvalidArgumentError(absl::StrCat("--", name, ": no such flag"));
    const bool is_bool = flag->IsOfType<bool>();
    if (negative && !is_bool) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": --", flag->Name(), " is not a boolean flag"));
    }
    if (negative && has_value) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, ": takes no value (write --", name, " or --", flag->Name(), "=false)"));
    }
    std::string value;
    if (has_value) {
      value = std::string(arg.substr(equals + 1));
    } else if (is_bool) {
      value = negative ? "false" : "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": needs a value (--", name, "=VALUE)"));
    }
    if (IsGeneratorFlag(flag->Name()) || flag->IsRetired()) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag->Name(), ": cannot use '", value, "': ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFlagArguments(int argc, char** argv) { return CheckFlagArgumentsImpl(argc, argv); }

int StreamReserve(int server_threads) { return std::max(8, server_threads / 8); }

int MaxStreams(const ServerConfig& config) {
  return config.max_streams > 0 ? config.max_streams : kDefaultMaxStreams;
}

int MaxThreadStreams(const ServerConfig& config) {
  return std::min(MaxStreams(config), config.server_threads - StreamReserve(config.server_threads));
}

absl::Status ApplyEnvironmentToFlags() {
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    absl::string_view pair(*entry);
    if (!absl::StartsWith(pair, "PARKBASE_")) continue;
    const auto equals = pair.find('=');
    if (equals == absl::string_view::npos) continue;
    const absl::string_view name = pair.substr(0, equals);
    const absl::string_view value = pair.substr(equals + 1);
    const std::string flag_name = absl::AsciiStrToLower(name.substr(absl::string_view("PARKBASE_").size()));
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(flag_name);
    if (flag == nullptr) {
      if (IsIgnored(name)) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("environment ", name, ": no flag --", flag_name, " in this program (misspelt?)"));
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("environment ", name, ": ", error));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateServerConfig(const ServerConfig& config) {
  if (absl::Status s = CheckAddress("listen", config.listen, false); !s.ok()) return s;
  if (absl::Status s = CheckAddress("health_listen", config.health_listen, true); !s.ok()) return s;
  if (absl::Status s = CheckAddress("metrics_listen", config.metrics_listen, true); !s.ok()) return s;
  if (absl::Status s = CheckAddress("http_listen", config.http_listen, true); !s.ok()) return s;
  if (absl::Status s = CheckRange("http_max_body_bytes", config.http_max_body_bytes, 0, int64_t{1} << 30); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("http_timeout_ms", absl::ToInt64Milliseconds(config.http_timeout), 100, 3'600'000);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("http_threads", config.http_threads, 1, 64); !s.ok()) return s;
  for (absl::string_view origin : absl::StrSplit(config.http_cors_origins, ',', absl::SkipWhitespace())) {
    origin = absl::StripAsciiWhitespace(origin);
    if (origin != "*" && !absl::StartsWith(origin, "https://") && !absl::StartsWith(origin, "http://")) {
      return absl::InvalidArgumentError(absl::StrCat("--http_cors_origins: '", origin,
                                                     "' is not an origin (scheme://host[:port]) or *"));
    }
  }
  if (config.database_url.empty()) {
    return absl::InvalidArgumentError("--database_url: required (PARKBASE_DATABASE_URL)");
  }
  if (!config.redis_url.empty() && !absl::StartsWith(config.redis_url, "redis://")) {
    return absl::InvalidArgumentError("--redis_url: must start with redis://");
  }
  if (config.park_code.empty() || config.park_code.size() > 16 ||
      !std::all_of(config.park_code.begin(), config.park_code.end(), absl::ascii_isdigit)) {
    return absl::InvalidArgumentError("--park_code: must be 1 to 16 decimal digits");
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert_file, --tls_key_file: set both or neither");
  }
  if (!config.tls_client_ca_file.empty() && config.tls_cert_file.empty()) {
    return absl::InvalidArgumentError("--tls_client_ca_file: needs --tls_cert_file and --tls_key_file (mutual TLS "
                                      "is TLS with client certificates)");
  }
  if (absl::StatusOr<std::vector<AddressRange>> ranges = ParseAddressRanges("--trusted_proxies", config.trusted_proxies);
      !ranges.ok()) {
    return absl::InvalidArgumentError(ranges.status().message());
  }
  if (absl::Status s = CheckRange("auth_failures_per_source", config.auth_failures_per_source, 1, 1'000'000); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("auth_failures_per_key", config.auth_failures_per_key, 1, 1'000'000); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("auth_failure_window_s", absl::ToInt64Seconds(config.auth_failure_window), 1, 86'400);
      !s.ok()) {
    return s;
  }
  if (!config.page_token_secret.empty() && config.page_token_secret.size() < 16) {
    return absl::InvalidArgumentError("--page_token_secret: must be at least 16 characters");
  }
  if (!config.page_token_previous_secret.empty()) {
    // Without a current secret each process makes up its own, and the previous one would be the only shared one.
    if (config.page_token_secret.empty()) {
      return absl::InvalidArgumentError("--page_token_previous_secret: needs --page_token_secret");
    }
    if (config.page_token_previous_secret.size() < 16) {
      return absl::InvalidArgumentError("--page_token_previous_secret: must be at least 16 characters");
    }
  }
  if (!config.console_dir.empty() && config.http_listen.empty()) {
    return absl::InvalidArgumentError("--console_dir: needs --http_listen (the console is served by the HTTP door)");
  }
  // Checked here too, not only when the HTTP door starts, so a wrong folder is a configuration error (exit 2)
  // before any connection is made.
  if (!config.console_dir.empty()) {
    if (absl::StatusOr<StaticFiles> files = StaticFiles::Open(config.console_dir, "/console/", "console_dir");
        !files.ok()) {
      return files.status();
    }
  }
  if (!config.redis_password_file.empty() && config.redis_url.empty()) {
    return absl::InvalidArgumentError("--redis_password_file: needs --redis_url");
  }
  if (absl::Status s = CheckRange("tls_refresh_interval_s", absl::ToInt64Seconds(config.tls_refresh_interval), 1,
                                  86'400);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("db_pool_size", config.db_pool_size, 1, 256); !s.ok()) return s;
  if (absl::Status s = CheckRange("redis_pool_size", config.redis_pool_size, 1, 256); !s.ok()) return s;
  // 750 ms at most: with a round trip's margin the revocation bound stays within the documented 1 s.
  if (absl::Status s = CheckRange("auth_cache_epoch_check_ms", absl::ToInt64Milliseconds(config.auth_cache_epoch_check),
                                  1, 750);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("auth_cache_ttl_s", absl::ToInt64Seconds(config.auth_cache_ttl), 1, 60); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("statement_timeout_ms", absl::ToInt64Milliseconds(config.statement_timeout), 100,
                                  600000);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("drain_seconds", absl::ToInt64Seconds(config.drain), 0, 300); !s.ok()) return s;
  if (absl::Status s = CheckRange("max_message_bytes", config.max_message_bytes, 1024, 256 << 20); !s.ok()) return s;
  if (absl::Status s = CheckRange("server_threads", config.server_threads, 16, 4096); !s.ok()) return s;
  if (absl::Status s = CheckRange("max_streams", config.max_streams, 0, 1'000'000); !s.ok()) return s;
  if (absl::Status s = CheckRange("callback_executor_threads", config.callback_executor_threads, 1, 1024); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("keepalive_time_ms", absl::ToInt64Milliseconds(config.keepalive_time), 1000,
                                  86'400'000);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("keepalive_timeout_ms", absl::ToInt64Milliseconds(config.keepalive_timeout), 1000,
                                  600'000);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("keepalive_min_ping_interval_ms",
                                  absl::ToInt64Milliseconds(config.keepalive_min_ping_interval), 1000, 86'400'000);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("max_streams_per_key", config.max_streams_per_key, 1, 10'000); !s.ok()) return s;
  if (absl::Status s = CheckRange("max_streams_per_tenant", config.max_streams_per_tenant, 1, 100'000); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("stream_idle_timeout_s", absl::ToInt64Seconds(config.stream_idle_timeout), 1, 86'400);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("stream_max_age_s", absl::ToInt64Seconds(config.stream_max_age), 1, 604'800);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("max_parsing_bytes", config.max_parsing_bytes, int64_t{16} << 20, int64_t{64} << 30);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("max_scan_bytes", config.max_scan_bytes, int64_t{1} << 20, int64_t{16} << 30);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("max_scan_points", config.max_scan_points, 10'000, 10'000'000'000); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("bulk_statement_timeout_ms", absl::ToInt64Milliseconds(config.bulk_statement_timeout),
                                  1000, 3'600'000);
      !s.ok()) {
    return s;
  }
  const int64_t compaction_ms = absl::ToInt64Milliseconds(config.telemetry_compaction_interval);
  if (compaction_ms != 0) {
    if (absl::Status s = CheckRange("telemetry_compaction_interval_ms", compaction_ms, 100, 3'600'000); !s.ok()) {
      return s;
    }
  }
  if (config.telemetry_compaction_threads != 0) {
    if (absl::Status s = CheckRange("telemetry_compaction_threads", config.telemetry_compaction_threads, 1, 64);
        !s.ok()) {
      return s;
    }
  }
  const int64_t retention_s = absl::ToInt64Seconds(config.telemetry_retention_interval);
  if (retention_s != 0) {
    if (absl::Status s = CheckRange("telemetry_retention_interval_s", retention_s, 1, 86'400); !s.ok()) return s;
  }
  if (absl::Status s = CheckRange("telemetry_backlog_max_points", config.telemetry_backlog_max_points, 0,
                                  10'000'000'000);
      !s.ok()) {
    return s;
  }
  const int64_t metering_s = absl::ToInt64Seconds(config.marketplace_metering_interval);
  if (metering_s != 0) {
    if (absl::Status s = CheckRange("marketplace_metering_interval_s", metering_s, 1, 86'400); !s.ok()) return s;
  }
  if (config.log_level != "debug" && config.log_level != "info" && config.log_level != "warning" &&
      config.log_level != "error") {
    return absl::InvalidArgumentError("--log_level: must be debug, info, warning or error");
  }
  return absl::OkStatus();
}

int64_t HttpMaxBodyBytes(const ServerConfig& config) {
  return config.http_max_body_bytes > 0 ? config.http_max_body_bytes : config.max_message_bytes;
}

absl::StatusOr<ServerConfig> ServerConfigFromFlags() {
  ServerConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.health_listen = absl::GetFlag(FLAGS_health_listen);
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  config.http_listen = absl::GetFlag(FLAGS_http_listen);
  config.http_max_body_bytes = absl::GetFlag(FLAGS_http_max_body_bytes);
  config.http_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_http_timeout_ms));
  config.http_cors_origins = absl::GetFlag(FLAGS_http_cors_origins);
  config.http_threads = absl::GetFlag(FLAGS_http_threads);
  config.console_dir = absl::GetFlag(FLAGS_console_dir);
  config.database_url = absl::GetFlag(FLAGS_database_url);
  config.redis_url = absl::GetFlag(FLAGS_redis_url);
  config.park_code = absl::GetFlag(FLAGS_park_code);
  config.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  config.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  config.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  config.tls_refresh_interval = absl::Seconds(absl::GetFlag(FLAGS_tls_refresh_interval_s));
  config.trusted_proxies = absl::GetFlag(FLAGS_trusted_proxies);
  config.auth_failures_per_source = absl::GetFlag(FLAGS_auth_failures_per_source);
  config.auth_failures_per_key = absl::GetFlag(FLAGS_auth_failures_per_key);
  config.auth_failure_window = absl::Seconds(absl::GetFlag(FLAGS_auth_failure_window_s));
  config.page_token_secret = absl::GetFlag(FLAGS_page_token_secret);
  config.page_token_previous_secret = absl::GetFlag(FLAGS_page_token_previous_secret);
  config.database_password_file = absl::GetFlag(FLAGS_database_password_file);
  config.redis_password_file = absl::GetFlag(FLAGS_redis_password_file);
  config.db_pool_size = absl::GetFlag(FLAGS_db_pool_size);
  config.redis_pool_size = absl::GetFlag(FLAGS_redis_pool_size);
  config.auth_cache = absl::GetFlag(FLAGS_auth_cache);
  config.device_cache = absl::GetFlag(FLAGS_device_cache);
  config.auth_cache_epoch_check = absl::Milliseconds(absl::GetFlag(FLAGS_auth_cache_epoch_check_ms));
  config.auth_cache_ttl = absl::Seconds(absl::GetFlag(FLAGS_auth_cache_ttl_s));
  config.statement_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_statement_timeout_ms));
  config.drain = absl::Seconds(absl::GetFlag(FLAGS_drain_seconds));
  config.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  config.server_threads = absl::GetFlag(FLAGS_server_threads);
  config.max_streams = absl::GetFlag(FLAGS_max_streams);
  config.max_streams_per_key = absl::GetFlag(FLAGS_max_streams_per_key);
  config.max_streams_per_tenant = absl::GetFlag(FLAGS_max_streams_per_tenant);
  config.stream_idle_timeout = absl::Seconds(absl::GetFlag(FLAGS_stream_idle_timeout_s));
  config.stream_max_age = absl::Seconds(absl::GetFlag(FLAGS_stream_max_age_s));
  config.callback_executor_threads = absl::GetFlag(FLAGS_callback_executor_threads);
  config.keepalive_time = absl::Milliseconds(absl::GetFlag(FLAGS_keepalive_time_ms));
  config.keepalive_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_keepalive_timeout_ms));
  config.keepalive_permit_without_calls = absl::GetFlag(FLAGS_keepalive_permit_without_calls);
  config.keepalive_min_ping_interval = absl::Milliseconds(absl::GetFlag(FLAGS_keepalive_min_ping_interval_ms));
  config.max_parsing_bytes = absl::GetFlag(FLAGS_max_parsing_bytes);
  config.bulk_statement_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_bulk_statement_timeout_ms));
  config.max_scan_bytes = absl::GetFlag(FLAGS_max_scan_bytes);
  config.max_scan_points = absl::GetFlag(FLAGS_max_scan_points);
  config.telemetry_compaction_interval = absl::Milliseconds(absl::GetFlag(FLAGS_telemetry_compaction_interval_ms));
  config.telemetry_compaction_threads = absl::GetFlag(FLAGS_telemetry_compaction_threads);
  config.telemetry_retention_interval = absl::Seconds(absl::GetFlag(FLAGS_telemetry_retention_interval_s));
  config.telemetry_backlog_max_points = absl::GetFlag(FLAGS_telemetry_backlog_max_points);
  config.metrics_tenant_label = absl::GetFlag(FLAGS_metrics_tenant_label);
  config.marketplace_metering_interval = absl::Seconds(absl::GetFlag(FLAGS_marketplace_metering_interval_s));
  config.log_level = absl::GetFlag(FLAGS_log_level);
  if (absl::Status status = ValidateServerConfig(config); !status.ok()) return status;
  return config;
}

}  // namespace parkbase
