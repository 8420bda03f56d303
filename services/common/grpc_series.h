// The call counters of every method, created at zero before the first call, as go-grpc-prometheus'
// InitializeMetrics does: without them a method's error ratio (handled with a code over handled) has no series
// until its first error, so alerts and dashboards answer "no data" exactly when everything is fine.
#pragma once

#include "common/metrics.h"
#include "google/protobuf/descriptor.h"

namespace parkbase {

// The grpc_type label of a method, from its proto declaration ("unary", "client_stream", "server_stream",
// "bidi_stream"), as go-grpc-prometheus names the kinds.
const char* GrpcTypeName(const google::protobuf::MethodDescriptor& method);

// grpc_server_started_total and one grpc_server_handled_total per status code, for each method of `service`.
void ZeroGrpcSeries(GrpcServerMetrics& metrics, const google::protobuf::ServiceDescriptor& service);

}  // namespace parkbase
