#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# lint.api_linter: Google's api-linter (the AIP rules, pinned in scripts/install-tools.sh) over every proto of
# proto/parkbase, with the exceptions of proto/api-linter.yaml. Fails on any finding, and on any exception of that
# file that no longer suppresses a finding (so the list cannot quietly outlive its reasons).
#
#   tests/lint/api_linter.sh                 the check
#   tests/lint/api_linter.sh --without-exceptions
#                                            every finding without proto/api-linter.yaml, with a count per rule
#                                            (exits 0: for reading, not for gating)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$root/scripts/lib.sh"

mode=check
case "${1:-}" in
  "") ;;
  --without-exceptions) mode=all ;;
  *) pb_die "api_linter.sh: unknown argument '$1' (--without-exceptions or nothing)" ;;
esac

command -v api-linter >/dev/null 2>&1 || pb_go_path
command -v api-linter >/dev/null 2>&1 ||
  pb_die "api-linter is not installed (scripts/install-tools.sh api-linter; scripts/test.sh installs it)"
pb_proto_includes
proto="$root/proto"
config="$proto/api-linter.yaml"
[[ -f "$config" ]] || pb_die "$config is missing"
files=()
mapfile -t files < <(cd "$proto" && find parkbase -name '*.proto' | sort)
((${#files[@]})) || pb_die "no .proto files under $proto/parkbase"

work="$(mktemp -d "${TMPDIR:-/tmp}/parkbase-api-linter.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# Paths are relative to proto/, as the imports name them and as proto/api-linter.yaml matches them.
(cd "$proto" && api-linter "${PB_PROTO_INCLUDES[@]}" --output-format json -o "$work/all.json" "${files[@]}") ||
  pb_die "api-linter could not lint proto/parkbase (output above)"
if [[ "$mode" == all ]]; then
  python3 "$root/tests/lint/api_linter_report.py" --findings "$work/all.json" --summary
  exit 0
fi
(cd "$proto" && api-linter "${PB_PROTO_INCLUDES[@]}" --config "$config" --output-format json -o "$work/kept.json" \
  "${files[@]}") || pb_die "api-linter could not lint proto/parkbase with $config (output above)"
python3 "$root/tests/lint/api_linter_report.py" --findings "$work/kept.json" --all-findings "$work/all.json" \
  --config "$config"
