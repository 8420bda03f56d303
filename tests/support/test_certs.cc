#include "support/test_certs.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"

namespace parkbase::testing {
namespace {

void Run(const std::string& command) {
  if (std::system(absl::StrCat(command, " >/dev/null 2>&1").c_str()) != 0) {
    throw std::runtime_error(absl::StrCat("test certificates: failed: ", command));
  }
}

// A CA (self-signed) named `name` in dir/<name>.pem and dir/<name>.key.
void MakeCa(const std::string& dir, const std::string& name) {
  Run(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=",
                   name, "' -keyout ", dir, "/", name, ".key -out ", dir, "/", name, ".pem"));
}

// A certificate `name` signed by CA `ca`, with the given subjectAltName (empty: none).
void MakeLeaf(const std::string& dir, const std::string& ca, const std::string& name, const std::string& alt_names) {
  Run(absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=", name,
                   "' -keyout ", dir, "/", name, ".key -out ", dir, "/", name, ".csr"));
  std::string extensions = absl::StrCat(dir, "/", name, ".ext");
  std::ofstream(extensions) << (alt_names.empty() ? "basicConstraints=CA:FALSE\n"
                                                  : absl::StrCat("subjectAltName=", alt_names, "\n"));
  Run(absl::StrCat("openssl x509 -req -in ", dir, "/", name, ".csr -CA ", dir, "/", ca, ".pem -CAkey ", dir, "/", ca,
                   ".key -CAcreateserial -days 2 -extfile ", extensions, " -out ", dir, "/", name, ".pem"));
}

}  // namespace

std::string TestCertificates::Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

TestCertificates::TestCertificates() {
  char pattern[] = "/tmp/parkbase-certs-XXXXXX";
  if (mkdtemp(pattern) == nullptr) throw std::runtime_error("test certificates: mkdtemp failed");
  dir = pattern;
  MakeCa(dir, "ca");
  MakeLeaf(dir, "ca", "server", "IP:127.0.0.1,DNS:localhost");
  MakeLeaf(dir, "ca", "client", "");
  MakeCa(dir, "other-ca");
  MakeLeaf(dir, "other-ca", "other-client", "");
  ca_file = dir + "/ca.pem";
  server_cert_file = dir + "/server.pem";
  server_key_file = dir + "/server.key";
  client_cert_file = dir + "/client.pem";
  client_key_file = dir + "/client.key";
  other_ca_file = dir + "/other-ca.pem";
  other_client_cert_file = dir + "/other-client.pem";
  other_client_key_file = dir + "/other-client.key";
}

TestCertificates::~TestCertificates() {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace parkbase::testing
