#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Installs Parkbase's developer tools at pinned versions, or reuses them when already there.
#
#   scripts/install-tools.sh [grpcurl] [buf] [helm] [kubeconform] [ghz] [protoc-gen-openapiv2] [api-linter]
#                                                 # default: grpcurl buf helm kubeconform
#
# Sourced (lib.sh sources it), it defines:
#   pb_install_go_tools TOOL...   `go install`s each tool into ~/go/bin unless the binary there was already built
#                                 from the pinned module version (read from the binary with `go version -m`).
#   pb_npm_ci DIR                 `npm ci`s DIR's package-lock.json into DIR/node_modules unless that lock file was
#                                 installed already (Debian's nodejs and npm when the machine has no npm).
#   pb_build_console              npm ci and npm run build in services/console (the park console, into its dist/).
#   pb_install_openapi_tools      protoc-gen-openapiv2 and scripts/openapi's npm packages (scripts/gen_openapi.py).
#   pb_python_venv PKG==VER...    creates or reuses the venv ~/.cache/parkbase/venv, pip installs the pinned
#                                 packages when they changed, and exports PB_PYTHON (the venv's python).
# Versions were picked on 2026-11-25 as the newest that build with Go 1.26.8 (api-linter on 2026-12-03).

# shellcheck disable=SC2034 # read by lib.sh
PB_TOOLS_LOADED=1

# Module, package to install and version of each Go tool.
declare -gA PB_GO_TOOL_MODULE=(
  [grpcurl]=github.com/fullstorydev/grpcurl
  [buf]=github.com/bufbuild/buf
  [helm]=helm.sh/helm/v3
  [kubeconform]=github.com/yannh/kubeconform
  [ghz]=github.com/bojand/ghz
  [protoc-gen-openapiv2]=github.com/grpc-ecosystem/grpc-gateway/v2
  [api-linter]=github.com/googleapis/api-linter/v2
)
declare -gA PB_GO_TOOL_PACKAGE=(
  [grpcurl]=github.com/fullstorydev/grpcurl/cmd/grpcurl
  [buf]=github.com/bufbuild/buf/cmd/buf
  [helm]=helm.sh/helm/v3/cmd/helm
  [kubeconform]=github.com/yannh/kubeconform/cmd/kubeconform
  [ghz]=github.com/bojand/ghz/cmd/ghz
  [protoc-gen-openapiv2]=github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2
  [api-linter]=github.com/googleapis/api-linter/v2/cmd/api-linter
)
declare -gA PB_GO_TOOL_VERSION=(
  [grpcurl]=v1.9.4
  [buf]=v1.75.0
  [helm]=v3.22.0
  [kubeconform]=v0.8.0
  [ghz]=v0.120.0
  # Picked on 2026-12-03: docs/api.md, "OpenAPI document", says why this generator.
  [protoc-gen-openapiv2]=v2.34.0
  # The module proxy serves only some api-linter tags and refuses @latest, the version list and the v1 module:
  # v2.3.1 was the newest it served on 2026-12-03 (v2.3.2 to v2.8.0 refused); it needs Go 1.25.
  [api-linter]=v2.3.1
)
PB_GO_TOOLS_DEFAULT=(grpcurl buf helm kubeconform)

# Go used when no recent Go is installed: fetched from the Go module proxy as golang.org/toolchain.
PB_GO_BOOTSTRAP_VERSION="${PB_GO_BOOTSTRAP_VERSION:-1.26.8}"
# The tools above need at least this Go.
PB_GO_MIN_MINOR="${PB_GO_MIN_MINOR:-24}"

if [[ -z "${PB_LIB_LOADED:-}" ]]; then
  # shellcheck source=/dev/null # lib.sh sources this file back; following it would loop
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi

# True when $1 is a go binary of at least Go 1.$PB_GO_MIN_MINOR.
pb_go_is_recent() {
  local v
  v="$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null)" || return 1 # e.g. go1.26.8
  [[ "$v" =~ ^go1\.([0-9]+) ]] || return 1
  ((BASH_REMATCH[1] >= PB_GO_MIN_MINOR))
}

