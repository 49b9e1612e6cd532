#!/usr/bin/env bash
# simnodes_e2e.sh — simulated nodes against a real `kite server`, looked at
# with the real kubectl (issue 5 item 1): nodes register Ready with node
# identities minted from the server's client CA, renew their Leases, run the
# pods bound to them, honour deletion, and stop renewing on command.
#
# usage: tests/simnodes_e2e.sh /path/to/kite /path/to/kite-simnodes
set -u
KITE=${1:?usage: simnodes_e2e.sh KITE SIMNODES}
SIM=${2:?usage: simnodes_e2e.sh KITE SIMNODES}
command -v kubectl >/dev/null || { echo "kubectl not found: skipped"; exit 77; }
work=$(mktemp -d /tmp/kite-simnodes-e2e-XXXXXX)
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
"$SIM" --data-dir "$work/data" --server "$server" --nodes 3 --prefix sim --ready-delay 300 \
  --cpu 2 --memory 4Gi --pods 20 --lease-period 1000 --control-file "$work/control" \
  </dev/null >"$work/sim.log" 2>&1 &
sim_pid=$!

pass=0 fail=0
ok()   { pass=$((pass+1)); echo "ok    $1"; }
bad()  { fail=$((fail+1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -12 | sed 's/^/      /'; }
expect() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -eq 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
refuse() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -ne 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
until_true() { local t=$1; shift; local end=$((SECONDS+t)); until "$@" >/dev/null 2>&1; do
  [ $SECONDS -ge $end ] && return 1; sleep 0.2; done; }

until_true 30 grep -q "simnodes ready nodes=3" "$work/sim.log" \
  && ok simnodes-ready || bad simnodes-ready "$(cat "$work/sim.log")"
expect three-nodes-ready '^sim-2 +Ready +<none> ' "${K[@]}" get nodes --no-headers
expect node-ready-count '^3$' bash -c "${K[*]} get nodes --no-headers | grep -c ' Ready '"
expect node-internal-ip '127\.0\.0\.3' "${K[@]}" get node sim-1 -o wide
expect node-allocatable '^2 4Gi 20$' "${K[@]}" get node sim-0 \
  -o jsonpath='{.status.allocatable.cpu} {.status.allocatable.memory} {.status.allocatable.pods}'
expect describe-node-lease 'HolderIdentity: +sim-0' "${K[@]}" describe node sim-0
expect lease-holder '^sim-0 40$' "${K[@]}" get lease -n kube-node-lease sim-0 -o jsonpath='{.spec.holderIdentity} {.spec.leaseDurationSeconds}'

cat >"$work/pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: bound, namespace: default}
spec:
  nodeName: sim-1
  containers: [{name: app, image: registry.local/app:1}]
EOF
expect create-bound-pod 'created' "${K[@]}" apply -f "$work/pod.yaml"
running() { [ "$("${K[@]}" get pod "$1" -o jsonpath='{.status.phase}')" = Running ]; }
until_true 30 running bound && ok pod-running || bad pod-running "$("${K[@]}" get pod bound -o yaml)"
expect pod-ready '^bound +1/1 +Running +0 ' "${K[@]}" get pod bound --no-headers
cidr=$("${K[@]}" get node sim-1 -o jsonpath='{.spec.podCIDR}')
prefix=${cidr%.*}; prefix=${prefix:-10.42.1}
expect pod-ip-in-node-cidr "^${prefix//./\\.}\\.[0-9]+ 127\\.0\\.0\\.3\$" "${K[@]}" get pod bound -o jsonpath='{.status.podIP} {.status.hostIP}'
expect wait-ready 'condition met' "${K[@]}" wait --for=condition=Ready pod/bound --timeout=20s

cat >"$work/job-pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: once, namespace: default}
spec:
  nodeName: sim-0
  restartPolicy: Never
  containers: [{name: app, image: registry.local/app:1}]
EOF
"${K[@]}" apply -f "$work/job-pod.yaml" >/dev/null
succeeded() { [ "$("${K[@]}" get pod once -o jsonpath='{.status.phase}')" = Succeeded ]; }
until_true 30 succeeded && ok run-to-completion-succeeds || bad run-to-completion-succeeds "$("${K[@]}" get pod once -o yaml)"

expect delete-pod 'deleted' "${K[@]}" delete pod bound --wait=true --timeout=30s
refuse pod-gone 'NotFound' "${K[@]}" get pod bound

# A node told to stop renewing: its Lease's renewTime stops moving.
renew() { "${K[@]}" get lease -n kube-node-lease "$1" -o jsonpath='{.spec.renewTime}'; }
echo "stop-lease sim-2" >>"$work/control"
until_true 10 grep -q "ok stop-lease sim-2" "$work/sim.log" && ok stop-lease || bad stop-lease "$(cat "$work/sim.log")"
sleep 1.2
a=$(renew sim-2); b0=$(renew sim-0); sleep 2.5; b=$(renew sim-2); b1=$(renew sim-0)
[ -n "$a" ] && [ "$a" = "$b" ] && ok lease-stopped || bad lease-stopped "$a -> $b"
[ "$b0" != "$b1" ] && ok others-renew || bad others-renew "$b0 -> $b1"
echo "resume-lease sim-2" >>"$work/control"
until_true 10 bash -c "[ \"\$(${K[*]} get lease -n kube-node-lease sim-2 -o jsonpath='{.spec.renewTime}')\" != '$a' ]" \
  && ok lease-resumed || bad lease-resumed "$(renew sim-2)"
echo "add-node" >>"$work/control"
until_true 20 "${K[@]}" get node sim-3 && ok add-node || bad add-node "$(cat "$work/sim.log")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
