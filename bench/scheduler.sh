#!/usr/bin/env bash
# bench/scheduler.sh: how fast the scheduler of a real `kite server` binds
# pods (issue 5 item 2). Starts `kite server --disable-agent` on 127.0.0.1
# and a free port in a temp dir and NODES simulated nodes (kite-simnodes,
# node identities), taints every node kite.io/hold=true:NoSchedule, creates
# PODS pods (100m cpu each, 30 app labels, no owners: the garbage
# collector would take pods of owners that do not exist) with kubectl - all
# stay Pending - then removes the taint from every node in one kubectl call
# and measures the seconds until every pod is bound (bind_per_s = PODS /
# that) and until every pod is Running (reported by the simulated nodes).
# The last line of output is
#   scheduler: nodes=<n> pods=<n> bind_s=<n> bind_per_s=<n> all_running_s=<n>
#
#   bench/scheduler.sh
#   NODES=10 PODS=300 bench/scheduler.sh     # a quick look
#
# Environment: BUILD_DIR (default build; must hold cmd/kite and
# tests/simnode/kite-simnodes, built if missing), NODES (100), PODS (3000).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
NODES="${NODES:-100}"
PODS="${PODS:-3000}"
KITE="$BUILD_DIR/cmd/kite"
SIM="$BUILD_DIR/tests/simnode/kite-simnodes"
if [ ! -x "$KITE" ] || [ ! -x "$SIM" ]; then
  [ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" -j 2 --target kite kite-simnodes >/dev/null
fi

work=$(mktemp -d /tmp/kite-bench-scheduler-XXXXXX)
server_pid= sim_pid=
cleanup() {
  for p in $sim_pid $server_pid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
"$KITE" server --data-dir "$work/data" --bind-address 127.0.0.1 --https-listen-port 0 \
  --write-kubeconfig "$work/kite.yaml" --disable-agent >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do grep -q "server ready" "$work/server.log" && break; sleep 0.05; done
export KUBECONFIG="$work/kite.yaml"
K=(kubectl --cache-dir "$work/cache" --request-timeout=60s)
server=$(awk '/server:/ {print $2; exit}' "$work/kite.yaml")
"$SIM" --data-dir "$work/data" --server "$server" --nodes "$NODES" --cpu 8 --memory 32Gi \
  </dev/null >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 600); do grep -q "simnodes ready" "$work/sim.log" && break; sleep 0.1; done
"${K[@]}" taint nodes --all kite.io/hold=true:NoSchedule >/dev/null

echo "scheduler.sh: creating $PODS pods on $NODES tainted nodes" >&2
"${K[@]}" create namespace bench >/dev/null
python3 - "$PODS" >"$work/pods.json" <<'EOF'
import json, sys
n = int(sys.argv[1])
items = []
for i in range(n):
    owner = i % 30
    items.append({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p-%d" % i, "namespace": "bench",
                     "labels": {"app": "a%d" % owner}},
        "spec": {"containers": [{"name": "c", "image": "registry.local/app:1",
                                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
EOF
"${K[@]}" create --validate=false -f "$work/pods.json" >/dev/null
unbound() { "${K[@]}" get pods -n bench --field-selector spec.nodeName= -o name | wc -l; }
running() { "${K[@]}" get pods -n bench --field-selector status.phase=Running -o name | wc -l; }
echo "scheduler.sh: $(unbound) pods pending; removing the taint" >&2

t0=$(date +%s.%N)
"${K[@]}" taint nodes --all kite.io/hold- >/dev/null
echo "scheduler.sh: taints removed after $(echo "$(date +%s.%N) - $t0" | bc -l) s" >&2
while [ "$(unbound)" -gt 0 ]; do sleep 0.2; done
t1=$(date +%s.%N)
while [ "$(running)" -lt "$PODS" ]; do sleep 0.2; done
t2=$(date +%s.%N)
bind_s=$(echo "$t1 - $t0" | bc -l)
run_s=$(echo "$t2 - $t0" | bc -l)
per_node=$("${K[@]}" get pods -n bench -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c | awk 'NR==1{min=$1;max=$1} {if($1<min)min=$1; if($1>max)max=$1} END{print min"-"max}')
echo "scheduler.sh: pods per node (min-max): $per_node" >&2
printf 'scheduler: nodes=%d pods=%d bind_s=%.2f bind_per_s=%.0f all_running_s=%.2f\n' \
  "$NODES" "$PODS" "$bind_s" "$(echo "$PODS / $bind_s" | bc -l)" "$run_s"
