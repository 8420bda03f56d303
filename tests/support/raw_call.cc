#include "support/raw_call.h"

#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "support/test_env.h"

namespace parkbase::testing {

grpc::Status CallAnyMethod(grpc::Channel& channel, const std::string& full_method, const std::string& key,
                           const std::string& request) {
  auto context = Context(key);
  grpc::internal::RpcMethod method(full_method.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(&channel, method,
                                                                                             context.get()));
  grpc::Slice slice(request);
  grpc::ByteBuffer message(&slice, 1);
  stream->Write(message);
  stream->WritesDone();
  grpc::ByteBuffer response;
  while (stream->Read(&response)) {
  }
  return stream->Finish();
}

}  // namespace parkbase::testing
