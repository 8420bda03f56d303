// The gate every call passes before its handler runs: the access rule declared on the RPC itself
// (proto/parkbase/access/v1/access.proto, `option (parkbase.access.v1.rule)`) decides which principals may call
// it and on which tenant. This is the only role table in Parkbase: handlers and logic classes compute the scope
// of an admitted call and narrow what it may touch item by item (a device key's own device), but never decide
// again who may call.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/auth.h"
#include "common/db.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "parkbase/access/v1/access.pb.h"

namespace parkbase {

// What an admitted call acts on.
struct AccessGrant {
  std::string tenant_id;
  // ParkAdmin(tenant) for the park admin, Tenant(tenant) for everyone else.
  TenantScope scope;
};

// The rule declared on `method`, or null when it has none (such a method is refused; a test fails on it).
const access::v1::Rule* AccessRuleOf(const google::protobuf::MethodDescriptor& method);

// Decides whether `caller` may call `method` with `request` (for a client stream: its first message).
// INVALID_ARGUMENT naming the field when the tenant or device field is malformed; NOT_FOUND for another tenant's
// resources (never PERMISSION_DENIED, which would confirm they exist) and for a device key naming another device;
// PERMISSION_DENIED for a role the rule does not list, and for a method without a rule.
absl::StatusOr<AccessGrant> AdmitCall(const Principal& caller, const google::protobuf::MethodDescriptor& method,
                                      const google::protobuf::Message& request);

// The scope of an admitted call on `tenant_id`: park-wide for the park admin, the tenant's own otherwise. The
// logic classes take it from here instead of deciding roles again; a caller of another tenant, which the gate
// never lets through, would find `resource` NOT_FOUND.
absl::StatusOr<TenantScope> ScopeFor(const Principal& caller, const std::string& tenant_id,
                                     absl::string_view resource);

// The value of the string field at `path` ("parent", "retention_policy.name") of `message`; INTERNAL when the path
// names no string field (a wrong declaration, which the declaration test catches).
absl::StatusOr<std::string> StringFieldAt(const google::protobuf::Message& message, absl::string_view path);

}  // namespace parkbase
