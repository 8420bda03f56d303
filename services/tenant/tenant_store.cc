#include "tenant/tenant_store.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/numbers.h"
#include "common/etag.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "tenant/tenant_queries.h"

namespace parkbase::tenant {
namespace {

using google::protobuf::util::TimeUtil;

int64_t Micros(const google::protobuf::Timestamp& time) { return TimeUtil::TimestampToMicroseconds(time); }

pb::Tenant DecodeTenant(const pqxx::row& row) {
  pb::Tenant tenant;
  tenant.set_tenant_id(row[0].as<std::string>());
  tenant.set_name(absl::StrCat("tenants/", tenant.tenant_id()));
  tenant.set_display_name(row[1].as<std::string>());
  tenant.set_code(row[2].as<std::string>());
  tenant.set_state(static_cast<pb::TenantState>(row[3].as<int>()));
  tenant.set_plan(static_cast<pb::Plan>(row[4].as<int>()));
  tenant.mutable_quota()->set_max_devices(row[5].as<int64_t>());
  tenant.mutable_quota()->set_max_ingest_points_per_second(row[6].as<int64_t>());
  tenant.mutable_quota()->set_retention_days(row[7].as<int>());
  tenant.mutable_quota()->set_max_installed_apps(row[8].as<int>());
  tenant.set_provider(row[9].as<bool>());
  tenant.set_contact_email(row[10].as<std::string>());
  tenant.set_suspend_reason(row[11].as<std::string>());
  *tenant.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(row[12].as<int64_t>());
  *tenant.mutable_update_time() = TimeUtil::MicrosecondsToTimestamp(row[13].as<int64_t>());
  tenant.set_etag(EtagOf(row[14].as<int64_t>(), row[12].as<int64_t>()));
  return tenant;
}

pb::ApiKey DecodeKey(const pqxx::row& row) {
  pb::ApiKey key;
  const auto tenant_id = row[0].as<std::string>();
  key.set_key_id(row[1].as<std::string>());
  key.set_name(absl::StrCat("tenants/", tenant_id, "/apiKeys/", key.key_id()));
  key.set_display_name(row[2].as<std::string>());
  key.set_role(static_cast<pb::Role>(row[3].as<int>()));
  key.set_device_id(row[4].as<std::string>());
  key.set_creator(row[5].as<std::string>());
  *key.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(row[6].as<int64_t>());
  if (const auto expire = row[7].as<int64_t>(); expire != 0) {
    *key.mutable_expire_time() = TimeUtil::MicrosecondsToTimestamp(expire);
  }
  if (const auto revoke = row[8].as<int64_t>(); revoke != 0) {
    *key.mutable_revoke_time() = TimeUtil::MicrosecondsToTimestamp(revoke);
  }
  key.set_installation(row[9].as<std::string>());
  return key;
}

absl::Status TenantNotFound(const std::string& tenant_id) {
  return absl::NotFoundError(absl::StrCat("tenants/", tenant_id, ": not found"));
}

template <typename T>
std::optional<int> OptionalInt(const std::optional<T>& value) {
  if (!value.has_value()) return std::nullopt;
  return static_cast<int>(*value);
}

}  // namespace

PgTenantStore::PgTenantStore(DbPool& db) : db_(db) {
  db_.Prepare(queries::kTenantExists, queries::kTenantExistsSql);
  db_.Prepare(queries::kInsertTenant, queries::kInsertTenantSql);
  db_.Prepare(queries::kSelectTenant, queries::kSelectTenantSql);
  db_.Prepare(queries::kSelectTenantForUpdate, queries::kSelectTenantForUpdateSql);
  db_.Prepare(queries::kCountUsage, queries::kCountUsageSql);
  db_.Prepare(queries::kListTenants, queries::kListTenantsSql);
  db_.Prepare(queries::kUpdateTenant, queries::kUpdateTenantSql);
  db_.Prepare(queries::kDeleteTenant, queries::kDeleteTenantSql);
  db_.Prepare(queries::kInsertKey, queries::kInsertKeySql);
  db_.Prepare(queries::kListKeys, queries::kListKeysSql);
  db_.Prepare(queries::kSelectKeyForUpdate, queries::kSelectKeyForUpdateSql);
  db_.Prepare(queries::kUpdateKey, queries::kUpdateKeySql);
  db_.Prepare(queries::kListAudit, queries::kListAuditSql);
  db_.Prepare(queries::kSwitchToParkLog, queries::kSwitchToParkLogSql);
  db_.Prepare(queries::kTenantTables, queries::kTenantTablesSql);
}

absl::StatusOr<pb::Tenant> PgTenantStore::CreateTenant(const TenantScope& scope, const pb::Tenant& tenant,
                                                       const AuditEntry& audit) {
  return db_.Transact<pb::Tenant>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::Tenant> {
    try {
      pqxx::result result = work.exec_prepared(
          queries::kInsertTenant, tenant.tenant_id(), tenant.display_name(), static_cast<int>(tenant.plan()),
          tenant.quota().max_devices(), tenant.quota().max_ingest_points_per_second(), tenant.quota().retention_days(),
          tenant.quota().max_installed_apps(), tenant.provider(), tenant.contact_email());
      pb::Tenant created = DecodeTenant(result[0]);
      InsertAudit(work, created.tenant_id(), audit);
      return created;
    } catch (const pqxx::unique_violation&) {
      // The transaction is now failed; returning an error makes the pool roll it back.
      return absl::AlreadyExistsError(absl::StrCat("tenant_id: tenants/", tenant.tenant_id(), " already exists"));
    }
  });
}

