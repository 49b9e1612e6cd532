#!/usr/bin/env bash
# security_e2e.sh — authentication and authorization against a real `kite
# server` over TLS (issue 4, items 1, 2 and 6): refused credentials (none,
# a certificate from another CA, an expired certificate, tampered, expired
# and foreign tokens, a deleted ServiceAccount), RBAC as a `view` user and as
# a ServiceAccount, `kubectl auth can-i` / `whoami`, and after every refusal
# that nothing changed. Uses the real kubectl, curl and openssl.
#
# usage: tests/security_e2e.sh /path/to/kite
# Prints one line per check and "N passed, N failed"; exits non-zero when a
# check fails, 77 (skipped) without kubectl, curl or openssl.
set -u
KITE=${1:?usage: security_e2e.sh /path/to/kite}
for tool in kubectl curl openssl; do
  command -v $tool >/dev/null || { echo "$tool not found: skipped"; exit 77; }
done
work=$(mktemp -d /tmp/kite-security-e2e-XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Static tokens: alice (a view user through a RoleBinding made below), bob
# (no bindings).
cat >"$work/tokens.csv" <<'CSV'
# token,user,uid,"groups"
alice-secret-token-0123456789,alice,1001,"dev,readers"
bob-secret-token-0123456789,bob,1002
CSV
"$KITE" server --data-dir "$work/data" --bind-address 127.0.0.1 --https-listen-port 0 \
  --write-kubeconfig "$work/kite.yaml" --token-file "$work/tokens.csv" --disable-agent \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q "server ready" "$work/server.log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
grep -q "server ready" "$work/server.log" || { echo "server did not start:"; cat "$work/server.log"; exit 1; }
port=$(sed -n 's/.*"port":\([0-9]*\).*"scheme":"https".*/\1/p; s/.*port=\([0-9]*\) scheme=https.*/\1/p' "$work/server.log" | head -1)
[ -z "$port" ] && port=$(grep -o 'https://127.0.0.1:[0-9]*' "$work/kite.yaml" | head -1 | sed 's/.*://')
url="https://127.0.0.1:$port"
tls="$work/data/server/tls"
export KUBECONFIG="$work/kite.yaml"
A=(kubectl --cache-dir "$work/cache" --request-timeout=20s)   # admin
# as TOKEN: kubectl with only a bearer token (no client certificate)
as() { local tok=$1; shift; kubectl --kubeconfig /dev/null --cache-dir "$work/cache-$RANDOM" \
  --request-timeout=20s --server "$url" --certificate-authority "$tls/server-ca.crt" --token "$tok" "$@"; }
C=(curl -s -o /dev/null -w '%{http_code}' --cacert "$tls/server-ca.crt" --max-time 20)
pass=0 fail=0
ok()   { pass=$((pass+1)); echo "ok    $1"; }
bad()  { fail=$((fail+1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -12 | sed 's/^/      /'; }
expect() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -eq 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
refuse() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -ne 0 ] && grep -Eiq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
# says NAME WORD CMD...: prints exactly WORD (kubectl auth can-i exits 1 for "no")
says() { local name=$1 want=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ "$out" = "$want" ]; then ok "$name"; else bad "$name" "$out"; fi; }
code() { local name=$1 want=$2; shift 2; local got; got=$("$@" 2>&1)
  if [ "$got" = "$want" ]; then ok "$name"; else bad "$name" "HTTP $got, want $want"; fi; }
until_true() { local t=$1; shift; local end=$((SECONDS+t)); until "$@" >/dev/null 2>&1; do
  [ $SECONDS -ge $end ] && return 1; sleep 0.2; done; }
absent() { local name=$1; shift; local out; out=$("${A[@]}" get "$@" 2>&1)
  if grep -q NotFound <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }

echo "# anonymous"
code anon-healthz 200 "${C[@]}" "$url/healthz"
code anon-readyz 200 "${C[@]}" "$url/readyz"
code anon-livez 200 "${C[@]}" "$url/livez"
code anon-version 200 "${C[@]}" "$url/version"
code anon-api 401 "${C[@]}" "$url/api"
code anon-pods 401 "${C[@]}" "$url/api/v1/namespaces/default/pods"
code anon-create-ns 401 "${C[@]}" -X POST -H 'Content-Type: application/json' \
  -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"anon"}}' "$url/api/v1/namespaces"
