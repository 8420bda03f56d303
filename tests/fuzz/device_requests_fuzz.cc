// DeviceService's requests (DeviceManager, ImportDevices as a two-message stream) over the in-memory device store
// holding the example park, from every kind of caller: see request_fuzzing.h for the input and the invariants.
#include "fuzz/device_world.h"
#include "fuzz/fuzz_target.h"
#include "parkbase/device/v1/device.grpc.pb.h"

namespace parkbase::fuzz {
namespace {

const ServiceTarget& Target() {
  static const auto* target = new ServiceTarget{
      devicepb::DeviceService::service_full_name(),
      [] { return std::make_unique<DeviceWorld>(); },
      ExampleDeviceDictionary(),
      {
          {{kAcmeDeveloper, "CreateDeviceType",
            R"(parent: "tenants/acme" device_type_id: "oven" device_type {
                 display_name: "Oven" vendor: "Rational"
                 metrics { name: "temp" unit: "C" value_type: VALUE_TYPE_DOUBLE min: 0 max: 300 }
                 metrics { name: "door_open" value_type: VALUE_TYPE_BOOL } })"},
           {kAcmeDeveloper, "GetDeviceType", R"(name: "tenants/acme/deviceTypes/oven" version: 1)"}},
          {{kAcmeAdmin, "ListDeviceTypes", R"(parent: "tenants/acme" page_size: 1)"},
           {kAcmeAdmin, "ListDeviceTypes", R"(parent: "tenants/acme" page_size: 1 page_token: "$page_token")"}},
          {{kAcmeDeveloper, "UpdateDeviceType",
            R"(device_type { name: "tenants/acme/deviceTypes/press" description: "line presses"
                 metrics { name: "temp" value_type: VALUE_TYPE_DOUBLE min: -40 max: 600 }
                 metrics { name: "count" value_type: VALUE_TYPE_INT64 } }
               update_mask { paths: "description" paths: "metrics" })"}},
          {{kAcmeAdmin, "DeleteDeviceType", R"(name: "tenants/acme/deviceTypes/mixer")"},
           {kAcmeAdmin, "DeleteDevice", R"(name: "tenants/acme/devices/mixer-1")"},
           {kAcmeAdmin, "DeleteDeviceType", R"(name: "tenants/acme/deviceTypes/mixer")"}},
          {{kAcmeDeveloper, "CreateDevice",
            R"(parent: "tenants/acme" device { device_id: "press-3" device_type_id: "press" serial_number: "PR-0003"
                 display_name: "press three" labels { key: "line" value: "5" }
                 attributes { key: "firmware" value { string_value: "7.2" } }
                 attributes { key: "slots" value { int64_value: 4 } } public_attribute_keys: "firmware" })"},
           {kAcmeDeveloper, "GetDevice", R"(name: "tenants/acme/devices/press-3")"}},
          {{kAcmeDevice, "GetDevice", R"(name: "tenants/acme/devices/press-1")"}},
          {{kGlobexAdmin, "GetDevice", R"(name: "tenants/acme/devices/press-1")"}},
          {{kAcmeDeveloper, "ListDevices", R"(parent: "tenants/acme" page_size: 1 filter: "labels.line = 3")"},
           {kAcmeDeveloper, "ListDevices",
            R"(parent: "tenants/acme" page_size: 1 filter: "labels.line = 3" page_token: "$page_token")"}},
          {{kParkAdmin, "ListDevices",
            R"(parent: "tenants/globex" filter: "device_type = lathe AND state = ACTIVE AND labels.line = \"3\"")"}},
          {{kAcmeAdmin, "UpdateDevice",
            R"(device { name: "tenants/acme/devices/press-2" display_name: "renamed" device_type_id: "mixer"
                 labels { key: "line" value: "9" } state: DEVICE_STATE_ACTIVE }
               update_mask { paths: "display_name" paths: "labels" paths: "device_type_id" paths: "state" })"}},
          {{kAcmeAdmin, "DisableDevice", R"(name: "tenants/acme/devices/press-1")"},
           {kAcmeAdmin, "EnableDevice", R"(name: "tenants/acme/devices/press-1")"}},
          {{kAcmeDevice, "SetDeviceAttributes",
            R"(name: "tenants/acme/devices/press-1" attributes { key: "uptime_h" value { double_value: 12.5 } }
               remove_keys: "weight_kg")"}},
          {{kAcmeAdmin, "CreateDeviceCredential",
            R"(parent: "tenants/acme/devices/press-2" credential { display_name: "gateway" })"},
           {kAcmeAdmin, "ListDeviceCredentials", R"(parent: "tenants/acme/devices/press-2")"}},
          {{kAcmeAdmin, "RevokeDeviceCredential", R"(name: "tenants/acme/devices/press-1/credentials/devkeyacme1")"}},
          {{kGlobexDevice, "ResolveIdentifier", R"(identifier: "88.7.1001/PR-0001")"}},
          // The app sees line 3 only: press-2 is NOT_FOUND, and is listed only after it moves to line 3.
          {{kAcmeApp, "ListDevices", R"(parent: "tenants/acme" page_size: 1)"},
           {kAcmeApp, "ListDevices", R"(parent: "tenants/acme" page_size: 1 page_token: "$page_token")"},
           {kAcmeApp, "GetDevice", R"(name: "tenants/acme/devices/press-2")"}},
          {{kAcmeAdmin, "UpdateDevice",
            R"(device { name: "tenants/acme/devices/press-2" labels { key: "line" value: "3" } }
               update_mask { paths: "labels" })"},
           {kAcmeApp, "GetDevice", R"(name: "tenants/acme/devices/press-2")"},
           {kAcmeApp, "GetDeviceType", R"(name: "tenants/acme/deviceTypes/press")"}},
          {{kAcmeAdmin, "ImportDevices",
            R"(parent: "tenants/acme"
               devices { device_id: "press-10" device_type_id: "press" serial_number: "PR-0010" }
               devices { device_type_id: "press" serial_number: "PR-0011" labels { key: "line" value: "3" } }
               devices { device_type_id: "press" serial_number: "PR-0001" }
               devices { device_type_id: "nosuch" serial_number: "PR-0012" })"}},
          {{kParkAdmin, "ImportDevices",
            R"(parent: "tenants/globex"
               devices { device_type_id: "lathe" serial_number: "GX-0002" }
               devices { device_type_id: "lathe" serial_number: "GX-0003" })"}},
      }};
  return *target;
}

}  // namespace

std::vector<std::string> FuzzSeeds() { return SeedInputs(Target()); }

}  // namespace parkbase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return parkbase::fuzz::RunCalls(parkbase::fuzz::Target(), data, size);
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return parkbase::fuzz::MutateCalls(parkbase::fuzz::Target(), data, size, max_size, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* first, size_t first_size, const uint8_t* second,
                                            size_t second_size, uint8_t* out, size_t max_out_size,
                                            unsigned int seed) {
  return parkbase::fuzz::CrossOverCalls(first, first_size, second, second_size, out, max_out_size, seed);
}
