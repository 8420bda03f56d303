// The few cryptographic primitives the platform needs, all from OpenSSL (already linked by gRPC).
#pragma once

#include <string>
#include "absl/strings/string_view.h"

namespace parkbase {

// `count` bytes from the operating system's CSPRNG.
std::string RandomBytes(size_t count);
// Lowercase hex of SHA-256(data).
std::string Sha256Hex(absl::string_view data);
// SHA-256 over data given in parts; Finish returns the raw 32-byte digest.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(absl::string_view data);
  std::string Finish();

 private:
  void* context_;  // EVP_MD_CTX
};

// Raw HMAC-SHA-256(key, data).
std::string HmacSha256(absl::string_view key, absl::string_view data);
// Compares without an early exit, so timing does not reveal how much of a secret matched.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace parkbase
