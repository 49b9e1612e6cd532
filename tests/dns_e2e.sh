#!/usr/bin/env bash
# dns_e2e.sh — the agent's cluster DNS (agent/dns, docs/dns.md) answering
# from a real `kite server --disable-agent`: Services and EndpointSlices made
# with the real kubectl, kite-dns-serve on 127.0.0.1:<free port>, questions
# asked with dig (dnsutils) over UDP and TCP: ClusterIP A, headless ready
# endpoints and hostnames, ExternalName CNAME, SRV, PTR, NXDOMAIN with SOA,
# updates seen live, forwarding to an upstream that does not answer gives
# SERVFAIL quickly; and the kube-dns Service exists with 10.43.0.10.
#
# usage: tests/dns_e2e.sh /path/to/kite /path/to/kite-dns-serve
set -u
KITE=${1:?usage: dns_e2e.sh KITE KITE_DNS_SERVE}
SERVE=${2:?usage: dns_e2e.sh KITE KITE_DNS_SERVE}
command -v dig >/dev/null || { echo "dig not found (dnsutils): skipped"; exit 77; }
. "$(dirname "$0")/e2e_lib.sh"
e2e_init dns
e2e_start_server "$KITE"

# An upstream that swallows every packet: a bound UDP socket nobody reads
# (python's, as small as it gets), so forwarding must give up on its own.
python3 -c 'import socket,sys,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0))
print(s.getsockname()[1],flush=True); time.sleep(3600)' >"$work/sink.port" &
e2e_track $!
for _ in $(seq 1 100); do [ -s "$work/sink.port" ] && break; sleep 0.05; done
sink_port=$(cat "$work/sink.port")

"${K[@]}" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.43.7.7
  selector: {app: none}
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: None
  ports: [{name: pg, port: 5432, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-1
  namespace: default
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
ports: [{name: pg, port: 5432, protocol: TCP}]
endpoints:
- {addresses: [10.42.0.11], hostname: db-0, conditions: {ready: true}}
- {addresses: [10.42.0.12], hostname: db-1, conditions: {ready: true}}
- {addresses: [10.42.0.13], hostname: db-2, conditions: {ready: false}}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: example.org}
YAML
[ $? -eq 0 ] || { echo "kubectl apply failed"; exit 1; }

"$SERVE" --kubeconfig "$work/kite.yaml" --listen 127.0.0.1:0 --upstream "127.0.0.1:$sink_port" \
  >"$work/dns.log" 2>&1 &
e2e_track $!
until_true 30 grep -q "dns ready port=" "$work/dns.log" || { echo "dns did not start:"; cat "$work/dns.log"; exit 1; }
port=$(sed -n 's/.*dns ready port=\([0-9]*\).*/\1/p' "$work/dns.log")
D=(dig @127.0.0.1 -p "$port" +time=5 +tries=1)

echo "# the kube-dns Service"
until_true 30 "${K[@]}" -n kube-system get svc kube-dns
expect kube-dns-service '^kube-dns +ClusterIP +10\.43\.0\.10 .*53/UDP,53/TCP' "${K[@]}" -n kube-system get svc kube-dns --no-headers

echo "# names"
expect clusterip-a '^10\.43\.7\.7$' "${D[@]}" +short web.default.svc.cluster.local A
expect clusterip-a-tcp '^10\.43\.7\.7$' "${D[@]}" +tcp +short web.default.svc.cluster.local A
expect authoritative 'flags: qr aa rd ra' "${D[@]}" web.default.svc.cluster.local A
expect headless-ready-only '^10\.42\.0\.11,10\.42\.0\.12$' \
  bash -c "${D[*]} +short db.default.svc.cluster.local A | sort | paste -sd,"
expect statefulset-hostname '^10\.42\.0\.12$' "${D[@]}" +short db-1.db.default.svc.cluster.local A
expect externalname-cname '^example\.org\.$' "${D[@]}" +short ext.default.svc.cluster.local CNAME
expect srv-named-port '^0 100 80 web\.default\.svc\.cluster\.local\.$' "${D[@]}" +short _http._tcp.web.default.svc.cluster.local SRV
expect srv-headless '^0 100 5432 db-0\.db\.default\.svc\.cluster\.local\.,0 100 5432 db-1\.db\.default\.svc\.cluster\.local\.$' \
  bash -c "${D[*]} +short _pg._tcp.db.default.svc.cluster.local SRV | sort | paste -sd,"
expect ptr-clusterip '^web\.default\.svc\.cluster\.local\.$' "${D[@]}" +short -x 10.43.7.7
expect ptr-endpoint '^db-0\.db\.default\.svc\.cluster\.local\.$' "${D[@]}" +short -x 10.42.0.11
expect nxdomain-soa 'status: NXDOMAIN.*AUTHORITY SECTION:.*cluster\.local\.[[:space:]]+5[[:space:]]+IN[[:space:]]+SOA' \
  bash -c "${D[*]} nope.default.svc.cluster.local A | tr '\n' ' '"

echo "# changes are seen live"
"${K[@]}" patch endpointslice db-1 --type=json \
  -p '[{"op":"replace","path":"/endpoints/2/conditions/ready","value":true}]' >/dev/null
ready3() { [ "$("${D[@]}" +short db.default.svc.cluster.local A | wc -l)" = 3 ]; }
if until_true 15 ready3; then ok endpoint-turns-ready; else bad endpoint-turns-ready "$("${D[@]}" +short db.default.svc.cluster.local A)"; fi
"${K[@]}" delete svc web >/dev/null
gone() { "${D[@]}" web.default.svc.cluster.local A | grep -q 'status: NXDOMAIN'; }
if until_true 15 gone; then ok deleted-service-nxdomain; else bad deleted-service-nxdomain; fi

echo "# other names: forwarded; an upstream that never answers gives SERVFAIL within 2 s"
start=$(date +%s%N)
out=$("${D[@]}" www.example.org A 2>&1)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if grep -q 'status: SERVFAIL' <<<"$out" && [ "$ms" -le 2500 ]; then ok "offline-servfail (${ms} ms)"
else bad "offline-servfail (${ms} ms)" "$out"; fi

echo "dns_e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
