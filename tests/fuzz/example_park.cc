#include "fuzz/example_park.h"

#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/request_fuzzing.h"
#include "google/protobuf/text_format.h"

namespace parkbase::fuzz {
namespace {

template <typename Message>
Message Parse(const std::string& text) {
  Message message;
  if (!google::protobuf::TextFormat::ParseFromString(text, &message)) Fail(absl::StrCat("example park: ", text));
  return message;
}

devicepb::DeviceCredential Credential(const std::string& tenant_id, const std::string& device_id,
                                      const std::string& key_id) {
  devicepb::DeviceCredential credential;
  credential.set_key_id(key_id);
  credential.set_name(absl::StrCat("tenants/", tenant_id, "/devices/", device_id, "/credentials/", key_id));
  credential.set_display_name("factory key");
  credential.mutable_create_time()->set_seconds(kNowSeconds - 86'400);
  return credential;
}

void BuildExampleDevices(FakeDeviceStore& store) {
  store.tenants["acme"].code = "1001";
  store.tenants["acme"].max_devices = 20;
  store.tenants["globex"].code = "1002";
  store.tenants["globex"].max_devices = 5;
  store.tenants["park"].code = "1000";
  store.AddType("acme", Parse<devicepb::DeviceType>(R"(
      device_type_id: "press" display_name: "Hydraulic press" vendor: "Schuler" model: "MSD 400"
      metrics { name: "temp" unit: "C" value_type: VALUE_TYPE_DOUBLE min: -50 max: 500 }
      metrics { name: "count" value_type: VALUE_TYPE_INT64 min: 0 }
      metrics { name: "running" value_type: VALUE_TYPE_BOOL }
      metrics { name: "status" value_type: VALUE_TYPE_STRING }
      metrics { name: "pressure" unit: "bar" value_type: VALUE_TYPE_DOUBLE })"));
  store.AddType("acme", Parse<devicepb::DeviceType>(R"(
      device_type_id: "mixer" display_name: "Mixer"
      metrics { name: "speed" value_type: VALUE_TYPE_DOUBLE min: 0 max: 3000 })"));
  store.AddDevice("acme", Parse<devicepb::Device>(R"(
      device_id: "press-1" device_type_id: "press" serial_number: "PR-0001" display_name: "Acme press line 3"
      labels { key: "line" value: "3" } labels { key: "site" value: "north-hall" }
      attributes { key: "firmware" value { string_value: "7.1" } }
      attributes { key: "calibration" value { string_value: "acme-cal-secret-77" } }
      attributes { key: "weight_kg" value { double_value: 4200 } }
      public_attribute_keys: "firmware" state: DEVICE_STATE_ACTIVE)"));
  store.AddDevice("acme", Parse<devicepb::Device>(R"(
      device_id: "press-2" device_type_id: "press" serial_number: "PR-0002" display_name: "Acme press line 4"
      labels { key: "line" value: "4" } state: DEVICE_STATE_PROVISIONED)"));
  store.AddDevice("acme", Parse<devicepb::Device>(R"(
      device_id: "mixer-1" device_type_id: "mixer" serial_number: "MX-0001" labels { key: "line" value: "3" }
      state: DEVICE_STATE_DISABLED)"));
  store.tenants["acme"].credentials["press-1"].push_back(Credential("acme", "press-1", "devkeyacme1"));

  store.AddType("globex", Parse<devicepb::DeviceType>(R"(
      device_type_id: "lathe" display_name: "CNC lathe" vendor: "DMG" model: "CTX 450"
      metrics { name: "rpm" value_type: VALUE_TYPE_DOUBLE min: 0 max: 20000 }
      metrics { name: "spindle_load" value_type: VALUE_TYPE_INT64 })"));
  store.AddDevice("globex", Parse<devicepb::Device>(R"(
      device_id: "lathe-1" device_type_id: "lathe" serial_number: "GX-0001" display_name: "Globex lathe bay 2"
      labels { key: "line" value: "3" }
      attributes { key: "recipe" value { string_value: "globex-recipe-secret-42" } }
      state: DEVICE_STATE_ACTIVE)"));
  store.tenants["globex"].credentials["lathe-1"].push_back(Credential("globex", "lathe-1", "devkeyglobex1"));
}

}  // namespace

void AddExampleDevices(FakeDeviceStore& store) {
  // Built once: parsing the rows for every input would cost more than most inputs.
  static const auto* rows = new std::map<std::string, FakeDeviceStore::TenantRows>([] {
    FakeDeviceStore example(kParkCode);
    BuildExampleDevices(example);
    return example.tenants;
  }());
  store.tenants = *rows;
}

std::vector<std::string> ExampleDeviceSecrets(const std::string& tenant_id) {
  if (tenant_id == "acme") {
    return {"press-1", "press-2", "mixer-1", "Acme press line", "north-hall", "acme-cal-secret-77", "devkeyacme1"};
  }
  if (tenant_id == "globex") return {"lathe-1", "Globex lathe bay", "globex-recipe-secret-42", "devkeyglobex1"};
  return {};
}

std::vector<std::string> ExampleDeviceDictionary() {
  return {"acme",
          "globex",
          "park",
          "tenants/acme",
          "tenants/globex",
          "tenants/park",
          "tenants/nosuch",
          "tenants/acme/devices/press-1",
          "tenants/acme/devices/press-2",
          "tenants/acme/devices/mixer-1",
          "tenants/globex/devices/lathe-1",
          "tenants/acme/devices/lathe-1",
          "tenants/acme/deviceTypes/press",
          "tenants/acme/deviceTypes/mixer",
          "tenants/globex/deviceTypes/lathe",
          "tenants/acme/devices/press-1/credentials/devkeyacme1",
          "tenants/globex/devices/lathe-1/credentials/devkeyglobex1",
          "tenants/acme/retentionPolicy",
          "tenants/globex/retentionPolicy",
          "press-1",
          "press-2",
          "mixer-1",
          "lathe-1",
          "press",
          "mixer",
          "lathe",
          "PR-0001",
          "GX-0001",
          "88.7.1001/PR-0001",
          "88.7.1001/PR-0002",
          "88.7.1001/MX-0001",
          "88.7.1002/GX-0001",
          "88.8.1001/PR-0001",
          "88.7.1001/",
          "88.7.01001/PR-0001",
          "line",
          "site",
          "north-hall",
          "firmware",
          "calibration",
          "temp",
          "count",
          "running",
          "status",
          "speed",
          "pressure",
          "rpm",
          "spindle_load",
          "state = ACTIVE",
          "state = DISABLED",
          "device_type = press",
          "labels.line = 3",
          "labels.line = \"3\"",
          "labels.site = north-hall AND state = ACTIVE",
          "display_name",
          "device_type_id",
          "labels",
          "attributes",
          "public_attribute_keys",
          "state",
          "metrics",
          "description",
          "vendor",
          "model",
          "raw_retention_days",
          "device_type_raw_retention_days",
          "rollup_1m_retention_days",
          "rollup_1h_retention_days",
          std::string(kPreviousPageToken)};
}

}  // namespace parkbase::fuzz
