#!/usr/bin/env bash
# End-to-end check of the marketplace through the real `parkbase serve` on the PostgreSQL and Redis that
# scripts/test.sh started (PARKBASE_TEST_PG_ADMIN_URL, PARKBASE_TEST_REDIS_URL): first docs/api.md's worked example
# with grpcurl, run as written, then the whole flow with the `parkbase app` command line, a provider's app from
# creation through review, search, install and the app credential's calls to uninstall, checking exit codes, tables
# and --output=json; last the worked example's curl blocks, run as written against the REST/JSON port of a server
# of their own. Usage: marketplace_e2e.sh BIN_DIR
set -euo pipefail
bin="$1"
: "${PARKBASE_TEST_PG_ADMIN_URL:?run through scripts/test.sh}"
: "${PARKBASE_TEST_REDIS_URL:?run through scripts/test.sh}"
export PATH="$HOME/go/bin:$PATH"
for tool in grpcurl curl jq python3 psql redis-cli; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done

log="$(mktemp)"
fail() { echo "FAIL: $*"; [[ -f "$log" ]] && tail -20 "$log"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Tools and tests put their own PARKBASE_* variables in the environment; the binaries must not see them.
run() { env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$@"; }
# Keys this script sees go where the test command's secrets check reads them (tests/lint/secrets_in_logs.py).
record_key() {
  [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" && -n "$1" ]] && echo "$1" >>"$PARKBASE_TEST_SECRETS_DIR/secrets-e2e-market-$$.txt"
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
    mkdir -p "$PARKBASE_TEST_SECRETS_DIR/logs" && cp "$log" "$PARKBASE_TEST_SECRETS_DIR/logs/e2e-market-$$.log"
  fi
  rm -f "$log" "$log.doc" "$log.err" "$log.status"
}
trap cleanup EXIT

# start_server: a fresh database with the migrations and a park-admin key ($park_key), and `parkbase serve` on it
# ($server_pid) with gRPC on $address and REST/JSON on $http_url, loopback ports of their own. Redis database 8 is
# this script's (server_e2e.sh uses 7; tests/support hands out 16 and up), emptied first.
start_server() {
  local db="pbmarket_$$_$RANDOM"
  local owner_url="$base/$db" service_url="${base/postgres@/parkbase_service@}/$db" redis_url="${PARKBASE_TEST_REDIS_URL%/}/8"
  psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
  dbs+=("$db")
  run "$bin/parkbase" migrate --database_url="$owner_url" >/dev/null 2>>"$log" || fail "migrate"
  park_key="$(run "$bin/parkbase" admin bootstrap-key --database_url="$owner_url")" || fail "bootstrap-key"
  record_key "$park_key"
  redis-cli -u "$redis_url" FLUSHDB >/dev/null || fail "cannot empty Redis database 8 of $PARKBASE_TEST_REDIS_URL"
  address="127.0.0.1:$(free_port)"
  http_url="http://127.0.0.1:$(free_port)"
  # `env` directly, not run(): a function in the background is a subshell, and its PID is not the server's.
  env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$bin/parkbase" serve --listen="$address" \
    --http_listen="${http_url#http://}" --metrics_listen= --database_url="$service_url" --redis_url="$redis_url" \
    --drain_seconds=1 >/dev/null 2>>"$log" &
  server_pid=$!
  local health=""
  for _ in $(seq 50); do
    health="$(grpcurl -plaintext -d '{"service":"parkbase.marketplace.v1.MarketplaceService"}' "$address" \
      grpc.health.v1.Health/Check 2>&1)" && grep -q '"SERVING"' <<<"$health" && return 0
    sleep 0.2
  done
  fail "marketplace health: $health"
}
# stop_server: SIGTERM, and the server must exit 0.
stop_server() {
  local code=0
  kill -TERM "$server_pid"
  wait "$server_pid" || code=$?
  server_pid=""
  [[ $code == 0 ]] || fail "server exit code after SIGTERM: $code"
}

start_server
export PARKBASE_ADDRESS="$address" PARKBASE_KEY="$park_key"

# --- docs/api.md, "A worked example": every ```sh line runs as written, in order, in this shell (the example's
# variables carry over). Each grpcurl block is followed by a curl block making the same calls over REST/JSON; the
# grpcurl blocks run here, the curl blocks at the end on a server of their own. A ```text block after a grpcurl
# block is what that block prints: each of its lines must be printed (by the curl block too, in proto3 JSON: see
# http_form), except lines with "..." or "…" or a time (they differ from run to run), and the block's commands must
# fail exactly as often as the text shows an ERROR.
api_doc="$(dirname "$0")/../../docs/api.md"
example_blocks() {  # "<block number><TAB><sh|text><TAB><line>" for every line of the example's code blocks
  awk '
    !inside && /^##/ { section = ($0 ~ /^### A worked example/); next }
    section && /^```/ { if (inside) { inside = 0 } else { inside = 1; block++; kind = substr($0, 4) }; next }
    section && inside { print block "\t" kind "\t" $0 }' "$api_doc"
}
declare -A block_kind=() block_text=() block_tool=() block_twin=()
blocks=0
while IFS=$'\t' read -r number kind line; do
  block_kind[$number]="$kind"
  block_text[$number]+="$line"$'\n'
  ((number > blocks)) && blocks=$number
done < <(example_blocks)
((blocks >= 8)) || fail "docs/api.md: the worked example has $blocks code blocks; is '### A worked example' still there?"
# Which tool each ```sh block uses, and the grpcurl block each curl block stands beside (only that block's output
# between them); every grpcurl block needs its curl block.
for ((b = 1; b <= blocks; b++)); do
  [[ "${block_kind[$b]}" == sh ]] || continue
  if grep -qE '(^|[^[:alnum:]_])curl ' <<<"${block_text[$b]}"; then
    ! grep -q 'grpcurl ' <<<"${block_text[$b]}" || fail "docs/api.md worked example, block $b: grpcurl and curl in one block"
    twin=$((b - 1))
    [[ "${block_kind[$twin]:-}" == text ]] && twin=$((b - 2))
    [[ "${block_tool[$twin]:-}" == grpcurl ]] || fail "docs/api.md worked example, block $b: a curl block beside no grpcurl block"
    block_tool[$b]=curl
    block_twin[$b]=$twin
    block_twin[$twin]=$b
  elif grep -q 'grpcurl ' <<<"${block_text[$b]}"; then
    block_tool[$b]=grpcurl
  fi
done
for ((b = 1; b <= blocks; b++)); do
  [[ "${block_tool[$b]:-}" != grpcurl || -n "${block_twin[$b]:-}" ]] || fail "docs/api.md worked example, block $b: no curl block beside it"
done
trimmed_lines() { sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'; }
# http_form LINE: what a line of grpcurl's output looks like in the REST/JSON answer as jq prints it, without a
# trailing comma: JSON names instead of proto field names (map keys stay), and an error's "Code: NotFound" and
# "Message: M" as the error body's "status": "NOT_FOUND" and "message": "M". Prints nothing for lines only grpcurl
# prints (ERROR:, Details:, the numbering of details).
http_form() {
  local line="${1%,}" key word camel=""
  case "$line" in
    ERROR: | Details: | [0-9]*\)*) return 0 ;;
    "Code: "*)
      printf '"status": "%s"\n' "$(sed -E 's/([a-z])([A-Z])/\1_\2/g' <<<"${line#Code: }" | tr '[:lower:]' '[:upper:]')"
      return 0 ;;
    "Message: "*) printf '"message": %s\n' "$(jq -n --arg m "${line#Message: }" '$m')"; return 0 ;;
  esac
  if [[ "$line" =~ ^\"([a-z0-9_]+)\":(.*)$ ]]; then
    key="${BASH_REMATCH[1]}"
    line="${BASH_REMATCH[2]}"
    for word in ${key//_/ }; do
      if [[ -z "$camel" ]]; then camel="$word"; else camel+="${word^}"; fi
    done
    line="\"$camel\":$line"
  fi
  printf '%s\n' "$line"
}
# In the curl pass `curl` is this function: the example's arguments as written, plus -D to learn the HTTP status.
http_curl() {
  local headers code=0
  headers="$(mktemp)"
  command curl -D "$headers" "$@" || code=$?
  awk '/^HTTP\// { status = $2 } END { print status }' "$headers" >>"$log.status"
  rm -f "$headers"
  return "$code"
}
# run_worked_example grpcurl|curl: that tool's blocks, in order, each checked against the output its grpcurl block
# shows. A curl command fails when curl does or the HTTP status is 400 or more.
run_worked_example() {
  local tool="$1" b shown printed failures code errors expected actual want
  for ((b = 1; b <= blocks; b++)); do
    [[ "${block_tool[$b]:-}" == "$tool" ]] || continue
    shown=$b
    [[ "$tool" == curl ]] && shown="${block_twin[$b]}"
    printed=""
    failures=0
    while IFS= read -r step; do
      [[ -z "$step" || "$step" == \#* ]] && continue
      code=0
      : >"$log.status"
      if [[ "$tool" == curl ]]; then
        # shellcheck disable=SC2317 # the doc's commands call it
        curl() { http_curl "$@"; }
        eval "$step" >"$log.doc" 2>&1 || code=$?
        unset -f curl
        ! grep -qE '^[4-9][0-9][0-9]$' "$log.status" || code=1
        # Pretty-printed by jq, as grpcurl prints, when it is JSON.
        if jq . "$log.doc" >"$log.err" 2>/dev/null; then cp "$log.err" "$log.doc"; fi
      else
        eval "$step" >"$log.doc" 2>&1 || code=$?
      fi
      printed+="$(cat "$log.doc")"$'\n'
      ((code == 0)) || failures=$((failures + 1))
    done <<<"${block_text[$b]}"
    expected=""
    [[ "${block_kind[$((shown + 1))]:-}" == text ]] && expected="${block_text[$((shown + 1))]}"
    errors="$(grep -c '^ERROR:' <<<"$expected" || true)"
    ((failures == errors)) || fail "docs/api.md worked example, $tool block $b: $failures commands failed, the doc shows $errors errors; printed: $printed"
    if [[ "$tool" == curl ]]; then
      actual="$(trimmed_lines <<<"$printed" | sed 's/,$//')"
    else
      actual="$(trimmed_lines <<<"$printed")"
    fi
    while IFS= read -r want; do
      [[ -z "$want" || "$want" == *...* || "$want" == *…* || "$want" =~ [0-9]{4}-[0-9]{2}-[0-9]{2}T ]] && continue
      [[ "$tool" == curl ]] && want="$(http_form "$want")"
      [[ -z "$want" ]] && continue
      grep -qxF -- "$want" <<<"$actual" || fail "docs/api.md worked example, $tool block $b: the doc shows '$want'; printed: $printed"
    done < <(trimmed_lines <<<"$expected")
  done
  for secret in "${VENDOR_KEY:-}" "${MILL_ADMIN:-}" "${APP_KEY:-}"; do record_key "$secret"; done
  [[ "${APP_KEY:-}" == pbk.mill.* ]] || fail "docs/api.md worked example with $tool: APP_KEY is '${APP_KEY:-}', not a credential of mill"
}
run_worked_example grpcurl

# --- The same flow with the command line, on an app of its own.
declare -A keys=([park]="$park_key")
out=""
# cli AS WANT ARGS...: `parkbase ARGS` with the key named AS (park, vendor, foundry, dev, ...) must exit WANT;
# what it printed is in $out.
cli() {
  local as="$1" want="$2" code=0
  shift 2
  out="$(PARKBASE_KEY="${keys[$as]}" run "$bin/parkbase" "$@" 2>"$log.err")" || code=$?
  [[ "$code" == "$want" ]] || fail "parkbase $* (as $as): exit $code, want $want: $(cat "$log.err")${out:+; printed: $out}"
}
# call AS JSON METHOD: grpcurl with the key named AS; what it printed (stdout and stderr) in $out, its exit code
# (64 + the gRPC code when the call failed) in $code.
call() {
  code=0
  out="$(grpcurl -plaintext -H "authorization: Bearer ${keys[$1]}" -d "$2" "$address" "$3" 2>&1)" || code=$?
}
expect_call() {  # expect_call WANT_CODE WHAT: checks the last call's exit code
  [[ "$code" == "$1" ]] || fail "$2: grpcurl exit $code, want $1: $out"
}
# holds PYTHON_EXPR WHAT: the expression holds for `d`, the JSON that the last command printed.
holds() {
  python3 -c 'import json, sys
d = json.loads(sys.argv[2])
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" "$out" || fail "$2: $1 does not hold for: $out"
}
has_row() {  # has_row REGEX WHAT: a line of the last table matches
  grep -qE -- "$1" <<<"$out" || fail "$2: no line matches '$1' in: $out"
}
new_key() {  # new_key NAME TENANT ROLE
  cli park 0 key create "$2" --display_name="$1" --role="$3" --output=json
  keys[$1]="$(jq -r .secret <<<"$out")"
  record_key "${keys[$1]}"
}

# The park admin makes a provider tenant and a factory tenant, and their keys.
cli park 0 tenant create acoustix --display_name="Acoustix 声学诊断" --provider=true
cli park 0 tenant get acoustix --output=json
holds 'd.get("provider") is True' "tenant create --provider=true"
cli park 2 tenant create other-provider --display_name=x --provider=maybe
cli park 0 tenant create foundry --display_name="Foundry"
new_key vendor acoustix provider
new_key foundry foundry tenant_admin
new_key dev foundry developer

# The provider creates the app and its first version; a tenant without the capability cannot.
app=tenants/acoustix/apps/bearing-doctor
v1=$app/versions/1.0.0
cli vendor 0 app create acoustix bearing-doctor --display_name="轴承故障诊断 Bearing Doctor" \
  --summary="Diagnoses bearing wear from acceleration spectra" --category=predictive_maintenance --tags=轴承,bearing \
  --vendor=Acoustix
has_row "^$app +轴承故障诊断 Bearing Doctor +predictive_maintenance +- " "app create"
cli vendor 2 app create acoustix misfiled --display_name=x --summary=y --category=plumbing
cli foundry 19 app create foundry not-a-provider --display_name=x --summary=y --category=other
cli vendor 13 app version create $app 1.0.1 --image=registry.example.com/acoustix/bearing-doctor:1.0.1 \
  --scopes=telemetry.write
cli vendor 0 app version create $app 1.0.0 --image=registry.example.com/acoustix/bearing-doctor:1.0.0 \
  --scopes=telemetry.read,telemetry.write --write_metrics=anomaly_score --pricing=per_device --price_fen=3000
has_row "^$v1 +DRAFT +3000 fen/device/month .* telemetry.read,telemetry.write +anomaly_score " "app version create"
cli vendor 0 app submit $v1
has_row "^$v1 +SUBMITTED " "app submit"

# The park admin's review queue: a rejection needs a reason, which the provider reads; resubmitted, approved.
cli park 0 app queue
has_row "^$v1 +SUBMITTED " "app queue"
cli park 0 app queue --output=json
holds '[v["name"] for v in d["versions"]] == ["tenants/acoustix/apps/bearing-doctor/versions/1.0.0"]' "app queue json"
cli vendor 17 app queue
cli vendor 17 app approve $v1
cli park 13 app reject $v1
reason="说明数据的处理方式 / say how the data is processed"
cli park 0 app reject $v1 --reason="$reason"
has_row "^$v1 +REJECTED .* $reason\$" "app reject"
cli vendor 0 app version list $app --output=json
holds "d['versions'][0]['state'] == 'VERSION_STATE_REJECTED' and d['versions'][0]['review_reason'] == '$reason'" \
  "the provider reads the rejection"
cli vendor 19 app publish $v1
cli foundry 15 app get $app
# The provider answers the review by changing the rejected version and the listing, then submits again.
cli vendor 2 app version update $v1
cli vendor 0 app version update $v1 --changelog="数据只留在租户内 / data stays in the tenant" --output=json
holds "d['changelog'].startswith('数据只留在租户内') and d['state'] == 'VERSION_STATE_REJECTED'" "app version update"
cli vendor 0 app update $app --summary="Bearing faults from vibration spectra" --output=json
holds "d['summary'] == 'Bearing faults from vibration spectra' and d['display_name'].startswith('轴承')" "app update"
cli foundry 15 app update $app --summary=hijack
cli vendor 0 app submit $v1
cli park 0 app queue
has_row "^$v1 +SUBMITTED " "app queue after resubmitting"
cli park 0 app approve $v1
has_row "^$v1 +APPROVED " "app approve"
cli vendor 0 app publish $v1
has_row "^$v1 +PUBLISHED " "app publish"

# Tenants find it by Chinese words of two and one characters and by English words, and by filters.
for query in 轴承 诊 doctor BEARING "轴承 spectra"; do
  cli foundry 0 app search "$query"
  has_row "^$app " "app search $query"
done
cli foundry 0 app search 泵 --provider=acoustix
! grep -q "^tenants/" <<<"$out" || fail "app search 泵 found: $out"
cli dev 0 app search --provider=acoustix --category=predictive_maintenance,mes --pricing=per_device --order=installs \
  --output=json
holds '[a["app_id"] for a in d["apps"]] == ["bearing-doctor"] and d["apps"][0]["latest_version"] == "1.0.0"' \
  "app search with filters"
cli foundry 2 app search --order=newest

# The factory's devices and their readings (tenant admin, grpcurl).
call foundry '{"parent":"tenants/foundry","device_type_id":"spindle","device_type":{"display_name":"Spindle","metrics":[{"name":"accel_rms","value_type":"VALUE_TYPE_DOUBLE","min":0},{"name":"anomaly_score","value_type":"VALUE_TYPE_DOUBLE","min":0,"max":1}]}}' \
  parkbase.device.v1.DeviceService/CreateDeviceType
expect_call 0 CreateDeviceType
for device in "spindle-1 a" "spindle-2 b"; do
  call foundry "{\"parent\":\"tenants/foundry\",\"device\":{\"device_id\":\"${device% *}\",\"device_type_id\":\"spindle\",\"serial_number\":\"SP-${device% *}\",\"labels\":{\"line\":\"${device#* }\"}}}" \
    parkbase.device.v1.DeviceService/CreateDevice
  expect_call 0 "CreateDevice ${device% *}"
done
now_s="$(date +%s)"
t0_iso="$(date -u -d "@$((now_s - 60))" +%Y-%m-%dT%H:%M:%SZ)"
start_iso="$(date -u -d "@$((now_s - 600))" +%Y-%m-%dT%H:%M:%SZ)"
end_iso="$(date -u -d "@$((now_s + 600))" +%Y-%m-%dT%H:%M:%SZ)"
call foundry "{\"parent\":\"tenants/foundry\",\"points\":[{\"device\":\"spindle-1\",\"metric\":\"accel_rms\",\"time\":\"$t0_iso\",\"value\":{\"double_value\":4.25}},{\"device\":\"spindle-2\",\"metric\":\"accel_rms\",\"time\":\"$t0_iso\",\"value\":{\"double_value\":9.5}}]}" \
  parkbase.telemetry.v1.TelemetryService/Write
expect_call 0 Write
grep -q '"accepted_points": "2"' <<<"$out" || fail "Write by the tenant: $out"

# The tenant admin installs it for line a; the credential is printed once.
cli foundry 2 app install foundry $app
cli foundry 2 app install foundry $app --scopes=telemetry.read --labels=line
cli dev 17 app install foundry $app --scopes=telemetry.read
cli foundry 0 app install foundry $app --scopes=telemetry.read,telemetry.write --labels=line=a
has_row "^tenants/foundry/installations/bearing-doctor-[0-9a-f]+ +$app +1.0.0 +ACTIVE +no +1 +- +telemetry.read,telemetry.write where line=a\$" \
  "app install"
installation="$(awk '$1 ~ /^tenants\/foundry\/installations\// { print $1 }' <<<"$out")"
keys[app]="$(grep -A1 '^app credential (shown once, store it now):$' <<<"$out" | tail -1)"
record_key "${keys[app]}"
[[ "${keys[app]}" == pbk.foundry.* ]] || fail "app install printed no credential: $out"
cli foundry 16 app install foundry $app --scopes=telemetry.read
cli dev 0 app installation "$installation" --output=json
holds "d['grant']['scopes'] == ['telemetry.read', 'telemetry.write'] and d['grant']['data_scope']['device_labels'] == {'line': 'a'}" \
  "app installation"

# The credential reads inside its grant ...
call app '{"parent":"tenants/foundry","devices":["spindle-1"]}' parkbase.telemetry.v1.TelemetryService/GetLatest
expect_call 0 "GetLatest of a granted device"
grep -q '"double_value": 4.25' <<<"$out" || fail "GetLatest of a granted device: $out"
call app "{\"parent\":\"tenants/foundry\",\"device\":\"spindle-1\",\"start_time\":\"$start_iso\",\"end_time\":\"$end_iso\"}" \
  parkbase.telemetry.v1.TelemetryService/ReadRange
expect_call 0 "ReadRange of a granted device"
grep -q '"double_value": 4.25' <<<"$out" || fail "ReadRange of a granted device: $out"
# ... and nothing outside: a device outside the selector does not exist for it.
call app '{"parent":"tenants/foundry","devices":["spindle-2"]}' parkbase.telemetry.v1.TelemetryService/GetLatest
expect_call 69 "GetLatest of a device outside the selector (NOT_FOUND)"
grep -q 'Code: NotFound' <<<"$out" && grep -q 'spindle-2' <<<"$out" || fail "GetLatest outside the selector: $out"
call app "{\"parent\":\"tenants/foundry\",\"device\":\"spindle-2\",\"start_time\":\"$start_iso\",\"end_time\":\"$end_iso\"}" \
  parkbase.telemetry.v1.TelemetryService/ReadRange
expect_call 69 "ReadRange of a device outside the selector (NOT_FOUND)"
# It writes back its declared metric; another metric is rejected by name, the rest of the batch is stored.
call app "{\"parent\":\"tenants/foundry\",\"points\":[{\"device\":\"spindle-1\",\"metric\":\"anomaly_score\",\"time\":\"$t0_iso\",\"value\":{\"double_value\":0.875}},{\"device\":\"spindle-1\",\"metric\":\"accel_rms\",\"time\":\"$t0_iso\",\"value\":{\"double_value\":0.5}}]}" \
  parkbase.telemetry.v1.TelemetryService/Write
expect_call 0 "Write by the app"
python3 -c 'import json, sys
r = json.loads(sys.argv[1])
assert r["accepted_points"] == "1" and r["rejected_points"] == "1", r
(rejection,) = r["rejections"]
assert rejection["reason"] == "REJECTION_REASON_NOT_GRANTED" and rejection["field"] == "points[1].metric", rejection
assert "\"accel_rms\"" in rejection["description"], rejection' "$out" || fail "Write of an undeclared metric: $out"
call foundry '{"parent":"tenants/foundry","devices":["spindle-1"],"metrics":["anomaly_score","accel_rms"]}' \
  parkbase.telemetry.v1.TelemetryService/GetLatest
expect_call 0 "GetLatest by the tenant"
grep -q '"double_value": 0.875' <<<"$out" && grep -q '"double_value": 4.25' <<<"$out" \
  || fail "the app's write-back (0.875) or the untouched accel_rms (4.25) is not there: $out"
# Methods without its scope are refused.
call app '{"parent":"tenants/foundry","device":{"device_type_id":"spindle","serial_number":"SP-x"}}' \
  parkbase.device.v1.DeviceService/CreateDevice
expect_call 71 "CreateDevice with the app credential (PERMISSION_DENIED)"
call app '{"parent":"tenants/foundry"}' parkbase.device.v1.DeviceService/ListDevices
expect_call 71 "ListDevices without devices.read (PERMISSION_DENIED)"
call app '{}' parkbase.marketplace.v1.MarketplaceService/SearchApps
expect_call 71 "SearchApps with the app credential (PERMISSION_DENIED)"

# Installations, usage and ratings.
cli dev 0 app installations foundry
has_row "^$installation +$app +1.0.0 +ACTIVE " "app installations"
cli dev 0 app installations foundry --output=json
holds 'd["installations"][0]["grant"]["data_scope"]["device_labels"] == {"line": "a"} and d["installations"][0]["granted_devices"] == "1"' \
  "app installations json"
cli vendor 0 app usage $app --output=json
holds 'd["installs"] == "1" and d["active_installs"] == "1" and d["tenants"][0]["tenant"] == "foundry" and d["tenants"][0]["granted_devices"] == "1"' \
  "app usage"
cli foundry 15 app usage $app
cli foundry 13 app rate foundry $app --stars=9
cli dev 0 app rate foundry $app --stars=5 --review="很准 spot on"
has_row "^foundry +5 .* 很准 spot on\$" "app rate"
cli foundry 0 app get $app --output=json
holds 'd["rating_milli"] == 5000 and d["rating_count"] == 1 and d["install_count"] == "1"' "app get after rating"
cli foundry 0 app get $app
has_row "^$app .* 5.00 \\(1\\) +1 yes\$" "app get table"
cli foundry 0 app ratings $app
has_row "^foundry +5 " "app ratings"

# A second version that also requests devices.read: pinning stops the upgrade, the new scope needs a new grant,
# rolling back narrows the grant again.
v2=$app/versions/1.1.0
cli vendor 0 app version create $app 1.1.0 --image=registry.example.com/acoustix/bearing-doctor:1.1.0 \
  --scopes=devices.read,telemetry.read,telemetry.write --write_metrics=anomaly_score --pricing=flat --price_fen=9900
cli vendor 0 app submit $v2
cli park 0 app approve $v2 --reason="devices.read: reads the bearing model from the device"
cli vendor 0 app publish $v2
cli foundry 0 app installations foundry
has_row "^$installation .* 1.0.0 +ACTIVE +no +1 +1.1.0 " "app installations shows the upgrade"
cli foundry 0 app pin $installation
has_row "^$installation .* ACTIVE +yes " "app pin"
cli foundry 19 app upgrade $installation --scopes=devices.read,telemetry.read,telemetry.write
grep -q pinned "$log.err" || fail "app upgrade while pinned: $(cat "$log.err")"
cli foundry 0 app unpin $installation
cli foundry 19 app upgrade $installation
grep -q devices.read "$log.err" || fail "app upgrade to a version with a new scope: $(cat "$log.err")"
cli foundry 0 app upgrade $installation --scopes=devices.read,telemetry.read,telemetry.write --output=json
holds 'd["version"] == "1.1.0" and d["previous_version"] == "1.0.0" and d["grant"]["data_scope"]["device_labels"] == {"line": "a"}' \
  "app upgrade keeps the labels it was not told to change"
call app '{"parent":"tenants/foundry"}' parkbase.device.v1.DeviceService/ListDevices
expect_call 0 "ListDevices with devices.read granted"
python3 -c 'import json, sys
ids = [d["device_id"] for d in json.loads(sys.argv[1])["devices"]]
assert ids == ["spindle-1"], ids' "$out" || fail "ListDevices by the app lists more than its grant: $out"
cli foundry 0 app rollback $installation --output=json
holds 'd["version"] == "1.0.0" and d["grant"]["scopes"] == ["telemetry.read", "telemetry.write"]' "app rollback"
call app '{"parent":"tenants/foundry"}' parkbase.device.v1.DeviceService/ListDevices
expect_call 71 "ListDevices after the rollback took devices.read away"

# The provider's statement for this month (Asia/Shanghai): one line, prorated by day in whole fen.
month="$(TZ=Asia/Shanghai date +%Y-%m)"
cli vendor 0 app statement $app --month="$month" --output=json
python3 -c 'import json, sys
s = json.loads(sys.argv[1])
assert s["month"] == sys.argv[2] and s["currency"] == "CNY", s
(line,) = s["lines"]
assert line["tenant"] == "foundry" and line["active_days"] == 1 and line["device_days"] == "1", line
price, days = int(line["pricing"]["price_fen"]), s["days_in_month"]
units = int(line["device_days"]) if line["pricing"]["model"] == "PRICING_MODEL_PER_DEVICE_MONTHLY" else line["active_days"]
amount = (2 * price * units + days) // (2 * days)  # price x units / days, rounded half up
assert int(line["amount_fen"]) == amount and int(s["total_fen"]) == amount, (amount, s)' "$out" "$month" \
  || fail "app statement: $out"
cli vendor 0 app statement $app --month="$month"
has_row "^total: [0-9]+ fen \\([0-9]+\\.[0-9]{2} CNY\\)\$" "app statement table"
cli vendor 2 app statement $app
cli vendor 13 app statement $app --month=2026-13
cli foundry 15 app statement $app --month="$month"

# Delisted by the park admin: out of the catalogue, the installation keeps working, only the park relists.
cli park 0 app delist $app --reason="checking a complaint"
has_row "no: checking a complaint\$" "app delist"
cli foundry 0 app search 轴承
! grep -q "^tenants/" <<<"$out" || fail "a delisted app is still found: $out"
call app '{"parent":"tenants/foundry","devices":["spindle-1"]}' parkbase.telemetry.v1.TelemetryService/GetLatest
expect_call 0 "the credential while its app is delisted"
cli vendor 17 app relist $app
cli park 0 app relist $app
cli foundry 0 app search 轴承
has_row "^$app " "app search after relist"
cli vendor 0 app deprecate $v2
has_row "^$v2 +DEPRECATED " "app deprecate"
cli foundry 0 app get $app --output=json
holds 'd["latest_version"] == "1.0.0"' "latest_version after deprecating 1.1.0"

# Uninstalled: the credential is refused at once; the installation stays for the record.
cli foundry 0 app uninstall $installation
has_row "^$installation .* UNINSTALLED " "app uninstall"
call app '{"parent":"tenants/foundry","devices":["spindle-1"]}' parkbase.telemetry.v1.TelemetryService/GetLatest
expect_call 80 "the credential after uninstall (UNAUTHENTICATED)"
cli foundry 19 app uninstall $installation
cli foundry 0 app installations foundry
! grep -q "^tenants/" <<<"$out" || fail "app installations lists an uninstalled app: $out"
cli foundry 0 app installations foundry --show_uninstalled --output=json
holds '[i["state"] for i in d["installations"]] == ["INSTALLATION_STATE_UNINSTALLED"]' "app installations --show_uninstalled"

# Usage errors and help.
cli foundry 15 app get tenants/acoustix/apps/no-such-app
cli foundry 2 app get
cli foundry 2 app version
cli foundry 2 app frobnicate
help_text="$(run "$bin/parkbase" app install --help)" || fail "app install --help"
grep -q "parkbase app install TENANT" <<<"$help_text" || fail "app install --help: $help_text"
grep -q "^Exit codes:" <<<"$help_text" || fail "app install --help lists no exit codes"

stop_server

# --- The worked example's curl blocks, on a server of their own (the grpcurl run above created its tenants).
start_server
export PARKBASE_ADDRESS="$address" PARKBASE_HTTP_URL="$http_url" PARKBASE_KEY="$park_key"
unset VENDOR_KEY MILL_ADMIN INSTALLED APP_KEY
run_worked_example curl
stop_server
echo "e2e marketplace: all checks passed"
