#include "common/process_metrics.h"

#include <atomic>
#include <ctime>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace parkbase {
namespace {

std::map<std::string, prometheus::MetricFamily> ByName(const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, prometheus::MetricFamily> by_name;
  for (const auto& family : families) by_name.emplace(family.name, family);
  return by_name;
}

double Value(const prometheus::MetricFamily& family) {
  REQUIRE(family.metric.size() == 1);
  return family.type == prometheus::MetricType::Counter ? family.metric[0].counter.value
                                                        : family.metric[0].gauge.value;
}

TEST_CASE("process metrics: memory, CPU, threads, files and start time of this process, and the build", "[unit]") {
  auto metrics = ByName(SharedProcessMetrics()->Collect());
  REQUIRE(metrics.count("process_resident_memory_bytes") == 1);
  CHECK(Value(metrics["process_resident_memory_bytes"]) > 1 << 20);
  CHECK(Value(metrics["process_virtual_memory_bytes"]) >= Value(metrics["process_resident_memory_bytes"]));
  CHECK(Value(metrics["process_open_fds"]) >= 3);  // at least stdin, stdout and stderr
  CHECK(Value(metrics["process_max_fds"]) >= Value(metrics["process_open_fds"]));
  const double now = static_cast<double>(std::time(nullptr));
  CHECK(Value(metrics["process_start_time_seconds"]) <= now + 1);
  CHECK(Value(metrics["process_start_time_seconds"]) > now - 24 * 3600);

  // A thread more is seen at the next collection, and CPU time only grows.
  const double threads = Value(metrics["process_threads"]);
  CHECK(threads >= 1);
  const double cpu = Value(metrics["process_cpu_seconds_total"]);
  std::atomic<bool> stop{false};
  std::thread busy([&stop] {
    volatile double sink = 0;
    const std::time_t until = std::time(nullptr) + 1;
    while (!stop && std::time(nullptr) <= until) sink = sink + 1;
  });
  auto during = ByName(SharedProcessMetrics()->Collect());
  CHECK(Value(during["process_threads"]) == threads + 1);
  stop = true;
  busy.join();
  auto after = ByName(SharedProcessMetrics()->Collect());
  CHECK(Value(after["process_cpu_seconds_total"]) >= cpu);
  CHECK(after["process_cpu_seconds_total"].type == prometheus::MetricType::Counter);

  const prometheus::MetricFamily& build = metrics["parkbase_build_info"];
  REQUIRE(build.metric.size() == 1);
  CHECK(build.metric[0].gauge.value == 1);
  std::map<std::string, std::string> labels;
  for (const auto& label : build.metric[0].label) labels[label.name] = label.value;
  CHECK(labels["version"] == BuildVersion());
  CHECK(labels["revision"] == BuildRevision());
  CHECK(std::string(BuildVersion()) != "unknown");
}

}  // namespace
}  // namespace parkbase
