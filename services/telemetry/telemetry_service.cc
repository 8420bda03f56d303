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

namespace parkbase::telemetry {
namespace {

// How long one XREAD waits for new entries: also how soon a cancelled subscription notices.
constexpr int kSubscribeBlockMs = 500;
// Entries read at a time from the live stream.
constexpr int kSubscribeReadCount = 100;

// A whole-batch refusal as the google.rpc.Status a WriteStream response carries.
google::rpc::Status RpcStatus(const absl::Status& status) {
  const grpc::Status wire = ToGrpcStatus(status);
  google::rpc::Status rpc;
  if (!wire.error_details().empty() && rpc.ParseFromString(wire.error_details())) return rpc;
  rpc.set_code(wire.error_code());
  rpc.set_message(wire.error_message());
  return rpc;
}

// The stages of one WriteStream: the reading thread reads (gRPC parses the message), kPreparers threads prepare
// (validate, charge the quota, encode) and one committer commits and answers in the order the batches came. At most
// kInFlight batches are between reading and answering, so a fast client cannot make the server hold many batches.
class StreamPipeline {
 public:
  struct Result {
    std::string batch_id;
    absl::StatusOr<TelemetryManager::PreparedBatch> prepared;
  };
  // Parsing, preparing and committing each take a core's share; two preparers keep both cores of a small machine
  // busy while the reader parses and the committer waits for fsync.
  static constexpr int kPreparers = 2;
  static constexpr int64_t kInFlight = 4;

  // A request object to read into: recycled, so their repeated fields keep their capacity.
  std::unique_ptr<pb::WriteRequest> Blank() {
    absl::MutexLock lock(&mu_);
    if (free_.empty()) return std::make_unique<pb::WriteRequest>();
    std::unique_ptr<pb::WriteRequest> request = std::move(free_.back());
    free_.pop_back();
    return request;
  }
  // Waits for room, then queues the request for a preparer. False when the client is gone.
  bool Submit(std::unique_ptr<pb::WriteRequest> request) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &StreamPipeline::HasRoom));
    if (client_gone_) return false;
    to_prepare_.emplace_back(submitted_++, std::move(request));
    return true;
  }
  // For preparers: the next request, or nullopt when there will be none.
  std::optional<std::pair<int64_t, std::unique_ptr<pb::WriteRequest>>> TakeToPrepare() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &StreamPipeline::HasWorkToPrepare));
    if (client_gone_ || to_prepare_.empty()) return std::nullopt;
    auto item = std::move(to_prepare_.front());
    to_prepare_.pop_front();
    return item;
  }
  void Prepared(int64_t sequence, Result result, std::unique_ptr<pb::WriteRequest> request) {
    absl::MutexLock lock(&mu_);
    first_prepared_ = true;
    ready_.emplace(sequence, std::move(result));
    request->Clear();
    free_.push_back(std::move(request));
  }
  // For the committer: the next batch in order, or nullopt once the reader closed and every batch was taken.
  std::optional<Result> NextInOrder() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &StreamPipeline::HasNextOrDone));
    auto found = ready_.find(next_);
    if (client_gone_ || found == ready_.end()) return std::nullopt;
    Result result = std::move(found->second);
    ready_.erase(found);
    ++next_;
    return result;
  }
  // The committer answered one batch: room for another.
  void Answered() {
    absl::MutexLock lock(&mu_);
    ++answered_;
  }
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  void ClientGone() {
    absl::MutexLock lock(&mu_);
    client_gone_ = true;
  }

 private:
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return client_gone_ || submitted_ - answered_ < kInFlight;
  }
  // The first batch of a stream warms the device caches alone: preparing the second beside it would repeat the
  // same cold look-ups.
  bool HasWorkToPrepare() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (client_gone_) return true;
    if (!to_prepare_.empty()) return to_prepare_.front().first == 0 || first_prepared_;
    return closed_;
  }
  bool HasNextOrDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return client_gone_ || ready_.contains(next_) || (closed_ && next_ == submitted_);
  }

  absl::Mutex mu_;
  std::deque<std::pair<int64_t, std::unique_ptr<pb::WriteRequest>>> to_prepare_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, Result> ready_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<pb::WriteRequest>> free_ ABSL_GUARDED_BY(mu_);
  int64_t submitted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t answered_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool client_gone_ ABSL_GUARDED_BY(mu_) = false;
  bool first_prepared_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

