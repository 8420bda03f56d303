#include "telemetry/ingest.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/app_grant.h"
#include "common/errors.h"
#include "common/times.h"
#include "google/protobuf/util/time_util.h"

namespace parkbase::telemetry {
namespace {

constexpr size_t kMaxBatchIdBytes = 128;

// Collects rejections; consecutive points of one series with the same reason become one entry.
class RejectionList {
 public:
  explicit RejectionList(pb::WriteResponse& response) : response_(response) {}

  // `group` identifies the series (or point) so runs never span two of them.
  void Add(int64_t index, int64_t count, int64_t group, pb::RejectionReason reason, std::string field,
           std::string description) {
    total_ += count;
    if (last_ != nullptr && last_group_ == group && last_->reason() == reason &&
        last_->index() + last_->count() == index) {
      last_->set_count(last_->count() + count);
      return;
    }
    if (response_.rejections_size() >= kMaxListedRejections) {
      response_.set_rejections_truncated(true);
      last_ = nullptr;
      return;
    }
    last_ = response_.add_rejections();
    last_group_ = group;
    last_->set_index(index);
    last_->set_count(count);
    last_->set_field(std::move(field));
    last_->set_reason(reason);
    last_->set_description(std::move(description));
  }

  int64_t total() const { return total_; }

 private:
  pb::WriteResponse& response_;
  pb::PointRejection* last_ = nullptr;
  int64_t last_group_ = -1;
  int64_t total_ = 0;
};

const char* KindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kDouble:
      return "DOUBLE";
    case ValueKind::kInt64:
      return "INT64";
    case ValueKind::kBool:
      return "BOOL";
    case ValueKind::kString:
      return "STRING";
  }
  return "?";
}

// Looks devices up once per batch.
class BatchDevices {
 public:
  BatchDevices(const IngestRules& rules, DeviceDirectory& directory) : rules_(rules), directory_(directory) {}

  struct Lookup {
    const DeviceInfo* device = nullptr;  // null: rejected with `reason`
    pb::RejectionReason reason = pb::REJECTION_REASON_UNSPECIFIED;
    std::string description;
    int64_t oldest_ms = 0;  // raw retention cutoff of the device's type
  };

  // Resolves every distinct device reference of the request in one directory call, so a batch of cold devices
  // costs a few round trips rather than a few per device. Errors stay with their reference: they fail the batch
  // only if Find asks for it (as they would have without the prefetch).
  void Prefetch(const pb::WriteRequest& request) {
    absl::flat_hash_set<absl::string_view> seen;
    std::vector<std::string> references;
    auto add = [&](const std::string& reference) {
      if (!reference.empty() && seen.insert(reference).second) references.push_back(reference);
    };
    for (const pb::Point& point : request.points()) add(point.device());
    for (const pb::Series& series : request.series()) add(series.device());
    if (references.empty()) return;
    std::vector<absl::StatusOr<std::shared_ptr<const DeviceInfo>>> resolved =
        directory_.ResolveMany(rules_.tenant_id, references, rules_.freshness);
    prefetched_.reserve(references.size());
    for (size_t i = 0; i < references.size() && i < resolved.size(); ++i) {
      prefetched_.emplace(std::move(references[i]), std::move(resolved[i]));
    }
  }

