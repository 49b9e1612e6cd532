// kite-dns-serve: the agent's cluster DNS on its own, for the e2e test and
// the benchmark (docs/dns.md): watches Services and EndpointSlices with the
// credentials of a kubeconfig and serves DNS on an address until SIGTERM
// or SIGINT. Prints "dns ready port=<n>" once the caches are synced.
//
// usage: kite-dns-serve --kubeconfig FILE [--listen ADDR:PORT]
//          [--upstream ADDR[:PORT]]... [--resolv-conf FILE]
//          [--domain cluster.local]
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "agent/dns/cluster_dns.h"
#include "agent/dns/dns_server.h"
#include "client/https_client.h"

int main(int argc, char** argv) {
  using namespace kite;
  std::string kubeconfig, listen = "127.0.0.1:0";
  dns::ClusterDnsOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fprintf(stderr, "kite-dns-serve: %s needs a value\n", a.c_str());
        exit(2);
      }
      return argv[++i];
    };
    if (a == "--kubeconfig") {
      kubeconfig = value();
    } else if (a == "--listen") {
      listen = value();
    } else if (a == "--upstream") {
      options.upstreams.push_back(value());
    } else if (a == "--resolv-conf") {
      options.resolv_conf = value();
    } else if (a == "--domain") {
      options.domain = value();
    } else {
      fprintf(stderr,
              "usage: kite-dns-serve --kubeconfig FILE [--listen ADDR:PORT] "
              "[--upstream ADDR[:PORT]]... [--resolv-conf FILE] "
              "[--domain D]\n");
      return 2;
    }
  }
  size_t colon = listen.rfind(':');
  if (kubeconfig.empty() || colon == std::string::npos) {
    fprintf(stderr, "kite-dns-serve: --kubeconfig and --listen ADDR:PORT\n");
    return 2;
  }
  std::string address = listen.substr(0, colon);
  if (address.size() > 1 && address[0] == '[') {
    address = address.substr(1, address.size() - 2);
  }
  int port = atoi(listen.c_str() + colon + 1);

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // before any thread starts

  auto cfg = client::ConfigFromKubeconfigFile(kubeconfig);
  if (!cfg.ok()) {
    fprintf(stderr, "kite-dns-serve: %s\n", cfg.status().ToString().c_str());
    return 1;
  }
  auto api = client::HttpsClient::Create(*cfg);
  if (!api.ok()) {
    fprintf(stderr, "kite-dns-serve: %s\n", api.status().ToString().c_str());
    return 1;
  }
  dns::ClusterDns resolver(**api, options);
  if (Status s = resolver.Start(); !s.ok()) {
    fprintf(stderr, "kite-dns-serve: %s\n", s.ToString().c_str());
    return 1;
  }
  dns::DnsServer server(resolver, {address, port});
  if (Status s = server.Start(); !s.ok()) {
    fprintf(stderr, "kite-dns-serve: %s\n", s.ToString().c_str());
    return 1;
  }
  while (!resolver.WaitForSync(std::chrono::seconds(1))) {
  }
  printf("dns ready port=%d\n", server.port());
  fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  server.Stop();
  resolver.Stop();
  return 0;
}