absent anon-created-nothing ns anon

echo "# client certificates"
openssl ecparam -name prime256v1 -genkey -noout -out "$work/evil-ca.key" 2>/dev/null
openssl req -x509 -new -key "$work/evil-ca.key" -subj "/CN=evil-ca" -days 30 -out "$work/evil-ca.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$work/evil.key" 2>/dev/null
openssl req -new -key "$work/evil.key" -subj "/O=system:masters/CN=system:admin" -out "$work/evil.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$work/client.ext"
openssl x509 -req -in "$work/evil.csr" -CA "$work/evil-ca.crt" -CAkey "$work/evil-ca.key" -CAcreateserial \
  -days 30 -extfile "$work/client.ext" -out "$work/evil.crt" 2>/dev/null
code other-ca-cert 401 "${C[@]}" --cert "$work/evil.crt" --key "$work/evil.key" "$url/api/v1/namespaces"
code other-ca-cert-write 401 "${C[@]}" --cert "$work/evil.crt" --key "$work/evil.key" -X POST \
  -H 'Content-Type: application/json' -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"evil"}}' \
  "$url/api/v1/namespaces"
absent other-ca-created-nothing ns evil
# An expired certificate from the real client CA (openssl ca sets past dates).
mkdir -p "$work/ca" && : >"$work/ca/index.txt" && echo 01 >"$work/ca/serial"
cat >"$work/ca/ca.cnf" <<CNF
[ca]
default_ca = kite
[kite]
dir = $work/ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
unique_subject = no
policy = anything
copy_extensions = none
x509_extensions = client
[anything]
commonName = supplied
organizationName = optional
[client]
extendedKeyUsage = clientAuth
CNF
openssl req -new -key "$work/evil.key" -subj "/O=system:masters/CN=old-admin" -out "$work/old.csr" 2>/dev/null
openssl ca -batch -config "$work/ca/ca.cnf" -cert "$tls/client-ca.crt" -keyfile "$tls/client-ca.key" \
  -startdate 20200101000000Z -enddate 20200201000000Z -in "$work/old.csr" -out "$work/old.crt" >/dev/null 2>&1
if openssl x509 -in "$work/old.crt" -noout -checkend 0 >/dev/null 2>&1; then
  bad expired-cert-made "the test certificate is not expired"
else
  code expired-cert 401 "${C[@]}" --cert "$work/old.crt" --key "$work/evil.key" "$url/api/v1/namespaces"
fi
# The same CA with valid dates works: the refusals above are about the CA and the dates.
openssl ca -batch -config "$work/ca/ca.cnf" -cert "$tls/client-ca.crt" -keyfile "$tls/client-ca.key" \
  -days 1 -in "$work/old.csr" -out "$work/good.crt" >/dev/null 2>&1
code valid-cert 200 "${C[@]}" --cert "$work/good.crt" --key "$work/evil.key" "$url/api/v1/namespaces"

