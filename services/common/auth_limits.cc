#include "common/auth_limits.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace parkbase {
namespace {

// Parses an IPv4 or IPv6 address (no brackets, no zone). Returns the family, 0 when it is neither.
int ParseAddress(absl::string_view text, unsigned char bytes[16]) {
  if (text.empty() || text.size() > 45) return 0;
  const std::string copy(text);
  if (inet_pton(AF_INET, copy.c_str(), bytes) == 1) return AF_INET;
  if (inet_pton(AF_INET6, copy.c_str(), bytes) == 1) {
    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d, how a dual-stack listener sees IPv4 peers) is that IPv4 address.
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bytes, kMapped, sizeof(kMapped)) == 0) {
      std::memmove(bytes, bytes + 12, 4);
      return AF_INET;
    }
    return AF_INET6;
  }
  return 0;
}

bool SamePrefix(const unsigned char* a, const unsigned char* b, int bits) {
  const int whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

// Subjects come from the network (a header a client may write); they are kept short in memory and in messages.
std::string Bounded(absl::string_view subject) { return std::string(subject.substr(0, 64)); }

}  // namespace

absl::StatusOr<AddressRange> AddressRange::Parse(absl::string_view field, absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  AddressRange range;
  absl::string_view address = text;
  std::optional<absl::string_view> prefix_text;
  if (const size_t slash = text.find('/'); slash != absl::string_view::npos) {
    address = text.substr(0, slash);
    prefix_text = text.substr(slash + 1);
  }
  range.family_ = ParseAddress(address, range.bytes_);
  const int max_bits = range.family_ == AF_INET ? 32 : 128;
  int prefix = max_bits;
  const bool prefix_ok = !prefix_text.has_value() ||
                         (!prefix_text->empty() && std::all_of(prefix_text->begin(), prefix_text->end(),
                                                               absl::ascii_isdigit) &&
                          absl::SimpleAtoi(*prefix_text, &prefix) && prefix <= max_bits);
  if (range.family_ == 0 || !prefix_ok) {
    return FieldError(field, absl::StrCat("must be IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8), got \"",
                                          Bounded(text), "\""));
  }
  range.prefix_bits_ = prefix;
  return range;
}

bool AddressRange::Contains(absl::string_view address) const {
  unsigned char bytes[16] = {};
  const int family = ParseAddress(address, bytes);
  return family == family_ && SamePrefix(bytes, bytes_, prefix_bits_);
}

absl::StatusOr<std::vector<AddressRange>> ParseAddressRanges(absl::string_view field, absl::string_view text) {
  std::vector<AddressRange> ranges;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::StatusOr<AddressRange> range = AddressRange::Parse(field, part);
    if (!range.ok()) return range.status();
    ranges.push_back(*range);
  }
  return ranges;
}

std::string PeerAddress(absl::string_view peer) {
  if (absl::ConsumePrefix(&peer, "ipv4:")) return std::string(peer.substr(0, peer.rfind(':')));
  if (absl::ConsumePrefix(&peer, "ipv6:")) {
    // [addr]:port; the address may carry a zone (%eth0), which is not part of who is calling.
    if (absl::ConsumePrefix(&peer, "[")) peer = peer.substr(0, peer.find(']'));
    return std::string(peer.substr(0, peer.find('%')));
  }
  return Bounded(peer);
}

bool SourceAddresses::Trusted(absl::string_view address) const {
  return std::any_of(trusted_.begin(), trusted_.end(),
                     [&](const AddressRange& range) { return range.Contains(address); });
}

