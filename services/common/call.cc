#include "common/call.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_names.h"

namespace parkbase {
namespace {

std::string Metadata(const grpc::ServerContextBase& context, absl::string_view key) {
  const auto& metadata = context.client_metadata();
  auto found = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (found == metadata.end()) return "";
  return std::string(found->second.data(), found->second.size());
}

// Request ids from clients are echoed only when short and printable, so logs cannot be forged through them.
std::string RequestId(const grpc::ServerContextBase& context) {
  std::string id = Metadata(context, "x-request-id");
  const bool usable = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return c > 0x20 && c < 0x7F && c != '"' && c != '\\';
  });
  return usable ? id : absl::BytesToHexString(RandomBytes(8));
}

// A server span under the caller's traceparent (or a new trace), named as OpenTelemetry's RPC conventions name it:
// "package.Service/Method".
std::shared_ptr<Span> StartServerSpan(const grpc::ServerContextBase& context,
                                      const google::protobuf::MethodDescriptor& method) {
  const std::optional<SpanContext> parent =
      ParseTraceparent(Metadata(context, kTraceparentHeader), Metadata(context, kTracestateHeader));
  auto span = std::make_shared<Span>(std::string(), SpanKind::kServer, parent.has_value() ? &*parent : nullptr);
  // Names and attributes only for spans that are exported: most calls' spans just lend their ids to log lines.
  if (span->recording()) {
    span->SetName(absl::StrCat(method.service()->full_name(), "/", method.name()));
    span->SetAttribute("rpc.system", "grpc");
    span->SetAttribute("rpc.service", method.service()->full_name());
    span->SetAttribute("rpc.method", method.name());
  }
  return span;
}

// OpenTelemetry's gRPC server convention: these codes are the server's failures; the others are the caller's and
// leave the span's status unset.
bool IsServerError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

}  // namespace

CallRunner::CallRunner(Authenticator& authenticator, StreamRegistry* streams, AuthFailureLimiter* auth_failures,
                       const SourceAddresses* sources)
    : authenticator_(authenticator), streams_(streams), auth_failures_(auth_failures), sources_(sources) {}

absl::StatusOr<Principal> CallRunner::Authenticate(const grpc::ServerContextBase& context) {
  const std::string authorization = Metadata(context, "authorization");
  if (auth_failures_ == nullptr) return authenticator_.Authenticate(authorization);
  const std::string source = sources_ != nullptr ? sources_->Of(context.peer(), Metadata(context, "x-forwarded-for"))
                                                 : PeerAddress(context.peer());
  const std::string key_id = KeyIdOf(authorization);
  if (absl::Status admitted = auth_failures_->Admit(source, key_id); !admitted.ok()) return admitted;
  absl::StatusOr<Principal> principal = authenticator_.Authenticate(authorization);
  if (!principal.ok() && principal.status().code() == absl::StatusCode::kUnauthenticated) {
    auth_failures_->RecordFailure(source, key_id);
  }
  return principal;
}

grpc::Status CallRunner::Run(grpc::ServerContextBase* context, const google::protobuf::MethodDescriptor& method,
                             const google::protobuf::Message& request,
                             absl::FunctionRef<absl::Status(const Principal&)> body) {
  return Authenticated(context, method, [&](const Principal& caller) -> absl::Status {
    absl::StatusOr<AccessGrant> grant = AdmitCall(caller, method, request);
    if (!grant.ok()) return grant.status();
    return body(caller);
  });
}

grpc::Status CallRunner::Authenticated(grpc::ServerContextBase* context,
                                       const google::protobuf::MethodDescriptor& method,
                                       absl::FunctionRef<absl::Status(const Principal&)> body) {
  const absl::Time start = absl::Now();
  std::shared_ptr<Span> span = StartServerSpan(*context, method);
  // Every line the handler logs, and every call it makes onward, carries this span.
  ScopedSpan scope(span->context());
  const std::string request_id = RequestId(*context);
  context->AddInitialMetadata("x-request-id", request_id);
  std::string tenant;
  absl::Status status;
  try {
    absl::StatusOr<Principal> principal = Authenticate(*context);
    if (principal.ok()) {
      tenant = principal->tenant_id;
      status = body(*principal);
    } else {
      status = principal.status();
    }
  } catch (const std::exception& error) {
    status = absl::InternalError(error.what());
  } catch (...) {
    status = absl::InternalError("unknown exception");
  }
  return Finish(method.name(), start, request_id, tenant, *span, status);
}

