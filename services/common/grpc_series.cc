#include "common/grpc_series.h"

#include <map>
#include <string>

#include "common/status_names.h"

namespace parkbase {

void ZeroGrpcSeries(GrpcServerMetrics& metrics, const google::protobuf::ServiceDescriptor& service) {
  for (int m = 0; m < service.method_count(); ++m) {
    const google::protobuf::MethodDescriptor& method = *service.method(m);
    // The labels the metrics interceptor gives a call of this method (metrics.cc): the type as the proto declares it.
    const char* type = method.client_streaming() && method.server_streaming() ? "bidi_stream"
                       : method.client_streaming()                            ? "client_stream"
                       : method.server_streaming()                            ? "server_stream"
                                                                              : "unary";
    std::map<std::string, std::string> labels = {
        {"grpc_type", type}, {"grpc_service", service.full_name()}, {"grpc_method", method.name()}};
    metrics.started().Add(labels);
    for (int code = grpc::StatusCode::OK; code <= grpc::StatusCode::UNAUTHENTICATED; ++code) {
      labels["grpc_code"] = GrpcCodeName(static_cast<grpc::StatusCode>(code));
      metrics.handled().Add(labels);
    }
  }
}

}  // namespace parkbase
