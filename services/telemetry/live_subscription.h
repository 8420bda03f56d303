// Subscribe served through gRPC's callback API: a call holds no thread while it waits for data. The reactor takes
// the request's wire bytes; everything that blocks (parsing under the parse budget, authentication, the stream
// limits, AuthorizeSubscription, joining the tenant's live reader) runs on the server's BlockingExecutor, and the
// live hub's reader thread delivers responses, which this object queues and writes one at a time. Responses arrive
// serialised (live_hub.h: one buffer shared by the subscribers that receive the same points), so the call's
// messages are grpc::ByteBuffers and a write only takes a reference to the shared bytes.
//
// Slow subscribers: at most kMaxQueuedResponses responses (kMaxQueuedBytes) wait for a client. One that falls
// further behind is ended with RESOURCE_EXHAUSTED saying so, and what was queued for it is dropped with it: a
// subscription either delivers every point of the tenant's feed that its filter lets through, in order, or ends
// with a status — never a silent gap. If its client does not even take the final status within kFinishGrace (it
// stopped reading: flow control holds the last write), the call is cancelled.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/call.h"
#include "common/executor.h"
#include "common/raw_requests.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "parkbase/telemetry/v1/telemetry.pb.h"
#include "telemetry/live_hub.h"
#include "telemetry/telemetry_logic.h"

namespace parkbase::telemetry {

class LiveSubscription final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                               public LiveSubscriber,
                               public std::enable_shared_from_this<LiveSubscription> {
 public:
  // Responses waiting for one client: ~25 s of a busy dashboard's feed (a response per committed batch of the
  // devices it follows, a few a second), far more than a client that keeps reading ever has waiting; and the
  // bytes bound keeps 10,000 slow subscribers under ~2.5 GiB in the worst case.
  static constexpr int64_t kMaxQueuedResponses = 128;
  static constexpr int64_t kMaxQueuedBytes = int64_t{256} << 10;
  // How long an ended subscription's client may take to receive its status before the call is cancelled.
  static constexpr absl::Duration kFinishGrace = absl::Seconds(2);

  struct Parts {
    CallRunner& calls;
    RequestParser& parser;
    TelemetryManager& manager;
    LiveHub& hub;
    BlockingExecutor& executor;
    const google::protobuf::MethodDescriptor& method;
  };

  // The handler of the callback method: the reactor for one call (gRPC owns it until OnDone).
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* Start(const Parts& parts, grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request);

  // LiveSubscriber (called on the hub's reader thread).
  const SubscriptionFilter& filter() const override { return filter_; }
  bool Deliver(const LiveResponse& response) override;
  bool Poll() override;
  void Fail(const absl::Status& status) override;

  // grpc::ServerWriteReactor (called on gRPC's callback threads; none of them blocks).
  void OnSendInitialMetadataDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  LiveSubscription(const Parts& parts, grpc::CallbackServerContext* context, const grpc::ByteBuffer* request);

 private:
  // On the executor: parse, authenticate, admit, authorize, join the hub, then tell the client it is live.
  void Open();
  // Ends the call with `status` (the first caller wins); Finish is sent by whoever holds the write turn.
  void End(const absl::Status& status);
  // End's bookkeeping; true when the caller took the turn and must send the Finish (outside mu_).
  bool EndLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With the write turn held: the next write, the Finish, or giving the turn back.
  void Continue();

  const Parts parts_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer request_bytes_;
  CallRunner::StreamCall call_;
  bool opened_ = false;  // the stream was admitted (call_ names it): its end is logged through FinishStream
  SubscriptionFilter filter_;
  // Set by Open before the subscription joins the hub; released in OnDone, before gRPC frees the context the
  // stream registry's watchdog may cancel through.
  std::unique_ptr<StreamRegistry::Stream> stream_;
  // Keeps this object alive while gRPC may call it; the hub and executor hold their own references.
  std::shared_ptr<LiveSubscription> self_;

  absl::Mutex mu_;
  struct Queued {
    grpc::ByteBuffer bytes;
    int64_t size = 0;
    absl::Time queued_at;
  };
  // Responses waiting (the front one is being written while in_flight_).
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // The write turn: whoever sets it issues the next operation on the call (open, initial metadata, a write, the
  // Finish), so operations never overlap and nothing is issued after Finish.
  bool turn_taken_ ABSL_GUARDED_BY(mu_) = true;  // Open holds it first
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
  absl::Time ended_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool finish_sent_ ABSL_GUARDED_BY(mu_) = false;
  // Held while the call is cancelled from outside gRPC's callbacks; OnDone takes it, so the context is alive then.
  absl::Mutex cancel_mu_ ABSL_ACQUIRED_AFTER(mu_);
  bool done_ ABSL_GUARDED_BY(cancel_mu_) = false;
  bool cancel_sent_ ABSL_GUARDED_BY(cancel_mu_) = false;
};

}  // namespace parkbase::telemetry
