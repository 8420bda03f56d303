// TelemetryService's logic (TelemetryManager) over in-memory fakes of its store, rate limiter, latest values and live
// feed, with the real device directory and schema resolver over the example park's device rows: the world of the
// telemetry request target and of the label-selector target. Each tenant has two days of compacted points (with
// their one-minute and one-hour rollups) and a committed batch in the ingest log.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/page_token.h"
#include "device/schema_resolver.h"
#include "fuzz/example_park.h"
#include "fuzz/fake_device_store.h"
#include "fuzz/fake_telemetry.h"
#include "fuzz/request_fuzzing.h"
#include "prometheus/registry.h"
#include "telemetry/device_directory.h"
#include "telemetry/telemetry_logic.h"

namespace parkbase::fuzz {

namespace telemetrypb = ::parkbase::telemetry::v1;

class TelemetryWorld final : public World {
 public:
  TelemetryWorld();

  absl::Status Call(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                    const google::protobuf::Message& request,
                    std::unique_ptr<google::protobuf::Message>& response) override;
  std::vector<std::string> Tenants() const override { return {"acme", "globex", "park"}; }
  std::string TenantDigest(const std::string& tenant_id) override;
  std::vector<std::string> Secrets(const std::string& tenant_id) const override;
  std::vector<std::string> DevicesOutside(const std::string& tenant_id,
                                          const access::v1::AppGrant& grant) const override {
    return devices.DevicesOutside(tenant_id, grant);
  }

  FakeDeviceStore devices{kParkCode};
  FakeTelemetryStore store{devices};

 private:
  // Write and WriteStream: the batch, and what a correct answer to it looks like.
  absl::Status Write(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                     const telemetrypb::WriteRequest& request, std::unique_ptr<google::protobuf::Message>& response);
  absl::Status Subscribe(const Principal& caller, const telemetrypb::SubscribeRequest& request,
                         std::unique_ptr<google::protobuf::Message>& response);
  void CheckReadRange(const telemetrypb::ReadRangeRequest& request, const telemetrypb::ReadRangeResponse& response);
  void CheckAggregate(const telemetrypb::AggregateRequest& request, const telemetrypb::AggregateResponse& response);

  FakeIngestRateLimiter limiter_;
  FakeLatestValues latest_;
  FakeLiveFeed live_;
  FakeClock clock_{absl::FromUnixSeconds(kNowSeconds)};
  PageTokens tokens_{kPageTokenSecret};
  prometheus::Registry registry_;
  device::DeviceSchemaResolver resolver_{devices, /*redis=*/nullptr, clock_};
  telemetry::RegistryDeviceDirectory directory_{resolver_, store};
  telemetry::TelemetryManager manager_;
};

}  // namespace parkbase::fuzz
