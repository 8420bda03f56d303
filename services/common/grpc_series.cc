#include "common/grpc_series.h"

#include <map>
#include <string>

#include "common/status_names.h"

namespace parkbase {

const char* GrpcTypeName(const google::protobuf::MethodDescriptor& method) {
  if (method.client_streaming() && method.server_streaming()) return "bidi_stream";
  if (method.client_streaming()) return "client_stream";
  if (method.server_streaming()) return "server_stream";
  return "unary";
}

void ZeroGrpcSeries(GrpcServerMetrics& metrics, const google::protobuf::ServiceDescriptor& service) {
  for (int m = 0; m < service.method_count(); ++m) {
    const google::protobuf::MethodDescriptor& method = *service.method(m);
    // The labels the metrics interceptor gives a call of this method (metrics.cc).
    std::map<std::string, std::string> labels = {
        {"grpc_type", GrpcTypeName(method)}, {"grpc_service", service.full_name()}, {"grpc_method", method.name()}};
    metrics.started().Add(labels);
    if (method.client_streaming() || method.server_streaming()) metrics.open_streams().Add(labels);
    for (int code = grpc::StatusCode::OK; code <= grpc::StatusCode::UNAUTHENTICATED; ++code) {
      labels["grpc_code"] = GrpcCodeName(static_cast<grpc::StatusCode>(code));
      metrics.handled().Add(labels);
    }
  }
}

}  // namespace parkbase
