#include "marketplace/marketplace_store.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/api_keys.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace parkbase::marketplace {
namespace {

using google::protobuf::util::TimeUtil;

#define PB_MICROS(column) "floor(extract(epoch FROM " column ") * 1000000)::bigint"

// Arrays travel joined by the unit separator, which validated text never contains (no control characters).
constexpr char kArraySeparator = '\x1f';
#define PB_ARRAY(column) "array_to_string(" column ", chr(31))"

#define PB_APP_COLUMNS                                                                                         \
  "tenant_id, app_id, display_name, summary, description, category, " PB_ARRAY("tags") ", vendor, homepage, " \
  "listed, delist_reason, delisted_by_park, latest_version, pricing_model, price_fen, rating_sum, "            \
  "rating_count, install_count, " PB_MICROS("create_time") ", " PB_MICROS("update_time")
constexpr int kAppColumnCount = 20;
// PB_APP_COLUMNS of the alias `a`, for queries that join apps.
#define PB_APP_COLUMNS_OF_A                                                                                     \
  "a.tenant_id, a.app_id, a.display_name, a.summary, a.description, a.category, " PB_ARRAY("a.tags") ", "      \
  "a.vendor, a.homepage, a.listed, a.delist_reason, a.delisted_by_park, a.latest_version, a.pricing_model, "   \
  "a.price_fen, a.rating_sum, a.rating_count, a.install_count, " PB_MICROS("a.create_time") ", "               \
  PB_MICROS("a.update_time")

#define PB_VERSION_COLUMNS                                                                                      \
  "tenant_id, app_id, version, changelog, image, chart, " PB_ARRAY("requested_scopes") ", " PB_ARRAY(          \
      "write_metrics") ", pricing_model, price_fen, state, review_reason, " PB_MICROS("create_time") ", " \
      PB_MICROS("update_time") ", coalesce(" PB_MICROS("publish_time") ", 0), coalesce(" PB_MICROS("submit_time") ", 0)"

#define PB_INSTALLATION_COLUMNS                                                                                 \
  "i.tenant_id, i.installation_id, i.provider_id, i.app_id, i.version, i.previous_version, i.pinned, "          \
  PB_ARRAY("i.scopes") ", i.device_labels::text, " PB_ARRAY("i.metrics") ", i.credential_key_id, "              \
  "i.pricing_model, i.price_fen, i.state, " PB_MICROS("i.create_time") ", " PB_MICROS("i.update_time") ", "     \
  "coalesce(" PB_MICROS("i.uninstall_time") ", 0), "                                                            \
  "coalesce((SELECT a.latest_version FROM apps a WHERE a.tenant_id = i.provider_id AND a.app_id = i.app_id), '')"

// Devices an installation's grant covers, counted where the installing tenant's devices are visible.
#define PB_GRANTED_DEVICES_LIVE \
  "(SELECT count(*) FROM devices d WHERE d.tenant_id = i.tenant_id AND d.labels @> i.device_labels)"
// The same from the latest metered day, for readers who cannot see the tenant's devices (its app's provider).
#define PB_GRANTED_DEVICES_METERED                                                                \
  "coalesce((SELECT x.granted_devices FROM installation_days x WHERE x.tenant_id = i.tenant_id " \
  "AND x.installation_id = i.installation_id ORDER BY x.day DESC LIMIT 1), 0)"

std::vector<std::string> SplitArray(const std::string& joined) {
  if (joined.empty()) return {};
  return absl::StrSplit(joined, kArraySeparator);
}

template <typename Repeated>
std::string JoinArray(const Repeated& values) {
  std::vector<std::string> copy(values.begin(), values.end());
  return PgTextArray(copy);
}

google::protobuf::Timestamp Micros(int64_t micros) { return TimeUtil::MicrosecondsToTimestamp(micros); }

std::string AppName(const std::string& provider, const std::string& app) {
  return absl::StrCat("tenants/", provider, "/apps/", app);
}

StoredApp DecodeApp(const pqxx::row& row) {
  StoredApp stored;
  pb::App& app = stored.app;
  const auto provider = row[0].as<std::string>();
  app.set_app_id(row[1].as<std::string>());
  app.set_provider(provider);
  app.set_name(AppName(provider, app.app_id()));
  app.set_display_name(row[2].as<std::string>());
  app.set_summary(row[3].as<std::string>());
  app.set_description(row[4].as<std::string>());
  app.set_category(static_cast<pb::Category>(row[5].as<int>()));
  for (std::string& tag : SplitArray(row[6].as<std::string>())) app.add_tags(std::move(tag));
  app.set_vendor(row[7].as<std::string>());
  app.set_homepage(row[8].as<std::string>());
  app.set_listed(row[9].as<bool>());
  app.set_delist_reason(row[10].as<std::string>());
  stored.delisted_by_park = row[11].as<bool>();
  app.set_latest_version(row[12].as<std::string>());
  if (!app.latest_version().empty()) {
    app.mutable_pricing()->set_model(static_cast<pb::PricingModel>(row[13].as<int>()));
    app.mutable_pricing()->set_price_fen(row[14].as<int64_t>());
  }
  const auto rating_sum = row[15].as<int64_t>();
  const auto rating_count = row[16].as<int64_t>();
  app.set_rating_count(static_cast<int32_t>(rating_count));
  app.set_rating_milli(rating_count == 0 ? 0 : static_cast<int32_t>(rating_sum * 1000 / rating_count));
  app.set_install_count(row[17].as<int64_t>());
  *app.mutable_create_time() = Micros(row[18].as<int64_t>());
  *app.mutable_update_time() = Micros(row[19].as<int64_t>());
  return stored;
}

pb::AppVersion DecodeVersion(const pqxx::row& row, std::string* submit_micros = nullptr) {
  pb::AppVersion version;
  version.set_version(row[2].as<std::string>());
  version.set_name(absl::StrCat(AppName(row[0].as<std::string>(), row[1].as<std::string>()), "/versions/",
                                version.version()));
  version.set_changelog(row[3].as<std::string>());
  version.set_image(row[4].as<std::string>());
  version.set_chart(row[5].as<std::string>());
  for (std::string& scope : SplitArray(row[6].as<std::string>())) version.add_requested_scopes(std::move(scope));
  for (std::string& metric : SplitArray(row[7].as<std::string>())) version.add_write_metrics(std::move(metric));
  version.mutable_pricing()->set_model(static_cast<pb::PricingModel>(row[8].as<int>()));
  version.mutable_pricing()->set_price_fen(row[9].as<int64_t>());
  version.set_state(static_cast<pb::VersionState>(row[10].as<int>()));
  version.set_review_reason(row[11].as<std::string>());
  *version.mutable_create_time() = Micros(row[12].as<int64_t>());
  *version.mutable_update_time() = Micros(row[13].as<int64_t>());
  if (const auto published = row[14].as<int64_t>(); published != 0) *version.mutable_publish_time() = Micros(published);
  if (submit_micros != nullptr) *submit_micros = row[15].as<std::string>();
  return version;
}

// `{"k": "v"}` of a jsonb object column, through the proto JSON mapping of DataScope.
void DecodeLabels(const std::string& json, pb::DataScope* scope) {
  pb::DataScope parsed;
  if (google::protobuf::util::JsonStringToMessage(absl::StrCat("{\"deviceLabels\":", json, "}"), &parsed).ok()) {
    *scope->mutable_device_labels() = parsed.device_labels();
  }
}

std::string EncodeLabels(const pb::DataScope& scope) {
  pb::DataScope labels_only;
  *labels_only.mutable_device_labels() = scope.device_labels();
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(labels_only, &json);
  return json;  // {"deviceLabels": {...}} or {}; SQL takes ->'deviceLabels'
}

// Decodes PB_INSTALLATION_COLUMNS followed by the granted-device count.
StoredInstallation DecodeInstallation(const pqxx::row& row) {
  StoredInstallation stored;
  stored.tenant_id = row[0].as<std::string>();
  stored.installation_id = row[1].as<std::string>();
  stored.provider_id = row[2].as<std::string>();
  stored.app_id = row[3].as<std::string>();
  pb::Installation& installation = stored.installation;
  installation.set_name(absl::StrCat("tenants/", stored.tenant_id, "/installations/", stored.installation_id));
  installation.set_app(AppName(stored.provider_id, stored.app_id));
  installation.set_version(row[4].as<std::string>());
  installation.set_previous_version(row[5].as<std::string>());
  installation.set_pinned(row[6].as<bool>());
  for (std::string& scope : SplitArray(row[7].as<std::string>())) installation.mutable_grant()->add_scopes(std::move(scope));
  DecodeLabels(row[8].as<std::string>(), installation.mutable_grant()->mutable_data_scope());
  for (std::string& metric : SplitArray(row[9].as<std::string>())) {
    installation.mutable_grant()->mutable_data_scope()->add_metrics(std::move(metric));
  }
  installation.set_credential_key_id(row[10].as<std::string>());
  installation.mutable_pricing()->set_model(static_cast<pb::PricingModel>(row[11].as<int>()));
  installation.mutable_pricing()->set_price_fen(row[12].as<int64_t>());
  installation.set_state(static_cast<pb::InstallationState>(row[13].as<int>()));
  *installation.mutable_create_time() = Micros(row[14].as<int64_t>());
  *installation.mutable_update_time() = Micros(row[15].as<int64_t>());
  if (const auto uninstalled = row[16].as<int64_t>(); uninstalled != 0) {
    *installation.mutable_uninstall_time() = Micros(uninstalled);
  }
  const auto latest = row[17].as<std::string>();
  if (installation.state() == pb::INSTALLATION_STATE_ACTIVE && !latest.empty() && latest != installation.version()) {
    absl::StatusOr<SemVer> newest = ParseSemVer("", latest);
    absl::StatusOr<SemVer> current = ParseSemVer("", installation.version());
    if (newest.ok() && current.ok() && CompareSemVer(*newest, *current) > 0) installation.set_upgrade_available(latest);
  }
  installation.set_granted_devices(row[18].as<int64_t>());
  return stored;
}

pb::Rating DecodeRating(const pqxx::row& row) {
  pb::Rating rating;
  rating.set_tenant(row[0].as<std::string>());
  rating.set_name(absl::StrCat(AppName(row[1].as<std::string>(), row[2].as<std::string>()), "/ratings/",
                               rating.tenant()));
  rating.set_stars(row[3].as<int>());
  rating.set_review(row[4].as<std::string>());
  *rating.mutable_create_time() = Micros(row[5].as<int64_t>());
  *rating.mutable_update_time() = Micros(row[6].as<int64_t>());
  return rating;
}

constexpr char kRatingColumns[] =
    "tenant_id, provider_id, app_id, stars, review, " PB_MICROS("create_time") ", " PB_MICROS("update_time");

absl::Status AppNotFound(const std::string& provider, const std::string& app) {
  return absl::NotFoundError(absl::StrCat(AppName(provider, app), ": not found"));
}

absl::Status VersionNotFound(const std::string& provider, const std::string& app, const std::string& version) {
  return absl::NotFoundError(absl::StrCat(AppName(provider, app), "/versions/", Utf8Prefix(version, 64),
                                          ": not found"));
}

absl::Status InstallationNotFound(const std::string& tenant, const std::string& id) {
  return absl::NotFoundError(absl::StrCat("tenants/", tenant, "/installations/", Utf8Prefix(id, 64), ": not found"));
}

// Writes the app's search columns and listing fields from `stored`.
void WriteApp(pqxx::work& work, const StoredApp& stored) {
  const pb::App& app = stored.app;
  const SearchDocument document = BuildSearchDocument(app);
  work.exec_params(
      "UPDATE apps SET display_name = $3, summary = $4, description = $5, category = $6, tags = $7::text::text[], "
      "vendor = $8, homepage = $9, listed = $10, delist_reason = $11, delisted_by_park = $12, search_text = $13, "
      "search_terms = $14::text::text[], update_time = now() WHERE tenant_id = $1 AND app_id = $2",
      app.provider(), app.app_id(), app.display_name(), app.summary(), app.description(),
      static_cast<int>(app.category()), JoinArray(app.tags()), app.vendor(), app.homepage(), app.listed(),
      app.delist_reason(), stored.delisted_by_park, document.text, PgTextArray(document.terms));
}

// Points the app at its newest PUBLISHED version (semantic-version precedence) and that version's pricing.
void RefreshLatestVersion(pqxx::work& work, const std::string& provider, const std::string& app) {
  pqxx::result published = work.exec_params(
      "SELECT version, pricing_model, price_fen FROM app_versions WHERE tenant_id = $1 AND app_id = $2 AND state = 5",
      provider, app);
  std::string latest;
  int model = 0;
  int64_t price = 0;
  std::optional<SemVer> newest;
  for (const auto& row : published) {
    absl::StatusOr<SemVer> version = ParseSemVer("", row[0].as<std::string>());
    if (!version.ok()) continue;
    if (!newest.has_value() || CompareSemVer(*version, *newest) > 0) {
      newest = *version;
      latest = row[0].as<std::string>();
      model = row[1].as<int>();
      price = row[2].as<int64_t>();
    }
  }
  work.exec_params(
      "UPDATE apps SET latest_version = $3, pricing_model = $4, price_fen = $5 WHERE tenant_id = $1 AND app_id = $2",
      provider, app, latest, model, price);
}

// Records `today` for one installation: the devices its grant covers now (the most seen today) and its pricing.
void RecordUsageDay(pqxx::work& work, const std::string& tenant, const std::string& installation,
                    const std::string& today) {
  work.exec_params(
      "INSERT INTO installation_days (tenant_id, installation_id, day, provider_id, app_id, version, pricing_model, "
      "price_fen, granted_devices) "
      "SELECT i.tenant_id, i.installation_id, $3::date, i.provider_id, i.app_id, i.version, i.pricing_model, "
      "i.price_fen, " PB_GRANTED_DEVICES_LIVE " FROM installations i "
      "WHERE i.tenant_id = $1 AND i.installation_id = $2 AND i.state = 1 "
      "ON CONFLICT (tenant_id, installation_id, day) DO UPDATE SET version = excluded.version, "
      "pricing_model = excluded.pricing_model, price_fen = excluded.price_fen, "
      "granted_devices = greatest(installation_days.granted_devices, excluded.granted_devices)",
      tenant, installation, today);
}

void WriteInstallation(pqxx::work& work, const StoredInstallation& stored) {
  const pb::Installation& installation = stored.installation;
  const pb::DataScope& data_scope = installation.grant().data_scope();
  work.exec_params(
      "UPDATE installations SET version = $3, previous_version = $4, pinned = $5, scopes = $6::text::text[], "
      "device_labels = coalesce(($7::jsonb)->'deviceLabels', '{}'::jsonb), metrics = $8::text::text[], "
      "pricing_model = $9, price_fen = $10, state = $11::smallint, update_time = now(), "
      "uninstall_time = CASE WHEN $11::smallint = 2 THEN coalesce(uninstall_time, now()) ELSE NULL END "
      "WHERE tenant_id = $1 AND installation_id = $2",
      stored.tenant_id, stored.installation_id, installation.version(), installation.previous_version(),
      installation.pinned(), JoinArray(installation.grant().scopes()), EncodeLabels(data_scope),
      JoinArray(data_scope.metrics()), static_cast<int>(installation.pricing().model()),
      installation.pricing().price_fen(), static_cast<int>(installation.state()));
}

absl::StatusOr<StoredInstallation> SelectInstallation(pqxx::work& work, const std::string& tenant,
                                                      const std::string& id) {
  pqxx::result rows = work.exec_params("SELECT " PB_INSTALLATION_COLUMNS ", " PB_GRANTED_DEVICES_LIVE
                                       " FROM installations i WHERE i.tenant_id = $1 AND i.installation_id = $2",
                                       tenant, id);
  if (rows.empty()) return InstallationNotFound(tenant, id);
  return DecodeInstallation(rows[0]);
}

// Splits a "<number>/<text>" paging position; empty for none.
bool SplitPosition(const std::string& position, int64_t* number, std::string* text) {
  if (position.empty()) return false;
  std::pair<std::string, std::string> parts = absl::StrSplit(position, absl::MaxSplits('/', 1));
  *text = parts.second;
  return absl::SimpleAtoi(parts.first, number);
}

}  // namespace

