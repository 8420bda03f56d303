// TenantService.GetTenantUsage against the real PostgreSQL and Redis: each figure counts what the tenant holds or
// did, its own data only, and the ingest rate comes from the rate limiter's counts in Redis (by Redis' clock).
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/ingest_counts.h"
#include "common/redis.h"
#include "common/redis_keys.h"
#include "integration/telemetry_env.h"

namespace parkbase::testing {
namespace {

tenantpb::TenantUsage MustGetUsage(TelemetryEnv& env, const std::string& key, const std::string& tenant_id) {
  tenantpb::GetTenantUsageRequest request;
  request.set_name(absl::StrCat("tenants/", tenant_id, "/usage"));
  tenantpb::TenantUsage usage;
  const grpc::Status status = env.tenants.stub().GetTenantUsage(Context(key).get(), request, &usage);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return usage;
}

telpb::WriteRequest Points(const TelemetryTenant& tenant, int64_t start_ms, int count) {
  telpb::WriteRequest request;
  request.set_parent(tenant.parent);
  telpb::Series* series = request.add_series();
  series->set_device(tenant.devices[0].device_id());
  series->set_metric("temp");
  for (int i = 0; i < count; ++i) {
    series->add_timestamps_ms(start_ms + i);
    series->add_double_values(static_cast<double>(i % 100));
  }
  return request;
}

// The stored size of the tenant's telemetry blocks as the table owner sees it, outside row-level security.
int64_t StoredBytesAsOwner(const std::string& tenant_id) {
  pqxx::connection owner(SharedDatabase().owner_url());
  pqxx::work work(owner);
  int64_t total = 0;
  for (const char* table : {"telemetry_ingest_log", "telemetry_chunks", "telemetry_rollups"}) {
    total += work.exec_params(absl::StrCat("SELECT coalesce(sum(pg_column_size(block)), 0)::bigint FROM ", table,
                                           " WHERE tenant_id = $1"),
                              tenant_id)[0][0]
                 .as<int64_t>();
  }
  return total;
}

TEST_CASE("usage: devices, ingest rate and stored bytes count the tenant's own, beside its quota",
          "[tenant][telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant busy = env.CreateTenant("usebusy", 3);
  TelemetryTenant quiet = env.CreateTenant("usequiet", 1);

  const tenantpb::TenantUsage before = MustGetUsage(env, busy.keys.developer_key, busy.tenant_id);
  CHECK(before.name() == absl::StrCat("tenants/", busy.tenant_id, "/usage"));
  CHECK(before.devices() == 3);
  CHECK(before.stored_bytes() == 0);
  CHECK(before.installed_apps() == 0);
  REQUIRE(before.has_ingest_points_per_second());
  CHECK(before.ingest_points_per_second() == 0);
  CHECK(before.has_read_time());
  tenantpb::GetTenantRequest get;
  get.set_name(absl::StrCat("tenants/", busy.tenant_id));
  tenantpb::Tenant tenant;
  REQUIRE(env.tenants.stub().GetTenant(Context(busy.keys.admin_key).get(), get, &tenant).ok());
  CHECK(before.quota().SerializeAsString() == tenant.quota().SerializeAsString());
  CHECK(before.quota().max_devices() > 0);

  // 900 points in two batches: once Redis' clock has passed the second they were admitted in, the last minute's
  // rate is exactly 900 / 60.
  const int64_t start_ms = ToMs(env.Now()) - 60'000;
  env.MustWrite(busy.keys.developer_key, Points(busy, start_ms, 600));
  env.MustWrite(busy.keys.developer_key, Points(busy, start_ms + 600, 300));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const tenantpb::TenantUsage after = MustGetUsage(env, env.server.park_admin_key(), busy.tenant_id);
  CHECK(after.ingest_points_per_second() == Approx(900.0 / ingest_counts::kWindowSeconds));
  CHECK(after.stored_bytes() > 0);
  CHECK(after.stored_bytes() == StoredBytesAsOwner(busy.tenant_id));
  CHECK(after.devices() == 3);

  // Compaction moves the points into chunks and rollups; the figure follows what is stored.
  TestMaintenance maintenance(env.server.clock());
  maintenance.Compact(busy.tenant_id);
  const tenantpb::TenantUsage compacted = MustGetUsage(env, busy.keys.admin_key, busy.tenant_id);
  CHECK(compacted.stored_bytes() > 0);
  CHECK(compacted.stored_bytes() == StoredBytesAsOwner(busy.tenant_id));

  // The other tenant's figures are its own: none of the busy tenant's devices, points or bytes.
  const tenantpb::TenantUsage other = MustGetUsage(env, quiet.keys.developer_key, quiet.tenant_id);
  CHECK(other.devices() == 1);
  CHECK(other.stored_bytes() == 0);
  CHECK(other.ingest_points_per_second() == 0);
}

TEST_CASE("usage: the per-second counts stay bounded and only the last minute's are summed",
          "[tenant][telemetry][integration]") {
  TelemetryEnv env;
  TelemetryTenant tenant = env.CreateTenant("usering", 1);
  absl::StatusOr<std::unique_ptr<RedisClient>> redis = RedisClient::Create({.url = RedisUrl()});
  REQUIRE(redis.ok());
  const std::string key = redis_keys::IngestCounts(tenant.tenant_id);
  // 200 seconds of counts from long ago, as a tenant that wrote on and off for hours leaves them: outside the window,
  // so none is summed, and past the bound, so the next second's first write prunes them.
  std::vector<std::string> fill = {"HSET", key};
  for (int second = 1'000'000; second < 1'000'200; ++second) {
    fill.push_back(absl::StrCat(second));
    fill.push_back("1000");
  }
  REQUIRE((*redis)->Command(fill).ok());
  CHECK(MustGetUsage(env, tenant.keys.developer_key, tenant.tenant_id).ingest_points_per_second() == 0);

  env.MustWrite(tenant.keys.developer_key, Points(tenant, ToMs(env.Now()) - 10'000, 120));
  absl::StatusOr<RedisReply> fields = (*redis)->Command({"HLEN", key});
  REQUIRE(fields.ok());
  CHECK(fields->integer <= 2);  // this second's count (and the previous one's, had the write crossed a second)
  absl::StatusOr<RedisReply> ttl = (*redis)->Command({"TTL", key});
  REQUIRE(ttl.ok());
  CHECK(ttl->integer > 0);
  CHECK(ttl->integer <= 120);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  CHECK(MustGetUsage(env, tenant.keys.developer_key, tenant.tenant_id).ingest_points_per_second() ==
        Approx(120.0 / ingest_counts::kWindowSeconds));
}

TEST_CASE("usage: only the park and the tenant's own keys read it, never a device key",
          "[tenant][integration][isolation]") {
  TelemetryEnv env;
  TelemetryTenant owner = env.CreateTenant("useown", 1);
  TelemetryTenant stranger = env.CreateTenant("usestr", 1);
  tenantpb::GetTenantUsageRequest request;
  request.set_name(absl::StrCat("tenants/", owner.tenant_id, "/usage"));
  tenantpb::TenantUsage usage;
  for (const std::string& key : {stranger.keys.admin_key, stranger.keys.developer_key}) {
    CHECK(env.tenants.stub().GetTenantUsage(Context(key).get(), request, &usage).error_code() == grpc::NOT_FOUND);
  }
  const std::string device_key = env.MintDeviceKey(owner, owner.devices[0]);
  CHECK(env.tenants.stub().GetTenantUsage(Context(device_key).get(), request, &usage).error_code() ==
        grpc::PERMISSION_DENIED);

  request.set_name(absl::StrCat("tenants/", owner.tenant_id));
  const grpc::Status wrong = env.tenants.stub().GetTenantUsage(Context(owner.keys.admin_key).get(), request, &usage);
  CHECK(wrong.error_code() == grpc::INVALID_ARGUMENT);
  CHECK_THAT(wrong.error_message(), Catch::Contains("name"));
}

}  // namespace
}  // namespace parkbase::testing
