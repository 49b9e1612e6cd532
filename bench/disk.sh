#!/usr/bin/env bash
# bench/disk.sh: the disk bound of the SQLite datastore (issue 2 item 6).
# 1,000,000 updates of 1 KB values over 1,000 keys from 64 writers with
# kite's default history bounds and no VACUUM; the database plus WAL must end
# under 4x the live data plus 64 MiB. Samples the size during the run for the
# peak. Records the result in bench/README.md under
# "## Disk bound (bench/disk.sh)".
#
#   bench/disk.sh
#   UPDATES=100000 bench/disk.sh      # a quicker look (not what the issue asks)
#
# Environment: BUILD_DIR (default build-bench), UPDATES (1000000), KEYS
# (1000), VALUE_BYTES (1024), WRITERS (64), TMPDIR (where the database lives).
set -euo pipefail
source "$(dirname "$0")/durability/common.sh"
UPDATES="${UPDATES:-1000000}"
KEYS="${KEYS:-1000}"
VALUE_BYTES="${VALUE_BYTES:-1024}"
WRITERS="${WRITERS:-64}"

echo "disk.sh: building kite_disk_bench in $BUILD_DIR" >&2
dur_build kite_disk_bench

dir="$(mktemp -d "${TMPDIR:-/tmp}/kite-disk-bench-XXXXXX")"
trap 'rm -rf "$dir"' EXIT
status=0
"$BUILD_DIR/bench/durability/kite_disk_bench" --dir="$dir" --updates="$UPDATES" --keys="$KEYS" \
  --value-bytes="$VALUE_BYTES" --writers="$WRITERS" --settle-ms=5000 2>&1 | tee "$dir/out" || status=$?
summary="$(grep '^disk-summary:' "$dir/out" | tail -1 || true)"
[ -n "$summary" ] || { echo "disk.sh: no summary line; not recording" >&2; exit 1; }
if [ "$status" -eq 0 ]; then verdict="PASS"; else verdict="FAIL (exit $status)"; fi
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" ${summary#disk-summary: }"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

cat >"$dir/body" <<BODY
## Disk bound (bench/disk.sh)

- Command: \`bench/disk.sh\` ($UPDATES compare-and-swap updates of $VALUE_BYTES-byte values over $KEYS keys, $WRITERS writer threads, kite's default history bounds, no VACUUM, no manual compaction)
- Machine: $(dur_machine)
- Code: $(dur_code)
- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)

| updates | seconds | updates/s | live data | db+WAL at end | db+WAL 5 s later | peak db+WAL (sampled every 50 ms) | bound (4x live + 64 MiB) | result |
|---|---|---|---|---|---|---|---|---|
| $(kv updates) | $(kv seconds) | $(kv updates_per_s) | $(mib "$(kv live_bytes)") | $(mib "$(kv end_db_plus_wal)") | $(mib "$(kv settled_db_plus_wal)") | $(mib "$(kv peak_db_plus_wal)") | $(mib "$(kv bound)") | $verdict |

\`\`\`
$(grep '^disk:' "$dir/out")
$summary
\`\`\`
BODY
dur_readme_section "## Disk bound (bench/disk.sh)" "$dir/body"
echo "disk.sh: recorded in $README" >&2
exit "$status"
