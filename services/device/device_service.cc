#include "device/device_service.h"

#include <exception>
#include <memory>
#include <optional>

#include "common/errors.h"
#include "common/log.h"
#include "device/device_cache.h"
#include "grpcpp/support/server_callback.h"

namespace parkbase::device {
namespace {

// A client refused because this server's executor is saturated retries after this.
constexpr absl::Duration kBusyRetryAfter = absl::Seconds(1);

// One ImportDevices call, served through gRPC's callback API: the call holds no thread while it waits for its
// client. Each message read is parsed (under the parse budget) and added to the import on the server's
// BlockingExecutor, where storing a full batch may wait on PostgreSQL; only then is the next message read, so one
// message at a time is held, as before. The work for a call runs one piece at a time, and the last piece finishes
// the call: nothing on the executor outlives the call's context.
class ImportCall final : public grpc::ServerReadReactor<grpc::ByteBuffer>,
                         public std::enable_shared_from_this<ImportCall> {
 public:
  struct Parts {
    CallRunner& calls;
    RequestParser& parser;
    DeviceManager& manager;
    BlockingExecutor& executor;
    const google::protobuf::MethodDescriptor& method;
  };

  // The handler of the callback method: the reactor for one call (alive until OnDone, and while work holds it).
  static grpc::ServerReadReactor<grpc::ByteBuffer>* Start(const Parts& parts, grpc::CallbackServerContext* context,
                                                          pb::ImportDevicesResponse* response) {
    auto call = std::make_shared<ImportCall>(parts, context, response);
    call->self_ = call;
    if (!parts.executor.Submit([call] { call->Open(); })) {
      call->Finish(parts.calls.Refuse(
          context, parts.method,
          QuotaError("server", "callback_executor_threads",
                     "this server has too much blocking work queued to open a stream now; retry", kBusyRetryAfter)));
    }
    return call.get();
  }

  ImportCall(const Parts& parts, grpc::CallbackServerContext* context, pb::ImportDevicesResponse* response)
      : parts_(parts), context_(context), response_(response) {}

  // grpc::ServerReadReactor (gRPC's callback threads; none of them blocks).
  void OnReadDone(bool ok) override {
    std::shared_ptr<ImportCall> self = shared_from_this();
    if (!ok) {
      // The client closed the stream (or left): the last batch is stored, as it always was.
      if (!parts_.executor.Submit([self] {
            self->Run([&] {
              self->import_->End();
              return true;
            });
          })) {
        Refused();
      }
      return;
    }
    parts_.parser.ParseStreamed(parts_.executor, context_, &buffer_, &message_, read_++,
                                [self](absl::StatusOr<ParseBudget::Reservation> held) {
                                  self->Run([&] { return self->Parsed(std::move(held)); });
                                });
  }
  void OnDone() override {
    // No work runs for the call any more: unregister the stream while the context (which the stream registry's
    // watchdog may cancel through) is alive, then let go of this object.
    stream_.reset();
    std::shared_ptr<ImportCall> self = std::move(self_);
  }

 private:
  // On the executor: authenticate and admit the stream, then read the first message.
  void Open() {
    absl::StatusOr<CallRunner::OpenedStream> opened = parts_.calls.OpenClientStream(context_, parts_.method, &call_);
    if (!opened.ok()) {
      Finish(parts_.calls.FinishStream(call_, opened.status()));
      return;
    }
    caller_ = std::move(opened->caller);
    stream_ = std::move(opened->stream);
    import_ = parts_.manager.StartImport(*caller_, [this] { return stream_->Check(); });
    StartRead(&buffer_);
  }

  // On the executor: runs one step of the import (true when the import is over), then reads on or finishes the call.
  template <class Step>
  void Run(Step&& step) {
    bool over = false;
    try {
      over = step();
    } catch (const std::exception& error) {
      LogLine(LogLevel::kError, "import worker failed").Str("error", error.what()).Emit();
      failure_ = absl::InternalError("import worker failed");
      over = true;
    } catch (...) {
      LogLine(LogLevel::kError, "import worker failed").Emit();
      failure_ = absl::InternalError("import worker failed");
      over = true;
    }
    if (!over) {
      StartRead(&buffer_);
      return;
    }
    absl::StatusOr<pb::ImportDevicesResponse> result =
        failure_.ok() ? import_->Result() : absl::StatusOr<pb::ImportDevicesResponse>(failure_);
    absl::Status status = result.status();
    if (result.ok()) *response_ = *std::move(result);
    // Finish may lead to OnDone on another thread, which lets go of this object: hold it until this returns.
    std::shared_ptr<ImportCall> self = shared_from_this();
    Finish(parts_.calls.FinishStream(call_, status));
  }

  // Message `read_ - 1` was parsed (or not) into message_: true when the import is over.
  bool Parsed(absl::StatusOr<ParseBudget::Reservation> held) {
    if (!held.ok()) {
      import_->Fail(held.status());
      return true;
    }
    stream_->Touch();
    if (read_ == 1) {
      // The first message names the tenant and passes the access gate.
      absl::StatusOr<AccessGrant> admitted =
          parts_.calls.AdmitFirstMessage(parts_.method, *caller_, message_, *stream_);
      if (!admitted.ok()) {
        import_->Fail(admitted.status());
        return true;
      }
    }
    const bool over = !import_->Add(message_);
    message_.Clear();
    return over;
  }

  // The executor refused the work that would end the call: end it here (nothing else runs for it).
  void Refused() {
    std::shared_ptr<ImportCall> self = shared_from_this();
    Finish(parts_.calls.FinishStream(
        call_, absl::UnavailableError("this server has too much blocking work queued to serve the stream; retry")));
  }

  const Parts parts_;
  grpc::CallbackServerContext* const context_;
  pb::ImportDevicesResponse* const response_;
  // Touched by one piece of work at a time (each starts the read whose reaction starts the next).
  CallRunner::StreamCall call_;
  std::optional<Principal> caller_;
  std::unique_ptr<StreamRegistry::Stream> stream_;
  std::unique_ptr<DeviceImport> import_;
  grpc::ByteBuffer buffer_;
  pb::ImportDevicesRequest message_;
  int64_t read_ = 0;
  absl::Status failure_;
  // Keeps this object alive while gRPC may call it; work on the executor holds its own references.
  std::shared_ptr<ImportCall> self_;
};

}  // namespace

DeviceServiceImpl::DeviceServiceImpl(CallRunner& calls, RequestParser& parser, DeviceManager& manager,
                                     BlockingExecutor& executor)
    : OwnParsing(parser, pb::DeviceService::service_full_name()), calls_(calls), manager_(manager) {
  ParseUnary("CreateDeviceType", &DeviceServiceImpl::CreateDeviceType);
  ParseUnary("GetDeviceType", &DeviceServiceImpl::GetDeviceType);
  ParseUnary("ListDeviceTypes", &DeviceServiceImpl::ListDeviceTypes);
  ParseUnary("UpdateDeviceType", &DeviceServiceImpl::UpdateDeviceType);
  ParseUnary("DeleteDeviceType", &DeviceServiceImpl::DeleteDeviceType);
  ParseUnary("CreateDevice", &DeviceServiceImpl::CreateDevice);
  ParseUnary("GetDevice", &DeviceServiceImpl::GetDevice);
  ParseUnary("ListDevices", &DeviceServiceImpl::ListDevices);
  ParseUnary("UpdateDevice", &DeviceServiceImpl::UpdateDevice);
  ParseUnary("DeleteDevice", &DeviceServiceImpl::DeleteDevice);
  ParseUnary("DisableDevice", &DeviceServiceImpl::DisableDevice);
  ParseUnary("EnableDevice", &DeviceServiceImpl::EnableDevice);
  ParseUnary("SetDeviceAttributes", &DeviceServiceImpl::SetDeviceAttributes);
  ParseUnary("CreateDeviceCredential", &DeviceServiceImpl::CreateDeviceCredential);
  ParseUnary("ListDeviceCredentials", &DeviceServiceImpl::ListDeviceCredentials);
  ParseUnary("RevokeDeviceCredential", &DeviceServiceImpl::RevokeDeviceCredential);
  ParseUnary("ResolveIdentifier", &DeviceServiceImpl::ResolveIdentifier);
  const ImportCall::Parts import{.calls = calls,
                                 .parser = parser,
                                 .manager = manager,
                                 .executor = executor,
                                 .method = Method("ImportDevices")};
  CallbackClientStream<pb::ImportDevicesResponse>(
      "ImportDevices", [import](grpc::CallbackServerContext* context, pb::ImportDevicesResponse* response) {
        return ImportCall::Start(import, context, response);
      });
}

grpc::Status DeviceServiceImpl::CreateDeviceType(grpc::ServerContext* context, const pb::CreateDeviceTypeRequest* request,
                                    pb::DeviceType* response) {
  return calls_.Serve(context, Method("CreateDeviceType"), manager_, &DeviceManager::CreateDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::GetDeviceType(grpc::ServerContext* context, const pb::GetDeviceTypeRequest* request,
                                    pb::DeviceType* response) {
  return calls_.Serve(context, Method("GetDeviceType"), manager_, &DeviceManager::GetDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::ListDeviceTypes(grpc::ServerContext* context, const pb::ListDeviceTypesRequest* request,
                                    pb::ListDeviceTypesResponse* response) {
  return calls_.Serve(context, Method("ListDeviceTypes"), manager_, &DeviceManager::ListDeviceTypes, request, response);
}

grpc::Status DeviceServiceImpl::UpdateDeviceType(grpc::ServerContext* context, const pb::UpdateDeviceTypeRequest* request,
                                    pb::DeviceType* response) {
  return calls_.Serve(context, Method("UpdateDeviceType"), manager_, &DeviceManager::UpdateDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::DeleteDeviceType(grpc::ServerContext* context, const pb::DeleteDeviceTypeRequest* request,
                                    pb::DeleteDeviceTypeResponse* response) {
  return calls_.Serve(context, Method("DeleteDeviceType"), manager_, &DeviceManager::DeleteDeviceType, request, response);
}

grpc::Status DeviceServiceImpl::CreateDevice(grpc::ServerContext* context, const pb::CreateDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("CreateDevice"), manager_, &DeviceManager::CreateDevice, request, response);
}

grpc::Status DeviceServiceImpl::GetDevice(grpc::ServerContext* context, const pb::GetDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("GetDevice"), manager_, &DeviceManager::GetDevice, request, response);
}

grpc::Status DeviceServiceImpl::ListDevices(grpc::ServerContext* context, const pb::ListDevicesRequest* request,
                                    pb::ListDevicesResponse* response) {
  return calls_.Serve(context, Method("ListDevices"), manager_, &DeviceManager::ListDevices, request, response);
}

grpc::Status DeviceServiceImpl::UpdateDevice(grpc::ServerContext* context, const pb::UpdateDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("UpdateDevice"), manager_, &DeviceManager::UpdateDevice, request, response);
}

grpc::Status DeviceServiceImpl::DeleteDevice(grpc::ServerContext* context, const pb::DeleteDeviceRequest* request,
                                    pb::DeleteDeviceResponse* response) {
  return calls_.Serve(context, Method("DeleteDevice"), manager_, &DeviceManager::DeleteDevice, request, response);
}

grpc::Status DeviceServiceImpl::DisableDevice(grpc::ServerContext* context, const pb::DisableDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("DisableDevice"), manager_, &DeviceManager::DisableDevice, request, response);
}

grpc::Status DeviceServiceImpl::EnableDevice(grpc::ServerContext* context, const pb::EnableDeviceRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("EnableDevice"), manager_, &DeviceManager::EnableDevice, request, response);
}

grpc::Status DeviceServiceImpl::SetDeviceAttributes(grpc::ServerContext* context, const pb::SetDeviceAttributesRequest* request,
                                    pb::Device* response) {
  return calls_.Serve(context, Method("SetDeviceAttributes"), manager_, &DeviceManager::SetDeviceAttributes, request, response);
}

grpc::Status DeviceServiceImpl::CreateDeviceCredential(grpc::ServerContext* context, const pb::CreateDeviceCredentialRequest* request,
                                    pb::CreateDeviceCredentialResponse* response) {
  return calls_.Serve(context, Method("CreateDeviceCredential"), manager_, &DeviceManager::CreateDeviceCredential, request, response);
}

grpc::Status DeviceServiceImpl::ListDeviceCredentials(grpc::ServerContext* context, const pb::ListDeviceCredentialsRequest* request,
                                    pb::ListDeviceCredentialsResponse* response) {
  return calls_.Serve(context, Method("ListDeviceCredentials"), manager_, &DeviceManager::ListDeviceCredentials, request, response);
}

grpc::Status DeviceServiceImpl::RevokeDeviceCredential(grpc::ServerContext* context, const pb::RevokeDeviceCredentialRequest* request,
                                    pb::RevokeDeviceCredentialResponse* response) {
  return calls_.Serve(context, Method("RevokeDeviceCredential"), manager_, &DeviceManager::RevokeDeviceCredential, request, response);
}

grpc::Status DeviceServiceImpl::ResolveIdentifier(grpc::ServerContext* context, const pb::ResolveIdentifierRequest* request,
                                    pb::IdentifierRecord* response) {
  return calls_.Serve(context, Method("ResolveIdentifier"), manager_, &DeviceManager::ResolveIdentifier, request, response);
}

absl::Status RegisterDeviceService(ServiceHost& host) {
  if (host.redis() == nullptr) {
    return absl::InvalidArgumentError("--redis_url: required by parkbase.device.v1.DeviceService");
  }
  DeviceStore* store = &host.Own(std::make_unique<PgDeviceStore>(host.db(), host.config().bulk_statement_timeout));
  if (host.config().device_cache && host.device_epochs() != nullptr) {
    // The auth cache's epoch check (device_epochs) and ttl: both bound what another replica's change takes to show.
    store = &host.Own(std::make_unique<CachingDeviceStore>(
        *store, *host.device_epochs(), host.clock(),
        CachingDeviceStore::Options{.ttl = host.config().auth_cache_ttl}, &host.registry()));
  }
  auto& invalidator = host.Own(std::make_unique<RedisSchemaInvalidator>(*host.redis()));
  auto& manager =
      host.Own(std::make_unique<DeviceManager>(*store, host.page_tokens(), invalidator, host.config().park_code,
                                               &host.auth_invalidator(), &host.request_replays()));
  auto& service = host.Own(std::make_unique<DeviceServiceImpl>(host.calls(), host.parser(), manager, host.executor()));
  host.AddService(&service, pb::DeviceService::service_full_name(), {kPostgresDependency, kRedisDependency});
  return absl::OkStatus();
}

}  // namespace parkbase::device
