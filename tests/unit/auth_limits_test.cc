// The failed-authentication limiter and source addresses, with a fake clock and no network.
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "common/auth.h"
#include "common/auth_limits.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace parkbase {
namespace {

absl::Duration RetryAfter(const absl::Status& status) {
  absl::Duration found = absl::ZeroDuration();
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    if (!absl::EndsWith(type_url, "google.rpc.RetryInfo")) return;
    google::rpc::RetryInfo retry;
    if (retry.ParseFromString(std::string(payload))) {
      found = absl::Seconds(retry.retry_delay().seconds()) + absl::Nanoseconds(retry.retry_delay().nanos());
    }
  });
  return found;
}

TEST_CASE("auth limits: address ranges", "[auth][unit]") {
  auto range = [](const char* text) { return *AddressRange::Parse("f", text); };
  CHECK(range("10.0.0.0/8").Contains("10.200.3.4"));
  CHECK_FALSE(range("10.0.0.0/8").Contains("11.0.0.1"));
  CHECK(range("192.168.1.7").Contains("192.168.1.7"));
  CHECK_FALSE(range("192.168.1.7").Contains("192.168.1.8"));
  CHECK(range("172.16.0.0/12").Contains("172.31.255.255"));
  CHECK_FALSE(range("172.16.0.0/12").Contains("172.32.0.0"));
  CHECK(range("fd00::/8").Contains("fd12:3456::1"));
  CHECK_FALSE(range("fd00::/8").Contains("fe80::1"));
  CHECK(range("0.0.0.0/0").Contains("8.8.8.8"));
  CHECK_FALSE(range("0.0.0.0/0").Contains("::1"));
  // A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6.
  CHECK(range("10.0.0.0/8").Contains("::ffff:10.1.2.3"));
  CHECK_FALSE(range("10.0.0.0/8").Contains("not an address"));
  for (const char* bad : {"", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0", "host.example",
                          "10.0.0.0/-1"}) {
    INFO(bad);
    absl::StatusOr<AddressRange> parsed = AddressRange::Parse("--trusted_proxies", bad);
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(parsed.status().message(), "--trusted_proxies"));
  }
  CHECK(ParseAddressRanges("f", "").value().empty());
  CHECK(ParseAddressRanges("f", "10.0.0.0/8, 127.0.0.1 ,::1").value().size() == 3);
  CHECK_FALSE(ParseAddressRanges("f", "10.0.0.0/8,nope").ok());
}

TEST_CASE("auth limits: the source address of a call", "[auth][unit]") {
  CHECK(PeerAddress("ipv4:10.1.2.3:5555") == "10.1.2.3");
  CHECK(PeerAddress("ipv6:[fd00::1]:5555") == "fd00::1");
  CHECK(PeerAddress("ipv6:[fe80::1%eth0]:5555") == "fe80::1");
  CHECK(PeerAddress("unix:/run/parkbase.sock") == "unix:/run/parkbase.sock");

  const SourceAddresses none({});
  CHECK(none.Of("ipv4:10.1.2.3:1", "203.0.113.9") == "10.1.2.3");

  const SourceAddresses proxies(ParseAddressRanges("f", "10.0.0.0/8").value());
  // Not from a proxy: the header is the client's own word.
  CHECK(proxies.Of("ipv4:198.51.100.4:1", "203.0.113.9") == "198.51.100.4");
  // From a proxy: the rightmost hop it did not append.
  CHECK(proxies.Of("ipv4:10.0.0.2:1", "203.0.113.9") == "203.0.113.9");
  CHECK(proxies.Of("ipv4:10.0.0.2:1", "1.1.1.1, 203.0.113.9") == "203.0.113.9");
  CHECK(proxies.Of("ipv4:10.0.0.2:1", "203.0.113.9, 10.0.0.7") == "203.0.113.9");
  // Only proxies: the request started at the leftmost.
  CHECK(proxies.Of("ipv4:10.0.0.2:1", "10.0.0.9, 10.0.0.7") == "10.0.0.9");
  // A proxy without the header: the proxy itself.
  CHECK(proxies.Of("ipv4:10.0.0.2:1", "") == "10.0.0.2");
  // Whatever a hop holds, it is kept short.
  CHECK(proxies.Of("ipv4:10.0.0.2:1", std::string(500, 'x')).size() <= 64);
  // A call from this process's own HTTP door: the address it wrote last, with or without proxies configured (only
  // this process can make an in-process call).
  CHECK(none.Of("inproc", "198.51.100.4") == "198.51.100.4");
  CHECK(none.Of("inproc", "203.0.113.9, 198.51.100.4") == "198.51.100.4");
  CHECK(proxies.Of("inproc", "198.51.100.4") == "198.51.100.4");
  CHECK(none.Of("inproc", "") == "inproc");
}

