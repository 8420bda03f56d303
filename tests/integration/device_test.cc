// The device service over gRPC against the real PostgreSQL and Redis: types and their versions, devices, filters
// and pages, the device quota under concurrency, credentials, tenant isolation and identifier resolution.
#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "support/tenant_client.h"
#include "support/test_env.h"

namespace parkbase::testing {
namespace {

namespace pb = ::parkbase::device::v1;

// The park code every test server here runs with, so identifiers are predictable.
constexpr char kParkCode[] = "7";

ServerConfig DeviceConfig() {
  ServerConfig config;
  config.park_code = kParkCode;
  return config;
}

struct DeviceEnv {
  TestServer server{SharedDatabase(), DeviceConfig()};
  TenantClient tenants{server};
  std::unique_ptr<pb::DeviceService::Stub> stub = pb::DeviceService::NewStub(server.channel());
};

std::string Parent(const std::string& tenant_id) { return absl::StrCat("tenants/", tenant_id); }

pb::DeviceType CreateType(DeviceEnv& env, const std::string& key, const std::string& tenant_id,
                          const std::string& type_id) {
  pb::CreateDeviceTypeRequest request;
  request.set_parent(Parent(tenant_id));
  request.set_device_type_id(type_id);
  auto* type = request.mutable_device_type();
  type->set_display_name("Hydraulic press");
  type->set_description("secret type description");
  type->set_vendor("Acme Presses");
  type->set_model("HP-200");
  auto* pressure = type->add_metrics();
  pressure->set_name("pressure");
  pressure->set_unit("kPa");
  pressure->set_value_type(pb::VALUE_TYPE_DOUBLE);
  pressure->set_min(0);
  pressure->set_max(500);
  auto* running = type->add_metrics();
  running->set_name("running");
  running->set_value_type(pb::VALUE_TYPE_BOOL);
  pb::DeviceType created;
  grpc::Status status = env.stub->CreateDeviceType(Context(key).get(), request, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return created;
}

pb::Device NewDevice(const std::string& type_id, const std::string& serial) {
  pb::Device device;
  device.set_device_type_id(type_id);
  device.set_serial_number(serial);
  return device;
}

grpc::Status CreateDevice(DeviceEnv& env, const std::string& key, const std::string& tenant_id,
                          const pb::Device& device, pb::Device* created) {
  pb::CreateDeviceRequest request;
  request.set_parent(Parent(tenant_id));
  *request.mutable_device() = device;
  return env.stub->CreateDevice(Context(key).get(), request, created);
}

pb::Device MustCreateDevice(DeviceEnv& env, const std::string& key, const std::string& tenant_id,
                            const pb::Device& device) {
  pb::Device created;
  grpc::Status status = CreateDevice(env, key, tenant_id, device, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return created;
}

std::string MintCredential(DeviceEnv& env, const std::string& key, const std::string& device_name,
                           std::string* key_id = nullptr) {
  pb::CreateDeviceCredentialRequest request;
  request.set_parent(device_name);
  request.mutable_credential()->set_display_name("firmware key");
  pb::CreateDeviceCredentialResponse response;
  grpc::Status status = env.stub->CreateDeviceCredential(Context(key).get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  if (key_id != nullptr) *key_id = response.credential().key_id();
  return response.secret();
}

grpc::StatusCode GetDeviceCode(DeviceEnv& env, const std::string& key, const std::string& name) {
  pb::GetDeviceRequest request;
  request.set_name(name);
  pb::Device device;
  return env.stub->GetDevice(Context(key).get(), request, &device).error_code();
}

void SetMaxDevices(DeviceEnv& env, const std::string& tenant_id, int64_t max_devices) {
  tenantpb::UpdateTenantRequest request;
  request.mutable_tenant()->set_name(Parent(tenant_id));
  request.mutable_tenant()->mutable_quota()->set_max_devices(max_devices);
  request.mutable_update_mask()->add_paths("quota.max_devices");
  tenantpb::Tenant updated;
  grpc::Status status = env.tenants.stub().UpdateTenant(Context(env.server.park_admin_key()).get(), request, &updated);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

std::string TenantCode(DeviceEnv& env, const std::string& tenant_id) {
  tenantpb::GetTenantRequest request;
  request.set_name(Parent(tenant_id));
  tenantpb::Tenant tenant;
  REQUIRE(env.tenants.stub().GetTenant(Context(env.server.park_admin_key()).get(), request, &tenant).ok());
  return tenant.code();
}

TEST_CASE("device: device types keep every version and cannot be deleted while in use", "[device][integration]") {
  DeviceEnv env;
  TestTenant acme = env.tenants.CreateTenant("acme");
  pb::DeviceType created = CreateType(env, acme.admin_key, acme.tenant_id, "press");
  CHECK(created.version() == 1);
  CHECK(created.name() == absl::StrCat("tenants/", acme.tenant_id, "/deviceTypes/press"));
  CHECK(created.metrics_size() == 2);
  CHECK(created.metrics(0).has_min());

  SECTION("an update makes a new version and the old one stays readable") {
    pb::UpdateDeviceTypeRequest update;
    update.mutable_device_type()->set_name(created.name());
    *update.mutable_device_type()->mutable_metrics() = created.metrics();
    auto* added = update.mutable_device_type()->add_metrics();
    added->set_name("temperature");
    added->set_unit("degC");
    added->set_value_type(pb::VALUE_TYPE_DOUBLE);
    update.mutable_update_mask()->add_paths("metrics");
    pb::DeviceType v2;
    grpc::Status status = env.stub->UpdateDeviceType(Context(acme.developer_key).get(), update, &v2);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(v2.version() == 2);
    CHECK(v2.metrics_size() == 3);
    CHECK(v2.display_name() == "Hydraulic press");

    pb::GetDeviceTypeRequest get;
    get.set_name(created.name());
    get.set_version(1);
    pb::DeviceType v1;
    REQUIRE(env.stub->GetDeviceType(Context(acme.admin_key).get(), get, &v1).ok());
    CHECK(v1.version() == 1);
    CHECK(v1.metrics_size() == 2);
    get.set_version(0);
    pb::DeviceType latest;
    REQUIRE(env.stub->GetDeviceType(Context(acme.admin_key).get(), get, &latest).ok());
    CHECK(latest.version() == 2);
    get.set_version(9);
    CHECK(env.stub->GetDeviceType(Context(acme.admin_key).get(), get, &latest).error_code() == grpc::NOT_FOUND);
  }

  SECTION("bad schemas and masks name the field") {
    pb::CreateDeviceTypeRequest request;
    request.set_parent(Parent(acme.tenant_id));
    request.set_device_type_id("sensor");
    request.mutable_device_type()->set_display_name("Sensor");
    auto* metric = request.mutable_device_type()->add_metrics();
    metric->set_name("flag");
    metric->set_value_type(pb::VALUE_TYPE_BOOL);
    metric->set_min(1);
    pb::DeviceType type;
    grpc::Status status = env.stub->CreateDeviceType(Context(acme.admin_key).get(), request, &type);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "device_type.metrics[0].min"));

    metric->clear_min();
    metric->set_value_type(pb::VALUE_TYPE_UNSPECIFIED);
    status = env.stub->CreateDeviceType(Context(acme.admin_key).get(), request, &type);
    CHECK(absl::StartsWith(status.error_message(), "device_type.metrics[0].value_type"));

    request.set_device_type_id("press");
    metric->set_value_type(pb::VALUE_TYPE_BOOL);
    CHECK(env.stub->CreateDeviceType(Context(acme.admin_key).get(), request, &type).error_code() ==
          grpc::ALREADY_EXISTS);

    pb::UpdateDeviceTypeRequest update;
    update.mutable_device_type()->set_name(created.name());
    update.mutable_update_mask()->add_paths("version");
    status = env.stub->UpdateDeviceType(Context(acme.admin_key).get(), update, &type);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "update_mask"));
  }

  SECTION("list pages through the types") {
    CreateType(env, acme.admin_key, acme.tenant_id, "pump");
    CreateType(env, acme.admin_key, acme.tenant_id, "valve");
    pb::ListDeviceTypesRequest list;
    list.set_parent(Parent(acme.tenant_id));
    list.set_page_size(2);
    pb::ListDeviceTypesResponse page;
    REQUIRE(env.stub->ListDeviceTypes(Context(acme.developer_key).get(), list, &page).ok());
    REQUIRE(page.device_types_size() == 2);
    CHECK(page.device_types(0).device_type_id() == "press");
    CHECK(page.device_types(1).device_type_id() == "pump");
    REQUIRE(!page.next_page_token().empty());
    list.set_page_token(page.next_page_token());
    REQUIRE(env.stub->ListDeviceTypes(Context(acme.developer_key).get(), list, &page).ok());
    REQUIRE(page.device_types_size() == 1);
    CHECK(page.device_types(0).device_type_id() == "valve");
    CHECK(page.next_page_token().empty());
  }

  SECTION("delete is refused while devices use the type, with the count") {
    pb::Device first = MustCreateDevice(env, acme.admin_key, acme.tenant_id, NewDevice("press", "SN-1"));
    MustCreateDevice(env, acme.admin_key, acme.tenant_id, NewDevice("press", "SN-2"));
    pb::DeleteDeviceTypeRequest remove;
    remove.set_name(created.name());
    pb::DeleteDeviceTypeResponse removed;
    grpc::Status status = env.stub->DeleteDeviceType(Context(acme.admin_key).get(), remove, &removed);
    CHECK(status.error_code() == grpc::FAILED_PRECONDITION);
    CHECK(absl::StrContains(status.error_message(), "2 devices use"));

    for (const char* serial : {"SN-1", "SN-2"}) {
      pb::ListDevicesRequest list;
      list.set_parent(Parent(acme.tenant_id));
      pb::ListDevicesResponse devices;
      REQUIRE(env.stub->ListDevices(Context(acme.admin_key).get(), list, &devices).ok());
      for (const auto& device : devices.devices()) {
        if (device.serial_number() != serial) continue;
        pb::DeleteDeviceRequest delete_device;
        delete_device.set_name(device.name());
        pb::DeleteDeviceResponse deleted;
        REQUIRE(env.stub->DeleteDevice(Context(acme.admin_key).get(), delete_device, &deleted).ok());
      }
    }
    status = env.stub->DeleteDeviceType(Context(acme.admin_key).get(), remove, &removed);
    INFO(status.error_message());
    REQUIRE(status.ok());
    pb::GetDeviceTypeRequest get;
    get.set_name(created.name());
    pb::DeviceType gone;
    CHECK(env.stub->GetDeviceType(Context(acme.admin_key).get(), get, &gone).error_code() == grpc::NOT_FOUND);
  }
}

TEST_CASE("device: devices are created, listed with filters and pages, updated and deleted",
          "[device][integration]") {
  DeviceEnv env;
  TestTenant acme = env.tenants.CreateTenant("acme");
  CreateType(env, acme.admin_key, acme.tenant_id, "press");
  CreateType(env, acme.admin_key, acme.tenant_id, "pump");
  for (int i = 0; i < 5; ++i) {
    pb::Device device = NewDevice(i < 3 ? "press" : "pump", absl::StrCat("SN-", i));
    device.set_device_id(absl::StrCat("dev-", i));
    (*device.mutable_labels())["line"] = i % 2 == 0 ? "3" : "4";
    (*device.mutable_labels())["site"] = "north";
    (*device.mutable_attributes())["firmware"].set_string_value("1.0.0");
    (*device.mutable_attributes())["slots"].set_int64_value(8);
    pb::Device created = MustCreateDevice(env, acme.developer_key, acme.tenant_id, device);
    CHECK(created.state() == pb::DEVICE_STATE_PROVISIONED);
    CHECK(created.attributes().at("slots").int64_value() == 8);
    CHECK(created.identifier() ==
          absl::StrCat("88.", kParkCode, ".", TenantCode(env, acme.tenant_id), "/SN-", i));
    CHECK(created.has_create_time());
    CHECK_FALSE(created.has_last_seen_time());
  }

  SECTION("bad and clashing devices are refused naming the field") {
    pb::Device created;
    grpc::Status status = CreateDevice(env, acme.admin_key, acme.tenant_id, NewDevice("press", ""), &created);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(status.error_message() == "device.serial_number: must be 1 to 64 characters, got 0");
    google::rpc::Status details;
    REQUIRE(details.ParseFromString(status.error_details()));
    google::rpc::BadRequest bad_request;
    REQUIRE(details.details_size() == 1);
    REQUIRE(details.details(0).UnpackTo(&bad_request));
    CHECK(bad_request.field_violations(0).field() == "device.serial_number");

    status = CreateDevice(env, acme.admin_key, acme.tenant_id, NewDevice("press", "SN-0"), &created);
    CHECK(status.error_code() == grpc::ALREADY_EXISTS);
    pb::Device same_id = NewDevice("press", "SN-new");
    same_id.set_device_id("dev-0");
    CHECK(CreateDevice(env, acme.admin_key, acme.tenant_id, same_id, &created).error_code() == grpc::ALREADY_EXISTS);
    status = CreateDevice(env, acme.admin_key, acme.tenant_id, NewDevice("nosuchtype", "SN-9"), &created);
    CHECK(status.error_code() == grpc::FAILED_PRECONDITION);
    CHECK(absl::StartsWith(status.error_message(), "device.device_type_id"));
    pb::Device bad_label = NewDevice("press", "SN-9");
    (*bad_label.mutable_labels())["Line"] = "3";
    status = CreateDevice(env, acme.admin_key, acme.tenant_id, bad_label, &created);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "device.labels"));
  }

