#!/usr/bin/env bash
# The command line for daily work against a real server (PostgreSQL and Redis from scripts/test.sh): a profile whose
# key is read from a file, --key's deprecation warning, device types and devices, a CSV device import with a bad
# line, telemetry history written from CSV and read back as CSV with the same timestamps, exit code 2 for usage
# errors, and the bash completion script. Usage: cli_e2e.sh BIN_DIR
set -euo pipefail
bin="$1"
: "${PARKBASE_TEST_PG_ADMIN_URL:?run through scripts/test.sh}"
: "${PARKBASE_TEST_REDIS_URL:?run through scripts/test.sh}"

fail() { echo "FAIL: $*"; [[ -f "$log" ]] && tail -20 "$log"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work="$(mktemp -d)"
# The command line as a user with a fresh home runs it: no PARKBASE_* of the test harness, no key in the environment.
unset PARKBASE_KEY PARKBASE_ADDRESS PARKBASE_OUTPUT PARKBASE_CONFIG PARKBASE_PROFILE PARKBASE_TENANT
pb() { env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL HOME="$work/home" XDG_CONFIG_HOME= "$bin/parkbase" "$@"; }
record_key() {
  [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" && -n "$1" ]] && echo "$1" >>"$PARKBASE_TEST_SECRETS_DIR/secrets-e2e-cli-$$.txt"
  return 0
}

db="pbcli_$$_$RANDOM"
admin_url="$PARKBASE_TEST_PG_ADMIN_URL"
base="${admin_url%/*}"
owner_url="$base/$db"
service_url="${base/postgres@/parkbase_service@}/$db"
psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
log="$(mktemp)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" ]]; then
    mkdir -p "$PARKBASE_TEST_SECRETS_DIR/logs" && cp "$log" "$PARKBASE_TEST_SECRETS_DIR/logs/e2e-cli-$$.log"
  fi
  rm -rf "$log" "$work"
}
trap cleanup EXIT

pb migrate --database-url="$owner_url" >/dev/null 2>&1 || fail "migrate"
park_key="$(pb admin bootstrap-key --database-url="$owner_url")" || fail "bootstrap-key"
record_key "$park_key"
# A Redis database of its own, emptied first (the other e2e tests use 7; the caches key on tenant and device ids).
redis_url="${PARKBASE_TEST_REDIS_URL%/}/8"
redis-cli -u "$redis_url" FLUSHDB >/dev/null || fail "cannot empty Redis database 8"
port="$(free_port)"
env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$bin/parkbase" serve --listen="127.0.0.1:$port" \
  --metrics_listen= --http_listen= --database_url="$service_url" --redis_url="$redis_url" --drain_seconds=1 >/dev/null 2>"$log" &
server_pid=$!
for _ in $(seq 50); do pb health --address="127.0.0.1:$port" >/dev/null 2>&1 && break; sleep 0.2; done
pb health --address="127.0.0.1:$port" >/dev/null || fail "server not SERVING"

# --- version and usage errors (exit 2) ------------------------------------------------------------------------
pb version | grep -Eq '^parkbase [0-9]+\.[0-9]+\.[0-9]+ \(revision [0-9a-f]+|unknown\)' || fail "version: $(pb version)"
expect_usage() {  # expect_usage WORD ARGS...: exit 2 and a message naming WORD
  local word="$1" code=0
  shift
  PARKBASE_KEY="$park_key" pb "$@" >/dev/null 2>"$work/err" || code=$?
  [[ $code == 2 ]] || fail "parkbase $*: exit $code, want 2: $(cat "$work/err")"
  grep -q -- "$word" "$work/err" || fail "parkbase $*: the message does not name $word: $(cat "$work/err")"
}
expect_usage "unknown command: frobnicate" frobnicate
expect_usage "unknown command: device frob" device frob x --tenant=acme
expect_usage "--output" tenant list --output=xml
expect_usage "--output=csv" tenant list -o csv
code=0; pb tenant list >/dev/null 2>"$work/err" || code=$?
[[ $code == 2 ]] && grep -q "no API key" "$work/err" || fail "no key at all: exit $code: $(cat "$work/err")"
expect_usage "completion bash|zsh" completion fish
expect_usage "config.yaml: cannot read it" --profile=nope tenant list  # no file yet
expect_usage "--page_size" tenant list --page-size=abc
expect_usage "serve takes no arguments" serve now

