#!/usr/bin/env bash
# storage_e2e.sh — PersistentVolumeClaims on a real `kite server` with two
# simulated nodes, checked with the real kubectl (issue 6 item 4, the
# server side of volumes): the default StorageClass local-path, a claim that
# waits for its first consumer, the scheduler choosing the node and the
# local-path provisioner creating a PV there (nodeAffinity, hostPath under
# <data-dir>/storage), the claim Bound and the pod Running on that node; a
# static PV pinned to a node pulls its pod there; a missing claim keeps a pod
# Pending with kube-scheduler's message; deleting the claim deletes the
# provisioned PV (reclaim Delete) and releases a retained one.
#
# usage: tests/storage_e2e.sh /path/to/kite /path/to/kite-simnodes
set -u
KITE=${1:?usage: storage_e2e.sh KITE SIMNODES}
SIM=${2:?usage: storage_e2e.sh KITE SIMNODES}
. "$(dirname "$0")/e2e_lib.sh"
e2e_init storage
e2e_start_server "$KITE"
"$SIM" --data-dir "$work/data" --server "$server" --nodes 2 --prefix sim --cpu 2 --memory 4Gi \
  </dev/null >"$work/sim.log" 2>&1 &
e2e_track $!

jp() { "${K[@]}" get "$1" "$2" -o jsonpath="$3" 2>/dev/null; }
pod_with_claim() {  # NAME CLAIM
  "${K[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default}
spec:
  containers: [{name: app, image: registry.local/busybox:latest, volumeMounts: [{name: data, mountPath: /data}]}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: $2}}]
EOF
}

until_true 30 grep -q "simnodes ready nodes=2" "$work/sim.log" || { echo "simnodes did not start"; cat "$work/sim.log"; exit 1; }

echo "# the default StorageClass"
until_true 20 jp storageclass local-path '{.metadata.name}' || true
expect storageclass-default '^local-path \(default\) +kite\.io/local-path +Delete +WaitForFirstConsumer +false ' \
  "${K[@]}" get storageclass --no-headers

echo "# a claim waits for its first consumer"
"${K[@]}" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
EOF
class_set() { [ "$(jp pvc data '{.spec.storageClassName}')" = local-path ]; }
until_true 20 class_set && ok default-class-assigned || bad default-class-assigned "$("${K[@]}" get pvc data -o yaml)"
waiting() { "${K[@]}" describe pvc data | grep -F -q 'waiting for first consumer to be created before binding'; }
until_true 20 waiting && ok wait-for-first-consumer-event || bad wait-for-first-consumer-event "$("${K[@]}" describe pvc data | tail -6)"
expect claim-pending '^data +Pending +local-path ' "${K[@]}" get pvc data --no-headers
expect no-pv-yet '^No resources found' "${K[@]}" get pv

echo "# its pod picks the node; the provisioner makes the volume there"
pod_with_claim app data
bound() { [ "$(jp pvc data '{.status.phase}')" = Bound ]; }
until_true 30 bound && ok claim-bound || bad claim-bound "$("${K[@]}" describe pvc data | tail -8)"
running() { [ "$(jp pod app '{.status.phase}')" = Running ]; }
until_true 30 running && ok pod-running || bad pod-running "$("${K[@]}" describe pod app | tail -8)"
node=$(jp pod app '{.spec.nodeName}')
uid=$(jp pvc data '{.metadata.uid}')
pv=pvc-$uid
expect claim-volume-name "^$pv\$" jp pvc data '{.spec.volumeName}'
expect selected-node "^$node\$" jp pvc data '{.metadata.annotations.volume\.kubernetes\.io/selected-node}'
expect pv-listed "^$pv +1Gi +RWO +Delete +Bound +default/data +local-path " "${K[@]}" get pv --no-headers
expect pv-node-affinity "^kubernetes.io/hostname In $node\$" jp pv "$pv" \
  '{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].key} {.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].operator} {.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}'
expect pv-host-path "^$work/data/storage/${pv}_default_data DirectoryOrCreate\$" jp pv "$pv" '{.spec.hostPath.path} {.spec.hostPath.type}'
expect describe-provisioned "ProvisioningSucceeded +[0-9a-z]+ +persistentvolume-controller +Successfully provisioned volume $pv" \
  "${K[@]}" describe pvc data
