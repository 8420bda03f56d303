#!/usr/bin/env bash
# End-to-end check of the all-in-one binary against the PostgreSQL and Redis that scripts/test.sh started
# (PARKBASE_TEST_PG_ADMIN_URL, PARKBASE_TEST_REDIS_URL). Usage: server_e2e.sh BIN_DIR
set -euo pipefail
bin="$1"
: "${PARKBASE_TEST_PG_ADMIN_URL:?run through scripts/test.sh}"
: "${PARKBASE_TEST_REDIS_URL:?run through scripts/test.sh}"
export PATH="$HOME/go/bin:$PATH"
command -v grpcurl >/dev/null || { echo "FAIL: grpcurl is not installed"; exit 1; }

fail() { echo "FAIL: $*"; [[ -f "$log" ]] && tail -20 "$log"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Tools and tests put their own PARKBASE_* variables in the environment; the binaries must not see them.
run() { env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$@"; }

# docs/admin.md, "The first key": its code blocks run as written and in their order, the placeholders filled in as a
# reader would (the database URL, the server's address, the park key they hold, the key id `key list` shows them).
admin_doc="$(dirname "$0")/../../docs/admin.md"
first_key_block() {  # first_key_block N: the lines of the section's Nth ```bash block
  awk -v want="$1" '
    /^## / { section = ($0 == "## The first key") }
    section && /^```/ { if (inside) inside = 0; else if ($0 == "```bash") { inside = 1; block++ }; next }
    section && inside && block == want { print }' "$admin_doc"
}
parkbase() { run "$bin/parkbase" "$@"; }  # the doc's `parkbase`
# Keys this script sees go where the test command's secrets check reads them (tests/lint/secrets_in_logs.py).
record_key() {
  [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" && -n "$1" ]] && echo "$1" >>"$PARKBASE_TEST_SECRETS_DIR/secrets-e2e-$$.txt"
  return 0
}
doc_key=""     # the newest park key the reader has: what the doc writes as pbk.park.…
doc_printed="" # what the last step that printed something printed
doc_step() {
  local line="$1" cmd id code=0
  cmd="${line%%  #*}"  # the doc's comments follow two spaces
  cmd="${cmd//postgresql:\/\/…\/parkbase/$owner_url}"
  cmd="${cmd//parkbase.example.internal:50051/127.0.0.1:${port:-}}"
  cmd="${cmd//pbk.park.…/$doc_key}"
  if [[ "$cmd" == *"<bootstrap key id>"* ]]; then
    id="$(awk '$2 == "bootstrap" { print $1 }' <<<"$doc_printed")"
    [[ -n "$id" && "$id" != *$'\n'* ]] || fail "docs/admin.md: no single key named bootstrap in: $doc_printed"
    cmd="${cmd//<bootstrap key id>/$id}"
  fi
  [[ "$cmd" != *…* && "$cmd" != *"<"*">"* ]] || fail "docs/admin.md: a placeholder this test cannot fill in: $line"
  eval "$cmd" >"$log.doc" 2>"$log.err" || code=$?
  [[ $code == 0 ]] || fail "docs/admin.md step '$line' exited $code: $(cat "$log.err")"
  if [[ -s "$log.doc" ]]; then
    doc_printed="$(cat "$log.doc")"
    # A new key: bootstrap-key prints only the key; key create prints it after "secret (shown once ...".
    if [[ "$doc_printed" == pbk.* ]]; then
      doc_key="$doc_printed"
      record_key "$doc_key"
    elif grep -q "^secret (shown once" <<<"$doc_printed"; then
      doc_key="$(grep -A1 "^secret (shown once" <<<"$doc_printed" | tail -1)"
      record_key "$doc_key"
    fi
  fi
}

db="pbe2e_$$_$RANDOM"
admin_url="$PARKBASE_TEST_PG_ADMIN_URL"
base="${admin_url%/*}"
owner_url="$base/$db"
service_url="${base/postgres@/parkbase_service@}/$db"
psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
log="$(mktemp)"
server_pid=""
silent_pid=""
tls_pid=""
cleanup() {
  [[ -n "$tls_pid" ]] && kill "$tls_pid" 2>/dev/null || true
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  [[ -n "$silent_pid" ]] && kill "$silent_pid" 2>/dev/null || true
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" ]]; then
    mkdir -p "$PARKBASE_TEST_SECRETS_DIR/logs" && cp "$log" "$PARKBASE_TEST_SECRETS_DIR/logs/e2e-server-$$.log"
  fi
  rm -f "$log" "$log.doc" "$log.err"
}
trap cleanup EXIT

run "$bin/parkbase" migrate --database_url="$owner_url" | grep -q "migrations applied: [1-9]" || fail "first migrate"
run "$bin/parkbase" migrate --database_url="$owner_url" | grep -q "migrations applied: 0" || fail "second migrate"
# The first key, as docs/admin.md mints it.
mapfile -t doc_lines < <(first_key_block 1)
[[ "${doc_lines[*]}" == *"admin bootstrap-key"* ]] || fail "docs/admin.md: the first block of 'The first key' mints no key"
for line in "${doc_lines[@]}"; do doc_step "$line"; done
key="$doc_key"
[[ "$key" == pbk.park.* ]] || fail "bootstrap-key printed '$key'"

# A Redis database of its own, emptied first: the services' caches key on tenant and device ids ("acme",
# "press-1"), and e2e.dev_script uses the same ids against another PostgreSQL database on the same Redis.
redis_url="${PARKBASE_TEST_REDIS_URL%/}/7"
redis-cli -u "$redis_url" FLUSHDB >/dev/null || fail "cannot empty Redis database 7 of $PARKBASE_TEST_REDIS_URL"

port="$(free_port)"; metrics="$(free_port)"; http="$(free_port)"
# `env` directly, not the run() function: a function in the background is a subshell, and its PID is not the server's.
env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$bin/parkbase" serve --listen="127.0.0.1:$port" --metrics_listen="127.0.0.1:$metrics" \
  --http_listen="127.0.0.1:$http" \
  --database_url="$service_url" --redis_url="$redis_url" --drain_seconds=1 \
  --telemetry_compaction_interval_ms=200 >/dev/null 2>"$log" &
server_pid=$!
for _ in $(seq 50); do
  grpcurl -plaintext "127.0.0.1:$port" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING && break
  sleep 0.2
done
grpcurl -plaintext "127.0.0.1:$port" grpc.health.v1.Health/Check | grep -q '"SERVING"' || fail "health not SERVING"
for service in parkbase.tenant.v1.TenantService parkbase.device.v1.DeviceService parkbase.telemetry.v1.TelemetryService; do
  health="$(grpcurl -plaintext -d "{\"service\":\"$service\"}" "127.0.0.1:$port" grpc.health.v1.Health/Check)" \
    || fail "$service health check"
  grep -q '"SERVING"' <<<"$health" || fail "$service health: $health"
done
services="$(grpcurl -plaintext "127.0.0.1:$port" list)" || fail "grpcurl list"
grep -qx "parkbase.tenant.v1.TenantService" <<<"$services" || fail "reflection list: $services"
grep -qx "grpc.health.v1.Health" <<<"$services" || fail "reflection does not list grpc.health.v1.Health"
grpcurl -plaintext "127.0.0.1:$port" describe parkbase.tenant.v1.TenantService.CreateTenant >/dev/null \
  || fail "reflection describe"

# docs/admin.md's next steps with the bootstrap key: mint an administrator's key, switch to it, revoke the bootstrap
# key. The key they leave in PARKBASE_KEY must work, as every later step of the guide (and of this test) uses it.
mapfile -t doc_lines < <(first_key_block 2)
[[ "${doc_lines[*]}" == *"key revoke"* ]] || fail "docs/admin.md: the second block of 'The first key' revokes nothing"
for line in "${doc_lines[@]}"; do doc_step "$line"; done
[[ "$PARKBASE_KEY" != "$key" ]] || fail "docs/admin.md's first-key steps leave PARKBASE_KEY on the revoked bootstrap key"
code=0
PARKBASE_KEY="$key" run "$bin/parkbase" key list park >/dev/null 2>&1 || code=$?
[[ $code == 26 ]] || fail "the revoked bootstrap key: exit $code, want 26 (UNAUTHENTICATED)"
run "$bin/parkbase" key list park >/dev/null || fail "the key docs/admin.md's first-key steps leave does not work"
key="$PARKBASE_KEY"

# The README's example call, then the command line.
out="$(grpcurl -plaintext -H "authorization: Bearer $key" \
  -d '{"tenant_id":"acme","tenant":{"display_name":"Acme Manufacturing","plan":"PLAN_STANDARD"}}' \
  "127.0.0.1:$port" parkbase.tenant.v1.TenantService/CreateTenant)" || fail "grpcurl CreateTenant"
grep -q '"name": "tenants/acme"' <<<"$out" || fail "CreateTenant answer: $out"
set +e
grpcurl -plaintext -d '{"name":"tenants/acme"}' "127.0.0.1:$port" parkbase.tenant.v1.TenantService/GetTenant \
  >/dev/null 2>"$log.err"
grep -q "Unauthenticated" "$log.err" || fail "call without key was not UNAUTHENTICATED"
rm -f "$log.err"
set -e

export PARKBASE_ADDRESS="127.0.0.1:$port" PARKBASE_KEY="$key"
listing="$(run "$bin/parkbase" tenant list)" || fail "cli tenant list"
grep -q "^acme " <<<"$listing" || fail "cli tenant list: $listing"
run "$bin/parkbase" tenant get acme --output=json | python3 -c 'import json,sys; t=json.load(sys.stdin); assert t["plan"]=="PLAN_STANDARD", t' \
  || fail "cli json output"
tenant_key="$(run "$bin/parkbase" key create acme --display_name=ops --role=tenant_admin --output=json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')" || fail "cli key create"
record_key "$tenant_key"
PARKBASE_KEY="$tenant_key" run "$bin/parkbase" tenant get acme >/dev/null || fail "tenant key works"
set +e
run "$bin/parkbase" tenant get nobody-here >/dev/null 2>&1; code=$?
[[ $code == 15 ]] || fail "NOT_FOUND exit code: got $code, want 15"
# The call's log line spells its code as the metrics do (grpc_code="NotFound"), so a dashboard's label finds it.
python3 -c '
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
calls = [l for l in lines if l.get("msg") == "rpc" and l.get("method") == "GetTenant"]
assert any(l.get("code") == "NotFound" for l in calls), [l.get("code") for l in calls]
assert all(l.get("code") in ("OK", "NotFound", "PermissionDenied", "Unauthenticated") for l in calls), calls
' "$log" || fail "the NOT_FOUND GetTenant call is not logged with code NotFound"
# A missing tenant's keys and audit log are NOT_FOUND too, not an empty table and exit 0.
for listing_command in "key list nobody-here" "audit list nobody-here" "key create nobody-here --display_name=x --role=developer"; do
  # shellcheck disable=SC2086 # the command's words
  out="$(run "$bin/parkbase" $listing_command 2>&1)"; code=$?
  [[ $code == 15 ]] || fail "$listing_command: exit $code, want 15 (NOT_FOUND): $out"
done
PARKBASE_KEY="$tenant_key" run "$bin/parkbase" tenant create other --display_name=x >/dev/null 2>&1; code=$?
[[ $code == 17 ]] || fail "PERMISSION_DENIED exit code: got $code, want 17"
run "$bin/parkbase" tenant create >/dev/null 2>&1; code=$?
[[ $code == 2 ]] || fail "usage exit code: got $code, want 2"
run "$bin/parkbase" tenant suspend acme --reason="unpaid" >/dev/null || fail "cli suspend"
PARKBASE_KEY="$tenant_key" run "$bin/parkbase" tenant get acme >/dev/null 2>&1; code=$?
[[ $code == 17 ]] || fail "suspended tenant's key: got $code, want 17"
set -e
run "$bin/parkbase" tenant resume acme >/dev/null || fail "cli resume"
help_text="$(run "$bin/parkbase" tenant get --help)" || fail "--help exit code"
grep -q "parkbase tenant get" <<<"$help_text" || fail "--help"

# Usage errors exit 2 with a message naming the flag, before any call: a flag that does not exist or a value that
# does not parse (Abseil's parser alone exits 1), and an --expire_in no Timestamp can hold (protobuf would abort).
expect_usage() {  # expect_usage FLAG ARGS...
  local flag="$1" code=0
  shift
  run "$bin/parkbase" "$@" >/dev/null 2>"$log.err" || code=$?
  [[ $code == 2 ]] || fail "parkbase $*: exit $code, want 2 (usage): $(cat "$log.err")"
  grep -q -- "$flag" "$log.err" || fail "parkbase $*: the message does not name $flag: $(cat "$log.err")"
}
expect_usage --bogus_flag tenant list --bogus_flag
expect_usage --bogus_flag tenant list --bogus_flag=1
expect_usage --nobogus tenant list --nobogus
expect_usage --page_size tenant list --page_size=abc
expect_usage --tls tenant list --tls=maybe
expect_usage --timeout_seconds tenant list --timeout_seconds=0
expect_usage --expire_in key create acme --display_name=ci --role=developer --expire_in=inf
expect_usage --expire_in key create acme --display_name=ci --role=developer --expire_in=9999999999h
expect_usage --expire_in key create acme --display_name=ci --role=developer --expire_in=-1h
# Abseil's own usage flags still reach its parser (which prints its help and exits 1).
helpshort="$(run "$bin/parkbase" --helpshort 2>&1)" || true
grep -q -- "--helpfull" <<<"$helpshort" || fail "--helpshort no longer prints Abseil's help: $helpshort"
created="$(run "$bin/parkbase" key create acme --display_name=ci --role=developer --expire_in=720h --output=json)" \
  || fail "key create --expire_in=720h"
python3 -c 'import datetime, json, sys
expire = datetime.datetime.fromisoformat(json.load(sys.stdin)["api_key"]["expire_time"].replace("Z", "+00:00"))
ahead = expire - datetime.datetime.now(datetime.timezone.utc)
assert abs(ahead - datetime.timedelta(hours=720)) < datetime.timedelta(minutes=5), ahead' <<<"$created" \
  || fail "key create --expire_in=720h: expire_time is not 720 h ahead: $created"
# No answer within --timeout_seconds: 14 (DEADLINE_EXCEEDED), from a port that accepts connections but never speaks.
silent_port_file="$(mktemp)"
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(60)' "$silent_port_file" &
silent_pid=$!
for _ in $(seq 50); do [[ -s "$silent_port_file" ]] && break; sleep 0.1; done
code=0
run "$bin/parkbase" tenant list --address="127.0.0.1:$(cat "$silent_port_file")" --timeout_seconds=1 \
  >/dev/null 2>"$log.err" || code=$?
kill "$silent_pid" 2>/dev/null || true
rm -f "$silent_port_file"
[[ $code == 14 ]] || fail "a server that never answers: exit $code, want 14 (DEADLINE_EXCEEDED): $(cat "$log.err")"
# Every exit code the command line can return is in its help and in both guides.
codes="$(grep '^Exit codes:' <<<"$(run "$bin/parkbase" --help)")" || fail "--help lists no exit codes"
grep -q "0 ok, 1 local failure.*2 usage" <<<"$codes" || fail "--help exit codes: $codes"
mapfile -t call_codes < <(grep -oE '\b[12][0-9] [A-Z_]+' <<<"$codes")
[[ ${#call_codes[@]} == 16 ]] || fail "--help lists ${#call_codes[@]} of the 16 gRPC codes: $codes"
[[ " ${call_codes[*]} " == *" 14 DEADLINE_EXCEEDED "* ]] || fail "--help omits 14 DEADLINE_EXCEEDED"
for entry in "${call_codes[@]}"; do
  grep -qF "$entry" "$admin_doc" || fail "docs/admin.md does not list exit code $entry"
  grep -qE "^\| ${entry% *} \| ${entry#* }( |$)" "$(dirname "$0")/../../docs/api.md" \
    || fail "docs/api.md does not list exit code $entry"
done
audit="$(run "$bin/parkbase" audit list acme)" || fail "audit list"
grep -q "SuspendTenant" <<<"$audit" || fail "audit list: $audit"

# Telemetry: a point and a series through Write, folded into chunks by the background compactor (every 200 ms
# here), then read back through ReadRange and GetLatest. Outputs are captured before grep: `grep -q` stops reading
# early and, under pipefail, the writer's SIGPIPE would fail the check.
call() { grpcurl -plaintext -H "authorization: Bearer $key" -d "$2" "127.0.0.1:$port" "$1"; }
sql() { psql "$owner_url" -qAtc "$1"; }
out="$(call parkbase.device.v1.DeviceService/CreateDeviceType '{"parent":"tenants/acme","device_type_id":"press","device_type":{"display_name":"Press","metrics":[{"name":"pressure","value_type":"VALUE_TYPE_DOUBLE","min":0},{"name":"strokes","value_type":"VALUE_TYPE_INT64"}]}}')" \
  || fail "CreateDeviceType"
out="$(call parkbase.device.v1.DeviceService/CreateDevice '{"parent":"tenants/acme","device":{"device_id":"press-1","device_type_id":"press","serial_number":"SN-1"}}')" \
  || fail "CreateDevice"
now_s="$(date +%s)"
t0=$(( (now_s - 120) * 1000 ))          # two minutes ago, in ms
t0_iso="$(date -u -d "@$((now_s - 120))" +%Y-%m-%dT%H:%M:%SZ)"
end_iso="$(date -u -d "@$((now_s + 60))" +%Y-%m-%dT%H:%M:%SZ)"
batch="{\"parent\":\"tenants/acme\",\"batch_id\":\"e2e-1\",
  \"points\":[{\"device\":\"press-1\",\"metric\":\"pressure\",\"time\":\"$t0_iso\",\"value\":{\"double_value\":2150.25}},
              {\"device\":\"press-1\",\"metric\":\"pressure\",\"time\":\"$t0_iso\",\"value\":{\"double_value\":-1}}],
  \"series\":[{\"device\":\"press-1\",\"metric\":\"strokes\",\"timestamps_ms\":[$t0,$((t0 + 1000)),$((t0 + 2000))],\"int_values\":[7,8,9]}]}"
out="$(call parkbase.telemetry.v1.TelemetryService/Write "$batch")" || fail "telemetry Write"
grep -q '"accepted_points": "4"' <<<"$out" || fail "Write answer: $out"
grep -q '"reason": "REJECTION_REASON_INVALID_VALUE"' <<<"$out" || fail "Write did not reject the negative pressure: $out"
# The log row is folded into chunks and deleted by the compactor; wait for that (at most 10 s).
log_rows=""
for _ in $(seq 50); do
  log_rows="$(sql "SELECT count(*) FROM telemetry_ingest_log WHERE tenant_id = 'acme'")" || fail "psql"
  [[ "$log_rows" == 0 ]] && break
  sleep 0.2
done
[[ "$log_rows" == 0 ]] || fail "the compactor left $log_rows ingest log rows after 10 s"
# press-1 is acme's only device, so its chunk group holds exactly its points.
chunk_points="$(sql "SELECT coalesce(sum(point_count), 0) FROM telemetry_chunks WHERE tenant_id = 'acme' AND group_id IN (SELECT group_id FROM telemetry_group_members WHERE tenant_id = 'acme' AND device_id = 'press-1')")"
[[ "$chunk_points" == 4 ]] || fail "telemetry_chunks hold $chunk_points points of press-1's group, want 4"
out="$(call parkbase.telemetry.v1.TelemetryService/ReadRange "{\"parent\":\"tenants/acme\",\"device\":\"press-1\",
  \"start_time\":\"$t0_iso\",\"end_time\":\"$end_iso\"}")" || fail "ReadRange"
read_back="$(python3 -c 'import json,sys
points = json.load(sys.stdin)["points"]
print(" ".join(p["metric"] + "=" + str(list(p["value"].values())[0]) for p in points))' <<<"$out")" || fail "ReadRange answer: $out"
[[ "$read_back" == "pressure=2150.25 strokes=7 strokes=8 strokes=9" ]] || fail "ReadRange after compaction: $read_back"
out="$(call parkbase.telemetry.v1.TelemetryService/GetLatest '{"parent":"tenants/acme","devices":["press-1"]}')" \
  || fail "GetLatest"
grep -q '"double_value": 2150.25' <<<"$out" || fail "GetLatest pressure: $out"
grep -q '"int_value": "9"' <<<"$out" || fail "GetLatest strokes: $out"
metrics_text="$(curl -fsS "http://127.0.0.1:$metrics/metrics")" || fail "GET /metrics"
grep -q '^parkbase_points_ingested_total{tenant="acme"} 4$' <<<"$metrics_text" \
  || fail "/metrics lacks parkbase_points_ingested_total{tenant=\"acme\"} 4"
grep -q '^parkbase_points_rejected_total{reason="REJECTION_REASON_INVALID_VALUE",tenant="acme"} 1$' <<<"$metrics_text" \
  || fail "/metrics lacks parkbase_points_rejected_total for the invalid value"
grep -q '^grpc_server_handled_total{grpc_code="OK",grpc_method="CreateTenant"' <<<"$metrics_text" \
  || fail "/metrics lacks grpc_server_handled_total for CreateTenant"
# Every method's call counters exist from the start, at zero: an error ratio answers before the first error.
grep -q '^grpc_server_handled_total{grpc_code="DataLoss",grpc_method="DeleteDeviceType",grpc_service="parkbase.device.v1.DeviceService",grpc_type="unary"} 0$' <<<"$metrics_text" \
  || fail "/metrics lacks the zero DataLoss series of DeleteDeviceType"
grep -q '^grpc_server_started_total{grpc_method="Subscribe",grpc_service="parkbase.telemetry.v1.TelemetryService",grpc_type="server_stream"} ' <<<"$metrics_text" \
  || fail "/metrics lacks Subscribe's started series"
# The process itself, in the names every Prometheus client library uses, and which build answers.
for family in process_cpu_seconds_total process_resident_memory_bytes process_open_fds process_threads \
  process_start_time_seconds; do
  grep -Eq "^$family [0-9.e+]+$" <<<"$metrics_text" || fail "/metrics lacks $family"
done
grep -Eq '^process_resident_memory_bytes [1-9]' <<<"$metrics_text" || fail "process_resident_memory_bytes is zero"
grep -Eq '^parkbase_build_info\{revision="([0-9a-f]{12}|unknown)",version="[^"]+"\} 1$' <<<"$metrics_text" \
  || fail "/metrics lacks parkbase_build_info{revision,version} 1"
# Every pool this server runs, each lending connections by now; the compactor's work on the 4 points above.
for pool in postgres postgres_ingest redis; do
  grep -Eq "^parkbase_pool_connections_max\{pool=\"$pool\"\} [1-9]" <<<"$metrics_text" \
    || fail "/metrics lacks the $pool pool's size"
  grep -Eq "^parkbase_pool_acquire_seconds_count\{pool=\"$pool\"\} [1-9]" <<<"$metrics_text" \
    || fail "/metrics shows no acquire from the $pool pool"
  grep -Eq "^parkbase_pool_acquire_timeouts_total\{pool=\"$pool\"\} 0$" <<<"$metrics_text" \
    || fail "/metrics lacks the $pool pool's zero timeouts"
done
points_folded="$(sed -n 's/^parkbase_telemetry_compaction_points_total \([0-9.e+]*\)$/\1/p' <<<"$metrics_text")"
[[ -n "$points_folded" ]] && python3 -c "import sys; sys.exit(0 if float('$points_folded') >= 4 else 1)" \
  || fail "parkbase_telemetry_compaction_points_total is '$points_folded', want at least the 4 points folded"
grep -Eq '^parkbase_telemetry_compaction_last_success_timestamp_seconds [1-9]' <<<"$metrics_text" \
  || fail "/metrics lacks the last successful compaction's time"
grep -q '^parkbase_telemetry_retention_deleted_total{kind="chunks"} 0$' <<<"$metrics_text" \
  || fail "/metrics lacks retention's zero deletions"
grep -q '^parkbase_grpc_server_open_streams{grpc_method="WriteStream",grpc_service="parkbase.telemetry.v1.TelemetryService",grpc_type="bidi_stream"} 0$' <<<"$metrics_text" \
  || fail "/metrics lacks WriteStream's zero open streams"

# The same batch again, as a client retries it: answered from the first commit, nothing stored twice.
out="$(call parkbase.telemetry.v1.TelemetryService/Write "$batch")" || fail "telemetry Write again"
grep -q '"duplicate": true' <<<"$out" || fail "a repeated batch id was not answered as a duplicate: $out"
metrics_text="$(curl -fsS "http://127.0.0.1:$metrics/metrics")" || fail "GET /metrics"
grep -q '^parkbase_points_ingested_total{tenant="acme"} 4$' <<<"$metrics_text" \
  || fail "a repeated batch was counted as ingested again"
grep -q '"msg":"rpc"' "$log" || grep -q '"msg": "rpc"' "$log" || fail "no JSON call log line"

# The REST/JSON door of the real binary, called with curl as docs/api.md does: the same key, the same answer, and
# Google's JSON error model for a call without one.
out="$(curl -sS -H "Authorization: Bearer $key" "http://127.0.0.1:$http/v1/tenants/acme")" || fail "curl GET /v1/tenants/acme"
grep -q '"tenantId":"acme"' <<<"$out" || fail "HTTP GetTenant answer: $out"
out="$(curl -sS -w ' %{http_code}' "http://127.0.0.1:$http/v1/tenants/acme")" || fail "curl without a key"
grep -q '"status":"UNAUTHENTICATED".* 401$' <<<"$out" || fail "HTTP call without a key: $out"
out="$(curl -fsS "http://127.0.0.1:$http/openapi.json")" || fail "GET /openapi.json"
grep -q '^  "openapi": "3\.' <<<"$out" || fail "GET /openapi.json is no OpenAPI 3 document"
metrics_text="$(curl -fsS "http://127.0.0.1:$metrics/metrics")" || fail "GET /metrics"
grep -q '^http_server_handled_total{code="200",grpc_method="GetTenant",' <<<"$metrics_text" \
  || fail "no http_server_handled_total for GetTenant"

# `parkbase gateway`, the one HTTP entry of a split deployment, in front of this server as every service's backend:
# the same answer through it, its /healthz and /openapi.json, and a clean exit on SIGTERM.
gw="$(free_port)"
env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$bin/parkbase" gateway --http_listen="127.0.0.1:$gw" \
  --metrics_listen= --drain_seconds=0 \
  --gateway_backends="tenant=127.0.0.1:$port,device=127.0.0.1:$port,telemetry=127.0.0.1:$port,marketplace=127.0.0.1:$port" \
  >/dev/null 2>>"$log" &
gw_pid=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$gw/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$gw/healthz" | grep -q '"SERVING"' || fail "gateway /healthz"
out="$(curl -fsS "http://127.0.0.1:$gw/openapi.json")" || fail "gateway /openapi.json"
grep -q '^  "openapi": "3\.' <<<"$out" || fail "the gateway's /openapi.json is no OpenAPI 3 document"
out="$(curl -sS -H "Authorization: Bearer $key" "http://127.0.0.1:$gw/v1/tenants/acme")" || fail "curl through the gateway"
grep -q '"tenantId":"acme"' <<<"$out" || fail "GetTenant through the gateway: $out"
out="$(curl -sS -w ' %{http_code}' -H "Authorization: Bearer $key" "http://127.0.0.1:$gw/v1/tenants/acme/devices/nope")"
grep -q '"status":"NOT_FOUND".* 404$' <<<"$out" || fail "a missing device through the gateway: $out"
kill -TERM "$gw_pid"
wait "$gw_pid" || fail "gateway exit code after SIGTERM"
code=0
env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$bin/parkbase" gateway --http_listen=127.0.0.1:0 \
  --gateway_backends="billing=127.0.0.1:$port" >/dev/null 2>&1 || code=$?
[[ $code == 2 ]] || fail "a gateway with an unknown backend exited $code, want 2"

# Mutual TLS with the real binary and the command line: a second server on the same database requires client
# certificates from a throwaway CA; the CLI gets in with one, not without, and refuses half a client identity.
certs="$(mktemp -d)"
openssl_quiet() { openssl "$@" >/dev/null 2>&1 || fail "openssl $*"; }
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=e2e-ca \
  -keyout "$certs/ca.key" -out "$certs/ca.pem"
for leaf in server client; do
  openssl_quiet req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$leaf" \
    -keyout "$certs/$leaf.key" -out "$certs/$leaf.csr"
  echo "subjectAltName=IP:127.0.0.1" >"$certs/$leaf.ext"
  openssl_quiet x509 -req -in "$certs/$leaf.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key" -CAcreateserial \
    -days 1 -extfile "$certs/$leaf.ext" -out "$certs/$leaf.pem"
done
tls_port="$(free_port)"; tls_http="$(free_port)"
env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$bin/parkbase" serve --listen="127.0.0.1:$tls_port" \
  --http_listen="127.0.0.1:$tls_http" --metrics_listen= --database_url="$service_url" --redis_url="$redis_url" --drain_seconds=0 \
  --tls_cert_file="$certs/server.pem" --tls_key_file="$certs/server.key" --tls_client_ca_file="$certs/ca.pem" \
  >/dev/null 2>>"$log" &
tls_pid=$!
mtls=(--address="127.0.0.1:$tls_port" --tls_ca_file="$certs/ca.pem" --tls_client_cert_file="$certs/client.pem"
      --tls_client_key_file="$certs/client.key")
for _ in $(seq 50); do run "$bin/parkbase" health "${mtls[@]}" >/dev/null 2>&1 && break; sleep 0.2; done
run "$bin/parkbase" health "${mtls[@]}" >/dev/null || fail "mTLS: health with a client certificate"
run "$bin/parkbase" tenant get acme "${mtls[@]}" >/dev/null || fail "mTLS: tenant get with a client certificate"
code=0
run "$bin/parkbase" health --address="127.0.0.1:$tls_port" --tls_ca_file="$certs/ca.pem" --timeout_seconds=2 \
  >/dev/null 2>&1 || code=$?
[[ $code == 1 ]] || fail "mTLS: health without a client certificate exited $code, want 1"
code=0
run "$bin/parkbase" tenant get acme --address="127.0.0.1:$tls_port" --timeout_seconds=2 >/dev/null 2>&1 || code=$?
[[ $code == 24 ]] || fail "mTLS: a plaintext call exited $code, want 24 (UNAVAILABLE)"
code=0
run "$bin/parkbase" health --address="127.0.0.1:$tls_port" --tls_client_cert_file="$certs/client.pem" \
  >/dev/null 2>&1 || code=$?
[[ $code == 2 ]] || fail "mTLS: a client certificate without its key exited $code, want 2"
# The HTTP door takes the same TLS files: HTTPS with a client certificate gets in, without one the handshake fails.
out="$(curl -sS --cacert "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key" \
  -H "Authorization: Bearer $key" "https://127.0.0.1:$tls_http/v1/tenants/acme")" || fail "HTTPS with a client certificate"
grep -q '"tenantId":"acme"' <<<"$out" || fail "HTTPS GetTenant answer: $out"
if curl -sS --max-time 5 --cacert "$certs/ca.pem" "https://127.0.0.1:$tls_http/v1/tenants/acme" >/dev/null 2>&1; then
  fail "HTTPS without a client certificate was answered"
fi
kill -TERM "$tls_pid"
wait "$tls_pid" || fail "mTLS server exit code after SIGTERM"
tls_pid=""
rm -rf "$certs"

kill -TERM "$server_pid"
for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then fail "server still running 5 s after SIGTERM"; fi
code=0
wait "$server_pid" || code=$?
server_pid=""
[[ $code == 0 ]] || fail "server exit code after SIGTERM: $code"
grep -q '"draining"' "$log" || grep -q 'draining' "$log" || fail "no drain log line"
echo "e2e: all checks passed"
