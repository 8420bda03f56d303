// Traces: W3C Trace Context (https://www.w3.org/TR/trace-context/) read from each call and carried onward, and the
// spans Parkbase records. A span is cheap when nothing exports it: two random ids and a thread-local, so every call
// gets one and every log line written during it carries its trace_id and span_id (common/log.h), exporter or not.
// Spans reach a collector through a SpanSink (common/otlp_exporter.h), installed at start-up when one is configured.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"

namespace parkbase {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};
  bool sampled = false;
  // The caller's tracestate, passed on untouched: Parkbase adds no entry of its own.
  std::string trace_state;

  // W3C: a context whose trace id or span id is all zeroes is invalid.
  bool IsValid() const;
  std::string TraceIdHex() const;
  std::string SpanIdHex() const;
};

// The metadata and header names (lower case, as gRPC metadata and HTTP/2 spell them).
inline constexpr char kTraceparentHeader[] = "traceparent";
inline constexpr char kTracestateHeader[] = "tracestate";

// Reads a traceparent (and its tracestate). nullopt when the traceparent is absent or malformed: the W3C rule is
// then to start a new trace, and to drop the tracestate with it. A tracestate longer than kMaxTracestateBytes or
// with characters outside its grammar is dropped alone.
std::optional<SpanContext> ParseTraceparent(absl::string_view traceparent, absl::string_view tracestate);
inline constexpr size_t kMaxTracestateBytes = 512;

// Version 00: "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>".
std::string FormatTraceparent(const SpanContext& context);

// OpenTelemetry's SpanKind values (and OTLP's enum numbers).
enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3 };

using SpanAttributeValue = std::variant<std::string, int64_t, bool>;

// A finished span, as the exporter sends it.
struct SpanData {
  SpanContext context;
  std::optional<SpanId> parent_span_id;
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  int64_t start_unix_nanos = 0;
  int64_t end_unix_nanos = 0;
  std::vector<std::pair<std::string, SpanAttributeValue>> attributes;
  // OpenTelemetry's span status: unset unless the operation failed (OTLP STATUS_CODE_ERROR, with a message).
  bool error = false;
  std::string error_message;
};

// Where sampled spans go once they end. Accept must not block: it runs on the request path.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void Accept(SpanData span) = 0;
};

// The process's sink (null, the default: spans are never recorded, only their ids used) and the share of new traces
// sampled, 0 to 1; a trace begun by a caller keeps the caller's sampled flag.
void SetSpanSink(std::shared_ptr<SpanSink> sink);
void SetTraceSampleRatio(double ratio);

// One operation. Started on construction, ended by End or the destructor, whichever comes first.
class Span {
 public:
  // A child of `parent` when it is given and valid; otherwise the root of a new trace.
  Span(std::string name, SpanKind kind, const SpanContext* parent);
  ~Span();
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  const SpanContext& context() const { return data_.context; }
  // Whether End hands the span to a sink: attributes of a span that is not recorded are not kept.
  bool recording() const { return recording_; }

  // The name, when it is known only after the span started (an HTTP route, once matched).
  void SetName(std::string name) { data_.name = std::move(name); }
  void SetAttribute(absl::string_view key, std::string value);
  void SetAttribute(absl::string_view key, const char* value) { SetAttribute(key, std::string(value)); }
  void SetAttribute(absl::string_view key, int64_t value);
  void SetAttribute(absl::string_view key, bool value);
  void SetError(absl::string_view message);
  // Ends the span without exporting it: a periodic operation that found nothing to do is noise in a trace backend.
  void Discard() { recording_ = false; }
  void End();

 private:
  SpanData data_;
  bool recording_ = false;
  bool ended_ = false;
};

// The span of the work the current thread does: the ids its log lines carry and the parent its outgoing calls name.
// Null outside any ScopedSpan.
const SpanContext* CurrentSpanContext();

class ScopedSpan {
 public:
  explicit ScopedSpan(const SpanContext& context);
  ~ScopedSpan();
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

 private:
  const SpanContext* previous_;
};

}  // namespace parkbase
