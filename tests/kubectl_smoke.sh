#!/usr/bin/env bash
# kubectl_smoke.sh — runs the shared acceptance script
# (../shared/acceptance/kubectl-smoke.sh, level `api` by default) against
# `kite server --disable-agent` started the way a new user starts it: a fresh
# HOME, so for a non-root user the data dir (~/.kite) and the admin
# kubeconfig (~/.kite/kite.yaml) are the defaults. As root (whose defaults
# are /var/lib/kite and /etc/kite/kite.yaml, which a test must not touch)
# both are given explicitly under that HOME. The listen address is pinned
# to 127.0.0.1 and a free port, so the test never exposes a port or collides
# with another server.
#
# usage: tests/kubectl_smoke.sh /path/to/kite /path/to/kubectl-smoke.sh [level]
# Exits 77 (skipped) when the shared script is not there.
set -u
KITE=${1:?usage: kubectl_smoke.sh KITE SMOKE_SCRIPT [level]}
SMOKE=${2:?usage: kubectl_smoke.sh KITE SMOKE_SCRIPT [level]}
LEVEL=${3:-api}
[ -f "$SMOKE" ] || { echo "skipped: $SMOKE not found (../shared is absent)"; exit 77; }
command -v kubectl >/dev/null || { echo "skipped: kubectl not found"; exit 77; }
home=$(mktemp -d /tmp/kite-smoke-home-XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$home"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
paths=()
[ "$(id -u)" -eq 0 ] && paths=(--data-dir "$home/.kite" --write-kubeconfig "$home/.kite/kite.yaml")
HOME="$home" "$KITE" server --disable-agent --bind-address 127.0.0.1 --https-listen-port "$port" "${paths[@]}" \
  >"$home/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
  grep -q "server ready" "$home/server.log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
[ -f "$home/.kite/kite.yaml" ] || { echo "no kubeconfig at ~/.kite/kite.yaml:"; cat "$home/server.log"; exit 1; }
KUBECONFIG="$home/.kite/kite.yaml" bash "$SMOKE" "$LEVEL"
rc=$?
if [ $rc -ne 0 ]; then echo "--- server log"; tail -30 "$home/server.log"; fi
exit $rc
