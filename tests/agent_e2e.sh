#!/usr/bin/env bash
# agent_e2e.sh — real pods on a real containerd (issue 6 items 6 and 7),
# everything inside a network namespace of its own with no route out
# (tests/netns_lib.sh: lo and kite0 carrying the node IP 10.77.0.2):
#   1. `kite server` as a user starts it (fresh data dir, the busybox test
#      image copied into <data-dir>/agent/images/, the in-process agent
#      supervising its own containerd); the node turns Ready;
#   2. ../shared/acceptance/kubectl-smoke.sh workload passes completely
#      (service-dns-and-proxy: a pod reaches a Service by name); then a
#      ClusterIP Service is reached from a pod by name, its requests spread
#      over both pods, and a NodePort answers on the node IP from the netns
#      (the service proxy, docs/proxy.md);
#   3. the server is restarted with --disable-agent and `kite agent --server
#      URL --token TOKEN` joins as the same node: it adopts the running
#      containers (same containerIDs, no restarts);
#   4. offline survival: the server is killed (SIGKILL); meanwhile a
#      container crashes and the agent restarts it (a new log file appears);
#      the server comes back and the statuses catch up (restartCount), with
#      no duplicate or lost pods;
#   5. the agent is restarted (with --proxy-cleanup): the same
#      containerIDs again, and the NodePort still answers; when it stops,
#      its nftables table is gone (without the flag it stays).
# Cleanup in a trap, also on failure: kite and containerd by PID, shims,
# mounts, the pods' network namespaces and cgroups, the test's netns, temp
# dirs.
#
# usage: tests/agent_e2e.sh KITE SMOKE_SCRIPT IMAGES_DIR
# Exits 77 (skipped) without root, kubectl, containerd, the shared script or
# the busybox image.
set -u
KITE=$(readlink -f "${1:?usage: agent_e2e.sh KITE SMOKE IMAGES_DIR}")
SMOKE=${2:?usage: agent_e2e.sh KITE SMOKE IMAGES_DIR}
IMAGES=${3:?usage: agent_e2e.sh KITE SMOKE IMAGES_DIR}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns_lib.sh"
. "$here/service_checks.sh"

[ "$(id -u)" = 0 ] || { echo "skipped: needs root (network namespaces, containerd)"; exit 77; }
command -v kubectl >/dev/null || { echo "skipped: kubectl not found"; exit 77; }
command -v containerd >/dev/null || { echo "skipped: containerd not found"; exit 77; }
[ -f "$SMOKE" ] || { echo "skipped: $SMOKE not found (../shared is absent)"; exit 77; }
[ -f "$IMAGES/busybox.tar" ] || { echo "skipped: no $IMAGES/busybox.tar"; exit 77; }