PgMarketplaceStore::PgMarketplaceStore(DbPool& db) : db_(db) {}

absl::StatusOr<bool> PgMarketplaceStore::IsProvider(const TenantScope& scope, const std::string& tenant_id) {
  return db_.Transact<bool>(scope, [&](pqxx::work& work) -> absl::StatusOr<bool> {
    pqxx::result rows = work.exec_params("SELECT provider FROM tenants WHERE tenant_id = $1", tenant_id);
    return !rows.empty() && rows[0][0].as<bool>();
  });
}

absl::StatusOr<StoredApp> PgMarketplaceStore::CreateApp(const TenantScope& scope, const StoredApp& stored,
                                                        const AuditEntry& audit) {
  return db_.Transact<StoredApp>(scope, [&](pqxx::work& work) -> absl::StatusOr<StoredApp> {
    const pb::App& app = stored.app;
    const SearchDocument document = BuildSearchDocument(app);
    pqxx::result rows;
    try {
      pqxx::subtransaction insert(work, "create_app");
      rows = insert.exec_params(
          "INSERT INTO apps (tenant_id, app_id, display_name, summary, description, category, tags, vendor, "
          "homepage, search_text, search_terms) VALUES ($1, $2, $3, $4, $5, $6, $7::text::text[], $8, $9, $10, "
          "$11::text::text[]) ON CONFLICT DO NOTHING RETURNING " PB_APP_COLUMNS,
          app.provider(), app.app_id(), app.display_name(), app.summary(), app.description(),
          static_cast<int>(app.category()), JoinArray(app.tags()), app.vendor(), app.homepage(), document.text,
          PgTextArray(document.terms));
      insert.commit();
    } catch (const pqxx::insufficient_privilege&) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tenants/", app.provider(), ": only a tenant with the provider capability may publish apps"));
    }
    if (rows.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("app_id: ", AppName(app.provider(), app.app_id()),
                                                   " already exists"));
    }
    InsertAudit(work, app.provider(), audit);
    return DecodeApp(rows[0]);
  });
}

