#!/usr/bin/env bash
# workloads_e2e.sh — the workload controllers (issue 5 item 3: ReplicaSet,
# Deployment, DaemonSet, StatefulSet) driven with the real kubectl against a
# real `kite server` whose pods run on simulated nodes (kite-simnodes) and
# are placed by its scheduler.
#
# usage: tests/workloads_e2e.sh /path/to/kite /path/to/kite-simnodes
set -u
KITE=${1:?usage: workloads_e2e.sh KITE SIMNODES}
SIM=${2:?usage: workloads_e2e.sh KITE SIMNODES}
command -v kubectl >/dev/null || { echo "kubectl not found: skipped"; exit 77; }
work=$(mktemp -d /tmp/kite-workloads-e2e-XXXXXX)
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
  --cpu 4 --memory 8Gi --pods 50 --lease-period 1000 --control-file "$work/control" \
  </dev/null >"$work/sim.log" 2>&1 &
sim_pid=$!

pass=0 fail=0
ok()   { pass=$((pass+1)); echo "ok    $1"; }
bad()  { fail=$((fail+1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -15 | sed 's/^/      /'; }
expect() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -eq 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
refuse() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -ne 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
until_true() { local t=$1; shift; local end=$((SECONDS+t)); until "$@" >/dev/null 2>&1; do
  [ $SECONDS -ge $end ] && return 1; sleep 0.2; done; }
running_count() {  # running_count N selector: exactly N pods Running and Ready
  local n
  n=$("${K[@]}" get pods -l "$2" --no-headers 2>/dev/null | grep -cE ' 1/1 +Running ')
  [ "$n" -eq "$1" ] && [ "$("${K[@]}" get pods -l "$2" --no-headers 2>/dev/null | wc -l)" -eq "$1" ]
}

until_true 30 grep -q "simnodes ready nodes=3" "$work/sim.log" \
  && ok simnodes-ready || bad simnodes-ready "$(cat "$work/sim.log")"

echo "# ReplicaSet"
cat >"$work/rs.yaml" <<EOF
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: front}
spec:
  replicas: 3
  selector: {matchLabels: {app: front}}
  template:
    metadata: {labels: {app: front}}
    spec: {containers: [{name: app, image: registry.local/app:1}]}
EOF
expect rs-create 'created' "${K[@]}" apply -f "$work/rs.yaml"
until_true 30 running_count 3 app=front && ok rs-three-running || bad rs-three-running "$("${K[@]}" get pods -o wide)"
expect rs-ready '^front +3 +3 +3 ' "${K[@]}" get rs front --no-headers
expect rs-pod-names '^front-[bcdfghjklmnpqrstvwxz2456789]{5}$' "${K[@]}" get pods -l app=front -o jsonpath='{.items[0].metadata.name}'
expect rs-owner '^ReplicaSet front true true$' "${K[@]}" get pods -l app=front \
  -o jsonpath='{.items[0].metadata.ownerReferences[0].kind} {.items[0].metadata.ownerReferences[0].name} {.items[0].metadata.ownerReferences[0].controller} {.items[0].metadata.ownerReferences[0].blockOwnerDeletion}'
victim=$("${K[@]}" get pods -l app=front -o jsonpath='{.items[0].metadata.name}')
expect rs-delete-pod 'deleted' "${K[@]}" delete pod "$victim" --wait=true --timeout=30s
until_true 30 running_count 3 app=front && ok rs-pod-replaced || bad rs-pod-replaced "$("${K[@]}" get pods -o wide)"
expect rs-scale 'scaled' "${K[@]}" scale rs front --replicas=1
until_true 30 running_count 1 app=front && ok rs-scaled-down || bad rs-scaled-down "$("${K[@]}" get pods)"
expect rs-describe 'SuccessfulDelete +.*Deleted pod: front-' "${K[@]}" describe rs front
expect rs-delete 'deleted' "${K[@]}" delete rs front

echo "# Deployment"
"${K[@]}" create deployment web --image=registry.local/web:1 --replicas=4 >/dev/null 2>&1 \
  && ok deploy-create || bad deploy-create
expect deploy-rollout-status 'successfully rolled out' "${K[@]}" rollout status deploy/web --timeout=60s
expect deploy-get '^web +4/4 +4 +4 ' "${K[@]}" get deploy web --no-headers
hash=$("${K[@]}" get rs -l app=web -o jsonpath='{.items[0].metadata.labels.pod-template-hash}')
expect deploy-rs-name "^web-$hash\$" "${K[@]}" get rs -l app=web -o jsonpath='{.items[0].metadata.name}'
expect deploy-describe-new-rs "NewReplicaSet: +web-$hash \(4/4 replicas created\)" "${K[@]}" describe deploy web
expect deploy-describe-events 'ScalingReplicaSet +[0-9a-z]+ +deployment-controller +Scaled up replica set web-' "${K[@]}" describe deploy web
expect deploy-conditions 'Available=True Progressing=True True/NewReplicaSetAvailable' "${K[@]}" get deploy web \
  -o jsonpath='{range .status.conditions[*]}{.type}={.status}{" "}{end}{.status.conditions[?(@.type=="Progressing")].status}/{.status.conditions[?(@.type=="Progressing")].reason}' 
expect deploy-scale 'scaled' "${K[@]}" scale deploy web --replicas=6
expect deploy-rollout-status-scaled 'successfully rolled out' "${K[@]}" rollout status deploy/web --timeout=60s
until_true 30 running_count 6 app=web && ok deploy-six-running || bad deploy-six-running "$("${K[@]}" get pods -l app=web)"
"${K[@]}" annotate deploy web kubernetes.io/change-cause="image web:2" >/dev/null
expect deploy-set-image 'image updated' "${K[@]}" set image deploy/web web=registry.local/web:2
expect deploy-rollout-status-2 'successfully rolled out' "${K[@]}" rollout status deploy/web --timeout=60s
expect deploy-image-2 '^(registry.local/web:2 ?){6}$' "${K[@]}" get pods -l app=web -o jsonpath='{range .items[*]}{.spec.containers[0].image}{" "}{end}'
expect deploy-history '^2 +image web:2' "${K[@]}" rollout history deploy/web
expect deploy-describe-old-rs "OldReplicaSets: +web-$hash \(0/0 replicas created\)" "${K[@]}" describe deploy web
expect deploy-undo 'rolled back' "${K[@]}" rollout undo deploy/web
expect deploy-rollout-status-undo 'successfully rolled out' "${K[@]}" rollout status deploy/web --timeout=60s
expect deploy-undo-reuses-rs "NewReplicaSet: +web-$hash \(6/6 replicas created\)" "${K[@]}" describe deploy web
expect deploy-revision-3 '^3$' "${K[@]}" get deploy web -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}'
expect deploy-restart 'restarted' "${K[@]}" rollout restart deploy/web
expect deploy-rollout-status-restart 'successfully rolled out' "${K[@]}" rollout status deploy/web --timeout=60s
expect deploy-three-rs '^3$' bash -c "${K[*]} get rs -l app=web --no-headers | wc -l"
expect deploy-pause 'paused' "${K[@]}" rollout pause deploy/web
expect deploy-set-image-paused 'image updated' "${K[@]}" set image deploy/web web=registry.local/web:3
sleep 1
expect deploy-paused-no-new-rs '^3$' bash -c "${K[*]} get rs -l app=web --no-headers | wc -l"
expect deploy-paused-condition 'DeploymentPaused' "${K[@]}" get deploy web -o jsonpath='{.status.conditions[?(@.type=="Progressing")].reason}'
expect deploy-resume 'resumed' "${K[@]}" rollout resume deploy/web
expect deploy-rollout-status-resumed 'successfully rolled out' "${K[@]}" rollout status deploy/web --timeout=60s
expect deploy-image-3 '^(registry.local/web:3 ?){6}$' "${K[@]}" get pods -l app=web -o jsonpath='{range .items[*]}{.spec.containers[0].image}{" "}{end}'
# A rollout that cannot progress (no node fits) runs into its deadline.
"${K[@]}" patch deploy web --type=merge -p '{"spec":{"progressDeadlineSeconds":3,"template":{"spec":{"nodeSelector":{"nowhere":"x"}}}}}' >/dev/null
refuse deploy-deadline-exceeded 'exceeded its progress deadline' "${K[@]}" rollout status deploy/web --timeout=30s
expect deploy-delete 'deleted' "${K[@]}" delete deploy web
# Recreate: the old pods are gone before a new one exists.
cat >"$work/recreate.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: once}
spec:
  replicas: 2
  strategy: {type: Recreate}
  selector: {matchLabels: {app: once}}
  template:
    metadata: {labels: {app: once}}
    spec: {containers: [{name: app, image: registry.local/once:1}]}
