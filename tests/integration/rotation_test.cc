// Secrets that rotate without downtime (issue 14, item 6; docs/operations.md, Rotating secrets), each rotated
// while calls go on: the page-token secret across a two-phase rollout, the TLS files replaced under a running
// server as kubelet replaces a Secret volume, and the database and Redis passwords changed and re-read from their
// files when connections are made again.
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/grpc_client.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"
#include "support/tenant_client.h"
#include "support/test_certs.h"
#include "support/test_env.h"

namespace parkbase::testing {
namespace {

namespace fs = std::filesystem;

// How long a rotated file may take to be served: the 1 s refresh interval the tests set, with room for a busy
// machine.
constexpr absl::Duration kReloadBound = absl::Seconds(15);

std::string Shell(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  pclose(pipe);
  return std::string(absl::StripAsciiWhitespace(output));
}

void Run(const std::string& command) {
  INFO(command);
  REQUIRE(std::system(absl::StrCat(command, " >/dev/null 2>&1").c_str()) == 0);
}

// Written beside and renamed over, so a reader never sees half a file (as kubelet's atomic writer does).
void WriteFile(const std::string& path, const std::string& content) {
  const std::string partial = path + ".partial";
  std::ofstream(partial) << content;
  fs::rename(partial, path);
}

grpc::Status ListTenants(tenantpb::TenantService::Stub& stub, const std::string& key, int page_size,
                         const std::string& page_token, tenantpb::ListTenantsResponse* response) {
  auto context = Context(key);
  tenantpb::ListTenantsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  return stub.ListTenants(context.get(), request, response);
}

grpc::Status ListTenants(tenantpb::TenantService::Stub& stub, const std::string& key) {
  tenantpb::ListTenantsResponse response;
  return ListTenants(stub, key, 1, "", &response);
}

// A call as a client that follows the status codes would make it: UNAVAILABLE is retried a few times.
grpc::Status ListTenantsRetrying(tenantpb::TenantService::Stub& stub, const std::string& key) {
  grpc::Status status;
  for (int attempt = 0; attempt < 5; ++attempt) {
    status = ListTenants(stub, key);
    if (status.error_code() != grpc::UNAVAILABLE) return status;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return status;
}

// Calls `call` over and over on a thread of its own until destroyed; counts the calls and the failures.
class CallsMeanwhile {
 public:
  explicit CallsMeanwhile(std::function<grpc::Status()> call)
      : thread_([this, call = std::move(call)] {
          while (!stop_) {
            const grpc::Status status = call();
            ++calls_;
            if (!status.ok()) {
              ++failures_;
              absl::MutexLock lock(&mu_);
              last_error_ = absl::StrCat(status.error_code(), ": ", status.error_message());
            }
            absl::SleepFor(absl::Milliseconds(20));
          }
        }) {}
  ~CallsMeanwhile() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int calls() const { return calls_; }
  int failures() const { return failures_; }
  std::string last_error() {
    absl::MutexLock lock(&mu_);
    return last_error_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> calls_{0};
  std::atomic<int> failures_{0};
  absl::Mutex mu_;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

TEST_CASE("rotation: page tokens and sealed request answers outlive a two-phase secret rotation",
          "[rotation][integration]") {
  const std::string old_secret = "rotation-old-secret-0123456789";
  const std::string new_secret = "rotation-new-secret-0123456789";
  auto with_secrets = [](std::string current, std::string previous) {
    ServerConfig config;
    config.page_token_secret = std::move(current);
    config.page_token_previous_secret = std::move(previous);
    return config;
  };
  // Before the rotation: tokens and a remembered CreateApiKey answer under the old secret only.
  auto before = std::make_unique<TestServer>(SharedDatabase(), with_secrets(old_secret, ""));
  const std::string admin_key = before->park_admin_key();
  TestTenant tenant;
  {
    TenantClient tenants(*before);
    tenant = tenants.CreateTenant("rot");
    tenants.CreateTenant("rot");
    tenants.CreateTenant("rot");
  }
  auto stub_of = [](TestServer& server) { return tenantpb::TenantService::NewStub(server.channel()); };
  tenantpb::ListTenantsResponse first_page;
  REQUIRE(ListTenants(*stub_of(*before), admin_key, 1, "", &first_page).ok());
  const std::string old_token = first_page.next_page_token();
  REQUIRE_FALSE(old_token.empty());
  tenantpb::CreateApiKeyRequest create;
  create.set_parent(absl::StrCat("tenants/", tenant.tenant_id));
  create.mutable_api_key()->set_display_name("rotation");
  create.mutable_api_key()->set_role(tenantpb::ROLE_DEVELOPER);
  create.set_request_id(UniqueId("rid"));
  tenantpb::CreateApiKeyResponse created;
  REQUIRE(stub_of(*before)->CreateApiKey(Context(tenant.admin_key).get(), create, &created).ok());
  RecordSecret(created.secret());
  before.reset();

  auto next_page = [&](TestServer& server, const std::string& token) {
    tenantpb::ListTenantsResponse page;
    const grpc::Status status = ListTenants(*stub_of(server), admin_key, 1, token, &page);
    INFO(status.error_message());
    return std::make_pair(status.error_code(), page);
  };
  auto retry_create = [&](TestServer& server) {
    tenantpb::CreateApiKeyResponse again;
    const grpc::Status status = stub_of(server)->CreateApiKey(Context(tenant.admin_key).get(), create, &again);
    INFO(status.error_message());
    return std::make_pair(status.error_code(), again.secret());
  };

  SECTION("mid-rollout both phases run side by side and accept each other's tokens; then the old secret retires") {
    // Phase 1: the new secret deployed as previous. Phase 2: swapped, the old one previous.
    TestServer phase1(SharedDatabase(), with_secrets(old_secret, new_secret));
    TestServer phase2(SharedDatabase(), with_secrets(new_secret, old_secret));
    for (TestServer* server : {&phase1, &phase2}) {
      auto [code, page] = next_page(*server, old_token);
      CHECK(code == grpc::OK);
      CHECK(page.tenants_size() == 1);
      auto [create_code, secret] = retry_create(*server);
      CHECK(create_code == grpc::OK);
      CHECK(secret == created.secret());  // the first answer, not a second key
    }
    auto [code, from_phase2] = next_page(phase2, old_token);
    REQUIRE(code == grpc::OK);
    REQUIRE_FALSE(from_phase2.next_page_token().empty());
    CHECK(next_page(phase1, from_phase2.next_page_token()).first == grpc::OK);
    // Phase 3 (later, once old tokens have lapsed): the new secret alone still reads what phase 2 made.
    TestServer phase3(SharedDatabase(), with_secrets(new_secret, ""));
    CHECK(next_page(phase3, from_phase2.next_page_token()).first == grpc::OK);
  }
  SECTION("a server that knows only the new secret refuses the old token (what phase 1 and 2 are for)") {
    TestServer swapped(SharedDatabase(), with_secrets(new_secret, ""));
    CHECK(next_page(swapped, old_token).first == grpc::INVALID_ARGUMENT);
    CHECK(retry_create(swapped).first == grpc::ALREADY_EXISTS);
  }
}

// A certificate for 127.0.0.1 named `name`, signed by the CA dir/<ca>.pem, in dir/<name>.pem and .key.
void MakeServerCertificate(const std::string& dir, const std::string& ca, const std::string& name) {
  Run(absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=", name,
                   "' -keyout ", dir, "/", name, ".key -out ", dir, "/", name, ".csr"));
  std::ofstream(absl::StrCat(dir, "/", name, ".ext")) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  Run(absl::StrCat("openssl x509 -req -in ", dir, "/", name, ".csr -CA ", dir, "/", ca, ".pem -CAkey ", dir, "/",
                   ca, ".key -CAcreateserial -days 2 -extfile ", dir, "/", name, ".ext -out ", dir, "/", name,
                   ".pem"));
}

// The subject of the certificate a TLS server on 127.0.0.1:port presents to a new connection (openssl's
// s_client, presenting the client certificate mutual TLS asks for).
std::string ServedSubject(int port, const TestCertificates& certificates, bool h2) {
  return Shell(absl::StrCat("openssl s_client -connect 127.0.0.1:", port, h2 ? " -alpn h2" : "", " -cert ",
                            certificates.client_cert_file, " -key ", certificates.client_key_file,
                            " </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null"));
}

// A channel of its own (a local subchannel pool), so each one opens a new connection and meets the server's
// current certificate.
std::unique_ptr<tenantpb::TenantService::Stub> FreshTlsStub(int port, const ClientTls& tls) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls.root_certs;
  options.pem_cert_chain = tls.cert_chain;
  options.pem_private_key = tls.private_key;
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return tenantpb::TenantService::NewStub(grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                                                    grpc::SslCredentials(options), arguments));
}

TEST_CASE("rotation: replaced TLS files are served to new connections without a restart",
          "[rotation][integration]") {
  const TestCertificates certificates;
  MakeServerCertificate(certificates.dir, "other-ca", "server-2");
  const std::string ca = TestCertificates::Read(certificates.ca_file);
  const std::string other_ca = TestCertificates::Read(certificates.other_ca_file);
  const std::string client_cert = TestCertificates::Read(certificates.client_cert_file);
  const std::string client_key = TestCertificates::Read(certificates.client_key_file);
  // Laid out as kubelet lays out a Secret volume: the files are links through ..data, which a rotation re-points
  // at a new folder in one rename.
  const std::string volume = certificates.dir + "/volume";
  fs::create_directories(volume + "/..v1");
  fs::copy_file(certificates.server_cert_file, volume + "/..v1/tls.crt");
  fs::copy_file(certificates.server_key_file, volume + "/..v1/tls.key");
  fs::create_directory_symlink("..v1", volume + "/..data");
  fs::create_symlink("..data/tls.crt", volume + "/tls.crt");
  fs::create_symlink("..data/tls.key", volume + "/tls.key");

  ServerConfig config;
  config.tls_cert_file = volume + "/tls.crt";
  config.tls_key_file = volume + "/tls.key";
  config.tls_client_ca_file = certificates.ca_file;  // mutual TLS stays on throughout
  config.tls_refresh_interval = absl::Seconds(1);
  TestServer server(SharedDatabase(), config);
  const int port = server.server().port();
  const int http_port = server.server().http_port();
  REQUIRE(http_port != 0);
  const std::string key = server.park_admin_key();
  CHECK(ServedSubject(port, certificates, true) == "subject=CN = server");
  CHECK(ServedSubject(http_port, certificates, false) == "subject=CN = server");

  // A client that trusts both CAs (as clients are told to before a CA change) keeps calling on new connections,
  // and one connected before the rotation keeps its connection.
  const ClientTls both{ca + other_ca, client_cert, client_key};
  auto connected_before = FreshTlsStub(port, ClientTls{ca, client_cert, client_key});
  REQUIRE(ListTenants(*connected_before, key).ok());
  CallsMeanwhile calls([&] { return ListTenants(*FreshTlsStub(port, both), key); });

  fs::create_directory(volume + "/..v2");
  fs::copy_file(certificates.dir + "/server-2.pem", volume + "/..v2/tls.crt");
  fs::copy_file(certificates.dir + "/server-2.key", volume + "/..v2/tls.key");
  fs::create_directory_symlink("..v2", volume + "/..data_tmp");
  fs::rename(volume + "/..data_tmp", volume + "/..data");

  const absl::Time deadline = absl::Now() + kReloadBound;
  while (absl::Now() < deadline && (ServedSubject(port, certificates, true) != "subject=CN = server-2" ||
                                    ServedSubject(http_port, certificates, false) != "subject=CN = server-2")) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  CHECK(ServedSubject(port, certificates, true) == "subject=CN = server-2");
  CHECK(ServedSubject(http_port, certificates, false) == "subject=CN = server-2");
  // New connections meet the new certificate: trusting only its CA works, only the old CA no longer does.
  CHECK(ListTenants(*FreshTlsStub(port, ClientTls{other_ca, client_cert, client_key}), key).ok());
  CHECK(ListTenants(*FreshTlsStub(port, ClientTls{ca, client_cert, client_key}), key).error_code() ==
        grpc::UNAVAILABLE);
  // Mutual TLS still holds after the reload: no client certificate, no call.
  CHECK(ListTenants(*FreshTlsStub(port, ClientTls{other_ca, "", ""}), key).error_code() == grpc::UNAVAILABLE);
  CHECK(ListTenants(*connected_before, key).ok());
  calls.Stop();
  INFO(calls.last_error());
  CHECK(calls.calls() > 0);
  CHECK(calls.failures() == 0);
}

// Runs `sql` on a superuser connection to the test cluster.
void AdminExec(const std::string& sql) {
  pqxx::connection admin(AdminUrl());
  pqxx::nontransaction work(admin);
  work.exec(sql);
}

// The test cluster trusts loopback connections, which would make any password work. For one role of its own the
// test puts a scram-sha-256 line first in pg_hba.conf (written through the server, which owns the file), and takes
// it out again at the end.
class PasswordRole {
 public:
  explicit PasswordRole(const std::string& password) : role_(UniqueId("rot_role_")) {
    pqxx::connection admin(AdminUrl());
    pqxx::nontransaction work(admin);
    hba_file_ = work.exec("SHOW hba_file")[0][0].as<std::string>();
    original_hba_ = work.exec(absl::StrCat("SELECT pg_read_file(", work.quote(hba_file_), ")"))[0][0].as<std::string>();
    work.exec(absl::StrCat("CREATE ROLE ", role_, " LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD ", work.quote(password),
                           " IN ROLE parkbase_app"));
    WriteHba(work, absl::StrCat("host all ", role_, " 127.0.0.1/32 scram-sha-256\nhost all ", role_,
                                " ::1/128 scram-sha-256\n", original_hba_));
  }
  ~PasswordRole() {
    try {
      pqxx::connection admin(AdminUrl());
      pqxx::nontransaction work(admin);
      WriteHba(work, original_hba_);
      work.exec(absl::StrCat("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ",
                             work.quote(role_)));
      work.exec(absl::StrCat("DROP ROLE IF EXISTS ", role_));
    } catch (const std::exception&) {
      // The cluster is thrown away after the run; a leftover role with its own hba line harms no other test.
    }
  }
  const std::string& name() const { return role_; }