absl::StatusOr<StoredApp> PgMarketplaceStore::GetApp(const TenantScope& scope, const std::string& provider_id,
                                                     const std::string& app_id) {
  return db_.Transact<StoredApp>(scope, [&](pqxx::work& work) -> absl::StatusOr<StoredApp> {
    pqxx::result rows = work.exec_params(
        "SELECT " PB_APP_COLUMNS " FROM apps WHERE tenant_id = $1 AND app_id = $2", provider_id, app_id);
    if (rows.empty()) return AppNotFound(provider_id, app_id);
    return DecodeApp(rows[0]);
  });
}

absl::StatusOr<std::vector<StoredApp>> PgMarketplaceStore::ListApps(const TenantScope& scope,
                                                                    const std::string& provider_id,
                                                                    const std::string& after_app_id, int limit) {
  return db_.Transact<std::vector<StoredApp>>(scope, [&](pqxx::work& work) -> absl::StatusOr<std::vector<StoredApp>> {
    pqxx::result rows = work.exec_params(
        "SELECT " PB_APP_COLUMNS " FROM apps WHERE tenant_id = $1 AND app_id > $2 ORDER BY app_id LIMIT $3",
        provider_id, after_app_id, limit);
    std::vector<StoredApp> apps;
    for (const auto& row : rows) apps.push_back(DecodeApp(row));
    return apps;
  });
}

