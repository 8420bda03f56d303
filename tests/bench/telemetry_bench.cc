// The telemetry ingest benchmark, in two modes.
//
// --mode=burst (the default): the same 1M points (1,000 devices x 10 metrics x 100 timestamps, values uniform
// 3-decimal numbers in [20, 25), fixed seed) sent in 10 batches of 100,000 points in time order, as gateways send
// them (each batch holds 10 consecutive timestamps of every device and metric), to three systems in one run:
//   1. VictoriaMetrics over Influx line protocol (/write, one line per device and timestamp with 10 fields, the
//      shape a gateway sends), serially, one HTTP/1.1 POST a batch;
//   2. PostgreSQL binary COPY, one row a point, one COPY and commit a batch (with a primary key, then without);
//   3. Parkbase through its public gRPC API: WriteStream with the columnar Series form, a few batches in flight,
//      timed from the first send to the last acknowledgement (acknowledged only after commit).
// Then Parkbase's on-disk bytes a point once the compactor has emptied the ingest log, and query latencies
// (GetLatest of 100 devices, Aggregate of one day in 1-minute buckets). scripts/bench.sh ingest starts everything
// and runs this program.
//
// --mode=sustained: 30M points (1,000 devices x 10 metrics x 3,000 timestamps, 300 batches) into VictoriaMetrics
// and Parkbase only, with equal concurrency: VictoriaMetrics gets as many connections as Parkbase has batches in
// flight (each connection POSTs its share of the batches in time order). Parkbase's WriteStream honours
// back-pressure: a batch answered RESOURCE_EXHAUSTED is sent again after its RetryInfo delay (counted). Reported
// for Parkbase besides the acknowledged rate: the sustained rate (points / first send to an empty ingest log and
// every window rolled up), the peak backlog of the ingest log (sampled every 100 ms) and bytes a point after compaction and a plain VACUUM.
//
// In both modes the last line is `parkbase-ingest points/s=<acknowledged> sustained/s=<N> bytes/point=<B>`.
//
// Every payload (protobuf messages, line-protocol bodies, COPY buffers) is built before its clock starts, so the
// figures measure transport and storage, not the generator.
#include <fcntl.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "parkbase/tenant/v1/tenant.grpc.pb.h"

ABSL_FLAG(std::string, mode, "burst",
          "burst: 1M points into VictoriaMetrics (one connection), PostgreSQL COPY and Parkbase, with query latencies; "
          "sustained: 30M points into VictoriaMetrics and Parkbase at equal concurrency, with Parkbase's backlog");
ABSL_FLAG(std::string, phases, "",
          "Comma-separated phases to run: vm, copy, parkbase (default: all in burst mode, vm,parkbase in sustained)");
ABSL_FLAG(int, vm_connections, 0,
          "Concurrent VictoriaMetrics connections, each POSTing its share of the batches in time order (0: 1 in "
          "burst mode, --in_flight in sustained mode)");
ABSL_FLAG(std::string, address, "", "Parkbase gRPC address (host:port)");
ABSL_FLAG(std::string, key, "", "A park-admin API key");
ABSL_FLAG(std::string, database_url, "",
          "Superuser URL of Parkbase's database: waits for compaction and measures table sizes (bypasses RLS)");
ABSL_FLAG(std::string, copy_database_url, "", "Superuser URL of a scratch database for the PostgreSQL COPY baseline");
ABSL_FLAG(std::string, vm_address, "", "VictoriaMetrics host:port; empty skips it");
ABSL_FLAG(std::string, vm_data_dir, "", "VictoriaMetrics -storageDataPath, for its size on disk");
ABSL_FLAG(std::string, vm_missing_reason, "", "Printed instead of VictoriaMetrics' figures when it was not started");
ABSL_FLAG(std::string, vm_version, "", "VictoriaMetrics' version, for the report (e.g. the Debian package's)");
ABSL_FLAG(int, server_pid, 0, "Parkbase server pid: CPU time and memory per phase (0: not reported)");
ABSL_FLAG(int, postgres_pid, 0, "PostgreSQL postmaster pid: CPU time of it and its children per phase");
ABSL_FLAG(int, vm_pid, 0, "VictoriaMetrics pid: CPU time and memory per phase");
ABSL_FLAG(int, devices, 1000, "Devices");
ABSL_FLAG(int, metrics, 10, "DOUBLE metrics a device");
ABSL_FLAG(int, timestamps, 0, "Timestamps (1 s apart) of every device and metric (0: 100 in burst mode, 3,000 in "
          "sustained mode)");
ABSL_FLAG(int, batch_timestamps, 10, "Timestamps a batch (a batch holds them for every device and metric)");
ABSL_FLAG(int, in_flight, 4, "Parkbase WriteStream batches sent ahead of their acknowledgement");
ABSL_FLAG(int, latest_calls, 200, "GetLatest calls for the latency figures");
ABSL_FLAG(int, aggregate_calls, 50, "Aggregate calls for the latency figures");
ABSL_FLAG(int, compaction_timeout_s, 1800, "Longest wait for the compactor to empty the ingest log");
ABSL_FLAG(int, max_retries, 10000, "Most back-pressure resends of Parkbase batches before the run fails");
ABSL_FLAG(uint64_t, seed, 20240601, "Seed of the values");

namespace parkbase::bench {
namespace {

namespace devicepb = ::parkbase::device::v1;
namespace telemetrypb = ::parkbase::telemetry::v1;
namespace tenantpb = ::parkbase::tenant::v1;

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "telemetry_bench: %s\n", message.c_str());
  std::fflush(stdout);
  std::exit(1);
}

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) Fail(absl::StrCat(what, " failed: ", status.error_code(), " ", status.error_message()));
}

using Clock = std::chrono::steady_clock;
double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

bool Sustained() { return absl::GetFlag(FLAGS_mode) == "sustained"; }

std::string LoadAverage() {
  std::string load;
  std::getline(std::ifstream("/proc/loadavg"), load);
  const std::vector<std::string> averages = absl::StrSplit(load, ' ');  // 1, 5 and 15 minutes, then others
  return absl::StrJoin(averages.begin(), averages.begin() + std::min<size_t>(3, averages.size()), " ");
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = static_cast<size_t>(std::ceil(p / 100.0 * values.size())) - 1;
  return values[std::min(index, values.size() - 1)];
}

std::string Thousands(double value) {
  std::string digits = absl::StrCat(static_cast<int64_t>(std::llround(value)));
  std::string out;
  const size_t lead = digits.size() % 3;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (i + 3 - lead) % 3 == 0 && digits[i - 1] != '-') out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The data set.

struct DataSet {
  int devices = 0;
  int metrics = 0;
  int timestamps = 0;
  int batch_timestamps = 0;
  int64_t base_ms = 0;          // the first timestamp, on a whole hour
  std::vector<int32_t> milli;   // value * 1000, indexed [t][device][metric]

  int64_t points() const { return int64_t{devices} * metrics * timestamps; }
  int batches() const { return timestamps / batch_timestamps; }
  int64_t points_per_batch() const { return int64_t{devices} * metrics * batch_timestamps; }
  int64_t time_ms(int t) const { return base_ms + int64_t{t} * 1000; }
  int32_t Milli(int t, int d, int m) const {
    return milli[(static_cast<size_t>(t) * devices + d) * metrics + m];
  }
  // k / 1000.0 is the double nearest to the 3-decimal number, the same as std::round(x * 1000) / 1000.
  double Value(int t, int d, int m) const { return Milli(t, d, m) / 1000.0; }
  std::string DeviceId(int d) const { return absl::StrFormat("d%04d", d); }
  std::string Metric(int m) const { return absl::StrCat("m", m); }
};

DataSet MakeDataSet() {
  DataSet data;
  data.devices = absl::GetFlag(FLAGS_devices);
  data.metrics = absl::GetFlag(FLAGS_metrics);
  data.timestamps = absl::GetFlag(FLAGS_timestamps);
  if (data.timestamps == 0) data.timestamps = Sustained() ? 3000 : 100;
  data.batch_timestamps = absl::GetFlag(FLAGS_batch_timestamps);
  if (data.devices < 100 || data.devices > 9999 || data.metrics < 1 || data.batch_timestamps < 1 ||
      data.timestamps % data.batch_timestamps != 0) {
    Fail("need 100..9999 devices, >= 1 metric, and timestamps a multiple of batch_timestamps");
  }
  // About two hours ago, on a whole hour: inside any retention, never in the future.
  const int64_t now_s = absl::ToUnixSeconds(absl::Now());
  data.base_ms = (now_s / 3600 * 3600 - 2 * 3600) * 1000;
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  std::uniform_int_distribution<int32_t> dist(20'000, 24'999);  // [20, 25) in steps of 0.001
  data.milli.resize(static_cast<size_t>(data.points()));
  for (auto& v : data.milli) v = dist(rng);
  return data;
}

