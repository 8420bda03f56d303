// A server with tenants populated the same way for suites that walk every method (the isolation matrix, the
// HTTP/gRPC parity walk): a device type, two devices with credentials and telemetry, and a provider's published
// and draft apps with an installation and a rating.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "parkbase/device/v1/device.grpc.pb.h"
#include "parkbase/marketplace/v1/marketplace.grpc.pb.h"
#include "parkbase/telemetry/v1/telemetry.grpc.pb.h"
#include "support/tenant_client.h"
#include "support/test_env.h"

namespace parkbase::testing {

namespace devpb = ::parkbase::device::v1;
namespace telpb = ::parkbase::telemetry::v1;

class IsolationEnv {
 public:
  IsolationEnv()
      : tenants_(server_),
        devices_(devpb::DeviceService::NewStub(server_.channel())),
        telemetry_(telpb::TelemetryService::NewStub(server_.channel())),
        market_(::parkbase::marketplace::v1::MarketplaceService::NewStub(server_.channel())) {}

  TestServer& server() { return server_; }
  TenantClient& tenants() { return tenants_; }
  devpb::DeviceService::Stub& devices() { return *devices_; }
  telpb::TelemetryService::Stub& telemetry() { return *telemetry_; }

  // A device type `sensor` (DOUBLE `temp`), devices dev-1, dev-2 with label line=7, telemetry on both; returns their
  // device keys.
  std::pair<std::string, std::string> Populate(const TestTenant& tenant, absl::Time when) {
    devpb::CreateDeviceTypeRequest type;
    type.set_parent(Parent(tenant.tenant_id));
    type.set_device_type_id("sensor");
    type.mutable_device_type()->set_display_name("Sensor");
    auto* temp = type.mutable_device_type()->add_metrics();
    temp->set_name("temp");
    temp->set_value_type(devpb::VALUE_TYPE_DOUBLE);
    devpb::DeviceType created_type;
    REQUIRE(devices_->CreateDeviceType(Context(tenant.admin_key).get(), type, &created_type).ok());
    std::vector<std::string> keys;
    for (const char* id : {"dev-1", "dev-2"}) {
      devpb::CreateDeviceRequest device;
      device.set_parent(Parent(tenant.tenant_id));
      device.mutable_device()->set_device_id(id);
      device.mutable_device()->set_device_type_id("sensor");
      device.mutable_device()->set_serial_number(absl::StrCat("SN-", id));
      (*device.mutable_device()->mutable_labels())["line"] = "7";
      device.mutable_device()->add_public_attribute_keys("vendor_code");
      (*device.mutable_device()->mutable_attributes())["vendor_code"].set_string_value("public");
      (*device.mutable_device()->mutable_attributes())["secret_note"].set_string_value("private");
      devpb::Device created;
      REQUIRE(devices_->CreateDevice(Context(tenant.admin_key).get(), device, &created).ok());
      identifiers_[tenant.tenant_id] = created.identifier();
      devpb::CreateDeviceCredentialRequest credential;
      credential.set_parent(created.name());
      credential.mutable_credential()->set_display_name("firmware");
      devpb::CreateDeviceCredentialResponse minted;
      REQUIRE(devices_->CreateDeviceCredential(Context(tenant.admin_key).get(), credential, &minted).ok());
      credential_ids_[tenant.tenant_id] = minted.credential().key_id();
      keys.push_back(minted.secret());
      telpb::WriteRequest write;
      write.set_parent(Parent(tenant.tenant_id));
      telpb::Series* series = write.add_series();
      series->set_device(id);
      series->set_metric("temp");
      series->add_timestamps_ms(absl::ToUnixMillis(when));
      series->add_double_values(21.5);
      telpb::WriteResponse written;
      REQUIRE(telemetry_->Write(Context(tenant.admin_key).get(), write, &written).ok());
      REQUIRE(written.accepted_points() == 1);
      // Its first call activates a device; done now, so the matrix's calls change nothing.
      devpb::GetDeviceRequest get;
      get.set_name(created.name());
      devpb::Device self;
      REQUIRE(devices_->GetDevice(Context(minted.secret()).get(), get, &self).ok());
    }
    return {keys[0], keys[1]};
  }

