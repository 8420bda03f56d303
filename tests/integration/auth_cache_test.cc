// The auth cache (common/auth_cache.h) across replicas: a change made through one server (replica A, the test
// server) must be refused by another process's cache (replica B: its own authenticator, database pool and Redis
// connections on the same PostgreSQL and Redis, on the real clock) within the documented bound, and never served
// from the cache beyond it.
#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/auth_cache.h"
#include "common/db.h"
#include "common/redis.h"
#include "common/redis_keys.h"
#include "common/tenant_epochs.h"
#include "google/protobuf/util/time_util.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "support/app_credentials.h"
#include "support/tenant_client.h"
#include "support/test_env.h"

namespace parkbase::testing {
namespace {

namespace devpb = ::parkbase::device::v1;

// What architecture.md promises: a revocation, suspension, device disable or credential revoke is refused on every
// replica within 1 s (epoch_check_interval, 250 ms, plus one Redis round trip).
constexpr absl::Duration kRevocationBound = absl::Seconds(1);

std::string Bearer(const std::string& key) { return absl::StrCat("Bearer ", key); }

std::string KeyIdOfKey(const std::string& key) {
  absl::StatusOr<ApiKeyParts> parts = ParseApiKey(key);
  REQUIRE(parts.ok());
  return parts->key_id;
}

// Another replica's authentication: the same PostgreSQL and Redis, nothing else shared with the test server.
class Replica {
 public:
  explicit Replica(Clock& clock, CachingAuthenticator::Options options = {})
      : db_(DbPool::Options{.url = SharedDatabase().app_url(), .size = 2}),
        redis_(MustConnect(RedisUrl())),
        database_(db_, clock),
        cache_(database_, *redis_, clock, options) {}

  CachingAuthenticator& cache() { return cache_; }

  // Authenticates `key` twice and REQUIREs that the second answer came from the cache.
  void Cache(const std::string& key) {
    REQUIRE(cache_.Authenticate(Bearer(key)).ok());
    const int64_t hits = cache_.stats().hits;
    REQUIRE(cache_.Authenticate(Bearer(key)).ok());
    REQUIRE(cache_.stats().hits == hits + 1);
  }

