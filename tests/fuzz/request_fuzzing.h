// Drives one service's logic with mutated valid requests, the way its server runs them: parsed from wire bytes by
// the server's RequestParser, admitted by the access gate (AdmitCall) for one of a fixed set of callers, then handed
// to the logic over in-memory fakes that stand in for PostgreSQL and Redis. Besides "no crash", every call must
// answer with a status a client can act on (fuzz_checks.h), and a caller who is not the park admin must never
// succeed on another tenant, see its names or secrets, or change anything of it.
//
// An input is a few calls, so sequences (create, then read; a page, then the next) are reachable:
//
//   input := call{1..kMaxCalls}
//   call  := caller:u8 method:u8 fault:u8 length:u16le request[length]
//
// `caller` indexes Callers(), `method` the service's methods (descriptor order), `fault` arms one failing store or
// cache operation (CallGuard), `request` is the method's request, serialized. Parsing is lenient (a short call takes
// what is left), so libFuzzer's byte mutations still make calls; MutateCalls mostly changes one field of one request
// through protobuf reflection (message_mutator.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/auth.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "support/store_hook.h"

namespace parkbase::fuzz {

inline constexpr size_t kMaxCalls = 4;
inline constexpr size_t kCallHeaderBytes = 5;
// A request field whose value is this is given the previous answer's next_page_token before the call.
inline constexpr absl::string_view kPreviousPageToken = "$page_token";

struct Call {
  uint8_t caller = 0;
  uint8_t method = 0;
  uint8_t fault = 0;
  std::string request;
};

std::vector<Call> ParseCalls(absl::string_view input);
std::string SerializeCalls(const std::vector<Call>& calls);

// Tenants "acme" and "globex" with a key of each role, a key with the park-admin role outside the park (which is no
// park admin), the park admin, and an app credential of acme whose grant holds every scope but narrows the rest
// (AcmeAppGrant()).
enum CallerIndex : uint8_t {
  kAcmeAdmin = 0,
  kAcmeDeveloper,
  kAcmeDevice,  // device "press-1"
  kAcmeProvider,
  kGlobexAdmin,
  kGlobexDevice,  // device "lathe-1"
  kParkAdmin,
  kAcmeParkAdminRole,
  kAcmeApp,
};
const std::vector<Principal>& Callers();
// The app's grant: devices labelled line=3 (press-1 and mixer-1, not press-2), reads of temp, count and speed,
// writes of temp only. Its answers must name no device outside and hold no point of a metric it does not cover.
const access::v1::AppGrant& AcmeAppGrant();

// What the fakes call first in every operation (testing::StoreHook): checks that a caller who is not the park admin
// reaches only its own tenant's rows, never park-wide ones, and fails the operation the call's fault byte chose:
// the low four bits count operations (1 = the first; 0 = none), the high four pick UNAVAILABLE, ABORTED or
// DEADLINE_EXCEEDED, what a real store or cache answers when its dependency fails.
class CallGuard final : public testing::StoreHook {
 public:
  void Begin(const Principal& caller, uint8_t fault, absl::string_view context);
  void End();
  absl::Status Enter(absl::string_view operation, const std::string& tenant_id, bool park_wide) override;

 private:
  const Principal* caller_ = nullptr;
  std::string context_;
  int fail_at_ = 0;
  absl::StatusCode fail_with_ = absl::StatusCode::kUnavailable;
  int entered_ = 0;
};

// One service's logic over fakes, made fresh for every input so an input always runs the same way.
class World {
 public:
  virtual ~World() = default;
  // Runs `method` for `caller`, who passed the access gate (client-streaming methods pass it here, with their first
  // message, as their servers do). `response` holds the answer when OK.
  virtual absl::Status Call(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                            const google::protobuf::Message& request,
                            std::unique_ptr<google::protobuf::Message>& response) = 0;
  // The tenants the fakes hold.
  virtual std::vector<std::string> Tenants() const = 0;
  // Everything the fakes hold of `tenant_id`, serialized: a call by another tenant's caller leaves it unchanged.
  virtual std::string TenantDigest(const std::string& tenant_id) = 0;
  // Strings only `tenant_id` has (device ids, display names, serial numbers): an answer to another tenant's caller
  // that holds one the caller did not send leaks it.
  virtual std::vector<std::string> Secrets(const std::string& tenant_id) const = 0;
  // Ids of the tenant's devices outside an app's `grant`, as the world holds them now: an answer to the app that
  // names one leaks it. None in a world without devices.
  virtual std::vector<std::string> DevicesOutside(const std::string& tenant_id,
                                                  const access::v1::AppGrant& grant) const {
    return {};
  }
  // Whether an answer to `caller` may name `name`, another tenant's resource, though the caller did not send it:
  // what a service shows across tenants by design (the marketplace's catalogue, a provider's installations). None
  // by default.
  virtual bool MayName(const Principal& caller, const std::string& name) const { return false; }

  CallGuard guard;
};

// A seed call: `request` in protobuf text format.
struct SeedCall {
  CallerIndex caller;
  std::string method;
  std::string request;
};

struct ServiceTarget {
  std::string service;  // full name, e.g. parkbase.device.v1.DeviceService
  std::function<std::unique_ptr<World>()> make_world;
  // Strings the mutator puts into string fields: every tenant's resource names, filters, field paths.
  std::vector<std::string> dictionary;
  std::vector<std::vector<SeedCall>> seeds;
};

// The seeds as inputs (aborts on a seed that does not parse: the replay test catches it).
std::vector<std::string> SeedInputs(const ServiceTarget& target);

// LLVMFuzzerTestOneInput, LLVMFuzzerCustomMutator and LLVMFuzzerCustomCrossOver of a request target.
int RunCalls(const ServiceTarget& target, const uint8_t* data, size_t size);
size_t MutateCalls(const ServiceTarget& target, uint8_t* data, size_t size, size_t max_size, unsigned seed);
size_t CrossOverCalls(const uint8_t* first, size_t first_size, const uint8_t* second, size_t second_size,
                      uint8_t* out, size_t max_out_size, unsigned seed);

// Calls `function` of `logic` with `request` (which is exactly the method's request type) and keeps the answer.
template <typename Logic, typename Request, typename Response>
absl::Status Serve(Logic& logic, absl::StatusOr<Response> (Logic::*function)(const Principal&, const Request&),
                   const Principal& caller, const google::protobuf::Message& request,
                   std::unique_ptr<google::protobuf::Message>& response) {
  absl::StatusOr<Response> answer = (logic.*function)(caller, static_cast<const Request&>(request));
  if (!answer.ok()) return answer.status();
  response = std::make_unique<Response>(*std::move(answer));
  return absl::OkStatus();
}

}  // namespace parkbase::fuzz
