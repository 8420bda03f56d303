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

TEST_CASE("page tokens: a rotation keeps the previous secret's tokens and refuses unknown ones",
          "[page_token][unit]") {
  PageTokens before("old-secret-0123456789");
  const std::string old_token = before.Encode("acme|ListTenants|", "tenant-42");
  PageTokens rotated("new-secret-0123456789", "old-secret-0123456789");
  auto position = rotated.Decode("acme|ListTenants|", old_token);
  REQUIRE(position.ok());
  CHECK(*position == "tenant-42");
  // New tokens are signed with the current secret: a replica not yet rotated (previous = the new secret) reads
  // them, and once the old secret is dropped they still decode.
  const std::string new_token = rotated.Encode("acme|ListTenants|", "tenant-43");
  CHECK(*PageTokens("new-secret-0123456789").Decode("acme|ListTenants|", new_token) == "tenant-43");
  CHECK(PageTokens("old-secret-0123456789").Decode("acme|ListTenants|", new_token).status().code() ==
        absl::StatusCode::kInvalidArgument);
  // The previous secret does not widen the binding, and a third secret is still refused.
  CHECK(rotated.Decode("other|ListTenants|", old_token).status().code() == absl::StatusCode::kInvalidArgument);
  const std::string unknown = PageTokens("unknown-secret-0123456789").Encode("acme|ListTenants|", "tenant-42");
  CHECK(rotated.Decode("acme|ListTenants|", unknown).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("page tokens: page size bounds", "[page_token][unit]") {
  CHECK(*ResolvePageSize(0) == 100);
  CHECK(*ResolvePageSize(7) == 7);
  CHECK(ResolvePageSize(-1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ResolvePageSize(1001).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace parkbase
