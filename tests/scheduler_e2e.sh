#!/usr/bin/env bash
# scheduler_e2e.sh — the scheduler of a real `kite server` placing pods on
# three simulated nodes (kite-simnodes, node identities from the server's
# client CA), checked with the real kubectl (issue 5 items 2 and 4): pods are
# bound and Running, a pod that fits nowhere stays Pending with
# FailedScheduling in `kubectl describe pod` and is scheduled once a node
# that fits appears; nodeSelector, taints, cordon and anti-affinity are
# honoured; the controller-manager Lease names the leader.
#
# usage: tests/scheduler_e2e.sh /path/to/kite /path/to/kite-simnodes
set -u
KITE=${1:?usage: scheduler_e2e.sh KITE SIMNODES}
SIM=${2:?usage: scheduler_e2e.sh KITE SIMNODES}
. "$(dirname "$0")/e2e_lib.sh"
e2e_init scheduler
e2e_start_server "$KITE"
"$SIM" --data-dir "$work/data" --server "$server" --nodes 3 --prefix sim --cpu 2 --memory 4Gi \
  </dev/null >"$work/sim.log" 2>&1 &
e2e_track $!

node_of() { "${K[@]}" get pod "$1" -o jsonpath='{.spec.nodeName}' 2>/dev/null; }
phase_is() { [ "$("${K[@]}" get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = "$2" ]; }
pod() {  # pod NAME CPU [extra spec yaml lines...]
  local name=$1 cpu=$2; shift 2
  { echo "apiVersion: v1"; echo "kind: Pod"
    echo "metadata: {name: $name, namespace: default, labels: {app: $name}}"
    echo "spec:"
    echo "  containers: [{name: app, image: registry.local/app:1, resources: {requests: {cpu: $cpu}}}]"
    for l in "$@"; do echo "  $l"; done; } | "${K[@]}" apply -f - >/dev/null
}

until_true 30 grep -q "simnodes ready nodes=3" "$work/sim.log" || { echo "simnodes did not start"; cat "$work/sim.log"; exit 1; }
expect leader-lease '^kite-controller-manager [^ ]+$' "${K[@]}" get lease -n kube-system kite-controller-manager -o jsonpath='{.metadata.name} {.spec.holderIdentity}'

echo "# pods are scheduled and run"
for i in 1 2 3 4 5 6; do pod "web-$i" 100m; done
all_running() { for i in 1 2 3 4 5 6; do phase_is "web-$i" Running || return 1; done; }
until_true 30 all_running && ok six-pods-running || bad six-pods-running "$("${K[@]}" get pods -o wide)"
spread=$(for i in 1 2 3 4 5 6; do node_of "web-$i"; echo; done | sort -u | grep -c sim-)
[ "$spread" -eq 3 ] && ok spread-over-three-nodes || bad spread-over-three-nodes "$("${K[@]}" get pods -o wide)"
expect describe-scheduled 'Scheduled +[0-9a-z]+ +default-scheduler +Successfully assigned default/web-1 to sim-' \
  "${K[@]}" describe pod web-1
expect get-wide '^web-1 +1/1 +Running +0 +[0-9a-z]+ +10\.42\.[0-9]+\.[0-9]+ +sim-' "${K[@]}" get pod web-1 -o wide --no-headers

echo "# a pod that fits nowhere"
pod huge 3
msg='0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.'
has_event() { "${K[@]}" describe pod huge | grep -F -q "$msg"; }
until_true 20 has_event && ok describe-failed-scheduling || bad describe-failed-scheduling "$("${K[@]}" describe pod huge | tail -8)"
expect describe-warning 'Warning +FailedScheduling +[0-9a-z]+ +default-scheduler +0/3 nodes are available' "${K[@]}" describe pod huge
expect pending '^huge +0/1 +Pending +0 ' "${K[@]}" get pod huge --no-headers
expect pod-scheduled-false '^False Unschedulable$' "${K[@]}" get pod huge \
  -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].status} {.status.conditions[?(@.type=="PodScheduled")].reason}'
