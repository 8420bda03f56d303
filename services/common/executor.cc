#include "common/executor.h"

#include <exception>
#include <utility>

#include "common/log.h"

namespace parkbase {

BlockingExecutor::BlockingExecutor(Options options) : options_(options) {
  const int threads = options_.threads < 1 ? 1 : options_.threads;
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

BlockingExecutor::~BlockingExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

bool BlockingExecutor::Submit(std::function<void()> work) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int64_t>(queue_.size()) >= options_.max_queued) return false;
  queue_.push_back(std::move(work));
  return true;
}

int64_t BlockingExecutor::queued() {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

void BlockingExecutor::Loop() {
  while (true) {
    std::function<void()> work;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &BlockingExecutor::HasWorkOrStopping));
      if (queue_.empty()) return;  // stopping, and everything queued has run
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      work();
    } catch (const std::exception& error) {
      LogLine(LogLevel::kError, "executor work failed").Str("error", error.what()).Emit();
    } catch (...) {
      LogLine(LogLevel::kError, "executor work failed").Emit();
    }
  }
}

}  // namespace parkbase
