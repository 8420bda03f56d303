// Operations on decoded series shared by the write path, the compactor and the readers: merging sources in
// last-write-wins order, and time filtering.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
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

// Appends every point of `from` to `to`; kinds must match.
void AppendAll(const SeriesData& from, SeriesData& to);

// Sorts by time, keeping for each time only the point that came last in the input (last write wins). Stable.
void SortAndDeduplicate(SeriesData& series);

// Keeps the points with start_ms <= time < end_ms.
void KeepRange(SeriesData& series, int64_t start_ms, int64_t end_ms);

// The point's value as a protobuf Value.
pb::Value ValueAt(const SeriesData& series, size_t index);

// The point's value as a double (bool as 0/1); only for numeric kinds.
double NumericAt(const SeriesData& series, size_t index);

// (device_id, metric): what latest values and rollups are kept by, whatever the value type.
using SeriesKey = std::pair<std::string, std::string>;

// (device_id, metric, value kind): one stored series. A metric whose value type changed (UpdateDeviceType from
// INT64 to STRING, say) has a series of each kind, and both stay readable: the history is never rewritten into the
// new type, nor dropped.
struct SeriesId {
  std::string device_id;
  std::string metric;
  ValueKind kind = ValueKind::kDouble;

  SeriesKey key() const { return SeriesKey(device_id, metric); }
  bool operator==(const SeriesId& other) const {
    return kind == other.kind && device_id == other.device_id && metric == other.metric;
  }
  bool operator<(const SeriesId& other) const {
    return std::tie(device_id, metric, kind) < std::tie(other.device_id, other.metric, other.kind);
  }
  template <typename H>
  friend H AbslHashValue(H state, const SeriesId& id) {
    return H::combine(std::move(state), id.device_id, id.metric, static_cast<int>(id.kind));
  }
};

// What the readers and the compactor collect. Built in source order (chunk generations, then the log by log id),
// so SortAndDeduplicate leaves the last write.
using SeriesMap = absl::flat_hash_map<SeriesId, SeriesData>;

// Adds every entry to `into`, in order (later entries are later writes). Last write wins per (device, metric,
// millisecond) across kinds too: a point of one kind removes the points of the other kinds at the same times.
void MergeInto(std::vector<SeriesEntry>&& entries, SeriesMap& into);

// The entries of a map, ordered by metric, device and kind (deterministic blocks).
std::vector<SeriesEntry> ToEntries(SeriesMap&& series);

// Points of every series in `series`.
int64_t CountPoints(const SeriesMap& series);

// Memory the points take once decoded (8 bytes a timestamp and a number, strings with their bytes): what bounds a
// compaction pass and a read (a 1 KiB string point is a hundred times a double one).
int64_t DecodedBytes(const SeriesData& series);
int64_t DecodedBytes(const std::vector<SeriesEntry>& entries);

}  // namespace parkbase::telemetry
