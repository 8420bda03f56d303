#include "parkbase/app_cli.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "parkbase/marketplace/v1/marketplace.grpc.pb.h"

// Flags of admin_cli.cc that the app commands read too.
ABSL_DECLARE_FLAG(std::optional<std::string>, display_name);
ABSL_DECLARE_FLAG(std::optional<std::string>, provider);
ABSL_DECLARE_FLAG(std::string, reason);

ABSL_FLAG(std::string, summary, "", "App: one line, at most 200 characters");
ABSL_FLAG(std::string, description, "", "App: the long description");
ABSL_FLAG(std::string, category, "",
          "App: mes, eam, energy_management, quality_inspection, predictive_maintenance, ai_model or other "
          "(app search: any of them, comma-separated)");
ABSL_FLAG(std::vector<std::string>, tags, {}, "App: tags, comma-separated");
ABSL_FLAG(std::string, vendor, "", "App: the company behind it");
ABSL_FLAG(std::string, homepage, "", "App: an http(s) URL");
ABSL_FLAG(std::string, image, "", "Version: the container image");
ABSL_FLAG(std::string, chart, "", "Version: the Helm chart reference");
ABSL_FLAG(std::string, changelog, "", "Version: what changed");
ABSL_FLAG(std::optional<std::vector<std::string>>, scopes, std::nullopt,
          "Version: the scopes it requests; install, upgrade: the scopes granted (devices.read, telemetry.read, "
          "telemetry.write), comma-separated");
ABSL_FLAG(std::vector<std::string>, write_metrics, {}, "Version: the metrics the app writes back, comma-separated");
ABSL_FLAG(std::string, pricing, "",
          "Version: free, per_device or flat (default free); app search: any of them, comma-separated");
ABSL_FLAG(int64_t, price_fen, 0, "Version: the monthly price in fen (1 CNY = 100 fen)");
ABSL_FLAG(std::string, app_version, "", "Install, upgrade: the app version (default: the newest published)");
ABSL_FLAG(std::optional<std::vector<std::string>>, labels, std::nullopt,
          "Install, upgrade: only devices with all these labels, KEY=VALUE comma-separated");
ABSL_FLAG(std::optional<std::vector<std::string>>, metrics, std::nullopt,
          "Install, upgrade: only these metrics may be read, comma-separated");
ABSL_FLAG(bool, show_uninstalled, false, "app installations: include uninstalled ones");
ABSL_FLAG(std::string, order, "", "app search: relevance, rating or installs");
ABSL_FLAG(int32_t, stars, 0, "app rate: 1 to 5");
ABSL_FLAG(std::string, review, "", "app rate: the review text");
ABSL_FLAG(std::string, month, "", "app statement: YYYY-MM, a month in Asia/Shanghai time");

namespace parkbase::cli {
namespace {

namespace mpb = ::parkbase::marketplace::v1;
using Client = ServiceClient<mpb::MarketplaceService>;
using Stub = mpb::MarketplaceService::Stub;
using Args = std::vector<std::string>;

// The words the flags take for an enum, and the same words in tables.
template <typename Enum>
struct Word {
  absl::string_view word;
  Enum value;
};
constexpr std::array<Word<mpb::Category>, 7> kCategories = {{
    {"mes", mpb::CATEGORY_MES},
    {"eam", mpb::CATEGORY_EAM},
    {"energy_management", mpb::CATEGORY_ENERGY_MANAGEMENT},
    {"quality_inspection", mpb::CATEGORY_QUALITY_INSPECTION},
    {"predictive_maintenance", mpb::CATEGORY_PREDICTIVE_MAINTENANCE},
    {"ai_model", mpb::CATEGORY_AI_MODEL},
    {"other", mpb::CATEGORY_OTHER},
}};
constexpr std::array<Word<mpb::PricingModel>, 3> kPricingModels = {{
    {"free", mpb::PRICING_MODEL_FREE},
    {"per_device", mpb::PRICING_MODEL_PER_DEVICE_MONTHLY},
    {"flat", mpb::PRICING_MODEL_FLAT_MONTHLY},
}};
constexpr std::array<Word<mpb::SearchOrder>, 3> kOrders = {{
    {"relevance", mpb::SEARCH_ORDER_RELEVANCE},
    {"rating", mpb::SEARCH_ORDER_RATING},
    {"installs", mpb::SEARCH_ORDER_INSTALLS},
}};

template <typename Enum, size_t N>
std::string WordOf(const std::array<Word<Enum>, N>& words, Enum value) {
  for (const Word<Enum>& word : words) {
    if (word.value == value) return std::string(word.word);
  }
  return "-";
}

// The comma-separated words of `flag` as enum values; INVALID_ARGUMENT naming the flag and the choices.
template <typename Enum, size_t N>
absl::StatusOr<std::vector<Enum>> WordsFromFlag(absl::string_view flag, const std::string& text,
                                                const std::array<Word<Enum>, N>& words) {
  std::vector<Enum> values;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const Word<Enum>* found = nullptr;
    for (const Word<Enum>& word : words) {
      if (word.word == item) found = &word;
    }
    if (found == nullptr) {
      std::vector<absl::string_view> choices;
      for (const Word<Enum>& word : words) choices.push_back(word.word);
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " must be one of ", absl::StrJoin(choices, "|"), ", got '", item, "'"));
    }
    values.push_back(found->value);
  }
  return values;
}

