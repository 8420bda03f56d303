#include "telemetry/redis_state.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/ingest_counts.h"
#include "common/log.h"
#include "common/redis_keys.h"
#include "common/status_macros.h"

namespace parkbase::telemetry {
namespace {

// KEYS[1]: the tenant's bucket, KEYS[2]: its ingest counts (common/ingest_counts.h). ARGV: points per second,
// points. Times in microseconds from Redis' TIME. Returns {1, 0} or {0, retry after µs}; only admitted points count.
constexpr char kGcraLua[] = R"lua(
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now = now_s * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local increment = cost * 1000000 / rate
local tau = 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + increment
local allowance = math.max(tau, increment)
if new_tat - now > allowance then
  return {0, math.ceil(new_tat - now - allowance)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
)lua";

const std::string& GcraScript() {
  static const std::string* const script =
      new std::string(absl::StrCat(kGcraLua, ingest_counts::kRecordLua, "return {1, 0}\n"));
  return *script;
}

// Latest values are kept per device as one string (see LatestValues): a state byte, 'P' (pending) or 'C'
// (complete), then each metric's (name, time in decimal ms, serialized Value) in name order, every string as a
// big-endian 16-bit length and its bytes (AppendPacked). One string a device, so a read is one MGET and nothing runs
// in Redis' Lua; the write path's script pays for the merge instead (as much Redis time as the HMGET and HSET of
// the hashes it replaced). Keys that still hold the hash of an earlier release read as missing (MGET answers nil
// for them); a rebuild replaces them.
//
// The merge shared by the scripts below: `stored` without its state byte, and a packed argument; newer (or
// equal-time, later) points win. Returns the merged string and whether anything changed.
constexpr char kLatestMergeLua[] = R"lua(
local function merge(stored, offered)
  local order, times, values = {}, {}, {}
  local pos = 1
  while pos <= #stored do
    local metric, time, value
    metric, time, value, pos = struct.unpack('>I2c0I2c0I2c0', stored, pos)
    if times[metric] == nil then order[#order + 1] = metric end
    times[metric] = time
    values[metric] = value
  end
  local changed = false
  pos = 1
  while pos <= #offered do
    local metric, time, value
    metric, time, value, pos = struct.unpack('>I2c0I2c0I2c0', offered, pos)
    local current = times[metric]
    if current == nil or tonumber(current) <= tonumber(time) then
      if current == nil then order[#order + 1] = metric end
      times[metric] = time
      values[metric] = value
      changed = true
    end
  end
  if not changed then return stored, false end
  -- Kept in name order, so readers rarely need to sort (they check).
  table.sort(order)
  local parts = {}
  for i = 1, #order do
    local metric = order[i]
    parts[i] = struct.pack('>I2c0I2c0I2c0', #metric, metric, #times[metric], times[metric], #values[metric],
                           values[metric])
  end
  return table.concat(parts), true
end
)lua";

// KEYS: device keys; ARGV[k]: KEYS[k]'s offered points, packed. Only keys that hold a value string are updated
// (kept as they are: pending or complete, with any expiry): a missing device is rebuilt by its next reader. A
// string that does not parse (nothing of Parkbase writes one) is dropped, so its next reader rebuilds it, and the
// batch's other devices are still updated.
constexpr char kLatestUpdateBody[] = R"lua(
for k = 1, #KEYS do
  local stored = redis.pcall('GET', KEYS[k])
  if type(stored) == 'string' and #stored > 0 then
    local parsed, merged, changed = pcall(merge, string.sub(stored, 2), ARGV[k])
    if not parsed then
      redis.call('DEL', KEYS[k])
    elseif changed then
      redis.call('SET', KEYS[k], string.sub(stored, 1, 1) .. merged, 'KEEPTTL')
    end
  end
end
return 1
)lua";

// KEYS: device keys; ARGV[1]: the pending TTL in ms. A key that holds no value string (missing, or an earlier
// release's hash) becomes pending, with the TTL, so writes that commit while storage is read land in it.
constexpr char kLatestBeginRebuildScript[] = R"lua(
local ttl = tonumber(ARGV[1])
for k = 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[k])['ok']
  if kind ~= 'string' then
    if kind ~= 'none' then redis.call('DEL', KEYS[k]) end
    redis.call('SET', KEYS[k], 'P', 'PX', ttl)
  end
end
return 1
)lua";

