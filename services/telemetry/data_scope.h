// What one admitted call may touch of a tenant's telemetry: all of it for the tenant's own people and the park
// admin; for an app credential, only the devices its grant selects by labels and the metrics it covers
// (common/app_grant.h). TelemetryManager narrows every read, write and subscription through this one object, so a
// grant means the same in each of them. A device key is narrowed elsewhere: it may not read (its access rules),
// and writes only its own device's points (IngestRules::only_device_id).
#pragma once

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/auth.h"
#include "common/db.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "parkbase/access/v1/access.pb.h"
#include "telemetry/ingest.h"

namespace parkbase::telemetry {

class DataScope {
 public:
  DataScope() = default;
  // The scope of `caller`'s call on `tenant` (which the access gate admitted).
  DataScope(TenantScope tenant, const Principal& caller);

  const TenantScope& tenant() const { return tenant_; }
  const std::string& tenant_id() const { return tenant_.tenant_id; }
  // The app's grant; null when nothing is narrowed.
  const access::v1::AppGrant* grant() const { return grant_.get(); }

  // How fresh device look-ups must be: an app's grant must drop a device the moment its labels leave the grant's
  // selector, so an app's look-ups see every change committed before the call (one Redis GET more per call).
  Freshness freshness() const { return grant_ != nullptr ? Freshness::kCommitted : Freshness::kCached; }

  // Whether the device is inside the scope. A device outside is answered exactly like a missing one.
  bool CoversDevice(const DeviceInfo& device) const;
  // Whether `metric` may be read. A metric the caller did not name but may not read is left out of answers.
  bool CoversMetric(absl::string_view metric) const;
  // PERMISSION_DENIED naming `field` when the caller named a metric it may not read.
  absl::Status CheckMetric(absl::string_view field, absl::string_view metric) const;
  // CheckMetric for each of a request's `metrics`, naming `field[i]`.
  absl::Status CheckMetrics(absl::string_view field,
                            const google::protobuf::RepeatedPtrField<std::string>& metrics) const;
  // Narrows a label selector to the scope, to run as one store query; false when the two contradict, and nothing
  // inside the scope can match.
  bool NarrowSelector(absl::flat_hash_map<std::string, std::string>& labels) const;

 private:
  TenantScope tenant_;
  // Shared with the principal, so a subscription's filter may hold it as long as the stream runs.
  std::shared_ptr<const access::v1::AppGrant> grant_;
};

}  // namespace parkbase::telemetry
