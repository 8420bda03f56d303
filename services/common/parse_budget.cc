#include "common/parse_budget.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/errors.h"

namespace parkbase {
namespace {

// How often a waiting call looks at its own cancellation.
constexpr absl::Duration kWaitSlice = absl::Milliseconds(100);
constexpr absl::Duration kBusyRetryAfter = absl::Seconds(1);

}  // namespace

ParseBudget::ParseBudget(int64_t capacity_bytes) : capacity_(std::max<int64_t>(capacity_bytes, 1)) {}

ParseBudget::Reservation::Reservation(Reservation&& other) noexcept
    : budget_(other.budget_), bytes_(other.bytes_) {
  other.budget_ = nullptr;
  other.bytes_ = 0;
}

ParseBudget::Reservation& ParseBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = other.budget_;
    bytes_ = other.bytes_;
    other.budget_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

ParseBudget::Reservation::~Reservation() { Release(); }

void ParseBudget::Reservation::Release() {
  if (budget_ != nullptr && bytes_ > 0) budget_->Give(bytes_);
  budget_ = nullptr;
  bytes_ = 0;
}

void ParseBudget::Give(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  in_use_ -= bytes;
}

int64_t ParseBudget::in_use() {
  absl::MutexLock lock(&mu_);
  return in_use_;
}

absl::StatusOr<ParseBudget::Reservation> ParseBudget::Reserve(int64_t bytes, absl::Duration max_wait,
                                                              grpc::ServerContextBase* context) {
  const int64_t wanted = std::clamp<int64_t>(bytes, 0, capacity_);
  const absl::Time deadline = absl::Now() + max_wait;
  absl::MutexLock lock(&mu_);
  auto fits = [this, wanted]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_use_ + wanted <= capacity_; };
  while (!fits()) {
    if (context != nullptr && context->IsCancelled()) return absl::CancelledError("the call was cancelled");
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return QuotaError("server", "max_parsing_bytes",
                        absl::StrCat("the server is parsing and holding its maximum of ", capacity_,
                                     " bytes of requests; retry shortly or send smaller batches"),
                        kBusyRetryAfter);
    }
    mu_.AwaitWithDeadline(absl::Condition(&fits), std::min(deadline, now + kWaitSlice));
  }
  in_use_ += wanted;
  return Reservation(this, wanted);
}

}  // namespace parkbase
