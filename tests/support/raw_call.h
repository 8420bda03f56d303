// Calls any method by name with raw bytes over a bidirectional stream (the wire is the same for every method
// kind), so a test can call every method of every hosted service without knowing its types.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"

namespace parkbase::testing {

// Sends one (empty unless given) request message with `authorization` (none when empty) and returns the status.
grpc::Status CallAnyMethod(grpc::Channel& channel, const std::string& full_method, const std::string& key,
                           const std::string& request = "");

// As CallAnyMethod, keeping the response messages' bytes.
grpc::Status CallAnyMethod(grpc::Channel& channel, const std::string& full_method, const std::string& key,
                           const std::string& request, std::vector<std::string>* responses);

// As CallAnyMethod with a deadline of its own: a server stream that was admitted and stays open ends there with
// DEADLINE_EXCEEDED, rather than after the default 10 s.
grpc::Status CallAnyMethodWithin(grpc::Channel& channel, const std::string& full_method, const std::string& key,
                                 const std::string& request, absl::Duration deadline);

}  // namespace parkbase::testing
