// Request ids on the creates that mint secrets (AIP-155: API keys, device credentials, app installations). A retry
// whose answer was lost needs the secret that answer carried, and a second secret would be one nobody holds. So the
// first answer is kept, sealed with AES-256-GCM under a key derived from the server secret replicas share
// (--page_token_secret), for kReplayWindow; a retry with the same id, caller and request gets it back instead of
// a new mint. Kept sealed because the database never holds a usable key otherwise (api_keys stores only hashes);
// kept briefly because a retry comes within seconds or minutes. docs/api.md weighs the alternatives.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/auth.h"
#include "common/db.h"
#include "google/protobuf/message.h"

namespace parkbase {

// How long a request id is remembered: AIP-155 asks for at least an hour, and a sealed secret should not outlive
// the retries it is kept for.
inline constexpr absl::Duration kReplayWindow = absl::Hours(1);

// One create call with a request id: which method, which id, and a digest of who sent what.
struct ReplayKey {
  std::string method;
  std::string request_id;
  std::string fingerprint;  // SHA-256 of the caller's key name, the method and the request without its request_id
};

class RequestReplays;

// What a store gets for a create with a request id: it records the answer inside the minting transaction, so the
// mint and its remembered answer commit together or not at all.
struct ReplayTicket {
  const RequestReplays* replays;
  ReplayKey key;
  // ABORTED when a concurrent call with the same id recorded first (its mint is the one that stands).
  absl::Status Record(pqxx::work& work, const std::string& tenant_id, const google::protobuf::Message& answer) const;
};

class RequestReplays {
 public:
  // `secret`: any length; the sealing key is derived from it for this purpose alone. `previous_secret`: empty, or
  // the server secret before the last rotation, whose sealed answers still open (new ones are sealed with `secret`).
  RequestReplays(DbPool& db, absl::string_view secret, absl::string_view previous_secret = "");

  // Nullopt without a request id. INVALID_ARGUMENT (naming `field`) for a malformed one.
  static absl::StatusOr<std::optional<ReplayKey>> KeyFor(absl::string_view field, absl::string_view method,
                                                         const Principal& caller,
                                                         const google::protobuf::Message& request,
                                                         absl::string_view request_id);

  // Runs `mint` once per request id: a retry within the window parses the first answer into `answer` and returns
  // true without minting. `mint` gets the ticket to hand to its store (null without a request id).
  absl::StatusOr<bool> FindOrMint(const TenantScope& scope, const std::optional<ReplayKey>& key,
                                  google::protobuf::Message& answer,
                                  const std::function<absl::Status(const ReplayTicket*)>& mint) const;

 private:
  friend struct ReplayTicket;
  // The earlier answer's bytes, if any. INVALID_ARGUMENT when the id was used for a different request;
  // ALREADY_EXISTS when the answer can no longer be opened (sealed under another secret).
  absl::StatusOr<std::optional<std::string>> Find(const TenantScope& scope, const ReplayKey& key) const;
  std::string Seal(absl::string_view tenant_id, const ReplayKey& key, absl::string_view plain) const;
  std::optional<std::string> Open(absl::string_view tenant_id, const ReplayKey& key, absl::string_view sealed) const;
  std::optional<std::string> OpenWith(absl::string_view sealing_key, absl::string_view tenant_id, const ReplayKey& key,
                                      absl::string_view sealed) const;

  DbPool& db_;
  std::string key_;           // 32 bytes
  std::string previous_key_;  // 32 bytes, or empty without a previous secret
};

// FindOrMint where the replays may be absent (servers built without a database, as in unit tests and fuzzers): then
// a request id is refused as UNIMPLEMENTED rather than silently not honoured.
absl::Status MintOnce(const RequestReplays* replays, const TenantScope& scope, const std::optional<ReplayKey>& key,
                      google::protobuf::Message& answer,
                      const std::function<absl::Status(const ReplayTicket*)>& mint);

}  // namespace parkbase
