// The telemetry block codec's decoder (telemetry/codec.h) on any bytes, the stored form every read decodes. It answers
// DATA_LOSS or entries, never a crash or an unbounded allocation; what it decodes encodes again, compressed or not,
// to a block that decodes to the same entries bit for bit (doubles' NaN payloads and -0.0 included); a selective
// decode agrees with the full one; and the readers' merge, bucketing and rollup decoding take whatever it decodes.
#include <algorithm>
#include <cstring>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_target.h"
#include "telemetry/codec.h"
#include "telemetry/rollup.h"
#include "telemetry/series.h"

namespace parkbase::fuzz {
namespace {

using telemetry::SeriesData;
using telemetry::SeriesEntry;
using telemetry::ValueKind;

bool SameDoubles(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

bool Same(const SeriesEntry& a, const SeriesEntry& b) {
  return a.device_id == b.device_id && a.metric == b.metric && a.data.kind == b.data.kind &&
         a.data.timestamps_ms == b.data.timestamps_ms && SameDoubles(a.data.doubles, b.data.doubles) &&
         a.data.ints == b.data.ints && a.data.bools == b.data.bools && a.data.strings == b.data.strings;
}

bool Same(const std::vector<SeriesEntry>& a, const std::vector<SeriesEntry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!Same(a[i], b[i])) return false;
  }
  return true;
}

// One value a point, of the entry's kind only: what EncodeBlock and the readers rely on.
void CheckShape(const SeriesEntry& entry) {
  const SeriesData& data = entry.data;
  const size_t n = data.size();
  const bool shaped =
      (data.kind == ValueKind::kDouble && data.doubles.size() == n && data.ints.empty() && data.bools.empty() &&
       data.strings.empty()) ||
      (data.kind == ValueKind::kInt64 && data.ints.size() == n && data.doubles.empty() && data.bools.empty() &&
       data.strings.empty()) ||
      (data.kind == ValueKind::kBool && data.bools.size() == n && data.doubles.empty() && data.ints.empty() &&
       data.strings.empty() && std::all_of(data.bools.begin(), data.bools.end(), [](uint8_t b) { return b <= 1; })) ||
      (data.kind == ValueKind::kString && data.strings.size() == n && data.doubles.empty() && data.ints.empty() &&
       data.bools.empty());
  if (!shaped) {
    Fail(absl::StrCat("DecodeBlock: series ", Printable(entry.device_id), "/", Printable(entry.metric), " of kind ",
                      static_cast<int>(data.kind), " has ", n, " timestamps and ", data.doubles.size(), "/",
                      data.ints.size(), "/", data.bools.size(), "/", data.strings.size(), " values"));
  }
}

// Every other series by its names: a selective decode skips the rest without parsing them.
bool KeepSome(absl::string_view device, absl::string_view metric) { return (device.size() + metric.size()) % 2 == 0; }

SeriesEntry Make(std::string device, std::string metric, ValueKind kind, std::vector<int64_t> times) {
  SeriesEntry entry{std::move(device), std::move(metric), {}};
  entry.data.kind = kind;
  entry.data.timestamps_ms = std::move(times);
  return entry;
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  // One block a kind of column encoding (codec.h): decimals frame-of-reference and delta, Gorilla XOR for doubles
  // that are no decimals, raw doubles, int64 at both ends, bools, strings, a timestamp back-reference, an empty block.
  SeriesEntry decimals = Make("press-1", "temp", ValueKind::kDouble, {1000, 2000, 3000, 4000, 5000});
  decimals.data.doubles = {20.5, 20.75, 21, 20.25, 19.5};
  SeriesEntry same_times = Make("press-1", "pressure", ValueKind::kDouble, {1000, 2000, 3000, 4000, 5000});
  same_times.data.doubles = {1.0 / 3, 3.14159265358979, -0.0, 1e-300, 2.5e300};
  SeriesEntry specials = Make("press-2", "odd", ValueKind::kDouble, {5, 3, 3, 9});
  specials.data.doubles = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::denorm_min()};
  SeriesEntry ints = Make("press-1", "count", ValueKind::kInt64, {-5, 0, 7, 1'800'000'000'000});
  ints.data.ints = {std::numeric_limits<int64_t>::min(), 0, 1, std::numeric_limits<int64_t>::max()};
  SeriesEntry bools = Make("press-1", "running", ValueKind::kBool, {10, 20, 30, 40, 50, 60, 70, 80, 90});
  bools.data.bools = {1, 0, 1, 1, 0, 0, 0, 1, 1};
  SeriesEntry strings = Make("press-1", "status", ValueKind::kString, {1, 2, 3});
  strings.data.strings = {"ok", "", std::string(300, 'w')};
  SeriesEntry regular = Make("lathe-1", "rpm", ValueKind::kDouble, {});
  for (int i = 0; i < 200; ++i) {
    regular.data.timestamps_ms.push_back(1'800'000'000'000 + i * 1000);
    regular.data.doubles.push_back(4000 + (i % 17) * 0.125);
  }
  std::vector<std::string> seeds;
  for (int level : {0, 3}) {
    seeds.push_back(telemetry::EncodeBlock({decimals, same_times, specials, ints}, {.zstd_level = level}));
    seeds.push_back(telemetry::EncodeBlock({bools, strings, regular}, {.zstd_level = level}));
  }
  seeds.push_back(telemetry::EncodeBlock({}, {.zstd_level = 0}));
  // A rollup row, as the compactor writes one.
  std::map<telemetry::SeriesKey, telemetry::Buckets> cells;
  cells[{"lathe-1", "rpm"}] = telemetry::Bucketize(regular.data, 60'000);
  seeds.push_back(telemetry::EncodeBlock(telemetry::EncodeRollupRow(cells), {.zstd_level = 0}));
  return seeds;
}

int DecodeAnyBlock(absl::string_view block) {
  using telemetry::DecodeBlock;
  absl::StatusOr<std::vector<SeriesEntry>> decoded = DecodeBlock(block);
  absl::StatusOr<std::vector<SeriesEntry>> selected = DecodeBlock(block, KeepSome);
  for (const auto* result : {&decoded, &selected}) {
    if (!result->ok() && result->status().code() != absl::StatusCode::kDataLoss) {
      Fail(absl::StrCat("DecodeBlock: ", result->status().ToString(), " (corrupt input is DATA_LOSS)"));
    }
  }
  if (!decoded.ok()) return 0;
  if (!selected.ok()) {
    Fail(absl::StrCat("DecodeBlock: the whole block decodes, a part of it not: ", selected.status().ToString()));
  }
  std::vector<SeriesEntry> kept;
  for (const SeriesEntry& entry : *decoded) {
    CheckShape(entry);
    if (KeepSome(entry.device_id, entry.metric)) kept.push_back(entry);
  }
  if (!Same(kept, *selected)) Fail("DecodeBlock: a selective decode differs from the whole decode");

  for (int level : {0, 1}) {
    const std::string again = telemetry::EncodeBlock(*decoded, {.zstd_level = level});
    absl::StatusOr<std::vector<SeriesEntry>> round_trip = DecodeBlock(again);
    if (!round_trip.ok()) {
      Fail(absl::StrCat("EncodeBlock wrote a block DecodeBlock refuses: ", round_trip.status().ToString()));
    }
    if (!Same(*decoded, *round_trip)) Fail(absl::StrCat("EncodeBlock (zstd level ", level, ") did not round-trip"));
  }

  // What the readers do with decoded series: merge last-write-wins, sort, bucket, decode as a rollup row.
  telemetry::SeriesMap merged;
  telemetry::MergeInto(std::vector<SeriesEntry>(*decoded), merged);
  for (auto& [id, series] : merged) {
    telemetry::SortAndDeduplicate(series);
    for (size_t i = 1; i < series.size(); ++i) {
      if (series.timestamps_ms[i - 1] >= series.timestamps_ms[i]) Fail("SortAndDeduplicate left times out of order");
    }
    for (const auto& [start, stats] : telemetry::Bucketize(series, 60'000)) {
      if (stats.count <= 0) Fail("Bucketize made an empty bucket");
    }
  }
  (void)telemetry::DecodeRollupRow(*decoded);
  return 0;
}

}  // namespace parkbase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return parkbase::fuzz::DecodeAnyBlock(absl::string_view(reinterpret_cast<const char*>(data), size));
}
