#include "fuzz/request_fuzzing.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/request_replay.h"
#include "common/access.h"
#include "common/app_grant.h"
#include "common/call.h"
#include "common/log.h"
#include "common/parse_budget.h"
#include "common/raw_requests.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/message_mutator.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"

// libFuzzer's byte mutator (the replay build links a stand-in).
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace parkbase::fuzz {
namespace {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

constexpr absl::StatusCode kFaultCodes[] = {absl::StatusCode::kUnavailable, absl::StatusCode::kAborted,
                                            absl::StatusCode::kDeadlineExceeded};

// The tenant every caller may see names of: the park's keys act in every tenant's audit log.
constexpr absl::string_view kParkTenant = "park";

// Nobody is authenticated here: the callers come from Callers(). The parser only needs a CallRunner to exist.
class NoAuthenticator final : public Authenticator {
 public:
  absl::StatusOr<Principal> Authenticate(absl::string_view) override {
    return absl::UnauthenticatedError("fuzz targets call the logic directly");
  }
};

// The server's request parsing (common/raw_requests.h): wire bytes to a message under a parse budget, a malformed
// request INVALID_ARGUMENT naming the field.
class ServerParsing {
 public:
  ServerParsing() : calls_(authenticator_), budget_(int64_t{1} << 30), parser_(calls_, budget_) {
    // Warnings (a store failure the logic tolerates) would drown libFuzzer's output; errors still show.
    SetMinLogLevel(LogLevel::kError);
  }

  absl::Status Parse(const std::string& bytes, Message& message) {
    grpc::Slice slice(bytes.data(), bytes.size());
    grpc::ByteBuffer buffer(&slice, 1);
    return parser_.Parse(nullptr, buffer, &message, absl::ZeroDuration()).status();
  }

 private:
  NoAuthenticator authenticator_;
  CallRunner calls_;
  ParseBudget budget_;
  RequestParser parser_;
};

// PARKBASE_FUZZ_VERBOSE=1 prints every call's answer: to see what an input does (fuzz_<target> FILE).
bool Verbose() {
  static const bool verbose = std::getenv("PARKBASE_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

ServerParsing& Parsing() {
  static ServerParsing* parsing = new ServerParsing;
  return *parsing;
}

// protobuf logs every string it serializes that is not UTF-8; the mutator makes such strings on purpose.
class QuietProtobuf {
 public:
  QuietProtobuf() : previous_(google::protobuf::SetLogHandler(nullptr)) {}
  ~QuietProtobuf() { google::protobuf::SetLogHandler(previous_); }

 private:
  google::protobuf::LogHandler* previous_;
};

std::unique_ptr<Message> NewMessage(const google::protobuf::Descriptor* type) {
  return std::unique_ptr<Message>(google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
}

const ServiceDescriptor& ServiceOf(const ServiceTarget& target) {
  const ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(target.service);
  if (service == nullptr || service->method_count() == 0) Fail(absl::StrCat("no service ", target.service));
  return *service;
}

std::string Describe(const Principal& caller) {
  return absl::StrCat(RoleName(caller.role), " of tenants/", caller.tenant_id,
                      caller.device_id.empty() ? "" : absl::StrCat(" (device ", caller.device_id, ")"));
}

// The tenant segment of `tenants/{tenant}/...`, or nullopt.
std::optional<std::string> TenantOf(absl::string_view name) {
  if (!absl::StartsWith(name, "tenants/")) return std::nullopt;
  name.remove_prefix(8);
  return std::string(name.substr(0, name.find('/')));
}

// Every string in `message` with the field that holds it.
void ForEachStringField(const Message& message,
                        const std::function<void(const google::protobuf::FieldDescriptor&, const std::string&)>& visit) {
  const google::protobuf::Reflection& reflection = *message.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection.FieldSize(message, field); ++i) {
          visit(*field, reflection.GetRepeatedString(message, field, i));
        }
      } else {
        visit(*field, reflection.GetString(message, field));
      }
    } else if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection.FieldSize(message, field); ++i) {
          ForEachStringField(reflection.GetRepeatedMessage(message, field, i), visit);
        }
      } else {
        ForEachStringField(reflection.GetMessage(message, field), visit);
      }
    }
  }
}

