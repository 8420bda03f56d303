#include "device/device_logic.h"

#include <cmath>
#include <optional>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/access.h"
#include "common/app_grant.h"
#include "common/audit.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/etag.h"
#include "common/list_filter.h"
#include "common/names.h"
#include "common/status_macros.h"

namespace parkbase::device {
namespace {

// Limits on one device or type. They keep a row well under a kilobyte or two, which is what makes list pages and
// bulk import cheap; none is near what a real device type or inventory needs (Asset Administration Shell
// templates run to a few dozen properties).
constexpr int kMaxMetrics = 256;
constexpr int kMaxLabels = 64;
constexpr int kMaxAttributes = 128;
constexpr size_t kMaxLabelValueBytes = 63;
constexpr size_t kMaxStringAttributeBytes = 1024;
constexpr size_t kMaxSerialBytes = 64;

std::string Quoted(absl::string_view text) { return absl::StrCat("\"", absl::CEscape(text.substr(0, 100)), "\""); }

// Device ids and device type ids: 3 to 63 characters of [a-z0-9-], starting with a letter, not ending with '-'
// (DNS-label-like, so they are safe in names, URLs and metric labels).
absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  const bool ok = id.size() >= 3 && id.size() <= 63 && absl::ascii_islower(id.front()) && id.back() != '-' &&
                  std::all_of(id.begin(), id.end(), [](char c) {
                    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
                  });
  if (ok) return absl::OkStatus();
  return FieldError(field, absl::StrCat("must be 3 to 63 characters of lowercase letters, digits and '-', starting "
                                        "with a letter, got ",
                                        Quoted(id)));
}

// Serial numbers end up in identifiers (`88.x.y/<serial>`) and URLs: a conservative character set.
absl::Status ValidateSerial(absl::string_view field, absl::string_view serial) {
  if (serial.empty() || serial.size() > kMaxSerialBytes) {
    return FieldError(field, absl::StrCat("must be 1 to ", kMaxSerialBytes, " characters, got ", serial.size()));
  }
  for (char c : serial) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != ':' && c != '-') {
      return FieldError(field, absl::StrCat("may hold only letters, digits, '.', '_', ':' and '-', got ",
                                            Quoted(serial)));
    }
  }
  return absl::OkStatus();
}

// Label and attribute keys: 1 to 63 characters of [a-z0-9_.-], starting with a letter.
absl::Status ValidateKey(absl::string_view field, absl::string_view key) {
  const bool ok = !key.empty() && key.size() <= 63 && absl::ascii_islower(key.front()) &&
                  std::all_of(key.begin(), key.end(), [](char c) {
                    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '-' || c == '.';
                  });
  if (ok) return absl::OkStatus();
  return FieldError(field, absl::StrCat("keys must be 1 to 63 characters of lowercase letters, digits, '_', '-' and "
                                        "'.', starting with a letter, got ",
                                        Quoted(key)));
}

absl::Status ValidateAttributeValue(absl::string_view field, const pb::AttributeValue& value) {
  switch (value.value_case()) {
    case pb::AttributeValue::VALUE_NOT_SET:
      return FieldError(field, "must hold a value");
    case pb::AttributeValue::kDoubleValue:
      if (!std::isfinite(value.double_value())) return FieldError(field, "must be a finite number");
      return absl::OkStatus();
    case pb::AttributeValue::kStringValue:
      if (value.string_value().size() > kMaxStringAttributeBytes) {
        return FieldError(field, absl::StrCat("must be at most ", kMaxStringAttributeBytes, " bytes, got ",
                                              value.string_value().size()));
      }
      return ValidateText(field, value.string_value(), 0, kMaxStringAttributeBytes);
    default:
      return absl::OkStatus();
  }
}

