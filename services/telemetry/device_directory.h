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
                                                            const std::string& reference,
                                                            Freshness freshness) override;
  std::vector<absl::StatusOr<std::shared_ptr<const DeviceInfo>>> ResolveMany(
      const std::string& tenant_id, const std::vector<std::string>& references, Freshness freshness) override;

  // Industrial identifiers look like 88.<park>.<tenant code>/<serial>; device ids never contain '/'.
  static bool IsIdentifier(const std::string& reference);

  // Converted schemas held in this process (schemas the resolver no longer holds are swept out as it goes).
  size_t converted_entries();

 private:
  // How long an identifier -> device id mapping is trusted; a device re-created under the same serial is seen
  // after at most this long.
  static constexpr absl::Duration kIdentifierTtl = absl::Seconds(5);
  static constexpr size_t kMaxCachedIdentifiers = 100'000;

  // Above this many converted schemas the cache is dropped whole (as the resolver's own bound: ~1 KB each).
  static constexpr size_t kMaxConvertedSchemas = 100'000;
  // Entries whose schema the resolver no longer holds are dropped every this many conversions.
  static constexpr int kConversionsPerSweep = 1024;

  // The device id behind a reference (identifiers through a short-lived cache and the database).
  absl::StatusOr<std::string> DeviceId(const std::string& tenant_id, const std::string& reference);
  // The DeviceInfo of a resolved schema, converted once per schema object the resolver hands out (the resolver
  // returns the same object while its entry is valid, a new one after any change).
  std::shared_ptr<const DeviceInfo> Convert(const device::DeviceSchemaResolver::SharedSchema& schema);

  struct ConvertedSchema {
    device::DeviceSchemaResolver::SharedSchema source;
    std::shared_ptr<const DeviceInfo> info;
  };

  struct CachedIdentifier {
    std::string device_id;
    absl::Time loaded;
  };

  device::DeviceSchemaResolver& resolver_;
  TelemetryStore& store_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, CachedIdentifier> identifiers_ ABSL_GUARDED_BY(mu_);
  // By the schema object converted: a hit costs no key to build, and an object stays alive (so its address is not
  // reused) while it is a key here.
  absl::flat_hash_map<const device::pb::DeviceSchema*, ConvertedSchema> converted_ ABSL_GUARDED_BY(mu_);
  int conversions_since_sweep_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace parkbase::telemetry