// One word of `flag` (empty: `fallback`).
template <typename Enum, size_t N>
absl::StatusOr<Enum> WordFromFlag(absl::string_view flag, const std::string& text,
                                  const std::array<Word<Enum>, N>& words, Enum fallback) {
  absl::StatusOr<std::vector<Enum>> values = WordsFromFlag(flag, text, words);
  if (!values.ok()) return values.status();
  if (values->size() > 1) return absl::InvalidArgumentError(absl::StrCat(flag, " takes one value, got '", text, "'"));
  return values->empty() ? fallback : values->front();
}

// "free", "3000 fen/device/month", "9900 fen/month".
std::string PriceText(const mpb::Pricing& pricing) {
  switch (pricing.model()) {
    case mpb::PRICING_MODEL_FREE:
      return "free";
    case mpb::PRICING_MODEL_PER_DEVICE_MONTHLY:
      return absl::StrCat(pricing.price_fen(), " fen/device/month");
    case mpb::PRICING_MODEL_FLAT_MONTHLY:
      return absl::StrCat(pricing.price_fen(), " fen/month");
    default:
      return "-";
  }
}

// "4.50 (8)": the average in stars and the number of ratings.
std::string RatingText(const mpb::App& app) {
  if (app.rating_count() == 0) return "-";
  return absl::StrFormat("%d.%02d (%d)", app.rating_milli() / 1000, app.rating_milli() % 1000 / 10,
                         app.rating_count());
}

