# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# Shared shell functions for Parkbase's scripts (dev.sh, test.sh, chart tests). Source it; do not execute it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   pb_install_packages; pb_build; pb_start_postgres; pb_start_redis; pb_cleanup_on_exit
#
# Everything a function starts is recorded in PB_* variables so pb_stop_all (run from the EXIT trap) can stop it.
# Data folders and sockets live in mktemp folders under /tmp, never in the repo: the repo may sit where the
# postgres OS user cannot enter.

if [[ -n "${PB_LIB_LOADED:-}" ]]; then
  return 0
fi
PB_LIB_LOADED=1

PB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PB_ROOT

# Debian bookworm's PostgreSQL; the server binaries are not on PATH by default.
PB_PG_BIN="${PB_PG_BIN:-/usr/lib/postgresql/15/bin}"

# Debian packages the build, the tests and the local run need.
PB_APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libpqxx-dev libpq-dev libhiredis-dev prometheus-cpp-dev catch2 libssl-dev libzstd-dev
  libboost-dev  # Boost.Beast and Asio, the HTTP door
  libcurl4-openssl-dev  # the OTLP trace exporter
  golang-github-gogo-googleapis-dev
  postgresql-15 postgresql-client-15 redis-server
  python3 python3-pip python3-venv git curl ca-certificates openssl jq
  prometheus  # promtool, for the lint.prometheus_rules test
  chromium fonts-noto-cjk  # the console's end-to-end test (e2e.console): a real headless browser, Chinese glyphs
)

# Where Debian's golang-github-gogo-googleapis-dev puts google/api and google/rpc protos.
PB_GOOGLEAPIS_DIR="${PB_GOOGLEAPIS_DIR:-/usr/share/gocode/src/github.com/gogo/googleapis}"

pb_log() { printf '[parkbase] %s\n' "$*" >&2; }
pb_die() {
  pb_log "error: $*"
  exit 1
}

# Runs a command as root: directly when we are root, through sudo otherwise.
pb_as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    pb_die "need root for '$*': run as root or install sudo"
  fi
}

# pb_install_packages [extra packages...]: installs the Debian packages that are missing (apt-get update only then).
pb_install_packages() {
  local missing=() p
  for p in "${PB_APT_PACKAGES[@]}" "$@"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]]; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    pb_log "Debian packages: all present"
    return 0
  fi
  pb_log "Debian packages: installing ${missing[*]}"
  # A failing third-party apt source must not stop us; the install below fails if Debian's own lists are unusable.
  pb_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    pb_log "warning: apt-get update reported errors; trying the install anyway"
  pb_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null ||
    pb_die "apt-get install ${missing[*]} failed"
}

# pb_proto_includes: sets PB_PROTO_INCLUDES to protoc's -I arguments for the Google protos our protos import:
# Debian's googleapis package, the pinned google/api protos it lacks (scripts/googleapis-protos.sh, fetched once,
# exported as PB_GOOGLEAPIS_COMMON_DIR; a caller may set that variable to a folder of its own) and the well-known
# types. The build passes the same folders to protoc (proto/CMakeLists.txt).
pb_proto_includes() {
  if [[ -z "${PB_GOOGLEAPIS_COMMON_DIR:-}" ]]; then
    PB_GOOGLEAPIS_COMMON_DIR="$(bash "$PB_ROOT/scripts/googleapis-protos.sh")" ||
      pb_die "could not fetch the pinned google/api protos (scripts/googleapis-protos.sh, output above)"
    export PB_GOOGLEAPIS_COMMON_DIR
  fi
  [[ -f "$PB_GOOGLEAPIS_COMMON_DIR/google/api/resource.proto" ]] ||
    pb_die "google/api/resource.proto not found under PB_GOOGLEAPIS_COMMON_DIR=$PB_GOOGLEAPIS_COMMON_DIR"
  PB_PROTO_INCLUDES=(-I "$PB_GOOGLEAPIS_DIR" -I "$PB_GOOGLEAPIS_COMMON_DIR" -I /usr/include)
}