  SECTION("filters select by type, label and state") {
    auto list = [&](const std::string& filter) {
      pb::ListDevicesRequest request;
      request.set_parent(Parent(acme.tenant_id));
      request.set_filter(filter);
      pb::ListDevicesResponse response;
      grpc::Status status = env.stub->ListDevices(Context(acme.developer_key).get(), request, &response);
      INFO(status.error_message());
      REQUIRE(status.ok());
      std::vector<std::string> ids;
      for (const auto& device : response.devices()) ids.push_back(device.device_id());
      return ids;
    };
    CHECK(list("") == std::vector<std::string>{"dev-0", "dev-1", "dev-2", "dev-3", "dev-4"});
    CHECK(list("labels.line=3") == std::vector<std::string>{"dev-0", "dev-2", "dev-4"});
    CHECK(list("labels.line = \"3\" AND device_type = press") == std::vector<std::string>{"dev-0", "dev-2"});
    CHECK(list("device_type = pump AND labels.site = north") == std::vector<std::string>{"dev-3", "dev-4"});
    CHECK(list("state = PROVISIONED").size() == 5);
    CHECK(list("state = DISABLED").empty());

    pb::ListDevicesRequest bad;
    bad.set_parent(Parent(acme.tenant_id));
    bad.set_filter("color = red");
    pb::ListDevicesResponse response;
    grpc::Status status = env.stub->ListDevices(Context(acme.developer_key).get(), bad, &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "filter"));
  }

  SECTION("pages cover every device once and tokens are bound to the query") {
    pb::ListDevicesRequest request;
    request.set_parent(Parent(acme.tenant_id));
    request.set_page_size(2);
    std::vector<std::string> seen;
    std::string first_token;
    do {
      pb::ListDevicesResponse page;
      REQUIRE(env.stub->ListDevices(Context(acme.developer_key).get(), request, &page).ok());
      for (const auto& device : page.devices()) seen.push_back(device.device_id());
      if (first_token.empty()) first_token = page.next_page_token();
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    CHECK(seen == std::vector<std::string>{"dev-0", "dev-1", "dev-2", "dev-3", "dev-4"});

    request.set_page_token(first_token);
    request.set_filter("labels.line = 3");
    pb::ListDevicesResponse page;
    grpc::Status status = env.stub->ListDevices(Context(acme.developer_key).get(), request, &page);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "page_token"));
  }

  SECTION("update changes masked fields only, delete removes") {
    pb::UpdateDeviceRequest update;
    update.mutable_device()->set_name(absl::StrCat("tenants/", acme.tenant_id, "/devices/dev-1"));
    update.mutable_device()->set_display_name("Press 1");
    (*update.mutable_device()->mutable_labels())["line"] = "9";
    update.mutable_device()->set_device_type_id("pump");
    update.mutable_update_mask()->add_paths("labels");
    update.mutable_update_mask()->add_paths("device_type_id");
    pb::Device updated;
    grpc::Status status = env.stub->UpdateDevice(Context(acme.admin_key).get(), update, &updated);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(updated.labels().size() == 1);
    CHECK(updated.labels().at("line") == "9");
    CHECK(updated.display_name().empty());
    CHECK(updated.device_type_id() == "pump");
    CHECK(updated.attributes().at("firmware").string_value() == "1.0.0");

    update.mutable_update_mask()->Clear();
    update.mutable_update_mask()->add_paths("serial_number");
    CHECK(env.stub->UpdateDevice(Context(acme.admin_key).get(), update, &updated).error_code() ==
          grpc::INVALID_ARGUMENT);
    update.mutable_update_mask()->Clear();
    update.mutable_update_mask()->add_paths("device_type_id");
    update.mutable_device()->set_device_type_id("nosuchtype");
    CHECK(env.stub->UpdateDevice(Context(acme.admin_key).get(), update, &updated).error_code() ==
          grpc::FAILED_PRECONDITION);

    pb::DeleteDeviceRequest remove;
    remove.set_name(update.device().name());
    pb::DeleteDeviceResponse removed;
    REQUIRE(env.stub->DeleteDevice(Context(acme.admin_key).get(), remove, &removed).ok());
    CHECK(GetDeviceCode(env, acme.admin_key, remove.name()) == grpc::NOT_FOUND);
    CHECK(env.stub->DeleteDevice(Context(acme.admin_key).get(), remove, &removed).error_code() == grpc::NOT_FOUND);
  }
}

