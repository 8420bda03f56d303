#include "common/request_replay.h"

#include <algorithm>
#include <memory>
#include <utility>

#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace parkbase {
namespace {

constexpr char kSelectReplay[] = "request_replay_select";
constexpr char kSelectReplaySql[] =
    "SELECT fingerprint, encode(sealed_answer, 'hex') FROM request_replays "
    "WHERE tenant_id = $1 AND method = $2 AND request_id = $3 AND create_time > now() - $4::bigint * interval '1 second'";
// Expired ids go first, so one can be used again and the table holds at most a window of a tenant's creates.
constexpr char kExpireReplays[] = "request_replay_expire";
constexpr char kExpireReplaysSql[] =
    "DELETE FROM request_replays WHERE tenant_id = $1 AND create_time <= now() - $2::bigint * interval '1 second'";
constexpr char kInsertReplay[] = "request_replay_insert";
constexpr char kInsertReplaySql[] =
    "INSERT INTO request_replays (tenant_id, method, request_id, fingerprint, sealed_answer) "
    "VALUES ($1, $2, $3, $4, decode($5, 'hex')) ON CONFLICT DO NOTHING RETURNING 1";

constexpr size_t kNonceBytes = 12;  // GCM's standard nonce
constexpr size_t kTagBytes = 16;
constexpr size_t kMaxRequestIdLength = 64;

std::string AssociatedData(absl::string_view tenant_id, const ReplayKey& key) {
  // Binds a sealed answer to its row: copied under another tenant, method or id it does not open.
  return absl::StrCat(tenant_id, std::string(1, '\0'), key.method, std::string(1, '\0'), key.request_id);
}

std::string SealingKey(absl::string_view secret) {
  return HmacSha256(secret, "parkbase request replay sealing key v1");
}

struct CipherContextFree {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextFree>;

}  // namespace

RequestReplays::RequestReplays(DbPool& db, absl::string_view secret, absl::string_view previous_secret)
    : db_(db),
      key_(SealingKey(secret)),
      previous_key_(previous_secret.empty() ? std::string() : SealingKey(previous_secret)) {
  db_.Prepare(kSelectReplay, kSelectReplaySql);
  db_.Prepare(kExpireReplays, kExpireReplaysSql);
  db_.Prepare(kInsertReplay, kInsertReplaySql);
}

absl::StatusOr<std::optional<ReplayKey>> RequestReplays::KeyFor(absl::string_view field, absl::string_view method,
                                                                const Principal& caller,
                                                                const google::protobuf::Message& request,
                                                                absl::string_view request_id) {
  if (request_id.empty()) return std::optional<ReplayKey>();
  const bool well_formed =
      request_id.size() <= kMaxRequestIdLength &&
      std::all_of(request_id.begin(), request_id.end(),
                  [](char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; });
  if (!well_formed) {
    return FieldError(field, absl::StrCat("must be 1 to ", kMaxRequestIdLength,
                                          " characters of letters, digits, '-' and '_' (a UUID fits)"));
  }
  std::unique_ptr<google::protobuf::Message> without_id(request.New());
  without_id->CopyFrom(request);
  const google::protobuf::FieldDescriptor* id_field = without_id->GetDescriptor()->FindFieldByName("request_id");
  if (id_field != nullptr) without_id->GetReflection()->ClearField(without_id.get(), id_field);
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    without_id->SerializeToCodedStream(&coded);
  }
  Sha256 digest;
  digest.Update(caller.KeyName());
  digest.Update(std::string(1, '\0'));
  digest.Update(method);
  digest.Update(std::string(1, '\0'));
  digest.Update(bytes);
  return std::optional<ReplayKey>(
      ReplayKey{std::string(method), std::string(request_id), absl::BytesToHexString(digest.Finish())});
}

absl::StatusOr<bool> RequestReplays::FindOrMint(const TenantScope& scope, const std::optional<ReplayKey>& key,
                                                google::protobuf::Message& answer,
                                                const std::function<absl::Status(const ReplayTicket*)>& mint) const {
  if (!key.has_value()) {
    if (absl::Status minted = mint(nullptr); !minted.ok()) return minted;
    return false;
  }
  auto replay = [&](const std::string& bytes) -> absl::StatusOr<bool> {
    if (!answer.ParseFromString(bytes)) {
      return absl::DataLossError(absl::StrCat("request_id: the remembered answer of ", key->method,
                                              " does not parse"));
    }
    return true;
  };
  absl::StatusOr<std::optional<std::string>> earlier = Find(scope, *key);
  if (!earlier.ok()) return earlier.status();
  if (earlier->has_value()) return replay(**earlier);
  const ReplayTicket ticket{this, *key};
  absl::Status minted = mint(&ticket);
  if (absl::IsAborted(minted)) {
    // Possibly a concurrent retry with the same id that committed first: its answer is this call's answer too.
    earlier = Find(scope, *key);
    if (earlier.ok() && earlier->has_value()) return replay(**earlier);
  }
  if (!minted.ok()) return minted;
  return false;
}

absl::Status MintOnce(const RequestReplays* replays, const TenantScope& scope, const std::optional<ReplayKey>& key,
                      google::protobuf::Message& answer,
                      const std::function<absl::Status(const ReplayTicket*)>& mint) {
  if (replays == nullptr) {
    if (key.has_value()) return absl::UnimplementedError("request_id: this server keeps no request ids");
    return mint(nullptr);
  }
  return replays->FindOrMint(scope, key, answer, mint).status();
}