# pb_ccache_launcher: sets PB_CCACHE_LAUNCHER to the cmake arguments that compile through ccache (empty without
# ccache). Paths are hashed relative to the repo and the working directory is not hashed, so a clone in another
# folder (CI's) reuses the objects compiled in this one.
pb_ccache_launcher() {
  PB_CCACHE_LAUNCHER=()
  if command -v ccache >/dev/null 2>&1; then
    PB_CCACHE_LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PB_ROOT}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
  fi
}

# pb_configure_clang16 DIR CMAKE_ARGS...: installs clang 16 and configures DIR with it (Ninja, ccache) and the
# given arguments. A folder configured for another compiler is made anew (cmake cannot switch compilers).
pb_configure_clang16() {
  local dir="$1"
  shift
  pb_install_packages clang-16 libclang-rt-16-dev
  local generator=(-G Ninja)
  if [[ -f "$dir/CMakeCache.txt" ]]; then
    if grep -q '^CMAKE_CXX_COMPILER:.*clang++-16' "$dir/CMakeCache.txt"; then
      generator=()
    else
      rm -rf "$dir"
    fi
  fi
  pb_ccache_launcher
  pb_proto_includes
  CC=clang-16 CXX=clang++-16 cmake -S "$PB_ROOT" -B "$dir" "${generator[@]}" -DCMAKE_C_COMPILER=clang-16 \
    -DCMAKE_CXX_COMPILER=clang++-16 "${PB_CCACHE_LAUNCHER[@]}" \
    "-DGOOGLEAPIS_COMMON_PROTOS_DIR=$PB_GOOGLEAPIS_COMMON_DIR" "$@" >/dev/null ||
    pb_die "cmake configure of $dir failed"
}

