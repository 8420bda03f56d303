// The isolation matrix, generated from the access rules declared on the RPCs: every method of every hosted service,
// called against a victim tenant's resources with every kind of credential that must not reach them, is refused
// with the code the rule implies, and the victim's rows are byte for byte what they were. Then the patterns that
// leaked in other IoT platforms: a foreign device id with a valid metric, and multi-item requests with exactly one
// foreign item.
#include <map>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/access.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/marketplace/v1/marketplace.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "google/api/annotations.pb.h"
#include "support/app_credentials.h"
#include "support/http_call.h"
#include "support/raw_call.h"
#include "support/resource_names.h"
#include "integration/isolation_env.h"
#include "support/tenant_client.h"

namespace parkbase::testing {
namespace {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

// What a victim tenant holds, by resource kind: the id a generated resource name uses for each collection.
struct Victim {
  std::string tenant_id;
  std::map<std::string, std::string> ids;  // collection ("devices", "apiKeys", ...) -> an id in it
  std::string identifier;                  // a device's industrial identifier
};

// The resource name the request's `field` gets, naming the victim's resources.
std::optional<std::string> VictimName(const MethodDescriptor& method, const std::string& field, const Victim& victim) {
  return ResourceNameFor(method, field, victim.tenant_id, victim.ids);
}

// Every row a tenant has, as one digest per table: "nothing changed" is "every digest is equal".
std::map<std::string, std::string> Snapshot(const std::string& tenant_id) {
  pqxx::connection owner(SharedDatabase().owner_url());
  pqxx::work work(owner);
  std::map<std::string, std::string> digests;
  for (const auto& table : work.exec(
           "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
           "WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' AND EXISTS (SELECT 1 FROM pg_attribute a "
           "WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) ORDER BY 1")) {
    const std::string name = table[0].as<std::string>();
    digests[name] = work.exec_params(absl::StrCat("SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, "
                                                  "',' ORDER BY t::text)), '') FROM ",
                                                  work.quote_name(name), " t WHERE tenant_id = $1"),
                                     tenant_id)[0][0]
                        .as<std::string>();
  }
  return digests;
}

struct Credential {
  std::string kind;
  std::string key;
  std::string tenant_id;  // whose key it is
  Role role = Role::kUnspecified;
  std::string device_id;  // for device keys
  bool revoked_or_expired = false;
  bool suspended = false;
};

// The code `rule` implies for `credential` calling a method against the victim.
grpc::StatusCode ExpectedCode(const access::v1::Rule& rule, const Credential& credential, const Victim& victim) {
  if (credential.revoked_or_expired) return grpc::UNAUTHENTICATED;
  if (credential.suspended) return grpc::PERMISSION_DENIED;
  // An app credential enters only by the scope a method declares (it holds every scope), before anything else.
  const bool app = credential.role == Role::kApp;
  if (app && rule.app_scope().empty()) return grpc::PERMISSION_DENIED;
  if (rule.any_tenant()) return grpc::OK;
  const bool listed = app || std::find(rule.roles().begin(), rule.roles().end(),
                                       static_cast<int>(credential.role)) != rule.roles().end();
  if (rule.tenant_field().empty()) return listed ? grpc::OK : grpc::PERMISSION_DENIED;  // acts on its own tenant
  if (credential.tenant_id != victim.tenant_id) return grpc::NOT_FOUND;
  if (!listed) return grpc::PERMISSION_DENIED;
  if (credential.role == Role::kDevice && !rule.device_field().empty()) return grpc::NOT_FOUND;
  return grpc::OK;  // a device key writing: narrowed point by point, checked below
}


// Over gRPC, or over the REST/JSON door (every method with an HTTP binding: WriteStream has none and is counted as
// skipped).
void RunIsolationMatrix(bool over_http) {
  IsolationEnv env;
  const absl::Time when = env.server().clock().Now() - absl::Minutes(5);
  TestTenant victim_keys = env.tenants().CreateTenant("victim");
  auto [victim_d1_key, victim_d2_key] = env.Populate(victim_keys, when);
  TestTenant attacker = env.tenants().CreateTenant("attacker");
  auto [attacker_d1_key, attacker_d2_key] = env.Populate(attacker, when);
  (void)attacker_d2_key;
  (void)victim_d2_key;
  TestTenant suspended = env.tenants().CreateTenant("susp");

  Victim victim;
  victim.tenant_id = victim_keys.tenant_id;
  victim.identifier = env.identifier_of(victim.tenant_id);
  victim.ids = {{"devices", "dev-2"},
                {"deviceTypes", "sensor"},
                {"apiKeys", KeyId(victim_keys.developer_key)},
                {"credentials", env.credential_of(victim.tenant_id)},
                {"auditEvents", "1"},
                {"apps", "public-app"},
                {"versions", "1.0.0"},
                {"installations", env.PopulateMarketplace(victim_keys)}};
  // The catalogue's park-wide reads name no tenant in their rule: they aim at the victim's unpublished app, which
  // only the victim's own keys may see.
  const std::string draft_app = absl::StrCat("tenants/", victim.tenant_id, "/apps/draft-app");
  const std::map<std::string, std::pair<std::string, std::string>> catalogue_reads = {
      {"GetApp", {"name", draft_app}},
      {"GetAppVersion", {"name", draft_app + "/versions/1.0.0"}},
      {"ListAppVersions", {"parent", draft_app}},
      {"ListRatings", {"app", draft_app}},
  };

  // Credentials that must not reach the victim's resources.
  std::vector<Credential> credentials = {
      {"another tenant's admin key", attacker.admin_key, attacker.tenant_id, Role::kTenantAdmin, ""},
      {"another tenant's developer key", attacker.developer_key, attacker.tenant_id, Role::kDeveloper, ""},
      {"another tenant's device key", attacker_d1_key, attacker.tenant_id, Role::kDevice, "dev-1"},
      {"a device key of another device", victim_d1_key, victim.tenant_id, Role::kDevice, "dev-1"},
      {"another tenant's app credential holding every scope",
       MintAppCredential(attacker.tenant_id, EveryScopeGrant()).key, attacker.tenant_id, Role::kApp, ""},
  };
  const std::string revoked = env.tenants().CreateKey(victim_keys.admin_key, victim.tenant_id,
                                                      tenantpb::ROLE_TENANT_ADMIN);
  {
    tenantpb::RevokeApiKeyRequest revoke;
    revoke.set_name(absl::StrCat("tenants/", victim.tenant_id, "/apiKeys/", KeyId(revoked)));
    tenantpb::ApiKey revoked_key;
    REQUIRE(env.tenants().stub().RevokeApiKey(Context(victim_keys.admin_key).get(), revoke, &revoked_key).ok());
  }
  credentials.push_back({"a revoked key", revoked, victim.tenant_id, Role::kTenantAdmin, "", true});
  std::string expiring;
  {
    tenantpb::CreateApiKeyRequest request;
    request.set_parent(absl::StrCat("tenants/", victim.tenant_id));
    request.mutable_api_key()->set_display_name("short-lived");
    request.mutable_api_key()->set_role(tenantpb::ROLE_TENANT_ADMIN);
    request.mutable_api_key()->mutable_expire_time()->set_seconds(
        absl::ToUnixSeconds(env.server().clock().Now() + absl::Minutes(1)));
    tenantpb::CreateApiKeyResponse response;
    REQUIRE(env.tenants().stub().CreateApiKey(Context(victim_keys.admin_key).get(), request, &response).ok());
    expiring = response.secret();
  }
  env.server().clock().Advance(absl::Minutes(2));
  credentials.push_back({"an expired key", expiring, victim.tenant_id, Role::kTenantAdmin, "", true});
  {
    tenantpb::SuspendTenantRequest suspend;
    suspend.set_name(absl::StrCat("tenants/", suspended.tenant_id));
    suspend.set_reason("matrix");
    tenantpb::Tenant done;
    REQUIRE(env.tenants().stub().SuspendTenant(Context(env.server().park_admin_key()).get(), suspend, &done).ok());
  }
  credentials.push_back(
      {"a suspended tenant's admin key", suspended.admin_key, suspended.tenant_id, Role::kTenantAdmin, "", false, true});

  const auto before = Snapshot(victim.tenant_id);
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  google::protobuf::DynamicMessageFactory factory(pool);
  int calls = 0;
  int methods = 0;
  int controls = 0;
  std::vector<std::string> uncovered;
  std::vector<std::string> skipped;
  // One call, by the transport under test.
  auto call = [&](const MethodDescriptor& method, const std::string& key, const Message& request,
                  std::vector<std::string>* responses) {
    if (!over_http) {
      const std::string full_method = absl::StrCat("/", method.service()->full_name(), "/", method.name());
      return responses == nullptr
                 ? CallAnyMethod(*env.server().channel(), full_method, key, request.SerializeAsString())
                 : CallAnyMethod(*env.server().channel(), full_method, key, request.SerializeAsString(), responses);
    }
    std::string response;
    grpc::Status status = CallOverHttp(env.server().server().http_port(), method, key, request, &response);
    if (status.ok() && responses != nullptr) responses->push_back(response);
    return status;
  };
  for (const std::string& service_name : env.server().server().service_names()) {
    const auto* service = pool->FindServiceByName(service_name);
    REQUIRE(service != nullptr);
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor& method = *service->method(m);
      const access::v1::Rule* rule = AccessRuleOf(method);
      if (rule == nullptr) {
        uncovered.push_back(method.full_name());
        continue;
      }
      if (over_http && !method.options().HasExtension(google::api::http)) {
        skipped.push_back(method.full_name());
        continue;
      }
      ++methods;
      std::unique_ptr<Message> request(factory.GetPrototype(method.input_type())->New());
      if (!rule->tenant_field().empty()) {
        std::optional<std::string> name = VictimName(method, rule->tenant_field(), victim);
        if (!name.has_value()) {
          uncovered.push_back(absl::StrCat(method.full_name(), " (no victim name for ", rule->tenant_field(), ")"));
          continue;
        }
        SetStringAt(*request, rule->tenant_field(), *name);
      }
      // The calls that aim at the victim's data inside the request rather than its name.
      if (method.name() == "ResolveIdentifier") SetStringAt(*request, "identifier", victim.identifier);
      const auto catalogue_read = catalogue_reads.find(method.name());
      if (catalogue_read != catalogue_reads.end()) {
        SetStringAt(*request, catalogue_read->second.first, catalogue_read->second.second);
      }
      if (method.name() == "GetAppStatement") SetStringAt(*request, "month", "2026-11");
      // Control: the victim's own admin key gets past the gate with the same request, so the names the matrix
      // sends address real resources and a refusal below is the credential's, not a typo's. Only calls that
      // change nothing: the snapshot must stay equal.
      // (ListReviewQueue is the park admin's alone and addresses no tenant.)
      if ((absl::StartsWith(method.name(), "Get") || absl::StartsWith(method.name(), "List") ||
           absl::StartsWith(method.name(), "Read") || method.name() == "Aggregate" ||
          method.name() == "ResolveIdentifier" || method.name() == "SearchApps") &&
          method.name() != "ListReviewQueue") {
        INFO(method.full_name() << " with the victim's own admin key");
        const grpc::Status control = call(method, victim_keys.admin_key, *request, nullptr);
        INFO(control.error_message());
        CHECK(control.error_code() != grpc::NOT_FOUND);
        CHECK(control.error_code() != grpc::PERMISSION_DENIED);
        CHECK(control.error_code() != grpc::UNAUTHENTICATED);
        ++controls;
      }
      for (const Credential& credential : credentials) {
        INFO(method.full_name() << " with " << credential.kind);
        std::vector<std::string> responses;
        const grpc::Status status = call(method, credential.key, *request, &responses);
        ++calls;
        grpc::StatusCode expected = ExpectedCode(*rule, credential, victim);
        if (catalogue_read != catalogue_reads.end() && expected == grpc::OK && credential.tenant_id != victim.tenant_id) {
          expected = grpc::NOT_FOUND;  // another tenant's draft does not exist for the caller
        }
        INFO(status.error_message());
        if (expected == grpc::OK) {
          // Nothing unpublished of the victim reaches another tenant (the catalogue's search included).
          if (credential.tenant_id != victim.tenant_id) {
            for (const std::string& response : responses) {
              CHECK_FALSE(absl::StrContains(response, IsolationEnv::kDraftMarker));
            }
          }
          // Allowed by the rule: what came back must hold nothing of the victim's but what is public.
          for (const std::string& response : responses) {
            CHECK_FALSE(absl::StrContains(response, "private"));
          }
          if (method.name() == "ListTenants") {
            for (const std::string& response : responses) CHECK_FALSE(absl::StrContains(response, victim.tenant_id));
          }
          // A device key writing: accepted at the gate, then every point of another device is refused.
          if (method.name() == "Write") {
            CHECK((status.ok() || status.error_code() == grpc::INVALID_ARGUMENT));
          }
          continue;
        }
        CHECK(status.error_code() == expected);
      }
    }
  }
  CHECK(uncovered.empty());
  for (const std::string& method : uncovered) WARN("uncovered: " << method);
  if (over_http) {
    // Only the method without an HTTP binding is left to gRPC.
    CHECK(skipped == std::vector<std::string>{"parkbase.telemetry.v1.TelemetryService.WriteStream"});
  }
  CHECK(methods >= (over_http ? 63 : 64));  // tenant, device, telemetry and marketplace
  CHECK(controls >= 14);
  // The victim's rows are exactly as they were.
  CHECK(Snapshot(victim.tenant_id) == before);
  std::cout << "isolation matrix" << (over_http ? " over HTTP" : "") << ": " << methods << " RPCs x "
            << credentials.size() << " credential kinds = " << calls << " calls, " << controls << " control calls, "
            << uncovered.size() << " uncovered, " << skipped.size() << " skipped\n";
}

TEST_CASE("isolation: every RPC x every foreign credential is refused as its rule says and changes nothing",
          "[isolation][integration]") {
  RunIsolationMatrix(/*over_http=*/false);
}

TEST_CASE("isolation over HTTP: every RPC x every foreign credential, through the REST/JSON door, is refused as "
          "its rule says and changes nothing",
          "[isolation][integration]") {
  RunIsolationMatrix(/*over_http=*/true);
}

TEST_CASE("isolation: a foreign device id with a valid metric reads and writes nothing", "[isolation][integration]") {
  IsolationEnv env;
  const absl::Time when = env.server().clock().Now() - absl::Minutes(5);
  TestTenant victim = env.tenants().CreateTenant("victim");
  env.Populate(victim, when);
  TestTenant attacker = env.tenants().CreateTenant("attacker");
  const auto before = Snapshot(victim.tenant_id);
  const std::string parent = IsolationEnv::Parent(attacker.tenant_id);

  // The victim's device id, and its industrial identifier, named in the attacker's own tenant.
  for (const std::string& device : {std::string("dev-1"), env.identifier_of(victim.tenant_id)}) {
    INFO(device);
    telpb::WriteRequest write;
    write.set_parent(parent);
    telpb::Point* point = write.add_points();
    point->set_device(device);
    point->set_metric("temp");
    point->mutable_time()->set_seconds(absl::ToUnixSeconds(when));
    point->mutable_value()->set_double_value(99);
    telpb::WriteResponse written;
    REQUIRE(env.telemetry().Write(Context(attacker.admin_key).get(), write, &written).ok());
    CHECK(written.accepted_points() == 0);
    REQUIRE(written.rejections_size() == 1);
    CHECK(written.rejections(0).reason() == telpb::REJECTION_REASON_UNKNOWN_DEVICE);

    telpb::ReadRangeRequest read;
    read.set_parent(parent);
    read.set_device(device);
    read.add_metrics("temp");
    read.mutable_start_time()->set_seconds(absl::ToUnixSeconds(when - absl::Hours(1)));
    read.mutable_end_time()->set_seconds(absl::ToUnixSeconds(when + absl::Hours(1)));
    telpb::ReadRangeResponse points;
    CHECK(env.telemetry().ReadRange(Context(attacker.admin_key).get(), read, &points).error_code() ==
          grpc::NOT_FOUND);
  }
  CHECK(Snapshot(victim.tenant_id) == before);
}

TEST_CASE("isolation: a multi-item request with one foreign item refuses that item and nothing of it leaks",
          "[isolation][integration]") {
  IsolationEnv env;
  const absl::Time when = env.server().clock().Now() - absl::Minutes(5);
  TestTenant victim = env.tenants().CreateTenant("victim");
  env.Populate(victim, when);
  TestTenant attacker = env.tenants().CreateTenant("attacker");
  env.Populate(attacker, when);
  const auto before = Snapshot(victim.tenant_id);
  const std::string parent = IsolationEnv::Parent(attacker.tenant_id);

  SECTION("a Write batch: the foreign point is rejected, the own ones stored") {
    telpb::WriteRequest write;
    write.set_parent(parent);
    for (const std::string& device : {std::string("dev-1"), std::string("dev-2"), env.identifier_of(victim.tenant_id)}) {
      telpb::Series* series = write.add_series();
      series->set_device(device);
      series->set_metric("temp");
      series->add_timestamps_ms(absl::ToUnixMillis(when) + 1000);
      series->add_double_values(30);
    }
    telpb::WriteResponse written;
    REQUIRE(env.telemetry().Write(Context(attacker.admin_key).get(), write, &written).ok());
    CHECK(written.accepted_points() == 2);
    REQUIRE(written.rejections_size() == 1);
    CHECK(written.rejections(0).field() == "series[2].device");
    CHECK(written.rejections(0).reason() == telpb::REJECTION_REASON_UNKNOWN_DEVICE);
  }
  SECTION("GetLatest over many devices: the foreign one is NOT_FOUND and nothing is returned") {
    telpb::GetLatestRequest latest;
    latest.set_parent(parent);
    latest.add_devices("dev-1");
    latest.add_devices(env.identifier_of(victim.tenant_id));
    telpb::GetLatestResponse response;
    grpc::Status status = env.telemetry().GetLatest(Context(attacker.admin_key).get(), latest, &response);
    CHECK(status.error_code() == grpc::NOT_FOUND);
    CHECK(absl::StartsWith(status.error_message(), "devices[1]"));
    CHECK(response.values_size() == 0);
  }
  SECTION("Aggregate by labels sees only the caller's devices, though the victim's carry the same labels") {
    telpb::AggregateRequest aggregate;
    aggregate.set_parent(parent);
    (*aggregate.mutable_labels())["line"] = "7";
    aggregate.set_metric("temp");
    aggregate.mutable_start_time()->set_seconds(absl::ToUnixSeconds(when - absl::Hours(1)));
    aggregate.mutable_end_time()->set_seconds(absl::ToUnixSeconds(when + absl::Hours(1)));
    aggregate.mutable_bucket()->set_seconds(7200);
    aggregate.set_per_device(true);
    telpb::AggregateResponse response;
    REQUIRE(env.telemetry().Aggregate(Context(attacker.admin_key).get(), aggregate, &response).ok());
    int64_t points = 0;
    for (const auto& bucket : response.buckets()) points += bucket.count();
    CHECK(points == 2);  // the attacker's two devices, not the victim's two
  }
  SECTION("ImportDevices rows naming the victim's device ids create the caller's own devices") {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", attacker.admin_key));
    devpb::ImportDevicesResponse response;
    auto writer = env.devices().ImportDevices(&context, &response);
    devpb::ImportDevicesRequest message;
    message.set_parent(parent);
    devpb::Device* own = message.add_devices();
    own->set_device_type_id("sensor");
    own->set_serial_number("NEW-1");
    devpb::Device* clash = message.add_devices();
    clash->set_device_id("dev-1");  // the victim's device id, and the attacker's own d1
    clash->set_device_type_id("sensor");
    clash->set_serial_number("NEW-2");
    REQUIRE(writer->Write(message));
    writer->WritesDone();
    REQUIRE(writer->Finish().ok());
    CHECK(response.created_count() == 1);
    CHECK(response.results(1).code() == grpc::ALREADY_EXISTS);
  }
  CHECK(Snapshot(victim.tenant_id) == before);
}

}  // namespace
}  // namespace parkbase::testing