echo "# static tokens and RBAC"
ALICE=alice-secret-token-0123456789 BOB=bob-secret-token-0123456789
code wrong-token 401 "${C[@]}" -H "Authorization: Bearer alice-secret-token-012345678X" "$url/api"
expect whoami-token-user 'alice' as $ALICE auth whoami
expect whoami-token-groups 'readers' as $ALICE auth whoami
expect discovery-as-user 'v1' as $BOB api-versions
refuse user-without-role 'Forbidden.*User "bob" cannot list resource "pods"' as $BOB get pods -n default
"${A[@]}" create namespace team >/dev/null
"${A[@]}" create namespace other >/dev/null
"${A[@]}" create rolebinding alice-view -n team --clusterrole=view --user=alice >/dev/null
until_true 10 as $ALICE get pods -n team
expect view-user-lists 'No resources found' as $ALICE get pods -n team
says view-user-can-i-get yes as $ALICE auth can-i get pods -n team
says view-user-can-i-create no as $ALICE auth can-i create deployments -n team
says view-user-can-i-other-ns no as $ALICE auth can-i get pods -n other
refuse view-user-create 'Forbidden.*cannot create resource "configmaps"' as $ALICE create configmap x -n team
absent view-user-created-nothing configmap x -n team
refuse view-user-secrets 'Forbidden' as $ALICE get secrets -n team
refuse view-user-other-ns 'Forbidden' as $ALICE get pods -n other
list=$(as $ALICE auth can-i --list -n team 2>&1)
# The verbs column (last) of every row but the self reviews everyone may create.
if grep -q '^pods ' <<<"$list" && ! awk 'NR>1 && $1 !~ /^self.*reviews/ {print $NF}' <<<"$list" | grep -Eq 'create|update|patch|delete|\*'; then
  ok view-can-i-list-no-write-verbs
else
  bad view-can-i-list-no-write-verbs "$list"
fi
says admin-can-i-as-alice no "${A[@]}" auth can-i delete pods -n team --as alice
says admin-can-i-as-alice-yes yes "${A[@]}" auth can-i watch pods -n team --as alice
"${A[@]}" create rolebinding alice-edit -n team --clusterrole=edit --user=alice >/dev/null
# Impersonation needs the impersonate verb (kubectl --as, --as-group).
code impersonation-refused 403 "${C[@]}" -H "Authorization: Bearer $BOB" -H "Impersonate-User: alice" \
  "$url/api/v1/namespaces/team/pods"
code impersonation-refused-group 403 "${C[@]}" -H "Authorization: Bearer $ALICE" -H "Impersonate-User: alice" \
  -H "Impersonate-Group: system:masters" "$url/api/v1/namespaces/other/pods"
code impersonation-by-admin 200 "${C[@]}" --cert "$work/good.crt" --key "$work/evil.key" -H "Impersonate-User: alice" \
  "$url/api/v1/namespaces/team/pods"
code impersonated-user-limits 403 "${C[@]}" --cert "$work/good.crt" --key "$work/evil.key" -H "Impersonate-User: alice" \
  "$url/api/v1/namespaces/other/pods"
until_true 10 as $ALICE create configmap made-by-alice -n team --from-literal=a=b
expect edit-user-created 'made-by-alice' "${A[@]}" get configmap made-by-alice -n team

