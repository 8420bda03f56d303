// The ingestion path's schema resolver against the real PostgreSQL and Redis: caching, invalidation after a type
// update through the public API, and a flushed Redis.
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "common/db.h"
#include "common/redis.h"
#include "device/device_store.h"
#include "device/schema_resolver.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "support/tenant_client.h"
#include "support/test_env.h"

namespace parkbase::testing {
namespace {

namespace pb = ::parkbase::device::v1;

ServerConfig ResolverConfig() {
  ServerConfig config;
  config.park_code = "7";
  return config;
}

std::unique_ptr<RedisClient> Redis() {
  auto redis = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(redis.ok());
  return *std::move(redis);
}

TEST_CASE("device: the schema resolver caches, sees type updates and survives a Redis flush",
          "[device][integration]") {
  TestServer server(SharedDatabase(), ResolverConfig());
  TenantClient tenants(server);
  auto stub = pb::DeviceService::NewStub(server.channel());
  TestTenant acme = tenants.CreateTenant("schema");

  pb::CreateDeviceTypeRequest create_type;
  create_type.set_parent(absl::StrCat("tenants/", acme.tenant_id));
  create_type.set_device_type_id("chiller");
  create_type.mutable_device_type()->set_display_name("Chiller");
  auto* metric = create_type.mutable_device_type()->add_metrics();
  metric->set_name("supply_temp");
  metric->set_unit("degC");
  metric->set_value_type(pb::VALUE_TYPE_DOUBLE);
  pb::DeviceType type;
  REQUIRE(stub->CreateDeviceType(Context(acme.admin_key).get(), create_type, &type).ok());
  pb::CreateDeviceRequest create_device;
  create_device.set_parent(absl::StrCat("tenants/", acme.tenant_id));
  create_device.mutable_device()->set_device_type_id("chiller");
  create_device.mutable_device()->set_serial_number("CH-1");
  pb::Device device;
  REQUIRE(stub->CreateDevice(Context(acme.admin_key).get(), create_device, &device).ok());

  DbPool db(DbPool::Options{.url = SharedDatabase().app_url(), .size = 2});
  device::PgDeviceStore store(db);
  auto redis = Redis();
  FakeClock clock(absl::Now());
  device::DeviceSchemaResolver resolver(store, redis.get(), clock);

  auto schema = resolver.Resolve(acme.tenant_id, device.device_id());
  REQUIRE(schema.ok());
  CHECK(schema->device_type_id() == "chiller");
  CHECK(schema->type_version() == 1);
  CHECK(schema->state() == pb::DEVICE_STATE_PROVISIONED);
  REQUIRE(schema->metrics_size() == 1);
  CHECK(schema->metrics(0).unit() == "degC");
  CHECK(resolver.stats().database_loads == 1);

  SECTION("hits stay in process, a second resolver reads Redis") {
    REQUIRE(resolver.Resolve(acme.tenant_id, device.device_id()).ok());
    CHECK(resolver.stats().local_hits == 1);
    CHECK(resolver.stats().database_loads == 1);
    device::DeviceSchemaResolver other(store, redis.get(), clock);
    auto again = other.Resolve(acme.tenant_id, device.device_id());
    REQUIRE(again.ok());
    CHECK(again->type_version() == 1);
    CHECK(other.stats().redis_hits == 1);
    CHECK(other.stats().database_loads == 0);
  }

  SECTION("entries nobody asks for any more are dropped once they expire") {
    // Devices that are looked up once and never again (deleted, churned) used to stay until the cache was full.
    std::vector<std::string> others;
    for (int i = 2; i <= 6; ++i) {
      pb::CreateDeviceRequest more = create_device;
      more.mutable_device()->set_serial_number(absl::StrCat("CH-", i));
      pb::Device created;
      REQUIRE(stub->CreateDevice(Context(acme.admin_key).get(), more, &created).ok());
      others.push_back(created.device_id());
    }
    for (const auto& result : resolver.ResolveMany(acme.tenant_id, others)) REQUIRE(result.ok());
    CHECK(resolver.cached_entries() == 6);
    clock.Advance(absl::Seconds(6));  // past local_ttl: no entry may be served any more
    REQUIRE(resolver.Resolve(acme.tenant_id, device.device_id()).ok());
    CHECK(resolver.cached_entries() == 1);
    clock.Advance(absl::Seconds(1));
    for (const auto& result : resolver.ResolveMany(acme.tenant_id, others)) REQUIRE(result.ok());
    CHECK(resolver.cached_entries() == 6);  // within local_ttl of the last sweep: nothing swept yet
  }
  SECTION("an UpdateDeviceType is seen within the epoch check interval") {
    pb::UpdateDeviceTypeRequest update;
    update.mutable_device_type()->set_name(type.name());
    *update.mutable_device_type()->mutable_metrics() = type.metrics();
    auto* added = update.mutable_device_type()->add_metrics();
    added->set_name("return_temp");
    added->set_value_type(pb::VALUE_TYPE_DOUBLE);
    update.mutable_update_mask()->add_paths("metrics");
    pb::DeviceType updated;
    REQUIRE(stub->UpdateDeviceType(Context(acme.admin_key).get(), update, &updated).ok());
    clock.Advance(absl::Milliseconds(300));
    auto fresh = resolver.Resolve(acme.tenant_id, device.device_id());
    REQUIRE(fresh.ok());
    CHECK(fresh->type_version() == 2);
    CHECK(fresh->metrics_size() == 2);

    // Disabling the device is a change too: the state travels with the schema.
    pb::DisableDeviceRequest disable;
    disable.set_name(device.name());
    pb::Device disabled;
    REQUIRE(stub->DisableDevice(Context(acme.admin_key).get(), disable, &disabled).ok());
    clock.Advance(absl::Milliseconds(300));
    auto after_disable = resolver.Resolve(acme.tenant_id, device.device_id());
    REQUIRE(after_disable.ok());
    CHECK(after_disable->state() == pb::DEVICE_STATE_DISABLED);
  }

  SECTION("a flushed Redis costs a database read, not a wrong answer") {
    REQUIRE(redis->Command({"FLUSHDB"}).ok());
    clock.Advance(absl::Milliseconds(300));
    auto after_flush = resolver.Resolve(acme.tenant_id, device.device_id());
    REQUIRE(after_flush.ok());
    CHECK(after_flush->type_version() == 1);
    // After a flush and a change, the epoch restarts and still retires the old entries.
    pb::UpdateDeviceTypeRequest update;
    update.mutable_device_type()->set_name(type.name());
    update.mutable_device_type()->set_display_name("Chiller v2");
    update.mutable_update_mask()->add_paths("display_name");
    pb::DeviceType updated;
    REQUIRE(stub->UpdateDeviceType(Context(acme.admin_key).get(), update, &updated).ok());
    clock.Advance(absl::Milliseconds(300));
    auto fresh = resolver.Resolve(acme.tenant_id, device.device_id());
    REQUIRE(fresh.ok());
    CHECK(fresh->type_version() == 2);
  }

  SECTION("without Redis the local TTL bounds staleness") {
    device::DeviceSchemaResolver local_only(store, nullptr, clock);
    REQUIRE(local_only.Resolve(acme.tenant_id, device.device_id()).ok());
    pb::UpdateDeviceTypeRequest update;
    update.mutable_device_type()->set_name(type.name());
    update.mutable_device_type()->set_model("X");
    update.mutable_update_mask()->add_paths("model");
    pb::DeviceType updated;
    REQUIRE(stub->UpdateDeviceType(Context(acme.admin_key).get(), update, &updated).ok());
    CHECK(local_only.Resolve(acme.tenant_id, device.device_id())->type_version() == 1);
    clock.Advance(absl::Seconds(6));
    CHECK(local_only.Resolve(acme.tenant_id, device.device_id())->type_version() == 2);
  }

  SECTION("unknown devices and other tenants' devices are NOT_FOUND") {
    CHECK(resolver.Resolve(acme.tenant_id, "nosuchdevice").status().code() == absl::StatusCode::kNotFound);
    TestTenant rival = tenants.CreateTenant("rival");
    CHECK(resolver.Resolve(rival.tenant_id, device.device_id()).status().code() == absl::StatusCode::kNotFound);
  }
}

}  // namespace
}  // namespace parkbase::testing
