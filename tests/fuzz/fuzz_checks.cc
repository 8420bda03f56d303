#include "fuzz/fuzz_checks.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/any.pb.h"
#include "google/rpc/error_details.pb.h"

namespace parkbase::fuzz {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr absl::string_view kTypePrefix = "type.googleapis.com/";

bool Allowed(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnauthenticated:
      return true;
    default:
      return false;
  }
}

// The first string field (path) that is not UTF-8, or "".
std::string BadString(const Message& message, const std::string& path) {
  const Reflection& reflection = *message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string here = path.empty() ? field->name() : absl::StrCat(path, ".", field->name());
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection.FieldSize(message, field); ++i) {
          std::string scratch;
          if (!IsUtf8(reflection.GetRepeatedStringReference(message, field, i, &scratch))) {
            return absl::StrCat(here, "[", i, "]");
          }
        }
      } else {
        std::string scratch;
        if (!IsUtf8(reflection.GetStringReference(message, field, &scratch))) return here;
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection.FieldSize(message, field); ++i) {
          std::string bad = BadString(reflection.GetRepeatedMessage(message, field, i), absl::StrCat(here, "[", i, "]"));
          if (!bad.empty()) return bad;
        }
      } else {
        std::string bad = BadString(reflection.GetMessage(message, field), here);
        if (!bad.empty()) return bad;
      }
    }
  }
  return "";
}

}  // namespace

void Fail(absl::string_view what) {
  std::fprintf(stderr, "\n==== parkbase fuzz invariant violated ====\n%.*s\n\n", static_cast<int>(what.size()),
               what.data());
  std::fflush(stderr);
  std::abort();
}

bool IsUtf8(absl::string_view text) {
  // protobuf's own check: the one that decides whether the receiver parses the field.
  return google::protobuf::internal::IsStructurallyValidUTF8(text.data(), static_cast<int>(text.size()));
}

std::string Printable(absl::string_view text, size_t max) {
  std::string printable = absl::CHexEscape(text.substr(0, max));
  if (text.size() > max) absl::StrAppend(&printable, "... (", text.size(), " bytes)");
  return printable;
}

std::string StableBytes(const Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

void CheckError(int code, absl::string_view message, absl::string_view context) {
  auto fail = [&](absl::string_view why) {
    Fail(absl::StrCat(context, ": ", why, "\n  status: ", absl::StatusCodeToString(static_cast<absl::StatusCode>(code)),
                      " (", code, "): ", Printable(message, 600)));
  };
  if (!Allowed(static_cast<absl::StatusCode>(code))) fail("an error code that input alone must never cause");
  if (message.empty()) fail("an error without a message");
  if (message.size() > kMaxErrorMessageBytes) {
    fail(absl::StrCat("an error message of ", message.size(), " bytes (at most ", kMaxErrorMessageBytes,
                      ": quote input cut, not whole)"));
  }
  if (!IsUtf8(message)) {
    fail("an error message that is not UTF-8 (the google.rpc.Status carrying it does not parse on the client)");
  }
}

void CheckStatus(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return;
  CheckError(static_cast<int>(status.code()), status.message(), context);
  auto fail = [&](absl::string_view why) {
    Fail(absl::StrCat(context, ": ", why, "\n  status: ", absl::StatusCodeToString(status.code()), ": ",
                      Printable(status.message(), 600)));
  };
  bool retry_info = false;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    if (!absl::StartsWith(type_url, kTypePrefix)) fail(absl::StrCat("a detail with type URL ", Printable(type_url)));
    const std::string type(type_url.substr(kTypePrefix.size()));
    const google::protobuf::Descriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
    if (descriptor == nullptr) fail(absl::StrCat("a detail of unknown type ", Printable(type)));
    std::unique_ptr<Message> detail(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
    // ParseFromString refuses a proto3 string that is not UTF-8, as a client's parser would.
    if (!detail->ParseFromString(std::string(payload))) {
      fail(absl::StrCat("a ", type, " detail that does not parse (", BadString(*detail, ""), ")"));
    }
    if (descriptor == google::rpc::RetryInfo::descriptor()) retry_info = true;
  });
  if (status.code() == absl::StatusCode::kResourceExhausted && !retry_info) {
    fail("RESOURCE_EXHAUSTED without RetryInfo: the client cannot tell when to retry");
  }
}

void CheckRpcStatus(const google::rpc::Status& status, absl::string_view context) {
  if (status.code() == 0) return;
  CheckError(status.code(), status.message(), context);
  for (const google::protobuf::Any& detail : status.details()) {
    const google::protobuf::Descriptor* descriptor =
        absl::StartsWith(detail.type_url(), kTypePrefix)
            ? google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
                  std::string(absl::string_view(detail.type_url()).substr(kTypePrefix.size())))
            : nullptr;
    if (descriptor == nullptr) Fail(absl::StrCat(context, ": a detail of type ", Printable(detail.type_url())));
    std::unique_ptr<Message> parsed(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
    if (!parsed->ParseFromString(detail.value())) {
      Fail(absl::StrCat(context, ": a ", descriptor->full_name(), " detail that does not parse"));
    }
  }
}

void CheckStrings(const Message& message, absl::string_view context) {
  const std::string bad = BadString(message, "");
  if (!bad.empty()) {
    Fail(absl::StrCat(context, ": the answer's ", message.GetTypeName(), ".", bad,
                      " is not UTF-8, so the client cannot parse the answer"));
  }
}

}  // namespace parkbase::fuzz
