// Checks a write batch against the devices' telemetry schemas and turns its valid points into series, ready to
// encode. Per-point problems become rejections (the rest of the batch is kept); problems with the batch as a
// whole are an error status and nothing is kept.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "parkbase/access/v1/access.pb.h"
#include "parkbase/telemetry/v1/telemetry.pb.h"
#include "telemetry/codec.h"

namespace parkbase::telemetry {

namespace pb = ::parkbase::telemetry::v1;

// Most points a batch: 1,000,000 points is ~16 MB in the point form, the default message size limit, and keeps
// one batch's encoding under a second of one core.
inline constexpr int64_t kMaxPointsPerBatch = 1'000'000;
// How far ahead of the server clock a timestamp may be: clock skew of field devices, not scheduled data.
inline constexpr absl::Duration kMaxFutureSkew = absl::Minutes(10);
// A STRING value's limit, as in parkbase.device.v1.ValueType.
inline constexpr size_t kMaxStringValueBytes = 1024;
// Rejections listed in a response; counts always cover all of them.
inline constexpr int kMaxListedRejections = 1000;

struct MetricRule {
  ValueKind kind = ValueKind::kDouble;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};

// What the write path needs to know of a device.
struct DeviceInfo {
  std::string device_id;
  std::string device_type_id;
  bool disabled = false;
  absl::flat_hash_map<std::string, MetricRule> metrics;
  // What app grants select devices by (common/app_grant.h).
  absl::flat_hash_map<std::string, std::string> labels;
};

// How current a device look-up must be.
enum class Freshness {
  // May lag a registry change by the resolver's staleness bound (250 ms): enough for everyone's own devices.
  kCached,
  // Sees every registry change committed before the look-up (one Redis GET more): an app credential's calls, whose
  // grant must drop a device the moment its labels leave the grant's selector.
  kCommitted,
};

// Resolves a point's device reference (an id or an industrial identifier) within a tenant.
class DeviceDirectory {
 public:
  virtual ~DeviceDirectory() = default;
  // NOT_FOUND for an unknown device, or an identifier of another tenant's device.
  virtual absl::StatusOr<std::shared_ptr<const DeviceInfo>> Resolve(const std::string& tenant_id,
                                                                    const std::string& reference,
                                                                    Freshness freshness) = 0;
  // Resolve for many references at once, answered in their order; implementations batch the cache and database
  // look-ups (a batch's cold devices). This default resolves them one by one.
  virtual std::vector<absl::StatusOr<std::shared_ptr<const DeviceInfo>>> ResolveMany(
      const std::string& tenant_id, const std::vector<std::string>& references, Freshness freshness) {
    std::vector<absl::StatusOr<std::shared_ptr<const DeviceInfo>>> results;
    results.reserve(references.size());
    for (const std::string& reference : references) results.push_back(Resolve(tenant_id, reference, freshness));
    return results;
  }
};

struct IngestRules {
  std::string tenant_id;
  // Set for device keys: points of any other device are rejected.
  std::string only_device_id;
  // Set for app credentials (common/app_grant.h): points of a device outside the grant are rejected as of an
  // unknown device, points of a metric outside its write_metrics as NOT_GRANTED.
  const access::v1::AppGrant* app = nullptr;
  Freshness freshness = Freshness::kCached;
  absl::Time now;
  // Raw retention: points older than this are refused (they would be dropped at once).
  int32_t raw_retention_days = 30;
  absl::flat_hash_map<std::string, int32_t> device_type_raw_retention_days;
};

struct ValidatedBatch {
  // Accepted points grouped by (device id, metric), in request order within each series.
  std::vector<SeriesEntry> series;
  int64_t accepted_points = 0;
  int64_t min_time_ms = 0;
  int64_t max_time_ms = 0;
  // Counts and rejections filled in; batch_id left to the caller.
  pb::WriteResponse response;
};

// INVALID_ARGUMENT (naming the field) for a batch refused whole: no points, too many points, a bad batch id.
absl::Status CheckBatchShape(const pb::WriteRequest& request, bool batch_id_required);

absl::StatusOr<ValidatedBatch> ValidateBatch(const pb::WriteRequest& request, const IngestRules& rules,
                                             DeviceDirectory& directory);

}  // namespace parkbase::telemetry
