// proxy_sync: what one Sync of a kernel proxy backend costs with many
// Services (bench/proxy_sync.sh). Installs SERVICES service ports with
// ENDPOINTS endpoints each and a NodePort (the first, full Sync), then
// CHANGES times replaces one endpoint of one service port and Syncs
// (incremental), and prints the times and the iptables-restore input sizes.
//
// usage: proxy_sync SERVICES ENDPOINTS CHANGES PREFIX...
//   PREFIX: the command prefix that runs iptables in the bench's own
//   network namespace, e.g. nsenter --net=/var/run/netns/kite-bench-1
// PROXY_SYNC_VARIANT=legacy in the environment hides iptables-nft from the
// backend's probe, so it uses iptables-legacy; PROXY_SYNC_VARIANT=nftables
// measures the nftables backend (nft -f -) instead.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent/proxy/iptables_backend.h"
#include "agent/proxy/nft_backend.h"
#include "agent/proxy/userspace_backend.h"

using kite::proxy::BackendOptions;
using kite::proxy::Endpoint;
using kite::proxy::ProxySnapshot;
using kite::proxy::ServicePort;

namespace {

std::string Ip(int a, int i) {
  return "10." + std::to_string(a) + "." + std::to_string((i >> 8) & 255) +
         "." + std::to_string(i & 255);
}

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: proxy_sync SERVICES ENDPOINTS CHANGES PREFIX...\n");
    return 2;
  }
  const int services = std::atoi(argv[1]);
  const int endpoints = std::atoi(argv[2]);
  const int changes = std::atoi(argv[3]);
  BackendOptions options;
  options.node_name = "node-a";
  options.node_ips = {"192.168.77.1"};
  for (int i = 4; i < argc; ++i) options.command_prefix.push_back(argv[i]);

  ProxySnapshot snap;
  int next_ep = 1;
  for (int s = 0; s < services; ++s) {
    ServicePort sp;
    sp.ns = "default";
    sp.name = "svc-" + std::to_string(s);
    sp.cluster_ips = {Ip(43, s + 1)};
    sp.port = 80;
    sp.node_port = 30000 + s % 2768;
    for (int e = 0; e < endpoints; ++e) {
      sp.endpoints.push_back({Ip(42, next_ep++), 8080, "node-a", e == 0});
    }
    snap.ports[sp.Key()] = sp;
  }

  const char* variant_env = std::getenv("PROXY_SYNC_VARIANT");
  const std::string variant = variant_env ? variant_env : "nft";
  auto backend = kite::proxy::NewIptablesBackendWithRunner(
      options,
      [&](const std::vector<std::string>& args, const std::string& in)
          -> kite::StatusOr<kite::proxy::IptablesCommandResult> {
        for (const auto& a : args) {
          if (variant == "legacy" && a.starts_with("iptables-nft")) {
            return kite::proxy::IptablesCommandResult{1, "hidden"};
          }
        }
        return kite::proxy::RunIptablesCommand(args, in);
      });
  // PROXY_SYNC_VARIANT=nftables: the nftables backend instead (its
  // script sizes from the same pure functions it runs).
  const bool nft = variant == "nftables";
  kite::proxy::NftConfig nft_config;
  nft_config.node_ips = options.node_ips;
  if (nft) backend = kite::proxy::NewNftablesBackend(options);
  // PROXY_SYNC_VARIANT=userspace: the userspace backend, in the namespace
  // the prefix names (--net=PATH); it has no script, so sizes are 0.
  const bool userspace = variant == "userspace";
  if (userspace) {
    for (const auto& a : options.command_prefix) {
      if (a.starts_with("--net=")) options.userspace_netns = a.substr(6);
    }
    backend = kite::proxy::NewUserspaceBackend(options);
  }
  auto full_size = [&](const ProxySnapshot& s) -> size_t {
    if (userspace) return 0;
    return nft ? kite::proxy::NftFullScript(
                     kite::proxy::RenderNftState(s, nft_config), nft_config)
                     .size()
               : kite::proxy::IptablesFullInput(s, options, "", "", true)
                     .size();
  };
  auto change_size = [&](const ProxySnapshot& a,
                         const ProxySnapshot& b) -> size_t {
    if (userspace) return 0;
    return nft ? kite::proxy::NftDiffScript(
                     kite::proxy::RenderNftState(a, nft_config),
                     kite::proxy::RenderNftState(b, nft_config))
                     .size()
               : kite::proxy::IptablesIncrementalInput(a, b, options).size();
  };
  if (!backend.ok()) {
    std::fprintf(stderr, "%s\n", backend.status().ToString().c_str());
    return 1;
  }
  const size_t full_bytes = full_size(snap);
  auto t0 = std::chrono::steady_clock::now();
  kite::Status st = (*backend)->Sync(snap);
  const double full_ms = Ms(std::chrono::steady_clock::now() - t0);
  if (!st.ok()) {
    std::fprintf(stderr, "full sync: %s\n", st.ToString().c_str());
    return 1;
  }

  std::vector<double> times;
  size_t change_bytes = 0;
  std::srand(1);
  for (int c = 0; c < changes; ++c) {
    ProxySnapshot next = snap;
    auto it = next.ports.begin();
    std::advance(it, std::rand() % services);
    it->second.endpoints.back() =
        Endpoint{Ip(42, next_ep++), 8080, "node-b", false};
    change_bytes += change_size(snap, next);
    t0 = std::chrono::steady_clock::now();
    st = (*backend)->Sync(next);
    times.push_back(Ms(std::chrono::steady_clock::now() - t0));
    if (!st.ok()) {
      std::fprintf(stderr, "sync: %s\n", st.ToString().c_str());
      return 1;
    }
    snap = std::move(next);
  }
  std::sort(times.begin(), times.end());
  auto pct = [&](double p) {
    return times.empty()
               ? 0.0
               : times[std::min(times.size() - 1,
                                static_cast<size_t>(p * times.size()))];
  };
  st = (*backend)->Cleanup();
  std::printf(
      "proxy_sync: backend=%s%s services=%d endpoints=%d full_ms=%.1f "
      "full_bytes=%zu change_p50_ms=%.1f change_p99_ms=%.1f "
      "change_bytes=%zu cleanup=%s\n",
      nft || userspace ? "" : "iptables-", variant.c_str(), services, endpoints,
      full_ms, full_bytes, pct(0.5), pct(0.99),
      changes ? change_bytes / changes : 0,
      st.ok() ? "ok" : st.ToString().c_str());
  return st.ok() ? 0 : 1;
}
