#include "common/raw_requests.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "google/protobuf/stubs/logging.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace parkbase {
namespace {

// Set while this thread parses a request: protobuf's complaint goes here instead of the log.
thread_local std::string* parse_complaint = nullptr;

void HandleProtobufLog(google::protobuf::LogLevel level, const char* filename, int line, const std::string& message) {
  if (parse_complaint != nullptr && level < google::protobuf::LOGLEVEL_FATAL) {
    if (parse_complaint->empty()) *parse_complaint = message;
    return;
  }
  LogLine(level >= google::protobuf::LOGLEVEL_ERROR ? LogLevel::kError : LogLevel::kWarning, "protobuf")
      .Str("error", message)
      .Str("file", filename != nullptr ? filename : "")
      .Num("line", line)
      .Emit();
}

// "String field 'pkg.Message.field' contains invalid UTF-8 data ..." -> "pkg.Message.field", or "".
std::string Utf8Field(const std::string& complaint) {
  const std::string kPrefix = "String field '";
  const size_t start = complaint.find(kPrefix);
  if (start == std::string::npos || complaint.find("UTF-8") == std::string::npos) return "";
  const size_t name_start = start + kPrefix.size();
  const size_t end = complaint.find('\'', name_start);
  if (end == std::string::npos) return "";
  return complaint.substr(name_start, end - name_start);
}

}  // namespace

void RequestParser::InstallProtobufLogHandler() {
  static std::once_flag once;
  std::call_once(once, [] { google::protobuf::SetLogHandler(&HandleProtobufLog); });
}

RequestParser::RequestParser(CallRunner& calls, ParseBudget& budget) : calls_(calls), budget_(budget) {
  InstallProtobufLogHandler();
}

absl::StatusOr<ParseBudget::Reservation> RequestParser::Parse(grpc::ServerContextBase* context, grpc::ByteBuffer& buffer,
                                                              google::protobuf::Message* message,
                                                              absl::Duration max_wait) {
  const int64_t wire_bytes = static_cast<int64_t>(buffer.Length());
  absl::StatusOr<ParseBudget::Reservation> reservation =
      budget_.Reserve(wire_bytes * kParsedBytesPerWireByte, max_wait, context);
  if (!reservation.ok()) return reservation.status();
  std::string complaint;
  bool parsed = false;
  {
    grpc::ProtoBufferReader reader(&buffer);
    parse_complaint = &complaint;
    parsed = reader.status().ok() && message->ParseFromZeroCopyStream(&reader);
    parse_complaint = nullptr;
  }
  buffer.Clear();
  if (!parsed) {
    const std::string field = Utf8Field(complaint);
    if (!field.empty()) return FieldError(field, "must be valid UTF-8 (use a bytes field for binary data)");
    return absl::InvalidArgumentError(absl::StrCat("request: not a valid ", message->GetTypeName(),
                                                   " message (a field is truncated or malformed)"));
  }
  return reservation;
}

namespace {

// One message of a stream on its way through the parser; requeued while the budget is short.
struct StreamedParse {
  RequestParser* parser;
  BlockingExecutor* executor;
  grpc::ServerContextBase* context;
  grpc::ByteBuffer* buffer;
  google::protobuf::Message* message;
  int64_t index;
  std::function<void(absl::StatusOr<ParseBudget::Reservation>)> then;
};

void ParseStep(const std::shared_ptr<StreamedParse>& step) {
  absl::StatusOr<ParseBudget::Reservation> parsed =
      step->parser->Parse(step->context, *step->buffer, step->message, RequestParser::kStreamBudgetSlice);
  if (absl::IsResourceExhausted(parsed.status())) {
    // The budget is short: give the thread back and try again behind the work that is queued meanwhile.
    if (step->executor->Submit([step] { ParseStep(step); })) return;
    parsed = absl::UnavailableError("this server has too much blocking work queued to read the stream; retry");
  } else if (absl::IsInvalidArgument(parsed.status())) {
    parsed = absl::InvalidArgumentError(
        absl::StrCat("message ", step->index, " of the stream: ", parsed.status().message()));
  }
  step->then(std::move(parsed));
}

}  // namespace

void RequestParser::ParseStreamed(BlockingExecutor& executor, grpc::ServerContextBase* context,
                                  grpc::ByteBuffer* buffer, google::protobuf::Message* message, int64_t index,
                                  std::function<void(absl::StatusOr<ParseBudget::Reservation>)> then) {
  auto step = std::make_shared<StreamedParse>(
      StreamedParse{this, &executor, context, buffer, message, index, std::move(then)});
  if (!executor.Submit([step] { ParseStep(step); })) {
    step->then(absl::UnavailableError("this server has too much blocking work queued to read the stream; retry"));
  }
}

}  // namespace parkbase