absl::StatusOr<std::optional<std::string>> RequestReplays::Find(const TenantScope& scope,
                                                                const ReplayKey& key) const {
  std::optional<std::pair<std::string, std::string>> row;  // fingerprint, sealed answer
  RETURN_IF_ERROR(db_.Transact(scope, [&](pqxx::work& work) -> absl::Status {
    pqxx::result found = work.exec_prepared(kSelectReplay, scope.tenant_id, key.method, key.request_id,
                                            absl::ToInt64Seconds(kReplayWindow));
    if (!found.empty()) {
      // encode(..., 'hex') writes only valid hex.
      row.emplace(found[0][0].as<std::string>(), absl::HexStringToBytes(found[0][1].as<std::string>()));
    }
    return absl::OkStatus();
  }));
  if (!row.has_value()) return std::optional<std::string>();
  if (!ConstantTimeEquals(row->first, key.fingerprint)) {
    return FieldError("request_id", absl::StrCat("already used within the last ", absl::FormatDuration(kReplayWindow),
                                                 " for a different ", key.method,
                                                 " request (or by another caller); use a new id for a new request"));
  }
  std::optional<std::string> plain = Open(scope.tenant_id, key, row->second);
  if (!plain.has_value()) {
    // Sealed by a replica with another --page_token_secret (or two rotations ago): the mint stands, its secret is
    // out of reach, and minting again would leave the caller two keys for one request.
    return absl::AlreadyExistsError(absl::StrCat(
        "request_id: this ", key.method, " already succeeded, but its answer was sealed under another server secret "
        "(replicas must share --page_token_secret); list the keys, revoke the one it made and create again"));
  }
  return plain;
}

std::string RequestReplays::Seal(absl::string_view tenant_id, const ReplayKey& key, absl::string_view plain) const {
  const std::string nonce = RandomBytes(kNonceBytes);
  const std::string aad = AssociatedData(tenant_id, key);
  std::string sealed = nonce;
  sealed.resize(kNonceBytes + plain.size() + kTagBytes);
  auto* out = reinterpret_cast<unsigned char*>(sealed.data()) + kNonceBytes;
  CipherContext context(EVP_CIPHER_CTX_new());
  int length = 0;
  int total = 0;
  // These calls fail only on allocation failure or misuse; a failure leaves `ok` false and seals nothing usable.
  bool ok = context != nullptr &&
            EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr,
                               reinterpret_cast<const unsigned char*>(key_.data()),
                               reinterpret_cast<const unsigned char*>(nonce.data())) == 1 &&
            EVP_EncryptUpdate(context.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_EncryptUpdate(context.get(), out, &length, reinterpret_cast<const unsigned char*>(plain.data()),
                              static_cast<int>(plain.size())) == 1;
  total = length;
  ok = ok && EVP_EncryptFinal_ex(context.get(), out + total, &length) == 1;
  total += length;
  ok = ok && EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                                 out + total) == 1;
  if (!ok) return std::string();
  return sealed;
}

std::optional<std::string> RequestReplays::Open(absl::string_view tenant_id, const ReplayKey& key,
                                                absl::string_view sealed) const {
  std::optional<std::string> plain = OpenWith(key_, tenant_id, key, sealed);
  if (!plain.has_value() && !previous_key_.empty()) plain = OpenWith(previous_key_, tenant_id, key, sealed);
  return plain;
}

std::optional<std::string> RequestReplays::OpenWith(absl::string_view sealing_key, absl::string_view tenant_id,
                                                    const ReplayKey& key, absl::string_view sealed) const {
  if (sealed.size() < kNonceBytes + kTagBytes) return std::nullopt;
  const std::string aad = AssociatedData(tenant_id, key);
  const size_t cipher_size = sealed.size() - kNonceBytes - kTagBytes;
  const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string plain(cipher_size, '\0');
  std::string tag(sealed.substr(kNonceBytes + cipher_size));
  CipherContext context(EVP_CIPHER_CTX_new());
  int length = 0;
  const bool ok =
      context != nullptr &&
      EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(sealing_key.data()), in) == 1 &&
      EVP_DecryptUpdate(context.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(context.get(), reinterpret_cast<unsigned char*>(plain.data()), &length, in + kNonceBytes,
                        static_cast<int>(cipher_size)) == 1 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag.data()) == 1 &&
      EVP_DecryptFinal_ex(context.get(), reinterpret_cast<unsigned char*>(plain.data()) + length, &length) == 1;
  if (!ok) return std::nullopt;
  return plain;
}

absl::Status ReplayTicket::Record(pqxx::work& work, const std::string& tenant_id,
                                  const google::protobuf::Message& answer) const {
  const std::string sealed = replays->Seal(tenant_id, key, answer.SerializeAsString());
  if (sealed.empty()) return absl::InternalError("request_id: could not seal the answer");
  const int64_t window_seconds = absl::ToInt64Seconds(kReplayWindow);
  work.exec_prepared(kExpireReplays, tenant_id, window_seconds);
  if (work.exec_prepared(kInsertReplay, tenant_id, key.method, key.request_id, key.fingerprint,
                         absl::BytesToHexString(sealed))
          .empty()) {
    return absl::AbortedError(absl::StrCat("request_id: a concurrent ", key.method, " with the same id came first"));
  }
  return absl::OkStatus();
}

}  // namespace parkbase
