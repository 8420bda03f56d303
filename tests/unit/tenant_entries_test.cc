// The per-tenant entry store of the auth and device caches (common/tenant_entries.h).
#include <catch2/catch.hpp>

#include <string>

#include "absl/time/time.h"
#include "common/tenant_entries.h"

namespace parkbase {
namespace {

struct Entry {
  int value = 0;
  absl::Time loaded;
};

TEST_CASE("tenant entries: found by tenant and key, replaced, forgotten a tenant at a time", "[unit]") {
  TenantEntries<Entry> entries(100, absl::Seconds(5));
  const absl::Time now = absl::FromUnixSeconds(1'000'000);
  auto never = [](const Entry&) { return false; };
  entries.Put("t1", "k", Entry{1, now}, now, never);
  entries.Put("t2", "k", Entry{2, now}, now, never);
  entries.Put("t1", "other", Entry{3, now}, now, never);
  REQUIRE(entries.Find("t1", "k") != nullptr);
  CHECK(entries.Find("t1", "k")->value == 1);
  CHECK(entries.Find("t2", "k")->value == 2);
  CHECK(entries.Find("t2", "other") == nullptr);  // keys belong to their tenant
  CHECK(entries.size() == 3);

  entries.Put("t1", "k", Entry{4, now}, now, never);  // replaced, not counted twice
  CHECK(entries.Find("t1", "k")->value == 4);
  CHECK(entries.size() == 3);

  entries.ForgetTenant("t1");
  CHECK(entries.Find("t1", "k") == nullptr);
  CHECK(entries.Find("t1", "other") == nullptr);
  CHECK(entries.Find("t2", "k") != nullptr);
  CHECK(entries.size() == 1);
  entries.ForgetTenant("absent");
  CHECK(entries.size() == 1);
}

TEST_CASE("tenant entries: stale entries are swept at most once per interval, and a full store starts again empty",
          "[unit]") {
  const absl::Duration ttl = absl::Seconds(5);
  TenantEntries<Entry> entries(3, ttl);
  const absl::Time start = absl::FromUnixSeconds(1'000'000);
  absl::Time now = start;
  auto stale = [&](const Entry& entry) { return now - entry.loaded >= ttl; };
  entries.Put("t1", "a", Entry{1, start}, now, stale);  // the first Put sweeps (nothing yet)
  now = start + absl::Seconds(6);
  entries.Put("t1", "b", Entry{2, now}, now, stale);  // a sweep is due: "a" is past its ttl
  CHECK(entries.Find("t1", "a") == nullptr);
  CHECK(entries.size() == 1);

  entries.Put("t2", "c", Entry{3, start}, now, stale);  // already stale, but no sweep until the interval passed
  now = start + absl::Seconds(7);
  entries.Put("t2", "d", Entry{4, now}, now, stale);
  CHECK(entries.Find("t2", "c") != nullptr);
  CHECK(entries.size() == 3);

  // Full: the next entry starts an empty store.
  entries.Put("t3", "e", Entry{5, now}, now, stale);
  CHECK(entries.size() == 1);
  CHECK(entries.Find("t3", "e") != nullptr);
  CHECK(entries.Find("t1", "b") == nullptr);

  entries.Clear();
  CHECK(entries.size() == 0);
  CHECK(entries.Find("t3", "e") == nullptr);
}

}  // namespace
}  // namespace parkbase
