# Shared shell helpers for tests and benchmarks that run real pods: a
# network namespace of their own with no route out (DESIGN.md §10), and the
# cleanup of everything containerd and runc leave behind. Source it:
#   . "$(dirname "$0")/netns_lib.sh"     (from tests/) or
#   . "$(dirname "$0")/../tests/netns_lib.sh"
#
#   netns_create NAME IP        ip netns add NAME; lo up; a dummy interface
#                               kite0 carrying IP/24 (the node's address;
#                               a veth pair kept inside when there is no
#                               dummy module);
#                               no default route, so nothing leaves the
#                               machine. Sets NETNS=NAME.
#   netns_run CMD...            runs CMD inside $NETNS (its network only).
#   "${NETNS_EXEC[@]}" CMD... & the same for a background process: nsenter
#                               execs CMD, so $! is CMD's own PID (a
#                               function run with & would give the PID of a
#                               subshell, and killing that orphans CMD).
#   containerd_start DIR [SANDBOX_IMAGE]
#                               a private containerd (root, state, socket,
#                               runc root, CNI conf dir all under DIR), in
#                               $NETNS; sets CONTAINERD_PID and
#                               CONTAINERD_SOCK=DIR/containerd.sock.
#   containerd_cleanup SOCK DIR kills every task of the containerd at SOCK
#                               (k8s.io namespace) and removes its
#                               containers; stops the shims (by PID); kills
#                               every process of the container cgroups runc
#                               made under DIR (from runc's state.json, so
#                               also when containerd is already down) and
#                               deletes them with runc; unmounts everything
#                               under DIR; deletes the pods' network
#                               namespaces and cgroups (container and
#                               pod<uid> directories). Call it after the
#                               containerd's owner (kite) stopped, before
#                               netns_destroy; safe to call when nothing
#                               runs. Returns 1 (and says what) when
#                               something of those pods is left. When
#                               kite's agent left pods behind (it stops its
#                               containerd, not the pods) and $NETNS is set,
#                               a containerd is started again from
#                               DIR/containerd/config.toml to ask it first.
#   containerd_leftovers        what containerd_cleanup could not remove so
#                               far (cgroups, CNI netns), on stdout; 1 if any.
#   netns_destroy               deletes $NETNS (its veths and iptables
#                               chains go with it).
# Needs root, ip (iproute2), ctr and containerd.

NETNS=${NETNS:-}
NETNS_EXEC=()
CONTAINERD_SOCK=${CONTAINERD_SOCK:-}
CONTAINERD_PID=${CONTAINERD_PID:-}

netns_create() {
  NETNS=$1
  NETNS_EXEC=(nsenter --net="/var/run/netns/$NETNS")
  ip netns add "$NETNS" || return 1
  ip -n "$NETNS" link set lo up
  # A dummy interface where the kernel has the module, else a veth pair
  # whose both ends stay inside the namespace.
  ip -n "$NETNS" link add kite0 type dummy 2>/dev/null ||
    ip -n "$NETNS" link add kite0 type veth peer name kite0p || return 1
  ip -n "$NETNS" addr add "$2/24" dev kite0
  ip -n "$NETNS" link set kite0 up
  ip -n "$NETNS" link set kite0p up 2>/dev/null
  return 0
}

# nsenter, not `ip netns exec`: that one also unshares the mount namespace
# and remounts /sys, which hides the cgroup hierarchies from runc.
netns_run() { nsenter --net="/var/run/netns/$NETNS" "$@"; }

containerd_start() {
  local dir=$1 sandbox_image=${2:-registry.local/kite/pause:3.10}
  mkdir -p "$dir/net.d" "$dir/root" "$dir/state" "$dir/runc"
  local port
  port=$(netns_run python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$sandbox_image"
  stream_server_address = "127.0.0.1"
  stream_server_port = "$port"
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
        Root = "$dir/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/net.d"
    max_conf_num = 1
EOF
  CONTAINERD_SOCK=$dir/containerd.sock
  "${NETNS_EXEC[@]}" containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  local i
  for i in $(seq 1 200); do
    ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1 && return 0
    kill -0 "$CONTAINERD_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "containerd did not start:" >&2
  cat "$dir/containerd.log" >&2
  return 1
}

# PIDs of the processes whose command line mentions $1 (the shims of one
# containerd name its socket).
_pids_mentioning() {
  local p comm
  for p in /proc/[0-9]*; do
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    case $comm in containerd*) ;; *) continue ;; esac
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$1" && echo "${p#/proc/}"
  done
}

# The containers runc knows under DIR (its state.json files: the runc root
# of a containerd under DIR), one line each: "ROOT ID NETNS CGROUP..."
# (NETNS "-" when the container has no network namespace file of CNI's).
_runc_containers() {
  local f
  find "$1" -path '*/runc/*/state.json' 2>/dev/null | while read -r f; do
    python3 - "$f" <<'PY' 2>/dev/null
import json, os, sys
f = sys.argv[1]
d = json.load(open(f))
cid = os.path.basename(os.path.dirname(f))
root = os.path.dirname(os.path.dirname(f))
netns = "-"
for n in (d.get("config") or {}).get("namespaces") or []:
    if n.get("type") == "NEWNET" and (n.get("path") or "").startswith("/var/run/netns/cni-"):
        netns = n["path"]
cgroups = sorted(set((d.get("cgroup_paths") or {}).values()))
print(root, cid, netns, *cgroups)
PY
  done
}

# What containerd_cleanup found (for containerd_leftovers).
CLEANUP_CGROUPS=()
CLEANUP_NETNS=()

