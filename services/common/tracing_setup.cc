#include "common/tracing_setup.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/process_metrics.h"
#include "common/tracing.h"

ABSL_FLAG(std::string, otlp_traces_endpoint, "",
          "OTLP/HTTP URL spans are exported to (http[s]://collector:4318/v1/traces); empty: "
          "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, else no export");
ABSL_FLAG(double, trace_sample_ratio, 1.0,
          "Share of new traces exported, 0 to 1; a caller's traceparent keeps its own sampled flag");
ABSL_FLAG(int32_t, otlp_max_queue_spans, 2048,
          "Spans held for export at most, 1 to 1000000; more are dropped and counted while the collector is slow");
ABSL_FLAG(int32_t, otlp_export_interval_ms, 1000, "Longest a span waits before it is sent, 100 to 60000");
ABSL_FLAG(int32_t, otlp_timeout_ms, 10000, "Time limit of one export request, 100 to 60000");

namespace parkbase {
namespace {

std::string PercentDecode(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && absl::ascii_isxdigit(text[i + 1]) &&
        absl::ascii_isxdigit(text[i + 2])) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// OpenTelemetry's "key1=value1,key2=value2" lists (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES), values
// percent-encoded. A later key replaces an earlier one.
absl::Status AppendPairs(absl::string_view variable, absl::string_view text, OtlpAttributes& pairs) {
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    const size_t equals = entry.find('=');
    const absl::string_view key = absl::StripAsciiWhitespace(entry.substr(0, equals));
    if (equals == absl::string_view::npos || key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(variable, ": want key=value, got '", entry, "'"));
    }
    std::string value = PercentDecode(absl::StripAsciiWhitespace(entry.substr(equals + 1)));
    if (std::any_of(value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; })) {
      return absl::InvalidArgumentError(absl::StrCat(variable, ": the value of ", key, " holds a line break"));
    }
    pairs.erase(std::remove_if(pairs.begin(), pairs.end(), [&](const auto& pair) { return pair.first == key; }),
                pairs.end());
    pairs.emplace_back(std::string(key), std::move(value));
  }
  return absl::OkStatus();
}

void SetPair(OtlpAttributes& pairs, absl::string_view key, std::string value) {
  for (auto& pair : pairs) {
    if (pair.first == key) {
      pair.second = std::move(value);
      return;
    }
  }
  pairs.emplace_back(std::string(key), std::move(value));
}

absl::Status CheckRange(absl::string_view flag, int64_t value, int64_t low, int64_t high) {
  if (value >= low && value <= high) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": must be ", low, " to ", high, ", got ", value));
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

}  // namespace

EnvironmentLookup ProcessEnvironment() {
  return [](absl::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<TracingSettings> TracingSettingsFromFlags(absl::string_view service_name,
                                                         const EnvironmentLookup& environment) {
  auto env = [&](absl::string_view name) { return environment(name).value_or(""); };
  TracingSettings settings;
  settings.sample_ratio = absl::GetFlag(FLAGS_trace_sample_ratio);
  if (!(settings.sample_ratio >= 0.0 && settings.sample_ratio <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--trace_sample_ratio: must be 0 to 1, got ", settings.sample_ratio));
  }
  const int32_t max_queue = absl::GetFlag(FLAGS_otlp_max_queue_spans);
  const int32_t interval_ms = absl::GetFlag(FLAGS_otlp_export_interval_ms);
  const int32_t timeout_ms = absl::GetFlag(FLAGS_otlp_timeout_ms);
  if (absl::Status s = CheckRange("otlp_max_queue_spans", max_queue, 1, 1'000'000); !s.ok()) return s;
  if (absl::Status s = CheckRange("otlp_export_interval_ms", interval_ms, 100, 60'000); !s.ok()) return s;
  if (absl::Status s = CheckRange("otlp_timeout_ms", timeout_ms, 100, 60'000); !s.ok()) return s;
  settings.max_queue_spans = static_cast<size_t>(max_queue);
  settings.export_interval = absl::Milliseconds(interval_ms);
  settings.timeout = absl::Milliseconds(timeout_ms);

  // The flag wins; then OpenTelemetry's variables, the signal-specific one first (used as given, as the
  // specification says), the general one with the signal's path appended.
  settings.endpoint = absl::GetFlag(FLAGS_otlp_traces_endpoint);
  if (settings.endpoint.empty()) settings.endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  if (settings.endpoint.empty()) {
    std::string base = env("OTEL_EXPORTER_OTLP_ENDPOINT");
    while (absl::EndsWith(base, "/")) base.pop_back();
    if (!base.empty()) settings.endpoint = absl::StrCat(base, "/v1/traces");
  }
  if (absl::AsciiStrToLower(env("OTEL_SDK_DISABLED")) == "true" || env("OTEL_TRACES_EXPORTER") == "none") {
    settings.endpoint.clear();
  }
  if (!settings.endpoint.empty() && !absl::StartsWith(settings.endpoint, "http://") &&
      !absl::StartsWith(settings.endpoint, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--otlp_traces_endpoint: must be an http:// or https:// URL (OTLP over HTTP), got \"", settings.endpoint, "\""));
  }

  for (absl::string_view variable : {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}) {
    if (absl::Status s = AppendPairs(variable, env(variable), settings.headers); !s.ok()) return s;
  }
  settings.ca_file = env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE");
  if (settings.ca_file.empty()) settings.ca_file = env("OTEL_EXPORTER_OTLP_CERTIFICATE");

  // Resource attributes: ours, then the operator's OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME, which the
  // specification ranks above a service.name in the list.
  SetPair(settings.resource, "service.name", std::string(service_name));
  SetPair(settings.resource, "service.version", BuildVersion());
  // In Kubernetes the host name is the pod's name.
  SetPair(settings.resource, "service.instance.id", HostName());
  SetPair(settings.resource, "telemetry.sdk.name", "parkbase");
  SetPair(settings.resource, "telemetry.sdk.language", "cpp");
  if (absl::Status s = AppendPairs("OTEL_RESOURCE_ATTRIBUTES", env("OTEL_RESOURCE_ATTRIBUTES"), settings.resource);
      !s.ok()) {
    return s;
  }
  if (std::string name = env("OTEL_SERVICE_NAME"); !name.empty()) SetPair(settings.resource, "service.name", name);
  return settings;
}

Tracing::Tracing(std::shared_ptr<OtlpHttpExporter> exporter) : exporter_(std::move(exporter)) {}

Tracing::~Tracing() {
  if (exporter_ == nullptr) return;
  SetSpanSink(nullptr);
  exporter_.reset();
}

absl::StatusOr<std::unique_ptr<Tracing>> StartTracing(const TracingSettings& settings,
                                                      prometheus::Registry* registry) {
  SetTraceSampleRatio(settings.sample_ratio);
  if (settings.endpoint.empty()) return std::make_unique<Tracing>(nullptr);
  absl::StatusOr<std::unique_ptr<OtlpHttpExporter>> exporter =
      OtlpHttpExporter::Start({.endpoint = settings.endpoint,
                               .headers = settings.headers,
                               .ca_file = settings.ca_file,
                               .resource = settings.resource,
                               .max_queue_spans = settings.max_queue_spans,
                               .export_interval = settings.export_interval,
                               .timeout = settings.timeout,
                               .registry = registry});
  if (!exporter.ok()) return exporter.status();
  std::shared_ptr<OtlpHttpExporter> shared = *std::move(exporter);
  SetSpanSink(shared);
  return std::make_unique<Tracing>(std::move(shared));
}

}  // namespace parkbase
