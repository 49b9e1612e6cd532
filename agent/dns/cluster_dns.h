// ClusterDns: the answers of kite's built-in cluster DNS (docs/dns.md),
// computed from informer caches of Services and EndpointSlices.
//
// In the cluster domain (cluster.local) it is authoritative:
//   <svc>.<ns>.svc.<domain>             A/AAAA: the ClusterIPs; headless:
//                                       the ready endpoints' addresses;
//                                       ExternalName: a CNAME
//   <host>.<svc>.<ns>.svc.<domain>      the endpoint with that hostname
//                                       (StatefulSets) or dashed address
//                                       (10-42-0-5)
//   _<port>._<proto>.<svc>.<ns>.svc.<domain>   SRV per named port (the
//                                       service name, or each ready
//                                       endpoint for headless services),
//                                       with addresses as additional records
//   <a-b-c-d>.<ns>.pod.<domain>         A: the address in the name
//   <reversed ip>.in-addr.arpa/ip6.arpa PTR for ClusterIPs and endpoints
// Unknown names in the domain are NXDOMAIN with the zone's SOA (negative
// TTL 5 s), names that exist without data of the type asked NOERROR with
// the SOA. Everything else (and reverse names no Service or endpoint has)
// is forwarded over UDP to upstream resolvers (the nameservers of
// /etc/resolv.conf unless configured) with a per-try timeout and a total
// budget: when no upstream answers in time the answer is SERVFAIL, never a
// hang. Forwarded NOERROR/NXDOMAIN answers are cached for their smallest
// TTL (at most 30 s).
//
// Thread safety: ResolveLocal, Resolve and Forward may be called
// concurrently from any thread (the informer caches and the forwarding
// cache are locked). Start/Stop from the owner.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/dns/dns_message.h"
#include "client/informer.h"
#include "client/interface.h"
#include "common/status.h"

namespace kite::dns {

struct ClusterDnsOptions {
  std::string domain = "cluster.local";
  // "ip", "ip:port" or "[ipv6]:port". Empty: the nameservers of
  // `resolv_conf`.
  std::vector<std::string> upstreams;
  std::string resolv_conf = "/etc/resolv.conf";
  // Addresses never forwarded to (the cluster DNS itself: a host whose
  // resolv.conf names it would otherwise loop).
  std::vector<std::string> exclude_upstreams;
  // Each upstream gets at most this long per query ...
  std::chrono::milliseconds upstream_timeout{1000};
  // ... and all of them together this long; then SERVFAIL.
  std::chrono::milliseconds forward_budget{2000};
  uint32_t ttl = 5;  // of cluster answers, and the SOA's negative TTL
  size_t cache_entries = 10000;
  std::chrono::seconds max_cache_ttl{30};
};

class ClusterDns {
 public:
  // `api` must outlive this object.
  ClusterDns(client::Interface& api, ClusterDnsOptions options);
  ~ClusterDns();
  ClusterDns(const ClusterDns&) = delete;
  ClusterDns& operator=(const ClusterDns&) = delete;

  // Starts the Service and EndpointSlice informers.
  Status Start();
  void Stop();
  bool WaitForSync(std::chrono::milliseconds timeout);

  // The answer to `query` when it needs no upstream (cluster names, bad
  // queries, cached forwarded answers); nullopt when it must be forwarded.
  std::optional<Message> ResolveLocal(const Message& query);
  // ResolveLocal, else Forward. May block for the forwarding budget.
  Message Resolve(const Message& query);
  // Asks the upstreams; SERVFAIL when none answers within the budget.
  Message Forward(const Message& query);

  const std::vector<std::string>& upstreams() const { return upstreams_; }

  // The nameserver lines of a resolv.conf text.
  static std::vector<std::string> ParseResolvConf(const std::string& text);

 private:
  struct CacheEntry {
    Message answer;
    std::chrono::steady_clock::time_point stored;
    std::chrono::steady_clock::time_point expires;
  };

  Message AnswerCluster(const Message& query, const Question& q,
                        const std::vector<std::string>& labels);
  std::optional<Message> AnswerPtr(const Message& query, const Question& q,
                                   const std::string& ip);
  void AddSoa(Message& reply) const;
  void AddEdns(const Message& query, Message& reply) const;
  std::optional<Message> FromCache(const Message& query);
  void Store(const Message& query, const Message& answer);

  client::Interface& api_;
  const ClusterDnsOptions options_;
  std::string domain_;  // lowercase, no final dot
  std::vector<std::string> upstreams_;
  client::SharedInformerFactory factory_;
  client::Informer* services_ = nullptr;
  client::Informer* slices_ = nullptr;

  std::mutex cache_mu_;
  std::map<std::string, CacheEntry> cache_;
};

}  // namespace kite::dns
