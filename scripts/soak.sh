#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Soak test of the all-in-one server (docs/soak.md): builds, starts a throwaway PostgreSQL and Redis and
# `parkbase serve`, creates two tenants (one STANDARD, one FREE) with a device type and devices, then runs for N
# seconds a fixed-rate mix below every quota: ingest (Write), WriteStream and Subscribe streams and registry churn
# (CreateDevice, a first Write, UpdateDevice, SetDeviceAttributes, DeleteDevice) from tests/soak/soak_load.cc, and
# ghz on GetLatest, ReadRange, Aggregate, GetDevice, ListDevices and ResolveIdentifier. It samples the server's RSS,
# threads and open files every 5 s and prints throughput, p50/p99 and status codes per RPC and the resources over
# time. Then a LeakSanitizer build of the server takes a shorter slice of the same load, is stopped with SIGTERM and
# must report no leak.
#
#   scripts/soak.sh                     300 s (or PARKBASE_SOAK_SECONDS)
#   scripts/soak.sh --seconds 3600      an hour
#   scripts/soak.sh --build-dir DIR     the normal build's folder (default build-soak/)
#   scripts/soak.sh --lsan-build-dir D  the LeakSanitizer build's folder (default build-lsan/)
#   scripts/soak.sh --lsan-seconds S    length of the LeakSanitizer phase (default: N/5, at most 20 s)
#   scripts/soak.sh --no-lsan           skip the LeakSanitizer phase
#   scripts/soak.sh --keep              keep the logs, samples and results (printed folder) instead of deleting them
#
# Fails (exit 1) when any call answers other than OK, when RSS does not level off after the warm-up (runs >= 600 s:
# least-squares slope > 50 MB/h; shorter runs: growth > 32 MB), when threads or open files keep growing, when the
# server does not stop cleanly on SIGTERM, or when LeakSanitizer reports a leak. At least 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
source scripts/lib.sh
# Our own PostgreSQL and Redis even when a parent script (test.sh) exported its own: nothing else may share the
# soak's database, Redis or CPU-hungry leftovers.
unset PB_PG_DIR PB_PG_PORT PB_PG_ADMIN_URL PB_PG_OWNER PB_REDIS_PID PB_REDIS_PORT PB_REDIS_URL PB_REDIS_DIR \
  PB_REDIS_OWNER

seconds="${PARKBASE_SOAK_SECONDS:-0}"
[[ "$seconds" == 0 ]] && seconds=300
build_dir="$PB_ROOT/build-soak"
lsan_build_dir="$PB_ROOT/build-lsan"
run_lsan=1
keep=0
lsan_seconds=""
while (($#)); do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift ;;
    --seconds=*) seconds="${1#*=}" ;;
    --build-dir) build_dir="${2:?--build-dir needs a folder}"; shift ;;
    --build-dir=*) build_dir="${1#*=}" ;;
    --lsan-build-dir) lsan_build_dir="${2:?--lsan-build-dir needs a folder}"; shift ;;
    --lsan-build-dir=*) lsan_build_dir="${1#*=}" ;;
    --lsan-seconds) lsan_seconds="${2:?--lsan-seconds needs a number}"; shift ;;
    --lsan-seconds=*) lsan_seconds="${1#*=}" ;;
    --no-lsan) run_lsan=0 ;;
    --keep) keep=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    *) pb_die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