EOF
expect recreate-create 'created' "${K[@]}" apply -f "$work/recreate.yaml"
expect recreate-rollout 'successfully rolled out' "${K[@]}" rollout status deploy/once --timeout=60s
expect recreate-set-image 'image updated' "${K[@]}" set image deploy/once app=registry.local/once:2
expect recreate-rollout-2 'successfully rolled out' "${K[@]}" rollout status deploy/once --timeout=60s
expect recreate-events 'Scaled down replica set once-.* from 2 to 0' "${K[@]}" describe deploy once

echo "# DaemonSet"
cat >"$work/ds.yaml" <<EOF
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: registry.local/agent:1}]}
EOF
expect ds-create 'created' "${K[@]}" apply -f "$work/ds.yaml"
expect ds-rollout-status 'successfully rolled out' "${K[@]}" rollout status ds/agent --timeout=60s
expect ds-get '^agent +3 +3 +3 +3 +3 ' "${K[@]}" get ds agent --no-headers
expect ds-one-per-node '^sim-0 sim-1 sim-2 $' bash -c "${K[*]} get pods -l app=agent -o jsonpath='{range .items[*]}{.spec.nodeName}{\"\\n\"}{end}' | sort | tr '\n' ' '"
echo "add-node" >>"$work/control"
until_true 30 "${K[@]}" get node sim-3 && ok node-joins || bad node-joins "$(cat "$work/sim.log")"
until_true 30 running_count 4 app=agent && ok ds-late-node-gets-pod || bad ds-late-node-gets-pod "$("${K[@]}" get pods -l app=agent -o wide)"
expect ds-late-node-pod 'sim-3' "${K[@]}" get pods -l app=agent -o wide
# NoSchedule keeps the running daemon; NoExecute takes it away.
expect ds-taint-noschedule 'tainted' "${K[@]}" taint node sim-0 dedicated=db:NoSchedule
sleep 1
expect ds-noschedule-keeps-pod 'sim-0' "${K[@]}" get pods -l app=agent -o wide
expect ds-taint-noexecute 'tainted' "${K[@]}" taint node sim-0 dedicated=db:NoExecute
until_true 30 running_count 3 app=agent && ok ds-tainted-node-loses-pod || bad ds-tainted-node-loses-pod "$("${K[@]}" get pods -l app=agent -o wide)"
expect ds-set-image 'image updated' "${K[@]}" set image ds/agent agent=registry.local/agent:2
expect ds-rollout-status-2 'successfully rolled out' "${K[@]}" rollout status ds/agent --timeout=60s
expect ds-image-2 '^(registry.local/agent:2 ?){3}$' "${K[@]}" get pods -l app=agent -o jsonpath='{range .items[*]}{.spec.containers[0].image}{" "}{end}'
expect ds-history '^2 ' "${K[@]}" rollout history ds/agent
expect ds-undo 'rolled back' "${K[@]}" rollout undo ds/agent
expect ds-rollout-status-undo 'successfully rolled out' "${K[@]}" rollout status ds/agent --timeout=60s
expect ds-image-1 '^(registry.local/agent:1 ?){3}$' "${K[@]}" get pods -l app=agent -o jsonpath='{range .items[*]}{.spec.containers[0].image}{" "}{end}'

