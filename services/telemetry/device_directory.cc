#include "telemetry/device_directory.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace parkbase::telemetry {

RegistryDeviceDirectory::RegistryDeviceDirectory(device::DeviceSchemaResolver& resolver, TelemetryStore& store)
    : resolver_(resolver), store_(store) {}

bool RegistryDeviceDirectory::IsIdentifier(const std::string& reference) {
  return absl::StartsWith(reference, "88.") && absl::StrContains(reference, '/');
}

absl::StatusOr<std::shared_ptr<const DeviceInfo>> RegistryDeviceDirectory::Resolve(const std::string& tenant_id,
                                                                                   const std::string& reference) {
  std::string device_id = reference;
  if (IsIdentifier(reference)) {
    // Real time: this bounds cache staleness, whatever clock the service runs on.
    const absl::Time now = absl::Now();
    const std::string key = absl::StrCat(tenant_id, "\n", reference);
    bool cached = false;
    {
      absl::MutexLock lock(&mu_);
      auto found = identifiers_.find(key);
      if (found != identifiers_.end() && now - found->second.loaded < kIdentifierTtl) {
        device_id = found->second.device_id;
        cached = true;
      }
    }
    if (!cached) {
      absl::StatusOr<std::string> resolved = store_.DeviceByIdentifier(TenantScope::Tenant(tenant_id), reference);
      if (!resolved.ok()) return resolved.status();
      device_id = *resolved;
      absl::MutexLock lock(&mu_);
      if (identifiers_.size() >= kMaxCachedIdentifiers) identifiers_.clear();
      identifiers_[key] = CachedIdentifier{device_id, now};
    }
  }
  absl::StatusOr<device::pb::DeviceSchema> schema = resolver_.Resolve(tenant_id, device_id);
  if (!schema.ok()) return schema.status();
  auto info = std::make_shared<DeviceInfo>();
  info->device_id = schema->device_id();
  info->device_type_id = schema->device_type_id();
  info->disabled = schema->state() == device::pb::DEVICE_STATE_DISABLED;
  for (const device::pb::MetricSpec& spec : schema->metrics()) {
    MetricRule rule;
    rule.kind = static_cast<ValueKind>(spec.value_type());
    if (spec.has_min()) rule.min = spec.min();
    if (spec.has_max()) rule.max = spec.max();
    info->metrics.emplace(spec.name(), rule);
  }
  return info;
}

}  // namespace parkbase::telemetry
