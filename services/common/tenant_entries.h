// What the in-process caches checked against a tenant epoch (the auth cache, auth_cache.h; the device cache,
// device/device_cache.h) keep: entries by tenant, then by key, so that a tenant's entries go at once when its epoch
// moves; bounded in number (full, it starts again empty: cheaper than tracking use, and a miss only costs the
// round trip the cache saves); and swept of the entries no call may be answered from any more at most once per
// sweep interval, so entries nobody asks for again (a key revoked on another replica, a device gone quiet) do not
// stay until the cache is full. Not synchronised: the cache's own lock guards it.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace parkbase {

template <typename Entry>
class TenantEntries {
 public:
  TenantEntries(size_t max_entries, absl::Duration sweep_interval)
      : max_entries_(max_entries), sweep_interval_(sweep_interval) {}

  // The entry of `key` in `tenant_id`, or null.
  const Entry* Find(const std::string& tenant_id, const std::string& key) const {
    auto tenant = entries_.find(tenant_id);
    if (tenant == entries_.end()) return nullptr;
    auto found = tenant->second.find(key);
    return found == tenant->second.end() ? nullptr : &found->second;
  }

  // Files `entry`, replacing the key's earlier one. First sweeps out the entries `stale(entry)` says no call may be
  // answered from (at most once per sweep interval, as of `now`), then empties the cache if it is still full.
  template <typename Stale>
  void Put(const std::string& tenant_id, const std::string& key, Entry entry, absl::Time now, Stale stale) {
    Sweep(now, stale);
    if (count_ >= max_entries_) Clear();
    auto [slot, inserted] = entries_[tenant_id].insert_or_assign(key, std::move(entry));
    (void)slot;
    if (inserted) ++count_;
  }

  void ForgetTenant(const std::string& tenant_id) {
    auto found = entries_.find(tenant_id);
    if (found == entries_.end()) return;
    count_ -= found->second.size();
    entries_.erase(found);
  }

  void Clear() {
    entries_.clear();
    count_ = 0;
  }

  size_t size() const { return count_; }

 private:
  template <typename Stale>
  void Sweep(absl::Time now, Stale stale) {
    if (now - last_sweep_ < sweep_interval_) return;
    last_sweep_ = now;
    for (auto tenant = entries_.begin(); tenant != entries_.end();) {
      auto& keys = tenant->second;
      for (auto entry = keys.begin(); entry != keys.end();) {
        if (stale(entry->second)) {
          keys.erase(entry++);
          --count_;
        } else {
          ++entry;
        }
      }
      if (keys.empty()) {
        entries_.erase(tenant++);
      } else {
        ++tenant;
      }
    }
  }

  const size_t max_entries_;
  const absl::Duration sweep_interval_;
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, Entry>> entries_;
  size_t count_ = 0;
  absl::Time last_sweep_ = absl::InfinitePast();
};

}  // namespace parkbase
