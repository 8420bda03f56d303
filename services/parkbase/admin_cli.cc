#include "parkbase/admin_cli.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <cstdlib>
#include <sstream>
#include <tuple>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "common/errors.h"
#include "common/grpc_client.h"
#include "parkbase/app_cli.h"
#include "parkbase/cli_config.h"
#include "parkbase/device_cli.h"
#include "parkbase/local_cli.h"
#include "parkbase/telemetry_cli.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"

ABSL_FLAG(std::string, address, "", "Server address (PARKBASE_ADDRESS; default: the profile's, else 127.0.0.1:50051)");
ABSL_FLAG(std::string, key, "", "Deprecated on the command line (ps and shell history keep it): set PARKBASE_KEY or "
          "a profile's key-file or key-env");
ABSL_FLAG(std::string, output, "table", "table, json or yaml; csv for telemetry points (PARKBASE_OUTPUT)");
ABSL_FLAG(bool, quiet, false, "Print ids only (lists, creates) or nothing (other commands) on success");
ABSL_FLAG(std::string, config, "", "The profiles file (PARKBASE_CONFIG; default: $XDG_CONFIG_HOME/parkbase/config.yaml "
          "or ~/.config/parkbase/config.yaml)");
ABSL_FLAG(std::string, profile, "", "The profile to use (PARKBASE_PROFILE; default: the file's current-profile)");
ABSL_FLAG(std::string, tenant, "", "The tenant device and telemetry commands act on (PARKBASE_TENANT; default: the "
          "profile's, else a tenant key's own tenant)");
ABSL_FLAG(bool, tls, false, "Use TLS to reach the server");
ABSL_FLAG(std::string, tls_ca_file, "", "PEM CAs to trust for the server's certificate (implies --tls; default: the system's)");
ABSL_FLAG(std::string, tls_client_cert_file, "",
          "PEM client certificate chain for a server that requires mutual TLS (implies --tls; with --tls_client_key_file)");
ABSL_FLAG(std::string, tls_client_key_file, "", "PEM private key of --tls_client_cert_file");
ABSL_FLAG(int32_t, timeout_seconds, 10, "Deadline of each call");
ABSL_FLAG(std::optional<std::string>, display_name, std::nullopt, "Human-readable name");
ABSL_FLAG(std::optional<std::string>, plan, std::nullopt, "free, standard or enterprise");
ABSL_FLAG(std::optional<int64_t>, max_devices, std::nullopt, "Quota: most devices");
ABSL_FLAG(std::optional<int64_t>, max_ingest_points_per_second, std::nullopt, "Quota: most points per second");
ABSL_FLAG(std::optional<int32_t>, retention_days, std::nullopt, "Quota: days of raw telemetry kept");
ABSL_FLAG(std::optional<int32_t>, max_installed_apps, std::nullopt, "Quota: most installed apps");
ABSL_FLAG(std::optional<std::string>, provider, std::nullopt,
          "tenant create/update: true or false, whether the tenant may publish marketplace apps; app search: a "
          "provider's tenant id");
ABSL_FLAG(std::optional<std::string>, contact_email, std::nullopt, "Where to reach the tenant's administrators");
ABSL_FLAG(std::string, reason, "", "Why: a tenant's suspension, an app's delisting, a version's review");
ABSL_FLAG(std::string, filter, "", "List filter, e.g. 'state = SUSPENDED AND plan = FREE'");
ABSL_FLAG(int32_t, page_size, 0, "Items per page (0: server default)");
ABSL_FLAG(std::string, page_token, "", "Continue a list from this token");
ABSL_FLAG(bool, all, false, "List every page");
ABSL_FLAG(std::string, role, "", "Key role: tenant_admin, developer, provider or park_admin");
ABSL_FLAG(std::optional<std::string>, expire_in, std::nullopt, "Key lifetime, e.g. 720h; default: no expiry");
ABSL_FLAG(std::string, service, "", "Health: the service name to check (empty: the whole server)");