// KEYS: device keys; ARGV[k]: what storage held for KEYS[k], packed. A key still there (pending or complete) gets
// those points merged in and is marked complete, for good (SET drops the expiry); one that does not parse (or is
// empty) is replaced by what storage held.
constexpr char kLatestFinishRebuildBody[] = R"lua(
for k = 1, #KEYS do
  local stored = redis.pcall('GET', KEYS[k])
  if type(stored) == 'string' then
    local parsed, merged = pcall(merge, string.sub(stored, 2), ARGV[k])
    if not parsed then merged = merge('', ARGV[k]) end
    redis.call('SET', KEYS[k], 'C' .. merged)
  end
end
return 1
)lua";

const std::string& LatestUpdateScript() {
  static const std::string* const script = new std::string(absl::StrCat(kLatestMergeLua, kLatestUpdateBody));
  return *script;
}
const std::string& LatestFinishRebuildScript() {
  static const std::string* const script = new std::string(absl::StrCat(kLatestMergeLua, kLatestFinishRebuildBody));
  return *script;
}

// Devices a latest-values call (two arguments each): bounds how long one script holds Redis.
constexpr size_t kMaxDevicesPerCall = 3000;
// The state byte that starts a complete device string (a pending one starts with 'P').
constexpr char kComplete = 'C';

// Appends a string as AppendPacked's reader (struct.unpack '>I2c0') expects it. Metric names (64 bytes),
// decimal times and serialized values (a STRING value is at most 1,024 bytes) all fit 16 bits.
void AppendPacked(std::string& out, absl::string_view bytes) {
  const size_t size = std::min<size_t>(bytes.size(), 0xffff);
  out.push_back(static_cast<char>(size >> 8));
  out.push_back(static_cast<char>(size & 0xff));
  out.append(bytes.data(), size);
}

void AppendPackedPoint(std::string& out, absl::string_view metric, int64_t time_ms, absl::string_view value) {
  AppendPacked(out, metric);
  AppendPacked(out, absl::AlphaNum(time_ms).Piece());
  AppendPacked(out, value);
}

// Takes one AppendPacked string off the front of `packed`; false when what is left is not one.
bool TakePacked(absl::string_view& packed, absl::string_view& out) {
  if (packed.size() < 2) return false;
  const size_t size = (static_cast<size_t>(static_cast<unsigned char>(packed[0])) << 8) |
                      static_cast<unsigned char>(packed[1]);
  if (packed.size() - 2 < size) return false;
  out = packed.substr(2, size);
  packed.remove_prefix(2 + size);
  return true;
}

// Runs `script` over the devices' keys with packed[d] as the argument of devices[d], kMaxDevicesPerCall devices a
// call; every call is tried (they are independent), and the last failure is returned.
absl::Status EvalPerDevice(RedisClient& redis, const std::string& script, const std::string& tenant_id,
                           const std::vector<std::string>& devices, std::vector<std::string>& packed) {
  absl::Status status;
  std::vector<std::string> command;
  for (size_t first = 0; first < devices.size(); first += kMaxDevicesPerCall) {
    const size_t last = std::min(devices.size(), first + kMaxDevicesPerCall);
    command.assign({"EVAL", script, absl::StrCat(last - first)});
    command.reserve(3 + 2 * (last - first));
    for (size_t d = first; d < last; ++d) command.push_back(LatestKey(tenant_id, devices[d]));
    for (size_t d = first; d < last; ++d) command.push_back(std::move(packed[d]));
    if (absl::Status applied = redis.Command(command).status(); !applied.ok()) status = applied;
  }
  return status;
}

}  // namespace

std::string LatestKey(const std::string& tenant_id, const std::string& device_id) {
  return redis_keys::LatestValues(tenant_id, device_id);
}

