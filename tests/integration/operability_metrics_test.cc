// The metrics an on-call operator reads when something breaks, from the real parts: the PostgreSQL, ingest and
// Redis connection pools against the test's PostgreSQL and Redis, the open-streams gauge and the optional tenant
// label of the ingest counters through a running server.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/db.h"
#include "common/libpq_pool.h"
#include "common/pool_metrics.h"
#include "common/redis.h"
#include "integration/telemetry_env.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "support/observed.h"

namespace parkbase::testing {
namespace {

double Series(const std::string& text, const std::string& series) { return SeriesValue(text, series); }
double Series(prometheus::Registry& registry, const std::string& series) { return SeriesValue(registry, series); }

bool WaitFor(absl::Duration limit, const std::function<bool()>& done) {
  const absl::Time give_up = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// Drives a pool of one connection through what an operator must be able to see: a caller holding the connection
// (in use), a caller that waits for it and gives up (a timeout), a caller that waits and is served (waiting, then
// an acquire that took as long as the holder kept it). `use` borrows the connection, runs its argument while
// holding it, and returns the call's status.
void CheckPoolMetrics(prometheus::Registry& registry, const std::string& pool,
                      const std::function<absl::Status(const std::function<void()>&)>& use) {
  const std::string label = absl::StrCat("{pool=\"", pool, "\"}");
  CHECK(Series(registry, "parkbase_pool_connections_max" + label) == 1);
  CHECK(Series(registry, "parkbase_pool_connections_in_use" + label) == 0);

  absl::Notification holding;
  absl::Notification let_go;
  std::thread holder([&] {
    CHECK(use([&] {
            holding.Notify();
            let_go.WaitForNotification();
          }).ok());
  });
  holding.WaitForNotification();
  CHECK(Series(registry, "parkbase_pool_connections_in_use" + label) == 1);

  // The pools here wait 200 ms for a connection.
  const absl::Status refused = use([] {});
  CHECK(absl::IsUnavailable(refused));
  CHECK(Series(registry, "parkbase_pool_acquire_timeouts_total" + label) == 1);

  absl::Notification served;
  std::thread waiter([&] {
    CHECK(use([&] { served.Notify(); }).ok());
  });
  CHECK(WaitFor(absl::Seconds(5), [&] { return Series(registry, "parkbase_pool_acquire_waiting" + label) == 1; }));
  absl::SleepFor(absl::Milliseconds(30));
  CHECK_FALSE(served.HasBeenNotified());
  let_go.Notify();
  holder.join();
  waiter.join();
  CHECK(served.HasBeenNotified());
  CHECK(Series(registry, "parkbase_pool_acquire_waiting" + label) == 0);
  CHECK(Series(registry, "parkbase_pool_connections_in_use" + label) == 0);
  // The holder's and the waiter's acquires (the timed-out caller got none); the waiter's took at least the 30 ms
  // the holder kept the connection after it began to wait.
  CHECK(Series(registry, "parkbase_pool_acquire_seconds_count" + label) == 2);
  CHECK(Series(registry, "parkbase_pool_acquire_seconds_sum" + label) >= 0.03);
  CHECK(Series(registry, absl::StrCat("parkbase_pool_acquire_seconds_bucket{pool=\"", pool, "\",le=\"0.0001\"}")) == 1);
}

TEST_CASE("pool metrics: the PostgreSQL, ingest and Redis pools report connections in use, waiters, acquire time and "
          "timeouts",
          "[integration]") {
  prometheus::Registry registry;
  const TenantScope scope = TenantScope::Tenant("pool-metrics");

  SECTION("PostgreSQL (libpqxx)") {
    DbPool db(DbPool::Options{.url = SharedDatabase().app_url(),
                              .size = 1,
                              .acquire_timeout = absl::Milliseconds(200),
                              .metrics = MakePoolMetrics(&registry, "postgres")});
    CheckPoolMetrics(registry, "postgres", [&](const std::function<void()>& while_held) {
      return db.Transact(scope, [&](pqxx::work& work) {
        work.exec("SELECT 1");
        while_held();
        return absl::OkStatus();
      });
    });
  }
  SECTION("PostgreSQL (libpq, the ingest path)") {
    LibpqPool pool(LibpqPool::Options{.url = SharedDatabase().app_url(),
                                      .size = 1,
                                      .acquire_timeout = absl::Milliseconds(200),
                                      .metrics = MakePoolMetrics(&registry, "postgres_ingest")});
    CheckPoolMetrics(registry, "postgres_ingest", [&](const std::function<void()>& while_held) {
      return pool.Transact(scope, [&](LibpqSession& session) -> absl::Status {
        absl::StatusOr<PgRows> rows = session.Exec("SELECT 1");
        if (!rows.ok()) return rows.status();
        while_held();
        return absl::OkStatus();
      });
    });
  }
  SECTION("Redis") {
    auto redis = RedisClient::Create({.url = RedisUrl(),
                                      .command_timeout = absl::Milliseconds(200),
                                      .pool_size = 1,
                                      .metrics = MakePoolMetrics(&registry, "redis")});
    REQUIRE(redis.ok());
    CheckPoolMetrics(registry, "redis", [&](const std::function<void()>& while_held) {
      return (*redis)->Visit({"PING"}, [&](RedisReplyView) {
        while_held();
        return absl::OkStatus();
      });
    });
  }
  // A pool gives its capacity back when it goes.
  CHECK(Series(registry, "parkbase_pool_connections_max{pool=\"postgres\"}") <= 0);
}

std::string ServerMetrics(TelemetryEnv& env) {
  return prometheus::TextSerializer().Serialize(env.server.server().registry().Collect());
}

TEST_CASE("open streams: a streaming call is counted open by method while it lasts, unary calls never are",
          "[telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant acme = env.CreateTenant("streams", 1);
  const std::string subscribe =
      "parkbase_grpc_server_open_streams{grpc_method=\"Subscribe\",grpc_service=\"parkbase.telemetry.v1."
      "TelemetryService\",grpc_type=\"server_stream\"}";
  // Every streaming method has its series from the start, at zero; unary methods have none.
  CHECK(Series(ServerMetrics(env), subscribe) == 0);
  CHECK_FALSE(absl::StrContains(ServerMetrics(env), "parkbase_grpc_server_open_streams{grpc_method=\"Write\","));

  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", acme.keys.developer_key));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    telpb::SubscribeRequest request;
    request.set_parent(acme.parent);
    std::unique_ptr<grpc::ClientReader<telpb::SubscribeResponse>> reader = env.stub->Subscribe(&context, request);
    reader->WaitForInitialMetadata();
    CHECK(Series(ServerMetrics(env), subscribe) == 1);
    context.TryCancel();
    telpb::SubscribeResponse ignored;
    while (reader->Read(&ignored)) {
    }
    CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
  }
  // The server learns of the cancellation asynchronously.
  CHECK(WaitFor(absl::Seconds(5), [&] { return Series(ServerMetrics(env), subscribe) == 0; }));
}

// One accepted and one refused point for the tenant's first device.
void WriteOneGoodOneBad(TelemetryEnv& env, const TelemetryTenant& tenant) {
  telpb::WriteRequest write;
  write.set_parent(tenant.parent);
  const absl::Time t = FloorTo(env.Now() - absl::Minutes(1), absl::Seconds(1));
  *write.add_points() = MakePoint(tenant.devices[0].device_id(), "temp", t, DoubleValue(21.5));
  *write.add_points() = MakePoint(tenant.devices[0].device_id(), "temp", t, DoubleValue(kTempMax + 1));
  telpb::WriteResponse response = env.MustWrite(tenant.keys.developer_key, write);
  REQUIRE(response.accepted_points() == 1);
}

TEST_CASE("metrics tenant label: the ingest counters carry the tenant unless the park turns the label off",
          "[telemetry][integration]") {
  SECTION("on (the default)") {
    TelemetryEnv env;
    TelemetryTenant acme = env.CreateTenant("label-on", 1);
    WriteOneGoodOneBad(env, acme);
    const std::string text = ServerMetrics(env);
    CHECK(Series(text, absl::StrCat("parkbase_points_ingested_total{tenant=\"", acme.tenant_id, "\"}")) == 1);
    CHECK(Series(text, absl::StrCat("parkbase_points_rejected_total{reason=\"REJECTION_REASON_INVALID_VALUE\",",
                                    "tenant=\"", acme.tenant_id, "\"}")) == 1);
  }
  SECTION("off") {
    ServerConfig config;
    config.metrics_tenant_label = false;
    TelemetryEnv env(config);
    TelemetryTenant acme = env.CreateTenant("label-off", 1);
    TelemetryTenant globex = env.CreateTenant("label-off", 1);
    WriteOneGoodOneBad(env, acme);
    WriteOneGoodOneBad(env, globex);
    const std::string text = ServerMetrics(env);
    // One series for the whole park, whatever the number of tenants.
    CHECK(Series(text, "parkbase_points_ingested_total") == 2);
    CHECK(Series(text, "parkbase_points_rejected_total{reason=\"REJECTION_REASON_INVALID_VALUE\"}") == 2);
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::StartsWith(line, "parkbase_points_")) CHECK_FALSE(absl::StrContains(line, "tenant="));
    }
  }
}

}  // namespace
}  // namespace parkbase::testing
