#include "telemetry/live_hub.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/redis.h"
#include "grpc/slice.h"
#include "grpcpp/support/slice.h"
#include "telemetry/redis_state.h"

namespace parkbase::telemetry {
namespace {

// A Redis command of a reader waits at most its XREAD block plus this.
constexpr absl::Duration kCommandSlack = absl::Seconds(2);

// The block entries ("b" fields) of an XREAD reply, and the id of the last entry read.
std::vector<absl::string_view> BlocksOf(const RedisReply& reply, std::string& last_id) {
  std::vector<absl::string_view> blocks;
  if (reply.type != RedisReply::Type::kArray) return blocks;  // timed out: nothing new
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
  return blocks;
}

prometheus::Histogram::BucketBoundaries DelayBuckets() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};
}

// The time an entry was added, from its id (`<unix ms>-<sequence>`, Redis's clock); InfinitePast when unreadable.
absl::Time EntryTime(absl::string_view id) {
  int64_t ms = 0;
  if (!absl::SimpleAtoi(id.substr(0, id.find('-')), &ms)) return absl::InfinitePast();
  return absl::FromUnixMillis(ms);
}

absl::Status Announce(RedisClient& redis, const std::string& tenant_id) {
  return redis
      .Command({"SET", LiveFeed::PresenceKey(tenant_id), "1", "PX",
                absl::StrCat(absl::ToInt64Milliseconds(LiveFeed::kPresenceTtl))})
      .status();
}

}  // namespace

struct LiveHub::Reader {
  std::string tenant_id;
  std::unique_ptr<RedisClient> redis;  // used by the reader's thread only, once started
  std::string last_id;
  absl::Time announced;
  // Guarded by the hub's mu_.
  std::vector<std::shared_ptr<LiveSubscriber>> subscribers;
  std::thread thread;
};

LiveHub::LiveHub(Options options, TelemetryManager& manager, prometheus::Registry& registry)
    : options_(std::move(options)),
      manager_(manager),
      readers_gauge_(prometheus::BuildGauge()
                         .Name("parkbase_telemetry_live_readers")
                         .Help("Redis readers of tenants' live feeds in this process (one per tenant with subscribers).")
                         .Register(registry)
                         .Add({})),
      subscribers_gauge_(prometheus::BuildGauge()
                             .Name("parkbase_telemetry_live_subscribers")
                             .Help("Subscriptions joined to a live reader in this process.")
                             .Register(registry)
                             .Add({})),
      blocks_decoded_(prometheus::BuildCounter()
                          .Name("parkbase_telemetry_live_blocks_decoded_total")
                          .Help("Committed blocks decoded by live readers (once per tenant, whatever its "
                                "subscribers).")
                          .Register(registry)
                          .Add({})),
      responses_queued_(prometheus::BuildCounter()
                            .Name("parkbase_telemetry_live_responses_total")
                            .Help("Subscribe responses handed to subscribers by live readers.")
                            .Register(registry)
                            .Add({})),
      responses_serialized_(prometheus::BuildCounter()
                                .Name("parkbase_telemetry_live_responses_serialized_total")
                                .Help("Subscribe responses serialised by live readers: once per block for all the "
                                      "subscribers that receive the same points.")
                                .Register(registry)
                                .Add({})),
      fell_behind_(prometheus::BuildCounter()
                       .Name("parkbase_telemetry_live_subscribers_fell_behind_total")
                       .Help("Subscriptions ended with RESOURCE_EXHAUSTED because their client fell behind the feed.")
                       .Register(registry)
                       .Add({})),
      delay_(prometheus::BuildHistogram()
                 .Name("parkbase_telemetry_live_delay_seconds")
                 .Help("Live feed delays by stage: feed (the entry's XADD, by Redis's clock, to its read by the "
                       "tenant's reader), fanout (the read to the last subscriber's response queued: decoding, "
                       "filtering, serialising), write (a response queued to its write completed: the subscriber's "
                       "queue, flow control and sending).")
                 .Register(registry)),
      feed_delay_(delay_.Add({{"stage", "feed"}}, DelayBuckets())),
      fanout_delay_(delay_.Add({{"stage", "fanout"}}, DelayBuckets())),
      write_delay_(delay_.Add({{"stage", "write"}}, DelayBuckets())) {}

