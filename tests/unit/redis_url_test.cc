#include <catch2/catch.hpp>

#include "common/redis.h"

namespace parkbase {
namespace {

TEST_CASE("redis: URLs parse into host, port, password and database", "[redis][unit]") {
  auto plain = ParseRedisUrl("redis://127.0.0.1:6380");
  REQUIRE(plain.ok());
  CHECK(plain->host == "127.0.0.1");
  CHECK(plain->port == 6380);
  CHECK(plain->password.empty());
  auto full = ParseRedisUrl("redis://:s3cret@cache.internal:6379/2");
  REQUIRE(full.ok());
  CHECK(full->host == "cache.internal");
  CHECK(full->password == "s3cret");
  CHECK(full->database == 2);
  CHECK(ParseRedisUrl("http://x").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseRedisUrl("redis://host:99999").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseRedisUrl("redis://:6379").status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace parkbase