 private:
  void WriteHba(pqxx::nontransaction& work, const std::string& content) {
    // Base64 through `base64 -d`: COPY's text format would escape the file's tabs and backslashes.
    work.exec(absl::StrCat("COPY (SELECT '", absl::Base64Escape(content), "') TO PROGRAM 'base64 -d > ", hba_file_,
                           "'"));
    work.exec("SELECT pg_reload_conf()");
    absl::SleepFor(absl::Milliseconds(300));  // the postmaster reloads on SIGHUP, asynchronously
  }

  std::string role_;
  std::string hba_file_;
  std::string original_hba_;
};

// `url` (postgresql://user@host:port/db) with its user replaced.
std::string WithUser(const std::string& url, const std::string& user) {
  const size_t scheme = url.find("://") + 3;
  const size_t at = url.find('@', scheme);
  return absl::StrCat(url.substr(0, scheme), user, url.substr(at));
}

TEST_CASE("rotation: a new database password is read from its file for new connections", "[rotation][integration]") {
  SharedDatabase();  // its roles first: the test's role joins parkbase_app
  PasswordRole role("first-password");
  const std::string url = WithUser(SharedDatabase().app_url(), role.name());
  // The password matters: without it, or with a wrong one, the role cannot connect.
  CHECK_THROWS(pqxx::connection(url));
  CHECK_THROWS(pqxx::connection(url + "?password=wrong"));
  CHECK_NOTHROW(pqxx::connection(url + "?password=first-password"));

  char dir_template[] = "/tmp/parkbase-rotation-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string password_file = std::string(dir_template) + "/password";
  WriteFile(password_file, "first-password\n");
  ServerConfig config;
  config.database_url = url;  // no password in the URL: it comes from the file
  config.database_password_file = password_file;
  config.db_pool_size = 2;
  config.auth_cache = false;  // every call authenticates against PostgreSQL
  TestServer server(SharedDatabase(), config);
  const std::string key = server.park_admin_key();
  auto stub = tenantpb::TenantService::NewStub(server.channel());
  REQUIRE(ListTenants(*stub, key).ok());

  CallsMeanwhile calls([&] { return ListTenantsRetrying(*stub, key); });
  // PostgreSQL keeps one password per role: change it and the Secret together; open connections stay logged in.
  AdminExec(absl::StrCat("ALTER ROLE ", role.name(), " PASSWORD 'second-password'"));
  WriteFile(password_file, "second-password\n");
  CHECK(ListTenants(*stub, key).ok());
  // Every connection of the role dropped (a failover, a pooler restart): the pool connects again, with the file's
  // new password.
  AdminExec(absl::StrCat("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '", role.name(),
                         "'"));
  for (int i = 0; i < 10; ++i) CHECK(ListTenantsRetrying(*stub, key).ok());
  calls.Stop();
  INFO(calls.last_error());
  CHECK(calls.calls() > 0);
  CHECK(calls.failures() == 0);
  {
    pqxx::connection admin(AdminUrl());
    pqxx::nontransaction work(admin);
    CHECK(work.exec(absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE usename = '", role.name(), "'"))[0][0]
              .as<int>() > 0);
  }
  fs::remove_all(dir_template);
}

// A Redis of this test's own, started with a password: changing the password of the shared test Redis would
// lock out every other suite running at the same time.
class PasswordRedis {
 public:
  explicit PasswordRedis(const std::string& password) {
    char dir_template[] = "/tmp/parkbase-redis-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    port_ = FreePort();
    Run(absl::StrCat("redis-server --port ", port_, " --bind 127.0.0.1 --requirepass ", password,
                     " --save '' --appendonly no --daemonize yes --dir ", dir_, " --pidfile ", dir_,
                     "/redis.pid --logfile ", dir_, "/redis.log"));
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline && Command({"AUTH", password}) != "OK") absl::SleepFor(absl::Milliseconds(50));
  }
  ~PasswordRedis() {
    const std::string pid = Shell(absl::StrCat("cat ", dir_, "/redis.pid"));
    if (!pid.empty()) std::system(absl::StrCat("kill ", pid, " 2>/dev/null").c_str());
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  int port() const { return port_; }
  // Runs `args` on a new connection that first authenticates with `password` (none when empty); the reply as
  // text ("OK", a number, or the error's text).
  std::string Command(const std::vector<std::string>& args, const std::string& password = "") {
    redisContext* context = redisConnect("127.0.0.1", port_);
    if (context == nullptr || context->err != 0) {
      if (context != nullptr) redisFree(context);
      return "cannot connect";
    }
    std::string text;
    auto run = [&](const std::vector<std::string>& command) {
      std::vector<const char*> argv;
      std::vector<size_t> lengths;
      for (const auto& arg : command) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
      }
      auto* reply = static_cast<redisReply*>(
          redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()));
      if (reply == nullptr) return std::string("connection lost");
      std::string answer = reply->type == REDIS_REPLY_INTEGER ? absl::StrCat(reply->integer)
                                                              : std::string(reply->str != nullptr ? reply->str : "",
                                                                            reply->len);
      freeReplyObject(reply);
      return answer;
    };
    if (!password.empty()) text = run({"AUTH", password});
    if (password.empty() || text == "OK") text = run(args);
    redisFree(context);
    return text;
  }

