#!/usr/bin/env bash
# bench/crash.sh: the full crash-safety run of the SQLite datastore (issue 2
# item 5). Builds tests/crash_test and its writer, then SIGKILLs the writer
# (64 threads of creates and CAS updates) KILLS times at random moments,
# proving after each kill that every acknowledged write is present, the
# revision did not go backwards and PRAGMA integrity_check is ok. Records the
# result in bench/README.md under "## Crash safety (bench/crash.sh)".
#
#   bench/crash.sh                      # 100 kills, 0.1-3 s after each start
#   KITE_CRASH_KILLS=300 KITE_CRASH_SEED=7 bench/crash.sh
#
# Environment: BUILD_DIR (default build-bench), KITE_CRASH_KILLS (100),
# KITE_CRASH_MIN_MS (100), KITE_CRASH_MAX_MS (3000), KITE_CRASH_SEED
# (20261123), KITE_CRASH_THREADS (64), TMPDIR (where the database lives).
set -euo pipefail
source "$(dirname "$0")/durability/common.sh"

export KITE_CRASH_KILLS="${KITE_CRASH_KILLS:-100}"
export KITE_CRASH_MIN_MS="${KITE_CRASH_MIN_MS:-100}"
export KITE_CRASH_MAX_MS="${KITE_CRASH_MAX_MS:-3000}"
export KITE_CRASH_SEED="${KITE_CRASH_SEED:-20261123}"
export KITE_CRASH_THREADS="${KITE_CRASH_THREADS:-64}"

echo "crash.sh: building crash_test in $BUILD_DIR" >&2
dur_build crash_test kite_crash_writer

log="$(mktemp)"
trap 'rm -f "$log" "$log.body"' EXIT
status=0
"$BUILD_DIR/tests/crash_test" 2>&1 | tee "$log" || status=$?
summary="$(grep '^crash-summary:' "$log" | tail -1 || true)"
[ -n "$summary" ] || { echo "crash.sh: no summary line; not recording" >&2; exit 1; }
if [ "$status" -eq 0 ]; then verdict="PASS"; else verdict="FAIL (exit $status)"; fi
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" ${summary#crash-summary: }"; }

cat >"$log.body" <<BODY
## Crash safety (bench/crash.sh)

- Command: \`bench/crash.sh\` (KITE_CRASH_KILLS=$KITE_CRASH_KILLS, KITE_CRASH_MIN_MS=$KITE_CRASH_MIN_MS, KITE_CRASH_MAX_MS=$KITE_CRASH_MAX_MS, KITE_CRASH_THREADS=$KITE_CRASH_THREADS, KITE_CRASH_SEED=$KITE_CRASH_SEED)
- Machine: $(dur_machine)
- Code: $(dur_code)
- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)

Each round starts \`kite_crash_writer\` (tests/crash_writer.cpp) on the same database:
$KITE_CRASH_THREADS threads create and compare-and-swap update keys of their own and
acknowledge each OK call with one write(2) to a pipe. The test (tests/crash_test.cpp)
SIGKILLs it $KITE_CRASH_MIN_MS-$KITE_CRASH_MAX_MS ms (uniformly at random) after it
started (about half the rounds, so some kills land while it opens and recovers the store)
or after it reported the store open (the others), then checks the file with SQLite's
\`PRAGMA integrity_check\`, reopens the backend and checks every acknowledged write (the
key holds that sequence or a later one, with that revision or a later one; Get agrees
with List) and that the revision never went backwards, then restarts the writer on the
same file. A second case makes the writer acknowledge writes it never makes and checks
that the verifier reports them lost. \`make test\` runs the same test with 20 kills at
50-400 ms. A SIGKILL tests process death, not power loss (the page cache survives).

| kills | kills timed from open | acknowledged writes | keys | acknowledged writes lost | final revision | slowest open | seconds | result |
|---|---|---|---|---|---|---|---|---|
| $(kv kills) | $(kv kills_after_open) | $(kv acked) | $(kv keys) | $(kv lost) | $(kv final_revision) | $(kv max_open_ms) ms | $(kv seconds) | $verdict |

\`$summary\`
BODY
dur_readme_section "## Crash safety (bench/crash.sh)" "$log.body"
echo "crash.sh: recorded in $README" >&2
exit "$status"
