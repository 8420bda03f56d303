// The telemetry block codec. codec.h says what each column encoding is for; this file is the byte layout:
//
//   block    := version:u8 (= 1)  compression:u8 (0 none, 1 zstd)  payload
//   payload  := body, or one zstd frame of body (the frame header carries the body's size)
//   body     := n_strings:varint {len:varint bytes}*  n_entries:varint entry*
//   entry    := flags:u8 [device:varint] metric:varint [n:varint] section_len:varint section
//                 flags bits 0-2: ValueKind; bit 3: same timestamps (and n) as the previous entry, so the
//                 timestamp column and n are omitted; bit 4: same device as the previous entry (device omitted).
//                 device and metric index the string table, so a block names each device and metric once.
//   section  := [timestamps: int column] values: column of the kind
//
// Every column of n = 0 points is empty. Otherwise it starts with head:u8 = mode << 2 | order, where order k in
// 0..2 says which differences are stored:
//   int column := {first k values: zigzag varint (x0, then x1 - x0)}  min:zigzag varint  range:varint  codes
//     The n - k k-th differences (wrapping uint64 arithmetic, so INT64_MIN..MAX is fine) are stored as r - min,
//     each in [0, range], in truncated binary: with b = bit width of range and u = 2^b - (range + 1), codes
//     below u take b - 1 bits and the rest b bits; ~log2(range + 1) bits a value instead of b (12.36 instead of
//     13 bits for 5000 distinct values). Bits are packed LSB first into little-endian bytes; the column ends at
//     the next byte boundary.
//   timestamps, int64, bool: an int column with mode 0 (bools must decode to 0 or 1).
//   double: mode 0..9 = decimal scale s, then an int column of round(v * 10^s), decoded as k / 10^s;
//     mode 10 = Gorilla XOR (first value 64 bits; then '0' same value, '10' + bits in the previous window,
//     '11' + leading:5 + (length - 1):6 + bits); mode 11 = raw little-endian 8 bytes a value.
//   string: {len:varint bytes}*.
// The section length lets DecodeBlock(keep) skip a series without parsing it; a skipped series' timestamps
// are decoded only if a kept series refers back to them.
#include "telemetry/codec.h"

#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace parkbase::telemetry {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kUncompressed = 0;
constexpr uint8_t kZstd = 1;

// Decode limits, so a corrupt or hostile block cannot make the decoder allocate without bound (a zstd frame
// or a 0-bit column can claim far more than its bytes). They are far above what the service writes: an
// ingest-log batch is ~100k points in ~10k series and ~300 KB, a compacted chunk ~1000 points.
constexpr uint64_t kMaxBodyBytes = uint64_t{256} << 20;
constexpr uint64_t kMaxBlockEntries = uint64_t{1} << 20;
constexpr uint64_t kMaxBlockPoints = uint64_t{1} << 24;
// The smallest entry is flags, metric and section_len.
constexpr uint64_t kMinEntryBytes = 3;

constexpr uint8_t kKindMask = 0x07;
constexpr uint8_t kSameTimestamps = 0x08;
constexpr uint8_t kSameDevice = 0x10;
constexpr uint8_t kReservedFlags = 0xE0;