void ForEachString(const Message& message, const std::function<void(const std::string&)>& visit) {
  ForEachStringField(message, [&](const google::protobuf::FieldDescriptor&, const std::string& text) { visit(text); });
}

// Fields whose text a caller writes as it likes (names for people, notes, attribute values): a device's display
// name may read "tenants/acme/devices/press-2" without naming that device. Any other string that reads as a
// resource name is taken for one.
bool IsFreeText(const google::protobuf::FieldDescriptor& field) {
  static const auto* const kFreeText = new std::set<std::string>{
      "display_name", "type_display_name", "description", "vendor", "model", "serial_number", "string_value",
      "string_values", "unit", "reason", "suspend_reason", "review_reason", "delist_reason", "summary", "changelog",
      "homepage", "contact_email"};
  return kFreeText->contains(field.name());
}

void ForEachMessage(const Message& message, const std::function<void(const Message&)>& visit) {
  visit(message);
  const google::protobuf::Reflection& reflection = *message.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      for (int i = 0; i < reflection.FieldSize(message, field); ++i) {
        ForEachMessage(reflection.GetRepeatedMessage(message, field, i), visit);
      }
    } else {
      ForEachMessage(reflection.GetMessage(message, field), visit);
    }
  }
}

// Gives a top-level `page_token` of kPreviousPageToken the previous answer's token.
void UsePreviousPageToken(Message& request, const std::string& token) {
  const auto* field = request.GetDescriptor()->FindFieldByName("page_token");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) return;
  if (request.GetReflection()->GetString(request, field) == kPreviousPageToken) {
    request.GetReflection()->SetString(&request, field, token);
  }
}

std::string NextPageToken(const Message& response) {
  const auto* field = response.GetDescriptor()->FindFieldByName("next_page_token");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) return "";
  return response.GetReflection()->GetString(response, field);
}

// A call by `caller` (not the park admin) that succeeded: it acted on the caller's own tenant, and its answer names
// no other tenant (but the park, whose keys appear as actors) and holds no other tenant's secret, unless the caller
// sent that text itself. A device key's answer names no other device.
void CheckOwnTenant(const World& world, const MethodDescriptor& method, const Principal& caller,
                    const Message& request, const Message& response, const std::string& sent,
                    const std::string& context) {
  const access::v1::Rule* rule = AccessRuleOf(method);
  if (rule != nullptr && !rule->any_tenant() && !rule->tenant_field().empty()) {
    absl::StatusOr<std::string> name = StringFieldAt(request, rule->tenant_field());
    const std::optional<std::string> tenant = name.ok() ? TenantOf(*name) : std::nullopt;
    if (!name.ok() || tenant != caller.tenant_id) {
      Fail(absl::StrCat(context, ": succeeded on ", rule->tenant_field(), " = ",
                        Printable(name.ok() ? *name : std::string(name.status().message())),
                        ", which is not the caller's tenant"));
    }
  }
  ForEachString(response, [&](const std::string& text) {
    const std::optional<std::string> tenant = TenantOf(text);
    // Free text the caller sent (a display name of "tenants/globex") is not a name.
    if (tenant.has_value() && *tenant != caller.tenant_id && *tenant != kParkTenant &&
        !absl::StrContains(sent, text) && !world.MayName(caller, text)) {
      Fail(absl::StrCat(context, ": the answer names another tenant's resource: ", Printable(text)));
    }
    const std::string own_devices = absl::StrCat("tenants/", caller.tenant_id, "/devices/");
    if (caller.role == Role::kDevice && absl::StartsWith(text, own_devices) && !absl::StrContains(sent, text)) {
      const absl::string_view device = absl::string_view(text).substr(own_devices.size());
      if (device.substr(0, device.find('/')) != caller.device_id) {
        Fail(absl::StrCat(context, ": a device key's answer names another device: ", Printable(text)));
      }
    }
  });
  const std::string answer = response.SerializeAsString();
  for (const std::string& tenant : world.Tenants()) {
    if (tenant == caller.tenant_id || tenant == kParkTenant) continue;
    for (const std::string& secret : world.Secrets(tenant)) {
      if (absl::StrContains(answer, secret) && !absl::StrContains(sent, secret)) {
        Fail(absl::StrCat(context, ": the answer holds tenants/", tenant, "'s ", Printable(secret)));
      }
    }
  }
}