absl::StatusOr<StoredApp> PgMarketplaceStore::UpdateApp(const TenantScope& scope, const std::string& provider_id,
                                                        const std::string& app_id, const AppMutation& mutate,
                                                        const AuditEntry& audit) {
  return db_.Transact<StoredApp>(scope, [&](pqxx::work& work) -> absl::StatusOr<StoredApp> {
    pqxx::result rows = work.exec_params(
        "SELECT " PB_APP_COLUMNS " FROM apps WHERE tenant_id = $1 AND app_id = $2 FOR UPDATE", provider_id, app_id);
    if (rows.empty()) return AppNotFound(provider_id, app_id);
    StoredApp stored = DecodeApp(rows[0]);
    if (absl::Status changed = mutate(stored); !changed.ok()) return changed;
    WriteApp(work, stored);
    InsertAudit(work, provider_id, audit);
    pqxx::result updated = work.exec_params(
        "SELECT " PB_APP_COLUMNS " FROM apps WHERE tenant_id = $1 AND app_id = $2", provider_id, app_id);
    return DecodeApp(updated[0]);
  });
}

absl::StatusOr<pb::AppVersion> PgMarketplaceStore::CreateVersion(const TenantScope& scope,
                                                                 const std::string& provider_id,
                                                                 const std::string& app_id,
                                                                 const pb::AppVersion& version, const SemVer& semver,
                                                                 const AuditEntry& audit) {
  return db_.Transact<pb::AppVersion>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::AppVersion> {
    pqxx::result app = work.exec_params("SELECT 1 FROM apps WHERE tenant_id = $1 AND app_id = $2 FOR SHARE",
                                        provider_id, app_id);
    if (app.empty()) return AppNotFound(provider_id, app_id);
    pqxx::result rows = work.exec_params(
        "INSERT INTO app_versions (tenant_id, app_id, version, major, minor, patch, prerelease, changelog, image, "
        "chart, requested_scopes, write_metrics, pricing_model, price_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
        "$9, $10, $11::text::text[], $12::text::text[], $13, $14) ON CONFLICT DO NOTHING RETURNING " PB_VERSION_COLUMNS,
        provider_id, app_id, version.version(), semver.major, semver.minor, semver.patch, semver.prerelease,
        version.changelog(), version.image(), version.chart(), JoinArray(version.requested_scopes()),
        JoinArray(version.write_metrics()), static_cast<int>(version.pricing().model()), version.pricing().price_fen());
    if (rows.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("version_id: ", AppName(provider_id, app_id), "/versions/",
                                                   version.version(), " already exists"));
    }
    InsertAudit(work, provider_id, audit);
    return DecodeVersion(rows[0]);
  });
}

absl::StatusOr<pb::AppVersion> PgMarketplaceStore::GetVersion(const TenantScope& scope,
                                                              const std::string& provider_id,
                                                              const std::string& app_id, const std::string& version) {
  return db_.Transact<pb::AppVersion>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::AppVersion> {
    pqxx::result rows = work.exec_params("SELECT " PB_VERSION_COLUMNS
                                         " FROM app_versions WHERE tenant_id = $1 AND app_id = $2 AND version = $3",
                                         provider_id, app_id, version);
    if (rows.empty()) return VersionNotFound(provider_id, app_id, version);
    return DecodeVersion(rows[0]);
  });
}

