#!/usr/bin/env bash
# join_e2e.sh — node join, join tokens, certificate rotation and Secrets at
# rest (issue 4, items 3-5), against real `kite server` processes with the
# real kite binary and /usr/bin/kubectl.
#
# usage: tests/join_e2e.sh /path/to/kite
# Everything runs on 127.0.0.1 with free ports in a temp dir. Prints one line
# per check and "N passed, N failed"; exits non-zero when a check fails.
set -u
KITE=${1:?usage: join_e2e.sh /path/to/kite}
command -v kubectl >/dev/null || { echo "kubectl not found: skipped"; exit 77; }
work=$(mktemp -d /tmp/kite-join-e2e-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

pass=0 fail=0
ok()   { pass=$((pass+1)); echo "ok    $1"; }
bad()  { fail=$((fail+1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -12 | sed 's/^/      /'; }
expect() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -eq 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
refuse() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -ne 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }

# start_server NAME [flags...]: starts `kite server` with data dir
# $work/NAME; sets server_pid and port.
start_server() {
  local name=$1; shift
  rm -f "$work/$name.log"  # (the child truncates it only once it runs)
  "$KITE" server --data-dir "$work/$name" --bind-address 127.0.0.1 --https-listen-port 0 \
    --write-kubeconfig "$work/$name.yaml" --disable-agent "$@" >"$work/$name.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 300); do
    grep -q "server ready" "$work/$name.log" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  grep -q "server ready" "$work/$name.log" || { echo "server $name did not start:"; cat "$work/$name.log"; exit 1; }
  port=$(sed -n 's/.*server: https:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$name.yaml" | head -1)
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null; }

start_server a
url_a=https://127.0.0.1:$port
K=(kubectl --kubeconfig "$work/a.yaml" --cache-dir "$work/cache" --request-timeout=20s)

echo "# the server's join token"
token_file=$work/a/server/token
[ "$(stat -c %a "$token_file")" = 600 ] && ok token-file-mode-0600 || bad token-file-mode-0600 "$(ls -l "$token_file")"
token=$(cat "$token_file")
ca_hash=$(openssl x509 -in "$work/a/server/tls/server-ca.crt" -outform DER | sha256sum | cut -d' ' -f1)
[[ "$token" =~ ^K10${ca_hash}::[a-z0-9]{6}\.[a-z0-9]{16}$ ]] && ok token-carries-ca-hash || bad token-carries-ca-hash "$token vs $ca_hash"
id=${token#*::}; id=${id%%.*}
expect token-secret "bootstrap.kubernetes.io/token" "${K[@]}" -n kube-system get secret "bootstrap-token-$id" -o jsonpath='{.type}'
refuse cacerts-anonymous-401 "401" curl -skf "$url_a/cacerts" -o /dev/null -w '%{http_code}'
expect chain-carries-ca "1 s:.*kite-server-ca" bash -c "openssl s_client -connect 127.0.0.1:${url_a##*:} -showcerts </dev/null 2>/dev/null"
expect curl-cacert-verifies "^ok$" curl -s --cacert "$work/a/server/tls/server-ca.crt" "$url_a/healthz"
expect cacerts-authenticated "^2$" bash -c "curl -s --cacert '$work/a/server/tls/server-ca.crt' --cert '$work/a/server/tls/client-admin.crt' --key '$work/a/server/tls/client-admin.key' '$url_a/cacerts' | grep -c 'BEGIN CERTIFICATE'"
refuse anonymous-api-401 "401" curl -skf "$url_a/api/v1/namespaces" -o /dev/null -w '%{http_code}'

echo "# kite agent joins"
expect agent-join "node n1 joined.*" "$KITE" agent --server "$url_a" --token "$token" --node-name n1 --data-dir "$work/n1" --node-ip 10.9.8.7 --join-only
for f in server-ca.crt client-ca.crt client-kubelet.crt client-kubelet.key serving-kubelet.crt serving-kubelet.key; do
  [ "$(stat -c %a "$work/n1/agent/tls/$f" 2>/dev/null)" = 600 ] || bad "agent-file-$f" "$(ls -l "$work/n1/agent/tls/" 2>&1)"
done
ok agent-files-mode-0600
cmp -s "$work/n1/agent/tls/client-ca.crt" "$work/a/server/tls/client-ca.crt" && ok agent-stores-client-ca ||
  bad agent-stores-client-ca "$(ls -l "$work/n1/agent/tls/")"
cmp -s "$work/n1/agent/tls/server-ca.crt" "$work/a/server/tls/server-ca.crt" && ok agent-server-ca-alone ||
  bad agent-server-ca-alone "$(grep -c BEGIN "$work/n1/agent/tls/server-ca.crt") certificates"
expect node-cert-subject "CN ?= ?system:node:n1" openssl x509 -in "$work/n1/agent/tls/client-kubelet.crt" -noout -subject
expect node-cert-org "O ?= ?system:nodes" openssl x509 -in "$work/n1/agent/tls/client-kubelet.crt" -noout -subject
expect node-cert-by-client-ca "kite-client-ca" openssl x509 -in "$work/n1/agent/tls/client-kubelet.crt" -noout -issuer
expect node-cert-one-year "$(date -u -d '+365 days' +'%b %e' | sed 's/  / +/')" openssl x509 -in "$work/n1/agent/tls/client-kubelet.crt" -noout -enddate
expect serving-cert-sans "DNS:n1.*IP Address:10\.9\.8\.7" openssl x509 -in "$work/n1/agent/tls/serving-kubelet.crt" -noout -ext subjectAltName
expect serving-cert-verifies "OK" openssl verify -CAfile "$work/a/server/tls/server-ca.crt" "$work/n1/agent/tls/serving-kubelet.crt"
expect csr-approved-issued "kube-apiserver-client-kubelet +system:bootstrap:$id .*Approved,Issued" "${K[@]}" get csr
expect csr-serving-issued "kubelet-serving +system:node:n1 .*Approved,Issued" "${K[@]}" get csr
expect agent-kubeconfig-whoami "system:node:n1" kubectl --kubeconfig "$work/n1/agent/kubelet.kubeconfig" auth whoami
expect agent-kubeconfig-groups "system:nodes" kubectl --kubeconfig "$work/n1/agent/kubelet.kubeconfig" auth whoami
expect agent-rejoin-keeps "client certificate .*\(kept\)" "$KITE" agent --server "$url_a" --token "$token" --node-name n1 --data-dir "$work/n1" --node-ip 10.9.8.7 --join-only
serial1=$(openssl x509 -in "$work/n1/agent/tls/serving-kubelet.crt" -noout -serial)
expect agent-new-ip-new-serving "serving certificate .*\(issued\)" "$KITE" agent --server "$url_a" --token "$token" --node-name n1 --data-dir "$work/n1" --node-ip 10.9.8.6 --join-only
[ "$(openssl x509 -in "$work/n1/agent/tls/serving-kubelet.crt" -noout -serial)" != "$serial1" ] && ok serving-reissued || bad serving-reissued

echo "# refusals"
wrong="${token%.*}.0000000000000000"
csrs_before=$("${K[@]}" get csr --no-headers | wc -l)
refuse wrong-token-401 "refused the join token.*401" "$KITE" agent --server "$url_a" --token "$wrong" --node-name n2 --data-dir "$work/n2"
[ ! -e "$work/n2/agent/tls/client-kubelet.crt" ] && ok wrong-token-no-cert || bad wrong-token-no-cert
[ "$("${K[@]}" get csr --no-headers | wc -l)" = "$csrs_before" ] && ok wrong-token-no-csr || bad wrong-token-no-csr
refuse token-without-hash "no CA hash" "$KITE" agent --server "$url_a" --token "${token#*::}" --node-name n2 --data-dir "$work/n2"
refuse bearer-wrong-token-401 "401" curl -skf -H "Authorization: Bearer ${wrong#*::}" "$url_a/api/v1/namespaces" -o /dev/null -w '%{http_code}'

pid_a=$server_pid
start_server b
url_b=https://127.0.0.1:$port
pid_b=$server_pid
server_pid=$pid_a
refuse other-ca-refused "the server's CA does not match the token's hash" "$KITE" agent --server "$url_b" --token "$token" --node-name n3 --data-dir "$work/n3"
[ ! -e "$work/n3/agent/tls/client-kubelet.crt" ] && ok other-ca-no-cert || bad other-ca-no-cert
expect other-ca-no-csr "No resources found" kubectl --kubeconfig "$work/b.yaml" --cache-dir "$work/cache" get csr
kill "$pid_b"; wait "$pid_b" 2>/dev/null

echo "# kite token create / list / delete"
KT=("$KITE" token --kubeconfig "$work/a.yaml")
t2=$("${KT[@]}" create --ttl 2h --description "for n4" 2>&1)
[[ "$t2" =~ ^K10${ca_hash}::[a-z0-9]{6}\.[a-z0-9]{16}$ ]] && ok token-create || bad token-create "$t2"
id2=${t2#*::}; id2=${id2%%.*}
expect token-list "^$id2 +$(date -u -d '+2 hours' +%Y-%m-%dT%H).*for n4" "${KT[@]}" list
expect token-list-server "^$id +<never>" "${KT[@]}" list
expect token-expiration-field "$(date -u -d '+2 hours' +%Y-%m-%dT%H)" bash -c "'${K[0]}' --kubeconfig '$work/a.yaml' -n kube-system get secret bootstrap-token-$id2 -o jsonpath='{.data.expiration}' | base64 -d"
expect join-with-created-token "node n4 joined" "$KITE" agent --server "$url_a" --token "$t2" --node-name n4 --data-dir "$work/n4" --join-only
expect token-delete "token $id2 deleted" "${KT[@]}" delete "$id2"
refuse deleted-token-refused "refused the join token.*401" "$KITE" agent --server "$url_a" --token "$t2" --node-name n5 --data-dir "$work/n5"
refuse token-delete-unknown "no token with ID" "${KT[@]}" delete "$id2"
refuse token-bad-ttl "--ttl wants a duration" "${KT[@]}" create --ttl soon
t3=$("${KT[@]}" create --ttl 1s 2>&1)
sleep 2
refuse expired-token-refused "refused the join token.*401" "$KITE" agent --server "$url_a" --token "$t3" --node-name n6 --data-dir "$work/n6"

echo "# certificates over time"
stop_server
serving_serial=$(openssl x509 -in "$work/a/server/tls/serving-kube-apiserver.crt" -noout -serial)
ca_serial=$(openssl x509 -in "$work/a/server/tls/server-ca.crt" -noout -serial)
expect server-cert-one-year "$(date -u -d '+365 days' +'%b %e' | sed 's/  / +/')" openssl x509 -in "$work/a/server/tls/serving-kube-apiserver.crt" -noout -enddate
expect ca-ten-years "$(date -u -d '+3650 days' +%Y)" openssl x509 -in "$work/a/server/tls/server-ca.crt" -noout -enddate
expect certificate-rotate "restart kite server" "$KITE" certificate rotate --data-dir "$work/a" --bind-address 127.0.0.1
[ "$(openssl x509 -in "$work/a/server/tls/serving-kube-apiserver.crt" -noout -serial)" != "$serving_serial" ] && ok rotate-new-serving || bad rotate-new-serving
[ "$(openssl x509 -in "$work/a/server/tls/server-ca.crt" -noout -serial)" = "$ca_serial" ] && ok rotate-keeps-ca || bad rotate-keeps-ca
start_server a
url_a=https://127.0.0.1:$port
expect rotated-server-serves "system:admin" "${K[@]}" auth whoami
[ "$(cat "$token_file")" = "$token" ] && ok token-survives-restart || bad token-survives-restart
expect node-cert-after-rotate "system:node:n1" kubectl --kubeconfig "$work/n1/agent/kubelet.kubeconfig" --server "$url_a" auth whoami
stop_server

echo "# secrets at rest"
start_server s
KS=(kubectl --kubeconfig "$work/s.yaml" --cache-dir "$work/cache" --request-timeout=20s)
expect plain-secret "secret/before created" "${KS[@]}" create secret generic before --from-literal=v=plainvalue-visible-4242
stop_server
grep -qa "plainvalue-visible-4242\|$(printf plainvalue-visible-4242 | base64)" "$work"/s/server/db/* && ok plaintext-before-encryption || bad plaintext-before-encryption "(the test's baseline: the value should be in the db in plain text)"
start_server s --secrets-encryption
[ "$(stat -c %a "$work/s/server/cred/encryption-key")" = 600 ] && ok encryption-key-0600 || bad encryption-key-0600
expect old-secret-readable "plainvalue-visible-4242" bash -c "kubectl --kubeconfig '$work/s.yaml' get secret before -o jsonpath='{.data.v}' | base64 -d"
expect new-secret "secret/after created" "${KS[@]}" create secret generic after --from-literal=v=sealedvalue-hidden-7373
expect new-secret-readable "sealedvalue-hidden-7373" bash -c "kubectl --kubeconfig '$work/s.yaml' get secret after -o jsonpath='{.data.v}' | base64 -d"
expect rewrite-old-secret "secret/before (patched|configured)" "${KS[@]}" patch secret before -p '{"metadata":{"labels":{"re":"written"}}}'
expect list-decrypts "sealedvalue|after" "${KS[@]}" get secrets after -o name
stop_server
b64=$(printf sealedvalue-hidden-7373 | base64)
if grep -qa "sealedvalue-hidden-7373\|$b64" "$work"/s/server/db/*; then bad db-has-no-plaintext "found in $(ls "$work"/s/server/db/)"; else ok db-has-no-plaintext; fi
grep -qa "k8s:enc:aesgcm:v1:key1:" "$work"/s/server/db/* && ok db-has-ciphertext || bad db-has-ciphertext
start_server s
expect readable-after-encryption-off "sealedvalue-hidden-7373" bash -c "kubectl --kubeconfig '$work/s.yaml' get secret after -o jsonpath='{.data.v}' | base64 -d"
stop_server

errors=$(grep -hE '^E ' "$work"/*.log)
[ -z "$errors" ] && ok servers-logged-no-errors || bad servers-logged-no-errors "$errors"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
