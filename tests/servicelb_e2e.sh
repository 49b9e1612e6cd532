#!/usr/bin/env bash
# servicelb_e2e.sh — LoadBalancer Services on the node addresses (issue 7
# item 2, docs/servicelb.md) in a real `kite server --disable-agent`, with
# two simulated nodes and one node made by hand, checked with the real
# kubectl: `kubectl expose --type=LoadBalancer` gets the Ready nodes'
# addresses under EXTERNAL-IP (ExternalIP over InternalIP), following nodes
# that come, turn NotReady or are excluded by label, and the k3s enablelb
# label; a second Service on the same port stays <pending> with a PortInUse
# event naming the holder and gets the addresses when the port frees; a type
# change back to ClusterIP clears the status and the LoadBalancer-only
# fields; `kite server --disable servicelb` leaves new ones pending.
#
# usage: tests/servicelb_e2e.sh /path/to/kite /path/to/kite-simnodes
set -u
KITE=${1:?usage: servicelb_e2e.sh KITE SIMNODES}
SIM=${2:?usage: servicelb_e2e.sh KITE SIMNODES}
. "$(dirname "$0")/e2e_lib.sh"
e2e_init servicelb
e2e_start_server "$KITE"
"$SIM" --data-dir "$work/data" --server "$server" --nodes 2 --prefix sim --cpu 2 --memory 4Gi \
  </dev/null >"$work/sim.log" 2>&1 &
e2e_track $!
until_true 30 grep -q "simnodes ready nodes=2" "$work/sim.log" || { echo "simnodes did not start"; cat "$work/sim.log"; exit 1; }

ext() { "${K[@]}" get svc "$1" --no-headers 2>/dev/null | awk '{print $4}'; }
ext_is() { [ "$(ext "$1")" = "$2" ]; }
# wait_ext NAME SVC WANT: the EXTERNAL-IP column of `kubectl get svc SVC`.
wait_ext() { until_true 20 ext_is "$2" "$3" && ok "$1" || bad "$1" "$("${K[@]}" get svc "$2" -o wide 2>&1)"; }
# A node by hand (its status through the status subresource, as a kubelet
# would post it): name, Ready True/False, then the addresses as TYPE=IP.
hand_node() {
  local name=$1 ready=$2; shift 2
  local addrs="" a now
  for a in "$@"; do addrs+="${addrs:+,}{\"type\":\"${a%%=*}\",\"address\":\"${a#*=}\"}"; done
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  "${K[@]}" get node "$name" >/dev/null 2>&1 || "${K[@]}" create -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata: {name: $name}
EOF
  "${K[@]}" patch node "$name" --subresource=status --type=merge -p "{\"status\":{\"addresses\":[$addrs],
    \"conditions\":[{\"type\":\"Ready\",\"status\":\"$ready\",\"reason\":\"ByHand\",\"message\":\"set by the test\",
    \"lastHeartbeatTime\":\"$now\",\"lastTransitionTime\":\"$now\"}]}}" >/dev/null
}

echo "# kubectl expose --type=LoadBalancer gets the node addresses"
"${K[@]}" create deployment web --image=registry.local/web:1 --port=80 >/dev/null
expect expose 'service/web exposed' "${K[@]}" expose deployment web --type=LoadBalancer --port=80 --target-port=8080
wait_ext external-ip-two-nodes web 127.0.0.2,127.0.0.3
expect get-svc '^web +LoadBalancer +10\.43\.[0-9.]+ +127\.0\.0\.2,127\.0\.0\.3 +80:3[0-9]{4}/TCP ' "${K[@]}" get svc web --no-headers
expect ingress-ipmode '^127\.0\.0\.2 VIP 127\.0\.0\.3 VIP $' "${K[@]}" get svc web \
  -o jsonpath='{range .status.loadBalancer.ingress[*]}{.ip} {.ipMode} {end}'
expect describe-ingress 'LoadBalancer Ingress: +127\.0\.0\.2 \(VIP\), 127\.0\.0\.3 \(VIP\)' "${K[@]}" describe svc web