echo "# StatefulSet"
cat >"$work/sts.yaml" <<EOF
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: registry.local/db:1}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
EOF
expect sts-create 'created' "${K[@]}" apply -f "$work/sts.yaml"
expect sts-rollout-status 'partitioned roll out complete|rolling update complete' "${K[@]}" rollout status sts/db --timeout=60s
expect sts-names '^db-0 db-1 db-2 $' bash -c "${K[*]} get pods -l app=db -o jsonpath='{range .items[*]}{.metadata.name}{\"\\n\"}{end}' | sort | tr '\n' ' '"
# OrderedReady: each pod started after the one before it was Ready.
t0=$("${K[@]}" get pod db-0 -o jsonpath='{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')
c1=$("${K[@]}" get pod db-1 -o jsonpath='{.metadata.creationTimestamp}')
t1=$("${K[@]}" get pod db-1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')
c2=$("${K[@]}" get pod db-2 -o jsonpath='{.metadata.creationTimestamp}')
[ -n "$t0" ] && [[ ! "$c1" < "$t0" ]] && [[ ! "$c2" < "$t1" ]] \
  && ok sts-ordered-start || bad sts-ordered-start "db-0 ready $t0, db-1 created $c1 ready $t1, db-2 created $c2"
expect sts-events 'create Pod db-0 in StatefulSet db successful' "${K[@]}" describe sts db
expect sts-claims '^data-db-0 data-db-1 data-db-2 $' bash -c "${K[*]} get pvc -o jsonpath='{range .items[*]}{.metadata.name}{\"\\n\"}{end}' | sort | tr '\n' ' '"
expect sts-claim-volume '^data-db-1$' "${K[@]}" get pod db-1 -o jsonpath='{.spec.volumes[?(@.name=="data")].persistentVolumeClaim.claimName}'
expect sts-get '^db +3/3 ' "${K[@]}" get sts db --no-headers
expect sts-set-image 'image updated' "${K[@]}" set image sts/db db=registry.local/db:2
# (kubectl reports a RollingUpdate with a partition, even 0, as partitioned.)
expect sts-rollout-status-2 'partitioned roll out complete: 3 new pods have been updated|rolling update complete 3 pods at revision db-' "${K[@]}" rollout status sts/db --timeout=90s
expect sts-revisions '^2$' bash -c "${K[*]} get controllerrevisions -l app=db --no-headers | wc -l"
expect sts-history '^2 ' "${K[@]}" rollout history sts/db
expect sts-undo 'rolled back' "${K[@]}" rollout undo sts/db
expect sts-rollout-status-undo 'roll out complete|rolling update complete' "${K[@]}" rollout status sts/db --timeout=90s
expect sts-image-1 '^(registry.local/db:1 ?){3}$' "${K[@]}" get pods -l app=db -o jsonpath='{range .items[*]}{.spec.containers[0].image}{" "}{end}'
expect sts-history-after-undo '^3 ' "${K[@]}" rollout history sts/db
expect sts-scale 'scaled' "${K[@]}" scale sts db --replicas=1
until_true 60 running_count 1 app=db && ok sts-scaled-down || bad sts-scaled-down "$("${K[@]}" get pods -l app=db)"
expect sts-highest-gone-first '^db-0$' "${K[@]}" get pods -l app=db -o jsonpath='{.items[*].metadata.name}'
expect sts-claims-kept '^3$' bash -c "${K[*]} get pvc --no-headers | wc -l"

if grep -E '^E ' "$work/server.log" | grep -v 'leader' | head -5 | grep -q .; then
  bad server-logged-no-errors "$(grep -E '^E ' "$work/server.log" | head -5)"
else
  ok server-logged-no-errors
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
