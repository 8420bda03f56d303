#include "telemetry/series.h"

#include <algorithm>
#include <numeric>

namespace parkbase::telemetry {

void AppendPoint(const SeriesData& from, size_t index, SeriesData& to) {
  to.timestamps_ms.push_back(from.timestamps_ms[index]);
  switch (from.kind) {
    case ValueKind::kDouble:
      to.doubles.push_back(from.doubles[index]);
      break;
    case ValueKind::kInt64:
      to.ints.push_back(from.ints[index]);
      break;
    case ValueKind::kBool:
      to.bools.push_back(from.bools[index]);
      break;
    case ValueKind::kString:
      to.strings.push_back(from.strings[index]);
      break;
  }
}

void AppendAll(const SeriesData& from, SeriesData& to) {
  to.timestamps_ms.insert(to.timestamps_ms.end(), from.timestamps_ms.begin(), from.timestamps_ms.end());
  switch (from.kind) {
    case ValueKind::kDouble:
      to.doubles.insert(to.doubles.end(), from.doubles.begin(), from.doubles.end());
      break;
    case ValueKind::kInt64:
      to.ints.insert(to.ints.end(), from.ints.begin(), from.ints.end());
      break;
    case ValueKind::kBool:
      to.bools.insert(to.bools.end(), from.bools.begin(), from.bools.end());
      break;
    case ValueKind::kString:
      to.strings.insert(to.strings.end(), from.strings.begin(), from.strings.end());
      break;
  }
}

namespace {

template <typename T>
void Permute(std::vector<T>& values, const std::vector<uint32_t>& order) {
  std::vector<T> sorted;
  sorted.reserve(order.size());
  for (uint32_t index : order) sorted.push_back(std::move(values[index]));
  values = std::move(sorted);
}

}  // namespace

void SortAndDeduplicate(SeriesData& series) {
  const auto& times = series.timestamps_ms;
  const size_t n = times.size();
  // The common case — already strictly increasing — costs one pass.
  bool strictly_increasing = true;
  for (size_t i = 1; i < n; ++i) {
    if (times[i] <= times[i - 1]) {
      strictly_increasing = false;
      break;
    }
  }
  if (strictly_increasing) return;
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return times[a] < times[b]; });
  // Of each run of equal times keep the last in input order, which stable_sort left last in the run.
  std::vector<uint32_t> kept;
  kept.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n && times[order[i]] == times[order[i + 1]]) continue;
    kept.push_back(order[i]);
  }
  Permute(series.timestamps_ms, kept);
  switch (series.kind) {
    case ValueKind::kDouble:
      Permute(series.doubles, kept);
      break;
    case ValueKind::kInt64:
      Permute(series.ints, kept);
      break;
    case ValueKind::kBool:
      Permute(series.bools, kept);
      break;
    case ValueKind::kString:
      Permute(series.strings, kept);
      break;
  }
}

void KeepRange(SeriesData& series, int64_t start_ms, int64_t end_ms) {
  bool all_inside = true;
  for (int64_t time : series.timestamps_ms) {
    if (time < start_ms || time >= end_ms) {
      all_inside = false;
      break;
    }
  }
  if (all_inside) return;
  SeriesData kept;
  kept.kind = series.kind;
  for (size_t i = 0; i < series.size(); ++i) {
    const int64_t time = series.timestamps_ms[i];
    if (time >= start_ms && time < end_ms) AppendPoint(series, i, kept);
  }
  series = std::move(kept);
}

pb::Value ValueAt(const SeriesData& series, size_t index) {
  pb::Value value;
  switch (series.kind) {
    case ValueKind::kDouble:
      value.set_double_value(series.doubles[index]);
      break;
    case ValueKind::kInt64:
      value.set_int_value(series.ints[index]);
      break;
    case ValueKind::kBool:
      value.set_bool_value(series.bools[index] != 0);
      break;
    case ValueKind::kString:
      value.set_string_value(series.strings[index]);
      break;
  }
  return value;
}

double NumericAt(const SeriesData& series, size_t index) {
  switch (series.kind) {
    case ValueKind::kDouble:
      return series.doubles[index];
    case ValueKind::kInt64:
      return static_cast<double>(series.ints[index]);
    case ValueKind::kBool:
      return series.bools[index] != 0 ? 1.0 : 0.0;
    case ValueKind::kString:
      return 0;
  }
  return 0;
}

namespace {

// Removes from `series` the points at the times of `newer` (a later write of another kind).
void DropTimes(SeriesData& series, const SeriesData& newer) {
  if (series.size() == 0 || newer.size() == 0) return;
  std::vector<int64_t> times = newer.timestamps_ms;
  std::sort(times.begin(), times.end());
  SeriesData kept;
  kept.kind = series.kind;
  bool dropped = false;
  for (size_t i = 0; i < series.size(); ++i) {
    if (std::binary_search(times.begin(), times.end(), series.timestamps_ms[i])) {
      dropped = true;
      continue;
    }
    AppendPoint(series, i, kept);
  }
  if (dropped) series = std::move(kept);
}

constexpr ValueKind kKinds[] = {ValueKind::kDouble, ValueKind::kInt64, ValueKind::kBool, ValueKind::kString};

}  // namespace

void MergeInto(std::vector<SeriesEntry>&& entries, SeriesMap& into) {
  for (SeriesEntry& entry : entries) {
    SeriesId id{std::move(entry.device_id), std::move(entry.metric), entry.data.kind};
    for (ValueKind other : kKinds) {
      if (other == id.kind) continue;
      id.kind = other;
      auto found = into.find(id);
      if (found != into.end()) DropTimes(found->second, entry.data);
    }
    id.kind = entry.data.kind;
    auto [it, inserted] = into.try_emplace(std::move(id));
    if (inserted) {
      it->second = std::move(entry.data);
    } else {
      AppendAll(entry.data, it->second);
    }
  }
}

std::vector<SeriesEntry> ToEntries(SeriesMap&& series) {
  std::vector<std::pair<SeriesId, SeriesData>> sorted;
  sorted.reserve(series.size());
  for (auto& [id, data] : series) sorted.emplace_back(id, std::move(data));
  // Metric-major: the same metric of a group's devices side by side compresses best (similar values, and equal
  // timestamps become back-references, see codec.h).
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.metric, a.first.device_id, a.first.kind) <
           std::tie(b.first.metric, b.first.device_id, b.first.kind);
  });
  std::vector<SeriesEntry> entries;
  entries.reserve(sorted.size());
  for (auto& [id, data] : sorted) entries.push_back(SeriesEntry{id.device_id, id.metric, std::move(data)});
  return entries;
}

int64_t CountPoints(const SeriesMap& series) {
  int64_t points = 0;
  for (const auto& [id, data] : series) points += static_cast<int64_t>(data.size());
  return points;
}

int64_t DecodedBytes(const SeriesData& series) {
  int64_t bytes = static_cast<int64_t>(series.timestamps_ms.size()) * 8 +
                  static_cast<int64_t>(series.doubles.size() + series.ints.size()) * 8 +
                  static_cast<int64_t>(series.bools.size());
  for (const std::string& text : series.strings) bytes += static_cast<int64_t>(sizeof(std::string) + text.size());
  return bytes;
}

int64_t DecodedBytes(const std::vector<SeriesEntry>& entries) {
  int64_t bytes = 0;
  for (const SeriesEntry& entry : entries) {
    bytes += DecodedBytes(entry.data) + static_cast<int64_t>(entry.device_id.size() + entry.metric.size());
  }
  return bytes;
}

}  // namespace parkbase::telemetry
