// Traces without a network: W3C traceparent parsing, how spans inherit their trace, the ids on log lines, the OTLP
// body, the settings from flags and OpenTelemetry's environment, and the exporter's bounded queue against a
// collector that never answers. The export to a real HTTP listener, decoded by PyPI's opentelemetry-proto, is
// tests/e2e/tracing_e2e.sh.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/otlp_exporter.h"
#include "common/tracing.h"
#include "common/tracing_setup.h"
#include "google/protobuf/struct.pb.h"
#include "otlp/trace.pb.h"
#include "prometheus/registry.h"
#include "support/observed.h"

ABSL_DECLARE_FLAG(std::string, otlp_traces_endpoint);
ABSL_DECLARE_FLAG(double, trace_sample_ratio);

namespace parkbase {
namespace {

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// Keeps every span handed to it.
class CollectingSink final : public SpanSink {
 public:
  void Accept(SpanData span) override {
    absl::MutexLock lock(&mu_);
    spans_.push_back(std::move(span));
  }
  std::vector<SpanData> spans() {
    absl::MutexLock lock(&mu_);
    return spans_;
  }

 private:
  absl::Mutex mu_;
  std::vector<SpanData> spans_;
};

// Installs `sink` for one test and removes it after, whatever the test's outcome.
struct InstalledSink {
  explicit InstalledSink(std::shared_ptr<SpanSink> sink) { SetSpanSink(std::move(sink)); }
  ~InstalledSink() {
    SetSpanSink(nullptr);
    SetTraceSampleRatio(1.0);
  }
};

std::string Field(const google::protobuf::Struct& line, const std::string& key) {
  auto found = line.fields().find(key);
  return found == line.fields().end() ? "<absent>" : found->second.string_value();
}

double Series(prometheus::Registry& registry, const std::string& series) {
  return testing::SeriesValue(registry, series);
}

TEST_CASE("tracing: a traceparent is read as the W3C Trace Context specification writes it", "[tracing][unit]") {
  std::optional<SpanContext> parsed = ParseTraceparent(kTraceparent, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  REQUIRE(parsed.has_value());
  CHECK(parsed->TraceIdHex() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(parsed->SpanIdHex() == "00f067aa0ba902b7");
  CHECK(parsed->sampled);
  CHECK(parsed->trace_state == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  CHECK(FormatTraceparent(*parsed) == kTraceparent);

  std::optional<SpanContext> unsampled =
      ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "");
  REQUIRE(unsampled.has_value());
  CHECK_FALSE(unsampled->sampled);
  CHECK(FormatTraceparent(*unsampled) == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");

  // A later version may append fields after a dash; a version-00 reader takes the four it knows.
  std::optional<SpanContext> future =
      ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", "");
  REQUIRE(future.has_value());
  CHECK(future->TraceIdHex() == "4bf92f3577b34da6a3ce929d0e0e4736");

  const std::vector<std::string> malformed = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",             // no flags
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",          // upper case
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",          // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",          // zero span id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",          // the forbidden version
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",    // version 00 has nothing after
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra",     // a later version's fields need a dash
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",          // separators
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",          // not hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",          // flags not hex
  };
  for (const std::string& text : malformed) {
    INFO(text);
    CHECK_FALSE(ParseTraceparent(text, "a=b").has_value());
  }

  // A tracestate that breaks its grammar or its size is dropped; the traceparent still holds.
  std::optional<SpanContext> long_state = ParseTraceparent(kTraceparent, std::string(600, 'a') + "=b");
  REQUIRE(long_state.has_value());
  CHECK(long_state->trace_state.empty());
  std::optional<SpanContext> bad_state = ParseTraceparent(kTraceparent, "no-equals-sign");
  REQUIRE(bad_state.has_value());
  CHECK(bad_state->trace_state.empty());
}

TEST_CASE("tracing: a span continues its parent's trace, and without one begins a trace sampled by the ratio",
          "[tracing][unit]") {
  auto sink = std::make_shared<CollectingSink>();
  InstalledSink installed(sink);
  const SpanContext parent = *ParseTraceparent(kTraceparent, "rojo=1");
  {
    Span child("child", SpanKind::kServer, &parent);
    CHECK(child.context().trace_id == parent.trace_id);
    CHECK(child.context().span_id != parent.span_id);
    CHECK(child.context().sampled);
    CHECK(child.context().trace_state == "rojo=1");
    CHECK(child.recording());
    child.SetAttribute("rpc.method", "GetDevice");
    child.SetAttribute("rpc.grpc.status_code", int64_t{5});
    child.SetError("no such device");
  }
  std::vector<SpanData> spans = sink->spans();
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].name == "child");
  CHECK(spans[0].kind == SpanKind::kServer);
  REQUIRE(spans[0].parent_span_id.has_value());
  CHECK(*spans[0].parent_span_id == parent.span_id);
  CHECK(spans[0].attributes.size() == 2);
  CHECK(spans[0].error);
  CHECK(spans[0].end_unix_nanos >= spans[0].start_unix_nanos);
  CHECK(spans[0].start_unix_nanos > absl::ToUnixNanos(absl::Now() - absl::Minutes(1)));

  Span root("root", SpanKind::kInternal, nullptr);
  Span other_root("root", SpanKind::kInternal, nullptr);
  CHECK(root.context().IsValid());
  CHECK(root.context().trace_id != parent.trace_id);
  CHECK(root.context().trace_id != other_root.context().trace_id);

  // Ratio 0: new traces are not sampled (nor recorded); a caller's sampled trace still is.
  SetTraceSampleRatio(0.0);
  Span unsampled("root", SpanKind::kServer, nullptr);
  CHECK_FALSE(unsampled.context().sampled);
  CHECK_FALSE(unsampled.recording());
  Span followed("child", SpanKind::kServer, &parent);
  CHECK(followed.recording());
  // A caller that did not sample is followed too.
  const SpanContext not_sampled = *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "");
  SetTraceSampleRatio(1.0);
  Span declined("child", SpanKind::kServer, &not_sampled);
  CHECK_FALSE(declined.recording());
}

TEST_CASE("tracing: a discarded span is never handed to the sink", "[tracing][unit]") {
  auto sink = std::make_shared<CollectingSink>();
  InstalledSink installed(sink);
  {
    Span idle("idle pass", SpanKind::kInternal, nullptr);
    CHECK(idle.recording());
    idle.Discard();
    Span busy("busy pass", SpanKind::kInternal, nullptr);
  }
  std::vector<SpanData> spans = sink->spans();
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].name == "busy pass");
}

