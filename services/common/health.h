// Serving status for grpc.health.v1. Each service names the dependencies it cannot work without; a background
// probe marks a service NOT_SERVING while any of them fails, and draining marks everything NOT_SERVING for good.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/health_check_service_interface.h"

namespace parkbase {

class HealthMonitor {
 public:
  using Probe = std::function<absl::Status()>;

  HealthMonitor() = default;
  ~HealthMonitor();

  void AddDependency(std::string name, Probe probe);
  // `service` is the full gRPC service name; `dependencies` are names given to AddDependency.
  void AddService(std::string service, std::vector<std::string> dependencies);
  // Health endpoints to keep up to date (the API server's and the optional plaintext health server's).
  void AddEndpoint(grpc::HealthCheckServiceInterface* endpoint);

  // Probes every dependency once and publishes the result. Returns whether everything is serving.
  bool CheckNow();
  void StartBackgroundProbes(absl::Duration interval);
  // NOT_SERVING everywhere from now on; probes stop.
  void Drain();

  // Last probe result of a dependency (OK before the first probe).
  absl::Status DependencyStatus(const std::string& name);

 private:
  absl::Mutex mu_;
  std::map<std::string, Probe> probes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> last_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::string>> services_ ABSL_GUARDED_BY(mu_);
  std::vector<grpc::HealthCheckServiceInterface*> endpoints_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  absl::Notification stop_;
  std::thread prober_;
};

}  // namespace parkbase
