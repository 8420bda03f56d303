// parkbase-telemetry: the telemetry service alone.
#include "common/server.h"
#include "telemetry/telemetry_service.h"

int main(int argc, char** argv) {
  return parkbase::RunServerMain("parkbase-telemetry", argc, argv, {parkbase::telemetry::RegisterTelemetryService});
}
