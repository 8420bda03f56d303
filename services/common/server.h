// Hosting services: ServiceHost is what a service's Register function receives (the shared platform objects and a
// place to add its gRPC service); PlatformServer starts a gRPC server around the registered services with
// metrics, health, reflection and graceful drain. Both the per-service binaries and `parkbase serve` use it, so a
// service behaves the same alone or in the all-in-one server.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "common/auth.h"
#include "common/auth_cache.h"
#include "common/call.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/db.h"
#include "common/executor.h"
#include "common/health.h"
#include "common/http_gateway.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/page_token.h"
#include "common/request_replay.h"
#include "common/parse_budget.h"
#include "common/raw_requests.h"
#include "common/redis.h"
#include "common/streams.h"

namespace parkbase {

// Names of the dependencies a service can declare.
inline constexpr char kPostgresDependency[] = "postgres";
inline constexpr char kRedisDependency[] = "redis";
// The health name for liveness probes: SERVING while the process runs, whatever its dependencies do.
inline constexpr char kLivenessHealthName[] = "liveness";

class ServiceHost {
 public:
  ServiceHost(const ServerConfig& config, DbPool& db, RedisClient* redis, Clock& clock,
              prometheus::Registry& registry, CallRunner& calls, PageTokens& page_tokens, RequestParser& parser,
              AuthInvalidator& auth_invalidator, BlockingExecutor& executor, RequestReplays& request_replays,
              TenantEpochs* device_epochs = nullptr);

  // Destroys what it owns in the reverse order of Own, so an object goes before the objects it was built on (a
  // background thread stops before the pool it reads through).
  ~ServiceHost();
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  const ServerConfig& config() const { return config_; }
  DbPool& db() { return db_; }
  // Null when no --redis_url was given; a service that needs Redis fails to register without it.
  RedisClient* redis() { return redis_; }
  Clock& clock() { return clock_; }
  prometheus::Registry& registry() { return registry_; }
  CallRunner& calls() { return calls_; }
  PageTokens& page_tokens() { return page_tokens_; }
  // Parses requests for services that take wire bytes (raw_requests.h).
  RequestParser& parser() { return parser_; }
  // What a service calls after committing a change to who a key is or whether it is valid (auth_cache.h).
  AuthInvalidator& auth_invalidator() { return auth_invalidator_; }
  // Runs the blocking work of callback-API handlers (--callback_executor_threads), never on a reactor thread.
  BlockingExecutor& executor() { return executor_; }
  // The tenants' device epochs (device/device_cache.h), shared with device activation in the authenticator so this
  // replica's own activations show at once; null without Redis.
  TenantEpochs* device_epochs() { return device_epochs_; }
  // Remembered answers of secret-minting creates sent with a request id (request_replay.h).
  RequestReplays& request_replays() { return request_replays_; }

  // Adds a gRPC service to the server. `full_name` (e.g. parkbase.tenant.v1.TenantService) is its health name.
  void AddService(grpc::Service* service, std::string full_name, std::vector<std::string> dependencies);

  // Keeps an object alive as long as the server.
  template <typename T>
  T& Own(std::unique_ptr<T> object) {
    T& reference = *object;
    owned_.push_back(std::shared_ptr<void>(std::move(object)));
    return reference;
  }

  struct Registration {
    grpc::Service* service;
    std::string full_name;
    std::vector<std::string> dependencies;
  };
  const std::vector<Registration>& registrations() const { return registrations_; }

 private:
  const ServerConfig& config_;
  DbPool& db_;
  RedisClient* redis_;
  Clock& clock_;
  prometheus::Registry& registry_;
  CallRunner& calls_;
  PageTokens& page_tokens_;
  RequestParser& parser_;
  AuthInvalidator& auth_invalidator_;
  BlockingExecutor& executor_;
  RequestReplays& request_replays_;
  TenantEpochs* device_epochs_;
  std::vector<Registration> registrations_;
  std::vector<std::shared_ptr<void>> owned_;
};

using ServiceRegistrar = std::function<absl::Status(ServiceHost&)>;

// What a server does not create itself; tests pass a FakeClock here.
struct PlatformServerParts {
  Clock* clock = nullptr;  // null: the system clock
};

// A running server and everything it owns.
class PlatformServer {
 public:
  using Parts = PlatformServerParts;

