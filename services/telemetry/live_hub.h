// The live hub: one Redis reader per tenant per replica fans the tenant's live feed out to its subscribers in
// process. Each reader XREADs the tenant's stream (pb:live:{tenant}) on a connection and a thread of its own,
// decodes each committed block once, and hands every subscriber of that tenant the points its filter and grant let
// through. Before, every Subscribe held a Redis connection and a server thread blocked in XREAD, and decoded every
// block itself: 10,000 subscribers were 10,000 connections, threads and decodes of the same bytes.
//
// A reader only ever serves one tenant's subscribers (the hub is keyed by the tenant of the subscription's scope),
// so no subscriber can receive another tenant's points; within the tenant, SubscriptionFilter decides (devices,
// metrics, an app's grant, checked against the registry once per read for all of the tenant's app subscribers).
// A reader stops, and closes its connection, when its tenant has no subscriber left.
//
// Responses are serialised by the reader, once: each series of a read once, and each distinct choice of series of a
// block once, into a grpc::ByteBuffer whose slices every subscriber with that choice shares (a tenant's dashboards
// mostly follow the same devices). Before, every subscriber built, serialised and freed its own response of the same
// points: at 10,000 subscribers that, not the Redis reads, was the readers' CPU.
//
// Subscribers never block the reader: Deliver only queues (live_subscription.h bounds the queue and ends a
// subscriber that falls behind), so one slow client never delays the others.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "parkbase/telemetry/v1/telemetry.pb.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "telemetry/telemetry_logic.h"

namespace parkbase::telemetry {

// One SubscribeResponse of the live feed, serialised: copies share its slices.
struct LiveResponse {
  grpc::ByteBuffer bytes;
  int64_t size = 0;
};

// One subscription as the hub sees it. Implementations must not block: they are called on the reader's thread.
class LiveSubscriber {
 public:
  virtual ~LiveSubscriber() = default;
  // What the subscriber may see; its scope's tenant chooses the reader. Constant while the subscriber is joined.
  virtual const SubscriptionFilter& filter() const = 0;
  // Queues one response for the client (a copy of `response`, sharing its bytes). False once the subscriber has
  // ended: the hub forgets it.
  virtual bool Deliver(const LiveResponse& response) = 0;
  // Called at least every `Options::block` (and after every read): checks whether the subscription may go on (its
  // credential, its age). False once it has ended: the hub forgets it.
  virtual bool Poll() = 0;
  // The reader failed (Redis): the subscription ends with `status`.
  virtual void Fail(const absl::Status& status) = 0;
};

class LiveHub {
 public:
  struct Options {
    std::string redis_url;
    // How long one XREAD waits for new entries: also how often subscribers are polled, so a revoked credential
    // ends its subscriptions within this plus the stream watchdog's interval (250 ms each: well under 1 s).
    absl::Duration block = absl::Milliseconds(250);
    // Entries read at a time from a tenant's stream.
    int read_count = 100;
    // As RedisClient::Options::password_file.
    std::string redis_password_file = {};
  };

  LiveHub(Options options, TelemetryManager& manager, prometheus::Registry& registry);
  // Stops every reader (their subscribers are not told: the server has shut down their calls first).
  ~LiveHub();
  LiveHub(const LiveHub&) = delete;
  LiveHub& operator=(const LiveHub&) = delete;

  // Adds `subscriber` to its tenant's reader; with none running, starts one: a Redis connection, the presence key
  // that makes writers publish, and the stream's newest entry to read after. Blocks on Redis, so it runs on an
  // executor, never a reactor thread. UNAVAILABLE when Redis cannot be reached.
  absl::Status Join(std::shared_ptr<LiveSubscriber> subscriber);

  // Counts a subscriber ended because it fell behind (live_subscription.h).
  void CountFellBehind() { fell_behind_.Increment(); }
  // A response's time from being queued for its subscriber to its write's completion (live_subscription.h).
  void ObserveWrite(absl::Duration queued_to_written) {
    write_delay_.Observe(absl::ToDoubleSeconds(queued_to_written));
  }

  // Readers running now (one per tenant with subscribers), and the subscribers they serve.
  int readers();
  int subscribers();

 private:
  struct Reader;
  void Run(std::shared_ptr<Reader> reader);
  // Joins reader threads that have exited.
  void JoinRetired();

  const Options options_;
  TelemetryManager& manager_;
  prometheus::Gauge& readers_gauge_;
  prometheus::Gauge& subscribers_gauge_;
  prometheus::Counter& blocks_decoded_;
  prometheus::Counter& responses_queued_;
  prometheus::Counter& responses_serialized_;
  prometheus::Counter& fell_behind_;
  // Where the time from a batch's publication to its receipt goes, by stage (parkbase_telemetry_live_delay_seconds).
  prometheus::Family<prometheus::Histogram>& delay_;
  prometheus::Histogram& feed_delay_;
  prometheus::Histogram& fanout_delay_;
  prometheus::Histogram& write_delay_;
  // Serialises reader start-ups, so two first subscribers of a tenant do not start two readers.
  absl::Mutex start_mu_;
  absl::Mutex mu_ ABSL_ACQUIRED_AFTER(start_mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, std::shared_ptr<Reader>> readers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> retired_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parkbase::telemetry
