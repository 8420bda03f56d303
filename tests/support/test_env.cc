#include "support/test_env.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <stdexcept>

#include <pqxx/pqxx>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/crypto.h"
#include "common/page_token.h"
#include "common/redis.h"
#include "grpcpp/create_channel.h"
#include "parkbase/all_services.h"
#include "tenant/tenant_logic.h"

namespace parkbase::testing {
namespace {

std::string RequiredEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(absl::StrCat(name, " is not set: run the tests through scripts/test.sh, which starts ",
                                          "PostgreSQL and Redis"));
  }
  return value;
}

// postgresql://user@host:port/db -> same URL with another user and database.
std::string WithUserAndDatabase(const std::string& url, const std::string& user, const std::string& database) {
  const auto scheme = url.find("://");
  const auto at = url.find('@', scheme + 3);
  const auto slash = url.find('/', at == std::string::npos ? scheme + 3 : at);
  const std::string host = url.substr(at == std::string::npos ? scheme + 3 : at + 1,
                                      (slash == std::string::npos ? url.size() : slash) -
                                          (at == std::string::npos ? scheme + 3 : at + 1));
  return absl::StrCat(url.substr(0, scheme + 3), user, "@", host, "/", database);
}

void EnsureRoles(pqxx::connection& admin) {
  // Roles are cluster-wide and test processes run in parallel: create them in a way that tolerates the race.
  pqxx::nontransaction work(admin);
  work.exec(
      "DO $$ BEGIN "
      "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'parkbase_app') THEN CREATE ROLE parkbase_app NOLOGIN; "
      "  END IF; "
      "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");
  work.exec(
      "DO $$ BEGIN "
      "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'parkbase_service') THEN "
      "    CREATE ROLE parkbase_service LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE parkbase_app; "
      "  END IF; "
      "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");
}

}  // namespace

std::string AdminUrl() { return RequiredEnv("PARKBASE_TEST_PG_ADMIN_URL"); }

namespace {

// The test Redis runs with `--databases 4096` (scripts/lib.sh); a counter in database 0 hands them out in turn.
constexpr int kTestRedisDatabases = 4096;

std::string WithDatabase(const std::string& url, int database) {
  std::string base = url;
  const auto scheme = base.find("://");
  const auto slash = base.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash != std::string::npos) base.resize(slash);
  return absl::StrCat(base, "/", database);
}

}  // namespace

int RedisDatabaseOf(const std::string& url) {
  auto address = ParseRedisUrl(url);
  return address.ok() ? address->database : -1;
}

std::string NewRedisDatabaseUrl() {
  const std::string base = WithDatabase(RequiredEnv("PARKBASE_TEST_REDIS_URL"), 0);
  auto counter = RedisClient::Create({.url = base});
  if (!counter.ok()) throw std::runtime_error(counter.status().ToString());
  auto next = (*counter)->Command({"INCR", "pb:test:next-database"});
  if (!next.ok()) throw std::runtime_error(absl::StrCat("test Redis: ", next.status().ToString()));
  const int database =
      kFirstTestRedisDatabase + static_cast<int>(next->integer % (kTestRedisDatabases - kFirstTestRedisDatabase));
  const std::string url = WithDatabase(base, database);
  auto own = RedisClient::Create({.url = url});
  if (!own.ok()) throw std::runtime_error(own.status().ToString());
  auto flushed = (*own)->Command({"FLUSHDB"});
  if (!flushed.ok()) {
    throw std::runtime_error(absl::StrCat("test Redis database ", database, ": ", flushed.status().ToString(),
                                          " (is Redis running with --databases ", kTestRedisDatabases, "?)"));
  }
  return url;
}

std::string RedisUrl() {
  static const std::string* url = new std::string(NewRedisDatabaseUrl());
  return *url;
}

std::string UniqueId(const std::string& prefix) {
  return absl::StrCat(prefix, absl::BytesToHexString(RandomBytes(5)));
}

