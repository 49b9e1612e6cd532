#!/usr/bin/env bash
# bench/datastore.sh: kite's SQLite datastore against etcd on the same disk
# (issue 2 item 7, DESIGN.md §9). Builds datastore_bench (Release, in
# $BUILD_DIR), starts Debian's etcd on loopback with its default durability
# (no --unsafe-no-fsync) in a temp dir beside kite's database, runs the
# benchmark (bench/datastore/datastore_bench.cpp says what it measures),
# stops etcd and records the results in bench/README.md under
# "## Datastore (bench/datastore.sh)", which it keeps as the LAST section:
# the file's last line, and this script's last line of output, is
#   datastore: writes1_ratio=<kite/etcd> writes64_ratio=<kite/etcd> list10k_ms=<kite> watch1000_p99_ms=<kite>
#
#   bench/datastore.sh
#   WRITE_SECONDS=2 ROUNDS=2 bench/datastore.sh   # a quicker, noisier look
#
# Environment: BUILD_DIR (default build-bench), JOBS (2), TMPDIR (where both
# stores keep their data; must not be tmpfs), WRITE_SECONDS (10) and ROUNDS (10): time
# per store and write test, and how many alternating rounds it is cut into; ETCD (the
# etcd binary, /usr/bin/etcd), NICE=0 (do not raise both stores' CPU
# priority when root). Installs packages only through
# scripts/deps.sh (groups build and bench); takes about 2-4 minutes (1-2 once built).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build-bench}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
JOBS="${JOBS:-2}"
WRITE_SECONDS="${WRITE_SECONDS:-10}"
ROUNDS="${ROUNDS:-10}"
ETCD="${ETCD:-/usr/bin/etcd}"
README="$ROOT/bench/README.md"
TITLE="## Datastore (bench/datastore.sh)"

"$ROOT/scripts/deps.sh" build bench >&2

echo "datastore.sh: building datastore_bench in $BUILD_DIR" >&2
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS" --target datastore_bench >/dev/null

# One temp dir holds both stores' data, so both are on the same disk.
base="${TMPDIR:-/tmp}"
if [ "$(findmnt -no FSTYPE -T "$base")" = tmpfs ]; then
  echo "datastore.sh: $base is tmpfs; using $BUILD_DIR for the data instead" >&2
  base="$BUILD_DIR"
fi
work="$(mktemp -d "$base/kite-datastore-bench-XXXXXX")"
etcd_pid=""
cleanup() {
  if [ -n "$etcd_pid" ] && kill -0 "$etcd_pid" 2>/dev/null; then
    kill -TERM "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Two free loopback ports for etcd's client and peer listeners.
free_port() {
  local p
  for p in $(shuf -i 20000-45000 -n 200); do
    if [ -z "$(ss -Hltn "sport = :$p")" ] && [ "$p" != "${1:-}" ]; then
      echo "$p"
      return 0
    fi
  done
  echo "datastore.sh: no free port found" >&2
  return 1
}
client_port="$(free_port)"
peer_port="$(free_port "$client_port")"

# On a shared machine, unrelated builds and tests compete for the CPUs; as
# root both stores (etcd and the benchmark process) run at the same raised
# CPU priority so that they disturb the measurement less. Both get the same.
prio=()
if [ "$(id -u)" = 0 ] && [ "${NICE:-1}" != 0 ]; then prio=(nice -n -10); fi

mkdir -p "$work/etcd" "$work/kite"
"${prio[@]}" "$ETCD" --name kite-bench --data-dir "$work/etcd/data" \
  --listen-client-urls "http://127.0.0.1:$client_port" --advertise-client-urls "http://127.0.0.1:$client_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "kite-bench=http://127.0.0.1:$peer_port" \
  --quota-backend-bytes=8589934592 --log-level=warn >"$work/etcd.log" 2>&1 &
etcd_pid=$!
echo "datastore.sh: etcd pid $etcd_pid on 127.0.0.1:$client_port, data in $work" >&2

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"${prio[@]}" "$BUILD_DIR/bench/datastore/datastore_bench" \
  --kite="sqlite://$work/kite/state.db" --etcd="127.0.0.1:$client_port" \
  --write-seconds="$WRITE_SECONDS" --rounds="$ROUNDS" --probe-dir="$work" --markdown="$work/table.md" >"$work/out" || status=$?

kill -TERM "$etcd_pid" 2>/dev/null || true
wait "$etcd_pid" 2>/dev/null || true
etcd_pid=""

summary="$(grep '^datastore: ' "$work/out" | tail -1 || true)"
if [ "$status" -ne 0 ] || [ -z "$summary" ]; then
  cat "$work/out" >&2 || true
  echo "datastore.sh: the benchmark failed (exit $status); etcd log tail:" >&2
  tail -20 "$work/etcd.log" >&2 || true
  exit 1
fi

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
read -r fs_source fs_type < <(findmnt -no SOURCE,FSTYPE -T "$work")
dev="$fs_source"
parent="$(lsblk -no PKNAME "$fs_source" 2>/dev/null | head -1 || true)"
[ -z "$parent" ] || dev="/dev/$parent"
disk="$(lsblk -dnPo NAME,MODEL,ROTA,SIZE "$dev" 2>/dev/null || true)"
etcd_version="$("$ETCD" --version | sed -n 's/^etcd Version: //p')"
commit="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"

{
  echo "$TITLE"
  echo
  echo "Command: \`bench/datastore.sh\` (WRITE_SECONDS=$WRITE_SECONDS ROUNDS=$ROUNDS). kite's SQLite backend is driven in-process"
  echo "through \`datastore::Backend\` (as kite's API server uses it); etcd $etcd_version over its native gRPC API"
  echo "(HTTP/2 + protobuf, kite's own client in \`rpc/\`), started with its default durability (no"
  echo "\`--unsafe-no-fsync\`). Both keep their data in one temp dir on the same disk."
  echo "With one client both stores pay one fdatasync per write, so that figure follows the disk's"
  echo "sync latency (the probe under the table) and varies from run to run on a shared machine."
  echo
  echo "Machine: nproc=$(nproc), kernel $(uname -r) ($(uname -m)), ${cpu:-unknown cpu}; data on $fs_source ($fs_type${disk:+; disk: $disk})."
  echo "Date: $(date -u +%Y-%m-%dT%H:%M:%SZ), kite commit $commit; load average before the run: $load_before (other work on the machine shares its CPUs and disk${prio[*]:+; etcd and the benchmark ran under \`${prio[*]}\`})."
  echo
  cat "$work/table.md"
  echo
  grep '^result ' "$work/out" | sed 's/^/    /'
  echo
  echo "$summary"
} >"$work/section"

# Replace our section and keep it last: drop it wherever it is, then append.
[ -f "$README" ] || printf '# kite benchmarks\n\nEach script in bench/ measures one budget of DESIGN.md §9 and records its\nresults here, with the command and the machine.\n' >"$README"
tmp="$(mktemp "$README.XXXXXX")"
awk -v title="$TITLE" '
  /^## / { skipping = ($0 == title) }
  !skipping { print }
' "$README" >"$tmp"
sed -i -e ':a' -e '/^\n*$/{$d;N;ba' -e '}' "$tmp"
{ echo; cat "$work/section"; } >>"$tmp"
mv "$tmp" "$README"
echo "datastore.sh: recorded in $README" >&2

cat "$work/table.md"
echo "$summary"
