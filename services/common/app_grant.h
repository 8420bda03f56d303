// The data scope of an app credential (Role::kApp): which scopes its installation was granted, which devices
// (by labels) and metrics it may read, and which metrics it may write back. The access gate (access.h) admits an
// app call by the scope the method declares; the services narrow what an admitted call touches through these
// functions and nothing else, so one grant means the same thing in every service.
#pragma once

#include <array>
#include <string>

#include "absl/strings/string_view.h"
#include "common/auth.h"
#include "parkbase/access/v1/access.pb.h"

namespace parkbase {

// Every scope an app may request. The declaration test checks that the `app_scope` of every RPC is one of these
// and that each of these is declared somewhere.
inline constexpr std::array<absl::string_view, 3> kAppScopes = {"devices.read", "telemetry.read",
                                                                 "telemetry.write"};
bool IsAppScope(absl::string_view scope);

bool GrantHoldsScope(const access::v1::AppGrant& grant, absl::string_view scope);

// The caller's grant, or null when the caller is not an app (nothing to narrow).
inline const access::v1::AppGrant* AppGrantOf(const Principal& caller) {
  return caller.role == Role::kApp ? caller.app.get() : nullptr;
}

// Whether a device with `labels` (any map from label key to value with find()) is inside the grant.
template <typename LabelMap>
bool GrantCoversLabels(const access::v1::AppGrant& grant, const LabelMap& labels) {
  for (const auto& [key, value] : grant.device_labels()) {
    auto found = labels.find(key);
    if (found == labels.end() || found->second != value) return false;
  }
  return true;
}

// Narrows a label selector (devices whose labels include all of `selector`) to the grant by adding every label the
// grant requires. False when the two contradict (one key, two values): the selector then matches nothing inside the
// grant. Lets a store answer "devices by labels" for an app in one indexed query, so limits and paging stay right.
template <typename LabelMap>
bool NarrowSelectorToGrant(const access::v1::AppGrant& grant, LabelMap& selector) {
  for (const auto& [key, value] : grant.device_labels()) {
    auto [found, added] = selector.emplace(key, value);
    if (!added && found->second != value) return false;
  }
  return true;
}

// Whether the grant lets the app read `metric`.
bool GrantCoversMetric(const access::v1::AppGrant& grant, absl::string_view metric);
// Whether the grant lets the app write `metric` (a write-back metric its version declared).
bool GrantAllowsWrite(const access::v1::AppGrant& grant, absl::string_view metric);

}  // namespace parkbase
