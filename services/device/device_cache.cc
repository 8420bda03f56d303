#include "device/device_cache.h"

#include "absl/strings/str_cat.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace parkbase::device {

CachingDeviceStore::CachingDeviceStore(DeviceStore& store, TenantEpochs& epochs, Clock& clock, Options options,
                                       prometheus::Registry* registry)
    : store_(store),
      clock_(clock),
      options_(options),
      epochs_(epochs),
      entries_(options.max_entries, options.ttl) {
  if (registry != nullptr) {
    auto& family = prometheus::BuildCounter()
                       .Name("parkbase_device_cache_lookups_total")
                       .Help("GetDevice reads by how the in-process device cache answered: hit, miss (the "
                             "database answered and the device was cached), bypass (Redis unreachable, the "
                             "database answered)")
                       .Register(*registry);
    hits_ = &family.Add({{"result", "hit"}});
    misses_ = &family.Add({{"result", "miss"}});
    bypassed_ = &family.Add({{"result", "bypass"}});
  }
}

std::string CachingDeviceStore::EntryKey(const TenantScope& scope, const std::string& device_id) {
  return absl::StrCat(scope.park_wide ? "park/" : "tenant/", device_id);
}

void CachingDeviceStore::Count(prometheus::Counter* counter, int64_t Stats::*field) {
  if (counter != nullptr) counter->Increment();
  absl::MutexLock lock(&mu_);
  ++(stats_.*field);
}

CachingDeviceStore::Stats CachingDeviceStore::stats() {
  absl::MutexLock lock(&mu_);
  return stats_;
}

size_t CachingDeviceStore::cached_entries() {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

absl::StatusOr<pb::Device> CachingDeviceStore::GetDevice(const TenantScope& scope, const std::string& device_id) {
  const int64_t generation = epochs_.generation();
  // The epoch first, then the store: an answer is filed under an epoch read before it, never after, so a change
  // committed between the two is caught by the next epoch check.
  bool lost_redis = false;
  const std::optional<int64_t> epoch = epochs_.Current(scope.tenant_id, &lost_redis);
  if (!epoch.has_value()) {
    if (lost_redis) {
      // What is cached may have changed while Redis was out of reach, its bump lost: none of it is served after.
      absl::MutexLock lock(&mu_);
      entries_.Clear();
    }
    Count(bypassed_, &Stats::bypassed);
    return store_.GetDevice(scope, device_id);
  }
  const std::string key = EntryKey(scope, device_id);
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    const Entry* found = entries_.Find(scope.tenant_id, key);
    if (found != nullptr && found->epoch == *epoch && now - found->loaded < options_.ttl) {
      ++stats_.hits;
      if (hits_ != nullptr) hits_->Increment();
      return found->device;
    }
  }
  Count(misses_, &Stats::misses);
  absl::StatusOr<pb::Device> device = store_.GetDevice(scope, device_id);
  // Only answers about the device itself are kept; a database error is the next call's to retry.
  if (!device.ok() && !absl::IsNotFound(device.status())) return device;
  absl::MutexLock lock(&mu_);
  // A change made here raced the read: not kept. Checked under mu_, which Changed takes after bumping, so an
  // entry inserted before the bump is dropped by it.
  if (epochs_.generation() != generation) return device;
  entries_.Put(scope.tenant_id, key, Entry{device, *epoch, now}, now,
               [&](const Entry& entry) { return now - entry.loaded >= options_.ttl; });
  return device;
}

void CachingDeviceStore::TenantDevicesChanged(const std::string& tenant_id) {
  epochs_.Bump(tenant_id, "device");
  absl::MutexLock lock(&mu_);
  entries_.ForgetTenant(tenant_id);
}

void CachingDeviceStore::Changed(const TenantScope& scope) { TenantDevicesChanged(scope.tenant_id); }

absl::StatusOr<pb::DeviceType> CachingDeviceStore::CreateDeviceType(const TenantScope& scope,
                                                                    const pb::DeviceType& type) {
  // Types are not part of a Device message and are read uncached: nothing to invalidate.
  return store_.CreateDeviceType(scope, type);
}

absl::StatusOr<pb::DeviceType> CachingDeviceStore::GetDeviceType(const TenantScope& scope, const std::string& type_id,
                                                                 int64_t version) {
  return store_.GetDeviceType(scope, type_id, version);
}

