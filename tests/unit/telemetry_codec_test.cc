#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "telemetry/codec.h"

namespace parkbase::telemetry {
namespace {

using Rng = std::mt19937_64;

// The first difference between two decoded blocks, bit for bit; empty when equal.
std::string Difference(const std::vector<SeriesEntry>& want, const std::vector<SeriesEntry>& got) {
  if (want.size() != got.size()) return absl::StrCat("series count ", want.size(), " vs ", got.size());
  for (size_t e = 0; e < want.size(); ++e) {
    const SeriesEntry& a = want[e];
    const SeriesEntry& b = got[e];
    const std::string where = absl::StrCat("series ", e, ": ");
    if (a.device_id != b.device_id || a.metric != b.metric) return where + "names";
    if (a.data.kind != b.data.kind) return where + "kind";
    if (a.data.timestamps_ms != b.data.timestamps_ms) return where + "timestamps";
    switch (a.data.kind) {
      case ValueKind::kDouble:
        if (a.data.doubles.size() != b.data.doubles.size()) return where + "double count";
        for (size_t i = 0; i < a.data.doubles.size(); ++i) {
          if (std::bit_cast<uint64_t>(a.data.doubles[i]) != std::bit_cast<uint64_t>(b.data.doubles[i])) {
            return absl::StrCat(where, "double ", i, ": ", a.data.doubles[i], " vs ", b.data.doubles[i]);
          }
        }
        break;
      case ValueKind::kInt64:
        if (a.data.ints != b.data.ints) return where + "ints";
        break;
      case ValueKind::kBool:
        if (a.data.bools != b.data.bools) return where + "bools";
        break;
      case ValueKind::kString:
        if (a.data.strings != b.data.strings) return where + "strings";
        break;
    }
  }
  return "";
}

std::vector<int64_t> RandomTimestamps(Rng& rng, size_t n) {
  std::vector<int64_t> ts(n);
  const int64_t start = 1'700'000'000'000 + static_cast<int64_t>(rng() % 1'000'000);
  switch (rng() % 6) {
    case 0:  // regular
      for (size_t i = 0; i < n; ++i) ts[i] = start + static_cast<int64_t>(i) * 1000;
      break;
    case 1:  // jittered
      for (size_t i = 0; i < n; ++i) {
        ts[i] = start + static_cast<int64_t>(i) * 1000 + static_cast<int64_t>(rng() % 7) - 3;
      }
      break;
    case 2:  // unsorted, repeated, negative
      for (size_t i = 0; i < n; ++i) ts[i] = static_cast<int64_t>(rng() % 2001) - 1000;
      break;
    case 3:  // anything, extremes included
      for (size_t i = 0; i < n; ++i) {
        const uint64_t pick = rng() % 4;
        ts[i] = pick == 0   ? std::numeric_limits<int64_t>::min()
                : pick == 1 ? std::numeric_limits<int64_t>::max()
                            : static_cast<int64_t>(rng());
      }
      break;
    case 4:  // one value repeated
      for (size_t i = 0; i < n; ++i) ts[i] = start;
      break;
    default:  // regular with gaps
      for (size_t i = 0, t = 0; i < n; ++i) ts[i] = start + static_cast<int64_t>(t += (rng() % 10 == 0 ? 5000 : 1000));
  }
  return ts;
}

double SpecialDouble(Rng& rng) {
  static const double kSpecial[] = {0.0,
                                    -0.0,
                                    std::numeric_limits<double>::infinity(),
                                    -std::numeric_limits<double>::infinity(),
                                    std::numeric_limits<double>::quiet_NaN(),
                                    std::bit_cast<double>(uint64_t{0x7ff0000000000001}),  // signalling NaN
                                    std::bit_cast<double>(uint64_t{0xfff8dead0000beef}),  // NaN with a payload
                                    std::numeric_limits<double>::denorm_min(),
                                    -std::numeric_limits<double>::denorm_min(),
                                    std::numeric_limits<double>::min(),
                                    std::numeric_limits<double>::max(),
                                    std::numeric_limits<double>::lowest(),
                                    0x1p52,
                                    0x1p53 + 2,
                                    1e-9,
                                    123456789.123456789};
  return kSpecial[rng() % std::size(kSpecial)];
}

std::vector<double> RandomDoubles(Rng& rng, size_t n) {
  std::vector<double> v(n);
  std::uniform_real_distribution<double> uniform(-1000, 1000);
  const int scale = static_cast<int>(rng() % 11);
  const double p = std::pow(10.0, scale);
  switch (rng() % 5) {
    case 0:  // decimals at some scale
      for (double& x : v) x = std::round(uniform(rng) * p) / p;
      break;
    case 1:  // decimals with the odd special value (falls back to Gorilla)
      for (double& x : v) x = rng() % 20 == 0 ? SpecialDouble(rng) : std::round(uniform(rng) * p) / p;
      break;
    case 2:  // random bits
      for (double& x : v) x = std::bit_cast<double>(rng());
      break;
    case 3:  // slowly varying measurements
      for (size_t i = 0; i < n; ++i) v[i] = 20 + std::sin(static_cast<double>(i) / 10) + uniform(rng) * 1e-3;
      break;
    default:
      for (double& x : v) x = SpecialDouble(rng);
  }
  return v;
}

std::vector<int64_t> RandomInts(Rng& rng, size_t n) {
  std::vector<int64_t> v(n);
  switch (rng() % 4) {
    case 0:  // counter
      for (size_t i = 0, c = rng() % 1000; i < n; ++i) v[i] = static_cast<int64_t>(c += rng() % 5);
      break;
    case 1:
      for (int64_t& x : v) x = static_cast<int64_t>(rng() % 100) - 50;
      break;
    case 2:
      for (int64_t& x : v) x = static_cast<int64_t>(rng());
      break;
    default:
      for (int64_t& x : v) {
        x = rng() % 2 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
      }
  }
  return v;
}

std::string RandomBytes(Rng& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

SeriesData RandomSeries(Rng& rng, size_t n) {
  SeriesData data;
  data.kind = static_cast<ValueKind>(1 + rng() % 4);
  data.timestamps_ms = RandomTimestamps(rng, n);
  switch (data.kind) {
    case ValueKind::kDouble:
      data.doubles = RandomDoubles(rng, n);
      break;
    case ValueKind::kInt64:
      data.ints = RandomInts(rng, n);
      break;
    case ValueKind::kBool: {
      const uint64_t mode = rng() % 3;
      for (size_t i = 0; i < n; ++i) data.bools.push_back(mode == 2 ? rng() % 2 : mode);
      break;
    }
    case ValueKind::kString:
      for (size_t i = 0; i < n; ++i) {
        const uint64_t pick = rng() % 10;
        data.strings.push_back(pick == 0 ? RandomBytes(rng, 1000 + rng() % 3000)
                               : pick < 3 ? std::string()
                                          : RandomBytes(rng, rng() % 20));
      }
      break;
  }
  return data;
}

std::vector<SeriesEntry> RandomBlock(Rng& rng) {
  std::vector<SeriesEntry> entries(rng() % 12);
  for (size_t e = 0; e < entries.size(); ++e) {
    SeriesEntry& entry = entries[e];
    entry.device_id = rng() % 8 == 0 ? RandomBytes(rng, rng() % 40) : absl::StrCat("device-", rng() % 4);
    entry.metric = absl::StrCat("metric-", rng() % 6);
    const uint64_t shape = rng() % 10;
    const size_t n = shape == 0 ? 0 : shape == 1 ? 1 + rng() % 3 : shape == 2 ? 1000 + rng() % 2000 : rng() % 150;
    entry.data = RandomSeries(rng, n);
    if (e > 0 && rng() % 3 == 0) {  // sampled together with the previous series
      const SeriesData& prev = entries[e - 1].data;
      SeriesData same = RandomSeries(rng, prev.size());
      same.timestamps_ms = prev.timestamps_ms;
      entry.data = std::move(same);
    }
  }
  return entries;
}

BlockOptions Level(int level) {
  BlockOptions options;
  options.zstd_level = level;
  return options;
}

// The benchmark shape: regular 1 s samples, values with 3 decimals in [20, 25).
std::vector<SeriesEntry> Chunk(Rng& rng, const std::string& device, size_t metrics, size_t points, int64_t start) {
  static const char* kMetrics[] = {"temperature", "humidity", "pressure", "voltage", "current",
                                   "power",       "frequency", "vibration", "flow_rate", "level"};
  std::uniform_real_distribution<double> uniform(20, 25);
  std::vector<SeriesEntry> entries(metrics);
  for (size_t m = 0; m < metrics; ++m) {
    entries[m].device_id = device;
    entries[m].metric = kMetrics[m % std::size(kMetrics)];
    SeriesData& data = entries[m].data;
    for (size_t i = 0; i < points; ++i) {
      data.timestamps_ms.push_back(start + static_cast<int64_t>(i) * 1000);
      data.doubles.push_back(std::round(uniform(rng) * 1000) / 1000);
    }
  }
  return entries;
}

size_t Points(const std::vector<SeriesEntry>& entries) {
  size_t points = 0;
  for (const SeriesEntry& e : entries) points += e.data.size();
  return points;
}

TEST_CASE("codec: random blocks round-trip bit for bit", "[codec][unit]") {
  Rng rng(20240611);
  for (int iteration = 0; iteration < 400; ++iteration) {
    const std::vector<SeriesEntry> entries = RandomBlock(rng);
    const int level = static_cast<int>(rng() % 3) * 2;  // 0 (none), 2, 4
    const std::string block = EncodeBlock(entries, Level(level));
    auto decoded = DecodeBlock(block);
    INFO("iteration " << iteration << ", level " << level);
    REQUIRE(decoded.ok());
    REQUIRE(Difference(entries, *decoded) == "");
  }
}

TEST_CASE("codec: edge cases round-trip", "[codec][unit]") {
  std::vector<SeriesEntry> entries;
  SECTION("empty block") {}
  SECTION("empty series of every kind") {
    for (int kind = 1; kind <= 4; ++kind) {
      entries.push_back({"d", absl::StrCat("m", kind), SeriesData{static_cast<ValueKind>(kind), {}, {}, {}, {}, {}}});
    }
  }
  SECTION("one point") { entries.push_back({"d", "m", SeriesData{ValueKind::kDouble, {-5}, {-0.0}, {}, {}, {}}}); }
  SECTION("int64 extremes, wrapping differences") {
    const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
    entries.push_back({"d", "m", SeriesData{ValueKind::kInt64, {hi, lo, hi, lo, 0}, {}, {lo, hi, lo, -1, hi}, {}, {}}});
    entries.push_back({"", "", SeriesData{ValueKind::kInt64, {lo, lo + 1, lo + 2}, {}, {hi, hi - 1, hi - 2}, {}, {}}});
  }
  SECTION("decimals with one -0.0 fall back exactly") {
    entries.push_back({"d", "m", SeriesData{ValueKind::kDouble, {1, 2, 3, 4}, {20.125, -0.0, 0.0, 21.5}, {}, {}, {}}});
  }
  SECTION("same device, same timestamps, different kinds") {
    entries.push_back({"d", "a", SeriesData{ValueKind::kBool, {1, 1, 2}, {}, {}, {1, 0, 1}, {}}});
    entries.push_back(
        {"d", "b", SeriesData{ValueKind::kString, {1, 1, 2}, {}, {}, {}, {"", std::string(1, '\0'), "x"}}});
    entries.push_back({"d", "a", SeriesData{ValueKind::kDouble, {1, 1, 2}, {1.5, 1.5, 1.5}, {}, {}, {}}});
  }
  for (int level : {0, 1, 19}) {
    const std::string block = EncodeBlock(entries, Level(level));
    auto decoded = DecodeBlock(block);
    REQUIRE(decoded.ok());
    CHECK(Difference(entries, *decoded) == "");
  }
}

TEST_CASE("codec: keep decodes only the series it accepts", "[codec][unit]") {
  Rng rng(7);
  for (int iteration = 0; iteration < 200; ++iteration) {
    const std::vector<SeriesEntry> entries = RandomBlock(rng);
    const std::string block = EncodeBlock(entries, Level(static_cast<int>(rng() % 2)));
    const uint64_t salt = rng();
    auto keep = [salt](absl::string_view device, absl::string_view metric) {
      return (std::hash<std::string>()(std::string(device) + "/" + std::string(metric)) ^ salt) % 3 != 0;
    };
    std::vector<SeriesEntry> want;
    for (const SeriesEntry& entry : entries) {
      if (keep(entry.device_id, entry.metric)) want.push_back(entry);
    }
    auto decoded = DecodeBlock(block, keep);
    INFO("iteration " << iteration);
    REQUIRE(decoded.ok());
    REQUIRE(Difference(want, *decoded) == "");
  }
}

TEST_CASE("codec: a series sharing the timestamps of a skipped series still gets them", "[codec][unit]") {
  Rng rng(3);
  std::vector<SeriesEntry> entries = Chunk(rng, "dev-1", 4, 50, 1'700'000'000'000);
  entries[0].data.timestamps_ms[7] += 3;  // irregular, and every later series refers back to it
  for (size_t m = 1; m < entries.size(); ++m) entries[m].data.timestamps_ms = entries[0].data.timestamps_ms;
  auto decoded = DecodeBlock(EncodeBlock(entries, Level(1)),
                             [](absl::string_view, absl::string_view metric) { return metric == "pressure"; });
  REQUIRE(decoded.ok());
  REQUIRE(decoded->size() == 1);
  CHECK(Difference({entries[2]}, *decoded) == "");
}

std::vector<SeriesEntry> SmallMixedBlock() {
  std::vector<SeriesEntry> entries;
  const std::vector<int64_t> ts = {1000, 2000, 3000, 4000};
  entries.push_back({"dev-1", "temp", SeriesData{ValueKind::kDouble, ts, {20.5, 20.25, 21, 19.875}, {}, {}, {}}});
  entries.push_back({"dev-1", "raw", SeriesData{ValueKind::kDouble, ts, {0.1 + 0.2, -0.0, NAN, 1e300}, {}, {}, {}}});
  entries.push_back(
      {"dev-1", "count", SeriesData{ValueKind::kInt64, {1000, 2000, 3000, 4007}, {}, {5, 9, 9, 1LL << 40}, {}, {}}});
  entries.push_back({"dev-2", "door", SeriesData{ValueKind::kBool, {-1, 7, 7}, {}, {}, {1, 0, 1}, {}}});
  entries.push_back({"dev-2", "state", SeriesData{ValueKind::kString, {-1, 7, 7}, {}, {}, {}, {"open", "", "closed"}}});
  // Repetitive enough that zstd pays off, so the corruption tests reach the zstd path too.
  SeriesData log{ValueKind::kString, std::vector<int64_t>(20, 5), {}, {}, {}, std::vector<std::string>(20, "closed")};
  entries.push_back({"dev-2", "log", log});
  return entries;
}

// Decoding must either succeed or say DATA_LOSS; a crash or an out-of-bounds read fails the run.
void CheckDecodesOrDataLoss(absl::string_view block) {
  auto all = DecodeBlock(block);
  if (!all.ok()) CHECK(all.status().code() == absl::StatusCode::kDataLoss);
  auto some = DecodeBlock(block, [](absl::string_view, absl::string_view metric) { return metric != "temp"; });
  if (!some.ok()) CHECK(some.status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("codec: every truncation of a block is DATA_LOSS", "[codec][unit]") {
  for (int level : {0, 3}) {
    const std::string block = EncodeBlock(SmallMixedBlock(), Level(level));
    REQUIRE(DecodeBlock(block).ok());
    REQUIRE(block[1] == (level == 0 ? 0 : 1));  // both the plain and the zstd path are under test
    for (size_t size = 0; size < block.size(); ++size) {
      // A copy of exactly `size` bytes, so reading past it would be a heap overflow rather than a lucky read.
      const std::string prefix = block.substr(0, size);
      auto decoded = DecodeBlock(prefix);
      INFO("level " << level << ", size " << size << " of " << block.size());
      REQUIRE_FALSE(decoded.ok());
      CHECK(decoded.status().code() == absl::StatusCode::kDataLoss);
      CheckDecodesOrDataLoss(prefix);
    }
  }
}

TEST_CASE("codec: corrupted blocks decode or are DATA_LOSS, never crash", "[codec][unit]") {
  Rng rng(99);
  for (int level : {0, 1}) {
    const std::string block = EncodeBlock(SmallMixedBlock(), Level(level));
    for (int iteration = 0; iteration < 20000; ++iteration) {
      std::string corrupt = block;
      for (uint64_t flips = 1 + rng() % 3; flips > 0; --flips) {
        corrupt[rng() % corrupt.size()] ^= static_cast<char>(1 + rng() % 255);
      }
      CheckDecodesOrDataLoss(corrupt);
    }
  }
  // Random blocks and random garbage behind valid headers.
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string garbage = RandomBytes(rng, rng() % 64);
    if (garbage.size() >= 2 && rng() % 2 == 0) garbage[0] = 1, garbage[1] = static_cast<char>(rng() % 2);
    CheckDecodesOrDataLoss(garbage);
  }
  for (int iteration = 0; iteration < 300; ++iteration) {
    std::string block = EncodeBlock(RandomBlock(rng), Level(static_cast<int>(rng() % 2)));
    if (block.empty()) continue;
    block[rng() % block.size()] ^= static_cast<char>(1 + rng() % 255);
    CheckDecodesOrDataLoss(block.substr(0, block.size() - rng() % 2));
  }
}

TEST_CASE("codec: absurd counts are refused without allocating them", "[codec][unit]") {
  // Version 1, uncompressed, no strings, 2^40 series.
  CHECK(DecodeBlock(std::string("\x01\x00\x00\x80\x80\x80\x80\x80\x20", 9)).status().code() ==
        absl::StatusCode::kDataLoss);
  // One string "d", one series claiming 2^50 points of a constant (0-bit) int column.
  std::string block("\x01\x00\x01\x01" "d" "\x01\x02\x00\x00", 9);
  block += std::string("\x80\x80\x80\x80\x80\x80\x80\x02", 8);  // n
  block += std::string("\x06\x00\x00\x00\x00\x00\x00", 7);  // section: ts and value columns, constant
  CHECK(DecodeBlock(block).status().code() == absl::StatusCode::kDataLoss);
  // A zstd frame claiming a 1 TiB body.
  std::string frame("\x01\x01\x28\xb5\x2f\xfd\xe0\x00\x00\x00\x00\x00\x01\x00\x00", 15);
  CHECK(DecodeBlock(frame).status().code() == absl::StatusCode::kDataLoss);
  CHECK(DecodeBlock(std::string("\x02\x00\x00\x00", 4)).status().code() == absl::StatusCode::kDataLoss);
  CHECK(DecodeBlock(std::string("\x01\x07\x00\x00", 4)).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("codec: a compacted chunk takes under 1.8 bytes a point", "[codec][unit]") {
  // 1 device x 10 metrics x 100 points at 1 s, values uniform with 3 decimals in [20, 25): the entropy floor is
  // log2(5000) bits = 1.54 bytes a point.
  Rng rng(1);
  for (int level : {1, 3}) {
    size_t bytes = 0, points = 0, worst = 0;
    for (int device = 0; device < 50; ++device) {
      const auto entries = Chunk(rng, absl::StrCat("device-", 1000 + device), 10, 100, 1'700'000'000'000 + device);
      const std::string block = EncodeBlock(entries, Level(level));
      bytes += block.size();
      points += Points(entries);
      worst = std::max(worst, block.size());
      auto decoded = DecodeBlock(block);
      REQUIRE(decoded.ok());
      REQUIRE(Difference(entries, *decoded) == "");
    }
    const double per_point = static_cast<double>(bytes) / static_cast<double>(points);
    WARN("chunk at zstd level " << level << ": " << per_point << " bytes a point, largest chunk " << worst
                                << " bytes for 1000 points");
    CHECK(per_point < 1.8);
    CHECK(worst < 1800);
  }
}

TEST_CASE("codec: an ingest-log batch takes under 3 bytes a point", "[codec][unit]") {
  // 1000 devices x 10 metrics x 10 timestamps: every metric of a device sampled together.
  Rng rng(2);
  std::vector<SeriesEntry> entries;
  for (int device = 0; device < 1000; ++device) {
    for (SeriesEntry& e : Chunk(rng, absl::StrCat("device-", 100000 + device), 10, 10, 1'700'000'000'000 + device)) {
      entries.push_back(std::move(e));
    }
  }
  const std::string block = EncodeBlock(entries, Level(1));
  const double per_point = static_cast<double>(block.size()) / static_cast<double>(Points(entries));
  WARN("ingest-log batch of " << Points(entries) << " points: " << block.size() << " bytes, " << per_point
                              << " bytes a point");
  CHECK(per_point < 3.0);
  auto decoded = DecodeBlock(block);
  REQUIRE(decoded.ok());
  CHECK(Difference(entries, *decoded) == "");
}

TEST_CASE("codec: int64, bool and string series are compact", "[codec][unit]") {
  const size_t n = 1000;
  SeriesData counter{ValueKind::kInt64, {}, {}, {}, {}, {}};
  SeriesData flags{ValueKind::kBool, {}, {}, {}, {}, {}};
  SeriesData states{ValueKind::kString, {}, {}, {}, {}, {}};
  Rng rng(5);
  for (size_t i = 0; i < n; ++i) {
    const int64_t t = 1'700'000'000'000 + static_cast<int64_t>(i) * 1000;
    for (SeriesData* data : {&counter, &flags, &states}) data->timestamps_ms.push_back(t);
    counter.ints.push_back(static_cast<int64_t>(1'000'000 + i * 10 + rng() % 4));  // increments of 10..13
    flags.bools.push_back(rng() % 2);
    states.strings.push_back(rng() % 2 ? "running" : "idle");
  }
  auto size_of = [](const SeriesData& data, int level) {
    return EncodeBlock({SeriesEntry{"device-1", "m", data}}, Level(level)).size();
  };
  CHECK(size_of(counter, 0) < n * 3 / 8 + 40);  // 2 bits a delta
  CHECK(size_of(flags, 0) < n / 8 + 40);        // 1 bit a point
  CHECK(size_of(states, 0) < n * 9);            // length byte and bytes
  CHECK(size_of(states, 1) < n);                // repetitive strings left to zstd
  SeriesData constant = counter;
  std::fill(constant.ints.begin(), constant.ints.end(), 42);
  CHECK(size_of(constant, 0) < 40);
}

}  // namespace
}  // namespace parkbase::telemetry
