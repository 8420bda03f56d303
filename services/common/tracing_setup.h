// Tracing's start-up in a serving process: the sample ratio, and the OTLP exporter when a collector is named by
// --otlp_traces_endpoint or by OpenTelemetry's standard environment (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_ENDPOINT), which the OpenTelemetry Operator and most charts already set. Off by default.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"
#include "common/otlp_exporter.h"

namespace parkbase {

struct TracingSettings {
  // Empty: no export (spans still give log lines their ids).
  std::string endpoint;
  OtlpAttributes headers;
  std::string ca_file;
  OtlpAttributes resource;
  double sample_ratio = 1.0;
  size_t max_queue_spans = 2048;
  absl::Duration export_interval = absl::Seconds(1);
  absl::Duration timeout = absl::Seconds(10);
};

// Reads an environment variable; nullopt when it is not set.
using EnvironmentLookup = std::function<std::optional<std::string>(absl::string_view name)>;
EnvironmentLookup ProcessEnvironment();

// The settings from the flags and `environment`; `service_name` is the binary's ("parkbase", "parkbase-device",
// ...), which OTEL_SERVICE_NAME overrides. INVALID_ARGUMENT names the flag or variable that is wrong.
absl::StatusOr<TracingSettings> TracingSettingsFromFlags(absl::string_view service_name,
                                                         const EnvironmentLookup& environment);

// Holds the installed exporter; uninstalls it and sends what it still holds when destroyed.
class Tracing {
 public:
  explicit Tracing(std::shared_ptr<OtlpHttpExporter> exporter);
  ~Tracing();
  Tracing(const Tracing&) = delete;
  Tracing& operator=(const Tracing&) = delete;

 private:
  std::shared_ptr<OtlpHttpExporter> exporter_;
};

// Applies `settings`: the sample ratio, and when there is an endpoint, an exporter whose metrics go to `registry`.
absl::StatusOr<std::unique_ptr<Tracing>> StartTracing(const TracingSettings& settings,
                                                      prometheus::Registry* registry);

}  // namespace parkbase
