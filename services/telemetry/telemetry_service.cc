#include "telemetry/telemetry_service.h"

#include <exception>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/tracing.h"
#include "common/pool_metrics.h"
#include "common/status_macros.h"
#include "device/device_store.h"
#include "device/schema_resolver.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/server_callback.h"
#include "telemetry/device_directory.h"
#include "telemetry/live_subscription.h"
#include "telemetry/maintenance_metrics.h"
#include "telemetry/redis_state.h"
#include "telemetry/telemetry_store.h"
#include "telemetry/write_stream.h"

namespace parkbase::telemetry {
namespace {

// A client refused because this server's executor is saturated retries after this.
constexpr absl::Duration kBusyRetryAfter = absl::Seconds(1);

// One WriteStream, served through gRPC's callback API: the call holds no thread while it waits for its client or
// for the database. Authentication and admission, parsing (under the parse budget) and the pipeline's prepare and
// commit run on the server's BlockingExecutor; gRPC's callback threads only start reads and writes (write_stream.h
// says how the pipeline orders them). The call is finished once the pipeline is done and no parse is running, so
// no work on the executor outlives the call's context.
class WriteStreamCall final : public grpc::ServerBidiReactor<grpc::ByteBuffer, pb::WriteResponse>,
                              public std::enable_shared_from_this<WriteStreamCall> {
 public:
  struct Parts {
    CallRunner& calls;
    RequestParser& parser;
    TelemetryManager& manager;
    BlockingExecutor& executor;
    const google::protobuf::MethodDescriptor& method;
  };

  // The handler of the callback method: the reactor for one call (alive until OnDone, and while work holds it).
  static grpc::ServerBidiReactor<grpc::ByteBuffer, pb::WriteResponse>* Start(const Parts& parts,
                                                                            grpc::CallbackServerContext* context) {
    auto call = std::make_shared<WriteStreamCall>(parts, context);
    call->self_ = call;
    if (!parts.executor.Submit([call] { call->Open(); })) {
      {
        absl::MutexLock lock(&call->mu_);
        call->finish_sent_ = true;
      }
      call->Finish(parts.calls.Refuse(
          context, parts.method,
          QuotaError("server", "callback_executor_threads",
                     "this server has too much blocking work queued to open a stream now; retry", kBusyRetryAfter)));
    }
    return call.get();
  }

  WriteStreamCall(const Parts& parts, grpc::CallbackServerContext* context) : parts_(parts), context_(context) {}

  // grpc::ServerBidiReactor (gRPC's callback threads; none of them blocks).
  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client closed its side (or the call ended): what was read is still answered.
      pipeline_->ReadEnded();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      ++parsing_;
    }
    std::shared_ptr<WriteStreamCall> self = shared_from_this();
    parts_.parser.ParseStreamed(parts_.executor, context_, &buffer_, reading_into_, read_++,
                                [self](absl::StatusOr<ParseBudget::Reservation> held) {
                                  self->Parsed(std::move(held));
                                });
  }
  void OnWriteDone(bool ok) override { pipeline_->Sent(ok); }
  void OnCancel() override {
    std::shared_ptr<WriteStreamPipeline> pipeline;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      pipeline = pipeline_;
    }
    if (pipeline != nullptr) pipeline->Cancelled();
  }
  void OnDone() override {
    // No work runs for the call any more: unregister the stream while the context (which the stream registry's
    // watchdog may cancel through) is alive, then let go of this object.
    stream_.reset();
    std::shared_ptr<WriteStreamCall> self = std::move(self_);
  }

 private:
  // On the executor: authenticate and admit the stream, then start reading.
  void Open() {
    absl::StatusOr<CallRunner::OpenedStream> opened =
        parts_.calls.OpenClientStream(context_, parts_.method, &call_);
    if (!opened.ok()) {
      End(opened.status());
      return;
    }
    caller_ = std::move(opened->caller);
    stream_ = std::move(opened->stream);
    WriteStreamPipeline::Stages stages;
    stages.prepare = [this](const pb::WriteRequest& request) {
      return parts_.manager.PrepareWrite(*caller_, request, /*streamed=*/true);
    };
    stages.commit = [this](TelemetryManager::PreparedBatch batch) {
      return parts_.manager.CommitWrite(std::move(batch));
    };
    stages.may_commit = [this] { return stream_->Check(); };
    stages.read = [this](pb::WriteRequest* request) {
      reading_into_ = request;
      StartRead(&buffer_);
    };
    stages.answer = [this](const pb::WriteResponse* response) { StartWrite(response); };
    stages.done = [this](absl::Status status) { End(std::move(status)); };
    std::shared_ptr<WriteStreamPipeline> pipeline = WriteStreamPipeline::Create(
        std::move(stages), [this](std::function<void()> work) { return parts_.executor.Submit(std::move(work)); });
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      pipeline_ = pipeline;
      cancelled = cancelled_;
    }
    pipeline->Start();
    if (cancelled) pipeline->Cancelled();
  }

  // On the executor: message `read_ - 1` was parsed (or not) into reading_into_.
  void Parsed(absl::StatusOr<ParseBudget::Reservation> held) {
    absl::Status refused = held.status();
    if (held.ok()) {
      stream_->Touch();
      try {
        refused = CheckMessage(*reading_into_);
      } catch (const std::exception& error) {
        LogLine(LogLevel::kError, "write stream reader failed").Str("error", error.what()).Emit();
        refused = absl::InternalError("write stream reader failed");
      }
    }
    if (refused.ok()) {
      pipeline_->Received(*std::move(held));
    } else {
      pipeline_->ReadFailed(refused);
    }
    // Counted down only now: delivering may start the next read, whose parse is counted before this one's ends.
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      --parsing_;
      finish = TakeFinishLocked();
    }
    if (finish) SendFinish();
  }

  // The first message names the tenant and passes the access gate; every later one stays with that tenant.
  absl::Status CheckMessage(pb::WriteRequest& request) {
    if (parent_.empty()) {
      absl::StatusOr<AccessGrant> admitted =
          parts_.calls.AdmitFirstMessage(parts_.method, *caller_, request, *stream_);
      if (!admitted.ok()) return admitted.status();
      parent_ = request.parent();
    } else if (request.parent().empty()) {
      request.set_parent(parent_);
    } else if (request.parent() != parent_) {
      return FieldError("parent", absl::StrCat("must stay ", parent_, " for the whole stream"));
    }
    return absl::OkStatus();
  }

  // The stream is over (the pipeline is done, or it never started): finish once no parse is running.
  void End(absl::Status status) {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (ending_) return;
      ending_ = true;
      end_status_ = std::move(status);
      finish = TakeFinishLocked();
    }
    if (finish) SendFinish();
  }
  bool TakeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!ending_ || parsing_ > 0 || finish_sent_) return false;
    finish_sent_ = true;
    return true;
  }
  void SendFinish() {
    absl::Status status;
    {
      absl::MutexLock lock(&mu_);
      status = end_status_;
    }
    // Finish may lead to OnDone on another thread, which lets go of this object: hold it until this returns.
    std::shared_ptr<WriteStreamCall> self = shared_from_this();
    Finish(parts_.calls.FinishStream(call_, status));
  }

  const Parts parts_;
  grpc::CallbackServerContext* const context_;
  // Set by Open before the first read; read by the work it starts.
  CallRunner::StreamCall call_;
  std::optional<Principal> caller_;
  std::unique_ptr<StreamRegistry::Stream> stream_;
  // One read at a time (the pipeline starts the next after the last one's outcome): these belong to it.
  grpc::ByteBuffer buffer_;
  pb::WriteRequest* reading_into_ = nullptr;
  int64_t read_ = 0;
  std::string parent_;
  // Keeps this object alive while gRPC may call it; work on the executor holds its own references.
  std::shared_ptr<WriteStreamCall> self_;

  // Set by Open (under mu_, for OnCancel) before the first read; gRPC's reactions to reads and writes come after.
  std::shared_ptr<WriteStreamPipeline> pipeline_;

  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  int parsing_ ABSL_GUARDED_BY(mu_) = 0;  // messages read whose parse has not reached the pipeline
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_sent_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

