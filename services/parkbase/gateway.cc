#include "parkbase/gateway.h"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/auth_limits.h"
#include "common/config.h"
#include "common/process_metrics.h"
#include "common/server.h"
#include "common/tracing_setup.h"
#include "common/http_gateway.h"
#include "common/http_server.h"
#include "common/log.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
// Linked so that the generated pool holds the services' descriptors.
#include "parkbase/device/v1/device.pb.h"
#include "parkbase/marketplace/v1/marketplace.pb.h"
#include "parkbase/telemetry/v1/telemetry.pb.h"
#include "parkbase/tenant/v1/tenant.pb.h"

ABSL_FLAG(std::string, gateway_backends, "",
          "parkbase gateway: where each service listens, comma-separated service=host:port (service: tenant, device, "
          "telemetry, marketplace)");
ABSL_FLAG(std::string, gateway_backend_ca_file, "",
          "parkbase gateway: PEM CAs that sign the services' certificates; set: the gateway calls them over TLS");

namespace parkbase {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view flag) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// The package segment of a service's full name: parkbase.tenant.v1.TenantService -> tenant.
std::string ShortName(absl::string_view full_name) {
  std::vector<absl::string_view> parts = absl::StrSplit(full_name, '.');
  return parts.size() >= 2 ? std::string(parts[1]) : std::string(full_name);
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseGatewayBackends(absl::string_view text) {
  std::map<std::string, std::string> backends;
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t equals = entry.find('=');
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--gateway_backends: want service=host:port, got '", entry, "'"));
    }
    const absl::string_view name = entry.substr(0, equals);
    const absl::string_view address = entry.substr(equals + 1);
    std::string full_name;
    for (const char* service : kGatewayServices) {
      if (name == service || name == ShortName(service)) full_name = service;
    }
    if (full_name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--gateway_backends: no service named '", name,
                                                     "' (tenant, device, telemetry, marketplace)"));
    }
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos || colon == 0 || colon + 1 == address.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--gateway_backends: ", name, ": want host:port, got '", address, "'"));
    }
    if (!backends.emplace(full_name, std::string(address)).second) {
      return absl::InvalidArgumentError(absl::StrCat("--gateway_backends: ", name, " is named twice"));
    }
  }
  if (backends.empty()) {
    return absl::InvalidArgumentError("--gateway_backends: required, service=host:port for each service to route");
  }
  return backends;
}

