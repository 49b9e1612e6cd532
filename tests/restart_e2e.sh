#!/usr/bin/env bash
# restart_e2e.sh — the control loops lose nothing when `kite server` dies
# (issue 5 item 3): work asked for just before a SIGKILL is finished by the
# restarted server, exactly once. A Deployment scaled from 3 to 8 and a Job
# of 3 completions are created, the server is killed at once, restarted on
# the same data dir and port, and kubectl must then see exactly 8 Running
# pods of one ReplicaSet and a Job with exactly 3 succeeded pods.
#
# usage: tests/restart_e2e.sh /path/to/kite /path/to/kite-simnodes
set -u
KITE=${1:?usage: restart_e2e.sh KITE SIMNODES}
SIM=${2:?usage: restart_e2e.sh KITE SIMNODES}
command -v kubectl >/dev/null || { echo "kubectl not found: skipped"; exit 77; }
work=$(mktemp -d /tmp/kite-restart-e2e-XXXXXX)
server_pid= sim_pid=
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_server() {
  : >"$work/server.log"
  "$KITE" server --data-dir "$work/data" --bind-address 127.0.0.1 --https-listen-port "$port" \
    --write-kubeconfig "$work/kite.yaml" --disable-agent >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    grep -q "server ready" "$work/server.log" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "server did not start:"; cat "$work/server.log"; exit 1
}
start_server
export KUBECONFIG="$work/kite.yaml"
K=(kubectl --cache-dir "$work/cache" --request-timeout=20s)

"$SIM" --data-dir "$work/data" --server "https://127.0.0.1:$port" --nodes 2 --prefix sim \
  --ready-delay 200 --cpu 8 --memory 16Gi --pods 50 --lease-period 1000 \
  </dev/null >"$work/sim.log" 2>&1 &
sim_pid=$!

pass=0 fail=0
ok()   { pass=$((pass+1)); echo "ok    $1"; }
bad()  { fail=$((fail+1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -15 | sed 's/^/      /'; }
until_true() { local t=$1; shift; local end=$((SECONDS+t)); until "$@" >/dev/null 2>&1; do
  [ $SECONDS -ge $end ] && return 1; sleep 0.2; done; }
running_exactly() {  # N SELECTOR: exactly N pods, all Running and ready
  local all run
  all=$("${K[@]}" get pods -l "$2" --no-headers 2>/dev/null | wc -l)
  run=$("${K[@]}" get pods -l "$2" --no-headers 2>/dev/null | grep -cE ' 1/1 +Running ')
  [ "$all" -eq "$1" ] && [ "$run" -eq "$1" ]
}
job_done() {  # exactly 3 succeeded, Complete
  [ "$("${K[@]}" get job once -o jsonpath='{.status.succeeded}/{.status.conditions[?(@.type=="Complete")].status}' 2>/dev/null)" = "3/True" ]
}

until_true 30 grep -q "simnodes ready nodes=2" "$work/sim.log" \
  && ok simnodes-ready || bad simnodes-ready "$(cat "$work/sim.log")"
"${K[@]}" create deployment web --image=registry.local/busybox:latest --replicas=3 >/dev/null 2>&1
until_true 60 running_exactly 3 app=web \
  && ok three-running || bad three-running "$("${K[@]}" get pods 2>&1)"

# Ask for more work and kill the server before it can be done.
"${K[@]}" scale deployment web --replicas=8 >/dev/null 2>&1
"${K[@]}" create -f - >/dev/null 2>&1 <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  completions: 3
  parallelism: 3
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: registry.local/busybox:latest, command: ["true"]}]
YAML
kill -KILL "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=
ok server-killed
start_server
ok server-restarted

until_true 90 running_exactly 8 app=web \
  && ok deployment-converged-after-restart || bad deployment-converged-after-restart "$("${K[@]}" get pods,rs 2>&1)"
[ "$("${K[@]}" get rs -l app=web --no-headers 2>/dev/null | wc -l)" -eq 1 ] \
  && ok one-replicaset || bad one-replicaset "$("${K[@]}" get rs 2>&1)"
sleep 3  # a duplicate create would show up by now
running_exactly 8 app=web && ok no-extra-pods || bad no-extra-pods "$("${K[@]}" get pods 2>&1)"
until_true 90 job_done && ok job-completed-once || bad job-completed-once "$("${K[@]}" get job once -o yaml 2>&1 | tail -20)"

echo "$pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then echo "--- server log"; tail -30 "$work/server.log"; echo "--- simnodes log"; tail -10 "$work/sim.log"; fi
[ "$fail" -eq 0 ]
