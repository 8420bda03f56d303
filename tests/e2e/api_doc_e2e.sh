#!/usr/bin/env bash
# docs/api.md's grpcurl and curl examples against the real `parkbase serve`, on the PostgreSQL and Redis that
# scripts/test.sh started (PARKBASE_TEST_PG_ADMIN_URL, PARKBASE_TEST_REDIS_URL). Every ```sh block that calls a
# Parkbase method with grpcurl must be followed by a ```sh block making the same calls with curl (only the grpcurl
# block's ```text output between them). The grpcurl blocks run in order, as written, against one fresh server, the
# curl blocks against another; each curl command is also sent once without its Authorization header, which the
# server must answer 401 after routing and decoding the request, so the method it routes to is known (from
# http_server_handled_total) and a wrong verb, path, parameter or body field fails. Each curl block must then call
# the same methods as its grpcurl block, in the same order, with the same outcome (gRPC code). Usage:
# api_doc_e2e.sh BIN_DIR
set -euo pipefail
bin="$1"
: "${PARKBASE_TEST_PG_ADMIN_URL:?run through scripts/test.sh}"
: "${PARKBASE_TEST_REDIS_URL:?run through scripts/test.sh}"
export PATH="$HOME/go/bin:$PATH"
for tool in grpcurl curl jq python3 psql redis-cli; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done
api_doc="$(cd "$(dirname "$0")/../.." && pwd)/docs/api.md"

