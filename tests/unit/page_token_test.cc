#include <catch2/catch.hpp>

#include "common/page_token.h"

namespace parkbase {
namespace {

TEST_CASE("page tokens: round trip under the same binding", "[page_token][unit]") {
  PageTokens tokens("0123456789abcdef-secret");
  const std::string token = tokens.Encode("acme|ListTenants|", "tenant-42");
  auto position = tokens.Decode("acme|ListTenants|", token);
  REQUIRE(position.ok());
  CHECK(*position == "tenant-42");
}

TEST_CASE("page tokens: refused for another binding, a tampered token or another secret", "[page_token][unit]") {
  PageTokens tokens("0123456789abcdef-secret");
  const std::string token = tokens.Encode("acme|ListTenants|", "tenant-42");
  CHECK(tokens.Decode("other|ListTenants|", token).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(tokens.Decode("acme|ListTenants|state = ACTIVE", token).status().code() ==
        absl::StatusCode::kInvalidArgument);
  std::string tampered = token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  CHECK(tokens.Decode("acme|ListTenants|", tampered).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(tokens.Decode("acme|ListTenants|", "not base64 !!").status().code() == absl::StatusCode::kInvalidArgument);
  PageTokens other("another-secret-0123456789");
  CHECK(other.Decode("acme|ListTenants|", token).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("page tokens: page size bounds", "[page_token][unit]") {
  CHECK(*ResolvePageSize(0) == 100);
  CHECK(*ResolvePageSize(7) == 7);
  CHECK(ResolvePageSize(-1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ResolvePageSize(1001).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace parkbase