// A call by an app credential that succeeded: its answer names no device of its tenant outside the grant (as a
// device id or a device's resource name), and every data point in it is of a metric the grant covers.
void CheckInsideGrant(const World& world, const Principal& caller, const Message& response,
                      const std::string& context) {
  const access::v1::AppGrant& grant = *caller.app;
  const std::vector<std::string> outside = world.DevicesOutside(caller.tenant_id, grant);
  const std::string own_devices = absl::StrCat("tenants/", caller.tenant_id, "/devices/");
  auto check = [&](const std::string& text, absl::string_view id) {
    if (std::find(outside.begin(), outside.end(), id) != outside.end()) {
      Fail(absl::StrCat(context, ": the answer names a device outside the app's grant: ", Printable(text)));
    }
  };
  // As a resource name anywhere in the answer but free text.
  ForEachStringField(response, [&](const google::protobuf::FieldDescriptor& field, const std::string& text) {
    absl::string_view id = text;
    if (!IsFreeText(field) && absl::ConsumePrefix(&id, own_devices)) check(text, id.substr(0, id.find('/')));
  });
  // As a bare id, only where a field holds a device id: any other string (an attribute key an earlier call chose,
  // say) may equal a device id by chance.
  ForEachMessage(response, [&](const Message& message) {
    const google::protobuf::Reflection& reflection = *message.GetReflection();
    for (const char* name : {"device_id", "device", "device_ids", "devices"}) {
      const auto* field = message.GetDescriptor()->FindFieldByName(name);
      if (field == nullptr || field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING) continue;
      if (field->is_repeated()) {
        for (int i = 0; i < reflection.FieldSize(message, field); ++i) {
          const std::string text = reflection.GetRepeatedString(message, field, i);
          check(text, text);
        }
      } else {
        const std::string text = reflection.GetString(message, field);
        check(text, text);
      }
    }
  });
  ForEachMessage(response, [&](const Message& message) {
    const google::protobuf::Descriptor& type = *message.GetDescriptor();
    if (type.full_name() != "parkbase.telemetry.v1.DataPoint") return;
    const std::string metric = message.GetReflection()->GetString(message, type.FindFieldByName("metric"));
    if (!GrantCoversMetric(grant, metric)) {
      Fail(absl::StrCat(context, ": the answer holds a point of ", Printable(metric),
                        ", a metric the app's grant does not cover"));
    }
  });
}

// An answer that carries an error (a WriteStream batch refused, an import that stopped) carries one a client can act
// on, as a call's own status.
void CheckCarriedErrors(const Message& response, const std::string& context) {
  const google::protobuf::Descriptor& type = *response.GetDescriptor();
  for (int i = 0; i < type.field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = type.field(i);
    if (field->message_type() != google::rpc::Status::descriptor() || field->is_repeated() ||
        !response.GetReflection()->HasField(response, field)) {
      continue;
    }
    CheckRpcStatus(static_cast<const google::rpc::Status&>(response.GetReflection()->GetMessage(response, field)),
                   absl::StrCat(context, ", its answer's ", field->name()));
  }
}

struct PreparedTarget {
  const ServiceDescriptor* service;
  // Serialized seed requests by method index, for the mutator to start a call from.
  std::map<int, std::vector<std::string>> seed_requests;
  std::vector<Call> seed_calls;
};

const PreparedTarget& Prepared(const ServiceTarget& target) {
  static auto* prepared = new absl::flat_hash_map<const ServiceTarget*, PreparedTarget>;
  auto found = prepared->find(&target);
  if (found != prepared->end()) return found->second;
  PreparedTarget& entry = (*prepared)[&target];
  entry.service = &ServiceOf(target);
  for (const std::string& input : SeedInputs(target)) {
    for (const Call& call : ParseCalls(input)) {
      entry.seed_requests[call.method].push_back(call.request);
      entry.seed_calls.push_back(call);
    }
  }
  return entry;
}

}  // namespace

