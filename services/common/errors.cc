#include "common/errors.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/any.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace parkbase {
namespace {

constexpr char kTypePrefix[] = "type.googleapis.com/";

template <typename Message>
void AttachDetail(absl::Status& status, const Message& detail) {
  status.SetPayload(absl::StrCat(kTypePrefix, Message::descriptor()->full_name()),
                    absl::Cord(detail.SerializeAsString()));
}

}  // namespace

absl::Status FieldError(absl::string_view field, absl::string_view description) {
  absl::Status status = absl::InvalidArgumentError(absl::StrCat(field, ": ", description));
  google::rpc::BadRequest bad_request;
  auto* violation = bad_request.add_field_violations();
  violation->set_field(std::string(field));
  violation->set_description(std::string(description));
  AttachDetail(status, bad_request);
  return status;
}

absl::Status QuotaError(absl::string_view subject, absl::string_view limit, absl::string_view description,
                        absl::Duration retry_after) {
  absl::Status status = absl::ResourceExhaustedError(
      absl::StrCat(limit, ": ", description, "; retry after ", absl::FormatDuration(retry_after)));
  google::rpc::QuotaFailure quota;
  auto* violation = quota.add_violations();
  violation->set_subject(std::string(subject));
  violation->set_description(absl::StrCat(limit, ": ", description));
  AttachDetail(status, quota);
  google::rpc::RetryInfo retry;
  const int64_t nanos = absl::ToInt64Nanoseconds(retry_after);
  retry.mutable_retry_delay()->set_seconds(nanos / 1000000000);
  retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  AttachDetail(status, retry);
  return status;
}

absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // Back over the continuation bytes (10xxxxxx) of the character the cut falls in; a character has at most three.
  for (int i = 0; i < 3 && end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80; ++i) --end;
  return text.substr(0, end);
}

absl::Status WithReason(absl::Status status, absl::string_view reason) {
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain("parkbase.io");
  AttachDetail(status, info);
  return status;
}

absl::Status WithDetail(absl::Status status, const google::protobuf::Message& detail) {
  status.SetPayload(absl::StrCat(kTypePrefix, detail.GetDescriptor()->full_name()),
                    absl::Cord(detail.SerializeAsString()));
  return status;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  std::string message(status.message());
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown) {
    message = "internal error; the server logged the details";
  }
  google::rpc::Status rich;
  rich.set_code(static_cast<int>(code));
  rich.set_message(message);
  status.ForEachPayload([&rich](absl::string_view type_url, const absl::Cord& payload) {
    google::protobuf::Any* any = rich.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
  });
  if (rich.details_size() == 0) return grpc::Status(code, message);
  return grpc::Status(code, message, rich.SerializeAsString());
}

google::rpc::Status ToRpcStatus(const absl::Status& status) {
  const grpc::Status wire = ToGrpcStatus(status);
  google::rpc::Status rpc;
  if (!wire.error_details().empty() && rpc.ParseFromString(wire.error_details())) return rpc;
  rpc.set_code(wire.error_code());
  rpc.set_message(wire.error_message());
  return rpc;
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status rich;
  if (!status.error_details().empty() && rich.ParseFromString(status.error_details())) {
    for (const auto& any : rich.details()) result.SetPayload(any.type_url(), absl::Cord(any.value()));
  }
  return result;
}

}  // namespace parkbase
