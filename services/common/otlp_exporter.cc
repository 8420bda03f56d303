#include "common/otlp_exporter.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/process_metrics.h"
#include "otlp/trace.pb.h"

namespace parkbase {
namespace {

namespace pb = ::parkbase::otlp::v1;

void SetValue(pb::AnyValue& out, const SpanAttributeValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) {
    out.set_string_value(*text);
  } else if (const auto* number = std::get_if<int64_t>(&value)) {
    out.set_int_value(*number);
  } else if (const auto* flag = std::get_if<bool>(&value)) {
    out.set_bool_value(*flag);
  }
}

template <size_t N>
std::string Bytes(const std::array<uint8_t, N>& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), N);
}

size_t AppendBody(char* data, size_t size, size_t count, void* body) {
  static_cast<std::string*>(body)->append(data, size * count);
  return size * count;
}

// The W3C sampled flag, the only trace flag Parkbase sets.
constexpr uint32_t kSampledFlag = 0x01;

}  // namespace

std::string EncodeOtlpTraces(const OtlpAttributes& resource, const std::vector<SpanData>& spans) {
  pb::ExportTraceServiceRequest request;
  pb::ResourceSpans* resource_spans = request.add_resource_spans();
  for (const auto& [key, value] : resource) {
    pb::KeyValue* attribute = resource_spans->mutable_resource()->add_attributes();
    attribute->set_key(key);
    attribute->mutable_value()->set_string_value(value);
  }
  pb::ScopeSpans* scope = resource_spans->add_scope_spans();
  scope->mutable_scope()->set_name("parkbase");
  scope->mutable_scope()->set_version(BuildVersion());
  for (const SpanData& span : spans) {
    pb::Span* out = scope->add_spans();
    out->set_trace_id(Bytes(span.context.trace_id));
    out->set_span_id(Bytes(span.context.span_id));
    out->set_trace_state(span.context.trace_state);
    if (span.parent_span_id.has_value()) out->set_parent_span_id(Bytes(*span.parent_span_id));
    out->set_flags(span.context.sampled ? kSampledFlag : 0);
    out->set_name(span.name);
    out->set_kind(static_cast<pb::Span::SpanKind>(static_cast<int>(span.kind)));
    out->set_start_time_unix_nano(static_cast<uint64_t>(span.start_unix_nanos));
    out->set_end_time_unix_nano(static_cast<uint64_t>(span.end_unix_nanos));
    for (const auto& [key, value] : span.attributes) {
      pb::KeyValue* attribute = out->add_attributes();
      attribute->set_key(key);
      SetValue(*attribute->mutable_value(), value);
    }
    if (span.error) {
      out->mutable_status()->set_code(pb::Status::STATUS_CODE_ERROR);
      out->mutable_status()->set_message(span.error_message);
    }
  }
  return request.SerializeAsString();
}