  // Makes `tenant` a provider with a published app `public-app` (version 1.0.0, installed by the tenant itself,
  // rated by it) and an unpublished app `draft-app` whose summary holds kDraftMarker. Returns the installation id.
  std::string PopulateMarketplace(const TestTenant& tenant) {
    namespace mpb = ::parkbase::marketplace::v1;
    const std::string park = server_.park_admin_key();
    tenantpb::UpdateTenantRequest provider;
    provider.mutable_tenant()->set_name(Parent(tenant.tenant_id));
    provider.mutable_tenant()->set_provider(true);
    provider.mutable_update_mask()->add_paths("provider");
    tenantpb::Tenant updated;
    REQUIRE(tenants_.stub().UpdateTenant(Context(park).get(), provider, &updated).ok());
    for (const char* app_id : {"public-app", "draft-app"}) {
      mpb::CreateAppRequest app;
      app.set_parent(Parent(tenant.tenant_id));
      app.set_app_id(app_id);
      app.mutable_app()->set_display_name(app_id);
      app.mutable_app()->set_summary(std::string(app_id) == "draft-app" ? kDraftMarker : "in the catalogue");
      app.mutable_app()->set_category(mpb::CATEGORY_OTHER);
      mpb::App created;
      REQUIRE(market_->CreateApp(Context(tenant.admin_key).get(), app, &created).ok());
      mpb::CreateAppVersionRequest version;
      version.set_parent(created.name());
      version.set_version_id("1.0.0");
      version.mutable_version()->set_image("registry.example.com/app:1.0.0");
      version.mutable_version()->add_requested_scopes("devices.read");
      version.mutable_version()->mutable_pricing()->set_model(mpb::PRICING_MODEL_FREE);
      mpb::AppVersion answer;
      REQUIRE(market_->CreateAppVersion(Context(tenant.admin_key).get(), version, &answer).ok());
      if (std::string(app_id) == "draft-app") continue;
      mpb::SubmitAppVersionRequest submit;
      submit.set_name(answer.name());
      REQUIRE(market_->SubmitAppVersion(Context(tenant.admin_key).get(), submit, &answer).ok());
      mpb::ReviewAppVersionRequest approve;
      approve.set_name(answer.name());
      approve.set_decision(mpb::REVIEW_DECISION_APPROVE);
      REQUIRE(market_->ReviewAppVersion(Context(park).get(), approve, &answer).ok());
      mpb::PublishAppVersionRequest publish;
      publish.set_name(answer.name());
      REQUIRE(market_->PublishAppVersion(Context(tenant.admin_key).get(), publish, &answer).ok());
    }
    mpb::InstallAppRequest install;
    install.set_parent(Parent(tenant.tenant_id));
    install.set_app(absl::StrCat(Parent(tenant.tenant_id), "/apps/public-app"));
    install.mutable_grant()->add_scopes("devices.read");
    mpb::InstallAppResponse installed;
    REQUIRE(market_->InstallApp(Context(tenant.admin_key).get(), install, &installed).ok());
    RecordSecret(installed.credential());
    mpb::RateAppRequest rate;
    rate.set_parent(Parent(tenant.tenant_id));
    rate.set_app(install.app());
    rate.set_stars(4);
    mpb::Rating rating;
    REQUIRE(market_->RateApp(Context(tenant.admin_key).get(), rate, &rating).ok());
    return std::vector<std::string>(absl::StrSplit(installed.installation().name(), '/'))[3];
  }

  static constexpr char kDraftMarker[] = "unpublished draft of the victim";

  std::string identifier_of(const std::string& tenant_id) { return identifiers_[tenant_id]; }
  std::string credential_of(const std::string& tenant_id) { return credential_ids_[tenant_id]; }

  static std::string Parent(const std::string& tenant_id) { return absl::StrCat("tenants/", tenant_id); }

 private:
  TestServer server_;
  TenantClient tenants_;
  std::unique_ptr<devpb::DeviceService::Stub> devices_;
  std::unique_ptr<telpb::TelemetryService::Stub> telemetry_;
  std::unique_ptr<::parkbase::marketplace::v1::MarketplaceService::Stub> market_;
  std::map<std::string, std::string> identifiers_;
  std::map<std::string, std::string> credential_ids_;
};

// The id part of an API key (pk.<tenant>.<id>.<secret>).
inline std::string KeyId(const std::string& key) { return std::vector<std::string>(absl::StrSplit(key, '.'))[2]; }

}  // namespace parkbase::testing