// "telemetry.read,telemetry.write where line=a metrics pressure".
std::string GrantText(const mpb::Grant& grant) {
  std::string text = absl::StrJoin(grant.scopes(), ",");
  if (!grant.data_scope().device_labels().empty()) {
    std::map<std::string, std::string> sorted(grant.data_scope().device_labels().begin(),
                                              grant.data_scope().device_labels().end());
    absl::StrAppend(&text, " where ", absl::StrJoin(sorted, ",", absl::PairFormatter("=")));
  }
  if (!grant.data_scope().metrics().empty()) {
    absl::StrAppend(&text, " metrics ", absl::StrJoin(grant.data_scope().metrics(), ","));
  }
  return text;
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

void PrintApps(const std::vector<mpb::App>& apps) {
  if (Quiet()) {
    for (const auto& item : apps) std::cout << item.name() << "\n";
    return;
  }
  std::cout << absl::StrFormat("%-40s %s %-22s %-10s %-22s %-9s %8s %s\n", "APP", Cell("DISPLAY NAME", 28),
                               "CATEGORY", "LATEST", "PRICING", "RATING", "INSTALLS", "LISTED");
  for (const mpb::App& app : apps) {
    std::cout << absl::StrFormat("%-40s %s %-22s %-10s %-22s %-9s %8d %s\n", app.name(),
                                 Cell(app.display_name(), 28), WordOf(kCategories, app.category()),
                                 OrDash(app.latest_version()),
                                 app.latest_version().empty() ? "-" : PriceText(app.pricing()), RatingText(app),
                                 app.install_count(),
                                 app.listed() ? "yes" : absl::StrCat("no: ", app.delist_reason()));
  }
}

void PrintVersions(const std::vector<mpb::AppVersion>& versions) {
  if (Quiet()) {
    for (const auto& item : versions) std::cout << item.name() << "\n";
    return;
  }
  std::cout << absl::StrFormat("%-52s %-10s %-22s %-19s %-43s %-16s %s\n", "VERSION", "STATE", "PRICING", "UPDATED",
                               "SCOPES", "WRITES", "REVIEW");
  for (const mpb::AppVersion& v : versions) {
    std::cout << absl::StrFormat("%-52s %-10s %-22s %-19s %-43s %-16s %s\n", v.name(),
                                 Short(mpb::VersionState_Name(v.state()), "VERSION_STATE_"), PriceText(v.pricing()),
                                 Time(v.update_time()), absl::StrJoin(v.requested_scopes(), ","),
                                 OrDash(absl::StrJoin(v.write_metrics(), ",")), OrDash(v.review_reason()));
  }
}

void PrintInstallations(const std::vector<mpb::Installation>& installations) {
  if (Quiet()) {
    for (const auto& item : installations) std::cout << item.name() << "\n";
    return;
  }
  std::cout << absl::StrFormat("%-48s %-40s %-10s %-11s %-6s %7s %-10s %s\n", "INSTALLATION", "APP", "VERSION",
                               "STATE", "PINNED", "DEVICES", "UPGRADE", "GRANT");
  for (const mpb::Installation& i : installations) {
    std::cout << absl::StrFormat("%-48s %-40s %-10s %-11s %-6s %7d %-10s %s\n", i.name(), i.app(), i.version(),
                                 Short(mpb::InstallationState_Name(i.state()), "INSTALLATION_STATE_"),
                                 i.pinned() ? "yes" : "no", i.granted_devices(), OrDash(i.upgrade_available()),
                                 GrantText(i.grant()));
  }
}

void PrintRatings(const std::vector<mpb::Rating>& ratings) {
  if (Quiet()) {
    for (const auto& item : ratings) std::cout << item.tenant() << "\n";
    return;
  }
  std::cout << absl::StrFormat("%-20s %5s %-19s %s\n", "TENANT", "STARS", "UPDATED", "REVIEW");
  for (const mpb::Rating& r : ratings) {
    std::cout << absl::StrFormat("%-20s %5d %-19s %s\n", r.tenant(), r.stars(), Time(r.update_time()), r.review());
  }
}

void PrintNextPage(const std::string& token) {
  if (!token.empty() && !Quiet()) std::cout << "next page: --page-token=" << token << "\n";
}

// Prints one resource (a table of one row, or JSON) and returns the exit code of a call that answered `status`.
template <typename Message>
int Answer(const absl::Status& status, const Message& message,
           const std::function<void(const std::vector<Message>&)>& table) {
  if (!status.ok()) return Fail(status);
  if (Structured()) {
    PrintStructured(message);
  } else {
    table({message});
  }
  return 0;
}

// Prints what a list call gathered (a table and the next page, or JSON) and returns the exit code.
template <typename Response, typename Item>
int AnswerList(const absl::Status& status, const Response& all, const google::protobuf::RepeatedPtrField<Item>& items,
               const std::type_identity_t<std::function<void(const std::vector<Item>&)>>& table) {
  if (!status.ok()) return Fail(status);
  if (Structured()) {
    PrintStructured(all);
  } else {
    table({items.begin(), items.end()});
    PrintNextPage(all.next_page_token());
  }
  return 0;
}

int AnswerApp(const absl::Status& status, const mpb::App& app) { return Answer<mpb::App>(status, app, PrintApps); }
int AnswerVersion(const absl::Status& status, const mpb::AppVersion& version) {
  return Answer<mpb::AppVersion>(status, version, PrintVersions);
}
int AnswerInstallation(const absl::Status& status, const mpb::Installation& installation) {
  return Answer<mpb::Installation>(status, installation, PrintInstallations);
}

// --- Providers ---

int CreateApp(Client& client, const Args& args) {
  mpb::CreateAppRequest request;
  request.set_parent(absl::StrCat("tenants/", args[0]));
  request.set_app_id(args[1]);
  mpb::App& app = *request.mutable_app();
  app.set_display_name(absl::GetFlag(FLAGS_display_name).value_or(""));
  app.set_summary(absl::GetFlag(FLAGS_summary));
  app.set_description(absl::GetFlag(FLAGS_description));
  absl::StatusOr<mpb::Category> category =
      WordFromFlag("--category", absl::GetFlag(FLAGS_category), kCategories, mpb::CATEGORY_UNSPECIFIED);
  if (!category.ok()) return Usage(std::string(category.status().message()));
  app.set_category(*category);
  for (const std::string& tag : absl::GetFlag(FLAGS_tags)) app.add_tags(tag);
  app.set_vendor(absl::GetFlag(FLAGS_vendor));
  app.set_homepage(absl::GetFlag(FLAGS_homepage));
  mpb::App created;
  return AnswerApp(client.Call(&Stub::CreateApp, request, &created), created);
}

int ListApps(Client& client, const Args& args) {
  mpb::ListAppsRequest request;
  request.set_parent(absl::StrCat("tenants/", args[0]));
  mpb::ListAppsResponse all;
  return AnswerList(client.ListPages(&Stub::ListApps, request, all), all, all.apps(), PrintApps);
}

int GetApp(Client& client, const Args& args) {
  mpb::GetAppRequest request;
  request.set_name(args[0]);
  mpb::App app;
  return AnswerApp(client.Call(&Stub::GetApp, request, &app), app);
}

int DelistApp(Client& client, const Args& args) {
  mpb::DelistAppRequest request;
  request.set_name(args[0]);
  request.set_reason(absl::GetFlag(FLAGS_reason));
  mpb::App app;
  return AnswerApp(client.Call(&Stub::DelistApp, request, &app), app);
}

int RelistApp(Client& client, const Args& args) {
  mpb::RelistAppRequest request;
  request.set_name(args[0]);
  mpb::App app;
  return AnswerApp(client.Call(&Stub::RelistApp, request, &app), app);
}

int CreateVersion(Client& client, const Args& args) {
  mpb::CreateAppVersionRequest request;
  request.set_parent(args[0]);
  request.set_version_id(args[1]);
  mpb::AppVersion& version = *request.mutable_version();
  version.set_image(absl::GetFlag(FLAGS_image));
  version.set_chart(absl::GetFlag(FLAGS_chart));
  version.set_changelog(absl::GetFlag(FLAGS_changelog));
  for (const std::string& scope : absl::GetFlag(FLAGS_scopes).value_or(std::vector<std::string>{})) {
    version.add_requested_scopes(scope);
  }
  for (const std::string& metric : absl::GetFlag(FLAGS_write_metrics)) version.add_write_metrics(metric);
  absl::StatusOr<mpb::PricingModel> model =
      WordFromFlag("--pricing", absl::GetFlag(FLAGS_pricing), kPricingModels, mpb::PRICING_MODEL_FREE);
  if (!model.ok()) return Usage(std::string(model.status().message()));
  version.mutable_pricing()->set_model(*model);
  version.mutable_pricing()->set_price_fen(absl::GetFlag(FLAGS_price_fen));
  mpb::AppVersion created;
  return AnswerVersion(client.Call(&Stub::CreateAppVersion, request, &created), created);
}

// Flags given with a value change their field; the update mask names exactly those.
int UpdateApp(Client& client, const Args& args) {
  mpb::UpdateAppRequest request;
  mpb::App& app = *request.mutable_app();
  app.set_name(args[0]);
  const auto change = [&](const char* path, bool given) {
    if (given) request.mutable_update_mask()->add_paths(path);
  };
  if (auto name = absl::GetFlag(FLAGS_display_name)) app.set_display_name(*name), change("display_name", true);
  app.set_summary(absl::GetFlag(FLAGS_summary));
  change("summary", !app.summary().empty());
  app.set_description(absl::GetFlag(FLAGS_description));
  change("description", !app.description().empty());
  if (!absl::GetFlag(FLAGS_category).empty()) {
    absl::StatusOr<mpb::Category> category =
        WordFromFlag("--category", absl::GetFlag(FLAGS_category), kCategories, mpb::CATEGORY_UNSPECIFIED);
    if (!category.ok()) return Usage(std::string(category.status().message()));
    app.set_category(*category);
    change("category", true);
  }
  for (const std::string& tag : absl::GetFlag(FLAGS_tags)) app.add_tags(tag);
  change("tags", app.tags_size() > 0);
  app.set_vendor(absl::GetFlag(FLAGS_vendor));
  change("vendor", !app.vendor().empty());
  app.set_homepage(absl::GetFlag(FLAGS_homepage));
  change("homepage", !app.homepage().empty());
  if (request.update_mask().paths().empty()) {
    return Usage("app update: give at least one of --display_name --summary --description --category --tags "
                 "--vendor --homepage");
  }
  mpb::App updated;
  return AnswerApp(client.Call(&Stub::UpdateApp, request, &updated), updated);
}

int UpdateVersion(Client& client, const Args& args) {
  mpb::UpdateAppVersionRequest request;
  mpb::AppVersion& version = *request.mutable_version();
  version.set_name(args[0]);
  const auto change = [&](const char* path, bool given) {
    if (given) request.mutable_update_mask()->add_paths(path);
  };
  version.set_image(absl::GetFlag(FLAGS_image));
  change("image", !version.image().empty());
  version.set_chart(absl::GetFlag(FLAGS_chart));
  change("chart", !version.chart().empty());
  version.set_changelog(absl::GetFlag(FLAGS_changelog));
  change("changelog", !version.changelog().empty());
  if (auto scopes = absl::GetFlag(FLAGS_scopes)) {
    for (const std::string& scope : *scopes) version.add_requested_scopes(scope);
    change("requested_scopes", true);
  }
  for (const std::string& metric : absl::GetFlag(FLAGS_write_metrics)) version.add_write_metrics(metric);
  change("write_metrics", version.write_metrics_size() > 0);
  if (!absl::GetFlag(FLAGS_pricing).empty()) {
    absl::StatusOr<mpb::PricingModel> model =
        WordFromFlag("--pricing", absl::GetFlag(FLAGS_pricing), kPricingModels, mpb::PRICING_MODEL_FREE);
    if (!model.ok()) return Usage(std::string(model.status().message()));
    version.mutable_pricing()->set_model(*model);
    version.mutable_pricing()->set_price_fen(absl::GetFlag(FLAGS_price_fen));
    change("pricing", true);
  }
  if (request.update_mask().paths().empty()) {
    return Usage("app version update: give at least one of --image --chart --changelog --scopes --write_metrics "
                 "--pricing");
  }
  mpb::AppVersion updated;
  return AnswerVersion(client.Call(&Stub::UpdateAppVersion, request, &updated), updated);
}

int ListVersions(Client& client, const Args& args) {
  mpb::ListAppVersionsRequest request;
  request.set_parent(args[0]);
  mpb::ListAppVersionsResponse all;
  return AnswerList(client.ListPages(&Stub::ListAppVersions, request, all), all, all.versions(), PrintVersions);
}

// submit, publish, deprecate: a request with only the version's name.
template <typename Request>
int VersionStep(Client& client, const Args& args,
                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, mpb::AppVersion*)) {
  Request request;
  request.set_name(args[0]);
  mpb::AppVersion version;
  return AnswerVersion(client.Call(method, request, &version), version);
}
int SubmitVersion(Client& client, const Args& args) { return VersionStep(client, args, &Stub::SubmitAppVersion); }
int PublishVersion(Client& client, const Args& args) { return VersionStep(client, args, &Stub::PublishAppVersion); }
int DeprecateVersion(Client& client, const Args& args) {
  return VersionStep(client, args, &Stub::DeprecateAppVersion);
}