TelemetryServiceImpl::TelemetryServiceImpl(CallRunner& calls, RequestParser& parser, TelemetryManager& manager,
                                           LiveHub& hub, BlockingExecutor& executor)
    : OwnParsing(parser, pb::TelemetryService::service_full_name()), calls_(calls), manager_(manager) {
  ParseUnary("Write", &TelemetryServiceImpl::Write);
  const WriteStreamCall::Parts write_stream{.calls = calls,
                                            .parser = parser,
                                            .manager = manager,
                                            .executor = executor,
                                            .method = Method("WriteStream")};
  CallbackBidiStream<pb::WriteResponse>("WriteStream", [write_stream](grpc::CallbackServerContext* context) {
    return WriteStreamCall::Start(write_stream, context);
  });
  ParseUnary("GetLatest", &TelemetryServiceImpl::ServeGetLatest);
  ParseUnary("ReadRange", &TelemetryServiceImpl::ReadRange);
  ParseUnary("Aggregate", &TelemetryServiceImpl::Aggregate);
  const LiveSubscription::Parts subscribe{.calls = calls,
                                         .parser = parser,
                                         .manager = manager,
                                         .hub = hub,
                                         .executor = executor,
                                         .method = Method("Subscribe")};
  CallbackServerStream<grpc::ByteBuffer>(  // responses arrive serialised (live_hub.h)
      "Subscribe", [subscribe](grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
        return LiveSubscription::Start(subscribe, context, request);
      });
  ParseUnary("GetRetentionPolicy", &TelemetryServiceImpl::GetRetentionPolicy);
  ParseUnary("UpdateRetentionPolicy", &TelemetryServiceImpl::UpdateRetentionPolicy);
}

