#!/usr/bin/env bash
# manifests_e2e.sh — the manifest deployer (DESIGN.md §8) as a user meets it:
# a real `kite server --disable-agent` on 127.0.0.1 and a free port with a
# temp data dir, files dropped into <data-dir>/server/manifests/, and the
# real kubectl checking what the cluster holds.
#
# usage: tests/manifests_e2e.sh /path/to/kite
# Exits 77 (skipped) when kubectl is missing.
set -u
KITE=${1:?usage: manifests_e2e.sh KITE}
command -v kubectl >/dev/null || { echo "skipped: kubectl not found"; exit 77; }
dir=$(mktemp -d /tmp/kite-manifests-e2e-XXXXXX)
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  server_pid=
}
trap 'stop_server; rm -rf "$dir"' EXIT
export KUBECONFIG=$dir/kite.yaml
K=(kubectl --cache-dir "$dir/cache" --request-timeout=20s)
manifests=$dir/data/server/manifests
pass=0 fail=0
ok()  { pass=$((pass+1)); echo "ok    $1"; }
bad() { fail=$((fail+1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -8 | sed 's/^/      /'; }
# expect NAME REGEX CMD... : the command succeeds and its output matches REGEX
expect() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -eq 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
# eventually NAME SECONDS CMD... : the command succeeds within SECONDS
eventually() { local name=$1 t=$2; shift 2; local end=$((SECONDS+t))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then bad "$name" "$("$@" 2>&1)"; return; fi; sleep 0.2; done; ok "$name"; }
gone() { ! "${K[@]}" get "$@" -o name >/dev/null 2>&1; }
jp() { "${K[@]}" get "$@" 2>/dev/null; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_server() {
  : >"$dir/server.log"
  "$KITE" server --disable-agent --bind-address 127.0.0.1 --https-listen-port "$port" \
    --data-dir "$dir/data" --write-kubeconfig "$KUBECONFIG" "$@" >>"$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 200); do
    grep -q "server ready" "$dir/server.log" && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "server did not start:"; cat "$dir/server.log"; exit 1
}

echo "# first start: the defaults are written and applied"
start_server
expect defaults-written 'kube-dns.yaml' ls "$manifests"
expect kube-dns-service 'kube-dns +ClusterIP +10\.43\.0\.10 .*53/UDP,53/TCP' "${K[@]}" -n kube-system get svc kube-dns
expect local-path-default 'local-path \(default\) +kite\.io/local-path' "${K[@]}" get storageclass
expect label-names-file '^kube-dns\.yaml$' jp -n kube-system svc kube-dns -o 'jsonpath={.metadata.labels.kite\.io/manifest}'
expect annotation-names-file '^kube-dns\.yaml$' jp -n kube-system svc kube-dns -o 'jsonpath={.metadata.annotations.kite\.io/manifest-file}'
expect field-manager 'kite-deployer' jp -n kube-system svc kube-dns --show-managed-fields -o 'jsonpath={.metadata.managedFields[*].manager}'

echo "# a user's file is applied, kept in step with its edits, and removed with it"
cat >"$manifests/demo.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: demo}
data: {color: blue}
---
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: extra, namespace: demo}
data: {x: "1"}
EOF
eventually new-file-applied 10 "${K[@]}" -n demo get configmap settings extra
expect new-file-content '^blue$' jp -n demo configmap settings -o 'jsonpath={.data.color}'
cat >"$manifests/demo.yaml.tmp" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: demo}
data: {color: green}
EOF
mv "$manifests/demo.yaml.tmp" "$manifests/demo.yaml"
eventually edit-applied 10 bash -c "[ \"\$(kubectl --cache-dir '$dir/cache' -n demo get cm settings -o jsonpath='{.data.color}')\" = green ]"
eventually dropped-object-deleted 10 gone -n demo configmap extra
"${K[@]}" -n demo create configmap mine --from-literal=a=b >/dev/null
printf 'apiVersion: v1\nkind: [broken\n' >"$manifests/demo.yaml"
sleep 1
expect broken-file-keeps-objects 'settings' "${K[@]}" -n demo get configmap settings -o name
expect broken-file-logged 'does not parse.*demo.yaml' cat "$dir/server.log"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n' >"$manifests/other.yml"
eventually yml-applied 10 "${K[@]}" get configmap other
rm "$manifests/demo.yaml"
eventually removed-file-deletes-objects 20 gone namespace demo
expect other-file-untouched 'configmap/other' "${K[@]}" get configmap other -o name

echo "# restart: unchanged files write nothing; --disable removes a default; removals while down are done"
rv_before=$(jp -n kube-system svc kube-dns -o 'jsonpath={.metadata.resourceVersion}')
stop_server
rm "$manifests/other.yml"
start_server --disable local-storage
expect restart-no-rewrite "^${rv_before}\$" jp -n kube-system svc kube-dns -o 'jsonpath={.metadata.resourceVersion}'
eventually disabled-default-deleted 10 gone storageclass local-path
if [ -e "$manifests/local-storage.yaml" ]; then bad disabled-file-removed "$(ls "$manifests")"; else ok disabled-file-removed; fi
eventually removed-while-down-deleted 10 gone configmap other
stop_server
start_server
eventually reenabled-default-back 10 "${K[@]}" get storageclass local-path

echo "$pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then echo "--- server log"; tail -30 "$dir/server.log"; exit 1; fi
