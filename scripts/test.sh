#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2119 # pb_build takes an optional folder; none means the default
# Sets up and runs every Parkbase test: Debian packages, Go tools (grpcurl, buf, helm, kubeconform, api-linter), the
# OpenAPI generator (protoc-gen-openapiv2, and swagger2openapi by npm ci in scripts/openapi), the Python venv for
# chart checks and the fake OTLP collector, the build, the park console's build (npm ci and npm run build in
# services/console; its vitest tests are console.unit, its browser test e2e.console in Debian's chromium), a
# throwaway PostgreSQL and Redis, then all CTest suites but bench (buf lint, buf breaking and api-linter are the
# CTest tests lint.buf, lint.buf_breaking and lint.api_linter).
#
#   scripts/test.sh                       everything except benchmarks
#   scripts/test.sh -L integration        only tests with this CTest label (repeatable; -L bench runs benchmarks,
#                                         -L fuzz only the fuzzers)
#   scripts/test.sh --fuzz-seconds 60     time per fuzz target (PARKBASE_FUZZ_SECONDS, default 20); the fuzzers
#                                         (scripts/fuzz.sh, a clang build of their own) run after CTest when no -L
#                                         or -- narrows the run, or with -L fuzz
#   scripts/test.sh --soak-seconds 600    also run the soak (scripts/soak.sh) this long (PARKBASE_SOAK_SECONDS,
#                                         default 0: off)
#   scripts/test.sh -- ARGS...            further arguments for ctest, e.g. -- -R tenant
#
# Tests see: PARKBASE_TEST_SECRETS_DIR (where they record the keys they use; after ctest no server log line may
# hold one), PARKBASE_TEST_PG_ADMIN_URL (superuser URL of the throwaway cluster; each suite creates its own
# database), PARKBASE_TEST_REDIS_URL, PB_PYTHON (venv python with kubernetes-validate), PB_ROOT, PB_BUILD_DIR,
# and ~/go/bin on PATH. The build folder is build/ unless PARKBASE_BUILD_DIR says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
source scripts/lib.sh

# Pinned Python packages: for the chart tests (kubernetes-validate ships the Kubernetes JSON schemas offline), and
# for e2e.tracing's fake collector (opentelemetry-proto, the OTLP messages as OpenTelemetry publishes them; 1.27.0
# is the newest that takes protobuf 4).
PB_TEST_PYTHON_PACKAGES=(kubernetes-validate==1.37.0 protobuf==4.25.8 opentelemetry-proto==1.27.0)

fuzz_seconds="${PARKBASE_FUZZ_SECONDS:-20}"
soak_seconds="${PARKBASE_SOAK_SECONDS:-0}"
labels=()
ctest_extra=()
while (($#)); do
  case "$1" in
    --fuzz-seconds) fuzz_seconds="${2:?--fuzz-seconds needs a number}"; shift ;;
    --fuzz-seconds=*) fuzz_seconds="${1#*=}" ;;
    --soak-seconds) soak_seconds="${2:?--soak-seconds needs a number}"; shift ;;
    --soak-seconds=*) soak_seconds="${1#*=}" ;;
    -L | --label-regex) labels+=(-L "${2:?-L needs a label}"); shift ;;
    -L*) labels+=(-L "${1#-L}") ;;
    --) shift; ctest_extra+=("$@"); break ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    *) pb_die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
[[ "$fuzz_seconds" =~ ^[0-9]+$ ]] || pb_die "--fuzz-seconds: must be a whole number, got '$fuzz_seconds'"
[[ "$soak_seconds" =~ ^[0-9]+$ ]] || pb_die "--soak-seconds: must be a whole number, got '$soak_seconds'"
export PARKBASE_FUZZ_SECONDS="$fuzz_seconds" PARKBASE_SOAK_SECONDS="$soak_seconds"

started=$SECONDS
pb_install_packages
pb_install_go_tools grpcurl buf helm kubeconform api-linter
pb_install_openapi_tools
pb_python_venv "${PB_TEST_PYTHON_PACKAGES[@]}"
pb_build
pb_build_console

pb_cleanup_on_exit
pb_start_postgres
pb_start_redis
export PARKBASE_TEST_PG_ADMIN_URL="$PB_PG_ADMIN_URL"
export PARKBASE_TEST_REDIS_URL="$PB_REDIS_URL"
export PB_PYTHON PB_ROOT PB_BUILD_DIR
pb_go_path

# Benchmarks run only when asked for by label; the fuzzers when nothing narrows the run, or by label.
exclude=(-LE bench)
run_ctest=1
run_fuzz=0
((${#labels[@]} || ${#ctest_extra[@]})) || run_fuzz=1
for label in "${labels[@]}"; do
  if [[ "$label" == *bench* ]]; then exclude=(); fi
  if [[ "$label" == fuzz ]]; then run_fuzz=1; fi
done
if [[ "${labels[*]}" == "-L fuzz" && ${#ctest_extra[@]} == 0 ]]; then run_ctest=0; fi
# Every key the suites use is recorded here, and their server logs are read afterwards for any of them.
PARKBASE_TEST_SECRETS_DIR="$(mktemp -d /tmp/parkbase-secrets.XXXXXX)"
export PARKBASE_TEST_SECRETS_DIR
pb_log "setup took $((SECONDS - started))s; running ctest"
ctest_started=$SECONDS
((run_ctest)) && ctest --test-dir "$PB_BUILD_DIR" --output-on-failure --no-tests=error --timeout 900 -j2 \
  "${exclude[@]}" "${labels[@]}" "${ctest_extra[@]}"
if compgen -G "$PARKBASE_TEST_SECRETS_DIR/secrets-*.txt" >/dev/null; then
  extra_logs=()
  for f in "$PARKBASE_TEST_SECRETS_DIR"/logs/*.log; do
    if [[ -f "$f" ]]; then extra_logs+=(--log "$f"); fi
  done
  "$PB_PYTHON" tests/lint/secrets_in_logs.py --secrets-dir "$PARKBASE_TEST_SECRETS_DIR" \
    --log "$PB_BUILD_DIR/Testing/Temporary/LastTest.log" "${extra_logs[@]}" ||
    pb_die "a key the tests used appears in a server log line (see above)"
else
  pb_log "secrets check: no suite that uses keys ran"
fi
rm -rf "$PARKBASE_TEST_SECRETS_DIR"
pb_log "ctest and the secrets check took $((SECONDS - ctest_started))s"
if ((run_fuzz)); then
  fuzz_started=$SECONDS
  scripts/fuzz.sh --seconds "$fuzz_seconds"
  pb_log "fuzzing (clang build and ${fuzz_seconds}s a target) took $((SECONDS - fuzz_started))s"
fi
if ((soak_seconds > 0)); then
  soak_started=$SECONDS
  scripts/soak.sh --seconds "$soak_seconds" --build-dir "$PB_BUILD_DIR"
  pb_log "the soak took $((SECONDS - soak_started))s"
fi
pb_log "all tests passed in $((SECONDS - started))s"
