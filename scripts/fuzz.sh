#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Builds the libFuzzer targets (tests/fuzz) with clang 16 and runs each for a while on a copy of its checked-in
# corpus, two at a time, printing a line a target: seconds, executions, corpus size, crashes. Exits non-zero when a
# target crashed, naming the input that crashed it; docs/fuzzing.md says how it becomes a regression input.
#
#   scripts/fuzz.sh                     every target for $PARKBASE_FUZZ_SECONDS seconds (default 30)
#   scripts/fuzz.sh --seconds 300       longer
#   scripts/fuzz.sh --seconds 0         build, then run every target over its corpus once
#   scripts/fuzz.sh --target codec      only this target (repeatable)
#   scripts/fuzz.sh --build-dir DIR     the clang build folder (default build-fuzz/ in the repo)
#   scripts/fuzz.sh -- FLAGS...         further libFuzzer flags for every target, e.g. -- -jobs=1 -dict=FILE
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
source scripts/lib.sh

seconds="${PARKBASE_FUZZ_SECONDS:-30}"
build_dir="$PB_ROOT/build-fuzz"
targets=()
extra_flags=()
while (($#)); do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift ;;
    --seconds=*) seconds="${1#*=}" ;;
    --build-dir) build_dir="${2:?--build-dir needs a folder}"; shift ;;
    --build-dir=*) build_dir="${1#*=}" ;;
    --target) targets+=("${2:?--target needs a name}"); shift ;;
    --target=*) targets+=("${1#*=}") ;;
    --) shift; extra_flags+=("$@"); break ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    *) pb_die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
[[ "$seconds" =~ ^[0-9]+$ ]] || pb_die "--seconds: must be a whole number, got '$seconds'"
[[ "$build_dir" == /* ]] || build_dir="$PWD/$build_dir"

corpus_root="$PB_ROOT/tests/fuzz/corpus"
if ((${#targets[@]} == 0)); then
  # A target is a folder of seeds: tests/fuzz/corpus/<target>/ (tests/fuzz/CMakeLists.txt builds fuzz_<target>).
  mapfile -t targets < <(find "$corpus_root" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
fi
((${#targets[@]})) || pb_die "no fuzz targets under $corpus_root"
for target in "${targets[@]}"; do
  [[ -d "$corpus_root/$target" ]] || pb_die "--target $target: no corpus folder tests/fuzz/corpus/$target"
done

# The longest input a target is given: large enough for its structure (a few requests of a few fields, a block of a
# few hundred points), small enough that each run stays fast.
max_len_of() {
  case "$1" in
    page_token | label_selector) echo 1024 ;;
    list_filter) echo 2048 ;;
    *) echo 8192 ;;
  esac
}

started=$SECONDS
pb_log "configuring $build_dir (clang 16, PARKBASE_FUZZ=ON)"
pb_configure_clang16 "$build_dir" -DPARKBASE_FUZZ=ON
programs=()
for target in "${targets[@]}"; do programs+=("fuzz_$target"); done
pb_log "building ${programs[*]} with $(nproc) jobs"
cmake --build "$build_dir" -j"$(nproc)" --target "${programs[@]}" || pb_die "fuzz build failed"
built=$SECONDS

work="$(mktemp -d "${TMPDIR:-/tmp}/parkbase-fuzz.XXXXXX")"
pids=()
stop_fuzzers() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap 'stop_fuzzers' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_target TARGET: fuzzes a copy of the target's corpus in $work/TARGET; libFuzzer's output goes to its log.
run_target() {
  local target="$1" dir="$work/$1"
  mkdir -p "$dir/corpus"
  cp -R "$corpus_root/$target/." "$dir/corpus/"
  local budget=(-max_total_time="$seconds")
  if ((seconds == 0)); then budget=(-runs=0); fi
  # -entropic=0: entropic scheduling costs these targets (wide coverage each run) over half their executions.
  "$build_dir/bin/fuzz_$target" "${budget[@]}" -max_len="$(max_len_of "$target")" -entropic=0 -timeout=25 \
    -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$dir/" "${extra_flags[@]}" "$dir/corpus" \
    >"$dir/log" 2>&1
}

pb_log "fuzzing ${#targets[@]} targets, ${seconds}s each, two at a time (copies of tests/fuzz/corpus in $work)"
running=0
for target in "${targets[@]}"; do
  if ((running == 2)); then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$target" &
  pids+=("$!")
  running=$((running + 1))
done
wait || true
trap - EXIT

failed=()
for target in "${targets[@]}"; do
  dir="$work/$target"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)"
  corpus="$(find "$dir/corpus" -type f | wc -l)"
  mapfile -t crashes < <(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | sort)
  printf 'fuzz: %-20s %4ss  execs %10s  corpus %5s  crashes %s\n' "$target" "$seconds" "${execs:-?}" "$corpus" \
    "${#crashes[@]}"
  if ((${#crashes[@]})) || [[ -z "$execs" ]]; then
    failed+=("$target")
  fi
done

if ((${#failed[@]})); then
  for target in "${failed[@]}"; do
    dir="$work/$target"
    pb_log "fuzz target $target failed; its log ($dir/log) ends:"
    grep -v -e '^#[0-9]' -e '^INFO:' -e 'Recommended dictionary' -e '# Uses:' "$dir/log" | tail -n 60 >&2 || true
    for input in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
      [[ -f "$input" ]] || continue
      pb_log "crash input: $input"
      pb_log "  reproduce: $build_dir/bin/fuzz_$target $input"
      pb_log "  keep it:   cp $input tests/fuzz/regressions/$target/<what-it-found>; fix the code; the replay test"
      pb_log "             fuzz.replay.$target (label unit) runs it from then on (docs/fuzzing.md)"
    done
  done
  pb_die "fuzzing found crashes in ${failed[*]} (inputs kept in $work)"
fi
rm -rf "$work"
pb_log "fuzz: build took $((built - started))s, fuzzing $((SECONDS - built))s; no crashes"
