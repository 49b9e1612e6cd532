#!/usr/bin/env bash
# proxy_iptables_e2e.sh — the service proxy's iptables mode under a real
# kite (docs/proxy.md "Rules layout (iptables)"), everything inside a
# network namespace of its own with no route out (tests/netns_lib.sh):
#   1. `kite server --proxy-mode iptables --proxy-cleanup` with its agent on
#      a private containerd; the node turns Ready and the agent says
#      mode=iptables;
#   2. a Deployment of two busybox httpd pods behind a ClusterIP Service
#      and a NodePort Service: a pod reaches the ClusterIP by name (the
#      cluster DNS, itself served through the proxy's rules) and is
#      answered by both pods; the NodePort answers on the node IP; the
#      rules are KITE-* chains in iptables and nftables holds no kite-proxy
#      table;
#   3. scaled to one pod: only that pod answers, and the chains of the
#      gone endpoint are gone;
#   4. kite stops (SIGTERM): --proxy-cleanup removed the proxy's chains.
# Cleanup in a trap, also on failure (kite by PID, containerd leftovers,
# the netns, temp dirs).
#
# usage: tests/proxy_iptables_e2e.sh KITE IMAGES_DIR
# Exits 77 (skipped) without root, kubectl, containerd, iptables-nft or
# the busybox image.
set -u
KITE=$(readlink -f "${1:?usage: proxy_iptables_e2e.sh KITE IMAGES_DIR}")
IMAGES=${2:?usage: proxy_iptables_e2e.sh KITE IMAGES_DIR}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns_lib.sh"
. "$here/service_checks.sh"

[ "$(id -u)" = 0 ] || { echo "skipped: needs root (network namespaces, containerd)"; exit 77; }
for c in kubectl containerd iptables-nft-save curl; do
  command -v $c >/dev/null || { echo "skipped: $c not found"; exit 77; }
done
[ -f "$IMAGES/busybox.tar" ] || { echo "skipped: no $IMAGES/busybox.tar"; exit 77; }

work=$(mktemp -d /tmp/kite-ipt-e2e-XXXXXX)
data=$work/data
server_pid=
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok    $1"; }
bad() { fail=$((fail + 1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -20 | sed 's/^/      /'; }
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=
}
cleanup() {
  stop_server
  containerd_cleanup "$data/agent/containerd/containerd.sock" "$data/agent"
  netns_destroy
  rm -rf "$work"
}
trap cleanup EXIT

netns_create "kite-ipt-e2e-$$" 10.77.0.2 || { echo "cannot create a network namespace"; exit 1; }
# A real node reaches the service range through its default route; this
# namespace has none, so route it to kite0 (the node's own connections to a
# ClusterIP need a route before the nat OUTPUT hook rewrites them).
ip -n "$NETNS" route add 10.43.0.0/16 dev kite0
mkdir -p "$data/agent/images"
cp "$IMAGES/busybox.tar" "$data/agent/images/"
export KUBECONFIG=$work/kite.yaml
K=(netns_run kubectl --cache-dir "$work/cache" --request-timeout=20s)
until_true() { local t=$1; shift; local end=$((SECONDS + t)); until "$@" >/dev/null 2>&1; do
  [ $SECONDS -ge $end ] && return 1; sleep 0.5; done; }
rules() { netns_run iptables-nft-save -t nat 2>/dev/null; }

echo "# 1. kite server --proxy-mode iptables"
node=kite-ipt
"${NETNS_EXEC[@]}" "$KITE" server --data-dir "$data" --write-kubeconfig "$KUBECONFIG" \
  --node-name "$node" --proxy-mode iptables --proxy-cleanup >>"$work/server.log" 2>&1 &
server_pid=$!
node_ready() {
  [ "$("${K[@]}" get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
until_true 90 node_ready && ok node-ready || { bad node-ready "$(tail -30 "$work/server.log")"; exit 1; }
grep -q 'service proxy started mode=iptables' "$work/server.log" && ok proxy-mode-iptables ||
  bad proxy-mode-iptables "$(grep -i proxy "$work/server.log" | tail -5)"

echo "[$SECONDS s] # 2. ClusterIP by name from a pod, NodePort on the node IP"
service_checks 10.77.0.2
nat=$(rules)
[ "$(grep -c '^-A KITE-SEP-.*"net/web:/tcp" -j DNAT' <<<"$nat")" -eq 2 ] &&
  grep -q '^-A KITE-NODEPORTS .*--dport 30080 .*"net/web-np:/tcp node port"' <<<"$nat" &&
  ok iptables-chains || bad iptables-chains "$(grep KITE <<<"$nat" | head -20)"
netns_run nft list tables 2>/dev/null | grep -q 'kite-proxy' &&
  bad no-nftables-table "$(netns_run nft list tables 2>&1)" || ok no-nftables-table

echo "[$SECONDS s] # 3. one pod left: only it answers"
"${K[@]}" -n net scale deployment web --replicas=1 >/dev/null
one_ready() { [ "$(ready_count)" = x ] && [ "$(netp pods -l app=web --no-headers | wc -l)" -eq 1 ]; }
until_true 60 one_ready && ok scaled-to-one || bad scaled-to-one "$(netp pods -o wide)"
left=$(netp pods -l app=web -o jsonpath='{.items[0].metadata.name}')
sep_count() { [ "$(rules | grep -c '^-A KITE-SEP-.*"net/web:/tcp" -j DNAT')" -eq 1 ]; }
until_true 10 sep_count && ok gone-endpoint-chain-removed || bad gone-endpoint-chain-removed "$(rules | grep KITE-SEP)"
cip=$(netp service web -o jsonpath='{.spec.clusterIP}')
seen=$(for i in $(seq 1 20); do netns_run curl -s --max-time 5 "http://$cip/hostname"; done | sort -u | tr '\n' ' ')
[ "$seen" = "$left " ] && ok only-remaining-pod-answers || bad only-remaining-pod-answers "seen: $seen; left: $left"

echo "[$SECONDS s] # 4. kite stops: --proxy-cleanup removes the chains"
stop_server
rules | grep -Eq ':KITE-(SERVICES|NODEPORTS|POSTROUTING|MARK-MASQ|SVC-|SVL-|EXT-|SEP-)' &&
  bad proxy-cleanup-removes-chains "$(rules | grep KITE)" || ok proxy-cleanup-removes-chains
netns_run iptables-nft-save -t filter 2>/dev/null | grep -q 'KITE-SERVICES' &&
  bad proxy-cleanup-removes-filter-chain || ok proxy-cleanup-removes-filter-chain
echo "[$SECONDS s] $pass passed, $fail failed"
[ "$fail" -eq 0 ]
