// The telemetry read/compaction primitives: last-write-wins ordering, range trimming and bucket statistics.
#include <random>

#include <catch2/catch.hpp>
#include "telemetry/rollup.h"
#include "telemetry/series.h"

namespace parkbase::telemetry {
namespace {

SeriesData Doubles(std::vector<int64_t> times, std::vector<double> values) {
  SeriesData data;
  data.kind = ValueKind::kDouble;
  data.timestamps_ms = std::move(times);
  data.doubles = std::move(values);
  return data;
}

TEST_CASE("series: sorting keeps the last write of each time", "[telemetry][unit]") {
  SeriesData data = Doubles({30, 10, 20, 10, 30, 5}, {1, 2, 3, 4, 5, 6});
  SortAndDeduplicate(data);
  CHECK(data.timestamps_ms == std::vector<int64_t>{5, 10, 20, 30});
  CHECK(data.doubles == std::vector<double>{6, 4, 3, 5});
}

TEST_CASE("series: sorting matches a map model on random input", "[telemetry][unit]") {
  std::mt19937_64 random(7);
  for (int round = 0; round < 200; ++round) {
    SeriesData data;
    data.kind = ValueKind::kInt64;
    std::map<int64_t, int64_t> model;
    const int n = static_cast<int>(random() % 300);
    for (int i = 0; i < n; ++i) {
      const int64_t time = static_cast<int64_t>(random() % 100);
      const int64_t value = static_cast<int64_t>(random());
      data.timestamps_ms.push_back(time);
      data.ints.push_back(value);
      model[time] = value;
    }
    SortAndDeduplicate(data);
    REQUIRE(data.size() == model.size());
    size_t i = 0;
    for (const auto& [time, value] : model) {
      CHECK(data.timestamps_ms[i] == time);
      CHECK(data.ints[i] == value);
      ++i;
    }
  }
}

TEST_CASE("series: merging lets later sources win, and a changed value type keeps the older points",
          "[telemetry][unit]") {
  SeriesMap merged;
  std::vector<SeriesEntry> older;
  older.push_back({"d", "m", Doubles({1, 2}, {1, 2})});
  std::vector<SeriesEntry> newer;
  newer.push_back({"d", "m", Doubles({2, 3}, {20, 30})});
  MergeInto(std::move(older), merged);
  MergeInto(std::move(newer), merged);
  SeriesData& series = merged[SeriesId{"d", "m", ValueKind::kDouble}];
  SortAndDeduplicate(series);
  CHECK(series.doubles == std::vector<double>{1, 20, 30});

  // The metric becomes STRING: a point at a new time adds a string series beside the doubles, and a point at an
  // existing time replaces the double written there before (last write wins across types too).
  SeriesData strings;
  strings.kind = ValueKind::kString;
  strings.timestamps_ms = {4, 2};
  strings.strings = {"x", "y"};
  std::vector<SeriesEntry> retyped;
  retyped.push_back({"d", "m", strings});
  MergeInto(std::move(retyped), merged);
  REQUIRE(merged.size() == 2);
  SeriesData& doubles = merged[SeriesId{"d", "m", ValueKind::kDouble}];
  SortAndDeduplicate(doubles);
  CHECK(doubles.timestamps_ms == std::vector<int64_t>{1, 3});
  CHECK(doubles.doubles == std::vector<double>{1, 30});
  CHECK(merged[SeriesId{"d", "m", ValueKind::kString}].strings == std::vector<std::string>{"x", "y"});

  // And a later double at time 4 takes that time back from the string.
  std::vector<SeriesEntry> back;
  back.push_back({"d", "m", Doubles({4}, {40})});
  MergeInto(std::move(back), merged);
  CHECK(merged[SeriesId{"d", "m", ValueKind::kString}].timestamps_ms == std::vector<int64_t>{2});
  SeriesData& final_doubles = merged[SeriesId{"d", "m", ValueKind::kDouble}];
  SortAndDeduplicate(final_doubles);
  CHECK(final_doubles.timestamps_ms == std::vector<int64_t>{1, 3, 4});
}

TEST_CASE("series: KeepRange keeps start and drops end, window starts floor", "[telemetry][unit]") {
  SeriesData data = Doubles({9, 10, 15, 20, 21}, {1, 2, 3, 4, 5});
  KeepRange(data, 10, 21);
  CHECK(data.timestamps_ms == std::vector<int64_t>{10, 15, 20});
  CHECK(WindowStart(3'599'999, kChunkWindowMs) == 0);
  CHECK(WindowStart(3'600'000, kChunkWindowMs) == 3'600'000);
  CHECK(WindowStart(-1, 1000) == -1000);
}

TEST_CASE("rollup: buckets compute every statistic and combine like the raw points", "[telemetry][unit]") {
  SeriesData data = Doubles({0, 30'000, 59'999, 60'000, 61'000}, {5, -1, 7, 2, 4});
  const Buckets minutes = Bucketize(data, kMinuteMs);
  REQUIRE(minutes.size() == 2);
  const BucketStats& first = minutes.at(0);
  CHECK(first.count == 3);
  CHECK(first.min == -1);
  CHECK(first.max == 7);
  CHECK(first.sum == 11);
  CHECK(first.first == 5);
  CHECK(first.last == 7);
  CHECK(first.first_ms == 0);
  CHECK(first.last_ms == 59'999);

  BucketStats combined;
  for (const auto& [start, stats] : minutes) combined.Combine(stats);
  const Buckets hour = Bucketize(data, kHourMs);
  REQUIRE(hour.size() == 1);
  CHECK(combined.count == hour.at(0).count);
  CHECK(combined.min == hour.at(0).min);
  CHECK(combined.max == hour.at(0).max);
  CHECK(combined.sum == hour.at(0).sum);
  CHECK(combined.first == hour.at(0).first);
  CHECK(combined.last == hour.at(0).last);
}

TEST_CASE("rollup: a rollup row reads back to the same buckets for every device and metric", "[telemetry][unit]") {
  std::map<SeriesKey, Buckets> cells;
  cells[SeriesKey("dev-a", "temp")] = Bucketize(Doubles({1'000, 2'000, 70'000}, {1.5, 2.5, -3.25}), kMinuteMs);
  cells[SeriesKey("dev-a", "load")] = Bucketize(Doubles({5'000}, {0.125}), kMinuteMs);
  cells[SeriesKey("dev-b", "temp")] = Bucketize(Doubles({59'999, 60'000, 179'000}, {7, 8, 9}), kMinuteMs);
  const std::map<SeriesKey, Buckets> back = DecodeRollupRow(EncodeRollupRow(cells));
  REQUIRE(back.size() == cells.size());
  for (const auto& [key, buckets] : cells) {
    INFO(key.first << "/" << key.second);
    REQUIRE(back.contains(key));
    const Buckets& other = back.at(key);
    REQUIRE(other.size() == buckets.size());
    for (const auto& [start, stats] : buckets) {
      const BucketStats& read = other.at(start);
      CHECK(read.count == stats.count);
      CHECK(read.min == stats.min);
      CHECK(read.max == stats.max);
      CHECK(read.sum == stats.sum);
      CHECK(read.first == stats.first);
      CHECK(read.last == stats.last);
      CHECK(read.first_ms == stats.first_ms);
      CHECK(read.last_ms == stats.last_ms);
    }
  }
  SeriesData strings;
  strings.kind = ValueKind::kString;
  strings.timestamps_ms = {1};
  strings.strings = {"x"};
  CHECK(Bucketize(strings, kMinuteMs).empty());
}

TEST_CASE("rollup: decimal values sum exactly, so sums store as decimals", "[telemetry][unit]") {
  // 0.1 + 0.2 is 0.30000000000000004 in doubles; the decimal sum is 0.3.
  const Buckets buckets = Bucketize(Doubles({0, 1}, {0.1, 0.2}), kMinuteMs);
  CHECK(buckets.at(0).sum == 0.3);
  std::mt19937_64 random(11);
  std::uniform_int_distribution<int64_t> thousandths(20'000, 24'999);
  SeriesData data;
  data.kind = ValueKind::kDouble;
  int64_t exact = 0;
  for (int i = 0; i < 60; ++i) {
    const int64_t value = thousandths(random);
    exact += value;
    data.timestamps_ms.push_back(i * 1000);
    data.doubles.push_back(static_cast<double>(value) / 1000);
  }
  CHECK(Bucketize(data, kMinuteMs).at(0).sum == static_cast<double>(exact) / 1000);
  // Not decimal: the plain double sum.
  const double third = 1.0 / 3;
  CHECK(Bucketize(Doubles({0, 1}, {third, third}), kMinuteMs).at(0).sum == third + third);
}

}  // namespace
}  // namespace parkbase::telemetry
