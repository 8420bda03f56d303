#include "common/audit.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace parkbase {

AuditEntry MakeAudit(const Principal& caller, std::string action, std::string resource,
                     const google::protobuf::Message& request) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(request, &json).ok()) json = "{}";
  return AuditEntry{caller.KeyName(), static_cast<int>(caller.role), std::move(action), std::move(resource),
                    std::move(json)};
}

void InsertAudit(pqxx::work& work, const std::string& tenant_id, const AuditEntry& entry) {
  work.exec_params(kInsertAuditSql, tenant_id, entry.actor, absl::StrCat(entry.actor_role), entry.action,
                   entry.resource, entry.details_json.empty() ? std::string("{}") : entry.details_json);
}

}  // namespace parkbase
