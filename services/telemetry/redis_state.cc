#include "telemetry/redis_state.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/redis_keys.h"
#include "common/status_macros.h"

namespace parkbase::telemetry {
namespace {

// KEYS[1]: the tenant's bucket. ARGV: points per second, points. Times in microseconds from Redis' TIME.
// Returns {1, 0} or {0, retry after µs}.
constexpr char kGcraScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
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
return {1, 0}
)lua";

// KEYS: device hashes. ARGV[1]: 'begin' or 'finish'; ARGV[2]: the pending TTL in ms; then for each key a count n
// and n (metric, time, value) triples (none for 'begin'). 'begin' creates a missing hash as pending with the TTL;
// 'finish' offers the triples to a hash that is still there (newer times win) and marks it complete, for good.
constexpr char kLatestRebuildScript[] = R"lua(
local finish = ARGV[1] == 'finish'
local ttl = tonumber(ARGV[2])
local a = 3
for k = 1, #KEYS do
  local n = tonumber(ARGV[a])
  a = a + 1
  local exists = redis.call('EXISTS', KEYS[k]) == 1
  if not finish then
    if not exists then
      redis.call('HSET', KEYS[k], '_', 'pending')
      redis.call('PEXPIRE', KEYS[k], ttl)
    end
  elseif exists then
    local fields = {}
    for j = 1, n do fields[j] = ARGV[a + (j - 1) * 3] end
    local current = {}
    if n > 0 then current = redis.call('HMGET', KEYS[k], unpack(fields)) end
    local updates = {'_', 'complete'}
    for j = 1, n do
      local base = a + (j - 1) * 3
      local stored = current[j]
      local newer = true
      if stored then
        local stored_time = tonumber(string.match(stored, '^(%-?%d+)|'))
        if stored_time and stored_time > tonumber(ARGV[base + 1]) then newer = false end
      end
      if newer then
        updates[#updates + 1] = ARGV[base]
        updates[#updates + 1] = ARGV[base + 1] .. '|' .. ARGV[base + 2]
      end
    end
    redis.call('HSET', KEYS[k], unpack(updates))
    redis.call('PERSIST', KEYS[k])
  end
  a = a + n * 3
end
return 1
)lua";

// The write path's form of the above, with compact arguments: KEYS are device hashes, ARGV[k] packs KEYS[k]'s
// (metric, time, value) triples, each string as a big-endian 16-bit length and its bytes (see AppendPacked). A
// missing hash is skipped before its argument is even parsed: most devices have none until someone reads them.
constexpr char kLatestUpdatePackedScript[] = R"lua(
for k = 1, #KEYS do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    local s = ARGV[k]
    local pos = 1
    local fields, times, values = {}, {}, {}
    while pos <= #s do
      local metric, time, value
      metric, time, value, pos = struct.unpack('>I2c0I2c0I2c0', s, pos)
      fields[#fields + 1] = metric
      times[#times + 1] = time
      values[#values + 1] = value
    end
    if #fields > 0 then
      local current = redis.call('HMGET', KEYS[k], unpack(fields))
      local updates = {}
      for j = 1, #fields do
        local stored = current[j]
        local newer = true
        if stored then
          local stored_time = tonumber(string.match(stored, '^(%-?%d+)|'))
          if stored_time and stored_time > tonumber(times[j]) then newer = false end
        end
        if newer then
          updates[#updates + 1] = fields[j]
          updates[#updates + 1] = times[j] .. '|' .. values[j]
        end
      end
      if #updates > 0 then redis.call('HSET', KEYS[k], unpack(updates)) end
    end
  end
end
return 1
)lua";

// KEYS: device hashes. Returns one string per key: its HGETALL's fields and values packed, each as a 32-bit
// big-endian length and its bytes. One string a device, not one reply element per field and
// value: for 100 devices of 10 metrics that is 100 elements instead of 2,300 for the client to allocate and walk.
constexpr char kLatestReadScript[] = R"lua(
local out = {}
for k = 1, #KEYS do
  local all = redis.call('HGETALL', KEYS[k])
  local parts = {}
  for i = 1, #all do parts[i] = struct.pack('>I4', #all[i]) .. all[i] end
  out[k] = table.concat(parts)
end
return out
)lua";

// Lua's unpack() is limited by the C stack (LUAI_MAXCSTACK, 8000): keep each call's arguments well under it.
constexpr size_t kMaxArgumentsPerCall = 6000;
// The rebuild marker field and its values (see LatestValues).
constexpr char kMarkerField[] = "_";
constexpr char kComplete[] = "complete";
// Devices a packed update call (2 arguments each): the same bound on a call's size as above.
constexpr size_t kMaxDevicesPerCall = kMaxArgumentsPerCall / 2;

// Appends a string as AppendPacked's reader (struct.unpack '>I2c0') expects it. Metric names (64 bytes),
// decimal times and serialized values (a STRING value is at most 1,024 bytes) all fit 16 bits.
void AppendPacked(std::string& out, absl::string_view bytes) {
  const size_t size = std::min<size_t>(bytes.size(), 0xffff);
  out.push_back(static_cast<char>(size >> 8));
  out.push_back(static_cast<char>(size & 0xff));
  out.append(bytes.data(), size);
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
      redis_.Command({"EVAL", kGcraScript, "1", redis_keys::IngestQuota(tenant_id),
                      absl::StrCat(std::max<int64_t>(points_per_second, 1)), absl::StrCat(points)});
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
  std::vector<std::pair<absl::string_view, std::string>> devices;
  pb::Value value;
  std::string serialized;
  for (const SeriesEntry& entry : series) {
    if (entry.data.size() == 0) continue;
    auto [it, inserted] = index.try_emplace(entry.device_id, devices.size());
    if (inserted) devices.emplace_back(entry.device_id, std::string());
    size_t newest = 0;
    for (size_t i = 1; i < entry.data.size(); ++i) {
      if (entry.data.timestamps_ms[i] >= entry.data.timestamps_ms[newest]) newest = i;
    }
    value = ValueAt(entry.data, newest);
    value.SerializeToString(&serialized);
    std::string& packed = devices[it->second].second;
    AppendPacked(packed, entry.metric);
    AppendPacked(packed, absl::AlphaNum(entry.data.timestamps_ms[newest]).Piece());
    AppendPacked(packed, serialized);
  }
  absl::Status status;
  std::vector<std::string> command;
  for (size_t first = 0; first < devices.size(); first += kMaxDevicesPerCall) {
    const size_t last = std::min(devices.size(), first + kMaxDevicesPerCall);
    command.assign({"EVAL", kLatestUpdatePackedScript, absl::StrCat(last - first)});
    command.reserve(3 + 2 * (last - first));
    for (size_t d = first; d < last; ++d) command.push_back(LatestKey(tenant_id, std::string(devices[d].first)));
    for (size_t d = first; d < last; ++d) command.push_back(std::move(devices[d].second));
    if (absl::Status applied = redis_.Command(command).status(); !applied.ok()) status = applied;
  }
  return status;
}

absl::Status RedisLatestValues::BeginRebuild(const std::string& tenant_id, const std::vector<std::string>& devices) {
  if (devices.empty()) return absl::OkStatus();
  std::vector<std::string> command = {"EVAL", kLatestRebuildScript, absl::StrCat(devices.size())};
  for (const std::string& device : devices) command.push_back(LatestKey(tenant_id, device));
  command.push_back("begin");
  command.push_back(absl::StrCat(absl::ToInt64Milliseconds(kPendingTtl)));
  for (size_t i = 0; i < devices.size(); ++i) command.push_back("0");
  return redis_.Command(command).status();
}

absl::Status RedisLatestValues::FinishRebuild(const std::string& tenant_id,
                                              const absl::flat_hash_map<SeriesKey, LatestPoint>& points,
                                              const std::vector<std::string>& devices) {
  absl::flat_hash_map<std::string, std::vector<std::pair<const std::string*, const LatestPoint*>>> by_device;
  for (const std::string& device : devices) by_device[device];
  for (const auto& [key, point] : points) {
    auto found = by_device.find(key.first);
    if (found != by_device.end()) found->second.emplace_back(&key.second, &point);
  }
  if (by_device.empty()) return absl::OkStatus();
  std::vector<std::string> keys;
  std::vector<std::string> arguments = {"finish", absl::StrCat(absl::ToInt64Milliseconds(kPendingTtl))};
  for (const auto& [device, metrics] : by_device) {
    keys.push_back(LatestKey(tenant_id, device));
    arguments.push_back(absl::StrCat(metrics.size()));
    for (const auto& [metric, point] : metrics) {
      arguments.push_back(*metric);
      arguments.push_back(absl::StrCat(point->time_ms));
      arguments.push_back(point->value.SerializeAsString());
    }
  }
  std::vector<std::string> command = {"EVAL", kLatestRebuildScript, absl::StrCat(keys.size())};
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), std::make_move_iterator(arguments.begin()), std::make_move_iterator(arguments.end()));
  return redis_.Command(command).status();
}

absl::StatusOr<std::vector<std::optional<absl::flat_hash_map<std::string, LatestPoint>>>> RedisLatestValues::Read(
    const std::string& tenant_id, const std::vector<std::string>& device_ids) {
  ASSIGN_OR_RETURN(auto stored, ReadStored(tenant_id, device_ids));
  std::vector<std::optional<absl::flat_hash_map<std::string, LatestPoint>>> result(device_ids.size());
  for (size_t d = 0; d < stored.size(); ++d) {
    if (!stored[d].has_value()) continue;
    auto& metrics = result[d].emplace();
    for (Stored& value : *stored[d]) {
      LatestPoint point;
      point.time_ms = value.time_ms;
      if (point.value.ParseFromString(value.value)) metrics.emplace(std::move(value.metric), std::move(point));
    }
  }
  return result;
}

absl::StatusOr<std::vector<std::optional<std::vector<LatestValues::Stored>>>> RedisLatestValues::ReadStored(
    const std::string& tenant_id, const std::vector<std::string>& device_ids) {
  std::vector<std::string> command = {"EVAL", kLatestReadScript, absl::StrCat(device_ids.size())};
  for (const std::string& device : device_ids) command.push_back(LatestKey(tenant_id, device));
  std::vector<std::optional<std::vector<Stored>>> result(device_ids.size());
  // Read in place (RedisClient::Visit): the packed strings are walked where hiredis left them.
  absl::Status read = redis_.Visit(command, [&](RedisReplyView reply) -> absl::Status {
    if (!reply.is_array() || reply.size() != device_ids.size()) {
      return absl::UnavailableError("redis: unexpected latest-values reply");
    }
    std::vector<absl::string_view> fields;
    for (size_t d = 0; d < device_ids.size(); ++d) {
      absl::string_view packed = reply.element(d).text();
      fields.clear();
      while (packed.size() >= 4) {
        size_t size = 0;
        for (int i = 0; i < 4; ++i) size = (size << 8) | static_cast<unsigned char>(packed[i]);
        if (packed.size() - 4 < size) break;
        fields.push_back(packed.substr(4, size));
        packed.remove_prefix(4 + size);
      }
      bool complete = false;
      for (size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i] == kMarkerField) complete = fields[i + 1] == kComplete;
      }
      if (!complete) continue;  // missing, pending or left by a failed rebuild: the caller rebuilds
      auto& metrics = result[d].emplace();
      metrics.reserve(fields.size() / 2);
      for (size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i] == kMarkerField) continue;
        const absl::string_view stored = fields[i + 1];
        const size_t bar = stored.find('|');
        Stored value;
        if (bar == absl::string_view::npos || !absl::SimpleAtoi(stored.substr(0, bar), &value.time_ms)) {
          continue;  // written by something else; the next write repairs it
        }
        value.metric = std::string(fields[i]);
        value.value = std::string(stored.substr(bar + 1));
        metrics.push_back(std::move(value));
      }
    }
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  return result;
}

absl::StatusOr<std::vector<std::optional<std::vector<LatestValues::Stored>>>> LatestValues::ReadStored(
    const std::string& tenant_id, const std::vector<std::string>& device_ids) {
  ASSIGN_OR_RETURN(auto points, Read(tenant_id, device_ids));
  std::vector<std::optional<std::vector<Stored>>> result(points.size());
  for (size_t d = 0; d < points.size(); ++d) {
    if (!points[d].has_value()) continue;
    auto& metrics = result[d].emplace();
    for (const auto& [metric, point] : *points[d]) {
      metrics.push_back(Stored{metric, point.time_ms, point.value.SerializeAsString()});
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
