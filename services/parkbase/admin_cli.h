// The park administrator's command line: `parkbase tenant|key|audit|app ...` talk gRPC to a running server, print
// tables (or JSON with --output=json) and exit with codes scripts can rely on (see kExitCodes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/errors.h"
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

// Runs `parkbase tenant|key|audit|app|health ...` with the positional arguments after the program name.
int RunAdminCommand(const std::vector<std::string>& args);

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

// Whether --output=json; PrintJson prints a message as protobuf's JSON with the proto field names.
bool Json();
void PrintJson(const google::protobuf::Message& message);

// A table cell: `text` cut to `width` terminal columns (a Chinese character takes two) at a character boundary,
// then padded with spaces to `width`.
std::string Cell(absl::string_view text, int width);
// "2026-11-25 17:01:40" (UTC), "-" when unset.
std::string Time(const google::protobuf::Timestamp& time);
// An enum value's name without its prefix: Short("PLAN_FREE", "PLAN_") is "FREE".
std::string Short(const std::string& enum_name, absl::string_view prefix);

// The server's channel (--address and the TLS flags) and one call's context (--timeout_seconds and --key).
std::shared_ptr<grpc::Channel> ServerChannel();
void PrepareCall(grpc::ClientContext& context);

// The list flags: --page_size, --page_token, --all.
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