namespace parkbase::cli {
namespace {

namespace pb = ::parkbase::tenant::v1;

const std::map<std::string, Command>& Commands() {
  static const auto* commands = new std::map<std::string, Command>{
      {"tenant create", {"parkbase tenant create TENANT_ID --display_name=NAME [quota flags]",
                         "Onboard a tenant (park admin).",
                         "--display_name (required) --plan=free|standard|enterprise --max_devices=N "
                         "--max_ingest_points_per_second=N --retention_days=N --max_installed_apps=N "
                         "--provider=true|false --contact_email=ADDR"}},
      {"tenant get", {"parkbase tenant get TENANT_ID", "Show one tenant.", ""}},
      {"tenant usage", {"parkbase tenant usage TENANT_ID",
                        "Show what a tenant uses now, each figure beside its quota.", ""}},
      {"tenant list", {"parkbase tenant list [--filter=EXPR] [--page_size=N] [--all]",
                       "List tenants (park admin: all; others: their own).",
                       "--filter='state = SUSPENDED AND plan = FREE' --page_size=N --page_token=T --all"}},
      {"tenant update", {"parkbase tenant update TENANT_ID [flags to change]",
                         "Change the fields given as flags (others stay).",
                         "--display_name --contact_email --plan --max_devices --max_ingest_points_per_second "
                         "--retention_days --max_installed_apps --provider"}},
      {"tenant suspend", {"parkbase tenant suspend TENANT_ID --reason=TEXT",
                          "Suspend a tenant: its keys stop working at once (park admin).", "--reason (required)"}},
      {"tenant resume", {"parkbase tenant resume TENANT_ID", "Resume a suspended tenant (park admin).", ""}},
      {"tenant delete", {"parkbase tenant delete TENANT_ID",
                         "Delete a suspended tenant and all it owns (park admin).", ""}},
      {"key create", {"parkbase key create TENANT_ID --display_name=NAME --role=ROLE [--expire_in=720h]",
                      "Mint an API key; the secret is printed once.",
                      "--display_name (required) --role=tenant_admin|developer|provider|park_admin --expire_in"}},
      {"key list", {"parkbase key list TENANT_ID [--all]", "List a tenant's keys (never their secrets).",
                    "--page_size --page_token --all"}},
      {"key revoke", {"parkbase key revoke TENANT_ID KEY_ID", "Revoke a key at once.", ""}},
      {"audit list", {"parkbase audit list TENANT_ID [--all]", "Read a tenant's audit log, newest first.",
                      "--page_size --page_token --all"}},
      {"health", {"parkbase health [--address=HOST:PORT] [--service=NAME] [--tls]",
                  "Exit 0 if the server (or one service) is SERVING, 1 otherwise. Needs no key.", "--service"}},
  };
  return *commands;
}

constexpr char kCommonFlags[] =
    "Common flags: --profile=NAME (PARKBASE_PROFILE) --config=FILE (PARKBASE_CONFIG) --address=HOST:PORT "
    "(PARKBASE_ADDRESS) --tenant=ID (PARKBASE_TENANT) -o/--output=table|json|yaml (PARKBASE_OUTPUT) -q/--quiet "
    "--tls --ca-file=PEM --tls_client_cert_file=PEM --tls_client_key_file=PEM --timeout_seconds=N\n"
    "The key: PARKBASE_KEY, or the profile's key-file or key-env (never a flag: ps and shell history keep argv).\n";

// Flags every command takes, for completion (kCommonFlags says the same in words).
constexpr const char* kCommonFlagNames[] = {"--profile", "--config", "--address", "--tenant", "--output", "--quiet",
                                            "--tls", "--ca-file", "--tls-client-cert-file", "--tls-client-key-file",
                                            "--timeout-seconds", "--help"};

// The range of google.protobuf.Timestamp (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, from
// timestamp.proto): protobuf's TimeUtil aborts the program on a value outside it, so every conversion checks first.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
// --timeout_seconds beyond a day is a mistake rather than a wish (the longest call, a full listing, takes seconds).
constexpr int32_t kMaxTimeoutSeconds = 86400;

// The "Exit codes" paragraph of every help text. Fail() can return 10 + any gRPC code, so the list is made from
// the codes themselves and cannot miss one.
std::string ExitCodesHelp() {
  std::string text =
      "Exit codes: 0 ok, 1 local failure (and health when not SERVING), 2 usage, 10 + the gRPC code when the call "
      "failed:";
  const int first = static_cast<int>(absl::StatusCode::kCancelled);
  for (int code = first; code <= static_cast<int>(absl::StatusCode::kUnauthenticated); ++code) {
    absl::StrAppend(&text, code == first ? " " : ", ", kExitServerErrorBase + code, " ",
                    absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
  }
  return absl::StrCat(text, ".\n");
}

bool IsValidTimestamp(const google::protobuf::Timestamp& time) {
  return time.seconds() >= kMinTimestampSeconds && time.seconds() <= kMaxTimestampSeconds && time.nanos() >= 0 &&
         time.nanos() <= 999999999;
}

// The TLS files named by flags, read by RunAdminCommand before any call (unset: plaintext unless --tls).
std::optional<ClientTls>& TlsFromFlags() {
  static std::optional<ClientTls> tls;
  return tls;
}

}  // namespace

int Usage(const std::string& message) {
  std::cerr << "parkbase: " << message << "\n(run with --help for usage)\n";
  return kExitUsage;
}

int Fail(const absl::Status& status) {
  std::cerr << "parkbase: " << absl::StatusCodeToString(status.code()) << ": " << status.message() << "\n";
  return kExitServerErrorBase + static_cast<int>(status.code());
}

namespace {

// What RunAdminCommand resolved before any call: where the server is, the key and the tenant.
struct Connection {
  std::string address = "127.0.0.1:50051";
  std::string key;
  std::string tenant;
  bool tls = false;
  OutputFormat output = OutputFormat::kTable;
};
Connection& CurrentConnection() {
  static Connection connection;
  return connection;
}

}  // namespace

OutputFormat Output() { return CurrentConnection().output; }
bool Structured() { return Output() == OutputFormat::kJson || Output() == OutputFormat::kYaml; }
bool Quiet() { return absl::GetFlag(FLAGS_quiet); }
std::string Tenant() { return CurrentConnection().tenant; }

void PrintStructured(const google::protobuf::Message& message) {
  std::cout << (Output() == OutputFormat::kYaml ? MessageToYaml(message) : MessageToJson(message));
}

int PrintDeleted(const google::protobuf::Message& response, const std::string& name) {
  if (Structured()) {
    PrintStructured(response);
  } else if (!Quiet()) {
    std::cout << "deleted " << name << "\n";
  }
  return 0;
}

std::string Time(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  if (!IsValidTimestamp(time)) return "(invalid)";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(time.seconds()), absl::UTCTimeZone());
}

std::string Short(const std::string& enum_name, absl::string_view prefix) {
  return enum_name.size() > prefix.size() ? enum_name.substr(prefix.size()) : enum_name;
}

std::shared_ptr<grpc::Channel> ServerChannel() {
  if (TlsFromFlags().has_value()) return MakeChannel(CurrentConnection().address, *TlsFromFlags());
  return MakeChannel(CurrentConnection().address, CurrentConnection().tls);
}

void PrepareCall(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_timeout_seconds))));
  context.AddMetadata("authorization", absl::StrCat("Bearer ", CurrentConnection().key));
}

