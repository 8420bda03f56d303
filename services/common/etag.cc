#include "common/etag.h"

#include "absl/strings/str_cat.h"

namespace parkbase {

std::string EtagOf(int64_t revision, int64_t create_micros) {
  // Quoted like an HTTP entity tag (RFC 9110), the form clients know etags in.
  return absl::StrCat("\"", revision, "-", absl::Hex(create_micros), "\"");
}

absl::Status CheckEtag(absl::string_view field, absl::string_view given, absl::string_view current) {
  if (given.empty() || given == current) return absl::OkStatus();
  // Neither etag goes into the message: the caller's is arbitrary input, and the current one is for a fresh read.
  return absl::AbortedError(
      absl::StrCat(field, ": stale, the resource has changed since it was read; read it again and reapply the change"));
}

}  // namespace parkbase
