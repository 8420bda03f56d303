// `parkbase gateway`: the one HTTP entry of a deployment whose services run apart. The services' paths share
// prefixes (/v1/tenants/... belongs to three of them), so a path-prefix Ingress cannot split them; the gateway
// routes every annotated method (common/http_gateway.h) and forwards it over gRPC to the service that owns it, with
// the caller's key and address. It holds no state and no database connection.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace parkbase {

// The services the gateway routes, by full name.
inline constexpr const char* kGatewayServices[] = {
    "parkbase.tenant.v1.TenantService", "parkbase.device.v1.DeviceService", "parkbase.telemetry.v1.TelemetryService",
    "parkbase.marketplace.v1.MarketplaceService"};

// Parses --gateway_backends: comma-separated `service=host:port`, the service by its short name (tenant, device,
// telemetry, marketplace) or full name, each at most once and at least one (a deployment without a service leaves it
// out, and its paths answer 404). Returns full name -> address.
absl::StatusOr<std::map<std::string, std::string>> ParseGatewayBackends(absl::string_view text);

// Runs the gateway from its flags until SIGTERM or SIGINT; the process's exit code.
int RunGateway();

}  // namespace parkbase
