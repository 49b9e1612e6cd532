#!/usr/bin/env bash
# bench/scale.sh: the scheduler and controllers at scale (issue 5 item 6).
# Builds kite, kite-simnodes and scale_bench (Release, in $BUILD_DIR),
# starts `kite server --disable-agent` on 127.0.0.1 and a free port in a
# temp dir, registers $NODES simulated nodes (kite-simnodes, each with its
# own node certificate, over HTTPS), then runs bench/scale/scale_bench.cpp:
# $DEPLOYMENTS Deployments of $REPLICAS replicas, timed from the last create
# until every pod is Running, with a probe timing ConfigMap creates and
# patches meanwhile (see the file for what each figure means). The server's
# peak RSS is VmHWM from /proc at the end. Records the results in
# bench/README.md under "## Scale (bench/scale.sh)", just above the
# datastore section (which stays last). The last line of output is
#   scale: nodes=100 pods=3000 all_running_s=<n> bind_per_s=<n> mutating_p99_ms=<n> rss_mb=<n>
#
#   bench/scale.sh
#   NODES=10 DEPLOYMENTS=3 REPLICAS=50 bench/scale.sh   # a quicker look
#
# Environment: BUILD_DIR (default build-bench), JOBS (2), TMPDIR (where the
# server keeps its data; not tmpfs), NODES (100), DEPLOYMENTS (30),
# REPLICAS (100), TIMEOUT (600 s), SIM_WORKERS (16: threads kite-simnodes
# reports pod status with; 100 real nodes would each have their own kubelet),
# NO_RECORD (1: print only, README untouched).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build-bench}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
JOBS="${JOBS:-2}"
NODES="${NODES:-100}"
DEPLOYMENTS="${DEPLOYMENTS:-30}"
REPLICAS="${REPLICAS:-100}"
TIMEOUT="${TIMEOUT:-600}"
SIM_WORKERS="${SIM_WORKERS:-16}"
README="$ROOT/bench/README.md"
TITLE="## Scale (bench/scale.sh)"
LAST_TITLE="## Datastore (bench/datastore.sh)"
"$ROOT/scripts/deps.sh" build bench >&2
echo "scale.sh: building kite, kite-simnodes and scale_bench in $BUILD_DIR" >&2
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
build_log="$(mktemp)"
if ! cmake --build "$BUILD_DIR" -j "$JOBS" --target kite kite-simnodes scale_bench >"$build_log" 2>&1; then
  tail -30 "$build_log" >&2; rm -f "$build_log"; exit 1
fi
rm -f "$build_log"
SIM="$(find "$BUILD_DIR/tests" -name kite-simnodes -type f -perm -u+x | head -1)"
[ -n "$SIM" ] || { echo "scale.sh: kite-simnodes not built" >&2; exit 1; }
base="${TMPDIR:-/tmp}"
if [ "$(findmnt -no FSTYPE -T "$base")" = tmpfs ]; then
  echo "scale.sh: $base is tmpfs; using $BUILD_DIR for the data instead" >&2
  base="$BUILD_DIR"
fi
work="$(mktemp -d "$base/kite-scale-bench-XXXXXX")"
server_pid="" sim_pid=""
stop() { if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi; }
cleanup() { stop "$sim_pid"; stop "$server_pid"; rm -rf "$work"; }
trap cleanup EXIT
"$BUILD_DIR/cmd/kite" server --disable-agent --data-dir "$work/data" --bind-address 127.0.0.1 \
  --https-listen-port 0 --write-kubeconfig "$work/kite.yaml" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 400); do
  grep -q "server ready" "$work/server.log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
grep -q "server ready" "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
server="$(awk '/server:/ {print $2; exit}' "$work/kite.yaml")"
echo "scale.sh: kite server pid $server_pid at $server, data in $work" >&2
"$SIM" --data-dir "$work/data" --server "$server" --nodes "$NODES" --prefix node \
  --cpu 4 --memory 8Gi --pods 110 --workers "$SIM_WORKERS" </dev/null >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 1200); do
  grep -q "simnodes ready nodes=$NODES" "$work/sim.log" 2>/dev/null && break
  kill -0 "$sim_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q "simnodes ready nodes=$NODES" "$work/sim.log" || { tail -20 "$work/sim.log" >&2; exit 1; }
