#!/usr/bin/env bash
# lifecycle_e2e.sh — the lifecycle controllers of `kite server` (garbage
# collector, Job, CronJob, Endpoints/EndpointSlices, ServiceAccount, node
# IPAM) seen through the real /usr/bin/kubectl, against a real server with no
# nodes: pod phases and readiness are written with `kubectl patch
# --subresource=status`, as a kubelet would.
#
# usage: tests/lifecycle_e2e.sh /path/to/kite
# Starts `kite server --disable-agent` on 127.0.0.1 and a free port in a temp
# dir, runs the checks, stops the server. Prints one line per check and
# "N passed, N failed"; exits non-zero when a check fails.
set -u
KITE=${1:?usage: lifecycle_e2e.sh /path/to/kite}
command -v kubectl >/dev/null || { echo "kubectl not found: skipped"; exit 77; }
work=$(mktemp -d /tmp/kite-lifecycle-e2e-XXXXXX)
server_pid=
cleanup() {
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
ns=lc
pass=0 fail=0

ok()   { pass=$((pass+1)); echo "ok    $1"; }
bad()  { fail=$((fail+1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -12 | sed 's/^/      /'; }
# expect NAME REGEX CMD...: succeeds and prints a line matching REGEX
expect() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -eq 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
# eventually NAME SECONDS REGEX CMD...: within SECONDS, CMD prints a line matching REGEX
eventually() { local name=$1 t=$2 re=$3; shift 3; local end=$((SECONDS+t)) out
  while :; do out=$("$@" 2>&1)
    if grep -Eq -- "$re" <<<"$out"; then ok "$name"; return; fi
    [ $SECONDS -ge $end ] && { bad "$name" "$out"; return; }; sleep 0.2; done; }
# gone NAME SECONDS CMD...: within SECONDS, `kubectl get` of it says NotFound
gone() { local name=$1 t=$2; shift 2; eventually "$name" "$t" 'NotFound' "$@"; }
uid() { "${K[@]}" -n "$ns" get "$1" -o jsonpath='{.metadata.uid}'; }
# pod NAME OWNER_KIND OWNER_NAME OWNER_UID [labels-json]: a bare pod owned by it
pod() {
  "${K[@]}" -n "$ns" apply -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1","labels":${5:-{\}},
 "ownerReferences":[{"apiVersion":"apps/v1","kind":"$2","name":"$3","uid":"$4","blockOwnerDeletion":true}]},
 "spec":{"containers":[{"name":"c","image":"registry.local/busybox:latest"}]}}
EOF
}
deploy() { "${K[@]}" -n "$ns" create deployment "$1" --image=registry.local/busybox:latest --replicas=0 >/dev/null; }

"${K[@]}" create namespace "$ns" >/dev/null
# Every minute: checked at the end, when at least one minute has come.
"${K[@]}" -n "$ns" create cronjob tick --image=registry.local/busybox:latest --schedule='* * * * *' -- echo tick >/dev/null

echo "# garbage collector"
deploy gc-bg; pod bg-pod Deployment gc-bg "$(uid deploy/gc-bg)"
expect gc-background-delete 'deleted' "${K[@]}" -n "$ns" delete deploy gc-bg
gone gc-background-cascades 10 "${K[@]}" -n "$ns" get pod bg-pod

deploy gc-fg; pod fg-pod Deployment gc-fg "$(uid deploy/gc-fg)"
# kubectl waits until the owner is gone: the collector deleted the blocking
# pod first, then removed the foregroundDeletion finalizer.
expect gc-foreground-delete 'deleted' "${K[@]}" -n "$ns" delete deploy gc-fg --cascade=foreground --timeout=30s
gone gc-foreground-dependent-gone 10 "${K[@]}" -n "$ns" get pod fg-pod

deploy gc-or; pod or-pod Deployment gc-or "$(uid deploy/gc-or)"
expect gc-orphan-delete 'deleted' "${K[@]}" -n "$ns" delete deploy gc-or --cascade=orphan --timeout=30s
gone gc-orphan-owner-gone 10 "${K[@]}" -n "$ns" get deploy gc-or
expect gc-orphan-keeps-dependent '^$' "${K[@]}" -n "$ns" get pod or-pod -o jsonpath='{.metadata.ownerReferences}'

deploy gc-uid; pod uid-pod Deployment gc-uid "00000000-0000-0000-0000-000000000000"
gone gc-uid-mismatch-is-gone 10 "${K[@]}" -n "$ns" get pod uid-pod
expect gc-owner-untouched 'gc-uid' "${K[@]}" -n "$ns" get deploy gc-uid --no-headers

echo "# serviceaccounts"
expect sa-default '^default ' "${K[@]}" -n "$ns" get sa --no-headers
expect root-ca-configmap 'BEGIN CERTIFICATE' "${K[@]}" -n "$ns" get cm kube-root-ca.crt -o jsonpath='{.data.ca\.crt}'
"${K[@]}" -n "$ns" delete sa default >/dev/null
eventually sa-default-recreated 10 '^default ' "${K[@]}" -n "$ns" get sa --no-headers

echo "# node IPAM"
node() {
  "${K[@]}" apply -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","labels":{"kubernetes.io/hostname":"$1"}}}
EOF
}
node lc-node-a; node lc-node-b
eventually ipam-first 10 '^10\.42\.0\.0/24$' "${K[@]}" get node lc-node-a -o jsonpath='{.spec.podCIDR}'
eventually ipam-second 10 '^10\.42\.1\.0/24$' "${K[@]}" get node lc-node-b -o jsonpath='{.spec.podCIDR}'

echo "# endpoints and endpointslices"
webpod() { # NAME IP READY
  "${K[@]}" -n "$ns" apply -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1","labels":{"app":"web"}},
 "spec":{"nodeName":"lc-node-a","containers":[{"name":"c","image":"registry.local/busybox:latest","ports":[{"name":"http","containerPort":8080}]}]}}
EOF
  "${K[@]}" -n "$ns" patch pod "$1" --subresource=status --type=merge \
    -p "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$2\",\"podIPs\":[{\"ip\":\"$2\"}],\"conditions\":[{\"type\":\"Ready\",\"status\":\"$3\"}]}}" >/dev/null
}
webpod web-1 10.42.0.11 True
webpod web-2 10.42.0.12 False
"${K[@]}" -n "$ns" apply -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},
 "spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":"http"}]}}
