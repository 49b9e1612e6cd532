#!/usr/bin/env bash
# bench/userspace_proxy.sh — what the userspace proxy backend costs per
# request, with nothing else in the way: netbench-server on 127.0.0.1 of a
# network namespace of its own, the backend (bench/proxy/userspace_relay)
# serving ClusterIP 10.43.0.50 there on the same ports, and net_load
# against the server directly and through the ClusterIP, alternately,
# ROUNDS times each: request/response (rr), new connections (connect),
# bulk MB/s and UDP round trips. Loopback has no veth or bridge cost, so
# the ratio is the proxy's worst case (bench/network.sh measures the pod
# path). Root only; the namespace is deleted on exit.
#
# usage: bench/userspace_proxy.sh [BUILD_DIR]   (env: CONNS=16 SECONDS_=5 ROUNDS=3)
# last line: `userspace_proxy: rr_ratio=<direct/proxy> connect_ratio=... bulk_ratio=... udp_ratio=...`
set -u
BUILD=${1:-build}
CONNS=${CONNS:-16}
SECS=${SECONDS_:-5}
ROUNDS=${ROUNDS:-3}
for b in bench/proxy/userspace_relay bench/network/net_load bench/network/netbench-server; do
  [ -x "$BUILD/$b" ] || { echo "missing $BUILD/$b (cmake --build $BUILD --target userspace_relay net_load netbench_server)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace)"; exit 1; }
ns=kite-bench-us-$$
work=$(mktemp -d)
server_pid= relay_pid=
cleanup() {
  [ -n "$relay_pid" ] && { exec 3>&-; wait "$relay_pid" 2>/dev/null; }
  [ -n "$server_pid" ] && { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns" || exit 1
run() { nsenter --net=/var/run/netns/"$ns" "$@"; }
# Background processes start through nsenter itself (it execs them), so $!
# is their own PID: `run ... &` would give a subshell's, and killing that
# left netbench-server running after the benchmark.
NSEXEC=(nsenter --net=/var/run/netns/"$ns")
run ip link set lo up
"${NSEXEC[@]}" "$BUILD/bench/network/netbench-server" >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 50); do run ss -ltn | grep -q ':8081 ' && break; sleep 0.1; done
mkfifo "$work/in"
"${NSEXEC[@]}" "$BUILD/bench/proxy/userspace_relay" /var/run/netns/"$ns" 10.43.0.50 127.0.0.1 8080 8081 \
  <"$work/in" >"$work/relay.out" 2>&1 &
relay_pid=$!
exec 3>"$work/in"
for _ in $(seq 50); do grep -q ready "$work/relay.out" && break; sleep 0.1; done
grep -q ready "$work/relay.out" || { echo "relay did not start: $(cat "$work/relay.out")"; exit 1; }

load() {  # MODE ADDR PORT -> the net_load line
  run "$BUILD/bench/network/net_load" --mode "$1" --addr "$2" --port "$3" \
    --conns "$CONNS" --seconds "$SECS" --warmup 1
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
declare -A sum
for r in $(seq "$ROUNDS"); do
  for mode in rr connect bulk udp; do
    port=8080; [ $mode = bulk ] && port=8081
    for path in direct proxy; do
      addr=127.0.0.1; [ $path = proxy ] && addr=10.43.0.50
      line=$(load $mode $addr $port) || { echo "net_load $mode $addr failed: $line"; exit 1; }
      echo "round $r $path $line"
      key=$([ $mode = bulk ] && echo mb_per_s || echo ops_per_s)
      v=$(echo "$line" | field "$key")
      sum[$mode-$path]=$(echo "${sum[$mode-$path]:-0} + $v" | bc -l)
    done
  done
done
ratio() { echo "scale=2; ${sum[$1-direct]} / ${sum[$1-proxy]}" | bc -l; }
echo "load: $(cat /proc/loadavg)"
echo "userspace_proxy: rr_ratio=$(ratio rr) connect_ratio=$(ratio connect) bulk_ratio=$(ratio bulk) udp_ratio=$(ratio udp)"
