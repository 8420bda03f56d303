#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# lint.openapi: docs/openapi.json must be what scripts/gen_openapi.py generates from proto/parkbase with the pinned
# generator, and must describe every method with a google.api.http binding but the listed exceptions
# (tests/lint/openapi_coverage.py). With --self-test: the coverage check reports omissions planted in a copy.
# Needs what scripts/test.sh installs (scripts/gen_openapi.sh does too): protoc-gen-openapiv2 in ~/go/bin,
# scripts/openapi/node_modules, and "$PB_PYTHON" (the project venv, with `protobuf`), else python3.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 1
# shellcheck source=../../scripts/lib.sh
source scripts/lib.sh
pb_go_path
python="${PB_PYTHON:-python3}"

if [[ "${1:-}" == --self-test ]]; then
  exec "$python" tests/lint/openapi_coverage.py --self-test
fi
status=0
"$python" scripts/gen_openapi.py --check || status=1
"$python" tests/lint/openapi_coverage.py || status=1
if ((status == 0)); then
  echo "openapi: docs/openapi.json is up to date and describes every method with an HTTP binding"
fi
exit "$status"
