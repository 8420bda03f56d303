// Requests built from a method's declaration, for tests generated from the protos (the isolation matrix, the app
// grant checks): the resource name a request field gets from the method's HTTP path template, filled with a
// tenant's ids.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace parkbase::testing {

// The resource name `field` of `method`'s request gets: the method's HTTP path template for that field with its
// `*`s filled (tenants/*/devices/* -> tenants/<tenant_id>/devices/<ids["devices"]>), or tenants/<tenant_id> for a
// `parent` without a template. nullopt when the template names a collection `ids` has no id for.
std::optional<std::string> ResourceNameFor(const google::protobuf::MethodDescriptor& method, const std::string& field,
                                           const std::string& tenant_id,
                                           const std::map<std::string, std::string>& ids);

// Sets the string field at the dotted `path` ("device_type.name"); REQUIREs that it exists.
void SetStringAt(google::protobuf::Message& message, const std::string& path, const std::string& value);

}  // namespace parkbase::testing
