// The command line: `parkbase tenant|key|audit|app|device-type|device|telemetry ...` talk gRPC to a running server
// (address, TLS and key from flags, the environment or a profile, see cli_config.h), print tables (or JSON or YAML
// with -o, ids only with --quiet) and exit with codes scripts can rely on (see kExitUsage).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/errors.h"
#include "parkbase/cli_format.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace parkbase::cli {

// Exit codes: 0 success, 1 local failure, 2 usage error, and 10 + the gRPC status code when a call failed, 11
// CANCELLED to 26 UNAUTHENTICATED (e.g. 14 DEADLINE_EXCEEDED, 15 NOT_FOUND, 24 UNAVAILABLE); the help text lists
// them all.
inline constexpr int kExitUsage = 2;
inline constexpr int kExitServerErrorBase = 10;

// Prints the help of a command path (e.g. {"tenant", "create"}); returns false when the path is unknown.
bool PrintHelp(const std::vector<std::string>& command);

// Runs `parkbase tenant|key|audit|app|device-type|device|telemetry|health ...` with the positional arguments after
// the program name. `key_on_argv`: --key was on the command line (deprecated: ps and shell history keep it).
int RunAdminCommand(const std::vector<std::string>& args, bool key_on_argv);

// What the command groups share: admin_cli.cc (tenant, key, audit, health) and app_cli.cc (app).

// One command's help: how to call it, what it does, its own flags.
struct Command {
  std::string usage;
  std::string summary;
  std::string flags;
};

// Print the message and return the exit code: kExitUsage, or 10 + the call's status code.
int Usage(const std::string& message);
int Fail(const absl::Status& status);

// Every command of the command line with its help, in help order: completion scripts are made from the same list,
// so they cannot offer a command the help does not know.
std::vector<std::pair<std::string, Command>> AllCommands();
// The flags a user types (kebab-case) named in the help of every command, and the common ones.
std::vector<std::string> AllFlagNames();
// `--page_size` in help text as `--page-size`: the form help and docs show (both are accepted).
std::string KebabFlags(absl::string_view text);

// The chosen -o/--output (checked by RunAdminCommand); Structured() is json or yaml.
OutputFormat Output();
bool Structured();
// Prints a message in the chosen structured form: protobuf's JSON with the proto field names, or YAML of it.
void PrintStructured(const google::protobuf::Message& message);
// Whether --quiet: lists print ids only, other commands their resource's id or nothing.
bool Quiet();
// What a delete verb prints once the call succeeded: the response in the structured form, `deleted NAME` as text,
// nothing when quiet. Returns the exit code, 0.
int PrintDeleted(const google::protobuf::Message& response, const std::string& name);
// The tenant device and telemetry commands act on: --tenant, the profile's tenant, or the tenant of a tenant key
// (`pbk.<tenant>.…`); empty when none of them says.
std::string Tenant();
// "2026-11-25 17:01:40" (UTC), "-" when unset.
std::string Time(const google::protobuf::Timestamp& time);
// An enum value's name without its prefix: Short("PLAN_FREE", "PLAN_") is "FREE".
std::string Short(const std::string& enum_name, absl::string_view prefix);

// The server's channel (--address, the profile's, or 127.0.0.1:50051; the TLS flags) and one call's context
// (--timeout_seconds and the key).
std::shared_ptr<grpc::Channel> ServerChannel();
void PrepareCall(grpc::ClientContext& context);

// The list flags: --page-size, --page-token, --all.
struct Paging {
  int32_t page_size = 0;
  std::string page_token;
  bool all = false;
};
Paging PagingFromFlags();

// A stub of one service with the command line's deadline and key on every call.
template <typename Service>
class ServiceClient {
 public:
  ServiceClient() : stub_(Service::NewStub(ServerChannel())) {}

  template <typename Request, typename Response>
  absl::Status Call(grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    PrepareCall(context);
    return FromGrpcStatus(((*stub_).*method)(&context, request, response));
  }

  // Calls a List method page by page (every page with --all) and merges the pages into `all`: the items append,
  // `next_page_token` is the last page's.
  template <typename Request, typename Response>
  absl::Status ListPages(grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                         Request request, Response& all) {
    const Paging paging = PagingFromFlags();
    request.set_page_size(paging.page_size);
    request.set_page_token(paging.page_token);
    do {
      Response page;
      if (absl::Status status = Call(method, request, &page); !status.ok()) return status;
      const std::string next = page.next_page_token();
      all.MergeFrom(page);
      all.set_next_page_token(next);
      request.set_page_token(next);
    } while (paging.all && !request.page_token().empty());
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<typename Service::Stub> stub_;
};

}  // namespace parkbase::cli