  absl::StatusOr<const Lookup*> Find(const std::string& reference) {
    auto found = cache_.find(reference);
    if (found != cache_.end()) return &found->second;
    Lookup lookup;
    if (reference.empty()) {
      lookup.reason = pb::REJECTION_REASON_UNKNOWN_DEVICE;
      lookup.description = "required: a device id or an industrial identifier";
    } else {
      auto prefetched = prefetched_.find(reference);
      absl::StatusOr<std::shared_ptr<const DeviceInfo>> device =
          prefetched != prefetched_.end() ? std::move(prefetched->second)
                                          : directory_.Resolve(rules_.tenant_id, reference, rules_.freshness);
      // A device outside an app's grant does not exist for the app: rejected exactly like a missing one.
      const bool outside_grant =
          device.ok() && rules_.app != nullptr && !GrantCoversLabels(*rules_.app, (*device)->labels);
      const bool unknown =
          absl::IsNotFound(device.status()) || absl::IsInvalidArgument(device.status()) || outside_grant;
      if (unknown) {
        lookup.reason = pb::REJECTION_REASON_UNKNOWN_DEVICE;
        lookup.description = absl::StrCat("no device \"", Utf8Prefix(reference, 100), "\" in the tenant");
      } else if (!device.ok()) {
        return device.status();
      } else {
        held_.push_back(*device);
        const DeviceInfo& info = **device;
        if (!rules_.only_device_id.empty() && info.device_id != rules_.only_device_id) {
          lookup.reason = pb::REJECTION_REASON_NOT_THIS_DEVICE;
          lookup.description = absl::StrCat("a device key of \"", rules_.only_device_id,
                                            "\" may write only that device's points");
        } else if (info.disabled) {
          lookup.reason = pb::REJECTION_REASON_DEVICE_DISABLED;
          lookup.description = absl::StrCat("device \"", info.device_id, "\" is disabled");
        } else {
          lookup.device = &info;
        }
        int32_t days = rules_.raw_retention_days;
        auto override_days = rules_.device_type_raw_retention_days.find(info.device_type_id);
        if (override_days != rules_.device_type_raw_retention_days.end()) days = override_days->second;
        lookup.oldest_ms = absl::ToUnixMillis(rules_.now - absl::Hours(24) * days);
      }
    }
    return &cache_.emplace(reference, std::move(lookup)).first->second;
  }

 private:
  const IngestRules& rules_;
  DeviceDirectory& directory_;
  absl::flat_hash_map<std::string, Lookup> cache_;
  absl::flat_hash_map<std::string, absl::StatusOr<std::shared_ptr<const DeviceInfo>>> prefetched_;
  std::vector<std::shared_ptr<const DeviceInfo>> held_;
};

// Accumulates accepted points per (device, metric).
// Keys are views: device ids live in the batch's DeviceInfos and metric names in the request, both of which outlive
// the builder, so a look-up allocates nothing.
class SeriesBuilder {
 public:
  explicit SeriesBuilder(size_t expected_series) {
    index_.reserve(expected_series);
    entries_.reserve(expected_series);
  }
  SeriesData& For(const std::string& device_id, const std::string& metric, ValueKind kind) {
    auto [it, inserted] =
        index_.try_emplace(std::make_pair(absl::string_view(device_id), absl::string_view(metric)), entries_.size());
    if (inserted) {
      entries_.push_back(SeriesEntry{device_id, metric, SeriesData{}});
      entries_.back().data.kind = kind;
    }
    return entries_[it->second].data;
  }
  std::vector<SeriesEntry> Take() { return std::move(entries_); }

 private:
  absl::flat_hash_map<std::pair<absl::string_view, absl::string_view>, size_t> index_;
  std::vector<SeriesEntry> entries_;
};

// Why an app may not write `metric`, or nullopt when it may (or the caller is no app).
std::optional<std::string> NotGranted(const IngestRules& rules, const std::string& metric) {
  if (rules.app == nullptr || GrantAllowsWrite(*rules.app, metric)) return std::nullopt;
  return absl::StrCat("the app's grant does not let it write metric \"", Utf8Prefix(metric, 100),
                      "\"; it may write only its write_metrics");
}

// Why a numeric value was refused, in the words of the rule it broke.
std::string ValueRule(const MetricRule& rule, double value) {
  if (std::isnan(value)) return "must be a number, got NaN";
  if (std::isinf(value)) return absl::StrCat("must be a finite number, got ", value > 0 ? "+" : "-", "infinity");
  const bool has_min = std::isfinite(rule.min);
  const bool has_max = std::isfinite(rule.max);
  if (has_min && has_max) return absl::StrCat("must be in [", rule.min, ", ", rule.max, "], got ", value);
  if (has_min) return absl::StrCat("must be at least ", rule.min, ", got ", value);
  return absl::StrCat("must be at most ", rule.max, ", got ", value);
}

}  // namespace

