// An app credential's grant (common/app_grant.h), the access gate's handling of app callers (AdmitCall), and the
// telemetry service's DataScope that applies a grant to reads and writes.
#include <map>

#include <catch2/catch.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "common/access.h"
#include "common/app_grant.h"
#include "common/errors.h"
#include "google/rpc/error_details.pb.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "telemetry/data_scope.h"

namespace parkbase {
namespace {

namespace devpb = ::parkbase::device::v1;
namespace telpb = ::parkbase::telemetry::v1;

access::v1::AppGrant Grant(std::vector<std::string> scopes, std::map<std::string, std::string> labels = {},
                           std::vector<std::string> metrics = {}, std::vector<std::string> write_metrics = {}) {
  access::v1::AppGrant grant;
  grant.set_installation("tenants/acme/installations/i1");
  for (const auto& scope : scopes) grant.add_scopes(scope);
  for (const auto& [key, value] : labels) (*grant.mutable_device_labels())[key] = value;
  for (const auto& metric : metrics) grant.add_metrics(metric);
  for (const auto& metric : write_metrics) grant.add_write_metrics(metric);
  return grant;
}

Principal App(const std::string& tenant_id, const access::v1::AppGrant& grant) {
  Principal caller;
  caller.tenant_id = tenant_id;
  caller.role = Role::kApp;
  caller.key_id = "appkey";
  caller.app = std::make_shared<access::v1::AppGrant>(grant);
  return caller;
}

const google::protobuf::MethodDescriptor& DeviceMethod(const std::string& name) {
  const auto* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(devpb::DeviceService::service_full_name());
  REQUIRE(service != nullptr);
  const auto* method = service->FindMethodByName(name);
  REQUIRE(method != nullptr);
  return *method;
}

const google::protobuf::MethodDescriptor& TelemetryMethod(const std::string& name) {
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      telpb::TelemetryService::service_full_name());
  REQUIRE(service != nullptr);
  const auto* method = service->FindMethodByName(name);
  REQUIRE(method != nullptr);
  return *method;
}

std::string ReasonOf(const absl::Status& status) {
  std::string reason;
  status.ForEachPayload([&](absl::string_view, const absl::Cord& payload) {
    google::rpc::ErrorInfo info;
    if (info.ParseFromString(std::string(payload))) reason = info.reason();
  });
  return reason;
}

TEST_CASE("app grant: labels and metrics to read and write", "[app][unit]") {
  using Labels = std::map<std::string, std::string>;
  SECTION("a device is inside when its labels include every label of the grant") {
    const auto grant = Grant({}, {{"line", "3"}, {"site", "north"}});
    CHECK(GrantCoversLabels(grant, Labels{{"line", "3"}, {"site", "north"}, {"extra", "x"}}));
    CHECK_FALSE(GrantCoversLabels(grant, Labels{{"line", "3"}}));
    CHECK_FALSE(GrantCoversLabels(grant, Labels{{"line", "4"}, {"site", "north"}}));
    CHECK_FALSE(GrantCoversLabels(grant, Labels{}));
    CHECK(GrantCoversLabels(Grant({}), Labels{}));  // no labels in the grant: every device
  }
  SECTION("reads cover the listed metrics, or every metric when none is listed") {
    CHECK(GrantCoversMetric(Grant({}), "anything"));
    const auto grant = Grant({}, {}, {"temp", "count"});
    CHECK(GrantCoversMetric(grant, "temp"));
    CHECK_FALSE(GrantCoversMetric(grant, "state"));
    CHECK_FALSE(GrantCoversMetric(grant, ""));
  }
  SECTION("writes only the listed write metrics; none listed means none") {
    CHECK_FALSE(GrantAllowsWrite(Grant({}), "temp"));
    const auto grant = Grant({}, {}, {}, {"setpoint"});
    CHECK(GrantAllowsWrite(grant, "setpoint"));
    CHECK_FALSE(GrantAllowsWrite(grant, "temp"));
  }
  SECTION("a label selector narrowed to the grant") {
    const auto grant = Grant({}, {{"line", "3"}});
    absl::flat_hash_map<std::string, std::string> selector = {{"site", "north"}};
    REQUIRE(NarrowSelectorToGrant(grant, selector));
    CHECK(selector == absl::flat_hash_map<std::string, std::string>{{"site", "north"}, {"line", "3"}});
    absl::flat_hash_map<std::string, std::string> same = {{"line", "3"}};
    CHECK(NarrowSelectorToGrant(grant, same));
    absl::flat_hash_map<std::string, std::string> contradicting = {{"line", "4"}};
    CHECK_FALSE(NarrowSelectorToGrant(grant, contradicting));
  }
  SECTION("only an app caller has a grant to narrow by") {
    const Principal app = App("acme", Grant({"devices.read"}));
    REQUIRE(AppGrantOf(app) != nullptr);
    Principal admin = app;
    admin.role = Role::kTenantAdmin;
    CHECK(AppGrantOf(admin) == nullptr);  // a grant on another role's principal is ignored
  }
  SECTION("the scopes") {
    for (absl::string_view scope : kAppScopes) CHECK(IsAppScope(scope));
    CHECK_FALSE(IsAppScope("devices.write"));
    CHECK(GrantHoldsScope(Grant({"telemetry.read"}), "telemetry.read"));
    CHECK_FALSE(GrantHoldsScope(Grant({"telemetry.read"}), "telemetry.write"));
  }
}

TEST_CASE("app grant: the access gate admits an app only by the scope the method declares", "[app][unit]") {
  const Principal everything = App("acme", Grant({"devices.read", "telemetry.read", "telemetry.write"}));
  devpb::GetDeviceRequest get;
  get.set_name("tenants/acme/devices/press-1");

  SECTION("a declared scope the grant holds: admitted on its own tenant, tenant-scoped") {
    absl::StatusOr<AccessGrant> admitted = AdmitCall(everything, DeviceMethod("GetDevice"), get);
    REQUIRE(admitted.ok());
    CHECK(admitted->tenant_id == "acme");
    CHECK_FALSE(admitted->scope.park_wide);
  }
  SECTION("a declared scope the grant lacks: PERMISSION_DENIED, reason SCOPE_NOT_GRANTED") {
    const Principal telemetry_only = App("acme", Grant({"telemetry.read"}));
    absl::Status refused = AdmitCall(telemetry_only, DeviceMethod("GetDevice"), get).status();
    CHECK(refused.code() == absl::StatusCode::kPermissionDenied);
    CHECK(ReasonOf(refused) == "SCOPE_NOT_GRANTED");
  }
  SECTION("a method without app_scope: PERMISSION_DENIED whatever the grant holds") {
    devpb::CreateDeviceRequest create;
    create.set_parent("tenants/acme");
    CHECK(AdmitCall(everything, DeviceMethod("CreateDevice"), create).status().code() ==
          absl::StatusCode::kPermissionDenied);
    telpb::UpdateRetentionPolicyRequest update;
    update.mutable_retention_policy()->set_name("tenants/acme/retentionPolicy");
    CHECK(AdmitCall(everything, TelemetryMethod("UpdateRetentionPolicy"), update).status().code() ==
          absl::StatusCode::kPermissionDenied);
  }
  SECTION("an app principal without a loaded grant is refused") {
    Principal broken = everything;
    broken.app = nullptr;
    CHECK(AdmitCall(broken, DeviceMethod("GetDevice"), get).status().code() == absl::StatusCode::kPermissionDenied);
  }
  SECTION("another tenant's resources are NOT_FOUND") {
    devpb::GetDeviceRequest other;
    other.set_name("tenants/globex/devices/lathe-1");
    CHECK(AdmitCall(everything, DeviceMethod("GetDevice"), other).status().code() == absl::StatusCode::kNotFound);
    telpb::GetLatestRequest latest;
    latest.set_parent("tenants/globex");
    CHECK(AdmitCall(everything, TelemetryMethod("GetLatest"), latest).status().code() ==
          absl::StatusCode::kNotFound);
  }
  SECTION("the device_field of a rule binds device keys, not apps") {
    devpb::GetDeviceRequest any;
    any.set_name("tenants/acme/devices/any-device");
    CHECK(AdmitCall(everything, DeviceMethod("GetDevice"), any).ok());
  }
  SECTION("a park-wide method with a scope: admitted on the app's own tenant") {
    devpb::ResolveIdentifierRequest resolve;
    resolve.set_identifier("88.7.1002/SN-1");
    absl::StatusOr<AccessGrant> admitted = AdmitCall(everything, DeviceMethod("ResolveIdentifier"), resolve);
    REQUIRE(admitted.ok());
    CHECK(admitted->tenant_id == "acme");
  }
}

TEST_CASE("app grant: the telemetry data scope of an app and of everyone else", "[app][unit]") {
  telemetry::DeviceInfo inside;
  inside.device_id = "press-1";
  inside.labels = {{"line", "3"}, {"site", "north"}};
  telemetry::DeviceInfo outside;
  outside.device_id = "press-2";
  outside.labels = {{"line", "4"}};

  const Principal app = App("acme", Grant({"telemetry.read"}, {{"line", "3"}}, {"temp"}));
  const telemetry::DataScope narrowed(TenantScope::Tenant("acme"), app);
  REQUIRE(narrowed.grant() != nullptr);
  CHECK(narrowed.freshness() == telemetry::Freshness::kCommitted);
  CHECK(narrowed.CoversDevice(inside));
  CHECK_FALSE(narrowed.CoversDevice(outside));
  CHECK(narrowed.CoversMetric("temp"));
  CHECK_FALSE(narrowed.CoversMetric("count"));
  google::protobuf::RepeatedPtrField<std::string> metrics;
  metrics.Add("temp");
  metrics.Add("count");
  absl::Status refused = narrowed.CheckMetrics("metrics", metrics);
  CHECK(refused.code() == absl::StatusCode::kPermissionDenied);
  CHECK(absl::StartsWith(refused.message(), "metrics[1]"));
  absl::flat_hash_map<std::string, std::string> selector = {{"line", "4"}};
  CHECK_FALSE(narrowed.NarrowSelector(selector));

  Principal admin;
  admin.tenant_id = "acme";
  admin.role = Role::kTenantAdmin;
  admin.app = app.app;  // ignored: not an app
  const telemetry::DataScope whole(TenantScope::Tenant("acme"), admin);
  CHECK(whole.grant() == nullptr);
  CHECK(whole.freshness() == telemetry::Freshness::kCached);
  CHECK(whole.CoversDevice(outside));
  CHECK(whole.CoversMetric("count"));
  CHECK(whole.CheckMetrics("metrics", metrics).ok());
  absl::flat_hash_map<std::string, std::string> any = {{"line", "4"}};
  CHECK(whole.NarrowSelector(any));
  CHECK(any.size() == 1);
}

}  // namespace
}  // namespace parkbase