absl::Status ValidateLabels(absl::string_view prefix, const google::protobuf::Map<std::string, std::string>& labels) {
  const std::string field = absl::StrCat(prefix, ".labels");
  if (labels.size() > kMaxLabels) {
    return FieldError(field, absl::StrCat("at most ", kMaxLabels, " labels, got ", labels.size()));
  }
  for (const auto& [key, value] : labels) {
    RETURN_IF_ERROR(ValidateKey(field, key));
    if (value.size() > kMaxLabelValueBytes) {
      return FieldError(absl::StrCat(field, "[", key, "]"),
                        absl::StrCat("must be at most ", kMaxLabelValueBytes, " bytes, got ", value.size()));
    }
    RETURN_IF_ERROR(ValidateText(absl::StrCat(field, "[", key, "]"), value, 0, kMaxLabelValueBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateAttributes(absl::string_view field,
                                const google::protobuf::Map<std::string, pb::AttributeValue>& attributes) {
  if (attributes.size() > kMaxAttributes) {
    return FieldError(field, absl::StrCat("at most ", kMaxAttributes, " attributes, got ", attributes.size()));
  }
  for (const auto& [key, value] : attributes) {
    RETURN_IF_ERROR(ValidateKey(field, key));
    RETURN_IF_ERROR(ValidateAttributeValue(absl::StrCat(field, "[", key, "]"), value));
  }
  return absl::OkStatus();
}

absl::Status ValidatePublicKeys(absl::string_view prefix, const google::protobuf::RepeatedPtrField<std::string>& keys) {
  const std::string field = absl::StrCat(prefix, ".public_attribute_keys");
  if (keys.size() > kMaxAttributes) {
    return FieldError(field, absl::StrCat("at most ", kMaxAttributes, " keys, got ", keys.size()));
  }
  for (const std::string& key : keys) RETURN_IF_ERROR(ValidateKey(field, key));
  return absl::OkStatus();
}

absl::Status ValidateMetrics(const google::protobuf::RepeatedPtrField<pb::MetricSpec>& metrics) {
  if (metrics.size() > kMaxMetrics) {
    return FieldError("device_type.metrics", absl::StrCat("at most ", kMaxMetrics, " metrics, got ", metrics.size()));
  }
  std::set<std::string> names;
  for (int i = 0; i < metrics.size(); ++i) {
    const pb::MetricSpec& metric = metrics[i];
    const std::string field = absl::StrCat("device_type.metrics[", i, "]");
    const std::string& name = metric.name();
    const bool name_ok = !name.empty() && name.size() <= 64 && absl::ascii_islower(name.front()) &&
                         std::all_of(name.begin(), name.end(), [](char c) {
                           return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '.';
                         });
    if (!name_ok) {
      return FieldError(absl::StrCat(field, ".name"),
                        absl::StrCat("must be 1 to 64 characters of lowercase letters, digits, '_' and '.', starting "
                                     "with a letter, got ",
                                     Quoted(name)));
    }
    if (!names.insert(name).second) {
      return FieldError(absl::StrCat(field, ".name"), absl::StrCat(Quoted(name), " appears twice"));
    }
    RETURN_IF_ERROR(ValidateText(absl::StrCat(field, ".unit"), metric.unit(), 0, 32));
    if (metric.value_type() == pb::VALUE_TYPE_UNSPECIFIED || !pb::ValueType_IsValid(metric.value_type())) {
      return FieldError(absl::StrCat(field, ".value_type"), "must be DOUBLE, INT64, BOOL or STRING");
    }
    const bool numeric = metric.value_type() == pb::VALUE_TYPE_DOUBLE || metric.value_type() == pb::VALUE_TYPE_INT64;
    if (!numeric && (metric.has_min() || metric.has_max())) {
      return FieldError(absl::StrCat(field, ".min"), "bounds apply only to DOUBLE and INT64 metrics");
    }
    if ((metric.has_min() && !std::isfinite(metric.min())) || (metric.has_max() && !std::isfinite(metric.max()))) {
      return FieldError(absl::StrCat(field, ".min"), "bounds must be finite numbers");
    }
    if (metric.has_min() && metric.has_max() && metric.min() > metric.max()) {
      return FieldError(absl::StrCat(field, ".max"),
                        absl::StrCat("must be >= min (", metric.min(), "), got ", metric.max()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTypeFields(const pb::DeviceType& type, const std::set<std::string>& paths) {
  auto in = [&](const char* path) { return paths.empty() || paths.count(path) != 0; };
  if (in("display_name")) RETURN_IF_ERROR(ValidateText("device_type.display_name", type.display_name(), 1, 200));
  if (in("description")) RETURN_IF_ERROR(ValidateText("device_type.description", type.description(), 0, 2000));
  if (in("vendor")) RETURN_IF_ERROR(ValidateText("device_type.vendor", type.vendor(), 0, 200));
  if (in("model")) RETURN_IF_ERROR(ValidateText("device_type.model", type.model(), 0, 200));
  if (in("metrics")) RETURN_IF_ERROR(ValidateMetrics(type.metrics()));
  return absl::OkStatus();
}

// The fields a creator sets; `prefix` is "device" (the row of an import is reported with its index).
absl::Status ValidateNewDevice(const pb::Device& device) {
  if (!device.device_id().empty()) RETURN_IF_ERROR(ValidateId("device.device_id", device.device_id()));
  if (device.device_type_id().empty()) return FieldError("device.device_type_id", "required");
  RETURN_IF_ERROR(ValidateId("device.device_type_id", device.device_type_id()));
  RETURN_IF_ERROR(ValidateSerial("device.serial_number", device.serial_number()));
  RETURN_IF_ERROR(ValidateText("device.display_name", device.display_name(), 0, 200));
  RETURN_IF_ERROR(ValidateLabels("device", device.labels()));
  RETURN_IF_ERROR(ValidateAttributes("device.attributes", device.attributes()));
  RETURN_IF_ERROR(ValidatePublicKeys("device", device.public_attribute_keys()));
  return absl::OkStatus();
}

// A fresh device keeps only what a creator may set.
pb::Device NewDevice(const pb::Device& requested) {
  pb::Device device;
  device.set_device_id(requested.device_id().empty() ? absl::StrCat("d", absl::BytesToHexString(RandomBytes(8)))
                                                     : requested.device_id());
  device.set_device_type_id(requested.device_type_id());
  device.set_serial_number(requested.serial_number());
  device.set_display_name(requested.display_name());
  *device.mutable_labels() = requested.labels();
  *device.mutable_attributes() = requested.attributes();
  *device.mutable_public_attribute_keys() = requested.public_attribute_keys();
  device.set_state(pb::DEVICE_STATE_PROVISIONED);
  return device;
}

absl::StatusOr<std::string> TenantFromParent(absl::string_view field, const std::string& parent) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName(field, parent, "tenants/*"));
  RETURN_IF_ERROR(ValidateTenantId(field, parts[0]));
  return parts[0];
}

struct ChildName {
  std::string tenant_id;
  std::string id;
  std::string resource;  // the name as given, for messages
};

absl::StatusOr<ChildName> ParseChild(absl::string_view field, const std::string& name, absl::string_view collection) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName(field, name, absl::StrCat("tenants/*/", collection, "/*")));
  RETURN_IF_ERROR(ValidateTenantId(field, parts[0]));
  RETURN_IF_ERROR(ValidateId(field, parts[1]));
  return ChildName{parts[0], parts[1], name};
}

std::string Binding(const Principal& caller, absl::string_view method, absl::string_view parent,
                    absl::string_view query) {
  return absl::StrCat(caller.tenant_id, "|", caller.key_id, "|", method, "|", parent, "|", query);
}

// Parses `device_type = press AND state = ACTIVE AND labels.line = 3`.
absl::StatusOr<DeviceFilter> ParseDeviceFilter(const std::string& filter) {
  DeviceFilter parsed;
  ASSIGN_OR_RETURN(const std::vector<FilterTerm> terms, ParseListFilter(filter));
  for (const FilterTerm& term : terms) {
    const std::string& field = term.field;
    const std::string& value = term.value;
    if (field == "device_type") {
      RETURN_IF_ERROR(ValidateId("filter", value));
      parsed.device_type_id = value;
    } else if (field == "state") {
      pb::DeviceState state;
      if (!pb::DeviceState_Parse(absl::StrCat("DEVICE_STATE_", value), &state) ||
          state == pb::DEVICE_STATE_UNSPECIFIED) {
        return FieldError("filter", absl::StrCat("state must be PROVISIONED, ACTIVE or DISABLED, got ",
                                                 QuoteForError(value)));
      }
      parsed.state = state;
    } else if (absl::StartsWith(field, "labels.")) {
      const std::string key = field.substr(7);
      RETURN_IF_ERROR(ValidateKey("filter", key));
      parsed.labels.emplace_back(key, value);
    } else {
      return FieldError("filter", absl::StrCat("unknown field ", QuoteForError(field),
                                               "; use device_type, state or labels.<key>"));
    }
  }
  return parsed;
}

// `88.<park>.<tenant code>/<serial>`, park and tenant codes decimal.
struct Identifier {
  std::string park_code;
  std::string serial;
};

absl::StatusOr<Identifier> ParseIdentifier(const std::string& identifier) {
  auto malformed = [&] {
    return FieldError("identifier",
                      absl::StrCat("must look like 88.<park>.<tenant code>/<serial>, got ", Quoted(identifier)));
  };
  std::pair<absl::string_view, absl::string_view> halves = absl::StrSplit(identifier, absl::MaxSplits('/', 1));
  std::vector<absl::string_view> prefix = absl::StrSplit(halves.first, '.');
  if (prefix.size() != 3 || prefix[0] != "88" || identifier.find('/') == std::string::npos) return malformed();
  for (size_t i = 1; i < 3; ++i) {
    if (prefix[i].empty() || prefix[i].size() > 16 ||
        !std::all_of(prefix[i].begin(), prefix[i].end(), absl::ascii_isdigit)) {
      return malformed();
    }
  }
  if (!ValidateSerial("identifier", halves.second).ok()) return malformed();
  return Identifier{std::string(prefix[1]), std::string(halves.second)};
}

// --- what an app credential may see ---------------------------------------------------------------------------
// An app credential (common/app_grant.h) sees only the devices carrying every label of its grant, wherever it names
// or lists them; these two functions are the whole of it. Device types are schemas, not data, so GetDeviceType and
// ListDeviceTypes are not narrowed; ResolveIdentifier answers the park-wide public record, the same for every
// caller. A device key is narrowed by its access rule's device_field instead.

// `device` as `caller` may see it: NOT_FOUND, worded exactly as for a missing device, when it lies outside the
// caller's grant.
absl::StatusOr<pb::Device> VisibleTo(const Principal& caller, absl::StatusOr<pb::Device> device) {
  const access::v1::AppGrant* grant = AppGrantOf(caller);
  if (grant == nullptr || !device.ok() || GrantCoversLabels(*grant, device->labels())) return device;
  return absl::NotFoundError(absl::StrCat(device->name(), ": not found"));
}

// A listing's filter narrowed to what `caller` may see: the grant becomes a condition of the store's query (not a
// filter over its answer), so page sizes and page tokens stay right.
DeviceFilter NarrowedTo(const Principal& caller, DeviceFilter filter) {
  if (const access::v1::AppGrant* grant = AppGrantOf(caller)) {
    filter.grant_labels.insert(grant->device_labels().begin(), grant->device_labels().end());
  }
  return filter;
}

}  // namespace

DeviceManager::DeviceManager(DeviceStore& store, PageTokens& page_tokens, SchemaInvalidator& invalidator,
                             std::string park_code, AuthInvalidator* auth, const RequestReplays* replays)
    : store_(store),
      page_tokens_(page_tokens),
      invalidator_(invalidator),
      auth_(auth),
      replays_(replays),
      park_code_(std::move(park_code)) {}

void DeviceManager::DeviceKeysChanged(const std::string& tenant_id) {
  if (auth_ != nullptr) auth_->TenantKeysChanged(tenant_id);
}

// --- device types --------------------------------------------------------------------------------------------

absl::StatusOr<pb::DeviceType> DeviceManager::CreateDeviceType(const Principal& caller,
                                                               const pb::CreateDeviceTypeRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantFromParent("parent", request.parent()));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, tenant_id, request.parent()));
  RETURN_IF_ERROR(ValidateId("device_type_id", request.device_type_id()));
  RETURN_IF_ERROR(ValidateTypeFields(request.device_type(), {}));
  pb::DeviceType type = request.device_type();
  type.set_device_type_id(request.device_type_id());
  return store_.CreateDeviceType(scope, type);
}

absl::StatusOr<pb::DeviceType> DeviceManager::GetDeviceType(const Principal& caller,
                                                            const pb::GetDeviceTypeRequest& request) {
  ASSIGN_OR_RETURN(const ChildName name, ParseChild("name", request.name(), "deviceTypes"));
  // Not narrowed for an app credential: a type is a schema, not data (see VisibleTo).
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, name.tenant_id, name.resource));
  if (request.version() < 0) return FieldError("version", absl::StrCat("must be >= 0, got ", request.version()));
  return store_.GetDeviceType(scope, name.id, request.version());
}

