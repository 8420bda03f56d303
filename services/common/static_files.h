// The park console's built files (services/console, docs/console.md), served by the HTTP door under a path prefix
// (/console/) on the API's own origin, so the page calls the API without CORS and its key never crosses origins.
// Only GET and HEAD; a path is decoded, checked segment by segment (no "..", ".", empty, NUL or backslash segment)
// and then resolved with realpath, which must stay inside the directory, so neither an encoded "../" nor a symlink
// reaches a file outside it. A path with no file extension that names no file is a client-side route of the
// single-page app and gets index.html; a missing asset (with an extension) is 404.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/http_server.h"

namespace parkbase {

class StaticFiles {
 public:
  // The largest file served: the console's bundles are a few hundred KB; the limit keeps a stray large file in the
  // directory from being read into memory whole.
  static constexpr int64_t kMaxFileBytes = 8 << 20;

  // `dir` must be a directory holding index.html (INVALID_ARGUMENT naming `flag` otherwise). `prefix` is the URL
  // path the files appear under, starting and ending with '/'.
  static absl::StatusOr<StaticFiles> Open(const std::string& dir, std::string prefix, absl::string_view flag);

  // The answer to `request` when its path is under the prefix (or is the prefix without its last '/', which
  // redirects to it); nullopt otherwise, for the API's routes to handle.
  std::optional<HttpResponse> Serve(const HttpRequest& request) const;

  // The content type a file's name implies (application/octet-stream when unknown).
  static absl::string_view ContentType(absl::string_view file_name);

 private:
  StaticFiles(std::string root, std::string prefix) : root_(std::move(root)), prefix_(std::move(prefix)) {}
  // The file's contents, or nullopt when it does not exist, is not a regular file, or resolves outside root_.
  std::optional<std::string> Read(const std::string& relative) const;

  std::string root_;  // realpath of the directory, without a trailing '/'
  std::string prefix_;
};

}  // namespace parkbase
