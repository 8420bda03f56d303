// The executor that callback-API handlers hand their blocking work to (common/executor.h): bounded in threads and
// in queued work, and a throwing task does not take a thread (or the process) down.
#include <atomic>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "absl/synchronization/notification.h"
#include "common/executor.h"

namespace parkbase {
namespace {

TEST_CASE("executor: runs work on at most its threads and refuses past its queue", "[executor][unit]") {
  BlockingExecutor executor({.threads = 2, .max_queued = 3});
  absl::Notification release;
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::atomic<int> ran{0};
  auto blocked = [&] {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    release.WaitForNotification();
    --running;
    ++ran;
  };
  REQUIRE(executor.Submit(blocked));
  REQUIRE(executor.Submit(blocked));
  // Both threads are now taken (or about to be): three more wait, the sixth is refused.
  while (running.load() < 2) {
  }
  CHECK(executor.Submit(blocked));
  CHECK(executor.Submit(blocked));
  CHECK(executor.Submit(blocked));
  CHECK_FALSE(executor.Submit(blocked));
  CHECK(executor.queued() == 3);
  release.Notify();
  while (ran.load() < 5) {
  }
  CHECK(most.load() == 2);
  CHECK(executor.queued() == 0);
}

TEST_CASE("executor: work that throws is dropped and the thread goes on", "[executor][unit]") {
  BlockingExecutor executor({.threads = 1, .max_queued = 8});
  absl::Notification done;
  REQUIRE(executor.Submit([] { throw std::runtime_error("boom"); }));
  REQUIRE(executor.Submit([&] { done.Notify(); }));
  CHECK(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST_CASE("executor: destroying it runs what was queued", "[executor][unit]") {
  std::atomic<int> ran{0};
  {
    BlockingExecutor executor({.threads = 1, .max_queued = 100});
    for (int i = 0; i < 50; ++i) REQUIRE(executor.Submit([&] { ++ran; }));
  }
  CHECK(ran.load() == 50);
}

}  // namespace
}  // namespace parkbase
