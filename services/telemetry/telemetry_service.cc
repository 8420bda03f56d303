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
#include "telemetry/redis_state.h"
#include "telemetry/telemetry_store.h"
#include "telemetry/write_stream.h"

namespace parkbase::telemetry {
namespace {

// How long one XREAD waits for new entries: also how soon a subscription notices that it must end (a revoked
// credential: streams.h checks every 250 ms, so an ended subscription stops within about half a second).
constexpr int kSubscribeBlockMs = 250;
// Entries read at a time from the live stream.
constexpr int kSubscribeReadCount = 100;

}  // namespace

TelemetryServiceImpl::TelemetryServiceImpl(CallRunner& calls, RequestParser& parser, TelemetryManager& manager,
                                           std::string redis_url)
    : OwnParsing(parser, pb::TelemetryService::service_full_name()),
      calls_(calls),
      manager_(manager),
      redis_url_(std::move(redis_url)) {
  ParseUnary("Write", &TelemetryServiceImpl::Write);
  ParseStream("WriteStream", &TelemetryServiceImpl::ServeWriteStream);
  ParseUnary("GetLatest", &TelemetryServiceImpl::GetLatest);
  ParseUnary("ReadRange", &TelemetryServiceImpl::ReadRange);
  ParseUnary("Aggregate", &TelemetryServiceImpl::Aggregate);
  ParseServerStream("Subscribe", &TelemetryServiceImpl::ServeSubscribe);
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

grpc::Status TelemetryServiceImpl::GetLatest(grpc::ServerContext* context, const pb::GetLatestRequest* request,
                                             pb::GetLatestResponse* response) {
  return calls_.Serve(context, Method("GetLatest"), manager_, &TelemetryManager::GetLatest, request, response);
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

grpc::Status TelemetryServiceImpl::ServeSubscribe(grpc::ServerContext* context, const pb::SubscribeRequest* request,
                                                  grpc::internal::WriterInterface<pb::SubscribeResponse>* writer) {
  return calls_.RunStream(
      context, Method("Subscribe"), request, /*client_sends=*/false,
      [&](const Principal& caller, StreamRegistry::Stream& open) -> absl::Status {
        ASSIGN_OR_RETURN(const SubscriptionFilter filter, manager_.AuthorizeSubscription(caller, *request));
        // A connection of its own: XREAD blocks it.
        ASSIGN_OR_RETURN(std::unique_ptr<RedisClient> redis,
                         RedisClient::Create({.url = redis_url_,
                                              .command_timeout = absl::Milliseconds(kSubscribeBlockMs) +
                                                                 absl::Seconds(2)}));
        const std::string stream_key = LiveFeed::StreamKey(filter.scope.tenant_id());
        const std::string presence_key = LiveFeed::PresenceKey(filter.scope.tenant_id());
        auto announce = [&]() -> absl::Status {
          return redis
              ->Command({"SET", presence_key, "1", "PX",
                         absl::StrCat(absl::ToInt64Milliseconds(LiveFeed::kPresenceTtl))})
              .status();
        };
        RETURN_IF_ERROR(announce());
        absl::Time announced = absl::Now();
        // Start after whatever the stream holds now.
        std::string last_id = "0-0";
        ASSIGN_OR_RETURN(RedisReply newest, redis->Command({"XREVRANGE", stream_key, "+", "-", "COUNT", "1"}));
        if (newest.type == RedisReply::Type::kArray && !newest.elements.empty() &&
            !newest.elements[0].elements.empty()) {
          last_id = newest.elements[0].elements[0].text;
        }
        while (!context->IsCancelled()) {
          // A revoked key, suspended tenant or disabled device ends the stream (streams.h); so does its age.
          RETURN_IF_ERROR(open.Check());
          if (absl::Now() - announced > LiveFeed::kPresenceTtl / 3) {
            RETURN_IF_ERROR(announce());
            announced = absl::Now();
          }
          ASSIGN_OR_RETURN(RedisReply reply,
                           redis->Command({"XREAD", "COUNT", absl::StrCat(kSubscribeReadCount), "BLOCK",
                                           absl::StrCat(kSubscribeBlockMs), "STREAMS", stream_key, last_id}));
          if (reply.type != RedisReply::Type::kArray) continue;  // timed out: nothing new
          // The batches of this read, filtered together (an app's grant is checked once for all of them).
          std::vector<absl::string_view> blocks;
          for (const RedisReply& stream : reply.elements) {
            if (stream.elements.size() != 2) continue;
            for (const RedisReply& entry : stream.elements[1].elements) {
              if (entry.elements.size() != 2) continue;
              last_id = entry.elements[0].text;
              const RedisReply& fields = entry.elements[1];
              for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
                if (fields.elements[i].text == "b") blocks.push_back(fields.elements[i + 1].text);
              }
            }
          }
          if (blocks.empty()) continue;
          for (std::vector<pb::DataPoint>& points : manager_.FilterBlocks(filter, blocks)) {
            if (points.empty()) continue;
            pb::SubscribeResponse response;
            for (pb::DataPoint& point : points) *response.add_points() = std::move(point);
            RETURN_IF_ERROR(open.Check());  // nothing is delivered once the credential is gone
            if (!writer->Write(response)) return absl::OkStatus();  // the client went away
          }
        }
        return absl::OkStatus();
      });
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
  auto& service =
      host.Own(std::make_unique<TelemetryServiceImpl>(host.calls(), host.parser(), manager, config.redis_url));
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