Paging PagingFromFlags() {
  return Paging{.page_size = absl::GetFlag(FLAGS_page_size),
                .page_token = absl::GetFlag(FLAGS_page_token),
                .all = absl::GetFlag(FLAGS_all)};
}

namespace {

// The Timestamp `duration` after `now`, for --expire_in: the duration must parse, be positive and finite, and end
// within the Timestamp range.
absl::StatusOr<google::protobuf::Timestamp> ExpiryFromFlag(const std::string& text, absl::Time now) {
  absl::Duration duration;
  if (!absl::ParseDuration(text, &duration)) {
    return absl::InvalidArgumentError(absl::StrCat("--expire_in: must be a duration such as 720h, got '", text, "'"));
  }
  if (duration == absl::InfiniteDuration() || duration == -absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--expire_in: must be finite, got '", text, "'"));
  }
  if (duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--expire_in: must be positive, got '", text, "'"));
  }
  const absl::Time latest = absl::FromUnixSeconds(kMaxTimestampSeconds);
  if (duration > latest - now) {  // now + duration would pass the last Timestamp (or overflow)
    return absl::InvalidArgumentError(absl::StrCat("--expire_in: must end by 9999-12-31T23:59:59Z, got '", text,
                                                   "' (", absl::FormatDuration(latest - now), " is the most)"));
  }
  const absl::Time end = now + duration;
  google::protobuf::Timestamp expiry;
  expiry.set_seconds(absl::ToUnixSeconds(end));
  expiry.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(end - absl::FromUnixSeconds(expiry.seconds()))));
  return expiry;
}

