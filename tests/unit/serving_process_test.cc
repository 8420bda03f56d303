// Process-wide settings of a serving process (common/server.h, PrepareServingProcess).
#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/synchronization/mutex.h"
#include "common/server.h"

namespace parkbase {
namespace {

// Debian's Abseil checks every lock against a process-wide lock-order graph and aborts on a cycle ("Potential
// Mutex deadlock"). Taking two mutexes in both orders is such a cycle: without PrepareServingProcess this test
// process dies on the second order, with it the graph is never consulted (and each Lock costs nanoseconds, not a
// hash-chain walk under a global spin lock).
TEST_CASE("server: a serving process does not run absl's mutex deadlock detection", "[server][unit]") {
  PrepareServingProcess();
  // Many mutexes alive, as with thousands of open streams: the graph's look-ups grew with them.
  std::vector<std::unique_ptr<absl::Mutex>> alive;
  for (int i = 0; i < 1000; ++i) {
    alive.push_back(std::make_unique<absl::Mutex>());
    absl::MutexLock lock(alive.back().get());
  }
  absl::Mutex first;
  absl::Mutex second;
  {
    absl::MutexLock a(&first);
    absl::MutexLock b(&second);
  }
  {
    absl::MutexLock b(&second);
    absl::MutexLock a(&first);
  }
  SUCCEED("locked in both orders");
}

}  // namespace
}  // namespace parkbase