# --- profiles: the park admin's key from a file, written by `config set-profile` --------------------------------
mkdir -p "$work/home/.config/parkbase"
printf '%s\n' "$park_key" >"$work/park.key"
pb config set-profile park --address="127.0.0.1:$port" --key-file="$work/park.key" >/dev/null || fail "set-profile"
grep -q "key-file: $work/park.key" "$work/home/.config/parkbase/config.yaml" || fail "config file: $(cat "$work/home/.config/parkbase/config.yaml")"
! grep -q "$park_key" "$work/home/.config/parkbase/config.yaml" || fail "the config file holds the key"
expect_usage "profile 'nope' is not in" --profile=nope tenant list
pb config list-profiles | grep -q '^\*  *park ' || fail "list-profiles: $(pb config list-profiles)"
pb tenant create acme --display-name="Acme Manufacturing" -q | grep -qx acme || fail "tenant create with the profile's key"
tenant_key="$(pb key create acme --display-name=ops --role=tenant_admin -q)" || fail "key create"
record_key "$tenant_key"
[[ "$tenant_key" == pbk.acme.* ]] || fail "key create -q printed '$tenant_key'"
# A second profile, the key in a variable the profile names; the tenant comes from the key (pbk.acme.…).
pb config set-profile acme --address="127.0.0.1:$port" --key-env=ACME_KEY >/dev/null || fail "set-profile acme"
pb config use-profile acme >/dev/null || fail "use-profile"
ACME_KEY="$tenant_key" pb tenant get acme -o json | grep -q '"tenant_id": "acme"' || fail "tenant get with key-env"
# The file's subset is enforced with the line named.
printf 'profiles:\n  x:\n    adress: y\n' >"$work/bad.yaml"
expect_usage "bad.yaml:3: 'adress' is not a profile field" --config="$work/bad.yaml" tenant list
# --key works, with a warning on stderr; PARKBASE_KEY does not warn.
pb --profile=park --key="$park_key" tenant get acme >/dev/null 2>"$work/err" || fail "--key"
grep -q "deprecated" "$work/err" || fail "--key gave no deprecation warning: $(cat "$work/err")"
PARKBASE_KEY="$park_key" pb --profile=park tenant get acme >/dev/null 2>"$work/err" || fail "PARKBASE_KEY"
[[ ! -s "$work/err" ]] || fail "PARKBASE_KEY printed: $(cat "$work/err")"
export ACME_KEY="$tenant_key"

# --- device types and devices -----------------------------------------------------------------------------------
pb device-type create press --display-name="Hydraulic press" --vendor=Yangli \
  --metric-specs=temp:double:degC,strokes:int64,note:string >/dev/null || fail "device-type create"
pb device-type list -q | grep -qx press || fail "device-type list: $(pb device-type list)"
pb device-type get press -o yaml | grep -q '^device_type_id: press$' || fail "device-type get -o yaml: $(pb device-type get press -o yaml)"
pb device create press-1 --device-type=press --serial-number=SN-1 --labels=line=3 -q | grep -qx press-1 \
  || fail "device create"
pb device list | grep -q '^press-1  *press  *SN-1 .*line=3' || fail "device list: $(pb device list)"

# --- device import: two good rows, one the server refuses, one that is not CSV ---------------------------------
cat >"$work/devices.csv" <<'CSV'
device_id,device_type_id,serial_number,label.line
press-2,press,SN-2,3
press-3,no-such-type,SN-3,4
press-4,press,"SN-4
press-5,press,SN-5,4
CSV
code=0
pb device import "$work/devices.csv" >"$work/out" 2>"$work/err" || code=$?
[[ $code == 1 ]] || fail "device import with bad lines: exit $code, want 1: $(cat "$work/out" "$work/err")"
grep -q "devices.csv:3: " "$work/err" || fail "device import: line 3 (unknown type) not reported: $(cat "$work/err")"
grep -q "devices.csv:4: .*not closed" "$work/err" || fail "device import: line 4 not reported: $(cat "$work/err")"
grep -q "2 created, 0 unchanged, 2 failed" "$work/out" || fail "device import summary: $(cat "$work/out")"
[[ "$(pb device list -q | tr '\n' ' ')" == "press-1 press-2 press-5 " ]] || fail "devices after import: $(pb device list -q)"
! grep -q "importing \[" "$work/err" || fail "device import drew a progress bar into a file: $(cat "$work/err")"
# On a terminal (script(1) gives it one) a progress bar is drawn on stderr; a re-run leaves stored rows UNCHANGED.
HOME="$work/home" XDG_CONFIG_HOME= script -qec "'$bin/parkbase' device import '$work/devices.csv'" /dev/null \
  >"$work/tty" 2>&1 || true
