#include "common/server.h"

#include <malloc.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <sstream>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/server_builder.h"
#include "common/crypto.h"
#include "grpc/health/v1/health.pb.h"
#include "common/grpc_series.h"
#include "common/log.h"
#include "common/pool_metrics.h"
#include "common/process_metrics.h"
#include "common/redis_keys.h"
#include "common/tracing_setup.h"

namespace parkbase {
namespace {

// How often dependencies are probed for health: fast enough that a probe sees an outage within a few seconds,
// slow enough to cost the database nothing.
constexpr absl::Duration kHealthProbeInterval = absl::Seconds(2);

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// Drops the builder plugins (reflection) from a server that must expose only what it registers itself.
class WithoutPlugins final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override { plugins->clear(); }
};

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ApiCredentials(const ServerConfig& config) {
  if (config.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  // Read once here so a missing or unreadable file fails the start naming its flag; the watcher below would only
  // log and refuse handshakes.
  for (const auto& [path, flag] : {std::pair{config.tls_cert_file, "tls_cert_file"},
                                   std::pair{config.tls_key_file, "tls_key_file"},
                                   std::pair{config.tls_client_ca_file, "tls_client_ca_file"}}) {
    if (path.empty()) continue;
    if (auto content = ReadFile(path, flag); !content.ok()) return content.status();
  }
  // The watcher reads the files again every interval and hands new connections what it read, so a renewed
  // certificate (a Secret volume kubelet updated) is served without a restart; open connections keep theirs.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      config.tls_key_file, config.tls_cert_file, config.tls_client_ca_file,
      static_cast<unsigned int>(absl::ToInt64Seconds(config.tls_refresh_interval)));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!config.tls_client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

// Tenants whose device epochs one replica remembers: ~100 bytes each, so ~10 MB at most.
constexpr size_t kMaxCachedTenantEpochs = 100'000;

class NoAuthCaches final : public AuthInvalidator {
 public:
  void TenantKeysChanged(const std::string&) override {}
};

}  // namespace

ServiceHost::ServiceHost(const ServerConfig& config, DbPool& db, RedisClient* redis, Clock& clock,
                         prometheus::Registry& registry, CallRunner& calls, PageTokens& page_tokens,
                         RequestParser& parser, AuthInvalidator& auth_invalidator, BlockingExecutor& executor,
                         RequestReplays& request_replays, TenantEpochs* device_epochs)
    : config_(config),
      db_(db),
      redis_(redis),
      clock_(clock),
      registry_(registry),
      calls_(calls),
      page_tokens_(page_tokens),
      parser_(parser),
      auth_invalidator_(auth_invalidator),
      executor_(executor),
      request_replays_(request_replays),
      device_epochs_(device_epochs) {}

ServiceHost::~ServiceHost() {
  while (!owned_.empty()) owned_.pop_back();
}

void ServiceHost::AddService(grpc::Service* service, std::string full_name, std::vector<std::string> dependencies) {
  registrations_.push_back({service, std::move(full_name), std::move(dependencies)});
}

absl::StatusOr<std::unique_ptr<PlatformServer>> PlatformServer::Start(ServerConfig config,
                                                                      const std::vector<ServiceRegistrar>& registrars,
                                                                      Parts parts) {
  if (absl::Status status = ValidateServerConfig(config); !status.ok()) return status;
  std::unique_ptr<PlatformServer> server(new PlatformServer());
  server->config_ = std::move(config);
  const ServerConfig& cfg = server->config_;
  SetMinLogLevel(ParseLogLevel(cfg.log_level));
  server->clock_ = parts.clock != nullptr ? parts.clock : &server->system_clock_;
  server->registry_ = std::make_shared<prometheus::Registry>();
  server->metrics_ = std::make_unique<GrpcServerMetrics>(*server->registry_);
  server->db_ = std::make_unique<DbPool>(DbPool::Options{.url = cfg.database_url,
                                                        .size = cfg.db_pool_size,
                                                        .statement_timeout = cfg.statement_timeout,
                                                        .metrics = MakePoolMetrics(server->registry_.get(), "postgres"),
                                                        .verify_serving_role = true,
                                                        .password_file = cfg.database_password_file});
  // A role that row-level security would not bind must not serve; an unreachable database is checked again on
  // every connection the pools open later.
  if (absl::Status role = server->db_->VerifyServingRole(); absl::IsFailedPrecondition(role)) return role;
  if (!cfg.redis_url.empty()) {
    auto redis = RedisClient::Create({.url = cfg.redis_url,
                                      .pool_size = cfg.redis_pool_size,
                                      .metrics = MakePoolMetrics(server->registry_.get(), "redis"),
                                      .password_file = cfg.redis_password_file});
    if (!redis.ok()) return redis.status();
    server->redis_ = *std::move(redis);
  }
  std::string secret = cfg.page_token_secret;
  if (secret.empty()) {
    secret = RandomBytes(32);
    LogWarning("no --page_token_secret: page tokens work only against this process; set one shared by replicas");
  }
  server->page_tokens_ = std::make_unique<PageTokens>(secret, cfg.page_token_previous_secret);
  // The same shared secret keys the sealed answers of request ids (a purpose-bound key is derived from it), so a
  // retry that lands on another replica still gets its answer; across a rotation the previous one still opens them.
  server->request_replays_ =
      std::make_unique<RequestReplays>(*server->db_, secret, cfg.page_token_previous_secret);
  if (server->redis_ != nullptr) {
    // Every replica with Redis bumps device epochs (its peers may cache devices), whether or not it caches.
    server->device_epochs_ = std::make_unique<TenantEpochs>(*server->redis_, *server->clock_, redis_keys::DeviceEpoch,
                                                            cfg.auth_cache_epoch_check, kMaxCachedTenantEpochs);
  }
  server->pg_authenticator_ =
      std::make_unique<PgAuthenticator>(*server->db_, *server->clock_, server->device_epochs_.get());
  server->authenticator_ = server->pg_authenticator_.get();
  if (server->redis_ != nullptr && cfg.auth_cache) {
    server->auth_cache_ = std::make_unique<CachingAuthenticator>(
        *server->pg_authenticator_, *server->redis_, *server->clock_,
        CachingAuthenticator::Options{.epoch_check_interval = cfg.auth_cache_epoch_check, .ttl = cfg.auth_cache_ttl},
        server->registry_.get());
    server->authenticator_ = server->auth_cache_.get();
    server->invalidator_ = server->auth_cache_.get();
  } else if (server->redis_ != nullptr) {
    // No cache here, but other replicas may have one: they still hear of this replica's changes.
    server->auth_invalidator_ = std::make_unique<RedisAuthInvalidator>(*server->redis_);
    server->invalidator_ = server->auth_invalidator_.get();
  } else {
    // Without Redis no replica caches keys (the cache needs the epochs), so there is no one to tell.
    server->auth_invalidator_ = std::make_unique<NoAuthCaches>();
    server->invalidator_ = server->auth_invalidator_.get();
  }
  server->streams_ = std::make_unique<StreamRegistry>(
      StreamRegistry::Limits{.max_streams = MaxStreams(cfg),
                             .max_thread_streams = MaxThreadStreams(cfg),
                             .per_key = cfg.max_streams_per_key,
                             .per_tenant = cfg.max_streams_per_tenant,
                             .idle_timeout = cfg.stream_idle_timeout,
                             .max_age = cfg.stream_max_age},
      *server->authenticator_, *server->clock_);
  server->parse_budget_ = std::make_unique<ParseBudget>(cfg.max_parsing_bytes);
  absl::StatusOr<std::vector<AddressRange>> trusted_proxies =
      ParseAddressRanges("--trusted_proxies", cfg.trusted_proxies);
  if (!trusted_proxies.ok()) return trusted_proxies.status();
  server->sources_ = std::make_unique<SourceAddresses>(*std::move(trusted_proxies));
  server->auth_failures_ = std::make_unique<AuthFailureLimiter>(
      AuthFailureLimiter::Options{.max_failures_per_source = cfg.auth_failures_per_source,
                                  .max_failures_per_key = cfg.auth_failures_per_key,
                                  .window = cfg.auth_failure_window},
      *server->clock_, server->registry_.get());
  server->calls_ = std::make_unique<CallRunner>(*server->authenticator_, server->streams_.get(),
                                                server->auth_failures_.get(), server->sources_.get());
  server->parser_ = std::make_unique<RequestParser>(*server->calls_, *server->parse_budget_);
  server->executor_ = std::make_unique<BlockingExecutor>(
      BlockingExecutor::Options{.threads = cfg.callback_executor_threads});
  server->host_ = std::make_unique<ServiceHost>(cfg, *server->db_, server->redis_.get(), *server->clock_,
                                                *server->registry_, *server->calls_, *server->page_tokens_,
                                                *server->parser_, *server->invalidator_, *server->executor_,
                                                *server->request_replays_, server->device_epochs_.get());
  for (const auto& registrar : registrars) {
    if (absl::Status status = registrar(*server->host_); !status.ok()) return status;
  }

  server->health_ = std::make_unique<HealthMonitor>();
  DbPool* db = server->db_.get();
  server->health_->AddDependency(kPostgresDependency, [db] { return db->Ping(); });
  if (server->redis_ != nullptr) {
    RedisClient* redis = server->redis_.get();
    server->health_->AddDependency(kRedisDependency, [redis] { return redis->Ping(); });
  }

  auto credentials = ApiCredentials(cfg);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  // Touching the descriptor links grpc/health/v1/health.pb.o, so reflection can describe the health service.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(cfg.listen, *credentials, &server->port_);
  builder.SetMaxReceiveMessageSize(cfg.max_message_bytes);
  grpc::ResourceQuota quota("parkbase");
  quota.SetMaxThreads(cfg.server_threads);
  builder.SetResourceQuota(quota);
  // Keepalive: a subscriber that vanished without closing its connection is found by an unanswered ping, and its
  // stream freed. The server keeps pinging an idle stream (a Subscribe may see no data for a long time), which
  // gRPC would stop after two pings without data.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(cfg.keepalive_time)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(cfg.keepalive_timeout)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, cfg.keepalive_permit_without_calls ? 1 : 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(cfg.keepalive_min_ping_interval)));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(server->metrics_->MakeInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  for (const auto& registration : server->host_->registrations()) {
    if (server->redis_ == nullptr &&
        std::find(registration.dependencies.begin(), registration.dependencies.end(), kRedisDependency) !=
            registration.dependencies.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--redis_url: required by ", registration.full_name));
    }
    builder.RegisterService(registration.service);
    server->health_->AddService(registration.full_name, registration.dependencies);
    if (const auto* service =
            google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(registration.full_name)) {
      ZeroGrpcSeries(*server->metrics_, *service);
    }
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("--listen: cannot listen on ", cfg.listen));
  }
  server->health_->AddEndpoint(server->server_->GetHealthCheckService());
  // Liveness asks only "is this process able to answer": a dependency outage must make pods unready, not restart
  // them all at once.
  server->health_->AddService(kLivenessHealthName, {});

  if (!cfg.health_listen.empty()) {
    grpc::ServerBuilder health_builder;
    // The plaintext port exists for kubelet probes: health only, so no reflection on it.
    health_builder.SetOption(std::make_unique<WithoutPlugins>());
    server->health_port_others_ = std::make_unique<grpc::CallbackGenericService>();
    health_builder.RegisterCallbackGenericService(server->health_port_others_.get());
    health_builder.AddListeningPort(cfg.health_listen, grpc::InsecureServerCredentials(), &server->health_port_);
    server->health_server_ = health_builder.BuildAndStart();
    if (server->health_server_ == nullptr || server->health_port_ == 0) {
      return absl::UnavailableError(absl::StrCat("--health_listen: cannot listen on ", cfg.health_listen));
    }
    server->health_->AddEndpoint(server->health_server_->GetHealthCheckService());
  }

  if (!cfg.http_listen.empty()) {
    if (absl::Status status = server->StartHttp(); !status.ok()) return status;
  }

  if (!cfg.metrics_listen.empty()) {
    try {
      server->exposer_ = std::make_unique<prometheus::Exposer>(cfg.metrics_listen);
    } catch (const std::exception& error) {
      return absl::UnavailableError(absl::StrCat("--metrics_listen: cannot listen on ", cfg.metrics_listen));
    }
    server->exposer_->RegisterCollectable(server->registry_);
    server->exposer_->RegisterCollectable(SharedProcessMetrics());
    const auto ports = server->exposer_->GetListeningPorts();
    server->metrics_port_ = ports.empty() ? 0 : ports.front();
  }

  server->health_->CheckNow();
  server->health_->StartBackgroundProbes(kHealthProbeInterval);
  LogLine(LogLevel::kInfo, "serving")
      .Str("listen", cfg.listen)
      .Num("port", server->port_)
      .Num("health_port", server->health_port_)
      .Num("metrics_port", server->metrics_port_)
      .Num("http_port", server->http_port_)
      .Str("tls", cfg.tls_cert_file.empty() ? "off" : (cfg.tls_client_ca_file.empty() ? "on" : "mutual"))
      .Emit();
  return server;
}

