#!/usr/bin/env bash
# bench/podstart.sh: the agent's costs (issue 6 item 8, DESIGN.md §9), all in
# a network namespace of its own with no route out (tests/netns_lib.sh):
#   - cold start: `kite server` (with its agent) launched on a data dir that
#     was set up before, containerd not running (a device rebooting), until
#     a watch sees the Node Ready; also the very first start (fresh data
#     dir: CAs and keys are made) for reference;
#   - idle: RSS, CPU share of one core and bytes written to disk per minute
#     of the kite process (its agent included; containerd is reported
#     apart), over MEASURE_S seconds after SETTLE_S seconds with no workload;
#   - pod start: PODS pods one after another (image present, one container
#     `sleep 3600`), from the create call until a watch sees the pod Ready
#     (bench/podstart/podstart_watch);
#   - containerd alone: the same CRI calls a kubelet makes for such a pod
#     (ImageStatus, RunPodSandbox, CreateContainer, StartContainer) from a
#     minimal client (bench/podstart/podstart_raw), against a containerd
#     started with the configuration kite's agent generated (same CNI
#     configuration, same images), after kite stopped.
# Records the results in bench/README.md under "## Pod start and agent idle
# cost (bench/podstart.sh)"; the last line of the output is
#   podstart: p50_ms=<n> p99_ms=<n> raw_p50_ms=<n> ratio=<p50/raw_p50> idle_rss_mb=<n> idle_cpu_pct=<n> cold_start_ms=<n> idle_write_kb_per_min=<n>
# Goals: ratio <= 1.5, idle RSS < 50 MB, idle CPU < 1%, cold start < 2 s,
# idle writes < 1,200 KB/min.
#
# Environment: BUILD_DIR (default build), PODS (20), SETTLE_S (30),
# MEASURE_S (60), RECORD (1: write bench/README.md).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$root/build}
PODS=${PODS:-20}
SETTLE_S=${SETTLE_S:-30}
MEASURE_S=${MEASURE_S:-60}
RECORD=${RECORD:-1}
. "$root/tests/netns_lib.sh"

[ "$(id -u)" = 0 ] || { echo "podstart.sh: needs root" >&2; exit 1; }
echo "podstart.sh: building kite, images and the bench tools in $BUILD_DIR" >&2
cmake --build "$BUILD_DIR" -j2 --target kite images podstart_watch podstart_raw >&2 || exit 1
KITE=$BUILD_DIR/cmd/kite
WATCH=$BUILD_DIR/bench/podstart/podstart_watch
RAW=$BUILD_DIR/bench/podstart/podstart_raw

work=$(mktemp -d /tmp/kite-podstart-XXXXXX)
data=$work/data
sock=$data/agent/containerd/containerd.sock
node=podstart-node
server_pid= ctd_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  # The pods go while the raw phase's containerd still runs (it is stopped
  # by containerd_cleanup too).
  containerd_cleanup "$sock" "$data/agent"
  [ -n "$ctd_pid" ] && kill "$ctd_pid" 2>/dev/null; [ -n "$ctd_pid" ] && wait "$ctd_pid" 2>/dev/null
  netns_destroy
  rm -rf "$work"
}
trap cleanup EXIT
netns_create "kite-podstart-$$" 10.78.0.2 || exit 1
mkdir -p "$data/agent/images"
cp "$BUILD_DIR/images/busybox.tar" "$data/agent/images/"
export KUBECONFIG=$work/kite.yaml
K=(netns_run kubectl --cache-dir "$work/cache" --request-timeout=30s)
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Launches kite server (server_pid) and sets ready_ms to the ms until the
# Node is Ready. Not in a subshell: server_pid must reach the caller.
start_and_wait_ready() {
  local t0 t1
  t0=$(now_ms)
  local since=$((t0 / 1000))  # heartbeats have whole seconds
  "${NETNS_EXEC[@]}" "$KITE" server --data-dir "$data" --write-kubeconfig "$KUBECONFIG" \
    --node-name "$node" >>"$work/server.log" 2>&1 &
  server_pid=$!
  until [ -f "$KUBECONFIG" ]; do sleep 0.005; done
  netns_run "$WATCH" --kubeconfig "$KUBECONFIG" --wait-node "$node" --since "$since" --timeout-s 60 >&2 || {
    tail -30 "$work/server.log" >&2; exit 1; }
  t1=$(now_ms)
  ready_ms=$((t1 - t0))
}
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=
  sleep 1.5  # the next start's heartbeats are then in a later second
}

echo "podstart.sh: first start (fresh data dir)" >&2
start_and_wait_ready
first_ms=$ready_ms
stop_server
# containerd stopped with the agent (its shims hold no containers yet).
echo "podstart.sh: cold start (existing data dir, containerd not running)" >&2
cold=()
for i in 1 2 3; do
  start_and_wait_ready
  cold+=("$ready_ms")
  [ "$i" -lt 3 ] && stop_server
done
cold_sorted=($(printf '%s\n' "${cold[@]}" | sort -n))
cold_ms=${cold_sorted[1]}  # the median of three
echo "podstart.sh: first start ${first_ms} ms; cold starts ${cold[*]} ms (median ${cold_ms})" >&2

