#include "common/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"

#ifndef PARKBASE_VERSION
#define PARKBASE_VERSION "unknown"
#endif
#ifndef PARKBASE_REVISION
#define PARKBASE_REVISION "unknown"
#endif

namespace parkbase {
namespace {

// /proc/self/stat's fields after the command (which is in parentheses and may hold spaces): field 3 is index 0.
std::vector<std::string> StatFields() {
  std::ifstream file("/proc/self/stat");
  std::string line;
  std::getline(file, line);
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(line.substr(close + 2), ' ', absl::SkipEmpty());
}

double Field(const std::vector<std::string>& fields, size_t stat_field) {
  double value = 0;
  if (stat_field >= 3 && stat_field - 3 < fields.size()) (void)absl::SimpleAtod(fields[stat_field - 3], &value);
  return value;
}

double BootTimeSeconds() {
  std::ifstream file("/proc/stat");
  std::string key;
  double value = 0;
  while (file >> key) {
    if (key == "btime") {
      file >> value;
      return value;
    }
    std::string rest;
    std::getline(file, rest);
  }
  return 0;
}

double OpenFiles() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir itself holds
}

double MaxOpenFiles() {
  std::ifstream file("/proc/self/limits");
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::vector<std::string> words = absl::StrSplit(line.substr(14), ' ', absl::SkipEmpty());
    double value = 0;
    if (!words.empty() && absl::SimpleAtod(words[0], &value)) return value;
  }
  return 0;
}

prometheus::MetricFamily Family(const char* name, const char* help, prometheus::MetricType type, double value) {
  prometheus::MetricFamily family{name, help, type, {}};
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(metric);
  return family;
}

double StartTimeSeconds() {
  // Field 22: start time in clock ticks after boot.
  return BootTimeSeconds() + Field(StatFields(), 22) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

std::shared_ptr<ProcessMetrics> SharedProcessMetrics() {
  static const auto* const metrics = new std::shared_ptr<ProcessMetrics>(std::make_shared<ProcessMetrics>());
  return *metrics;
}

const char* BuildVersion() { return PARKBASE_VERSION; }
const char* BuildRevision() { return PARKBASE_REVISION; }

ProcessMetrics::ProcessMetrics() : start_time_seconds_(StartTimeSeconds()) {}

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  using prometheus::MetricType;
  const std::vector<std::string> stat = StatFields();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::vector<prometheus::MetricFamily> families;
  // Fields 14 and 15: user and system CPU time in clock ticks; 20: threads; 23: virtual memory in bytes; 24:
  // resident set in pages.
  families.push_back(Family("process_cpu_seconds_total", "User and system CPU time spent, seconds",
                            MetricType::Counter, (Field(stat, 14) + Field(stat, 15)) / ticks));
  families.push_back(Family("process_resident_memory_bytes", "Resident memory size, bytes", MetricType::Gauge,
                            Field(stat, 24) * page_size));
  families.push_back(
      Family("process_virtual_memory_bytes", "Virtual memory size, bytes", MetricType::Gauge, Field(stat, 23)));
  families.push_back(Family("process_threads", "Threads of the process", MetricType::Gauge, Field(stat, 20)));
  families.push_back(Family("process_open_fds", "Open file descriptors", MetricType::Gauge, OpenFiles()));
  families.push_back(Family("process_max_fds", "Limit of open file descriptors", MetricType::Gauge, MaxOpenFiles()));
  families.push_back(Family("process_start_time_seconds", "Start time of the process since the Unix epoch, seconds",
                            MetricType::Gauge, start_time_seconds_));
  prometheus::MetricFamily build = Family("parkbase_build_info", "The build answering: always 1, its version and git "
                                          "revision as labels", MetricType::Gauge, 1);
  build.metric.front().label = {{"revision", BuildRevision()}, {"version", BuildVersion()}};
  families.push_back(std::move(build));
  return families;
}

}  // namespace parkbase
