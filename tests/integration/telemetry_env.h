// What the telemetry integration tests share: a server with a tenant whose device type `sensor` has the metrics
// `temp` (DOUBLE, -50..150), `count` (INT64), `on` (BOOL) and `state` (STRING), devices of it, and thin wrappers
// around the telemetry RPCs that page, compare and unpack error details the way a client would.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/db.h"
#include "common/redis.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "support/status_details.h"
#include "support/tenant_client.h"
#include "support/test_env.h"
#include "telemetry/maintenance.h"

namespace parkbase::testing {

namespace telpb = ::parkbase::telemetry::v1;
namespace devpb = ::parkbase::device::v1;

// The sensor type's metric bounds, inclusive.
constexpr double kTempMin = -50;
constexpr double kTempMax = 150;

std::string Parent(const std::string& tenant_id);

// Time helpers: milliseconds since the epoch (the storage precision), truncating toward the past.
int64_t ToMs(absl::Time time);
absl::Time FromMs(int64_t ms);
int64_t MsOf(const google::protobuf::Timestamp& timestamp);
google::protobuf::Timestamp ToProto(absl::Time time);
absl::Time FloorTo(absl::Time time, absl::Duration unit);

telpb::Value DoubleValue(double value);
telpb::Value IntValue(int64_t value);
telpb::Value BoolValue(bool value);
telpb::Value StringValue(const std::string& value);
telpb::Point MakePoint(const std::string& device, const std::string& metric, absl::Time time,
                       const telpb::Value& value);
telpb::Point MakePointMs(const std::string& device, const std::string& metric, int64_t time_ms,
                         const telpb::Value& value);

// Comparable text forms: `d:<17 digits>`, `i:<n>`, `b:<0|1>`, `s:<text>`, `-` for no value.
std::string ValueText(const telpb::Value& value);
// `<device>/<metric>@<ms>=<value>`.
std::string PointText(const telpb::DataPoint& point);
std::vector<std::string> PointTexts(const std::vector<telpb::DataPoint>& points);

struct TelemetryTenant {
  TestTenant keys;
  std::string tenant_id;
  std::string parent;
  std::vector<devpb::Device> devices;  // of type `sensor`, ids `<tenant>-d<i>`
};

class TelemetryEnv {
 public:
  explicit TelemetryEnv(ServerConfig overrides = {});

  absl::Time Now() { return server.clock().Now(); }

  // A tenant with the `sensor` type and `device_count` devices; device i gets the labels `labels_of(i)`.
  TelemetryTenant CreateTenant(const std::string& prefix, int device_count,
                               tenantpb::Plan plan = tenantpb::PLAN_STANDARD);
  void CreateSensorType(const TelemetryTenant& tenant, const std::string& type_id);
  devpb::Device AddDevice(TelemetryTenant& tenant, const std::string& type_id,
                          const std::map<std::string, std::string>& labels = {});
  std::string MintDeviceKey(const TelemetryTenant& tenant, const devpb::Device& device);
  void DisableDevice(const TelemetryTenant& tenant, const devpb::Device& device);
  void SetIngestQuota(const std::string& tenant_id, int64_t points_per_second);

  grpc::Status Write(const std::string& key, const telpb::WriteRequest& request, telpb::WriteResponse* response);
  // Write, REQUIREd to succeed.
  telpb::WriteResponse MustWrite(const std::string& key, const telpb::WriteRequest& request);
  // Every page of ReadRange, each REQUIREd to succeed.
  std::vector<telpb::DataPoint> ReadAll(const std::string& key, const std::string& parent, const std::string& device,
                                        absl::Time start, absl::Time end, const std::vector<std::string>& metrics = {},
                                        int page_size = 0);
  telpb::GetLatestResponse MustGetLatest(const std::string& key, const std::string& parent,
                                         const std::vector<std::string>& devices,
                                         const std::vector<std::string>& metrics = {});
  telpb::AggregateResponse MustAggregate(const std::string& key, const telpb::AggregateRequest& request);

  TestServer server;
  TenantClient tenants;
  std::unique_ptr<devpb::DeviceService::Stub> device_stub;
  std::unique_ptr<telpb::TelemetryService::Stub> stub;
};

// The compactor and retention object as the server runs it: over the services' role (under row-level security) and
// the Redis at `redis_url`, with the test's clock.
class TestMaintenance {
 public:
  explicit TestMaintenance(Clock& clock, const std::string& redis_url = RedisUrl(),
                           telemetry::MaintenanceOptions options = {});
  telemetry::TelemetryMaintenance* operator->() { return maintenance_.get(); }
  // CompactTenant, REQUIREd to succeed.
  telemetry::CompactionStats Compact(const std::string& tenant_id);

 private:
  DbPool db_;
  std::unique_ptr<RedisClient> redis_;
  std::unique_ptr<telemetry::TelemetryMaintenance> maintenance_;
};

telpb::AggregateRequest MakeAggregate(const std::string& parent, const std::vector<std::string>& devices,
                                      const std::string& metric, absl::Time start, absl::Time end,
                                      absl::Duration bucket, bool per_device);

}  // namespace parkbase::testing
