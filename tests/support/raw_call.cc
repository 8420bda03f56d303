#include "support/raw_call.h"

#include "absl/time/clock.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "support/test_env.h"

namespace parkbase::testing {

namespace {

grpc::Status Call(grpc::Channel& channel, const std::string& full_method, std::unique_ptr<grpc::ClientContext> context,
                  const std::string& request, std::vector<std::string>* responses) {
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

}  // namespace

grpc::Status CallAnyMethod(grpc::Channel& channel, const std::string& full_method, const std::string& key,
                           const std::string& request) {
  std::vector<std::string> ignored;
  return CallAnyMethod(channel, full_method, key, request, &ignored);
}

grpc::Status CallAnyMethod(grpc::Channel& channel, const std::string& full_method, const std::string& key,
                           const std::string& request, std::vector<std::string>* responses) {
  return Call(channel, full_method, Context(key), request, responses);
}

grpc::Status CallAnyMethodWithin(grpc::Channel& channel, const std::string& full_method, const std::string& key,
                                 const std::string& request, absl::Duration deadline) {
  auto context = Context(key);
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  std::vector<std::string> ignored;
  return Call(channel, full_method, std::move(context), request, &ignored);
}

}  // namespace parkbase::testing
