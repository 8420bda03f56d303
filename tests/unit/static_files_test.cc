// The park console's files as the HTTP door serves them (common/static_files.h): content types, the index.html
// fallback for the app's own routes, and no way out of the directory, by "..", its encodings or a symlink.
#include "common/static_files.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"

namespace parkbase {
namespace {

namespace fs = std::filesystem;

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A temporary tree: <base>/secret.txt outside the served <base>/dist, which holds the console's files and a symlink
// that points out of it.
struct Tree {
  Tree() {
    std::string pattern = (fs::temp_directory_path() / "pb-static-XXXXXX").string();
    base = mkdtemp(pattern.data());
    WriteFile(base / "secret.txt", "SECRET");
    WriteFile(base / "dist-other" / "x.js", "OTHER");
    WriteFile(base / "dist" / "index.html", "<!doctype html><title>console</title>");
    WriteFile(base / "dist" / "assets" / "index-abc123.js", "console.log(1)");
    WriteFile(base / "dist" / "assets" / "index-abc123.css", "body{}");
    WriteFile(base / "dist" / "favicon.svg", "<svg/>");
    fs::create_symlink(base / "secret.txt", base / "dist" / "link.txt");
  }
  ~Tree() { fs::remove_all(base); }
  fs::path base;
};

HttpResponse Get(const StaticFiles& files, const std::string& path, const std::string& verb = "GET") {
  HttpRequest request;
  request.verb = verb;
  request.path = path;
  std::optional<HttpResponse> response = files.Serve(request);
  REQUIRE(response.has_value());
  return *response;
}

std::string HeaderOf(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

TEST_CASE("console files: served with their content types, the app's routes get index.html", "[console][unit]") {
  Tree tree;
  absl::StatusOr<StaticFiles> files = StaticFiles::Open((tree.base / "dist").string(), "/console/", "console_dir");
  REQUIRE(files.ok());

  HttpResponse index = Get(*files, "/console/");
  CHECK(index.status == 200);
  CHECK(index.content_type == "text/html; charset=utf-8");
  CHECK(absl::StrContains(index.body, "<title>console</title>"));
  CHECK(HeaderOf(index, "Cache-Control") == "no-cache");
  CHECK(absl::StrContains(HeaderOf(index, "Content-Security-Policy"), "frame-ancestors 'none'"));

  HttpResponse script = Get(*files, "/console/assets/index-abc123.js");
  CHECK(script.status == 200);
  CHECK(script.content_type == "text/javascript; charset=utf-8");
  CHECK(script.body == "console.log(1)");
  CHECK(absl::StrContains(HeaderOf(script, "Cache-Control"), "immutable"));
  CHECK(HeaderOf(script, "X-Content-Type-Options") == "nosniff");
  CHECK(Get(*files, "/console/assets/index-abc123.css").content_type == "text/css; charset=utf-8");
  CHECK(Get(*files, "/console/favicon.svg").content_type == "image/svg+xml");

  SECTION("a client-side route is the app's page") {
    for (const char* route : {"/console/tenants", "/console/t/acme/devices", "/console/t/acme/devices/press-1/"}) {
      HttpResponse page = Get(*files, route);
      CHECK(page.status == 200);
      CHECK(page.body == index.body);
    }
  }
  SECTION("a missing asset is 404, not the page") {
    CHECK(Get(*files, "/console/assets/missing.js").status == 404);
  }
  SECTION("/console redirects to /console/; other paths are the API's") {
    HttpResponse redirect = Get(*files, "/console");
    CHECK(redirect.status == 308);
    CHECK(HeaderOf(redirect, "Location") == "/console/");
    HttpRequest api;
    api.verb = "GET";
    api.path = "/v1/tenants";
    CHECK_FALSE(files->Serve(api).has_value());
    api.path = "/consoleX/index.html";
    CHECK_FALSE(files->Serve(api).has_value());
  }
  SECTION("only GET") {
    HttpResponse post = Get(*files, "/console/index.html", "POST");
    CHECK(post.status == 405);
    CHECK(HeaderOf(post, "Allow") == "GET");
  }
}

TEST_CASE("console files: no path reaches a file outside the directory", "[console][unit]") {
  Tree tree;
  absl::StatusOr<StaticFiles> files = StaticFiles::Open((tree.base / "dist").string(), "/console/", "console_dir");
  REQUIRE(files.ok());
  for (const char* path :
       {"/console/../secret.txt", "/console/%2e%2e/secret.txt", "/console/%2E%2E/secret.txt",
        "/console/assets/../../secret.txt", "/console/..%2fsecret.txt", "/console/assets%2f..%2f..%2fsecret.txt",
        "/console/..%5csecret.txt", "/console/.%2e/secret.txt", "/console//etc/passwd", "/console/%2fetc%2fpasswd",
        "/console/link.txt", "/console/../dist-other/x.js", "/console/index.html%00.js", "/console/%zz"}) {
    INFO(path);
    HttpResponse answer = Get(*files, path);
    CHECK(answer.status == 404);
    CHECK_FALSE(absl::StrContains(answer.body, "SECRET"));
    CHECK_FALSE(absl::StrContains(answer.body, "OTHER"));
    CHECK_FALSE(absl::StrContains(answer.body, "root:"));
  }
}

TEST_CASE("console files: --console_dir must be a built console", "[console][unit]") {
  Tree tree;
  absl::StatusOr<StaticFiles> missing = StaticFiles::Open((tree.base / "nope").string(), "/console/", "console_dir");
  CHECK(absl::IsInvalidArgument(missing.status()));
  CHECK(absl::StrContains(missing.status().message(), "--console_dir"));
  absl::StatusOr<StaticFiles> unbuilt = StaticFiles::Open((tree.base / "dist-other").string(), "/console/", "console_dir");
  CHECK(absl::IsInvalidArgument(unbuilt.status()));
  CHECK(absl::StrContains(unbuilt.status().message(), "index.html"));
}

}  // namespace
}  // namespace parkbase
