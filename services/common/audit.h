// The audit log (table audit_events, created by the tenant service's migrations) is written by every service in the
// same transaction as the change it records, so an event exists exactly when its change committed. Events are the
// tenant's own: the tenant reads them through ListAuditEvents.
#pragma once

#include <string>

#include <pqxx/pqxx>

#include "common/auth.h"
#include "google/protobuf/message.h"

namespace parkbase {

// One line of the audit log.
struct AuditEntry {
  std::string actor;   // key resource name, or "system"
  int actor_role = 0;  // parkbase.tenant.v1.Role
  std::string action;  // RPC name
  std::string resource;
  std::string details_json;  // the request as proto JSON; secrets never appear in requests
};

// An entry for `caller` doing `action` on `resource`, with `request` as its details.
AuditEntry MakeAudit(const Principal& caller, std::string action, std::string resource,
                     const google::protobuf::Message& request);

// $1 tenant, $2 actor, $3 actor role (int4), $4 action, $5 resource, $6 details (text, cast to jsonb). For callers
// on raw libpq.
inline constexpr char kInsertAuditSql[] =
    "INSERT INTO audit_events (tenant_id, actor, actor_role, action, resource, details) "
    "VALUES ($1, $2, $3::text::int4, $4, $5, $6::text::jsonb)";

// Writes `entry` into `tenant_id`'s log inside `work` (which must run under that tenant's scope).
void InsertAudit(pqxx::work& work, const std::string& tenant_id, const AuditEntry& entry);

}  // namespace parkbase
