// Bucket statistics: how Aggregate and the compactor's rollups summarize points, and how rollups are stored as
// codec series named "<metric>/<stat>" over the bucket start times.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "telemetry/codec.h"
#include "telemetry/series.h"

namespace parkbase::telemetry {

inline constexpr int64_t kMinuteMs = 60'000;
inline constexpr int64_t kHourMs = 3'600'000;
inline constexpr int64_t kDayMs = 86'400'000;

struct BucketStats {
  int64_t count = 0;
  double min = 0;
  double max = 0;
  double sum = 0;
  double first = 0;
  double last = 0;
  int64_t first_ms = 0;
  int64_t last_ms = 0;

  // Points must come in time order (a sorted, deduplicated series).
  void Add(int64_t time_ms, double value);
  // Merges another bucket's statistics; on equal times `other` is taken as the later write.
  void Combine(const BucketStats& other);
};

// bucket start -> statistics, in time order.
using Buckets = std::map<int64_t, BucketStats>;

// Buckets of a sorted, deduplicated numeric series, aligned to the epoch. Non-numeric series give none.
Buckets Bucketize(const SeriesData& series, int64_t bucket_ms);

// Rollup storage.
void AppendRollupSeries(const std::string& device_id, const std::string& metric, const Buckets& buckets,
                        std::vector<SeriesEntry>& out);
// Inverse of AppendRollupSeries for any number of (device, metric) pairs; unknown stat names are ignored.
absl::flat_hash_map<SeriesKey, Buckets> ReadRollupSeries(const std::vector<SeriesEntry>& entries);

}  // namespace parkbase::telemetry
