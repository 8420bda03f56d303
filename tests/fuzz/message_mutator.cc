#include "fuzz/message_mutator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace parkbase::fuzz {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Deeper than any request nests (a Device's attribute map entry's value is at depth 3).
constexpr int kMaxDepth = 8;
// Elements of one list offered as sites: a list of thousands would otherwise take every mutation.
constexpr int kMaxSitesPerList = 8;

// Where code overflows, divides, truncates or checks a limit: type edges, powers of two, the limits and units the
// services use (seconds in ten years, the last second a Timestamp holds, quota bounds, nanos), and 2^61 (times 1000
// wraps int64 to 0).
constexpr int64_t kIntegerEdges[] = {
    0, 1, -1, 2, 3, 7, 8, 60, 100, 101, 999, 1000, 1001, 3600, 5000, 10'000, 86'400, 100'000, 100'001, 1'000'000,
    10'000'000, 10'000'001, 100'000'000, 100'000'001, 999'999'999, 1'000'000'000, -999'999'999, -1'000'000'000,
    int64_t{3650} * 86'400, int64_t{3650} * 86'400 + 1, int64_t{3650} * 86'400'000, 253'402'300'799,
    253'402'300'800, -62'135'596'800, -62'135'596'801, 1'800'000'000, 1'800'000'000'000, 1'800'000'600'001,
    int64_t{1} << 31, (int64_t{1} << 31) - 1, -(int64_t{1} << 31), (int64_t{1} << 31) + 1, int64_t{1} << 32,
    (int64_t{1} << 32) - 1, int64_t{1} << 53, (int64_t{1} << 53) + 1, int64_t{1} << 61, int64_t{1} << 62,
    std::numeric_limits<int64_t>::max() / 1000 + 1, std::numeric_limits<int64_t>::max(),
    std::numeric_limits<int64_t>::max() - 1, std::numeric_limits<int64_t>::min(),
    std::numeric_limits<int64_t>::min() + 1, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()};

const double kDoubleEdges[] = {0.0,
                               -0.0,
                               1.0,
                               -1.0,
                               0.1,
                               0.5,
                               -50.0,
                               500.0,
                               500.0000001,
                               123456.789,
                               1e9,
                               1e15 + 0.3,
                               9007199254740992.0,
                               9007199254740993.0,
                               9.2233720368547758e18,
                               1e300,
                               -1e300,
                               std::numeric_limits<double>::max(),
                               std::numeric_limits<double>::lowest(),
                               std::numeric_limits<double>::min(),
                               std::numeric_limits<double>::denorm_min(),
                               std::numeric_limits<double>::epsilon(),
                               std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::quiet_NaN(),
                               -std::numeric_limits<double>::quiet_NaN()};

// Lengths around the limits the services check (64, 100, 128, 200, 1024 bytes) and quote to (64, 100, 200).
constexpr size_t kLengths[] = {1, 2, 3, 40, 41, 63, 64, 65, 99, 100, 101, 127, 128, 129, 199, 200, 201, 255, 256,
                               1023, 1024, 1025, 2048, 4096, 65536};

const char* const kOddPieces[] = {"\t", "\n", "\r", "\x01", "\x7f", " ", "\"", "\\", "/", "//", "*", "..", "%2F",
                                  "=", " AND ", " and ", "-", "_", ".", ":", "é", "\xe2\x80\x8b", "😀"};

const char* const kNumbers[] = {"0", "-1", "1", "007", "1e400", "NaN", "true", "9223372036854775807",
                                "9223372036854775808", "-9223372036854775809", "18446744073709551616", "0x10"};

// Tenant segments a name can be pointed at: other tenants, the park, and ids that are not quite ids.
const char* const kTenantSegments[] = {"globex", "acme", "park", "initech", "ACME", "acme-", "ac", "", "acme ",
                                       "acme/devices", "..", "*"};

const char* const kInvalidUtf8[] = {"\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80"};

}  // namespace