absl::StatusOr<pb::ListDeviceTypesResponse> DeviceManager::ListDeviceTypes(const Principal& caller,
                                                                           const pb::ListDeviceTypesRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantFromParent("parent", request.parent()));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, tenant_id, request.parent()));
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  const std::string binding = Binding(caller, "ListDeviceTypes", request.parent(), "");
  std::string after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after, page_tokens_.Decode(binding, request.page_token()));
  }
  // One row more than asked tells whether another page exists without a count query.
  ASSIGN_OR_RETURN(auto types, store_.ListDeviceTypes(scope, after, page_size + 1));
  pb::ListDeviceTypesResponse response;
  const bool more = static_cast<int>(types.size()) > page_size;
  if (more) types.resize(page_size);
  for (auto& type : types) *response.add_device_types() = std::move(type);
  if (more) {
    response.set_next_page_token(
        page_tokens_.Encode(binding, response.device_types(page_size - 1).device_type_id()));
  }
  return response;
}

absl::StatusOr<pb::DeviceType> DeviceManager::UpdateDeviceType(const Principal& caller,
                                                               const pb::UpdateDeviceTypeRequest& request) {
  ASSIGN_OR_RETURN(const ChildName name, ParseChild("device_type.name", request.device_type().name(), "deviceTypes"));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, name.tenant_id, name.resource));
  if (request.update_mask().paths_size() == 0) {
    return FieldError("update_mask", "required: name the fields to change, e.g. metrics");
  }
  static const std::set<std::string> kMutable = {"display_name", "description", "vendor", "model", "metrics"};
  std::set<std::string> paths;
  for (const std::string& path : request.update_mask().paths()) {
    if (kMutable.count(path) == 0) {
      return FieldError("update_mask", absl::StrCat(Quoted(path), " cannot be changed; mutable fields are "
                                                    "display_name, description, vendor, model and metrics"));
    }
    paths.insert(path);
  }
  const pb::DeviceType& requested = request.device_type();
  RETURN_IF_ERROR(ValidateTypeFields(requested, paths));
  absl::StatusOr<pb::DeviceType> updated =
                   store_.UpdateDeviceType(scope, name.id, [&](pb::DeviceType& type) -> absl::Status {
                     RETURN_IF_ERROR(CheckEtag("device_type.etag", requested.etag(), type.etag()));
                     if (paths.count("display_name")) type.set_display_name(requested.display_name());
                     if (paths.count("description")) type.set_description(requested.description());
                     if (paths.count("vendor")) type.set_vendor(requested.vendor());
                     if (paths.count("model")) type.set_model(requested.model());
                     if (paths.count("metrics")) *type.mutable_metrics() = requested.metrics();
                     return absl::OkStatus();
                   });
  if (!updated.ok()) return updated.status();
  invalidator_.TenantChanged(name.tenant_id);
  return updated;
}

