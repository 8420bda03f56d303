#include "telemetry/live_subscription.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/log.h"

namespace parkbase::telemetry {
namespace {

// A client refused because this server's executor is saturated retries after this.
constexpr absl::Duration kBusyRetryAfter = absl::Seconds(1);

}  // namespace

LiveSubscription::LiveSubscription(const Parts& parts, grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request)
    : parts_(parts), context_(context) {
  // Shares the call's slices; parsed later, on the executor.
  if (request != nullptr) request_bytes_ = *request;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* LiveSubscription::Start(const Parts& parts,
                                                                    grpc::CallbackServerContext* context,
                                                                    const grpc::ByteBuffer* request) {
  auto subscription = std::make_shared<LiveSubscription>(parts, context, request);
  subscription->self_ = subscription;
  LiveSubscription* reactor = subscription.get();
  if (!parts.executor.Submit([subscription] { subscription->Open(); })) {
    // Refused without blocking: the reactor's operations wait in gRPC's backlog until it is bound.
    {
      absl::MutexLock lock(&reactor->mu_);
      reactor->ending_ = true;
      reactor->finish_sent_ = true;
    }
    reactor->Finish(parts.calls.Refuse(
        context, parts.method,
        QuotaError("server", "callback_executor_threads",
                   "this server has too much blocking work queued to open a subscription now; retry",
                   kBusyRetryAfter)));
  }
  return reactor;
}

void LiveSubscription::Open() {
  pb::SubscribeRequest request;
  absl::StatusOr<ParseBudget::Reservation> held =
      parts_.parser.Parse(context_, request_bytes_, &request, RequestParser::kUnaryWait);
  grpc::Status refused;
  bool refused_early = false;
  absl::Status status;
  if (!held.ok()) {
    refused = parts_.calls.Refuse(context_, parts_.method, held.status());
    refused_early = true;
  } else {
    try {
      absl::StatusOr<CallRunner::OpenedStream> opened =
          parts_.calls.OpenStream(context_, parts_.method, request, /*holds_thread=*/false, &call_);
      if (!opened.ok()) {
        status = opened.status();
      } else {
        stream_ = std::move(opened->stream);
        absl::StatusOr<SubscriptionFilter> filter = parts_.manager.AuthorizeSubscription(opened->caller, request);
        if (!filter.ok()) {
          status = filter.status();
        } else {
          filter_ = *std::move(filter);
          status = parts_.hub.Join(shared_from_this());
        }
      }
    } catch (const std::exception& error) {
      status = absl::InternalError(error.what());
    } catch (...) {
      status = absl::InternalError("unknown exception");
    }
    opened_ = true;  // call_ names the call from here on: its end is logged through FinishStream
    if (!status.ok()) {
      refused = parts_.calls.FinishStream(call_, status);
      refused_early = true;
    }
  }
  if (refused_early) {
    {
      absl::MutexLock lock(&mu_);
      ending_ = true;
      finish_sent_ = true;
      queue_.clear();
    }
    Finish(refused);
    return;
  }
  bool cancelled = false;
  {
    absl::MutexLock lock(&mu_);
    cancelled = ending_;
  }
  if (cancelled) {
    Continue();
    return;
  }
  // The subscription is live: the client can tell from the initial metadata, before any point arrives.
  context_->AddInitialMetadata(kStreamLiveMetadata, "1");
  StartSendInitialMetadata();
}

void LiveSubscription::OnSendInitialMetadataDone(bool ok) {
  if (!ok) End(absl::CancelledError("the client went away"));
  Continue();
}

void LiveSubscription::OnWriteDone(bool ok) {
  absl::Time written = absl::InfiniteFuture();
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
    if (!queue_.empty()) {
      queued_bytes_ -= queue_.front().size;
      written = queue_.front().queued_at;
      queue_.pop_front();
    }
  }
  if (ok && written != absl::InfiniteFuture()) parts_.hub.ObserveWrite(absl::Now() - written);
  if (!ok) End(absl::CancelledError("the client went away"));
  Continue();
}

void LiveSubscription::Continue() {
  const grpc::ByteBuffer* next = nullptr;
  bool finish = false;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (ending_) {
      finish = true;
      finish_sent_ = true;
      status = end_status_;
      queue_.clear();
      queued_bytes_ = 0;
    } else if (!queue_.empty()) {
      in_flight_ = true;
      next = &queue_.front().bytes;
    } else {
      turn_taken_ = false;
    }
  }
  if (finish) {
    Finish(opened_ ? parts_.calls.FinishStream(call_, status) : ToGrpcStatus(status));
  } else if (next != nullptr) {
    StartWrite(next);
  }
}

