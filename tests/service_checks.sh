# The Service checks a user would make against a node's service proxy,
# shared by agent_e2e.sh and proxy_iptables_e2e.sh. Source it after
# netns_lib.sh; the caller provides K (kubectl command array), $work, ok,
# bad, until_true and netns_run.
#
#   service_checks NODE_IP   namespace net: Deployment web (2 busybox httpd
#                            pods), ClusterIP Service web, NodePort Service
#                            web-np (30080). Checks: both endpoints ready; a
#                            pod reaches web.net.svc.cluster.local 30 times
#                            and both pods answer; NODE_IP:30080 answers.
#   netp ARGS...             kubectl get ARGS in namespace net
#   ready_count              one x per ready endpoint of Service web
#   nodeport                 true when NODE_IP:30080 (service_checks'
#                            NODE_IP) answers from a web pod

netp() { "${K[@]}" -n net get "$@" 2>/dev/null; }
ready_count() {
  netp endpointslices -l kubernetes.io/service-name=web \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}x{end}'
}

SERVICE_NODE_IP=
nodeport() {
  grep -qE "^web-" <(netns_run curl -s --max-time 5 "http://$SERVICE_NODE_IP:30080/hostname")
}

service_checks() {
  SERVICE_NODE_IP=$1
  "${K[@]}" create namespace net >/dev/null
  cat >"$work/net.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: net}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: registry.local/busybox:latest
        command: [httpd, -f, -p, "8080", -h, /etc]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: net}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np, namespace: net}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
EOF
  "${K[@]}" apply -f "$work/net.yaml" >/dev/null
  web_ready() { [ "$(ready_count)" = xx ]; }
  until_true 120 web_ready && ok net-web-ready ||
    bad net-web-ready "$(netp pods -o wide; netp endpointslices -o yaml | tail -30)"
  local pods answered
  pods=$(netp pods -l app=web -o jsonpath='{.items[*].metadata.name}')
  "${K[@]}" -n net run client --image=registry.local/busybox:latest --restart=Never -- \
    sh -c 'for i in $(seq 1 30); do wget -qO- http://web.net.svc.cluster.local/hostname; done' >/dev/null
  client_done() { [ "$(netp pod client -o jsonpath='{.status.phase}')" = Succeeded ]; }
  until_true 90 client_done && ok clusterip-by-name-from-pod ||
    bad clusterip-by-name-from-pod "$(netp pod client -o jsonpath='{.status.phase}'; "${K[@]}" -n net logs client 2>&1 | tail -5)"
  answered=$("${K[@]}" -n net logs client 2>/dev/null | sort -u | tr '\n' ' ')
  [ "$answered" = "$(tr ' ' '\n' <<<"$pods" | sort -u | tr '\n' ' ')" ] && ok clusterip-spreads-over-both-pods ||
    bad clusterip-spreads-over-both-pods "answered by: $answered; pods: $pods"
  until_true 30 nodeport && ok nodeport-on-node-ip ||
    bad nodeport-on-node-ip "$(netns_run curl -sv --max-time 5 "http://$SERVICE_NODE_IP:30080/hostname" 2>&1 | tail -5)"
}
