#include <cstdlib>

#include <catch2/catch.hpp>

#include "absl/flags/flag.h"
#include "common/config.h"

namespace parkbase {
namespace {

ServerConfig Valid() {
  ServerConfig config;
  config.listen = "127.0.0.1:50051";
  config.metrics_listen = "";
  config.database_url = "postgresql://x@127.0.0.1/db";
  config.park_code = "86";
  return config;
}

TEST_CASE("config: a complete config is accepted", "[config][unit]") { CHECK(ValidateServerConfig(Valid()).ok()); }

TEST_CASE("config: each bad value is refused naming its flag", "[config][unit]") {
  ServerConfig config = Valid();
  std::string flag;
  SECTION("listen without port") { config.listen = "127.0.0.1", flag = "--listen"; }
  SECTION("missing database") { config.database_url = "", flag = "--database_url"; }
  SECTION("redis url scheme") { config.redis_url = "http://x", flag = "--redis_url"; }
  SECTION("park code not digits") { config.park_code = "8a", flag = "--park_code"; }
  SECTION("tls half set") { config.tls_cert_file = "/x.pem", flag = "--tls_cert_file"; }
  SECTION("short secret") { config.page_token_secret = "short", flag = "--page_token_secret"; }
  SECTION("pool size") { config.db_pool_size = 0, flag = "--db_pool_size"; }
  SECTION("threads") { config.server_threads = 1, flag = "--server_threads"; }
  SECTION("log level") { config.log_level = "loud", flag = "--log_level"; }
  SECTION("client CA without TLS") { config.tls_client_ca_file = "/ca.pem", flag = "--tls_client_ca_file"; }
  SECTION("trusted proxies") { config.trusted_proxies = "10.0.0.0/8,proxy.local", flag = "--trusted_proxies"; }
  SECTION("auth failures per source") { config.auth_failures_per_source = 0, flag = "--auth_failures_per_source"; }
  SECTION("auth failures per key") { config.auth_failures_per_key = 0, flag = "--auth_failures_per_key"; }
  SECTION("auth failure window") { config.auth_failure_window = absl::ZeroDuration(), flag = "--auth_failure_window_s"; }
  SECTION("negative backlog bound") {
    config.telemetry_backlog_max_points = -1, flag = "--telemetry_backlog_max_points";
  }
  SECTION("callback executor") { config.callback_executor_threads = 0, flag = "--callback_executor_threads"; }
  SECTION("keepalive time") { config.keepalive_time = absl::Milliseconds(10), flag = "--keepalive_time_ms"; }
  SECTION("keepalive timeout") { config.keepalive_timeout = absl::ZeroDuration(), flag = "--keepalive_timeout_ms"; }
  SECTION("keepalive ping interval") {
    config.keepalive_min_ping_interval = absl::Milliseconds(1), flag = "--keepalive_min_ping_interval_ms";
  }
  SECTION("max streams") { config.max_streams = -1, flag = "--max_streams"; }
  SECTION("previous secret without a current one") {
    config.page_token_previous_secret = "0123456789abcdef-old", flag = "--page_token_previous_secret";
  }
  SECTION("short previous secret") {
    config.page_token_secret = "0123456789abcdef-new";
    config.page_token_previous_secret = "short", flag = "--page_token_previous_secret";
  }
  SECTION("redis password without redis") { config.redis_password_file = "/p", flag = "--redis_password_file"; }
  SECTION("console without the HTTP door") {
    config.console_dir = "/c";
    config.http_listen = "", flag = "--console_dir";
  }
  SECTION("console folder that holds no built console") {
    config.http_listen = "127.0.0.1:0";
    config.console_dir = "/nonexistent-console", flag = "--console_dir";
  }
  SECTION("tls refresh interval") {
    config.tls_refresh_interval = absl::ZeroDuration(), flag = "--tls_refresh_interval_s";
  }
  absl::Status status = ValidateServerConfig(config);
  REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(status.message()).find(flag) != std::string::npos);
}

TEST_CASE("config: the stream cap is no longer tied to threads but streams that hold one still are",
          "[config][unit]") {
  ServerConfig config = Valid();
  config.server_threads = 64;
  CHECK(MaxStreams(config) == kDefaultMaxStreams);
  CHECK(MaxThreadStreams(config) == 64 - StreamReserve(64));
  config.max_streams = 20'000;  // 10,000 subscriptions need more than the threads
  REQUIRE(ValidateServerConfig(config).ok());
  CHECK(MaxStreams(config) == 20'000);
  CHECK(MaxThreadStreams(config) == 64 - StreamReserve(64));
  config.max_streams = 8;
  CHECK(MaxThreadStreams(config) == 8);
}

TEST_CASE("config: keepalive defaults as documented in operations.md", "[config][unit]") {
  const ServerConfig config;
  CHECK(config.keepalive_time == absl::Seconds(60));
  CHECK(config.keepalive_timeout == absl::Seconds(20));
  CHECK_FALSE(config.keepalive_permit_without_calls);
  CHECK(config.keepalive_min_ping_interval == absl::Seconds(10));
  CHECK(absl::GetFlag(FLAGS_keepalive_time_ms) == 60'000);
  CHECK(absl::GetFlag(FLAGS_keepalive_timeout_ms) == 20'000);
  CHECK_FALSE(absl::GetFlag(FLAGS_keepalive_permit_without_calls));
  CHECK(absl::GetFlag(FLAGS_keepalive_min_ping_interval_ms) == 10'000);
}

TEST_CASE("config: the device cache is on by default and PARKBASE_DEVICE_CACHE=false turns it off",
          "[config][unit]") {
  CHECK(ServerConfig().device_cache);
  CHECK(absl::GetFlag(FLAGS_device_cache));
  ::setenv("PARKBASE_DEVICE_CACHE", "false", 1);
  absl::Status status = ApplyEnvironmentToFlags();
  ::unsetenv("PARKBASE_DEVICE_CACHE");
  REQUIRE(status.ok());
  CHECK_FALSE(absl::GetFlag(FLAGS_device_cache));
  absl::SetFlag(&FLAGS_device_cache, true);
}

TEST_CASE("config: PARKBASE_* environment sets flags and an unknown one fails fast", "[config][unit]") {
  ::setenv("PARKBASE_PARK_CODE", "4242", 1);
  REQUIRE(ApplyEnvironmentToFlags().ok());
  CHECK(absl::GetFlag(FLAGS_park_code) == "4242");
  ::unsetenv("PARKBASE_PARK_CODE");

  ::setenv("PARKBASE_DATABSE_URL", "typo", 1);
  absl::Status status = ApplyEnvironmentToFlags();
  ::unsetenv("PARKBASE_DATABSE_URL");
  REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(status.message()).find("PARKBASE_DATABSE_URL") != std::string::npos);

  // The back-pressure bound, as the chart's extraEnv or a deployment would set it; 0 turns it off.
  ::setenv("PARKBASE_TELEMETRY_BACKLOG_MAX_POINTS", "0", 1);
  REQUIRE(ApplyEnvironmentToFlags().ok());
  ::unsetenv("PARKBASE_TELEMETRY_BACKLOG_MAX_POINTS");
  CHECK(absl::GetFlag(FLAGS_telemetry_backlog_max_points) == 0);
  absl::SetFlag(&FLAGS_telemetry_backlog_max_points, 20'000'000);

  ::setenv("PARKBASE_DB_POOL_SIZE", "many", 1);
  status = ApplyEnvironmentToFlags();
  ::unsetenv("PARKBASE_DB_POOL_SIZE");
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace parkbase