TEST_CASE("tracing: no sink, no recording: the ids exist for the log lines and nothing is kept",
          "[tracing][unit]") {
  SetSpanSink(nullptr);
  Span span("call", SpanKind::kServer, nullptr);
  CHECK(span.context().IsValid());
  CHECK_FALSE(span.recording());
}

TEST_CASE("tracing: every log line written inside a span carries its trace_id and span_id", "[tracing][unit]") {
  const SpanContext parent = *ParseTraceparent(kTraceparent, "");
  Span span("call", SpanKind::kServer, &parent);
  std::vector<google::protobuf::Struct> lines = testing::CapturedLogLines([&] {
    LogInfo("before");
    {
      ScopedSpan scope(span.context());
      LogInfo("inside");
      Span nested("nested", SpanKind::kInternal, CurrentSpanContext());
      ScopedSpan inner(nested.context());
      LogWarning("nested");
    }
    LogInfo("after");
  });
  REQUIRE(lines.size() == 4);
  CHECK(Field(lines[0], "trace_id") == "<absent>");
  CHECK(Field(lines[1], "trace_id") == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(Field(lines[1], "span_id") == span.context().SpanIdHex());
  CHECK(Field(lines[2], "trace_id") == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(Field(lines[2], "span_id") != span.context().SpanIdHex());
  CHECK(Field(lines[3], "span_id") == "<absent>");
}

TEST_CASE("tracing: the OTLP body holds each span under OTLP's field numbers", "[tracing][unit]") {
  SpanData span;
  span.context = *ParseTraceparent(kTraceparent, "rojo=1");
  span.parent_span_id = SpanId{1, 2, 3, 4, 5, 6, 7, 8};
  span.name = "parkbase.device.v1.DeviceService/GetDevice";
  span.kind = SpanKind::kServer;
  span.start_unix_nanos = 1'700'000'000'000'000'000;
  span.end_unix_nanos = 1'700'000'000'002'000'000;
  span.attributes = {{"rpc.method", std::string("GetDevice")}, {"rpc.grpc.status_code", int64_t{5}},
                     {"cached", true}};
  span.error = true;
  span.error_message = "boom";
  const std::string body = EncodeOtlpTraces({{"service.name", "parkbase-device"}}, {span});

  otlp::v1::ExportTraceServiceRequest decoded;
  REQUIRE(decoded.ParseFromString(body));
  REQUIRE(decoded.resource_spans_size() == 1);
  CHECK(decoded.resource_spans(0).resource().attributes(0).key() == "service.name");
  CHECK(decoded.resource_spans(0).resource().attributes(0).value().string_value() == "parkbase-device");
  const otlp::v1::Span& out = decoded.resource_spans(0).scope_spans(0).spans(0);
  CHECK(out.trace_id().size() == 16);
  CHECK(out.span_id() == std::string("\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8));
  CHECK(out.parent_span_id() == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  CHECK(out.trace_state() == "rojo=1");
  CHECK(out.flags() == 1);
  CHECK(out.kind() == otlp::v1::Span::SPAN_KIND_SERVER);
  CHECK(out.end_time_unix_nano() - out.start_time_unix_nano() == 2'000'000);
  CHECK(out.attributes(1).value().int_value() == 5);
  CHECK(out.attributes(2).value().bool_value());
  CHECK(out.status().code() == otlp::v1::Status::STATUS_CODE_ERROR);

  // The wire bytes themselves for the fields whose numbers are easiest to get wrong: Span.flags is field 16, fixed32
  // (tag (16 << 3) | 5 = 0x85 0x01), and start_time_unix_nano field 7, fixed64 (tag 0x39).
  const std::string span_bytes = out.SerializeAsString();
  CHECK(span_bytes.find(std::string("\x85\x01\x01\x00\x00\x00", 6)) != std::string::npos);
  CHECK(span_bytes.find('\x39') != std::string::npos);
}

TEST_CASE("tracing: settings come from the flags, then OpenTelemetry's environment", "[tracing][unit]") {
  absl::FlagSaver saver;
  std::map<std::string, std::string> variables;
  EnvironmentLookup environment = [&](absl::string_view name) -> std::optional<std::string> {
    auto found = variables.find(std::string(name));
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
  auto resource = [](const TracingSettings& settings, const std::string& key) {
    for (const auto& [name, value] : settings.resource) {
      if (name == key) return value;
    }
    return std::string("<absent>");
  };

  // Off by default.
  absl::StatusOr<TracingSettings> settings = TracingSettingsFromFlags("parkbase-device", environment);
  REQUIRE(settings.ok());
  CHECK(settings->endpoint.empty());
  CHECK(resource(*settings, "service.name") == "parkbase-device");

  variables["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318/";
  settings = TracingSettingsFromFlags("parkbase", environment);
  REQUIRE(settings.ok());
  CHECK(settings->endpoint == "http://collector:4318/v1/traces");

  variables["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "https://traces.example:443/custom";
  variables["OTEL_EXPORTER_OTLP_HEADERS"] = "api-key=s%3Dcret, x-scope=park";
  variables["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = "x-scope=traces";
  variables["OTEL_RESOURCE_ATTRIBUTES"] = "service.name=ignored,deployment.environment=prod";
  variables["OTEL_SERVICE_NAME"] = "park-suzhou";
  settings = TracingSettingsFromFlags("parkbase", environment);
  REQUIRE(settings.ok());
  CHECK(settings->endpoint == "https://traces.example:443/custom");
  CHECK(settings->headers == OtlpAttributes{{"api-key", "s=cret"}, {"x-scope", "traces"}});
  CHECK(resource(*settings, "service.name") == "park-suzhou");
  CHECK(resource(*settings, "deployment.environment") == "prod");

  absl::SetFlag(&FLAGS_otlp_traces_endpoint, "http://127.0.0.1:4318/v1/traces");
  settings = TracingSettingsFromFlags("parkbase", environment);
  REQUIRE(settings.ok());
  CHECK(settings->endpoint == "http://127.0.0.1:4318/v1/traces");

  variables["OTEL_SDK_DISABLED"] = "TRUE";
  settings = TracingSettingsFromFlags("parkbase", environment);
  REQUIRE(settings.ok());
  CHECK(settings->endpoint.empty());
  variables.erase("OTEL_SDK_DISABLED");

  // Wrong values are named.
  variables["OTEL_EXPORTER_OTLP_HEADERS"] = "no-equals-sign";
  absl::StatusOr<TracingSettings> refused = TracingSettingsFromFlags("parkbase", environment);
  CHECK(absl::IsInvalidArgument(refused.status()));
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("OTEL_EXPORTER_OTLP_HEADERS"));
  variables.erase("OTEL_EXPORTER_OTLP_HEADERS");
  absl::SetFlag(&FLAGS_otlp_traces_endpoint, "collector:4317");
  refused = TracingSettingsFromFlags("parkbase", environment);
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("--otlp_traces_endpoint"));
  absl::SetFlag(&FLAGS_otlp_traces_endpoint, "");
  absl::SetFlag(&FLAGS_trace_sample_ratio, 1.5);
  refused = TracingSettingsFromFlags("parkbase", environment);
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("--trace_sample_ratio"));
}

// A TCP listener that takes connections into its backlog and never reads or answers: a collector that hangs.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(listen(fd_, 16) == 0);
    socklen_t size = sizeof address;
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_CASE("tracing: a collector that hangs costs the request path nothing: the queue is bounded, the excess counted",
          "[tracing][unit]") {
  SilentListener collector;
  prometheus::Registry registry;
  absl::StatusOr<std::unique_ptr<OtlpHttpExporter>> exporter = OtlpHttpExporter::Start(
      {.endpoint = absl::StrCat("http://127.0.0.1:", collector.port(), "/v1/traces"),
       .max_queue_spans = 20,
       .max_batch_spans = 5,
       .export_interval = absl::Milliseconds(100),
       .timeout = absl::Milliseconds(700),
       .registry = &registry});
  REQUIRE(exporter.ok());
  // Every series exists before the first span, so a rate() alert answers at once.
  CHECK(Series(registry, "parkbase_trace_spans_dropped_total{reason=\"queue_full\"}") == 0);
  CHECK(Series(registry, "parkbase_trace_spans_exported_total") == 0);

  SpanData span;
  span.context = *ParseTraceparent(kTraceparent, "");
  span.name = "call";
  const absl::Time start = absl::Now();
  for (int i = 0; i < 1000; ++i) (*exporter)->Accept(span);
  const absl::Duration spent = absl::Now() - start;
  // A thousand appends to a bounded queue, not a thousand waits on a collector that never answers.
  CHECK(spent < absl::Milliseconds(200));
  // At most the queue and one batch in flight were kept; the rest were dropped at once.
  const double queue_full = Series(registry, "parkbase_trace_spans_dropped_total{reason=\"queue_full\"}");
  CHECK(queue_full >= 1000 - 20 - 5);
  CHECK(Series(registry, "parkbase_trace_export_queue_spans") <= 20);
  // The batch in flight times out and is counted as failed, never as exported.
  CHECK((*exporter)->Flush(absl::Seconds(10)));
  CHECK(Series(registry, "parkbase_trace_spans_dropped_total{reason=\"export_failed\"}") > 0);
  CHECK(Series(registry, "parkbase_trace_spans_exported_total") == 0);
  CHECK(queue_full + Series(registry, "parkbase_trace_spans_dropped_total{reason=\"export_failed\"}") == 1000);
  const absl::Time stopping = absl::Now();
  exporter->reset();
  CHECK(absl::Now() - stopping < absl::Seconds(3));
}

}  // namespace
}  // namespace parkbase