# pb_build [build_dir]: configures (Ninja, RelWithDebInfo, warnings as errors, ccache) and builds everything.
# The folder is $1, else $PARKBASE_BUILD_DIR, else build/ in the repo. Exports PB_BUILD_DIR.
pb_build() {
  local dir="${1:-${PARKBASE_BUILD_DIR:-$PB_ROOT/build}}"
  [[ "$dir" == /* ]] || dir="$PWD/$dir"
  local generator=(-G Ninja)
  # An existing build folder keeps the generator it was made with (cmake refuses to switch).
  if [[ -f "$dir/CMakeCache.txt" ]]; then
    generator=()
  fi
  pb_ccache_launcher
  # Fetched here, before cmake, so a machine without the pinned protos (or without PyPI) fails with a clear
  # message; cmake would otherwise fetch them itself.
  pb_proto_includes
  pb_log "configuring $dir"
  cmake -S "$PB_ROOT" -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARKBASE_WERROR=ON \
    "${PB_CCACHE_LAUNCHER[@]}" "-DGOOGLEAPIS_COMMON_PROTOS_DIR=$PB_GOOGLEAPIS_COMMON_DIR" ||
    pb_die "cmake configure failed"
  pb_log "building $dir with $(nproc) jobs"
  cmake --build "$dir" -j"$(nproc)" || pb_die "build failed"
  PB_BUILD_DIR="$dir"
  export PB_BUILD_DIR
}

# pb_proto_image PROTO_DIR OUT: compiles every .proto under PROTO_DIR (but google/, which comes from the system)
# into the image OUT (a FileDescriptorSet with imports and source info), the input buf lints and compares. buf alone
# cannot resolve google/api and google/rpc (they come from Debian's googleapis package and the pinned wheel, not the
# repo), so protoc builds the image with the system include paths (pb_proto_includes).
pb_proto_image() {
  local proto="$1" out="$2" files=()
  pb_proto_includes
  mapfile -t files < <(cd "$proto" && find . -name '*.proto' -not -path './google/*' | sed 's|^\./||' | sort)
  ((${#files[@]})) || pb_die "no .proto files under $proto"
  (cd "$proto" && protoc -I . "${PB_PROTO_INCLUDES[@]}" --include_imports --include_source_info -o "$out" \
    "${files[@]}") || return 1
  pb_log "compiled ${#files[@]} files of $proto"
}

# pb_buf_lint: lints proto/ with proto/buf.yaml, over the image pb_proto_image builds; imported files are not
# linted. Needs buf on PATH (pb_install_go_tools buf).
pb_buf_lint() {
  local proto="$PB_ROOT/proto"
  [[ -f "$proto/buf.yaml" ]] || pb_die "buf lint: $proto/buf.yaml is missing"
  command -v buf >/dev/null 2>&1 || pb_go_path
  command -v buf >/dev/null 2>&1 || pb_die "buf lint: buf is not installed (scripts/install-tools.sh buf)"
  local image
  image="$(mktemp "${TMPDIR:-/tmp}/parkbase-buf.XXXXXX.binpb")"
  if ! pb_proto_image "$proto" "$image"; then
    rm -f "$image"
    pb_die "buf lint: protoc could not compile proto/"
  fi
  pb_log "buf lint proto/"
  if ! (cd "$proto" && buf lint "$image" --config buf.yaml); then
    rm -f "$image"
    pb_die "buf lint found problems in proto/ (listed above)"
  fi
  rm -f "$image"
}

# pb_free_port: prints a TCP port that is free on 127.0.0.1 right now.
pb_free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# pb_port_is_free PORT: true when nothing listens on 127.0.0.1:PORT (and we may bind it).
pb_port_is_free() {
  python3 -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()' "$1"
}

# pb_port_or_free PREFERRED: prints PREFERRED when it is free, else some free port.
pb_port_or_free() {
  if pb_port_is_free "$1"; then echo "$1"; else pb_free_port; fi
}

# Runs a command as the OS user that owns the PostgreSQL cluster (postgres when we are root, else ourselves),
# from the cluster's folder so the user never needs to enter the caller's working directory.
pb_as_pg_user() {
  if [[ "$(id -u)" == 0 ]]; then
    (cd "$PB_PG_DIR" && runuser -u postgres -- "$@")
  else
    (cd "$PB_PG_DIR" && "$@")
  fi
}

# pb_psql [psql args...]: psql as the superuser postgres on the throwaway cluster, stopping on the first error.
pb_psql() {
  "$PB_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PB_PG_PORT" -U postgres "$@"
}

# pb_start_postgres: starts a throwaway PostgreSQL 15 cluster on 127.0.0.1 at a free port (trust auth, fsync on)
# and creates the roles parkbase_app (NOLOGIN, owns nothing, receives grants from migrations) and
# parkbase_service (LOGIN, no superuser, no BYPASSRLS, member of parkbase_app).
# Exports PB_PG_PORT, PB_PG_DIR and PB_PG_ADMIN_URL.
pb_start_postgres() {
  [[ -x "$PB_PG_BIN/initdb" ]] || pb_die "PostgreSQL 15 not found in $PB_PG_BIN (run pb_install_packages)"
  if [[ -n "${PB_PG_DIR:-}" && -f "${PB_PG_DIR}/data/postmaster.pid" ]]; then
    pb_log "PostgreSQL already started on port $PB_PG_PORT"
    return 0
  fi
  PB_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/parkbase-pg.XXXXXX")"
  PB_PG_OWNER=$$
  export PB_PG_DIR PB_PG_OWNER
  chmod 0755 "$PB_PG_DIR"
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || pb_die "the postgres OS user is missing (is postgresql-15 installed?)"
    chown postgres: "$PB_PG_DIR"
  fi
  pb_as_pg_user "$PB_PG_BIN/initdb" -D "$PB_PG_DIR/data" --username=postgres --auth=trust \
    --encoding=UTF8 --locale=C --lc-ctype=C.UTF-8 --no-sync >"$PB_PG_DIR/initdb.log" 2>&1 || {
    cat "$PB_PG_DIR/initdb.log" >&2
    pb_die "initdb failed"
  }
  local attempt port
  for attempt in 1 2 3; do
    port="$(pb_free_port)"
    # Written into postgresql.auto.conf so no path needs quoting on a command line; later lines win.
    cat >>"$PB_PG_DIR/data/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PB_PG_DIR'
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = '256MB'
max_connections = 200
logging_collector = off
log_min_messages = warning
EOF
    if pb_as_pg_user "$PB_PG_BIN/pg_ctl" -D "$PB_PG_DIR/data" -l "$PB_PG_DIR/postgres.log" -w -t 60 start \
      >/dev/null 2>&1; then
      PB_PG_PORT="$port"
      break
    fi
    pb_log "PostgreSQL did not start on port $port (attempt $attempt); log:"
    tail -n 20 "$PB_PG_DIR/postgres.log" >&2 || true
  done
  [[ -n "${PB_PG_PORT:-}" ]] || pb_die "could not start PostgreSQL"
  export PB_PG_PORT
  local i
  for i in $(seq 1 100); do
    if "$PB_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PB_PG_PORT" -U postgres; then break; fi
    if ((i == 100)); then pb_die "PostgreSQL on port $PB_PG_PORT is not ready"; fi
    sleep 0.1
  done
  PB_PG_ADMIN_URL="postgresql://postgres@127.0.0.1:$PB_PG_PORT/postgres"
  export PB_PG_ADMIN_URL
  pb_psql -d postgres <<'SQL' || pb_die "could not create the Parkbase roles"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'parkbase_app') THEN
    CREATE ROLE parkbase_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'parkbase_service') THEN
    CREATE ROLE parkbase_service LOGIN;
  END IF;
END
$$;
ALTER ROLE parkbase_service LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
GRANT parkbase_app TO parkbase_service;
SQL
  pb_log "PostgreSQL 15 on 127.0.0.1:$PB_PG_PORT (data in $PB_PG_DIR)"
}

# pb_create_database NAME: creates database NAME owned by postgres unless it exists.
pb_create_database() {
  local name="$1"
  if [[ "$(pb_psql -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$name'")" != 1 ]]; then
    pb_psql -d postgres -c "CREATE DATABASE \"$name\" OWNER postgres"
  fi
}

# pb_start_redis: starts redis-server on 127.0.0.1 at a free port without persistence.
# Exports PB_REDIS_PORT, PB_REDIS_URL, PB_REDIS_DIR and PB_REDIS_PID.
pb_start_redis() {
  command -v redis-server >/dev/null 2>&1 || pb_die "redis-server not found (run pb_install_packages)"
  if [[ -n "${PB_REDIS_PID:-}" && -n "${PB_REDIS_PORT:-}" ]] && kill -0 "$PB_REDIS_PID" 2>/dev/null; then
    pb_log "Redis already started on port $PB_REDIS_PORT"
    return 0
  fi
  PB_REDIS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/parkbase-redis.XXXXXX")"
  PB_REDIS_OWNER=$$
  export PB_REDIS_DIR PB_REDIS_OWNER
  local attempt port i
  for attempt in 1 2 3; do
    port="$(pb_free_port)"
    rm -f "$PB_REDIS_DIR/redis.pid"
    # 4096 databases: every test process takes one of its own (tests/support/test_env.h).
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$PB_REDIS_DIR" --databases 4096 \
      --daemonize yes --pidfile "$PB_REDIS_DIR/redis.pid" --logfile "$PB_REDIS_DIR/redis.log" \
      --protected-mode yes </dev/null || true
    for i in $(seq 1 100); do
      if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]; then
        PB_REDIS_PORT="$port"
        break 2
      fi
      sleep 0.1
    done
    pb_log "Redis did not start on port $port (attempt $attempt); log:"
    tail -n 20 "$PB_REDIS_DIR/redis.log" >&2 || true
    if [[ -f "$PB_REDIS_DIR/redis.pid" ]]; then
      kill "$(cat "$PB_REDIS_DIR/redis.pid")" 2>/dev/null || true
    fi
  done
  [[ -n "${PB_REDIS_PORT:-}" ]] || pb_die "could not start Redis"
  for i in $(seq 1 50); do
    [[ -s "$PB_REDIS_DIR/redis.pid" ]] && break
    sleep 0.1
  done
  PB_REDIS_PID="$(cat "$PB_REDIS_DIR/redis.pid")"
  PB_REDIS_URL="redis://127.0.0.1:$PB_REDIS_PORT"
  export PB_REDIS_PORT PB_REDIS_URL PB_REDIS_PID
  pb_log "Redis on 127.0.0.1:$PB_REDIS_PORT"
}

# pb_grpc_health_check ADDRESS [SERVICE]: true when grpc.health.v1.Health/Check at ADDRESS (plaintext) answers
# SERVING. The servers compile the health protocol's descriptor in, so grpcurl finds it by reflection.
pb_grpc_health_check() {
  local address="$1" service="${2:-}"
  command -v grpcurl >/dev/null 2>&1 || pb_go_path
  grpcurl -plaintext -max-time 3 -d "{\"service\":\"$service\"}" "$address" grpc.health.v1.Health/Check 2>/dev/null |
    grep -q '"SERVING"'
}

# pb_track_pid PID: pb_stop_all will stop this process too (TERM, then KILL after 10 s).
PB_TRACKED_PIDS=()
pb_track_pid() { PB_TRACKED_PIDS+=("$1"); }

# pb_wait_pid_gone PID SECONDS: waits until PID has exited; returns 1 if it still runs then.
pb_wait_pid_gone() {
  local pid="$1" tenths=$(($2 * 10)) i
  for ((i = 0; i < tenths; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# pb_stop_all: stops everything started above and removes its temp folders. Safe to call twice; never fails.
pb_stop_all() {
  local pid
  for pid in "${PB_TRACKED_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      pb_wait_pid_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PB_TRACKED_PIDS=()
  # Only the shell that started a server stops it: a child script that sourced lib.sh sees the exported
  # variables but must leave its parent's servers alone.
  if [[ "${PB_REDIS_OWNER:-}" != "$$" ]]; then
    :
  elif [[ -n "${PB_REDIS_PID:-}" ]]; then
    kill -TERM "$PB_REDIS_PID" 2>/dev/null || true
    pb_wait_pid_gone "$PB_REDIS_PID" 10 || kill -KILL "$PB_REDIS_PID" 2>/dev/null || true
    unset PB_REDIS_PID PB_REDIS_PORT PB_REDIS_URL
    if [[ -n "${PB_REDIS_DIR:-}" ]]; then
      rm -rf "$PB_REDIS_DIR"
    fi
    unset PB_REDIS_DIR PB_REDIS_OWNER
  fi
  if [[ "${PB_PG_OWNER:-}" == "$$" && -n "${PB_PG_DIR:-}" ]]; then
    if [[ -f "$PB_PG_DIR/data/postmaster.pid" ]]; then
      pb_as_pg_user "$PB_PG_BIN/pg_ctl" -D "$PB_PG_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1 || {
        # pg_ctl could not stop it: end the postmaster by its pid.
        local pg_pid
        pg_pid="$(head -n 1 "$PB_PG_DIR/data/postmaster.pid" 2>/dev/null)"
        if [[ -n "$pg_pid" ]]; then
          kill -QUIT "$pg_pid" 2>/dev/null || true
          pb_wait_pid_gone "$pg_pid" 10 || kill -KILL "$pg_pid" 2>/dev/null || true
        fi
      }
    fi
    rm -rf "$PB_PG_DIR"
    unset PB_PG_DIR PB_PG_PORT PB_PG_ADMIN_URL PB_PG_OWNER
  fi
  return 0
}

# pb_cleanup_on_exit: runs pb_stop_all when the script exits, also on Ctrl-C and SIGTERM (exit 130 / 143).
pb_cleanup_on_exit() {
  trap 'pb_stop_all' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# pb_go_path: puts Go and the Go tools (~/go/bin) on PATH.
pb_go_path() {
  local d
  for d in "$HOME/.cache/parkbase/go/bin" /usr/local/go/bin "$HOME/go/bin"; do
    if [[ -d "$d" && ":$PATH:" != *":$d:"* ]]; then
      PATH="$d:$PATH"
    fi
  done
  export PATH
}

# The Go tools, pb_install_go_tools and pb_python_venv live in install-tools.sh; sourcing lib.sh brings them too.
if [[ -z "${PB_TOOLS_LOADED:-}" ]]; then
  # shellcheck source=install-tools.sh
  source "$PB_ROOT/scripts/install-tools.sh"
fi