const std::vector<Principal>& Callers() {
  static const auto* callers = new std::vector<Principal>{
      {"acme", Role::kTenantAdmin, "acmeadminkey", "", nullptr},
      {"acme", Role::kDeveloper, "acmedevkey", "", nullptr},
      {"acme", Role::kDevice, "acmepresskey", "press-1", nullptr},
      {"acme", Role::kProvider, "acmeproviderkey", "", nullptr},
      {"globex", Role::kTenantAdmin, "globexadminkey", "", nullptr},
      {"globex", Role::kDevice, "globexlathekey", "lathe-1", nullptr},
      {"park", Role::kParkAdmin, "parkadminkey", "", nullptr},
      {"acme", Role::kParkAdmin, "acmeparkrolekey", "", nullptr},
      {"acme", Role::kApp, "acmeappkey", "", std::make_shared<const access::v1::AppGrant>(AcmeAppGrant())},
  };
  return *callers;
}

const access::v1::AppGrant& AcmeAppGrant() {
  static const auto* grant = [] {
    auto* made = new access::v1::AppGrant;
    made->set_installation("tenants/acme/installations/fuzz");
    for (absl::string_view scope : kAppScopes) made->add_scopes(std::string(scope));
    (*made->mutable_device_labels())["line"] = "3";
    for (const char* metric : {"temp", "count", "speed"}) made->add_metrics(metric);
    made->add_write_metrics("temp");
    return made;
  }();
  return *grant;
}

std::vector<Call> ParseCalls(absl::string_view input) {
  std::vector<Call> calls;
  size_t at = 0;
  while (calls.size() < kMaxCalls && at + kCallHeaderBytes <= input.size()) {
    Call& call = calls.emplace_back();
    call.caller = static_cast<uint8_t>(input[at]);
    call.method = static_cast<uint8_t>(input[at + 1]);
    call.fault = static_cast<uint8_t>(input[at + 2]);
    const size_t length =
        static_cast<uint8_t>(input[at + 3]) | (static_cast<size_t>(static_cast<uint8_t>(input[at + 4])) << 8);
    at += kCallHeaderBytes;
    call.request = std::string(input.substr(at, length));
    at += call.request.size();
  }
  return calls;
}

std::string SerializeCalls(const std::vector<Call>& calls) {
  std::string out;
  for (const Call& call : calls) {
    const size_t length = std::min<size_t>(call.request.size(), 0xffff);
    out.push_back(static_cast<char>(call.caller));
    out.push_back(static_cast<char>(call.method));
    out.push_back(static_cast<char>(call.fault));
    out.push_back(static_cast<char>(length & 0xff));
    out.push_back(static_cast<char>(length >> 8));
    out.append(call.request, 0, length);
  }
  return out;
}

void CallGuard::Begin(const Principal& caller, uint8_t fault, absl::string_view context) {
  caller_ = &caller;
  context_ = std::string(context);
  fail_at_ = fault & 0x0f;
  fail_with_ = kFaultCodes[(fault >> 4) % std::size(kFaultCodes)];
  entered_ = 0;
}

void CallGuard::End() {
  caller_ = nullptr;
  fail_at_ = 0;
}

absl::Status CallGuard::Enter(absl::string_view operation, const std::string& tenant_id, bool park_wide) {
  if (caller_ == nullptr) return absl::OkStatus();  // the world setting itself up
  if (!caller_->IsParkAdmin() && (park_wide || tenant_id != caller_->tenant_id)) {
    Fail(absl::StrCat(context_, ": ", operation, " ran ", park_wide ? "park-wide" : "", " for tenants/",
                      Printable(tenant_id), ", not the caller's own tenant"));
  }
  if (++entered_ == fail_at_) {
    return absl::Status(fail_with_, absl::StrCat(operation, ": injected failure"));
  }
  return absl::OkStatus();
}

std::vector<std::string> SeedInputs(const ServiceTarget& target) {
  const ServiceDescriptor& service = ServiceOf(target);
  std::vector<std::string> inputs;
  for (const std::vector<SeedCall>& sequence : target.seeds) {
    std::vector<Call> calls;
    for (const SeedCall& seed : sequence) {
      const MethodDescriptor* method = service.FindMethodByName(seed.method);
      if (method == nullptr) Fail(absl::StrCat("seed: ", target.service, " has no method ", seed.method));
      std::unique_ptr<Message> request = NewMessage(method->input_type());
      if (!google::protobuf::TextFormat::ParseFromString(seed.request, request.get())) {
        Fail(absl::StrCat("seed: not a ", method->input_type()->full_name(), ": ", seed.request));
      }
      calls.push_back(Call{seed.caller, static_cast<uint8_t>(method->index()), 0, request->SerializeAsString()});
    }
    inputs.push_back(SerializeCalls(calls));
  }
  return inputs;
}

