// userspace_relay: the userspace proxy backend on its own, serving one
// Service for bench/userspace_proxy.sh: each PORT, TCP and UDP, on
// CLUSTER_IP, with the one endpoint ENDPOINT_IP:PORT.
// Runs the backend's loop in the network namespace NETNS (a path such as
// /var/run/netns/x), prints "ready" once the Service is served, and on
// end of standard input removes what it installed and exits.
//
// usage: userspace_relay NETNS CLUSTER_IP ENDPOINT_IP PORT...
#include <cstdio>
#include <iostream>
#include <string>

#include "agent/proxy/userspace_backend.h"

using kite::proxy::BackendOptions;
using kite::proxy::Endpoint;
using kite::proxy::Protocol;
using kite::proxy::ProxySnapshot;
using kite::proxy::ServicePort;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(
        stderr,
        "usage: userspace_relay NETNS CLUSTER_IP ENDPOINT_IP PORT...\n");
    return 2;
  }
  BackendOptions options;
  options.node_name = "bench";
  options.userspace_netns = argv[1];
  auto backend = kite::proxy::NewUserspaceBackend(options);
  if (!backend.ok()) {
    std::fprintf(stderr, "%s\n", backend.status().ToString().c_str());
    return 1;
  }
  ProxySnapshot snapshot;
  for (int i = 4; i < argc; ++i) {
    for (Protocol protocol : {Protocol::kTcp, Protocol::kUdp}) {
      ServicePort sp;
      sp.ns = "bench";
      sp.name = "relay";
      sp.port_name = std::string("p") + argv[i];
      sp.protocol = protocol;
      sp.cluster_ips = {argv[2]};
      sp.port = std::stoi(argv[i]);
      sp.endpoints = {Endpoint{argv[3], sp.port, "bench", true}};
      snapshot.ports[sp.Key()] = sp;
    }
  }
  if (kite::Status st = (*backend)->Sync(snapshot); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  kite::Status st = (*backend)->Cleanup();
  if (!st.ok()) std::fprintf(stderr, "%s\n", st.ToString().c_str());
  return st.ok() ? 0 : 1;
}
