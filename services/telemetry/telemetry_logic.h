// The telemetry service's rules: who may write and read what, batch validation and storage, quotas, latest
// values, range reads, aggregation and retention policies. Plain C++: the gRPC handlers only call in here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/page_token.h"
#include "parkbase/telemetry/v1/telemetry.pb.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "telemetry/data_scope.h"
#include "telemetry/ingest.h"
#include "telemetry/ingest_backlog.h"
#include "telemetry/redis_state.h"
#include "telemetry/telemetry_store.h"

namespace parkbase::telemetry {

// What a subscription is allowed to see.
struct SubscriptionFilter {
  // The tenant and, for an app, its grant: checked again at every delivery.
  DataScope scope;
  std::vector<std::string> device_ids;  // empty: all (within `scope`)
  std::vector<std::string> metrics;     // empty: all (within `scope`)
};

class TelemetryManager {
 public:
  struct Parts {
    TelemetryStore& store;
    DeviceDirectory& directory;
    IngestRateLimiter& limiter;
    LatestValues& latest;
    LiveFeed& live;
    PageTokens& page_tokens;
    Clock& clock;
    prometheus::Registry& registry;
    // What one read may fetch and decode (ServerConfig::max_scan_bytes, max_scan_points).
    int64_t max_scan_bytes = int64_t{256} << 20;
    int64_t max_scan_points = 50'000'000;
    // Back-pressure on the ingest log's backlog (ingest_backlog.h); null: none.
    IngestBacklog* backlog = nullptr;
    // Whether the ingest counters carry the tenant (ServerConfig::metrics_tenant_label).
    bool tenant_metric_label = true;
  };
  explicit TelemetryManager(Parts parts);

  // A validated, quota-checked and encoded batch, ready to commit. Nothing is stored yet.
  struct PreparedBatch {
    TenantScope scope;
    BatchIdentity identity;  // batch_id as sent; empty when the server assigned one
    ValidatedBatch batch;
    std::string block;
    int64_t raw_bytes = 0;
  };

  // `streamed`: the batch came through WriteStream (batch ids are then required). A batch id the writer used
  // before is answered with the first answer (`duplicate`) if the points are the same, and ALREADY_EXISTS if not.
  absl::StatusOr<pb::WriteResponse> Write(const Principal& caller, const pb::WriteRequest& request, bool streamed);
  // Write in two steps, so a stream can prepare one batch while the previous one commits.
  absl::StatusOr<PreparedBatch> PrepareWrite(const Principal& caller, const pb::WriteRequest& request,
                                             bool streamed);
  absl::StatusOr<pb::WriteResponse> CommitWrite(PreparedBatch prepared);
  absl::StatusOr<pb::GetLatestResponse> GetLatest(const Principal& caller, const pb::GetLatestRequest& request);
  // GetLatest's answer as the encoded GetLatestResponse, which the service sends as it is: the stored values stay
  // serialized and each DataPoint is appended as bytes (a repeated field is its elements' encodings one after
  // another), instead of 1,000 values becoming 4,000 messages and strings to build, encode and free.
  absl::StatusOr<std::string> GetLatestEncoded(const Principal& caller, const pb::GetLatestRequest& request);
  absl::StatusOr<pb::ReadRangeResponse> ReadRange(const Principal& caller, const pb::ReadRangeRequest& request);
  absl::StatusOr<pb::AggregateResponse> Aggregate(const Principal& caller, const pb::AggregateRequest& request);
  absl::StatusOr<pb::RetentionPolicy> GetRetentionPolicy(const Principal& caller,
                                                         const pb::GetRetentionPolicyRequest& request);
  absl::StatusOr<pb::RetentionPolicy> UpdateRetentionPolicy(const Principal& caller,
                                                            const pb::UpdateRetentionPolicyRequest& request);
  absl::StatusOr<SubscriptionFilter> AuthorizeSubscription(const Principal& caller,
                                                           const pb::SubscribeRequest& request);

  // The points of one read of the live feed (`blocks`, each a published batch) that `filter` lets through, one
  // list per block. For an app, each device is checked against its grant as the device is labelled now (every
  // change committed before this call; one Redis GET for all the blocks).
  std::vector<std::vector<pb::DataPoint>> FilterBlocks(const SubscriptionFilter& filter,
                                                       const std::vector<absl::string_view>& blocks);