TEST_CASE("auth limits: failures per source and per key id, each window on its own", "[auth][unit]") {
  FakeClock clock(absl::FromUnixSeconds(1'000'000));
  AuthFailureLimiter limiter({.max_failures_per_source = 5, .max_failures_per_key = 2, .window = absl::Minutes(1)},
                             clock);
  CHECK(limiter.Admit("10.0.0.1", "acme/k1").ok());
  limiter.RecordFailure("10.0.0.1", "acme/k1");
  clock.Advance(absl::Seconds(10));
  limiter.RecordFailure("10.0.0.1", "acme/k1");
  absl::Status by_key = limiter.Admit("10.0.0.9", "acme/k1");  // any address
  CHECK(by_key.code() == absl::StatusCode::kResourceExhausted);
  CHECK(absl::StrContains(by_key.message(), "auth_failures_per_key"));
  // The window started at the first failure: 50 s are left.
  CHECK(RetryAfter(by_key) == absl::Seconds(50));
  CHECK(limiter.Admit("10.0.0.1", "acme/k2").ok());

  for (int i = 0; i < 3; ++i) limiter.RecordFailure("10.0.0.1", "");
  absl::Status by_source = limiter.Admit("10.0.0.1", "acme/k3");
  CHECK(by_source.code() == absl::StatusCode::kResourceExhausted);
  CHECK(absl::StrContains(by_source.message(), "auth_failures_per_source"));
  CHECK(limiter.Admit("10.0.0.2", "acme/k3").ok());

  clock.Advance(absl::Seconds(50));
  CHECK(limiter.Admit("10.0.0.1", "acme/k1").ok());
  // A new window counts from zero.
  limiter.RecordFailure("10.0.0.1", "acme/k1");
  CHECK(limiter.Admit("10.0.0.1", "acme/k1").ok());
}

TEST_CASE("auth limits: memory is bounded however many sources fail", "[auth][unit]") {
  FakeClock clock(absl::FromUnixSeconds(1'000'000));
  AuthFailureLimiter limiter(
      {.max_failures_per_source = 1, .max_failures_per_key = 1, .window = absl::Minutes(1), .max_tracked = 100},
      clock);
  limiter.RecordFailure("victim-of-forgetting", "");
  for (int i = 0; i < 10'000; ++i) {
    clock.Advance(absl::Milliseconds(1));
    limiter.RecordFailure(absl::StrCat("198.51.", i / 256, ".", i % 256), "");
  }
  // The newest are still remembered and refused.
  CHECK(limiter.Admit("198.51.39.15", "").code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("auth limits: a key id is read without its secret", "[auth][unit]") {
  const MintedKey key = MintApiKey("acme");
  CHECK(KeyIdOf(absl::StrCat("Bearer ", key.key)) == absl::StrCat("acme/", key.key_id));
  CHECK(KeyIdOf(key.key).empty());  // no Bearer
  CHECK(KeyIdOf("Bearer pbk.acme.zz.yy").empty());
  CHECK(KeyIdOf("").empty());
}

}  // namespace
}  // namespace parkbase
