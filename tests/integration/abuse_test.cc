// Abuse from outside: guessing keys is limited per source address and per key id (answered at once with
// RESOURCE_EXHAUSTED and RetryInfo), a source address behind a trusted proxy is the first hop that proxy did not
// append, no secret appears in an error message, and TLS / mutual TLS from files refuse what they must.
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_client.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"
#include "support/status_details.h"
#include "support/tenant_client.h"
#include "support/test_certs.h"

namespace parkbase::testing {
namespace {

// The same key id with another secret: a guess at that key.
std::string WrongSecret(const std::string& key) {
  std::string guess = key;
  guess.back() = guess.back() == '0' ? '1' : '0';
  return guess;
}

grpc::Status GetTenant(TestServer& server, const std::string& key, const std::string& tenant_id,
                       const std::string& forwarded_for = "") {
  auto stub = tenantpb::TenantService::NewStub(server.channel());
  auto context = Context(key);
  if (!forwarded_for.empty()) context->AddMetadata("x-forwarded-for", forwarded_for);
  tenantpb::GetTenantRequest request;
  request.set_name(absl::StrCat("tenants/", tenant_id));
  tenantpb::Tenant tenant;
  return stub->GetTenant(context.get(), request, &tenant);
}

absl::Duration RetryDelay(const grpc::Status& status) {
  google::rpc::RetryInfo retry;
  if (!FindDetail(status, &retry)) return absl::ZeroDuration();
  return absl::Seconds(retry.retry_delay().seconds()) + absl::Nanoseconds(retry.retry_delay().nanos());
}

ServerConfig Limits(int per_source, int per_key) {
  ServerConfig config;
  config.auth_failures_per_source = per_source;
  config.auth_failures_per_key = per_key;
  config.auth_failure_window = absl::Minutes(1);
  return config;
}

TEST_CASE("abuse: failed authentication is limited per key id, then per source address, with RetryInfo",
          "[abuse][integration]") {
  TestServer server(SharedDatabase(), Limits(6, 3));
  TenantClient client(server);
  const TestTenant acme = client.CreateTenant("abuse");
  const std::string guessed = WrongSecret(acme.developer_key);

  // Three wrong secrets for one key id: each an honest UNAUTHENTICATED.
  for (int i = 0; i < 3; ++i) CHECK(GetTenant(server, guessed, acme.tenant_id).error_code() == grpc::UNAUTHENTICATED);
  // The fourth guess at that key id is refused before any look-up, with how long to wait.
  grpc::Status limited = GetTenant(server, guessed, acme.tenant_id);
  CHECK(limited.error_code() == grpc::RESOURCE_EXHAUSTED);
  CHECK(absl::StrContains(limited.error_message(), "auth_failures_per_key"));
  CHECK(RetryDelay(limited) > absl::Seconds(50));
  CHECK(RetryDelay(limited) <= absl::Minutes(1));
  // The key id is locked, whatever secret comes with it: the real key waits too (that is what stops guessing).
  CHECK(GetTenant(server, acme.developer_key, acme.tenant_id).error_code() == grpc::RESOURCE_EXHAUSTED);
  // Another key from the same address still works: the address has 3 failures of 6.
  CHECK(GetTenant(server, acme.admin_key, acme.tenant_id).ok());

  // Malformed keys have no key id; they count against the address alone.
  for (int i = 0; i < 3; ++i) {
    CHECK(GetTenant(server, "pbk.not-a-key", acme.tenant_id).error_code() == grpc::UNAUTHENTICATED);
  }
  grpc::Status by_source = GetTenant(server, acme.admin_key, acme.tenant_id);
  CHECK(by_source.error_code() == grpc::RESOURCE_EXHAUSTED);
  CHECK(absl::StrContains(by_source.error_message(), "auth_failures_per_source"));
  CHECK(absl::StrContains(by_source.error_message(), "127.0.0.1"));
  CHECK(RetryDelay(by_source) > absl::ZeroDuration());

  // A window later both are forgiven.
  server.clock().Advance(absl::Seconds(61));
  CHECK(GetTenant(server, acme.admin_key, acme.tenant_id).ok());
  CHECK(GetTenant(server, acme.developer_key, acme.tenant_id).ok());
  // A valid key never adds to a count.
  for (int i = 0; i < 20; ++i) REQUIRE(GetTenant(server, acme.admin_key, acme.tenant_id).ok());
}

TEST_CASE("abuse: behind a trusted proxy the source is the first hop it did not append, elsewhere the header is "
          "ignored",
          "[abuse][integration]") {
  SECTION("the test client (127.0.0.1) is a trusted proxy") {
    ServerConfig config = Limits(2, 1000);
    config.trusted_proxies = "127.0.0.0/8, ::1";
    TestServer server(SharedDatabase(), config);
    TenantClient client(server);
    const TestTenant acme = client.CreateTenant("proxy");
    for (int i = 0; i < 2; ++i) {
      CHECK(GetTenant(server, "bad", acme.tenant_id, "203.0.113.7").error_code() == grpc::UNAUTHENTICATED);
    }
    CHECK(GetTenant(server, acme.admin_key, acme.tenant_id, "203.0.113.7").error_code() ==
          grpc::RESOURCE_EXHAUSTED);
    // Another client behind the same proxy is not held up by the first.
    CHECK(GetTenant(server, acme.admin_key, acme.tenant_id, "203.0.113.8").ok());
    // A client that writes its own x-forwarded-for gets the proxy's hop appended after it: the client's own
    // entry is never believed.
    CHECK(GetTenant(server, acme.admin_key, acme.tenant_id, "198.51.100.1, 203.0.113.7").error_code() ==
          grpc::RESOURCE_EXHAUSTED);
    // Hops of trusted proxies are skipped from the right.
    CHECK(GetTenant(server, acme.admin_key, acme.tenant_id, "203.0.113.7, 127.0.0.5").error_code() ==
          grpc::RESOURCE_EXHAUSTED);
  }
  SECTION("no trusted proxies: x-forwarded-for changes nothing") {
    TestServer server(SharedDatabase(), Limits(2, 1000));
    TenantClient client(server);
    const TestTenant acme = client.CreateTenant("noproxy");
    CHECK(GetTenant(server, "bad", acme.tenant_id, "203.0.113.1").error_code() == grpc::UNAUTHENTICATED);
    CHECK(GetTenant(server, "bad", acme.tenant_id, "203.0.113.2").error_code() == grpc::UNAUTHENTICATED);
    // Both failures were 127.0.0.1's, whatever the header said.
    CHECK(GetTenant(server, acme.admin_key, acme.tenant_id, "203.0.113.3").error_code() ==
          grpc::RESOURCE_EXHAUSTED);
  }
}

TEST_CASE("abuse: no error message carries a secret", "[abuse][integration]") {
  TestServer server;
  TenantClient client(server);
  const TestTenant acme = client.CreateTenant("secret");
  const std::string secret = acme.admin_key.substr(acme.admin_key.rfind('.') + 1);
  REQUIRE(secret.size() == 64);
  std::vector<grpc::Status> answers;
  answers.push_back(GetTenant(server, WrongSecret(acme.admin_key), acme.tenant_id));
  answers.push_back(GetTenant(server, acme.admin_key + "x", acme.tenant_id));
  answers.push_back(GetTenant(server, absl::StrCat("pbk.", acme.tenant_id, "..", secret), acme.tenant_id));
  answers.push_back(GetTenant(server, secret, acme.tenant_id));
  {
    auto context = Context("");
    context->AddMetadata("authorization", absl::StrCat("Basic ", acme.admin_key));
    auto stub = tenantpb::TenantService::NewStub(server.channel());
    tenantpb::GetTenantRequest request;
    request.set_name(absl::StrCat("tenants/", acme.tenant_id));
    tenantpb::Tenant tenant;
    answers.push_back(stub->GetTenant(context.get(), request, &tenant));
  }
  // A request that names a key where a resource belongs.
  answers.push_back(GetTenant(server, acme.admin_key, acme.admin_key));
  for (const grpc::Status& answer : answers) {
    INFO(answer.error_message());
    CHECK_FALSE(answer.ok());
    CHECK_FALSE(absl::StrContains(answer.error_message(), secret));
    CHECK_FALSE(absl::StrContains(answer.error_details(), secret));
  }
}

// A TenantService stub over TLS with `tls`, to a server at 127.0.0.1:port.
std::unique_ptr<tenantpb::TenantService::Stub> TlsStub(int port, const ClientTls& tls) {
  return tenantpb::TenantService::NewStub(MakeChannel(absl::StrCat("127.0.0.1:", port), tls));
}

grpc::Status ListTenants(tenantpb::TenantService::Stub& stub, const std::string& key) {
  auto context = Context(key);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  tenantpb::ListTenantsRequest request;
  tenantpb::ListTenantsResponse response;
  return stub.ListTenants(context.get(), request, &response);
}

TEST_CASE("abuse: TLS and mutual TLS from files", "[abuse][integration]") {
  const TestCertificates certificates;
  const std::string ca = TestCertificates::Read(certificates.ca_file);
  const std::string other_ca = TestCertificates::Read(certificates.other_ca_file);
  const ClientTls own_client{ca, TestCertificates::Read(certificates.client_cert_file),
                             TestCertificates::Read(certificates.client_key_file)};
  const ClientTls foreign_client{ca, TestCertificates::Read(certificates.other_client_cert_file),
                                 TestCertificates::Read(certificates.other_client_key_file)};
  ServerConfig config;
  config.tls_cert_file = certificates.server_cert_file;
  config.tls_key_file = certificates.server_key_file;

  SECTION("TLS: a client trusting the server's CA gets in; plaintext and an untrusting client do not") {
    TestServer server(SharedDatabase(), config);
    const std::string key = server.park_admin_key();
    CHECK(ListTenants(*TlsStub(server.server().port(), ClientTls{ca, "", ""}), key).ok());
    // And the API key is still required under TLS.
    CHECK(ListTenants(*TlsStub(server.server().port(), ClientTls{ca, "", ""}), "").error_code() ==
          grpc::UNAUTHENTICATED);
    CHECK(ListTenants(*tenantpb::TenantService::NewStub(server.channel()), key).error_code() == grpc::UNAVAILABLE);
    CHECK(ListTenants(*TlsStub(server.server().port(), ClientTls{other_ca, "", ""}), key).error_code() ==
          grpc::UNAVAILABLE);
  }
  SECTION("mutual TLS: only a client certificate from the configured CA gets in") {
    config.tls_client_ca_file = certificates.ca_file;
    TestServer server(SharedDatabase(), config);
    const std::string key = server.park_admin_key();
    CHECK(ListTenants(*TlsStub(server.server().port(), own_client), key).ok());
    CHECK(ListTenants(*TlsStub(server.server().port(), ClientTls{ca, "", ""}), key).error_code() ==
          grpc::UNAVAILABLE);
    CHECK(ListTenants(*TlsStub(server.server().port(), foreign_client), key).error_code() == grpc::UNAVAILABLE);
  }
  SECTION("a configuration that cannot work does not start") {
    config.tls_client_ca_file = certificates.dir + "/missing.pem";
    CHECK_THROWS_WITH(TestServer(SharedDatabase(), config), Catch::Contains("tls_client_ca_file"));
    config.tls_client_ca_file = certificates.ca_file;
    config.tls_cert_file.clear();
    config.tls_key_file.clear();
    CHECK_THROWS_WITH(TestServer(SharedDatabase(), config), Catch::Contains("--tls_client_ca_file"));
  }
}

}  // namespace
}  // namespace parkbase::testing
