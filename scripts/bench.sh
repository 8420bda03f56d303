#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2119 # pb_build takes an optional folder; none means the default
# Runs a Parkbase benchmark end to end on this machine: Debian packages, the build, a throwaway PostgreSQL and
# Redis, `parkbase serve`, and whatever the benchmark compares against; prints the figures; stops everything.
#
#   scripts/bench.sh ingest [burst]
#                              the telemetry ingest burst (docs/performance.md): the same 1M points into
#                              VictoriaMetrics (one connection), PostgreSQL COPY and Parkbase's gRPC API, Parkbase's
#                              bytes/point after compaction, GetLatest and Aggregate latencies.
#   scripts/bench.sh ingest sustained
#                              the sustained ingest run: 30M points (1,000 devices x 10 metrics x 3,000 timestamps)
#                              into VictoriaMetrics over as many connections as Parkbase has batches in flight (4) and
#                              into Parkbase, whose client resends batches refused by back-pressure after RetryInfo's
#                              delay; Parkbase's sustained rate (first send to an empty ingest log), peak backlog,
#                              resends and bytes/point after a plain VACUUM. About 2 minutes of benchmark on 2 cores.
#                              Both ingest modes end with the line
#                              `parkbase-ingest points/s=<acknowledged> sustained/s=<N> bytes/point=<B>`.
#   scripts/bench.sh marketplace
#                              catalogue search (docs/performance.md): seeds 10,000 published apps through the API,
#                              times SearchApps over a fixed query mix at 1 and 8 clients next to the store's own time
#                              and EXPLAIN ANALYZE of the slowest statements. Builds only `parkbase` and
#                              `marketplace_bench`. The last line reads `marketplace-search apps=<N> p99_ms=<P> ...`.
#   scripts/bench.sh subscribe live subscriptions (docs/performance.md): 100 tenants x 100 Subscribe streams (each
#                              following 10 devices) over 4 connections while 10,000 points/s are written; the server
#                              runs with the stream limits raised for 100 subscribers per tenant (--max_streams_per_key
#                              and --max_streams_per_tenant 128, --max_streams 12000). Each tenant writes a batch of
#                              100 points a second, sent on schedule whatever earlier writes wait for. Prints streams
#                              established, server RSS per idle stream, the rate written, commit-to-receipt latency,
#                              points delivered vs expected, server and client CPU, then the server's delay by stage
#                              (feed, fanout, write). Builds only `parkbase` and `subscribe_bench`. The benchmark's
#                              last line reads
#                              `subscribe streams=<N> bytes_per_idle_stream=<B> p99_ms=<P> delivered=<D> expected=<E>`.
#
# Environment: PARKBASE_BUILD_DIR (build folder, default build/), PB_BENCH_ARGS (extra flags of the benchmark
# program, e.g. "--in_flight=2" for ingest, "--apps=2000 --clients=1,4" for marketplace),
# PB_BENCH_COMPACTION_INTERVAL_MS (the server's --telemetry_compaction_interval_ms; default: the server's own
# default), PB_BENCH_BACKLOG_MAX_POINTS (the server's --telemetry_backlog_max_points; default: the server's own
# default), PB_BENCH_NO_VM=1 (ingest: skip VictoriaMetrics).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
source scripts/lib.sh

usage() { sed -n '2,/^set -euo/{/^set -euo/d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"; }

case "${1:-}" in
  ingest | marketplace | subscribe) ;;
  -h | --help)
    usage
    exit 0
    ;;
  "") pb_die "which benchmark? (scripts/bench.sh ingest|marketplace|subscribe; --help)" ;;
  *) pb_die "unknown benchmark '$1' (try --help)" ;;
esac
benchmark="$1"
shift
mode=burst
if [[ "$benchmark" == ingest && $# -gt 0 ]]; then
  case "$1" in
    burst | sustained) mode="$1" ;;
    *) pb_die "unknown ingest mode '$1' (burst or sustained; --help)" ;;
  esac
  shift