// ---------------------------------------------------------------------------------------------------------------
// CPU time and memory of the processes involved, from /proc.

int64_t ClockTicksPerSecond() { return sysconf(_SC_CLK_TCK); }

// utime + stime (+ cutime + cstime of reaped children when `with_reaped`) in seconds; nullopt if gone.
std::optional<double> ProcessCpuSeconds(int pid, bool with_reaped, int* ppid = nullptr) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<std::string> fields = absl::StrSplit(line.substr(close + 2), ' ');
  if (fields.size() < 15) return std::nullopt;
  // fields[0] is stat's field 3 (state): ppid 4, utime 14, stime 15, cutime 16, cstime 17.
  auto at = [&](int field) {
    int64_t v = 0;
    (void)absl::SimpleAtoi(fields[field - 3], &v);
    return v;
  };
  if (ppid != nullptr) *ppid = static_cast<int>(at(4));
  int64_t ticks = at(14) + at(15);
  if (with_reaped) ticks += at(16) + at(17);
  return static_cast<double>(ticks) / ClockTicksPerSecond();
}

// A process and, for the postmaster, the children it forked (backends, checkpointer, WAL writer, autovacuum).
double TreeCpuSeconds(int pid) {
  double total = ProcessCpuSeconds(pid, /*with_reaped=*/true).value_or(0);
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    int child = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &child)) continue;
    int ppid = 0;
    auto cpu = ProcessCpuSeconds(child, false, &ppid);
    if (cpu && ppid == pid) total += *cpu;
  }
  return total;
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// VmRSS / VmHWM in MiB, or "-" when the process is unknown.
std::string Memory(int pid) {
  if (pid <= 0) return "-";
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string name;
  int64_t rss = -1, hwm = -1;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    int64_t kib = 0;
    if (!(fields >> name >> kib)) continue;
    if (name == "VmRSS:") rss = kib;
    if (name == "VmHWM:") hwm = kib;
  }
  if (rss < 0) return "-";
  return absl::StrFormat("%.0f MiB now, %.0f MiB peak", rss / 1024.0, hwm / 1024.0);
}

struct CpuSample {
  double client = 0, server = 0, postgres = 0, vm = 0;
};

CpuSample SampleCpu() {
  CpuSample s;
  s.client = SelfCpuSeconds();
  if (int pid = absl::GetFlag(FLAGS_server_pid); pid > 0) s.server = ProcessCpuSeconds(pid, true).value_or(0);
  if (int pid = absl::GetFlag(FLAGS_postgres_pid); pid > 0) s.postgres = TreeCpuSeconds(pid);
  if (int pid = absl::GetFlag(FLAGS_vm_pid); pid > 0) s.vm = ProcessCpuSeconds(pid, true).value_or(0);
  return s;
}

// One timed phase: wall time and the CPU seconds each process spent in it.
struct Phase {
  std::string name;
  double wall = 0;
  CpuSample cpu;
};

class PhaseTimer {
 public:
  explicit PhaseTimer(std::string name) : name_(std::move(name)), cpu_(SampleCpu()), start_(Clock::now()) {}
  Phase Stop() const {
    Phase phase{name_, SecondsSince(start_), SampleCpu()};
    phase.cpu.client -= cpu_.client;
    phase.cpu.server -= cpu_.server;
    phase.cpu.postgres -= cpu_.postgres;
    phase.cpu.vm -= cpu_.vm;
    return phase;
  }

 private:
  std::string name_;
  CpuSample cpu_;
  Clock::time_point start_;
};

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL through libpq (the COPY baseline and the size measurements).

class Pg {
 public:
  explicit Pg(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) Fail(absl::StrCat("connect to PostgreSQL: ", PQerrorMessage(conn_)));
  }
  ~Pg() { PQfinish(conn_); }
  Pg(const Pg&) = delete;
  Pg& operator=(const Pg&) = delete;

  void Exec(const std::string& sql) {
    PGresult* result = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const std::string error = PQresultErrorMessage(result);
      PQclear(result);
      Fail(absl::StrCat(sql, ": ", error));
    }
    PQclear(result);
  }

  // Rows of text values.
  std::vector<std::vector<std::string>> Query(const std::string& sql) {
    PGresult* result = PQexec(conn_, sql.c_str());
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
      const std::string error = PQresultErrorMessage(result);
      PQclear(result);
      Fail(absl::StrCat(sql, ": ", error));
    }
    std::vector<std::vector<std::string>> rows(PQntuples(result));
    for (int r = 0; r < PQntuples(result); ++r) {
      for (int c = 0; c < PQnfields(result); ++c) rows[r].emplace_back(PQgetvalue(result, r, c));
    }
    PQclear(result);
    return rows;
  }

  int64_t QueryInt(const std::string& sql) {
    auto rows = Query(sql);
    int64_t v = 0;
    if (rows.empty() || rows[0].empty() || !absl::SimpleAtoi(rows[0][0], &v)) Fail(absl::StrCat(sql, ": no integer"));
    return v;
  }

  // COPY ... FROM STDIN with `data` as its whole input, in autocommit: one transaction, one commit.
  void Copy(const std::string& copy_sql, const std::string& data) {
    PGresult* result = PQexec(conn_, copy_sql.c_str());
    if (PQresultStatus(result) != PGRES_COPY_IN) Fail(absl::StrCat(copy_sql, ": ", PQresultErrorMessage(result)));
    PQclear(result);
    constexpr size_t kPiece = 1 << 20;
    for (size_t offset = 0; offset < data.size(); offset += kPiece) {
      const size_t n = std::min(kPiece, data.size() - offset);
      if (PQputCopyData(conn_, data.data() + offset, static_cast<int>(n)) != 1) {
        Fail(absl::StrCat("PQputCopyData: ", PQerrorMessage(conn_)));
      }
    }
    if (PQputCopyEnd(conn_, nullptr) != 1) Fail(absl::StrCat("PQputCopyEnd: ", PQerrorMessage(conn_)));
    while ((result = PQgetResult(conn_)) != nullptr) {
      if (PQresultStatus(result) != PGRES_COMMAND_OK) Fail(absl::StrCat("COPY: ", PQresultErrorMessage(result)));
      PQclear(result);
    }
  }

 private:
  PGconn* conn_;
};

// ---------------------------------------------------------------------------------------------------------------
// Phase: PostgreSQL binary COPY, one row a point.

void PutBE16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
void PutBE32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
void PutBE64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

// One batch as binary COPY input: header, (device_id, metric, time, value) a point, trailer.
std::string CopyBatch(const DataSet& data, int batch) {
  constexpr int64_t kPgEpochMicros = 946'684'800'000'000;  // 2000-01-01 in Unix microseconds
  std::string out;
  out.reserve(static_cast<size_t>(data.points_per_batch()) * 48 + 32);
  out.append("PGCOPY\n\377\r\n\0", 11);
  PutBE32(out, 0);  // flags
  PutBE32(out, 0);  // header extension length
  std::vector<std::string> devices(data.devices), metrics(data.metrics);
  for (int d = 0; d < data.devices; ++d) devices[d] = data.DeviceId(d);
  for (int m = 0; m < data.metrics; ++m) metrics[m] = data.Metric(m);
  for (int t = batch * data.batch_timestamps; t < (batch + 1) * data.batch_timestamps; ++t) {
    const int64_t micros = data.time_ms(t) * 1000 - kPgEpochMicros;
    for (int d = 0; d < data.devices; ++d) {
      for (int m = 0; m < data.metrics; ++m) {
        PutBE16(out, 4);
        PutBE32(out, static_cast<uint32_t>(devices[d].size()));
        out.append(devices[d]);
        PutBE32(out, static_cast<uint32_t>(metrics[m].size()));
        out.append(metrics[m]);
        PutBE32(out, 8);
        PutBE64(out, static_cast<uint64_t>(micros));
        PutBE32(out, 8);
        uint64_t bits = 0;
        const double value = data.Value(t, d, m);
        std::memcpy(&bits, &value, sizeof bits);
        PutBE64(out, bits);
      }
    }
  }
  PutBE16(out, 0xFFFF);
  return out;
}

