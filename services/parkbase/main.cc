// parkbase: the all-in-one binary. `serve` hosts every service on one port, `migrate` applies every service's
// schema, `admin bootstrap-key` mints the first park-admin key, and the rest is the administrator's command line.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/config.h"
#include "common/db.h"
#include "common/log.h"
#include "common/migrations.h"
#include "common/server.h"
#include "parkbase/admin_cli.h"
#include "parkbase/all_services.h"
#include "parkbase/cli_config.h"
#include "parkbase/local_cli.h"
#include "parkbase/gateway.h"
#include "tenant/tenant_logic.h"

ABSL_DECLARE_FLAG(std::optional<std::string>, display_name);

namespace parkbase {
namespace {

constexpr char kTopLevelHelp[] =
    "parkbase: the Parkbase all-in-one server and the park administrator's command line.\n\n"
    "  parkbase serve [server flags]        serve every service on one port (--listen, --database_url, ...)\n"
    "  parkbase gateway --gateway_backends=tenant=HOST:PORT,device=...,telemetry=...,marketplace=...\n"
    "                                       serve REST/JSON on --http_listen, forwarding each call to its service\n"
    "  parkbase migrate --database_url=URL  apply every service's SQL migrations (idempotent, safe concurrently)\n"
    "  parkbase admin bootstrap-key --database_url=URL [--display_name=NAME]\n"
    "                                       mint a park-admin key directly in the database; prints only the key\n"
    "  parkbase version                     the version and source revision\n"
    "Flags are kebab-case (--page-size); the snake_case spelling (--page_size) is accepted too.\n";

int Migrate() {
  const std::string url = absl::GetFlag(FLAGS_database_url);
  if (url.empty()) {
    std::cerr << "parkbase migrate: --database_url (or PARKBASE_DATABASE_URL) is required\n";
    return cli::kExitUsage;
  }
  auto report = ApplyMigrations(url, AllMigrations());
  if (!report.ok()) {
    std::cerr << "parkbase migrate: " << report.status().message() << "\n";
    return 1;
  }
  std::cout << "migrations applied: " << report->applied.size() << ", already present: " << report->skipped.size()
            << "\n";
  return 0;
}

int BootstrapKey() {
  const std::string url = absl::GetFlag(FLAGS_database_url);
  if (url.empty()) {
    std::cerr << "parkbase admin bootstrap-key: --database_url (or PARKBASE_DATABASE_URL) is required\n";
    return cli::kExitUsage;
  }
  DbPool db(DbPool::Options{.url = url, .size = 1});
  SystemClock clock;
  PageTokens unused_tokens("bootstrap-has-no-pages");
  tenant::PgTenantStore store(db);
  tenant::TenantManager manager(store, clock, unused_tokens);
  auto key = manager.BootstrapParkAdminKey(absl::GetFlag(FLAGS_display_name).value_or("bootstrap"));
  if (!key.ok()) {
    std::cerr << "parkbase admin bootstrap-key: " << key.status().message() << "\n";
    return 1;
  }
  std::cout << key->secret() << "\n";
  return 0;
}

bool WantsHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "help" || arg == "--helpfull") return true;
  }
  return false;
}

int Main(int original_argc, char** original_argv) {
  // Kebab-case flags, -o and -q become what Abseil's parser knows; argv stays alive for the whole of Main.
  const cli::NormalizedArgs normalized =
      cli::NormalizeArgs(std::vector<std::string>(original_argv, original_argv + original_argc));
  std::vector<std::string> storage = normalized.args;
  std::vector<char*> pointers;
  for (std::string& arg : storage) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  const int argc = original_argc == 0 ? 0 : static_cast<int>(storage.size());
  char** argv = pointers.data();
  absl::SetProgramUsageMessage(kTopLevelHelp);
  if (WantsHelp(argc, argv)) {
    // Our own help per command: absl's --help would list every flag of every library.
    std::vector<std::string> command;
    for (int i = 1; i < argc && argv[i][0] != '-' && std::string(argv[i]) != "help"; ++i) command.push_back(argv[i]);
    if (command.empty() || command[0] == "serve" || command[0] == "migrate" || command[0] == "admin" ||
        command[0] == "gateway") {
      std::cout << kTopLevelHelp << "\nAdministration (talks gRPC to a running server):\n";
      cli::PrintHelp({});
      if (!command.empty() && command[0] == "serve") {
        std::cout << "\nServer flags (each also PARKBASE_<FLAG>): --listen --health_listen --metrics_listen "
                     "--database_url --redis_url --park_code --tls_cert_file --tls_key_file --page_token_secret "
                     "--db_pool_size --redis_pool_size --auth_cache --device_cache --auth_cache_epoch_check_ms --auth_cache_ttl_s "
                     "--statement_timeout_ms --drain_seconds --max_message_bytes --server_threads "
                     "--max_streams --max_streams_per_key --max_streams_per_tenant --stream_idle_timeout_s "
                     "--stream_max_age_s --max_parsing_bytes --bulk_statement_timeout_ms --max_scan_bytes "
                     "--max_scan_points --telemetry_compaction_interval_ms --telemetry_retention_interval_s "
                     "--telemetry_backlog_max_points --metrics_tenant_label --log_level --http_listen "
                     "--http_max_body_bytes --http_timeout_ms --http_cors_origins --http_threads --tls_client_ca_file "
                     "--tls_refresh_interval_s --page_token_previous_secret --database_password_file "
                     "--redis_password_file --console_dir\n";
      }
      if (!command.empty() && command[0] == "gateway") {
        std::cout << "\nGateway flags (each also PARKBASE_<FLAG>): --gateway_backends --gateway_backend_ca_file "
                     "--http_listen --http_max_body_bytes --http_timeout_ms --http_cors_origins --http_threads "
                     "--tls_cert_file --tls_key_file --tls_refresh_interval_s --trusted_proxies --metrics_listen "
                     "--drain_seconds "
                     "--log_level --console_dir\n";
      }
      return 0;
    }
    if (!cli::PrintHelp(command)) {
      std::cerr << "parkbase: unknown command " << command[0] << "\n";
      return cli::kExitUsage;
    }
    return 0;
  }
  if (absl::Status status = ApplyEnvironmentToFlags(); !status.ok()) {
    std::cerr << "parkbase: " << status.message() << "\n";
    return cli::kExitUsage;
  }
  if (absl::Status status = CheckFlagArguments(argc, argv); !status.ok()) {
    std::cerr << "parkbase: " << status.message() << "\n(run with --help for usage)\n";
    return cli::kExitUsage;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  if (args.empty()) {
    std::cerr << kTopLevelHelp;
    return cli::kExitUsage;
  }
  const bool server_command = args[0] == "serve" || args[0] == "gateway" || args[0] == "migrate";
  if (server_command && args.size() != 1) {
    return cli::Usage(absl::StrCat(args[0], " takes no arguments, only flags; got '", args[1], "'"));
  }
  if (args[0] == "serve") return ServeUntilSignal(AllServices());
  if (args[0] == "gateway") return RunGateway();
  if (args[0] == "migrate") return Migrate();
  if (args[0] == "admin") {
    if (args.size() == 2 && args[1] == "bootstrap-key") return BootstrapKey();
    std::cerr << "parkbase admin: the only sub-command is bootstrap-key\n";
    return cli::kExitUsage;
  }
  if (cli::IsLocalCommand(args)) return cli::RunLocalCommand(args);
  return cli::RunAdminCommand(args, normalized.key_on_argv);
}

}  // namespace
}  // namespace parkbase

int main(int argc, char** argv) { return parkbase::Main(argc, argv); }