echo "podstart.sh: idle for ${SETTLE_S} s, then measured for ${MEASURE_S} s" >&2
sleep "$SETTLE_S"
ctd=$(for p in /proc/[0-9]*; do
  [ "$(cat "$p/comm" 2>/dev/null)" = containerd ] &&
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$data/agent/containerd" && echo "${p#/proc/}"
done | head -1)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wbytes() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
k_t0=$(ticks "$server_pid"); k_w0=$(wbytes "$server_pid")
c_t0=$(ticks "$ctd"); c_w0=$(wbytes "$ctd")
sleep "$MEASURE_S"
k_t1=$(ticks "$server_pid"); k_w1=$(wbytes "$server_pid")
c_t1=$(ticks "$ctd"); c_w1=$(wbytes "$ctd")
k_rss=$(rss_kb "$server_pid"); c_rss=$(rss_kb "$ctd")
calc() { python3 -c "print($1)"; }
idle_cpu=$(calc "round(100.0 * ($k_t1 - $k_t0) / $hz / $MEASURE_S, 2)")
idle_rss=$(calc "round($k_rss / 1024.0, 1)")
idle_wkb=$(calc "round(($k_w1 - $k_w0) / 1024.0 * 60 / $MEASURE_S, 1)")
ctd_cpu=$(calc "round(100.0 * ($c_t1 - $c_t0) / $hz / $MEASURE_S, 2)")
ctd_rss=$(calc "round($c_rss / 1024.0, 1)")
ctd_wkb=$(calc "round(($c_w1 - $c_w0) / 1024.0 * 60 / $MEASURE_S, 1)")
echo "podstart.sh: idle kite rss=${idle_rss}MB cpu=${idle_cpu}% writes=${idle_wkb}KB/min; containerd rss=${ctd_rss}MB cpu=${ctd_cpu}% writes=${ctd_wkb}KB/min" >&2

echo "podstart.sh: $PODS pods through kite" >&2
"${K[@]}" create namespace podstart >/dev/null
netns_run "$WATCH" --kubeconfig "$KUBECONFIG" --namespace podstart --pods "$PODS" ${VERBOSE:+--verbose 1} | tee "$work/kite.out" >&2
kite_summary=$(grep '^kite-summary:' "$work/kite.out")
[ -n "$kite_summary" ] || { echo "podstart.sh: no kite summary" >&2; tail -30 "$work/server.log" >&2; exit 1; }
stop_server

echo "podstart.sh: $PODS pods straight to containerd (kite's configuration)" >&2
"${NETNS_EXEC[@]}" containerd --config "$data/agent/containerd/config.toml" >"$work/containerd-raw.log" 2>&1 &
ctd_pid=$!
for _ in $(seq 1 200); do ctr --address "$sock" version >/dev/null 2>&1 && break; sleep 0.05; done
netns_run "$RAW" --endpoint "unix://$sock" --pods "$PODS" --log-dir "$work/rawlogs" | tee "$work/raw.out" >&2
raw_summary=$(grep '^raw-summary:' "$work/raw.out")
[ -n "$raw_summary" ] || { echo "podstart.sh: no raw summary" >&2; exit 1; }

kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" ${1#*: }"; }
p50=$(kv "$kite_summary" p50_ms); p99=$(kv "$kite_summary" p99_ms)
raw_p50=$(kv "$raw_summary" p50_ms); raw_p99=$(kv "$raw_summary" p99_ms)
ratio=$(calc "round($p50 / $raw_p50, 2)")
last="podstart: p50_ms=$p50 p99_ms=$p99 raw_p50_ms=$raw_p50 ratio=$ratio idle_rss_mb=$idle_rss idle_cpu_pct=$idle_cpu cold_start_ms=$cold_ms idle_write_kb_per_min=$idle_wkb"

if [ "$RECORD" = 1 ]; then
  readme=$root/bench/README.md
  section="## Pod start and agent idle cost (bench/podstart.sh)"
  body=$work/body
  cat >"$body" <<BODY
$section

- Command: \`bench/podstart.sh\` (PODS=$PODS, SETTLE_S=$SETTLE_S, MEASURE_S=$MEASURE_S), as root, everything inside a network namespace with no route out
- Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo), $(uname -r); containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1 {print $3}')
- Code: $(git -C "$root" rev-parse --short HEAD)
- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)

| what | measured | goal |
|---|---|---|
| pod start through kite, create call to Ready seen by a watch (p50 / p99 of $PODS) | $p50 ms / $p99 ms | |
| the same CRI calls straight to containerd (p50 / p99 of $PODS) | $raw_p50 ms / $raw_p99 ms | |
| ratio p50 / raw p50 | $ratio | at most 1.5 |
| cold start, launch to Ready node (median of ${cold[*]} ms; data dir set up, containerd not running) | $cold_ms ms | under 2,000 ms |
| first start on a fresh data dir (CAs and keys made), launch to Ready node | $first_ms ms | |
| idle RSS of \`kite server\` with its agent | $idle_rss MB | under 50 MB |
| idle CPU of \`kite server\` with its agent (share of one core over ${MEASURE_S} s) | $idle_cpu% | under 1% |
| idle disk writes of \`kite server\` (/proc/PID/io write_bytes) | $idle_wkb KB/min | under 1,200 KB/min |
| containerd alongside (not counted above): RSS, CPU, writes | $ctd_rss MB, $ctd_cpu%, $ctd_wkb KB/min | |

\`\`\`
$kite_summary
$raw_summary
\`\`\`

The summary line (the last line of this file, as issue 6 asks):

$last
BODY
  python3 - "$readme" "$section" "$body" <<'PY'
import sys
readme, section, body = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
text = open(readme).read()
start = text.find(section + "\n")
if start >= 0:  # replaced (placed again below)
    end = text.find("\n## ", start + len(section))
    text = text[:start] + (text[end + 1:] if end >= 0 else "")
# Just before the network section when there is one (issue 7 wants the
# network line last), else at the end.
net = text.find("## Network (bench/network.sh)\n")
if net >= 0:
    text = text[:net] + body.rstrip("\n") + "\n\n" + text[net:]
else:
    text = text.rstrip("\n") + "\n\n" + body
open(readme, "w").write(text)
PY
  echo "podstart.sh: recorded in $readme" >&2
fi
echo "$last"
