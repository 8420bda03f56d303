#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Regenerates docs/openapi.json, the OpenAPI 3 document the servers answer at /openapi.json, from proto/parkbase
# (scripts/gen_openapi.py says how), after installing the pinned tools it needs: protoc-gen-openapiv2 into ~/go/bin
# (scripts/install-tools.sh), swagger2openapi into scripts/openapi/node_modules (npm ci) and, when the project venv
# lacks it, the Python protobuf package. Commit the result: the build embeds the file.
#
#   scripts/gen_openapi.sh            write docs/openapi.json
#   scripts/gen_openapi.sh --check    exit 1 with a diff if docs/openapi.json is stale (what lint.openapi runs)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
source scripts/lib.sh

pb_install_openapi_tools
python="${PB_PYTHON:-$HOME/.cache/parkbase/venv/bin/python}"
if ! "$python" -c 'import google.protobuf' 2>/dev/null; then
  # The same pin as scripts/test.sh's venv.
  pb_python_venv protobuf==4.25.8
  python="$PB_PYTHON"
fi
"$python" scripts/gen_openapi.py "$@"