TEST_CASE("device: another tenant's device resources are NOT_FOUND for every device RPC", "[device][integration]") {
  DeviceEnv env;
  TestTenant acme = env.tenants.CreateTenant("acme");
  TestTenant rival = env.tenants.CreateTenant("rival");
  CreateType(env, acme.admin_key, acme.tenant_id, "press");
  pb::Device device = MustCreateDevice(env, acme.admin_key, acme.tenant_id, NewDevice("press", "SN-1"));
  std::string key_id;
  MintCredential(env, acme.admin_key, device.name(), &key_id);
  const std::string parent = Parent(acme.tenant_id);
  const std::string type_name = absl::StrCat(parent, "/deviceTypes/press");

  for (const std::string& key : {rival.admin_key, rival.developer_key}) {
    std::vector<std::pair<std::string, grpc::Status>> calls;
    {
      pb::CreateDeviceTypeRequest r;
      r.set_parent(parent);
      r.set_device_type_id("intruder");
      r.mutable_device_type()->set_display_name("x");
      pb::DeviceType out;
      calls.emplace_back("CreateDeviceType", env.stub->CreateDeviceType(Context(key).get(), r, &out));
    }
    {
      pb::GetDeviceTypeRequest r;
      r.set_name(type_name);
      pb::DeviceType out;
      calls.emplace_back("GetDeviceType", env.stub->GetDeviceType(Context(key).get(), r, &out));
    }
    {
      pb::ListDeviceTypesRequest r;
      r.set_parent(parent);
      pb::ListDeviceTypesResponse out;
      calls.emplace_back("ListDeviceTypes", env.stub->ListDeviceTypes(Context(key).get(), r, &out));
    }
    {
      pb::UpdateDeviceTypeRequest r;
      r.mutable_device_type()->set_name(type_name);
      r.mutable_device_type()->set_display_name("pwned");
      r.mutable_update_mask()->add_paths("display_name");
      pb::DeviceType out;
      calls.emplace_back("UpdateDeviceType", env.stub->UpdateDeviceType(Context(key).get(), r, &out));
    }
    {
      pb::DeleteDeviceTypeRequest r;
      r.set_name(type_name);
      pb::DeleteDeviceTypeResponse out;
      calls.emplace_back("DeleteDeviceType", env.stub->DeleteDeviceType(Context(key).get(), r, &out));
    }
    {
      pb::CreateDeviceRequest r;
      r.set_parent(parent);
      *r.mutable_device() = NewDevice("press", "SN-X");
      pb::Device out;
      calls.emplace_back("CreateDevice", env.stub->CreateDevice(Context(key).get(), r, &out));
    }
    {
      pb::GetDeviceRequest r;
      r.set_name(device.name());
      pb::Device out;
      calls.emplace_back("GetDevice", env.stub->GetDevice(Context(key).get(), r, &out));
    }
    {
      pb::ListDevicesRequest r;
      r.set_parent(parent);
      pb::ListDevicesResponse out;
      calls.emplace_back("ListDevices", env.stub->ListDevices(Context(key).get(), r, &out));
    }
    {
      pb::UpdateDeviceRequest r;
      r.mutable_device()->set_name(device.name());
      r.mutable_update_mask()->add_paths("display_name");
      pb::Device out;
      calls.emplace_back("UpdateDevice", env.stub->UpdateDevice(Context(key).get(), r, &out));
    }
    {
      pb::DeleteDeviceRequest r;
      r.set_name(device.name());
      pb::DeleteDeviceResponse out;
      calls.emplace_back("DeleteDevice", env.stub->DeleteDevice(Context(key).get(), r, &out));
    }
    {
      pb::DisableDeviceRequest r;
      r.set_name(device.name());
      pb::Device out;
      calls.emplace_back("DisableDevice", env.stub->DisableDevice(Context(key).get(), r, &out));
    }
    {
      pb::EnableDeviceRequest r;
      r.set_name(device.name());
      pb::Device out;
      calls.emplace_back("EnableDevice", env.stub->EnableDevice(Context(key).get(), r, &out));
    }
    {
      pb::SetDeviceAttributesRequest r;
      r.set_name(device.name());
      (*r.mutable_attributes())["x"].set_bool_value(true);
      pb::Device out;
      calls.emplace_back("SetDeviceAttributes", env.stub->SetDeviceAttributes(Context(key).get(), r, &out));
    }
    {
      pb::CreateDeviceCredentialRequest r;
      r.set_parent(device.name());
      r.mutable_credential()->set_display_name("stolen");
      pb::CreateDeviceCredentialResponse out;
      calls.emplace_back("CreateDeviceCredential", env.stub->CreateDeviceCredential(Context(key).get(), r, &out));
    }
    {
      pb::ListDeviceCredentialsRequest r;
      r.set_parent(device.name());
      pb::ListDeviceCredentialsResponse out;
      calls.emplace_back("ListDeviceCredentials", env.stub->ListDeviceCredentials(Context(key).get(), r, &out));
    }
    {
      pb::RevokeDeviceCredentialRequest r;
      r.set_name(absl::StrCat(device.name(), "/credentials/", key_id));
      pb::RevokeDeviceCredentialResponse out;
      calls.emplace_back("RevokeDeviceCredential", env.stub->RevokeDeviceCredential(Context(key).get(), r, &out));
    }
    {
      auto context = Context(key);
      pb::ImportDevicesResponse out;
      auto writer = env.stub->ImportDevices(context.get(), &out);
      pb::ImportDevicesRequest r;
      r.set_parent(parent);
      *r.add_devices() = NewDevice("press", "SN-IMPORT");
      writer->Write(r);
      writer->WritesDone();
      calls.emplace_back("ImportDevices", writer->Finish());
    }
    for (const auto& [method, status] : calls) {
      INFO(method << ": " << status.error_message());
      CHECK(status.error_code() == grpc::NOT_FOUND);
    }
  }

  // Nothing changed: the device, its type and its credential are as acme left them.
  pb::Device still;
  pb::GetDeviceRequest get;
  get.set_name(device.name());
  REQUIRE(env.stub->GetDevice(Context(acme.admin_key).get(), get, &still).ok());
  CHECK(still.state() == pb::DEVICE_STATE_PROVISIONED);
  CHECK(still.attributes().empty());
  pb::ListDeviceCredentialsRequest credentials;
  credentials.set_parent(device.name());
  pb::ListDeviceCredentialsResponse listed;
  REQUIRE(env.stub->ListDeviceCredentials(Context(acme.admin_key).get(), credentials, &listed).ok());
  REQUIRE(listed.credentials_size() == 1);
  CHECK_FALSE(listed.credentials(0).has_revoke_time());
  pb::ListDevicesRequest list;
  list.set_parent(parent);
  pb::ListDevicesResponse devices;
  REQUIRE(env.stub->ListDevices(Context(acme.admin_key).get(), list, &devices).ok());
  CHECK(devices.devices_size() == 1);
}