grpc::Status TelemetryServiceImpl::Write(grpc::ServerContext* context, const pb::WriteRequest* request,
                                         pb::WriteResponse* response) {
  return calls_.Run(context, Method("Write"), *request, [&](const Principal& caller) -> absl::Status {
    ASSIGN_OR_RETURN(*response, manager_.Write(caller, *request, /*streamed=*/false));
    return absl::OkStatus();
  });
}

grpc::Status TelemetryServiceImpl::ServeGetLatest(grpc::ServerContext* context, const pb::GetLatestRequest* request,
                                                  grpc::ByteBuffer* response) {
  return calls_.Run(context, Method("GetLatest"), *request, [&](const Principal& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const std::string encoded, manager_.GetLatestEncoded(caller, *request));
    grpc::Slice slice(encoded);
    *response = grpc::ByteBuffer(&slice, 1);
    return absl::OkStatus();
  });
}

grpc::Status TelemetryServiceImpl::ReadRange(grpc::ServerContext* context, const pb::ReadRangeRequest* request,
                                             pb::ReadRangeResponse* response) {
  return calls_.Serve(context, Method("ReadRange"), manager_, &TelemetryManager::ReadRange, request, response);
}

grpc::Status TelemetryServiceImpl::Aggregate(grpc::ServerContext* context, const pb::AggregateRequest* request,
                                             pb::AggregateResponse* response) {
  return calls_.Serve(context, Method("Aggregate"), manager_, &TelemetryManager::Aggregate, request, response);
}

grpc::Status TelemetryServiceImpl::GetRetentionPolicy(grpc::ServerContext* context,
                                                      const pb::GetRetentionPolicyRequest* request,
                                                      pb::RetentionPolicy* response) {
  return calls_.Serve(context, Method("GetRetentionPolicy"), manager_, &TelemetryManager::GetRetentionPolicy, request,
                      response);
}

