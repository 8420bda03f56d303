// Bucket statistics: how Aggregate and the compactor's rollups summarize points, and how a rollup row stores
// them as codec series.
//
// A rollup row's block: one int64 series per (device, metric), named after the metric, holding the bucket counts
// over the bucket start times; then seven series of no device named "/min", "/max", "/sum", "/first", "/last",
// "/first_offset_ms", "/last_offset_ms", holding those statistics for every bucket of the row in the same order,
// one after the other (their timestamps are just 0, 1, 2, ...). One bit-packed column for the whole row packs as
// well as one per series, without a header per series and statistic; the offsets from the bucket start are 0 and
// 59,000 ms for a 1 Hz device, which costs nothing.
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
  // After the last Add: when every value was a decimal with at most 6 fractional digits, `sum` becomes the exact
  // decimal sum (accumulated as scaled integers), so it stores as compactly as the values themselves and equals
  // whatever computes it again from the same points.
  void Finish();
  // Merges another bucket's statistics; on equal times `other` is taken as the later write. Two parts of a bucket
  // that both came from Add keep the exact decimal sum (a raw bucket spanning chunk windows is built so).
  void Combine(const BucketStats& other);

 private:
  int64_t scaled_sum_ = 0;  // |value| kept under 2^53, where doubles are exact
  int scale_ = 0;
  bool decimal_ = true;
  // Whether scaled_sum_ describes every point counted (false for statistics decoded from a rollup row).
  bool tracked_ = false;
};

// bucket start -> statistics, in time order.
using Buckets = std::map<int64_t, BucketStats>;

// Buckets of a sorted, deduplicated numeric series, aligned to the epoch. Non-numeric series give none.
Buckets Bucketize(const SeriesData& series, int64_t bucket_ms);

// The series of a rollup row holding `cells` ((device, metric) -> buckets).
std::vector<SeriesEntry> EncodeRollupRow(const std::map<SeriesKey, Buckets>& cells);
// The inverse; a device whose entries do not fit together (a corrupt row) is skipped.
std::map<SeriesKey, Buckets> DecodeRollupRow(const std::vector<SeriesEntry>& entries);

}  // namespace parkbase::telemetry