echo "scale.sh: $NODES simulated nodes ready" >&2
rss_idle_kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$BUILD_DIR/bench/scale/scale_bench" --kubeconfig="$work/kite.yaml" --deployments="$DEPLOYMENTS" \
  --replicas="$REPLICAS" --timeout="$TIMEOUT" >"$work/out" || status=$?
hwm_kb="$(awk '/^VmHWM:/ {print $2}' "/proc/$server_pid/status")"
cpu_ticks="$(awk '{print $14+$15}' "/proc/$server_pid/stat")"
stop "$sim_pid"; sim_pid=""
stop "$server_pid"; server_pid=""
final="$(grep '^result all_running_s=' "$work/out" | tail -1 || true)"
if [ "$status" -ne 0 ] || [ -z "$final" ]; then
  cat "$work/out" >&2 || true
  echo "scale.sh: the benchmark failed (exit $status); server log tail:" >&2
  tail -20 "$work/server.log" >&2 || true
  exit 1
fi
get() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<" $final"; }
rss_mb=$(( (hwm_kb + 512) / 1024 ))
pods=$((DEPLOYMENTS * REPLICAS))
summary="scale: nodes=$NODES pods=$pods all_running_s=$(get all_running_s) bind_per_s=$(get bind_per_s) mutating_p99_ms=$(get mutating_p99_ms) rss_mb=$rss_mb"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
read -r fs_source fs_type < <(findmnt -no SOURCE,FSTYPE -T "$work")
commit="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
{
  echo "$TITLE"
  echo
  echo "Command: \`bench/scale.sh\` (NODES=$NODES DEPLOYMENTS=$DEPLOYMENTS REPLICAS=$REPLICAS SIM_WORKERS=$SIM_WORKERS). A real \`kite server"
  echo "--disable-agent\` (SQLite datastore, durable writes) on 127.0.0.1 with $NODES simulated nodes (\`kite-simnodes\`:"
  echo "one process, node certificates, HTTPS, pods reported Running as soon as they are bound); \`scale_bench\` creates"
  echo "the Deployments over HTTPS with the admin certificate and watches the pods."
  echo
  echo "Machine: nproc=$(nproc), kernel $(uname -r) ($(uname -m)), ${cpu:-unknown cpu}; data on $fs_source ($fs_type)."
  echo "Date: $(date -u +%Y-%m-%dT%H:%M:%SZ), kite commit $commit; load average before the run: $load_before (other work shares the machine)."
  echo
  echo "| measure | kite | goal |"
  echo "|---|---:|---:|"
  echo "| seconds from the last Deployment create until all $pods pods are Running | $(get all_running_s) | < 60 |"
  echo "| pods bound per second (first to last pod seen bound on the watch) | $(get bind_per_s) | |"
  echo "| mutating calls during the run (Deployment creates, probe ConfigMap create+patch every 100 ms): p50 / p99 (ms) | $(get mutating_p50_ms) / $(get mutating_p99_ms) | |"
  echo "| mutating calls timed / failed | $(get mutating_calls) / $(get errors) | |"
  echo "| server RSS after the nodes registered / peak, VmHWM (MB) | $(( (rss_idle_kb + 512) / 1024 )) / $rss_mb | < 300 |"
  echo "| server CPU time for the whole run (s) | $(awk -v t="$cpu_ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/hz}') | |"
  echo
  echo "    $final"
  echo
  echo "$summary"
} >"$work/section"

if [ "${NO_RECORD:-0}" != 1 ]; then
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
  chmod 644 "$tmp"
  mv "$tmp" "$README"
  echo "scale.sh: recorded in $README" >&2
fi

echo "$final"
echo "$summary"
