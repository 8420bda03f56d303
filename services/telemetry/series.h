// Operations on decoded series shared by the write path, the compactor and the readers: merging sources in
// last-write-wins order, and time filtering.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "parkbase/telemetry/v1/telemetry.pb.h"
#include "telemetry/codec.h"

namespace parkbase::telemetry {

namespace pb = ::parkbase::telemetry::v1;

// Chunks cover one hour of one device: long enough that a 1 Hz device fills a chunk with thousands of points,
// short enough that retention drops data at a fine grain.
inline constexpr int64_t kChunkWindowMs = 3'600'000;

inline int64_t WindowStart(int64_t time_ms, int64_t window_ms) {
  int64_t start = time_ms - time_ms % window_ms;
  if (time_ms < 0 && time_ms % window_ms != 0) start -= window_ms;
  return start;
}

// Appends point `index` of `from` to `to` (same kind).
void AppendPoint(const SeriesData& from, size_t index, SeriesData& to);

// Appends every point of `from` to `to`; kinds must match (a metric's type may change between device type
// versions: a point of another kind replaces nothing and is dropped by Normalize's caller, see MergeInto).
void AppendAll(const SeriesData& from, SeriesData& to);

// Sorts by time, keeping for each time only the point that came last in the input (last write wins). Stable.
void SortAndDeduplicate(SeriesData& series);

// Keeps the points with start_ms <= time < end_ms.
void KeepRange(SeriesData& series, int64_t start_ms, int64_t end_ms);

// The point's value as a protobuf Value.
pb::Value ValueAt(const SeriesData& series, size_t index);

// The point's value as a double (bool as 0/1); only for numeric kinds.
double NumericAt(const SeriesData& series, size_t index);

// (device_id, metric) -> series: what the readers and the compactor collect. Built in source order (chunk
// generations, then the log by log id), so SortAndDeduplicate leaves the last write.
using SeriesKey = std::pair<std::string, std::string>;
using SeriesMap = absl::flat_hash_map<SeriesKey, SeriesData>;

// Adds every entry to `into`, in order. A series whose kind differs from what `into` already holds for the key
// (the metric's type changed) replaces the earlier points: the newer type wins.
void MergeInto(std::vector<SeriesEntry>&& entries, SeriesMap& into);

}  // namespace parkbase::telemetry