void PrintTenants(const std::vector<pb::Tenant>& tenants) {
  if (Quiet()) {
    for (const auto& t : tenants) std::cout << t.tenant_id() << "\n";
    return;
  }
  std::cout << absl::StrFormat("%-20s %s %-6s %-10s %-11s %10s %12s %6s %5s\n", "TENANT", Cell("DISPLAY NAME", 30),
                               "CODE", "STATE", "PLAN", "DEVICES", "POINTS/S", "DAYS", "APPS");
  for (const auto& t : tenants) {
    std::cout << absl::StrFormat("%-20s %s %-6s %-10s %-11s %10d %12d %6d %5d\n", t.tenant_id(),
                                 Cell(t.display_name(), 30), t.code(),
                                 Short(pb::TenantState_Name(t.state()), "TENANT_STATE_"),
                                 Short(pb::Plan_Name(t.plan()), "PLAN_"), t.quota().max_devices(),
                                 t.quota().max_ingest_points_per_second(), t.quota().retention_days(),
                                 t.quota().max_installed_apps());
  }
}

// One line a figure: what is used, and the quota it counts against.
int PrintUsage(const pb::TenantUsage& usage) {
  if (Structured()) {
    PrintStructured(usage);
    return 0;
  }
  const pb::Quota& quota = usage.quota();
  const std::string rate = usage.has_ingest_points_per_second()
                               ? absl::StrFormat("%.1f", usage.ingest_points_per_second())
                               : std::string("not counted (no Redis)");
  std::cout << absl::StrFormat("%-22s %s\n", "FIGURE", "USED / QUOTA")
            << absl::StrFormat("%-22s %d / %d\n", "devices", usage.devices(), quota.max_devices())
            << absl::StrFormat("%-22s %s / %d\n", "ingest points/s (1m)", rate, quota.max_ingest_points_per_second())
            << absl::StrFormat("%-22s %d (kept %d days)\n", "stored bytes", usage.stored_bytes(),
                               quota.retention_days())
            << absl::StrFormat("%-22s %d / %d\n", "installed apps", usage.installed_apps(), quota.max_installed_apps())
            << absl::StrFormat("%-22s %s\n", "read at", Time(usage.read_time()));
  return 0;
}

void PrintKeys(const std::vector<pb::ApiKey>& keys) {
  if (Quiet()) {
    for (const auto& k : keys) std::cout << k.key_id() << "\n";
    return;
  }
  std::cout << absl::StrFormat("%-18s %s %-18s %-19s %-19s %-19s\n", "KEY ID", Cell("DISPLAY NAME", 30), "ROLE",
                               "CREATED", "EXPIRES", "REVOKED");
  for (const auto& k : keys) {
    std::cout << absl::StrFormat("%-18s %s %-18s %-19s %-19s %-19s\n", k.key_id(), Cell(k.display_name(), 30),
                                 Short(pb::Role_Name(k.role()), "ROLE_"), Time(k.create_time()),
                                 Time(k.expire_time()), Time(k.revoke_time()));
  }
}

// Reads the --tls_* files (the CA file may come from the profile); an error names the flag.
absl::Status ReadTlsFlags(const std::string& profile_ca_file) {
  std::string ca = absl::GetFlag(FLAGS_tls_ca_file);
  if (ca.empty()) ca = profile_ca_file;
  const std::string cert = absl::GetFlag(FLAGS_tls_client_cert_file);
  const std::string key = absl::GetFlag(FLAGS_tls_client_key_file);
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError("--tls_client_cert_file, --tls_client_key_file: set both or neither");
  }
  if (ca.empty() && cert.empty()) return absl::OkStatus();
  ClientTls tls;
  for (auto [flag, path, into] : {std::tuple{"--tls_ca_file", ca, &tls.root_certs},
                                  std::tuple{"--tls_client_cert_file", cert, &tls.cert_chain},
                                  std::tuple{"--tls_client_key_file", key, &tls.private_key}}) {
    if (path.empty()) continue;
    std::ifstream in(path, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    if (!in || content.str().empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
    *into = content.str();
  }
  TlsFromFlags() = std::move(tls);
  return absl::OkStatus();
}

using Client = ServiceClient<pb::TenantService>;

std::optional<pb::Plan> ParsePlan(const std::string& name) {
  pb::Plan plan;
  std::string upper = absl::StrCat("PLAN_", name);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!pb::Plan_Parse(upper, &plan)) return std::nullopt;
  return plan;
}