struct IngestResult {
  bool ran = false;
  std::string skipped_reason;
  double seconds = 0;
  double points_per_second = 0;
  double bytes_per_point = 0;
  std::vector<double> batch_seconds;  // per batch: send (or COPY start) to acknowledgement
  std::string size_detail;
  double settle_seconds = 0;  // VictoriaMetrics: from force_flush until everything was on disk
  int connections = 1;        // VictoriaMetrics: concurrent connections
};

int VmConnections() {
  const int flag = absl::GetFlag(FLAGS_vm_connections);
  if (flag > 0) return flag;
  return Sustained() ? absl::GetFlag(FLAGS_in_flight) : 1;
}

IngestResult RunCopy(const DataSet& data, Pg& pg, const std::string& table, bool primary_key,
                     const std::vector<std::string>& batches, std::vector<Phase>& phases) {
  pg.Exec(absl::StrCat("DROP TABLE IF EXISTS ", table));
  pg.Exec(absl::StrCat("CREATE TABLE ", table,
                       " (device_id text NOT NULL, metric text NOT NULL, time timestamptz NOT NULL, value double "
                       "precision NOT NULL",
                       primary_key ? ", PRIMARY KEY (device_id, metric, time))" : ")"));
  pg.Exec("CHECKPOINT");  // start every PostgreSQL measurement from the same state
  const std::string copy_sql = absl::StrCat("COPY ", table, " (device_id, metric, time, value) FROM STDIN (FORMAT binary)");
  IngestResult result;
  result.ran = true;
  PhaseTimer timer(absl::StrCat("COPY into ", table));
  const auto start = Clock::now();
  for (const std::string& batch : batches) {
    const auto batch_start = Clock::now();
    pg.Copy(copy_sql, batch);
    result.batch_seconds.push_back(SecondsSince(batch_start));
  }
  result.seconds = SecondsSince(start);
  phases.push_back(timer.Stop());
  result.points_per_second = data.points() / result.seconds;
  const int64_t rows = pg.QueryInt(absl::StrCat("SELECT count(*) FROM ", table));
  if (rows != data.points()) Fail(absl::StrCat(table, " holds ", rows, " rows, expected ", data.points()));
  auto sizes = pg.Query(absl::StrCat("SELECT pg_total_relation_size('", table, "'), pg_relation_size('", table,
                                     "'), pg_indexes_size('", table, "')"));
  int64_t total = 0, heap = 0, indexes = 0;
  (void)absl::SimpleAtoi(sizes[0][0], &total);
  (void)absl::SimpleAtoi(sizes[0][1], &heap);
  (void)absl::SimpleAtoi(sizes[0][2], &indexes);
  result.bytes_per_point = static_cast<double>(total) / data.points();
  result.size_detail = absl::StrFormat("heap %.1f MB, indexes %.1f MB", heap / 1e6, indexes / 1e6);
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Phase: VictoriaMetrics over Influx line protocol, through a small HTTP/1.1 client on a POSIX socket.

class HttpConnection {
 public:
  explicit HttpConnection(const std::string& host_port) : host_port_(host_port) {
    std::pair<std::string, std::string> hp = absl::StrSplit(host_port, absl::MaxSplits(':', 1));
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(hp.first.c_str(), hp.second.c_str(), &hints, &found) != 0 || found == nullptr) {
      Fail(absl::StrCat("cannot resolve ", host_port));
    }
    fd_ = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (fd_ < 0 || connect(fd_, found->ai_addr, found->ai_addrlen) != 0) {
      freeaddrinfo(found);
      Fail(absl::StrCat("connect to ", host_port, ": ", std::strerror(errno)));
    }
    freeaddrinfo(found);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~HttpConnection() {
    if (fd_ >= 0) close(fd_);
  }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  struct Response {
    int status = 0;
    std::string body;
  };

  // Sends one request and reads its whole response (Content-Length or chunked), keeping the connection open.
  Response Send(const std::string& method, const std::string& path, const std::string& body) {
    const std::string head = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", host_port_,
                                          "\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
                                          "\r\nConnection: keep-alive\r\n\r\n");
    WriteAll(head.data(), head.size(), body.data(), body.size());
    Response response;
    const std::string status_line = ReadLine();
    std::vector<std::string> parts = absl::StrSplit(status_line, ' ');
    if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &response.status)) Fail("bad HTTP status line: " + status_line);
    int64_t content_length = -1;
    bool chunked = false;
    for (std::string line; !(line = ReadLine()).empty();) {
      const std::string lower = absl::AsciiStrToLower(line);
      if (absl::StartsWith(lower, "content-length:")) {
        (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(lower.substr(15)), &content_length);
      } else if (absl::StartsWith(lower, "transfer-encoding:") && absl::StrContains(lower, "chunked")) {
        chunked = true;
      }
    }
    if (chunked) {
      for (;;) {
        int64_t size = 0;
        const std::string size_line = ReadLine();
        if (!absl::SimpleHexAtoi(std::string(absl::StripAsciiWhitespace(size_line.substr(0, size_line.find(';')))),
                                 &size)) {
          Fail("bad chunk size: " + size_line);
        }
        if (size == 0) {
          while (!ReadLine().empty()) {
          }
          break;
        }
        response.body += ReadBytes(static_cast<size_t>(size));
        ReadLine();
      }
    } else if (content_length > 0) {
      response.body = ReadBytes(static_cast<size_t>(content_length));
    }
    return response;
  }

 private:
  void WriteAll(const char* a, size_t a_size, const char* b, size_t b_size) {
    iovec parts[2] = {{const_cast<char*>(a), a_size}, {const_cast<char*>(b), b_size}};
    iovec* iov = parts;
    int count = 2;
    while (count > 0) {
      const ssize_t n = writev(fd_, iov, count);
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail(absl::StrCat("HTTP write: ", std::strerror(errno)));
      }
      size_t left = static_cast<size_t>(n);
      while (count > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        ++iov;
        --count;
      }
      if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
  }
  bool Fill() {
    char chunk[16384];
    for (;;) {
      const ssize_t n = read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
      return true;
    }
  }
  std::string ReadLine() {
    size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      if (!Fill()) Fail("HTTP connection closed");
    }
    std::string line = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    return line;
  }
  std::string ReadBytes(size_t n) {
    while (buffer_.size() < n) {
      if (!Fill()) Fail("HTTP connection closed");
    }
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
  }

  std::string host_port_;
  int fd_ = -1;
  std::string buffer_;
};

// One batch in line protocol: a line per device and timestamp, `sensor,device=dNNNN m0=..,m1=..,... <ms>`, which
// VictoriaMetrics stores as the series sensor_m0{device="dNNNN"} ... sensor_m9{...}.
std::string LineProtocolBatch(const DataSet& data, int batch) {
  std::string out;
  out.reserve(static_cast<size_t>(data.points_per_batch()) * 14);
  char buf[32];
  for (int t = batch * data.batch_timestamps; t < (batch + 1) * data.batch_timestamps; ++t) {
    const std::string time = absl::StrCat(data.time_ms(t));
    for (int d = 0; d < data.devices; ++d) {
      absl::StrAppend(&out, "sensor,device=", data.DeviceId(d), " ");
      for (int m = 0; m < data.metrics; ++m) {
        const int32_t k = data.Milli(t, d, m);
        const int len = std::snprintf(buf, sizeof buf, "%s%s=%d.%03d", m == 0 ? "" : ",", data.Metric(m).c_str(),
                                      k / 1000, k % 1000);
        out.append(buf, static_cast<size_t>(len));
      }
      absl::StrAppend(&out, " ", time, "\n");
    }
  }
  return out;
}

// du's figure: allocated blocks of every file under `dir`; also the files' apparent size.
std::pair<int64_t, int64_t> DiskUsage(const std::filesystem::path& dir) {
  int64_t blocks = 0, apparent = 0;
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, error);
       it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (error) break;
    struct stat st{};
    if (lstat(it->path().c_str(), &st) != 0) continue;
    blocks += static_cast<int64_t>(st.st_blocks) * 512;
    if (S_ISREG(st.st_mode)) apparent += st.st_size;
  }
  return {blocks, apparent};
}