[[ "$seconds" =~ ^[0-9]+$ ]] || pb_die "--seconds: must be a whole number, got '$seconds'"
# Below a minute the 30 s warm-up leaves too few samples to say anything about memory.
((seconds >= 60)) || pb_die "--seconds: at least 60 (a soak needs a 30 s warm-up and time after it), got $seconds"
[[ "$build_dir" == /* ]] || build_dir="$PWD/$build_dir"
[[ "$lsan_build_dir" == /* ]] || lsan_build_dir="$PWD/$lsan_build_dir"

# --- The load. Fixed rates, chosen so every tenant stays far below its quotas (plans in tenant.proto) and the
# whole mix fits beside PostgreSQL on a 2-core machine with room to spare: errors must come from defects, never
# from overload. Rates are per second.
tenants=(soak-std soak-free)   # PLAN_STANDARD (100,000 points/s, 10,000 devices), PLAN_FREE (1,000/s, 100 devices)
plans=(standard free)
quota_pps=(100000 1000)
devices=(40 20)                # stable devices dev-000.. of type `meter`
write_rps=(10 4)               # unary Write batches
write_devices=(8 5)            # devices a Write batch, 3 points each
streams=(2 1)                  # WriteStream streams held open (reopened every stream_seconds)
stream_devices=(8 8)           # devices a stream batch, 2 series x stream_samples points each
registry_rps=(5 2)             # CreateDevice / Write (its first point) / UpdateDevice / SetDeviceAttributes /
                               # DeleteDevice, in turn
stream_batches_per_second=5
stream_samples=5
stream_seconds=30
# ghz, calls alternating between the tenants: RPC, rps, concurrency.
ghz_rpcs=(GetLatest ReadRange Aggregate GetDevice ListDevices ResolveIdentifier)
declare -A ghz_rps=([GetLatest]=20 [ReadRange]=10 [Aggregate]=5 [GetDevice]=20 [ListDevices]=5 [ResolveIdentifier]=10)
declare -A ghz_service=([GetLatest]=telemetry.v1.TelemetryService [ReadRange]=telemetry.v1.TelemetryService
  [Aggregate]=telemetry.v1.TelemetryService [GetDevice]=device.v1.DeviceService
  [ListDevices]=device.v1.DeviceService [ResolveIdentifier]=device.v1.DeviceService)
ghz_concurrency=4
load_rpcs="Write,Write.new_device,WriteStream,WriteStream.stream,Subscribe,Subscribe.stream"
load_rpcs+=",CreateDevice,UpdateDevice,SetDeviceAttributes,DeleteDevice"

warmup=$((seconds / 5))
((warmup >= 30)) || warmup=30
sample_every=5
table_every=$((seconds / 60))
((table_every >= sample_every)) || table_every=$sample_every
if [[ -z "$lsan_seconds" ]]; then
  # At most 20 s: LeakSanitizer's runtime (clang 16's as gcc 12's) crashes unwinding an allocation once the process
  # has created about 500 threads, and gRPC's synchronous server starts and ends threads as its load varies (about
  # that many in 30 to 60 s of this mix). 20 s stays well below; a leak planted in the Write path is found in 20 s.
  lsan_seconds=$((seconds / 5))
  ((lsan_seconds <= 20)) || lsan_seconds=20
fi
if ! [[ "$lsan_seconds" =~ ^[0-9]+$ ]] || ((lsan_seconds < 10)); then
  pb_die "--lsan-seconds: a whole number of at least 10, got '$lsan_seconds'"
fi
drain_seconds=5

pb_install_packages
pb_install_go_tools ghz grpcurl
pb_go_path
pb_build "$build_dir"
bin="$PB_BUILD_DIR/bin"
[[ -x "$bin/soak_load" ]] || pb_die "$bin/soak_load was not built"

# LeakSanitizer build of the server alone, with clang 16's stand-alone LSan (-fsanitize=leak: no ASan slow-down,
# so the server meets the same load) and frame pointers for whole stacks. Not gcc 12's: its LSan either sees no
# leak at all (allocation stacks of one frame) or crashes unwinding once gRPC has made a few hundred threads.
lsan_bin=""
if ((run_lsan)); then
  pb_log "configuring $lsan_build_dir (clang 16, LeakSanitizer)"
  pb_configure_clang16 "$lsan_build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARKBASE_BUILD_TESTS=OFF \
    "-DCMAKE_CXX_FLAGS=-fsanitize=leak -fno-omit-frame-pointer" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=leak"
  pb_log "building parkbase in $lsan_build_dir"
  cmake --build "$lsan_build_dir" --target parkbase -j"$(nproc)" || pb_die "LeakSanitizer build failed"
  lsan_bin="$lsan_build_dir/bin/parkbase"
  # grep -c reads all of nm's output (grep -q would stop early and fail the pipe under pipefail).
  nm "$lsan_bin" 2>/dev/null | grep -c __lsan_do_leak_check >/dev/null ||
    pb_die "$lsan_bin is not built with LeakSanitizer (no __lsan_do_leak_check)"
fi

pb_cleanup_on_exit
work="$(mktemp -d "${TMPDIR:-/tmp}/parkbase-soak.XXXXXX")"
if ((keep)); then
  trap 'pb_stop_all; pb_log "logs and results kept in $work"' EXIT
else
  trap 'pb_stop_all; rm -rf "$work"' EXIT
fi
pb_start_postgres
pb_start_redis
pb_create_database parkbase_soak
admin_url="postgresql://postgres@127.0.0.1:$PB_PG_PORT/parkbase_soak"
service_url="postgresql://parkbase_service@127.0.0.1:$PB_PG_PORT/parkbase_soak"
redis_url="$PB_REDIS_URL/1"

"$bin/parkbase" migrate --database_url="$admin_url" >"$work/migrate.log" 2>&1 || {
  cat "$work/migrate.log" >&2
  pb_die "parkbase migrate failed"
}
admin_key="$("$bin/parkbase" admin bootstrap-key --database_url="$admin_url" | tr -d '[:space:]')"
[[ "$admin_key" == pbk.* ]] || pb_die "parkbase admin bootstrap-key printed no key"

server_pid=""
address=""
# start_server BINARY LOG [VAR=VALUE...]: starts `serve` on free ports, waits until SERVING, sets server_pid/address.
start_server() {
  local binary="$1" log="$2" port metrics i
  shift 2
  port="$(pb_free_port)"
  metrics="$(pb_free_port)"
  address="127.0.0.1:$port"
  env "$@" "$binary" serve --listen="$address" --metrics_listen="127.0.0.1:$metrics" --http_listen= \
    --database_url="$service_url" --redis_url="$redis_url" --drain_seconds="$drain_seconds" \
    </dev/null >"$log" 2>&1 &
  server_pid=$!
  pb_track_pid "$server_pid"
  for i in $(seq 1 300); do
    kill -0 "$server_pid" 2>/dev/null || { tail -n 30 "$log" >&2; pb_die "parkbase serve exited during start-up"; }
    pb_grpc_health_check "$address" && return 0
    ((i < 300)) && sleep 0.2
  done
  tail -n 30 "$log" >&2
  pb_die "parkbase serve did not report SERVING within 60 s"
}

# stop_server: SIGTERM, then the server must drain and exit 0 within drain_seconds + 20 s. Sets stop_rc and
# stop_seconds; returns 1 when it had to be killed.
stop_server() {
  local started=$SECONDS
  kill -TERM "$server_pid" 2>/dev/null || true
  if ! pb_wait_pid_gone "$server_pid" $((drain_seconds + 20)); then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    stop_rc=killed
    stop_seconds=$((SECONDS - started))
    return 1
  fi
  stop_rc=0
  wait "$server_pid" || stop_rc=$?
  stop_seconds=$((SECONDS - started))
  return 0
}

cli() { "$bin/parkbase" --address="$address" --key="$admin_key" --timeout_seconds=30 "$@"; }
call() { # call KEY METHOD JSON: one grpcurl call, JSON on stdin when JSON is @
  grpcurl -plaintext -max-time 60 -H "authorization: Bearer $1" -d "$3" "$address" "parkbase.$2"
}
join() { local IFS=,; echo "$*"; }
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

pb_log "starting parkbase serve for the set-up and the soak"
start_server "$bin/parkbase" "$work/server.log"

# --- Tenants, keys, the device type and the stable devices.
declare -a keys codes
for i in "${!tenants[@]}"; do
  t="${tenants[$i]}"
  out="$(cli tenant create "$t" --display_name="Soak $t" --plan="${plans[$i]}" --output=json)" ||
    pb_die "tenant create $t failed"
  codes[i]="$(json_field code <<<"$out")"
  got="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["quota"]["max_ingest_points_per_second"])' <<<"$out")"
  [[ "$got" == "${quota_pps[$i]}" ]] ||
    pb_die "tenant $t: quota is $got points/s, the soak's rates assume ${quota_pps[$i]}"
  keys[i]="$(cli key create "$t" --display_name=soak --role=developer --output=json | json_field secret)" ||
    pb_die "key create $t failed"
  call "${keys[$i]}" device.v1.DeviceService/CreateDeviceType "{\"parent\":\"tenants/$t\",\"device_type_id\":\"meter\",
    \"device_type\":{\"display_name\":\"Meter\",\"vendor\":\"Soak\",\"model\":\"M1\",\"metrics\":[
    {\"name\":\"temp\",\"unit\":\"Cel\",\"value_type\":\"VALUE_TYPE_DOUBLE\",\"min\":-50,\"max\":150},
    {\"name\":\"count\",\"value_type\":\"VALUE_TYPE_INT64\",\"min\":0},
    {\"name\":\"ok\",\"value_type\":\"VALUE_TYPE_BOOL\"}]}}" >/dev/null || pb_die "CreateDeviceType in $t failed"
  out="$(python3 - "$t" "${devices[$i]}" <<'PY' | call "${keys[$i]}" device.v1.DeviceService/ImportDevices @
import json, sys
tenant, n = sys.argv[1], int(sys.argv[2])
print(json.dumps({"parent": f"tenants/{tenant}", "devices": [
    {"device_id": f"dev-{d:03d}", "device_type_id": "meter", "serial_number": f"SN-{d:03d}",
     "labels": {"line": str(d % 4)}, "attributes": {"fw": {"string_value": "1.0"}},
     "public_attribute_keys": ["fw"]} for d in range(n)]}))
PY
  )" || pb_die "ImportDevices in $t failed"
  [[ "$(json_field created_count <<<"$out")" == "${devices[$i]}" ]] || pb_die "ImportDevices in $t: $out"
done

# --- ghz request data: per RPC an array of requests, the tenants' in turn (ghz sends element i % length as its
# i-th request), and metadata that ghz's template engine evaluates per request to the key of request i's tenant.
t0="$(date -u +%s)"
python3 - "$work" "$t0" "$seconds" "$(join "${tenants[@]}")" "$(join "${keys[@]}")" "$(join "${devices[@]}")" \
  "$(join "${codes[@]}")" <<'PY' || pb_die "cannot write ghz's request data"
import datetime, json, sys
work, t0, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tenants, keys, counts, codes = (v.split(",") for v in sys.argv[4:8])
def ts(s):
    return datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
dev = lambda d: f"dev-{d:03d}"
# Reads span the whole run and a margin on each side, so their answers grow with the data written so far: a query
# whose cost grows with the data is part of what the soak exercises.
start, end = ts(t0 - 600), ts(t0 + seconds + 600)
def requests(tenant, n, code):
    parent = f"tenants/{tenant}"
    half = n // 2
    return {
        # 10 devices a call, from the unary writers' half and the streamed half.
        "GetLatest": [{"parent": parent, "devices": [dev(d) for d in range(o, min(n, o + 10))]}
                      for o in range(0, n, 10)],
        # One device's temperatures, the first page of 100.
        "ReadRange": [{"parent": parent, "device": dev(d), "metrics": ["temp"], "start_time": start,
                       "end_time": end, "page_size": 100} for d in range(0, n, 3)],
        # 1-minute buckets (rollups) over the streamed devices, and 10-second buckets (raw points) of one device.
        "Aggregate": [{"parent": parent, "devices": [dev(d) for d in range(half, min(n, half + 10))],
                       "metric": "temp", "start_time": start, "end_time": end, "bucket": "60s"},
                      {"parent": parent, "devices": [dev(half)], "metric": "count", "start_time": start,
                       "end_time": end, "bucket": "10s", "per_device": True}],
        "GetDevice": [{"name": f"{parent}/devices/{dev(d)}"} for d in range(n)],
        "ListDevices": [{"parent": parent, "page_size": 50},
                        {"parent": parent, "page_size": 20, "filter": "device_type = meter AND labels.line = 2"}],
        "ResolveIdentifier": [{"identifier": f"88.1.{code}/SN-{d:03d}"} for d in range(n)],
    }
per_tenant = [requests(t, int(n), c) for t, n, c in zip(tenants, counts, codes)]
for rpc in per_tenant[0]:
    longest = max(len(r[rpc]) for r in per_tenant)
    data = [r[rpc][i % len(r[rpc])] for i in range(longest) for r in per_tenant]
    with open(f"{work}/{rpc}.json", "w") as f:
        json.dump(data, f)
# A template, not JSON yet: ghz runs it for every request, then parses the result.
bearers = " ".join(json.dumps(f"Bearer {key}") for key in keys)
with open(f"{work}/metadata.json", "w") as f:
    f.write('{"authorization": "{{index (list %s) (mod .RequestNumber %d)}}"}' % (bearers, len(keys)))
PY

# run_load SECONDS DIR RUN_ID: ghz on every read RPC and soak_load, all at once; waits for them all.
run_load() {
  local duration="$1" dir="$2" run_id="$3" rpc pids=() pid rc=0
  mkdir -p "$dir"
  for rpc in "${ghz_rpcs[@]}"; do
    ghz --insecure --call "parkbase.${ghz_service[$rpc]}/$rpc" -D "$work/$rpc.json" \
      -M "$work/metadata.json" --rps "${ghz_rps[$rpc]}" -c "$ghz_concurrency" \
      --connections 1 -z "${duration}s" -t 10s --duration-stop wait --format json -o "$dir/$rpc.json" \
      "$address" >"$dir/$rpc.log" 2>&1 &
    pids+=($!)
    pb_track_pid "$!"
  done
  "$bin/soak_load" --address="$address" --tenants="$(join "${tenants[@]}")" --keys="$(join "${keys[@]}")" \
    --devices="$(join "${devices[@]}")" --write_rps="$(join "${write_rps[@]}")" \
    --write_devices="$(join "${write_devices[@]}")" --streams="$(join "${streams[@]}")" \
    --stream_devices="$(join "${stream_devices[@]}")" --registry_rps="$(join "${registry_rps[@]}")" \
    --stream_batches_per_second="$stream_batches_per_second" --stream_samples="$stream_samples" \
    --stream_seconds="$stream_seconds" --duration_s="$duration" --run_id="$run_id" \
    --report="$dir/soak_load.json" >"$dir/soak_load.log" 2>&1 &
  pids+=($!)
  pb_track_pid "$!"
  for pid in "${pids[@]}"; do
    wait "$pid" || rc=1
  done
  return $rc
}

# sample PID OUT STOPFILE: appends `elapsed_s,rss_kb,threads,fds,cpu_ticks` every sample_every seconds until
# STOPFILE exists or PID is gone.
sample() {
  local pid="$1" out="$2" stop="$3" start now rss threads fds ticks next
  start="$(date +%s.%N)"
  next=0
  while [[ ! -e "$stop" ]] && [[ -r "/proc/$pid/status" ]]; do
    now="$(date +%s.%N)"
    rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")"
    threads="$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")"
    fds="$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
    # utime + stime: fields 14 and 15 of /proc/PID/stat (the command name, field 2, has no spaces here).
    ticks="$(awk '{ print $14 + $15 }' "/proc/$pid/stat")"
    if [[ -n "$rss" ]]; then
      echo "$(awk -v a="$now" -v b="$start" 'BEGIN { printf "%.1f", a - b }'),$rss,$threads,$fds,$ticks" >>"$out"
    fi
    next=$((next + sample_every))
    while [[ ! -e "$stop" ]] &&
      awk -v a="$(date +%s.%N)" -v b="$start" -v n="$next" 'BEGIN { exit !(a - b < n) }'; do
      sleep 0.2
    done
  done
}

failures=()
n_tenants=${#tenants[@]}
notes=(
  "Load: fixed rates for ${seconds} s; warm-up ${warmup} s (excluded from the trends); ${n_tenants} tenants"
)
for i in "${!tenants[@]}"; do
  # Write batches: 3 points a device; stream batches: 2 series a device; the device cycle's one point is left out.
  pps=$((write_rps[i] * write_devices[i] * 3 +
    streams[i] * stream_batches_per_second * stream_devices[i] * 2 * stream_samples))
  notes+=("  ${tenants[$i]} (${plans[$i]}): ingest $pps points/s of its ${quota_pps[$i]}/s quota \
($((100 * pps / quota_pps[i]))%), ${devices[$i]} devices (+1 churning), ${write_rps[$i]} Write/s, \
${streams[$i]} WriteStream x ${stream_batches_per_second} batches/s, 1 Subscribe, \
device cycle ${registry_rps[$i]} calls/s")
done
ghz_text="  ghz (both tenants in turn, developer keys): "
for rpc in "${ghz_rpcs[@]}"; do ghz_text+="$rpc ${ghz_rps[$rpc]}/s, "; done
notes+=("${ghz_text%, }; streams reopened every ${stream_seconds} s")

# --- The soak.
pb_log "soak: ${seconds} s of mixed load on $address (server pid $server_pid); report at the end"
samples="$work/samples.csv"
: >"$samples"
sample "$server_pid" "$samples" "$work/stop-sampling" &
sampler_pid=$!
pb_track_pid "$sampler_pid"
load_rc=0
run_load "$seconds" "$work/soak" soak || load_rc=$?
touch "$work/stop-sampling"
wait "$sampler_pid" || true
((load_rc == 0)) || failures+=("a load generator exited with an error (logs below)")

# Idle for a few seconds after the load: what the server holds when nobody calls.
sleep 10
idle_text="the server is gone"
if [[ -r "/proc/$server_pid/status" ]]; then
  idle_text="RSS $(($(awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status") / 1024)) MB, \
$(awk '/^Threads:/ { print $2 }' "/proc/$server_pid/status") threads, \
$(find "/proc/$server_pid/fd" -mindepth 1 -maxdepth 1 | wc -l) open files"
else
  failures+=("the server died during the soak (log below)")
fi

report_args=()
for rpc in "${ghz_rpcs[@]}"; do
  report_args+=(--ghz "$rpc=$work/soak/$rpc.json" --ghz-target "$rpc=${ghz_rps[$rpc]}")
done
for note in "${notes[@]}"; do report_args+=(--note "$note"); done
report_rc=0
python3 tests/soak/soak_report.py --title "Parkbase soak: ${seconds} s, $(nproc) cores, server pid $server_pid" \
  --samples "$samples" --seconds "$seconds" --warmup "$warmup" --table-every "$table_every" \
  --load "$work/soak/soak_load.json" --load-expect "$load_rpcs" --clk-tck "$(getconf CLK_TCK)" \
  "${report_args[@]}" || report_rc=$?
((report_rc == 0)) || failures+=("the soak's criteria (RESULT: FAIL above)")
echo "Idle 10 s after the load: $idle_text"

if stop_server; then
  echo "Graceful stop: SIGTERM -> exit $stop_rc in ${stop_seconds} s (drain ${drain_seconds} s)"
  [[ "$stop_rc" == 0 ]] || failures+=("the server exited $stop_rc after SIGTERM, want 0")
else
  echo "Graceful stop: FAILED, still running $((drain_seconds + 20)) s after SIGTERM (killed)"
  failures+=("the server did not stop within $((drain_seconds + 20)) s of SIGTERM")
fi
# log_summary LOG: lines by level, and each distinct warning or error message with its count. Fails on errors.
log_summary() {
  python3 - "$1" <<'PY'
import collections, json, sys
levels, messages = collections.Counter(), collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    try:
        entry = json.loads(line)
    except ValueError:
        levels["not JSON"] += 1
        continue
    levels[entry.get("level", "?")] += 1
    if entry.get("level") in ("WARN", "ERROR"):
        messages[(entry["level"], entry.get("msg", ""))] += 1
print("Server log: " + ", ".join(f"{n} {level}" for level, n in sorted(levels.items())))
for (level, msg), n in sorted(messages.items()):
    print(f"  {level}: {n} x {msg}")
sys.exit(1 if levels["ERROR"] else 0)
PY
}
log_summary "$work/server.log" || failures+=("the server logged errors (above)")

# --- LeakSanitizer: the same mix for a shorter time, then SIGTERM; LSan checks for leaks when the server exits.
# Allocation stacks are 2 frames deep (malloc_context_size=2) in the run that decides: cheap to record, and enough
# (with one frame the only frame is LSan's own operator new, and LSan reports nothing at all). When leaks are found,
# a second, short run with full stacks shows where they were allocated. A leak planted in the Write path was found
# by both runs (docs/soak.md).

# lsan_run SECONDS STACK_DEPTH DIR RUN_ID: starts the LSan build, runs the load, sends SIGTERM; sets lsan_verdict to
# clean, leaks, crashed (LSan's or the server's own), stuck or exit-N, and lsan_logs to LSan's report files.
lsan_run() {
  local duration="$1" depth="$2" dir="$3" run_id="$4" load_rc=0
  mkdir -p "$dir/lsan"
  start_server "$lsan_bin" "$dir/server.log" "LSAN_OPTIONS=log_path=$dir/lsan/report:exitcode=23:\
suppressions=$PB_ROOT/tests/soak/lsan.supp:print_suppressions=1:malloc_context_size=$depth"
  run_load "$duration" "$dir/load" "$run_id" || load_rc=$?
  lsan_load_rc=$load_rc
  if ! kill -0 "$server_pid" 2>/dev/null; then
    stop_rc=0
    wait "$server_pid" || stop_rc=$?
    lsan_verdict=crashed
  elif ! stop_server; then
    lsan_verdict=stuck
  fi
  shopt -s nullglob
  lsan_logs=("$dir"/lsan/report*)
  shopt -u nullglob
  if [[ "${lsan_verdict:-}" == crashed || "${lsan_verdict:-}" == stuck ]]; then
    return 0
  elif grep -qs "detected memory leaks" "${lsan_logs[@]}" /dev/null || [[ "$stop_rc" == 23 ]]; then
    lsan_verdict=leaks
  elif grep -qs "ERROR: LeakSanitizer" "${lsan_logs[@]}" /dev/null; then
    lsan_verdict=crashed
  elif [[ "$stop_rc" != 0 ]]; then
    lsan_verdict="exit-$stop_rc"
  else
    lsan_verdict=clean
  fi
}

if ((run_lsan)); then
  pb_log "LeakSanitizer: ${lsan_seconds} s of the same load on the LSan build, then SIGTERM"
  lsan_verdict=""
  lsan_run "$lsan_seconds" 2 "$work/lsan" lsan
  ((lsan_load_rc == 0)) || failures+=("a load generator exited with an error during the LeakSanitizer run")
  lsan_report_args=()
  for rpc in "${ghz_rpcs[@]}"; do lsan_report_args+=(--ghz "$rpc=$work/lsan/load/$rpc.json"); done
  python3 tests/soak/soak_report.py --title "LeakSanitizer build: ${lsan_seconds} s of the same load" \
    --seconds "$lsan_seconds" --warmup 0 --load "$work/lsan/load/soak_load.json" --load-expect "$load_rpcs" \
    "${lsan_report_args[@]}" || failures+=("calls failed during the LeakSanitizer run (above)")
  log_summary "$work/lsan/server.log" || failures+=("the LeakSanitizer build logged errors (above)")
  case "$lsan_verdict" in
    clean)
      echo "LeakSanitizer build: SIGTERM -> exit 0 in ${stop_seconds} s; LeakSanitizer: no leaks"
      if ((${#lsan_logs[@]})); then
        echo "LeakSanitizer: suppressions used (tests/soak/lsan.supp):"
        cat "${lsan_logs[@]}"
      fi
      ;;
    leaks)
      echo "LeakSanitizer: LEAKS (2-frame stacks; the full-stack run follows)"
      cat "${lsan_logs[@]}" /dev/null
      failures+=("LeakSanitizer reported leaks (above)")
      diagnose_seconds=$((lsan_seconds < 20 ? lsan_seconds : 20))
      pb_log "LeakSanitizer: ${diagnose_seconds} s again with full allocation stacks, to show where the leaks come from"
      lsan_verdict=""
      lsan_run "$diagnose_seconds" 30 "$work/lsan-stacks" lsan-stacks
      echo "LeakSanitizer, full stacks (${diagnose_seconds} s): $lsan_verdict"
      cat "${lsan_logs[@]}" /dev/null
      ;;
    crashed)
      echo "LeakSanitizer build: CRASHED before the leak check (exit $stop_rc); LSan's report and the server log:"
      head -n 40 "${lsan_logs[@]}" /dev/null
      tail -n 20 "$work/lsan/server.log"
      failures+=("the LeakSanitizer build crashed (above), so no leak check ran")
      ;;
    stuck)
      echo "LeakSanitizer build: still running $((drain_seconds + 20)) s after SIGTERM (killed; no leak check)"
      failures+=("the LeakSanitizer build did not stop on SIGTERM")
      ;;
    *)
      echo "LeakSanitizer build: $lsan_verdict after SIGTERM"
      tail -n 20 "$work/lsan/server.log"
      failures+=("the LeakSanitizer build ended with $lsan_verdict after SIGTERM, want exit 0")
      ;;
  esac
fi

if ((${#failures[@]})); then
  for log in "$work"/soak/*.log "$work"/lsan/load/*.log; do
    [[ -s "$log" ]] || continue
    echo "--- $log (last 10 lines)"
    tail -n 10 "$log"
  done
  echo "--- server log, last 20 lines"
  tail -n 20 "$work/server.log"
  echo
  echo "SOAK: FAIL"
  for f in "${failures[@]}"; do echo "  - $f"; done
  exit 1
fi
echo
echo "SOAK: PASS"