 private:
  static int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    close(fd);
    return ntohs(address.sin_port);
  }

  std::string dir_;
  int port_ = 0;
};

TEST_CASE("rotation: a new Redis password is read from its file when the client reconnects", "[rotation][integration]") {
  PasswordRedis redis("first-password");
  REQUIRE(redis.Command({"PING"}, "first-password") == "PONG");
  REQUIRE(absl::StartsWith(redis.Command({"PING"}), "NOAUTH"));  // the password matters

  char dir_template[] = "/tmp/parkbase-rotation-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string password_file = std::string(dir_template) + "/password";
  WriteFile(password_file, "first-password\n");
  ServerConfig config;
  config.redis_url = absl::StrCat("redis://127.0.0.1:", redis.port());  // no password in the URL
  config.redis_password_file = password_file;
  TestServer server(SharedDatabase(), config);
  // Readiness (grpc.health.v1, as the kubelet asks it) of a service that needs Redis: NOT_SERVING unless every
  // probe's Redis command succeeds. The probe runs on demand here, not on its timer.
  const std::string redis_service = "parkbase.telemetry.v1.TelemetryService";
  auto ready = [&] {
    for (int attempt = 0; attempt < 5; ++attempt) {
      // A probe on a connection Redis dropped finds it lost; the next one reconnects.
      if (server.server().health().CheckNow()) break;
    }
    auto status = CheckHealth(*server.channel(), redis_service, absl::Seconds(5));
    return status.ok() && *status == ServingStatus::kServing;
  };
  REQUIRE(ready());
  const std::string key = server.park_admin_key();
  auto stub = tenantpb::TenantService::NewStub(server.channel());
  CallsMeanwhile calls([&] { return ListTenantsRetrying(*stub, key); });

  // Redis changes the password without dropping authenticated connections; the Secret changes with it.
  REQUIRE(redis.Command({"CONFIG", "SET", "requirepass", "second-password"}, "first-password") == "OK");
  WriteFile(password_file, "second-password\n");
  CHECK(ready());
  // Every client dropped: the pool reconnects and authenticates with the file's new password.
  CHECK(redis.Command({"CLIENT", "KILL", "TYPE", "normal"}, "second-password") != "0");
  CHECK(ready());
  CHECK(ready());
  calls.Stop();
  INFO(calls.last_error());
  CHECK(calls.failures() == 0);
  fs::remove_all(dir_template);
}

}  // namespace
}  // namespace parkbase::testing
