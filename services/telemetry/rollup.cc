#include "telemetry/rollup.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace parkbase::telemetry {

namespace {

constexpr int kMaxSumScale = 6;
constexpr double kPowersOfTen[] = {1, 10, 100, 1'000, 10'000, 100'000, 1'000'000};

// The smallest s <= kMaxSumScale with value * 10^s an exact integer below 2^53, or -1.
int DecimalScale(double value, int64_t* scaled) {
  for (int s = 0; s <= kMaxSumScale; ++s) {
    const double product = value * kPowersOfTen[s];
    if (!(std::fabs(product) < 9007199254740992.0)) return -1;
    const double rounded = std::nearbyint(product);
    if (rounded / kPowersOfTen[s] == value) {
      *scaled = static_cast<int64_t>(rounded);
      return s;
    }
  }
  return -1;
}

}  // namespace

void BucketStats::Add(int64_t time_ms, double value) {
  if (count == 0) tracked_ = true;
  // The values of a series mostly share their number of decimals: a value exact at the scale already reached adds
  // at once (the same term the search below would find: both are the decimal the double stands for, scaled).
  bool added = false;
  if (decimal_ && count > 0) {
    constexpr double kExactLimit = 9007199254740992.0;
    const double product = value * kPowersOfTen[scale_];
    if (std::fabs(product) < kExactLimit) {
      const double rounded = std::nearbyint(product);
      if (rounded / kPowersOfTen[scale_] == value) {
        scaled_sum_ += static_cast<int64_t>(rounded);
        if (scaled_sum_ >= int64_t{1} << 53 || scaled_sum_ <= -(int64_t{1} << 53)) decimal_ = false;
        added = true;
      }
    }
  }
  if (decimal_ && !added) {
    int64_t scaled = 0;
    const int scale = DecimalScale(value, &scaled);
    if (scale < 0) {
      decimal_ = false;
    } else {
      constexpr int64_t kExactLimit = int64_t{1} << 53;
      // Rescale to the finer of the two scales; each step stays far inside int64 because both sides stay under
      // 2^53 (past that the decimal sum is no better than the double one).
      while (scale_ < scale && decimal_) {
        scaled_sum_ *= 10;
        ++scale_;
        if (scaled_sum_ >= kExactLimit || scaled_sum_ <= -kExactLimit) decimal_ = false;
      }
      int64_t term = scaled;
      for (int s = scale; s < scale_ && decimal_; ++s) {
        term *= 10;
        if (term >= kExactLimit || term <= -kExactLimit) decimal_ = false;
      }
      if (decimal_) {
        scaled_sum_ += term;
        if (scaled_sum_ >= kExactLimit || scaled_sum_ <= -kExactLimit) decimal_ = false;
      }
    }
  }
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

void BucketStats::Finish() {
  if (decimal_ && count > 0) sum = static_cast<double>(scaled_sum_) / kPowersOfTen[scale_];
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
  if (tracked_ && other.tracked_ && decimal_ && other.decimal_) {
    constexpr int64_t kExactLimit = int64_t{1} << 53;
    int64_t mine = scaled_sum_;
    int64_t theirs = other.scaled_sum_;
    const int scale = std::max(scale_, other.scale_);
    bool exact = true;
    for (int s = scale_; s < scale && exact; ++s) {
      mine *= 10;
      exact = mine < kExactLimit && mine > -kExactLimit;
    }
    for (int s = other.scale_; s < scale && exact; ++s) {
      theirs *= 10;
      exact = theirs < kExactLimit && theirs > -kExactLimit;
    }
    if (exact && mine + theirs < kExactLimit && mine + theirs > -kExactLimit) {
      scaled_sum_ = mine + theirs;
      scale_ = scale;
      sum = static_cast<double>(scaled_sum_) / kPowersOfTen[scale_];
    } else {
      decimal_ = false;
    }
  } else {
    tracked_ = false;
  }
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
  for (auto& [start, stats] : buckets) stats.Finish();
  return buckets;
}

namespace {

constexpr const char* kDoubleStats[] = {"/min", "/max", "/sum", "/first", "/last"};
constexpr const char* kOffsetStats[] = {"/first_offset_ms", "/last_offset_ms"};

SeriesEntry StatSeries(const std::string& device, const char* name, ValueKind kind) {
  SeriesEntry entry{device, name, SeriesData{}};
  entry.data.kind = kind;
  return entry;
}

}  // namespace

std::vector<SeriesEntry> EncodeRollupRow(const std::map<SeriesKey, Buckets>& cells) {
  std::vector<SeriesEntry> out;
  std::vector<SeriesEntry> stats;
  for (const char* name : kDoubleStats) stats.push_back(StatSeries("", name, ValueKind::kDouble));
  for (const char* name : kOffsetStats) stats.push_back(StatSeries("", name, ValueKind::kInt64));
  for (const auto& [key, buckets] : cells) {
    if (buckets.empty()) continue;
    SeriesEntry counts{key.first, key.second, SeriesData{}};
    counts.data.kind = ValueKind::kInt64;
    for (const auto& [start, bucket] : buckets) {
      counts.data.timestamps_ms.push_back(start);
      counts.data.ints.push_back(bucket.count);
      stats[0].data.doubles.push_back(bucket.min);
      stats[1].data.doubles.push_back(bucket.max);
      stats[2].data.doubles.push_back(bucket.sum);
      stats[3].data.doubles.push_back(bucket.first);
      stats[4].data.doubles.push_back(bucket.last);
      stats[5].data.ints.push_back(bucket.first_ms - start);
      stats[6].data.ints.push_back(bucket.last_ms - start);
    }
    out.push_back(std::move(counts));
  }
  if (out.empty()) return out;
  for (SeriesEntry& stat : stats) {
    const size_t n = stat.data.kind == ValueKind::kDouble ? stat.data.doubles.size() : stat.data.ints.size();
    stat.data.timestamps_ms.resize(n);
    for (size_t i = 0; i < n; ++i) stat.data.timestamps_ms[i] = static_cast<int64_t>(i);
    out.push_back(std::move(stat));
  }
  return out;
}

std::map<SeriesKey, Buckets> DecodeRollupRow(const std::vector<SeriesEntry>& entries) {
  std::map<SeriesKey, Buckets> cells;
  auto is_stat = [](const SeriesEntry& entry) { return !entry.metric.empty() && entry.metric[0] == '/'; };
  size_t i = 0;
  // Rows may come one after another: each is its count series, then its seven statistic series.
  while (i < entries.size()) {
    std::vector<const SeriesEntry*> counts;
    while (i < entries.size() && !is_stat(entries[i])) counts.push_back(&entries[i++]);
    const size_t stats_begin = i;
    while (i < entries.size() && is_stat(entries[i]) && i - stats_begin < 7) ++i;
    if (i - stats_begin != 7) {
      if (i == stats_begin && counts.empty()) ++i;  // a stray entry: skip it
      continue;
    }
    const SeriesEntry* stats = &entries[stats_begin];
    size_t total = 0;
    for (const SeriesEntry* count : counts) total += count->data.size();
    bool fits = true;
    for (int s = 0; s < 5; ++s) {
      fits = fits && stats[s].data.kind == ValueKind::kDouble && stats[s].data.doubles.size() == total;
    }
    for (int s = 5; s < 7; ++s) {
      fits = fits && stats[s].data.kind == ValueKind::kInt64 && stats[s].data.ints.size() == total;
    }
    if (!fits) continue;  // a corrupt row is skipped whole
    size_t cell = 0;
    for (const SeriesEntry* count : counts) {
      if (count->data.kind != ValueKind::kInt64) {
        cell += count->data.size();
        continue;
      }
      Buckets& buckets = cells[SeriesKey(count->device_id, count->metric)];
      for (size_t b = 0; b < count->data.size(); ++b, ++cell) {
        const int64_t start = count->data.timestamps_ms[b];
        BucketStats& bucket = buckets[start];
        bucket.count = count->data.ints[b];
        bucket.min = stats[0].data.doubles[cell];
        bucket.max = stats[1].data.doubles[cell];
        bucket.sum = stats[2].data.doubles[cell];
        bucket.first = stats[3].data.doubles[cell];
        bucket.last = stats[4].data.doubles[cell];
        bucket.first_ms = start + stats[5].data.ints[cell];
        bucket.last_ms = start + stats[6].data.ints[cell];
      }
    }
  }
  return cells;
}

}  // namespace parkbase::telemetry
