#include "common/times.h"

#include "google/protobuf/util/time_util.h"

namespace parkbase {

using google::protobuf::util::TimeUtil;

bool IsValidTimestamp(const google::protobuf::Timestamp& timestamp) {
  return timestamp.seconds() >= TimeUtil::kTimestampMinSeconds &&
         timestamp.seconds() <= TimeUtil::kTimestampMaxSeconds && timestamp.nanos() >= 0 &&
         timestamp.nanos() <= 999'999'999;
}

bool IsValidDuration(const google::protobuf::Duration& duration) {
  return duration.seconds() >= TimeUtil::kDurationMinSeconds && duration.seconds() <= TimeUtil::kDurationMaxSeconds &&
         duration.nanos() > -1'000'000'000 && duration.nanos() < 1'000'000'000 &&
         !(duration.seconds() > 0 && duration.nanos() < 0) && !(duration.seconds() < 0 && duration.nanos() > 0);
}

absl::Time MaxTimestamp() {
  return absl::FromUnixSeconds(TimeUtil::kTimestampMaxSeconds) + absl::Nanoseconds(999'999'999);
}

}  // namespace parkbase
