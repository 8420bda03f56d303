// MarketplaceService's requests (MarketplaceManager) over the in-memory marketplace store, from every kind of
// caller: see request_fuzzing.h for the input and the invariants. The world: acme is a provider with an app in the
// catalogue (versions in every state), an app without a published version and an app the park delisted; globex has
// installed the catalogue app and rated it. Besides the common checks: an INVALID_ARGUMENT message starts with the
// field it is about; a caller who is neither the provider nor the park admin never gets an app outside the
// catalogue, a version that is not PUBLISHED or DEPRECATED, or an app's usage or statement.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "common/page_token.h"
#include "fuzz/example_park.h"
#include "fuzz/fake_marketplace_store.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/request_fuzzing.h"
#include "google/protobuf/util/time_util.h"
#include "marketplace/marketplace_logic.h"
#include "parkbase/marketplace/v1/marketplace.grpc.pb.h"

namespace parkbase::fuzz {
namespace {

using marketplace::MarketplaceManager;

class ReadySearch final : public marketplace::SearchReadiness {
 public:
  absl::Status Check() override { return absl::OkStatus(); }
};

marketpb::AppVersion Version(const std::string& app, const std::string& id, marketpb::VersionState state,
                             const std::string& changelog) {
  marketpb::AppVersion version;
  version.set_name(absl::StrCat("tenants/acme/apps/", app, "/versions/", id));
  version.set_version(id);
  version.set_changelog(changelog);
  version.set_image(absl::StrCat("registry.park/acme/", app, ":", id));
  version.add_requested_scopes("devices.read");
  version.add_requested_scopes("telemetry.read");
  if (id != "0.9.0") {
    version.add_requested_scopes("telemetry.write");
    version.add_write_metrics("anomaly_score");
  }
  version.mutable_pricing()->set_model(marketpb::PRICING_MODEL_PER_DEVICE_MONTHLY);
  version.mutable_pricing()->set_price_fen(1500);
  version.set_state(state);
  if (state == marketpb::VERSION_STATE_REJECTED) version.set_review_reason("image does not start");
  return version;
}

// An INVALID_ARGUMENT message is "<field>: <rule>", the field a path such as grant.data_scope.metrics[2].
bool NamesField(absl::string_view message) {
  const size_t colon = message.find(": ");
  if (colon == 0 || colon == absl::string_view::npos) return false;
  return std::all_of(message.begin(), message.begin() + colon, [](char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '[' || c == ']' || c == '-';
  });
}

class MarketplaceWorld final : public World {
 public:
  MarketplaceWorld() {
    store.tenants["acme"].provider = true;
    store.tenants["globex"].max_installed_apps = 2;
    AddApp("vision-qc", "Vision QC", true, false,
           {Version("vision-qc", "0.5.0", marketpb::VERSION_STATE_REJECTED, "first try"),
            Version("vision-qc", "0.9.0", marketpb::VERSION_STATE_DEPRECATED, "beta"),
            Version("vision-qc", "1.0.0", marketpb::VERSION_STATE_PUBLISHED, "general availability"),
            Version("vision-qc", "1.1.0", marketpb::VERSION_STATE_APPROVED, "faster inference"),
            Version("vision-qc", "1.2.0", marketpb::VERSION_STATE_SUBMITTED, "new camera models"),
            Version("vision-qc", "2.0.0-beta.1", marketpb::VERSION_STATE_DRAFT, "acme-unreleased thermal model")});
    AddApp("secret-planner", "Acme Hidden Planner", true, false,
           {Version("secret-planner", "0.1.0", marketpb::VERSION_STATE_DRAFT, "acme-private roadmap")});
    AddApp("old-meter", "Acme Retired Meter", false, true,
           {Version("old-meter", "1.0.0", marketpb::VERSION_STATE_PUBLISHED, "acme-retired release")});

    // globex runs vision-qc 1.0.0, upgraded from 0.9.0, and rated it.
    marketplace::StoredInstallation stored;
    stored.tenant_id = "globex";
    stored.installation_id = "vision-qc-0a1b2c";
    stored.provider_id = "acme";
    stored.app_id = "vision-qc";
    marketpb::Installation& installation = stored.installation;
    installation.set_name("tenants/globex/installations/vision-qc-0a1b2c");
    installation.set_app("tenants/acme/apps/vision-qc");
    installation.set_version("1.0.0");
    installation.set_previous_version("0.9.0");
    installation.mutable_grant()->add_scopes("devices.read");
    installation.mutable_grant()->add_scopes("telemetry.read");
    (*installation.mutable_grant()->mutable_data_scope()->mutable_device_labels())["line"] = "globex-private-line";
    installation.mutable_grant()->mutable_data_scope()->add_metrics("temp");
    installation.set_state(marketpb::INSTALLATION_STATE_ACTIVE);
    installation.set_credential_key_id("appkeyglobex1");
    *installation.mutable_pricing() = store.FindApp("acme", "vision-qc")->versions.at("1.0.0").pricing();
    installation.set_granted_devices(3);
    *installation.mutable_create_time() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
        int64_t{1'790'000'000} * 1'000'000);
    auto& globex = store.tenants["globex"];
    globex.installations[stored.installation_id] = stored;
    globex.credentials.push_back("appkeyglobex1");
    for (const char* day : {"2026-09-30", "2026-10-01", "2026-10-02"}) {
      globex.days.push_back({"globex", stored.installation_id,
                             {day, marketpb::PRICING_MODEL_PER_DEVICE_MONTHLY, 1500, 3}});
    }
    marketpb::Rating& rating = globex.ratings["acme/vision-qc"];
    rating.set_name("tenants/acme/apps/vision-qc/ratings/globex");
    rating.set_tenant("globex");
    rating.set_stars(4);
    rating.set_review("works on our lathes");
    *rating.mutable_create_time() = installation.create_time();
    *rating.mutable_update_time() = installation.create_time();
    store.hook = &guard;
  }

  absl::Status Call(const google::protobuf::MethodDescriptor& method, const Principal& caller,
                    const google::protobuf::Message& request,
                    std::unique_ptr<google::protobuf::Message>& response) override {
    const absl::Status status = Dispatch(method.name(), caller, request, response);
    const std::string context = absl::StrCat(method.full_name(), " called by ", caller.key_id);
    if (absl::IsInvalidArgument(status) && !NamesField(status.message())) {
      Fail(absl::StrCat(context, ": INVALID_ARGUMENT that names no field: ", Printable(status.message())));
    }
    if (status.ok() && response != nullptr && !caller.IsParkAdmin()) CheckSeen(caller, *response, context);
    return status;
  }

  std::vector<std::string> Tenants() const override { return {"acme", "globex"}; }
  std::string TenantDigest(const std::string& tenant_id) override { return store.Digest(tenant_id); }
  // acme's unpublished texts, each while it is unpublished: the park may relist an app and approve and publish its
  // versions, and from then on the catalogue shows them to every tenant (an app once listed with a published
  // version; a version's changelog once that version is published or deprecated in such an app).
  std::vector<std::string> Secrets(const std::string& tenant_id) const override {
    if (tenant_id == "acme") {
      std::vector<std::string> secrets;
      // An app or version no longer stored (deleted) keeps its texts secret.
      const auto& apps = store.tenants.at("acme").apps;
      auto app_public = [&](const std::string& app_id) {
        auto rows = apps.find(app_id);
        return rows != apps.end() && rows->second.stored.app.listed() && !rows->second.stored.delisted_by_park &&
               !rows->second.stored.app.latest_version().empty();
      };
      auto version_public = [&](const std::string& app_id, const std::string& version) {
        if (!app_public(app_id)) return false;
        const auto& versions = apps.at(app_id).versions;
        auto stored = versions.find(version);
        return stored != versions.end() && (stored->second.state() == marketpb::VERSION_STATE_PUBLISHED ||
                                             stored->second.state() == marketpb::VERSION_STATE_DEPRECATED);
      };
      if (!app_public("secret-planner")) secrets.push_back("Acme Hidden Planner");
      if (!app_public("old-meter")) secrets.push_back("Acme Retired Meter");
      if (!version_public("vision-qc", "2.0.0-beta.1")) secrets.push_back("acme-unreleased thermal model");
      if (!version_public("secret-planner", "0.1.0")) secrets.push_back("acme-private roadmap");
      if (!version_public("old-meter", "1.0.0")) secrets.push_back("acme-retired release");
      return secrets;
    }
    if (tenant_id == "globex") return {"globex-private-line", "appkeyglobex1"};
    return {};
  }
  // The catalogue's apps and their PUBLISHED or DEPRECATED versions and ratings, apps the caller's tenant installed,
  // and for a provider the installations of its apps (usage and statements).
  bool MayName(const Principal& caller, const std::string& name) const override {
    std::vector<std::string> parts = absl::StrSplit(name, '/');
    if (parts.size() >= 4 && parts[0] == "tenants" && parts[2] == "apps") {
      const FakeMarketplaceStore::AppRows* app = store.FindApp(parts[1], parts[3]);
      if (app == nullptr) return false;
      const bool catalogue = store.InCatalogue(parts[1], parts[3]);
      if (parts.size() == 4) return catalogue || Installed(caller.tenant_id, parts[1], parts[3]);
      if (parts.size() == 6 && parts[4] == "versions") {
        auto version = app->versions.find(parts[5]);
        return catalogue && version != app->versions.end() &&
               (version->second.state() == marketpb::VERSION_STATE_PUBLISHED ||
                version->second.state() == marketpb::VERSION_STATE_DEPRECATED);
      }
      // A rating: of a catalogue app, or the caller's own of an app it installed.
      return parts.size() == 6 && parts[4] == "ratings" && (catalogue || Installed(caller.tenant_id, parts[1], parts[3]));
    }
    if (parts.size() == 4 && parts[0] == "tenants" && parts[2] == "installations") {
      auto tenant = store.tenants.find(parts[1]);
      if (tenant == store.tenants.end()) return false;
      auto installation = tenant->second.installations.find(parts[3]);
      return installation != tenant->second.installations.end() &&
             installation->second.provider_id == caller.tenant_id;
    }
    return false;
  }

  FakeMarketplaceStore store;

 private:
  void AddApp(const std::string& id, const std::string& display_name, bool listed, bool delisted_by_park,
              const std::vector<marketpb::AppVersion>& versions) {
    FakeMarketplaceStore::AppRows& rows = store.tenants["acme"].apps[id];
    marketpb::App& app = rows.stored.app;
    app.set_name(absl::StrCat("tenants/acme/apps/", id));
    app.set_app_id(id);
    app.set_provider("acme");
    app.set_display_name(display_name);
    app.set_summary(absl::StrCat(display_name, " for the factory floor"));
    app.set_category(marketpb::CATEGORY_QUALITY_INSPECTION);
    app.set_vendor("Acme");
    app.set_listed(listed);
    if (!listed) app.set_delist_reason("acme-retired: unsafe firmware");
    rows.stored.delisted_by_park = delisted_by_park;
    for (const marketpb::AppVersion& version : versions) {
      rows.versions[version.version()] = version;
      if (version.state() == marketpb::VERSION_STATE_SUBMITTED) rows.submit_micros[version.version()] = 1;
    }
    store.RefreshLatestVersion(rows);
  }

  bool Installed(const std::string& tenant_id, const std::string& provider, const std::string& app) const {
    auto tenant = store.tenants.find(tenant_id);
    if (tenant == store.tenants.end()) return false;
    for (const auto& [id, stored] : tenant->second.installations) {
      if (stored.provider_id == provider && stored.app_id == app) return true;
    }
    return false;
  }

  // What a caller who is not the park admin got: other providers' apps only from the catalogue, their versions
  // only PUBLISHED or DEPRECATED, usage and statements only of its own apps.
  void CheckSeen(const Principal& caller, const google::protobuf::Message& response, const std::string& context) {
    const auto check_app = [&](const marketpb::App& app) {
      if (app.provider() != caller.tenant_id && !store.InCatalogue(app.provider(), app.app_id()) &&
          !Installed(caller.tenant_id, app.provider(), app.app_id())) {
        Fail(absl::StrCat(context, ": got ", Printable(app.name()), ", which is not in the catalogue"));
      }
    };
    const auto check_version = [&](const marketpb::AppVersion& version) {
      std::vector<std::string> parts = absl::StrSplit(version.name(), '/');
      if (parts.size() != 6) Fail(absl::StrCat(context, ": a version named ", Printable(version.name())));
      if (parts[1] == caller.tenant_id) return;
      if (!store.InCatalogue(parts[1], parts[3]) || (version.state() != marketpb::VERSION_STATE_PUBLISHED &&
                                                     version.state() != marketpb::VERSION_STATE_DEPRECATED)) {
        Fail(absl::StrCat(context, ": got ", Printable(version.name()), ", which is ",
                          marketpb::VersionState_Name(version.state()), " or outside the catalogue"));
      }
    };
    const auto own_app = [&](const std::string& name) {
      if (!absl::StartsWith(name, absl::StrCat("tenants/", caller.tenant_id, "/apps/"))) {
        Fail(absl::StrCat(context, ": got the usage or statement of ", Printable(name), ", not its own app"));
      }
    };
    if (const auto* app = dynamic_cast<const marketpb::App*>(&response)) check_app(*app);
    if (const auto* list = dynamic_cast<const marketpb::ListAppsResponse*>(&response)) {
      for (const auto& app : list->apps()) check_app(app);
    }
    if (const auto* list = dynamic_cast<const marketpb::SearchAppsResponse*>(&response)) {
      for (const auto& app : list->apps()) check_app(app);
    }
    if (const auto* version = dynamic_cast<const marketpb::AppVersion*>(&response)) check_version(*version);
    if (const auto* list = dynamic_cast<const marketpb::ListAppVersionsResponse*>(&response)) {
      for (const auto& version : list->versions()) check_version(version);
    }
    if (const auto* list = dynamic_cast<const marketpb::ListReviewQueueResponse*>(&response)) {
      for (const auto& version : list->versions()) check_version(version);
    }
    if (const auto* usage = dynamic_cast<const marketpb::AppUsage*>(&response)) own_app(usage->app());
    if (const auto* statement = dynamic_cast<const marketpb::AppStatement*>(&response)) own_app(statement->app());
  }

  absl::Status Dispatch(const std::string& name, const Principal& caller, const google::protobuf::Message& request,
                        std::unique_ptr<google::protobuf::Message>& response) {
#define PARKBASE_MARKETPLACE_CALL(method) \
  if (name == #method) return Serve(manager_, &MarketplaceManager::method, caller, request, response)
    PARKBASE_MARKETPLACE_CALL(CreateApp);
    PARKBASE_MARKETPLACE_CALL(GetApp);
    PARKBASE_MARKETPLACE_CALL(ListApps);
    PARKBASE_MARKETPLACE_CALL(UpdateApp);
    PARKBASE_MARKETPLACE_CALL(DelistApp);
    PARKBASE_MARKETPLACE_CALL(RelistApp);
    PARKBASE_MARKETPLACE_CALL(CreateAppVersion);
    PARKBASE_MARKETPLACE_CALL(GetAppVersion);
    PARKBASE_MARKETPLACE_CALL(ListAppVersions);
    PARKBASE_MARKETPLACE_CALL(UpdateAppVersion);
    PARKBASE_MARKETPLACE_CALL(SubmitAppVersion);
    PARKBASE_MARKETPLACE_CALL(ReviewAppVersion);
    PARKBASE_MARKETPLACE_CALL(PublishAppVersion);
    PARKBASE_MARKETPLACE_CALL(DeprecateAppVersion);
    PARKBASE_MARKETPLACE_CALL(ListReviewQueue);
    PARKBASE_MARKETPLACE_CALL(SearchApps);
    PARKBASE_MARKETPLACE_CALL(InstallApp);
    PARKBASE_MARKETPLACE_CALL(GetInstallation);
    PARKBASE_MARKETPLACE_CALL(ListInstallations);
    PARKBASE_MARKETPLACE_CALL(UpgradeInstallation);
    PARKBASE_MARKETPLACE_CALL(RollbackInstallation);
    PARKBASE_MARKETPLACE_CALL(PinInstallation);
    PARKBASE_MARKETPLACE_CALL(UninstallApp);
    PARKBASE_MARKETPLACE_CALL(RateApp);
    PARKBASE_MARKETPLACE_CALL(ListRatings);
    PARKBASE_MARKETPLACE_CALL(GetAppUsage);
    PARKBASE_MARKETPLACE_CALL(GetAppStatement);
#undef PARKBASE_MARKETPLACE_CALL
    Fail(absl::StrCat("marketplace world: no handler for ", name));
  }

  FakeClock clock_{absl::FromUnixSeconds(1'791'000'000)};
  PageTokens tokens_{kPageTokenSecret};
  ReadySearch readiness_;
  MarketplaceManager manager_{store, clock_, tokens_, readiness_};
};

const ServiceTarget& Target() {
  static const auto* target = new ServiceTarget{
      marketpb::MarketplaceService::service_full_name(),
      [] { return std::make_unique<MarketplaceWorld>(); },
      {"tenants/acme", "tenants/globex", "tenants/park", "tenants/acme/apps/vision-qc",
       "tenants/acme/apps/secret-planner", "tenants/acme/apps/old-meter",
       "tenants/acme/apps/vision-qc/versions/1.0.0", "tenants/acme/apps/vision-qc/versions/1.1.0",
       "tenants/acme/apps/vision-qc/versions/1.2.0", "tenants/acme/apps/vision-qc/versions/2.0.0-beta.1",
       "tenants/acme/apps/secret-planner/versions/0.1.0", "tenants/globex/installations/vision-qc-0a1b2c",
       "vision-qc", "1.0.0", "2.0.0", "1.0.0-rc.1", "devices.read", "telemetry.read", "telemetry.write", "temp",
       "anomaly_score", "line", "2026-10", "2026-02", "display_name", "summary", "tags", "pricing", "requested_scopes",
       "write_metrics", "视觉 质检", "acme", "globex"},
      {
          {{kAcmeProvider, "CreateApp",
            R"(parent: "tenants/acme" app_id: "energy-board" app {
                 display_name: "Energy Board" summary: "live energy dashboard" category: CATEGORY_ENERGY_MANAGEMENT
                 tags: "energy" vendor: "Acme" homepage: "https://acme.example/energy" })"},
           {kAcmeProvider, "CreateAppVersion",
            R"(parent: "tenants/acme/apps/energy-board" version_id: "1.0.0" version {
                 image: "registry.park/acme/energy-board:1.0.0" requested_scopes: "telemetry.read"
                 pricing { model: PRICING_MODEL_FLAT_MONTHLY price_fen: 9900 } })"},
           {kAcmeProvider, "SubmitAppVersion", R"(name: "tenants/acme/apps/energy-board/versions/1.0.0")"},
           {kParkAdmin, "ReviewAppVersion",
            R"(name: "tenants/acme/apps/energy-board/versions/1.0.0" decision: REVIEW_DECISION_APPROVE)"}},
          {{kAcmeProvider, "PublishAppVersion", R"(name: "tenants/acme/apps/vision-qc/versions/1.1.0")"},
           {kGlobexAdmin, "UpgradeInstallation",
            R"(name: "tenants/globex/installations/vision-qc-0a1b2c" version: "1.1.0"
               grant { scopes: "devices.read" scopes: "telemetry.read" })"},
           {kGlobexAdmin, "RollbackInstallation", R"(name: "tenants/globex/installations/vision-qc-0a1b2c")"}},
          {{kAcmeAdmin, "UpdateAppVersion",
            R"(version { name: "tenants/acme/apps/vision-qc/versions/2.0.0-beta.1" changelog: "rewritten"
                 pricing { model: PRICING_MODEL_FREE } }
               update_mask { paths: "changelog" paths: "pricing" })"},
           {kAcmeAdmin, "SubmitAppVersion", R"(name: "tenants/acme/apps/vision-qc/versions/2.0.0-beta.1")"},
           {kParkAdmin, "ListReviewQueue", R"(page_size: 1)"},
           {kParkAdmin, "ListReviewQueue", R"(page_size: 1 page_token: "$page_token")"}},
          {{kParkAdmin, "ReviewAppVersion",
            R"(name: "tenants/acme/apps/vision-qc/versions/1.2.0" decision: REVIEW_DECISION_REJECT
               reason: "crashes on start")"},
           {kAcmeProvider, "DeprecateAppVersion", R"(name: "tenants/acme/apps/vision-qc/versions/1.0.0")"},
           {kGlobexAdmin, "GetApp", R"(name: "tenants/acme/apps/vision-qc")"}},
          {{kGlobexAdmin, "GetApp", R"(name: "tenants/acme/apps/secret-planner")"},
           {kGlobexAdmin, "GetAppVersion", R"(name: "tenants/acme/apps/vision-qc/versions/1.2.0")"},
           {kGlobexAdmin, "ListAppVersions", R"(parent: "tenants/acme/apps/vision-qc" page_size: 1)"},
           {kGlobexAdmin, "ListAppVersions",
            R"(parent: "tenants/acme/apps/vision-qc" page_size: 1 page_token: "$page_token")"}},
          {{kAcmeProvider, "ListApps", R"(parent: "tenants/acme" page_size: 2)"},
           {kAcmeProvider, "ListApps", R"(parent: "tenants/acme" page_size: 2 page_token: "$page_token")"}},
          {{kAcmeAdmin, "UpdateApp",
            R"(app { name: "tenants/acme/apps/vision-qc" summary: "defect detection" tags: "ai" tags: "camera" }
               update_mask { paths: "summary" paths: "tags" })"},
           {kAcmeProvider, "DelistApp", R"(name: "tenants/acme/apps/vision-qc" reason: "maintenance")"},
           {kGlobexAdmin, "ListInstallations", R"(parent: "tenants/globex")"},
           {kAcmeProvider, "RelistApp", R"(name: "tenants/acme/apps/vision-qc")"}},
          {{kParkAdmin, "DelistApp", R"(name: "tenants/acme/apps/vision-qc" reason: "unsafe")"},
           {kAcmeProvider, "RelistApp", R"(name: "tenants/acme/apps/old-meter")"},
           {kParkAdmin, "RelistApp", R"(name: "tenants/acme/apps/old-meter")"}},
          {{kGlobexAdmin, "SearchApps", R"(query: "vision" page_size: 1)"},
           {kGlobexAdmin, "SearchApps", R"(query: "vision" page_size: 1 page_token: "$page_token")"},
           {kAcmeDeveloper, "SearchApps",
            R"(categories: CATEGORY_QUALITY_INSPECTION pricing_models: PRICING_MODEL_PER_DEVICE_MONTHLY
               provider: "acme" order: SEARCH_ORDER_RATING)"}},
          {{kAcmeAdmin, "InstallApp",
            R"(parent: "tenants/acme" app: "tenants/acme/apps/vision-qc"
               grant { scopes: "telemetry.read" data_scope { device_labels { key: "line" value: "3" } metrics: "temp" } })"},
           {kAcmeAdmin, "ListInstallations", R"(parent: "tenants/acme" page_size: 1 show_uninstalled: true)"},
           {kAcmeAdmin, "RateApp",
            R"(parent: "tenants/acme" app: "tenants/acme/apps/vision-qc" stars: 5 review: "great")"}},
          {{kGlobexAdmin, "InstallApp",
            R"(parent: "tenants/globex" app: "tenants/acme/apps/vision-qc" version: "1.0.0"
               grant { scopes: "devices.read" })"},
           {kGlobexAdmin, "UninstallApp", R"(name: "tenants/globex/installations/vision-qc-0a1b2c")"},
           {kGlobexAdmin, "InstallApp",
            R"(parent: "tenants/globex" app: "tenants/acme/apps/vision-qc" grant { scopes: "telemetry.write" })"}},
          {{kGlobexAdmin, "PinInstallation", R"(name: "tenants/globex/installations/vision-qc-0a1b2c" pinned: true)"},
           {kGlobexAdmin, "GetInstallation", R"(name: "tenants/globex/installations/vision-qc-0a1b2c")"},
           {kAcmeAdmin, "GetInstallation", R"(name: "tenants/globex/installations/vision-qc-0a1b2c")"}},
          {{kGlobexAdmin, "RateApp",
            R"(parent: "tenants/globex" app: "tenants/acme/apps/vision-qc" stars: 2 review: "slow")"},
           {kAcmeDeveloper, "ListRatings", R"(app: "tenants/acme/apps/vision-qc" page_size: 1)"},
           {kAcmeDeveloper, "ListRatings", R"(app: "tenants/acme/apps/vision-qc" page_size: 1 page_token: "$page_token")"}},
          {{kAcmeProvider, "GetAppUsage", R"(app: "tenants/acme/apps/vision-qc")"},
           {kAcmeProvider, "GetAppStatement", R"(app: "tenants/acme/apps/vision-qc" month: "2026-10")"},
           {kGlobexAdmin, "GetAppUsage", R"(app: "tenants/acme/apps/vision-qc")"},
           {kParkAdmin, "GetAppStatement", R"(app: "tenants/acme/apps/vision-qc" month: "2026-09")"}},
      }};
  return *target;
}

}  // namespace

std::vector<std::string> FuzzSeeds() { return SeedInputs(Target()); }

}  // namespace parkbase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return parkbase::fuzz::RunCalls(parkbase::fuzz::Target(), data, size);
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return parkbase::fuzz::MutateCalls(parkbase::fuzz::Target(), data, size, max_size, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* first, size_t first_size, const uint8_t* second,
                                            size_t second_size, uint8_t* out, size_t max_out_size,
                                            unsigned int seed) {
  return parkbase::fuzz::CrossOverCalls(first, first_size, second, second_size, out, max_out_size, seed);
}