absl::StatusOr<std::vector<pb::AppVersion>> PgMarketplaceStore::ListVersions(const TenantScope& scope,
                                                                             const std::string& provider_id,
                                                                             const std::string& app_id,
                                                                             const std::vector<int>& states) {
  return db_.Transact<std::vector<pb::AppVersion>>(
      scope, [&](pqxx::work& work) -> absl::StatusOr<std::vector<pb::AppVersion>> {
        std::vector<int64_t> wanted(states.begin(), states.end());
        pqxx::result rows = work.exec_params(
            "SELECT " PB_VERSION_COLUMNS ", major, minor, patch, prerelease FROM app_versions "
            "WHERE tenant_id = $1 AND app_id = $2 AND (cardinality($3::text::int8[]) = 0 OR state = ANY($3::text::int8[]))",
            provider_id, app_id, PgInt64Array(wanted));
        std::vector<std::pair<SemVer, pb::AppVersion>> versions;
        for (const auto& row : rows) {
          SemVer semver{row[16].as<int64_t>(), row[17].as<int64_t>(), row[18].as<int64_t>(), row[19].as<std::string>()};
          versions.emplace_back(semver, DecodeVersion(row));
        }
        std::sort(versions.begin(), versions.end(),
                  [](const auto& a, const auto& b) { return CompareSemVer(a.first, b.first) > 0; });
        std::vector<pb::AppVersion> sorted;
        for (auto& [semver, version] : versions) sorted.push_back(std::move(version));
        return sorted;
      });
}

absl::StatusOr<pb::AppVersion> PgMarketplaceStore::UpdateVersion(const TenantScope& scope,
                                                                 const std::string& provider_id,
                                                                 const std::string& app_id, const std::string& version,
                                                                 const VersionMutation& mutate,
                                                                 const AuditEntry& audit) {
  return db_.Transact<pb::AppVersion>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::AppVersion> {
    // The app's row first, always: every path that changes a version or the app's latest version takes the
    // locks in this order.
    pqxx::result app = work.exec_params("SELECT 1 FROM apps WHERE tenant_id = $1 AND app_id = $2 FOR UPDATE",
                                        provider_id, app_id);
    if (app.empty()) return AppNotFound(provider_id, app_id);
    pqxx::result rows = work.exec_params(
        "SELECT " PB_VERSION_COLUMNS " FROM app_versions WHERE tenant_id = $1 AND app_id = $2 AND version = $3 "
        "FOR UPDATE",
        provider_id, app_id, version);
    if (rows.empty()) return VersionNotFound(provider_id, app_id, version);
    pb::AppVersion current = DecodeVersion(rows[0]);
    const pb::VersionState before = current.state();
    if (absl::Status changed = mutate(current); !changed.ok()) return changed;
    const bool submitted = before != current.state() && current.state() == pb::VERSION_STATE_SUBMITTED;
    const bool published = before != current.state() && current.state() == pb::VERSION_STATE_PUBLISHED;
    pqxx::result updated = work.exec_params(
        "UPDATE app_versions SET changelog = $4, image = $5, chart = $6, requested_scopes = $7::text::text[], "
        "write_metrics = $8::text::text[], pricing_model = $9, price_fen = $10, state = $11, review_reason = $12, "
        "submit_time = CASE WHEN $13 THEN now() ELSE submit_time END, "
        "publish_time = CASE WHEN $14 THEN now() ELSE publish_time END, update_time = now() "
        "WHERE tenant_id = $1 AND app_id = $2 AND version = $3 RETURNING " PB_VERSION_COLUMNS,
        provider_id, app_id, version, current.changelog(), current.image(), current.chart(),
        JoinArray(current.requested_scopes()), JoinArray(current.write_metrics()),
        static_cast<int>(current.pricing().model()), current.pricing().price_fen(), static_cast<int>(current.state()),
        current.review_reason(), submitted, published);
    if (before != current.state()) RefreshLatestVersion(work, provider_id, app_id);
    InsertAudit(work, provider_id, audit);
    return DecodeVersion(updated[0]);
  });
}

absl::StatusOr<std::vector<std::pair<pb::AppVersion, std::string>>> PgMarketplaceStore::ListReviewQueue(
    const TenantScope& scope, const std::string& after, int limit) {
  using Result = std::vector<std::pair<pb::AppVersion, std::string>>;
  return db_.Transact<Result>(scope, [&](pqxx::work& work) -> absl::StatusOr<Result> {
    int64_t after_micros = 0;
    std::string after_name;
    SplitPosition(after, &after_micros, &after_name);
    pqxx::result rows = work.exec_params(
        "SELECT " PB_VERSION_COLUMNS " FROM app_versions WHERE state = 2 AND ($1::bigint = 0 OR "
        "(" PB_MICROS("submit_time") ", 'tenants/' || tenant_id || '/apps/' || app_id || '/versions/' || version) > "
        "($1::bigint, $2::text)) ORDER BY " PB_MICROS("submit_time") ", "
        "'tenants/' || tenant_id || '/apps/' || app_id || '/versions/' || version LIMIT $3",
        after_micros, after_name, limit);
    Result queue;
    for (const auto& row : rows) {
      std::string submit_micros;
      pb::AppVersion version = DecodeVersion(row, &submit_micros);
      std::string position = absl::StrCat(submit_micros, "/", version.name());
      queue.emplace_back(std::move(version), std::move(position));
    }
    return queue;
  });
}

