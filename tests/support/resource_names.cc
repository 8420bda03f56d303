#include "support/resource_names.h"

#include <regex>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/api/annotations.pb.h"

namespace parkbase::testing {

std::optional<std::string> ResourceNameFor(const google::protobuf::MethodDescriptor& method, const std::string& field,
                                           const std::string& tenant_id,
                                           const std::map<std::string, std::string>& ids) {
  std::string template_text;
  if (method.options().HasExtension(google::api::http)) {
    const google::api::HttpRule& rule = method.options().GetExtension(google::api::http);
    const std::string path = !rule.get().empty()      ? rule.get()
                             : !rule.post().empty()   ? rule.post()
                             : !rule.patch().empty()  ? rule.patch()
                             : !rule.put().empty()    ? rule.put()
                                                      : rule.delete_();
    std::smatch match;
    const std::regex variable("\\{" + std::regex_replace(field, std::regex("\\."), "\\.") + "=([^}]*)\\}");
    if (std::regex_search(path, match, variable)) template_text = match[1];
  }
  if (template_text.empty()) {
    if (field != "parent") return std::nullopt;
    template_text = "tenants/*";
  }
  std::vector<std::string> segments = absl::StrSplit(template_text, '/');
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i] != "*") continue;
    if (i == 0 || segments[i - 1] == "tenants") {
      segments[i] = tenant_id;
      continue;
    }
    auto id = ids.find(segments[i - 1]);
    if (id == ids.end()) return std::nullopt;
    segments[i] = id->second;
  }
  return absl::StrJoin(segments, "/");
}

void SetStringAt(google::protobuf::Message& message, const std::string& path, const std::string& value) {
  google::protobuf::Message* current = &message;
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const auto* field = current->GetDescriptor()->FindFieldByName(parts[i]);
    REQUIRE(field != nullptr);
    current = current->GetReflection()->MutableMessage(current, field);
  }
  const auto* field = current->GetDescriptor()->FindFieldByName(parts.back());
  REQUIRE(field != nullptr);
  current->GetReflection()->SetString(current, field, value);
}

}  // namespace parkbase::testing
