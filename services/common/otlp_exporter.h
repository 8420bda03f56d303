// Sends finished spans to an OpenTelemetry collector: OTLP over HTTP, binary protobuf bodies (common/otlp/
// trace.proto), POSTed by libcurl from a thread of its own. The request path only appends to a bounded queue; when
// the collector is slow or down, spans beyond the bound are dropped and counted rather than held or waited for.
// Failed exports are not retried either: a trace is diagnostic data, and a retry queue would be a second, unbounded
// backlog in front of a collector that is already behind.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "common/tracing.h"

namespace parkbase {

using OtlpAttributes = std::vector<std::pair<std::string, std::string>>;

// The ExportTraceServiceRequest body for `spans` of one resource.
std::string EncodeOtlpTraces(const OtlpAttributes& resource, const std::vector<SpanData>& spans);

class OtlpHttpExporter final : public SpanSink {
 public:
  struct Options {
    // http:// or https:// URL the spans are POSTed to, e.g. http://collector:4318/v1/traces.
    std::string endpoint = {};
    // Extra request headers (a collector's API key, a tenant header).
    OtlpAttributes headers = {};
    // PEM file of the CAs an https endpoint is verified with; empty: the system's.
    std::string ca_file = {};
    // The resource the spans describe: service.name, service.version, ...
    OtlpAttributes resource = {};
    // Spans held for export at most; more are dropped (reason "queue_full").
    size_t max_queue_spans = 2048;
    // Spans sent in one request at most.
    size_t max_batch_spans = 512;
    // How long a span waits at most before it is sent, when fewer than a batch are queued.
    absl::Duration export_interval = absl::Seconds(1);
    // One export's time limit, connection included; its spans are dropped when it passes (reason "export_failed").
    absl::Duration timeout = absl::Seconds(10);
    // The parkbase_trace_* families (may be null).
    prometheus::Registry* registry = nullptr;
  };

  static absl::StatusOr<std::unique_ptr<OtlpHttpExporter>> Start(Options options);
  // Sends what is queued (each request within the timeout), then stops.
  ~OtlpHttpExporter() override;

  void Accept(SpanData span) override;

  // Sends everything queued so far; true when it went out (or was dropped) within `timeout`. For tests and shutdown.
  bool Flush(absl::Duration timeout);

 private:
  explicit OtlpHttpExporter(Options options);
  void Run();
  // One POST; the spans it carried that the collector took, or an error.
  absl::StatusOr<int64_t> Send(const std::vector<SpanData>& batch);
  void Drop(absl::string_view reason, int64_t spans);
  bool HasBatch() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Flushed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Options options_;
  void* curl_ = nullptr;  // CURL*, used by the export thread alone
  void* curl_headers_ = nullptr;  // curl_slist*

  absl::Mutex mu_;
  std::vector<SpanData> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool flush_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool sending_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_failure_log_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  prometheus::Counter* exported_ = nullptr;
  prometheus::Family<prometheus::Counter>* dropped_ = nullptr;
  prometheus::Gauge* queued_ = nullptr;
  std::thread thread_;
};

}  // namespace parkbase
