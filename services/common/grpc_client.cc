#include "common/grpc_client.h"

#include <future>

#include "grpc/health/v1/health.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "common/errors.h"

namespace parkbase {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, bool tls) {
  auto credentials = tls ? grpc::SslCredentials(grpc::SslCredentialsOptions()) : grpc::InsecureChannelCredentials();
  return grpc::CreateChannel(address, credentials);
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const ClientTls& tls) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls.root_certs;
  options.pem_cert_chain = tls.cert_chain;
  options.pem_private_key = tls.private_key;
  return grpc::CreateChannel(address, grpc::SslCredentials(options));
}

absl::StatusOr<std::string> RawUnaryCall(grpc::Channel& channel, const std::string& method,
                                         const std::string& request, grpc::ClientContext& context) {
  grpc::GenericStub stub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  grpc::Status status = done.get_future().get();
  if (!status.ok()) return FromGrpcStatus(status);
  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) return absl::InternalError("cannot read response");
  std::string response;
  for (const auto& part : slices) response.append(reinterpret_cast<const char*>(part.begin()), part.size());
  return response;
}

absl::StatusOr<ServingStatus> CheckHealth(grpc::Channel& channel, const std::string& service, absl::Duration timeout) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  auto response = RawUnaryCall(channel, "/grpc.health.v1.Health/Check", request.SerializeAsString(), context);
  if (!response.ok()) return response.status();
  grpc::health::v1::HealthCheckResponse decoded;
  if (!decoded.ParseFromString(*response)) return absl::InternalError("health: unreadable answer");
  return static_cast<ServingStatus>(decoded.status());
}

}  // namespace parkbase
