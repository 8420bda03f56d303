// A server-wide bound on the memory of requests being parsed and held. A parsed protobuf takes several times its
// wire size (a 16 MiB batch of single points parses to hundreds of megabytes), so a few large requests at once
// could exhaust a pod. Every request reserves an estimate before it is parsed and keeps the reservation while the
// server holds it (a WriteStream batch until it is answered).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"

namespace parkbase {

class ParseBudget {
 public:
  explicit ParseBudget(int64_t capacity_bytes);
  ParseBudget(const ParseBudget&) = delete;
  ParseBudget& operator=(const ParseBudget&) = delete;

  // Bytes held until destroyed (or Release()d); movable.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation();
    int64_t bytes() const { return bytes_; }
    void Release();

   private:
    friend class ParseBudget;
    Reservation(ParseBudget* budget, int64_t bytes) : budget_(budget), bytes_(bytes) {}
    ParseBudget* budget_ = nullptr;
    int64_t bytes_ = 0;
  };

  // Waits until `bytes` fit, at most `max_wait` (and not past the call's cancellation): then RESOURCE_EXHAUSTED
  // with RetryInfo. A request larger than the whole budget waits until it has the budget to itself.
  absl::StatusOr<Reservation> Reserve(int64_t bytes, absl::Duration max_wait, grpc::ServerContextBase* context);

  int64_t capacity() const { return capacity_; }
  int64_t in_use();

 private:
  void Give(int64_t bytes);

  const int64_t capacity_;
  absl::Mutex mu_;
  int64_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace parkbase