IngestResult RunVictoriaMetrics(const DataSet& data, std::vector<Phase>& phases) {
  IngestResult result;
  const std::string address = absl::GetFlag(FLAGS_vm_address);
  if (address.empty()) {
    result.skipped_reason = absl::GetFlag(FLAGS_vm_missing_reason);
    if (result.skipped_reason.empty()) result.skipped_reason = "no --vm_address";
    return result;
  }
  std::vector<std::string> bodies;
  for (int b = 0; b < data.batches(); ++b) bodies.push_back(LineProtocolBatch(data, b));
  // Connection c sends batches c, c + n, c + 2n, ... in that order, so together they move forward in time.
  const int connections = std::max(1, std::min(VmConnections(), data.batches()));
  std::vector<std::unique_ptr<HttpConnection>> http;
  for (int c = 0; c < connections; ++c) http.push_back(std::make_unique<HttpConnection>(address));
  result.ran = true;
  result.connections = connections;
  result.batch_seconds.assign(bodies.size(), 0);
  PhaseTimer timer(connections == 1 ? "VictoriaMetrics /write"
                                    : absl::StrCat("VictoriaMetrics /write, ", connections, " connections"));
  const auto start = Clock::now();
  std::vector<std::thread> senders;
  for (int c = 0; c < connections; ++c) {
    senders.emplace_back([&, c] {
      for (size_t b = static_cast<size_t>(c); b < bodies.size(); b += static_cast<size_t>(connections)) {
        const auto batch_start = Clock::now();
        auto response = http[c]->Send("POST", "/write?precision=ms", bodies[b]);
        if (response.status / 100 != 2) {
          Fail(absl::StrCat("VictoriaMetrics /write: HTTP ", response.status, " ", response.body));
        }
        result.batch_seconds[b] = SecondsSince(batch_start);
      }
    });
  }
  for (std::thread& sender : senders) sender.join();
  result.seconds = SecondsSince(start);
  phases.push_back(timer.Stop());
  result.points_per_second = data.points() / result.seconds;
  bodies.clear();
  bodies.shrink_to_fit();
  HttpConnection& control = *http[0];

  // Size on disk once the data has settled: force_flush makes the buffered rows searchable, but VictoriaMetrics
  // 1.79 keeps fresh parts in memory for a few seconds before it writes them, so wait at least 10 s and until du
  // has not changed for 3 s.
  auto flushed = control.Send("GET", "/internal/force_flush", "");
  if (flushed.status / 100 != 2) Fail(absl::StrCat("VictoriaMetrics /internal/force_flush: HTTP ", flushed.status));
  const std::string dir = absl::GetFlag(FLAGS_vm_data_dir);
  const auto settle_start = Clock::now();
  int64_t last_du = -1;
  int unchanged = 0;
  while (!dir.empty()) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const int64_t du = DiskUsage(dir).first;
    unchanged = du == last_du ? unchanged + 1 : 0;
    last_du = du;
    if (unchanged >= 3 && SecondsSince(settle_start) >= 10) break;
    if (SecondsSince(settle_start) > 120) {
      std::fprintf(stderr, "warning: VictoriaMetrics' data folder still changes after 120 s\n");
      break;
    }
  }
  result.settle_seconds = SecondsSince(settle_start);
  // The points it holds, to be sure every line counted.
  auto counted = control.Send(
      "GET",
      absl::StrCat("/api/v1/query?query=sum(count_over_time(%7B__name__%3D~%22sensor_.*%22%7D%5B1h%5D))&time=",
                   (data.time_ms(data.timestamps - 1) + 1000) / 1000),
      "");
  if (!absl::StrContains(counted.body, absl::StrCat("\"", data.points(), "\""))) {
    std::fprintf(stderr, "warning: VictoriaMetrics' point count does not read %lld: %s\n",
                 static_cast<long long>(data.points()), counted.body.c_str());
  }
  if (!dir.empty()) {
    auto [blocks, apparent] = DiskUsage(dir);
    result.bytes_per_point = static_cast<double>(blocks) / data.points();
    std::vector<std::string> parts;
    for (const char* sub : {"data", "indexdb"}) {
      auto [b, a] = DiskUsage(std::filesystem::path(dir) / sub);
      parts.push_back(absl::StrFormat("%s %.2f MB", sub, b / 1e6));
    }
    result.size_detail = absl::StrFormat("du %.2f MB (%s; apparent size %.2f MB = %.2f B/point)", blocks / 1e6,
                                         absl::StrJoin(parts, ", "), apparent / 1e6,
                                         static_cast<double>(apparent) / data.points());
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Phase: Parkbase through its public gRPC API.

std::unique_ptr<grpc::ClientContext> Context(const std::string& key, absl::Duration deadline = absl::Seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", key));
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return context;
}

struct Tenant {
  std::string parent;
  std::string key;
};

// A fresh tenant with a quota far above the benchmark's rate, a developer-capable key, a device type with the
// DOUBLE metrics, and the devices (imported in one call, with the ids the data set uses).
Tenant SetUpTenant(const std::shared_ptr<grpc::Channel>& channel, const std::string& admin_key, const DataSet& data) {
  auto tenants = tenantpb::TenantService::NewStub(channel);
  const std::string tenant_id = absl::StrCat("bench-", absl::ToUnixSeconds(absl::Now()));
  Tenant tenant{absl::StrCat("tenants/", tenant_id), ""};
  {
    tenantpb::CreateTenantRequest request;
    request.set_tenant_id(tenant_id);
    request.mutable_tenant()->set_display_name("Telemetry benchmark");
    request.mutable_tenant()->set_plan(tenantpb::PLAN_ENTERPRISE);
    request.mutable_tenant()->mutable_quota()->set_max_ingest_points_per_second(100'000'000);
    request.mutable_tenant()->mutable_quota()->set_max_devices(100'000);
    request.mutable_tenant()->mutable_quota()->set_retention_days(30);
    tenantpb::Tenant created;
    Check(tenants->CreateTenant(Context(admin_key).get(), request, &created), "CreateTenant");
  }
  {
    tenantpb::CreateApiKeyRequest request;
    request.set_parent(tenant.parent);
    request.mutable_api_key()->set_display_name("telemetry benchmark");
    request.mutable_api_key()->set_role(tenantpb::ROLE_TENANT_ADMIN);
    tenantpb::CreateApiKeyResponse response;
    Check(tenants->CreateApiKey(Context(admin_key).get(), request, &response), "CreateApiKey");
    tenant.key = response.secret();
  }
  auto devices = devicepb::DeviceService::NewStub(channel);
  {
    devicepb::CreateDeviceTypeRequest request;
    request.set_parent(tenant.parent);
    request.set_device_type_id("sensor");
    request.mutable_device_type()->set_display_name("Sensor");
    for (int m = 0; m < data.metrics; ++m) {
      auto* metric = request.mutable_device_type()->add_metrics();
      metric->set_name(data.Metric(m));
      metric->set_unit("Cel");
      metric->set_value_type(devicepb::VALUE_TYPE_DOUBLE);
    }
    devicepb::DeviceType type;
    Check(devices->CreateDeviceType(Context(tenant.key).get(), request, &type), "CreateDeviceType");
  }
  {
    auto context = Context(tenant.key, absl::Minutes(5));
    devicepb::ImportDevicesResponse response;
    auto writer = devices->ImportDevices(context.get(), &response);
    devicepb::ImportDevicesRequest message;
    message.set_parent(tenant.parent);
    for (int d = 0; d < data.devices; ++d) {
      devicepb::Device* device = message.add_devices();
      device->set_device_id(data.DeviceId(d));
      device->set_device_type_id("sensor");
      device->set_serial_number(absl::StrCat("BENCH-", data.DeviceId(d)));
    }
    writer->Write(message);
    writer->WritesDone();
    Check(writer->Finish(), "ImportDevices");
    if (response.created_count() != data.devices) {
      Fail(absl::StrCat("ImportDevices created ", response.created_count(), " of ", data.devices, " devices"));
    }
  }
  return tenant;
}

// What StreamBatches measured.
struct StreamResult {
  std::vector<double> batch_seconds;  // per batch: first send to its accepted acknowledgement
  double seconds = 0;                 // first send to the last accepted acknowledgement
  int64_t retries = 0;                // batches sent again after RESOURCE_EXHAUSTED (back-pressure or quota)
  double retry_wait_seconds = 0;      // sum of the RetryInfo delays honoured
};

// RetryInfo's delay in a refused batch's answer, or 1 s when it has none.
std::chrono::milliseconds RetryDelay(const google::rpc::Status& error) {
  for (const auto& any : error.details()) {
    google::rpc::RetryInfo retry;
    if (any.UnpackTo(&retry)) {
      return std::chrono::milliseconds(retry.retry_delay().seconds() * 1000 + retry.retry_delay().nanos() / 1'000'000);
    }
  }
  return std::chrono::milliseconds(1000);
}

// Sends `requests` on one WriteStream with up to `in_flight` unacknowledged, as a gateway that honours
// back-pressure would: a batch answered RESOURCE_EXHAUSTED is sent again (same batch id) once its RetryInfo delay
// has passed, before newer batches; any other refusal fails the run. Answers come in the order batches were sent.
StreamResult StreamBatches(telemetrypb::TelemetryService::Stub& stub, const std::string& key,
                           const std::vector<telemetrypb::WriteRequest>& requests, int in_flight) {
  auto context = Context(key, absl::Minutes(60));
  StreamResult result;
  std::vector<Clock::time_point> first_sent(requests.size()), acked(requests.size());
  std::mutex mu;
  std::condition_variable cv;
  std::deque<size_t> outstanding;                            // sent, not yet answered, in send order
  std::deque<std::pair<Clock::time_point, size_t>> retries;  // due time, batch
  size_t accepted = 0;
  std::string failure;
  bool read_ended = false;  // the server ended the stream: Finish has its status, nothing to cancel
  const int64_t max_retries = absl::GetFlag(FLAGS_max_retries);
  const auto start = Clock::now();
  auto stream = stub.WriteStream(context.get());
  std::thread reader([&] {
    telemetrypb::WriteResponse response;
    for (;;) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return !outstanding.empty() || accepted == requests.size() || !failure.empty(); });
        if (outstanding.empty()) break;
      }
      if (!stream->Read(&response)) {
        std::lock_guard lock(mu);
        if (failure.empty()) failure = absl::StrCat("stream ended after ", accepted, " accepted batches");
        read_ended = true;
        cv.notify_all();
        break;
      }
      const auto now = Clock::now();
      std::lock_guard lock(mu);
      const size_t i = outstanding.front();
      outstanding.pop_front();
      int64_t expected = 0;
      for (const auto& series : requests[i].series()) expected += series.timestamps_ms_size();
      std::string problem;
      if (response.batch_id() != requests[i].batch_id()) {
        problem = absl::StrCat("answer for batch ", requests[i].batch_id(), " names ", response.batch_id());
      } else if (response.has_error() && response.error().code() == grpc::RESOURCE_EXHAUSTED) {
        const auto delay = RetryDelay(response.error());
        result.retry_wait_seconds += std::chrono::duration<double>(delay).count();
        if (++result.retries > max_retries) {
          problem = absl::StrCat("more than ", max_retries, " resends; last refusal: ", response.error().message());
        }
        retries.emplace_back(now + delay, i);
      } else if (response.has_error()) {
        problem = absl::StrCat("batch ", i, " refused: code ", response.error().code(), " ", response.error().message());
      } else if (response.accepted_points() != expected) {
        problem = absl::StrCat("batch ", i, ": ", response.accepted_points(), " of ", expected, " points accepted",
                               response.rejections_size() > 0
                                   ? absl::StrCat(", first rejection: ", response.rejections(0).field(), " ",
                                                  response.rejections(0).description())
                                   : "");
      } else {
        acked[i] = now;
        ++accepted;
      }
      if (!problem.empty() && failure.empty()) failure = problem;
      cv.notify_all();
    }
  });
  bool cancel = false;
  size_t next = 0;
  for (;;) {
    size_t send = 0;
    {
      std::unique_lock lock(mu);
      // Room in the window, and a resend that is due or a new batch; resends go first.
      for (;;) {
        if (!failure.empty()) {
          cancel = true;
          break;
        }
        if (accepted == requests.size()) break;
        const bool room = outstanding.size() < static_cast<size_t>(in_flight);
        const bool retry_due = !retries.empty() && retries.front().first <= Clock::now();
        if (room && retry_due) {
          send = retries.front().second;
          retries.pop_front();
          break;
        }
        if (room && next < requests.size()) {
          send = next++;
          break;
        }
        if (room && !retries.empty()) {
          cv.wait_until(lock, retries.front().first);
        } else {
          cv.wait(lock);
        }
      }
      if (cancel || accepted == requests.size()) break;
      if (first_sent[send] == Clock::time_point()) first_sent[send] = Clock::now();
      outstanding.push_back(send);
      cv.notify_all();
    }
    if (!stream->Write(requests[send])) {
      cancel = true;
      break;
    }
  }
  {
    std::lock_guard lock(mu);
    if (read_ended) cancel = false;
    if (cancel && failure.empty()) failure = "the stream stopped taking batches";
    cv.notify_all();
  }
  if (cancel) context->TryCancel();  // the reader must not wait for answers to batches never sent
  reader.join();
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  if (!failure.empty()) Fail(absl::StrCat("WriteStream: ", failure, "; status ", status.error_code(), " ", status.error_message()));
  Check(status, "WriteStream");
  const auto last = *std::max_element(acked.begin(), acked.end());
  result.seconds = std::chrono::duration<double>(last - start).count();
  for (size_t i = 0; i < requests.size(); ++i) {
    result.batch_seconds.push_back(std::chrono::duration<double>(acked[i] - first_sent[i]).count());
  }
  return result;
}