grep -q "importing \[#* *\] 3/3 rows" "$work/tty" || fail "no progress bar on a terminal: $(cat "$work/tty")"
grep -q "0 created, 2 unchanged, 2 failed" "$work/tty" || fail "device import re-run: $(cat "$work/tty")"

# --- telemetry: history from CSV with its own timestamps, read back as CSV -----------------------------------
t0="$(date -u -d '-50 min' +%Y-%m-%dT%H:%M:00Z)"
t1="$(date -u -d '-40 min' +%Y-%m-%dT%H:%M:00.25Z)"
t2="$(date -u -d '-30 min' +%Y-%m-%dT%H:%M:00Z)"
# In the order ReadRange answers (metric, then time), so the export must equal the import line for line.
cat >"$work/history.csv" <<CSV
device,metric,timestamp,value
press-1,note,$t1,"ok, running"
press-1,strokes,$t0,100
press-1,strokes,$t2,160
press-1,temp,$t0,21
press-1,temp,$t1,21.5
press-1,temp,$t2,0.1
CSV
cp "$work/history.csv" "$work/write.csv"
echo "press-1,temp,not-a-time,1" >>"$work/write.csv"
code=0
pb telemetry write --from-csv="$work/write.csv" >"$work/out" 2>"$work/err" || code=$?
[[ $code == 1 ]] || fail "telemetry write with a bad line: exit $code: $(cat "$work/out" "$work/err")"
grep -q "write.csv:8: timestamp" "$work/err" || fail "telemetry write: line 8 not reported: $(cat "$work/err")"
grep -q "6 points" "$work/out" || fail "telemetry write summary: $(cat "$work/out")"
pb telemetry read press-1 --start="$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" -o csv >"$work/read.csv" \
  || fail "telemetry read -o csv"
diff "$work/history.csv" "$work/read.csv" >"$work/diff" || fail "telemetry read -o csv differs from what was written: $(cat "$work/diff")"
pb telemetry latest press-1 --metrics=temp -o csv | grep -qx "press-1,temp,$t2,0.1" || fail "telemetry latest -o csv"
pb telemetry aggregate press-1 --metric=strokes --bucket=24h --start="$(date -u -d '-1 day' +%Y-%m-%dT00:00:00Z)" -o csv \
  | grep -q ",2,100,160,130,260,100,160$" || fail "telemetry aggregate: $(pb telemetry aggregate press-1 --metric=strokes --bucket=24h --start="$(date -u -d '-1 day' +%Y-%m-%dT00:00:00Z)" -o csv)"

# --- usage: the devices and points above, beside the free plan's quota ----------------------------------------
pb tenant usage acme >"$work/out" || fail "tenant usage"
grep -q '^devices  *3 / 100$' "$work/out" || fail "tenant usage devices: $(cat "$work/out")"
grep -q '^stored bytes  *[1-9][0-9]* (kept [0-9]* days)$' "$work/out" || fail "tenant usage stored bytes: $(cat "$work/out")"
grep -q '^installed apps  *0 / ' "$work/out" || fail "tenant usage apps: $(cat "$work/out")"
pb tenant usage acme -o json | grep -q '"name": "tenants/acme/usage"' || fail "tenant usage -o json"

# --- completion: the bash script completes from the command table -------------------------------------------
completion="$(pb completion bash)" || fail "completion bash"
got="$(bash -c 'source /dev/stdin; COMP_WORDS=(parkbase dev); COMP_CWORD=1; _parkbase; echo "${COMPREPLY[*]}"' <<<"$completion")"
[[ "$got" == "device device-type" ]] || fail "completion of 'parkbase dev': '$got'"
got="$(bash -c 'source /dev/stdin; COMP_WORDS=(parkbase telemetry r); COMP_CWORD=2; _parkbase; echo "${COMPREPLY[*]}"' <<<"$completion")"
[[ "$got" == "read" ]] || fail "completion of 'parkbase telemetry r': '$got'"
got="$(bash -c 'source /dev/stdin; COMP_WORDS=(parkbase device list --page-s); COMP_CWORD=3; _parkbase; echo "${COMPREPLY[*]}"' <<<"$completion")"
[[ "$got" == "--page-size" ]] || fail "completion of '--page-s': '$got'"
pb completion zsh | grep -q "^compdef _parkbase parkbase$" || fail "completion zsh"
echo "PASS"