absl::Status CheckBatchShape(const pb::WriteRequest& request, bool batch_id_required) {
  int64_t points = request.points_size();
  for (const pb::Series& series : request.series()) {
    points += series.timestamps_ms_size() > 0
                  ? series.timestamps_ms_size()
                  : std::max({series.double_values_size(), series.int_values_size(), series.bool_values_size(),
                              series.string_values_size()});
  }
  if (points == 0) {
    return FieldError("points", "a batch needs at least one point (in `points` or `series`)");
  }
  if (points > kMaxPointsPerBatch) {
    return FieldError("points", absl::StrCat("at most ", kMaxPointsPerBatch, " points a batch, got ", points,
                                             "; split the batch"));
  }
  const std::string& id = request.batch_id();
  if (id.empty() && batch_id_required) {
    return FieldError("batch_id", "required in WriteStream: acknowledgements name the batch");
  }
  if (id.size() > kMaxBatchIdBytes) {
    return FieldError("batch_id", absl::StrCat("at most ", kMaxBatchIdBytes, " characters, got ", id.size()));
  }
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return FieldError("batch_id", "must be printable ASCII without spaces");
  }
  return absl::OkStatus();
}

absl::StatusOr<ValidatedBatch> ValidateBatch(const pb::WriteRequest& request, const IngestRules& rules,
                                             DeviceDirectory& directory) {
  ValidatedBatch batch;
  RejectionList rejections(batch.response);
  BatchDevices devices(rules, directory);
  devices.Prefetch(request);
  SeriesBuilder builder(static_cast<size_t>(request.series_size()) + (request.points_size() > 0 ? 64 : 0));
  const int64_t newest_ms = absl::ToUnixMillis(rules.now + kMaxFutureSkew);
  int64_t min_ms = std::numeric_limits<int64_t>::max();
  int64_t max_ms = std::numeric_limits<int64_t>::min();
  int64_t accepted = 0;

  // Checks a timestamp; a rejection reason or UNSPECIFIED.
  auto check_time = [&](int64_t time_ms, int64_t oldest_ms, std::string* description) {
    if (time_ms > newest_ms) {
      *description = absl::StrCat("more than ", absl::FormatDuration(kMaxFutureSkew),
                                  " ahead of the server clock");
      return pb::REJECTION_REASON_TIMESTAMP_IN_FUTURE;
    }
    if (time_ms < 0 || time_ms < oldest_ms) {
      *description = "before 1970 or older than the raw retention of the device's type";
      return pb::REJECTION_REASON_TIMESTAMP_OUT_OF_RANGE;
    }
    return pb::REJECTION_REASON_UNSPECIFIED;
  };

  // --- the point-per-message form ---
  for (int i = 0; i < request.points_size(); ++i) {
    const pb::Point& point = request.points(i);
    const std::string prefix = absl::StrCat("points[", i, "]");
    auto lookup = devices.Find(point.device());
    if (!lookup.ok()) return lookup.status();
    const BatchDevices::Lookup& device = **lookup;
    if (device.device == nullptr) {
      rejections.Add(i, 1, i, device.reason, absl::StrCat(prefix, ".device"), device.description);
      continue;
    }
    if (std::optional<std::string> why = NotGranted(rules, point.metric())) {
      rejections.Add(i, 1, i, pb::REJECTION_REASON_NOT_GRANTED, absl::StrCat(prefix, ".metric"), *std::move(why));
      continue;
    }
    auto rule = device.device->metrics.find(point.metric());
    if (rule == device.device->metrics.end()) {
      rejections.Add(i, 1, i, pb::REJECTION_REASON_UNKNOWN_METRIC, absl::StrCat(prefix, ".metric"),
                     absl::StrCat("device type \"", device.device->device_type_id, "\" has no metric \"",
                                  Utf8Prefix(point.metric(), 100), "\""));
      continue;
    }
    if (!point.has_time()) {
      rejections.Add(i, 1, i, pb::REJECTION_REASON_TIMESTAMP_OUT_OF_RANGE, absl::StrCat(prefix, ".time"),
                     "required");
      continue;
    }
    // A Timestamp outside 0001-9999 (or with bad nanos) would overflow the conversion: refused before it.
    if (!IsValidTimestamp(point.time())) {
      rejections.Add(i, 1, i, pb::REJECTION_REASON_TIMESTAMP_OUT_OF_RANGE, absl::StrCat(prefix, ".time"),
                     "not a valid timestamp (seconds within 0001-01-01 to 9999-12-31, nanos 0 to 999,999,999)");
      continue;
    }
    const int64_t time_ms = google::protobuf::util::TimeUtil::TimestampToMilliseconds(point.time());
    std::string description;
    if (auto reason = check_time(time_ms, device.oldest_ms, &description);
        reason != pb::REJECTION_REASON_UNSPECIFIED) {
      rejections.Add(i, 1, i, reason, absl::StrCat(prefix, ".time"), std::move(description));
      continue;
    }
    const MetricRule& metric = rule->second;
    const pb::Value& value = point.value();
    const std::string value_field = absl::StrCat(prefix, ".value");
    auto wrong_type = [&] {
      rejections.Add(i, 1, i, pb::REJECTION_REASON_WRONG_VALUE_TYPE, value_field,
                     absl::StrCat("metric \"", point.metric(), "\" takes ", KindName(metric.kind), " values"));
    };
    SeriesData* series = nullptr;
    switch (metric.kind) {
      case ValueKind::kDouble:
        if (value.kind_case() != pb::Value::kDoubleValue) {
          wrong_type();
          continue;
        }
        if (!std::isfinite(value.double_value()) || value.double_value() < metric.min ||
            value.double_value() > metric.max) {
          rejections.Add(i, 1, i, pb::REJECTION_REASON_INVALID_VALUE, value_field,
                         ValueRule(metric, value.double_value()));
          continue;
        }
        series = &builder.For(device.device->device_id, point.metric(), metric.kind);
        series->doubles.push_back(value.double_value());
        break;
      case ValueKind::kInt64:
        if (value.kind_case() != pb::Value::kIntValue) {
          wrong_type();
          continue;
        }
        if (static_cast<double>(value.int_value()) < metric.min ||
            static_cast<double>(value.int_value()) > metric.max) {
          rejections.Add(i, 1, i, pb::REJECTION_REASON_INVALID_VALUE, value_field,
                         ValueRule(metric, static_cast<double>(value.int_value())));
          continue;
        }
        series = &builder.For(device.device->device_id, point.metric(), metric.kind);
        series->ints.push_back(value.int_value());
        break;
      case ValueKind::kBool:
        if (value.kind_case() != pb::Value::kBoolValue) {
          wrong_type();
          continue;
        }
        series = &builder.For(device.device->device_id, point.metric(), metric.kind);
        series->bools.push_back(value.bool_value() ? 1 : 0);
        break;
      case ValueKind::kString:
        if (value.kind_case() != pb::Value::kStringValue) {
          wrong_type();
          continue;
        }
        if (value.string_value().size() > kMaxStringValueBytes) {
          rejections.Add(i, 1, i, pb::REJECTION_REASON_INVALID_VALUE, value_field,
                         absl::StrCat("at most ", kMaxStringValueBytes, " bytes"));
          continue;
        }
        series = &builder.For(device.device->device_id, point.metric(), metric.kind);
        series->strings.push_back(value.string_value());
        break;
    }
    series->timestamps_ms.push_back(time_ms);
    min_ms = std::min(min_ms, time_ms);
    max_ms = std::max(max_ms, time_ms);
    ++accepted;
  }

  // --- the columnar form ---
  int64_t base = request.points_size();
  for (int s = 0; s < request.series_size(); ++s) {
    const pb::Series& input = request.series(s);
    const int64_t group = request.points_size() + s;
    // Built only for a rejection: most series have none.
    auto prefix = [s] { return absl::StrCat("series[", s, "]"); };
    const int n = input.timestamps_ms_size();
    const int longest_list = std::max({input.double_values_size(), input.int_values_size(),
                                       input.bool_values_size(), input.string_values_size()});
    const int64_t first = base;
    // A series counts one point per timestamp; without timestamps, one per value of its longest list.
    base += n > 0 ? n : longest_list;
    const int lists = (input.double_values_size() > 0) + (input.int_values_size() > 0) +
                      (input.bool_values_size() > 0) + (input.string_values_size() > 0);
    const int values = input.double_values_size() + input.int_values_size() + input.bool_values_size() +
                       input.string_values_size();
    if (n == 0) {
      if (values > 0) {
        // Values without timestamps: nothing to index them by but the series; count what was sent.
        rejections.Add(first, longest_list, group, pb::REJECTION_REASON_MALFORMED_SERIES,
                       absl::StrCat(prefix(), ".timestamps_ms"), "one timestamp is needed per value");
      }
      continue;
    }
    if (lists != 1 || values != n) {
      rejections.Add(first, n, group, pb::REJECTION_REASON_MALFORMED_SERIES, prefix(),
                     absl::StrCat("exactly one value list with one value per timestamp (", n,
                                  " timestamps) is needed, got ", lists, " lists and ", values, " values"));
      continue;
    }
    auto lookup = devices.Find(input.device());
    if (!lookup.ok()) return lookup.status();
    const BatchDevices::Lookup& device = **lookup;
    if (device.device == nullptr) {
      rejections.Add(first, n, group, device.reason, absl::StrCat(prefix(), ".device"), device.description);
      continue;
    }
    if (std::optional<std::string> why = NotGranted(rules, input.metric())) {
      rejections.Add(first, n, group, pb::REJECTION_REASON_NOT_GRANTED, absl::StrCat(prefix(), ".metric"),
                     *std::move(why));
      continue;
    }
    auto rule = device.device->metrics.find(input.metric());
    if (rule == device.device->metrics.end()) {
      rejections.Add(first, n, group, pb::REJECTION_REASON_UNKNOWN_METRIC, absl::StrCat(prefix(), ".metric"),
                     absl::StrCat("device type \"", device.device->device_type_id, "\" has no metric \"",
                                  Utf8Prefix(input.metric(), 100), "\""));
      continue;
    }
    const MetricRule& metric = rule->second;
    const bool type_matches = (metric.kind == ValueKind::kDouble && input.double_values_size() == n) ||
                              (metric.kind == ValueKind::kInt64 && input.int_values_size() == n) ||
                              (metric.kind == ValueKind::kBool && input.bool_values_size() == n) ||
                              (metric.kind == ValueKind::kString && input.string_values_size() == n);
    if (!type_matches) {
      rejections.Add(first, n, group, pb::REJECTION_REASON_WRONG_VALUE_TYPE, prefix(),
                     absl::StrCat("metric \"", input.metric(), "\" takes ", KindName(metric.kind), " values"));
      continue;
    }
    SeriesData& series = builder.For(device.device->device_id, input.metric(), metric.kind);
    series.timestamps_ms.reserve(series.timestamps_ms.size() + n);
    const char* values_field = metric.kind == ValueKind::kDouble  ? "double_values"
                               : metric.kind == ValueKind::kInt64 ? "int_values"
                               : metric.kind == ValueKind::kBool  ? "bool_values"
                                                                  : "string_values";
    // The common case, every point valid: check first, then copy the columns in bulk.
    if (metric.kind == ValueKind::kDouble || metric.kind == ValueKind::kInt64) {
      const int64_t oldest_ms = std::max<int64_t>(0, device.oldest_ms);
      const int64_t* times = input.timestamps_ms().data();
      bool all_valid = true;
      int64_t series_min = std::numeric_limits<int64_t>::max();
      int64_t series_max = std::numeric_limits<int64_t>::min();
      for (int i = 0; i < n; ++i) {
        const int64_t time_ms = times[i];
        series_min = std::min(series_min, time_ms);
        series_max = std::max(series_max, time_ms);
      }
      all_valid = series_min >= oldest_ms && series_max <= newest_ms;
      if (all_valid && metric.kind == ValueKind::kDouble) {
        const double* values = input.double_values().data();
        for (int i = 0; i < n && all_valid; ++i) {
          all_valid = std::isfinite(values[i]) && values[i] >= metric.min && values[i] <= metric.max;
        }
        if (all_valid) series.doubles.insert(series.doubles.end(), values, values + n);
      } else if (all_valid) {
        const int64_t* values = input.int_values().data();
        for (int i = 0; i < n && all_valid; ++i) {
          all_valid = static_cast<double>(values[i]) >= metric.min && static_cast<double>(values[i]) <= metric.max;
        }
        if (all_valid) series.ints.insert(series.ints.end(), values, values + n);
      }
      if (all_valid) {
        series.timestamps_ms.insert(series.timestamps_ms.end(), times, times + n);
        min_ms = std::min(min_ms, series_min);
        max_ms = std::max(max_ms, series_max);
        accepted += n;
        continue;
      }
    }
    for (int i = 0; i < n; ++i) {
      const int64_t time_ms = input.timestamps_ms(i);
      std::string description;
      if (auto reason = check_time(time_ms, device.oldest_ms, &description);
          reason != pb::REJECTION_REASON_UNSPECIFIED) {
        rejections.Add(first + i, 1, group, reason, absl::StrCat(prefix(), ".timestamps_ms[", i, "]"),
                       std::move(description));
        continue;
      }
      bool valid = true;
      switch (metric.kind) {
        case ValueKind::kDouble: {
          const double value = input.double_values(i);
          valid = std::isfinite(value) && value >= metric.min && value <= metric.max;
          if (valid) series.doubles.push_back(value);
          break;
        }
        case ValueKind::kInt64: {
          const int64_t value = input.int_values(i);
          valid = static_cast<double>(value) >= metric.min && static_cast<double>(value) <= metric.max;
          if (valid) series.ints.push_back(value);
          break;
        }
        case ValueKind::kBool:
          series.bools.push_back(input.bool_values(i) ? 1 : 0);
          break;
        case ValueKind::kString:
          valid = input.string_values(i).size() <= kMaxStringValueBytes;
          if (valid) series.strings.push_back(input.string_values(i));
          break;
      }
      if (!valid) {
        rejections.Add(first + i, 1, group, pb::REJECTION_REASON_INVALID_VALUE,
                       absl::StrCat(prefix(), ".", values_field, "[", i, "]"),
                       metric.kind == ValueKind::kString
                           ? absl::StrCat("at most ", kMaxStringValueBytes, " bytes")
                           : ValueRule(metric, metric.kind == ValueKind::kDouble
                                                   ? input.double_values(i)
                                                   : static_cast<double>(input.int_values(i))));
        continue;
      }
      series.timestamps_ms.push_back(time_ms);
      min_ms = std::min(min_ms, time_ms);
      max_ms = std::max(max_ms, time_ms);
      ++accepted;
    }
  }

  batch.series = builder.Take();
  // A series can end up empty when all its points were rejected after it was created.
  std::erase_if(batch.series, [](const SeriesEntry& entry) { return entry.data.size() == 0; });
  batch.accepted_points = accepted;
  batch.min_time_ms = accepted > 0 ? min_ms : 0;
  batch.max_time_ms = accepted > 0 ? max_ms : 0;
  batch.response.set_accepted_points(accepted);
  batch.response.set_rejected_points(rejections.total());
  return batch;
}

}  // namespace parkbase::telemetry