absl::Status PlatformServer::StartHttp() {
  const ServerConfig& cfg = config_;
  std::vector<const google::protobuf::ServiceDescriptor*> services;
  for (const auto& registration : host_->registrations()) {
    const auto* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(registration.full_name);
    if (service != nullptr) services.push_back(service);
  }
  grpc::ChannelArguments arguments;
  // The answer is bounded by the server's own limits; the client's 4 MB default would refuse a large page.
  arguments.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::Channel> channel = server_->InProcessChannel(arguments);
  HttpGateway::Options options;
  options.call_timeout = cfg.http_timeout;
  options.sources = sources_.get();
  options.console_dir = cfg.console_dir;
  for (absl::string_view origin : absl::StrSplit(cfg.http_cors_origins, ',', absl::SkipWhitespace())) {
    options.cors_origins.emplace_back(absl::StripAsciiWhitespace(origin));
  }
  auto gateway = HttpGateway::Create(
      services, [channel](const std::string&) { return channel; }, std::move(options), registry_.get());
  if (!gateway.ok()) return gateway.status();
  http_gateway_ = *std::move(gateway);
  HttpServer::Options http;
  http.listen = cfg.http_listen;
  http.threads = cfg.http_threads;
  http.max_body_bytes = HttpMaxBodyBytes(cfg);
  http.io_timeout = cfg.http_timeout;
  // The HTTP door serves the gRPC port's certificate and reads the files again as that port does.
  http.tls_cert_file = cfg.tls_cert_file;
  http.tls_key_file = cfg.tls_key_file;
  http.tls_client_ca_file = cfg.tls_client_ca_file;
  http.tls_refresh_interval = cfg.tls_refresh_interval;
  auto http_server = HttpServer::Start(std::move(http), *http_gateway_);
  if (!http_server.ok()) return http_server.status();
  http_server_ = *std::move(http_server);
  http_port_ = http_server_->port();
  return absl::OkStatus();
}

