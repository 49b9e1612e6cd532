#!/usr/bin/env bash
# kubectl_e2e.sh — the real /usr/bin/kubectl against a real `kite server`:
# every command of kubectl-api.md §4 that needs no running container, with
# what kubectl prints checked (issue 3, item 5).
#
# usage: tests/kubectl_e2e.sh /path/to/kite
# Starts `kite server --disable-agent` on 127.0.0.1 and a free port in a temp
# dir, runs the checks, stops the server. Prints one line per check and
# "N passed, N failed"; exits non-zero when a check fails.
set -u
KITE=${1:?usage: kubectl_e2e.sh /path/to/kite}
command -v kubectl >/dev/null || { echo "kubectl not found: skipped"; exit 77; }
work=$(mktemp -d /tmp/kite-kubectl-e2e-XXXXXX)
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
ns=e2e
pass=0 fail=0

ok()   { pass=$((pass+1)); echo "ok    $1"; }
bad()  { fail=$((fail+1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -12 | sed 's/^/      /'; }
check() { local name=$1; shift; local out; if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi; }
# expect NAME REGEX CMD...: succeeds and prints a line matching REGEX
expect() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -eq 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
# refuse NAME REGEX CMD...: fails and prints a line matching REGEX
refuse() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -ne 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
until_true() { local t=$1; shift; local end=$((SECONDS+t)); until "$@" >/dev/null 2>&1; do
  [ $SECONDS -ge $end ] && return 1; sleep 0.2; done; }

echo "# discovery and cluster"
expect version 'Server Version: v1\.32\.' "${K[@]}" version
expect api-versions '^apps/v1$' "${K[@]}" api-versions
expect api-resources-short 'deployments +deploy +apps/v1 +true +Deployment' "${K[@]}" api-resources
expect api-resources-rbac 'clusterroles +rbac.authorization.k8s.io/v1 +false +ClusterRole' "${K[@]}" api-resources
expect explain 'replicas.*<integer>' "${K[@]}" explain deployment.spec.replicas
expect get-raw '"kind":"Namespace"' "${K[@]}" get --raw /api/v1/namespaces/default
expect get-raw-version '"minor": ?"32"' "${K[@]}" get --raw /version
expect default-namespaces 'kube-node-lease +Active' "${K[@]}" get ns
expect kubernetes-service '^kubernetes +ClusterIP +10\.43\.0\.1 +<none> +443/TCP' "${K[@]}" get svc -n default --no-headers
expect kubernetes-endpoints '^kubernetes +127\.0\.0\.1:[0-9]+' "${K[@]}" get endpoints kubernetes -n default --no-headers
expect cluster-info 'Kubernetes control plane is running at https://127\.0\.0\.1' "${K[@]}" cluster-info
expect auth-can-i '^yes$' "${K[@]}" auth can-i create deployments
expect auth-whoami 'system:admin' "${K[@]}" auth whoami

echo "# typed create commands (protobuf bodies)"
check create-namespace "${K[@]}" create namespace "$ns"
refuse create-namespace-twice 'AlreadyExists.*namespaces "e2e" already exists' "${K[@]}" create namespace "$ns"
expect create-configmap 'configmap/cm1 created' "${K[@]}" -n "$ns" create configmap cm1 --from-literal=a=b --from-literal=greeting=hello
expect create-secret-generic 'secret/s1 created' "${K[@]}" -n "$ns" create secret generic s1 --from-literal=user=admin
expect create-secret-tls 'secret/tls1 created' "${K[@]}" -n "$ns" create secret tls tls1 \
  --cert="$work/data/server/tls/client-admin.crt" --key="$work/data/server/tls/client-admin.key"
expect create-secret-docker 'secret/reg1 created' "${K[@]}" -n "$ns" create secret docker-registry reg1 \
  --docker-server=registry.local --docker-username=u --docker-password=p
expect create-deployment 'deployment.apps/web created' "${K[@]}" -n "$ns" create deployment web \
  --image=registry.local/busybox:latest --replicas=2 --port=8080 -- httpd -f -p 8080
expect create-service-clusterip 'service/svc1 created' "${K[@]}" -n "$ns" create service clusterip svc1 --tcp=80:8080
expect create-service-nodeport 'service/np1 created' "${K[@]}" -n "$ns" create service nodeport np1 --tcp=80:8080 --node-port=30080
refuse nodeport-taken 'provided port is already allocated' "${K[@]}" -n "$ns" create service nodeport np2 --tcp=80:8080 --node-port=30080
expect create-service-lb 'service/lb1 created' "${K[@]}" -n "$ns" create service loadbalancer lb1 --tcp=80:8080
expect create-service-extname 'service/ext1 created' "${K[@]}" -n "$ns" create service externalname ext1 --external-name=example.com
expect create-job 'job.batch/j1 created' "${K[@]}" -n "$ns" create job j1 --image=registry.local/busybox:latest -- echo done
expect create-cronjob 'cronjob.batch/cj1 created' "${K[@]}" -n "$ns" create cronjob cj1 --image=registry.local/busybox:latest --schedule='*/5 * * * *' -- echo tick
expect create-serviceaccount 'serviceaccount/robot created' "${K[@]}" -n "$ns" create serviceaccount robot
expect create-role 'role.rbac.authorization.k8s.io/reader created' "${K[@]}" -n "$ns" create role reader --verb=get,list,watch --resource=pods,configmaps
expect create-rolebinding 'rolebinding.rbac.authorization.k8s.io/rb created' "${K[@]}" -n "$ns" create rolebinding rb --role=reader --serviceaccount="$ns:robot"
expect create-clusterrole 'clusterrole.rbac.authorization.k8s.io/cr1 created' "${K[@]}" create clusterrole cr1 --verb=get --resource=nodes
expect create-clusterrolebinding 'clusterrolebinding.rbac.authorization.k8s.io/crb1 created' "${K[@]}" create clusterrolebinding crb1 --clusterrole=cr1 --user=alice
expect create-quota 'resourcequota/q1 created' "${K[@]}" -n "$ns" create quota q1 --hard=pods=10,cpu=2
expect create-priorityclass 'priorityclass.scheduling.k8s.io/high created' "${K[@]}" create priorityclass high --value=1000 --description=important
expect create-pdb 'poddisruptionbudget.policy/pdb1 created' "${K[@]}" -n "$ns" create poddisruptionbudget pdb1 --selector=app=web --min-available=1
expect create-ingress 'ingress.networking.k8s.io/ing1 created' "${K[@]}" -n "$ns" create ingress ing1 --rule="example.com/*=svc1:80"
expect run 'pod/solo created' "${K[@]}" -n "$ns" run solo --image=registry.local/busybox:latest --labels=tier=solo --env=MODE=test --port=8080 -- sleep 3600
expect expose 'service/solo-exposed exposed' "${K[@]}" -n "$ns" expose pod solo --port=80 --target-port=8080 --name=solo-exposed
expect create-token '^ey[^.]+\.[^.]+\.' "${K[@]}" -n "$ns" create token robot
refuse create-in-missing-namespace 'namespaces "nowhere" not found' "${K[@]}" -n nowhere create configmap x

echo "# reading"
expect get-deploy-table 'NAME +READY +UP-TO-DATE +AVAILABLE +AGE' "${K[@]}" -n "$ns" get deploy
expect get-deploy-wide 'web +0/2 +[02] +0 +[0-9]+s +busybox +registry.local/busybox:latest +app=web' "${K[@]}" -n "$ns" get deploy -o wide --no-headers
expect get-svc-nodeport '^np1 +NodePort +10\.43\.[0-9.]+ +<none> +80:30080/TCP' "${K[@]}" -n "$ns" get svc --no-headers
expect get-svc-extname '^ext1 +ExternalName +<none> +example.com' "${K[@]}" -n "$ns" get svc --no-headers
expect get-pod-pending '^solo +0/1 +Pending +0' "${K[@]}" -n "$ns" get pods --no-headers
expect get-yaml 'kind: Deployment' "${K[@]}" -n "$ns" get deploy web -o yaml
expect get-json '"greeting": "hello"' "${K[@]}" -n "$ns" get cm cm1 -o json
expect get-jsonpath '^hello$' "${K[@]}" -n "$ns" get cm cm1 -o jsonpath='{.data.greeting}'
expect get-name '^configmap/cm1$' "${K[@]}" -n "$ns" get cm cm1 -o name
expect get-all-namespaces "^$ns +web " "${K[@]}" get deploy -A --no-headers
expect get-label-selector '^solo ' "${K[@]}" -n "$ns" get pods -l 'tier in (solo,other),!missing' --no-headers
expect get-show-labels 'tier=solo' "${K[@]}" -n "$ns" get pods --show-labels
expect get-label-column 'TIER' "${K[@]}" -n "$ns" get pods -L tier
sorted_svcs() { "${K[@]}" -n "$ns" get svc --sort-by=.metadata.name --no-headers | awk '{printf "%s ", $1}'; }
expect get-sort-by '^ext1 lb1 np1 solo-exposed svc1 $' sorted_svcs
expect get-all 'deployment.apps/web' "${K[@]}" -n "$ns" get all
expect get-field-selector '^cm1 ' "${K[@]}" -n "$ns" get cm --field-selector metadata.name=cm1 --no-headers
expect get-secret-table '^s1 +Opaque +1 ' "${K[@]}" -n "$ns" get secret s1 --no-headers
expect get-cronjob '^cj1 +\*/5 \* \* \* \*' "${K[@]}" -n "$ns" get cronjob --no-headers
expect get-ingress '^ing1 +<none> +example.com' "${K[@]}" -n "$ns" get ingress --no-headers
expect describe-deploy 'Replicas: +2 desired' "${K[@]}" -n "$ns" describe deploy web
expect describe-svc 'NodePort: .*30080/TCP' "${K[@]}" -n "$ns" describe svc np1
expect describe-ns 'Status: +Active' "${K[@]}" describe ns "$ns"
expect describe-pod 'Node: +<none>' "${K[@]}" -n "$ns" describe pod solo
refuse not-found 'NotFound.*deployments.apps "nothing" not found' "${K[@]}" -n "$ns" get deploy nothing
refuse bad-selector 'unable to parse requirement|found' "${K[@]}" -n "$ns" get pods -l 'a in ((b'

echo "# writing"
cat >"$work/app.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: $ns, labels: {app: web}}
data: {greeting: hello}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: $ns}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - {name: api, image: registry.local/busybox:latest, ports: [{containerPort: 8080}]}
EOF
expect apply-create 'deployment.apps/api created' "${K[@]}" apply -f "$work/app.yaml"
expect apply-unchanged 'deployment.apps/api unchanged' "${K[@]}" apply -f "$work/app.yaml"
sed 's/replicas: 2/replicas: 3/' "$work/app.yaml" >"$work/app3.yaml"
expect apply-configure 'deployment.apps/api configured' "${K[@]}" apply -f "$work/app3.yaml"
expect apply-result '^3$' "${K[@]}" -n "$ns" get deploy api -o jsonpath='{.spec.replicas}'
expect apply-server-side 'serverside-applied' "${K[@]}" apply --server-side --force-conflicts -f "$work/app.yaml"
expect apply-server-side-again 'serverside-applied' "${K[@]}" apply --server-side -f "$work/app.yaml"
expect apply-ssa-result '^2$' "${K[@]}" -n "$ns" get deploy api -o jsonpath='{.spec.replicas}'
expect ssa-managed-fields 'kubectl' "${K[@]}" -n "$ns" get deploy api --show-managed-fields -o jsonpath='{.metadata.managedFields[*].manager}'
"${K[@]}" -n "$ns" scale deploy api --replicas=5 >/dev/null 2>&1
refuse apply-server-side-conflict 'conflict' "${K[@]}" apply --server-side -f "$work/app.yaml"
expect apply-dry-run 'configmap/drycm created \(server dry run\)' "${K[@]}" -n "$ns" create configmap drycm --dry-run=server
refuse dry-run-stored-nothing 'NotFound' "${K[@]}" -n "$ns" get cm drycm
cat >"$work/unknown.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata: {name: strict, namespace: $ns}
dta: {a: b}
EOF
refuse strict-unknown-field 'unknown field "dta"' "${K[@]}" create -f "$work/unknown.yaml"
expect patch-merge 'configmap/cm1 patched' "${K[@]}" -n "$ns" patch cm cm1 --type=merge -p '{"data":{"greeting":"hi"}}'
expect patch-json 'configmap/cm1 patched' "${K[@]}" -n "$ns" patch cm cm1 --type=json -p '[{"op":"add","path":"/data/extra","value":"1"}]'
refuse patch-json-test-fails 'The request is invalid: .*test failed' "${K[@]}" -n "$ns" patch cm cm1 --type=json -p '[{"op":"test","path":"/data/extra","value":"2"}]'
expect patch-strategic 'deployment.apps/web patched' "${K[@]}" -n "$ns" patch deploy web -p '{"spec":{"template":{"spec":{"containers":[{"name":"busybox","env":[{"name":"MODE","value":"x"}]}]}}}}'
expect patch-strategic-kept 'registry.local/busybox:latest' "${K[@]}" -n "$ns" get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}'
expect patch-no-change 'patched \(no change\)' "${K[@]}" -n "$ns" patch cm cm1 --type=merge -p '{"data":{"greeting":"hi"}}'
refuse patch-invalid 'Invalid value: -1' "${K[@]}" -n "$ns" patch deploy web --type=merge -p '{"spec":{"replicas":-1}}'
refuse patch-immutable 'field is immutable' "${K[@]}" -n "$ns" patch deploy web --type=merge -p '{"spec":{"selector":{"matchLabels":{"app":"other"}}}}'
expect label 'configmap/cm1 labeled' "${K[@]}" -n "$ns" label cm cm1 tier=backend
refuse label-no-overwrite "already has a value" "${K[@]}" -n "$ns" label cm cm1 tier=frontend
expect label-overwrite 'configmap/cm1 labeled' "${K[@]}" -n "$ns" label cm cm1 tier=frontend --overwrite
expect label-remove 'configmap/cm1 unlabeled' "${K[@]}" -n "$ns" label cm cm1 tier-
expect annotate 'configmap/cm1 annotated' "${K[@]}" -n "$ns" annotate cm cm1 owner=team-a
expect annotate-value '^team-a$' "${K[@]}" -n "$ns" get cm cm1 -o jsonpath='{.metadata.annotations.owner}'
expect scale 'deployment.apps/web scaled' "${K[@]}" -n "$ns" scale deploy web --replicas=4
expect scale-result '^4$' "${K[@]}" -n "$ns" get deploy web -o jsonpath='{.spec.replicas}'
expect edit 'configmap/cm1 edited' env KUBE_EDITOR="sed -i s/greeting:\ hi/greeting:\ edited/" "${K[@]}" -n "$ns" edit cm cm1
expect edit-result '^edited$' "${K[@]}" -n "$ns" get cm cm1 -o jsonpath='{.data.greeting}'
"${K[@]}" -n "$ns" get cm cm1 -o yaml >"$work/cm1.yaml"
expect replace 'configmap/cm1 replaced' bash -c "sed 's/greeting: edited/greeting: replaced/' '$work/cm1.yaml' | $(printf '%q ' "${K[@]}") replace -f -"
refuse replace-stale 'Conflict.*the object has been modified' "${K[@]}" replace -f "$work/cm1.yaml"
refuse invalid-name 'Invalid value: "Bad_Name"' "${K[@]}" -n "$ns" create configmap Bad_Name

