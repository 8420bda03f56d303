// The auth cache when Redis goes away (common/auth_cache.h, "When Redis is unreachable"): a replica whose Redis
// stops answers from PostgreSQL and refuses a key revoked meanwhile, though the revocation's epoch bump never
// reached that Redis. Real processes: the replica's Redis is a redis-server this test starts and kills; the
// revocation goes through a test server on the suites' PostgreSQL and Redis.
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/auth_cache.h"
#include "common/db.h"
#include "common/redis.h"
#include "support/tenant_client.h"
#include "support/test_env.h"

extern char** environ;

namespace parkbase::testing {
namespace {

constexpr absl::Duration kRevocationBound = absl::Seconds(1);

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

// A redis-server of the test's own, on a free loopback port, holding nothing on disk.
class OwnRedis {
 public:
  OwnRedis() : port_(FreePort()) {
    const std::string port = absl::StrCat(port_);
    std::vector<std::string> args = {"redis-server", "--bind",      "127.0.0.1", "--port",   port,
                                     "--save",       "",            "--appendonly", "no",   "--loglevel",
                                     "warning",      "--daemonize", "no"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    REQUIRE(posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) == 0);
    auto probe = RedisClient::Create({.url = url(), .connect_timeout = absl::Milliseconds(200)});
    REQUIRE(probe.ok());
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (!(*probe)->Ping().ok()) {
      REQUIRE(absl::Now() < give_up);
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  ~OwnRedis() { Kill(); }

  std::string url() const { return absl::StrCat("redis://127.0.0.1:", port_); }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  const int port_;
  pid_t pid_ = -1;
};

TEST_CASE("auth cache faults: with its Redis down a replica answers from PostgreSQL and refuses a key revoked "
          "meanwhile",
          "[auth][faults]") {
  TestServer server;
  TenantClient tenants(server);
  const TestTenant acme = tenants.CreateTenant("authfault");
  OwnRedis redis;
  auto client = RedisClient::Create({.url = redis.url(), .connect_timeout = absl::Milliseconds(500)});
  REQUIRE(client.ok());
  SystemClock clock;
  DbPool db(DbPool::Options{.url = SharedDatabase().app_url(), .size = 2});
  PgAuthenticator database(db, clock);
  CachingAuthenticator replica(database, **client, clock, {});
  const std::string developer = absl::StrCat("Bearer ", acme.developer_key);
  const std::string admin = absl::StrCat("Bearer ", acme.admin_key);
  REQUIRE(replica.Authenticate(developer).ok());
  REQUIRE(replica.Authenticate(developer).ok());
  REQUIRE(replica.Authenticate(admin).ok());
  REQUIRE(replica.stats().hits >= 1);

  redis.Kill();
  // Revoked through the test server: its bump goes to the suites' Redis, never to the replica's (a lost bump, as
  // far as the replica can tell).
  {
    tenantpb::RevokeApiKeyRequest request;
    absl::StatusOr<ApiKeyParts> parts = ParseApiKey(acme.developer_key);
    REQUIRE(parts.ok());
    request.set_name(absl::StrCat("tenants/", acme.tenant_id, "/apiKeys/", parts->key_id));
    tenantpb::ApiKey revoked;
    REQUIRE(tenants.stub().RevokeApiKey(Context(acme.admin_key).get(), request, &revoked).ok());
  }
  const absl::Time revoked_at = absl::Now();
  absl::Duration seen = absl::InfiniteDuration();
  while (absl::Now() - revoked_at < absl::Seconds(5)) {
    absl::StatusOr<Principal> principal = replica.Authenticate(developer);
    if (!principal.ok()) {
      CHECK(principal.status().code() == absl::StatusCode::kUnauthenticated);
      seen = absl::Now() - revoked_at;
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  INFO("refused after " << absl::FormatDuration(seen));
  CHECK(seen < kRevocationBound);
  // Meanwhile the keys that are still valid work, from PostgreSQL.
  const int64_t bypassed = replica.stats().bypassed;
  CHECK(bypassed >= 1);
  CHECK(replica.Authenticate(admin).ok());
  CHECK(replica.stats().bypassed == bypassed + 1);
}

}  // namespace
}  // namespace parkbase::testing