PlatformServer::~PlatformServer() {
  if (!drained_) Drain(absl::ZeroDuration());
}

void PlatformServer::Drain(absl::Duration grace) {
  if (drained_) return;
  drained_ = true;
  // A server whose Start failed half-way has only some of its parts.
  if (health_ != nullptr) health_->Drain();
  if (server_ == nullptr) return;
  absl::SleepFor(grace);
  const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(
                                                               std::max<int64_t>(absl::ToInt64Milliseconds(grace), 1000));
  if (http_server_ != nullptr) http_server_->StopAccepting();
  server_->Shutdown(deadline);
  if (health_server_ != nullptr) health_server_->Shutdown(deadline);
  // The server's shutdown ended every call, so the HTTP requests forwarded to it have their answers.
  if (http_gateway_ != nullptr) http_gateway_->StopAndWait();
  http_server_.reset();
}

void PlatformServer::Wait() { server_->Wait(); }

std::vector<std::string> PlatformServer::service_names() const {
  std::vector<std::string> names;
  for (const auto& registration : host_->registrations()) names.push_back(registration.full_name);
  return names;
}

namespace {

// glibc gives threads that allocate at the same time arenas of their own, up to 8 per core, and an arena keeps the
// high-water mark of what its threads once held. gRPC's synchronous server starts and ends threads as load varies,
// so over hours every arena fills to the largest transient buffers any call ever needed: the soak measured RSS
// rising ~60 MB/h with 16 arenas on 2 cores, and about a third of that with 2. One arena per core keeps allocation
// mostly uncontended. MALLOC_ARENA_MAX, when set, is the operator's choice and wins.
void LimitMallocArenas() {
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) return;
  const int arenas = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  mallopt(M_ARENA_MAX, arenas);
}

}  // namespace

