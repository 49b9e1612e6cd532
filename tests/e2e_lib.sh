# e2e_lib.sh — what the kubectl end-to-end tests against a real
# `kite server --disable-agent` share (sourced, not run): a private temp dir,
# the server on a free loopback port with its own data dir and kubeconfig,
# a trap that stops what the test started (by PID) and removes the temp dir,
# and the ok/bad/expect/until_true helpers that count passes and failures.
#
#   . "$(dirname "$0")/e2e_lib.sh"
#   e2e_init storage                 # $work=/tmp/kite-storage-e2e-XXXXXX
#   e2e_start_server "$KITE" [more kite server flags...]
#       # sets server_pid, server (the https URL), KUBECONFIG and
#       # K=(kubectl --cache-dir ... --request-timeout=20s)
#   "$SIM" ... & e2e_track $!        # stopped on exit, before the server
#   expect NAME REGEX cmd...; until_true SECONDS cmd...; ok NAME; bad NAME OUT
#   echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]
#
# e2e_stop_server stops the server (e.g. to start it again with other flags
# on the same data dir). Needs kubectl: e2e_init exits 77 (skipped) without.

e2e_pids=()
server_pid=
work=
pass=0 fail=0

e2e_cleanup() {
  local i
  for ((i = ${#e2e_pids[@]} - 1; i >= 0; i--)); do
    kill "${e2e_pids[i]}" 2>/dev/null && wait "${e2e_pids[i]}" 2>/dev/null
  done
  e2e_stop_server
  [ -n "$work" ] && rm -rf "$work"
}

# e2e_init NAME: the temp dir and the exit trap.
e2e_init() {
  command -v kubectl >/dev/null || { echo "kubectl not found: skipped"; exit 77; }
  work=$(mktemp -d "/tmp/kite-$1-e2e-XXXXXX")
  trap e2e_cleanup EXIT
}

# e2e_track PID: stop PID (a process the test started) on exit.
e2e_track() { e2e_pids+=("$1"); }

# e2e_start_server KITE [FLAGS...]: a server on 127.0.0.1:<free port> with
# data in $work/data; waits for "server ready" (10 s), exits 1 with its log
# when it does not come.
e2e_start_server() {
  local kite=$1
  shift
  "$kite" server --data-dir "$work/data" --bind-address 127.0.0.1 --https-listen-port 0 \
    --write-kubeconfig "$work/kite.yaml" --disable-agent "$@" >>"$work/server.log" 2>&1 &
  server_pid=$!
  local ready=0
  for _ in $(seq 1 200); do
    [ "$(grep -c "server ready" "$work/server.log" 2>/dev/null)" -gt "${e2e_starts:-0}" ] && { ready=1; break; }
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ "$ready" -eq 1 ] || { echo "server did not start:"; cat "$work/server.log"; exit 1; }
  e2e_starts=$((${e2e_starts:-0} + 1))
  export KUBECONFIG="$work/kite.yaml"
  K=(kubectl --cache-dir "$work/cache" --request-timeout=20s)
  server=$(awk '/server:/ {print $2; exit}' "$work/kite.yaml")
}

# e2e_stop_server: SIGTERM to the server, and wait for it.
e2e_stop_server() {
  [ -n "$server_pid" ] || return 0
  kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  server_pid=
}

ok()   { pass=$((pass+1)); echo "ok    $1"; }
bad()  { fail=$((fail+1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -15 | sed 's/^/      /'; }
# expect NAME REGEX CMD...: CMD succeeds and its output matches REGEX.
expect() { local name=$1 re=$2; shift 2; local out; out=$("$@" 2>&1)
  if [ $? -eq 0 ] && grep -Eq -- "$re" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi; }
# until_true SECONDS CMD...: retries CMD every 0.2 s; 1 when it never held.
until_true() { local t=$1; shift; local end=$((SECONDS+t)); until "$@" >/dev/null 2>&1; do
  [ $SECONDS -ge $end ] && return 1; sleep 0.2; done; }