work="$(mktemp -d)"
log="$work/server.log"
fail() { echo "FAIL: $*"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run() { env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$@"; }
record_key() {  # where the test command's secrets check reads the keys (tests/lint/secrets_in_logs.py)
  [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" && -n "$1" ]] && echo "$1" >>"$PARKBASE_TEST_SECRETS_DIR/secrets-e2e-apidoc-$$.txt"
  return 0
}

admin_url="$PARKBASE_TEST_PG_ADMIN_URL"
base="${admin_url%/*}"
dbs=()
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
  for db in "${dbs[@]}"; do
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  if [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" ]]; then
    mkdir -p "$PARKBASE_TEST_SECRETS_DIR/logs" && cp "$log" "$PARKBASE_TEST_SECRETS_DIR/logs/e2e-apidoc-$$.log"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# start_server REDIS_DB: a fresh database with the migrations and a park-admin key, and `parkbase serve` on it with
# gRPC, REST/JSON and /metrics on loopback ports of their own, as scripts/dev.sh runs it; the Redis database (9 and
# 10 are this script's: server_e2e.sh uses 7, marketplace_e2e.sh 8, tests/support 16 and up) is emptied first.
# Sets PARKBASE_ADDRESS, PARKBASE_HTTP_URL and PARKBASE_KEY as `source .dev/env` does, and metrics_url.
start_server() {
  local db="pbapidoc_$$_$RANDOM" redis_url="${PARKBASE_TEST_REDIS_URL%/}/$1" key
  local owner_url="$base/$db" service_url="${base/postgres@/parkbase_service@}/$db"
  psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
  dbs+=("$db")
  run "$bin/parkbase" migrate --database_url="$owner_url" >/dev/null 2>>"$log" || fail "migrate"
  key="$(run "$bin/parkbase" admin bootstrap-key --database_url="$owner_url")" || fail "bootstrap-key"
  record_key "$key"
  redis-cli -u "$redis_url" FLUSHDB >/dev/null || fail "cannot empty Redis database $1 of $PARKBASE_TEST_REDIS_URL"
  PARKBASE_ADDRESS="127.0.0.1:$(free_port)"
  PARKBASE_HTTP_URL="http://127.0.0.1:$(free_port)"
  export PARKBASE_ADDRESS PARKBASE_HTTP_URL PARKBASE_KEY="$key"
  local metrics_address
  metrics_address="127.0.0.1:$(free_port)"
  metrics_url="http://$metrics_address/metrics"
  # The probes below fail authentication on purpose, about a hundred times a minute from one address.
  env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$bin/parkbase" serve --listen="$PARKBASE_ADDRESS" \
    --http_listen="${PARKBASE_HTTP_URL#http://}" --metrics_listen="$metrics_address" --park_code=1 \
    --auth_failures_per_source=1000000 --database_url="$service_url" --redis_url="$redis_url" --drain_seconds=0 \
    </dev/null >/dev/null 2>>"$log" &
  server_pid=$!
  for _ in $(seq 100); do
    command grpcurl -plaintext "$PARKBASE_ADDRESS" grpc.health.v1.Health/Check 2>/dev/null | grep -q '"SERVING"' && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  tail -20 "$log"
  fail "parkbase serve did not become SERVING"
}
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
}

# --- The doc's ```sh blocks: which tool each uses, and which curl block stands beside which grpcurl block.
declare -A block_kind=() block_text=() block_line=() block_tool=() block_twin=()
blocks=0
while IFS=$'\t' read -r number line_number kind line; do
  block_kind[$number]="$kind"
  block_line[$number]="${block_line[$number]:-$line_number}"
  block_text[$number]+="$line"$'\n'
  ((number > blocks)) && blocks=$number
done < <(awk '/^```/ { if (inside) { inside = 0 } else { inside = 1; block++; kind = substr($0, 4); start = NR }; next }
              inside { print block "\t" start "\t" kind "\t" $0 }' "$api_doc")
((blocks > 50)) || fail "docs/api.md has $blocks code blocks; is it still the API guide?"
# Methods with no HTTP form, which a grpcurl block may call without a curl block beside it.
no_http_form='^parkbase\.telemetry\.v1\.TelemetryService/WriteStream$'
grpcurl_blocks=0
curl_blocks=0
for ((b = 1; b <= blocks; b++)); do
  [[ "${block_kind[$b]}" == sh ]] || continue
  where="docs/api.md:${block_line[$b]}"
  methods="$(grep -oE 'grpcurl .* parkbase\.[a-z]+\.v1\.[A-Za-z]+/[A-Za-z]+' <<<"${block_text[$b]}" | grep -oE '[^ ]+$' || true)"
  if grep -qE '(^|[^[:alnum:]_])curl ' <<<"${block_text[$b]}"; then
    [[ -z "$methods" ]] || fail "$where: grpcurl and curl in one block; give curl a block of its own after it"
    block_tool[$b]=curl
    curl_blocks=$((curl_blocks + 1))
    twin=$((b - 1))
    [[ "${block_kind[$twin]:-}" == text ]] && twin=$((b - 2))
    if [[ "${block_tool[$twin]:-}" == grpcurl ]]; then
      block_twin[$b]=$twin
      block_twin[$twin]=$b
    fi
  elif [[ -n "$methods" ]]; then
    block_tool[$b]=grpcurl
    grpcurl_blocks=$((grpcurl_blocks + 1))
  fi
done
for ((b = 1; b <= blocks; b++)); do
  [[ "${block_tool[$b]:-}" == grpcurl && -z "${block_twin[$b]:-}" ]] || continue
  if grep -oE 'parkbase\.[a-z]+\.v1\.[A-Za-z]+/[A-Za-z]+' <<<"${block_text[$b]}" | grep -qvE "$no_http_form"; then
    fail "docs/api.md:${block_line[$b]}: a grpcurl block with no curl block beside it (after its output, if shown)"
  fi
done
echo "docs/api.md: $grpcurl_blocks grpcurl blocks, $curl_blocks curl blocks"

grpc_codes=(OK CANCELLED UNKNOWN INVALID_ARGUMENT DEADLINE_EXCEEDED NOT_FOUND ALREADY_EXISTS PERMISSION_DENIED
  RESOURCE_EXHAUSTED FAILED_PRECONDITION ABORTED OUT_OF_RANGE UNIMPLEMENTED INTERNAL UNAVAILABLE DATA_LOSS
  UNAUTHENTICATED)
# What each call of a block did, "<service>/<method> <gRPC code>" a line, in $work/calls.<block>; problems with
# the doc's commands in $work/problems.
record=""
problems="$work/problems"
: >"$problems"

# doc_grpcurl ARGS: grpcurl as the example wrote it, its method and outcome recorded. A stream the example leaves
# open (-max-time 30) is cut after 3 s, and counts as OK when cut so.
doc_grpcurl() {
  local args=() arg prev="" method="" code=0 outcome
  for arg in "$@"; do
    [[ "$prev" == -max-time ]] && arg=3
    [[ "$arg" == parkbase.*/* ]] && method="$arg"
    args+=("$arg")
    prev="$arg"
  done
  command grpcurl "${args[@]}" || code=$?
  outcome="EXIT_$code"
  ((code == 0)) && outcome=OK
  ((code >= 64 && code - 64 < ${#grpc_codes[@]})) && outcome="${grpc_codes[$((code - 64))]}"
  [[ "$method" == */Subscribe && "$outcome" == DEADLINE_EXCEEDED ]] && outcome=OK code=0
  [[ -n "$method" ]] && echo "$method $outcome" >>"$record"
  return "$code"
}

# handled: "<service>/<method> <HTTP status> <count>" for every http_server_handled_total series.
handled() {
  command curl -fsS "$metrics_url" | awk '/^http_server_handled_total\{/ {
    match($0, /grpc_service="[^"]*"/); service = substr($0, RSTART + 14, RLENGTH - 15)
    match($0, /grpc_method="[^"]*"/); method = substr($0, RSTART + 13, RLENGTH - 14)
    match($0, /[{,]code="[^"]*"/); code = substr($0, RSTART + 7, RLENGTH - 8)
    print service "/" method, code, $NF }'
}

# doc_curl ARGS: curl as the example wrote it, after the probe: the same request without the Authorization header
# must be answered 401 UNAUTHENTICATED by a method (the server decodes the request before it authenticates it).
# The method and the call's outcome (the gRPC code: OK for 2xx, else the error body's status) are recorded. A
# subscription is cut after 3 s, and counts as OK when cut after a 200.
doc_curl() {
  local args=("$@") probe=() i stdin_file="" limit=60 status method code=0 outcome
  local body="$work/body" headers="$work/headers" before="$work/before" after="$work/after"
  [[ "$*" == *:subscribe* ]] && limit=3
  for i in "${!args[@]}"; do  # data read from stdin (@-) is read once: keep it for both requests
    if [[ "${args[$i]}" == @- ]]; then
      [[ -n "$stdin_file" ]] || { stdin_file="$work/stdin"; cat >"$stdin_file"; }
      args[i]="@$stdin_file"
    fi
  done
  for ((i = 0; i < ${#args[@]}; i++)); do
    if [[ "${args[$i]}" == -H || "${args[$i]}" == --header ]] && [[ "${args[$((i + 1))]:-}" =~ ^[Aa]uthorization: ]]; then
      i=$((i + 1))
      continue
    fi
    probe+=("${args[$i]}")
  done
  handled >"$before"
  status="$(command curl -s -o "$body" -w '%{http_code}' "${probe[@]}" --max-time "$limit" 2>&1)" || true
  handled >"$after"
  method="$(awk 'FILENAME == ARGV[1] { seen[$1 " " $2] = $3; next }
                 $2 == 401 && $3 > seen[$1 " " $2] + 0 { print $1 }' "$before" "$after")"
  if [[ "$status" != 401 || "$(jq -r .error.status "$body" 2>/dev/null)" != UNAUTHENTICATED || "$method" != parkbase.*/* ||
        "$method" == *$'\n'* ]]; then
    echo "curl ${probe[*]@Q} (its key left out): HTTP $status, method '${method//$'\n'/ }', $(head -c 300 "$body")" >>"$problems"
    method="UNROUTED"
  fi
  : >"$headers"
  command curl -D "$headers" -o "$body" "${args[@]}" --max-time "$limit" || code=$?
  status="$(awk '/^HTTP\// { status = $2 } END { print status }' "$headers")"
  if [[ "$status" == 2?? ]]; then
    outcome=OK
  else
    outcome="$(jq -r '.error.status // empty' "$body" 2>/dev/null || true)"
    outcome="${outcome:-HTTP_$status}"
  fi
  if ((code == 28)) && [[ "$limit" == 3 && "$status" == 200 ]]; then code=0; fi
  ((code == 0)) || outcome="$outcome EXIT_$code"
  cat "$body"
  echo "$method $outcome" >>"$record"
  return "$code"
}

# run_blocks grpcurl|curl: that tool's blocks in document order, in this shell (variables carry over), as written.
run_blocks() {
  local tool="$1" b
  for ((b = 1; b <= blocks; b++)); do
    [[ "${block_tool[$b]:-}" == "$tool" ]] || continue
    record="$work/calls.$b"
    : >"$record"
    set +eu
    # shellcheck disable=SC2317 # the doc's commands call these
    if [[ "$tool" == grpcurl ]]; then
      grpcurl() { doc_grpcurl "$@"; }
      eval "${block_text[$b]}" </dev/null >"$work/out.$b" 2>&1
      unset -f grpcurl
    else
      curl() { doc_curl "$@"; }
      eval "${block_text[$b]}" </dev/null >"$work/out.$b" 2>&1
      unset -f curl
    fi
    set -eu
  done
}

start_server 9
run_blocks grpcurl
stop_server
for secret in "${ACME_ADMIN:-}" "${ACME_DEV:-}" "${GLOBEX_ADMIN:-}" "${DEVICE_KEY:-}" "${VENDOR_KEY:-}" "${MILL_ADMIN:-}" \
  "${APP_KEY:-}"; do record_key "$secret"; done
unset ACME_ADMIN ACME_DEV GLOBEX_ADMIN DEVICE_KEY VENDOR_KEY MILL_ADMIN APP_KEY INSTALLED IDENTIFIER TOKEN

start_server 10
run_blocks curl
stop_server
for secret in "${ACME_ADMIN:-}" "${ACME_DEV:-}" "${GLOBEX_ADMIN:-}" "${DEVICE_KEY:-}" "${VENDOR_KEY:-}" "${MILL_ADMIN:-}" \
  "${APP_KEY:-}"; do record_key "$secret"; done

if [[ -s "$problems" ]]; then
  echo "curl commands in docs/api.md that no method takes as written:"
  sed 's/^/  /' "$problems"
fi
mismatches=0
for ((b = 1; b <= blocks; b++)); do
  [[ "${block_tool[$b]:-}" == curl && -n "${block_twin[$b]:-}" ]] || continue
  g="${block_twin[$b]}"
  [[ -s "$work/calls.$g" ]] || fail "docs/api.md:${block_line[$g]}: the grpcurl block called nothing"
  if ! cmp -s "$work/calls.$g" "$work/calls.$b"; then
    mismatches=$((mismatches + 1))
    echo "docs/api.md:${block_line[$b]}: the curl block does not do what the grpcurl block at line ${block_line[$g]} does (< grpcurl, > curl):"
    diff "$work/calls.$g" "$work/calls.$b" | sed 's/^/  /' || true
    echo "  grpcurl printed:"
    awk '{ print "    " $0 }' "$work/out.$g"
    echo "  curl printed:"
    awk '{ print "    " $0 }' "$work/out.$b"
  fi
done
if [[ -s "$problems" ]] || ((mismatches > 0)); then
  fail "docs/api.md: $(wc -l <"$problems") curl commands no method takes, $mismatches curl blocks unlike their grpcurl blocks"
fi
echo "e2e api doc: $curl_blocks curl blocks route and decode, and each does what the grpcurl block beside it does"