EOF
eventually endpoints-ready-address 10 '^web +10\.42\.0\.11:8080 ' "${K[@]}" -n "$ns" get endpoints web --no-headers
expect endpoints-not-ready '10\.42\.0\.12' "${K[@]}" -n "$ns" get endpoints web -o jsonpath='{.subsets[0].notReadyAddresses[0].ip}'
expect endpoints-target-ref 'Pod/web-1 lc-node-a' "${K[@]}" -n "$ns" get endpoints web \
  -o jsonpath='{.subsets[0].addresses[0].targetRef.kind}/{.subsets[0].addresses[0].targetRef.name} {.subsets[0].addresses[0].nodeName}'
eventually endpointslice-listed 10 '^web-[a-z0-9]{5} +IPv4 +8080 +10\.42\.0\.1[12],10\.42\.0\.1[12] ' \
  "${K[@]}" -n "$ns" get endpointslices -l kubernetes.io/service-name=web --no-headers
expect endpointslice-managed-by 'endpointslice-controller\.k8s\.io' "${K[@]}" -n "$ns" get endpointslices \
  -l kubernetes.io/service-name=web -o jsonpath='{.items[0].metadata.labels.endpointslice\.kubernetes\.io/managed-by}'
"${K[@]}" -n "$ns" patch pod web-2 --subresource=status --type=merge \
  -p '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}' >/dev/null
eventually endpoints-follow-readiness 10 '10\.42\.0\.11:8080,10\.42\.0\.12:8080' "${K[@]}" -n "$ns" get endpoints web --no-headers
expect describe-endpoints 'NotReadyAddresses: +<none>' "${K[@]}" -n "$ns" describe endpoints web
expect kubernetes-endpoints-kept '^kubernetes +127\.0\.0\.1:[0-9]+' "${K[@]}" -n default get endpoints kubernetes --no-headers
expect delete-service 'deleted' "${K[@]}" -n "$ns" delete svc web
gone endpoints-go-with-service 10 "${K[@]}" -n "$ns" get endpoints web
eventually slices-go-with-service 10 'No resources found' "${K[@]}" -n "$ns" get endpointslices -l kubernetes.io/service-name=web