absl::StatusOr<std::unique_ptr<OtlpHttpExporter>> OtlpHttpExporter::Start(Options options) {
  if (!absl::StartsWith(options.endpoint, "http://") && !absl::StartsWith(options.endpoint, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--otlp_traces_endpoint: must be an http:// or https:// URL, got \"", options.endpoint, "\""));
  }
  if (options.max_queue_spans < 1 || options.max_batch_spans < 1) {
    return absl::InvalidArgumentError("--otlp_max_queue_spans: must be at least 1");
  }
  // libcurl's global set-up is not thread-safe in every build; it runs once, before the export thread exists.
  static std::once_flag curl_ready;
  CURLcode global = CURLE_OK;
  std::call_once(curl_ready, [&] { global = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (global != CURLE_OK) return absl::InternalError(absl::StrCat("libcurl: ", curl_easy_strerror(global)));
  std::unique_ptr<OtlpHttpExporter> exporter(new OtlpHttpExporter(std::move(options)));
  if (exporter->curl_ == nullptr) return absl::InternalError("libcurl: curl_easy_init failed");
  exporter->thread_ = std::thread([raw = exporter.get()] { raw->Run(); });
  return exporter;
}

OtlpHttpExporter::OtlpHttpExporter(Options options) : options_(std::move(options)) {
  options_.max_batch_spans = std::min(options_.max_batch_spans, options_.max_queue_spans);
  if (options_.registry != nullptr) {
    exported_ = &prometheus::BuildCounter()
                     .Name("parkbase_trace_spans_exported_total")
                     .Help("Spans the OTLP collector accepted")
                     .Register(*options_.registry)
                     .Add({});
    dropped_ = &prometheus::BuildCounter()
                    .Name("parkbase_trace_spans_dropped_total")
                    .Help("Spans never exported, by reason: queue_full (the collector is slower than the spans come), "
                          "export_failed (the request failed or timed out), rejected (the collector refused them)")
                    .Register(*options_.registry);
    for (const char* reason : {"queue_full", "export_failed", "rejected"}) dropped_->Add({{"reason", reason}});
    queued_ = &prometheus::BuildGauge()
                   .Name("parkbase_trace_export_queue_spans")
                   .Help("Spans waiting to be exported")
                   .Register(*options_.registry)
                   .Add({});
  }
  CURL* curl = curl_easy_init();
  curl_ = curl;
  if (curl == nullptr) return;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
  // No "Expect: 100-continue" round trip before a large body.
  headers = curl_slist_append(headers, "Expect:");
  for (const auto& [name, value] : options_.headers) {
    headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  curl_headers_ = headers;
  curl_easy_setopt(curl, CURLOPT_URL, options_.endpoint.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  // Signals cannot interrupt a resolver in a multi-threaded process; timeouts come from the poll loop instead.
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(std::min(options_.timeout, absl::Seconds(5)))));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
}

OtlpHttpExporter::~OtlpHttpExporter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (curl_headers_ != nullptr) curl_slist_free_all(static_cast<curl_slist*>(curl_headers_));
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

void OtlpHttpExporter::Accept(SpanData span) {
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= options_.max_queue_spans) {
    Drop("queue_full", 1);
    return;
  }
  queue_.push_back(std::move(span));
  if (queued_ != nullptr) queued_->Set(static_cast<double>(queue_.size()));
}

bool OtlpHttpExporter::HasBatch() const {
  return stopping_ || queue_.size() >= options_.max_batch_spans || (flush_pending_ && !queue_.empty());
}

bool OtlpHttpExporter::Flushed() const { return queue_.empty() && !sending_; }

bool OtlpHttpExporter::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  flush_pending_ = true;
  return mu_.AwaitWithTimeout(absl::Condition(this, &OtlpHttpExporter::Flushed), timeout);
}

void OtlpHttpExporter::Drop(absl::string_view reason, int64_t spans) {
  if (dropped_ != nullptr && spans > 0) dropped_->Add({{"reason", std::string(reason)}}).Increment(spans);
}

void OtlpHttpExporter::Run() {
  while (true) {
    std::vector<SpanData> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(this, &OtlpHttpExporter::HasBatch), options_.export_interval);
      if (queue_.empty()) {
        flush_pending_ = false;
        if (stopping_) return;
        continue;
      }
      const size_t take = std::min(queue_.size(), options_.max_batch_spans);
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + take));
      queue_.erase(queue_.begin(), queue_.begin() + take);
      if (queued_ != nullptr) queued_->Set(static_cast<double>(queue_.size()));
      sending_ = true;
    }
    absl::StatusOr<int64_t> accepted = Send(batch);
    const int64_t sent = static_cast<int64_t>(batch.size());
    absl::MutexLock lock(&mu_);
    sending_ = false;
    if (accepted.ok()) {
      if (exported_ != nullptr) exported_->Increment(static_cast<double>(*accepted));
      Drop("rejected", sent - *accepted);
      continue;
    }
    Drop("export_failed", sent);
    if (stopping_) {
      // Shutting down towards a collector that fails: what is left would fail too, one timeout a batch.
      Drop("export_failed", static_cast<int64_t>(queue_.size()));
      queue_.clear();
    }
    // One line a minute at most: a collector that is down would otherwise write one a second.
    if (absl::Now() - last_failure_log_ >= absl::Minutes(1)) {
      last_failure_log_ = absl::Now();
      LogLine(LogLevel::kWarning, "trace export failed")
          .Str("endpoint", options_.endpoint)
          .Str("error", accepted.status().message())
          .Num("spans_dropped", static_cast<double>(sent))
          .Emit();
    }
  }
}

absl::StatusOr<int64_t> OtlpHttpExporter::Send(const std::vector<SpanData>& batch) {
  CURL* curl = static_cast<CURL*>(curl_);
  const std::string body = EncodeOtlpTraces(options_.resource, batch);
  std::string answer;
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  const CURLcode result = curl_easy_perform(curl);
  if (result != CURLE_OK) return absl::UnavailableError(curl_easy_strerror(result));
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    return absl::UnavailableError(absl::StrCat("the collector answered HTTP ", status));
  }
  // A 200 may still carry spans the collector rejected (OTLP's partial success).
  pb::ExportTraceServiceResponse response;
  const int64_t sent = static_cast<int64_t>(batch.size());
  if (answer.empty() || !response.ParseFromString(answer)) return sent;
  return sent - std::clamp<int64_t>(response.partial_success().rejected_spans(), 0, sent);
}

}  // namespace parkbase