CatalogueStatement CatalogueSearchStatement(const CatalogueQuery& query) {
  std::vector<std::string> params;
  const auto param = [&](std::string value) {
    params.push_back(std::move(value));
    return absl::StrCat("$", params.size());
  };
  // The conditions run on app_catalogue, whose indexes row-level security leaves usable (0002_app_catalogue);
  // only the page's rows are then read from apps.
  std::string where = "true";
  if (!query.words.terms.empty()) {
    absl::StrAppend(&where, " AND c.search_terms @> ", param(PgTextArray(query.words.terms)), "::text::text[]");
  }
  for (const std::string& pattern : query.words.like_patterns) {
    absl::StrAppend(&where, " AND c.search_text LIKE ", param(pattern));
  }
  if (!query.categories.empty()) {
    std::vector<int64_t> values(query.categories.begin(), query.categories.end());
    absl::StrAppend(&where, " AND c.category = ANY(", param(PgInt64Array(values)), "::text::int8[])");
  }
  if (!query.pricing_models.empty()) {
    std::vector<int64_t> values(query.pricing_models.begin(), query.pricing_models.end());
    absl::StrAppend(&where, " AND c.pricing_model = ANY(", param(PgInt64Array(values)), "::text::int8[])");
  }
  if (!query.provider_id.empty()) absl::StrAppend(&where, " AND c.tenant_id = ", param(query.provider_id));

  constexpr char kRatingMilli[] =
      "(CASE WHEN c.rating_count = 0 THEN 0 ELSE c.rating_sum * 1000 / c.rating_count END)";
  std::string primary;
  std::string secondary;
  switch (query.order) {
    case pb::SEARCH_ORDER_RELEVANCE: {
      // A word in the name weighs most, then in the tags, then in the summary; every match scores at least 1.
      std::vector<std::string> parts = {"1"};
      for (const std::string& word : query.words.words) {
        const std::string pattern = param(LikePattern(word));
        parts.push_back(absl::StrCat("(CASE WHEN c.name_lower LIKE ", pattern, " THEN 100 ELSE 0 END)"));
        parts.push_back(absl::StrCat("(CASE WHEN c.tags_lower LIKE ", pattern, " THEN 40 ELSE 0 END)"));
        parts.push_back(absl::StrCat("(CASE WHEN c.summary_lower LIKE ", pattern, " THEN 20 ELSE 0 END)"));
      }
      primary = absl::StrCat("(", absl::StrJoin(parts, " + "), ")::bigint");
      secondary = "c.install_count";
      break;
    }
    case pb::SEARCH_ORDER_RATING:
      primary = kRatingMilli;
      secondary = "c.rating_count::bigint";
      break;
    default:
      primary = "c.install_count";
      secondary = kRatingMilli;
      break;
  }
  std::string after;
  if (query.after.has_value()) {
    after = absl::StrCat("WHERE (-r.k1, -r.k2, r.tenant_id, r.app_id) > (", param(absl::StrCat(-query.after->primary)),
                         "::bigint, ", param(absl::StrCat(-query.after->secondary)), "::bigint, ",
                         param(query.after->provider_id), "::text, ", param(query.after->app_id), "::text)");
  }
  std::string sql = absl::StrCat(
      "SELECT " PB_APP_COLUMNS_OF_A ", s.k1, s.k2 FROM (SELECT r.* FROM (SELECT c.tenant_id, c.app_id, ", primary,
      " AS k1, ", secondary, " AS k2 FROM app_catalogue c WHERE ", where, ") r ", after,
      " ORDER BY r.k1 DESC, r.k2 DESC, r.tenant_id, r.app_id LIMIT ", param(absl::StrCat(query.limit)),
      "::int) s JOIN apps a ON a.tenant_id = s.tenant_id AND a.app_id = s.app_id "
      "ORDER BY s.k1 DESC, s.k2 DESC, s.tenant_id, s.app_id");
  return CatalogueStatement{std::move(sql), std::move(params)};
}

absl::StatusOr<std::vector<SearchHit>> PgMarketplaceStore::Search(const TenantScope& scope,
                                                                  const CatalogueQuery& query) {
  return db_.Transact<std::vector<SearchHit>>(scope, [&](pqxx::work& work) -> absl::StatusOr<std::vector<SearchHit>> {
    const CatalogueStatement statement = CatalogueSearchStatement(query);
    pqxx::result rows =
        work.exec_params(statement.sql, pqxx::prepare::make_dynamic_params(statement.parameters));
    std::vector<SearchHit> hits;
    hits.reserve(rows.size());
    for (const auto& row : rows) {
      SearchHit hit;
      hit.app = DecodeApp(row);
      hit.position.primary = row[kAppColumnCount].as<int64_t>();
      hit.position.secondary = row[kAppColumnCount + 1].as<int64_t>();
      hit.position.provider_id = hit.app.app.provider();
      hit.position.app_id = hit.app.app.app_id();
      hits.push_back(std::move(hit));
    }
    return hits;
  });
}

