#include <catch2/catch.hpp>

#include "common/names.h"

namespace parkbase {
namespace {

TEST_CASE("names: tenant ids", "[names][unit]") {
  CHECK(ValidateTenantId("tenant_id", "acme").ok());
  CHECK(ValidateTenantId("tenant_id", "acme-2").ok());
  for (const char* bad : {"", "ab", "Acme", "1acme", "acme-", "ac_me", "a234567890123456789012345678901234567890x"}) {
    INFO(bad);
    absl::Status status = ValidateTenantId("tenant_id", bad);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(status.message()).rfind("tenant_id:", 0) == 0);
  }
}

TEST_CASE("names: resource names match their pattern", "[names][unit]") {
  auto parts = ParseResourceName("name", "tenants/acme/apiKeys/k1", "tenants/*/apiKeys/*");
  REQUIRE(parts.ok());
  CHECK(*parts == std::vector<std::string>{"acme", "k1"});
  CHECK(ParseResourceName("name", "tenants/acme", "tenants/*/apiKeys/*").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ParseResourceName("name", "tenant/acme", "tenants/*").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseResourceName("name", "tenants/", "tenants/*").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("names: text length counts characters, not bytes", "[names][unit]") {
  CHECK(ValidateText("x", "\xE5\xB7\xA5\xE5\x8E\x82", 1, 2).ok());  // two CJK characters, six bytes
  CHECK(!ValidateText("x", "", 1, 2).ok());
  CHECK(!ValidateText("x", "abc", 1, 2).ok());
  CHECK(!ValidateText("x", "a\nb", 1, 10).ok());
}

}  // namespace
}  // namespace parkbase
