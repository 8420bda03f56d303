#include "telemetry/device_directory.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace parkbase::telemetry {

RegistryDeviceDirectory::RegistryDeviceDirectory(device::DeviceSchemaResolver& resolver, TelemetryStore& store)
    : resolver_(resolver), store_(store) {}

bool RegistryDeviceDirectory::IsIdentifier(const std::string& reference) {
  return absl::StartsWith(reference, "88.") && absl::StrContains(reference, '/');
}

absl::StatusOr<std::string> RegistryDeviceDirectory::DeviceId(const std::string& tenant_id,
                                                              const std::string& reference) {
  if (!IsIdentifier(reference)) return reference;
  // Real time: this bounds cache staleness, whatever clock the service runs on.
  const absl::Time now = absl::Now();
  const std::string key = absl::StrCat(tenant_id, "\n", reference);
  {
    absl::MutexLock lock(&mu_);
    auto found = identifiers_.find(key);
    if (found != identifiers_.end() && now - found->second.loaded < kIdentifierTtl) return found->second.device_id;
  }
  absl::StatusOr<std::string> resolved = store_.DeviceByIdentifier(TenantScope::Tenant(tenant_id), reference);
  if (!resolved.ok()) return resolved.status();
  absl::MutexLock lock(&mu_);
  if (identifiers_.size() >= kMaxCachedIdentifiers) identifiers_.clear();
  identifiers_[key] = CachedIdentifier{*resolved, now};
  return resolved;
}

size_t RegistryDeviceDirectory::converted_entries() {
  absl::MutexLock lock(&mu_);
  return converted_.size();
}

std::shared_ptr<const DeviceInfo> RegistryDeviceDirectory::Convert(
    const device::DeviceSchemaResolver::SharedSchema& schema) {
  {
    absl::MutexLock lock(&mu_);
    auto found = converted_.find(schema.get());
    if (found != converted_.end()) return found->second.info;
  }
  auto info = std::make_shared<DeviceInfo>();
  info->device_id = schema->device_id();
  info->device_type_id = schema->device_type_id();
  info->disabled = schema->state() == device::pb::DEVICE_STATE_DISABLED;
  info->metrics.reserve(schema->metrics_size());
  for (const device::pb::MetricSpec& spec : schema->metrics()) {
    MetricRule rule;
    rule.kind = static_cast<ValueKind>(spec.value_type());
    if (spec.has_min()) rule.min = spec.min();
    if (spec.has_max()) rule.max = spec.max();
    info->metrics.emplace(spec.name(), rule);
  }
  info->labels.insert(schema->labels().begin(), schema->labels().end());
  absl::MutexLock lock(&mu_);
  if (++conversions_since_sweep_ >= kConversionsPerSweep) {
    // A schema only this map still holds has left the resolver's cache (expired, its device deleted or changed):
    // the next lookup hands out a new schema object, converted again, so the entry can only cost memory.
    conversions_since_sweep_ = 0;
    for (auto entry = converted_.begin(); entry != converted_.end();) {
      if (entry->second.source.use_count() == 1) {
        converted_.erase(entry++);
      } else {
        ++entry;
      }
    }
  }
  if (converted_.size() >= kMaxConvertedSchemas) converted_.clear();
  converted_[schema.get()] = ConvertedSchema{schema, info};
  return info;
}

absl::StatusOr<std::shared_ptr<const DeviceInfo>> RegistryDeviceDirectory::Resolve(const std::string& tenant_id,
                                                                                   const std::string& reference,
                                                                                   Freshness freshness) {
  std::vector<absl::StatusOr<std::shared_ptr<const DeviceInfo>>> resolved =
      ResolveMany(tenant_id, {reference}, freshness);
  return std::move(resolved[0]);
}

std::vector<absl::StatusOr<std::shared_ptr<const DeviceInfo>>> RegistryDeviceDirectory::ResolveMany(
    const std::string& tenant_id, const std::vector<std::string>& references, Freshness freshness) {
  std::vector<absl::StatusOr<std::shared_ptr<const DeviceInfo>>> results(references.size(),
                                                                         absl::UnknownError("unresolved"));
  std::vector<std::string> device_ids;
  std::vector<size_t> positions;  // of device_ids[k] in references
  device_ids.reserve(references.size());
  positions.reserve(references.size());
  for (size_t i = 0; i < references.size(); ++i) {
    absl::StatusOr<std::string> id = DeviceId(tenant_id, references[i]);
    if (!id.ok()) {
      results[i] = id.status();
      continue;
    }
    device_ids.push_back(*std::move(id));
    positions.push_back(i);
  }
  if (device_ids.empty()) return results;
  std::vector<absl::StatusOr<device::DeviceSchemaResolver::SharedSchema>> schemas =
      resolver_.ResolveMany(tenant_id, device_ids,
                            freshness == Freshness::kCommitted ? device::Freshness::kCommitted
                                                               : device::Freshness::kCached);
  // The schemas converted before, under one lock; the rest converted one by one.
  std::vector<size_t> unconverted;
  {
    absl::MutexLock lock(&mu_);
    for (size_t k = 0; k < schemas.size(); ++k) {
      if (!schemas[k].ok()) {
        results[positions[k]] = schemas[k].status();
        continue;
      }
      auto found = converted_.find(schemas[k]->get());
      if (found != converted_.end()) {
        results[positions[k]] = found->second.info;
      } else {
        unconverted.push_back(k);
      }
    }
  }
  for (size_t k : unconverted) results[positions[k]] = Convert(*schemas[k]);
  return results;
}

}  // namespace parkbase::telemetry
