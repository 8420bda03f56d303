// Checked conversions of client-supplied times. protobuf's TimeUtil asserts (a CHECK, which throws or aborts) on a
// Timestamp outside 0001-01-01..9999-12-31 and overflows on large Durations, so every Timestamp or Duration that
// comes from a request is checked here before it is converted.
#pragma once

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace parkbase {

// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, nanos 0 to 999,999,999.
bool IsValidTimestamp(const google::protobuf::Timestamp& timestamp);
// +-10,000 years, nanos of the same sign as seconds and under a second.
bool IsValidDuration(const google::protobuf::Duration& duration);

// The last instant a Timestamp can hold.
absl::Time MaxTimestamp();

}  // namespace parkbase
