// Throwaway X.509 material for TLS tests, made with the openssl command at test time (nothing secret is checked
// in): a CA, a server certificate for 127.0.0.1 and localhost, a client certificate from the same CA, and a second
// CA with a client certificate of its own that a server trusting the first must refuse.
#pragma once

#include <string>

namespace parkbase::testing {

// Made in a mktemp folder by the constructor (throws when openssl fails), removed by the destructor.
struct TestCertificates {
  TestCertificates();
  ~TestCertificates();
  TestCertificates(const TestCertificates&) = delete;
  TestCertificates& operator=(const TestCertificates&) = delete;

  std::string dir;
  std::string ca_file, server_cert_file, server_key_file, client_cert_file, client_key_file;
  std::string other_ca_file, other_client_cert_file, other_client_key_file;

  // The PEM text of a file.
  static std::string Read(const std::string& path);
};

}  // namespace parkbase::testing