// Copies the tenant flags that were given into `tenant` and names them in `paths`.
bool TenantFromFlags(pb::Tenant& tenant, std::vector<std::string>& paths, std::string& error) {
  if (auto v = absl::GetFlag(FLAGS_display_name)) tenant.set_display_name(*v), paths.push_back("display_name");
  if (auto v = absl::GetFlag(FLAGS_contact_email)) tenant.set_contact_email(*v), paths.push_back("contact_email");
  if (auto v = absl::GetFlag(FLAGS_provider)) {
    // One flag for two commands (`app search --provider=TENANT_ID`): here it is a boolean, read as Abseil reads one.
    bool provider = false;
    if (!absl::SimpleAtob(*v, &provider)) {
      error = absl::StrCat("--provider must be true or false, got '", *v, "'");
      return false;
    }
    tenant.set_provider(provider);
    paths.push_back("provider");
  }
  if (auto v = absl::GetFlag(FLAGS_plan)) {
    auto plan = ParsePlan(*v);
    if (!plan) {
      error = "--plan must be free, standard or enterprise";
      return false;
    }
    tenant.set_plan(*plan);
    paths.push_back("plan");
  }
  if (auto v = absl::GetFlag(FLAGS_max_devices)) {
    tenant.mutable_quota()->set_max_devices(*v), paths.push_back("quota.max_devices");
  }
  if (auto v = absl::GetFlag(FLAGS_max_ingest_points_per_second)) {
    tenant.mutable_quota()->set_max_ingest_points_per_second(*v);
    paths.push_back("quota.max_ingest_points_per_second");
  }
  if (auto v = absl::GetFlag(FLAGS_retention_days)) {
    tenant.mutable_quota()->set_retention_days(*v), paths.push_back("quota.retention_days");
  }
  if (auto v = absl::GetFlag(FLAGS_max_installed_apps)) {
    tenant.mutable_quota()->set_max_installed_apps(*v), paths.push_back("quota.max_installed_apps");
  }
  return true;
}

int PrintTenant(const pb::Tenant& tenant) {
  if (Structured()) {
    PrintStructured(tenant);
  } else {
    PrintTenants({tenant});
  }
  return 0;
}

int TenantCommand(const std::string& verb, const std::vector<std::string>& args) {
  Client client;
  auto need_id = [&](size_t count) { return args.size() == count; };
  if (verb == "list") {
    if (!need_id(0)) return Usage("tenant list takes no arguments");
    pb::ListTenantsRequest request;
    request.set_filter(absl::GetFlag(FLAGS_filter));
    pb::ListTenantsResponse all;
    if (auto s = client.ListPages(&pb::TenantService::Stub::ListTenants, request, all); !s.ok()) return Fail(s);
    if (Structured()) {
      PrintStructured(all);
    } else {
      PrintTenants({all.tenants().begin(), all.tenants().end()});
      if (!all.next_page_token().empty()) std::cout << "next page: --page-token=" << all.next_page_token() << "\n";
    }
    return 0;
  }
  if (!need_id(1)) return Usage(absl::StrCat("tenant ", verb, " takes one TENANT_ID"));
  const std::string name = absl::StrCat("tenants/", args[0]);
  pb::Tenant tenant;
  absl::Status status;
  if (verb == "create") {
    pb::CreateTenantRequest request;
    request.set_tenant_id(args[0]);
    std::vector<std::string> paths;
    std::string error;
    if (!TenantFromFlags(*request.mutable_tenant(), paths, error)) return Usage(error);
    status = client.Call(&pb::TenantService::Stub::CreateTenant, request, &tenant);
  } else if (verb == "get") {
    pb::GetTenantRequest request;
    request.set_name(name);
    status = client.Call(&pb::TenantService::Stub::GetTenant, request, &tenant);
  } else if (verb == "usage") {
    pb::GetTenantUsageRequest request;
    request.set_name(absl::StrCat(name, "/usage"));
    pb::TenantUsage usage;
    status = client.Call(&pb::TenantService::Stub::GetTenantUsage, request, &usage);
    if (!status.ok()) return Fail(status);
    return PrintUsage(usage);
  } else if (verb == "update") {
    pb::UpdateTenantRequest request;
    std::vector<std::string> paths;
    std::string error;
    if (!TenantFromFlags(*request.mutable_tenant(), paths, error)) return Usage(error);
    if (paths.empty()) return Usage("tenant update: give at least one field flag to change");
    request.mutable_tenant()->set_name(name);
    for (auto& path : paths) request.mutable_update_mask()->add_paths(path);
    status = client.Call(&pb::TenantService::Stub::UpdateTenant, request, &tenant);
  } else if (verb == "suspend") {
    pb::SuspendTenantRequest request;
    request.set_name(name);
    request.set_reason(absl::GetFlag(FLAGS_reason));
    status = client.Call(&pb::TenantService::Stub::SuspendTenant, request, &tenant);
  } else if (verb == "resume") {
    pb::ResumeTenantRequest request;
    request.set_name(name);
    status = client.Call(&pb::TenantService::Stub::ResumeTenant, request, &tenant);
  } else if (verb == "delete") {
    pb::DeleteTenantRequest request;
    request.set_name(name);
    pb::DeleteTenantResponse response;
    status = client.Call(&pb::TenantService::Stub::DeleteTenant, request, &response);
    if (!status.ok()) return Fail(status);
    return PrintDeleted(response, name);
  } else {
    return Usage(absl::StrCat("unknown command: tenant ", verb));
  }
  if (!status.ok()) return Fail(status);
  return PrintTenant(tenant);
}

