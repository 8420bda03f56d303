#include <catch2/catch.hpp>

#include "common/db.h"
#include "common/errors.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace parkbase {
namespace {

google::rpc::Status Rich(const grpc::Status& status) {
  google::rpc::Status rich;
  REQUIRE(rich.ParseFromString(status.error_details()));
  return rich;
}

TEST_CASE("errors: a field error carries a BadRequest naming the field", "[errors][unit]") {
  grpc::Status status = ToGrpcStatus(FieldError("tenant.display_name", "must be 1 to 200 characters, got 0"));
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message() == "tenant.display_name: must be 1 to 200 characters, got 0");
  auto rich = Rich(status);
  REQUIRE(rich.details_size() == 1);
  google::rpc::BadRequest bad_request;
  REQUIRE(rich.details(0).UnpackTo(&bad_request));
  CHECK(bad_request.field_violations(0).field() == "tenant.display_name");
}

TEST_CASE("errors: echoed input is cut before a character, never inside one", "[errors][unit]") {
  const std::string text = "ab\xc3\xa9" "cd\xf0\x9f\x98\x80";  // "abécd" and an emoji: 10 bytes
  CHECK(Utf8Prefix(text, 10) == text);
  CHECK(Utf8Prefix(text, 3) == "ab");
  CHECK(Utf8Prefix(text, 4) == "ab\xc3\xa9");
  CHECK(Utf8Prefix(text, 9) == "ab\xc3\xa9" "cd");
  CHECK(Utf8Prefix(text, 0).empty());
}

TEST_CASE("errors: quota errors carry QuotaFailure and RetryInfo", "[errors][unit]") {
  grpc::Status status = ToGrpcStatus(QuotaError("tenants/acme", "max_devices", "100 devices", absl::Milliseconds(1500)));
  CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  auto rich = Rich(status);
  google::rpc::QuotaFailure quota;
  google::rpc::RetryInfo retry;
  bool has_quota = false, has_retry = false;
  for (const auto& any : rich.details()) {
    has_quota = has_quota || any.UnpackTo(&quota);
    has_retry = has_retry || any.UnpackTo(&retry);
  }
  REQUIRE(has_quota);
  REQUIRE(has_retry);
  CHECK(quota.violations(0).subject() == "tenants/acme");
  CHECK(retry.retry_delay().seconds() == 1);
  CHECK(retry.retry_delay().nanos() == 500000000);
}

TEST_CASE("errors: internal error text never reaches the client", "[errors][unit]") {
  grpc::Status status = ToGrpcStatus(absl::InternalError("relation \"secret_table\" does not exist"));
  CHECK(status.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(status.error_message().find("secret_table") == std::string::npos);
}

TEST_CASE("errors: details survive the round trip through grpc::Status", "[errors][unit]") {
  absl::Status original = WithReason(absl::PermissionDeniedError("tenant acme is suspended"), "TENANT_SUSPENDED");
  absl::Status back = FromGrpcStatus(ToGrpcStatus(original));
  CHECK(back.code() == absl::StatusCode::kPermissionDenied);
  CHECK(back.GetPayload("type.googleapis.com/google.rpc.ErrorInfo").has_value());
}

}  // namespace
}  // namespace parkbase

namespace parkbase {
namespace {

TEST_CASE("errors: libpqxx's typed errors keep their SQLSTATE's meaning", "[errors][unit]") {
  // libpqxx 6.4 throws these without the SQLSTATE; a serialization failure must still be ABORTED (retry the
  // transaction), not INTERNAL.
  CHECK(TranslateDbError(pqxx::serialization_failure("could not serialize access")).code() ==
        absl::StatusCode::kAborted);
  CHECK(TranslateDbError(pqxx::deadlock_detected("deadlock detected")).code() == absl::StatusCode::kAborted);
  CHECK(SqlState(pqxx::insufficient_privilege("permission denied")) == "42501");
  CHECK(SqlState(pqxx::unique_violation("duplicate key")) == "23505");
  CHECK(SqlState(pqxx::sql_error("timeout", "SELECT 1", "57014")) == "57014");
  CHECK(TranslateDbError(pqxx::sql_error("timeout", "SELECT 1", "57014")).code() ==
        absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace parkbase
