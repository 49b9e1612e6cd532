#!/usr/bin/env bash
# bench/idle.sh: idle cost of the SQLite datastore with open watches (issue 2
# item 6, DESIGN.md §9). 100 watches, each consumed by a thread blocked in
# Next() with a 5 s timeout (as an API server waits between bookmarks), no
# writes; measures the process's CPU time and disk writes over 60 s. Budget:
# under 0.1% of one core and under 20 KiB/s written. Records the result in
# bench/README.md under "## Idle CPU (bench/idle.sh)".
#
# Environment: BUILD_DIR (default build-bench), WATCHERS (100), TIMEOUT_MS
# (5000), MEASURE_S (60), TMPDIR (where the database lives).
set -euo pipefail
source "$(dirname "$0")/durability/common.sh"
WATCHERS="${WATCHERS:-100}"
TIMEOUT_MS="${TIMEOUT_MS:-5000}"
MEASURE_S="${MEASURE_S:-60}"

echo "idle.sh: building kite_idle_bench in $BUILD_DIR" >&2
dur_build kite_idle_bench

dir="$(mktemp -d "${TMPDIR:-/tmp}/kite-idle-bench-XXXXXX")"
trap 'rm -rf "$dir"' EXIT
status=0
"$BUILD_DIR/bench/durability/kite_idle_bench" --dir="$dir" --watchers="$WATCHERS" \
  --timeout-ms="$TIMEOUT_MS" --settle-ms=2000 --measure-s="$MEASURE_S" 2>&1 | tee "$dir/out" || status=$?
summary="$(grep '^idle-summary:' "$dir/out" | tail -1 || true)"
[ -n "$summary" ] || { echo "idle.sh: no summary line; not recording" >&2; exit 1; }
if [ "$status" -eq 0 ]; then verdict="PASS"; else verdict="FAIL (exit $status)"; fi
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" ${summary#idle-summary: }"; }

cat >"$dir/body" <<BODY
## Idle CPU (bench/idle.sh)

- Command: \`bench/idle.sh\` ($WATCHERS open watches on the SQLite backend, each consumed by a thread calling Next() with a $TIMEOUT_MS ms timeout, as an API server waits between bookmarks; 2 s to settle, then ${MEASURE_S} s measured with no writes)
- Machine: $(dur_machine)
- Code: $(dur_code)
- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)

CPU is the whole process's user + system time (getrusage RUSAGE_SELF); disk writes are
\`write_bytes\` of /proc/self/io over the same window; backend wakeups are the context
switches, during the window, of the threads that are neither the watchers' nor main's
(the backend's writer, checkpointer and timers): a polling loop would show there. The
watcher threads themselves wake once per timeout each (the caller's choice).

| watches | seconds | CPU time | share of one core (budget 0.1%) | disk written | write rate (budget 20 KiB/s) | backend wakeups | result |
|---|---|---|---|---|---|---|---|
| $(kv watchers) | $(kv seconds) | $(kv cpu_ms) ms | $(kv core_percent)% | $(kv write_bytes) B | $(kv write_bytes_per_s) B/s | $(kv backend_wakeups) | $verdict |

\`\`\`
$(grep '^idle:' "$dir/out")
$summary
\`\`\`
BODY
dur_readme_section "## Idle CPU (bench/idle.sh)" "$dir/body"
echo "idle.sh: recorded in $README" >&2
exit "$status"
