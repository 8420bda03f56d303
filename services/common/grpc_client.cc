#include "common/grpc_client.h"

#include <future>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
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
  // HealthCheckRequest { string service = 1; }: the health protos are not installed with gRPC's C++ package.
  std::string request;
  {
    google::protobuf::io::StringOutputStream stream(&request);
    google::protobuf::io::CodedOutputStream out(&stream);
    if (!service.empty()) {
      out.WriteTag(google::protobuf::internal::WireFormatLite::MakeTag(
          1, google::protobuf::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
      out.WriteVarint32(static_cast<uint32_t>(service.size()));
      out.WriteString(service);
    }
  }
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  auto response = RawUnaryCall(channel, "/grpc.health.v1.Health/Check", request, context);
  if (!response.ok()) return response.status();
  // HealthCheckResponse { ServingStatus status = 1; }
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(response->data()),
                                            static_cast<int>(response->size()));
  uint32_t status = 0;
  while (uint32_t tag = in.ReadTag()) {
    if (tag == google::protobuf::internal::WireFormatLite::MakeTag(
                   1, google::protobuf::internal::WireFormatLite::WIRETYPE_VARINT)) {
      if (!in.ReadVarint32(&status)) break;
    } else if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) {
      break;
    }
  }
  return static_cast<ServingStatus>(status);
}

}  // namespace parkbase
