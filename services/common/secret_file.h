// Credentials that rotate without a restart: a Kubernetes Secret mounted as a file is rewritten in place by kubelet
// when the Secret changes, so a client that reads the file again for every new connection picks the new value up
// while its open connections carry on (docs/operations.md, Rotating secrets).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace parkbase {

// The secret held in `path`, without surrounding whitespace (the newline an editor or `echo` adds is not part of
// it). UNAVAILABLE when unreadable: kubelet may be swapping the file, and the connect is retried like any other
// failed connect. The secret is never logged; the path is.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace parkbase
