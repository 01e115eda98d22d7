#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, ./build-fuzz) and runs each for a bounded
# time on a copy of its seed corpus, after replaying its regression inputs.
#
#   scripts/fuzz.sh                      every target, 5 s each (what CI runs)
#   scripts/fuzz.sh --seconds 300        the longer run: 5 minutes each
#   scripts/fuzz.sh --seconds 60 bolt11 macaroon
#   scripts/fuzz.sh --seconds 300 --merge   also minimize what the run found into $OUT/merged
#
# Committed corpora (fuzz/corpus) are never written to. Everything a run makes goes under
# $PETALSLN_FUZZ_OUT (default /tmp/petalsln-fuzz): the working corpora, logs, crash
# artifacts, merged corpora. Exits non-zero if any target finds a crash, a sanitizer report,
# a leak, a timeout or an out-of-memory, or if a regression input fails again.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=5
merge=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --merge) merge=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

all_targets=(bolt11 macaroon l402 lnurl nwc server_record uri tokenizer chat_template
             model_config safetensors tensor_codec block_server)
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

# The longest input each target gets: the size of what it parses in practice, with room.
max_len() {
  case "$1" in
    tokenizer) echo 65536 ;;
    l402|nwc|safetensors|block_server|macaroon|chat_template) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

build_dir=${PETALSLN_FUZZ_BUILD_DIR:-build-fuzz}
out=${PETALSLN_FUZZ_OUT:-/tmp/petalsln-fuzz}
source_dir=$(pwd)

if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPETALSLN_FUZZ=ON -DPETALSLN_SANITIZE=address,undefined \
    -DPETALSLN_BUILD_TESTS=OFF -DPETALSLN_BUILD_EXAMPLES=OFF -DPETALSLN_BUILD_BENCH=OFF >/dev/null
fi
build_start=$(date +%s)
cmake --build "$build_dir" --target $(printf 'fuzz_%s ' "${targets[@]}")
echo "fuzz.sh: build took $(( $(date +%s) - build_start )) s"

# Sanitizer reports abort, so libFuzzer stops and saves the input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "${targets[@]}"; do
  bin="$build_dir/fuzz/fuzz_$t"
  work="$out/corpus/$t"
  artifacts="$out/artifacts/$t"
  log="$out/logs/$t.log"
  rm -rf "$work"
  mkdir -p "$work" "$artifacts" "$out/logs"
  [ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$work/"
  seeds=$(find "$work" -type f | wc -l)
  flags=(-max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=4096 -artifact_prefix="$artifacts/")

  # Regressions first: every input that once failed must pass now.
  regressions=()
  [ -d "fuzz/regressions/$t" ] && mapfile -t regressions < <(find "fuzz/regressions/$t" -type f | sort)
  if [ ${#regressions[@]} -gt 0 ] && ! "$bin" "${flags[@]}" "${regressions[@]}" >"$log.regressions" 2>&1; then
    what=$(grep -m1 -o -E "ERROR: [A-Za-z]+: [a-z -]+|fuzz property violated: .*|runtime error: .*" "$log.regressions" || true)
    echo "fuzz_$t: REGRESSION: an input in fuzz/regressions/$t fails again${what:+ ($what)} (log: $log.regressions)"
    failed+=("$t")
    continue
  fi

  status=ok
  # The outer timeout only catches a fuzzer that hangs outside an input (libFuzzer times inputs).
  if ! timeout $((seconds + 300)) "$bin" "${flags[@]}" -max_total_time="$seconds" -print_final_stats=1 "$work" >"$log" 2>&1; then
    status=FAILED
    failed+=("$t")
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  corpus=$(find "$work" -type f | wc -l)
  line="fuzz_$t: $status, ${runs:-?} runs in ${seconds} s (${rate:-?} exec/s), corpus $seeds -> $corpus, ${#regressions[@]} regressions replayed"
  if [ "$status" != ok ]; then
    line+=", log $log"
    crash=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | cut -d' ' -f5 || true)
    what=$(grep -m1 -o -E "ERROR: [A-Za-z]+: [a-z -]+|fuzz property violated: .*|runtime error: .*" "$log" || true)
    [ -n "$what" ] && line+=", $what"
    [ -n "$crash" ] && line+=", input $crash"
  fi
  echo "$line"
  if [ "$merge" -eq 1 ] && [ "$status" = ok ]; then
    mkdir -p "$out/merged/$t"
    "$bin" "${flags[@]}" -merge=1 "$out/merged/$t" "fuzz/corpus/$t" "$work" >"$log.merge" 2>&1 || true
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  cat <<EOF
fuzz.sh: FAILED: ${failed[*]}
To turn a finding into a regression test:
  1. reproduce: $build_dir/fuzz/fuzz_<target> $out/artifacts/<target>/crash-...
  2. fix the parser at its root; add a doctest case with the input to tests/<layer>/
  3. keep the input: cp $out/artifacts/<target>/crash-... $source_dir/fuzz/regressions/<target>/<what-it-was>
     (this script replays fuzz/regressions/<target>/ before every run)
EOF
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets passed (${seconds} s each)"
[ "$merge" -eq 1 ] && echo "fuzz.sh: minimized corpora in $out/merged/<target>; copy new small inputs into fuzz/corpus/<target>/"
exit 0
