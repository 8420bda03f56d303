// parkbase-device: the device service alone.
#include "common/server.h"
#include "device/device_service.h"

int main(int argc, char** argv) {
  return parkbase::RunServerMain("parkbase-device", argc, argv, {parkbase::device::RegisterDeviceService});
}
