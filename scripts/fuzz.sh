#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (built by `make fuzz` in
# $FUZZ_BUILD_DIR), one after the other, each for $FUZZ_SECONDS on one core.
#
# usage: scripts/fuzz.sh [target...]     (default: every target, e.g. "yaml")
# env:   FUZZ_SECONDS (60)  FUZZ_BUILD_DIR (build-fuzz)
#        FUZZ_RSS_MB (2048: more is a leak or blow-up, a failure)
#        FUZZ_TIMEOUT (10: seconds one input may take, more is a hang)
#
# The seeds in tests/fuzz/corpus/<target> are read only; what libFuzzer
# adds goes to $FUZZ_BUILD_DIR/fuzz-corpus/<target> (kept between runs, not
# in git). Crashing, leaking or hanging inputs land in
# $FUZZ_BUILD_DIR/fuzz-artifacts/, the logs in $FUZZ_BUILD_DIR/fuzz-logs/.
# Prints one line per target (seconds, executions, corpus size, result) and
# exits 1 when any target crashed, leaked, hung or ran out of memory.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
rss=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$build"/tests/fuzz/*_fuzz; do
    [ -x "$bin" ] && targets+=("$(basename "$bin" _fuzz)")
  done
  if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz.sh: no fuzz targets in $build/tests/fuzz (run make fuzz)" >&2
    exit 1
  fi
fi
mkdir -p "$build/fuzz-logs" "$build/fuzz-artifacts"

failed=0
printf '%-24s %8s %12s %8s  %s\n' target seconds execs corpus result
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/${t}_fuzz"
  if [ ! -x "$bin" ]; then
    echo "fuzz.sh: $bin not built (make fuzz builds it)" >&2
    failed=1
    continue
  fi
  work="$build/fuzz-corpus/$t"
  log="$build/fuzz-logs/$t.log"
  mkdir -p "$work"
  start=$(date +%s)
  "$bin" -max_total_time="$seconds" -rss_limit_mb="$rss" -timeout="$timeout" \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" \
    "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  units=$(ls "$work" | wc -l)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    failed=1
    result=$(grep -m1 -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [a-z-]+|runtime error|FUZZ_CHECK\(.*' "$log" || echo "exit $rc")
    result="FAILED ($result; see $log)"
  fi
  printf '%-24s %8s %12s %8s  %s\n' "$t" "$took" "${execs:-?}" "$units" "$result"
done
exit $failed
