#include "integration/telemetry_env.h"

#include <cmath>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace parkbase::testing {

std::string Parent(const std::string& tenant_id) { return absl::StrCat("tenants/", tenant_id); }

int64_t ToMs(absl::Time time) { return absl::ToUnixMillis(time); }
absl::Time FromMs(int64_t ms) { return absl::FromUnixMillis(ms); }
int64_t MsOf(const google::protobuf::Timestamp& timestamp) {
  return timestamp.seconds() * 1000 + timestamp.nanos() / 1000000;
}
google::protobuf::Timestamp ToProto(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  const int64_t nanos = absl::ToUnixNanos(time);
  int64_t seconds = nanos / 1000000000;
  int64_t rest = nanos % 1000000000;
  if (rest < 0) {
    rest += 1000000000;
    --seconds;
  }
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(static_cast<int32_t>(rest));
  return timestamp;
}
absl::Time FloorTo(absl::Time time, absl::Duration unit) {
  return absl::UnixEpoch() + absl::Floor(time - absl::UnixEpoch(), unit);
}

telpb::Value DoubleValue(double value) {
  telpb::Value v;
  v.set_double_value(value);
  return v;
}
telpb::Value IntValue(int64_t value) {
  telpb::Value v;
  v.set_int_value(value);
  return v;
}
telpb::Value BoolValue(bool value) {
  telpb::Value v;
  v.set_bool_value(value);
  return v;
}
telpb::Value StringValue(const std::string& value) {
  telpb::Value v;
  v.set_string_value(value);
  return v;
}

telpb::Point MakePoint(const std::string& device, const std::string& metric, absl::Time time,
                       const telpb::Value& value) {
  telpb::Point point;
  point.set_device(device);
  point.set_metric(metric);
  *point.mutable_time() = ToProto(time);
  *point.mutable_value() = value;
  return point;
}
telpb::Point MakePointMs(const std::string& device, const std::string& metric, int64_t time_ms,
                         const telpb::Value& value) {
  return MakePoint(device, metric, FromMs(time_ms), value);
}

std::string ValueText(const telpb::Value& value) {
  switch (value.kind_case()) {
    case telpb::Value::kDoubleValue:
      return absl::StrFormat("d:%.17g", value.double_value());
    case telpb::Value::kIntValue:
      return absl::StrCat("i:", value.int_value());
    case telpb::Value::kBoolValue:
      return absl::StrCat("b:", value.bool_value() ? 1 : 0);
    case telpb::Value::kStringValue:
      return absl::StrCat("s:", value.string_value());
    case telpb::Value::KIND_NOT_SET:
      break;
  }
  return "-";
}

std::string PointText(const telpb::DataPoint& point) {
  return absl::StrCat(point.device(), "/", point.metric(), "@", MsOf(point.time()), "=", ValueText(point.value()));
}

std::vector<std::string> PointTexts(const std::vector<telpb::DataPoint>& points) {
  std::vector<std::string> texts;
  texts.reserve(points.size());
  for (const auto& point : points) texts.push_back(PointText(point));
  return texts;
}

namespace {
// Compaction and retention run when a test says so, never on the server's timer, so a test knows what is compacted.
// Unless a test sets an interval of its own.
ServerConfig WithoutBackgroundMaintenance(ServerConfig config) {
  const ServerConfig defaults;
  if (config.telemetry_compaction_interval == defaults.telemetry_compaction_interval) {
    config.telemetry_compaction_interval = absl::ZeroDuration();
  }
  if (config.telemetry_retention_interval == defaults.telemetry_retention_interval) {
    config.telemetry_retention_interval = absl::ZeroDuration();
  }
  return config;
}
}  // namespace

TelemetryEnv::TelemetryEnv(ServerConfig overrides)
    : server(SharedDatabase(), WithoutBackgroundMaintenance(std::move(overrides))),
      tenants(server),
      device_stub(devpb::DeviceService::NewStub(server.channel())),
      stub(telpb::TelemetryService::NewStub(server.channel())) {}

