#include "telemetry/rollup.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace parkbase::telemetry {

void BucketStats::Add(int64_t time_ms, double value) {
  if (count == 0) {
    min = max = sum = first = last = value;
    first_ms = last_ms = time_ms;
    count = 1;
    return;
  }
  min = std::min(min, value);
  max = std::max(max, value);
  sum += value;
  if (time_ms < first_ms) {
    first = value;
    first_ms = time_ms;
  }
  if (time_ms >= last_ms) {
    last = value;
    last_ms = time_ms;
  }
  ++count;
}

void BucketStats::Combine(const BucketStats& other) {
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  min = std::min(min, other.min);
  max = std::max(max, other.max);
  sum += other.sum;
  count += other.count;
  if (other.first_ms < first_ms) {
    first = other.first;
    first_ms = other.first_ms;
  }
  if (other.last_ms >= last_ms) {
    last = other.last;
    last_ms = other.last_ms;
  }
}

Buckets Bucketize(const SeriesData& series, int64_t bucket_ms) {
  Buckets buckets;
  if (series.kind != ValueKind::kDouble && series.kind != ValueKind::kInt64) return buckets;
  BucketStats* current = nullptr;
  int64_t current_start = 0;
  for (size_t i = 0; i < series.size(); ++i) {
    const int64_t time = series.timestamps_ms[i];
    const int64_t start = WindowStart(time, bucket_ms);
    if (current == nullptr || start != current_start) {
      current = &buckets[start];
      current_start = start;
    }
    current->Add(time, NumericAt(series, i));
  }
  return buckets;
}

namespace {

constexpr const char* kStats[] = {"count", "min", "max", "sum", "first", "last", "first_ms", "last_ms"};

}  // namespace

void AppendRollupSeries(const std::string& device_id, const std::string& metric, const Buckets& buckets,
                        std::vector<SeriesEntry>& out) {
  if (buckets.empty()) return;
  std::vector<int64_t> starts;
  starts.reserve(buckets.size());
  for (const auto& [start, stats] : buckets) starts.push_back(start);
  for (const char* stat : kStats) {
    SeriesEntry entry{device_id, absl::StrCat(metric, "/", stat), SeriesData{}};
    const std::string_view name = stat;
    const bool integer = name == "count" || name == "first_ms" || name == "last_ms";
    entry.data.kind = integer ? ValueKind::kInt64 : ValueKind::kDouble;
    entry.data.timestamps_ms = starts;
    for (const auto& [start, stats] : buckets) {
      if (name == "count") entry.data.ints.push_back(stats.count);
      if (name == "first_ms") entry.data.ints.push_back(stats.first_ms);
      if (name == "last_ms") entry.data.ints.push_back(stats.last_ms);
      if (name == "min") entry.data.doubles.push_back(stats.min);
      if (name == "max") entry.data.doubles.push_back(stats.max);
      if (name == "sum") entry.data.doubles.push_back(stats.sum);
      if (name == "first") entry.data.doubles.push_back(stats.first);
      if (name == "last") entry.data.doubles.push_back(stats.last);
    }
    out.push_back(std::move(entry));
  }
}

absl::flat_hash_map<SeriesKey, Buckets> ReadRollupSeries(const std::vector<SeriesEntry>& entries) {
  absl::flat_hash_map<SeriesKey, Buckets> result;
  for (const SeriesEntry& entry : entries) {
    const size_t slash = entry.metric.rfind('/');
    if (slash == std::string::npos) continue;
    const std::string stat = entry.metric.substr(slash + 1);
    Buckets& buckets = result[SeriesKey(entry.device_id, entry.metric.substr(0, slash))];
    const SeriesData& data = entry.data;
    for (size_t i = 0; i < data.size(); ++i) {
      BucketStats& stats = buckets[data.timestamps_ms[i]];
      if (data.kind == ValueKind::kInt64) {
        const int64_t value = data.ints[i];
        if (stat == "count") stats.count = value;
        if (stat == "first_ms") stats.first_ms = value;
        if (stat == "last_ms") stats.last_ms = value;
      } else if (data.kind == ValueKind::kDouble) {
        const double value = data.doubles[i];
        if (stat == "min") stats.min = value;
        if (stat == "max") stats.max = value;
        if (stat == "sum") stats.sum = value;
        if (stat == "first") stats.first = value;
        if (stat == "last") stats.last = value;
      }
    }
  }
  return result;
}

}  // namespace parkbase::telemetry