int AppUsageOf(Client& client, const Args& args) {
  mpb::GetAppUsageRequest request;
  request.set_app(args[0]);
  mpb::AppUsage usage;
  if (absl::Status s = client.Call(&Stub::GetAppUsage, request, &usage); !s.ok()) return Fail(s);
  if (Structured()) {
    PrintStructured(usage);
    return 0;
  }
  std::cout << usage.app() << ": " << usage.installs() << " installs, " << usage.active_installs() << " active\n";
  std::cout << absl::StrFormat("%-20s %-48s %-10s %7s\n", "TENANT", "INSTALLATION", "VERSION", "DEVICES");
  for (const mpb::TenantUsage& t : usage.tenants()) {
    std::cout << absl::StrFormat("%-20s %-48s %-10s %7d\n", t.tenant(), OrDash(t.installation()), t.version(),
                                 t.granted_devices());
  }
  return 0;
}

int Statement(Client& client, const Args& args) {
  mpb::GetAppStatementRequest request;
  request.set_app(args[0]);
  request.set_month(absl::GetFlag(FLAGS_month));
  if (request.month().empty()) return Usage("app statement: --month=YYYY-MM is required");
  mpb::AppStatement statement;
  if (absl::Status s = client.Call(&Stub::GetAppStatement, request, &statement); !s.ok()) return Fail(s);
  if (Structured()) {
    PrintStructured(statement);
    return 0;
  }
  std::cout << statement.app() << ", " << statement.month() << " (" << statement.days_in_month() << " days, "
            << statement.currency() << ")\n";
  std::cout << absl::StrFormat("%-20s %-48s %-22s %11s %11s %12s\n", "TENANT", "INSTALLATION", "PRICING",
                               "ACTIVE DAYS", "DEVICE DAYS", "AMOUNT FEN");
  for (const mpb::StatementLine& line : statement.lines()) {
    std::cout << absl::StrFormat("%-20s %-48s %-22s %11d %11d %12d\n", line.tenant(), line.installation(),
                                 PriceText(line.pricing()), line.active_days(), line.device_days(),
                                 line.amount_fen());
  }
  std::cout << absl::StrFormat("total: %d fen (%d.%02d %s)\n", statement.total_fen(), statement.total_fen() / 100,
                               statement.total_fen() % 100, statement.currency());
  return 0;
}