fi
(($# == 0)) || pb_die "unexpected arguments: $*"

# A benchmark always owns fresh servers, even when started from a script (test.sh) that exported its own.
unset PB_PG_DIR PB_PG_PORT PB_PG_ADMIN_URL PB_PG_OWNER
unset PB_REDIS_DIR PB_REDIS_PORT PB_REDIS_URL PB_REDIS_PID PB_REDIS_OWNER

pb_install_packages
pb_install_go_tools grpcurl
# Builds only the server and one benchmark program: the whole tree takes many minutes on a 2-core machine. Configured
# as pb_build does, so the folder is shared with it.
build_server_and() {
  local program="$1"
  PB_BUILD_DIR="${PARKBASE_BUILD_DIR:-$PB_ROOT/build}"
  [[ "$PB_BUILD_DIR" == /* ]] || PB_BUILD_DIR="$PWD/$PB_BUILD_DIR"
  export PB_BUILD_DIR
  local generator=(-G Ninja)
  [[ ! -f "$PB_BUILD_DIR/CMakeCache.txt" ]] || generator=()
  pb_ccache_launcher
  pb_proto_includes
  pb_log "configuring $PB_BUILD_DIR"
  cmake -S "$PB_ROOT" -B "$PB_BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARKBASE_WERROR=ON \
    "${PB_CCACHE_LAUNCHER[@]}" "-DGOOGLEAPIS_COMMON_PROTOS_DIR=$PB_GOOGLEAPIS_COMMON_DIR" >/dev/null ||
    pb_die "cmake configure failed"
  pb_log "building parkbase and $program in $PB_BUILD_DIR"
  cmake --build "$PB_BUILD_DIR" -j"$(nproc)" --target parkbase "$program" >&2 || pb_die "build failed"
}

case "$benchmark" in
  marketplace) bench_program=marketplace_bench ;;
  subscribe) bench_program=subscribe_bench ;;
  *) bench_program=telemetry_bench ;;
esac
if [[ "$bench_program" == telemetry_bench ]]; then
  pb_build
else
  build_server_and "$bench_program"
fi
bin="$PB_BUILD_DIR/bin"
[[ -x "$bin/$bench_program" ]] || pb_die "$bin/$bench_program was not built"

# VictoriaMetrics, the peer the ingest benchmark measures against; Debian packages it. Without it the benchmark
# still runs.
vm_bin=""
vm_missing=""
if [[ "$benchmark" != ingest ]]; then
  vm_missing="not used by this benchmark"
elif [[ "${PB_BENCH_NO_VM:-0}" == 1 ]]; then
  vm_missing="skipped (PB_BENCH_NO_VM=1)"
else
  if ! command -v victoria-metrics >/dev/null 2>&1; then
    pb_log "installing victoria-metrics (Debian package)"
    pb_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q victoria-metrics </dev/null >&2 ||
      { pb_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
        pb_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q victoria-metrics </dev/null >&2; } ||
      pb_log "warning: could not install victoria-metrics; its figures will be missing"
  fi
  vm_bin="$(command -v victoria-metrics || true)"
  [[ -n "$vm_bin" ]] || vm_missing="victoria-metrics could not be installed"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/parkbase-bench.XXXXXX")"
cleanup() {
  pb_stop_all
  rm -rf "$work"
}
pb_cleanup_on_exit
trap cleanup EXIT

pb_start_postgres
pb_start_redis
pb_create_database parkbase
[[ "$benchmark" != ingest ]] || pb_create_database parkbase_copy_bench
admin_url="postgresql://postgres@127.0.0.1:$PB_PG_PORT/parkbase"
copy_url="postgresql://postgres@127.0.0.1:$PB_PG_PORT/parkbase_copy_bench"
service_url="postgresql://parkbase_service@127.0.0.1:$PB_PG_PORT/parkbase"
pg_pid="$(head -n 1 "$PB_PG_DIR/data/postmaster.pid")"

pb_log "applying migrations"
"$bin/parkbase" migrate --database_url="$admin_url" >&2
key="$("$bin/parkbase" admin bootstrap-key --database_url="$admin_url" | tr -d '[:space:]')"
[[ -n "$key" ]] || pb_die "parkbase admin bootstrap-key printed no key"

serve_flags=(--log_level=warning)
if [[ "$benchmark" == subscribe ]]; then
  # 100 subscribers per tenant, all on one key, on one replica: past the defaults (16 per key, 64 per tenant).
  serve_flags+=(--max_streams_per_key=128 --max_streams_per_tenant=128 --max_streams=12000)
fi
if [[ -n "${PB_BENCH_COMPACTION_INTERVAL_MS:-}" ]]; then
  serve_flags+=(--telemetry_compaction_interval_ms="$PB_BENCH_COMPACTION_INTERVAL_MS")
fi
if [[ -n "${PB_BENCH_BACKLOG_MAX_POINTS:-}" ]]; then
  serve_flags+=(--telemetry_backlog_max_points="$PB_BENCH_BACKLOG_MAX_POINTS")
fi
address="127.0.0.1:$(pb_free_port)"
metrics_address="127.0.0.1:$(pb_free_port)"
log="$work/parkbase.log"
pb_log "starting parkbase serve on $address"
"$bin/parkbase" serve --listen="$address" --metrics_listen="$metrics_address" --http_listen= \
  --database_url="$service_url" --redis_url="$PB_REDIS_URL" --park_code=1 "${serve_flags[@]}" \
  </dev/null >"$log" 2>&1 &
server_pid=$!
pb_track_pid "$server_pid"
serving=0
for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    tail -n 40 "$log" >&2 || true
    pb_die "parkbase serve exited during start-up (log above)"
  fi
  if pb_grpc_health_check "$address"; then
    serving=1
    break
  fi
  sleep 0.2
done
((serving)) || {
  tail -n 40 "$log" >&2 || true
  pb_die "parkbase serve did not report SERVING within 60 s"
}
wanted_service=parkbase.telemetry.v1.TelemetryService
[[ "$benchmark" != marketplace ]] || wanted_service=parkbase.marketplace.v1.MarketplaceService
# grep -c reads all of grpcurl's output: grep -q would stop at the match and fail the pipe under pipefail.
if ! grpcurl -plaintext "$address" list 2>/dev/null | grep -cxF "$wanted_service" >/dev/null; then
  pb_die "parkbase serve does not offer $wanted_service"
fi

read -r -a extra_args <<<"${PB_BENCH_ARGS:-}"
if [[ "$benchmark" == subscribe ]]; then
  pb_log "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  status=0
  "$bin/subscribe_bench" --address="$address" --key="$key" --server_pid="$server_pid" "${extra_args[@]}" || status=$?
  # Where the server's part of the delay went, by stage (live_hub.h): bucket bounds under which half and 99% fall.
  curl -fsS "http://$metrics_address/metrics" 2>/dev/null | awk '
    /^parkbase_telemetry_live_delay_seconds_bucket/ {
      match($0, /stage="[a-z]+"/); stage = substr($0, RSTART + 7, RLENGTH - 8)
      match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5)
      n[stage]++; bound[stage, n[stage]] = le; count[stage, n[stage]] = $NF
    }
    END {
      for (stage in n) {
        total = count[stage, n[stage]]; p50 = ""; p99 = ""
        for (i = 1; i <= n[stage]; i++) {
          if (p50 == "" && count[stage, i] >= 0.5 * total) p50 = bound[stage, i]
          if (p99 == "" && count[stage, i] >= 0.99 * total) p99 = bound[stage, i]
        }
        printf "server stage %s: %d observations, p50 <= %s s, p99 <= %s s\n", stage, total, p50, p99
      }
    }' || true
  if ((status != 0)); then
    pb_log "subscribe_bench failed (status $status); the server's log ends:"
    tail -n 40 "$log" >&2 || true
    exit "$status"
  fi
  cleanup >/dev/null 2>&1
  trap - EXIT
  exit 0
fi
if [[ "$benchmark" == marketplace ]]; then
  pb_log "$(nproc) CPUs; $("$PB_PG_BIN/postgres" --version)"
  status=0
  "$bin/marketplace_bench" --address="$address" --key="$key" --database_url="$admin_url" \
    --service_database_url="$service_url" "${extra_args[@]}" || status=$?
  if ((status != 0)); then
    pb_log "marketplace_bench failed (status $status); the server's log ends:"
    tail -n 40 "$log" >&2 || true
    exit "$status"
  fi
  cleanup >/dev/null 2>&1
  trap - EXIT
  exit 0
fi

vm_flags=()
if [[ -n "$vm_bin" ]]; then
  vm_port="$(pb_free_port)"
  "$vm_bin" -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm_port" -retentionPeriod=100y \
    -loggerLevel=ERROR </dev/null >"$work/vm.log" 2>&1 &
  vm_pid=$!
  pb_track_pid "$vm_pid"
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$vm_port/health" >/dev/null 2>&1; then
      vm_flags=(--vm_address="127.0.0.1:$vm_port" --vm_data_dir="$work/vm" --vm_pid="$vm_pid"
        --vm_version="$(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null | sed 's/[+~-].*//')")
      break
    fi
    kill -0 "$vm_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ((${#vm_flags[@]} == 0)); then
    tail -n 20 "$work/vm.log" >&2 || true
    vm_missing="victoria-metrics did not start (log above)"
  else
    pb_log "VictoriaMetrics on 127.0.0.1:$vm_port"
  fi
fi
((${#vm_flags[@]})) || vm_flags=(--vm_missing_reason="$vm_missing")

status=0
"$bin/telemetry_bench" --address="$address" --key="$key" --database_url="$admin_url" \
  --copy_database_url="$copy_url" --server_pid="$server_pid" --postgres_pid="$pg_pid" --mode="$mode" "${vm_flags[@]}" \
  "${extra_args[@]}" || status=$?
if ((status != 0)); then
  pb_log "telemetry_bench failed (status $status); the server's log ends:"
  tail -n 40 "$log" >&2 || true
  exit "$status"
fi
# Stop everything now and quietly, so the benchmark's figure stays the last line of the output.
cleanup >/dev/null 2>&1
trap - EXIT