containerd_cleanup() {
  local sock=$1 dir=$2
  local c=(ctr --address "$sock" -n k8s.io)
  local netnses=() uids=() cgroups=() id
  # Whatever runc ran under DIR, also when containerd is not running any
  # more (a kite that stopped its containerd leaves the shims, and the pods'
  # processes, behind): their netns and cgroups, recorded first.
  local root cid ns rest cg
  while read -r root cid ns rest; do
    [ -n "$cid" ] || continue
    [ "$ns" != - ] && netnses+=("$ns")
    for cg in $rest; do cgroups+=("$cg"); done
  done < <(_runc_containers "$dir")
  # kite's agent stops its containerd when it stops but leaves the pods
  # running (it adopts them when it comes back): without a containerd to
  # ask, they would outlive the test. Start one again with the agent's
  # configuration (inside $NETNS) so they can be listed and killed; it is
  # killed below with the rest.
  # (ctr waits 10 s for a socket that does not exist: look for it first.)
  if ! { [ -S "$sock" ] && "${c[@]}" version >/dev/null 2>&1; } && [ -n "$NETNS" ] &&
    [ -f "$dir/containerd/config.toml" ] &&
    grep -qF "\"$sock\"" "$dir/containerd/config.toml"; then
    "${NETNS_EXEC[@]}" containerd --config "$dir/containerd/config.toml" >/dev/null 2>&1 &
    disown $!
    for id in $(seq 1 200); do
      "${c[@]}" version >/dev/null 2>&1 && break
      sleep 0.05
    done
  fi
  if [ -S "$sock" ] && "${c[@]}" version >/dev/null 2>&1; then
    for id in $("${c[@]}" containers ls -q 2>/dev/null); do
      local info
      info=$("${c[@]}" containers info "$id" 2>/dev/null) || continue
      netnses+=($(echo "$info" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for n in (d.get("Spec") or {}).get("linux", {}).get("namespaces", []):
    if n.get("type") == "network" and n.get("path", "").startswith("/var/run/netns/cni-"):
        print(n["path"])' 2>/dev/null))
      uids+=($(echo "$info" | python3 -c '
import json, sys
print(json.load(sys.stdin).get("Labels", {}).get("io.kubernetes.pod.uid", ""))' 2>/dev/null))
      "${c[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1
    done
    sleep 0.3
    for id in $("${c[@]}" containers ls -q 2>/dev/null); do
      "${c[@]}" tasks delete -f "$id" >/dev/null 2>&1
      "${c[@]}" containers delete "$id" >/dev/null 2>&1
    done
  fi
  # containerd itself (when its owner did not stop it) and its shims.
  local pid
  for pid in $(_pids_mentioning "$sock"); do
    kill -9 "$pid" 2>/dev/null
  done
  for pid in $(_pids_mentioning "$dir/containerd/config.toml") $(_pids_mentioning "$dir/config.toml"); do
    kill -9 "$pid" 2>/dev/null
  done
  # The pods' processes: every task of every container cgroup runc made
  # under DIR (the shims are gone, so nobody else will), then runc forgets
  # the containers.
  local round
  for round in 1 2 3 4 5; do
    local left=0
    for cg in "${cgroups[@]}"; do
      [ -f "$cg/cgroup.procs" ] || continue
      for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do
        kill -9 "$pid" 2>/dev/null
        left=1
      done
    done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  while read -r root cid ns rest; do
    [ -n "$cid" ] && runc --root "$root" delete --force "$cid" >/dev/null 2>&1
  done < <(_runc_containers "$dir")
  # Mounts under the containerd root (rootfs, shm, sandbox files), deepest
  # first.
  local m
  for m in $(awk -v d="$dir" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  for m in $(printf '%s\n' "${netnses[@]}" | sort -u); do
    umount -l "$m" 2>/dev/null
    rm -f "$m"
  done
  # Container cgroups and their pod<uid> parents (runc removes the
  # containers' own when it deletes them, never their parents).
  for cg in "${cgroups[@]}"; do
    rmdir "$cg" 2>/dev/null
    case $(basename "$(dirname "$cg")") in pod*) rmdir "$(dirname "$cg")" 2>/dev/null ;; esac
  done
  local u
  for u in $(printf '%s\n' "${uids[@]}" | sort -u); do
    [ -n "$u" ] || continue
    for cg in /sys/fs/cgroup/*/kubepods/pod"$u" /sys/fs/cgroup/*/kubepods/*/pod"$u" \
      /sys/fs/cgroup/kubepods/pod"$u" /sys/fs/cgroup/kubepods/*/pod"$u"; do
      [ -d "$cg" ] || continue
      find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
  done
  CLEANUP_CGROUPS+=("${cgroups[@]}")
  CLEANUP_NETNS+=("${netnses[@]}")
  containerd_leftovers >&2 || return 1
  return 0
}

# Prints what containerd_cleanup could not remove of the pods it found
# (their cgroup directories, and the pod directories above them; their
# CNI network namespaces) and returns 1; silent and 0 when nothing is left.
# Pods of other tests running at the same time are not looked at.
containerd_leftovers() {
  local x out=()
  for x in "${CLEANUP_CGROUPS[@]}"; do
    [ -d "$x" ] && out+=("cgroup $x")
    case $(basename "$(dirname "$x")") in
      pod*) [ -d "$(dirname "$x")" ] && out+=("cgroup $(dirname "$x")") ;;
    esac
  done
  for x in "${CLEANUP_NETNS[@]}"; do
    [ -e "$x" ] && out+=("netns $x")
  done
  [ ${#out[@]} -eq 0 ] && return 0
  printf 'left behind: %s\n' "${out[@]}" | sort -u
  return 1
}

netns_destroy() {
  [ -n "$NETNS" ] && ip netns delete "$NETNS" 2>/dev/null
  NETNS=
}
