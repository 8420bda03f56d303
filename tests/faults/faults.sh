#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# One fault scenario against real processes. Usage: faults.sh SCENARIO BIN_DIR [FAULT_CLIENT]
#
#   postgres-kill9            kill -9 PostgreSQL's postmaster mid-stream, restart it on its port and data folder
#   redis-restart             stop Redis mid-stream, start it again on its port (empty: Redis holds nothing durable)
#   server-sigterm            SIGTERM `parkbase serve` mid-stream, let it drain, start another on the same port
#   server-kill9-compaction   kill -9 the server while its compactor holds a pass open, restart it, let it finish
#
# Each run starts its own PostgreSQL, Redis and server on free loopback ports (never those of scripts/test.sh, which
# other suites use meanwhile) and stops them on exit. fault_client streams batches with ids through WriteStream and
# retries like a gateway; the fault strikes while it does. Then the checker's counts (fault_client's line), the
# server's own parkbase_points_ingested_total of every server process, and PostgreSQL's rows must agree:
#   - fault_client: every batch acknowledged, lost = duplicated = unexpected = 0, stored = acknowledged;
#   - after compaction: the ingest log is empty, telemetry_batches holds one row per acknowledged batch, and the
#     device's chunks hold exactly the acknowledged points (a batch stored twice would show here even where reads
#     hide it by last-write-wins); GetLatest answers the last point sent;
#   - a server process that ended gracefully counted exactly the points of the batches committed while it lived
#     (telemetry_batches.commit_time within its lifetime, on PostgreSQL's clock); a killed one's counter dies with
#     it, so it is only bounded; the last scrapes of all processes sum to at most what is stored (a `duplicate`
#     answer is never counted).
# PB_FAULTS_LOG_DIR=DIR keeps the server and client logs in DIR/<scenario>/.
# Prints `server_process=<n> ingested=<last scrape> exit=<graceful|killed> committed=<points>` per server process and
# last `faults <scenario>: <counts> ... PASS|FAIL`; the exit status is 0 only on PASS.
set -euo pipefail

scenario="${1:?usage: faults.sh SCENARIO BIN_DIR [FAULT_CLIENT]}"
bin="${2:?usage: faults.sh SCENARIO BIN_DIR [FAULT_CLIENT]}"
client_bin="${3:-$bin/fault_client}"
case "$scenario" in
  postgres-kill9 | redis-restart | server-sigterm | server-kill9-compaction) ;;
  *)
    echo "faults.sh: unknown scenario '$scenario'" >&2
    exit 2
    ;;
esac

# scripts/test.sh exports the PostgreSQL and Redis it started for the other suites; lib.sh would take them for ours.
unset PB_LIB_LOADED PB_TOOLS_LOADED PB_PG_DIR PB_PG_PORT PB_PG_OWNER PB_PG_ADMIN_URL \
  PB_REDIS_DIR PB_REDIS_PORT PB_REDIS_PID PB_REDIS_URL PB_REDIS_OWNER
# shellcheck source=../../scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
pb_go_path
command -v grpcurl >/dev/null || pb_die "grpcurl is not installed (scripts/install-tools.sh grpcurl)"
[[ -x "$bin/parkbase" ]] || pb_die "$bin/parkbase is missing (build first)"
[[ -x "$client_bin" ]] || pb_die "$client_bin is missing (build first)"

started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/parkbase-faults.XXXXXX")"
tenant=faults
device=press-1
metric=pressure
# The workload. Paced so that the fault strikes mid-stream even on a fast machine: 200 batches of 500 points take at
# least 200 x 25 ms = 5 s. The compaction scenario writes a bigger burst as fast as it can, so passes have work.
batches=200
points=500
pace_ms=25
fault_at=50       # strike once this many batches are acknowledged
compaction_ms=200 # the compactor's interval: the log empties within seconds of the last batch
# The server's grace after SIGTERM (then as long again before it cancels open calls): long enough for the
# server-sigterm scenario to see the draining server commit and to pause the client before the server exits.
drain_seconds=3
if [[ "$scenario" == redis-restart ]]; then
  batches=300 # writes go on through the outage, so it needs more of them to end mid-stream
