#!/usr/bin/env bash
# lint.api_docs: docs/api-reference.md must be what scripts/gen_api_docs.py generates from proto/parkbase, and
# every service, method, message, field and enum value there must carry a leading comment (what it means, its
# units, its limits). Runs with "$PB_PYTHON" (the project venv, which has the `protobuf` package; scripts/test.sh
# sets it up) or else python3.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 1
python="${PB_PYTHON:-python3}"

status=0
"$python" scripts/gen_api_docs.py --missing || status=1
if ! "$python" scripts/gen_api_docs.py --check; then
  status=1
fi
if ((status == 0)); then
  echo "api docs: docs/api-reference.md is up to date and every proto element is commented"
fi
exit "$status"