  // FilterBlocks in steps, so that the live hub (live_hub.h) decodes a read of the tenant's feed once for all of
  // the tenant's subscribers. A block that does not decode is left out (empty).
  static std::vector<std::vector<SeriesEntry>> DecodeLiveBlocks(const std::vector<absl::string_view>& blocks);
  // The devices of `decoded` as the registry knows them now (every change committed before this call; one look-up
  // for all): what an app subscriber's grant is checked against. A device that cannot be resolved is absent.
  using LiveDevices = absl::flat_hash_map<std::string, std::shared_ptr<const DeviceInfo>>;
  LiveDevices ResolveLiveDevices(const std::string& tenant_id, const std::vector<std::vector<SeriesEntry>>& decoded);
  // Where each device's series sit in a decoded read: per block, device id -> indexes of its entries. Built once
  // per read by the live hub, so that a subscriber following a few devices visits only their series instead of
  // every series of the block (100 subscribers x 100 series x 10 ids was most of a reader's CPU).
  using LiveIndex = std::vector<absl::flat_hash_map<absl::string_view, std::vector<int>>>;
  static LiveIndex IndexLiveBlocks(const std::vector<std::vector<SeriesEntry>>& decoded);
  // The points of `decoded` that `filter` lets through, one list per block, in the block's order. `devices`
  // (ResolveLiveDevices) is read only for a filter with an app's grant: a device absent from it, or outside the
  // grant, is left out. `index` (IndexLiveBlocks of `decoded`), when given, is only a shortcut to the same answer.
  static std::vector<std::vector<pb::DataPoint>> FilterDecoded(const SubscriptionFilter& filter,
                                                               const std::vector<std::vector<SeriesEntry>>& decoded,
                                                               const LiveDevices& devices,
                                                               const LiveIndex* index = nullptr);
  // FilterDecoded's choice before any point is built: per block, the indexes of the entries (series) `filter` lets
  // through, ascending. The live hub sends the subscribers whose choice is the same one shared response.
  static std::vector<std::vector<int>> SelectDecoded(const SubscriptionFilter& filter,
                                                     const std::vector<std::vector<SeriesEntry>>& decoded,
                                                     const LiveDevices& devices, const LiveIndex* index = nullptr);
  // The wire bytes of `entry`'s points as SubscribeResponse.points elements (tag, length, DataPoint each): a
  // SubscribeResponse's bytes are the concatenation of its selected entries' bytes, in the block's order, equal to
  // serialising FilterDecoded's response. Lets the live hub serialise each series once per read, whatever the
  // number of subscribers that receive it.
  static std::string SerializeLiveEntry(const SeriesEntry& entry);

 private:
  absl::StatusOr<TenantScope> Authorize(const Principal& caller, absl::string_view field, absl::string_view parent);
  // Authorize, and what of the tenant's telemetry the call may touch (an app's grant).
  absl::StatusOr<DataScope> AuthorizeData(const Principal& caller, absl::string_view field, absl::string_view parent);
  absl::StatusOr<TenantLimits> Limits(const TenantScope& scope);
  // Device references of a read request to devices; NOT_FOUND naming `field[i]` for an unknown one or one outside
  // the scope (the same answer, so an app cannot tell the two apart).
  absl::StatusOr<std::vector<std::shared_ptr<const DeviceInfo>>> ResolveDevices(
      const DataScope& scope, absl::string_view field, const google::protobuf::RepeatedPtrField<std::string>& refs);

  TelemetryStore& store_;
  DeviceDirectory& directory_;
  IngestRateLimiter& limiter_;
  LatestValues& latest_;
  LiveFeed& live_;
  PageTokens& page_tokens_;
  Clock& clock_;
  const int64_t max_scan_bytes_;
  const int64_t max_scan_points_;
  IngestBacklog* const backlog_;
  const bool tenant_metric_label_;
  prometheus::Family<prometheus::Counter>& ingested_;
  prometheus::Family<prometheus::Counter>& rejected_;
  // Bytes reads fetched from PostgreSQL, by method: what the scan budgets bound.
  prometheus::Family<prometheus::Counter>& scanned_;

  struct CachedLimits {
    TenantLimits limits;
    absl::Time loaded;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, CachedLimits> limits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parkbase::telemetry