// The data set's batches as WriteRequests: one Series per device and metric, `batch_timestamps` points each.
std::vector<telemetrypb::WriteRequest> ParkbaseBatches(const DataSet& data, const std::string& parent,
                                                       const std::string& run) {
  std::vector<telemetrypb::WriteRequest> requests(data.batches());
  for (int b = 0; b < data.batches(); ++b) {
    auto& request = requests[b];
    request.set_parent(parent);
    request.set_batch_id(absl::StrCat(run, "-", b));
    for (int d = 0; d < data.devices; ++d) {
      for (int m = 0; m < data.metrics; ++m) {
        auto* series = request.add_series();
        series->set_device(data.DeviceId(d));
        series->set_metric(data.Metric(m));
        for (int t = b * data.batch_timestamps; t < (b + 1) * data.batch_timestamps; ++t) {
          series->add_timestamps_ms(data.time_ms(t));
          series->add_double_values(data.Value(t, d, m));
        }
      }
    }
  }
  return requests;
}

struct Latency {
  double p50_ms = 0, p99_ms = 0;
  int calls = 0;
  std::string note;
};

template <typename Call>
Latency MeasureLatency(int calls, Call call) {
  std::vector<double> ms;
  call();  // a first call outside the figures (channel and caches warm)
  for (int i = 0; i < calls; ++i) {
    const auto start = Clock::now();
    call();
    ms.push_back(SecondsSince(start) * 1000);
  }
  return {Percentile(ms, 50), Percentile(ms, 99), calls, ""};
}

Latency MeasureGetLatest(telemetrypb::TelemetryService::Stub& stub, const Tenant& tenant, const DataSet& data) {
  telemetrypb::GetLatestRequest request;
  request.set_parent(tenant.parent);
  for (int d = 0; d < 100; ++d) request.add_devices(data.DeviceId(d));
  const int64_t last_ms = data.time_ms(data.timestamps - 1);
  bool checked = false;
  return MeasureLatency(absl::GetFlag(FLAGS_latest_calls), [&] {
    telemetrypb::GetLatestResponse response;
    Check(stub.GetLatest(Context(tenant.key).get(), request, &response), "GetLatest");
    if (!checked) {
      checked = true;
      if (response.values_size() != 100 * data.metrics) {
        Fail(absl::StrCat("GetLatest returned ", response.values_size(), " values, expected ", 100 * data.metrics));
      }
      for (const auto& value : response.values()) {
        const int64_t ms = value.time().seconds() * 1000 + value.time().nanos() / 1'000'000;
        if (ms != last_ms) Fail(absl::StrCat("GetLatest: ", value.device(), "/", value.metric(), " at ", ms, ", expected ", last_ms));
      }
    }
  });
}

// One extra day of 1 Hz points for one metric of one device, just before the data set, for Aggregate.
constexpr int64_t kDaySeconds = 86'400;

