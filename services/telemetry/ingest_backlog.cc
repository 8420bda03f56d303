#include "telemetry/ingest_backlog.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/log.h"

namespace parkbase::telemetry {
namespace {

// A tenant that has not written for this long and has nothing left in its log is no longer sampled (and its
// gauges are dropped); its next write tracks it again.
constexpr absl::Duration kForgetAfter = absl::Minutes(5);

}  // namespace

IngestBacklog::IngestBacklog(Options options, TelemetryStore& store, Clock& clock, prometheus::Registry& registry)
    : options_(options),
      store_(store),
      clock_(clock),
      points_(prometheus::BuildGauge()
                  .Name("parkbase_telemetry_ingest_backlog_points")
                  .Help("Telemetry points written but not yet compacted, by tenant, as last sampled.")
                  .Register(registry)),
      rows_(prometheus::BuildGauge()
                .Name("parkbase_telemetry_ingest_backlog_rows")
                .Help("Rows (batches) in the telemetry ingest log, by tenant, as last sampled.")
                .Register(registry)),
      oldest_(prometheus::BuildGauge()
                  .Name("parkbase_telemetry_ingest_backlog_oldest_seconds")
                  .Help("Age of the tenant's oldest not yet compacted ingest-log row, as last sampled.")
                  .Register(registry)),
      refused_(prometheus::BuildCounter()
                   .Name("parkbase_telemetry_batches_refused_total")
                   .Help("Telemetry write batches refused whole with RESOURCE_EXHAUSTED, by tenant and reason "
                         "(ingest_backlog, max_ingest_points_per_second).")
                   .Register(registry)),
      bound_(prometheus::BuildGauge()
                 .Name("parkbase_telemetry_ingest_backlog_max_points")
                 .Help("The per-tenant backlog bound past which writes are refused (0: no bound).")
                 .Register(registry)
                 .Add({})) {
  bound_.Set(static_cast<double>(options_.max_points));
  if (options_.max_points > 0 && options_.sample_interval > absl::ZeroDuration()) {
    thread_ = std::thread([this] { Loop(); });
  }
}

IngestBacklog::~IngestBacklog() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::Status IngestBacklog::Admit(const std::string& tenant_id) {
  if (options_.max_points <= 0) return absl::OkStatus();
  const absl::Time now = clock_.Now();
  int64_t estimate = 0;
  bool resample = false;
  {
    absl::MutexLock lock(&mu_);
    State& state = tenants_[tenant_id];
    state.last_write = now;
    estimate = state.Estimate();
    if (estimate < options_.max_points) return absl::OkStatus();
    // Over the bound by a sample that may be stale: one caller checks again, the others go by what is known.
    if (!state.sampling && now - state.sampled_at >= options_.sample_interval) {
      state.sampling = true;
      resample = true;
    }
  }
  if (resample) {
    Sample(tenant_id);
    absl::MutexLock lock(&mu_);
    State& state = tenants_[tenant_id];
    state.sampling = false;
    estimate = state.Estimate();
    if (estimate < options_.max_points) return absl::OkStatus();
  }
  CountRefusal(tenant_id, "ingest_backlog");
  return WithReason(
      QuotaError(absl::StrCat("tenants/", tenant_id), "telemetry_backlog_max_points",
                 absl::StrCat("the tenant has ", estimate, " points written but not yet compacted, at or past the "
                              "park's bound of ",
                              options_.max_points, " (telemetry_backlog_max_points); this batch was not stored"),
                 options_.retry_after),
      "INGEST_BACKLOG");
}

void IngestBacklog::Committed(const std::string& tenant_id, int64_t points) {
  bool pass_ready = false;
  {
    absl::MutexLock lock(&mu_);
    if (options_.max_points <= 0 && pass_rows_ <= 0) return;
    State& state = tenants_[tenant_id];
    state.committed += points;
    if (pass_rows_ > 0) {
      state.rows_since_pass += 1;
      state.points_since_pass += points;
      if (state.rows_since_pass >= pass_rows_ || state.points_since_pass >= pass_points_) {
        state.rows_since_pass = 0;
        state.points_since_pass = 0;
        pass_ready = true;
      }
    }
  }
  if (!pass_ready) return;
  absl::MutexLock lock(&hook_mu_);
  if (pass_hook_) pass_hook_(tenant_id);
}

void IngestBacklog::SetPassHook(int64_t rows, int64_t points, std::function<void(const std::string&)> hook) {
  absl::MutexLock hook_lock(&hook_mu_);
  const bool on = static_cast<bool>(hook) && rows > 0 && points > 0;
  pass_hook_ = on ? std::move(hook) : nullptr;
  absl::MutexLock lock(&mu_);
  pass_rows_ = on ? rows : 0;
  pass_points_ = on ? points : 0;
}

void IngestBacklog::CountRefusal(const std::string& tenant_id, const std::string& reason) {
  refused_.Add(IngestCounterLabels(options_.tenant_metric_label, tenant_id, {{"reason", reason}})).Increment();
}

void IngestBacklog::Sample(const std::string& tenant_id) {
  int64_t committed_before = 0;
  {
    absl::MutexLock lock(&mu_);
    committed_before = tenants_[tenant_id].committed;
  }
  // A commit that lands while this reads may be counted twice (in the sample and after it): the estimate errs
  // high by at most the batches in flight, never low.
  absl::StatusOr<LogBacklog> backlog = store_.ReadLogBacklog(TenantScope::Tenant(tenant_id));
  if (!backlog.ok()) {
    LogLine(LogLevel::kWarning, "ingest backlog not sampled")
        .Str("tenant", tenant_id)
        .Str("error", backlog.status().message())
        .Emit();
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    State& state = tenants_[tenant_id];
    state.sampled = *backlog;
    state.sampled_at = clock_.Now();
    state.committed_at_sample = committed_before;
  }
  points_.Add({{"tenant", tenant_id}}).Set(static_cast<double>(backlog->points));
  rows_.Add({{"tenant", tenant_id}}).Set(static_cast<double>(backlog->rows));
  oldest_.Add({{"tenant", tenant_id}}).Set(absl::ToDoubleSeconds(backlog->oldest_age));
}

void IngestBacklog::SampleAll() {
  std::vector<std::string> tenants;
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    for (auto it = tenants_.begin(); it != tenants_.end();) {
      const State& state = it->second;
      if (!state.sampling && state.sampled.rows == 0 && now - state.last_write > kForgetAfter) {
        points_.Remove(&points_.Add({{"tenant", it->first}}));
        rows_.Remove(&rows_.Add({{"tenant", it->first}}));
        oldest_.Remove(&oldest_.Add({{"tenant", it->first}}));
        tenants_.erase(it++);
        continue;
      }
      tenants.push_back(it->first);
      ++it;
    }
  }
  for (const std::string& tenant : tenants) Sample(tenant);
}

void IngestBacklog::Loop() {
  while (!stop_.WaitForNotificationWithTimeout(options_.sample_interval)) SampleAll();
}

}  // namespace parkbase::telemetry
