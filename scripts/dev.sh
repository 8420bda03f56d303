#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2119 # pb_build takes an optional folder; none means the default
# Sets up everything and runs Parkbase locally: Debian packages, grpcurl, the build, the park console's build, a
# throwaway PostgreSQL and Redis, migrations and a park-admin key; then serves until Ctrl-C, which stops the server,
# Redis and PostgreSQL.
#
#   scripts/dev.sh             run until Ctrl-C
#   scripts/dev.sh --no-wait   start, print, run the printed examples as a smoke test, stop, exit
#                              (same as PB_DEV_EXIT_AFTER_START=1)
#
# Ports: the API takes 127.0.0.1:50051 and metrics 127.0.0.1:9464 when free, else free ports
# (or PB_DEV_API_PORT / PB_DEV_METRICS_PORT). The server's log goes to .dev/parkbase.log.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
source scripts/lib.sh

no_wait="${PB_DEV_EXIT_AFTER_START:-0}"
[[ "$no_wait" == 1 || "$no_wait" == true ]] && no_wait=1 || no_wait=0
while (($#)); do
  case "$1" in
    --no-wait) no_wait=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    *) pb_die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done

pb_install_packages
pb_install_go_tools grpcurl
pb_build
pb_build_console

pb_cleanup_on_exit
pb_start_postgres
pb_start_redis
pb_create_database parkbase

bin="$PB_BUILD_DIR/bin"
admin_url="postgresql://postgres@127.0.0.1:$PB_PG_PORT/parkbase"
service_url="postgresql://parkbase_service@127.0.0.1:$PB_PG_PORT/parkbase"

pb_log "applying migrations"
"$bin/parkbase" migrate --database_url="$admin_url"

key="$("$bin/parkbase" admin bootstrap-key --database_url="$admin_url")"
key="$(printf '%s' "$key" | tr -d '[:space:]')"
[[ -n "$key" ]] || pb_die "parkbase admin bootstrap-key printed no key"

api_port="${PB_DEV_API_PORT:-$(pb_port_or_free 50051)}"
metrics_port="${PB_DEV_METRICS_PORT:-$(pb_port_or_free 9464)}"
http_port="${PB_DEV_HTTP_PORT:-$(pb_port_or_free 8080)}"
address="127.0.0.1:$api_port"

mkdir -p .dev
log="$PWD/.dev/parkbase.log"
pb_log "starting parkbase serve on $address (log: .dev/parkbase.log)"
"$bin/parkbase" serve --listen="$address" --metrics_listen="127.0.0.1:$metrics_port" \
  --http_listen="127.0.0.1:$http_port" --console_dir="$PWD/services/console/dist" \
  --database_url="$service_url" --redis_url="$PB_REDIS_URL" --park_code=1 </dev/null >"$log" 2>&1 &
server_pid=$!
pb_track_pid "$server_pid"

serving=0
for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    tail -n 40 "$log" >&2 || true
    pb_die "parkbase serve exited during start-up (log above, full log in .dev/parkbase.log)"
  fi
  if pb_grpc_health_check "$address"; then
    serving=1
    break
  fi
  sleep 0.2
done
if ((serving == 0)); then
  tail -n 40 "$log" >&2 || true
  pb_die "parkbase serve did not report SERVING within 60 s"
fi

export PARKBASE_ADDRESS="$address" PARKBASE_KEY="$key"
cli="$bin/parkbase"
[[ "$cli" == "$PWD/"* ]] && cli="${cli#"$PWD/"}"
create_body='{"tenant_id":"acme","tenant":{"display_name":"Acme Manufacturing","plan":"PLAN_STANDARD"}}'
type_body='{"parent":"tenants/acme","device_type_id":"press","device_type":{"display_name":"Hydraulic press","metrics":[{"name":"pressure","unit":"kPa","value_type":"VALUE_TYPE_DOUBLE","min":0,"max":40000}]}}'
device_body='{"parent":"tenants/acme","device":{"device_id":"press-1","device_type_id":"press","serial_number":"SN-0001"}}'
# A point measured at start-up: within the 10-minute future skew and the raw retention for a long while.
write_body="{\"parent\":\"tenants/acme\",\"points\":[{\"device\":\"press-1\",\"metric\":\"pressure\",\"time\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"value\":{\"double_value\":2150.25}}]}"
latest_body='{"parent":"tenants/acme","devices":["press-1"]}'
cat >.dev/env <<EOF
export PARKBASE_ADDRESS=$address PARKBASE_KEY=$key PARKBASE_HTTP_URL=http://127.0.0.1:$http_port
export PATH="\$HOME/go/bin:\$PATH"
EOF

cat <<EOF

Parkbase is running.
  gRPC API (plaintext):  $address
  REST/JSON API:         http://127.0.0.1:$http_port
  park console:          http://127.0.0.1:$http_port/console/  (sign in with the park-admin key)
  metrics:               http://127.0.0.1:$metrics_port/metrics
  park-admin key:        $key
  PostgreSQL (admin):    postgresql://postgres@127.0.0.1:$PB_PG_PORT/parkbase
  Redis:                 $PB_REDIS_URL

