#include "support/raw_call.h"

#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "support/test_env.h"

namespace parkbase::testing {

grpc::Status CallAnyMethod(grpc::Channel& channel, const std::string& full_method, const std::string& key,
                           const std::string& request) {
  std::vector<std::string> ignored;
  return CallAnyMethod(channel, full_method, key, request, &ignored);
}

grpc::Status CallAnyMethod(grpc::Channel& channel, const std::string& full_method, const std::string& key,
                           const std::string& request, std::vector<std::string>* responses) {
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
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (response.Dump(&slices).ok()) {
      for (const grpc::Slice& part : slices) bytes.append(reinterpret_cast<const char*>(part.begin()), part.size());
    }
    responses->push_back(std::move(bytes));
  }
  return stream->Finish();
}

}  // namespace parkbase::testing
