#include "common/app_grant.h"

#include <algorithm>

namespace parkbase {

bool IsAppScope(absl::string_view scope) {
  return std::find(kAppScopes.begin(), kAppScopes.end(), scope) != kAppScopes.end();
}

bool GrantHoldsScope(const access::v1::AppGrant& grant, absl::string_view scope) {
  return std::find(grant.scopes().begin(), grant.scopes().end(), scope) != grant.scopes().end();
}

bool GrantCoversMetric(const access::v1::AppGrant& grant, absl::string_view metric) {
  return grant.metrics().empty() ||
         std::find(grant.metrics().begin(), grant.metrics().end(), metric) != grant.metrics().end();
}

bool GrantAllowsWrite(const access::v1::AppGrant& grant, absl::string_view metric) {
  return std::find(grant.write_metrics().begin(), grant.write_metrics().end(), metric) !=
         grant.write_metrics().end();
}

}  // namespace parkbase