void TelemetryEnv::CreateSensorType(const TelemetryTenant& tenant, const std::string& type_id) {
  devpb::CreateDeviceTypeRequest request;
  request.set_parent(tenant.parent);
  request.set_device_type_id(type_id);
  auto* type = request.mutable_device_type();
  type->set_display_name("Sensor");
  auto* temp = type->add_metrics();
  temp->set_name("temp");
  temp->set_unit("degC");
  temp->set_value_type(devpb::VALUE_TYPE_DOUBLE);
  temp->set_min(kTempMin);
  temp->set_max(kTempMax);
  auto* count = type->add_metrics();
  count->set_name("count");
  count->set_value_type(devpb::VALUE_TYPE_INT64);
  auto* on = type->add_metrics();
  on->set_name("on");
  on->set_value_type(devpb::VALUE_TYPE_BOOL);
  auto* state = type->add_metrics();
  state->set_name("state");
  state->set_value_type(devpb::VALUE_TYPE_STRING);
  devpb::DeviceType created;
  grpc::Status status = device_stub->CreateDeviceType(Context(tenant.keys.admin_key).get(), request, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

devpb::Device TelemetryEnv::AddDevice(TelemetryTenant& tenant, const std::string& type_id,
                                      const std::map<std::string, std::string>& labels) {
  const size_t index = tenant.devices.size();
  devpb::CreateDeviceRequest request;
  request.set_parent(tenant.parent);
  auto* device = request.mutable_device();
  device->set_device_id(absl::StrCat(tenant.tenant_id, "-d", index));
  device->set_device_type_id(type_id);
  device->set_serial_number(absl::StrCat("SN-", index));
  for (const auto& [key, value] : labels) (*device->mutable_labels())[key] = value;
  devpb::Device created;
  grpc::Status status = device_stub->CreateDevice(Context(tenant.keys.admin_key).get(), request, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
  tenant.devices.push_back(created);
  return created;
}

TelemetryTenant TelemetryEnv::CreateTenant(const std::string& prefix, int device_count, tenantpb::Plan plan) {
  TelemetryTenant tenant;
  tenant.keys = tenants.CreateTenant(prefix, plan);
  tenant.tenant_id = tenant.keys.tenant_id;
  tenant.parent = Parent(tenant.tenant_id);
  CreateSensorType(tenant, "sensor");
  for (int i = 0; i < device_count; ++i) AddDevice(tenant, "sensor");
  return tenant;
}

std::string TelemetryEnv::MintDeviceKey(const TelemetryTenant& tenant, const devpb::Device& device) {
  devpb::CreateDeviceCredentialRequest request;
  request.set_parent(device.name());
  request.mutable_credential()->set_display_name("firmware key");
  devpb::CreateDeviceCredentialResponse response;
  grpc::Status status =
      device_stub->CreateDeviceCredential(Context(tenant.keys.admin_key).get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response.secret();
}

void TelemetryEnv::DisableDevice(const TelemetryTenant& tenant, const devpb::Device& device) {
  devpb::DisableDeviceRequest request;
  request.set_name(device.name());
  devpb::Device disabled;
  grpc::Status status = device_stub->DisableDevice(Context(tenant.keys.admin_key).get(), request, &disabled);
  INFO(status.error_message());
  REQUIRE(status.ok());
  REQUIRE(disabled.state() == devpb::DEVICE_STATE_DISABLED);
}

void TelemetryEnv::SetIngestQuota(const std::string& tenant_id, int64_t points_per_second) {
  tenantpb::UpdateTenantRequest request;
  request.mutable_tenant()->set_name(Parent(tenant_id));
  request.mutable_tenant()->mutable_quota()->set_max_ingest_points_per_second(points_per_second);
  request.mutable_update_mask()->add_paths("quota.max_ingest_points_per_second");
  tenantpb::Tenant updated;
  grpc::Status status = tenants.stub().UpdateTenant(Context(server.park_admin_key()).get(), request, &updated);
  INFO(status.error_message());
  REQUIRE(status.ok());
  REQUIRE(updated.quota().max_ingest_points_per_second() == points_per_second);
}

grpc::Status TelemetryEnv::Write(const std::string& key, const telpb::WriteRequest& request,
                                 telpb::WriteResponse* response) {
  return stub->Write(Context(key).get(), request, response);
}

telpb::WriteResponse TelemetryEnv::MustWrite(const std::string& key, const telpb::WriteRequest& request) {
  telpb::WriteResponse response;
  grpc::Status status = Write(key, request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response;
}

std::vector<telpb::DataPoint> TelemetryEnv::ReadAll(const std::string& key, const std::string& parent,
                                                    const std::string& device, absl::Time start, absl::Time end,
                                                    const std::vector<std::string>& metrics, int page_size) {
  std::vector<telpb::DataPoint> points;
  telpb::ReadRangeRequest request;
  request.set_parent(parent);
  request.set_device(device);
  for (const auto& metric : metrics) request.add_metrics(metric);
  *request.mutable_start_time() = ToProto(start);
  *request.mutable_end_time() = ToProto(end);
  request.set_page_size(page_size);
  for (int pages = 0;; ++pages) {
    REQUIRE(pages < 100000);
    telpb::ReadRangeResponse response;
    grpc::Status status = stub->ReadRange(Context(key).get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    if (page_size > 0) REQUIRE(response.points_size() <= page_size);
    for (const auto& point : response.points()) points.push_back(point);
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return points;
}

telpb::GetLatestResponse TelemetryEnv::MustGetLatest(const std::string& key, const std::string& parent,
                                                     const std::vector<std::string>& devices,
                                                     const std::vector<std::string>& metrics) {
  telpb::GetLatestRequest request;
  request.set_parent(parent);
  for (const auto& device : devices) request.add_devices(device);
  for (const auto& metric : metrics) request.add_metrics(metric);
  telpb::GetLatestResponse response;
  grpc::Status status = stub->GetLatest(Context(key).get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response;
}

telpb::AggregateResponse TelemetryEnv::MustAggregate(const std::string& key, const telpb::AggregateRequest& request) {
  telpb::AggregateResponse response;
  grpc::Status status = stub->Aggregate(Context(key).get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response;
}

namespace {
std::unique_ptr<RedisClient> ConnectRedis(const std::string& url) {
  auto redis = RedisClient::Create({.url = url});
  REQUIRE(redis.ok());
  return *std::move(redis);
}
}  // namespace

TestMaintenance::TestMaintenance(Clock& clock, const std::string& redis_url, telemetry::MaintenanceOptions options)
    : db_(DbPool::Options{.url = SharedDatabase().app_url(), .size = 2}),
      redis_(ConnectRedis(redis_url)),
      maintenance_(telemetry::MakeTelemetryMaintenance(db_, redis_.get(), clock, std::move(options))) {}

telemetry::CompactionStats TestMaintenance::Compact(const std::string& tenant_id) {
  auto stats = maintenance_->CompactTenant(tenant_id);
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  return *stats;
}

telpb::AggregateRequest MakeAggregate(const std::string& parent, const std::vector<std::string>& devices,
                                      const std::string& metric, absl::Time start, absl::Time end,
                                      absl::Duration bucket, bool per_device) {
  telpb::AggregateRequest request;
  request.set_parent(parent);
  for (const auto& device : devices) request.add_devices(device);
  request.set_metric(metric);
  *request.mutable_start_time() = ToProto(start);
  *request.mutable_end_time() = ToProto(end);
  request.mutable_bucket()->set_seconds(absl::ToInt64Seconds(bucket));
  request.set_per_device(per_device);
  return request;
}

}  // namespace parkbase::testing
