#!/usr/bin/env bash
# The park console in a real headless Chromium (Debian's chromium driven by playwright-core, nothing downloaded)
# against `parkbase serve --console_dir` with the PostgreSQL and Redis that scripts/test.sh started
# (PARKBASE_TEST_PG_ADMIN_URL, PARKBASE_TEST_REDIS_URL). The console must be built (npm ci && npm run build in
# services/console; scripts/test.sh does it). Screenshots go to OUT_DIR. Usage: console_e2e.sh BIN_DIR OUT_DIR
set -euo pipefail
bin="$1"
out="$(mkdir -p "$2" && cd "$2" && pwd)"
: "${PARKBASE_TEST_PG_ADMIN_URL:?run through scripts/test.sh}"
: "${PARKBASE_TEST_REDIS_URL:?run through scripts/test.sh}"
console="$(cd "$(dirname "$0")/../../services/console" && pwd)"
chromium="${PARKBASE_CHROMIUM:-/usr/bin/chromium}"

fail() { echo "FAIL: $*"; [[ -f "$log" ]] && tail -20 "$log"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run() { env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$@"; }
[[ -x "$chromium" ]] || { echo "FAIL: $chromium is missing (apt-get install chromium; scripts/test.sh installs it)"; exit 1; }
[[ -f "$console/dist/index.html" ]] || { echo "FAIL: the console is not built (cd services/console && npm ci && npm run build)"; exit 1; }
[[ -d "$console/node_modules/playwright-core" ]] || { echo "FAIL: npm ci in services/console first"; exit 1; }

db="pbconsole_$$_$RANDOM"
admin_url="$PARKBASE_TEST_PG_ADMIN_URL"
base="${admin_url%/*}"
owner_url="$base/$db"
service_url="${base/postgres@/parkbase_service@}/$db"
psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
log="$(mktemp)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" ]]; then
    mkdir -p "$PARKBASE_TEST_SECRETS_DIR/logs" && cp "$log" "$PARKBASE_TEST_SECRETS_DIR/logs/e2e-console-$$.log"
  fi
  rm -f "$log"
}
trap cleanup EXIT

run "$bin/parkbase" migrate --database_url="$owner_url" >"$log" 2>&1 || fail "migrate"
park_key="$(run "$bin/parkbase" admin bootstrap-key --database_url="$owner_url")" || fail "bootstrap-key"
[[ "$park_key" == pbk.park.* ]] || fail "bootstrap-key printed '$park_key'"
# Keys this test sees go where the test command's secrets check reads them (tests/lint/secrets_in_logs.py); the
# browser test appends the keys it mints.
secrets_file=""
if [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" ]]; then
  secrets_file="$PARKBASE_TEST_SECRETS_DIR/secrets-e2e-console-$$.txt"
  echo "$park_key" >>"$secrets_file"
fi

# A Redis database of its own, handed out by the counter the C++ tests use (tests/support/test_env.cc: databases
# 16 to 4095 of the test Redis, which runs with --databases 4096), so no other suite shares or flushes it.
[[ "$PARKBASE_TEST_REDIS_URL" =~ ^(rediss?://[^/]+) ]] || fail "PARKBASE_TEST_REDIS_URL: not a redis:// URL"
redis_base="${BASH_REMATCH[1]}"
next="$(redis-cli -u "$redis_base/0" INCR pb:test:next-database)" || fail "test Redis at $PARKBASE_TEST_REDIS_URL"
redis_url="$redis_base/$((16 + next % (4096 - 16)))"
redis-cli -u "$redis_url" FLUSHDB >/dev/null || fail "cannot empty $redis_url"
port="$(free_port)"; http="$(free_port)"
env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL "$bin/parkbase" serve --listen="127.0.0.1:$port" \
  --metrics_listen="" --http_listen="127.0.0.1:$http" --console_dir="$console/dist" \
  --database_url="$service_url" --redis_url="$redis_url" --drain_seconds=0 >/dev/null 2>"$log" &
server_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$http/console/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$http/console/" | grep -q '<div id="app">' || fail "/console/ does not serve the console"
# Paths sent as written (--path-as-is): the server, not the client, must keep them inside the console's directory.
for path in /console/../openapi.json /console/%2e%2e/%2e%2e/etc/passwd /console/..%2f..%2f..%2fetc%2fpasswd \
  /console/assets/..%2f..%2fpackage.json; do
  answer="$(curl -sS --path-as-is -o "$log.body" -w '%{http_code}' "http://127.0.0.1:$http$path")"
  [[ "$answer" == 404 ]] || fail "$path answered $answer, want 404"
  ! grep -q 'root:\|"openapi"\|parkbase-console' "$log.body" || fail "$path reached a file outside the console"
done
rm -f "$log.body"

mkdir -p "$out"
cd "$console"
PARKBASE_CONSOLE_URL="http://127.0.0.1:$http/console/" PARKBASE_PARK_KEY="$park_key" PARKBASE_SCREENSHOTS="$out" \
  PARKBASE_CHROMIUM="$chromium" PARKBASE_SECRETS_FILE="$secrets_file" node e2e/console.e2e.mjs || fail "console e2e"
echo "PASS: console e2e (screenshots in $out)"