echo "# ServiceAccount tokens"
"${A[@]}" create serviceaccount robot -n team >/dev/null
"${A[@]}" create rolebinding robot-view -n team --clusterrole=view --serviceaccount=team:robot >/dev/null
SA=$("${A[@]}" create token robot -n team --duration=15m 2>&1)
expect token-is-jwt '^ey[^.]+\.[^.]+\.[^.]+$' echo "$SA"
expect whoami-sa 'system:serviceaccount:team:robot' as "$SA" auth whoami
expect whoami-sa-groups 'system:serviceaccounts:team' as "$SA" auth whoami
until_true 10 as "$SA" get pods -n team
expect sa-reads-own-namespace 'No resources found' as "$SA" get pods -n team
refuse sa-reads-other-namespace 'Forbidden.*system:serviceaccount:team:robot' as "$SA" get pods -n other
refuse sa-reads-secrets 'Forbidden' as "$SA" get secrets -n team
refuse sa-writes 'Forbidden' as "$SA" create configmap by-robot -n team
absent sa-created-nothing configmap by-robot -n team
refuse token-short-duration 'less than 10 minutes' "${A[@]}" create token robot -n team --duration=1m
refuse token-missing-sa 'not found' "${A[@]}" create token nobody -n team
# Tampered: one changed character in the signature, or a payload swapped.
sig=${SA##*.}; first=${sig:0:1}; [ "$first" = A ] && repl=B || repl=A
code tampered-signature 401 "${C[@]}" -H "Authorization: Bearer ${SA%.*}.$repl${sig:1}" "$url/api/v1/namespaces/team/pods"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
hdr=${SA%%.*}
payload=$(printf '%s' "${SA#*.}" | cut -d. -f1 | tr -- '-_' '+/')
while [ $(( ${#payload} % 4 )) -ne 0 ]; do payload="$payload="; done
claims=$(printf '%s' "$payload" | openssl base64 -d -A)
forged=$(printf '%s' "$claims" | sed 's/"namespace":"team"/"namespace":"other"/' | b64url)
code tampered-payload 401 "${C[@]}" -H "Authorization: Bearer $hdr.$forged.$sig" "$url/api/v1/namespaces/other/pods"
# Correctly signed with the server's own key, but expired an hour ago.
now=$(date +%s)
expired_claims=$(printf '%s' "$claims" | sed -E "s/\"exp\":[0-9]+/\"exp\":$((now-3600))/; s/\"nbf\":[0-9]+/\"nbf\":$((now-7200))/; s/\"iat\":[0-9]+/\"iat\":$((now-7200))/")
signing_input="$hdr.$(printf '%s' "$expired_claims" | b64url)"
expired="$signing_input.$(printf '%s' "$signing_input" | openssl dgst -sha256 -sign "$tls/service-account.key" | b64url)"
code expired-token 401 "${C[@]}" -H "Authorization: Bearer $expired" "$url/api/v1/namespaces/team/pods"
# The same forging with a fresh expiry proves the signing above is right.
fresh_input="$hdr.$(printf '%s' "$claims" | b64url)"
fresh="$fresh_input.$(printf '%s' "$fresh_input" | openssl dgst -sha256 -sign "$tls/service-account.key" | b64url)"
code resigned-valid-token 200 "${C[@]}" -H "Authorization: Bearer $fresh" "$url/api/v1/namespaces/team/pods"
# Signed by another key.
openssl genrsa -out "$work/other-rsa.key" 2048 2>/dev/null
other="$fresh_input.$(printf '%s' "$fresh_input" | openssl dgst -sha256 -sign "$work/other-rsa.key" | b64url)"
code foreign-key-token 401 "${C[@]}" -H "Authorization: Bearer $other" "$url/api/v1/namespaces/team/pods"
# Bound to a pod: dies with the pod.
"${A[@]}" run bound-pod -n team --image=busybox --restart=Never >/dev/null
POD_SA=$("${A[@]}" create token robot -n team --bound-object-kind Pod --bound-object-name bound-pod 2>&1)
expect whoami-bound-pod 'bound-pod' as "$POD_SA" auth whoami -o json
"${A[@]}" delete pod bound-pod -n team --grace-period=0 --force >/dev/null 2>&1
until_true 10 sh -c "! kubectl --kubeconfig '$KUBECONFIG' get pod bound-pod -n team >/dev/null 2>&1"
code bound-pod-deleted 401 "${C[@]}" -H "Authorization: Bearer $POD_SA" "$url/api/v1/namespaces/team/pods"
"${A[@]}" delete serviceaccount robot -n team >/dev/null
code deleted-sa-token 401 "${C[@]}" -H "Authorization: Bearer $SA" "$url/api/v1/namespaces/team/pods"

echo "# TokenReview (kubectl create -f tokenreview.yaml -o yaml)"
review() { printf 'apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: "%s"\n' "$1" >"$work/tr.yaml"
  [ -n "${2:-}" ] && printf '  audiences: ["%s"]\n' "$2" >>"$work/tr.yaml"; echo "$work/tr.yaml"; }
"${A[@]}" create serviceaccount reviewer -n team >/dev/null
"${A[@]}" create clusterrolebinding reviewer-delegator --clusterrole=system:auth-delegator \
  --serviceaccount=team:reviewer >/dev/null
REVIEWER=$("${A[@]}" create token reviewer -n team 2>&1)
"${A[@]}" create serviceaccount robot3 -n team >/dev/null
R3=$("${A[@]}" create token robot3 -n team 2>&1)
until_true 10 as "$REVIEWER" create -f "$(review "$ALICE")" -o yaml
expect tokenreview-static-user 'username: alice' as "$REVIEWER" create -f "$(review "$ALICE")" -o yaml
expect tokenreview-static-authenticated 'authenticated: true' as "$REVIEWER" create -f "$(review "$ALICE")" -o yaml
out=$(as "$REVIEWER" create -f "$(review "$R3")" -o yaml 2>&1)
if grep -q 'authenticated: true' <<<"$out" && grep -q 'username: system:serviceaccount:team:robot3' <<<"$out" \
  && grep -q -- '- system:serviceaccounts:team' <<<"$out" && grep -q 'https://kubernetes.default.svc.cluster.local' <<<"$out"; then
  ok tokenreview-serviceaccount; else bad tokenreview-serviceaccount "$out"; fi
out=$(as "$REVIEWER" create -f "$(review "$R3" vault)" -o json 2>&1)
if ! grep -q '"authenticated": true' <<<"$out" && grep -q '"error": ".*audience' <<<"$out"; then
  ok tokenreview-other-audience; else bad tokenreview-other-audience "$out"; fi
"${A[@]}" run bound3 -n team --image=busybox --restart=Never --overrides='{"spec":{"serviceAccountName":"robot3"}}' >/dev/null
BOUND3=$("${A[@]}" create token robot3 -n team --bound-object-kind Pod --bound-object-name bound3 2>&1)
expect tokenreview-bound-pod-alive 'bound3' as "$REVIEWER" create -f "$(review "$BOUND3")" -o json
"${A[@]}" delete pod bound3 -n team --grace-period=0 --force >/dev/null 2>&1
until_true 10 sh -c "! kubectl --kubeconfig '$KUBECONFIG' get pod bound3 -n team >/dev/null 2>&1"
sig3=${R3##*.}; [ "${sig3:0:1}" = A ] && r3=B || r3=A
for c in "invalid:not-a-real-token:invalid bearer token" "tampered:${R3%.*}.$r3${sig3:1}:ServiceAccount token" \
         "expired:$expired:expired" "bound-to-deleted-pod:$BOUND3:Pod bound3 the token is bound to no longer exists" \
         "deleted-sa:$SA:ServiceAccount team/robot no longer exists"; do
  name=${c%%:*}; rest=${c#*:}; tok=${rest%%:*}; why=${rest#*:}
  out=$(as "$REVIEWER" create -f "$(review "$tok")" -o json 2>&1)
  if [ $? -eq 0 ] && ! grep -q '"authenticated": true' <<<"$out" && grep -q "\"error\": \".*$why" <<<"$out" \
    && grep -q '"user": {}' <<<"$out"; then
    ok "tokenreview-$name"; else bad "tokenreview-$name" "$out"; fi
done
refuse tokenreview-needs-delegator 'Forbidden.*tokenreviews' as $ALICE create -f "$(review "$R3")" -o yaml
refuse tokenreview-empty-token 'BadRequest|token is required' as "$REVIEWER" create -f "$(review "")"
expect tokenreview-admin 'username: system:serviceaccount:team:robot3' "${A[@]}" create -f "$(review "$R3")" -o yaml

echo "# node identities"
# Node client certificates from the real client CA, as a join would give.
for n in n1 n2; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$work/$n.key" 2>/dev/null
  openssl req -new -key "$work/$n.key" -subj "/O=system:nodes/CN=system:node:$n" -out "$work/$n.csr" 2>/dev/null
  openssl ca -batch -config "$work/ca/ca.cnf" -cert "$tls/client-ca.crt" -keyfile "$tls/client-ca.key" \
    -days 1 -in "$work/$n.csr" -out "$work/$n.crt" >/dev/null 2>&1
done
node() { local n=$1; shift; kubectl --kubeconfig /dev/null --cache-dir "$work/cache-$n" --request-timeout=20s \
  --server "$url" --certificate-authority "$tls/server-ca.crt" \
  --client-certificate "$work/$n.crt" --client-key "$work/$n.key" "$@"; }
node_yaml() { printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n' "$1"; }
expect node-whoami 'system:node:n1' node n1 auth whoami
expect node-registers-itself 'node/n1 created' sh -c "$(declare -f node_yaml); node_yaml n1 | kubectl --kubeconfig /dev/null --cache-dir '$work/cache-n1' --server '$url' --certificate-authority '$tls/server-ca.crt' --client-certificate '$work/n1.crt' --client-key '$work/n1.key' create -f -"
refuse node-registers-other 'Forbidden.*may only create its own Node' sh -c "$(declare -f node_yaml); node_yaml n3 | kubectl --kubeconfig /dev/null --cache-dir '$work/cache-n1' --server '$url' --certificate-authority '$tls/server-ca.crt' --client-certificate '$work/n1.crt' --client-key '$work/n1.key' create -f -"
absent node-created-nothing node n3
node_yaml n2 | "${A[@]}" create -f - >/dev/null
expect node-patches-own-status 'patched' node n1 patch node n1 --subresource=status --type=merge \
  -p '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"ok"}]}}'
refuse node-patches-other-status 'Forbidden.*may only change its own Node' node n1 patch node n2 --subresource=status \
  --type=merge -p '{"status":{"conditions":[{"type":"Ready","status":"False","reason":"Hijacked","message":"x"}]}}'
if "${A[@]}" get node n2 -o jsonpath='{.status.conditions}' | grep -q Hijacked; then
  bad node-other-status-unchanged "n2 status changed"; else ok node-other-status-unchanged; fi
refuse node-labels-other 'Forbidden' node n1 label node n2 stolen=yes
refuse node-deletes-other 'Forbidden' node n1 delete node n2
expect node-lists-nodes 'n2' node n1 get nodes
printf 'apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: n1, namespace: kube-node-lease}\nspec: {holderIdentity: n1, leaseDurationSeconds: 40}\n' >"$work/lease-n1.yaml"
printf 'apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: n2, namespace: kube-node-lease}\nspec: {holderIdentity: n1, leaseDurationSeconds: 40}\n' >"$work/lease-n2.yaml"
expect node-creates-own-lease 'created' node n1 create -f "$work/lease-n1.yaml"
expect node-renews-own-lease 'patched' node n1 patch lease n1 -n kube-node-lease --type=merge -p '{"spec":{"leaseDurationSeconds":41}}'
refuse node-creates-other-lease 'Forbidden' node n1 create -f "$work/lease-n2.yaml"
"${A[@]}" create secret generic used -n team --from-literal=k=v >/dev/null
"${A[@]}" create secret generic unused -n team --from-literal=k=v >/dev/null
"${A[@]}" create configmap cfg -n team --from-literal=k=v >/dev/null
cat >"$work/pod-n1.yaml" <<'POD'
apiVersion: v1
kind: Pod
metadata: {name: on-n1, namespace: team}
spec:
  nodeName: n1
  containers:
  - name: c
    image: busybox
    envFrom: [{configMapRef: {name: cfg}}]
  volumes:
  - {name: s, secret: {secretName: used}}
POD
sed 's/on-n1/on-n2/; s/nodeName: n1/nodeName: n2/' "$work/pod-n1.yaml" >"$work/pod-n2.yaml"
"${A[@]}" create -f "$work/pod-n1.yaml" >/dev/null
"${A[@]}" create -f "$work/pod-n2.yaml" >/dev/null
until_true 10 node n1 get secret used -n team
expect node-reads-used-secret '^used ' node n1 get secret used -n team --no-headers
expect node-reads-used-configmap '^cfg ' node n1 get configmap cfg -n team --no-headers
refuse node-reads-unused-secret 'Forbidden.*cannot get resource "secrets"' node n1 get secret unused -n team
refuse other-node-reads-secret 'Forbidden' node n2 get secret unused -n team
refuse node-lists-secrets 'Forbidden' node n1 get secrets -n team
refuse node-lists-all-pods 'Forbidden.*fieldSelector spec.nodeName=n1' node n1 get pods -A
expect node-lists-own-pods 'on-n1' node n1 get pods -A --field-selector spec.nodeName=n1
refuse node-lists-other-pods 'Forbidden' node n1 get pods -A --field-selector spec.nodeName=n2
expect node-gets-own-pod 'on-n1' node n1 get pod on-n1 -n team
refuse node-gets-other-pod 'Forbidden' node n1 get pod on-n2 -n team
expect node-patches-own-pod-status 'patched' node n1 patch pod on-n1 -n team --subresource=status --type=merge -p '{"status":{"phase":"Running"}}'
refuse node-patches-other-pod-status 'Forbidden' node n1 patch pod on-n2 -n team --subresource=status --type=merge -p '{"status":{"phase":"Failed"}}'
if [ "$("${A[@]}" get pod on-n2 -n team -o jsonpath='{.status.phase}')" = Failed ]; then
  bad node-other-pod-unchanged "on-n2 became Failed"; else ok node-other-pod-unchanged; fi
refuse node-deletes-other-pod 'Forbidden' node n1 delete pod on-n2 -n team
refuse node-creates-unbound-pod 'Forbidden.*only create pods bound to it' node n1 run stray -n team --image=busybox
"${A[@]}" get serviceaccount default -n team >/dev/null 2>&1 || "${A[@]}" create serviceaccount default -n team >/dev/null
expect node-token-for-its-pod-sa 'token' node n1 create token default -n team -o json
refuse node-token-for-other-sa 'Forbidden' node n1 create token robot2 -n team
refuse node-reads-configmap-elsewhere 'Forbidden' node n1 get configmaps -n kube-system
# PersistentVolumes: only those bound (claimRef) to claims its pods use.
pv_yaml() { printf 'apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: %s}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /tmp/%s}\n  claimRef: {namespace: team, name: %s}\n' "$1" "$1" "$2"; }
pv_yaml pv-data data | "${A[@]}" create -f - >/dev/null
pv_yaml pv-other other-claim | "${A[@]}" create -f - >/dev/null
printf 'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: team}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n  volumeName: pv-data\n' | "${A[@]}" create -f - >/dev/null
sed 's/on-n1/pvc-on-n1/; s/secret: {secretName: used}/persistentVolumeClaim: {claimName: data}/' "$work/pod-n1.yaml" | "${A[@]}" create -f - >/dev/null
until_true 10 node n1 get pv pv-data
expect node-gets-its-pv '^pv-data ' node n1 get pv pv-data --no-headers
expect node-gets-its-pvc '^data ' node n1 get pvc data -n team --no-headers
refuse node-gets-other-pv 'Forbidden.*persistentvolumes' node n1 get pv pv-other
refuse node-lists-pvs 'Forbidden' node n1 get pv
refuse other-node-gets-pv 'Forbidden' node n2 get pv pv-data
refuse node-deletes-pv 'Forbidden' node n1 delete pv pv-data
expect node-pv-still-there 'pv-data' "${A[@]}" get pv pv-data -o name

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