// --- The park admin's review ---

int Queue(Client& client, const Args&) {
  mpb::ListReviewQueueRequest request;
  mpb::ListReviewQueueResponse all;
  return AnswerList(client.ListPages(&Stub::ListReviewQueue, request, all), all, all.versions(), PrintVersions);
}

int Review(Client& client, const Args& args, mpb::ReviewDecision decision) {
  mpb::ReviewAppVersionRequest request;
  request.set_name(args[0]);
  request.set_decision(decision);
  request.set_reason(absl::GetFlag(FLAGS_reason));
  mpb::AppVersion version;
  return AnswerVersion(client.Call(&Stub::ReviewAppVersion, request, &version), version);
}
int Approve(Client& client, const Args& args) { return Review(client, args, mpb::REVIEW_DECISION_APPROVE); }
int Reject(Client& client, const Args& args) { return Review(client, args, mpb::REVIEW_DECISION_REJECT); }

// --- Tenants: the catalogue ---

int Search(Client& client, const Args& args) {
  mpb::SearchAppsRequest request;
  request.set_query(absl::StrJoin(args, " "));
  absl::StatusOr<std::vector<mpb::Category>> categories =
      WordsFromFlag("--category", absl::GetFlag(FLAGS_category), kCategories);
  if (!categories.ok()) return Usage(std::string(categories.status().message()));
  for (mpb::Category category : *categories) request.add_categories(category);
  absl::StatusOr<std::vector<mpb::PricingModel>> models =
      WordsFromFlag("--pricing", absl::GetFlag(FLAGS_pricing), kPricingModels);
  if (!models.ok()) return Usage(std::string(models.status().message()));
  for (mpb::PricingModel model : *models) request.add_pricing_models(model);
  request.set_provider(absl::GetFlag(FLAGS_provider).value_or(""));
  absl::StatusOr<mpb::SearchOrder> order =
      WordFromFlag("--order", absl::GetFlag(FLAGS_order), kOrders, mpb::SEARCH_ORDER_UNSPECIFIED);
  if (!order.ok()) return Usage(std::string(order.status().message()));
  request.set_order(*order);
  mpb::SearchAppsResponse all;
  return AnswerList(client.ListPages(&Stub::SearchApps, request, all), all, all.apps(), PrintApps);
}