int RunCalls(const ServiceTarget& target, const uint8_t* data, size_t size) {
  const ServiceDescriptor& service = *Prepared(target).service;
  const std::vector<Call> calls = ParseCalls(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (calls.empty()) return 0;
  std::unique_ptr<World> world = target.make_world();
  std::string sent;
  std::string page_token;
  for (const Call& call : calls) {
    const MethodDescriptor& method = *service.method(call.method % service.method_count());
    const Principal& caller = Callers()[call.caller % Callers().size()];
    const std::string context = absl::StrCat(method.full_name(), " called by the ", Describe(caller));
    std::unique_ptr<Message> request = NewMessage(method.input_type());
    absl::Status status = Parsing().Parse(call.request, *request);
    CheckStatus(status, context);
    if (!status.ok()) continue;
    UsePreviousPageToken(*request, page_token);
    // A well-formed request_id needs the database the fuzz worlds do not have (common/request_replay.h: without
    // one it is refused as UNIMPLEMENTED); a malformed one is kept, so its validation is still fuzzed.
    if (const auto* id = request->GetDescriptor()->FindFieldByName("request_id"); id != nullptr) {
      const std::string value = request->GetReflection()->GetString(*request, id);
      if (RequestReplays::KeyFor("request_id", "fuzz", caller, *request, value).ok()) {
        request->GetReflection()->ClearField(request.get(), id);
      }
    }
    sent += call.request;

    // Everything of the other tenants, to prove the call left it alone.
    std::map<std::string, std::string> others;
    if (!caller.IsParkAdmin()) {
      for (const std::string& tenant : world->Tenants()) {
        if (tenant != caller.tenant_id) others[tenant] = world->TenantDigest(tenant);
      }
    }
    std::unique_ptr<Message> response;
    // A client stream passes the gate with its first message, inside the service (World::Call).
    if (!method.client_streaming()) status = AdmitCall(caller, method, *request).status();
    if (status.ok()) {
      world->guard.Begin(caller, call.fault, context);
      status = world->Call(method, caller, *request, response);
      world->guard.End();
    }
    CheckStatus(status, context);
    if (Verbose()) {
      std::fprintf(stderr, "%s: %s\n", context.c_str(),
                   status.ok() && response != nullptr ? response->ShortDebugString().substr(0, 300).c_str()
                                                       : status.ToString().c_str());
    }
    if (status.ok()) {
      if (response == nullptr) Fail(absl::StrCat(context, ": OK without an answer"));
      CheckStrings(*response, context);
      CheckCarriedErrors(*response, context);
      if (!caller.IsParkAdmin()) CheckOwnTenant(*world, method, caller, *request, *response, sent, context);
      if (AppGrantOf(caller) != nullptr) CheckInsideGrant(*world, caller, *response, context);
      page_token = NextPageToken(*response);
    }
    for (const auto& [tenant, digest] : others) {
      if (world->TenantDigest(tenant) != digest) {
        Fail(absl::StrCat(context, ": changed what tenants/", tenant, " holds (", status.ok() ? "OK" : "failed: ",
                          status.message(), ")"));
      }
    }
  }
  return 0;
}

size_t MutateCalls(const ServiceTarget& target, uint8_t* data, size_t size, size_t max_size, unsigned seed) {
  const PreparedTarget& prepared = Prepared(target);
  const ServiceDescriptor& service = *prepared.service;
  std::mt19937_64 random(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(std::uniform_int_distribution<size_t>(0, n - 1)(random)); };
  const std::string original(reinterpret_cast<const char*>(data), size);
  std::vector<Call> calls = ParseCalls(original);
  if (calls.empty() && !prepared.seed_calls.empty()) calls.push_back(prepared.seed_calls[pick(prepared.seed_calls.size())]);
  if (calls.empty() || pick(20) == 0) return LLVMFuzzerMutate(data, size, max_size);

  QuietProtobuf quiet;
  MessageMutator mutator(random, target.dictionary);
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::vector<Call> mutated = calls;
    const size_t used = SerializeCalls(mutated).size();
    const size_t budget = max_size > used + 16 ? max_size - used - 16 : 0;
    Call& call = mutated[pick(mutated.size())];
    const size_t choice = pick(100);
    if (choice < 65) {
      // One to three changes to one request, through reflection.
      const MethodDescriptor& method = *service.method(call.method % service.method_count());
      std::unique_ptr<Message> request = NewMessage(method.input_type());
      if (request->ParseFromString(call.request)) {
        const int changes = pick(3) == 0 ? 1 + static_cast<int>(pick(3)) : 1;
        for (int i = 0; i < changes; ++i) mutator.Mutate(*request, budget);
        call.request = request->SerializeAsString();
      } else {
        std::string bytes = call.request;
        bytes.resize(call.request.size() + budget);
        bytes.resize(LLVMFuzzerMutate(reinterpret_cast<uint8_t*>(bytes.data()), call.request.size(), bytes.size()));
        call.request = bytes;
      }
    } else if (choice < 75) {
      // The request's bytes, as bytes.
      std::string bytes = call.request;
      bytes.resize(call.request.size() + budget + 1);
      bytes.resize(LLVMFuzzerMutate(reinterpret_cast<uint8_t*>(bytes.data()), call.request.size(), bytes.size()));
      call.request = bytes;
    } else if (choice < 85) {
      // Who calls, which method, which operation fails.
      switch (pick(3)) {
        case 0:
          call.caller = static_cast<uint8_t>(pick(Callers().size()));
          break;
        case 1: {
          call.method = static_cast<uint8_t>(pick(static_cast<size_t>(service.method_count())));
          auto seeds = prepared.seed_requests.find(call.method);
          if (seeds != prepared.seed_requests.end() && pick(2) == 0) call.request = seeds->second[pick(seeds->second.size())];
          break;
        }
        default:
          call.fault = pick(3) == 0 ? 0 : static_cast<uint8_t>((pick(3) << 4) | (1 + pick(6)));
          break;
      }
    } else {
      // The sequence: another seed call, one less, one twice, two swapped.
      const size_t position = pick(mutated.size() + 1);
      switch (pick(4)) {
        case 0:
          if (mutated.size() < kMaxCalls && !prepared.seed_calls.empty()) {
            mutated.insert(mutated.begin() + static_cast<std::ptrdiff_t>(position),
                           prepared.seed_calls[pick(prepared.seed_calls.size())]);
          }
          break;
        case 1:
          if (mutated.size() > 1) mutated.erase(mutated.begin() + static_cast<std::ptrdiff_t>(pick(mutated.size())));
          break;
        case 2:
          if (mutated.size() < kMaxCalls) {
            const Call copy = mutated[pick(mutated.size())];
            mutated.insert(mutated.begin() + static_cast<std::ptrdiff_t>(position), copy);
          }
          break;
        default:
          if (mutated.size() > 1) std::swap(mutated[pick(mutated.size())], mutated[pick(mutated.size())]);
          break;
      }
    }
    const std::string out = SerializeCalls(mutated);
    if (out.size() <= max_size && out != original) {
      std::memcpy(data, out.data(), out.size());
      return out.size();
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

size_t CrossOverCalls(const uint8_t* first, size_t first_size, const uint8_t* second, size_t second_size,
                      uint8_t* out, size_t max_out_size, unsigned seed) {
  std::mt19937_64 random(seed);
  std::vector<Call> a = ParseCalls(absl::string_view(reinterpret_cast<const char*>(first), first_size));
  std::vector<Call> b = ParseCalls(absl::string_view(reinterpret_cast<const char*>(second), second_size));
  if (a.empty() || b.empty()) return 0;
  // The start of one sequence, the end of the other.
  std::vector<Call> joined(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(1 + random() % a.size()));
  for (size_t i = random() % b.size(); i < b.size() && joined.size() < kMaxCalls; ++i) joined.push_back(b[i]);
  const std::string bytes = SerializeCalls(joined);
  if (bytes.size() > max_out_size) return 0;
  std::memcpy(out, bytes.data(), bytes.size());
  return bytes.size();
}

}  // namespace parkbase::fuzz
