#include "common/tracing.h"

#include <algorithm>
#include <atomic>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace parkbase {
namespace {

// Set at start-up and at shutdown; read when a span starts (the flag) and ends (the pointer).
absl::Mutex sink_mu(absl::kConstInit);
std::shared_ptr<SpanSink>& SinkSlot() {
  static auto* slot = new std::shared_ptr<SpanSink>();
  return *slot;
}
std::atomic<bool> sink_installed{false};
std::atomic<double> sample_ratio{1.0};

thread_local const SpanContext* current_span = nullptr;

// Ids need to be unique, not secret: a per-thread generator seeded once keeps a span's cost to a few nanoseconds.
std::mt19937_64& IdGenerator() {
  thread_local std::mt19937_64 generator(
      (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}() ^
      static_cast<uint64_t>(absl::GetCurrentTimeNanos()));
  return generator;
}

template <size_t N>
void FillRandom(std::array<uint8_t, N>& bytes) {
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t word = IdGenerator()();
      for (size_t j = 0; j < 8 && i + j < N; ++j) bytes[i + j] = static_cast<uint8_t>(word >> (8 * j));
    }
  } while (std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; }));
}

bool IsLowerHex(absl::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

template <size_t N>
bool ParseHexId(absl::string_view hex, std::array<uint8_t, N>& out) {
  if (hex.size() != 2 * N || !IsLowerHex(hex)) return false;
  const std::string bytes = absl::HexStringToBytes(hex);
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return std::any_of(out.begin(), out.end(), [](uint8_t b) { return b != 0; });
}

template <size_t N>
std::string Hex(const std::array<uint8_t, N>& bytes) {
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes.data()), N));
}

// tracestate's grammar, loosely: printable ASCII list members "key=value" separated by commas (empty members are
// allowed), at most 32 of them. Anything else is not passed on.
bool IsUsableTracestate(absl::string_view state) {
  if (state.size() > kMaxTracestateBytes) return false;
  if (!std::all_of(state.begin(), state.end(), [](char c) { return c >= 0x20 && c <= 0x7E; })) return false;
  int members = 0;
  for (absl::string_view member : absl::StrSplit(state, ',')) {
    member = absl::StripAsciiWhitespace(member);
    if (member.empty()) continue;
    if (++members > 32 || member.find('=') == absl::string_view::npos || member.front() == '=') return false;
  }
  return true;
}

int64_t NowUnixNanos() { return absl::GetCurrentTimeNanos(); }

}  // namespace

bool SpanContext::IsValid() const {
  auto nonzero = [](uint8_t b) { return b != 0; };
  return std::any_of(trace_id.begin(), trace_id.end(), nonzero) && std::any_of(span_id.begin(), span_id.end(), nonzero);
}

std::string SpanContext::TraceIdHex() const { return Hex(trace_id); }
std::string SpanContext::SpanIdHex() const { return Hex(span_id); }

std::optional<SpanContext> ParseTraceparent(absl::string_view traceparent, absl::string_view tracestate) {
  traceparent = absl::StripAsciiWhitespace(traceparent);
  // version "-" trace-id "-" parent-id "-" trace-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2.
  constexpr size_t kVersion00Size = 55;
  if (traceparent.size() < kVersion00Size) return std::nullopt;
  const absl::string_view version = traceparent.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append fields after another dash, which a version-00
  // reader skips.
  if (version == "00" ? traceparent.size() != kVersion00Size
                      : traceparent.size() > kVersion00Size && traceparent[kVersion00Size] != '-') {
    return std::nullopt;
  }
  if (traceparent[2] != '-' || traceparent[35] != '-' || traceparent[52] != '-') return std::nullopt;
  SpanContext context;
  if (!ParseHexId(traceparent.substr(3, 32), context.trace_id)) return std::nullopt;
  if (!ParseHexId(traceparent.substr(36, 16), context.span_id)) return std::nullopt;
  const absl::string_view flags = traceparent.substr(53, 2);
  if (!IsLowerHex(flags)) return std::nullopt;
  context.sampled = (absl::HexStringToBytes(flags)[0] & 0x01) != 0;
  tracestate = absl::StripAsciiWhitespace(tracestate);
  if (IsUsableTracestate(tracestate)) context.trace_state = std::string(tracestate);
  return context;
}

std::string FormatTraceparent(const SpanContext& context) {
  return absl::StrCat("00-", context.TraceIdHex(), "-", context.SpanIdHex(), context.sampled ? "-01" : "-00");
}

void SetSpanSink(std::shared_ptr<SpanSink> sink) {
  absl::MutexLock lock(&sink_mu);
  sink_installed.store(sink != nullptr);
  SinkSlot() = std::move(sink);
}

void SetTraceSampleRatio(double ratio) { sample_ratio.store(std::clamp(ratio, 0.0, 1.0)); }

Span::Span(std::string name, SpanKind kind, const SpanContext* parent) {
  data_.name = std::move(name);
  data_.kind = kind;
  if (parent != nullptr && parent->IsValid()) {
    data_.context.trace_id = parent->trace_id;
    data_.context.sampled = parent->sampled;
    data_.context.trace_state = parent->trace_state;
    data_.parent_span_id = parent->span_id;
  } else {
    FillRandom(data_.context.trace_id);
    const double ratio = sample_ratio.load(std::memory_order_relaxed);
    data_.context.sampled =
        ratio >= 1.0 || (ratio > 0.0 && std::uniform_real_distribution<double>(0.0, 1.0)(IdGenerator()) < ratio);
  }
  FillRandom(data_.context.span_id);
  recording_ = data_.context.sampled && sink_installed.load(std::memory_order_relaxed);
  if (recording_) data_.start_unix_nanos = NowUnixNanos();
}

Span::~Span() { End(); }

void Span::SetAttribute(absl::string_view key, std::string value) {
  if (recording_) data_.attributes.emplace_back(std::string(key), std::move(value));
}

void Span::SetAttribute(absl::string_view key, int64_t value) {
  if (recording_) data_.attributes.emplace_back(std::string(key), value);
}

void Span::SetAttribute(absl::string_view key, bool value) {
  if (recording_) data_.attributes.emplace_back(std::string(key), value);
}

void Span::SetError(absl::string_view message) {
  if (!recording_) return;
  data_.error = true;
  data_.error_message = std::string(message);
}

void Span::End() {
  if (ended_) return;
  ended_ = true;
  if (!recording_) return;
  data_.end_unix_nanos = NowUnixNanos();
  std::shared_ptr<SpanSink> sink;
  {
    absl::MutexLock lock(&sink_mu);
    sink = SinkSlot();
  }
  if (sink != nullptr) sink->Accept(std::move(data_));
}

const SpanContext* CurrentSpanContext() { return current_span; }

ScopedSpan::ScopedSpan(const SpanContext& context) : previous_(current_span) { current_span = &context; }

ScopedSpan::~ScopedSpan() { current_span = previous_; }

}  // namespace parkbase
