#include "common/access.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/app_grant.h"
#include "common/errors.h"
#include "common/list_filter.h"
#include "common/names.h"

namespace parkbase {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr absl::string_view kTenantsPrefix = "tenants/";

// `tenants/{tenant}[/...]` -> the tenant id, checked.
absl::StatusOr<std::string> TenantOfName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return FieldError(field, "required: the resource's name, tenants/{tenant}/...");
  if (!absl::StartsWith(name, kTenantsPrefix)) {
    return FieldError(field, absl::StrCat("must name a resource of a tenant, tenants/{tenant}/..., got ",
                                          QuoteForError(name)));
  }
  const absl::string_view rest = name.substr(kTenantsPrefix.size());
  const absl::string_view tenant = rest.substr(0, rest.find('/'));
  if (absl::Status valid = ValidateTenantId(field, tenant); !valid.ok()) return valid;
  return std::string(tenant);
}

bool Lists(const access::v1::Rule& rule, Role role) {
  return std::any_of(rule.roles().begin(), rule.roles().end(),
                     [role](int listed) { return listed == static_cast<int>(role); });
}

std::string Truncated(absl::string_view name) {
  return std::string(Utf8Prefix(name, 200));
}

}  // namespace

const access::v1::Rule* AccessRuleOf(const google::protobuf::MethodDescriptor& method) {
  if (!method.options().HasExtension(access::v1::rule)) return nullptr;
  return &method.options().GetExtension(access::v1::rule);
}

absl::StatusOr<TenantScope> ScopeFor(const Principal& caller, const std::string& tenant_id,
                                     absl::string_view resource) {
  if (caller.IsParkAdmin()) return TenantScope::ParkAdmin(tenant_id);
  if (caller.tenant_id != tenant_id) return absl::NotFoundError(absl::StrCat(Truncated(resource), ": not found"));
  return TenantScope::Tenant(tenant_id);
}

absl::StatusOr<std::string> StringFieldAt(const Message& message, absl::string_view path) {
  const Message* current = &message;
  std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* field = current->GetDescriptor()->FindFieldByName(std::string(parts[i]));
    if (field == nullptr || field->is_repeated()) {
      return absl::InternalError(absl::StrCat("access rule: ", message.GetTypeName(), " has no field ", path));
    }
    const bool last = i + 1 == parts.size();
    if (last) {
      if (field->type() != FieldDescriptor::TYPE_STRING) {
        return absl::InternalError(absl::StrCat("access rule: ", path, " of ", message.GetTypeName(),
                                                " is not a string"));
      }
      return current->GetReflection()->GetString(*current, field);
    }
    if (field->type() != FieldDescriptor::TYPE_MESSAGE) {
      return absl::InternalError(absl::StrCat("access rule: ", path, " of ", message.GetTypeName(),
                                              " does not lead through messages"));
    }
    current = &current->GetReflection()->GetMessage(*current, field);
  }
  return absl::InternalError("access rule: empty field path");
}

absl::StatusOr<AccessGrant> AdmitCall(const Principal& caller, const google::protobuf::MethodDescriptor& method,
                                      const Message& request) {
  const access::v1::Rule* rule = AccessRuleOf(method);
  if (rule == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("no access rule is declared for ", method.full_name()));
  }
  if (caller.role == Role::kApp) {
    // An app credential enters only through the scope its grant holds, before any other clause of the rule.
    if (rule->app_scope().empty()) {
      return absl::PermissionDeniedError(absl::StrCat("app credentials may not call ", method.name()));
    }
    if (caller.app == nullptr || !GrantHoldsScope(*caller.app, rule->app_scope())) {
      return WithReason(absl::PermissionDeniedError(absl::StrCat("the app's grant does not hold ",
                                                                 rule->app_scope(), ", which ", method.name(),
                                                                 " needs")),
                        "SCOPE_NOT_GRANTED");
    }
  }
  if (rule->any_tenant()) return AccessGrant{caller.tenant_id, TenantScope::Tenant(caller.tenant_id)};

  std::string tenant_id = caller.tenant_id;
  std::string resource = absl::StrCat("tenants/", caller.tenant_id);
  if (!rule->tenant_field().empty()) {
    absl::StatusOr<std::string> name = StringFieldAt(request, rule->tenant_field());
    if (!name.ok()) return name.status();
    absl::StatusOr<std::string> tenant = TenantOfName(rule->tenant_field(), *name);
    if (!tenant.ok()) return tenant.status();
    tenant_id = *std::move(tenant);
    resource = Truncated(*name);
  }
  if (caller.IsParkAdmin()) {
    if (rule->park_admin()) return AccessGrant{tenant_id, TenantScope::ParkAdmin(tenant_id)};
    return absl::PermissionDeniedError(absl::StrCat("the park administrator may not call ", method.name()));
  }
  // Another tenant's resources do not exist for this caller.
  if (tenant_id != caller.tenant_id) return absl::NotFoundError(absl::StrCat(resource, ": not found"));
  if (caller.role != Role::kApp && !Lists(*rule, caller.role)) {
    return absl::PermissionDeniedError(
        absl::StrCat("role ", RoleName(caller.role), " may not call ", method.name(), " on tenants/", tenant_id));
  }
  if (caller.role == Role::kDevice && !rule->device_field().empty()) {
    absl::StatusOr<std::string> name = StringFieldAt(request, rule->device_field());
    if (!name.ok()) return name.status();
    // tenants/{tenant}/devices/{device}[/...]: a device key reaches only its own device.
    std::vector<absl::string_view> parts = absl::StrSplit(*name, '/');
    if (parts.size() < 4 || parts[2] != "devices" || parts[3] != caller.device_id) {
      return absl::NotFoundError(absl::StrCat(Truncated(*name), ": not found"));
    }
  }
  return AccessGrant{tenant_id, TenantScope::Tenant(tenant_id)};
}

}  // namespace parkbase