bool LiveSubscription::EndLocked(const absl::Status& status) {
  if (ending_) return false;
  ending_ = true;
  end_status_ = status;
  ended_at_ = absl::Now();
  // What waits is dropped with the subscription; a write in flight keeps its message until it completes.
  while (queue_.size() > (in_flight_ ? 1u : 0u)) {
    queued_bytes_ -= queue_.back().size;
    queue_.pop_back();
  }
  if (turn_taken_) return false;  // the holder of the turn finishes when its operation completes
  turn_taken_ = true;
  finish_sent_ = true;
  return true;
}

void LiveSubscription::End(const absl::Status& status) {
  bool finish = false;
  {
    absl::MutexLock lock(&mu_);
    finish = EndLocked(status);
  }
  if (finish) Finish(opened_ ? parts_.calls.FinishStream(call_, status) : ToGrpcStatus(status));
}

void LiveSubscription::Fail(const absl::Status& status) { End(status); }

void LiveSubscription::OnCancel() { End(absl::CancelledError("the client cancelled the subscription")); }

bool LiveSubscription::Deliver(const LiveResponse& response) {
  const int64_t bytes = response.size;
  const grpc::ByteBuffer* start = nullptr;
  bool finish = false;
  absl::Status why;
  {
    absl::MutexLock lock(&mu_);
    if (ending_) return !finish_sent_;
    // Nothing is delivered once the credential is gone (streams.h).
    if (absl::Status allowed = stream_->Check(); !allowed.ok()) {
      why = allowed;
      finish = EndLocked(why);
    } else if (static_cast<int64_t>(queue_.size()) >= kMaxQueuedResponses ||
               (!queue_.empty() && queued_bytes_ + bytes > kMaxQueuedBytes)) {
      why = QuotaError(absl::StrCat("tenants/", filter_.scope.tenant_id()), "subscriber_queue",
                       absl::StrCat("the subscriber fell behind the live feed: ", queue_.size(), " responses (",
                                    queued_bytes_, " bytes) waited for it, the most a subscriber may have waiting is ",
                                    kMaxQueuedResponses, " (", kMaxQueuedBytes,
                                    " bytes); the subscription ends rather than skip points: subscribe again and read "
                                    "what was missed with ReadRange"),
                       absl::Seconds(1));
      finish = EndLocked(why);
      parts_.hub.CountFellBehind();
    } else {
      // A reference to the shared slices, not a copy of the bytes.
      queue_.push_back(Queued{response.bytes, bytes, absl::Now()});
      queued_bytes_ += bytes;
      if (!turn_taken_) {
        turn_taken_ = true;
        in_flight_ = true;
        start = &queue_.front().bytes;
      }
    }
  }
  if (finish) Finish(parts_.calls.FinishStream(call_, why));
  if (start != nullptr) StartWrite(start);
  return true;
}

bool LiveSubscription::Poll() {
  bool cancel = false;
  bool keep = true;
  bool finish = false;
  absl::Status why;
  {
    absl::MutexLock lock(&mu_);
    if (ending_) {
      keep = !finish_sent_;
      cancel = !finish_sent_ && absl::Now() - ended_at_ > kFinishGrace;
    } else if (absl::Status allowed = stream_->Check(); !allowed.ok()) {
      // A revoked key, a suspended tenant, a disabled device or the stream's age (streams.h).
      why = allowed;
      finish = EndLocked(why);
      keep = !finish;
    }
  }
  if (finish) Finish(parts_.calls.FinishStream(call_, why));
  if (cancel) {
    // The client takes nothing (a write has waited on flow control since the end): cancel the call so that the
    // write fails and the Finish goes out.
    absl::MutexLock lock(&cancel_mu_);
    if (!done_ && !cancel_sent_) {
      cancel_sent_ = true;
      context_->TryCancel();
    }
  }
  return keep;
}

void LiveSubscription::OnDone() {
  {
    absl::MutexLock lock(&cancel_mu_);
    done_ = true;
  }
  std::unique_ptr<StreamRegistry::Stream> stream;
  {
    absl::MutexLock lock(&mu_);
    stream = std::move(stream_);
  }
  stream.reset();  // unregistered while the context is still alive (the watchdog may cancel through it)
  std::shared_ptr<LiveSubscription> self = std::move(self_);
  // `self` may hold the last reference: this object goes when it does, unless the hub still holds it.
}

}  // namespace parkbase::telemetry