constexpr int kMaxDecimalScale = 9;
constexpr uint8_t kModeGorilla = 10;
constexpr uint8_t kModeRaw = 11;
constexpr double kPow10[kMaxDecimalScale + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

absl::Status Corrupt(absl::string_view what) { return absl::DataLossError(absl::StrCat("telemetry block: ", what)); }

inline uint64_t ZigZag(uint64_t v) { return (v << 1) ^ (0 - (v >> 63)); }
inline uint64_t UnZigZag(uint64_t v) { return (v >> 1) ^ (0 - (v & 1)); }

inline uint64_t DoubleBits(double v) { return std::bit_cast<uint64_t>(v); }
inline double BitsDouble(uint64_t v) { return std::bit_cast<double>(v); }

inline uint64_t LoadLE64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

inline void StoreLE64(char* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

inline uint64_t LowMask(int n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

// Truncated binary parameters for codes in [0, range]: b bits, and the first u codes take one bit less.
struct CodeWidth {
  int b;
  uint64_t u;
};

inline CodeWidth WidthFor(uint64_t range) {
  int b = std::bit_width(range);
  // 2^b - (range + 1), in wrapping arithmetic so that b = 64 works too.
  uint64_t u = (b == 64 ? 0 : uint64_t{1} << b) - (range + 1);
  return {b, u};
}

// ---------------------------------------------------------------------------------------------------------------
// Writing.

void PutVarint(uint64_t v, std::string* out) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

inline int VarintSize(uint64_t v) { return (std::bit_width(v | 1) + 6) / 7; }

class BitWriter {
 public:
  explicit BitWriter(std::string* out) : out_(out) {}

  // Appends the low n bits of v (v < 2^n), n in [0, 64].
  void Put(uint64_t v, int n) {
    acc_ |= v << fill_;
    fill_ += n;
    if (fill_ >= 64) {
      char buf[8];
      StoreLE64(buf, acc_);
      out_->append(buf, 8);
      fill_ -= 64;
      acc_ = fill_ == 0 ? 0 : v >> (n - fill_);
    }
  }

  void PutTruncated(uint64_t x, CodeWidth w) {
    if (x < w.u) {
      Put(x, w.b - 1);
    } else {
      // The b - 1 bit prefix comes first so the reader knows from it whether a last bit follows.
      uint64_t y = x + w.u;
      Put((y >> 1) | ((y & 1) << (w.b - 1)), w.b);
    }
  }

  // Pads to a byte boundary.
  void Finish() {
    char buf[8];
    StoreLE64(buf, acc_);
    out_->append(buf, (fill_ + 7) / 8);
    acc_ = 0;
    fill_ = 0;
  }

 private:
  std::string* out_;
  uint64_t acc_ = 0;
  int fill_ = 0;  // bits in acc_, < 64
};

// Writes an int column (head byte with `mode`, then the body; nothing for n = 0) choosing the order whose
// residuals pack smallest.
void PutIntColumn(const int64_t* xs, size_t n, uint8_t mode, std::string* out) {
  if (n == 0) return;
  // Min and max (signed) of the residuals of each order, in one pass.
  int64_t lo[3], hi[3];
  const uint64_t x0 = static_cast<uint64_t>(xs[0]);
  lo[0] = hi[0] = xs[0];
  lo[1] = lo[2] = std::numeric_limits<int64_t>::max();
  hi[1] = hi[2] = std::numeric_limits<int64_t>::min();
  uint64_t prev = x0, prev_d = 0;
  for (size_t i = 1; i < n; ++i) {
    const uint64_t x = static_cast<uint64_t>(xs[i]);
    const uint64_t d = x - prev;
    const int64_t sx = static_cast<int64_t>(x), sd = static_cast<int64_t>(d);
    lo[0] = std::min(lo[0], sx), hi[0] = std::max(hi[0], sx);
    lo[1] = std::min(lo[1], sd), hi[1] = std::max(hi[1], sd);
    if (i >= 2) {
      const int64_t sdd = static_cast<int64_t>(d - prev_d);
      lo[2] = std::min(lo[2], sdd), hi[2] = std::max(hi[2], sdd);
    }
    prev = x;
    prev_d = d;
  }
  const uint64_t d0 = n >= 2 ? static_cast<uint64_t>(xs[1]) - x0 : 0;

  int best_k = 0;
  uint64_t best_bits = std::numeric_limits<uint64_t>::max();
  const int max_k = static_cast<int>(std::min<size_t>(2, n - 1));
  for (int k = 0; k <= max_k; ++k) {
    uint64_t bytes = 0;
    if (k >= 1) bytes += VarintSize(ZigZag(x0));
    if (k >= 2) bytes += VarintSize(ZigZag(d0));
    uint64_t bits = 0;
    if (n > static_cast<size_t>(k)) {
      const uint64_t range = static_cast<uint64_t>(hi[k]) - static_cast<uint64_t>(lo[k]);
      bytes += VarintSize(ZigZag(static_cast<uint64_t>(lo[k]))) + VarintSize(range);
      bits = (n - k) * static_cast<uint64_t>(std::bit_width(range));
    }
    const uint64_t total = bytes * 8 + bits;
    if (total < best_bits) best_bits = total, best_k = k;
  }

  out->push_back(static_cast<char>(mode << 2 | best_k));
  if (best_k >= 1) PutVarint(ZigZag(x0), out);
  if (best_k >= 2) PutVarint(ZigZag(d0), out);
  if (n == static_cast<size_t>(best_k)) return;
  const uint64_t min = static_cast<uint64_t>(lo[best_k]);
  const uint64_t range = static_cast<uint64_t>(hi[best_k]) - min;
  PutVarint(ZigZag(min), out);
  PutVarint(range, out);
  const CodeWidth w = WidthFor(range);
  if (w.b == 0) return;  // every residual equals min: nothing more to say
  BitWriter bits(out);
  switch (best_k) {
    case 0:
      for (size_t i = 0; i < n; ++i) bits.PutTruncated(static_cast<uint64_t>(xs[i]) - min, w);
      break;
    case 1:
      for (size_t i = 1; i < n; ++i) {
        bits.PutTruncated(static_cast<uint64_t>(xs[i]) - static_cast<uint64_t>(xs[i - 1]) - min, w);
      }
      break;
    default: {
      uint64_t d = d0;
      for (size_t i = 2; i < n; ++i) {
        const uint64_t next_d = static_cast<uint64_t>(xs[i]) - static_cast<uint64_t>(xs[i - 1]);
        bits.PutTruncated(next_d - d - min, w);
        d = next_d;
      }
    }
  }
  bits.Finish();
}

// Whether v is k / 10^s for an integer k, |k| < 2^52, exactly as the decoder will compute it.
inline bool ScaleFits(double v, int s, int64_t* k) {
  const double x = v * kPow10[s];
  if (!(std::fabs(x) < 0x1p52)) return false;  // also NaN and infinities
  // Rounding half away from zero by hand: std::round is a libm call on baseline x86-64. Any k that passes the
  // exact check below is correct; the rounding only has to find it.
  const int64_t r = static_cast<int64_t>(x + std::copysign(0.5, x));
  if (DoubleBits(static_cast<double>(r) / kPow10[s]) != DoubleBits(v)) return false;  // -0.0 fails here
  *k = r;
  return true;
}

// The smallest decimal scale that represents every value exactly, with the scaled integers in ks; -1 if none.
int FindDecimalScale(const double* v, size_t n, std::vector<int64_t>* ks) {
  ks->resize(n);
  int64_t* out = ks->data();
  int s = 0;
  for (size_t i = 0; i < n;) {
    if (ScaleFits(v[i], s, &out[i])) {
      ++i;
      continue;
    }
    int64_t unused;
    do {
      ++s;
    } while (s <= kMaxDecimalScale && !ScaleFits(v[i], s, &unused));
    if (s > kMaxDecimalScale) return -1;
    i = 0;  // a value that fits at scale s need not fit at a larger one, so check them all again
  }
  return s;
}

void PutGorilla(const double* v, size_t n, std::string* out) {
  BitWriter bits(out);
  uint64_t prev = DoubleBits(v[0]);
  bits.Put(prev, 64);
  int window_lead = 0, window_trail = 0, window_len = 0;
  for (size_t i = 1; i < n; ++i) {
    const uint64_t cur = DoubleBits(v[i]);
    const uint64_t x = cur ^ prev;
    prev = cur;
    if (x == 0) {
      bits.Put(0, 1);
      continue;
    }
    const int lead = std::min(std::countl_zero(x), 31);  // 5 bits
    const int trail = std::countr_zero(x);
    if (window_len > 0 && lead >= window_lead && trail >= window_trail) {
      bits.Put(0b01, 2);
      bits.Put(x >> window_trail, window_len);
    } else {
      window_lead = lead;
      window_trail = trail;
      window_len = 64 - lead - trail;
      bits.Put(0b11, 2);
      bits.Put(static_cast<uint64_t>(lead), 5);
      bits.Put(static_cast<uint64_t>(window_len - 1), 6);
      bits.Put(x >> trail, window_len);
    }
  }
  bits.Finish();
}

void PutDoubleColumn(const double* v, size_t n, std::vector<int64_t>* scratch, std::string* out) {
  if (n == 0) return;
  const int scale = FindDecimalScale(v, n, scratch);
  if (scale >= 0) {
    PutIntColumn(scratch->data(), n, static_cast<uint8_t>(scale), out);
    return;
  }
  const size_t start = out->size();
  out->push_back(static_cast<char>(kModeGorilla << 2));
  PutGorilla(v, n, out);
  if (out->size() - start <= 1 + 8 * n) return;
  out->resize(start);
  out->push_back(static_cast<char>(kModeRaw << 2));
  for (size_t i = 0; i < n; ++i) {
    char buf[8];
    StoreLE64(buf, DoubleBits(v[i]));
    out->append(buf, 8);
  }
}

// Scratch buffers reused across the series of one block, so encoding allocates per block, not per series.
struct EncodeScratch {
  std::vector<int64_t> ints;
  std::string section;
};

// The value vector of `data`, n long. SeriesData promises exactly n values; if a caller breaks that, missing
// values are written as zero (and extra ones dropped) rather than reading past the vector.
template <typename T, typename Vec>
const T* ValuesOfLength(const std::vector<T>& values, size_t n, Vec* scratch) {
  if (values.size() >= n) return values.data();
  scratch->assign(values.begin(), values.end());
  scratch->resize(n);
  return scratch->data();
}

void PutValues(const SeriesData& data, EncodeScratch* scratch, std::string* out) {
  const size_t n = data.size();
  switch (data.kind) {
    case ValueKind::kDouble: {
      std::vector<double> padded;
      PutDoubleColumn(ValuesOfLength(data.doubles, n, &padded), n, &scratch->ints, out);
      break;
    }
    case ValueKind::kInt64: {
      std::vector<int64_t> padded;
      PutIntColumn(ValuesOfLength(data.ints, n, &padded), n, 0, out);
      break;
    }
    case ValueKind::kBool: {
      scratch->ints.resize(n);
      for (size_t i = 0; i < n; ++i) scratch->ints[i] = i < data.bools.size() && data.bools[i] != 0 ? 1 : 0;
      PutIntColumn(scratch->ints.data(), n, 0, out);
      break;
    }
    case ValueKind::kString: {
      for (size_t i = 0; i < n; ++i) {
        const absl::string_view s = i < data.strings.size() ? absl::string_view(data.strings[i]) : "";
        PutVarint(s.size(), out);
        out->append(s.data(), s.size());
      }
      break;
    }
  }
}

struct ZstdCCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct ZstdDCtxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// ---------------------------------------------------------------------------------------------------------------
// Reading. Readers never touch memory outside [begin, end); a failed read returns false and the caller answers
// DATA_LOSS.

class ByteReader {
 public:
  ByteReader(const uint8_t* p, const uint8_t* end) : p_(p), end_(end) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* pos() const { return p_; }
  const uint8_t* end() const { return end_; }
  void Advance(size_t n) { p_ += n; }  // n <= remaining()

  bool Byte(uint8_t* v) {
    if (p_ == end_) return false;
    *v = *p_++;
    return true;
  }

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const uint8_t b = *p_++;
      if (shift == 63 && b > 1) return false;  // more than 64 bits
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }

  bool Bytes(size_t n, absl::string_view* v) {
    if (n > remaining()) return false;
    *v = absl::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

class BitReader {
 public:
  BitReader(const uint8_t* p, const uint8_t* end)
      : p_(p), end_(end), total_bits_(static_cast<uint64_t>(end - p) * 8) {}

  // n in [0, 56]. Past the end it reads zeros; overrun() tells.
  uint64_t Get(int n) {
    if (avail_ < n) Refill();
    const uint64_t v = acc_ & LowMask(n);
    Consume(n);
    return v;
  }

  // n in [0, 64].
  uint64_t GetWide(int n) {
    if (n <= 56) return Get(n);
    const uint64_t low = Get(32);
    return low | Get(n - 32) << 32;
  }

  uint64_t GetTruncated(CodeWidth w) {
    if (w.b == 0) return 0;
    if (w.b <= 56) {
      if (avail_ < w.b) Refill();
      const uint64_t bits = acc_ & LowMask(w.b);
      const uint64_t prefix = bits & LowMask(w.b - 1);
      if (prefix < w.u) {
        Consume(w.b - 1);
        return prefix;
      }
      Consume(w.b);
      return ((prefix << 1) | (bits >> (w.b - 1))) - w.u;
    }
    const uint64_t prefix = GetWide(w.b - 1);
    if (prefix < w.u) return prefix;
    return ((prefix << 1) | Get(1)) - w.u;
  }

  bool overrun() const { return consumed_ > total_bits_; }
  size_t bytes_consumed() const { return static_cast<size_t>((consumed_ + 7) / 8); }

 private:
  void Consume(int n) {
    acc_ >>= n;
    avail_ -= n;
    consumed_ += static_cast<uint64_t>(n);
  }

  // Leaves at least 56 bits in acc_ (zeros past the end of the input).
  void Refill() {
    if (end_ - p_ >= 8) {
      // Branch-free refill (F. Giesen, "Reading bits in far too many ways"): bits above avail_ already hold the
      // same input bytes, so OR-ing them again is harmless.
      acc_ |= LoadLE64(p_) << avail_;
      p_ += (63 - avail_) >> 3;
      avail_ |= 56;
      return;
    }
    while (avail_ <= 56 && p_ < end_) {
      acc_ |= static_cast<uint64_t>(*p_++) << avail_;
      avail_ += 8;
    }
    if (avail_ <= 56) avail_ = 64;  // input exhausted: acc_'s upper bits are zero
  }

  const uint8_t* p_;
  const uint8_t* end_;
  uint64_t total_bits_;
  uint64_t acc_ = 0;
  int avail_ = 0;
  uint64_t consumed_ = 0;
};

// Reads an int column's body (after the head byte) of n >= 1 values with order k, handing each value to
// sink(i, value) in order.
template <typename Sink>
bool GetIntColumn(ByteReader& in, size_t n, int k, Sink&& sink) {
  if (k > 2 || static_cast<size_t>(k) >= n) return false;
  uint64_t x0 = 0, d0 = 0;
  if (k >= 1) {
    if (!in.Varint(&x0)) return false;
    x0 = UnZigZag(x0);
    sink(0, x0);
  }
  if (k >= 2) {
    if (!in.Varint(&d0)) return false;
    d0 = UnZigZag(d0);
    sink(1, x0 + d0);
  }
  uint64_t min, range;
  if (!in.Varint(&min) || !in.Varint(&range)) return false;
  min = UnZigZag(min);
  const CodeWidth w = WidthFor(range);
  // Each code takes at least max(b - 1, 1) bits (b = 1 means u = 0: always 1 bit): reject a count the bytes
  // cannot hold before decoding garbage.
  if (w.b > 0 && (n - k) > in.remaining() * 8 / static_cast<size_t>(std::max(w.b - 1, 1))) return false;
  BitReader bits(in.pos(), in.end());
  switch (k) {
    case 0:
      for (size_t i = 0; i < n; ++i) sink(i, min + bits.GetTruncated(w));
      break;
    case 1: {
      uint64_t x = x0;
      for (size_t i = 1; i < n; ++i) sink(i, x += min + bits.GetTruncated(w));
      break;
    }
    default: {
      uint64_t x = x0 + d0, d = d0;
      for (size_t i = 2; i < n; ++i) {
        d += min + bits.GetTruncated(w);
        sink(i, x += d);
      }
    }
  }
  if (w.b == 0) return true;
  if (bits.overrun()) return false;
  in.Advance(bits.bytes_consumed());
  return true;
}

bool GetHead(ByteReader& in, uint8_t* mode, int* k) {
  uint8_t head;
  if (!in.Byte(&head)) return false;
  *mode = head >> 2;
  *k = head & 3;
  return true;
}

bool GetPlainIntColumn(ByteReader& in, size_t n, std::vector<int64_t>* out) {
  out->resize(n);
  if (n == 0) return true;
  uint8_t mode;
  int k;
  if (!GetHead(in, &mode, &k) || mode != 0) return false;
  int64_t* dst = out->data();
  return GetIntColumn(in, n, k, [dst](size_t i, uint64_t v) { dst[i] = static_cast<int64_t>(v); });
}

bool GetGorilla(ByteReader& in, size_t n, double* out) {
  if (n > in.remaining() * 8) return false;  // every value after the first takes at least a bit
  BitReader bits(in.pos(), in.end());
  uint64_t prev = bits.GetWide(64);
  out[0] = BitsDouble(prev);
  int trail = 0, len = 0;
  for (size_t i = 1; i < n; ++i) {
    if (bits.Get(1) != 0) {
      if (bits.Get(1) == 0) {
        if (len == 0) return false;  // reuse of a window never set
      } else {
        const int lead = static_cast<int>(bits.Get(5));
        len = static_cast<int>(bits.Get(6)) + 1;
        if (lead + len > 64) return false;
        trail = 64 - lead - len;
      }
      prev ^= bits.GetWide(len) << trail;
    }
    out[i] = BitsDouble(prev);
  }
  if (bits.overrun()) return false;
  in.Advance(bits.bytes_consumed());
  return true;
}

bool GetDoubleColumn(ByteReader& in, size_t n, std::vector<double>* out) {
  out->resize(n);
  if (n == 0) return true;
  uint8_t mode;
  int k;
  if (!GetHead(in, &mode, &k)) return false;
  double* dst = out->data();
  if (mode <= kMaxDecimalScale) {
    const double p = kPow10[mode];
    return GetIntColumn(in, n, k, [dst, p](size_t i, uint64_t v) {
      dst[i] = static_cast<double>(static_cast<int64_t>(v)) / p;
    });
  }
  if (k != 0) return false;
  if (mode == kModeGorilla) return GetGorilla(in, n, dst);
  if (mode != kModeRaw || in.remaining() / 8 < n) return false;
  for (size_t i = 0; i < n; ++i) dst[i] = BitsDouble(LoadLE64(in.pos() + 8 * i));
  in.Advance(8 * n);
  return true;
}

bool GetValues(ByteReader& in, size_t n, SeriesData* data) {
  switch (data->kind) {
    case ValueKind::kDouble:
      return GetDoubleColumn(in, n, &data->doubles);
    case ValueKind::kInt64:
      return GetPlainIntColumn(in, n, &data->ints);
    case ValueKind::kBool: {
      data->bools.resize(n);
      if (n == 0) return true;
      uint8_t mode;
      int k;
      if (!GetHead(in, &mode, &k) || mode != 0) return false;
      uint8_t* dst = data->bools.data();
      bool all_bits = true;
      const bool ok = GetIntColumn(in, n, k, [dst, &all_bits](size_t i, uint64_t v) {
        all_bits &= v <= 1;
        dst[i] = static_cast<uint8_t>(v);
      });
      return ok && all_bits;
    }
    case ValueKind::kString: {
      if (n > in.remaining()) return false;  // every string takes at least its length byte
      data->strings.resize(n);
      for (size_t i = 0; i < n; ++i) {
        uint64_t len;
        absl::string_view s;
        if (!in.Varint(&len) || len > in.remaining() || !in.Bytes(static_cast<size_t>(len), &s)) return false;
        data->strings[i].assign(s.data(), s.size());
      }
      return true;
    }
  }
  return false;
}

using KeepFn = absl::FunctionRef<bool(absl::string_view device_id, absl::string_view metric)>;

absl::StatusOr<std::vector<SeriesEntry>> DecodeBody(absl::string_view body_view, const KeepFn* keep) {
  const uint8_t* const begin = reinterpret_cast<const uint8_t*>(body_view.data());
  ByteReader in(begin, begin + body_view.size());

  uint64_t n_strings;
  if (!in.Varint(&n_strings) || n_strings > in.remaining()) return Corrupt("bad string table size");
  std::vector<absl::string_view> table;
  table.reserve(static_cast<size_t>(n_strings));
  for (uint64_t i = 0; i < n_strings; ++i) {
    uint64_t len;
    absl::string_view s;
    if (!in.Varint(&len) || len > in.remaining() || !in.Bytes(static_cast<size_t>(len), &s)) {
      return Corrupt("string table truncated");
    }
    table.push_back(s);
  }

  uint64_t n_entries;
  if (!in.Varint(&n_entries) || n_entries > kMaxBlockEntries || n_entries > in.remaining() / kMinEntryBytes) {
    return Corrupt("bad series count");
  }
  std::vector<SeriesEntry> result;
  result.reserve(keep == nullptr ? static_cast<size_t>(n_entries) : 0);

  uint64_t total_points = 0;
  uint64_t prev_device = 0, prev_n = 0;
  // The timestamps a back-reference copies: those of result[ts_source] when that series was kept, else the
  // still-undecoded column at [skipped_ts_begin, skipped_ts_end), decoded once into skipped_ts on first use.
  ptrdiff_t ts_source = -1;
  const uint8_t* skipped_ts_begin = nullptr;
  const uint8_t* skipped_ts_end = nullptr;
  bool skipped_ts_decoded = false;
  std::vector<int64_t> skipped_ts;

  for (uint64_t e = 0; e < n_entries; ++e) {
    uint8_t flags;
    if (!in.Byte(&flags)) return Corrupt("series header truncated");
    const uint8_t kind = flags & kKindMask;
    if (kind < static_cast<uint8_t>(ValueKind::kDouble) || kind > static_cast<uint8_t>(ValueKind::kString) ||
        (flags & kReservedFlags) != 0 || (e == 0 && (flags & (kSameDevice | kSameTimestamps)) != 0)) {
      return Corrupt(absl::StrCat("series ", e, ": bad flags ", static_cast<int>(flags)));
    }
    uint64_t device = prev_device, metric, n = prev_n, section_len;
    if ((flags & kSameDevice) == 0 && !in.Varint(&device)) return Corrupt("series header truncated");
    if (!in.Varint(&metric)) return Corrupt("series header truncated");
    if ((flags & kSameTimestamps) == 0 && !in.Varint(&n)) return Corrupt("series header truncated");
    if (!in.Varint(&section_len)) return Corrupt("series header truncated");
    if (device >= table.size() || metric >= table.size()) return Corrupt(absl::StrCat("series ", e, ": bad name"));
    if (n > kMaxBlockPoints - total_points) return Corrupt(absl::StrCat("series ", e, ": too many points"));
    if (section_len > in.remaining()) return Corrupt(absl::StrCat("series ", e, ": truncated"));
    total_points += n;
    prev_device = device;
    prev_n = n;
    const uint8_t* const section_begin = in.pos();
    const uint8_t* const section_end = section_begin + section_len;
    in.Advance(static_cast<size_t>(section_len));

    if (keep != nullptr && !(*keep)(table[device], table[metric])) {
      if ((flags & kSameTimestamps) == 0) {
        ts_source = -1;
        skipped_ts_begin = section_begin;
        skipped_ts_end = section_end;
        skipped_ts_decoded = false;
      }
      continue;
    }

    SeriesEntry& out = result.emplace_back();
    out.device_id.assign(table[device].data(), table[device].size());
    out.metric.assign(table[metric].data(), table[metric].size());
    out.data.kind = static_cast<ValueKind>(kind);
    ByteReader section(section_begin, section_end);
    if ((flags & kSameTimestamps) == 0) {
      if (!GetPlainIntColumn(section, static_cast<size_t>(n), &out.data.timestamps_ms)) {
        return Corrupt(absl::StrCat("series ", e, ": bad timestamps"));
      }
      ts_source = static_cast<ptrdiff_t>(result.size()) - 1;
    } else if (ts_source >= 0) {
      out.data.timestamps_ms = result[static_cast<size_t>(ts_source)].data.timestamps_ms;
    } else {
      if (!skipped_ts_decoded) {
        ByteReader skipped(skipped_ts_begin, skipped_ts_end);
        if (!GetPlainIntColumn(skipped, static_cast<size_t>(n), &skipped_ts)) {
          return Corrupt(absl::StrCat("series ", e, ": bad referenced timestamps"));
        }
        skipped_ts_decoded = true;
      }
      out.data.timestamps_ms = skipped_ts;
    }
    if (!GetValues(section, static_cast<size_t>(n), &out.data) || section.remaining() != 0) {
      return Corrupt(absl::StrCat("series ", e, ": bad values"));
    }
  }
  if (in.remaining() != 0) return Corrupt("trailing bytes");
  return result;
}

absl::StatusOr<std::vector<SeriesEntry>> Decode(absl::string_view block, const KeepFn* keep) {
  if (block.size() < 2) return Corrupt("shorter than its header");
  if (static_cast<uint8_t>(block[0]) != kFormatVersion) {
    return Corrupt(absl::StrCat("format version ", static_cast<int>(static_cast<uint8_t>(block[0])),
                                ", this build reads ", static_cast<int>(kFormatVersion)));
  }
  const absl::string_view payload = block.substr(2);
  switch (static_cast<uint8_t>(block[1])) {
    case kUncompressed:
      return DecodeBody(payload, keep);
    case kZstd: {
      const unsigned long long size = ZSTD_getFrameContentSize(payload.data(), payload.size());
      if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > kMaxBodyBytes) {
        return Corrupt("bad zstd frame size");
      }
      thread_local std::unique_ptr<ZSTD_DCtx, ZstdDCtxDeleter> dctx(ZSTD_createDCtx());
      if (dctx == nullptr) return absl::ResourceExhaustedError("telemetry block: no memory for a zstd context");
      std::string body(static_cast<size_t>(size), '\0');
      const size_t got = ZSTD_decompressDCtx(dctx.get(), body.data(), body.size(), payload.data(), payload.size());
      if (ZSTD_isError(got) || got != body.size()) return Corrupt("bad zstd frame");
      return DecodeBody(body, keep);
    }
    default:
      return Corrupt(absl::StrCat("unknown compression ", static_cast<int>(static_cast<uint8_t>(block[1]))));
  }
}

}  // namespace

std::string EncodeBlock(const std::vector<SeriesEntry>& entries, const BlockOptions& options) {
  // The string table, in first-use order; names index it.
  std::vector<absl::string_view> table;
  std::unordered_map<std::string_view, uint32_t> index;
  std::vector<std::pair<uint32_t, uint32_t>> names(entries.size());
  size_t table_bytes = 0, points = 0;
  auto intern = [&](const std::string& s) -> uint32_t {
    auto [it, added] = index.emplace(std::string_view(s), static_cast<uint32_t>(table.size()));
    if (added) table.push_back(s), table_bytes += s.size() + 2;
    return it->second;
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    const SeriesEntry& entry = entries[i];
    // A compacted chunk repeats one device; skip the hash for it.
    names[i].first = i > 0 && entry.device_id == entries[i - 1].device_id ? names[i - 1].first
                                                                          : intern(entry.device_id);
    names[i].second = intern(entry.metric);
    points += entry.data.size();
  }

  std::string block;
  block.reserve(2 + table_bytes + entries.size() * 12 + points * 2);
  block.push_back(static_cast<char>(kFormatVersion));
  block.push_back(static_cast<char>(kUncompressed));
  PutVarint(table.size(), &block);
  for (absl::string_view s : table) {
    PutVarint(s.size(), &block);
    block.append(s.data(), s.size());
  }
  PutVarint(entries.size(), &block);

  EncodeScratch scratch;
  for (size_t i = 0; i < entries.size(); ++i) {
    const SeriesData& data = entries[i].data;
    const bool same_device = i > 0 && names[i].first == names[i - 1].first;
    const bool same_ts = i > 0 && data.timestamps_ms == entries[i - 1].data.timestamps_ms;
    std::string& section = scratch.section;
    section.clear();
    if (!same_ts) PutIntColumn(data.timestamps_ms.data(), data.size(), 0, &section);
    PutValues(data, &scratch, &section);

    block.push_back(static_cast<char>(static_cast<uint8_t>(data.kind) | (same_ts ? kSameTimestamps : 0) |
                                      (same_device ? kSameDevice : 0)));
    if (!same_device) PutVarint(names[i].first, &block);
    PutVarint(names[i].second, &block);
    if (!same_ts) PutVarint(data.size(), &block);
    PutVarint(section.size(), &block);
    block.append(section);
  }

  if (options.zstd_level == 0) return block;
  const size_t body_size = block.size() - 2;
  thread_local std::unique_ptr<ZSTD_CCtx, ZstdCCtxDeleter> cctx(ZSTD_createCCtx());
  if (cctx == nullptr) return block;  // compression is optional; the block is valid without it
  std::string compressed(2 + ZSTD_compressBound(body_size), '\0');
  const size_t size = ZSTD_compressCCtx(cctx.get(), compressed.data() + 2, compressed.size() - 2, block.data() + 2,
                                        body_size, options.zstd_level);
  if (ZSTD_isError(size) || size >= body_size) return block;
  compressed.resize(2 + size);
  compressed[0] = static_cast<char>(kFormatVersion);
  compressed[1] = static_cast<char>(kZstd);
  return compressed;
}

absl::StatusOr<std::vector<SeriesEntry>> DecodeBlock(absl::string_view block) { return Decode(block, nullptr); }

absl::StatusOr<std::vector<SeriesEntry>> DecodeBlock(absl::string_view block, KeepFn keep) {
  return Decode(block, &keep);
}

}  // namespace parkbase::telemetry