grpc::Status TelemetryServiceImpl::UpdateRetentionPolicy(grpc::ServerContext* context,
                                                         const pb::UpdateRetentionPolicyRequest* request,
                                                         pb::RetentionPolicy* response) {
  return calls_.Serve(context, Method("UpdateRetentionPolicy"), manager_, &TelemetryManager::UpdateRetentionPolicy, request,
                      response);
}

MaintenanceRunner::MaintenanceRunner(std::unique_ptr<TelemetryMaintenance> maintenance, Clock& clock,
                                     absl::Duration compaction, absl::Duration retention, IngestBacklog* backlog)
    : maintenance_(std::move(maintenance)),
      clock_(clock),
      compaction_(compaction),
      retention_(retention),
      backlog_(compaction > absl::ZeroDuration() ? backlog : nullptr) {
  if (compaction_ > absl::ZeroDuration() || retention_ > absl::ZeroDuration()) {
    thread_ = std::thread([this] { Loop(); });
  }
  if (backlog_ != nullptr) {
    backlog_->SetPassHook(kLogRowsPerPass, kPointsPerPass, [this](const std::string& tenant) { Nudge(tenant); });
  }
}

MaintenanceRunner::~MaintenanceRunner() {
  // First no more nudges (this waits for one that is running), then stop the thread.
  if (backlog_ != nullptr) backlog_->SetPassHook(0, 0, nullptr);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void MaintenanceRunner::Nudge(const std::string& tenant_id) {
  if (compaction_ <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  if (nudged_.size() < 100'000) nudged_.insert(tenant_id);
}

void MaintenanceRunner::Loop() {
  absl::Time next_compaction = absl::Now();
  absl::Time next_retention = absl::Now() + absl::Minutes(1);  // let a fresh start serve first
  while (true) {
    absl::flat_hash_set<std::string> nudged;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      nudged.swap(nudged_);
    }
    // Each operation is a trace of its own (a root span), so its log lines carry ids and a collector shows what the
    // passes cost; a pass that found nothing to do is not exported.
    for (const std::string& tenant : nudged) {
      Span span("telemetry.fold_tenant", SpanKind::kInternal, nullptr);
      ScopedSpan scope(span.context());
      span.SetAttribute("parkbase.tenant_id", tenant);
      absl::StatusOr<CompactionStats> stats = maintenance_->FoldTenant(tenant);
      if (!stats.ok()) {
        span.SetError(stats.status().message());
        LogLine(LogLevel::kWarning, "telemetry compaction failed")
            .Str("tenant", tenant)
            .Str("error", stats.status().message())
            .Emit();
      } else {
        span.SetAttribute("parkbase.compaction.points", stats->points);
      }
    }
    const absl::Time now = absl::Now();
    if (compaction_ > absl::ZeroDuration() && now >= next_compaction) {
      Span span("telemetry.compact_all", SpanKind::kInternal, nullptr);
      ScopedSpan scope(span.context());
      absl::StatusOr<CompactionStats> stats = maintenance_->CompactAll();
      if (!stats.ok()) {
        span.SetError(stats.status().message());
        LogLine(LogLevel::kWarning, "telemetry compaction failed").Str("error", stats.status().message()).Emit();
      } else if (stats->log_rows == 0) {
        span.Discard();
      } else {
        span.SetAttribute("parkbase.compaction.points", stats->points);
      }
      const bool folded = stats.ok() && stats->log_rows > 0;
      next_compaction = absl::Now() + (folded ? absl::ZeroDuration() : compaction_);
    }
    if (retention_ > absl::ZeroDuration() && now >= next_retention) {
      Span span("telemetry.apply_retention", SpanKind::kInternal, nullptr);
      ScopedSpan scope(span.context());
      absl::StatusOr<RetentionStats> stats = maintenance_->ApplyRetentionAll(clock_.Now());
      if (!stats.ok()) {
        span.SetError(stats.status().message());
        LogLine(LogLevel::kWarning, "telemetry retention failed").Str("error", stats.status().message()).Emit();
      }
      next_retention = absl::Now() + retention_;
    }
    absl::Time wake = absl::InfiniteFuture();
    if (compaction_ > absl::ZeroDuration()) wake = std::min(wake, next_compaction);
    if (retention_ > absl::ZeroDuration()) wake = std::min(wake, next_retention);
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(this, &MaintenanceRunner::Woken), wake);
  }
}

absl::Status RegisterTelemetryService(ServiceHost& host) {
  if (host.redis() == nullptr) {
    return absl::InvalidArgumentError("--redis_url: required by parkbase.telemetry.v1.TelemetryService");
  }
  const ServerConfig& config = host.config();
  auto& pool = host.Own(std::make_unique<LibpqPool>(
      LibpqPool::Options{.url = config.database_url,
                         .size = config.db_pool_size,
                         .statement_timeout = config.statement_timeout,
                         .metrics = MakePoolMetrics(&host.registry(), "postgres_ingest"),
                         .verify_serving_role = host.db().options().verify_serving_role,
                         .password_file = host.db().options().password_file}));
  auto& store = host.Own(std::make_unique<PgTelemetryStore>(pool));
  auto& device_store = host.Own(std::make_unique<device::PgDeviceStore>(host.db()));
  // Cache lifetimes run on real time, whatever clock the service's rules use.
  auto& cache_clock = host.Own(std::make_unique<SystemClock>());
  auto& resolver = host.Own(std::make_unique<device::DeviceSchemaResolver>(device_store, host.redis(), cache_clock));
  auto& directory = host.Own(std::make_unique<RegistryDeviceDirectory>(resolver, store));
  auto& limiter = host.Own(std::make_unique<RedisIngestRateLimiter>(*host.redis()));
  auto& latest = host.Own(std::make_unique<RedisLatestValues>(*host.redis()));
  auto& live = host.Own(std::make_unique<RedisLiveFeed>(*host.redis()));
  auto& backlog = host.Own(std::make_unique<IngestBacklog>(
      IngestBacklog::Options{.max_points = config.telemetry_backlog_max_points,
                             .tenant_metric_label = config.metrics_tenant_label},
      store, host.clock(),
      host.registry()));
  auto& manager = host.Own(std::make_unique<TelemetryManager>(TelemetryManager::Parts{
      .store = store,
      .directory = directory,
      .limiter = limiter,
      .latest = latest,
      .live = live,
      .page_tokens = host.page_tokens(),
      .clock = host.clock(),
      .registry = host.registry(),
      .max_scan_bytes = config.max_scan_bytes,
      .max_scan_points = config.max_scan_points,
      .backlog = &backlog,
      .tenant_metric_label = config.metrics_tenant_label}));
  // One Redis reader per tenant with subscribers, fanning its live feed out in process (live_hub.h).
  auto& hub = host.Own(std::make_unique<LiveHub>(
      LiveHub::Options{.redis_url = config.redis_url, .redis_password_file = config.redis_password_file}, manager,
      host.registry()));
  auto& service = host.Own(
      std::make_unique<TelemetryServiceImpl>(host.calls(), host.parser(), manager, hub, host.executor()));
  MaintenanceOptions maintenance_options;
  maintenance_options.threads = config.telemetry_compaction_threads;
  host.Own(std::make_unique<MaintenanceRunner>(
      WithMaintenanceMetrics(
          MakeTelemetryMaintenance(host.db(), host.redis(), host.clock(), std::move(maintenance_options)),
          host.registry()),
      host.clock(), config.telemetry_compaction_interval, config.telemetry_retention_interval, &backlog));
  host.AddService(&service, pb::TelemetryService::service_full_name(), {kPostgresDependency, kRedisDependency});
  return absl::OkStatus();
}

}  // namespace parkbase::telemetry