int KeyCommand(const std::string& verb, const std::vector<std::string>& args) {
  Client client;
  if (verb == "create") {
    if (args.size() != 1) return Usage("key create takes one TENANT_ID");
    pb::CreateApiKeyRequest request;
    request.set_parent(absl::StrCat("tenants/", args[0]));
    request.mutable_api_key()->set_display_name(absl::GetFlag(FLAGS_display_name).value_or(""));
    std::string role = absl::StrCat("ROLE_", absl::GetFlag(FLAGS_role));
    for (auto& c : role) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    pb::Role parsed;
    if (!pb::Role_Parse(role, &parsed)) return Usage("--role must be tenant_admin, developer, provider or park_admin");
    request.mutable_api_key()->set_role(parsed);
    if (auto expire_in = absl::GetFlag(FLAGS_expire_in)) {
      auto expiry = ExpiryFromFlag(*expire_in, absl::Now());
      if (!expiry.ok()) return Usage(std::string(expiry.status().message()));
      *request.mutable_api_key()->mutable_expire_time() = *expiry;
    }
    pb::CreateApiKeyResponse response;
    if (auto s = client.Call(&pb::TenantService::Stub::CreateApiKey, request, &response); !s.ok()) return Fail(s);
    if (Structured()) {
      PrintStructured(response);
    } else {
      if (Quiet()) {
        std::cout << response.secret() << "\n";  // the one thing a script needs, and shown once
      } else {
        PrintKeys({response.api_key()});
        std::cout << "\nsecret (shown once, store it now):\n" << response.secret() << "\n";
      }
    }
    return 0;
  }
  if (verb == "list") {
    if (args.size() != 1) return Usage("key list takes one TENANT_ID");
    pb::ListApiKeysRequest request;
    request.set_parent(absl::StrCat("tenants/", args[0]));
    pb::ListApiKeysResponse all;
    if (auto s = client.ListPages(&pb::TenantService::Stub::ListApiKeys, request, all); !s.ok()) return Fail(s);
    if (Structured()) {
      PrintStructured(all);
    } else {
      PrintKeys({all.api_keys().begin(), all.api_keys().end()});
      if (!all.next_page_token().empty()) std::cout << "next page: --page-token=" << all.next_page_token() << "\n";
    }
    return 0;
  }
  if (verb == "revoke") {
    if (args.size() != 2) return Usage("key revoke takes TENANT_ID KEY_ID");
    pb::RevokeApiKeyRequest request;
    request.set_name(absl::StrCat("tenants/", args[0], "/apiKeys/", args[1]));
    pb::ApiKey key;
    if (auto s = client.Call(&pb::TenantService::Stub::RevokeApiKey, request, &key); !s.ok()) return Fail(s);
    if (Structured()) {
      PrintStructured(key);
    } else {
      PrintKeys({key});
    }
    return 0;
  }
  return Usage(absl::StrCat("unknown command: key ", verb));
}

