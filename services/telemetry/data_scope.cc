#include "telemetry/data_scope.h"

#include "absl/strings/str_cat.h"
#include "common/app_grant.h"
#include "common/errors.h"

namespace parkbase::telemetry {

DataScope::DataScope(TenantScope tenant, const Principal& caller) : tenant_(std::move(tenant)) {
  if (AppGrantOf(caller) != nullptr) grant_ = caller.app;
}

bool DataScope::CoversDevice(const DeviceInfo& device) const {
  return grant_ == nullptr || GrantCoversLabels(*grant_, device.labels);
}

bool DataScope::CoversMetric(absl::string_view metric) const {
  return grant_ == nullptr || GrantCoversMetric(*grant_, metric);
}

absl::Status DataScope::CheckMetric(absl::string_view field, absl::string_view metric) const {
  if (CoversMetric(metric)) return absl::OkStatus();
  // The caller's own grant, not another tenant's data: saying the metric is not granted confirms nothing.
  return WithReason(absl::PermissionDeniedError(absl::StrCat(field, ": the app's grant does not cover metric \"",
                                                             Utf8Prefix(metric, 100), "\"")),
                    "METRIC_NOT_GRANTED");
}

absl::Status DataScope::CheckMetrics(absl::string_view field,
                                     const google::protobuf::RepeatedPtrField<std::string>& metrics) const {
  for (int i = 0; i < metrics.size(); ++i) {
    if (absl::Status covered = CheckMetric(absl::StrCat(field, "[", i, "]"), metrics[i]); !covered.ok()) {
      return covered;
    }
  }
  return absl::OkStatus();
}

bool DataScope::NarrowSelector(absl::flat_hash_map<std::string, std::string>& labels) const {
  return grant_ == nullptr || NarrowSelectorToGrant(*grant_, labels);
}

}  // namespace parkbase::telemetry
