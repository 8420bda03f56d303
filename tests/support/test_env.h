// What integration and end-to-end tests stand on: a fresh PostgreSQL database per test process (created through
// PARKBASE_TEST_PG_ADMIN_URL and migrated with every service's schema), the Redis of PARKBASE_TEST_REDIS_URL, and
// an in-process Parkbase server on a loopback port with a fake clock. The test script starts the real PostgreSQL
// and Redis; a missing variable fails the test rather than skipping it.
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/server.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace parkbase::testing {

// PARKBASE_TEST_PG_ADMIN_URL; throws when unset.
std::string AdminUrl();
// A Redis database of this test process's own, on the Redis of PARKBASE_TEST_REDIS_URL (throws when unset), empty
// when first handed out: tests run in parallel processes, and one that flushes or fills Redis must not disturb
// another. Databases 0 to kFirstTestRedisDatabase - 1 are left to scripts (database 0 holds the counter).
inline constexpr int kFirstTestRedisDatabase = 16;
std::string RedisUrl();
// Another empty database of its own, for a test that needs a second one (say, a server whose Redis it flushes).
std::string NewRedisDatabaseUrl();
// The database number of a redis:// URL (0 when it names none).
int RedisDatabaseOf(const std::string& url);

// A database that exists for the life of the object.
class TestDatabase {
 public:
  // `create_options` are appended to CREATE DATABASE (e.g. "LC_CTYPE 'C' TEMPLATE template0").
  // `migrate`: apply every migration (false: an empty database, for tests of migrations themselves).
  explicit TestDatabase(const std::string& create_options = "", bool migrate = true);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  // Superuser connection to this database (migrations, direct checks that must bypass RLS).
  std::string owner_url() const;
  // The services' login role: not the owner, not a superuser, so row-level security applies.
  std::string app_url() const;

 private:
  std::string name_;
};

// The process's database, created on first use and dropped at exit.
TestDatabase& SharedDatabase();

// An all-in-one server on 127.0.0.1 with a fake clock. Failed-authentication limits left at their defaults in
// `overrides` are raised out of reach (suites call with bad keys on purpose); a test of the limits sets its own.
class TestServer {
 public:
  explicit TestServer(TestDatabase& database = SharedDatabase(), ServerConfig overrides = {});
  ~TestServer();

  std::string address() const;
  PlatformServer& server() { return *server_; }
  FakeClock& clock() { return clock_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  // A park-admin key, minted directly in the database like `parkbase admin bootstrap-key`.
  const std::string& park_admin_key();

 private:
  TestDatabase& database_;
  FakeClock clock_;
  std::unique_ptr<PlatformServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string park_admin_key_;
};

// Every key a test uses (Context records it) is appended to $PARKBASE_TEST_SECRETS_DIR/secrets-<pid>.txt when that
// is set, so the test command can check afterwards that no log line of the run holds one
// (tests/lint/secrets_in_logs.py). Call it for keys minted but never used.
void RecordSecret(const std::string& key);

// A client context carrying `authorization: Bearer <key>` (none when key is empty) and a 10 s deadline.
std::unique_ptr<grpc::ClientContext> Context(const std::string& key);

// A unique id for names in tests ("t" + random hex), so tests sharing a database never collide.
std::string UniqueId(const std::string& prefix);

}  // namespace parkbase::testing