absl::StatusOr<pb::Tenant> PgTenantStore::GetTenant(const TenantScope& scope, const std::string& tenant_id) {
  return db_.Transact<pb::Tenant>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::Tenant> {
    pqxx::result result = work.exec_prepared(queries::kSelectTenant, tenant_id);
    if (result.empty()) return TenantNotFound(tenant_id);
    return DecodeTenant(result[0]);
  });
}

absl::StatusOr<std::pair<pb::Tenant, UsageCounts>> PgTenantStore::CountUsage(const TenantScope& scope,
                                                                              const std::string& tenant_id) {
  using Answer = std::pair<pb::Tenant, UsageCounts>;
  return db_.Transact<Answer>(scope, [&](pqxx::work& work) -> absl::StatusOr<Answer> {
    pqxx::result tenant = work.exec_prepared(queries::kSelectTenant, tenant_id);
    if (tenant.empty()) return TenantNotFound(tenant_id);
    const pqxx::result counted = work.exec_prepared(queries::kCountUsage, tenant_id);
    const pqxx::row counts = counted[0];
    UsageCounts usage;
    usage.devices = counts[0].as<int64_t>();
    usage.stored_bytes = counts[1].as<int64_t>();
    usage.installed_apps = counts[2].as<int64_t>();
    return Answer{DecodeTenant(tenant[0]), usage};
  });
}

absl::StatusOr<std::vector<pb::Tenant>> PgTenantStore::ListTenants(const TenantScope& scope,
                                                                   const TenantFilter& filter,
                                                                   const std::string& after_tenant_id, int limit) {
  return db_.Transact<std::vector<pb::Tenant>>(
      scope, [&](pqxx::work& work) -> absl::StatusOr<std::vector<pb::Tenant>> {
        pqxx::result result = work.exec_prepared(queries::kListTenants, after_tenant_id, OptionalInt(filter.state),
                                                 OptionalInt(filter.plan), filter.provider, limit);
        std::vector<pb::Tenant> tenants;
        tenants.reserve(result.size());
        for (const auto& row : result) tenants.push_back(DecodeTenant(row));
        return tenants;
      });
}

absl::StatusOr<pb::Tenant> PgTenantStore::UpdateTenant(const TenantScope& scope, const std::string& tenant_id,
                                                       const TenantMutation& mutate, const AuditEntry& audit) {
  return db_.Transact<pb::Tenant>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::Tenant> {
    pqxx::result current = work.exec_prepared(queries::kSelectTenantForUpdate, tenant_id);
    if (current.empty()) return TenantNotFound(tenant_id);
    pb::Tenant tenant = DecodeTenant(current[0]);
    if (absl::Status status = mutate(tenant); !status.ok()) return status;
    pqxx::result updated = work.exec_prepared(
        queries::kUpdateTenant, tenant_id, tenant.display_name(), static_cast<int>(tenant.state()),
        static_cast<int>(tenant.plan()), tenant.quota().max_devices(), tenant.quota().max_ingest_points_per_second(),
        tenant.quota().retention_days(), tenant.quota().max_installed_apps(), tenant.provider(),
        tenant.contact_email(), tenant.suspend_reason());
    InsertAudit(work, tenant_id, audit);
    return DecodeTenant(updated[0]);
  });
}

