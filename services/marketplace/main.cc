// parkbase-marketplace: the marketplace service alone.
#include "common/server.h"
#include "marketplace/marketplace_service.h"

int main(int argc, char** argv) {
  return parkbase::RunServerMain("parkbase-marketplace", argc, argv,
                                 {parkbase::marketplace::RegisterMarketplaceService});
}
