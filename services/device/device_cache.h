// GetDevice without a database round trip: CachingDeviceStore keeps the devices it read in process, in front of any
// DeviceStore (PgDeviceStore in the server), invalidated across replicas through a per-tenant device epoch in Redis
// (`pb:device-epoch:{<tenant>}`, redis_keys.h) with the same shared check as the auth cache (common/tenant_epochs.h).
//
// What may be served: an entry is keyed by (tenant, scope kind, device id) and holds what the store answered under
// that same TenantScope, so a park-wide scope and a tenant scope never share an entry, and one tenant's entries are
// never looked up for another (the same device id in two tenants is two entries). Only the store's answer is
// cached; DeviceManager's checks (the access rule, an app credential's grant: VisibleTo) run on every call.
//
// Consistency (the bound architecture.md states):
// - Every method of this store that can change a Device (CreateDevice, UpdateDevice, DeleteDevice, ImportBatch)
//   forwards, then bumps the tenant's device epoch and drops the tenant's entries here: the replica that made a
//   change reads it back at once. Types and credentials are not part of a Device and are read uncached.
// - A device's activation by its first authenticated call (common/auth.cc) bumps the same epoch through the same
//   TenantEpochs, so this replica, too, shows it at once.
// - Every replica re-reads a tenant's epoch at most every `epoch_check_interval` (250 ms), and reads it before
//   the store, so an answer read before a change is never filed under the epoch bumped after it. **Bound: a
//   committed change to a device is shown by GetDevice on every replica within epoch_check_interval plus one Redis
//   round trip (250 ms + ~1 ms here, ≤ 1 s documented).**
// - Entries also end after `ttl` (5 s) whatever the epoch says: the bound when a bump was lost to a Redis outage
//   a replica did not notice.
// - Redis unreachable: the tenant's reads go to the store (bypass) and the whole cache is dropped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/tenant_entries.h"
#include "common/tenant_epochs.h"
#include "device/device_store.h"

namespace prometheus {
class Counter;
class Registry;
}  // namespace prometheus

namespace parkbase::device {

class CachingDeviceStore final : public DeviceStore {
 public:
  struct Options {
    absl::Duration ttl = absl::Seconds(5);
    // Cached devices; a Device message is ~300 bytes with a few labels and attributes, so 100,000 cost ~40 MB
    // with the keys. When full, the cache is emptied (a miss costs one database read).
    size_t max_entries = 100'000;
  };

  // `epochs`: the tenants' device epochs (redis_keys::DeviceEpoch), shared with whatever else on this replica
  // changes devices (the authenticator's device activation); its check interval is the bound above.
  // `registry` (may be null) gets parkbase_device_cache_lookups_total{result="hit|miss|bypass"}.
  CachingDeviceStore(DeviceStore& store, TenantEpochs& epochs, Clock& clock, Options options,
                     prometheus::Registry* registry = nullptr);

  absl::StatusOr<pb::Device> GetDevice(const TenantScope& scope, const std::string& device_id) override;

  // Bumps the tenant's device epoch and drops its entries here: after any change to the tenant's devices that did
  // not go through this store.
  void TenantDevicesChanged(const std::string& tenant_id);

  struct Stats {
    int64_t hits = 0;
    int64_t misses = 0;
    int64_t bypassed = 0;  // answered by the store because the tenant's epoch could not be read
  };
  Stats stats();
  size_t cached_entries();

  // Forwarded; those that can change a Device then bump the tenant's device epoch.
  absl::StatusOr<pb::DeviceType> CreateDeviceType(const TenantScope& scope, const pb::DeviceType& type) override;
  absl::StatusOr<pb::DeviceType> GetDeviceType(const TenantScope& scope, const std::string& type_id,
                                               int64_t version) override;
  absl::StatusOr<std::vector<pb::DeviceType>> ListDeviceTypes(const TenantScope& scope,
                                                              const std::string& after_type_id, int limit) override;
  absl::StatusOr<pb::DeviceType> UpdateDeviceType(const TenantScope& scope, const std::string& type_id,
                                                  const DeviceTypeMutation& mutate) override;
  absl::Status DeleteDeviceType(const TenantScope& scope, const std::string& type_id,
                                const std::string& etag) override;
  absl::StatusOr<pb::Device> CreateDevice(const TenantScope& scope, const std::string& park_code,
                                          const pb::Device& device) override;
  absl::StatusOr<std::vector<pb::Device>> ListDevices(const TenantScope& scope, const DeviceFilter& filter,
                                                      const std::string& after_device_id, int limit) override;
  absl::StatusOr<pb::Device> UpdateDevice(const TenantScope& scope, const std::string& device_id,
                                          const DeviceMutation& mutate, bool seen,
                                          const AuditEntry* audit = nullptr) override;
  absl::Status DeleteDevice(const TenantScope& scope, const std::string& device_id, const std::string& etag,
                            const AuditEntry& audit) override;
  absl::StatusOr<std::vector<pb::ImportRowResult>> ImportBatch(const TenantScope& scope,
                                                               const std::string& park_code,
                                                               const std::vector<ImportRow>& rows) override;
  absl::StatusOr<NewCredential> CreateCredential(const TenantScope& scope, const std::string& device_id,
                                                 const std::string& display_name, const std::string& creator,
                                                 const AuditEntry& audit, const ReplayTicket* replay) override;
  absl::StatusOr<std::vector<pb::DeviceCredential>> ListCredentials(const TenantScope& scope,
                                                                    const std::string& device_id) override;
  absl::Status RevokeCredential(const TenantScope& scope, const std::string& device_id, const std::string& key_id,
                                const AuditEntry& audit) override;
  absl::StatusOr<pb::IdentifierRecord> ResolveIdentifier(const TenantScope& scope,
                                                          const std::string& identifier) override;
  absl::StatusOr<pb::DeviceSchema> LoadSchema(const TenantScope& scope, const std::string& device_id) override;
  absl::StatusOr<std::vector<pb::DeviceSchema>> LoadSchemas(const TenantScope& scope,
                                                            const std::vector<std::string>& device_ids) override;

 private:
  struct Entry {
    // The store's answer: a device, or NOT_FOUND (a deleted device's id is looked up too).
    absl::StatusOr<pb::Device> device;
    int64_t epoch = 0;
    absl::Time loaded;
  };
  // Within a tenant: the scope kind and the device id.
  static std::string EntryKey(const TenantScope& scope, const std::string& device_id);
  void Count(prometheus::Counter* counter, int64_t Stats::*field);
  // After a mutating call returned, whether or not it succeeded (a failure may still have committed).
  void Changed(const TenantScope& scope);

  DeviceStore& store_;
  Clock& clock_;
  const Options options_;
  TenantEpochs& epochs_;
  absl::Mutex mu_;
  // By tenant, then EntryKey: a tenant's entries go at once when its devices change.
  TenantEntries<Entry> entries_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  prometheus::Counter* hits_ = nullptr;
  prometheus::Counter* misses_ = nullptr;
  prometheus::Counter* bypassed_ = nullptr;
};

}  // namespace parkbase::device