absl::StatusOr<pb::DeleteDeviceTypeResponse> DeviceManager::DeleteDeviceType(
    const Principal& caller, const pb::DeleteDeviceTypeRequest& request) {
  ASSIGN_OR_RETURN(const ChildName name, ParseChild("name", request.name(), "deviceTypes"));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, name.tenant_id, name.resource));
  RETURN_IF_ERROR(store_.DeleteDeviceType(scope, name.id, request.etag()));
  invalidator_.TenantChanged(name.tenant_id);
  return pb::DeleteDeviceTypeResponse();
}

// --- devices -------------------------------------------------------------------------------------------------

absl::StatusOr<pb::Device> DeviceManager::CreateDevice(const Principal& caller,
                                                       const pb::CreateDeviceRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantFromParent("parent", request.parent()));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, tenant_id, request.parent()));
  RETURN_IF_ERROR(ValidateNewDevice(request.device()));
  return store_.CreateDevice(scope, park_code_, NewDevice(request.device()));
}

absl::StatusOr<pb::Device> DeviceManager::GetDevice(const Principal& caller, const pb::GetDeviceRequest& request) {
  ASSIGN_OR_RETURN(const ChildName name, ParseChild("name", request.name(), "devices"));
  // A device key reaches only its own device: the access rule's device_field sees to that.
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, name.tenant_id, name.resource));
  return VisibleTo(caller, store_.GetDevice(scope, name.id));
}