TelemetryServiceImpl::TelemetryServiceImpl(CallRunner& calls, TelemetryManager& manager, std::string redis_url,
                                           int max_subscriptions)
    : calls_(calls), manager_(manager), redis_url_(std::move(redis_url)), max_subscriptions_(max_subscriptions) {}

grpc::Status TelemetryServiceImpl::Write(grpc::ServerContext* context, const pb::WriteRequest* request,
                                         pb::WriteResponse* response) {
  return calls_.Run(context, "Write", [&](const Principal& caller) -> absl::Status {
    ASSIGN_OR_RETURN(*response, manager_.Write(caller, *request, /*streamed=*/false));
    return absl::OkStatus();
  });
}

grpc::Status TelemetryServiceImpl::WriteStream(grpc::ServerContext* context,
                                               grpc::ServerReaderWriter<pb::WriteResponse, pb::WriteRequest>* stream) {
  return calls_.Run(context, "WriteStream", [&](const Principal& caller) -> absl::Status {
    StreamPipeline pipeline;
    std::vector<std::thread> preparers;
    for (int i = 0; i < StreamPipeline::kPreparers; ++i) {
      preparers.emplace_back([&] {
        while (auto item = pipeline.TakeToPrepare()) {
          auto& [sequence, request] = *item;
          StreamPipeline::Result result{request->batch_id(),
                                        manager_.PrepareWrite(caller, *request, /*streamed=*/true)};
          pipeline.Prepared(sequence, std::move(result), std::move(request));
        }
      });
    }
    std::thread committer([&] {
      while (std::optional<StreamPipeline::Result> item = pipeline.NextInOrder()) {
        pb::WriteResponse response;
        absl::StatusOr<pb::WriteResponse> answer =
            item->prepared.ok() ? manager_.CommitWrite(*std::move(item->prepared)) : item->prepared.status();
        if (answer.ok()) {
          response = *std::move(answer);
        } else {
          // The batch is refused whole; the stream goes on so the client can tell which batches to send again.
          response.set_batch_id(item->batch_id);
          *response.mutable_error() = RpcStatus(answer.status());
        }
        if (!stream->Write(response)) {
          pipeline.ClientGone();
          return;
        }
        pipeline.Answered();
      }
    });
    std::string parent;
    while (true) {
      std::unique_ptr<pb::WriteRequest> request = pipeline.Blank();
      if (!stream->Read(request.get())) break;
      if (parent.empty()) parent = request->parent();
      if (request->parent().empty()) request->set_parent(parent);
      if (!pipeline.Submit(std::move(request))) break;
    }
    pipeline.Close();
    for (std::thread& preparer : preparers) preparer.join();
    committer.join();
    return absl::OkStatus();
  });
}

grpc::Status TelemetryServiceImpl::GetLatest(grpc::ServerContext* context, const pb::GetLatestRequest* request,
                                             pb::GetLatestResponse* response) {
  return calls_.Serve(context, "GetLatest", manager_, &TelemetryManager::GetLatest, request, response);
}

grpc::Status TelemetryServiceImpl::ReadRange(grpc::ServerContext* context, const pb::ReadRangeRequest* request,
                                             pb::ReadRangeResponse* response) {
  return calls_.Serve(context, "ReadRange", manager_, &TelemetryManager::ReadRange, request, response);
}

grpc::Status TelemetryServiceImpl::Aggregate(grpc::ServerContext* context, const pb::AggregateRequest* request,
                                             pb::AggregateResponse* response) {
  return calls_.Serve(context, "Aggregate", manager_, &TelemetryManager::Aggregate, request, response);
}

grpc::Status TelemetryServiceImpl::GetRetentionPolicy(grpc::ServerContext* context,
                                                      const pb::GetRetentionPolicyRequest* request,
                                                      pb::RetentionPolicy* response) {
  return calls_.Serve(context, "GetRetentionPolicy", manager_, &TelemetryManager::GetRetentionPolicy, request,
                      response);
}

grpc::Status TelemetryServiceImpl::UpdateRetentionPolicy(grpc::ServerContext* context,
                                                         const pb::UpdateRetentionPolicyRequest* request,
                                                         pb::RetentionPolicy* response) {
  return calls_.Serve(context, "UpdateRetentionPolicy", manager_, &TelemetryManager::UpdateRetentionPolicy, request,
                      response);
}

