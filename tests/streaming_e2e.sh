#!/bin/bash
# exec and port-forward with the real kubectl through a kite API server and
# a kubelet API to a real, private containerd (docs/streaming.md), inside a
# network namespace of its own with no route out.
# usage: streaming_e2e.sh STREAMING_TEST_BINARY IMAGES_DIR
# Exit 77 (skipped) without root, containerd, kubectl or the images.
set -u
test_bin=$1 images=$2
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
for b in /usr/bin/containerd /usr/bin/ctr /usr/sbin/runc /usr/bin/kubectl /usr/bin/nsenter; do
  [ -x "$b" ] || { echo "no $b"; exit 77; }
done
for i in pause busybox; do
  [ -f "$images/$i.tar" ] || { echo "no $images/$i.tar"; exit 77; }
done
work=$(mktemp -d /tmp/kite-stream-e2e-XXXXXX)
ns=kite-stream-$$
cpid=
cleanup() {
  if [ -n "$cpid" ]; then kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; fi
  # Whatever containerd left: shims, mounts, cgroups, the netns.
  for p in $(pgrep -f "containerd-shim.*$work" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  grep " $work" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  for d in /sys/fs/cgroup/*/kubepods/kite-streaming-test /sys/fs/cgroup/kubepods/kite-streaming-test; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
mkdir -p "$work/net.d"
cat > "$work/config.toml" <<CONF
version = 2
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.local/kite/pause:3.10"
  stream_server_address = "127.0.0.1"
  stream_server_port = "10010"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
        Root = "$work/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$work/net.d"
CONF
# nsenter --net, not `ip netns exec`: the latter remounts /sys in a mount
# namespace of its own, hiding the cgroup mounts runc needs.
innet() { nsenter --net="/var/run/netns/$ns" "$@"; }
nsenter --net="/var/run/netns/$ns" /usr/bin/containerd --config "$work/config.toml" > "$work/containerd.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do [ -S "$work/containerd.sock" ] && break; sleep 0.1; done
[ -S "$work/containerd.sock" ] || { cat "$work/containerd.log"; exit 1; }
for i in pause busybox; do
  ctr --address "$work/containerd.sock" -n k8s.io images import "$images/$i.tar" > /dev/null || exit 1
done
KITE_TEST_CRI_ENDPOINT="unix://$work/containerd.sock" \
  innet "$test_bin" --gtest_filter='ContainerdStreaming*'
rc=$?
[ $rc = 0 ] || tail -20 "$work/containerd.log"
exit $rc