void LoadExtraDay(telemetrypb::TelemetryService::Stub& stub, const Tenant& tenant, const DataSet& data) {
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed) + 1);
  std::uniform_int_distribution<int32_t> dist(20'000, 24'999);
  const int64_t start_ms = data.base_ms - kDaySeconds * 1000;
  std::vector<telemetrypb::WriteRequest> requests;
  for (int hour = 0; hour < 24; ++hour) {  // an hour a batch, as a gateway back-filling history would send
    telemetrypb::WriteRequest request;
    request.set_parent(tenant.parent);
    request.set_batch_id(absl::StrCat("history-", hour));
    auto* series = request.add_series();
    series->set_device(data.DeviceId(0));
    series->set_metric(data.Metric(0));
    for (int s = 0; s < 3600; ++s) {
      series->add_timestamps_ms(start_ms + (int64_t{hour} * 3600 + s) * 1000);
      series->add_double_values(dist(rng) / 1000.0);
    }
    requests.push_back(std::move(request));
  }
  StreamBatches(stub, tenant.key, requests, 4);
}

Latency MeasureAggregate(telemetrypb::TelemetryService::Stub& stub, const Tenant& tenant, const DataSet& data) {
  telemetrypb::AggregateRequest request;
  request.set_parent(tenant.parent);
  request.add_devices(data.DeviceId(0));
  request.set_metric(data.Metric(0));
  const int64_t start_s = data.base_ms / 1000 - kDaySeconds;
  request.mutable_start_time()->set_seconds(start_s);
  request.mutable_end_time()->set_seconds(start_s + kDaySeconds);
  request.mutable_bucket()->set_seconds(60);
  std::string note;
  Latency latency = MeasureLatency(absl::GetFlag(FLAGS_aggregate_calls), [&] {
    telemetrypb::AggregateResponse response;
    Check(stub.Aggregate(Context(tenant.key).get(), request, &response), "Aggregate");
    if (note.empty()) {
      int64_t points = 0;
      for (const auto& bucket : response.buckets()) points += bucket.count();
      note = absl::StrCat(response.buckets_size(), " buckets, ", points, " points, source ",
                          telemetrypb::AggregateSource_Name(response.source()));
      if (response.buckets_size() != 1440 || points != kDaySeconds) {
        std::fprintf(stderr, "warning: Aggregate returned %s (expected 1440 buckets, 86400 points)\n", note.c_str());
      }
    }
  });
  latency.note = note;
  return latency;
}

constexpr const char* kTelemetryTables[] = {"telemetry_ingest_log", "telemetry_chunks", "telemetry_rollups",
                                            "telemetry_batches"};

