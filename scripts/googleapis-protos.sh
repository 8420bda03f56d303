#!/usr/bin/env bash
# The Google API protos that Debian's golang-github-gogo-googleapis-dev lacks (google/api/resource.proto,
# field_behavior.proto and field_info.proto), taken from PyPI's googleapis-common-protos wheel at a pinned version
# and hash. This file is the one place that knows the pin: proto/CMakeLists.txt, scripts/lib.sh (pb_build,
# pb_proto_includes), scripts/gen_api_docs.py and deploy/Dockerfile all call it.
#
#   scripts/googleapis-protos.sh [DEST]   puts the protos in DEST/google/api/ (default:
#                                         ~/.cache/parkbase/googleapis-common-protos-VERSION) unless they are there
#                                         already, and prints DEST: the folder to pass to protoc as -I.
#
# Only those files are taken: google/api/http.proto, annotations.proto, client.proto (method_signature) and
# google/rpc/* stay Debian's, so no proto is found twice on the include path. Needs python3 with pip (Debian's
# python3-pip) the first time; after that the folder is reused without the network.
set -euo pipefail

version=1.76.0
# sha256 of googleapis_common_protos-1.76.0-py3-none-any.whl, the one wheel of that release (pure Python).
sha256=59e13344a9f3651aa201a03e2bee815a3bf43a4baf1f9ff8a9b62a840ce25fac
# field_info.proto: for AIP-155 request ids (`(google.api.field_info).format = UUID4`).
files=(google/api/resource.proto google/api/field_behavior.proto google/api/field_info.proto)

dest="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/parkbase/googleapis-common-protos-$version}"
stamp="$dest/.parkbase-googleapis-common-protos"
# What the folder holds: a different pin or file list empties it first, so no file of an earlier list lingers on
# the include path.
want="$version $sha256 ${files[*]}"

have_all() {
  [[ "$(cat "$stamp" 2>/dev/null)" == "$want" ]] || return 1
  local f
  for f in "${files[@]}"; do [[ -s "$dest/$f" ]] || return 1; done
}

if ! have_all; then
  die() {
    printf '[parkbase] error: googleapis-protos.sh: %s\n' "$*" >&2
    exit 1
  }
  # Debian's python3 with python3-pip (PB_APT_PACKAGES) when it is there, else whichever python3 is on PATH.
  python=python3
  if /usr/bin/python3 -m pip --version >/dev/null 2>&1; then python=/usr/bin/python3; fi
  command -v "$python" >/dev/null 2>&1 || die "python3 is missing (apt-get install python3 python3-pip)"
  "$python" -m pip --version >/dev/null 2>&1 || die "pip is missing (apt-get install python3-pip)"
  rm -rf "$dest/google" "$stamp"
  mkdir -p "$dest/google/api"
  tmp="$(mktemp -d "$dest/.download.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # --require-hashes: pip refuses a wheel whose hash is not the pinned one. `pip download` installs nothing, so
  # Debian's externally-managed Python does not object.
  printf 'googleapis-common-protos==%s --hash=sha256:%s\n' "$version" "$sha256" >"$tmp/requirements.txt"
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --require-hashes \
    -r "$tmp/requirements.txt" -d "$tmp" >&2 </dev/null ||
    die "pip could not download googleapis-common-protos==$version (is PyPI reachable?)"
  # Extracted beside the destination, then renamed into place: a build running at the same time sees either no
  # file or a whole one.
  "$python" - "$tmp" "${files[@]}" <<'PY' || die "could not extract the protos from the wheel"
import glob, os, sys, zipfile
tmp, names = sys.argv[1], sys.argv[2:]
wheels = glob.glob(os.path.join(tmp, "googleapis_common_protos-*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one googleapis_common_protos wheel in {tmp}, found {len(wheels)}")
with zipfile.ZipFile(wheels[0]) as wheel:
    for name in names:
        out = os.path.join(tmp, "out", name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(wheel.read(name))
PY
  for f in "${files[@]}"; do mv -f "$tmp/out/$f" "$dest/$f"; done
  printf '%s\n' "$want" >"$stamp.tmp.$$"
  mv -f "$stamp.tmp.$$" "$stamp"
fi
printf '%s\n' "$dest"
