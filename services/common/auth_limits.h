// Failed authentication is limited per source address and per key id, so guessing secrets or spraying stolen key
// ids costs the attacker, not the database: past the limit a caller is answered RESOURCE_EXHAUSTED with RetryInfo
// at once, before any key look-up (a sleeping server would hold a thread per attempt, which is its own denial of
// service). Only UNAUTHENTICATED outcomes count; a valid key never adds to a count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
}  // namespace prometheus

namespace parkbase {

// An address range in CIDR notation ("10.0.0.0/8", "fd00::/8", or one address), IPv4 or IPv6.
class AddressRange {
 public:
  // INVALID_ARGUMENT naming `field` for anything that is not an address or address/prefix.
  static absl::StatusOr<AddressRange> Parse(absl::string_view field, absl::string_view text);
  bool Contains(absl::string_view address) const;

 private:
  int family_ = 0;  // AF_INET or AF_INET6
  unsigned char bytes_[16] = {};
  int prefix_bits_ = 0;
};

// Parses a comma-separated list of ranges (the --trusted_proxies flag); empty text is an empty list.
absl::StatusOr<std::vector<AddressRange>> ParseAddressRanges(absl::string_view field, absl::string_view text);

// Who is calling, as far as the network says: the peer's address, or, when the peer is a trusted proxy, the first
// address in `x-forwarded-for` that is not a trusted proxy, read from the right (each proxy appends the address
// it saw, so only the entries trusted proxies appended can be believed; what the client wrote itself is on the
// left and is never reached while a trusted proxy appended after it).
class SourceAddresses {
 public:
  explicit SourceAddresses(std::vector<AddressRange> trusted_proxies) : trusted_(std::move(trusted_proxies)) {}

  // `peer` as gRPC gives it ("ipv4:10.1.2.3:5555", "ipv6:[::1]:5555", "unix:/path", "inproc" for a call from this
  // process's own HTTP door, whose last x-forwarded-for hop is believed); `forwarded_for` the header's value (empty
  // when absent).
  std::string Of(absl::string_view peer, absl::string_view forwarded_for) const;

 private:
  bool Trusted(absl::string_view address) const;
  std::vector<AddressRange> trusted_;
};

// The address in a gRPC peer string, without the port; the whole string for other transports.
std::string PeerAddress(absl::string_view peer);

class AuthFailureLimiter {
 public:
  struct Options {
    int max_failures_per_source = 120;  // per window
    int max_failures_per_key = 10;      // per window
    absl::Duration window = absl::Minutes(1);
    // Subjects remembered at most; beyond it expired windows are forgotten first, then the oldest.
    size_t max_tracked = 100'000;
  };

  // `registry` (may be null) gets parkbase_auth_failures_limited_total{by="source"|"key"}.
  AuthFailureLimiter(Options options, Clock& clock, prometheus::Registry* registry = nullptr);

  // RESOURCE_EXHAUSTED with QuotaFailure and RetryInfo when `source` or `key_id` (empty: none) has used up its
  // failures in the current window; OK otherwise.
  absl::Status Admit(absl::string_view source, absl::string_view key_id);
  // Counts one failed authentication against both.
  void RecordFailure(absl::string_view source, absl::string_view key_id);

 private:
  struct Window {
    absl::Time start;
    int failures = 0;
  };
  using Windows = absl::flat_hash_map<std::string, Window>;

  absl::Status Check(Windows& windows, absl::string_view subject, int limit, absl::Time now, absl::string_view what,
                     absl::string_view flag, prometheus::Counter* counter) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Count(Windows& windows, absl::string_view subject, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  Clock& clock_;
  prometheus::Counter* limited_by_source_ = nullptr;
  prometheus::Counter* limited_by_key_ = nullptr;
  absl::Mutex mu_;
  Windows by_source_ ABSL_GUARDED_BY(mu_);
  Windows by_key_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parkbase