// Waits until the compactor has folded every ingest-log row and computed the rollups of every window it touched;
// returns the seconds waited.
double WaitForCompaction(Pg& pg) {
  const auto start = Clock::now();
  const int timeout = absl::GetFlag(FLAGS_compaction_timeout_s);
  for (;;) {
    const int64_t rows = pg.QueryInt(
        "SELECT (SELECT count(*) FROM telemetry_ingest_log) + "
        "(SELECT count(*) FROM telemetry_chunks WHERE folded_ms IS NOT NULL)");
    if (rows == 0) return SecondsSince(start);
    if (SecondsSince(start) > timeout) {
      Fail(absl::StrCat("the ingest log and the windows awaiting rollups still hold ", rows, " rows after ", timeout,
                        " s: is the compactor running (--telemetry_compaction_interval_ms)?"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Samples the ingest log (rows and points not yet compacted, every tenant: the URL is the owner's) every 100 ms
// on a connection of its own, from construction until it finds the log empty after Finish was called; keeps the
// peak. The time of that empty sample ends the sustained rate's clock.
class BacklogSampler {
 public:
  BacklogSampler(const std::string& url, Clock::time_point start)
      : pg_(url), start_(start), thread_([this] { Loop(); }) {}
  ~BacklogSampler() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Every batch is acknowledged: waits for the first empty sample after this (at most `timeout_s`) and returns
  // seconds from `start` to it.
  double WaitUntilEmpty(int timeout_s) {
    std::unique_lock lock(mu_);
    acknowledged_ = true;
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    if (!cv_.wait_until(lock, deadline, [&] { return empty_at_.has_value(); })) {
      Fail(absl::StrCat("the ingest log still holds ", last_rows_, " rows ", timeout_s,
                        " s after the last acknowledgement: is the compactor running "
                        "(--telemetry_compaction_interval_ms)?"));
    }
    return std::chrono::duration<double>(*empty_at_ - start_).count();
  }
  int64_t peak_rows() {
    std::lock_guard lock(mu_);
    return peak_rows_;
  }
  int64_t peak_points() {
    std::lock_guard lock(mu_);
    return peak_points_;
  }
  int samples() {
    std::lock_guard lock(mu_);
    return samples_;
  }

 private:
  void Loop() {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (stop_ || empty_at_.has_value()) return;
      }
      const bool acknowledged_before = [&] {
        std::lock_guard lock(mu_);
        return acknowledged_;
      }();
      // Done means folded and rolled up: the windows awaiting their rollups count as work left.
      auto row = pg_.Query(
          "SELECT count(*), coalesce(sum(point_count), 0), "
          "(SELECT count(*) FROM telemetry_chunks WHERE folded_ms IS NOT NULL) "
          "FROM telemetry_ingest_log")[0];
      const auto now = Clock::now();
      int64_t rows = 0, points = 0, unsettled = 0;
      (void)absl::SimpleAtoi(row[0], &rows);
      (void)absl::SimpleAtoi(row[1], &points);
      (void)absl::SimpleAtoi(row[2], &unsettled);
      {
        std::lock_guard lock(mu_);
        ++samples_;
        last_rows_ = rows;
        peak_rows_ = std::max(peak_rows_, rows);
        peak_points_ = std::max(peak_points_, points);
        // Only a sample taken wholly after the last acknowledgement proves the log empty of the run's batches.
        if (acknowledged_before && rows == 0 && unsettled == 0) empty_at_ = now;
      }
      cv_.notify_all();
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop_; });
    }
  }

  Pg pg_;
  const Clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool acknowledged_ = false;
  std::optional<Clock::time_point> empty_at_;
  int64_t last_rows_ = 0, peak_rows_ = 0, peak_points_ = 0;
  int samples_ = 0;
  std::thread thread_;
};

struct TableSize {
  std::string table;
  int64_t rows = 0, heap = 0, toast = 0, indexes = 0, total = 0;
  int64_t payload = 0;  // the encoded bytes themselves (the bytea column), without row and page overhead
};

std::vector<TableSize> TelemetryTableSizes(Pg& pg) {
  std::vector<TableSize> sizes;
  for (const char* table : kTelemetryTables) {
    // Summed over the table and its partitions, if it is (or becomes) partitioned.
    auto row = pg.Query(absl::StrCat(
        "SELECT (SELECT count(*) FROM ", table, "), sum(pg_relation_size(relid)), ",
        "sum(pg_table_size(relid) - pg_relation_size(relid)), sum(pg_indexes_size(relid)), ",
        "sum(pg_total_relation_size(relid)) FROM (SELECT '", table, "'::regclass AS relid UNION ",
        "SELECT relid FROM pg_partition_tree('", table, "')) parts"))[0];
    TableSize size{table};
    const char* column = std::string_view(table) == "telemetry_batches" ? "response" : "block";
    (void)absl::SimpleAtoi(
        pg.Query(absl::StrCat("SELECT coalesce(sum(octet_length(", column, ")), 0) FROM ", table))[0][0],
        &size.payload);
    (void)absl::SimpleAtoi(row[0], &size.rows);
    (void)absl::SimpleAtoi(row[1], &size.heap);
    (void)absl::SimpleAtoi(row[2], &size.toast);
    (void)absl::SimpleAtoi(row[3], &size.indexes);
    (void)absl::SimpleAtoi(row[4], &size.total);
    sizes.push_back(size);
  }
  return sizes;
}

struct ParkbaseResult {
  IngestResult ingest;
  double compaction_wait_s = 0;     // last acknowledgement to an empty ingest log, windows rolled up
  double sustained_seconds = 0;     // first send to an empty ingest log, windows rolled up
  double sustained_per_second = 0;  // points / sustained_seconds
  int64_t peak_backlog_rows = 0, peak_backlog_points = 0;
  int backlog_samples = 0;
  int64_t retries = 0;
  double retry_wait_seconds = 0;
  std::vector<TableSize> before, after, full;
  Latency latest, aggregate_before, aggregate_after;
  std::string server_memory;
};

ParkbaseResult RunParkbase(const DataSet& data, std::vector<Phase>& phases) {
  ParkbaseResult result;
  const std::string address = absl::GetFlag(FLAGS_address);
  const std::string database_url = absl::GetFlag(FLAGS_database_url);
  if (address.empty() || absl::GetFlag(FLAGS_key).empty() || database_url.empty()) {
    Fail("the parkbase phase needs --address, --key and --database_url");
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    Fail(absl::StrCat("cannot connect to Parkbase at ", address));
  }
  Pg pg(database_url);
  const Tenant tenant = SetUpTenant(channel, absl::GetFlag(FLAGS_key), data);
  auto stub = telemetrypb::TelemetryService::NewStub(channel);
  const std::vector<telemetrypb::WriteRequest> requests = ParkbaseBatches(data, tenant.parent, "ingest");

  pg.Exec("CHECKPOINT");
  result.ingest.ran = true;
  {
    PhaseTimer timer("Parkbase WriteStream");
    const auto start = Clock::now();
    BacklogSampler backlog(database_url, start);
    StreamResult streamed = StreamBatches(*stub, tenant.key, requests, absl::GetFlag(FLAGS_in_flight));
    phases.push_back(timer.Stop());
    result.ingest.batch_seconds = std::move(streamed.batch_seconds);
    result.ingest.seconds = streamed.seconds;
    result.retries = streamed.retries;
    result.retry_wait_seconds = streamed.retry_wait_seconds;
    // steady_clock is CLOCK_MONOTONIC: `perf record -k CLOCK_MONOTONIC` + `perf report --time A,B` profiles just this.
    auto monotonic = [](Clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); };
    std::fprintf(stderr, "[bench] Parkbase ingest ran from %.6f to %.6f (CLOCK_MONOTONIC seconds)\n",
                 monotonic(start), monotonic(Clock::now()));
    result.before = TelemetryTableSizes(pg);  // the log as the last batch was acknowledged (compaction under way)
    PhaseTimer compaction("Parkbase compaction (wait)");
    result.sustained_seconds = backlog.WaitUntilEmpty(absl::GetFlag(FLAGS_compaction_timeout_s));
    phases.push_back(compaction.Stop());
    result.compaction_wait_s = result.sustained_seconds - result.ingest.seconds;
    result.peak_backlog_rows = backlog.peak_rows();
    result.peak_backlog_points = backlog.peak_points();
    result.backlog_samples = backlog.samples();
  }
  result.ingest.points_per_second = data.points() / result.ingest.seconds;
  result.sustained_per_second = data.points() / result.sustained_seconds;
  pg.Exec(absl::StrCat("VACUUM ", absl::StrJoin(kTelemetryTables, ", ")));
  result.after = TelemetryTableSizes(pg);
  int64_t total = 0;
  for (const auto& size : result.after) total += size.total;
  result.ingest.bytes_per_point = static_cast<double>(total) / data.points();
  if (Sustained()) {
    result.full = result.after;  // no VACUUM FULL: what a running park has is plain VACUUM's figure
    result.server_memory = Memory(absl::GetFlag(FLAGS_server_pid));
    return result;
  }
  // The same with dead row versions squeezed out (plain VACUUM keeps their space in the files for reuse): shows how
  // much of the figure is the compactor's rewrites, which depends on when its passes fell during the ingest.
  pg.Exec(absl::StrCat("VACUUM FULL ", absl::StrJoin(kTelemetryTables, ", ")));
  result.full = TelemetryTableSizes(pg);
  result.latest = MeasureGetLatest(*stub, tenant, data);
  result.server_memory = Memory(absl::GetFlag(FLAGS_server_pid));

  // Aggregate over a day of one series: first right after loading it (the compactor keeps running, so the day
  // moves from the ingest log into rollups during the calls: the note says how far), then once it has.
  LoadExtraDay(*stub, tenant, data);
  const int64_t log_rows_before = pg.QueryInt("SELECT count(*) FROM telemetry_ingest_log");
  result.aggregate_before = MeasureAggregate(*stub, tenant, data);
  const int64_t log_rows_after = pg.QueryInt("SELECT count(*) FROM telemetry_ingest_log");
  result.aggregate_before.note += absl::StrCat("; ingest-log rows ", log_rows_before, " -> ", log_rows_after);
  WaitForCompaction(pg);
  result.aggregate_after = MeasureAggregate(*stub, tenant, data);
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// The report.

std::string BatchTimes(const std::vector<double>& seconds) {
  std::vector<std::string> ms;
  for (double s : seconds) ms.push_back(absl::StrFormat("%.0f", s * 1000));
  return absl::StrCat(absl::StrJoin(ms, " "), " ms");
}

int Run() {
  std::string phases_flag = absl::GetFlag(FLAGS_phases);
  if (phases_flag.empty()) phases_flag = Sustained() ? "vm,parkbase" : "vm,copy,parkbase";
  if (absl::GetFlag(FLAGS_mode) != "burst" && !Sustained()) Fail("--mode: burst or sustained");
  const std::vector<std::string> wanted = absl::StrSplit(phases_flag, ',', absl::SkipEmpty());
  auto want = [&](const char* phase) { return std::find(wanted.begin(), wanted.end(), phase) != wanted.end(); };

  const DataSet data = MakeDataSet();
  std::vector<Phase> phases;

  std::printf("Parkbase telemetry ingest benchmark, %s mode\n", Sustained() ? "sustained" : "burst");
  std::printf("  data set: %s points = %d devices x %d metrics x %d timestamps (1 s apart from %s), values uniform "
              "in [20, 25) with 3 decimals\n",
              Thousands(data.points()).c_str(), data.devices, data.metrics, data.timestamps,
              absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(data.base_ms), absl::UTCTimeZone()).c_str());
  std::printf("  sent as %d batches of %s points in time order (%d timestamps of every series a batch): "
              "VictoriaMetrics over %d connection(s), Parkbase with %d batches in flight on one WriteStream\n",
              data.batches(), Thousands(data.points_per_batch()).c_str(), data.batch_timestamps, VmConnections(),
              absl::GetFlag(FLAGS_in_flight));
  std::printf("  machine: %u hardware threads shared by client, servers and PostgreSQL; load average at start: %s\n\n",
              std::thread::hardware_concurrency(), LoadAverage().c_str());
  std::fflush(stdout);

  // Least disturbed first: VictoriaMetrics (its own process), then PostgreSQL COPY, then Parkbase.
  IngestResult vm;
  if (want("vm")) {
    std::fprintf(stderr, "[bench] VictoriaMetrics...\n");
    vm = RunVictoriaMetrics(data, phases);
  } else {
    vm.skipped_reason = "not selected (--phases)";
  }
  IngestResult copy_pk, copy_bare;
  if (want("copy")) {
    const std::string url = absl::GetFlag(FLAGS_copy_database_url);
    if (url.empty()) Fail("the copy phase needs --copy_database_url");
    std::vector<std::string> batches;
    for (int b = 0; b < data.batches(); ++b) batches.push_back(CopyBatch(data, b));
    Pg pg(url);
    std::fprintf(stderr, "[bench] PostgreSQL COPY...\n");
    copy_pk = RunCopy(data, pg, "bench_points_pk", true, batches, phases);
    copy_bare = RunCopy(data, pg, "bench_points_bare", false, batches, phases);
    pg.Exec("DROP TABLE bench_points_pk");
    pg.Exec("DROP TABLE bench_points_bare");
  }
  std::optional<ParkbaseResult> pb;
  if (want("parkbase")) {
    std::fprintf(stderr, "[bench] Parkbase...\n");
    pb = RunParkbase(data, phases);
  }

  // Ingest table.
  std::printf("Ingest (points/s acknowledged: from the first send to the last acknowledgement; bytes/point on disk)\n");
  std::printf("  %-58s %12s %10s %10s %12s\n", "system", "points/s", "vs COPY", "vs VM", "bytes/point");
  auto row = [&](const std::string& name, const IngestResult& r, const std::string& bytes_note) {
    if (!r.ran) {
      std::printf("  %-58s %s\n", name.c_str(), absl::StrCat("not measured: ", r.skipped_reason).c_str());
      return;
    }
    const std::string vs_copy =
        copy_pk.ran ? absl::StrFormat("%.2fx", r.points_per_second / copy_pk.points_per_second) : "-";
    const std::string vs_vm = vm.ran ? absl::StrFormat("%.2fx", r.points_per_second / vm.points_per_second) : "-";
    std::printf("  %-58s %12s %10s %10s %12s\n", name.c_str(), Thousands(r.points_per_second).c_str(),
                vs_copy.c_str(), vs_vm.c_str(), absl::StrCat(absl::StrFormat("%.2f", r.bytes_per_point), bytes_note).c_str());
  };
  if (pb) {
    row(absl::StrFormat("Parkbase gRPC WriteStream, columnar, %d in flight", absl::GetFlag(FLAGS_in_flight)),
        pb->ingest, "");
  }
  const std::string vm_version = absl::GetFlag(FLAGS_vm_version);
  row(absl::StrCat("VictoriaMetrics ", vm_version.empty() ? "" : absl::StrCat(vm_version, " "),
                   "/write, line protocol, ", VmConnections(), " conn."),
      vm, "");
  if (copy_pk.ran) {
    row("PostgreSQL COPY binary, a row a point, primary key", copy_pk, "");
    row("PostgreSQL COPY binary, a row a point, no index", copy_bare, "");
  }
  std::printf("\n");

  if (pb) {
    const double pb_rate = pb->ingest.points_per_second;
    if (copy_pk.ran) std::printf("  Parkbase / PostgreSQL COPY (primary key): %.2fx\n", pb_rate / copy_pk.points_per_second);
    std::printf("  Parkbase sustained (first send to an empty ingest log and every window rolled up, %.1f s): %s points/s; compaction finished "
                "%.1f s after the last acknowledgement\n",
                pb->sustained_seconds, Thousands(pb->sustained_per_second).c_str(), pb->compaction_wait_s);
    std::printf("  Parkbase ingest log backlog, peak of %d samples (100 ms apart): %s rows, %s points\n",
                pb->backlog_samples, Thousands(pb->peak_backlog_rows).c_str(),
                Thousands(pb->peak_backlog_points).c_str());
    std::printf("  Parkbase batches resent after RESOURCE_EXHAUSTED (back-pressure): %lld, %.1f s of RetryInfo delays "
                "honoured\n",
                static_cast<long long>(pb->retries), pb->retry_wait_seconds);
    if (vm.ran) {
      const bool burst_met = pb_rate >= 2 * vm.points_per_second && pb->ingest.bytes_per_point < 2.5;
      std::printf("  Parkbase / VictoriaMetrics, acknowledged: %.2fx; sustained: %.2fx\n",
                  pb_rate / vm.points_per_second, pb->sustained_per_second / vm.points_per_second);
      if (Sustained()) {
        const bool met = pb->sustained_per_second >= vm.points_per_second && pb->ingest.bytes_per_point <= 2.2;
        std::printf("  target (sustained >= 1.0x VictoriaMetrics' acknowledged rate at <= 2.2 bytes/point; 1.5x the "
                    "aim): %s\n",
                    met ? "MET" : "NOT MET");
      } else {
        std::printf("  target (acknowledged >= 2x VictoriaMetrics at < 2.5 bytes/point): %s\n",
                    burst_met ? "MET" : "NOT MET");
      }
    }
    std::printf("\nParkbase batches, send to acknowledgement: %s\n", BatchTimes(pb->ingest.batch_seconds).c_str());
    std::printf("Parkbase storage (payload: the encoded blocks' bytes; %s; VACUUMed after the compactor emptied the ingest log, %.1f s after the last "
                "acknowledgement)\n",
                "pg_total_relation_size: heap + TOAST + indexes", pb->compaction_wait_s);
    std::printf("  %-22s %6s %10s %10s %8s %8s %10s %10s %10s\n", "table", "rows", "payload", "heap", "toast",
                "indexes", "total", "before", "VAC FULL");
    int64_t total = 0, total_before = 0, total_full = 0;
    for (size_t i = 0; i < pb->after.size(); ++i) {
      const TableSize& s = pb->after[i];
      total += s.total;
      total_before += pb->before[i].total;
      total_full += pb->full[i].total;
      std::printf("  %-22s %6lld %10s %10s %8s %8s %10s %10s %10s\n", s.table.c_str(), static_cast<long long>(s.rows),
                  Thousands(s.payload).c_str(), Thousands(s.heap).c_str(), Thousands(s.toast).c_str(),
                  Thousands(s.indexes).c_str(), Thousands(s.total).c_str(), Thousands(pb->before[i].total).c_str(),
                  Thousands(pb->full[i].total).c_str());
    }
    std::printf("  %-22s %6s %10s %10s %8s %8s %10s %10s %10s\n", "all", "", "", "", "", "", Thousands(total).c_str(),
                Thousands(total_before).c_str(), Thousands(total_full).c_str());
    std::printf("  = %.2f bytes/point after compaction and VACUUM (%.2f at the last acknowledgement; %s)\n",
                static_cast<double>(total) / data.points(), static_cast<double>(total_before) / data.points(),
                Sustained() ? "no VACUUM FULL in sustained mode"
                            : absl::StrFormat("%.2f after VACUUM FULL", static_cast<double>(total_full) / data.points())
                                  .c_str());
  }
  if (vm.ran) {
    std::printf("\nVictoriaMetrics batches: %s\n", BatchTimes(vm.batch_seconds).c_str());
    std::printf("VictoriaMetrics on disk, %.0f s after /internal/force_flush once du was stable: %s\n",
                vm.settle_seconds, vm.size_detail.c_str());
  }
  if (copy_pk.ran) {
    std::printf("\nPostgreSQL COPY (primary key) batches: %s\n", BatchTimes(copy_pk.batch_seconds).c_str());
    std::printf("PostgreSQL COPY (no index) batches:    %s\n", BatchTimes(copy_bare.batch_seconds).c_str());
    std::printf("PostgreSQL COPY sizes: primary key %s; no index %s\n", copy_pk.size_detail.c_str(),
                copy_bare.size_detail.c_str());
  }

  if (pb && !Sustained()) {
    std::printf("\nQueries (serial calls, one client)\n");
    std::printf("  %-66s %6s %9s %9s\n", "", "calls", "p50 ms", "p99 ms");
    auto lat = [](const std::string& name, const Latency& l) {
      std::printf("  %-66s %6d %9.2f %9.2f%s\n", name.c_str(), l.calls, l.p50_ms, l.p99_ms,
                  l.note.empty() ? "" : absl::StrCat("  (", l.note, ")").c_str());
    };
    lat("GetLatest, 100 devices x all metrics (1,000 values)", pb->latest);
    lat("Aggregate, 1 device, 1 day in 1-minute buckets, right after loading it", pb->aggregate_before);
    lat("Aggregate, 1 device, 1 day in 1-minute buckets, after compaction", pb->aggregate_after);
    std::printf("  Parkbase server memory: %s\n", pb->server_memory.c_str());
  }
  if (pb && Sustained()) std::printf("\n  Parkbase server memory: %s\n", pb->server_memory.c_str());
  if (vm.ran) std::printf("  VictoriaMetrics memory: %s\n", Memory(absl::GetFlag(FLAGS_vm_pid)).c_str());
  std::printf("  load average at the end: %s\n", LoadAverage().c_str());

  std::printf("\nWhere the time went (CPU seconds during each phase; 2 cores give 2 CPU-s a second)\n");
  std::printf("  %-34s %8s %8s %8s %10s %8s\n", "phase", "wall s", "client", "parkbase", "postgres", "vm");
  for (const Phase& p : phases) {
    std::printf("  %-34s %8.2f %8.2f %8.2f %10.2f %8.2f\n", p.name.c_str(), p.wall, p.cpu.client, p.cpu.server,
                p.cpu.postgres, p.cpu.vm);
  }

  if (pb) {
    std::printf("\nparkbase-ingest points/s=%lld sustained/s=%lld bytes/point=%.2f\n",
                static_cast<long long>(std::llround(pb->ingest.points_per_second)),
                static_cast<long long>(std::llround(pb->sustained_per_second)), pb->ingest.bytes_per_point);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace parkbase::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return parkbase::bench::Run();
}