echo "# jobs"
# kubelet stand-in: PHASE for every pod of job $1 that has not finished
finish_pods() {
  for p in $("${K[@]}" -n "$ns" get pods -l "batch.kubernetes.io/job-name=$1" \
      --field-selector=status.phase!=Succeeded,status.phase!=Failed -o name); do
    "${K[@]}" -n "$ns" patch "$p" --subresource=status --type=merge -p "{\"status\":{\"phase\":\"$2\"}}" >/dev/null
  done
}
expect job-create 'job.batch/pi created' "${K[@]}" -n "$ns" create job pi --image=registry.local/busybox:latest -- echo 3.14
eventually job-pod-named 10 '^pi-[a-z0-9]{5} ' "${K[@]}" -n "$ns" get pods -l job-name=pi --no-headers
eventually job-active 10 '^pi +Running +0/1 ' "${K[@]}" -n "$ns" get job pi --no-headers
finish_pods pi Succeeded
expect job-complete 'condition met' "${K[@]}" -n "$ns" wait --for=condition=complete job/pi --timeout=20s
expect job-complete-row '^pi +Complete +1/1 ' "${K[@]}" -n "$ns" get job pi --no-headers
expect job-describe-events 'SuccessfulCreate .*Created pod: pi-[a-z0-9]{5}' "${K[@]}" -n "$ns" describe job pi
"${K[@]}" -n "$ns" apply -f - >/dev/null <<EOF
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"flaky"},
 "spec":{"backoffLimit":1,"completions":2,"parallelism":2,"template":{"spec":{"restartPolicy":"Never",
   "containers":[{"name":"c","image":"registry.local/busybox:latest"}]}}}}
EOF
eventually job-parallel-pods 10 '^2$' bash -c "${K[*]} -n $ns get pods -l job-name=flaky --no-headers | wc -l"
finish_pods flaky Failed
expect job-backoff-failed 'condition met' "${K[@]}" -n "$ns" wait --for=condition=failed job/flaky --timeout=20s
expect job-backoff-reason 'BackoffLimitExceeded' "${K[@]}" -n "$ns" get job flaky -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}'
"${K[@]}" -n "$ns" apply -f - >/dev/null <<EOF
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"brief"},
 "spec":{"ttlSecondsAfterFinished":0,"template":{"spec":{"restartPolicy":"Never",
   "containers":[{"name":"c","image":"registry.local/busybox:latest"}]}}}}
EOF
eventually job-ttl-pod 10 '^brief-' "${K[@]}" -n "$ns" get pods -l job-name=brief --no-headers
finish_pods brief Succeeded
gone job-ttl-deleted 20 "${K[@]}" -n "$ns" get job brief
expect job-delete 'deleted' "${K[@]}" -n "$ns" delete job pi
eventually job-delete-cascades 10 'No resources found' "${K[@]}" -n "$ns" get pods -l job-name=pi

echo "# node lifecycle (nodes that never post status)"
eventually node-unknown-after-grace 70 '^Unknown NodeStatusUnknown Kubelet stopped posting node status\.$' \
  "${K[@]}" get node lc-node-a -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason} {.status.conditions[?(@.type=="Ready")].message}'
eventually node-unreachable-taints 10 'node\.kubernetes\.io/unreachable:NoSchedule node\.kubernetes\.io/unreachable:NoExecute' \
  "${K[@]}" get node lc-node-a -o jsonpath='{range .spec.taints[*]}{.key}:{.effect} {end}'
eventually pods-on-lost-node-not-ready 10 '^False$' "${K[@]}" -n "$ns" get pod web-2 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'
expect default-toleration-300s 'node.kubernetes.io/unreachable:300' "${K[@]}" -n "$ns" get pod web-2 \
  -o jsonpath='{range .spec.tolerations[*]}{.key}:{.tolerationSeconds} {end}'

echo "# cronjobs"
eventually cronjob-created-a-job 75 '^tick-[0-9]+ ' "${K[@]}" -n "$ns" get jobs --no-headers
eventually cronjob-active 10 '^tick +\* \* \* \* \* +<none> +False +1 +[0-9]+s' "${K[@]}" -n "$ns" get cronjob tick --no-headers
expect cronjob-job-owned 'tick-[0-9]+:CronJob/tick' "${K[@]}" -n "$ns" get jobs \
  -o jsonpath='{range .items[*]}{.metadata.name}:{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {end}'
expect cronjob-describe 'SuccessfulCreate .*Created job tick-[0-9]+' "${K[@]}" -n "$ns" describe cronjob tick
expect create-job-from-cronjob 'job.batch/manual created' "${K[@]}" -n "$ns" create job manual --from=cronjob/tick
eventually job-from-cronjob-runs 10 '^manual-' "${K[@]}" -n "$ns" get pods -l job-name=manual --no-headers

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
