// The go-grpc-prometheus metric family that existing dashboards query, recorded by a server interceptor (which may
// observe every call, including health and reflection, but not end one).
#pragma once

#include <memory>

#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace parkbase {

class GrpcServerMetrics {
 public:
  explicit GrpcServerMetrics(prometheus::Registry& registry);

  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeInterceptorFactory();

  prometheus::Family<prometheus::Counter>& started() { return started_; }
  prometheus::Family<prometheus::Counter>& handled() { return handled_; }
  prometheus::Family<prometheus::Counter>& received() { return received_; }
  prometheus::Family<prometheus::Counter>& sent() { return sent_; }
  prometheus::Family<prometheus::Histogram>& handling_seconds() { return handling_seconds_; }
  // Streaming calls (client, server or bidirectional) open right now, by method: live subscriptions and write
  // streams hold a server's memory and threads far longer than unary calls do.
  prometheus::Family<prometheus::Gauge>& open_streams() { return open_streams_; }

 private:
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Counter>& received_;
  prometheus::Family<prometheus::Counter>& sent_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;
  prometheus::Family<prometheus::Gauge>& open_streams_;
};

}  // namespace parkbase
