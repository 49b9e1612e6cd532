#!/usr/bin/env bash
# bench/dns.sh — queries per second of the agent's cluster DNS (agent/dns):
# a real `kite server --disable-agent` with 100 Services (ClusterIP) made
# with kubectl, kite-dns-serve on 127.0.0.1:<free port>, and dns_load
# keeping WINDOW UDP queries outstanding for SECONDS, cycling through the
# 100 names (A questions, all answered from the informer caches).
#
# usage: bench/dns.sh [BUILD_DIR] [SECONDS] [WINDOW]   (default build 10 64)
# prints the dns_load line and, last, `dns: qps=<n> p50_us=<n> p99_us=<n>`.
set -u
BUILD=${1:-build}
SECONDS_RUN=${2:-10}
WINDOW=${3:-64}
KITE=$BUILD/cmd/kite
SERVE=$BUILD/agent/dns/kite-dns-serve
LOAD=$BUILD/bench/dns/dns_load
for b in "$KITE" "$SERVE" "$LOAD"; do
  [ -x "$b" ] || { echo "missing $b (cmake --build $BUILD --target kite kite-dns-serve dns_load)"; exit 1; }
done
work=$(mktemp -d /tmp/kite-dns-bench-XXXXXX)
server_pid= dns_pid=
cleanup() {
  for p in $dns_pid $server_pid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

"$KITE" server --data-dir "$work/data" --bind-address 127.0.0.1 --https-listen-port 0 \
  --write-kubeconfig "$work/kite.yaml" --disable-agent >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
  grep -q "server ready" "$work/server.log" 2>/dev/null && break
  sleep 0.05
done
grep -q "server ready" "$work/server.log" || { echo "server did not start"; cat "$work/server.log"; exit 1; }
export KUBECONFIG="$work/kite.yaml"
names=()
for i in $(seq 1 100); do names+=("svc-$i.default.svc.cluster.local"); done
for i in $(seq 1 100); do
  printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: default}\nspec: {ports: [{port: 80}]}\n' "$i"
done | kubectl --cache-dir "$work/cache" apply -f - >/dev/null || { echo "kubectl apply failed"; exit 1; }

"$SERVE" --kubeconfig "$work/kite.yaml" --listen 127.0.0.1:0 --upstream 127.0.0.1:9 >"$work/dns.log" 2>&1 &
dns_pid=$!
for _ in $(seq 1 300); do grep -q "dns ready" "$work/dns.log" && break; sleep 0.1; done
port=$(sed -n 's/.*dns ready port=\([0-9]*\).*/\1/p' "$work/dns.log")
[ -n "$port" ] || { echo "dns did not start"; cat "$work/dns.log"; exit 1; }

out=$("$LOAD" 127.0.0.1 "$port" "$SECONDS_RUN" "$WINDOW" "${names[@]}") || { echo "dns_load failed: $out"; exit 1; }
echo "$out"
qps=$(sed -n 's/.*qps=\([0-9]*\).*/\1/p' <<<"$out")
p50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")
p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")
echo "dns: qps=$qps p50_us=$p50 p99_us=$p99"
