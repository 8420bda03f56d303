#include <catch2/catch.hpp>

#include "common/auth.h"

namespace parkbase {
namespace {

TEST_CASE("auth: minted keys parse back to their parts", "[auth][unit]") {
  MintedKey minted = MintApiKey("acme");
  auto parts = ParseApiKey(minted.key);
  REQUIRE(parts.ok());
  CHECK(parts->tenant_id == "acme");
  CHECK(parts->key_id == minted.key_id);
  CHECK(minted.secret_sha256.size() == 64);
  CHECK(minted.key.find(minted.secret_sha256) == std::string::npos);  // the stored hash is not the secret
  CHECK(MintApiKey("acme").key != minted.key);
}

TEST_CASE("auth: malformed keys are UNAUTHENTICATED without echoing the key", "[auth][unit]") {
  const std::string good = MintApiKey("acme").key;
  for (const std::string& bad :
       {std::string(""), std::string("pbk.acme"), good + "0", "xyz" + good.substr(3), good.substr(0, good.size() - 1),
        std::string("pbk.ACME.0123456789abcdef.") + std::string(64, 'a')}) {
    INFO(bad);
    auto parts = ParseApiKey(bad);
    REQUIRE(parts.status().code() == absl::StatusCode::kUnauthenticated);
    if (!bad.empty()) CHECK(std::string(parts.status().message()).find(bad) == std::string::npos);
  }
}

}  // namespace
}  // namespace parkbase
