#!/usr/bin/env bash
# bench/proxy_sync.sh — what the iptables proxy backend's Sync costs with
# many Services: the full install of SERVICES service ports (ENDPOINTS
# endpoints and a NodePort each) and, CHANGES times, one endpoint of one
# service replaced (the incremental iptables-restore --noflush). Runs as
# root in a network namespace of its own (deleted on exit); the machine's
# own rules are never touched.
#
# PROXY_SYNC_VARIANT=userspace measures the userspace backend instead
# (addresses on the namespace's lo and listeners; no netfilter).
# usage: [PROXY_SYNC_VARIANT=legacy] bench/proxy_sync.sh [BUILD_DIR] [SERVICES] [ENDPOINTS] [CHANGES]
#        (default build 1000 3 50)
# last line: `proxy_sync: backend=iptables-nft|legacy services=... full_ms=... change_p50_ms=...`
set -u
BUILD=${1:-build}
SERVICES=${2:-1000}
ENDPOINTS=${3:-3}
CHANGES=${4:-50}
BIN=$BUILD/bench/proxy/proxy_sync
[ -x "$BIN" ] || { echo "missing $BIN (cmake --build $BUILD --target proxy_sync)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace)"; exit 1; }
ns=kite-bench-sync-$$
cleanup() { ip netns del "$ns" 2>/dev/null; }
trap cleanup EXIT
ip netns add "$ns" || exit 1
ip -n "$ns" link set lo up
# The userspace backend binds NodePorts on the node address: give it one.
[ "${PROXY_SYNC_VARIANT:-}" = userspace ] && ip -n "$ns" addr add 192.168.77.1/32 dev lo
"$BIN" "$SERVICES" "$ENDPOINTS" "$CHANGES" nsenter --net=/var/run/netns/"$ns"
