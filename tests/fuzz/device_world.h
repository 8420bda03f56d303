// DeviceService's logic (DeviceManager) over the in-memory device store holding the example park: the world of the
// device request target and of the label-selector target.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/page_token.h"
#include "device/device_logic.h"
#include "fuzz/example_park.h"
#include "fuzz/fake_device_store.h"
#include "fuzz/request_fuzzing.h"

namespace parkbase::fuzz {

// Schema changes are cache bumps in Redis: here they only have to concern the caller's own tenant.
class GuardedInvalidator final : public device::SchemaInvalidator {
 public:
  explicit GuardedInvalidator(CallGuard& guard) : guard_(guard) {}
  void TenantChanged(const std::string& tenant_id) override;
  void DeviceDeleted(const std::string& tenant_id, const std::string& device_id) override;

 private:
  CallGuard& guard_;
};

class DeviceWorld final : public World {
 public:
  DeviceWorld();

  absl::Status Call(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                    const google::protobuf::Message& request,
                    std::unique_ptr<google::protobuf::Message>& response) override;
  std::vector<std::string> Tenants() const override { return {"acme", "globex", "park"}; }
  std::string TenantDigest(const std::string& tenant_id) override { return store.Digest(tenant_id); }
  std::vector<std::string> Secrets(const std::string& tenant_id) const override {
    return ExampleDeviceSecrets(tenant_id);
  }
  std::vector<std::string> DevicesOutside(const std::string& tenant_id,
                                          const access::v1::AppGrant& grant) const override {
    return store.DevicesOutside(tenant_id, grant);
  }

  FakeDeviceStore store{kParkCode};

 private:
  // ImportDevices as its server runs it: the rows arrive in two messages, the first passes the access gate.
  absl::Status Import(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                      const devicepb::ImportDevicesRequest& request,
                      std::unique_ptr<google::protobuf::Message>& response);

  PageTokens tokens_{kPageTokenSecret};
  GuardedInvalidator invalidator_{guard};
  device::DeviceManager manager_{store, tokens_, invalidator_, kParkCode};
};

}  // namespace parkbase::fuzz