absl::StatusOr<std::vector<pb::DeviceType>> CachingDeviceStore::ListDeviceTypes(const TenantScope& scope,
                                                                                const std::string& after_type_id,
                                                                                int limit) {
  return store_.ListDeviceTypes(scope, after_type_id, limit);
}

absl::StatusOr<pb::DeviceType> CachingDeviceStore::UpdateDeviceType(const TenantScope& scope,
                                                                    const std::string& type_id,
                                                                    const DeviceTypeMutation& mutate) {
  return store_.UpdateDeviceType(scope, type_id, mutate);
}

absl::Status CachingDeviceStore::DeleteDeviceType(const TenantScope& scope, const std::string& type_id,
                                                  const std::string& etag) {
  return store_.DeleteDeviceType(scope, type_id, etag);
}

absl::StatusOr<pb::Device> CachingDeviceStore::CreateDevice(const TenantScope& scope, const std::string& park_code,
                                                            const pb::Device& device) {
  // A NOT_FOUND for this id may be cached.
  absl::StatusOr<pb::Device> created = store_.CreateDevice(scope, park_code, device);
  Changed(scope);
  return created;
}

absl::StatusOr<std::vector<pb::Device>> CachingDeviceStore::ListDevices(const TenantScope& scope,
                                                                        const DeviceFilter& filter,
                                                                        const std::string& after_device_id,
                                                                        int limit) {
  return store_.ListDevices(scope, filter, after_device_id, limit);
}

absl::StatusOr<pb::Device> CachingDeviceStore::UpdateDevice(const TenantScope& scope, const std::string& device_id,
                                                            const DeviceMutation& mutate, bool seen,
                                                            const AuditEntry* audit) {
  absl::StatusOr<pb::Device> updated = store_.UpdateDevice(scope, device_id, mutate, seen, audit);
  Changed(scope);
  return updated;
}

absl::Status CachingDeviceStore::DeleteDevice(const TenantScope& scope, const std::string& device_id,
                                              const std::string& etag, const AuditEntry& audit) {
  absl::Status deleted = store_.DeleteDevice(scope, device_id, etag, audit);
  Changed(scope);
  return deleted;
}

absl::StatusOr<std::vector<pb::ImportRowResult>> CachingDeviceStore::ImportBatch(const TenantScope& scope,
                                                                                 const std::string& park_code,
                                                                                 const std::vector<ImportRow>& rows) {
  absl::StatusOr<std::vector<pb::ImportRowResult>> results = store_.ImportBatch(scope, park_code, rows);
  Changed(scope);
  return results;
}

absl::StatusOr<NewCredential> CachingDeviceStore::CreateCredential(const TenantScope& scope,
                                                                   const std::string& device_id,
                                                                   const std::string& display_name,
                                                                   const std::string& creator,
                                                                   const AuditEntry& audit,
                                                                   const ReplayTicket* replay) {
  // Credentials are not part of a Device message: nothing cached changes.
  return store_.CreateCredential(scope, device_id, display_name, creator, audit, replay);
}

absl::StatusOr<std::vector<pb::DeviceCredential>> CachingDeviceStore::ListCredentials(const TenantScope& scope,
                                                                                      const std::string& device_id) {
  return store_.ListCredentials(scope, device_id);
}

absl::Status CachingDeviceStore::RevokeCredential(const TenantScope& scope, const std::string& device_id,
                                                  const std::string& key_id, const AuditEntry& audit) {
  return store_.RevokeCredential(scope, device_id, key_id, audit);
}

absl::StatusOr<pb::IdentifierRecord> CachingDeviceStore::ResolveIdentifier(const TenantScope& scope,
                                                                           const std::string& identifier) {
  return store_.ResolveIdentifier(scope, identifier);
}

absl::StatusOr<pb::DeviceSchema> CachingDeviceStore::LoadSchema(const TenantScope& scope,
                                                                const std::string& device_id) {
  return store_.LoadSchema(scope, device_id);
}

absl::StatusOr<std::vector<pb::DeviceSchema>> CachingDeviceStore::LoadSchemas(
    const TenantScope& scope, const std::vector<std::string>& device_ids) {
  return store_.LoadSchemas(scope, device_ids);
}

}  // namespace parkbase::device
