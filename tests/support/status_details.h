// Reading google.rpc error details the way a client does.
#pragma once

#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace parkbase::testing {

// The detail of type T in a status' google.rpc details; false when there is none.
template <typename T>
bool FindDetail(const google::rpc::Status& status, T* out) {
  for (const auto& any : status.details()) {
    if (any.UnpackTo(out)) return true;
  }
  return false;
}
template <typename T>
bool FindDetail(const grpc::Status& status, T* out) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return false;
  return FindDetail(details, out);
}

}  // namespace parkbase::testing