absl::StatusOr<pb::ListDevicesResponse> DeviceManager::ListDevices(const Principal& caller,
                                                                   const pb::ListDevicesRequest& request) {
  ASSIGN_OR_RETURN(const std::string tenant_id, TenantFromParent("parent", request.parent()));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, tenant_id, request.parent()));
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  ASSIGN_OR_RETURN(DeviceFilter parsed, ParseDeviceFilter(request.filter()));
  const DeviceFilter filter = NarrowedTo(caller, std::move(parsed));
  const std::string binding = Binding(caller, "ListDevices", request.parent(), request.filter());
  std::string after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after, page_tokens_.Decode(binding, request.page_token()));
  }
  ASSIGN_OR_RETURN(auto devices, store_.ListDevices(scope, filter, after, page_size + 1));
  pb::ListDevicesResponse response;
  const bool more = static_cast<int>(devices.size()) > page_size;
  if (more) devices.resize(page_size);
  for (auto& device : devices) *response.add_devices() = std::move(device);
  if (more) response.set_next_page_token(page_tokens_.Encode(binding, response.devices(page_size - 1).device_id()));
  return response;
}

absl::StatusOr<pb::Device> DeviceManager::UpdateDevice(const Principal& caller,
                                                       const pb::UpdateDeviceRequest& request) {
  ASSIGN_OR_RETURN(const ChildName name, ParseChild("device.name", request.device().name(), "devices"));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, name.tenant_id, name.resource));
  if (request.update_mask().paths_size() == 0) {
    return FieldError("update_mask", "required: name the fields to change, e.g. labels");
  }
  static const std::set<std::string> kMutable = {"display_name", "device_type_id", "labels", "attributes",
                                                 "public_attribute_keys", "state"};
  std::set<std::string> paths;
  for (const std::string& path : request.update_mask().paths()) {
    if (kMutable.count(path) == 0) {
      return FieldError("update_mask",
                        absl::StrCat(Quoted(path), " cannot be changed; mutable fields are display_name, "
                                                   "device_type_id, labels, attributes, public_attribute_keys, state"));
    }
    paths.insert(path);
  }
  const pb::Device& requested = request.device();
  if (paths.count("display_name")) RETURN_IF_ERROR(ValidateText("device.display_name", requested.display_name(), 0, 200));
  if (paths.count("device_type_id")) RETURN_IF_ERROR(ValidateId("device.device_type_id", requested.device_type_id()));
  if (paths.count("labels")) RETURN_IF_ERROR(ValidateLabels("device", requested.labels()));
  if (paths.count("attributes")) RETURN_IF_ERROR(ValidateAttributes("device.attributes", requested.attributes()));
  if (paths.count("public_attribute_keys")) {
    RETURN_IF_ERROR(ValidatePublicKeys("device", requested.public_attribute_keys()));
  }
  if (paths.count("state") && (requested.state() == pb::DEVICE_STATE_UNSPECIFIED ||
                               !pb::DeviceState_IsValid(requested.state()))) {
    return FieldError("device.state", "must be PROVISIONED, ACTIVE or DISABLED");
  }
  // A state change blocks or unblocks the device's keys: audited like DisableDevice and EnableDevice.
  const AuditEntry audit = MakeAudit(caller, "UpdateDevice", name.resource, request);
  absl::StatusOr<pb::Device> updated =
                   store_.UpdateDevice(
                       scope, name.id,
                       [&](pb::Device& device) -> absl::Status {
                         RETURN_IF_ERROR(CheckEtag("device.etag", requested.etag(), device.etag()));
                         if (paths.count("display_name")) device.set_display_name(requested.display_name());
                         if (paths.count("device_type_id")) device.set_device_type_id(requested.device_type_id());
                         if (paths.count("labels")) *device.mutable_labels() = requested.labels();
                         if (paths.count("attributes")) *device.mutable_attributes() = requested.attributes();
                         if (paths.count("public_attribute_keys")) {
                           *device.mutable_public_attribute_keys() = requested.public_attribute_keys();
                         }
                         if (paths.count("state")) device.set_state(requested.state());
                         return absl::OkStatus();
                       },
                       /*seen=*/false, paths.count("state") != 0 ? &audit : nullptr);
  if (!updated.ok()) return updated.status();
  // Type, state and labels are all in the resolved schema (labels select devices into app grants), so any update
  // bumps the epoch: an app's next telemetry call no longer sees a device relabelled out of its grant.
  invalidator_.TenantChanged(name.tenant_id);
  // A state change may have blocked or unblocked the device's keys.
  if (paths.count("state") != 0) DeviceKeysChanged(name.tenant_id);
  return updated;
}