fi
if [[ "$scenario" == server-kill9-compaction ]]; then
  batches=300
  points=1000
  pace_ms=0
  compaction_ms=100
fi
client_deadline=150
# An hour ago: well inside the raw retention, far from the 10-minute future limit.
start_ms=$(($(date +%s%3N) - 3600000))
# Shared by the server processes, so a page token outlives the process that issued it.
page_secret="faults-page-token-secret-0123456789"

# note MESSAGE: a milestone of the scenario, with the time of day to read beside the server's and client's logs.
note() { pb_log "$(date +%H:%M:%S.%3N) $*"; }
failures=()
fail() {
  failures+=("$*")
  pb_log "FAIL: $*"
}
# Every process this script started is stopped on exit, by pid; the logs of a failed run are shown.
client_pid=""
server_pid=""
scraper_pid=""
on_exit() {
  local status=$?
  if [[ -n "$scraper_pid" ]]; then kill -KILL "$scraper_pid" 2>/dev/null || true; fi
  if [[ -n "$client_pid" ]]; then
    kill -CONT "$client_pid" 2>/dev/null || true
    kill -TERM "$client_pid" 2>/dev/null || true
  fi
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    pb_wait_pid_gone "$server_pid" 10 || kill -KILL "$server_pid" 2>/dev/null || true
  fi
  if ((status != 0)); then
    local f
    for f in "$work"/server*.log "$work/client.log"; do
      [[ -f "$f" ]] || continue
      echo "----- last lines of $(basename "$f")"
      grep -v '"method":"ReadRange"' "$f" | tail -n 25
    done
    if [[ -n "${PB_PG_DIR:-}" && -f "$PB_PG_DIR/postgres.log" ]]; then
      echo "----- last lines of postgres.log"
      tail -n 15 "$PB_PG_DIR/postgres.log"
    fi
  fi
  pb_stop_all
  # The test command checks the servers' logs for the keys used (when it asks for that: tests/lint).
  if [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" ]]; then
    mkdir -p "$PARKBASE_TEST_SECRETS_DIR/logs"
    for f in "$work"/server*.log; do
      [[ -f "$f" ]] && cp "$f" "$PARKBASE_TEST_SECRETS_DIR/logs/faults-$scenario-$(basename "$f")"
    done
  fi
  if [[ -n "${PB_FAULTS_LOG_DIR:-}" ]]; then
    mkdir -p "$PB_FAULTS_LOG_DIR/$scenario"
    cp "$work"/*.log "$work/report" "$PB_FAULTS_LOG_DIR/$scenario/" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.1 s; dies naming WHAT when it is still false then.
wait_until() {
  local seconds="$1" what="$2" i
  shift 2
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  pb_die "timed out after ${seconds}s waiting for $what"
}

# The binaries must not see the PARKBASE_* variables of the test environment.
run() { env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL -u PARKBASE_ADDRESS -u PARKBASE_KEY "$@"; }
# record_key KEY: a key the servers' logs must never show (read by the test command's secrets check, if any).
record_key() {
  if [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" ]]; then echo "$1" >>"$PARKBASE_TEST_SECRETS_DIR/secrets-faults-$$.txt"; fi
}
sql() { pb_psql -d parkbase -tA -c "$1"; }
# PostgreSQL's clock in microseconds: process lifetimes are compared with commit_time on the same clock.
pg_now_us() { sql "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8"; }
log_rows() { sql "SELECT count(*) FROM telemetry_ingest_log WHERE tenant_id = '$tenant'"; }

# ---- PostgreSQL, Redis, schema, the first key --------------------------------------------------------------------
pb_start_postgres
pb_start_redis
pb_create_database parkbase
owner_url="postgresql://postgres@127.0.0.1:$PB_PG_PORT/parkbase"
service_url="postgresql://parkbase_service@127.0.0.1:$PB_PG_PORT/parkbase"
run "$bin/parkbase" migrate --database_url="$owner_url" >/dev/null 2>&1 || pb_die "parkbase migrate failed"
admin_key="$(run "$bin/parkbase" admin bootstrap-key --database_url="$owner_url" | tr -d '[:space:]')"
[[ "$admin_key" == pbk.park.* ]] || pb_die "bootstrap-key printed '$admin_key'"
record_key "$admin_key"
api_port="$(pb_free_port)"
address="127.0.0.1:$api_port"

# ---- server processes --------------------------------------------------------------------------------------------
# Per process n: proc_metrics[n] (its metrics port: a fresh one each, so a killed server's port never delays the
# next), proc_scrape[n] (its counter at the last scrape), proc_exit[n], and its lifetime proc_t0[n]..proc_t1[n].
procs=0
declare -a proc_metrics proc_scrape proc_exit proc_t0 proc_t1

start_server() {
  procs=$((procs + 1))
  local n=$procs metrics i
  metrics="$(pb_free_port)"
  proc_metrics[n]="$metrics"
  proc_scrape[n]=0
  proc_t0[n]="$(pg_now_us)"
  # `env` itself, not run(): a function in the background is a subshell, and $! would not be the server.
  env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL -u PARKBASE_ADDRESS -u PARKBASE_KEY \
    "$bin/parkbase" serve --listen="$address" --metrics_listen="127.0.0.1:$metrics" --http_listen= \
    --database_url="$service_url" --redis_url="$PB_REDIS_URL" --park_code=1 --drain_seconds="$drain_seconds" \
    --page_token_secret="$page_secret" --telemetry_compaction_interval_ms="$compaction_ms" \
    </dev/null >"$work/server$n.log" 2>&1 &
  server_pid=$!
  for ((i = 0; i < 300; i++)); do
    kill -0 "$server_pid" 2>/dev/null || pb_die "server $n exited during start-up (its log follows)"
    if pb_grpc_health_check "$address"; then
      note "server $n (pid $server_pid) serving on $address, metrics on $metrics"
      return 0
    fi
    sleep 0.2
  done
  pb_die "server $n did not report SERVING within 60 s"
}

# scrape N: the tenant's parkbase_points_ingested_total of server N now (0 before its first point); fails when the
# endpoint does not answer (the process is gone).
scrape() {
  local text
  text="$(curl -fsS --max-time 2 "http://127.0.0.1:${proc_metrics[$1]}/metrics" 2>/dev/null)" || return 1
  awk -v name="parkbase_points_ingested_total{tenant=\"$tenant\"}" \
    '$1 == name { value = $2 } END { printf "%.0f\n", value + 0 }' <<<"$text"
}
record_scrape() {
  local value
  value="$(scrape "$1")" || return 1
  proc_scrape[$1]="$value"
}

# After SIGTERM: scrapes the current server until it is gone (so its last scrape follows its last commit once nothing
# feeds it any more), then reaps it; a graceful exit is status 0 within the drain and a margin.
scrape_until_exit() {
  local n=$procs code=0 i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$server_pid" 2>/dev/null || break
    record_scrape "$n" || true
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    fail "server $n still running 30 s after SIGTERM (drain is ${drain_seconds}s); killing it"
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" || code=$?
  proc_t1[n]="$(pg_now_us)"
  if ((code == 0)); then
    proc_exit[n]=graceful
  else
    proc_exit[n]="status-$code"
    fail "server $n exited with status $code after SIGTERM"
  fi
  server_pid=""
}

sigterm_server() {
  record_scrape "$procs" || fail "server $procs: /metrics did not answer before SIGTERM"
  kill -TERM "$server_pid"
}

kill_server() {
  kill -KILL "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  proc_exit[procs]=killed
  proc_t1[procs]="$(pg_now_us)"
  server_pid=""
}

start_server

# ---- tenant, key, device type, device ----------------------------------------------------------------------------
run "$bin/parkbase" tenant create "$tenant" --display_name="Fault tests" --plan=enterprise \
  --address="$address" --key="$admin_key" >/dev/null
tenant_key="$(run "$bin/parkbase" key create "$tenant" --display_name=fault-client --role=tenant_admin \
  --output=json --address="$address" --key="$admin_key" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')"
record_key "$tenant_key"
call() { grpcurl -plaintext -max-time 10 -H "authorization: Bearer $tenant_key" -d "$2" "$address" "$1"; }
call parkbase.device.v1.DeviceService/CreateDeviceType "{\"parent\":\"tenants/$tenant\",\"device_type_id\":\"press\",
  \"device_type\":{\"display_name\":\"Press\",
  \"metrics\":[{\"name\":\"$metric\",\"value_type\":\"VALUE_TYPE_DOUBLE\"}]}}" >/dev/null
call parkbase.device.v1.DeviceService/CreateDevice "{\"parent\":\"tenants/$tenant\",
  \"device\":{\"device_id\":\"$device\",\"device_type_id\":\"press\",\"serial_number\":\"SN-1\"}}" >/dev/null
pb_log "setup took $((SECONDS - started))s"

# ---- the client --------------------------------------------------------------------------------------------------
progress="$work/progress"
gate="$work/verify-gate"
"$client_bin" --address="$address" --key="$tenant_key" --tenant="$tenant" --device="$device" --metric="$metric" \
  --batches="$batches" --points_per_batch="$points" --start_ms="$start_ms" --writer_id="fault-client-$scenario" \
  --scenario="$scenario" --report="$work/report" --progress_file="$progress" --verify_gate="$gate" \
  --pace_ms="$pace_ms" --deadline_seconds="$client_deadline" >"$work/client.out" 2>"$work/client.log" &
client_pid=$!

client_field() { # client_field NAME: a field of the progress file (empty before its first write)
  sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" "$progress" 2>/dev/null || true
}
client_acked() {
  local acked
  acked="$(client_field acked)"
  echo "${acked:-0}"
}
acked_at_least() { (($(client_acked) >= $1)); }
client_written() { [[ -n "$(client_field phase)" && "$(client_field phase)" != writing ]]; }
client_running() { kill -0 "$client_pid" 2>/dev/null; }
# The fault must strike while the client is still writing, or the scenario tests nothing.
wait_for_fault_point() {
  wait_until 60 "fault_client to have $fault_at batches acknowledged" acked_at_least "$fault_at"
  client_running || pb_die "fault_client exited before the fault"
  [[ "$(client_field phase)" == writing ]] ||
    pb_die "fault_client finished writing before the fault: the workload is too small"
}

fault_note=""
case "$scenario" in
  postgres-kill9)
    wait_for_fault_point
    pg_pid="$(head -n 1 "$PB_PG_DIR/data/postmaster.pid")"
    # The backends notice their postmaster's death and exit; a new postmaster cannot start while they hold the old
    # one's shared memory, so wait for them.
    mapfile -t pg_children < <(ps -o pid= --ppid "$pg_pid" | tr -d ' ')
    at="$(client_acked)"
    kill -KILL "$pg_pid"
    note "killed PostgreSQL's postmaster (pid $pg_pid) with $at batches acknowledged"
    pb_wait_pid_gone "$pg_pid" 10 || pb_die "the postmaster survived kill -9"
    for child in "${pg_children[@]}"; do
      if ! pb_wait_pid_gone "$child" 10; then
        note "PostgreSQL backend $child outlived its postmaster by 10 s; killing it"
        kill -KILL "$child" 2>/dev/null || true
      fi
    done
    note "PostgreSQL's processes are gone"
    sleep 2 # the outage the client must ride out
    at_restart="$(client_acked)"
    pg_started=0
    for attempt in 1 2 3 4 5; do
      if pb_as_pg_user "$PB_PG_BIN/pg_ctl" -D "$PB_PG_DIR/data" -l "$PB_PG_DIR/postgres.log" -w -t 60 start \
        >/dev/null 2>&1; then
        pg_started=1
        break
      fi
      note "PostgreSQL did not restart (attempt $attempt)"
      sleep 1
    done
    ((pg_started)) || pb_die "PostgreSQL did not restart after kill -9"
    note "PostgreSQL restarted on port $PB_PG_PORT (recovered from its WAL)"
    fault_note="acked_at_kill=$at acked_at_restart=$at_restart"
    ;;
  redis-restart)
    wait_for_fault_point
    at="$(client_acked)"
    kill -TERM "$PB_REDIS_PID"
    pb_wait_pid_gone "$PB_REDIS_PID" 10 || pb_die "Redis did not stop"
    at_down="$(client_acked)"
    note "stopped Redis (SIGTERM at $at batches acknowledged, gone at $at_down)"
    # The outage: 2 s, cut short so that Redis comes back while the client still writes (writes go on meanwhile:
    # the quota fails open, latest values and the live feed are best effort).
    outage_end=$(($(date +%s%3N) + 2000))
    outage_over() { (($(client_acked) >= batches - 40 || $(date +%s%3N) >= outage_end)); }
    wait_until 10 "the Redis outage to end" outage_over
    at_restart="$(client_acked)"
    # As pb_start_redis starts it, on the same port.
    rm -f "$PB_REDIS_DIR/redis.pid"
    redis-server --bind 127.0.0.1 --port "$PB_REDIS_PORT" --save '' --appendonly no --dir "$PB_REDIS_DIR" \
      --databases 4096 --daemonize yes --pidfile "$PB_REDIS_DIR/redis.pid" --logfile "$PB_REDIS_DIR/redis.log" \
      --protected-mode yes </dev/null >/dev/null
    redis_up() {
      [[ "$(redis-cli -h 127.0.0.1 -p "$PB_REDIS_PORT" ping 2>/dev/null)" == PONG && -s "$PB_REDIS_DIR/redis.pid" ]]
    }
    wait_until 10 "Redis to restart on port $PB_REDIS_PORT" redis_up
    PB_REDIS_PID="$(cat "$PB_REDIS_DIR/redis.pid")"
    note "Redis restarted on port $PB_REDIS_PORT"
    fault_note="acked_at_stop=$at acked_when_down=$at_down acked_at_restart=$at_restart"
    ;;
  server-sigterm)
    wait_for_fault_point
    at="$(client_acked)"
    sigterm_server
    note "SIGTERM to server $procs with $at batches acknowledged"
    # The draining server still commits what the stream brings. Then the client is paused (SIGSTOP) so that the
    # server's last scrape follows its last commit: after the pause it still commits at most the client's few
    # batches in flight, at once, while its drain lasts seconds more.
    drain_progress() { (($(client_acked) >= at + 3)) || ! kill -0 "$server_pid" 2>/dev/null; }
    wait_until 20 "the draining server to answer more batches" drain_progress
    kill -STOP "$client_pid"
    at_pause="$(client_acked)"
    # Had the server exited before the pause, its last scrape could precede commits of its drain.
    kill -0 "$server_pid" 2>/dev/null ||
      pb_die "server $procs exited within its ${drain_seconds}s drain before the client was paused; lengthen the drain"
    scrape_until_exit
    note "server $procs drained and exited; resuming the client and starting server $((procs + 1))"
    kill -CONT "$client_pid"
    start_server
    fault_note="acked_at_sigterm=$at acked_at_pause=$at_pause"
    ;;
  server-kill9-compaction)
    # A compaction pass holds the tenant's advisory lock for its whole transaction: kill the server inside one. One
    # query a poll and the kill right after it, so the pass is caught in its middle as often as can be.
    compaction_state() { # prints "<advisory locks held> <ingest log rows>"
      sql "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted) || ' ' ||
                  (SELECT count(*) FROM telemetry_ingest_log WHERE tenant_id = '$tenant')"
    }
    # The counter is scraped beside the poll, every 0.1 s, so the poll stays fast; the last scrape before the kill
    # is the killed process's count.
    (
      while true; do
        if value="$(scrape "$procs")"; then
          echo "$value" >"$work/scrape.tmp" && mv "$work/scrape.tmp" "$work/scrape"
        fi
        sleep 0.1
      done
    ) &
    scraper_pid=$!
    caught=0
    for ((i = 0; i < 3000; i++)); do
      read -r locks rows_at_kill <<<"$(compaction_state)"
      if ((locks > 0)); then
        kill -STOP "$scraper_pid"
        kill_server
        caught=1
        break
      fi
      if client_written && ((rows_at_kill == 0)); then break; fi
    done
    kill -KILL "$scraper_pid" 2>/dev/null || true
    kill -CONT "$scraper_pid" 2>/dev/null || true
    wait "$scraper_pid" 2>/dev/null || true
    scraper_pid=""
    [[ -s "$work/scrape" ]] && proc_scrape[procs]="$(cat "$work/scrape")"
    ((caught)) || pb_die "no compaction pass was seen while the client wrote ($batches x $points points)"
    at="$(client_acked)"
    note "killed server $procs (kill -9) inside a compaction pass:" \
      "$rows_at_kill ingest log rows, $at batches acknowledged"
    # PostgreSQL rolls the pass back when it reads the end of the dead server's connection, unless the COMMIT was
    # already sent: either way all of the pass or none of it, which the checks after compaction verify.
    sessions_gone() { [[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" == 0 ]]; }
    wait_until 60 "PostgreSQL to end the killed server's sessions" sessions_gone
    rows_after_kill="$(log_rows)"
    pass="rolled-back"
    ((rows_after_kill >= rows_at_kill)) || pass="committed-at-kill"
    start_server
    fault_note="acked_at_kill=$at log_rows_at_kill=$rows_at_kill log_rows_after_kill=$rows_after_kill pass=$pass"
    ;;
esac

# ---- the client finishes writing, compaction empties the log, the client reads back ------------------------------
written_or_gone() { client_written || ! client_running; }
wait_until $((client_deadline + 30)) "fault_client to finish writing" written_or_gone
log_empty() { [[ "$(log_rows)" == 0 ]]; }
if client_running; then
  wait_until 120 "the compactor to empty the ingest log" log_empty
  touch "$gate"
fi
client_gone() { ! client_running; }
wait_until $((client_deadline + 30)) "fault_client to read back and exit" client_gone
client_code=0
wait "$client_pid" || client_code=$?
client_pid=""
((client_code == 0)) || fail "fault_client exited $client_code"
[[ -s "$work/report" ]] || pb_die "fault_client wrote no report"
report="$(cat "$work/report")"
sed 's/^/  client: /' "$work/client.log" >&2
report_field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$report"; }
attempted="$(report_field attempted)"
acknowledged="$(report_field acknowledged)"
stored="$(report_field stored)"
lost="$(report_field lost)"
duplicated="$(report_field duplicated)"
unexpected="$(report_field unexpected)"
recovered="$(report_field recovered)"
acked_batches="$(report_field acked_batches)"
[[ "$(report_field verdict)" == PASS ]] || fail "fault_client's verdict is FAIL"
((lost == 0)) || fail "lost=$lost"
((duplicated == 0)) || fail "duplicated=$duplicated"
((unexpected == 0)) || fail "unexpected=$unexpected"
((acked_batches == batches)) || fail "$acked_batches of $batches batches acknowledged"
((stored == acknowledged)) || fail "stored=$stored but acknowledged=$acknowledged"

# The latest value is the last point sent, whatever Redis went through (rebuilt from PostgreSQL when lost).
latest="$(call parkbase.telemetry.v1.TelemetryService/GetLatest \
  "{\"parent\":\"tenants/$tenant\",\"devices\":[\"$device\"],\"metrics\":[\"$metric\"]}" 2>&1)" ||
  fail "GetLatest: $latest"
last_k=$((batches * points - 1))
latest_problem="$(python3 -c 'import datetime, json, sys
want_ms, want_value = int(sys.argv[1]), 1000 + int(sys.argv[2]) / 8
values = json.loads(sys.argv[3]).get("values", [])
if len(values) != 1:
    sys.exit("GetLatest answered %d values: %s" % (len(values), sys.argv[3]))
time = datetime.datetime.fromisoformat(values[0]["time"].replace("Z", "+00:00"))
ms = round(time.timestamp() * 1000)
value = values[0]["value"].get("double_value", values[0]["value"].get("doubleValue"))
if ms != want_ms or value != want_value:
    sys.exit("GetLatest answered %s at %d ms, want %s at %d ms" % (value, ms, want_value, want_ms))' \
  "$((start_ms + last_k))" "$last_k" "$latest" 2>&1)" ||
  fail "${latest_problem:-an unreadable GetLatest answer: $latest}"

# ---- the last server stops gracefully; counters against PostgreSQL -----------------------------------------------
sigterm_server
scrape_until_exit

rows_left="$(log_rows)"
pg_batches="$(sql "SELECT count(*) FROM telemetry_batches WHERE tenant_id = '$tenant'")"
pg_distinct="$(sql "SELECT count(DISTINCT batch_id) FROM telemetry_batches WHERE tenant_id = '$tenant'")"
# The device is alone in its chunk group, so the group's chunks hold exactly its points.
chunk_points="$(sql "SELECT coalesce(sum(point_count), 0) FROM telemetry_chunks WHERE tenant_id = '$tenant'
  AND group_id IN (SELECT group_id FROM telemetry_group_members
                   WHERE tenant_id = '$tenant' AND device_id = '$device')")"
((rows_left == 0)) || fail "$rows_left ingest log rows left after compaction"
((pg_distinct == acked_batches)) ||
  fail "telemetry_batches holds $pg_distinct distinct batch ids, $acked_batches acknowledged"
((pg_batches == pg_distinct)) || fail "telemetry_batches holds $pg_batches rows for $pg_distinct batch ids"
((chunk_points == acknowledged)) || fail "the device's chunks hold $chunk_points points, $acknowledged acknowledged"

ingested_sum=0
committed_sum=0
for ((n = 1; n <= procs; n++)); do
  committed_batches="$(sql "SELECT count(*) FROM telemetry_batches WHERE tenant_id = '$tenant'
    AND (extract(epoch FROM commit_time) * 1000000)::int8 BETWEEN ${proc_t0[n]} AND ${proc_t1[n]}")"
  committed=$((committed_batches * points))
  echo "server_process=$n ingested=${proc_scrape[n]} exit=${proc_exit[n]} committed=$committed"
  ingested_sum=$((ingested_sum + proc_scrape[n]))
  committed_sum=$((committed_sum + committed))
  if [[ "${proc_exit[n]}" == graceful ]]; then
    ((proc_scrape[n] == committed)) ||
      fail "server process $n ended gracefully with ingested=${proc_scrape[n]}, but $committed points were committed" \
        "while it ran ($(report_field answer_lost_batches) batches were committed without their first answer reaching" \
        "the client; one whose commit the server answered 'outcome unknown' is counted by no process)"
  else
    ((proc_scrape[n] <= committed)) ||
      fail "server process $n: ingested=${proc_scrape[n]} at its last scrape, more than the $committed points" \
        "committed while it ran"
  fi
done
((committed_sum == pg_batches * points)) ||
  fail "the server processes' lifetimes hold $committed_sum committed points of $((pg_batches * points))"
((ingested_sum <= stored)) || fail "the servers counted $ingested_sum points ingested, more than the $stored stored"

verdict=PASS
((${#failures[@]} == 0)) || verdict=FAIL
echo "$fault_note"
echo "faults $scenario: attempted=$attempted acknowledged=$acknowledged stored=$stored lost=$lost" \
  "duplicated=$duplicated unexpected=$unexpected recovered=$recovered batch_ids=$pg_distinct" \
  "chunk_points=$chunk_points log_rows=$rows_left server_processes=$procs ingested_sum=$ingested_sum" \
  "seconds=$((SECONDS - started)) $verdict"
if [[ "$verdict" == FAIL ]]; then
  printf '  %s\n' "${failures[@]}"
  echo "  client: $report"
  exit 1
fi
