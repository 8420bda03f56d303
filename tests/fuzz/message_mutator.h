// Mutates a protobuf message through reflection, one change at a time, towards the values that break code: integers
// at their edges (0, -1, INT64_MAX, 2^61, ...), strings emptied, grown past every limit, cut mid-character, made
// invalid UTF-8 or swapped for another tenant's names, lists grown and emptied, oneofs switched, messages cleared.
// Debian has no libprotobuf-mutator; this is the part of it the fuzz targets need.
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace parkbase::fuzz {

class MessageMutator {
 public:
  // `dictionary`: strings worth trying in string fields (resource names of every tenant, filters, identifiers).
  MessageMutator(std::mt19937_64& random, const std::vector<std::string>& dictionary);

  // Changes one field, element or list somewhere in `message`; `budget` bounds the bytes a change may add.
  void Mutate(google::protobuf::Message& message, size_t budget);

  // A value for a string field: what Mutate puts there.
  std::string MutateString(const std::string& current, size_t budget, bool utf8_only);

 private:
  struct Site {
    google::protobuf::Message* message;
    const google::protobuf::FieldDescriptor* field;
    int index;  // an element of a repeated field; -1: the field itself (a value, or the list as a whole)
  };
  void CollectSites(google::protobuf::Message& message, int depth, std::vector<Site>& sites);
  void MutateList(const Site& site, size_t budget);
  void MutateValue(const Site& site, size_t budget);
  int64_t MutateInteger(int64_t current, bool is_unsigned);
  double MutateDouble(double current);
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(random_); }
  bool OneIn(int n) { return Pick(n) == 0; }

  std::mt19937_64& random_;
  const std::vector<std::string>& dictionary_;
};

}  // namespace parkbase::fuzz