grpc::Status TelemetryServiceImpl::Subscribe(grpc::ServerContext* context, const pb::SubscribeRequest* request,
                                             grpc::ServerWriter<pb::SubscribeResponse>* writer) {
  return calls_.Run(context, "Subscribe", [&](const Principal& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const SubscriptionFilter filter, manager_.AuthorizeSubscription(caller, *request));
    if (subscriptions_.fetch_add(1) >= max_subscriptions_) {
      subscriptions_.fetch_sub(1);
      return QuotaError("parkbase.telemetry.v1.TelemetryService/Subscribe", "max_subscriptions_per_replica",
                        absl::StrCat("this replica serves at most ", max_subscriptions_, " subscriptions at once"),
                        absl::Seconds(5));
    }
    struct Release {
      std::atomic<int>& count;
      ~Release() { count.fetch_sub(1); }
    } release{subscriptions_};

    // A connection of its own: XREAD blocks it.
    ASSIGN_OR_RETURN(std::unique_ptr<RedisClient> redis,
                     RedisClient::Create({.url = redis_url_, .command_timeout = absl::Milliseconds(kSubscribeBlockMs) +
                                                                                absl::Seconds(2)}));
    const std::string stream_key = LiveFeed::StreamKey(filter.tenant_id);
    const std::string presence_key = LiveFeed::PresenceKey(filter.tenant_id);
    auto announce = [&]() -> absl::Status {
      return redis
          ->Command({"SET", presence_key, "1", "PX", absl::StrCat(absl::ToInt64Milliseconds(LiveFeed::kPresenceTtl))})
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
      if (absl::Now() - announced > LiveFeed::kPresenceTtl / 3) {
        RETURN_IF_ERROR(announce());
        announced = absl::Now();
      }
      ASSIGN_OR_RETURN(RedisReply reply,
                       redis->Command({"XREAD", "COUNT", absl::StrCat(kSubscribeReadCount), "BLOCK",
                                       absl::StrCat(kSubscribeBlockMs), "STREAMS", stream_key, last_id}));
      if (reply.type != RedisReply::Type::kArray) continue;  // timed out: nothing new
      for (const RedisReply& stream : reply.elements) {
        if (stream.elements.size() != 2) continue;
        for (const RedisReply& entry : stream.elements[1].elements) {
          if (entry.elements.size() != 2) continue;
          last_id = entry.elements[0].text;
          const RedisReply& fields = entry.elements[1];
          for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
            if (fields.elements[i].text != "b") continue;
            std::vector<pb::DataPoint> points = TelemetryManager::FilterBlock(filter, fields.elements[i + 1].text);
            if (points.empty()) continue;
            pb::SubscribeResponse response;
            for (pb::DataPoint& point : points) *response.add_points() = std::move(point);
            if (!writer->Write(response)) return absl::OkStatus();  // the client went away
          }
        }
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
  auto& pool = host.Own(std::make_unique<LibpqPool>(LibpqPool::Options{
      .url = config.database_url, .size = config.db_pool_size, .statement_timeout = config.statement_timeout}));
  auto& store = host.Own(std::make_unique<PgTelemetryStore>(pool));
  auto& device_store = host.Own(std::make_unique<device::PgDeviceStore>(host.db()));
  // Cache lifetimes run on real time, whatever clock the service's rules use.
  auto& cache_clock = host.Own(std::make_unique<SystemClock>());
  auto& resolver = host.Own(std::make_unique<device::DeviceSchemaResolver>(device_store, host.redis(), cache_clock));
  auto& directory = host.Own(std::make_unique<RegistryDeviceDirectory>(resolver, store));
  auto& limiter = host.Own(std::make_unique<IngestRateLimiter>(*host.redis()));
  auto& latest = host.Own(std::make_unique<LatestValues>(*host.redis()));
  auto& live = host.Own(std::make_unique<LiveFeed>(*host.redis()));
  auto& manager = host.Own(std::make_unique<TelemetryManager>(TelemetryManager::Parts{
      .store = store,
      .directory = directory,
      .limiter = limiter,
      .latest = latest,
      .live = live,
      .page_tokens = host.page_tokens(),
      .clock = host.clock(),
      .registry = host.registry()}));
  auto& service = host.Own(std::make_unique<TelemetryServiceImpl>(host.calls(), manager, config.redis_url,
                                                                  std::max(1, config.server_threads / 4)));
  host.Own(std::make_unique<MaintenanceRunner>(MakeTelemetryMaintenance(host.db(), host.redis(), host.clock()),
                                               host.clock(), config.telemetry_compaction_interval,
                                               config.telemetry_retention_interval));
  host.AddService(&service, pb::TelemetryService::service_full_name(), {kPostgresDependency, kRedisDependency});
  return absl::OkStatus();
}

}  // namespace parkbase::telemetry