  // How long after now `key` takes to be refused with `code`, polling every 5 ms; InfiniteDuration when it still
  // passes after 5 s.
  absl::Duration UntilRefused(const std::string& key, absl::StatusCode code) {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < absl::Seconds(5)) {
      absl::StatusOr<Principal> principal = cache_.Authenticate(Bearer(key));
      if (!principal.ok()) {
        INFO(principal.status().ToString());
        CHECK(principal.status().code() == code);
        return absl::Now() - start;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return absl::InfiniteDuration();
  }

 private:
  static std::unique_ptr<RedisClient> MustConnect(const std::string& url) {
    absl::StatusOr<std::unique_ptr<RedisClient>> redis = RedisClient::Create({.url = url});
    REQUIRE(redis.ok());
    return *std::move(redis);
  }

  DbPool db_;
  std::unique_ptr<RedisClient> redis_;
  PgAuthenticator database_;
  CachingAuthenticator cache_;
};

void RevokeKey(TenantClient& tenants, const std::string& caller_key, const std::string& tenant_id,
               const std::string& key) {
  tenantpb::RevokeApiKeyRequest request;
  request.set_name(absl::StrCat("tenants/", tenant_id, "/apiKeys/", KeyIdOfKey(key)));
  tenantpb::ApiKey revoked;
  grpc::Status status = tenants.stub().RevokeApiKey(Context(caller_key).get(), request, &revoked);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

grpc::StatusCode GetTenantCode(TenantClient& tenants, const std::string& key, const std::string& tenant_id) {
  tenantpb::GetTenantRequest request;
  request.set_name(absl::StrCat("tenants/", tenant_id));
  tenantpb::Tenant tenant;
  return tenants.stub().GetTenant(Context(key).get(), request, &tenant).error_code();
}

TEST_CASE("auth cache: a key revoked on one replica is refused on another within 1 s", "[auth][integration]") {
  TestServer server;
  TenantClient tenants(server);
  const TestTenant acme = tenants.CreateTenant("authrev");
  SystemClock clock;
  Replica b(clock);
  b.Cache(acme.developer_key);
  b.Cache(acme.admin_key);
  // Through the server (replica A), which also caches the key it is about to lose.
  REQUIRE(GetTenantCode(tenants, acme.developer_key, acme.tenant_id) == grpc::OK);
  RevokeKey(tenants, acme.admin_key, acme.tenant_id, acme.developer_key);
  // Replica A: at once.
  CHECK(GetTenantCode(tenants, acme.developer_key, acme.tenant_id) == grpc::UNAUTHENTICATED);
  // Replica B: within the bound; the tenant's other keys go on working (from the database once, then cached).
  const absl::Duration seen = b.UntilRefused(acme.developer_key, absl::StatusCode::kUnauthenticated);
  INFO("refused on replica B after " << absl::FormatDuration(seen));
  CHECK(seen < kRevocationBound);
  CHECK(b.cache().Authenticate(Bearer(acme.admin_key)).ok());
}

TEST_CASE("auth cache: a suspended tenant's keys are refused on another replica within 1 s, and work again after "
          "resume",
          "[auth][integration]") {
  TestServer server;
  TenantClient tenants(server);
  const TestTenant acme = tenants.CreateTenant("authsus");
  SystemClock clock;
  Replica b(clock);
  b.Cache(acme.admin_key);
  {
    tenantpb::SuspendTenantRequest request;
    request.set_name(absl::StrCat("tenants/", acme.tenant_id));
    request.set_reason("unpaid invoice");
    tenantpb::Tenant tenant;
    REQUIRE(tenants.stub().SuspendTenant(Context(server.park_admin_key()).get(), request, &tenant).ok());
  }
  CHECK(GetTenantCode(tenants, acme.admin_key, acme.tenant_id) == grpc::PERMISSION_DENIED);
  const absl::Duration seen = b.UntilRefused(acme.admin_key, absl::StatusCode::kPermissionDenied);
  INFO("refused on replica B after " << absl::FormatDuration(seen));
  CHECK(seen < kRevocationBound);
  {
    tenantpb::ResumeTenantRequest request;
    request.set_name(absl::StrCat("tenants/", acme.tenant_id));
    tenantpb::Tenant tenant;
    REQUIRE(tenants.stub().ResumeTenant(Context(server.park_admin_key()).get(), request, &tenant).ok());
  }
  CHECK(GetTenantCode(tenants, acme.admin_key, acme.tenant_id) == grpc::OK);
  CHECK(b.cache().Authenticate(Bearer(acme.admin_key)).ok());
}

TEST_CASE("auth cache: a device key is refused on another replica within 1 s of its device's disable or its "
          "revoke",
          "[auth][device][integration]") {
  TestServer server;
  TenantClient tenants(server);
  const TestTenant acme = tenants.CreateTenant("authdev");
  auto devices = devpb::DeviceService::NewStub(server.channel());
  {
    devpb::CreateDeviceTypeRequest request;
    request.set_parent(absl::StrCat("tenants/", acme.tenant_id));
    request.set_device_type_id("meter");
    request.mutable_device_type()->set_display_name("Meter");
    devpb::DeviceType type;
    REQUIRE(devices->CreateDeviceType(Context(acme.admin_key).get(), request, &type).ok());
  }
  devpb::Device device;
  {
    devpb::CreateDeviceRequest request;
    request.set_parent(absl::StrCat("tenants/", acme.tenant_id));
    request.mutable_device()->set_device_type_id("meter");
    request.mutable_device()->set_serial_number("AUTH-1");
    REQUIRE(devices->CreateDevice(Context(acme.admin_key).get(), request, &device).ok());
  }
  devpb::CreateDeviceCredentialResponse credential;
  {
    devpb::CreateDeviceCredentialRequest request;
    request.set_parent(device.name());
    request.mutable_credential()->set_display_name("firmware");
    REQUIRE(devices->CreateDeviceCredential(Context(acme.admin_key).get(), request, &credential).ok());
    RecordSecret(credential.secret());
  }
  SystemClock clock;
  Replica b(clock);
  b.Cache(credential.secret());

  SECTION("disable") {
    devpb::DisableDeviceRequest request;
    request.set_name(device.name());
    devpb::Device disabled;
    REQUIRE(devices->DisableDevice(Context(acme.admin_key).get(), request, &disabled).ok());
    const absl::Duration seen = b.UntilRefused(credential.secret(), absl::StatusCode::kPermissionDenied);
    INFO("refused on replica B after " << absl::FormatDuration(seen));
    CHECK(seen < kRevocationBound);
  }
  SECTION("credential revoke") {
    devpb::RevokeDeviceCredentialRequest request;
    request.set_name(credential.credential().name());
    devpb::RevokeDeviceCredentialResponse response;
    REQUIRE(devices->RevokeDeviceCredential(Context(acme.admin_key).get(), request, &response).ok());
    const absl::Duration seen = b.UntilRefused(credential.secret(), absl::StatusCode::kUnauthenticated);
    INFO("refused on replica B after " << absl::FormatDuration(seen));
    CHECK(seen < kRevocationBound);
  }
  SECTION("device delete") {
    devpb::DeleteDeviceRequest request;
    request.set_name(device.name());
    devpb::DeleteDeviceResponse response;
    REQUIRE(devices->DeleteDevice(Context(acme.admin_key).get(), request, &response).ok());
    const absl::Duration seen = b.UntilRefused(credential.secret(), absl::StatusCode::kUnauthenticated);
    INFO("refused on replica B after " << absl::FormatDuration(seen));
    CHECK(seen < kRevocationBound);
  }
}

TEST_CASE("auth cache: a revoked app credential is refused on another replica within 1 s", "[auth][app][integration]") {
  TestServer server;
  TenantClient tenants(server);
  const TestTenant acme = tenants.CreateTenant("authapp");
  const TestAppCredential credential = MintAppCredential(acme.tenant_id, EveryScopeGrant());
  SystemClock clock;
  Replica b(clock);
  b.Cache(credential.key);
  // As the marketplace's UninstallApp does: revoke in the database, then tell the server's invalidator.
  RevokeAppCredential(acme.tenant_id, credential.key_id, server.server().auth_invalidator());
  const absl::Duration seen = b.UntilRefused(credential.key, absl::StatusCode::kUnauthenticated);
  INFO("refused on replica B after " << absl::FormatDuration(seen));
  CHECK(seen < kRevocationBound);
}

TEST_CASE("auth cache: a wrong secret for a cached key id is refused", "[auth][integration]") {
  TestServer server;
  TenantClient tenants(server);
  const TestTenant acme = tenants.CreateTenant("authsec");
  SystemClock clock;
  Replica b(clock);
  b.Cache(acme.developer_key);
  // The same tenant and key id, another secret of the right shape.
  std::string wrong = acme.developer_key;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  absl::StatusOr<Principal> refused = b.cache().Authenticate(Bearer(wrong));
  CHECK(refused.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(b.cache().stats().wrong_secrets == 1);
  CHECK(b.cache().Authenticate(Bearer(acme.developer_key)).ok());
  // The server, which has the key cached too.
  REQUIRE(GetTenantCode(tenants, acme.developer_key, acme.tenant_id) == grpc::OK);
  CHECK(GetTenantCode(tenants, wrong, acme.tenant_id) == grpc::UNAUTHENTICATED);
}

TEST_CASE("auth cache: entries end at the key's expiry and at the ttl, whatever the epoch says",
          "[auth][integration]") {
  TestServer server;
  TenantClient tenants(server);
  const TestTenant acme = tenants.CreateTenant("authttl");
  FakeClock clock(absl::Now());
  const CachingAuthenticator::Options options{.epoch_check_interval = absl::Milliseconds(250),
                                              .ttl = absl::Seconds(5)};
  Replica b(clock, options);

  SECTION("expiry") {
    tenantpb::CreateApiKeyRequest request;
    request.set_parent(absl::StrCat("tenants/", acme.tenant_id));
    request.mutable_api_key()->set_display_name("short-lived");
    request.mutable_api_key()->set_role(tenantpb::ROLE_DEVELOPER);
    *request.mutable_api_key()->mutable_expire_time() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(clock.Now() + absl::Hours(1)));
    tenantpb::CreateApiKeyResponse created;
    REQUIRE(tenants.stub().CreateApiKey(Context(acme.admin_key).get(), request, &created).ok());
    RecordSecret(created.secret());
    b.Cache(created.secret());
    // Re-read well within the ttl, so only the expiry can refuse it.
    clock.Advance(absl::Hours(1));
    absl::StatusOr<Principal> expired = b.cache().Authenticate(Bearer(created.secret()));
    CHECK(expired.status().code() == absl::StatusCode::kUnauthenticated);
  }
  SECTION("ttl, when a revocation's bump was lost") {
    b.Cache(acme.developer_key);
    // Revoked behind the caches' back, as if the bump had been lost to a Redis outage.
    {
      pqxx::connection owner(SharedDatabase().owner_url());
      pqxx::work work(owner);
      work.exec_params("UPDATE api_keys SET revoke_time = now() WHERE tenant_id = $1 AND key_id = $2",
                       acme.tenant_id, KeyIdOfKey(acme.developer_key));
      work.commit();
    }
    clock.Advance(absl::Seconds(4));
    CHECK(b.cache().Authenticate(Bearer(acme.developer_key)).ok());  // the documented window: ttl
    clock.Advance(absl::Seconds(1));
    CHECK(b.cache().Authenticate(Bearer(acme.developer_key)).status().code() ==
          absl::StatusCode::kUnauthenticated);
    // The expired entry is swept by the next look-up that caches a key, not kept until the cache is full.
    REQUIRE(b.cache().cached_entries() == 1);
    REQUIRE(b.cache().Authenticate(Bearer(acme.admin_key)).ok());
    CHECK(b.cache().cached_entries() == 1);
  }
}

}  // namespace
}  // namespace parkbase::testing

namespace parkbase::testing {
namespace {

TEST_CASE("tenant epochs: calls find an epoch the background refresher keeps fresh, never waiting for Redis, and "
          "still see a bump from another replica within the check interval",
          "[auth][integration]") {
  auto redis = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(redis.ok());
  auto other_redis = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(other_redis.ok());
  SystemClock clock;
  // A long interval, so the copy's worst age (three quarters of it: refreshed at half its age, looked at every
  // quarter) leaves a quarter second of slack on a loaded machine.
  const absl::Duration check = absl::Seconds(1);
  const std::string tenant = absl::StrCat("epochs-", absl::ToUnixNanos(absl::Now()));
  TenantEpochs epochs(**redis, clock, redis_keys::AuthEpoch, check, 1000);
  TenantEpochs other_replica(**other_redis, clock, redis_keys::AuthEpoch, check, 1000);

  const std::optional<int64_t> first = epochs.Current(tenant);  // the tenant's first call reads inline
  REQUIRE(first.has_value());
  // Longer than the check interval: without the refresher the next call would read Redis itself.
  absl::SleepFor(check + absl::Milliseconds(100));

  // Redis stops answering anyone for 300 ms; the calls made meanwhile answer at once from the refreshed copy.
  auto admin = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(admin.ok());
  REQUIRE((*admin)->Command({"CLIENT", "PAUSE", "300", "ALL"}).ok());
  const absl::Time paused = absl::Now();
  for (int call = 0; call < 10; ++call) {
    const absl::Time start = absl::Now();
    CHECK(epochs.Current(tenant) == first);
    CHECK(absl::Now() - start < absl::Milliseconds(50));
  }
  CHECK(absl::Now() - paused < absl::Milliseconds(100));
  absl::SleepFor(absl::Milliseconds(400));  // the pause is over

  // A bump on another replica is seen within the check interval plus a round trip, with no call reading inline.
  other_replica.Bump(tenant, "test");
  const std::optional<int64_t> bumped = other_replica.Current(tenant);
  REQUIRE(bumped.has_value());
  REQUIRE(*bumped != *first);
  const absl::Time deadline = absl::Now() + check + absl::Milliseconds(100);
  std::optional<int64_t> seen = epochs.Current(tenant);
  while (seen != bumped && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
    seen = epochs.Current(tenant);
  }
  CHECK(seen == bumped);
}

}  // namespace
}  // namespace parkbase::testing
