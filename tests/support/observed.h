// What a test observes of the code under test from the outside: the JSON lines it logs and the series it exports.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "prometheus/registry.h"

namespace parkbase::testing {

// The lines `emit` writes to stderr, each parsed as JSON (a line that does not parse fails the test).
std::vector<google::protobuf::Struct> CapturedLogLines(const std::function<void()>& emit);

// The value of the exposition line `series` (name and labels exactly as exposed), or -1 when there is none.
double SeriesValue(const std::string& exposition, const std::string& series);
double SeriesValue(prometheus::Registry& registry, const std::string& series);

}  // namespace parkbase::testing
