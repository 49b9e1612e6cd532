#!/usr/bin/env bash
# controllers_e2e.sh — the scheduler and controllers (issue 5 item 5) against
# a real `kite server --disable-agent` with three simulated nodes
# (kite-simnodes, HTTPS, node identities from the server's client CA):
#   1. the shared acceptance script, level `controllers`
#      (../shared/acceptance/kubectl-smoke.sh, run as is);
#   2. node lifecycle: a node that stops renewing its Lease turns NotReady,
#      gets the unreachable taints, and its pods (tolerating unreachable for
#      only 5 s) are replaced on the other nodes.
# Everything on 127.0.0.1 and a port the kernel picks; temp dirs only.
#
# usage: tests/controllers_e2e.sh KITE KITE_SIMNODES SMOKE_SCRIPT [part]
#   part: all (default), smoke, lifecycle
# Exits 77 (skipped) when kubectl or the shared script is missing.
set -u
KITE=${1:?usage: controllers_e2e.sh KITE SIMNODES SMOKE [part]}
SIM=${2:?usage: controllers_e2e.sh KITE SIMNODES SMOKE [part]}
SMOKE=${3:?usage: controllers_e2e.sh KITE SIMNODES SMOKE [part]}
PART=${4:-all}
command -v kubectl >/dev/null || { echo "skipped: kubectl not found"; exit 77; }
[ -f "$SMOKE" ] || { echo "skipped: $SMOKE not found (../shared is absent)"; exit 77; }
work=$(mktemp -d /tmp/kite-controllers-e2e-XXXXXX)
server_pid= sim_pid=
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$KITE" server --data-dir "$work/data" --bind-address 127.0.0.1 --https-listen-port 0 \
  --write-kubeconfig "$work/kite.yaml" --disable-agent >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
  grep -q "server ready" "$work/server.log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
grep -q "server ready" "$work/server.log" || { echo "server did not start:"; cat "$work/server.log"; exit 1; }
export KUBECONFIG="$work/kite.yaml"
K=(kubectl --cache-dir "$work/cache" --request-timeout=20s)
server=$(awk '/server:/ {print $2; exit}' "$work/kite.yaml")

touch "$work/control"
"$SIM" --data-dir "$work/data" --server "$server" --nodes 3 --prefix sim --ready-delay 200 \
  --lease-period 2000 --control-file "$work/control" </dev/null >"$work/sim.log" 2>&1 &
sim_pid=$!

pass=0 fail=0
ok()  { pass=$((pass+1)); echo "ok    $1"; }
bad() { fail=$((fail+1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -12 | sed 's/^/      /'; }
# eventually NAME SECONDS CMD... : the command succeeds within SECONDS
eventually() { local name=$1 t=$2; shift 2; local end=$((SECONDS+t))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then bad "$name" "$("$@" 2>&1)"; return 1; fi; sleep 0.5; done
  ok "$name"; }

eventually simnodes-ready 30 grep -q "simnodes ready nodes=3" "$work/sim.log" ||
  { cat "$work/sim.log"; exit 1; }

if [ "$PART" = all ] || [ "$PART" = smoke ]; then
  echo "# ../shared/acceptance/kubectl-smoke.sh controllers"
  if bash "$SMOKE" controllers >"$work/smoke.log" 2>&1; then
    ok "kubectl-smoke controllers ($(tail -1 "$work/smoke.log"))"
  else
    bad "kubectl-smoke controllers ($(tail -1 "$work/smoke.log"))" "$(grep -A3 '^FAIL' "$work/smoke.log")"
  fi
fi

if [ "$PART" = all ] || [ "$PART" = lifecycle ]; then
  echo "# node lifecycle: a node that stops renewing its Lease"
  ns=lifecycle
  "${K[@]}" create namespace $ns >/dev/null
  "${K[@]}" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: lc, namespace: $ns}
spec:
  replicas: 6
  selector: {matchLabels: {app: lc}}
  template:
    metadata: {labels: {app: lc}}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      containers:
      - {name: c, image: registry.local/busybox:latest}
EOF
  # placement: node, phase and deletionTimestamp of each app=lc pod
  placement() { "${K[@]}" -n $ns get pods -l app=lc -o \
    jsonpath='{range .items[*]}{.spec.nodeName} {.status.phase} {.metadata.deletionTimestamp}{"\n"}{end}'; }
  eventually six-running 60 bash -c "[ \$(kubectl --cache-dir '$work/cache' -n $ns get pods -l app=lc --no-headers | grep -c ' Running ') -ge 6 ]"
  victim=$(placement | awk '$2 == "Running" {print $1; exit}')
  if [ -z "$victim" ]; then
    bad victim-found "$(placement)"
  else
    echo "stop-lease $victim" >>"$work/control"
    start=$SECONDS
    eventually node-not-ready 90 bash -c "kubectl --cache-dir '$work/cache' get node $victim --no-headers | grep -q NotReady"
    echo "      $victim NotReady after $((SECONDS-start)) s"
    eventually unreachable-noexecute-taint 30 bash -c \
      "kubectl --cache-dir '$work/cache' describe node $victim | grep -q 'node.kubernetes.io/unreachable:NoExecute'"
    eventually unreachable-noschedule-taint 30 bash -c \
      "kubectl --cache-dir '$work/cache' describe node $victim | grep -q 'node.kubernetes.io/unreachable:NoSchedule'"
    eventually pods-replaced-elsewhere 60 bash -c \
      "[ \$(kubectl --cache-dir '$work/cache' -n $ns get pods -l app=lc -o jsonpath='{range .items[*]}{.spec.nodeName} {.status.phase} {.metadata.deletionTimestamp}{\"\\n\"}{end}' | awk '\$1 != \"$victim\" && \$2 == \"Running\" && \$3 == \"\"' | wc -l) -ge 6 ]"
    echo "      replaced $((SECONDS-start)) s after the lease stopped"
    eventually nothing-new-on-victim 5 bash -c \
      "! kubectl --cache-dir '$work/cache' -n $ns get pods -l app=lc -o jsonpath='{range .items[*]}{.spec.nodeName} {.metadata.deletionTimestamp}{\"\\n\"}{end}' | awk '\$1 == \"$victim\" && \$2 == \"\"' | grep -q ."
    echo "resume-lease $victim" >>"$work/control"
    eventually node-ready-again 60 bash -c "kubectl --cache-dir '$work/cache' get node $victim --no-headers | grep -q ' Ready '"
    eventually taints-removed 30 bash -c "! kubectl --cache-dir '$work/cache' get node $victim -o jsonpath='{.spec.taints}' | grep -q unreachable"
  fi
fi

echo "$pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then
  [ -f "$work/smoke.log" ] && { echo "--- smoke"; cat "$work/smoke.log"; }
  echo "--- server log"; tail -30 "$work/server.log"
  echo "--- simnodes log"; tail -10 "$work/sim.log"
  exit 1
fi
