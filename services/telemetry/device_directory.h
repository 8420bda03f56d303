// The write path's view of the device registry: device references (ids or industrial identifiers) resolved to
// the device's type and metric rules through the registry's DeviceSchemaResolver (in-process and Redis caches).
#pragma once

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "device/schema_resolver.h"
#include "telemetry/ingest.h"
#include "telemetry/telemetry_store.h"

namespace parkbase::telemetry {

class RegistryDeviceDirectory final : public DeviceDirectory {
 public:
  RegistryDeviceDirectory(device::DeviceSchemaResolver& resolver, TelemetryStore& store);

  absl::StatusOr<std::shared_ptr<const DeviceInfo>> Resolve(const std::string& tenant_id,
                                                            const std::string& reference) override;

  // Industrial identifiers look like 88.<park>.<tenant code>/<serial>; device ids never contain '/'.
  static bool IsIdentifier(const std::string& reference);

 private:
  // How long an identifier -> device id mapping is trusted; a device re-created under the same serial is seen
  // after at most this long.
  static constexpr absl::Duration kIdentifierTtl = absl::Seconds(5);
  static constexpr size_t kMaxCachedIdentifiers = 100'000;

  struct CachedIdentifier {
    std::string device_id;
    absl::Time loaded;
  };

  device::DeviceSchemaResolver& resolver_;
  TelemetryStore& store_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, CachedIdentifier> identifiers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parkbase::telemetry