# pb_ensure_go: makes a recent `go` the first on PATH (with ~/go/bin), fetching one if the machine has none.
pb_ensure_go() {
  pb_go_path
  if command -v go >/dev/null 2>&1 && pb_go_is_recent "$(command -v go)"; then
    return 0
  fi
  local dest="$HOME/.cache/parkbase/go"
  if [[ -x "$dest/bin/go" ]] && pb_go_is_recent "$dest/bin/go"; then
    PATH="$dest/bin:$PATH"
    export PATH
    return 0
  fi
  # No recent Go: Debian's golang-go (1.19) downloads the pinned Go distribution as a module, the way newer go
  # commands switch toolchains, and we unpack it to ~/.cache/parkbase/go.
  pb_log "no Go >= 1.$PB_GO_MIN_MINOR found: fetching Go $PB_GO_BOOTSTRAP_VERSION from the Go module proxy"
  local go_cmd=go
  if ! command -v go >/dev/null 2>&1; then
    pb_install_packages golang-go
    go_cmd=/usr/bin/go
  fi
  local arch
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) pb_die "unsupported machine $(uname -m)" ;;
  esac
  local tmp dir
  tmp="$(mktemp -d)"
  dir="$(GOTOOLCHAIN=local GOFLAGS=-modcacherw GOMODCACHE="$tmp/mod" GO111MODULE=on \
    "$go_cmd" mod download -json "golang.org/toolchain@v0.0.1-go$PB_GO_BOOTSTRAP_VERSION.linux-$arch" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')" || pb_die "could not download Go"
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  cp -a "$dir" "$dest"
  rm -rf "$tmp"
  # Module zips carry no file modes.
  chmod -R u+w "$dest"
  chmod +x "$dest"/bin/* "$dest"/pkg/tool/*/*
  PATH="$dest/bin:$PATH"
  export PATH
  pb_go_is_recent "$dest/bin/go" || pb_die "the downloaded Go does not run"
}

# True when ~/go/bin/TOOL was built from the pinned module version.
pb_go_tool_current() {
  local tool="$1" bin="$HOME/go/bin/$1"
  [[ -x "$bin" ]] || return 1
  go version -m "$bin" 2>/dev/null |
    grep -qP "^\tmod\t${PB_GO_TOOL_MODULE[$tool]//./\\.}\t${PB_GO_TOOL_VERSION[$tool]//./\\.}(\t|$)"
}

# pb_go_install_via_module TOOL: builds TOOL at its pinned version from inside a throwaway module that requires it.
# The module proxy serves the pinned versions of some modules (api-linter's) but refuses their version list, and
# `go install MODULE@VERSION` asks for that list to see whether the module is deprecated, so it fails. A module that
# requires the pinned version builds the same binary without asking: the same dependency versions, and
# `go version -m` names the same module and version. Output goes to stdout/stderr.
pb_go_install_via_module() {
  local tool="$1" dir rc=0
  dir="$(mktemp -d)"
  (cd "$dir" && go mod init parkbase.local/tools &&
    go get "${PB_GO_TOOL_PACKAGE[$tool]}@${PB_GO_TOOL_VERSION[$tool]}" &&
    GOBIN="$HOME/go/bin" go install "${PB_GO_TOOL_PACKAGE[$tool]}") || rc=$?
  rm -rf "$dir"
  return "$rc"
}

# pb_go_install_one TOOL HOW: one attempt at installing TOOL, HOW being `direct` (go install MODULE@VERSION) or
# `module` (pb_go_install_via_module). Output goes to stdout/stderr.
pb_go_install_one() {
  if [[ "$2" == module ]]; then
    pb_go_install_via_module "$1"
  else
    GOBIN="$HOME/go/bin" go install "${PB_GO_TOOL_PACKAGE[$1]}@${PB_GO_TOOL_VERSION[$1]}"
  fi
}