TestDatabase::TestDatabase(const std::string& create_options, bool migrate) : name_(UniqueId("pbtest_")) {
  pqxx::connection admin(AdminUrl());
  EnsureRoles(admin);
  {
    pqxx::nontransaction work(admin);
    work.exec(absl::StrCat("CREATE DATABASE ", name_, " ", create_options));
  }
  if (!migrate) return;
  auto report = ApplyMigrations(owner_url(), AllMigrations());
  if (!report.ok()) throw std::runtime_error(absl::StrCat("migrations failed: ", report.status().ToString()));
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin(AdminUrl());
    pqxx::nontransaction work(admin);
    work.exec(absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  } catch (const std::exception&) {
    // The cluster is thrown away after the run anyway.
  }
}

std::string TestDatabase::owner_url() const { return WithUserAndDatabase(AdminUrl(), "postgres", name_); }
std::string TestDatabase::app_url() const { return WithUserAndDatabase(AdminUrl(), "parkbase_service", name_); }

TestDatabase& SharedDatabase() {
  static auto* database = new TestDatabase();
  static const bool registered = [] {
    std::atexit([] { delete database; });
    return true;
  }();
  (void)registered;
  return *database;
}

TestServer::TestServer(TestDatabase& database, ServerConfig overrides)
    : database_(database), clock_(absl::Now()) {
  ServerConfig config = std::move(overrides);
  if (config.listen.empty()) config.listen = "127.0.0.1:0";
  config.metrics_listen = config.metrics_listen.empty() ? "127.0.0.1:0" : config.metrics_listen;
  // Every test server has its HTTP door, as `parkbase serve` has by default.
  if (config.http_listen.empty()) config.http_listen = "127.0.0.1:0";
  if (config.database_url.empty()) config.database_url = database.app_url();
  if (config.redis_url.empty()) config.redis_url = RedisUrl();
  if (config.page_token_secret.empty()) config.page_token_secret = "test-page-token-secret";
  config.drain = absl::ZeroDuration();
  // Suites that call with bad keys on purpose (the isolation matrix, every method without a key) would trip the
  // failed-authentication limits meant for attackers; a test of the limits sets its own.
  const ServerConfig defaults;
  if (config.auth_failures_per_source == defaults.auth_failures_per_source) config.auth_failures_per_source = 1'000'000;
  if (config.auth_failures_per_key == defaults.auth_failures_per_key) config.auth_failures_per_key = 1'000'000;
  // Tests compact and apply retention on demand (telemetry/maintenance.h), never behind their back, unless a test
  // sets an interval of its own (the background runner's tests).
  if (config.telemetry_compaction_interval == defaults.telemetry_compaction_interval) {
    config.telemetry_compaction_interval = absl::ZeroDuration();
  }
  if (config.telemetry_retention_interval == defaults.telemetry_retention_interval) {
    config.telemetry_retention_interval = absl::ZeroDuration();
  }
  config.marketplace_metering_interval = absl::ZeroDuration();
  auto server = PlatformServer::Start(config, AllServices(), {.clock = &clock_});
  if (!server.ok()) throw std::runtime_error(absl::StrCat("server did not start: ", server.status().ToString()));
  server_ = *std::move(server);
  channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
}

TestServer::~TestServer() = default;

std::string TestServer::address() const { return absl::StrCat("127.0.0.1:", server_->port()); }

const std::string& TestServer::park_admin_key() {
  if (park_admin_key_.empty()) {
    DbPool db(DbPool::Options{.url = database_.owner_url(), .size = 1});
    PageTokens tokens("unused");
    tenant::PgTenantStore store(db);
    tenant::TenantManager manager(store, clock_, tokens);
    auto key = manager.BootstrapParkAdminKey("test park admin");
    if (!key.ok()) throw std::runtime_error(key.status().ToString());
    park_admin_key_ = key->secret();
    RecordSecret(park_admin_key_);
  }
  return park_admin_key_;
}

void RecordSecret(const std::string& key) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* recorded = new std::set<std::string>();
  const char* dir = std::getenv("PARKBASE_TEST_SECRETS_DIR");
  if (dir == nullptr || *dir == '\0' || key.empty()) return;
  absl::MutexLock lock(&mu);
  if (!recorded->insert(key).second) return;
  std::ofstream(absl::StrCat(dir, "/secrets-", getpid(), ".txt"), std::ios::app) << key << "\n";
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& key) {
  RecordSecret(key);
  auto context = std::make_unique<grpc::ClientContext>();
  if (!key.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", key));
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

}  // namespace parkbase::testing