int AuditCommand(const std::string& verb, const std::vector<std::string>& args) {
  if (verb != "list" || args.size() != 1) return Usage("usage: parkbase audit list TENANT_ID");
  Client client;
  pb::ListAuditEventsRequest request;
  request.set_parent(absl::StrCat("tenants/", args[0]));
  pb::ListAuditEventsResponse all;
  if (auto s = client.ListPages(&pb::TenantService::Stub::ListAuditEvents, request, all); !s.ok()) return Fail(s);
  if (Structured()) {
    PrintStructured(all);
    return 0;
  }
  std::cout << absl::StrFormat("%-8s %-19s %-16s %-45s %s\n", "EVENT", "TIME", "ACTION", "ACTOR", "RESOURCE");
  for (const auto& e : all.audit_events()) {
    std::cout << absl::StrFormat("%-8d %-19s %-16s %-45s %s\n", e.event_id(), Time(e.time()), e.action(), e.actor(),
                                 e.resource());
  }
  if (!all.next_page_token().empty()) std::cout << "next page: --page-token=" << all.next_page_token() << "\n";
  return 0;
}

int HealthCommand() {
  auto channel = ServerChannel();
  auto status = CheckHealth(*channel, absl::GetFlag(FLAGS_service),
                            absl::Seconds(absl::GetFlag(FLAGS_timeout_seconds)));
  if (!status.ok()) {
    std::cerr << "parkbase health: " << status.status().message() << "\n";
    return 1;
  }
  const bool serving = *status == ServingStatus::kServing;
  std::cout << (serving ? "SERVING" : "NOT_SERVING") << "\n";
  return serving ? 0 : 1;
}

}  // namespace

std::string KebabFlags(absl::string_view text) {
  std::string out(text);
  for (size_t at = out.find("--"); at != std::string::npos; at = out.find("--", at + 2)) {
    for (size_t i = at + 2; i < out.size(); ++i) {
      const char c = out[i];
      if (c == '_') out[i] = '-';
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') break;
    }
  }
  return out;
}

std::vector<std::pair<std::string, Command>> AllCommands() {
  std::vector<std::pair<std::string, Command>> all(Commands().begin(), Commands().end());
  for (const auto* group : {&AppCommands(), &DeviceCommands(), &TelemetryCommands(), &LocalCommands()}) {
    all.insert(all.end(), group->begin(), group->end());
  }
  return all;
}

std::vector<std::string> AllFlagNames() {
  std::set<std::string> names(std::begin(kCommonFlagNames), std::end(kCommonFlagNames));
  for (const auto& [name, command] : AllCommands()) {
    const std::string text = KebabFlags(absl::StrCat(command.usage, " ", command.flags));
    for (size_t at = text.find("--"); at != std::string::npos; at = text.find("--", at + 2)) {
      size_t end = at + 2;
      while (end < text.size() && (absl::ascii_isalnum(static_cast<unsigned char>(text[end])) || text[end] == '-')) {
        ++end;
      }
      if (end > at + 2) names.insert(text.substr(at, end - at));
    }
  }
  return {names.begin(), names.end()};
}

bool PrintHelp(const std::vector<std::string>& command) {
  const std::string prefix = absl::StrJoin(command, " ");
  bool found = false;
  for (const auto& [name, info] : AllCommands()) {
    if (!prefix.empty() && name != prefix && name.rfind(prefix + " ", 0) != 0) continue;
    found = true;
    std::cout << "  " << KebabFlags(info.usage) << "\n      " << info.summary << "\n";
    if (!info.flags.empty()) std::cout << "      flags: " << KebabFlags(info.flags) << "\n";
  }
  if (found) std::cout << "\n" << KebabFlags(kCommonFlags) << ExitCodesHelp();
  return found;
}

namespace {

// The profile the call uses: --profile (or PARKBASE_PROFILE), else the file's current-profile; none when the file
// does not exist and no profile was asked for. A named profile that is missing is an error.
absl::StatusOr<std::optional<Profile>> ChosenProfile() {
  const std::string path = ConfigPath(absl::GetFlag(FLAGS_config), [](const char* name) { return std::getenv(name); });
  const std::string wanted = absl::GetFlag(FLAGS_profile);
  std::ifstream in(path);
  if (!in) {
    if (!wanted.empty() || !absl::GetFlag(FLAGS_config).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": cannot read it"));
    }
    return std::optional<Profile>();
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<CliConfig> config = ParseCliConfig(text.str(), path);
  if (!config.ok()) return config.status();
  const std::string name = wanted.empty() ? config->current_profile : wanted;
  if (name.empty()) return std::optional<Profile>();
  auto found = config->profiles.find(name);
  if (found == config->profiles.end()) {
    return absl::InvalidArgumentError(absl::StrCat("profile '", name, "' is not in ", path));
  }
  return std::optional<Profile>(found->second);
}