void PrepareServingProcess() {
  LimitMallocArenas();
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex::Lock — ours and gRPC's, whose gpr_mu is an
  // absl::Mutex — checks lock order in a process-wide graph under one global spin lock, and looks the mutex up in
  // a hash table of fixed size whose chains grow with the mutexes alive. With 10,000 Subscribe streams (a few
  // mutexes each) that look-up was 23% of the server's CPU (perf, docs/performance.md), and a lock took ~345 ns
  // instead of ~6 ns with 40,000 mutexes alive. Lock order is what the tests check, where detection stays on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

int ServeUntilSignal(const std::vector<ServiceRegistrar>& registrars, absl::string_view program) {
  PrepareServingProcess();
  auto config = ServerConfigFromFlags();
  if (!config.ok()) {
    LogLine(LogLevel::kError, "bad configuration").Str("error", config.status().message()).Emit();
    return 2;
  }
  auto tracing_settings = TracingSettingsFromFlags(program, ProcessEnvironment());
  if (!tracing_settings.ok()) {
    LogLine(LogLevel::kError, "bad configuration").Str("error", tracing_settings.status().message()).Emit();
    return 2;
  }
  // Block the signals before any thread starts so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = PlatformServer::Start(*config, registrars);
  if (!server.ok()) {
    LogLine(LogLevel::kError, "cannot start").Str("error", server.status().message()).Emit();
    return 1;
  }
  // Destroyed before the server: the exporter sends what it holds while the registry its counters live in exists.
  auto tracing = StartTracing(*tracing_settings, &(*server)->registry());
  if (!tracing.ok()) {
    LogLine(LogLevel::kError, "cannot start").Str("error", tracing.status().message()).Emit();
    return 1;
  }
  if (!tracing_settings->endpoint.empty()) {
    LogLine(LogLevel::kInfo, "exporting traces").Str("endpoint", tracing_settings->endpoint).Emit();
  }
  int received = 0;
  sigwait(&signals, &received);
  LogLine(LogLevel::kInfo, "draining").Str("signal", received == SIGTERM ? "SIGTERM" : "SIGINT").Emit();
  (*server)->Drain(config->drain);
  (*server)->Wait();
  LogInfo("stopped");
  return 0;
}

int RunServerMain(absl::string_view program, int argc, char** argv, const std::vector<ServiceRegistrar>& registrars) {
  absl::SetProgramUsageMessage(absl::StrCat(program, ": serves its gRPC API. Flags may also be set as PARKBASE_<FLAG>."));
  if (absl::Status status = ApplyEnvironmentToFlags(); !status.ok()) {
    LogLine(LogLevel::kError, "bad configuration").Str("error", status.message()).Emit();
    return 2;
  }
  if (absl::Status status = CheckFlagArguments(argc, argv); !status.ok()) {
    LogLine(LogLevel::kError, "bad configuration").Str("error", status.message()).Emit();
    return 2;
  }
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    LogLine(LogLevel::kError, "bad configuration").Str("error", absl::StrCat("unexpected argument ", rest[1])).Emit();
    return 2;
  }
  return ServeUntilSignal(registrars, program);
}

}  // namespace parkbase