echo "# nodes come, are excluded, turn NotReady"
hand_node edge True InternalIP=10.9.9.9 ExternalIP=192.0.2.10 Hostname=edge
wait_ext external-ip-over-internal web 127.0.0.2,127.0.0.3,192.0.2.10
"${K[@]}" label node edge node.kubernetes.io/exclude-from-external-load-balancers= >/dev/null
wait_ext excluded-by-label web 127.0.0.2,127.0.0.3
"${K[@]}" label node edge node.kubernetes.io/exclude-from-external-load-balancers- >/dev/null
wait_ext label-removed web 127.0.0.2,127.0.0.3,192.0.2.10
hand_node edge False InternalIP=10.9.9.9 ExternalIP=192.0.2.10
wait_ext not-ready-left-out web 127.0.0.2,127.0.0.3
"${K[@]}" label node sim-1 svccontroller.k3s.cattle.io/enablelb=true >/dev/null
wait_ext enablelb-only web 127.0.0.3
"${K[@]}" label node sim-1 svccontroller.k3s.cattle.io/enablelb- >/dev/null
wait_ext enablelb-removed web 127.0.0.2,127.0.0.3

echo "# two Services, one port"
expect create-second 'service/web2 created' "${K[@]}" create service loadbalancer web2 --tcp=80:8080
sleep 1
expect second-pending '^web2 +LoadBalancer +10\.43\.[0-9.]+ +<pending> +80:3[0-9]{4}/TCP ' "${K[@]}" get svc web2 --no-headers
port_event() { "${K[@]}" describe svc web2 | grep -E -q 'Warning +PortInUse +[0-9a-z]+ +service-lb-controller +port 80/TCP is already used by LoadBalancer Service default/web'; }
until_true 20 port_event && ok describe-port-in-use || bad describe-port-in-use "$("${K[@]}" describe svc web2 | tail -6)"
expect events-port-in-use 'Warning +PortInUse +service/web2' "${K[@]}" get events --field-selector involvedObject.name=web2
expect create-other-port 'service/web3 created' "${K[@]}" create service loadbalancer web3 --tcp=8443:8443
wait_ext other-port-served web3 127.0.0.2,127.0.0.3
expect delete-holder 'deleted' "${K[@]}" delete svc web
wait_ext port-freed web2 127.0.0.2,127.0.0.3

echo "# back to ClusterIP"
expect to-clusterip 'patched' "${K[@]}" patch svc web2 -p '{"spec":{"type":"ClusterIP"}}'
wait_ext clusterip-no-external web2 '<none>'
expect status-cleared '^\{\}$' "${K[@]}" get svc web2 -o jsonpath='{.status.loadBalancer}'
# No nodePort, allocateLoadBalancerNodePorts or externalTrafficPolicy left.
expect lb-fields-dropped '^ClusterIP +80 +<none> +<none> +<none>$' "${K[@]}" get svc web2 --no-headers \
  -o custom-columns='T:.spec.type,P:.spec.ports[0].port,N:.spec.ports[0].nodePort,A:.spec.allocateLoadBalancerNodePorts,X:.spec.externalTrafficPolicy'
expect bad-field 'spec.healthCheckNodePort: Invalid value: 31000: may only be set when `type` is .LoadBalancer. and `externalTrafficPolicy` is .Local.' \
  sh -c "${K[*]} patch svc web3 -p '{\"spec\":{\"healthCheckNodePort\":31000}}' 2>&1; true"

echo "# kite server --disable servicelb"
e2e_stop_server
e2e_start_server "$KITE" --disable servicelb
expect create-while-disabled 'service/off created' "${K[@]}" create service loadbalancer off --tcp=9090:9090
sleep 3
expect stays-pending '^off +LoadBalancer .* <pending> +9090:' "${K[@]}" get svc off --no-headers
expect help-names-servicelb 'servicelb' "$KITE" server --help

echo "servicelb_e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