absl::StatusOr<pb::DeleteDeviceResponse> DeviceManager::DeleteDevice(const Principal& caller,
                                                                     const pb::DeleteDeviceRequest& request) {
  ASSIGN_OR_RETURN(const ChildName name, ParseChild("name", request.name(), "devices"));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, name.tenant_id, name.resource));
  RETURN_IF_ERROR(store_.DeleteDevice(scope, name.id, request.etag(),
                                      MakeAudit(caller, "DeleteDevice", name.resource, request)));
  invalidator_.TenantChanged(name.tenant_id);
  invalidator_.DeviceDeleted(name.tenant_id, name.id);
  DeviceKeysChanged(name.tenant_id);  // its keys were revoked with it
  return pb::DeleteDeviceResponse();
}

absl::StatusOr<pb::Device> DeviceManager::ChangeState(const Principal& caller, const std::string& resource,
                                                      bool disable, const google::protobuf::Message& request) {
  ASSIGN_OR_RETURN(const ChildName name, ParseChild("name", resource, "devices"));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, name.tenant_id, name.resource));
  const AuditEntry audit = MakeAudit(caller, disable ? "DisableDevice" : "EnableDevice", name.resource, request);
  absl::StatusOr<pb::Device> updated =
                   store_.UpdateDevice(
                       scope, name.id,
                       [&](pb::Device& device) -> absl::Status {
                         const bool disabled = device.state() == pb::DEVICE_STATE_DISABLED;
                         if (disable && disabled) {
                           return absl::FailedPreconditionError(absl::StrCat(resource, ": already disabled"));
                         }
                         if (!disable && !disabled) {
                           return absl::FailedPreconditionError(absl::StrCat(resource, ": not disabled"));
                         }
                         device.set_state(disable ? pb::DEVICE_STATE_DISABLED : pb::DEVICE_STATE_ACTIVE);
                         return absl::OkStatus();
                       },
                       /*seen=*/false, &audit);
  if (!updated.ok()) return updated.status();
  invalidator_.TenantChanged(name.tenant_id);
  DeviceKeysChanged(name.tenant_id);  // its keys were blocked or unblocked
  return updated;
}

absl::StatusOr<pb::Device> DeviceManager::DisableDevice(const Principal& caller,
                                                        const pb::DisableDeviceRequest& request) {
  return ChangeState(caller, request.name(), /*disable=*/true, request);
}

absl::StatusOr<pb::Device> DeviceManager::EnableDevice(const Principal& caller,
                                                       const pb::EnableDeviceRequest& request) {
  return ChangeState(caller, request.name(), /*disable=*/false, request);
}

absl::StatusOr<pb::Device> DeviceManager::SetDeviceAttributes(const Principal& caller,
                                                              const pb::SetDeviceAttributesRequest& request) {
  ASSIGN_OR_RETURN(const ChildName name, ParseChild("name", request.name(), "devices"));
  // A device key may call this for its own device only (its access rule's device_field).
  const bool self = caller.role == Role::kDevice;
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, name.tenant_id, name.resource));
  RETURN_IF_ERROR(ValidateAttributes("attributes", request.attributes()));
  for (const std::string& key : request.remove_keys()) {
    RETURN_IF_ERROR(ValidateKey("remove_keys", key));
    if (request.attributes().contains(key)) {
      return FieldError("remove_keys", absl::StrCat(Quoted(key), " is also in attributes; set or remove it, not both"));
    }
  }
  bool state_changed = false;
  absl::StatusOr<pb::Device> updated =
                   store_.UpdateDevice(
                       scope, name.id,
                       [&](pb::Device& device) -> absl::Status {
                         for (const auto& [key, value] : request.attributes()) (*device.mutable_attributes())[key] = value;
                         for (const std::string& key : request.remove_keys()) device.mutable_attributes()->erase(key);
                         if (device.attributes().size() > kMaxAttributes) {
                           return FieldError("attributes", absl::StrCat("the device would have ",
                                                                        device.attributes().size(),
                                                                        " attributes; at most ", kMaxAttributes));
                         }
                         // A device calling in is alive: it leaves PROVISIONED.
                         if (self && device.state() == pb::DEVICE_STATE_PROVISIONED) {
                           device.set_state(pb::DEVICE_STATE_ACTIVE);
                           state_changed = true;
                         }
                         return absl::OkStatus();
                       },
                       /*seen=*/self);
  if (!updated.ok()) return updated.status();
  if (state_changed) invalidator_.TenantChanged(name.tenant_id);
  return updated;
}

// --- credentials ---------------------------------------------------------------------------------------------

absl::StatusOr<pb::CreateDeviceCredentialResponse> DeviceManager::CreateDeviceCredential(
    const Principal& caller, const pb::CreateDeviceCredentialRequest& request) {
  ASSIGN_OR_RETURN(const ChildName name, ParseChild("parent", request.parent(), "devices"));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, name.tenant_id, name.resource));
  RETURN_IF_ERROR(ValidateText("credential.display_name", request.credential().display_name(), 1, 200));
  ASSIGN_OR_RETURN(const std::optional<ReplayKey> replay_key,
                   RequestReplays::KeyFor("request_id", "CreateDeviceCredential", caller, request,
                                          request.request_id()));
  pb::CreateDeviceCredentialResponse response;
  RETURN_IF_ERROR(MintOnce(replays_, scope, replay_key, response, [&](const ReplayTicket* ticket) -> absl::Status {
    absl::StatusOr<NewCredential> created =
        store_.CreateCredential(scope, name.id, request.credential().display_name(), caller.KeyName(),
                                MakeAudit(caller, "CreateDeviceCredential", name.resource, request), ticket);
    if (!created.ok()) return created.status();
    *response.mutable_credential() = std::move(created->credential);
    response.set_secret(std::move(created->secret));
    return absl::OkStatus();
  }));
  return response;
}