# A second pod of the same claim goes where the volume is.
pod_with_claim app-2 data
until_true 30 eval '[ "$(jp pod app-2 "{.status.phase}")" = Running ]' && [ "$(jp pod app-2 '{.spec.nodeName}')" = "$node" ] \
  && ok second-pod-same-node || bad second-pod-same-node "$(jp pod app-2 '{.spec.nodeName}') vs $node"

echo "# a node may list the local-path volumes on it, nothing else of PVs"
tls=$work/data/server/tls
openssl ecparam -name prime256v1 -genkey -noout -out "$work/node.key" 2>/dev/null
openssl req -new -key "$work/node.key" -subj "/O=system:nodes/CN=system:node:$node" -out "$work/node.csr" 2>/dev/null
openssl x509 -req -in "$work/node.csr" -CA "$tls/client-ca.crt" -CAkey "$tls/client-ca.key" \
  -CAcreateserial -CAserial "$work/ca.srl" -days 1 -out "$work/node.crt" 2>/dev/null
as_node() { kubectl --kubeconfig /dev/null --cache-dir "$work/cache-node" --request-timeout=20s \
  --server "$server" --certificate-authority "$tls/server-ca.crt" \
  --client-certificate "$work/node.crt" --client-key "$work/node.key" "$@"; }
expect node-lists-its-local-volumes "^$pv " as_node get pv -l "kite.io/local-path-node=$node" --no-headers
out=$(as_node get pv 2>&1); grep -q Forbidden <<<"$out" && ok node-lists-all-pvs-forbidden || bad node-lists-all-pvs-forbidden "$out"
out=$(as_node get pv -l "kite.io/local-path-node=other" 2>&1); grep -q Forbidden <<<"$out" && ok node-lists-other-nodes-pvs-forbidden || bad node-lists-other-nodes-pvs-forbidden "$out"

echo "# a static volume pinned to a node pulls its pod there"
other=sim-0; [ "$node" = sim-0 ] && other=sim-1
"${K[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: static-pv}
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: manual
  hostPath: {path: /srv/static}
  nodeAffinity:
    required:
      nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [$other]}]}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: manual, namespace: default}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
EOF
static_bound() { [ "$(jp pvc manual '{.status.phase} {.spec.volumeName}')" = "Bound static-pv" ]; }
until_true 20 static_bound && ok static-claim-bound || bad static-claim-bound "$("${K[@]}" describe pvc manual | tail -6)"
pod_with_claim pinned manual
until_true 30 eval '[ "$(jp pod pinned "{.status.phase}")" = Running ]' && [ "$(jp pod pinned '{.spec.nodeName}')" = "$other" ] \
  && ok static-volume-node-affinity || bad static-volume-node-affinity "$(jp pod pinned '{.spec.nodeName}') vs $other"

echo "# a claim that does not exist"
pod_with_claim orphan nope
msg='0/2 nodes are available: 2 persistentvolumeclaim "nope" not found.'
no_claim() { "${K[@]}" describe pod orphan | grep -F -q "$msg"; }
until_true 20 no_claim && ok missing-claim-message || bad missing-claim-message "$("${K[@]}" describe pod orphan | tail -6)"
expect missing-claim-pending '^orphan +0/1 +Pending ' "${K[@]}" get pod orphan --no-headers

echo "# a claim in use stays (Terminating) until its pods are gone"
expect delete-claim-in-use 'deleted' "${K[@]}" delete pvc data --wait=false
expect claim-terminating '^data +Terminating ' "${K[@]}" get pvc data --no-headers
expect pv-kept-while-used "^$pv .* Bound " "${K[@]}" get pv "$pv" --no-headers

echo "# deleting the claims: Delete removes the PV, Retain releases it"
expect delete-pods 'deleted' "${K[@]}" delete pod app app-2 pinned orphan --wait=true --timeout=30s
claim_gone() { ! "${K[@]}" get pvc data >/dev/null 2>&1; }
until_true 20 claim_gone && ok claim-goes-after-its-pods || bad claim-goes-after-its-pods "$("${K[@]}" get pvc data -o yaml)"
expect delete-claims 'deleted' "${K[@]}" delete pvc manual --wait=true --timeout=30s
pv_gone() { ! "${K[@]}" get pv "$pv" >/dev/null 2>&1; }
until_true 20 pv_gone && ok provisioned-pv-deleted || bad provisioned-pv-deleted "$("${K[@]}" get pv)"
released() { [ "$(jp pv static-pv '{.status.phase}')" = Released ]; }
until_true 20 released && ok static-pv-released || bad static-pv-released "$("${K[@]}" get pv)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
