#!/usr/bin/env bash
# bench/api.sh: the API server under load over HTTPS (issue 3 item 6,
# DESIGN.md §9). Builds kite and api_bench (Release, in $BUILD_DIR), starts
# `kite server --disable-agent` on 127.0.0.1 and a free port in a temp dir,
# runs bench/api/api_bench.cpp (which says what it measures: creates/s of
# ConfigMaps with 1 and 32 clients, 10,000 pods listed as JSON and as a
# Table, watch delivery to 100 watchers), reads the server's RSS while it
# holds the 10,000 pods, stops the server and records the results in
# bench/README.md under "## API server (bench/api.sh)", just above the
# datastore section (which stays last). The last line of output is
#   api: create1_per_s=<n> create32_per_s=<n> list10k_json_ms=<n> list10k_table_ms=<n> rss_10k_mb=<n>
#
#   bench/api.sh
#   SECONDS_PER_RATE=2 PODS=2000 bench/api.sh    # a quicker look (not 10k)
#
# Environment: BUILD_DIR (default build-bench), JOBS (2), TMPDIR (where the
# server keeps its data; not tmpfs), SECONDS_PER_RATE (10), PODS (10000),
# WATCHERS (100). Takes about 2-3 minutes once built.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build-bench}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
JOBS="${JOBS:-2}"
SECONDS_PER_RATE="${SECONDS_PER_RATE:-10}"
PODS="${PODS:-10000}"
WATCHERS="${WATCHERS:-100}"
README="$ROOT/bench/README.md"
TITLE="## API server (bench/api.sh)"
LAST_TITLE="## Datastore (bench/datastore.sh)"

"$ROOT/scripts/deps.sh" build bench >&2

echo "api.sh: building kite and api_bench in $BUILD_DIR" >&2
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS" --target kite api_bench >/dev/null

base="${TMPDIR:-/tmp}"
if [ "$(findmnt -no FSTYPE -T "$base")" = tmpfs ]; then
  echo "api.sh: $base is tmpfs; using $BUILD_DIR for the data instead" >&2
  base="$BUILD_DIR"
fi
work="$(mktemp -d "$base/kite-api-bench-XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$BUILD_DIR/cmd/kite" server --disable-agent --data-dir "$work/data" --bind-address 127.0.0.1 \
  --https-listen-port "$port" --write-kubeconfig "$work/kite.yaml" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 400); do
  grep -q "server ready" "$work/server.log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
grep -q "server ready" "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
rss_idle_kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")"
echo "api.sh: kite server pid $server_pid on 127.0.0.1:$port, data in $work" >&2

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
pause="$work/pause"
status=0
"$BUILD_DIR/bench/api/api_bench" --port="$port" --tls-dir="$work/data/server/tls" --seconds="$SECONDS_PER_RATE" \
  --pods="$PODS" --watchers="$WATCHERS" --pause-file="$pause" >"$work/out" &
bench_pid=$!
rss_kb=""
while kill -0 "$bench_pid" 2>/dev/null; do
  if [ -f "$pause" ]; then
    sleep 2  # let the last list's garbage go
    rss_kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")"
    rm -f "$pause"
    break
  fi
  sleep 0.1
done
wait "$bench_pid" || status=$?
cpu_ticks="$(awk '{print $14+$15}' "/proc/$server_pid/stat")"

kill -TERM "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""

final="$(grep '^result create1_per_s=.*errors=' "$work/out" | tail -1 || true)"
if [ "$status" -ne 0 ] || [ -z "$final" ] || [ -z "$rss_kb" ]; then
  cat "$work/out" >&2 || true
  echo "api.sh: the benchmark failed (exit $status); server log tail:" >&2
  tail -20 "$work/server.log" >&2 || true
  exit 1
fi
get() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<" $final"; }
rss_mb=$(( (rss_kb + 512) / 1024 ))
summary="api: create1_per_s=$(get create1_per_s) create32_per_s=$(get create32_per_s) list10k_json_ms=$(get list10k_json_ms) list10k_table_ms=$(get list10k_table_ms) rss_10k_mb=$rss_mb"

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
read -r fs_source fs_type < <(findmnt -no SOURCE,FSTYPE -T "$work")
commit="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
{
  echo "$TITLE"
  echo
  echo "Command: \`bench/api.sh\` (SECONDS_PER_RATE=$SECONDS_PER_RATE PODS=$PODS WATCHERS=$WATCHERS). A real \`kite server"
  echo "--disable-agent\` (SQLite datastore, durable writes) on 127.0.0.1; \`api_bench\` drives it over HTTPS with"
  echo "the admin client certificate, one kept-alive TLS connection per client, JSON bodies."
  echo
  echo "Machine: nproc=$(nproc), kernel $(uname -r) ($(uname -m)), ${cpu:-unknown cpu}; data on $fs_source ($fs_type)."
  echo "Date: $(date -u +%Y-%m-%dT%H:%M:%SZ), kite commit $commit; load average before the run: $load_before (other work shares the machine)."
  echo
  echo "| measure | kite |"
  echo "|---|---:|"
  echo "| ConfigMap creates/s, 1 client | $(get create1_per_s) |"
  echo "| ConfigMap creates/s, 32 clients | $(get create32_per_s) |"
  echo "| list $PODS pods, one request, JSON (ms, median of 5) | $(get list10k_json_ms) |"
  echo "| list $PODS pods, one request, Table as kubectl get asks (ms, median of 5) | $(get list10k_table_ms) |"
  echo "| watch delivery to $WATCHERS watchers, p50 / p99 / max (ms) | $(get watch_p50_ms) / $(get watch_p99_ms) / $(get watch_max_ms) |"
  echo "| watch events missing | $(get watch_missing) |"
  echo "| server RSS idle after start / holding $PODS pods (MB) | $(( (rss_idle_kb + 512) / 1024 )) / $rss_mb |"
  echo "| server CPU time for the whole run (s) | $(awk -v t="$cpu_ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/hz}') |"
  echo
  echo "Watch test: $WATCHERS watches of one namespace, each on its own HTTPS connection; 50 ConfigMap creates 50 ms"
  echo "apart, each timed from just before its POST to each watcher's receipt of the ADDED line."
  echo
  grep '^result ' "$work/out" | sed 's/^/    /'
  echo
  echo "$summary"
} >"$work/section"

# Replace our section and place it just above the datastore section, which
# stays last.
[ -f "$README" ] || printf '# kite benchmarks\n' >"$README"
tmp="$(mktemp "$README.XXXXXX")"
awk -v title="$TITLE" -v last="$LAST_TITLE" -v section="$work/section" '
  /^## / {
    if ($0 == last && !placed) { while ((getline line < section) > 0) print line; print ""; placed = 1 }
    skipping = ($0 == title)
  }
  !skipping { print }
  END { if (!placed) { print ""; while ((getline line < section) > 0) print line } }
' "$README" >"$tmp"
mv "$tmp" "$README"
echo "api.sh: recorded in $README" >&2

grep '^result ' "$work/out"
echo "$summary"