LiveHub::~LiveHub() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [tenant, reader] : readers_) {
      if (reader->thread.joinable()) threads.push_back(std::move(reader->thread));
    }
    for (std::thread& thread : retired_) threads.push_back(std::move(thread));
    retired_.clear();
  }
  for (std::thread& thread : threads) thread.join();
}

int LiveHub::readers() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(readers_.size());
}

int LiveHub::subscribers() {
  absl::MutexLock lock(&mu_);
  int count = 0;
  for (const auto& [tenant, reader] : readers_) count += static_cast<int>(reader->subscribers.size());
  return count;
}

void LiveHub::JoinRetired() {
  std::vector<std::thread> retired;
  {
    absl::MutexLock lock(&mu_);
    retired.swap(retired_);
  }
  for (std::thread& thread : retired) thread.join();
}

absl::Status LiveHub::Join(std::shared_ptr<LiveSubscriber> subscriber) {
  JoinRetired();
  const std::string tenant_id = subscriber->filter().scope.tenant_id();
  absl::MutexLock start(&start_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("the server is shutting down");
    auto found = readers_.find(tenant_id);
    if (found != readers_.end()) {
      found->second->subscribers.push_back(std::move(subscriber));
      subscribers_gauge_.Increment();
      return absl::OkStatus();
    }
  }
  // The tenant's first subscriber on this replica: start its reader.
  auto reader = std::make_shared<Reader>();
  reader->tenant_id = tenant_id;
  absl::StatusOr<std::unique_ptr<RedisClient>> redis =
      RedisClient::Create({.url = options_.redis_url,
                           .command_timeout = options_.block + kCommandSlack,
                           .password_file = options_.redis_password_file});
  if (!redis.ok()) return redis.status();
  reader->redis = *std::move(redis);
  // Announce first, so that a batch committed from now on is published; then read after the newest entry.
  if (absl::Status announced = Announce(*reader->redis, tenant_id); !announced.ok()) return announced;
  reader->announced = absl::Now();
  reader->last_id = "0-0";
  absl::StatusOr<RedisReply> newest =
      reader->redis->Command({"XREVRANGE", LiveFeed::StreamKey(tenant_id), "+", "-", "COUNT", "1"});
  if (!newest.ok()) return newest.status();
  if (newest->type == RedisReply::Type::kArray && !newest->elements.empty() &&
      !newest->elements[0].elements.empty()) {
    reader->last_id = newest->elements[0].elements[0].text;
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the server is shutting down");
  reader->subscribers.push_back(std::move(subscriber));
  readers_.emplace(tenant_id, reader);
  readers_gauge_.Increment();
  subscribers_gauge_.Increment();
  reader->thread = std::thread([this, reader] { Run(reader); });
  return absl::OkStatus();
}

void LiveHub::Run(std::shared_ptr<Reader> reader) {
  const std::string stream_key = LiveFeed::StreamKey(reader->tenant_id);
  std::vector<std::shared_ptr<LiveSubscriber>> subscribers;
  auto forget = [&](const std::vector<LiveSubscriber*>& gone) ABSL_LOCKS_EXCLUDED(mu_) {
    if (gone.empty()) return;
    absl::MutexLock lock(&mu_);
    auto& list = reader->subscribers;
    const size_t before = list.size();
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const std::shared_ptr<LiveSubscriber>& subscriber) {
                                return std::find(gone.begin(), gone.end(), subscriber.get()) != gone.end();
                              }),
               list.end());
    subscribers_gauge_.Decrement(static_cast<double>(before - list.size()));
  };
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;  // the destructor joins this thread
      if (reader->subscribers.empty()) {
        // Nobody left: stop. A subscriber that joins from now on starts a new reader.
        readers_.erase(reader->tenant_id);
        readers_gauge_.Decrement();
        retired_.push_back(std::move(reader->thread));
        return;
      }
      subscribers = reader->subscribers;
    }
    std::vector<LiveSubscriber*> gone;
    for (const auto& subscriber : subscribers) {
      if (!subscriber->Poll()) gone.push_back(subscriber.get());
    }
    forget(gone);
    if (gone.size() == subscribers.size()) continue;

    absl::Status status;
    if (absl::Now() - reader->announced > LiveFeed::kPresenceTtl / 3) {
      status = Announce(*reader->redis, reader->tenant_id);
      reader->announced = absl::Now();
    }
    absl::StatusOr<RedisReply> reply;
    if (status.ok()) {
      reply = reader->redis->Command({"XREAD", "COUNT", absl::StrCat(options_.read_count), "BLOCK",
                                      absl::StrCat(absl::ToInt64Milliseconds(options_.block)), "STREAMS", stream_key,
                                      reader->last_id});
      status = reply.status();
    }
    if (!status.ok()) {
      // As when each subscription read for itself: a Redis failure ends the tenant's subscriptions with it, and
      // their clients subscribe again (the next subscriber starts a new reader, on a new connection).
      LogLine(LogLevel::kWarning, "live reader failed")
          .Str("tenant", reader->tenant_id)
          .Str("error", status.message())
          .Emit();
      gone.clear();
      for (const auto& subscriber : subscribers) {
        subscriber->Fail(status);
        gone.push_back(subscriber.get());
      }
      forget(gone);
      continue;
    }
    const std::vector<absl::string_view> blocks = BlocksOf(*reply, reader->last_id);
    if (blocks.empty()) continue;
    // The newest entry read: how long after it was published the reader had it (ms resolution, one clock).
    const absl::Time read_at = absl::Now();
    if (const absl::Time added = EntryTime(reader->last_id); added != absl::InfinitePast()) {
      feed_delay_.Observe(std::max(0.0, absl::ToDoubleSeconds(read_at - added)));
    }
    // Decoded once for all of the tenant's subscribers; the registry asked once for all its app subscribers.
    const std::vector<std::vector<SeriesEntry>> decoded = TelemetryManager::DecodeLiveBlocks(blocks);
    blocks_decoded_.Increment(static_cast<double>(blocks.size()));
    TelemetryManager::LiveDevices devices;
    const bool any_grant = std::any_of(subscribers.begin(), subscribers.end(), [](const auto& subscriber) {
      return subscriber->filter().scope.grant() != nullptr;
    });
    if (any_grant) devices = manager_.ResolveLiveDevices(reader->tenant_id, decoded);
    const TelemetryManager::LiveIndex index = TelemetryManager::IndexLiveBlocks(decoded);
    // Per block: each series' bytes (serialised when first chosen), and the response of each distinct choice.
    std::vector<std::vector<std::string>> series_bytes(decoded.size());
    std::vector<std::vector<bool>> serialized(decoded.size());
    std::vector<absl::flat_hash_map<std::vector<int>, LiveResponse>> responses(decoded.size());
    double built = 0;
    auto response_of = [&](size_t b, const std::vector<int>& chosen) -> const LiveResponse& {
      auto [it, inserted] = responses[b].try_emplace(chosen);
      if (!inserted) return it->second;
      if (series_bytes[b].empty()) {
        series_bytes[b].resize(decoded[b].size());
        serialized[b].assign(decoded[b].size(), false);
      }
      size_t size = 0;
      for (int e : chosen) {
        if (!serialized[b][e]) {
          series_bytes[b][e] = TelemetryManager::SerializeLiveEntry(decoded[b][e]);
          serialized[b][e] = true;
        }
        size += series_bytes[b][e].size();
      }
      // One allocation, filled in place; the subscribers' copies of the buffer share it.
      grpc_slice slice = grpc_slice_malloc(size);
      uint8_t* out = GRPC_SLICE_START_PTR(slice);
      for (int e : chosen) {
        std::memcpy(out, series_bytes[b][e].data(), series_bytes[b][e].size());
        out += series_bytes[b][e].size();
      }
      grpc::Slice owned(slice, grpc::Slice::STEAL_REF);
      it->second.bytes = grpc::ByteBuffer(&owned, 1);
      it->second.size = static_cast<int64_t>(size);
      ++built;
      return it->second;
    };
    gone.clear();
    double queued = 0;
    for (const auto& subscriber : subscribers) {
      const std::vector<std::vector<int>> chosen =
          TelemetryManager::SelectDecoded(subscriber->filter(), decoded, devices, &index);
      for (size_t b = 0; b < chosen.size(); ++b) {
        if (chosen[b].empty()) continue;
        if (!subscriber->Deliver(response_of(b, chosen[b]))) {
          gone.push_back(subscriber.get());
          break;
        }
        ++queued;
      }
    }
    responses_serialized_.Increment(built);
    fanout_delay_.Observe(absl::ToDoubleSeconds(absl::Now() - read_at));
    responses_queued_.Increment(queued);
    forget(gone);
  }
}

}  // namespace parkbase::telemetry
