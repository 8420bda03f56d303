// TelemetryService's requests (TelemetryManager: writes, reads, aggregation, retention, subscriptions) over in-memory
// fakes of its store and Redis state, from every kind of caller: see request_fuzzing.h for the input and the
// invariants. The Aggregate bucket of 2^61 seconds that once divided by zero is one mutation from its seeds.
#include "fuzz/fuzz_target.h"
#include "fuzz/telemetry_world.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"

namespace parkbase::fuzz {
namespace {

const ServiceTarget& Target() {
  static const auto* target = new ServiceTarget{
      telemetrypb::TelemetryService::service_full_name(),
      [] { return std::make_unique<TelemetryWorld>(); },
      ExampleDeviceDictionary(),
      {
          // Times: now is 1800000000 s; two days of points before it, the last five minutes in the ingest log.
          {{kAcmeAdmin, "Write",
            R"(parent: "tenants/acme" batch_id: "b-1" writer_id: "gateway-1"
               points { device: "press-1" metric: "temp" time { seconds: 1799999990 } value { double_value: 21.5 } }
               points { device: "88.7.1001/PR-0001" metric: "count" time { seconds: 1799999991 } value { int_value: 9 } }
               points { device: "press-1" metric: "status" time { seconds: 1799999992 } value { string_value: "ok" } }
               points { device: "mixer-1" metric: "speed" time { seconds: 1799999993 } value { double_value: 5 } }
               series { device: "press-2" metric: "temp" timestamps_ms: [1799999000000, 1799999060000]
                        double_values: [20.1, 20.2] }
               series { device: "press-1" metric: "running" timestamps_ms: [1799999000000] bool_values: [true] })"},
           {kAcmeAdmin, "Write",
            R"(parent: "tenants/acme" batch_id: "b-1" writer_id: "gateway-1"
               points { device: "press-1" metric: "temp" time { seconds: 1799999990 } value { double_value: 21.5 } })"}},
          {{kAcmeDevice, "Write",
            R"(parent: "tenants/acme"
               points { device: "press-1" metric: "temp" time { seconds: 1799999000 } value { double_value: 40 } }
               points { device: "press-2" metric: "temp" time { seconds: 1799999000 } value { double_value: 40 } })"}},
          {{kAcmeDeveloper, "WriteStream",
            R"(parent: "tenants/acme" batch_id: "s-1"
               series { device: "press-1" metric: "count" timestamps_ms: [1799990000000, 1799990001000]
                        int_values: [1, 2] })"},
           {kAcmeDeveloper, "Subscribe", R"(parent: "tenants/acme" devices: "press-1" metrics: "count")"}},
          {{kAcmeDeveloper, "GetLatest",
            R"(parent: "tenants/acme" devices: ["press-1", "88.7.1001/PR-0002"] metrics: "temp")"},
           {kAcmeDeveloper, "GetLatest", R"(parent: "tenants/acme" devices: "press-1")"}},
          {{kAcmeDeveloper, "ReadRange",
            R"(parent: "tenants/acme" device: "press-1" start_time { seconds: 1799989200 }
               end_time { seconds: 1800000000 } page_size: 5)"},
           {kAcmeDeveloper, "ReadRange",
            R"(parent: "tenants/acme" device: "press-1" start_time { seconds: 1799989200 }
               end_time { seconds: 1800000000 } page_size: 5 page_token: "$page_token")"}},
          {{kAcmeDeveloper, "ReadRange",
            R"(parent: "tenants/acme" device: "88.7.1001/PR-0001" metrics: ["temp", "status"]
               start_time { seconds: 1799827200 } end_time { seconds: 1800000600 })"}},
          {{kAcmeAdmin, "Aggregate",
            R"(parent: "tenants/acme" devices: "press-1" metric: "temp" start_time { seconds: 1799827200 }
               end_time { seconds: 1800000000 } bucket { seconds: 3600 } per_device: true)"}},
          {{kAcmeDeveloper, "Aggregate",
            R"(parent: "tenants/acme" labels { key: "line" value: "3" } metric: "temp"
               start_time { seconds: 1799992830 } end_time { seconds: 1799996430 } bucket { seconds: 60 })"}},
          {{kAcmeDeveloper, "Aggregate",
            R"(parent: "tenants/acme" devices: ["press-1", "press-2"] metric: "count"
               start_time { seconds: 1799827200 } end_time { seconds: 1800000000 } bucket { seconds: 86400 }
               per_device: true)"}},
          {{kGlobexAdmin, "Aggregate",
            R"(parent: "tenants/globex" labels { key: "line" value: "3" } metric: "rpm"
               start_time { seconds: 1799990000 } end_time { seconds: 1800000000 } bucket { seconds: 600 })"}},
          // The app: line 3 only (press-1, mixer-1), reads temp, count and speed, writes temp.
          {{kAcmeApp, "Write",
            R"(parent: "tenants/acme"
               points { device: "press-1" metric: "temp" time { seconds: 1799999990 } value { double_value: 21 } }
               points { device: "press-2" metric: "temp" time { seconds: 1799999990 } value { double_value: 22 } }
               points { device: "press-1" metric: "status" time { seconds: 1799999990 } value { string_value: "x" } })"},
           {kAcmeApp, "GetLatest", R"(parent: "tenants/acme" devices: "press-1")"}},
          {{kAcmeAdmin, "Write",
            R"(parent: "tenants/acme"
               points { device: "press-2" metric: "temp" time { seconds: 1799999995 } value { double_value: 23 } }
               points { device: "press-1" metric: "status" time { seconds: 1799999995 } value { string_value: "y" } }
               points { device: "press-1" metric: "temp" time { seconds: 1799999995 } value { double_value: 24 } })"},
           {kAcmeApp, "Subscribe", R"(parent: "tenants/acme")"}},
          {{kAcmeApp, "ReadRange",
            R"(parent: "tenants/acme" device: "press-1" start_time { seconds: 1799989200 }
               end_time { seconds: 1800000000 } page_size: 5)"},
           {kAcmeApp, "ReadRange",
            R"(parent: "tenants/acme" device: "press-1" start_time { seconds: 1799989200 }
               end_time { seconds: 1800000000 } page_size: 5 page_token: "$page_token")"}},
          {{kAcmeApp, "Aggregate",
            R"(parent: "tenants/acme" labels { key: "site" value: "north-hall" } metric: "temp"
               start_time { seconds: 1799827200 } end_time { seconds: 1800000000 } bucket { seconds: 3600 }
               per_device: true)"},
           {kAcmeApp, "GetLatest", R"(parent: "tenants/acme" devices: "press-2")"}},
          {{kAcmeDeveloper, "GetRetentionPolicy", R"(name: "tenants/acme/retentionPolicy")"}},
          {{kAcmeAdmin, "UpdateRetentionPolicy",
            R"(retention_policy { name: "tenants/acme/retentionPolicy" raw_retention_days: 14
                 device_type_raw_retention_days { key: "press" value: 3 } rollup_1m_retention_days: 30 }
               update_mask { paths: ["raw_retention_days", "device_type_raw_retention_days",
                                     "rollup_1m_retention_days"] })"}},
          {{kParkAdmin, "Write",
            R"(parent: "tenants/globex"
               points { device: "lathe-1" metric: "rpm" time { seconds: 1799999999 } value { double_value: 12000 } })"}},
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
