// parkbase-tenant: the tenant service alone.
#include "common/server.h"
#include "tenant/tenant_service.h"

int main(int argc, char** argv) {
  return parkbase::RunServerMain("parkbase-tenant", argc, argv, {parkbase::tenant::RegisterTenantService});
}