Try it from another shell (or: source .dev/env):
  export PARKBASE_ADDRESS=$address PARKBASE_KEY=$key
  export PATH="\$HOME/go/bin:\$PATH"
  grpcurl -plaintext $address list
  grpcurl -plaintext -H "authorization: Bearer $key" -d '$create_body' $address parkbase.tenant.v1.TenantService/CreateTenant
  grpcurl -plaintext -H "authorization: Bearer $key" -d '$type_body' $address parkbase.device.v1.DeviceService/CreateDeviceType
  grpcurl -plaintext -H "authorization: Bearer $key" -d '$device_body' $address parkbase.device.v1.DeviceService/CreateDevice
  grpcurl -plaintext -H "authorization: Bearer $key" -d '$write_body' $address parkbase.telemetry.v1.TelemetryService/Write
  grpcurl -plaintext -H "authorization: Bearer $key" -d '$latest_body' $address parkbase.telemetry.v1.TelemetryService/GetLatest
  curl -s -H "Authorization: Bearer $key" http://127.0.0.1:$http_port/v1/tenants/acme/devices/press-1
  $cli tenant list
  curl -s http://127.0.0.1:$metrics_port/metrics | grep -E 'grpc_server_handled_total|parkbase_points_ingested_total'

EOF

if ((no_wait)); then
  pb_log "smoke test: running the examples above"
  out="$(grpcurl -plaintext "$address" list)" || pb_die "grpcurl list failed"
  printf '%s\n' "$out" >&2
  grep -qx 'parkbase\.tenant\.v1\.TenantService' <<<"$out" ||
    pb_die "grpcurl list does not show parkbase.tenant.v1.TenantService"
  out="$(grpcurl -plaintext -H "authorization: Bearer $key" -d "$create_body" "$address" \
    parkbase.tenant.v1.TenantService/CreateTenant)" || pb_die "CreateTenant failed"
  printf '%s\n' "$out" >&2
  grep -q '"name": "tenants/acme"' <<<"$out" || pb_die "CreateTenant did not answer tenants/acme"
  out="$(grpcurl -plaintext -H "authorization: Bearer $key" -d "$type_body" "$address" \
    parkbase.device.v1.DeviceService/CreateDeviceType)" || pb_die "CreateDeviceType failed"
  printf '%s\n' "$out" >&2
  grep -q '"name": "tenants/acme/deviceTypes/press"' <<<"$out" || pb_die "CreateDeviceType did not answer the type"
  out="$(grpcurl -plaintext -H "authorization: Bearer $key" -d "$device_body" "$address" \
    parkbase.device.v1.DeviceService/CreateDevice)" || pb_die "CreateDevice failed"
  printf '%s\n' "$out" >&2
  grep -q '"name": "tenants/acme/devices/press-1"' <<<"$out" || pb_die "CreateDevice did not answer the device"
  out="$(grpcurl -plaintext -H "authorization: Bearer $key" -d "$write_body" "$address" \
    parkbase.telemetry.v1.TelemetryService/Write)" || pb_die "Write failed"
  printf '%s\n' "$out" >&2
  grep -q '"accepted_points": "1"' <<<"$out" || pb_die "Write did not accept the point"
  out="$(grpcurl -plaintext -H "authorization: Bearer $key" -d "$latest_body" "$address" \
    parkbase.telemetry.v1.TelemetryService/GetLatest)" || pb_die "GetLatest failed"
  printf '%s\n' "$out" >&2
  grep -q '"double_value": 2150.25' <<<"$out" || pb_die "GetLatest does not show the point written"
  out="$(curl -fsS -H "Authorization: Bearer $key" "http://127.0.0.1:$http_port/v1/tenants/acme/devices/press-1")" ||
    pb_die "curl GET /v1/tenants/acme/devices/press-1 failed"
  printf '%s\n' "$out" >&2
  grep -q '"name":"tenants/acme/devices/press-1"' <<<"$out" || pb_die "the HTTP GetDevice did not answer the device"
  out="$(curl -fsS "http://127.0.0.1:$http_port/console/tenants")" || pb_die "the park console is not served at /console/"
  grep -q '<div id="app">' <<<"$out" || pb_die "/console/tenants is not the park console's page"
  out="$("$bin/parkbase" tenant list)" || pb_die "'parkbase tenant list' failed"
  printf '%s\n' "$out" >&2
  grep -q acme <<<"$out" || pb_die "'parkbase tenant list' does not show acme"
  out="$(curl -fsS "http://127.0.0.1:$metrics_port/metrics")" || pb_die "GET /metrics failed"
  grep -q '^grpc_server_handled_total' <<<"$out" || pb_die "/metrics has no grpc_server_handled_total"
  grep -q '^parkbase_points_ingested_total{tenant="acme"} 1$' <<<"$out" ||
    pb_die "/metrics has no parkbase_points_ingested_total for acme"
  pb_log "smoke test passed; stopping"
  exit 0
fi

pb_log "server log follows (also in .dev/parkbase.log); Ctrl-C stops Parkbase, Redis and PostgreSQL"
tail -n +1 -f --pid="$server_pid" "$log" &
pb_track_pid $!
status=0
wait "$server_pid" || status=$?
pb_die "parkbase serve exited with status $status"