echo "# watch and delete"
( "${K[@]}" -n "$ns" get cm -w -o name >"$work/watch.out" 2>&1 & echo $! >"$work/watch.pid" )
( "${K[@]}" -n "$ns" get cm -w >"$work/watch-table.out" 2>&1 & echo $! >"$work/watch-table.pid" )
sleep 1
"${K[@]}" -n "$ns" create configmap watched --from-literal=x=y >/dev/null 2>&1
until_true 10 grep -q 'configmap/watched' "$work/watch.out" && ok watch-sees-create || bad watch-sees-create "$(cat "$work/watch.out")"
until_true 10 grep -Eq '^watched +1 ' "$work/watch-table.out" && ok watch-table-rows || bad watch-table-rows "$(cat "$work/watch-table.out")"
kill "$(cat "$work/watch.pid")" "$(cat "$work/watch-table.pid")" 2>/dev/null
"${K[@]}" -n "$ns" create configmap waited >/dev/null 2>&1
( sleep 1; "${K[@]}" -n "$ns" delete cm waited --wait=false >/dev/null 2>&1 ) &
expect wait-for-delete 'condition met' "${K[@]}" -n "$ns" wait --for=delete cm/waited --timeout=20s
expect delete-wait 'configmap "watched" deleted' "${K[@]}" -n "$ns" delete cm watched --wait=true
refuse deleted-is-gone 'NotFound' "${K[@]}" -n "$ns" get cm watched
"${K[@]}" -n "$ns" create configmap l1 >/dev/null 2>&1; "${K[@]}" -n "$ns" label cm l1 batch=x >/dev/null 2>&1
expect delete-by-label 'configmap "l1" deleted' "${K[@]}" -n "$ns" delete cm -l batch=x
expect delete-pod 'pod "solo" deleted' "${K[@]}" -n "$ns" delete pod solo --wait=true --timeout=20s
expect delete-svc-releases-port 'service "np1" deleted' "${K[@]}" -n "$ns" delete svc np1
expect nodeport-reusable 'service/np2 created' "${K[@]}" -n "$ns" create service nodeport np2 --tcp=80:8080 --node-port=30080

