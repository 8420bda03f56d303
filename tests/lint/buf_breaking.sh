#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# lint.buf_breaking: `buf breaking` of proto/ against proto/ at the previous main, with the rules proto/buf.yaml
# names (FILE: the wire, the JSON names and the generated code of every file stay compatible; docs/api.md says why).
#
#   tests/lint/buf_breaking.sh               compare the working tree's proto/ with proto/ at
#                                            $PB_BUF_BREAKING_AGAINST (default HEAD~1: on main, the main before
#                                            the last merge or commit)
#   tests/lint/buf_breaking.sh --self-test   prove the check reports a removed field and a renamed JSON name, and
#                                            passes an unchanged copy (no git history needed)
#
# The previous protos come from git (`git archive REF proto`). A clone without that commit (a shallow clone, or a
# repository of one commit) fails with a message naming the fix, rather than passing with nothing compared:
# fetch the history (`git fetch --deepen=1` or `--unshallow`) or set PB_BUF_BREAKING_AGAINST to a commit the clone
# has. Both images are built by protoc with the include paths buf lint uses (scripts/lib.sh pb_proto_image).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$root/scripts/lib.sh"

command -v buf >/dev/null 2>&1 || pb_go_path
command -v buf >/dev/null 2>&1 || pb_die "buf is not installed (scripts/install-tools.sh buf)"
work="$(mktemp -d "${TMPDIR:-/tmp}/parkbase-buf-breaking.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# breaking CURRENT_PROTO_DIR AGAINST_PROTO_DIR: buf breaking's output on stdout; fails when something breaks.
breaking() {
  local name
  name="$(basename "$(dirname "$1")")-$(basename "$(dirname "$2")")"
  pb_proto_image "$1" "$work/$name.current.binpb" || pb_die "protoc could not compile $1"
  pb_proto_image "$2" "$work/$name.against.binpb" || pb_die "protoc could not compile $2"
  (cd "$root/proto" && buf breaking "$work/$name.current.binpb" --against "$work/$name.against.binpb" \
    --config buf.yaml --error-format text)
}

# copy_with NAME PYTHON: a copy of proto/ in $work/NAME/proto (printed), with tenant.proto changed by a Python
# expression over its text `t` (none: an unchanged copy).
copy_with() {
  local copy="$work/$1/proto"
  mkdir -p "$(dirname "$copy")"
  cp -r "$root/proto" "$copy"
  if [[ -n "${2:-}" ]]; then
    python3 - "$copy/parkbase/tenant/v1/tenant.proto" "$2" <<'PY' || pb_die "self-test: could not plant $1"
import re, sys
path, expression = sys.argv[1], sys.argv[2]
t = open(path, encoding="utf-8").read()
changed = eval(expression)
if changed == t:
    sys.exit(f"the planted change did not apply to {path}")
open(path, "w", encoding="utf-8").write(changed)
PY
  fi
  printf '%s\n' "$copy"
}

# expect_breaking NAME PYTHON WHAT: buf breaking must report the change planted by PYTHON, naming contact_email.
expect_breaking() {
  local copy
  copy="$(copy_with "$1" "$2")"
  if breaking "$copy" "$root/proto" >"$work/out.txt" 2>&1 || ! grep -q contact_email "$work/out.txt"; then
    cat "$work/out.txt"
    pb_die "self-test: $3 was not reported as breaking"
  fi
}

if [[ "${1:-}" == --self-test ]]; then
  breaking "$(copy_with unchanged)" "$root/proto" >"$work/out.txt" 2>&1 || {
    cat "$work/out.txt"
    pb_die "self-test: an unchanged copy of proto/ was reported as breaking"
  }
  # A removed field, whatever options its declaration carries.
  expect_breaking removed 're.sub(r"\n  string contact_email = 9[^;]*;", "", t, count=1)' \
    "removing Tenant.contact_email"
  # A renamed field: the wire is the same, the REST/JSON body and the generated code are not.
  expect_breaking renamed 're.sub(r"\n  string contact_email = 9", "\n  string contact_mail = 9", t, count=1)' \
    "renaming Tenant.contact_email"
  pb_log "buf breaking self-test: an unchanged copy passes; a removed field and a renamed field are reported"
  exit 0
fi
[[ $# == 0 ]] || pb_die "buf_breaking.sh: unknown argument '$1' (--self-test or nothing)"

ref="${PB_BUF_BREAKING_AGAINST:-HEAD~1}"
git -C "$root" rev-parse --git-dir >/dev/null 2>&1 ||
  pb_die "buf breaking: $root is not a git checkout, so there is no previous main to compare with"
if ! commit="$(git -C "$root" rev-parse --verify --quiet "$ref^{commit}")"; then
  if [[ "$(git -C "$root" rev-parse --is-shallow-repository)" == true ]]; then
    pb_die "buf breaking: $ref is not in this shallow clone, so proto/ cannot be compared with the previous main; \
fetch the history (git fetch --deepen=1, or --unshallow) or set PB_BUF_BREAKING_AGAINST to a commit the clone has"
  fi
  pb_die "buf breaking: no commit $ref in this repository to compare proto/ with; set PB_BUF_BREAKING_AGAINST to one"
fi
against="$work/against"
mkdir -p "$against"
git -C "$root" archive "$commit" proto | tar -x -C "$against" ||
  pb_die "buf breaking: could not read proto/ at $ref ($commit)"
[[ -d "$against/proto/parkbase" ]] || pb_die "buf breaking: $ref ($commit) has no proto/parkbase"
pb_log "buf breaking: proto/ against $ref ($(git -C "$root" log -1 --format='%h %s' "$commit" | cut -c1-80))"
if ! breaking "$root/proto" "$against/proto"; then
  pb_die "buf breaking: proto/ breaks clients of $ref (listed above). Keep the old field, name or number \
(deprecate instead of removing), or, for a deliberate break, a new API version (parkbase.<service>.v2)"
fi
pb_log "buf breaking: nothing in proto/ breaks clients of $ref"