std::string LiveFeed::StreamKey(const std::string& tenant_id) { return redis_keys::LiveFeed(tenant_id); }
std::string LiveFeed::PresenceKey(const std::string& tenant_id) {
  return redis_keys::LivePresence(tenant_id);
}

absl::StatusOr<IngestRateLimiter::Decision> RedisIngestRateLimiter::Take(const std::string& tenant_id,
                                                                          int64_t points_per_second,
                                                                          int64_t points) {
  absl::StatusOr<RedisReply> reply =
      redis_.Command({"EVAL", GcraScript(), "2", redis_keys::IngestQuota(tenant_id),
                      redis_keys::IngestCounts(tenant_id), absl::StrCat(std::max<int64_t>(points_per_second, 1)),
                      absl::StrCat(points)});
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kArray || reply->elements.size() != 2) {
    return absl::UnavailableError("redis: unexpected rate limiter reply");
  }
  Decision decision;
  decision.allowed = reply->elements[0].integer == 1;
  decision.retry_after = absl::Microseconds(reply->elements[1].integer);
  return decision;
}

absl::Status RedisLatestValues::Update(const std::string& tenant_id, const std::vector<SeriesEntry>& series) {
  // One packed argument per device (its series' newest points), in the order devices first appear.
  absl::flat_hash_map<absl::string_view, size_t> index;
  std::vector<std::string> devices;
  std::vector<std::string> packed;
  pb::Value value;
  std::string serialized;
  for (const SeriesEntry& entry : series) {
    if (entry.data.size() == 0) continue;
    auto [it, inserted] = index.try_emplace(entry.device_id, devices.size());
    if (inserted) {
      devices.emplace_back(entry.device_id);
      packed.emplace_back();
    }
    size_t newest = 0;
    for (size_t i = 1; i < entry.data.size(); ++i) {
      if (entry.data.timestamps_ms[i] >= entry.data.timestamps_ms[newest]) newest = i;
    }
    value = ValueAt(entry.data, newest);
    value.SerializeToString(&serialized);
    AppendPackedPoint(packed[it->second], entry.metric, entry.data.timestamps_ms[newest], serialized);
  }
  return EvalPerDevice(redis_, LatestUpdateScript(), tenant_id, devices, packed);
}

absl::Status RedisLatestValues::BeginRebuild(const std::string& tenant_id, const std::vector<std::string>& devices) {
  if (devices.empty()) return absl::OkStatus();
  std::vector<std::string> command = {"EVAL", kLatestBeginRebuildScript, absl::StrCat(devices.size())};
  for (const std::string& device : devices) command.push_back(LatestKey(tenant_id, device));
  command.push_back(absl::StrCat(absl::ToInt64Milliseconds(kPendingTtl)));
  return redis_.Command(command).status();
}

absl::Status RedisLatestValues::FinishRebuild(const std::string& tenant_id,
                                              const absl::flat_hash_map<SeriesKey, LatestPoint>& points,
                                              const std::vector<std::string>& devices) {
  if (devices.empty()) return absl::OkStatus();
  absl::flat_hash_map<absl::string_view, size_t> index;
  for (size_t d = 0; d < devices.size(); ++d) index.try_emplace(devices[d], d);
  std::vector<std::string> packed(devices.size());
  for (const auto& [key, point] : points) {
    auto found = index.find(key.first);
    if (found == index.end()) continue;
    AppendPackedPoint(packed[found->second], key.second, point.time_ms, point.value.SerializeAsString());
  }
  return EvalPerDevice(redis_, LatestFinishRebuildScript(), tenant_id, devices, packed);
}

absl::StatusOr<std::vector<std::optional<absl::flat_hash_map<std::string, LatestPoint>>>> RedisLatestValues::Read(
    const std::string& tenant_id, const std::vector<std::string>& device_ids) {
  ASSIGN_OR_RETURN(auto stored, ReadStored(tenant_id, device_ids));
  std::vector<std::optional<absl::flat_hash_map<std::string, LatestPoint>>> result(device_ids.size());
  for (size_t d = 0; d < stored.devices.size(); ++d) {
    if (!stored.devices[d].has_value()) continue;
    auto& metrics = result[d].emplace();
    for (const Stored& value : *stored.devices[d]) {
      LatestPoint point;
      point.time_ms = value.time_ms;
      if (point.value.ParseFromArray(value.value.data(), static_cast<int>(value.value.size()))) {
        metrics.emplace(std::string(value.metric), std::move(point));
      }
    }
  }
  return result;
}