int RunGateway() {
  PrepareServingProcess();
  SetMinLogLevel(ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  auto fail = [](absl::string_view what, const absl::Status& status, int code) {
    LogLine(LogLevel::kError, std::string(what)).Str("error", status.message()).Emit();
    return code;
  };
  auto backends = ParseGatewayBackends(absl::GetFlag(FLAGS_gateway_backends));
  if (!backends.ok()) return fail("bad configuration", backends.status(), 2);
  ServerConfig config;  // the HTTP door's flags, checked as the servers check them
  config.http_listen = absl::GetFlag(FLAGS_http_listen);
  config.http_max_body_bytes = absl::GetFlag(FLAGS_http_max_body_bytes);
  config.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  config.http_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_http_timeout_ms));
  config.http_cors_origins = absl::GetFlag(FLAGS_http_cors_origins);
  config.http_threads = absl::GetFlag(FLAGS_http_threads);
  if (config.http_listen.empty()) {
    return fail("bad configuration", absl::InvalidArgumentError("--http_listen: required by parkbase gateway"), 2);
  }
  auto trusted = ParseAddressRanges("--trusted_proxies", absl::GetFlag(FLAGS_trusted_proxies));
  if (!trusted.ok()) return fail("bad configuration", trusted.status(), 2);
  SourceAddresses sources(*std::move(trusted));

  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (const std::string ca_file = absl::GetFlag(FLAGS_gateway_backend_ca_file); !ca_file.empty()) {
    auto ca = ReadPem(ca_file, "gateway_backend_ca_file");
    if (!ca.ok()) return fail("bad configuration", ca.status(), 2);
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = *ca;
    credentials = grpc::SslCredentials(options);
  }
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  std::vector<const google::protobuf::ServiceDescriptor*> services;
  (void)tenant::v1::Tenant::descriptor();
  (void)device::v1::Device::descriptor();
  (void)telemetry::v1::WriteRequest::descriptor();
  (void)marketplace::v1::App::descriptor();
  for (const auto& [service, address] : *backends) {
    channels[service] = grpc::CreateCustomChannel(address, credentials, arguments);
    services.push_back(google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service));
  }

  auto registry = std::make_shared<prometheus::Registry>();
  auto tracing_settings = TracingSettingsFromFlags("parkbase-gateway", ProcessEnvironment());
  if (!tracing_settings.ok()) return fail("bad configuration", tracing_settings.status(), 2);
  // Before the HTTP server, after the registry: it outlives every request and is outlived by its counters.
  auto tracing = StartTracing(*tracing_settings, registry.get());
  if (!tracing.ok()) return fail("cannot start", tracing.status(), 1);
  HttpGateway::Options options;
  options.call_timeout = config.http_timeout;
  options.sources = &sources;
  options.health_path = "/healthz";
  options.console_dir = absl::GetFlag(FLAGS_console_dir);
  for (absl::string_view origin : absl::StrSplit(config.http_cors_origins, ',', absl::SkipWhitespace())) {
    options.cors_origins.emplace_back(absl::StripAsciiWhitespace(origin));
  }
  auto gateway = HttpGateway::Create(
      services,
      [&channels](const std::string& service) {
        auto found = channels.find(service);
        return found == channels.end() ? nullptr : found->second;
      },
      std::move(options), registry.get());
  // A --console_dir that holds no built console is a configuration error, like a bad flag.
  if (!gateway.ok()) {
    return absl::IsInvalidArgument(gateway.status()) ? fail("bad configuration", gateway.status(), 2)
                                                     : fail("cannot start", gateway.status(), 1);
  }

  HttpServer::Options http;
  http.listen = config.http_listen;
  http.threads = config.http_threads;
  http.max_body_bytes = HttpMaxBodyBytes(config);
  http.io_timeout = config.http_timeout;
  if (absl::GetFlag(FLAGS_tls_cert_file).empty() != absl::GetFlag(FLAGS_tls_key_file).empty()) {
    return fail("bad configuration",
                absl::InvalidArgumentError("--tls_cert_file, --tls_key_file: set both or neither"), 2);
  }
  // Files, not their text: the HTTP server reads them again every interval, so a renewed certificate needs no restart.
  http.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  http.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  http.tls_refresh_interval = absl::Seconds(std::clamp(absl::GetFlag(FLAGS_tls_refresh_interval_s), 1, 86'400));

  // Block the signals before any thread starts so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = HttpServer::Start(std::move(http), **gateway);
  if (!server.ok()) {
    // An unreadable or bad TLS file is a configuration error, as before the server read the files itself.
    return absl::IsInvalidArgument(server.status()) ? fail("bad configuration", server.status(), 2)
                                                    : fail("cannot start", server.status(), 1);
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  if (const std::string metrics = absl::GetFlag(FLAGS_metrics_listen); !metrics.empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(metrics);
    } catch (const std::exception&) {
      return fail("cannot start", absl::UnavailableError(absl::StrCat("--metrics_listen: cannot listen on ", metrics)),
                  1);
    }
    exposer->RegisterCollectable(registry);
    exposer->RegisterCollectable(SharedProcessMetrics());
  }
  LogLine(LogLevel::kInfo, "gateway serving")
      .Str("http_listen", config.http_listen)
      .Num("http_port", (*server)->port())
      .Str("backends", absl::GetFlag(FLAGS_gateway_backends))
      .Emit();
  int received = 0;
  sigwait(&signals, &received);
  LogLine(LogLevel::kInfo, "draining").Str("signal", received == SIGTERM ? "SIGTERM" : "SIGINT").Emit();
  // Unready first, so load balancers stop sending; then no new connections, and the calls in flight end.
  (*gateway)->SetServing(false);
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_drain_seconds)));
  (*server)->StopAccepting();
  (*gateway)->StopAndWait();
  server->reset();
  LogInfo("stopped");
  return 0;
}

}  // namespace parkbase