# pb_install_go_tools [TOOL...]: installs the named tools (default: grpcurl buf helm kubeconform) into ~/go/bin.
pb_install_go_tools() {
  local tools=("$@") tool spec start log how ok
  ((${#tools[@]})) || tools=("${PB_GO_TOOLS_DEFAULT[@]}")
  pb_ensure_go
  mkdir -p "$HOME/go/bin"
  for tool in "${tools[@]}"; do
    [[ -n "${PB_GO_TOOL_PACKAGE[$tool]:-}" ]] || pb_die "unknown tool '$tool' (known: ${!PB_GO_TOOL_PACKAGE[*]})"
    if pb_go_tool_current "$tool"; then
      continue
    fi
    spec="${PB_GO_TOOL_PACKAGE[$tool]}@${PB_GO_TOOL_VERSION[$tool]}"
    pb_log "go install $spec (a few minutes the first time)"
    start=$SECONDS
    log="$(mktemp)"
    how=direct
    ok=0
    pb_go_install_one "$tool" "$how" >"$log" 2>&1 && ok=1
    if ((!ok)) && grep -qE 'loading deprecation|@v/list: 40[34]' "$log"; then
      how=module
      pb_log "the module proxy refuses the version list of $tool; building it in a module that requires $spec"
      pb_go_install_one "$tool" "$how" >"$log" 2>&1 && ok=1
    fi
    if ((!ok)) && grep -qE 'sum\.golang\.org|verifying (module|go\.mod)|checksum database' "$log"; then
      # The checksum database is unreachable: the module proxy alone still serves the pinned versions.
      pb_log "checksum database unreachable; retrying $tool with GOSUMDB=off"
      GOSUMDB=off pb_go_install_one "$tool" "$how" >"$log" 2>&1 && ok=1
    fi
    if ((!ok)); then
      cat "$log" >&2
      rm -f "$log"
      pb_die "go install $spec failed"
    fi
    rm -f "$log"
    pb_go_tool_current "$tool" || pb_die "$tool was installed but does not report ${PB_GO_TOOL_VERSION[$tool]}"
    pb_log "installed $tool ${PB_GO_TOOL_VERSION[$tool]} in $((SECONDS - start))s"
  done
  pb_log "Go tools ready in ~/go/bin: ${tools[*]}"
}

# pb_npm_ci DIR: the npm packages DIR/package-lock.json pins, in DIR/node_modules. `npm ci` installs exactly the
# lock file (and runs no package's install scripts); it runs only when the lock file differs from the last one
# installed there. Debian's nodejs and npm come first when the machine has no npm.
pb_npm_ci() {
  local dir="$1"
  local stamp="$dir/node_modules/.parkbase-package-lock.json"
  [[ -f "$dir/package-lock.json" ]] || pb_die "pb_npm_ci: $dir/package-lock.json is missing"
  if [[ -f "$stamp" ]] && cmp -s "$dir/package-lock.json" "$stamp"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || pb_install_packages nodejs npm
  pb_log "npm ci in $dir"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=error </dev/null) ||
    pb_die "npm ci in $dir failed"
  cp "$dir/package-lock.json" "$stamp"
}

# pb_build_console: the park console (services/console) built into services/console/dist, which `parkbase serve
# --console_dir` serves at /console/: its npm packages at the lock file's pins, then a type check and Vite's build.
pb_build_console() {
  pb_npm_ci "$PB_ROOT/services/console"
  # Vite 8 needs Node.js 20.19 or later (Debian bookworm's own nodejs is 18: use NodeSource's 20 or 22).
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
    pb_die "the console's build needs Node.js 20.19 or later, this is $(node --version)"
  pb_log "building the console (services/console/dist)"
  (cd "$PB_ROOT/services/console" && npm run --silent build >/dev/null </dev/null) ||
    pb_die "the console's build failed (cd services/console && npm run build)"
}

# pb_install_openapi_tools: what scripts/gen_openapi.py and lint.openapi run, at their pins: protoc-gen-openapiv2
# in ~/go/bin and swagger2openapi in scripts/openapi/node_modules.
pb_install_openapi_tools() {
  pb_install_go_tools protoc-gen-openapiv2
  pb_npm_ci "$PB_ROOT/scripts/openapi"
}

# pb_python_venv PKG==VERSION...: a venv at ~/.cache/parkbase/venv (or $PB_VENV) with these packages. Exports
# PB_PYTHON. pip runs only when the venv is new or the requested set differs from the last install's.
pb_python_venv() {
  local venv="${PB_VENV:-$HOME/.cache/parkbase/venv}"
  local python=python3
  # Prefer Debian's python (python3-venv is installed for it) over any other python3 on PATH.
  [[ -x /usr/bin/python3 ]] && python=/usr/bin/python3
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    pb_log "creating the Python venv $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" || pb_die "could not create $venv (is python3-venv installed?)"
  fi
  local wanted stamp="$venv/.parkbase-requirements"
  wanted="$(printf '%s\n' "$@" | sort)"
  if (($#)) && [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
    pb_log "pip install $*"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" </dev/null ||
      pb_die "pip install $* failed"
    printf '%s\n' "$wanted" >"$stamp"
  fi
  PB_PYTHON="$venv/bin/python"
  export PB_PYTHON
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  pb_install_go_tools "$@"
fi