echo "# custom resources"
cat >"$work/crd.yaml" <<EOF
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}, scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}, replicas: {type: integer}}}
          status: {type: object, properties: {replicas: {type: integer}}}
EOF
cat >"$work/widget.yaml" <<EOF
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: $ns}
spec: {size: 7, replicas: 1}
EOF
expect crd-create 'customresourcedefinition.apiextensions.k8s.io/widgets.example.com created' "${K[@]}" apply -f "$work/crd.yaml"
expect crd-established 'condition met' "${K[@]}" wait --for=condition=Established crd/widgets.example.com --timeout=20s
until_true 10 "${K[@]}" api-resources --api-group=example.com
expect cr-create 'widget.example.com/w1 created' "${K[@]}" apply -f "$work/widget.yaml"
expect cr-columns '^w1 +7$' "${K[@]}" -n "$ns" get wd --no-headers
expect cr-scale 'widget.example.com/w1 scaled' "${K[@]}" -n "$ns" scale widget w1 --replicas=3
expect cr-scaled '^3$' "${K[@]}" -n "$ns" get widget w1 -o jsonpath='{.spec.replicas}'
refuse cr-strategic-merge 'unknown format|UnsupportedMediaType|not supported' "${K[@]}" -n "$ns" patch widget w1 --type=strategic -p '{"spec":{"size":8}}'
expect crd-delete 'deleted' "${K[@]}" delete crd widgets.example.com
refuse cr-gone-with-crd "doesn't have a resource type|NotFound|the server could not find" "${K[@]}" -n "$ns" get widgets w1

echo "# namespace deletion"
expect delete-namespace 'namespace "e2e" deleted' "${K[@]}" delete namespace "$ns" --wait=true --timeout=60s
refuse namespace-gone 'NotFound' "${K[@]}" get namespace "$ns"

errors=$(grep -E '^E ' "$work/server.log")
[ -z "$errors" ] && ok server-logged-no-errors || bad server-logged-no-errors "$errors"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