int Rate(Client& client, const Args& args) {
  mpb::RateAppRequest request;
  request.set_parent(absl::StrCat("tenants/", args[0]));
  request.set_app(args[1]);
  request.set_stars(absl::GetFlag(FLAGS_stars));
  request.set_review(absl::GetFlag(FLAGS_review));
  mpb::Rating rating;
  return Answer<mpb::Rating>(client.Call(&Stub::RateApp, request, &rating), rating, PrintRatings);
}

int Ratings(Client& client, const Args& args) {
  mpb::ListRatingsRequest request;
  request.set_app(args[0]);
  mpb::ListRatingsResponse all;
  return AnswerList(client.ListPages(&Stub::ListRatings, request, all), all, all.ratings(), PrintRatings);
}

// --- Tenants: installations ---

// `base` with what --scopes, --labels and --metrics say in place of its own; INVALID_ARGUMENT naming the flag.
absl::StatusOr<mpb::Grant> GrantFromFlags(mpb::Grant grant) {
  if (auto scopes = absl::GetFlag(FLAGS_scopes)) {
    grant.clear_scopes();
    for (const std::string& scope : *scopes) grant.add_scopes(scope);
  }
  if (auto labels = absl::GetFlag(FLAGS_labels)) {
    auto& selector = *grant.mutable_data_scope()->mutable_device_labels();
    selector.clear();
    for (const std::string& label : *labels) {
      std::pair<std::string, std::string> pair = absl::StrSplit(label, absl::MaxSplits('=', 1));
      if (pair.first.empty() || label.find('=') == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("--labels: each item must be KEY=VALUE, got '", label, "'"));
      }
      selector[pair.first] = pair.second;
    }
  }
  if (auto metrics = absl::GetFlag(FLAGS_metrics)) {
    grant.mutable_data_scope()->clear_metrics();
    for (const std::string& metric : *metrics) grant.mutable_data_scope()->add_metrics(metric);
  }
  return grant;
}

bool GrantFlagsGiven() {
  return absl::GetFlag(FLAGS_scopes).has_value() || absl::GetFlag(FLAGS_labels).has_value() ||
         absl::GetFlag(FLAGS_metrics).has_value();
}

int Install(Client& client, const Args& args) {
  if (!absl::GetFlag(FLAGS_scopes).has_value()) {
    return Usage("app install: --scopes is required (e.g. --scopes=telemetry.read)");
  }
  mpb::InstallAppRequest request;
  request.set_parent(absl::StrCat("tenants/", args[0]));
  request.set_app(args[1]);
  request.set_version(absl::GetFlag(FLAGS_app_version));
  absl::StatusOr<mpb::Grant> grant = GrantFromFlags(mpb::Grant());
  if (!grant.ok()) return Usage(std::string(grant.status().message()));
  *request.mutable_grant() = *std::move(grant);
  mpb::InstallAppResponse response;
  if (absl::Status s = client.Call(&Stub::InstallApp, request, &response); !s.ok()) return Fail(s);
  if (Structured()) {
    PrintStructured(response);
  } else {
    PrintInstallations({response.installation()});
    std::cout << "\napp credential (shown once, store it now):\n" << response.credential() << "\n";
  }
  return 0;
}

int Installations(Client& client, const Args& args) {
  mpb::ListInstallationsRequest request;
  request.set_parent(absl::StrCat("tenants/", args[0]));
  request.set_show_uninstalled(absl::GetFlag(FLAGS_show_uninstalled));
  mpb::ListInstallationsResponse all;
  return AnswerList(client.ListPages(&Stub::ListInstallations, request, all), all, all.installations(), PrintInstallations);
}

int GetInstallation(Client& client, const Args& args) {
  mpb::GetInstallationRequest request;
  request.set_name(args[0]);
  mpb::Installation installation;
  return AnswerInstallation(client.Call(&Stub::GetInstallation, request, &installation), installation);
}