absl::Status PgTenantStore::DeleteTenant(const TenantScope& scope, const std::string& tenant_id,
                                         const TenantMutation& check, const AuditEntry& audit) {
  return db_.Transact(scope, [&](pqxx::work& work) -> absl::Status {
    pqxx::result current = work.exec_prepared(queries::kSelectTenantForUpdate, tenant_id);
    if (current.empty()) return TenantNotFound(tenant_id);
    pb::Tenant tenant = DecodeTenant(current[0]);
    if (absl::Status status = check(tenant); !status.ok()) return status;
    work.exec_prepared(queries::kDeleteTenant, tenant_id);
    work.exec_prepared(queries::kSwitchToParkLog);
    InsertAudit(work, "park", audit);
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> PgTenantStore::PurgeTenantRows(const std::string& tenant_id, int batch_rows) {
  return db_.Transact<int64_t>(TenantScope::Tenant(tenant_id), [&](pqxx::work& work) -> absl::StatusOr<int64_t> {
    for (const auto& table : work.exec_prepared(queries::kTenantTables)) {
      // Table names come from the catalog, not from a request; quoted as identifiers all the same.
      const std::string name = work.quote_name(table[0].as<std::string>());
      const int64_t deleted =
          work.exec_params(absl::StrCat("DELETE FROM ", name, " WHERE ctid IN (SELECT ctid FROM ", name,
                                        " WHERE tenant_id = $1 LIMIT $2)"),
                           tenant_id, batch_rows)
              .affected_rows();
      if (deleted > 0) return deleted;
    }
    return int64_t{0};
  });
}

absl::StatusOr<pb::ApiKey> PgTenantStore::CreateApiKey(const TenantScope& scope, const StoredKey& stored,
                                                       const AuditEntry& audit, const ReplayTicket* replay) {
  const std::string tenant_id = scope.tenant_id;
  return db_.Transact<pb::ApiKey>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::ApiKey> {
    // A park admin names the tenant; one that does not exist is NOT_FOUND, not a foreign-key failure.
    if (work.exec_prepared(queries::kTenantExists, tenant_id).empty()) return TenantNotFound(tenant_id);
    const pb::ApiKey& key = stored.key;
    const int64_t expire = key.has_expire_time() ? Micros(key.expire_time()) : 0;
    pqxx::result result = work.exec_prepared(queries::kInsertKey, tenant_id, key.key_id(), key.display_name(),
                                             static_cast<int>(key.role()), key.device_id(), stored.secret_sha256,
                                             key.creator(), expire);
    InsertAudit(work, tenant_id, audit);
    pb::ApiKey created = DecodeKey(result[0]);
    if (replay != nullptr) {
      pb::CreateApiKeyResponse answer;
      *answer.mutable_api_key() = created;
      answer.set_secret(stored.secret);
      RETURN_IF_ERROR(replay->Record(work, tenant_id, answer));
    }
    return created;
  });
}

absl::StatusOr<std::vector<pb::ApiKey>> PgTenantStore::ListApiKeys(const TenantScope& scope,
                                                                   const std::string& tenant_id,
                                                                   const std::string& after, int limit) {
  int64_t after_micros = 0;
  std::string after_key;
  if (!after.empty()) {
    std::pair<std::string, std::string> parts = absl::StrSplit(after, absl::MaxSplits('/', 1));
    if (!absl::SimpleAtoi(parts.first, &after_micros)) return absl::InvalidArgumentError("page_token: damaged");
    after_key = parts.second;
  }
  return db_.Transact<std::vector<pb::ApiKey>>(
      scope, [&](pqxx::work& work) -> absl::StatusOr<std::vector<pb::ApiKey>> {
        if (work.exec_prepared(queries::kTenantExists, tenant_id).empty()) return TenantNotFound(tenant_id);
        pqxx::result result = work.exec_prepared(queries::kListKeys, tenant_id, after_micros, after_key, limit);
        std::vector<pb::ApiKey> keys;
        for (const auto& row : result) keys.push_back(DecodeKey(row));
        return keys;
      });
}

absl::StatusOr<pb::ApiKey> PgTenantStore::UpdateApiKey(const TenantScope& scope, const std::string& tenant_id,
                                                       const std::string& key_id, const KeyMutation& mutate,
                                                       const AuditEntry& audit) {
  return db_.Transact<pb::ApiKey>(scope, [&](pqxx::work& work) -> absl::StatusOr<pb::ApiKey> {
    pqxx::result current = work.exec_prepared(queries::kSelectKeyForUpdate, tenant_id, key_id);
    if (current.empty()) {
      return absl::NotFoundError(absl::StrCat("tenants/", tenant_id, "/apiKeys/", key_id, ": not found"));
    }
    pb::ApiKey key = DecodeKey(current[0]);
    if (absl::Status status = mutate(key); !status.ok()) return status;
    const int64_t revoke = key.has_revoke_time() ? Micros(key.revoke_time()) : 0;
    pqxx::result updated = work.exec_prepared(queries::kUpdateKey, tenant_id, key_id, key.display_name(), revoke);
    InsertAudit(work, tenant_id, audit);
    return DecodeKey(updated[0]);
  });
}

absl::StatusOr<std::vector<pb::AuditEvent>> PgTenantStore::ListAuditEvents(const TenantScope& scope,
                                                                           const std::string& tenant_id,
                                                                           int64_t before_event_id, int limit) {
  return db_.Transact<std::vector<pb::AuditEvent>>(
      scope, [&](pqxx::work& work) -> absl::StatusOr<std::vector<pb::AuditEvent>> {
        if (work.exec_prepared(queries::kTenantExists, tenant_id).empty()) return TenantNotFound(tenant_id);
        pqxx::result result = work.exec_prepared(queries::kListAudit, tenant_id, before_event_id, limit);
        std::vector<pb::AuditEvent> events;
        for (const auto& row : result) {
          pb::AuditEvent event;
          event.set_event_id(row[0].as<int64_t>());
          event.set_name(absl::StrCat("tenants/", tenant_id, "/auditEvents/", event.event_id()));
          *event.mutable_time() = TimeUtil::MicrosecondsToTimestamp(row[1].as<int64_t>());
          event.set_actor(row[2].as<std::string>());
          event.set_actor_role(static_cast<pb::Role>(row[3].as<int>()));
          event.set_action(row[4].as<std::string>());
          event.set_resource(row[5].as<std::string>());
          event.set_details_json(row[6].as<std::string>());
          events.push_back(std::move(event));
        }
        return events;
      });
}

}  // namespace parkbase::tenant