MessageMutator::MessageMutator(std::mt19937_64& random, const std::vector<std::string>& dictionary)
    : random_(random), dictionary_(dictionary) {}

void MessageMutator::CollectSites(Message& message, int depth, std::vector<Site>& sites) {
  const Reflection& reflection = *message.GetReflection();
  const google::protobuf::Descriptor& descriptor = *message.GetDescriptor();
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor* field = descriptor.field(i);
    sites.push_back(Site{&message, field, -1});
    const bool is_message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (field->is_repeated()) {
      const int size = reflection.FieldSize(message, field);
      const int offered = std::min(size, kMaxSitesPerList);
      for (int k = 0; k < offered; ++k) {
        const int index = size <= kMaxSitesPerList ? k : Pick(size);
        sites.push_back(Site{&message, field, index});
        if (is_message && depth < kMaxDepth) {
          CollectSites(*reflection.MutableRepeatedMessage(&message, field, index), depth + 1, sites);
        }
      }
    } else if (is_message && depth < kMaxDepth && reflection.HasField(message, field)) {
      CollectSites(*reflection.MutableMessage(&message, field), depth + 1, sites);
    }
  }
}

void MessageMutator::Mutate(Message& message, size_t budget) {
  std::vector<Site> sites;
  CollectSites(message, 0, sites);
  if (sites.empty()) return;
  const Site& site = sites[Pick(static_cast<int>(sites.size()))];
  if (site.field->is_repeated() && site.index < 0) {
    MutateList(site, budget);
  } else {
    MutateValue(site, budget);
  }
}

void MessageMutator::MutateList(const Site& site, size_t budget) {
  Message& message = *site.message;
  const Reflection& reflection = *message.GetReflection();
  const FieldDescriptor* field = site.field;
  const int size = reflection.FieldSize(message, field);
  switch (Pick(6)) {
    case 0:
      reflection.ClearField(&message, field);
      return;
    case 1:
      if (size > 0) {
        reflection.SwapElements(&message, field, Pick(size), size - 1);
        reflection.RemoveLast(&message, field);
        return;
      }
      break;
    case 2:
      if (size > 1) {
        reflection.SwapElements(&message, field, Pick(size), Pick(size));
        return;
      }
      break;
    case 3:
      if (size > 0) {
        // Many copies of one element: past every per-list limit the budget allows.
        const int source = Pick(size);
        size_t element_bytes = 8;
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          element_bytes = reflection.GetRepeatedMessage(message, field, source).ByteSizeLong() + 2;
        } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
          std::string scratch;
          element_bytes = reflection.GetRepeatedStringReference(message, field, source, &scratch).size() + 2;
        }
        const size_t wanted = std::vector<size_t>{2, 10, 100, 1000, 5000}[Pick(5)];
        const size_t copies = std::min(wanted, budget / std::max<size_t>(element_bytes, 1));
        for (size_t c = 0; c < copies; ++c) {
          switch (field->cpp_type()) {
            case FieldDescriptor::CPPTYPE_MESSAGE:
              reflection.AddMessage(&message, field)->CopyFrom(reflection.GetRepeatedMessage(message, field, source));
              break;
            case FieldDescriptor::CPPTYPE_STRING:
              reflection.AddString(&message, field, reflection.GetRepeatedString(message, field, source));
              break;
            case FieldDescriptor::CPPTYPE_INT32:
              reflection.AddInt32(&message, field, reflection.GetRepeatedInt32(message, field, source));
              break;
            case FieldDescriptor::CPPTYPE_INT64:
              reflection.AddInt64(&message, field, reflection.GetRepeatedInt64(message, field, source));
              break;
            case FieldDescriptor::CPPTYPE_UINT32:
              reflection.AddUInt32(&message, field, reflection.GetRepeatedUInt32(message, field, source));
              break;
            case FieldDescriptor::CPPTYPE_UINT64:
              reflection.AddUInt64(&message, field, reflection.GetRepeatedUInt64(message, field, source));
              break;
            case FieldDescriptor::CPPTYPE_DOUBLE:
              reflection.AddDouble(&message, field, reflection.GetRepeatedDouble(message, field, source));
              break;
            case FieldDescriptor::CPPTYPE_FLOAT:
              reflection.AddFloat(&message, field, reflection.GetRepeatedFloat(message, field, source));
              break;
            case FieldDescriptor::CPPTYPE_BOOL:
              reflection.AddBool(&message, field, reflection.GetRepeatedBool(message, field, source));
              break;
            case FieldDescriptor::CPPTYPE_ENUM:
              reflection.AddEnumValue(&message, field, reflection.GetRepeatedEnumValue(message, field, source));
              break;
          }
        }
        return;
      }
      break;
    default:
      break;
  }
  // Add one element: a copy of another (then changed) or a fresh one.
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* added = reflection.AddMessage(&message, field);
      if (size > 0 && !OneIn(3)) added->CopyFrom(reflection.GetRepeatedMessage(message, field, Pick(size)));
      Mutate(*added, budget);
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING:
      reflection.AddString(&message, field,
                           size > 0 ? reflection.GetRepeatedString(message, field, Pick(size)) : std::string());
      break;
    case FieldDescriptor::CPPTYPE_INT32:
      reflection.AddInt32(&message, field, 0);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      reflection.AddInt64(&message, field, size > 0 ? reflection.GetRepeatedInt64(message, field, size - 1) : 0);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      reflection.AddUInt32(&message, field, 0);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      reflection.AddUInt64(&message, field, 0);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      reflection.AddDouble(&message, field, size > 0 ? reflection.GetRepeatedDouble(message, field, size - 1) : 0);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      reflection.AddFloat(&message, field, 0);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      reflection.AddBool(&message, field, OneIn(2));
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      reflection.AddEnumValue(&message, field, 0);
      break;
  }
  MutateValue(Site{&message, field, reflection.FieldSize(message, field) - 1}, budget);
}