int Upgrade(Client& client, const Args& args) {
  mpb::UpgradeInstallationRequest request;
  request.set_name(args[0]);
  request.set_version(absl::GetFlag(FLAGS_app_version));
  if (GrantFlagsGiven()) {
    // A new grant is the current one with what the flags change, so `--labels` alone keeps the scopes.
    mpb::GetInstallationRequest get;
    get.set_name(args[0]);
    mpb::Installation current;
    if (absl::Status s = client.Call(&Stub::GetInstallation, get, &current); !s.ok()) return Fail(s);
    absl::StatusOr<mpb::Grant> grant = GrantFromFlags(current.grant());
    if (!grant.ok()) return Usage(std::string(grant.status().message()));
    *request.mutable_grant() = *std::move(grant);
  }
  mpb::Installation installation;
  return AnswerInstallation(client.Call(&Stub::UpgradeInstallation, request, &installation), installation);
}

int Rollback(Client& client, const Args& args) {
  mpb::RollbackInstallationRequest request;
  request.set_name(args[0]);
  mpb::Installation installation;
  return AnswerInstallation(client.Call(&Stub::RollbackInstallation, request, &installation), installation);
}

int Pin(Client& client, const Args& args, bool pinned) {
  mpb::PinInstallationRequest request;
  request.set_name(args[0]);
  request.set_pinned(pinned);
  mpb::Installation installation;
  return AnswerInstallation(client.Call(&Stub::PinInstallation, request, &installation), installation);
}

int Uninstall(Client& client, const Args& args) {
  mpb::UninstallAppRequest request;
  request.set_name(args[0]);
  mpb::Installation installation;
  return AnswerInstallation(client.Call(&Stub::UninstallApp, request, &installation), installation);
}

struct AppVerb {
  std::string name;  // "create", "version list", ...
  Command help;
  size_t min_args;
  size_t max_args;
  std::function<int(Client&, const Args&)> run;
};

constexpr size_t kAnyNumber = SIZE_MAX;