  static absl::StatusOr<std::unique_ptr<PlatformServer>> Start(ServerConfig config,
                                                              const std::vector<ServiceRegistrar>& registrars,
                                                              Parts parts = {});
  ~PlatformServer();

  // Ports actually bound (useful with port 0).
  int port() const { return port_; }
  int health_port() const { return health_port_; }
  int metrics_port() const { return metrics_port_; }
  // 0 when there is no HTTP door (--http_listen empty).
  int http_port() const { return http_port_; }

  HealthMonitor& health() { return *health_; }
  // Full gRPC names of the services this server hosts.
  std::vector<std::string> service_names() const;
  DbPool& db() { return *db_; }
  prometheus::Registry& registry() { return *registry_; }
  StreamRegistry& streams() { return *streams_; }
  // Null when the auth cache is off (--auth_cache=false, or no Redis).
  CachingAuthenticator* auth_cache() { return auth_cache_.get(); }
  AuthInvalidator& auth_invalidator() { return *invalidator_; }
  ParseBudget& parse_budget() { return *parse_budget_; }

  // NOT_SERVING at once, wait `grace` for load balancers to notice, then refuse new calls and let running ones
  // finish (cancelling them after another `grace`).
  void Drain(absl::Duration grace);
  void Wait();

 private:
  PlatformServer() = default;
  // The HTTP door (--http_listen), calling server_ in-process.
  absl::Status StartHttp();

  ServerConfig config_;
  SystemClock system_clock_;
  Clock* clock_ = nullptr;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<GrpcServerMetrics> metrics_;
  std::unique_ptr<DbPool> db_;
  std::unique_ptr<RedisClient> redis_;
  std::unique_ptr<TenantEpochs> device_epochs_;  // with redis_
  std::unique_ptr<PgAuthenticator> pg_authenticator_;
  std::unique_ptr<CachingAuthenticator> auth_cache_;
  // auth_cache_ when there is one, else pg_authenticator_.
  Authenticator* authenticator_ = nullptr;
  std::unique_ptr<AuthInvalidator> auth_invalidator_;  // when there is no auth_cache_
  AuthInvalidator* invalidator_ = nullptr;
  std::unique_ptr<AuthFailureLimiter> auth_failures_;
  std::unique_ptr<SourceAddresses> sources_;
  std::unique_ptr<StreamRegistry> streams_;
  std::unique_ptr<ParseBudget> parse_budget_;
  std::unique_ptr<CallRunner> calls_;
  std::unique_ptr<RequestParser> parser_;
  std::unique_ptr<PageTokens> page_tokens_;
  std::unique_ptr<RequestReplays> request_replays_;
  // Outlives the services (host_): their callback handlers queue work on it until the server has shut down.
  std::unique_ptr<BlockingExecutor> executor_;
  std::unique_ptr<ServiceHost> host_;
  std::unique_ptr<HealthMonitor> health_;
  std::unique_ptr<grpc::Server> server_;
  // Answers UNIMPLEMENTED for anything but health on the health port (and gives that server the callback queue
  // gRPC's own health service needs).
  std::unique_ptr<grpc::CallbackGenericService> health_port_others_;
  std::unique_ptr<grpc::Server> health_server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  // The HTTP door calls server_ in-process, so it goes first: the server that reads requests, then the gateway.
  std::unique_ptr<HttpGateway> http_gateway_;
  std::unique_ptr<HttpServer> http_server_;
  int port_ = 0;
  int health_port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = 0;
  bool drained_ = false;
};

// main() of a server binary: flags and environment, start, serve until SIGTERM or SIGINT, drain, exit code.
int RunServerMain(absl::string_view program, int argc, char** argv, const std::vector<ServiceRegistrar>& registrars);

// Process-wide settings of a serving process, applied by ServeUntilSignal before any thread starts: one malloc
// arena per core, and no absl::Mutex deadlock detection (below). Tests keep the libraries' defaults.
void PrepareServingProcess();

// The part of RunServerMain after flags were parsed; for `parkbase serve`. `program` is the service.name of the
// spans it exports (OTEL_SERVICE_NAME overrides it).
int ServeUntilSignal(const std::vector<ServiceRegistrar>& registrars, absl::string_view program = "parkbase");

}  // namespace parkbase