work=$(mktemp -d /tmp/kite-agent-e2e-XXXXXX)
data=$work/data
server_pid= agent_pid=
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok    $1"; }
bad() { fail=$((fail + 1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -20 | sed 's/^/      /'; }

stop_pid() { # PID [signal]: signal it and wait until it is gone
  [ -n "$1" ] || return 0
  kill -"${2:-TERM}" "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
cleanup() {
  stop_pid "$agent_pid"
  stop_pid "$server_pid"
  containerd_cleanup "$data/agent/containerd/containerd.sock" "$data/agent"
  netns_destroy
  rm -rf "$work"
}
trap cleanup EXIT

netns_create "kite-agent-e2e-$$" 10.77.0.2 || { echo "cannot create a network namespace"; exit 1; }
mkdir -p "$data/agent/images"
cp "$IMAGES/busybox.tar" "$data/agent/images/"
export KUBECONFIG=$work/kite.yaml
K=(netns_run kubectl --cache-dir "$work/cache" --request-timeout=20s)

start_server() { # extra flags...
  "${NETNS_EXEC[@]}" "$KITE" server --data-dir "$data" --write-kubeconfig "$KUBECONFIG" "$@" \
    >>"$work/server.log" 2>&1 &
  server_pid=$!
  local i
  for i in $(seq 1 300); do
    kill -0 "$server_pid" 2>/dev/null || break
    [ -f "$KUBECONFIG" ] && "${K[@]}" get --raw /readyz >/dev/null 2>&1 &&
      kill -0 "$server_pid" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start:"; tail -30 "$work/server.log"; exit 1
}
start_agent() { # extra flags...
  "${NETNS_EXEC[@]}" "$KITE" agent --server https://127.0.0.1:6443 --token "$(cat "$data/server/token")" \
    --data-dir "$data" --node-name "$node" "$@" >>"$work/agent.log" 2>&1 &
  agent_pid=$!
}
node_ready() {
  [ "$("${K[@]}" get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
until_true() { local t=$1; shift; local end=$((SECONDS + t)); until "$@" >/dev/null 2>&1; do
  [ $SECONDS -ge $end ] && return 1; sleep 0.5; done; }
jp() { "${K[@]}" -n e2e get "$@" 2>/dev/null; }
# "name=containerID restarts" per container of the namespace's pods.
containers() {
  jp pods -o jsonpath='{range .items[*]}{range .status.containerStatuses[*]}{.name}={.containerID} {.restartCount}{"\n"}{end}{end}' | sort
}
pod_uids() { jp pods -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid}{"\n"}{end}' | sort; }

echo "# 1. kite server with its agent"
node=kite-e2e
start_server --node-name "$node"
until_true 60 node_ready && ok node-ready || bad node-ready "$("${K[@]}" get node -o yaml 2>&1 | tail -30)"
out=$("${K[@]}" get node "$node" -o wide --no-headers 2>&1)
grep -Eq "^$node +Ready +control-plane,master .* 10\.77\.0\.2 .*containerd://" <<<"$out" &&
  ok node-wide-columns || bad node-wide-columns "$out"

echo "[$SECONDS s] # 2. kubectl-smoke.sh workload"
netns_run env KUBECONFIG="$KUBECONFIG" bash "$SMOKE" workload >"$work/smoke.out" 2>&1
failed=$(grep '^FAIL' "$work/smoke.out" | awk '{print $2}' | tr '\n' ' ')
if [ -z "$failed" ] && grep -q '^[0-9]* passed, 0 failed$' "$work/smoke.out"; then
  ok "smoke-workload ($(tail -1 "$work/smoke.out"))"
else
  bad smoke-workload "$(grep -A8 '^FAIL' "$work/smoke.out"; tail -1 "$work/smoke.out")"
fi

echo "[$SECONDS s] # 2b. Services through the proxy: ClusterIP by name from a pod, NodePort on the node IP"
service_checks 10.77.0.2

echo "[$SECONDS s] # 3. kite agent joins as the same node and adopts the running containers"
"${K[@]}" create namespace e2e >/dev/null
cat >"$work/e2e.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: steady, namespace: e2e}
spec:
  replicas: 2
  selector: {matchLabels: {app: steady}}
  template:
    metadata: {labels: {app: steady}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: registry.local/busybox:latest, command: [sleep, "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: e2e}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: crash, image: registry.local/busybox:latest, command: [sh, -c, "echo up; sleep 2; exit 1"]}
EOF
"${K[@]}" apply -f "$work/e2e.yaml" >/dev/null
steady_running() { [ "$(jp pods -l app=steady --no-headers | grep -c ' Running ')" -eq 2 ]; }
until_true 60 steady_running && ok steady-running || bad steady-running "$(jp pods)"
crashed_once() { [ "$(jp pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}')" -ge 1 ]; }
until_true 60 crashed_once && ok crasher-restarted || bad crasher-restarted "$(jp pod crasher -o yaml | tail -30)"
before=$(containers | grep '^main=')
uids_before=$(pod_uids)

stop_pid "$server_pid"
server_pid=
start_server --disable-agent
start_agent
until_true 60 node_ready && ok agent-node-ready || bad agent-node-ready "$(tail -20 "$work/agent.log")"
sleep 3  # a few sync rounds of the new agent
after=$(containers | grep '^main=')
[ "$before" = "$after" ] && [ -n "$after" ] && ok adopted-same-container-ids ||
  bad adopted-same-container-ids "before: $before
after:  $after"

echo "[$SECONDS s] # 4. offline: the server is killed, a container crashes and is restarted meanwhile"
crasher_uid=$(jp pod crasher -o jsonpath='{.metadata.uid}')
logs=$data/agent/pods/e2e_crasher_$crasher_uid/crash
restarts_api=$(jp pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}')
files_before=$(ls "$logs" 2>/dev/null | wc -l)
stop_pid "$server_pid" KILL
server_pid=
more_logs() { [ "$(ls "$logs" 2>/dev/null | wc -l)" -gt "$files_before" ]; }
until_true 60 more_logs && ok restarted-while-offline ||
  bad restarted-while-offline "$(ls -l "$logs" 2>&1; tail -20 "$work/agent.log")"
kill -0 "$agent_pid" 2>/dev/null && ok agent-survives-offline || bad agent-survives-offline "$(tail -20 "$work/agent.log")"
files_offline=$(ls "$logs" | wc -l)
start_server --disable-agent
caught_up() { [ "$(jp pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}')" -ge $((files_offline - 1)) ]; }
until_true 60 caught_up && ok status-caught-up ||
  bad status-caught-up "restartCount $(jp pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}') (was $restarts_api), log files $files_offline"
[ "$(pod_uids)" = "$uids_before" ] && ok no-duplicate-or-lost-pods || bad no-duplicate-or-lost-pods "before: $uids_before
after:  $(pod_uids)"
[ "$(containers | grep '^main=')" = "$before" ] && ok steady-untouched-offline ||
  bad steady-untouched-offline "$(containers)"

echo "[$SECONDS s] # 5. the agent restarts and adopts again"
stop_pid "$agent_pid"
agent_pid=
# Stopped without --proxy-cleanup: the rules stay (Services keep working).
netns_run nft list tables 2>&1 | grep -q 'kite-proxy' && ok proxy-rules-kept-by-default ||
  bad proxy-rules-kept-by-default "$(netns_run nft list tables 2>&1)"
start_agent --proxy-cleanup
until_true 60 node_ready
sleep 3
[ "$(containers | grep '^main=')" = "$before" ] && ok agent-restart-adopts || bad agent-restart-adopts "before: $before
after:  $(containers | grep '^main=')"
[ "$(pod_uids)" = "$uids_before" ] && ok agent-restart-same-pods || bad agent-restart-same-pods "$(pod_uids)"
nodeport && ok nodeport-after-agent-restarts || bad nodeport-after-agent-restarts "$(tail -20 "$work/agent.log")"

out=$("${K[@]}" delete namespace e2e net --wait=true --timeout=90s 2>&1)
[ $? -eq 0 ] && ok namespace-deleted || bad namespace-deleted "$out"
stop_pid "$agent_pid"
agent_pid=
netns_run nft list tables 2>&1 | grep -q 'kite-proxy' && bad proxy-cleanup-removes-rules "$(netns_run nft list tables 2>&1)" ||
  ok proxy-cleanup-removes-rules
echo "[$SECONDS s] $pass passed, $fail failed"
[ "$fail" -eq 0 ]
