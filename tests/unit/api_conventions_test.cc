// The pure parts of AIP-154 etags and AIP-155 request ids: what an etag distinguishes, what a stale one answers,
// and what a request id's fingerprint binds (tests/integration/api_conventions_test.cc runs them end to end).
#include <catch2/catch.hpp>

#include "common/etag.h"
#include "common/request_replay.h"
#include "parkbase/tenant/v1/tenant.pb.h"

namespace parkbase {
namespace {

namespace tenantpb = ::parkbase::tenant::v1;

TEST_CASE("etag: revisions and incarnations differ, and only a different, non-empty etag is ABORTED", "[unit]") {
  CHECK(EtagOf(1, 1000) != EtagOf(2, 1000));
  // The same revision of a resource deleted and created again under its name.
  CHECK(EtagOf(1, 1000) != EtagOf(1, 1001));
  CHECK(CheckEtag("tenant.etag", "", EtagOf(3, 5)).ok());
  CHECK(CheckEtag("tenant.etag", EtagOf(3, 5), EtagOf(3, 5)).ok());
  const absl::Status stale = CheckEtag("tenant.etag", EtagOf(2, 5), EtagOf(3, 5));
  CHECK(absl::IsAborted(stale));
  CHECK(stale.message().find("tenant.etag") == 0);
  // Arbitrary input is not echoed back.
  CHECK(stale.message().find("injected") == std::string::npos);
  CHECK(CheckEtag("tenant.etag", "injected", EtagOf(3, 5)).message().find("injected") == std::string::npos);
}

Principal Caller(const std::string& key_id) {
  Principal caller;
  caller.tenant_id = "acme";
  caller.role = Role::kTenantAdmin;
  caller.key_id = key_id;
  return caller;
}

TEST_CASE("request_id: the fingerprint binds caller, method and request, not the id itself", "[unit]") {
  tenantpb::CreateApiKeyRequest request;
  request.set_parent("tenants/acme");
  request.mutable_api_key()->set_display_name("ci");
  request.mutable_api_key()->set_role(tenantpb::ROLE_DEVELOPER);
  request.set_request_id("r-1");
  auto key = [&](const Principal& caller, const char* method) {
    absl::StatusOr<std::optional<ReplayKey>> made =
        RequestReplays::KeyFor("request_id", method, caller, request, request.request_id());
    REQUIRE(made.ok());
    REQUIRE(made->has_value());
    return **made;
  };
  const ReplayKey first = key(Caller("k1"), "CreateApiKey");
  CHECK(first.request_id == "r-1");
  CHECK(first.method == "CreateApiKey");
  CHECK(key(Caller("k1"), "CreateApiKey").fingerprint == first.fingerprint);
  CHECK(key(Caller("k2"), "CreateApiKey").fingerprint != first.fingerprint);
  CHECK(key(Caller("k1"), "CreateDeviceCredential").fingerprint != first.fingerprint);
  request.set_request_id("r-2");
  CHECK(key(Caller("k1"), "CreateApiKey").fingerprint == first.fingerprint);
  request.mutable_api_key()->set_display_name("other");
  CHECK(key(Caller("k1"), "CreateApiKey").fingerprint != first.fingerprint);

  SECTION("no id, no key; a malformed id is INVALID_ARGUMENT naming the field") {
    absl::StatusOr<std::optional<ReplayKey>> none =
        RequestReplays::KeyFor("request_id", "CreateApiKey", Caller("k1"), request, "");
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());
    for (const std::string& bad : {std::string("has space"), std::string(65, 'a'), std::string("a/b")}) {
      absl::StatusOr<std::optional<ReplayKey>> refused =
          RequestReplays::KeyFor("request_id", "CreateApiKey", Caller("k1"), request, bad);
      CHECK(absl::IsInvalidArgument(refused.status()));
      CHECK(refused.status().message().find("request_id") == 0);
    }
    CHECK(RequestReplays::KeyFor("request_id", "CreateApiKey", Caller("k1"), request, std::string(64, 'a')).ok());
  }
  SECTION("without replays a request id is refused, not silently ignored") {
    tenantpb::CreateApiKeyResponse answer;
    bool minted = false;
    const absl::Status refused = MintOnce(nullptr, TenantScope::Tenant("acme"), first, answer,
                                          [&](const ReplayTicket*) {
                                            minted = true;
                                            return absl::OkStatus();
                                          });
    CHECK(absl::IsUnimplemented(refused));
    CHECK_FALSE(minted);
    CHECK(MintOnce(nullptr, TenantScope::Tenant("acme"), std::nullopt, answer,
                   [&](const ReplayTicket* ticket) {
                     minted = ticket == nullptr;
                     return absl::OkStatus();
                   })
              .ok());
    CHECK(minted);
  }
}

}  // namespace
}  // namespace parkbase
