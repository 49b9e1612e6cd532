#!/usr/bin/env bash
# multinode_e2e.sh — three kite nodes, each in a network namespace of its
# own with its own containerd, joined by a bridge (issue 7 items 4 and 5,
# docs/network.md):
#
#   kite-mn-br-$$   br0 10.77.0.1/24 (the "outside": curl runs here)
#     |-- veth -- kite-mn-1-$$  kite0 10.77.0.2  `kite server` + its agent
#     |-- veth -- kite-mn-2-$$  kite0 10.77.0.3  `kite agent --server ...`
#     '-- veth -- kite-mn-3-$$  kite0 10.77.0.4  `kite agent --server ...`
#
# No namespace has a route out of 10.77.0.0/24. Checks, with the real
# kubectl:
#   1. three Ready nodes with distinct podCIDRs; each agent routes the
#      other two podCIDRs via their node IPs (proto 107);
#   2. a pod on each node (nodeName), busybox httpd; every pod reaches the
#      other two by pod IP, and the server sees the client's own pod IP
#      (a CGI script prints REMOTE_ADDR: no masquerade inside the cluster);
#   3. a Service backed by the pods on nodes 2 and 3 (the agents' service
#      proxy, default mode): a pod on node 1 reaches it by DNS name and both
#      backends answer; its NodePort answers on every node's IP from
#      outside; a LoadBalancer Service gets the three node addresses as
#      ingress (servicelb) and answers on each; a backend turned unready
#      (its readiness file removed with kubectl exec) gets no more traffic;
#   4. after teardown nothing of the pods is left (cgroups, CNI netns).
# Everything (kite, containerd, shims, pods, mounts, cgroups, netns, temp
# dirs) is torn down by a trap, also on failure.
#
# usage: [PROXY_MODE=nftables|iptables|userspace] tests/multinode_e2e.sh KITE IMAGES_DIR
# (PROXY_MODE: every node's --proxy-mode; default: the agents' default.)
# Exits 77 (skipped) without root, kubectl, containerd or the busybox image.
set -u
KITE=$(readlink -f "${1:?usage: multinode_e2e.sh KITE IMAGES_DIR}")
IMAGES=${2:?usage: multinode_e2e.sh KITE IMAGES_DIR}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns_lib.sh"

[ "$(id -u)" = 0 ] || { echo "skipped: needs root (network namespaces, containerd)"; exit 77; }
command -v kubectl >/dev/null || { echo "skipped: kubectl not found"; exit 77; }
command -v containerd >/dev/null || { echo "skipped: containerd not found"; exit 77; }
[ -f "$IMAGES/busybox.tar" ] || { echo "skipped: no $IMAGES/busybox.tar"; exit 77; }

