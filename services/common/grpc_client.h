// Small client helpers shared by the admin command line and the tests: channels from an address, a unary call on
// raw bytes (for methods whose stubs a binary does not link, such as grpc.health.v1), and the health check itself.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace parkbase {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, bool tls);

// TLS towards a server, from PEM text: the CAs to trust (empty: the system's) and, for mutual TLS, the client's
// certificate chain and key.
struct ClientTls {
  std::string root_certs;
  std::string cert_chain;
  std::string private_key;
};
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const ClientTls& tls);

// Calls `method` ("/pkg.Service/Method") with a serialized request and returns the serialized response.
absl::StatusOr<std::string> RawUnaryCall(grpc::Channel& channel, const std::string& method,
                                         const std::string& request, grpc::ClientContext& context);

enum class ServingStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// grpc.health.v1.Health/Check without credentials, as the kubelet's probe does. Values match
// grpc.health.v1.HealthCheckResponse.ServingStatus.
absl::StatusOr<ServingStatus> CheckHealth(grpc::Channel& channel, const std::string& service, absl::Duration timeout);

}  // namespace parkbase