absl::StatusOr<std::pair<StoredInstallation, std::string>> PgMarketplaceStore::Install(
    const TenantScope& scope, const StoredInstallation& stored, const access::v1::AppGrant& grant,
    const std::string& today, const AuditEntry& audit, const ReplayTicket* replay) {
  using Result = std::pair<StoredInstallation, std::string>;
  return db_.Transact<Result>(scope, [&](pqxx::work& work) -> absl::StatusOr<Result> {
    // The tenant's row, locked: concurrent installs of one tenant count one after another, so the quota holds.
    pqxx::result tenant =
        work.exec_params("SELECT max_installed_apps FROM tenants WHERE tenant_id = $1 FOR UPDATE", stored.tenant_id);
    if (tenant.empty()) return absl::NotFoundError(absl::StrCat("tenants/", stored.tenant_id, ": not found"));
    const auto limit = tenant[0][0].as<int64_t>();
    const auto active = work.exec_params("SELECT count(*) FROM installations WHERE tenant_id = $1 AND state = 1",
                                         stored.tenant_id)[0][0]
                            .as<int64_t>();
    if (active >= limit) {
      return QuotaError(absl::StrCat("tenants/", stored.tenant_id), "max_installed_apps",
                        absl::StrCat("the tenant may have ", limit, " apps installed at once (max_installed_apps) and has ",
                                     active, "; uninstall one or ask the park to raise the quota"),
                        absl::ZeroDuration());
    }
    const pb::Installation& installation = stored.installation;
    const pb::DataScope& data_scope = installation.grant().data_scope();
    const AppCredential credential = InsertAppKey(work, stored.tenant_id, installation.name(), grant, audit.actor);
    pqxx::result inserted = work.exec_params(
        "INSERT INTO installations (tenant_id, installation_id, provider_id, app_id, version, scopes, device_labels, "
        "metrics, credential_key_id, pricing_model, price_fen) VALUES ($1, $2, $3, $4, $5, $6::text::text[], "
        "coalesce(($7::jsonb)->'deviceLabels', '{}'::jsonb), $8::text::text[], $9, $10, $11) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        stored.tenant_id, stored.installation_id, stored.provider_id, stored.app_id, installation.version(),
        JoinArray(installation.grant().scopes()), EncodeLabels(data_scope), JoinArray(data_scope.metrics()),
        credential.key_id, static_cast<int>(installation.pricing().model()), installation.pricing().price_fen());
    if (inserted.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("app: tenants/", stored.tenant_id, " already has ",
                                                   installation.app(),
                                                   " installed; upgrade that installation or uninstall it first"));
    }
    RecordUsageDay(work, stored.tenant_id, stored.installation_id, today);
    InsertAudit(work, stored.tenant_id, audit);
    absl::StatusOr<StoredInstallation> result = SelectInstallation(work, stored.tenant_id, stored.installation_id);
    if (!result.ok()) return result.status();
    if (replay != nullptr) {
      pb::InstallAppResponse answer;
      *answer.mutable_installation() = result->installation;
      answer.set_credential(credential.key);
      RETURN_IF_ERROR(replay->Record(work, stored.tenant_id, answer));
    }
    return Result{*std::move(result), credential.key};
  });
}

absl::StatusOr<StoredInstallation> PgMarketplaceStore::GetInstallation(const TenantScope& scope,
                                                                       const std::string& tenant_id,
                                                                       const std::string& installation_id) {
  return db_.Transact<StoredInstallation>(scope, [&](pqxx::work& work) -> absl::StatusOr<StoredInstallation> {
    return SelectInstallation(work, tenant_id, installation_id);
  });
}

absl::StatusOr<std::vector<StoredInstallation>> PgMarketplaceStore::ListInstallations(const TenantScope& scope,
                                                                                      const std::string& tenant_id,
                                                                                      const std::string& after,
                                                                                      bool include_uninstalled,
                                                                                      int limit) {
  using Result = std::vector<StoredInstallation>;
  return db_.Transact<Result>(scope, [&](pqxx::work& work) -> absl::StatusOr<Result> {
    int64_t after_micros = 0;
    std::string after_id;
    SplitPosition(after, &after_micros, &after_id);
    pqxx::result rows = work.exec_params(
        "SELECT " PB_INSTALLATION_COLUMNS ", " PB_GRANTED_DEVICES_LIVE " FROM installations i "
        "WHERE i.tenant_id = $1 AND ($2 OR i.state = 1) AND ($3::bigint = 0 OR "
        "(" PB_MICROS("i.create_time") ", i.installation_id) < ($3::bigint, $4::text)) "
        "ORDER BY i.create_time DESC, i.installation_id DESC LIMIT $5",
        tenant_id, include_uninstalled, after_micros, after_id, limit);
    Result installations;
    for (const auto& row : rows) installations.push_back(DecodeInstallation(row));
    return installations;
  });
}

absl::StatusOr<StoredInstallation> PgMarketplaceStore::UpdateInstallation(const TenantScope& scope,
                                                                          const std::string& tenant_id,
                                                                          const std::string& installation_id,
                                                                          const InstallationMutation& mutate,
                                                                          const std::string& today,
                                                                          const AuditEntry& audit) {
  return db_.Transact<StoredInstallation>(scope, [&](pqxx::work& work) -> absl::StatusOr<StoredInstallation> {
    pqxx::result locked = work.exec_params(
        "SELECT 1 FROM installations WHERE tenant_id = $1 AND installation_id = $2 FOR UPDATE", tenant_id,
        installation_id);
    if (locked.empty()) return InstallationNotFound(tenant_id, installation_id);
    absl::StatusOr<StoredInstallation> current = SelectInstallation(work, tenant_id, installation_id);
    if (!current.ok()) return current.status();
    // The usage of the day so far is recorded under the version and grant it ran with.
    RecordUsageDay(work, tenant_id, installation_id, today);
    absl::StatusOr<CredentialChange> change = mutate(*current);
    if (!change.ok()) return change.status();
    WriteInstallation(work, *current);
    const std::string& key_id = current->installation.credential_key_id();
    if (change->revoke) {
      RevokeAppKey(work, tenant_id, key_id);
    } else if (!UpdateAppKeyGrant(work, tenant_id, key_id, change->grant)) {
      return absl::FailedPreconditionError(absl::StrCat(
          current->installation.name(), ": its app credential was revoked (RevokeApiKey); uninstall and install again"));
    }
    RecordUsageDay(work, tenant_id, installation_id, today);
    InsertAudit(work, tenant_id, audit);
    return SelectInstallation(work, tenant_id, installation_id);
  });
}

