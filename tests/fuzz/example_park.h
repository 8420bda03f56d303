// The park the device and telemetry fuzz targets run in: tenants "acme" and "globex" (and the park's own), their
// device types and devices, the strings only one of them has, and the names worth putting into requests.
//
//   acme (code 1001): types press (temp DOUBLE -50..500, count INT64 >= 0, running BOOL, status STRING, pressure
//     DOUBLE without bounds) and mixer (speed DOUBLE); devices press-1 (ACTIVE, labels line=3 site=north-hall, a
//     public and a private attribute, one credential), press-2 (PROVISIONED, line=4), mixer-1 (DISABLED, line=3).
//   globex (code 1002): type lathe (rpm DOUBLE, spindle_load INT64); device lathe-1 (ACTIVE, line=3).
// Both tenants label a device line=3, so a label selector that crossed tenants would show.
#pragma once

#include <string>
#include <vector>

#include "fuzz/fake_device_store.h"

namespace parkbase::fuzz {

inline constexpr char kParkCode[] = "7";
inline constexpr char kPageTokenSecret[] = "fuzz-page-token-secret";
// The fake clock's now: 2027-01-15T08:00:00Z.
inline constexpr int64_t kNowSeconds = 1'800'000'000;

void AddExampleDevices(FakeDeviceStore& store);

// Strings of `tenant_id`'s devices that no other tenant may ever see (identifiers, type names and public
// attributes are public: ResolveIdentifier answers them to anyone).
std::vector<std::string> ExampleDeviceSecrets(const std::string& tenant_id);

// Resource names of both tenants, identifiers, filters, field paths: what the mutator puts into string fields.
std::vector<std::string> ExampleDeviceDictionary();

}  // namespace parkbase::fuzz
