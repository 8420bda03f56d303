#include "common/static_files.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/http_routes.h"

namespace parkbase {
namespace {

// What the console's pages may load and call: only their own origin (the API is on it), styles inline as Vite's
// CSS injection needs, no framing (clickjacking) and no plugins.
constexpr absl::string_view kContentSecurityPolicy =
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

std::optional<std::string> RealPath(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return std::nullopt;
  return std::string(resolved);
}

HttpResponse Plain(int status, absl::string_view text) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::string(text);
  return response;
}

// The decoded segments of `path` after the prefix, or nullopt when one of them could step outside the directory
// or is not a plain name: "..", ".", an empty segment before the last, or one holding '/', '\' or NUL once decoded.
std::optional<std::vector<std::string>> Segments(absl::string_view rest) {
  std::vector<std::string> segments;
  std::vector<absl::string_view> raw = absl::StrSplit(rest, '/');
  for (size_t i = 0; i < raw.size(); ++i) {
    absl::StatusOr<std::string> segment = PercentDecode(raw[i], false);
    if (!segment.ok()) return std::nullopt;
    if (segment->empty()) {
      if (i + 1 == raw.size()) break;  // a trailing '/'
      return std::nullopt;
    }
    if (*segment == "." || *segment == ".." || absl::StrContains(*segment, '/') ||
        absl::StrContains(*segment, '\\') || absl::StrContains(*segment, '\0')) {
      return std::nullopt;
    }
    segments.push_back(*std::move(segment));
  }
  return segments;
}

}  // namespace

absl::StatusOr<StaticFiles> StaticFiles::Open(const std::string& dir, std::string prefix, absl::string_view flag) {
  std::optional<std::string> root = RealPath(dir);
  struct stat info {};
  if (!root.has_value() || stat(root->c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", dir, " is not a directory"));
  }
  if (stat(absl::StrCat(*root, "/index.html").c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", dir, " holds no index.html (build it: npm ci && npm run build)"));
  }
  return StaticFiles(*std::move(root), std::move(prefix));
}

absl::string_view StaticFiles::ContentType(absl::string_view file_name) {
  static constexpr std::pair<absl::string_view, absl::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [extension, type] : kTypes) {
    if (absl::EndsWithIgnoreCase(file_name, extension)) return type;
  }
  return "application/octet-stream";
}

std::optional<std::string> StaticFiles::Read(const std::string& relative) const {
  std::optional<std::string> path = RealPath(absl::StrCat(root_, "/", relative));
  if (!path.has_value() || !absl::StartsWith(*path, absl::StrCat(root_, "/"))) return std::nullopt;
  struct stat info {};
  if (stat(path->c_str(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_size > kMaxFileBytes) return std::nullopt;
  std::ifstream in(*path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::optional<HttpResponse> StaticFiles::Serve(const HttpRequest& request) const {
  const absl::string_view bare = absl::string_view(prefix_).substr(0, prefix_.size() - 1);
  if (request.path == bare) {
    HttpResponse response = Plain(308, "");
    response.headers.emplace_back("Location", prefix_);
    return response;
  }
  if (!absl::StartsWith(request.path, prefix_)) return std::nullopt;
  if (request.verb != "GET") {
    HttpResponse response = Plain(405, "the console's files answer GET only");
    response.headers.emplace_back("Allow", "GET");
    return response;
  }
  std::optional<std::vector<std::string>> segments = Segments(absl::string_view(request.path).substr(prefix_.size()));
  if (!segments.has_value()) return Plain(404, "not found");
  std::string relative = absl::StrJoin(*segments, "/");
  if (relative.empty()) relative = "index.html";
  std::optional<std::string> body = Read(relative);
  if (!body.has_value()) {
    // A client-side route (/console/tenants/acme/devices) is no file: the app's page, which routes it itself.
    if (!segments->empty() && absl::StrContains(segments->back(), '.')) return Plain(404, "not found");
    relative = "index.html";
    body = Read(relative);
    if (!body.has_value()) return Plain(404, "not found");
  }
  HttpResponse response;
  response.content_type = std::string(ContentType(relative));
  response.body = *std::move(body);
  // Vite names the bundles by their content hash, so they never change; the page that names them always may.
  response.headers.emplace_back("Cache-Control", absl::StartsWith(relative, "assets/")
                                                     ? "public, max-age=31536000, immutable"
                                                     : "no-cache");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (relative == "index.html") {
    response.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  return response;
}

}  // namespace parkbase
