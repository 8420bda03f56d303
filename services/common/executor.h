// A bounded pool of threads for the blocking work (PostgreSQL, Redis, authentication, parsing under the parse budget)
// of calls served by gRPC's callback API. In gRPC 1.51 the callback reactions run on a small shared executor: one
// reaction that waits on the database stalls every call it would serve next, so callback handlers hand such work
// here and never block themselves ("Blocking database work never runs on gRPC callback-reactor threads").
//
// Bounded twice: `threads` run work at once and at most `max_queued` items wait. Past that, Submit refuses and the
// caller answers RESOURCE_EXHAUSTED (a burst of new calls is refused rather than queued without limit).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace parkbase {

class BlockingExecutor {
 public:
  struct Options {
    int threads = 16;
    int64_t max_queued = 65'536;
  };

  explicit BlockingExecutor(Options options);
  // Runs what was queued, then joins the threads.
  ~BlockingExecutor();
  BlockingExecutor(const BlockingExecutor&) = delete;
  BlockingExecutor& operator=(const BlockingExecutor&) = delete;

  // Queues `work`; false (and `work` dropped unrun) when `max_queued` items already wait. Work that throws is logged
  // and dropped: the thread goes on.
  bool Submit(std::function<void()> work);

  int threads() const { return static_cast<int>(threads_.size()); }
  // Items waiting now (not counting those running).
  int64_t queued();

 private:
  void Loop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }

  const Options options_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace parkbase