absl::StatusOr<LatestValues::StoredLatest> RedisLatestValues::ReadStored(const std::string& tenant_id,
                                                                         const std::vector<std::string>& device_ids) {
  std::vector<std::string> command = {"MGET"};
  command.reserve(1 + device_ids.size());
  for (const std::string& device : device_ids) command.push_back(LatestKey(tenant_id, device));
  StoredLatest result;
  result.devices.resize(device_ids.size());
  // Each device's string is copied once, whole, and its values are views into the copy.
  absl::Status read = redis_.Visit(command, [&](RedisReplyView reply) -> absl::Status {
    if (!reply.is_array() || reply.size() != device_ids.size()) {
      return absl::UnavailableError("redis: unexpected latest-values reply");
    }
    for (size_t d = 0; d < device_ids.size(); ++d) {
      absl::string_view text = reply.element(d).text();
      // Missing, pending, left by a failed rebuild, or an earlier release's hash (nil): the caller rebuilds.
      if (text.empty() || text.front() != kComplete) continue;
      absl::string_view packed = result.Keep(std::string(text.substr(1)));
      std::vector<Stored> metrics;
      metrics.reserve(16);
      absl::string_view time;
      bool parsed = true;
      while (parsed && !packed.empty()) {
        Stored stored;
        parsed = TakePacked(packed, stored.metric) && TakePacked(packed, time) && TakePacked(packed, stored.value) &&
                 absl::SimpleAtoi(time, &stored.time_ms);
        if (parsed) metrics.push_back(stored);
      }
      // A string that does not parse to its end was not written by Parkbase: rebuilt, like a missing one.
      if (parsed) result.devices[d] = std::move(metrics);
    }
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  return result;
}

absl::StatusOr<LatestValues::StoredLatest> LatestValues::ReadStored(const std::string& tenant_id,
                                                                    const std::vector<std::string>& device_ids) {
  ASSIGN_OR_RETURN(auto points, Read(tenant_id, device_ids));
  StoredLatest result;
  result.devices.resize(points.size());
  for (size_t d = 0; d < points.size(); ++d) {
    if (!points[d].has_value()) continue;
    auto& metrics = result.devices[d].emplace();
    for (const auto& [metric, point] : *points[d]) {
      metrics.push_back(Stored{result.Keep(metric), point.time_ms, result.Keep(point.value.SerializeAsString())});
    }
  }
  return result;
}

void RedisLiveFeed::Publish(const std::string& tenant_id, const std::string& block) {
  // Real time, not the service clock: this is about when Redis was last asked.
  const absl::Time now = absl::Now();
  bool present = false;
  bool known = false;
  {
    absl::MutexLock lock(&mu_);
    auto found = presence_.find(tenant_id);
    if (found != presence_.end() && now - found->second.checked < kPresenceCheckInterval) {
      present = found->second.present;
      known = true;
    }
  }
  if (!known) {
    absl::StatusOr<RedisReply> reply = redis_.Command({"EXISTS", PresenceKey(tenant_id)});
    present = reply.ok() && reply->integer == 1;
    absl::MutexLock lock(&mu_);
    if (presence_.size() > 100'000) presence_.clear();
    presence_[tenant_id] = Presence{present, now};
  }
  if (!present) return;
  absl::StatusOr<RedisReply> added = redis_.Command(
      {"XADD", StreamKey(tenant_id), "MAXLEN", "~", absl::StrCat(kStreamLength), "*", "b", block});
  if (!added.ok()) {
    LogLine(LogLevel::kWarning, "live feed publish failed")
        .Str("tenant", tenant_id)
        .Str("error", added.status().message())
        .Emit();
  }
}

}  // namespace parkbase::telemetry