std::string SourceAddresses::Of(absl::string_view peer, absl::string_view forwarded_for) const {
  if (absl::StartsWith(peer, "inproc")) {
    // Only this process calls itself in-process: its HTTP door, which wrote the caller's address as the last hop.
    std::vector<absl::string_view> hops = absl::StrSplit(forwarded_for, ',', absl::SkipWhitespace());
    return hops.empty() ? std::string(peer) : Bounded(absl::StripAsciiWhitespace(hops.back()));
  }
  std::string address = PeerAddress(peer);
  if (trusted_.empty() || !Trusted(address)) return address;
  std::vector<absl::string_view> hops = absl::StrSplit(forwarded_for, ',', absl::SkipWhitespace());
  for (auto hop = hops.rbegin(); hop != hops.rend(); ++hop) {
    const absl::string_view candidate = absl::StripAsciiWhitespace(*hop);
    if (!Trusted(candidate)) return Bounded(candidate);
    address = std::string(candidate);
  }
  // Every hop was a trusted proxy: the request started at the leftmost one.
  return address;
}

AuthFailureLimiter::AuthFailureLimiter(Options options, Clock& clock, prometheus::Registry* registry)
    : options_(options), clock_(clock) {
  if (registry != nullptr) {
    auto& family = prometheus::BuildCounter()
                       .Name("parkbase_auth_failures_limited_total")
                       .Help("Calls refused because their source address or key id had too many failed "
                             "authentications in the window")
                       .Register(*registry);
    limited_by_source_ = &family.Add({{"by", "source"}});
    limited_by_key_ = &family.Add({{"by", "key"}});
  }
}

absl::Status AuthFailureLimiter::Check(Windows& windows, absl::string_view subject, int limit, absl::Time now,
                                       absl::string_view what, absl::string_view flag,
                                       prometheus::Counter* counter) {
  if (subject.empty()) return absl::OkStatus();
  auto found = windows.find(subject);
  if (found == windows.end()) return absl::OkStatus();
  const absl::Time ends = found->second.start + options_.window;
  if (now >= ends || found->second.failures < limit) return absl::OkStatus();
  if (counter != nullptr) counter->Increment();
  return QuotaError(absl::StrCat(what, " ", subject), flag,
                    absl::StrCat("too many failed authentications from ", what, " ", subject, " (", limit, " in ",
                                 absl::FormatDuration(options_.window), ")"),
                    ends - now);
}

absl::Status AuthFailureLimiter::Admit(absl::string_view source, absl::string_view key_id) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  absl::Status by_source = Check(by_source_, Bounded(source), options_.max_failures_per_source, now,
                                 "source address", "auth_failures_per_source", limited_by_source_);
  if (!by_source.ok()) return by_source;
  return Check(by_key_, Bounded(key_id), options_.max_failures_per_key, now, "key id", "auth_failures_per_key",
               limited_by_key_);
}

void AuthFailureLimiter::Count(Windows& windows, absl::string_view subject, absl::Time now) {
  if (subject.empty()) return;
  if (windows.size() >= options_.max_tracked && !windows.contains(subject)) {
    // Forget finished windows first; if every window is live, the oldest tenth at once (one pass for many
    // inserts; an attacker spraying subjects mostly pushes out its own oldest entries).
    absl::erase_if(windows, [&](const auto& entry) { return now >= entry.second.start + options_.window; });
    if (windows.size() >= options_.max_tracked) {
      std::vector<absl::Time> starts;
      starts.reserve(windows.size());
      for (const auto& entry : windows) starts.push_back(entry.second.start);
      auto cut = starts.begin() + static_cast<std::ptrdiff_t>(starts.size() / 10);
      std::nth_element(starts.begin(), cut, starts.end());
      const absl::Time oldest_kept = *cut;
      absl::erase_if(windows, [&](const auto& entry) { return entry.second.start < oldest_kept; });
      if (windows.size() >= options_.max_tracked) windows.erase(windows.begin());
    }
  }
  Window& window = windows[subject];
  if (window.failures == 0 || now >= window.start + options_.window) window = Window{now, 0};
  ++window.failures;
}

void AuthFailureLimiter::RecordFailure(absl::string_view source, absl::string_view key_id) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  Count(by_source_, Bounded(source), now);
  Count(by_key_, Bounded(key_id), now);
}

}  // namespace parkbase