TEST_CASE("device: the max_devices quota holds under concurrent creates", "[device][integration]") {
  DeviceEnv env;
  TestTenant acme = env.tenants.CreateTenant("acme");
  constexpr int kQuota = 12;
  SetMaxDevices(env, acme.tenant_id, kQuota);
  CreateType(env, acme.admin_key, acme.tenant_id, "press");

  constexpr int kThreads = 4;
  constexpr int kPerThread = 8;
  std::atomic<int> created{0};
  std::atomic<int> exhausted{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // A channel each, so the creates really run side by side.
      auto channel = grpc::CreateChannel(env.server.address(), grpc::InsecureChannelCredentials());
      auto stub = pb::DeviceService::NewStub(channel);
      for (int i = 0; i < kPerThread; ++i) {
        pb::CreateDeviceRequest request;
        request.set_parent(Parent(acme.tenant_id));
        *request.mutable_device() = NewDevice("press", absl::StrCat("SN-", t, "-", i));
        pb::Device device;
        grpc::Status status = stub->CreateDevice(Context(acme.admin_key).get(), request, &device);
        if (status.ok()) {
          ++created;
        } else if (status.error_code() == grpc::RESOURCE_EXHAUSTED &&
                   absl::StrContains(status.error_message(), "max_devices")) {
          google::rpc::Status details;
          google::rpc::QuotaFailure quota;
          bool has_quota_failure = false;
          if (details.ParseFromString(status.error_details())) {
            for (const auto& any : details.details()) has_quota_failure |= any.UnpackTo(&quota);
          }
          if (has_quota_failure) ++exhausted;
          else ++other;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(created == kQuota);
  CHECK(exhausted == kThreads * kPerThread - kQuota);
  CHECK(other == 0);

  pb::ListDevicesRequest list;
  list.set_parent(Parent(acme.tenant_id));
  list.set_page_size(1000);
  pb::ListDevicesResponse devices;
  REQUIRE(env.stub->ListDevices(Context(acme.admin_key).get(), list, &devices).ok());
  CHECK(devices.devices_size() == kQuota);
}

TEST_CASE("device: a device's credentials list a page at a time, newest first, each once", "[device][integration]") {
  DeviceEnv env;
  TestTenant acme = env.tenants.CreateTenant("acme");
  CreateType(env, acme.admin_key, acme.tenant_id, "press");
  pb::Device device = MustCreateDevice(env, acme.admin_key, acme.tenant_id, NewDevice("press", "SN-PAGE"));
  pb::Device other = MustCreateDevice(env, acme.admin_key, acme.tenant_id, NewDevice("press", "SN-OTHER"));
  std::vector<std::string> minted;  // oldest first
  for (int i = 0; i < 5; ++i) {
    std::string key_id;
    MintCredential(env, acme.admin_key, device.name(), &key_id);
    minted.push_back(key_id);
  }
  std::vector<std::string> listed;
  pb::ListDeviceCredentialsRequest request;
  request.set_parent(device.name());
  request.set_page_size(2);
  std::string first_token;
  int pages = 0;
  do {
    pb::ListDeviceCredentialsResponse page;
    REQUIRE(env.stub->ListDeviceCredentials(Context(acme.admin_key).get(), request, &page).ok());
    CHECK(page.credentials_size() <= 2);
    for (const auto& credential : page.credentials()) listed.push_back(credential.key_id());
    if (pages == 0) first_token = page.next_page_token();
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 10);
  CHECK(pages == 3);
  CHECK(listed == std::vector<std::string>(minted.rbegin(), minted.rend()));

  // A token is bound to its list: another device's, or a tampered one, is refused.
  pb::ListDeviceCredentialsRequest elsewhere;
  elsewhere.set_parent(other.name());
  elsewhere.set_page_token(first_token);
  pb::ListDeviceCredentialsResponse refused;
  CHECK(env.stub->ListDeviceCredentials(Context(acme.admin_key).get(), elsewhere, &refused).error_code() ==
        grpc::INVALID_ARGUMENT);
  request.set_page_token(first_token + "x");
  CHECK(env.stub->ListDeviceCredentials(Context(acme.admin_key).get(), request, &refused).error_code() ==
        grpc::INVALID_ARGUMENT);
  request.set_page_token("");
  request.set_page_size(-1);
  CHECK(env.stub->ListDeviceCredentials(Context(acme.admin_key).get(), request, &refused).error_code() ==
        grpc::INVALID_ARGUMENT);
  // Without a page size, one page of the default 100 holds them all.
  request.set_page_size(0);
  pb::ListDeviceCredentialsResponse all;
  REQUIRE(env.stub->ListDeviceCredentials(Context(acme.admin_key).get(), request, &all).ok());
  CHECK(all.credentials_size() == 5);
  CHECK(all.next_page_token().empty());
}

TEST_CASE("device: credentials are refused after revoke or disable and work again after enable",
          "[device][integration]") {
  DeviceEnv env;
  TestTenant acme = env.tenants.CreateTenant("acme");
  CreateType(env, acme.admin_key, acme.tenant_id, "press");
  pb::Device device = MustCreateDevice(env, acme.admin_key, acme.tenant_id, NewDevice("press", "SN-1"));
  pb::Device sibling = MustCreateDevice(env, acme.admin_key, acme.tenant_id, NewDevice("press", "SN-2"));
  std::string key_id;
  const std::string device_key = MintCredential(env, acme.admin_key, device.name(), &key_id);

  SECTION("a device reads and writes only itself") {
    CHECK(GetDeviceCode(env, device_key, device.name()) == grpc::OK);
    CHECK(GetDeviceCode(env, device_key, sibling.name()) == grpc::NOT_FOUND);

    pb::SetDeviceAttributesRequest set;
    set.set_name(device.name());
    (*set.mutable_attributes())["firmware"].set_string_value("2.1.0");
    (*set.mutable_attributes())["temperature_limit"].set_double_value(80.5);
    pb::Device updated;
    grpc::Status status = env.stub->SetDeviceAttributes(Context(device_key).get(), set, &updated);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(updated.attributes().at("firmware").string_value() == "2.1.0");
    CHECK(updated.attributes().at("temperature_limit").double_value() == 80.5);
    CHECK(updated.state() == pb::DEVICE_STATE_ACTIVE);
    CHECK(updated.has_last_seen_time());

    set.set_name(sibling.name());
    CHECK(env.stub->SetDeviceAttributes(Context(device_key).get(), set, &updated).error_code() == grpc::NOT_FOUND);

    pb::SetDeviceAttributesRequest remove;
    remove.set_name(device.name());
    remove.add_remove_keys("firmware");
    REQUIRE(env.stub->SetDeviceAttributes(Context(acme.developer_key).get(), remove, &updated).ok());
    CHECK_FALSE(updated.attributes().contains("firmware"));
    CHECK(updated.attributes().contains("temperature_limit"));

    // Everything else is not for a device.
    pb::ListDevicesRequest list;
    list.set_parent(Parent(acme.tenant_id));
    pb::ListDevicesResponse devices;
    CHECK(env.stub->ListDevices(Context(device_key).get(), list, &devices).error_code() == grpc::PERMISSION_DENIED);
    pb::UpdateDeviceRequest update;
    update.mutable_device()->set_name(device.name());
    update.mutable_update_mask()->add_paths("display_name");
    CHECK(env.stub->UpdateDevice(Context(device_key).get(), update, &updated).error_code() ==
          grpc::PERMISSION_DENIED);
    pb::CreateDeviceCredentialRequest mint;
    mint.set_parent(device.name());
    mint.mutable_credential()->set_display_name("more");
    pb::CreateDeviceCredentialResponse minted;
    CHECK(env.stub->CreateDeviceCredential(Context(device_key).get(), mint, &minted).error_code() ==
          grpc::PERMISSION_DENIED);
    // Only tenant admins mint credentials.
    CHECK(env.stub->CreateDeviceCredential(Context(acme.developer_key).get(), mint, &minted).error_code() ==
          grpc::PERMISSION_DENIED);
  }

  SECTION("disable blocks at once, enable unblocks") {
    pb::DisableDeviceRequest disable;
    disable.set_name(device.name());
    pb::Device disabled;
    REQUIRE(env.stub->DisableDevice(Context(acme.admin_key).get(), disable, &disabled).ok());
    CHECK(disabled.state() == pb::DEVICE_STATE_DISABLED);
    CHECK(GetDeviceCode(env, device_key, device.name()) == grpc::PERMISSION_DENIED);
    CHECK(env.stub->DisableDevice(Context(acme.admin_key).get(), disable, &disabled).error_code() ==
          grpc::FAILED_PRECONDITION);
    // A key minted while disabled starts blocked too.
    const std::string late_key = MintCredential(env, acme.admin_key, device.name());
    CHECK(GetDeviceCode(env, late_key, device.name()) == grpc::PERMISSION_DENIED);

    pb::EnableDeviceRequest enable;
    enable.set_name(device.name());
    pb::Device enabled;
    REQUIRE(env.stub->EnableDevice(Context(acme.admin_key).get(), enable, &enabled).ok());
    CHECK(enabled.state() == pb::DEVICE_STATE_ACTIVE);
    CHECK(GetDeviceCode(env, device_key, device.name()) == grpc::OK);
    CHECK(GetDeviceCode(env, late_key, device.name()) == grpc::OK);

    // The same through UpdateDevice's state.
    pb::UpdateDeviceRequest update;
    update.mutable_device()->set_name(device.name());
    update.mutable_device()->set_state(pb::DEVICE_STATE_DISABLED);
    update.mutable_update_mask()->add_paths("state");
    pb::Device updated;
    REQUIRE(env.stub->UpdateDevice(Context(acme.admin_key).get(), update, &updated).ok());
    CHECK(GetDeviceCode(env, device_key, device.name()) == grpc::PERMISSION_DENIED);
    update.mutable_device()->set_state(pb::DEVICE_STATE_ACTIVE);
    REQUIRE(env.stub->UpdateDevice(Context(acme.admin_key).get(), update, &updated).ok());
    CHECK(GetDeviceCode(env, device_key, device.name()) == grpc::OK);
  }

  SECTION("revoke refuses the key for good; delete revokes all") {
    pb::RevokeDeviceCredentialRequest revoke;
    revoke.set_name(absl::StrCat(device.name(), "/credentials/", key_id));
    pb::RevokeDeviceCredentialResponse revoked;
    REQUIRE(env.stub->RevokeDeviceCredential(Context(acme.admin_key).get(), revoke, &revoked).ok());
    CHECK(GetDeviceCode(env, device_key, device.name()) == grpc::UNAUTHENTICATED);
    CHECK(env.stub->RevokeDeviceCredential(Context(acme.admin_key).get(), revoke, &revoked).error_code() ==
          grpc::NOT_FOUND);

    pb::ListDeviceCredentialsRequest list;
    list.set_parent(device.name());
    pb::ListDeviceCredentialsResponse listed;
    REQUIRE(env.stub->ListDeviceCredentials(Context(acme.admin_key).get(), list, &listed).ok());
    REQUIRE(listed.credentials_size() == 1);
    CHECK(listed.credentials(0).key_id() == key_id);
    CHECK(listed.credentials(0).has_revoke_time());

    const std::string sibling_key = MintCredential(env, acme.admin_key, sibling.name());
    CHECK(GetDeviceCode(env, sibling_key, sibling.name()) == grpc::OK);
    pb::DeleteDeviceRequest remove;
    remove.set_name(sibling.name());
    pb::DeleteDeviceResponse removed;
    REQUIRE(env.stub->DeleteDevice(Context(acme.admin_key).get(), remove, &removed).ok());
    CHECK(GetDeviceCode(env, sibling_key, sibling.name()) == grpc::UNAUTHENTICATED);
    // The id stays taken (its telemetry outlives it), and the old key stays revoked.
    pb::Device again = NewDevice("press", "SN-2");
    again.set_device_id(sibling.device_id());
    pb::Device created;
    grpc::Status reused = CreateDevice(env, acme.admin_key, acme.tenant_id, again, &created);
    CHECK(reused.error_code() == grpc::ALREADY_EXISTS);
    CHECK(absl::StartsWith(reused.error_message(), "device.device_id"));
    CHECK(GetDeviceCode(env, sibling_key, sibling.name()) == grpc::UNAUTHENTICATED);
  }
}

TEST_CASE("device: identifiers resolve park-wide to public metadata only", "[device][integration]") {
  DeviceEnv env;
  TestTenant acme = env.tenants.CreateTenant("acme");
  TestTenant rival = env.tenants.CreateTenant("rival");
  CreateType(env, acme.admin_key, acme.tenant_id, "press");
  pb::Device device = NewDevice("press", "SN-PUBLIC-1");
  device.set_display_name("Secret press in hall B");
  (*device.mutable_labels())["line"] = "confidential-line";
  (*device.mutable_attributes())["rated_force_kn"].set_int64_value(2000);
  (*device.mutable_attributes())["customer"].set_string_value("private-customer-name");
  device.add_public_attribute_keys("rated_force_kn");
  pb::Device created = MustCreateDevice(env, acme.admin_key, acme.tenant_id, device);
  const std::string identifier = absl::StrCat("88.", kParkCode, ".", TenantCode(env, acme.tenant_id), "/SN-PUBLIC-1");
  REQUIRE(created.identifier() == identifier);

  auto resolve = [&](const std::string& key, const std::string& id, pb::IdentifierRecord* record) {
    pb::ResolveIdentifierRequest request;
    request.set_identifier(id);
    return env.stub->ResolveIdentifier(Context(key).get(), request, record);
  };

  const std::string device_key = MintCredential(env, acme.admin_key, created.name());
  for (const std::string& key : {rival.developer_key, rival.admin_key, acme.developer_key, device_key}) {
    pb::IdentifierRecord record;
    grpc::Status status = resolve(key, identifier, &record);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(record.identifier() == identifier);
    CHECK(record.type_display_name() == "Hydraulic press");
    CHECK(record.vendor() == "Acme Presses");
    CHECK(record.model() == "HP-200");
    REQUIRE(record.public_attributes().size() == 1);
    CHECK(record.public_attributes().at("rated_force_kn").int64_value() == 2000);
    // Nothing private anywhere in the answer, not even in unknown fields.
    const std::string wire = record.SerializeAsString();
    for (const char* secret : {"Secret press", "confidential-line", "private-customer-name", "customer",
                               "secret type description", created.device_id().c_str(), acme.tenant_id.c_str()}) {
      INFO(secret);
      CHECK_FALSE(absl::StrContains(wire, secret));
    }
  }

  pb::IdentifierRecord record;
  CHECK(resolve(rival.developer_key, absl::StrCat(identifier, "X"), &record).error_code() == grpc::NOT_FOUND);
  CHECK(resolve(rival.developer_key, "88.999.1000/SN-PUBLIC-1", &record).error_code() == grpc::NOT_FOUND);
  for (const char* malformed : {"", "SN-PUBLIC-1", "88.7/SN", "89.7.1000/SN", "88.7.1000/", "88.x.1000/SN",
                                "88.7.1000/bad serial"}) {
    INFO(malformed);
    grpc::Status status = resolve(rival.developer_key, malformed, &record);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "identifier"));
  }
  CHECK(resolve("", identifier, &record).error_code() == grpc::UNAUTHENTICATED);

  SECTION("the public copy follows type and device changes") {
    pb::UpdateDeviceTypeRequest update_type;
    update_type.mutable_device_type()->set_name(absl::StrCat("tenants/", acme.tenant_id, "/deviceTypes/press"));
    update_type.mutable_device_type()->set_vendor("Acme Heavy Industries");
    update_type.mutable_update_mask()->add_paths("vendor");
    pb::DeviceType type;
    REQUIRE(env.stub->UpdateDeviceType(Context(acme.admin_key).get(), update_type, &type).ok());
    pb::UpdateDeviceRequest update_device;
    update_device.mutable_device()->set_name(created.name());
    update_device.mutable_device()->add_public_attribute_keys("customer");
    update_device.mutable_update_mask()->add_paths("public_attribute_keys");
    pb::Device updated;
    REQUIRE(env.stub->UpdateDevice(Context(acme.admin_key).get(), update_device, &updated).ok());
    REQUIRE(resolve(rival.developer_key, identifier, &record).ok());
    CHECK(record.vendor() == "Acme Heavy Industries");
    CHECK(record.public_attributes().size() == 1);
    CHECK(record.public_attributes().at("customer").string_value() == "private-customer-name");

    pb::DeleteDeviceRequest remove;
    remove.set_name(created.name());
    pb::DeleteDeviceResponse removed;
    REQUIRE(env.stub->DeleteDevice(Context(acme.admin_key).get(), remove, &removed).ok());
    CHECK(resolve(rival.developer_key, identifier, &record).error_code() == grpc::NOT_FOUND);
  }
}

}  // namespace
}  // namespace parkbase::testing