absl::StatusOr<bool> PgMarketplaceStore::EverInstalled(const TenantScope& scope, const std::string& tenant_id,
                                                       const std::string& provider_id, const std::string& app_id) {
  return db_.Transact<bool>(scope, [&](pqxx::work& work) -> absl::StatusOr<bool> {
    return !work
                .exec_params("SELECT 1 FROM installations WHERE tenant_id = $1 AND provider_id = $2 AND app_id = $3 "
                             "LIMIT 1",
                             tenant_id, provider_id, app_id)
                .empty();
  });
}

absl::StatusOr<pb::Rating> PgMarketplaceStore::Rate(const TenantScope& scope, const std::string& tenant_id,
                                                    const std::string& provider_id, const std::string& app_id,
                                                    int stars, const std::string& review, const AuditEntry& audit) {
  return db_.Transact<pb::Rating>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::Rating> {
    pqxx::result rows = work.exec_params(
        std::string("INSERT INTO app_ratings (tenant_id, provider_id, app_id, stars, review) VALUES ($1, $2, $3, $4, $5) "
                    "ON CONFLICT (tenant_id, provider_id, app_id) DO UPDATE SET stars = excluded.stars, "
                    "review = excluded.review, update_time = now() RETURNING ") +
            kRatingColumns,
        tenant_id, provider_id, app_id, stars, review);
    InsertAudit(work, tenant_id, audit);
    return DecodeRating(rows[0]);
  });
}

absl::StatusOr<std::vector<pb::Rating>> PgMarketplaceStore::ListRatings(const TenantScope& scope,
                                                                        const std::string& provider_id,
                                                                        const std::string& app_id,
                                                                        const std::string& after, int limit) {
  using Result = std::vector<pb::Rating>;
  return db_.Transact<Result>(scope, [&](pqxx::work& work) -> absl::StatusOr<Result> {
    int64_t after_micros = 0;
    std::string after_tenant;
    SplitPosition(after, &after_micros, &after_tenant);
    pqxx::result rows = work.exec_params(
        std::string("SELECT ") + kRatingColumns +
            " FROM app_ratings WHERE provider_id = $1 AND app_id = $2 AND ($3::bigint = 0 OR "
            "(" PB_MICROS("update_time") ", tenant_id) < ($3::bigint, $4::text)) "
            "ORDER BY update_time DESC, tenant_id DESC LIMIT $5",
        provider_id, app_id, after_micros, after_tenant, limit);
    Result ratings;
    for (const auto& row : rows) ratings.push_back(DecodeRating(row));
    return ratings;
  });
}

absl::StatusOr<std::vector<StoredInstallation>> PgMarketplaceStore::InstallationsOfApp(
    const TenantScope& scope, const std::string& provider_id, const std::string& app_id) {
  using Result = std::vector<StoredInstallation>;
  return db_.Transact<Result>(scope, [&](pqxx::work& work) -> absl::StatusOr<Result> {
    pqxx::result rows = work.exec_params(
        "SELECT " PB_INSTALLATION_COLUMNS ", " PB_GRANTED_DEVICES_METERED " FROM installations i "
        "WHERE i.provider_id = $1 AND i.app_id = $2 ORDER BY i.tenant_id, i.create_time",
        provider_id, app_id);
    Result installations;
    for (const auto& row : rows) installations.push_back(DecodeInstallation(row));
    return installations;
  });
}

absl::StatusOr<std::vector<InstallationDay>> PgMarketplaceStore::UsageDays(const TenantScope& scope,
                                                                           const std::string& provider_id,
                                                                           const std::string& app_id,
                                                                           const std::string& first_day,
                                                                           const std::string& last_day) {
  using Result = std::vector<InstallationDay>;
  return db_.Transact<Result>(scope, [&](pqxx::work& work) -> absl::StatusOr<Result> {
    pqxx::result rows = work.exec_params(
        "SELECT tenant_id, installation_id, day::text, pricing_model, price_fen, granted_devices "
        "FROM installation_days WHERE provider_id = $1 AND app_id = $2 AND day BETWEEN $3::date AND $4::date "
        "ORDER BY tenant_id, installation_id, day",
        provider_id, app_id, first_day, last_day);
    Result days;
    for (const auto& row : rows) {
      InstallationDay day;
      day.tenant_id = row[0].as<std::string>();
      day.installation_id = row[1].as<std::string>();
      day.usage.day = row[2].as<std::string>();
      day.usage.pricing_model = static_cast<pb::PricingModel>(row[3].as<int>());
      day.usage.price_fen = row[4].as<int64_t>();
      day.usage.granted_devices = row[5].as<int64_t>();
      days.push_back(std::move(day));
    }
    return days;
  });
}

absl::StatusOr<int> PgMarketplaceStore::MeterActiveInstallations(const std::string& today) {
  // Which installations are active, across tenants (park scope reads them); each is then metered under its own
  // tenant's scope, where its devices are visible.
  using Keys = std::vector<std::pair<std::string, std::string>>;
  absl::StatusOr<Keys> active =
      db_.Transact<Keys>(TenantScope::ParkAdmin(std::string(kParkTenantId)), [&](pqxx::work& work) -> absl::StatusOr<Keys> {
        Keys keys;
        for (const auto& row : work.exec("SELECT tenant_id, installation_id FROM installations WHERE state = 1")) {
          keys.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
        }
        return keys;
      });
  if (!active.ok()) return active.status();
  int metered = 0;
  for (const auto& [tenant, installation] : *active) {
    absl::Status recorded = db_.Transact(TenantScope::Tenant(tenant), [&](pqxx::work& work) -> absl::Status {
      RecordUsageDay(work, tenant, installation, today);
      return absl::OkStatus();
    });
    if (!recorded.ok()) return recorded;
    ++metered;
  }
  return metered;
}

}  // namespace parkbase::marketplace