// Fills CurrentConnection() from the flags, the environment and the profile; an error is a usage error.
absl::Status ResolveConnection(bool key_on_argv) {
  absl::StatusOr<OutputFormat> output = ParseOutputFormat(absl::GetFlag(FLAGS_output));
  if (!output.ok()) return output.status();
  absl::StatusOr<std::optional<Profile>> profile = ChosenProfile();
  if (!profile.ok()) return profile.status();
  const Profile* chosen = profile->has_value() ? &**profile : nullptr;
  Connection& connection = CurrentConnection();
  connection.output = *output;
  if (!absl::GetFlag(FLAGS_address).empty()) {
    connection.address = absl::GetFlag(FLAGS_address);
  } else if (chosen != nullptr && !chosen->address.empty()) {
    connection.address = chosen->address;
  }
  connection.tls = absl::GetFlag(FLAGS_tls) || (chosen != nullptr && chosen->tls.value_or(false));
  absl::StatusOr<ResolvedKey> key =
      ResolveKey(absl::GetFlag(FLAGS_key), key_on_argv, chosen, [](const char* name) { return std::getenv(name); });
  if (!key.ok()) return key.status();
  connection.key = key->key;
  if (key_on_argv) {
    std::cerr << "parkbase: warning: --key is deprecated and will be removed: ps and shell history keep the command "
                 "line. Set PARKBASE_KEY, or a profile's key-file or key-env (see `parkbase config --help`).\n";
  }
  connection.tenant = absl::GetFlag(FLAGS_tenant);
  if (connection.tenant.empty() && chosen != nullptr) connection.tenant = chosen->tenant;
  if (connection.tenant.empty()) {
    // A tenant key is `pbk.<tenant>.<key id>.<secret>`: it can only act on its own tenant, so that is the default.
    std::vector<std::string> parts = absl::StrSplit(connection.key, '.');
    if (parts.size() == 4 && parts[0] == "pbk" && parts[1] != "park") connection.tenant = parts[1];
  }
  return ReadTlsFlags(chosen != nullptr ? chosen->ca_file : "");
}

}  // namespace

int RunAdminCommand(const std::vector<std::string>& args, bool key_on_argv) {
  if (args.empty()) return Usage("missing command");
  if (const int32_t timeout = absl::GetFlag(FLAGS_timeout_seconds); timeout < 1 || timeout > kMaxTimeoutSeconds) {
    return Usage(absl::StrCat("--timeout_seconds: must be 1 to ", kMaxTimeoutSeconds, ", got ", timeout));
  }
  if (absl::Status resolved = ResolveConnection(key_on_argv); !resolved.ok()) return Usage(std::string(resolved.message()));
  if (Output() == OutputFormat::kCsv && args[0] != "telemetry") {
    return Usage("--output=csv: only telemetry latest, read and aggregate print CSV");
  }
  if (args[0] == "health") return args.size() == 1 ? HealthCommand() : Usage("health takes no arguments");
  const bool known = args[0] == "tenant" || args[0] == "key" || args[0] == "audit" || args[0] == "app" ||
                     args[0] == "device-type" || args[0] == "device" || args[0] == "telemetry";
  if (!known) return Usage(absl::StrCat("unknown command: ", args[0]));
  if (args.size() < 2) return Usage(absl::StrCat(args[0], ": missing sub-command"));
  const std::vector<std::string> rest(args.begin() + 2, args.end());
  if (CurrentConnection().key.empty()) {
    return Usage("no API key: set PARKBASE_KEY, or a profile's key-file or key-env (parkbase config set-profile)");
  }
  if (args[0] == "tenant") return TenantCommand(args[1], rest);
  if (args[0] == "key") return KeyCommand(args[1], rest);
  if (args[0] == "audit") return AuditCommand(args[1], rest);
  if (args[0] == "app") return AppCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  if (args[0] == "device-type") return DeviceTypeCommand(args[1], rest);
  if (args[0] == "device") return DeviceCommand(args[1], rest);
  return TelemetryCommand(args[1], rest);
}

}  // namespace parkbase::cli
