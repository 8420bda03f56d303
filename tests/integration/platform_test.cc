// The shared platform against the real PostgreSQL and Redis: row-level security tested in SQL, authentication on
// every method of every hosted service, health, metrics, migrations and the Redis client.
#include <algorithm>
#include <thread>
#include <utility>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_client.h"
#include "common/migrations.h"
#include "common/redis.h"
#include "google/protobuf/descriptor.h"
#include "parkbase/all_services.h"
#include "prometheus/text_serializer.h"
#include "support/raw_call.h"
#include "support/tenant_client.h"
#include "telemetry/migrations.h"

namespace parkbase::testing {
namespace {

int64_t Count(pqxx::work& work, const std::string& table) {
  return work.exec(absl::StrCat("SELECT count(*) FROM ", table))[0][0].as<int64_t>();
}

void SetTenant(pqxx::work& work, const std::string& tenant_id) {
  work.exec_params("SELECT set_config('parkbase.tenant_id', $1, true)", tenant_id);
}

TEST_CASE("rls: under one tenant's setting a raw query sees and changes only that tenant's rows",
          "[platform][integration][isolation]") {
  TestServer server;
  TenantClient client(server);
  TestTenant a = client.CreateTenant("rlsa");
  TestTenant b = client.CreateTenant("rlsb");

  pqxx::connection service(SharedDatabase().app_url());  // the services' role: not owner, not superuser
  {
    pqxx::work work(service);
    auto role = work.exec("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user");
    REQUIRE_FALSE(role[0][0].as<bool>());
    REQUIRE_FALSE(role[0][1].as<bool>());
  }
  SECTION("no tenant set: nothing is visible") {
    pqxx::work work(service);
    CHECK(Count(work, "tenants") == 0);
    CHECK(Count(work, "api_keys") == 0);
    CHECK(Count(work, "audit_events") == 0);
  }
  SECTION("tenant a sees only a") {
    pqxx::work work(service);
    SetTenant(work, a.tenant_id);
    CHECK(Count(work, "tenants") == 1);
    CHECK(work.exec("SELECT DISTINCT tenant_id FROM api_keys").size() == 1);
    CHECK(work.exec("SELECT tenant_id FROM api_keys")[0][0].as<std::string>() == a.tenant_id);
    CHECK(Count(work, "api_keys") == 2);
    CHECK(work.exec_params("SELECT count(*) FROM api_keys WHERE tenant_id = $1", b.tenant_id)[0][0].as<int>() == 0);
    CHECK(work.exec_params("SELECT count(*) FROM audit_events WHERE tenant_id = $1", b.tenant_id)[0][0].as<int>() ==
          0);
  }
  SECTION("tenant a cannot update or delete b's rows") {
    pqxx::work work(service);
    SetTenant(work, a.tenant_id);
    CHECK(work.exec_params("UPDATE api_keys SET display_name = 'x' WHERE tenant_id = $1", b.tenant_id)
              .affected_rows() == 0);
    CHECK(work.exec_params("DELETE FROM audit_events WHERE tenant_id = $1", b.tenant_id).affected_rows() == 0);
    CHECK(work.exec_params("UPDATE tenants SET display_name = 'x' WHERE tenant_id = $1", b.tenant_id)
              .affected_rows() == 0);
  }
  SECTION("tenant a cannot insert rows for b") {
    pqxx::work work(service);
    SetTenant(work, a.tenant_id);
    CHECK_THROWS_AS(work.exec_params("INSERT INTO audit_events (tenant_id, actor, actor_role, action, resource) "
                                     "VALUES ($1, 'x', 2, 'x', 'x')",
                                     b.tenant_id),
                    pqxx::sql_error);
  }
  SECTION("tenant a cannot move its row to b") {
    pqxx::work work(service);
    SetTenant(work, a.tenant_id);
    CHECK_THROWS_AS(
        work.exec_params("UPDATE audit_events SET tenant_id = $1 WHERE tenant_id = $2", b.tenant_id, a.tenant_id),
        pqxx::sql_error);
  }
}

TEST_CASE("auth: every method of every hosted service refuses a call without a valid key",
          "[platform][integration][isolation]") {
  TestServer server;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  int methods = 0;
  for (const std::string& service_name : server.server().service_names()) {
    const auto* service = pool->FindServiceByName(service_name);
    REQUIRE(service != nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string method = absl::StrCat("/", service_name, "/", service->method(i)->name());
      INFO(method);
      CHECK(CallAnyMethod(*server.channel(), method, "").error_code() == grpc::StatusCode::UNAUTHENTICATED);
      CHECK(CallAnyMethod(*server.channel(), method, "pbk.nobody.0123456789abcdef." + std::string(64, '0'))
                .error_code() == grpc::StatusCode::UNAUTHENTICATED);
      ++methods;
    }
  }
  CHECK(methods >= 11);  // the tenant service alone has 11
}

TEST_CASE("health: SERVING with the database up, NOT_SERVING while it is unreachable and after drain",
          "[platform][integration]") {
  SECTION("database up") {
    TestServer server;
    auto status = CheckHealth(*server.channel(), "", absl::Seconds(5));
    REQUIRE(status.ok());
    CHECK(*status == ServingStatus::kServing);
    status = CheckHealth(*server.channel(), "parkbase.tenant.v1.TenantService", absl::Seconds(5));
    REQUIRE(status.ok());
    CHECK(*status == ServingStatus::kServing);
    server.server().Drain(absl::ZeroDuration());
    CHECK(server.server().health().CheckNow() == false);
  }
  SECTION("database unreachable") {
    ServerConfig config;
    config.database_url = "postgresql://parkbase_service@127.0.0.1:1/nowhere";  // nothing listens on port 1
    TestServer server(SharedDatabase(), config);
    CHECK(server.server().health().CheckNow() == false);
    auto status = CheckHealth(*server.channel(), "", absl::Seconds(5));
    REQUIRE(status.ok());
    CHECK(*status == ServingStatus::kNotServing);
    status = CheckHealth(*server.channel(), "parkbase.tenant.v1.TenantService", absl::Seconds(5));
    REQUIRE(status.ok());
    CHECK(*status == ServingStatus::kNotServing);
    // Calls fail fast with UNAVAILABLE rather than hanging or crashing.
    tenantpb::GetTenantRequest request;
    request.set_name("tenants/park");
    tenantpb::Tenant tenant;
    auto stub = tenantpb::TenantService::NewStub(server.channel());
    grpc::Status call = stub->GetTenant(Context("pbk.park.0123456789abcdef." + std::string(64, '0')).get(), request,
                                        &tenant);
    CHECK(call.error_code() == grpc::StatusCode::UNAVAILABLE);
  }
}

TEST_CASE("health: a separate plaintext health port serves the same status", "[platform][integration]") {
  ServerConfig config;
  config.health_listen = "127.0.0.1:0";
  TestServer server(SharedDatabase(), config);
  REQUIRE(server.server().health_port() != 0);
  auto channel = MakeChannel(absl::StrCat("127.0.0.1:", server.server().health_port()), false);
  auto status = CheckHealth(*channel, "", absl::Seconds(5));
  REQUIRE(status.ok());
  CHECK(*status == ServingStatus::kServing);
}

TEST_CASE("metrics: calls are counted by service, method and code", "[platform][integration]") {
  TestServer server;
  TenantClient client(server);
  tenantpb::GetTenantRequest request;
  request.set_name("tenants/park");
  tenantpb::Tenant tenant;
  REQUIRE(client.stub().GetTenant(Context(server.park_admin_key()).get(), request, &tenant).ok());
  request.set_name("tenants/nope-nope");
  REQUIRE(client.stub().GetTenant(Context(server.park_admin_key()).get(), request, &tenant).error_code() ==
          grpc::StatusCode::NOT_FOUND);
  const std::string text = prometheus::TextSerializer().Serialize(server.server().registry().Collect());
  CHECK(text.find("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"GetTenant\",grpc_service=\"parkbase."
                  "tenant.v1.TenantService\",grpc_type=\"unary\"} 1") != std::string::npos);
  CHECK(text.find("grpc_code=\"NotFound\",grpc_method=\"GetTenant\"") != std::string::npos);
  CHECK(text.find("grpc_server_started_total") != std::string::npos);
  CHECK(text.find("grpc_server_msg_received_total") != std::string::npos);
  CHECK(text.find("grpc_server_handling_seconds_bucket") != std::string::npos);
}

TEST_CASE("migrations: applying twice or concurrently is safe", "[platform][integration]") {
  TestDatabase database;  // migrated once by its constructor
  std::vector<absl::StatusOr<MigrationReport>> reports(3, absl::UnknownError("not run"));
  std::vector<std::thread> runners;
  for (int i = 0; i < 3; ++i) {
    runners.emplace_back([&, i] { reports[i] = ApplyMigrations(database.owner_url(), AllMigrations()); });
  }
  for (auto& runner : runners) runner.join();
  size_t total = 0;
  for (const auto& set : AllMigrations()) total += set->size();
  for (const auto& report : reports) {
    REQUIRE(report.ok());
    CHECK(report->applied.empty());
    CHECK(report->skipped.size() == total);
  }
  pqxx::connection owner(database.owner_url());
  pqxx::work work(owner);
  CHECK(static_cast<size_t>(Count(work, "schema_migrations")) == total);
}

TEST_CASE("migrations: an applied migration that was edited is refused", "[platform][integration]") {
  TestDatabase database;
  std::vector<Migration> edited = *AllMigrations().front();
  edited.front().sql += "\n-- edited";
  auto report = ApplyMigrations(database.owner_url(), {&edited});
  CHECK(report.status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("migrations: telemetry 0005 moves the windows awaiting rollups onto their chunk rows",
          "[platform][integration]") {
  TestDatabase database("", /*migrate=*/false);
  std::vector<const std::vector<Migration>*> sets = AllMigrations();
  std::vector<Migration> telemetry_before;
  for (const Migration& migration : TelemetryMigrations()) {
    if (migration.version < 5) telemetry_before.push_back(migration);
  }
  REQUIRE(telemetry_before.size() == 4);
  std::vector<const std::vector<Migration>*> before = sets;
  std::replace(before.begin(), before.end(), &TelemetryMigrations(), &std::as_const(telemetry_before));
  REQUIRE(ApplyMigrations(database.owner_url(), before).ok());

  pqxx::connection owner(database.owner_url());
  {
    pqxx::work work(owner);
    work.exec("INSERT INTO tenants (tenant_id, display_name, code, max_devices, max_ingest_points_per_second, "
              "retention_days, max_installed_apps) VALUES ('acme', 'Acme', '7', 10, 10, 30, 1)");
    // Window 0 has two generations and awaits its rollups; window 3600000 has its rollups.
    work.exec("INSERT INTO telemetry_chunks (tenant_id, group_id, window_start_ms, generation, device_type_id, "
              "min_time_ms, max_time_ms, point_count, block) VALUES "
              "('acme', 1, 0, 0, 't', 0, 10, 1, '\\x00'), ('acme', 1, 0, 1, 't', 0, 10, 1, '\\x00'), "
              "('acme', 1, 3600000, 0, 't', 3600000, 3600010, 1, '\\x00')");
    work.exec("INSERT INTO telemetry_rollup_pending (tenant_id, group_id, window_start_ms, folded_ms) "
              "VALUES ('acme', 1, 0, 1234)");
    work.commit();
  }
  REQUIRE(ApplyMigrations(database.owner_url(), sets).ok());
  pqxx::work work(owner);
  const pqxx::result marks = work.exec(
      "SELECT window_start_ms, generation, folded_ms FROM telemetry_chunks WHERE folded_ms IS NOT NULL "
      "ORDER BY 1, 2");
  REQUIRE(marks.size() == 2);
  CHECK(marks[0][0].as<int64_t>() == 0);
  CHECK(marks[1][1].as<int64_t>() == 1);
  CHECK(marks[0][2].as<int64_t>() == 1234);
  CHECK(work.exec("SELECT to_regclass('telemetry_rollup_pending') IS NULL")[0][0].as<bool>());
  // The chunks table is back under forced row-level security.
  CHECK(work.exec("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'telemetry_chunks'")[0][0].as<bool>());
}

TEST_CASE("redis: the client reconnects after its connection is killed", "[platform][integration]") {
  auto client = RedisClient::Create({.url = RedisUrl(), .reconnect_backoff = absl::ZeroDuration()});
  REQUIRE(client.ok());
  REQUIRE((*client)->Ping().ok());
  auto id = (*client)->Command({"CLIENT", "ID"});
  REQUIRE(id.ok());
  auto admin = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(admin.ok());
  REQUIRE((*admin)->Command({"CLIENT", "KILL", "ID", absl::StrCat(id->integer)}).ok());
  // The first command on the dead connection fails UNAVAILABLE; the next one reconnects.
  auto after_kill = (*client)->Command({"PING"});
  if (!after_kill.ok()) CHECK(after_kill.status().code() == absl::StatusCode::kUnavailable);
  auto recovered = (*client)->Command({"SET", UniqueId("pb:test:"), "1"});
  REQUIRE(recovered.ok());
  CHECK(recovered->text == "OK");
  auto new_id = (*client)->Command({"CLIENT", "ID"});
  REQUIRE(new_id.ok());
  CHECK(new_id->integer != id->integer);
}

TEST_CASE("redis: commands from two threads overlap on the pool instead of queueing on one connection",
          "[platform][integration]") {
  // BLPOP on a key nobody pushes to holds its connection for its whole timeout without keeping Redis busy (unlike
  // DEBUG SLEEP), so two of them take ~1x the timeout when their connections overlap and ~2x when they queue.
  constexpr absl::Duration kBlock = absl::Milliseconds(400);
  auto elapsed_for_two = [&](int pool_size) {
    auto client = RedisClient::Create({.url = RedisUrl(), .pool_size = pool_size});
    REQUIRE(client.ok());
    REQUIRE((*client)->Ping().ok());
    const std::string key = UniqueId("pb:test:blpop:");
    std::vector<absl::Status> statuses(2);
    const absl::Time start = absl::Now();
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        auto reply = (*client)->Command({"BLPOP", absl::StrCat(key, ":", i), "0.4"});
        statuses[i] = reply.status();
        if (reply.ok()) CHECK(reply->type == RedisReply::Type::kNil);
      });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& status : statuses) CHECK(status.ok());
    return absl::Now() - start;
  };
  const absl::Duration pooled = elapsed_for_two(kDefaultRedisPoolSize);
  INFO("two BLPOPs of " << absl::FormatDuration(kBlock) << " on the pool took " << absl::FormatDuration(pooled));
  CHECK(pooled >= kBlock);
  CHECK(pooled < 1.5 * kBlock);
  // The same with one connection queues, which is what the test tells apart.
  const absl::Duration single = elapsed_for_two(1);
  INFO("on one connection they took " << absl::FormatDuration(single));
  CHECK(single >= 2 * kBlock);
}

TEST_CASE("redis: an unreachable server is UNAVAILABLE, not a hang", "[platform][integration]") {
  auto client = RedisClient::Create({.url = "redis://127.0.0.1:1", .connect_timeout = absl::Milliseconds(500)});
  REQUIRE(client.ok());
  CHECK((*client)->Ping().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace parkbase::testing

namespace parkbase::testing {
namespace {

// The error that keeps `serve` from starting with `database_url`; FAILs when the server starts.
std::string RefusalToServe(const std::string& database_url) {
  ServerConfig config;
  config.database_url = database_url;
  try {
    TestServer server(SharedDatabase(), config);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  FAIL("the server started with " << database_url);
  return "";
}

// The services' URL with `role` in place of the serving role.
std::string UrlAsRole(const std::string& role) {
  std::string url = SharedDatabase().app_url();
  url.replace(url.find("parkbase_service"), std::string("parkbase_service").size(), role);
  return url;
}

TEST_CASE("serve: a role that row-level security would not bind may not serve", "[platform][integration][defects]") {
  SECTION("a superuser") {
    // postgres: superuser and owner of every table
    const std::string message = RefusalToServe(SharedDatabase().owner_url());
    CHECK(absl::StrContains(message, "FAILED_PRECONDITION"));
    CHECK(absl::StrContains(message, "is a superuser"));
    CHECK(absl::StrContains(message, "--database_url"));
  }
  SECTION("a role that owns a tenant table, or may act as its owner") {
    const std::string role = UniqueId("pbowner");
    pqxx::connection admin(SharedDatabase().owner_url());
    {
      pqxx::nontransaction work(admin);
      work.exec(absl::StrCat("CREATE ROLE ", role, " LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE parkbase_app"));
      work.exec(absl::StrCat("ALTER TABLE device_tombstones OWNER TO ", role));
    }
    CHECK(absl::StrContains(RefusalToServe(UrlAsRole(role)), "owns (or may act as the owner of) device_tombstones"));
    pqxx::nontransaction work(admin);
    work.exec("ALTER TABLE device_tombstones OWNER TO postgres");
    work.exec(absl::StrCat("DROP ROLE ", role));
  }
  SECTION("a role with BYPASSRLS") {
    const std::string role = UniqueId("pbbypass");
    pqxx::connection admin(SharedDatabase().owner_url());
    {
      pqxx::nontransaction work(admin);
      work.exec(absl::StrCat("CREATE ROLE ", role, " LOGIN NOSUPERUSER BYPASSRLS IN ROLE parkbase_app"));
    }
    const std::string message = RefusalToServe(UrlAsRole(role));
    CHECK(absl::StrContains(message, "FAILED_PRECONDITION"));
    CHECK(absl::StrContains(message, "has BYPASSRLS"));
    pqxx::nontransaction work(admin);
    work.exec(absl::StrCat("DROP ROLE ", role));
  }
  SECTION("the services' role serves") {
    TestServer server;
    CHECK(server.server().port() != 0);
  }
}

}  // namespace
}  // namespace parkbase::testing
