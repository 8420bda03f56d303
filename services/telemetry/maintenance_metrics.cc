#include "telemetry/maintenance_metrics.h"

#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "common/status_names.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace parkbase::telemetry {
namespace {

// A run that stopped on an error, named by its code: "Unavailable" (the database went away), "DeadlineExceeded"
// (a statement timed out), "Aborted" (a conflict), "Internal" (a bug or corrupt data).
std::string FailureReason(const absl::Status& status) {
  return GrpcCodeName(static_cast<grpc::StatusCode>(status.code()));
}

class MeteredMaintenance final : public TelemetryMaintenance {
 public:
  MeteredMaintenance(std::unique_ptr<TelemetryMaintenance> inner, prometheus::Registry& registry)
      : inner_(std::move(inner)),
        passes_(prometheus::BuildCounter()
                    .Name("parkbase_telemetry_compaction_passes_total")
                    .Help("Compaction transactions that folded ingest-log rows into chunks.")
                    .Register(registry)
                    .Add({})),
        log_rows_(prometheus::BuildCounter()
                      .Name("parkbase_telemetry_compaction_log_rows_total")
                      .Help("Ingest-log rows (batches) folded into chunks and deleted from the log.")
                      .Register(registry)
                      .Add({})),
        points_(prometheus::BuildCounter()
                    .Name("parkbase_telemetry_compaction_points_total")
                    .Help("Points folded from the ingest log into chunks.")
                    .Register(registry)
                    .Add({})),
        chunks_written_(prometheus::BuildCounter()
                            .Name("parkbase_telemetry_compaction_chunks_written_total")
                            .Help("Chunk rows inserted or rewritten by compaction.")
                            .Register(registry)
                            .Add({})),
        rollup_windows_(prometheus::BuildCounter()
                            .Name("parkbase_telemetry_compaction_rollup_windows_total")
                            .Help("Group-hours whose rollups compaction computed.")
                            .Register(registry)
                            .Add({})),
        seconds_(prometheus::BuildHistogram()
                     .Name("parkbase_telemetry_compaction_seconds")
                     .Help("Time a compaction run took, by operation (fold_tenant: one tenant's log when it is due; "
                           "compact_all: the periodic sweep over every tenant; compact_tenant: on demand).")
                     .Register(registry)),
        compaction_failures_(prometheus::BuildCounter()
                                 .Name("parkbase_telemetry_compaction_failures_total")
                                 .Help("Compaction runs that failed, by operation and reason (status code).")
                                 .Register(registry)),
        last_compaction_(prometheus::BuildGauge()
                             .Name("parkbase_telemetry_compaction_last_success_timestamp_seconds")
                             .Help("Unix time of the last compaction run that succeeded.")
                             .Register(registry)
                             .Add({})),
        deleted_(prometheus::BuildCounter()
                     .Name("parkbase_telemetry_retention_deleted_total")
                     .Help("What retention deleted, by kind: chunks and rollups (rows past a tenant's retention), "
                           "batch_ids (past the 7-day dedupe window).")
                     .Register(registry)),
        retention_failures_(prometheus::BuildCounter()
                                .Name("parkbase_telemetry_retention_failures_total")
                                .Help("Retention runs that failed, by reason (status code).")
                                .Register(registry)),
        last_retention_(prometheus::BuildGauge()
                            .Name("parkbase_telemetry_retention_last_success_timestamp_seconds")
                            .Help("Unix time of the last retention run that succeeded.")
                            .Register(registry)
                            .Add({})),
        chunks_dropped_(deleted_.Add({{"kind", "chunks"}})),
        rollups_dropped_(deleted_.Add({{"kind", "rollups"}})),
        batch_ids_expired_(deleted_.Add({{"kind", "batch_ids"}})) {}

  absl::StatusOr<CompactionStats> CompactTenant(const std::string& tenant_id) override {
    return Compaction("compact_tenant", [&] { return inner_->CompactTenant(tenant_id); });
  }
  absl::StatusOr<CompactionStats> FoldTenant(const std::string& tenant_id) override {
    return Compaction("fold_tenant", [&] { return inner_->FoldTenant(tenant_id); });
  }
  absl::StatusOr<CompactionStats> CompactAll() override {
    return Compaction("compact_all", [&] { return inner_->CompactAll(); });
  }
  absl::StatusOr<RetentionStats> ApplyRetention(const std::string& tenant_id, absl::Time now) override {
    return Retention(inner_->ApplyRetention(tenant_id, now));
  }
  absl::StatusOr<RetentionStats> ApplyRetentionAll(absl::Time now) override {
    return Retention(inner_->ApplyRetentionAll(now));
  }

 private:
  template <typename Run>
  absl::StatusOr<CompactionStats> Compaction(const char* operation, Run run) {
    const absl::Time start = absl::Now();
    absl::StatusOr<CompactionStats> stats = run();
    seconds_
        .Add({{"operation", operation}},
             prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120})
        .Observe(absl::ToDoubleSeconds(absl::Now() - start));
    if (!stats.ok()) {
      compaction_failures_.Add({{"operation", operation}, {"reason", FailureReason(stats.status())}}).Increment();
      return stats;
    }
    passes_.Increment(static_cast<double>(stats->passes));
    log_rows_.Increment(static_cast<double>(stats->log_rows));
    points_.Increment(static_cast<double>(stats->points));
    chunks_written_.Increment(static_cast<double>(stats->chunks_written));
    rollup_windows_.Increment(static_cast<double>(stats->rollup_windows));
    last_compaction_.SetToCurrentTime();
    return stats;
  }

  absl::StatusOr<RetentionStats> Retention(absl::StatusOr<RetentionStats> stats) {
    if (!stats.ok()) {
      retention_failures_.Add({{"reason", FailureReason(stats.status())}}).Increment();
      return stats;
    }
    chunks_dropped_.Increment(static_cast<double>(stats->chunks_dropped));
    rollups_dropped_.Increment(static_cast<double>(stats->rollups_dropped));
    batch_ids_expired_.Increment(static_cast<double>(stats->batch_ids_expired));
    last_retention_.SetToCurrentTime();
    return stats;
  }

  std::unique_ptr<TelemetryMaintenance> inner_;
  prometheus::Counter& passes_;
  prometheus::Counter& log_rows_;
  prometheus::Counter& points_;
  prometheus::Counter& chunks_written_;
  prometheus::Counter& rollup_windows_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  prometheus::Family<prometheus::Counter>& compaction_failures_;
  prometheus::Gauge& last_compaction_;
  prometheus::Family<prometheus::Counter>& deleted_;
  prometheus::Family<prometheus::Counter>& retention_failures_;
  prometheus::Gauge& last_retention_;
  prometheus::Counter& chunks_dropped_;
  prometheus::Counter& rollups_dropped_;
  prometheus::Counter& batch_ids_expired_;
};

}  // namespace

std::unique_ptr<TelemetryMaintenance> WithMaintenanceMetrics(std::unique_ptr<TelemetryMaintenance> maintenance,
                                                             prometheus::Registry& registry) {
  return std::make_unique<MeteredMaintenance>(std::move(maintenance), registry);
}

}  // namespace parkbase::telemetry