const std::vector<AppVerb>& Verbs() {
  static const auto* verbs = new std::vector<AppVerb>{
      // Providers.
      {"create",
       {"parkbase app create PROVIDER APP_ID --display_name=NAME --summary=TEXT --category=CATEGORY",
        "Create an app in a provider tenant, with no versions yet (provider).",
        "--display_name --summary --category=mes|eam|energy_management|quality_inspection|predictive_maintenance|"
        "ai_model|other (all three required) --description --tags=a,b --vendor --homepage=URL"},
       2, 2, CreateApp},
      {"list", {"parkbase app list PROVIDER [--all]", "List a provider's own apps in every state.",
                "--page_size --page_token --all"},
       1, 1, ListApps},
      {"get", {"parkbase app get tenants/P/apps/A", "Show one app.", ""}, 1, 1, GetApp},
      {"update",
       {"parkbase app update tenants/P/apps/A [--display_name --summary --description --category --tags --vendor "
        "--homepage]",
        "Change the app's listing: each flag given with a value changes its field (provider).",
        "--display_name --summary --description --category --tags=a,b --vendor --homepage"},
       1, 1, UpdateApp},
      {"version update",
       {"parkbase app version update tenants/P/apps/A/versions/V [--image --chart --changelog --scopes "
        "--write_metrics --pricing --price_fen]",
        "Change a DRAFT or REJECTED version: each flag given with a value changes its field (provider).",
        "--image --chart --changelog --scopes --write_metrics --pricing=free|per_device|flat --price_fen"},
       1, 1, UpdateVersion},
      {"version create",
       {"parkbase app version create tenants/P/apps/A VERSION --image=REF --scopes=SCOPE,...",
        "Create a version (MAJOR.MINOR.PATCH) in DRAFT (provider).",
        "--image (required) --scopes=devices.read,telemetry.read,telemetry.write (required) --write_metrics=a,b "
        "(required with telemetry.write) --chart=REF --changelog=TEXT --pricing=free|per_device|flat (default "
        "free) --price_fen=N"},
       2, 2, CreateVersion},
      {"version list",
       {"parkbase app version list tenants/P/apps/A [--all]", "List an app's versions, newest first.",
        "--page_size --page_token --all"},
       1, 1, ListVersions},
      {"submit",
       {"parkbase app submit tenants/P/apps/A/versions/V",
        "Send a DRAFT or REJECTED version to the park admin's review queue (provider).", ""},
       1, 1, SubmitVersion},
      {"publish",
       {"parkbase app publish tenants/P/apps/A/versions/V",
        "Publish an APPROVED version: tenants can find and install it (provider).", ""},
       1, 1, PublishVersion},
      {"deprecate",
       {"parkbase app deprecate tenants/P/apps/A/versions/V",
        "Deprecate a published version: no new installs or upgrades to it; installations keep working.", ""},
       1, 1, DeprecateVersion},
      {"delist",
       {"parkbase app delist tenants/P/apps/A --reason=TEXT",
        "Take an app out of the catalogue; installations keep working (provider or park admin).",
        "--reason (required)"},
       1, 1, DelistApp},
      {"relist",
       {"parkbase app relist tenants/P/apps/A", "Put a delisted app back in the catalogue.", ""}, 1, 1, RelistApp},
      {"usage",
       {"parkbase app usage tenants/P/apps/A",
        "Installs of one of the provider's apps, and per tenant its installation and granted devices.", ""},
       1, 1, AppUsageOf},
      {"statement",
       {"parkbase app statement tenants/P/apps/A --month=YYYY-MM",
        "The app's monthly statement in fen: per installation, active days, device-days and amount.",
        "--month (required, Asia/Shanghai)"},
       1, 1, Statement},
      // The park admin.
      {"queue",
       {"parkbase app queue [--all]", "The review queue: SUBMITTED versions, oldest first (park admin).",
        "--page_size --page_token --all"},
       0, 0, Queue},
      {"approve",
       {"parkbase app approve tenants/P/apps/A/versions/V [--reason=NOTE]",
        "Approve a SUBMITTED version; the provider then publishes it (park admin).", "--reason (a note)"},
       1, 1, Approve},
      {"reject",
       {"parkbase app reject tenants/P/apps/A/versions/V --reason=TEXT",
        "Reject a SUBMITTED version with a reason the provider reads (park admin).", "--reason (required)"},
       1, 1, Reject},
      // Tenants.
      {"search",
       {"parkbase app search [QUERY] [--category=C,...] [--pricing=P,...] [--provider=ID] [--order=ORDER]",
        "Search the catalogue in Chinese or English; every word must match.",
        "--category --pricing=free|per_device|flat --provider --order=relevance|rating|installs --page_size "
        "--page_token --all"},
       0, kAnyNumber, Search},
      {"install",
       {"parkbase app install TENANT tenants/P/apps/A --scopes=SCOPE,... [--labels=K=V,...] [--metrics=M,...]",
        "Install a published version and grant it scopes; the app credential is printed once (tenant admin).",
        "--scopes (required) --app_version (default: the newest) --labels --metrics"},
       2, 2, Install},
      {"installations",
       {"parkbase app installations TENANT [--show_uninstalled] [--all]", "List a tenant's installations.",
        "--show_uninstalled --page_size --page_token --all"},
       1, 1, Installations},
      {"installation",
       {"parkbase app installation tenants/T/installations/I", "Show one installation and its grant.", ""},
       1, 1, GetInstallation},
      {"upgrade",
       {"parkbase app upgrade tenants/T/installations/I [--app_version=V] [--scopes --labels --metrics]",
        "Move to a newer published version (default the newest); grant flags change the current grant.",
        "--app_version --scopes --labels --metrics"},
       1, 1, Upgrade},
      {"rollback",
       {"parkbase app rollback tenants/T/installations/I",
        "Return to the version before the last upgrade; the grant keeps only what it requests.", ""},
       1, 1, Rollback},
      {"pin", {"parkbase app pin tenants/T/installations/I", "Pin the installed version: no upgrades.", ""}, 1, 1,
       [](Client& client, const Args& args) { return Pin(client, args, true); }},
      {"unpin", {"parkbase app unpin tenants/T/installations/I", "Allow upgrades again.", ""}, 1, 1,
       [](Client& client, const Args& args) { return Pin(client, args, false); }},
      {"uninstall",
       {"parkbase app uninstall tenants/T/installations/I",
        "Uninstall: the app credential stops working at once.", ""},
       1, 1, Uninstall},
      {"rate",
       {"parkbase app rate TENANT tenants/P/apps/A --stars=N [--review=TEXT]",
        "Rate an app the tenant installed, 1 to 5 stars (a later rating replaces it).", "--stars (required) --review"},
       2, 2, Rate},
      {"ratings",
       {"parkbase app ratings tenants/P/apps/A [--all]", "An app's ratings, newest first.",
        "--page_size --page_token --all"},
       1, 1, Ratings},
  };
  return *verbs;
}

}  // namespace

const std::vector<std::pair<std::string, Command>>& AppCommands() {
  static const auto* commands = [] {
    auto* list = new std::vector<std::pair<std::string, Command>>;
    for (const AppVerb& verb : Verbs()) list->emplace_back(absl::StrCat("app ", verb.name), verb.help);
    return list;
  }();
  return *commands;
}

int AppCommand(const std::vector<std::string>& args) {
  if (args.empty()) return Usage("app: missing sub-command");
  for (const AppVerb& verb : Verbs()) {
    const std::vector<std::string> words = absl::StrSplit(verb.name, ' ');
    if (args.size() < words.size() || !std::equal(words.begin(), words.end(), args.begin())) continue;
    const Args rest(args.begin() + static_cast<std::ptrdiff_t>(words.size()), args.end());
    if (rest.size() < verb.min_args || rest.size() > verb.max_args) {
      return Usage(absl::StrCat("usage: ", verb.help.usage));
    }
    Client client;
    return verb.run(client, rest);
  }
  return Usage(absl::StrCat("unknown command: app ", absl::StrJoin(args, " ")));
}

}  // namespace parkbase::cli
