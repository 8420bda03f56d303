// The telemetry storage format: a block is a set of series (device, metric, timestamps, values) encoded column by
// column and compressed. The same format holds an ingest-log batch (many devices, a few points a series) and a
// compacted chunk (one device, every metric, one time window), so the compactor only re-groups series.
//
// Encodings (chosen per series, the smallest wins; see docs/telemetry.md):
// - timestamps: first value, first delta, then delta-of-deltas bit-packed at the width of the largest; regular
//   sampling costs ~0 bits a point. A series whose timestamps equal the previous series' in the block stores a
//   back-reference instead (every metric of a device sampled together).
// - doubles: when every value is a decimal with at most 9 fractional digits (v * 10^s is an exact integer), the
//   scaled integers are stored frame-of-reference (value - min) or delta-encoded, bit-packed at the width of the
//   largest; otherwise Gorilla XOR (Pelkonen et al., VLDB 2015). Bit-exact round trip for every double, including
//   -0.0, NaN payloads and infinities.
// - int64: as scaled doubles with s = 0. bool: bit-packed. string: lengths + bytes.
// - the whole block is then zstd-compressed when that makes it smaller.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace parkbase::telemetry {

// The same numbers as parkbase.device.v1.ValueType.
enum class ValueKind : uint8_t { kDouble = 1, kInt64 = 2, kBool = 3, kString = 4 };

// One series' points, in the order given (not necessarily sorted by time; the codec keeps the order exactly).
// Exactly the value vector of `kind` is used, with as many entries as `timestamps_ms`.
struct SeriesData {
  ValueKind kind = ValueKind::kDouble;
  std::vector<int64_t> timestamps_ms;
  std::vector<double> doubles;
  std::vector<int64_t> ints;
  std::vector<uint8_t> bools;  // 0 or 1
  std::vector<std::string> strings;

  size_t size() const { return timestamps_ms.size(); }
};

struct SeriesEntry {
  std::string device_id;
  std::string metric;
  SeriesData data;
};

struct BlockOptions {
  // zstd level for the whole block; 0 leaves it uncompressed. The ingest log uses a fast level (it is rewritten
  // by the compactor within seconds), chunks a stronger one.
  int zstd_level = 1;
};

// Encodes entries in the order given. Never fails for valid SeriesData (value vector as long as timestamps).
std::string EncodeBlock(const std::vector<SeriesEntry>& entries, const BlockOptions& options);

// Decodes a block made by EncodeBlock. DATA_LOSS for a corrupt or truncated block (never a crash, never reading
// out of bounds).
absl::StatusOr<std::vector<SeriesEntry>> DecodeBlock(absl::string_view block);

// As DecodeBlock, but decodes the points of only the series `keep` accepts (the others are skipped, not decoded).
absl::StatusOr<std::vector<SeriesEntry>> DecodeBlock(
    absl::string_view block, absl::FunctionRef<bool(absl::string_view device_id, absl::string_view metric)> keep);

}  // namespace parkbase::telemetry
