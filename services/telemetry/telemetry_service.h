// The gRPC face of the telemetry service: each method authenticates through CallRunner and calls
// TelemetryManager; WriteStream is a callback-API reactor here driving its pipeline (write_stream.h), Subscribe one
// fed by the live hub (live_subscription.h). Also the background runner of compaction and retention.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/call.h"
#include "common/executor.h"
#include "common/raw_requests.h"
#include "common/server.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "telemetry/ingest_backlog.h"
#include "telemetry/live_hub.h"
#include "telemetry/maintenance.h"
#include "telemetry/telemetry_logic.h"

namespace parkbase::telemetry {

class TelemetryServiceImpl final : public OwnParsing<pb::TelemetryService::Service> {
 public:
  // The streams' blocking work runs on `executor` (WriteStream and Subscribe are callback-API reactors that parse
  // their own requests and hold no thread); Subscribe's points come from `hub`.
  TelemetryServiceImpl(CallRunner& calls, RequestParser& parser, TelemetryManager& manager, LiveHub& hub,
                       BlockingExecutor& executor);

  grpc::Status Write(grpc::ServerContext* context, const pb::WriteRequest* request,
                     pb::WriteResponse* response) override;
  // Answers with the encoded GetLatestResponse the manager builds (TelemetryManager::GetLatestEncoded).
  grpc::Status ServeGetLatest(grpc::ServerContext* context, const pb::GetLatestRequest* request,
                              grpc::ByteBuffer* response);
  grpc::Status ReadRange(grpc::ServerContext* context, const pb::ReadRangeRequest* request,
                         pb::ReadRangeResponse* response) override;
  grpc::Status Aggregate(grpc::ServerContext* context, const pb::AggregateRequest* request,
                         pb::AggregateResponse* response) override;
  grpc::Status GetRetentionPolicy(grpc::ServerContext* context, const pb::GetRetentionPolicyRequest* request,
                                  pb::RetentionPolicy* response) override;
  grpc::Status UpdateRetentionPolicy(grpc::ServerContext* context, const pb::UpdateRetentionPolicyRequest* request,
                                     pb::RetentionPolicy* response) override;

 private:
  CallRunner& calls_;
  TelemetryManager& manager_;
};

// Runs compaction and retention on their intervals until destroyed.
//
// Compaction does not wait for its interval while there is a pass to fold: a round that folded rows is followed by
// another at once (a round leaves each tenant's log under a pass, and writers may have added more meanwhile), and
// with `backlog` a tenant is folded as soon as this replica has committed a pass's worth to its log
// (IngestBacklog::SetPassHook), so a steady load is folded as it arrives. The interval still paces the rest: logs
// that settle with less than a pass, other replicas' writes, rollups of windows that settle with time.
class MaintenanceRunner {
 public:
  MaintenanceRunner(std::unique_ptr<TelemetryMaintenance> maintenance, Clock& clock, absl::Duration compaction,
                    absl::Duration retention, IngestBacklog* backlog = nullptr);
  ~MaintenanceRunner();

  // Folds the tenant's log now (TelemetryMaintenance::FoldTenant) rather than at the next interval; nothing when
  // compaction is off. Returns at once: the runner's thread does the work.
  void Nudge(const std::string& tenant_id);

 private:
  void Loop();
  bool Woken() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !nudged_.empty(); }

  std::unique_ptr<TelemetryMaintenance> maintenance_;
  Clock& clock_;
  const absl::Duration compaction_;
  const absl::Duration retention_;
  IngestBacklog* const backlog_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<std::string> nudged_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Adds the telemetry service to a server (its own binary or `parkbase serve`). Needs PostgreSQL and Redis.
absl::Status RegisterTelemetryService(ServiceHost& host);

}  // namespace parkbase::telemetry