absl::StatusOr<pb::ListDeviceCredentialsResponse> DeviceManager::ListDeviceCredentials(
    const Principal& caller, const pb::ListDeviceCredentialsRequest& request) {
  ASSIGN_OR_RETURN(const ChildName name, ParseChild("parent", request.parent(), "devices"));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, name.tenant_id, name.resource));
  ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request.page_size()));
  // A page starts after the last credential of the previous one, by (create time, key id) newest first, so a
  // credential minted or revoked between pages neither repeats nor shifts the others.
  const std::string binding = Binding(caller, "ListDeviceCredentials", request.parent(), "");
  std::optional<std::pair<int64_t, std::string>> after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(const std::string position, page_tokens_.Decode(binding, request.page_token()));
    const size_t slash = position.find('/');
    int64_t micros = 0;
    if (slash == std::string::npos || !absl::SimpleAtoi(position.substr(0, slash), &micros)) {
      return FieldError("page_token", "not a token of this list");
    }
    after.emplace(micros, position.substr(slash + 1));
  }
  // A device's credentials are few (each is minted by an admin), so the page is cut from the device's list.
  ASSIGN_OR_RETURN(auto credentials, store_.ListCredentials(scope, name.id));
  auto position_of = [](const pb::DeviceCredential& credential) {
    const int64_t micros = credential.create_time().seconds() * 1'000'000 + credential.create_time().nanos() / 1'000;
    return std::make_pair(micros, credential.key_id());
  };
  pb::ListDeviceCredentialsResponse response;
  for (auto& credential : credentials) {
    if (after.has_value() && !(position_of(credential) < *after)) continue;
    if (response.credentials_size() == page_size) {
      const auto [micros, key_id] = position_of(response.credentials(page_size - 1));
      response.set_next_page_token(page_tokens_.Encode(binding, absl::StrCat(micros, "/", key_id)));
      break;
    }
    *response.add_credentials() = std::move(credential);
  }
  return response;
}

absl::StatusOr<pb::RevokeDeviceCredentialResponse> DeviceManager::RevokeDeviceCredential(
    const Principal& caller, const pb::RevokeDeviceCredentialRequest& request) {
  ASSIGN_OR_RETURN(auto parts, ParseResourceName("name", request.name(), "tenants/*/devices/*/credentials/*"));
  RETURN_IF_ERROR(ValidateTenantId("name", parts[0]));
  RETURN_IF_ERROR(ValidateId("name", parts[1]));
  ASSIGN_OR_RETURN(const TenantScope scope, ScopeFor(caller, parts[0], request.name()));
  RETURN_IF_ERROR(
      store_.RevokeCredential(scope, parts[1], parts[2], MakeAudit(caller, "RevokeDeviceCredential", request.name(), request)));
  DeviceKeysChanged(parts[0]);
  return pb::RevokeDeviceCredentialResponse();
}

// --- bulk import ---------------------------------------------------------------------------------------------

DeviceImport::DeviceImport(DeviceStore& store, std::string park_code, Principal caller,
                           std::function<absl::Status()> may_write)
    : store_(store), park_code_(std::move(park_code)), caller_(std::move(caller)), may_write_(std::move(may_write)) {}

pb::ImportDevicesResponse DeviceImport::Summary() {
  pb::ImportDevicesResponse response;
  for (pb::ImportRowResult& result : results_) {
    switch (result.outcome()) {
      case pb::IMPORT_OUTCOME_CREATED:
        response.set_created_count(response.created_count() + 1);
        break;
      case pb::IMPORT_OUTCOME_UNCHANGED:
        response.set_unchanged_count(response.unchanged_count() + 1);
        break;
      default:
        response.set_failed_count(response.failed_count() + 1);
        break;
    }
    *response.add_results() = std::move(result);
  }
  results_.clear();
  return response;
}

// The call itself answers OK: a hundred thousand results do not fit in an error's details.
void DeviceImport::Stop(const absl::Status& why, bool batch_not_applied) {
  if (batch_not_applied) {
    for (const ImportRow& row : batch_) {
      pb::ImportRowResult& result = results_[row.index];
      result.set_outcome(pb::IMPORT_OUTCOME_FAILED);
      result.set_code(static_cast<int>(why.code()));
      result.set_message(absl::StrCat("not applied: ", why.message(), "; send this row again"));
      result.clear_device_id();
    }
  }
  batch_.clear();
  pb::ImportDevicesResponse stopped = Summary();
  *stopped.mutable_error() = ToRpcStatus(why);
  result_ = std::move(stopped);
  over_ = true;
}

