// The HTTP routes read from google.api.http, and the JSON mapping of requests, responses and errors.
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "common/errors.h"
#include "common/http_routes.h"
#include "common/http_transcoding.h"
#include "google/protobuf/util/json_util.h"
#include "parkbase/api/v1/http_error.pb.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/marketplace/v1/marketplace.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"

namespace parkbase {
namespace {

namespace devpb = ::parkbase::device::v1;
namespace tenantpb = ::parkbase::tenant::v1;

HttpRouter AllRoutes() {
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  // Linked by the generated headers above, so the pool holds them.
  (void)tenantpb::Tenant::descriptor();
  (void)devpb::Device::descriptor();
  (void)telemetry::v1::WriteRequest::descriptor();
  (void)marketplace::v1::App::descriptor();
  std::vector<const google::protobuf::ServiceDescriptor*> services;
  for (const char* name : {"parkbase.tenant.v1.TenantService", "parkbase.device.v1.DeviceService",
                           "parkbase.telemetry.v1.TelemetryService", "parkbase.marketplace.v1.MarketplaceService"}) {
    services.push_back(pool->FindServiceByName(name));
    REQUIRE(services.back() != nullptr);
  }
  auto router = HttpRouter::Build(services);
  REQUIRE(router.ok());
  return *std::move(router);
}

TEST_CASE("http routes: templates parse into literals, wildcards, variables and a custom verb", "[http][unit]") {
  auto route = ParsePathTemplate("/v1/{name=tenants/*/devices/*}:disable");
  REQUIRE(route.ok());
  CHECK(route->segments.size() == 5);
  CHECK(route->custom_verb == "disable");
  REQUIRE(route->variables.size() == 1);
  CHECK(route->variables[0].field_path == "name");
  CHECK(route->variables[0].first == 1);
  CHECK(route->variables[0].end == 5);
  CHECK(ParsePathTemplate("/v1/{parent}/x").ok());
  CHECK(ParsePathTemplate("/v1/{a=**}/b").ok());
  CHECK_FALSE(ParsePathTemplate("v1/tenants").ok());
  CHECK_FALSE(ParsePathTemplate("/v1/{name=tenants/*").ok());
  CHECK_FALSE(ParsePathTemplate("/v1/{a=**}/{b=**}").ok());
  CHECK_FALSE(ParsePathTemplate("/v1/tenants/").ok());
}

TEST_CASE("http routes: every annotated method of every service has a route, and requests find them",
          "[http][unit]") {
  const HttpRouter router = AllRoutes();
  CHECK(router.routes().size() >= 63);
  SECTION("a resource name binds its variable") {
    auto match = router.Match("GET", "/v1/tenants/acme/devices/press-1");
    REQUIRE(match.ok());
    CHECK(match->route->method->name() == "GetDevice");
    REQUIRE(match->bindings.size() == 1);
    CHECK(match->bindings[0] == std::make_pair(std::string("name"), std::string("tenants/acme/devices/press-1")));
  }
  SECTION("a custom verb picks its method, not the resource's") {
    auto match = router.Match("POST", "/v1/tenants/acme/devices/press-1:disable");
    REQUIRE(match.ok());
    CHECK(match->route->method->name() == "DisableDevice");
    CHECK(match->bindings[0].second == "tenants/acme/devices/press-1");
  }
  SECTION("a literal collection beats a variable") {
    auto match = router.Match("GET", "/v1/tenants");
    REQUIRE(match.ok());
    CHECK(match->route->method->name() == "ListTenants");
  }
  SECTION("a nested field path binds inside the body field") {
    auto match = router.Match("PATCH", "/v1/tenants/acme/devices/press-1");
    REQUIRE(match.ok());
    CHECK(match->route->method->name() == "UpdateDevice");
    CHECK(match->bindings[0].first == "device.name");
    CHECK(match->route->body == "device");
  }
  SECTION("percent-escapes in a segment are decoded") {
    auto match = router.Match("GET", "/v1/tenants/acme/devices/press%2D1");
    REQUIRE(match.ok());
    CHECK(match->bindings[0].second == "tenants/acme/devices/press-1");
  }
  SECTION("a path no template matches is NOT_FOUND; a verb it does not take is UNIMPLEMENTED") {
    CHECK(absl::IsNotFound(router.Match("GET", "/v1/tenants/acme/nothing").status()));
    CHECK(absl::IsNotFound(router.Match("GET", "/v2/tenants").status()));
    CHECK(absl::IsNotFound(router.Match("GET", "/v1/tenants/").status()));
    CHECK(absl::IsUnimplemented(router.Match("PUT", "/v1/tenants").status()));
    CHECK(absl::IsInvalidArgument(router.Match("GET", "/v1/tenants/%zz").status()));
    const auto verbs = router.VerbsFor("/v1/tenants/acme");
    CHECK(std::find(verbs.begin(), verbs.end(), "PATCH") != verbs.end());
    CHECK(std::find(verbs.begin(), verbs.end(), "DELETE") != verbs.end());
  }
}

TEST_CASE("http transcoding: body, path and query make the request, and wrong types are named", "[http][unit]") {
  const HttpRouter router = AllRoutes();
  SECTION("body field plus path variable: the path names the resource even when the body says otherwise") {
    auto match = router.Match("PATCH", "/v1/tenants/acme/devices/press-1");
    REQUIRE(match.ok());
    auto request = RequestFromHttp(*match, "updateMask=display_name",
                                   R"({"name":"tenants/other/devices/x","displayName":"Press"})",
                                   devpb::UpdateDeviceRequest::default_instance());
    REQUIRE(request.ok());
    const auto& update = static_cast<const devpb::UpdateDeviceRequest&>(**request);
    CHECK(update.device().name() == "tenants/acme/devices/press-1");
    CHECK(update.device().display_name() == "Press");
    REQUIRE(update.update_mask().paths_size() == 1);
    CHECK(update.update_mask().paths(0) == "display_name");
  }
  SECTION("query parameters: scalars, repeated values, + as space, names in either spelling") {
    auto match = router.Match("GET", "/v1/tenants/acme/devices");
    REQUIRE(match.ok());
    auto request = RequestFromHttp(*match, "page_size=5&filter=state%20%3D%20ACTIVE&pageToken=a+b", "",
                                   devpb::ListDevicesRequest::default_instance());
    REQUIRE(request.ok());
    const auto& list = static_cast<const devpb::ListDevicesRequest&>(**request);
    CHECK(list.parent() == "tenants/acme");
    CHECK(list.page_size() == 5);
    CHECK(list.filter() == "state = ACTIVE");
    CHECK(list.page_token() == "a b");
  }
  SECTION("refusals name the parameter or the body") {
    auto list = router.Match("GET", "/v1/tenants/acme/devices");
    REQUIRE(list.ok());
    auto bad_type = RequestFromHttp(*list, "page_size=ten", "", devpb::ListDevicesRequest::default_instance());
    CHECK(absl::StartsWith(bad_type.status().message(), "page_size:"));
    auto unknown = RequestFromHttp(*list, "colour=red", "", devpb::ListDevicesRequest::default_instance());
    CHECK(absl::StartsWith(unknown.status().message(), "colour:"));
    auto by_path = RequestFromHttp(*list, "parent=tenants/other", "", devpb::ListDevicesRequest::default_instance());
    CHECK(absl::StartsWith(by_path.status().message(), "parent:"));
    auto body_on_get = RequestFromHttp(*list, "", "{}", devpb::ListDevicesRequest::default_instance());
    CHECK(absl::StartsWith(body_on_get.status().message(), "body:"));
    auto create = router.Match("POST", "/v1/tenants/acme/devices");
    REQUIRE(create.ok());
    auto not_json = RequestFromHttp(*create, "", "{nope", devpb::CreateDeviceRequest::default_instance());
    CHECK(absl::IsInvalidArgument(not_json.status()));
    CHECK(absl::StartsWith(not_json.status().message(), "body:"));
    auto unknown_field = RequestFromHttp(*create, "", R"({"colour":"red"})",
                                         devpb::CreateDeviceRequest::default_instance());
    CHECK(absl::StartsWith(unknown_field.status().message(), "body:"));
    auto whole_body = router.Match("POST", "/v1/tenants/acme/devices/press-1:disable");
    REQUIRE(whole_body.ok());
    auto query_with_star = RequestFromHttp(*whole_body, "reason=x", "{}",
                                           devpb::DisableDeviceRequest::default_instance());
    CHECK(absl::StartsWith(query_with_star.status().message(), "reason:"));
  }
}

TEST_CASE("http errors: the HTTP status of each code, and Google's JSON error with its details", "[http][unit]") {
  CHECK(HttpStatusOf(grpc::OK) == 200);
  CHECK(HttpStatusOf(grpc::INVALID_ARGUMENT) == 400);
  CHECK(HttpStatusOf(grpc::FAILED_PRECONDITION) == 400);
  CHECK(HttpStatusOf(grpc::OUT_OF_RANGE) == 400);
  CHECK(HttpStatusOf(grpc::UNAUTHENTICATED) == 401);
  CHECK(HttpStatusOf(grpc::PERMISSION_DENIED) == 403);
  CHECK(HttpStatusOf(grpc::NOT_FOUND) == 404);
  CHECK(HttpStatusOf(grpc::ALREADY_EXISTS) == 409);
  CHECK(HttpStatusOf(grpc::ABORTED) == 409);
  CHECK(HttpStatusOf(grpc::RESOURCE_EXHAUSTED) == 429);
  CHECK(HttpStatusOf(grpc::CANCELLED) == 499);
  CHECK(HttpStatusOf(grpc::INTERNAL) == 500);
  CHECK(HttpStatusOf(grpc::UNIMPLEMENTED) == 501);
  CHECK(HttpStatusOf(grpc::UNAVAILABLE) == 503);
  CHECK(HttpStatusOf(grpc::DEADLINE_EXCEEDED) == 504);

  const HttpError quota = HttpErrorOf(QuotaError("tenant acme", "ingest_points_per_second", "over the quota",
                                                 absl::Milliseconds(2500)));
  CHECK(quota.http_status == 429);
  REQUIRE(quota.retry_after_seconds.has_value());
  CHECK(*quota.retry_after_seconds == 3);
  api::v1::HttpErrorBody body;
  REQUIRE(google::protobuf::util::JsonStringToMessage(quota.body, &body).ok());
  CHECK(body.error().code() == 429);
  CHECK(body.error().status() == "RESOURCE_EXHAUSTED");
  CHECK(body.error().details_size() == 2);
  CHECK(absl::StrContains(quota.body, "google.rpc.QuotaFailure"));
  CHECK(absl::StrContains(quota.body, "google.rpc.RetryInfo"));

  const HttpError field = HttpErrorOf(FieldError("device.serial", "must be 1 to 64 characters"));
  CHECK(field.http_status == 400);
  CHECK_FALSE(field.retry_after_seconds.has_value());
  CHECK(absl::StrContains(field.body, R"("field":"device.serial")"));
  // INTERNAL's text never reaches the client (ToGrpcStatus replaces it).
  const HttpError internal = HttpErrorOf(absl::InternalError("pqxx: relation devices does not exist"));
  CHECK(internal.http_status == 500);
  CHECK_FALSE(absl::StrContains(internal.body, "pqxx"));
}

}  // namespace
}  // namespace parkbase
