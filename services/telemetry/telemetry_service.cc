#include "telemetry/telemetry_service.h"

#include <deque>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "device/device_store.h"
#include "device/schema_resolver.h"
#include "google/rpc/status.pb.h"
#include "telemetry/device_directory.h"
#include "telemetry/live_subscription.h"
#include "telemetry/redis_state.h"
#include "telemetry/telemetry_store.h"
#include "telemetry/write_stream.h"

namespace parkbase::telemetry {
TelemetryServiceImpl::TelemetryServiceImpl(CallRunner& calls, RequestParser& parser, TelemetryManager& manager,
                                           LiveHub& hub, BlockingExecutor& executor)
    : OwnParsing(parser, pb::TelemetryService::service_full_name()), calls_(calls), manager_(manager) {
  ParseUnary("Write", &TelemetryServiceImpl::Write);
  ParseStream("WriteStream", &TelemetryServiceImpl::ServeWriteStream);
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

grpc::Status TelemetryServiceImpl::ServeWriteStream(grpc::ServerContext* context,
                                                    RawStream<pb::WriteRequest, pb::WriteResponse>* stream) {
  return calls_.RunStream(
      context, Method("WriteStream"), /*request=*/nullptr, /*client_sends=*/true,
      [&](const Principal& caller, StreamRegistry::Stream& open) -> absl::Status {
        // The first message names the tenant and passes the access gate; every later one stays with that tenant.
        std::string parent;
        WriteStreamPipeline::Stages stages;
        stages.read = [&](pb::WriteRequest* request, ParseBudget::Reservation* held) -> absl::StatusOr<bool> {
          absl::StatusOr<bool> read = stream->Read(request, held);
          if (!read.ok() || !*read) return read;
          open.Touch();
          if (parent.empty()) {
            absl::StatusOr<AccessGrant> admitted = calls_.AdmitFirstMessage(Method("WriteStream"), caller, *request,
                                                                            open);
            if (!admitted.ok()) return admitted.status();
            parent = request->parent();
          } else if (request->parent().empty()) {
            request->set_parent(parent);
          } else if (request->parent() != parent) {
            return FieldError("parent", absl::StrCat("must stay ", parent, " for the whole stream"));
          }
          return true;
        };
        stages.prepare = [&](const pb::WriteRequest& request) {
          return manager_.PrepareWrite(caller, request, /*streamed=*/true);
        };
        stages.commit = [&](TelemetryManager::PreparedBatch batch) { return manager_.CommitWrite(std::move(batch)); };
        stages.may_commit = [&] { return open.Check(); };
        stages.answer = [&](const pb::WriteResponse& response) { return stream->Write(response); };
        stages.cancel = [context] { context->TryCancel(); };
        return WriteStreamPipeline::Run(stages);
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
                                     absl::Duration compaction, absl::Duration retention)
    : maintenance_(std::move(maintenance)), clock_(clock), compaction_(compaction), retention_(retention) {
  if (compaction_ > absl::ZeroDuration() || retention_ > absl::ZeroDuration()) {
    thread_ = std::thread([this] { Loop(); });
  }
}

MaintenanceRunner::~MaintenanceRunner() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void MaintenanceRunner::Loop() {
  absl::Time next_compaction = absl::Now();
  absl::Time next_retention = absl::Now() + absl::Minutes(1);  // let a fresh start serve first
  while (!stop_.HasBeenNotified()) {
    const absl::Time now = absl::Now();
    if (compaction_ > absl::ZeroDuration() && now >= next_compaction) {
      absl::StatusOr<CompactionStats> stats = maintenance_->CompactAll();
      if (!stats.ok()) {
        LogLine(LogLevel::kWarning, "telemetry compaction failed").Str("error", stats.status().message()).Emit();
      }
      next_compaction = absl::Now() + compaction_;
    }
    if (retention_ > absl::ZeroDuration() && now >= next_retention) {
      absl::StatusOr<RetentionStats> stats = maintenance_->ApplyRetentionAll(clock_.Now());
      if (!stats.ok()) {
        LogLine(LogLevel::kWarning, "telemetry retention failed").Str("error", stats.status().message()).Emit();
      }
      next_retention = absl::Now() + retention_;
    }
    absl::Time wake = absl::InfiniteFuture();
    if (compaction_ > absl::ZeroDuration()) wake = std::min(wake, next_compaction);
    if (retention_ > absl::ZeroDuration()) wake = std::min(wake, next_retention);
    stop_.WaitForNotificationWithDeadline(wake);
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
                         .verify_serving_role = host.db().options().verify_serving_role}));
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
      IngestBacklog::Options{.max_points = config.telemetry_backlog_max_points}, store, host.clock(),
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
      .backlog = &backlog}));
  // One Redis reader per tenant with subscribers, fanning its live feed out in process (live_hub.h).
  auto& hub = host.Own(std::make_unique<LiveHub>(LiveHub::Options{.redis_url = config.redis_url}, manager,
                                                 host.registry()));
  auto& service = host.Own(
      std::make_unique<TelemetryServiceImpl>(host.calls(), host.parser(), manager, hub, host.executor()));
  MaintenanceOptions maintenance_options;
  maintenance_options.threads = config.telemetry_compaction_threads;
  host.Own(std::make_unique<MaintenanceRunner>(MakeTelemetryMaintenance(host.db(), host.redis(), host.clock(),
                                                                        std::move(maintenance_options)),
                                               host.clock(), config.telemetry_compaction_interval,
                                               config.telemetry_retention_interval));
  host.AddService(&service, pb::TelemetryService::service_full_name(), {kPostgresDependency, kRedisDependency});
  return absl::OkStatus();
}

}  // namespace parkbase::telemetry