expect events-list 'FailedScheduling +pod/huge' "${K[@]}" get events --field-selector involvedObject.name=huge

echo "# ... is scheduled when a node that fits appears"
"$SIM" --data-dir "$work/data" --server "$server" --nodes 1 --prefix big --cpu 8 --memory 16Gi \
  </dev/null >"$work/big.log" 2>&1 &
e2e_track $!
until_true 30 phase_is huge Running && ok huge-runs-on-new-node || bad huge-runs-on-new-node "$("${K[@]}" describe pod huge | tail -8)"
expect huge-on-big '^big-0$' node_of huge

echo "# selectors, taints, cordon, anti-affinity"
pod pinned 100m "nodeSelector: {kubernetes.io/hostname: sim-1}"
until_true 20 phase_is pinned Running && [ "$(node_of pinned)" = sim-1 ] && ok node-selector || bad node-selector "$(node_of pinned)"
expect taint 'tainted' "${K[@]}" taint node sim-2 dedicated=db:NoSchedule
pod wants-tainted 100m "nodeSelector: {kubernetes.io/hostname: sim-2}"
tainted_msg() { "${K[@]}" describe pod wants-tainted | grep -F -q '1 node(s) had untolerated taint {dedicated: db}'; }
until_true 20 tainted_msg && ok untolerated-taint || bad untolerated-taint "$("${K[@]}" describe pod wants-tainted | tail -6)"
pod tolerates 100m "nodeSelector: {kubernetes.io/hostname: sim-2}" \
  "tolerations: [{key: dedicated, operator: Equal, value: db, effect: NoSchedule}]"
until_true 20 phase_is tolerates Running && ok toleration || bad toleration "$("${K[@]}" describe pod tolerates | tail -6)"
expect cordon 'cordoned' "${K[@]}" cordon sim-0
pod on-cordoned 100m "nodeSelector: {kubernetes.io/hostname: sim-0}"
cordon_msg() { "${K[@]}" describe pod on-cordoned | grep -F -q '1 node(s) were unschedulable'; }
until_true 20 cordon_msg && ok cordoned-unschedulable || bad cordoned-unschedulable "$("${K[@]}" describe pod on-cordoned | tail -6)"
expect uncordon 'uncordoned' "${K[@]}" uncordon sim-0
until_true 20 phase_is on-cordoned Running && ok uncordon-schedules || bad uncordon-schedules "$("${K[@]}" describe pod on-cordoned | tail -6)"
anti='affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {role: solo}}, topologyKey: kubernetes.io/hostname}]}}'
for i in 1 2 3 4 5; do
  { echo "apiVersion: v1"; echo "kind: Pod"
    echo "metadata: {name: solo-$i, namespace: default, labels: {role: solo}}"
    echo "spec:"
    echo "  containers: [{name: app, image: registry.local/app:1}]"
    echo "  tolerations: [{operator: Exists}]"
    echo "  $anti"; } | "${K[@]}" apply -f - >/dev/null
done
solo_settled() { [ "$("${K[@]}" get pods -l role=solo --field-selector=status.phase=Running --no-headers 2>/dev/null | wc -l)" -eq 4 ]; }
until_true 30 solo_settled && ok anti-affinity-one-per-node || bad anti-affinity-one-per-node "$("${K[@]}" get pods -l role=solo -o wide)"
solo_nodes=$("${K[@]}" get pods -l role=solo -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | grep . | sort | uniq -d)
[ -z "$solo_nodes" ] && ok anti-affinity-distinct-nodes || bad anti-affinity-distinct-nodes "$solo_nodes"
anti_msg() { "${K[@]}" describe pods -l role=solo | grep -E -q "didn't (match pod anti-affinity rules|satisfy existing pods anti-affinity rules)"; }
until_true 20 anti_msg && ok anti-affinity-message || bad anti-affinity-message "$("${K[@]}" describe pods -l role=solo | grep -i warn)"

echo "# deleting a bound pod frees its node"
expect delete-pod 'deleted' "${K[@]}" delete pod web-1 --wait=true --timeout=30s

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