work=$(mktemp -d /tmp/kite-multinode-XXXXXX)
BR=kite-mn-br-$$
NS=("" "kite-mn-1-$$" "kite-mn-2-$$" "kite-mn-3-$$")
IP=("" 10.77.0.2 10.77.0.3 10.77.0.4)
NAME=("" mn1 mn2 mn3)
pids=("" "" "" "")
proxy_flags=()
[ -n "${PROXY_MODE:-}" ] && proxy_flags=(--proxy-mode "$PROXY_MODE")
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok    $1"; }
bad() { fail=$((fail + 1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -20 | sed 's/^/      /'; }
in_ns() { local n=$1; shift; nsenter --net="/var/run/netns/$n" "$@"; }

stop_pid() { # PID: SIGTERM and wait until it is gone
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
stop_all() {
  local i
  for i in 3 2 1; do stop_pid "${pids[$i]}"; pids[$i]=; done
  for i in 1 2 3; do containerd_cleanup "$work/n$i/agent/containerd/containerd.sock" "$work/n$i/agent"; done
}
cleanup() {
  stop_all >/dev/null 2>&1
  local n
  for n in "${NS[@]}" "$BR"; do [ -n "$n" ] && ip netns delete "$n" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# The bridge and the three nodes.
ip netns add "$BR" || { echo "cannot create a network namespace"; exit 1; }
ip -n "$BR" link set lo up
ip -n "$BR" link add br0 type bridge
ip -n "$BR" addr add 10.77.0.1/24 dev br0
ip -n "$BR" link set br0 up
for i in 1 2 3; do
  ip netns add "${NS[$i]}" || exit 1
  ip -n "${NS[$i]}" link set lo up
  ip -n "$BR" link add "vn$i" type veth peer name kite0 netns "${NS[$i]}" || exit 1
  ip -n "$BR" link set "vn$i" master br0
  ip -n "$BR" link set "vn$i" up
  ip -n "${NS[$i]}" addr add "${IP[$i]}/24" dev kite0
  ip -n "${NS[$i]}" link set kite0 up
  mkdir -p "$work/n$i/agent/images"
  cp "$IMAGES/busybox.tar" "$work/n$i/agent/images/"
done

export KUBECONFIG=$work/kite.yaml
K=(in_ns "${NS[1]}" kubectl --cache-dir "$work/cache" --request-timeout=20s)
until_true() { local t=$1; shift; local end=$((SECONDS + t)); until "$@" >/dev/null 2>&1; do
  [ $SECONDS -ge $end ] && return 1; sleep 0.5; done; }

echo "# 1. one server, two agents"
nsenter --net="/var/run/netns/${NS[1]}" "$KITE" server --data-dir "$work/n1" --node-name mn1 \
  --node-ip 10.77.0.2 --write-kubeconfig "$KUBECONFIG" "${proxy_flags[@]}" >"$work/n1.log" 2>&1 &
pids[1]=$!
server_up() { [ -f "$KUBECONFIG" ] && "${K[@]}" get --raw /readyz; }
until_true 60 server_up || { echo "server did not start:"; tail -30 "$work/n1.log"; exit 1; }
token=$(cat "$work/n1/server/token")
for i in 2 3; do
  nsenter --net="/var/run/netns/${NS[$i]}" "$KITE" agent --server https://10.77.0.2:6443 \
    --token "$token" --data-dir "$work/n$i" --node-name "${NAME[$i]}" --node-ip "${IP[$i]}" \
    "${proxy_flags[@]}" >"$work/n$i.log" 2>&1 &
  pids[$i]=$!
done
ready_nodes() {
  [ "$("${K[@]}" get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)" = 3 ]
}
until_true 90 ready_nodes && ok three-nodes-ready ||
  bad three-nodes-ready "$("${K[@]}" get nodes -o wide 2>&1; tail -5 "$work"/n*.log)"
cidrs=$("${K[@]}" get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR}{"\n"}{end}')
[ "$(awk '{print $2}' <<<"$cidrs" | grep -c '^10\.42\.[0-9]*\.0/24$')" = 3 ] &&
  [ "$(awk '{print $2}' <<<"$cidrs" | sort -u | wc -l)" = 3 ] && ok distinct-pod-cidrs || bad distinct-pod-cidrs "$cidrs"
cidr_of() { awk -v n="$1" '$1 == n {print $2}' <<<"$cidrs"; }
routes_ok() {
  local i j
  for i in 1 2 3; do
    for j in 1 2 3; do
      [ "$i" = "$j" ] && continue
      ip -n "${NS[$i]}" route show proto 107 | grep -q "^$(cidr_of "${NAME[$j]}") via ${IP[$j]} " || return 1
    done
  done
}
until_true 30 routes_ok && ok host-gw-routes || bad host-gw-routes "$(for i in 1 2 3; do echo "${NAME[$i]}:"; ip -n "${NS[$i]}" route; done)"
# Before any pod (the CNI bridge plugin would turn forwarding on itself):
# the agents did.
fwd=$(for i in 1 2 3; do in_ns "${NS[$i]}" cat /proc/sys/net/ipv4/ip_forward; done | tr -d '\n')
[ "$fwd" = 111 ] && ok ip-forward-on || bad ip-forward-on "ip_forward per node: $fwd"
masq=$(in_ns "${NS[2]}" nft list table ip kite-podnet 2>&1)
grep -q 'ip saddr 10.42.0.0/16 ip daddr != 10.42.0.0/16 .*masquerade' <<<"$masq" &&
  ok masquerade-only-out-of-cluster || bad masquerade-only-out-of-cluster "$masq"

echo "[$SECONDS s] # 2. pod to pod across nodes"
"${K[@]}" create namespace mn >/dev/null
pod_yaml() { # NAME NODE ROLE
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: mn, labels: {app: web, role: $3}}
spec:
  nodeName: $2
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: registry.local/busybox:latest
    command: [sh, -c]
    args:
    - |
      mkdir -p /www/cgi-bin
      echo \$HOSTNAME >/www/index.html
      printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho \$REMOTE_ADDR\n' >/www/cgi-bin/ip
      chmod +x /www/cgi-bin/ip
      touch /tmp/ready
      exec httpd -f -p 8080 -h /www
    ports: [{containerPort: 8080}]
    readinessProbe:
      exec: {command: [cat, /tmp/ready]}
      periodSeconds: 1
      failureThreshold: 1
---
EOF
}
{ pod_yaml web1 mn1 client; pod_yaml web2 mn2 backend; pod_yaml web3 mn3 backend; } >"$work/pods.yaml"
"${K[@]}" apply -f "$work/pods.yaml" >/dev/null
pods_ready() { [ "$("${K[@]}" -n mn get pods --no-headers | grep -c ' 1/1 *Running ')" = 3 ]; }
until_true 90 pods_ready && ok pods-running || bad pods-running "$("${K[@]}" -n mn get pods -o wide 2>&1)"
pod_ip() { "${K[@]}" -n mn get pod "$1" -o jsonpath='{.status.podIP}'; }
declare -A PIP
for p in web1 web2 web3; do PIP[$p]=$(pod_ip $p); done
echo "      pod IPs: web1=${PIP[web1]} web2=${PIP[web2]} web3=${PIP[web3]}"
for i in 1 2 3; do
  in_cidr=$(python3 -c "import ipaddress,sys; print(ipaddress.ip_address('${PIP[web$i]}') in ipaddress.ip_network('$(cidr_of "${NAME[$i]}")'))" 2>/dev/null)
  [ "$in_cidr" = True ] || bad "pod-ip-in-node-cidr web$i" "${PIP[web$i]} not in $(cidr_of "${NAME[$i]}")"
done
ok pod-ips-in-node-cidrs
for pair in web1:web2 web2:web3 web3:web1 web1:web3; do
  from=${pair%:*} to=${pair#*:}
  out=$("${K[@]}" -n mn exec "$from" -- timeout 5 wget -qO- "http://${PIP[$to]}:8080/" 2>&1)
  [ "$out" = "$to" ] && ok "pod-to-pod $from->$to" || bad "pod-to-pod $from->$to" "$out"
done
out=$("${K[@]}" -n mn exec web1 -- timeout 5 wget -qO- "http://${PIP[web2]}:8080/cgi-bin/ip" 2>&1)
out=${out#\[::ffff:}; out=${out%\]}  # httpd listens on IPv6: a mapped address
[ "$out" = "${PIP[web1]}" ] && ok "source-address-kept (web2 sees $out)" ||
  bad source-address-kept "web2 saw '$out', web1 is ${PIP[web1]}"

echo "[$SECONDS s] # 3. a Service backed by the pods on nodes 2 and 3"
modes=$(for i in 1 2 3; do sed -n 's/.*service proxy started mode=\([a-z]*\).*/\1/p' "$work/n$i.log" | tail -1; done | tr '\n' ' ')
if [ -n "${PROXY_MODE:-}" ]; then
  [ "$modes" = "$PROXY_MODE $PROXY_MODE $PROXY_MODE " ] && ok "proxy-mode-$PROXY_MODE" || bad proxy-mode "$modes"
else
  echo "      proxy modes: $modes"
fi
cat >"$work/svc.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: mn}
spec:
  type: NodePort
  selector: {app: web, role: backend}
  ports: [{port: 80, targetPort: 8080}]
EOF
"${K[@]}" apply -f "$work/svc.yaml" >/dev/null
two_endpoints() {
  [ "$("${K[@]}" -n mn get endpointslices -l kubernetes.io/service-name=web \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\n"}{end}' | wc -l)" = 2 ]
}
until_true 30 two_endpoints && ok service-two-endpoints ||
  bad service-two-endpoints "$("${K[@]}" -n mn get endpointslices -o yaml 2>&1 | tail -30)"
# Many requests in one exec: one line per answer.
many() { # URL N
  "${K[@]}" -n mn exec web1 -- sh -c "i=0; while [ \$i -lt $2 ]; do timeout 3 wget -qO- '$1' 2>&1; i=\$((i+1)); done"
}
answers=$(many http://web.mn.svc.cluster.local/ 20)
n2=$(grep -cx web2 <<<"$answers"); n3=$(grep -cx web3 <<<"$answers")
[ "$n2" -gt 0 ] && [ "$n3" -gt 0 ] && [ $((n2 + n3)) = 20 ] &&
  ok "service-by-dns-name (web2 $n2, web3 $n3 of 20)" || bad service-by-dns-name "$answers"
nodeport=$("${K[@]}" -n mn get svc web -o jsonpath='{.spec.ports[0].nodePort}')
for i in 1 2 3; do
  got=""
  for _ in 1 2 3 4 5 6; do got+="$(in_ns "$BR" curl -s -m 3 "http://${IP[$i]}:$nodeport/") "; done
  grep -Eq 'web2|web3' <<<"$got" && ! grep -q web1 <<<"$got" &&
    ok "nodeport-on-${NAME[$i]} (${IP[$i]}:$nodeport: $got)" || bad "nodeport-on-${NAME[$i]}" "$got"
done
# A LoadBalancer Service: servicelb gives it the three node addresses, and
# every node serves its port (issue 7 item 2).
cat >"$work/lb.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: web-lb, namespace: mn}
spec:
  type: LoadBalancer
  selector: {app: web, role: backend}
  ports: [{port: 8088, targetPort: 8080}]
EOF
"${K[@]}" apply -f "$work/lb.yaml" >/dev/null
want_ingress=$(printf '%s\n' "${IP[1]}" "${IP[2]}" "${IP[3]}" | sort | tr '\n' ' ')
lb_ingress() {
  "${K[@]}" -n mn get svc web-lb -o jsonpath='{range .status.loadBalancer.ingress[*]}{.ip}{"\n"}{end}' | sort | tr '\n' ' '
}
lb_has_nodes() { [ "$(lb_ingress)" = "$want_ingress" ]; }
until_true 30 lb_has_nodes && ok "loadbalancer-ingress ($want_ingress)" ||
  bad loadbalancer-ingress "$(lb_ingress); $("${K[@]}" -n mn get svc web-lb 2>&1)"
for i in 1 2 3; do
  got=""
  for _ in 1 2 3 4 5 6; do got+="$(in_ns "$BR" curl -s -m 3 "http://${IP[$i]}:8088/") "; done
  grep -Eq 'web2|web3' <<<"$got" && ! grep -q web1 <<<"$got" &&
    ok "loadbalancer-on-${NAME[$i]} (${IP[$i]}:8088: $got)" || bad "loadbalancer-on-${NAME[$i]}" "$got"
done
"${K[@]}" -n mn exec web3 -- rm /tmp/ready
one_endpoint() {
  [ "$("${K[@]}" -n mn get pod web3 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = False ] &&
    [ "$("${K[@]}" -n mn get endpointslices -l kubernetes.io/service-name=web \
      -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\n"}{end}' | wc -l)" = 1 ]
}
until_true 30 one_endpoint && ok web3-unready || bad web3-unready "$("${K[@]}" -n mn get pods,endpointslices -o wide 2>&1)"
sleep 1  # the proxies' debounce
answers=$(many http://web.mn.svc.cluster.local/ 12)
[ "$(grep -cx web2 <<<"$answers")" = 12 ] && ok unready-gets-no-traffic || bad unready-gets-no-traffic "$answers"

echo "[$SECONDS s] # 4. teardown leaves nothing of the pods"
out=$("${K[@]}" delete namespace mn --wait=true --timeout=60s 2>&1)
[ $? -eq 0 ] && ok namespace-deleted || bad namespace-deleted "$out"
# Pods still running when kite stops (it stops its containerd, the shims and
# pods stay): the shared cleanup must remove them without containerd.
echo "[$SECONDS s] survivors"
"${K[@]}" create namespace keep >/dev/null
for i in 2 3; do
  "${K[@]}" -n keep run "survivor$i" --image=registry.local/busybox:latest --restart=Never \
    --overrides="{\"spec\":{\"nodeName\":\"${NAME[$i]}\",\"terminationGracePeriodSeconds\":1}}" \
    -- sleep 3600 >/dev/null
done
survivors() { [ "$("${K[@]}" -n keep get pods --no-headers | grep -c ' Running ')" = 2 ]; }
until_true 60 survivors || bad survivors-running "$("${K[@]}" -n keep get pods -o wide 2>&1)"
CLEANUP_CGROUPS=() CLEANUP_NETNS=()
survivor_uids=$("${K[@]}" -n keep get pods -o jsonpath='{range .items[*]}{.metadata.uid}{"\n"}{end}')
echo "[$SECONDS s] stopping kite"
for i in 3 2 1; do stop_pid "${pids[$i]}"; pids[$i]=; done
# The survivors' own processes (other tests' pods may run sleep too).
sleep_pids=$(for p in $(pgrep -x sleep); do
  for u in $survivor_uids; do grep -q "pod$u" "/proc/$p/cgroup" 2>/dev/null && echo "$p"; done
done)
[ -n "$sleep_pids" ] && ok "pods-outlive-kite (sleep pids $(echo $sleep_pids))" || bad pods-outlive-kite
echo "[$SECONDS s] cleanup"
stop_all >"$work/cleanup.out" 2>&1  # not in $(...): the arrays must reach us
left=$(cat "$work/cleanup.out")
[ ${#CLEANUP_NETNS[@]} -ge 2 ] && [ ${#CLEANUP_CGROUPS[@]} -ge 4 ] &&
  ok "cleanup-found-the-pods (${#CLEANUP_CGROUPS[@]} cgroups, ${#CLEANUP_NETNS[@]} netns)" ||
  bad cleanup-found-the-pods "${CLEANUP_CGROUPS[*]} ${CLEANUP_NETNS[*]}"
leftover_now=$(containerd_leftovers)
[ -z "$leftover_now" ] && ok nothing-left-behind || bad nothing-left-behind "$left $leftover_now"
# Gone or a zombie (killed; its new parent reaps it when it gets to it).
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
still=""
for p in $sleep_pids; do alive "$p" && still+=" $p"; done
[ -z "$still" ] && ok pod-processes-gone || bad pod-processes-gone "still running:$still"
errors=$(grep -h '^E ' "$work"/n*.log | grep -v 'kubelet API\|metrics' | head -5)
[ -z "$errors" ] && ok no-errors-logged || bad no-errors-logged "$errors"
echo "[$SECONDS s] $pass passed, $fail failed"
[ "$fail" -eq 0 ]
