#include "common/health.h"

#include "common/log.h"

namespace parkbase {

HealthMonitor::~HealthMonitor() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (prober_.joinable()) prober_.join();
}

void HealthMonitor::AddDependency(std::string name, Probe probe) {
  absl::MutexLock lock(&mu_);
  probes_[name] = std::move(probe);
}

void HealthMonitor::AddService(std::string service, std::vector<std::string> dependencies) {
  absl::MutexLock lock(&mu_);
  services_[std::move(service)] = std::move(dependencies);
}

void HealthMonitor::AddEndpoint(grpc::HealthCheckServiceInterface* endpoint) {
  absl::MutexLock lock(&mu_);
  endpoints_.push_back(endpoint);
}

bool HealthMonitor::CheckNow() {
  std::map<std::string, Probe> probes;
  {
    absl::MutexLock lock(&mu_);
    probes = probes_;
  }
  std::map<std::string, absl::Status> results;
  for (const auto& [name, probe] : probes) results[name] = probe();  // outside the lock: probes may block

  absl::MutexLock lock(&mu_);
  for (const auto& [name, status] : results) {
    const auto previous = last_.find(name);
    if (previous == last_.end() || previous->second.ok() != status.ok()) {
      LogLine(status.ok() ? LogLevel::kInfo : LogLevel::kWarning, "dependency health changed")
          .Str("dependency", name)
          .Str("status", status.ok() ? "SERVING" : std::string(status.message()))
          .Emit();
    }
    last_[name] = status;
  }
  if (draining_) return false;
  bool all_serving = true;
  for (const auto& [service, dependencies] : services_) {
    bool serving = true;
    for (const auto& dependency : dependencies) {
      const auto found = last_.find(dependency);
      if (found != last_.end() && !found->second.ok()) serving = false;
    }
    all_serving = all_serving && serving;
    for (auto* endpoint : endpoints_) endpoint->SetServingStatus(service, serving);
  }
  for (auto* endpoint : endpoints_) endpoint->SetServingStatus("", all_serving);
  return all_serving;
}

void HealthMonitor::StartBackgroundProbes(absl::Duration interval) {
  prober_ = std::thread([this, interval] {
    while (!stop_.WaitForNotificationWithTimeout(interval)) CheckNow();
  });
}

void HealthMonitor::Drain() {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    for (auto* endpoint : endpoints_) {
      endpoint->SetServingStatus("", false);
      for (const auto& [service, unused] : services_) endpoint->SetServingStatus(service, false);
    }
  }
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (prober_.joinable()) prober_.join();
}

absl::Status HealthMonitor::DependencyStatus(const std::string& name) {
  absl::MutexLock lock(&mu_);
  const auto found = last_.find(name);
  return found == last_.end() ? absl::OkStatus() : found->second;
}

}  // namespace parkbase