int64_t MessageMutator::MutateInteger(int64_t current, bool is_unsigned) {
  // Arithmetic in uint64: wrapping is the point, and must not be undefined behaviour here.
  const uint64_t bits = static_cast<uint64_t>(current);
  switch (Pick(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
      return kIntegerEdges[Pick(static_cast<int>(std::size(kIntegerEdges)))];
    case 5:
      return static_cast<int64_t>(bits + static_cast<uint64_t>(Pick(16) + 1));
    case 6:
      return static_cast<int64_t>(bits - static_cast<uint64_t>(Pick(16) + 1));
    case 7:
      return static_cast<int64_t>(bits * std::vector<uint64_t>{2, 10, 1000, 1'000'000, ~uint64_t{0}}[Pick(5)]);
    case 8:
      return static_cast<int64_t>(bits ^ (uint64_t{1} << Pick(64)));
    default:
      return is_unsigned ? static_cast<int64_t>(random_()) : static_cast<int64_t>(random_() >> Pick(64));
  }
}

double MessageMutator::MutateDouble(double current) {
  switch (Pick(5)) {
    case 0:
    case 1:
    case 2:
      return kDoubleEdges[Pick(static_cast<int>(std::size(kDoubleEdges)))];
    case 3:
      return std::nextafter(current, OneIn(2) ? std::numeric_limits<double>::infinity()
                                              : -std::numeric_limits<double>::infinity());
    default: {
      const uint64_t bits = random_();
      double value;
      std::memcpy(&value, &bits, sizeof(value));
      return value;
    }
  }
}

std::string MessageMutator::MutateString(const std::string& current, size_t budget, bool utf8_only) {
  auto word = [&]() -> std::string {
    return dictionary_.empty() ? std::string("acme") : dictionary_[Pick(static_cast<int>(dictionary_.size()))];
  };
  const size_t max_size = current.size() + budget;
  auto length = [&] { return std::min(kLengths[Pick(static_cast<int>(std::size(kLengths)))], std::max<size_t>(max_size, 1)); };
  std::string out = current;
  switch (Pick(16)) {
    case 0:
    case 1:
    case 2:
    case 3:
      out = word();
      break;
    case 4:
      out.clear();
      break;
    case 5: {
      // Grown past a limit, by repeating what is there.
      const std::string unit = current.empty() ? std::string("a") : current;
      const size_t target = length();
      out.clear();
      while (out.size() < target) out += unit;
      out.resize(target);
      break;
    }
    case 6: {
      // A multi-byte character across a length where code cuts.
      const size_t target = length();
      const std::string wide = OneIn(2) ? "é" : "😀";
      out = (current.empty() ? word() : current);
      out.resize(target > 1 ? target - 1 : 0, 'a');
      out += wide;
      break;
    }
    case 7:
      if (!utf8_only || OneIn(4)) {
        out.insert(out.empty() ? 0 : Pick(static_cast<int>(out.size()) + 1),
                   kInvalidUtf8[Pick(static_cast<int>(std::size(kInvalidUtf8)))]);
        break;
      }
      out = word();
      break;
    case 8:
      out.insert(out.empty() ? 0 : Pick(static_cast<int>(out.size()) + 1),
                 kOddPieces[Pick(static_cast<int>(std::size(kOddPieces)))]);
      break;
    case 9: {
      // The same resource, another tenant's.
      std::string name = absl::StartsWith(current, "tenants/") ? current : word();
      if (absl::StartsWith(name, "tenants/")) {
        const size_t end = name.find('/', 8);
        name.replace(8, end == std::string::npos ? std::string::npos : end - 8,
                     kTenantSegments[Pick(static_cast<int>(std::size(kTenantSegments)))]);
      }
      out = name;
      break;
    }
    case 10: {
      const size_t slash = out.rfind('/');
      if (OneIn(2) && slash != std::string::npos) {
        out.resize(slash);
      } else {
        out += OneIn(2) ? "/x" : absl::StrCat("/", word());
      }
      break;
    }
    case 11:
      if (!out.empty()) {
        const size_t at = Pick(static_cast<int>(out.size()));
        out[at] = absl::ascii_isupper(out[at]) ? absl::ascii_tolower(out[at]) : absl::ascii_toupper(out[at]);
      } else {
        out = absl::AsciiStrToUpper(word());
      }
      break;
    case 12:
      if (!out.empty()) {
        const size_t at = Pick(static_cast<int>(out.size()));
        switch (Pick(3)) {
          case 0:
            out.erase(at, 1 + Pick(8));
            break;
          case 1:
            out.insert(at, 1, static_cast<char>(Pick(utf8_only ? 128 : 256)));
            break;
          default:
            out[at] = static_cast<char>(Pick(utf8_only ? 128 : 256));
            break;
        }
      }
      break;
    case 13:
      out = kNumbers[Pick(static_cast<int>(std::size(kNumbers)))];
      break;
    case 14:
      out = OneIn(2) ? current + word() : word() + current;
      break;
    default:
      out = word() + kOddPieces[Pick(static_cast<int>(std::size(kOddPieces)))];
      break;
  }
  if (out.size() > max_size) out.resize(max_size);
  return out;
}

void MessageMutator::MutateValue(const Site& site, size_t budget) {
  Message& message = *site.message;
  const Reflection& reflection = *message.GetReflection();
  const FieldDescriptor* field = site.field;
  const int index = site.index;
  const bool repeated = index >= 0;
  // A set oneof member or optional field is sometimes cleared instead.
  if (!repeated && field->has_presence() && reflection.HasField(message, field) && OneIn(6)) {
    reflection.ClearField(&message, field);
    return;
  }
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      const int64_t current = repeated ? reflection.GetRepeatedInt32(message, field, index)
                                       : reflection.GetInt32(message, field);
      const auto value = static_cast<int32_t>(MutateInteger(current, false));
      repeated ? reflection.SetRepeatedInt32(&message, field, index, value) : reflection.SetInt32(&message, field, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      const int64_t current = repeated ? reflection.GetRepeatedInt64(message, field, index)
                                       : reflection.GetInt64(message, field);
      const int64_t value = MutateInteger(current, false);
      repeated ? reflection.SetRepeatedInt64(&message, field, index, value) : reflection.SetInt64(&message, field, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      const int64_t current = repeated ? reflection.GetRepeatedUInt32(message, field, index)
                                       : reflection.GetUInt32(message, field);
      const auto value = static_cast<uint32_t>(MutateInteger(current, true));
      repeated ? reflection.SetRepeatedUInt32(&message, field, index, value)
               : reflection.SetUInt32(&message, field, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      const auto current = static_cast<int64_t>(repeated ? reflection.GetRepeatedUInt64(message, field, index)
                                                         : reflection.GetUInt64(message, field));
      const auto value = static_cast<uint64_t>(MutateInteger(current, true));
      repeated ? reflection.SetRepeatedUInt64(&message, field, index, value)
               : reflection.SetUInt64(&message, field, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      const double current = repeated ? reflection.GetRepeatedDouble(message, field, index)
                                      : reflection.GetDouble(message, field);
      const double value = MutateDouble(current);
      repeated ? reflection.SetRepeatedDouble(&message, field, index, value)
               : reflection.SetDouble(&message, field, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      const double current = repeated ? reflection.GetRepeatedFloat(message, field, index)
                                      : reflection.GetFloat(message, field);
      const auto value = static_cast<float>(MutateDouble(current));
      repeated ? reflection.SetRepeatedFloat(&message, field, index, value)
               : reflection.SetFloat(&message, field, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      const bool current = repeated ? reflection.GetRepeatedBool(message, field, index)
                                    : reflection.GetBool(message, field);
      repeated ? reflection.SetRepeatedBool(&message, field, index, !current)
               : reflection.SetBool(&message, field, !current);
      return;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const google::protobuf::EnumDescriptor& type = *field->enum_type();
      int value = type.value(Pick(type.value_count()))->number();
      // Open (proto3) enums carry numbers they do not name; a closed one would refuse them.
      if (field->file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO3 && OneIn(3)) {
        value = std::vector<int>{-1, 42, type.value_count(), std::numeric_limits<int32_t>::max(),
                                 std::numeric_limits<int32_t>::min()}[Pick(5)];
      }
      repeated ? reflection.SetRepeatedEnumValue(&message, field, index, value)
               : reflection.SetEnumValue(&message, field, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& current = repeated ? reflection.GetRepeatedStringReference(message, field, index, &scratch)
                                            : reflection.GetStringReference(message, field, &scratch);
      std::string value = MutateString(current, budget, field->type() == FieldDescriptor::TYPE_STRING);
      repeated ? reflection.SetRepeatedString(&message, field, index, std::move(value))
               : reflection.SetString(&message, field, std::move(value));
      return;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      if (repeated) {
        Message* element = reflection.MutableRepeatedMessage(&message, field, index);
        const int size = reflection.FieldSize(message, field);
        const int other = Pick(size);
        if (OneIn(2)) {
          element->Clear();
        } else {
          if (other != index) element->CopyFrom(reflection.GetRepeatedMessage(message, field, other));
          Mutate(*element, budget);
        }
        return;
      }
      if (reflection.HasField(message, field) && OneIn(2)) {
        reflection.ClearField(&message, field);
      } else {
        // Set (switching its oneof, if it is in one), empty or changed.
        Message* value = reflection.MutableMessage(&message, field);
        if (OneIn(2)) Mutate(*value, budget);
      }
      return;
    }
  }
}

}  // namespace parkbase::fuzz