bool DeviceImport::Flush() {
  if (batch_.empty()) return true;
  if (absl::Status allowed = may_write_(); !allowed.ok()) {
    Stop(allowed, /*batch_not_applied=*/true);
    return false;
  }
  absl::StatusOr<std::vector<pb::ImportRowResult>> outcomes = store_.ImportBatch(*scope_, park_code_, batch_);
  if (!outcomes.ok()) {
    Stop(outcomes.status(), /*batch_not_applied=*/true);
    return false;
  }
  for (auto& outcome : *outcomes) results_[outcome.row_index()] = std::move(outcome);
  batch_.clear();
  return true;
}

void DeviceImport::FlushAndStop(const absl::Status& why) {
  if (Flush()) Stop(why, /*batch_not_applied=*/false);
}

bool DeviceImport::Add(const pb::ImportDevicesRequest& message) {
  if (over_) return false;
  if (!scope_.has_value()) {
    absl::StatusOr<TenantScope> scope = FieldError("parent", "required in the first message");
    if (!message.parent().empty()) {
      absl::StatusOr<std::string> tenant_id = TenantFromParent("parent", message.parent());
      scope = tenant_id.ok() ? ScopeFor(caller_, *tenant_id, message.parent()) : tenant_id.status();
    }
    if (!scope.ok()) {
      result_ = scope.status();
      over_ = true;
      return false;
    }
    scope_ = *std::move(scope);
    parent_ = message.parent();
  } else if (!message.parent().empty() && message.parent() != parent_) {
    FlushAndStop(FieldError("parent", absl::StrCat("must stay ", parent_, " for the whole call")));
    return false;
  }
  for (const pb::Device& requested : message.devices()) {
    const int index = static_cast<int>(results_.size());
    if (index >= kMaxImportRows) {
      FlushAndStop(FieldError("devices", absl::StrCat("at most ", kMaxImportRows, " rows a call; rows from ",
                                                      kMaxImportRows, " on were not read; send them in another call")));
      return false;
    }
    pb::ImportRowResult& result = results_.emplace_back();
    result.set_row_index(index);
    absl::Status valid = ValidateNewDevice(requested);
    if (valid.ok()) {
      if (auto [first, inserted] = serials_.emplace(requested.serial_number(), index); !inserted) {
        valid = FieldError("device.serial_number", absl::StrCat("repeats row ", first->second));
      }
    }
    if (valid.ok() && !requested.device_id().empty()) {
      if (auto [first, inserted] = ids_.emplace(requested.device_id(), index); !inserted) {
        valid = FieldError("device.device_id", absl::StrCat("repeats row ", first->second));
      }
    }
    if (!valid.ok()) {
      result.set_outcome(pb::IMPORT_OUTCOME_FAILED);
      result.set_code(static_cast<int>(valid.code()));
      result.set_message(std::string(valid.message()));
      continue;
    }
    batch_.push_back(ImportRow{index, NewDevice(requested)});
    if (static_cast<int>(batch_.size()) >= kImportBatchRows && !Flush()) return false;
  }
  return true;
}

void DeviceImport::Fail(const absl::Status& why) {
  if (over_) return;
  over_ = true;
  if (!scope_.has_value()) {
    result_ = why;
    return;
  }
  FlushAndStop(why);
}

void DeviceImport::End() {
  if (over_) return;
  over_ = true;
  if (!scope_.has_value()) {
    result_ = FieldError("parent", "required in the first message");
    return;
  }
  if (Flush()) result_ = Summary();
}

std::unique_ptr<DeviceImport> DeviceManager::StartImport(const Principal& caller,
                                                         std::function<absl::Status()> may_write) {
  return std::make_unique<DeviceImport>(store_, park_code_, caller, std::move(may_write));
}

absl::StatusOr<pb::ImportDevicesResponse> DeviceManager::ImportDevices(
    const Principal& caller, absl::FunctionRef<absl::StatusOr<bool>(pb::ImportDevicesRequest*)> next,
    absl::FunctionRef<absl::Status()> may_write) {
  DeviceImport import(store_, park_code_, caller, [&may_write] { return may_write(); });
  pb::ImportDevicesRequest message;
  while (true) {
    absl::StatusOr<bool> more = next(&message);
    if (!more.ok()) {
      import.Fail(more.status());
      break;
    }
    if (!*more) {
      import.End();
      break;
    }
    if (!import.Add(message)) break;
  }
  return import.Result();
}

// --- identifiers ---------------------------------------------------------------------------------------------

absl::StatusOr<pb::IdentifierRecord> DeviceManager::ResolveIdentifier(const Principal& caller,
                                                                      const pb::ResolveIdentifierRequest& request) {
  ASSIGN_OR_RETURN(const Identifier parsed, ParseIdentifier(request.identifier()));
  // Identifiers of other parks are not ours to answer for.
  if (parsed.park_code != park_code_) {
    return absl::NotFoundError(absl::StrCat("identifier: ", request.identifier(), " is not registered in this park"));
  }
  // Any authenticated caller: the look-up runs under the caller's own scope, and only device_identifiers (public
  // metadata, readable by every tenant) is read.
  return store_.ResolveIdentifier(TenantScope::Tenant(caller.tenant_id), request.identifier());
}

}  // namespace parkbase::device
