#!/usr/bin/env bash
# PodSyncer against a real containerd (issue 6 item 4): a private containerd
# in a network namespace of this test's own (no route out), a bridge CNI
# network for 10.198.1.0/24, kite's pause and busybox images imported, then
# agent/kubelet/pod_syncer_containerd_test.cpp runs inside that namespace
# (network only, so it sees the real cgroup mounts): an init container, a
# crashing container in CrashLoopBackOff, httpGet and exec probes, adoption
# by a second syncer, and deletion with cleanup.
#
# usage: kubelet_containerd_e2e.sh TEST_BINARY IMAGES_DIR
# Skips (77) without root, containerd or the image tarballs.
set -u
bin=$1
images=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns_lib.sh"
# Enter only the network namespace: `ip netns exec` (netns_lib's netns_run)
# also remounts /sys in a mount namespace of its own, where runc then finds
# no cgroup mounts ("no cgroup mount found in mountinfo").
netns_run() { nsenter --net="/var/run/netns/$NETNS" "$@"; }

[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
command -v containerd >/dev/null && command -v ctr >/dev/null ||
  { echo "skip: containerd is not installed"; exit 77; }
[ -f "$images/pause.tar" ] && [ -f "$images/busybox.tar" ] ||
  { echo "skip: no image tarballs in $images"; exit 77; }

dir=$(mktemp -d /tmp/kite-kubelet-e2e-XXXXXX)
# The QoS parent cgroups runc creates for our pods (kubepods/besteffort ...):
# removed at the end when they did not exist before and are empty.
qos_parents=()
for base in /sys/fs/cgroup /sys/fs/cgroup/*; do
  [ -d "$base" ] && [ ! -L "$base" ] || continue
  for sub in kubepods kubepods/besteffort kubepods/burstable; do
    [ -d "$base/$sub" ] || qos_parents+=("$base/$sub")
  done
done
cleanup() {
  [ -n "$CONTAINERD_SOCK" ] && containerd_cleanup "$CONTAINERD_SOCK" "$dir"
  local cg
  for cg in $(printf '%s\n' "${qos_parents[@]}" | sort -r); do
    [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
  done
  netns_destroy
  rm -rf "$dir"
}
trap cleanup EXIT

netns_create "kite-kubelet-$$" 10.198.0.1 || { echo "netns_create failed"; exit 1; }
mkdir -p "$dir/containerd/net.d"
cat >"$dir/containerd/net.d/10-kite.conflist" <<CONF
{
  "cniVersion": "1.0.0",
  "name": "kite-kubelet-test",
  "plugins": [
    {"type": "bridge", "bridge": "kitetest0", "isGateway": true, "ipMasq": false,
     "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.198.1.0/24"}]],
              "dataDir": "$dir/cni"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
CONF
containerd_start "$dir/containerd" registry.local/kite/pause:3.10 || exit 1
for t in pause busybox; do
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$images/$t.tar" >/dev/null ||
    { echo "import of $t.tar failed"; exit 1; }
done

KITE_CRI_SOCKET=$CONTAINERD_SOCK KITE_TEST_DIR=$dir \
  nsenter --net="/var/run/netns/$NETNS" "$bin"
rc=$?
if [ $rc != 0 ]; then
  echo "--- containerd log (tail)"
  tail -n 40 "$dir/containerd/containerd.log"
fi
exit $rc
