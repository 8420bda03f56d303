// The OpenAPI 3 document of the REST/JSON door: docs/openapi.json, generated from the protos' google.api.http
// bindings by scripts/gen_openapi.sh and compiled in (parkbase_embed_text), so every server answers it at
// /openapi.json with no file to ship and no generator in the build.
#pragma once

#include "absl/strings/string_view.h"

namespace parkbase {

// docs/openapi.json as it was when the binary was built.
absl::string_view OpenApiDocument();

}  // namespace parkbase
