// Etags (AIP-154): an opaque token of one version of a resource, so a caller can say "change it only if nobody has
// since I read it" and two administrators editing the same quota cannot silently overwrite each other.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace parkbase {

// `revision` counts the resource's changes; `create_micros` (its creation time) tells a resource deleted and
// created again under the same name apart from the one the caller read.
std::string EtagOf(int64_t revision, int64_t create_micros);

// OK when `given` is empty (the caller set no precondition) or equals `current`. Otherwise ABORTED naming `field`:
// the caller should read the resource again and redo its change on what it finds.
absl::Status CheckEtag(absl::string_view field, absl::string_view given, absl::string_view current);

}  // namespace parkbase