absl::StatusOr<std::unique_ptr<StreamRegistry::Stream>> CallRunner::AdmitStream(
    grpc::ServerContextBase* context, const google::protobuf::MethodDescriptor& method, const Principal& caller,
    const google::protobuf::Message* request, bool client_sends, bool holds_thread) {
  if (request != nullptr) {
    absl::StatusOr<AccessGrant> grant = AdmitCall(caller, method, *request);
    if (!grant.ok()) return grant.status();
  }
  if (streams_ == nullptr) return absl::UnavailableError("this server takes no streaming calls");
  absl::StatusOr<std::unique_ptr<StreamRegistry::Stream>> stream = streams_->Open(
      context, caller, Metadata(*context, "authorization"), method.name(), client_sends, holds_thread);
  if (!stream.ok()) return stream.status();
  if (request != nullptr) (*stream)->MarkAdmitted();
  return stream;
}

absl::StatusOr<CallRunner::OpenedStream> CallRunner::OpenStream(grpc::ServerContextBase* context,
                                                                const google::protobuf::MethodDescriptor& method,
                                                                const google::protobuf::Message& request,
                                                                bool holds_thread, StreamCall* call) {
  return Open(context, method, &request, /*client_sends=*/false, holds_thread, call);
}

absl::StatusOr<CallRunner::OpenedStream> CallRunner::OpenClientStream(grpc::ServerContextBase* context,
                                                                      const google::protobuf::MethodDescriptor& method,
                                                                      StreamCall* call) {
  return Open(context, method, /*request=*/nullptr, /*client_sends=*/true, /*holds_thread=*/false, call);
}

absl::StatusOr<CallRunner::OpenedStream> CallRunner::Open(grpc::ServerContextBase* context,
                                                          const google::protobuf::MethodDescriptor& method,
                                                          const google::protobuf::Message* request, bool client_sends,
                                                          bool holds_thread, StreamCall* call) {
  call->method = method.name();
  call->start = absl::Now();
  call->span = StartServerSpan(*context, method);
  ScopedSpan scope(call->span->context());
  call->request_id = RequestId(*context);
  context->AddInitialMetadata("x-request-id", call->request_id);
  try {
    absl::StatusOr<Principal> principal = Authenticate(*context);
    if (!principal.ok()) return principal.status();
    call->tenant = principal->tenant_id;
    absl::StatusOr<std::unique_ptr<StreamRegistry::Stream>> stream =
        AdmitStream(context, method, *principal, request, client_sends, holds_thread);
    if (!stream.ok()) return stream.status();
    return OpenedStream{*std::move(principal), *std::move(stream)};
  } catch (const std::exception& error) {
    return absl::InternalError(error.what());
  } catch (...) {
    return absl::InternalError("unknown exception");
  }
}

grpc::Status CallRunner::FinishStream(const StreamCall& call, const absl::Status& status) {
  if (call.span != nullptr) return Finish(call.method, call.start, call.request_id, call.tenant, *call.span, status);
  // A stream refused before OpenStream ran has no span yet: it gets one that ends here.
  Span unopened(call.method, SpanKind::kServer, nullptr);
  return Finish(call.method, call.start, call.request_id, call.tenant, unopened, status);
}

absl::StatusOr<AccessGrant> CallRunner::AdmitFirstMessage(const google::protobuf::MethodDescriptor& method,
                                                          const Principal& caller,
                                                          const google::protobuf::Message& first,
                                                          StreamRegistry::Stream& stream) {
  absl::StatusOr<AccessGrant> grant = AdmitCall(caller, method, first);
  if (grant.ok()) stream.MarkAdmitted();
  return grant;
}

grpc::Status CallRunner::Refuse(grpc::ServerContextBase* context, const google::protobuf::MethodDescriptor& method,
                                const absl::Status& status) {
  const std::string request_id = RequestId(*context);
  context->AddInitialMetadata("x-request-id", request_id);
  std::shared_ptr<Span> span = StartServerSpan(*context, method);
  return Finish(method.name(), absl::Now(), request_id, "", *span, status);
}

grpc::Status CallRunner::Finish(absl::string_view method, absl::Time start, const std::string& request_id,
                                const std::string& tenant, Span& span, const absl::Status& status) {
  // A stream ends on whichever thread saw it end, so its span is named here rather than found in the thread's scope.
  LogLine line(status.ok() || status.code() != absl::StatusCode::kInternal ? LogLevel::kInfo : LogLevel::kError,
               "rpc");
  line.Str("method", method)
      .Str("tenant", tenant)
      .Str("code", GrpcCodeName(status.code()))
      .Num("latency_ms", absl::ToDoubleMilliseconds(absl::Now() - start))
      .Str("request_id", request_id)
      .Str("trace_id", span.context().TraceIdHex())
      .Str("span_id", span.context().SpanIdHex());
  if (!status.ok()) line.Str("error", status.message());
  line.Emit();
  if (span.recording()) {
    span.SetAttribute("rpc.grpc.status_code", static_cast<int64_t>(status.code()));
    span.SetAttribute("parkbase.request_id", request_id);
    if (!tenant.empty()) span.SetAttribute("parkbase.tenant_id", tenant);
    if (IsServerError(status.code())) span.SetError(status.message());
  }
  span.End();
  return ToGrpcStatus(status);
}

}  // namespace parkbase
