#include "common/metrics.h"

#include <map>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_series.h"
#include "common/status_names.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/support/status.h"

namespace parkbase {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

// The method's type as its proto declares it. Services that parse their own requests register every method with
// gRPC as a bidirectional stream (raw_requests.h), so the server's own idea of the type would be wrong.
const char* TypeLabel(const std::string& service, const std::string& method, ServerRpcInfo::Type server_type) {
  const auto* found =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(absl::StrCat(service, ".", method));
  if (found != nullptr) return GrpcTypeName(*found);
  switch (server_type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unary";
}

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcServerMetrics& metrics, ServerRpcInfo* info) : metrics_(metrics), start_(absl::Now()) {
    std::string full = info->method() != nullptr ? info->method() : "";
    // "/pkg.Service/Method"
    const auto slash = full.rfind('/');
    const std::string service = slash == std::string::npos || slash == 0 ? "unknown" : full.substr(1, slash - 1);
    const std::string method = slash == std::string::npos ? full : full.substr(slash + 1);
    const char* type = TypeLabel(service, method, info->type());
    labels_ = {{"grpc_type", type}, {"grpc_service", service}, {"grpc_method", method}};
    metrics_.started().Add(labels_).Increment();
    if (std::string_view(type) != "unary") {
      open_stream_ = &metrics_.open_streams().Add(labels_);
      open_stream_->Increment();
    }
  }

  // gRPC destroys a call's interceptors when the call is over, however it ended (status sent, cancelled, or the
  // client gone), so the stream is counted closed exactly once.
  ~MetricsInterceptor() override {
    if (open_stream_ != nullptr) open_stream_->Decrement();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      metrics_.received().Add(labels_).Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      metrics_.sent().Add(labels_).Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      auto with_code = labels_;
      with_code["grpc_code"] = GrpcCodeName(methods->GetSendStatus().error_code());
      metrics_.handled().Add(with_code).Increment();
      metrics_.handling_seconds()
          .Add(labels_, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                0.25, 0.5, 1, 2.5, 5, 10})
          .Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

 private:
  GrpcServerMetrics& metrics_;
  const absl::Time start_;
  std::map<std::string, std::string> labels_;
  prometheus::Gauge* open_stream_ = nullptr;
};

class MetricsInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(GrpcServerMetrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info);
  }

 private:
  GrpcServerMetrics& metrics_;
};

}  // namespace

GrpcServerMetrics::GrpcServerMetrics(prometheus::Registry& registry)
    : started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("Total number of RPCs started on the server.")
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("Total number of RPCs completed on the server, regardless of success or failure.")
                   .Register(registry)),
      received_(prometheus::BuildCounter()
                    .Name("grpc_server_msg_received_total")
                    .Help("Total number of RPC stream messages received on the server.")
                    .Register(registry)),
      sent_(prometheus::BuildCounter()
                .Name("grpc_server_msg_sent_total")
                .Help("Total number of gRPC stream messages sent by the server.")
                .Register(registry)),
      handling_seconds_(prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Histogram of response latency (seconds) of gRPC that had been application-level "
                                  "handled by the server.")
                            .Register(registry)),
      open_streams_(prometheus::BuildGauge()
                        .Name("parkbase_grpc_server_open_streams")
                        .Help("Streaming RPCs open on the server right now.")
                        .Register(registry)) {}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> GrpcServerMetrics::MakeInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(*this);
}

}  // namespace parkbase
