// Unit tests of BuildSnapshot and the model's helpers (proxy_model.h).
#include "agent/proxy/proxy_model.h"

#include <gtest/gtest.h>

namespace kite::proxy {
namespace {

using Objects = std::vector<std::shared_ptr<const Json>>;

std::shared_ptr<const Json> Obj(Json j) {
  return std::make_shared<const Json>(std::move(j));
}

Json Service(const std::string& ns, const std::string& name, Json spec) {
  return Json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"namespace", ns}, {"name", name}}},
              {"spec", std::move(spec)}};
}

Json Slice(const std::string& ns, const std::string& name,
           const std::string& service, Json ports, Json endpoints) {
  return Json{{"apiVersion", "discovery.k8s.io/v1"},
              {"kind", "EndpointSlice"},
              {"metadata",
               {{"namespace", ns},
                {"name", name},
                {"labels", {{"kubernetes.io/service-name", service}}}}},
              {"addressType", "IPv4"},
              {"ports", std::move(ports)},
              {"endpoints", std::move(endpoints)}};
}

Json Ep(const std::string& ip, Json conditions = Json::object(),
        const std::string& node = "") {
  Json e{{"addresses", {ip}}, {"conditions", std::move(conditions)}};
  if (!node.empty()) e["nodeName"] = node;
  return e;
}

Json WebSpec() {
  return Json{
      {"type", "ClusterIP"},
      {"clusterIP", "10.43.0.20"},
      {"clusterIPs", {"10.43.0.20"}},
      {"ports", {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}}}}};
}

Json HttpPorts() {
  return Json{{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}};
}

std::vector<std::string> Ips(const ServicePort& sp) {
  std::vector<std::string> out;
  for (const auto& e : sp.endpoints) out.push_back(e.ip);
  return out;
}

TEST(ProxyModelTest, KeyAndProtocolNames) {
  ServicePort sp;
  sp.ns = "default";
  sp.name = "web";
  sp.port_name = "http";
  sp.protocol = Protocol::kUdp;
  EXPECT_EQ(sp.Key(), "default/web:http/udp");
  EXPECT_STREQ(ProtocolName(Protocol::kTcp), "tcp");
  EXPECT_STREQ(ProtocolName(Protocol::kSctp), "sctp");
}

TEST(ProxyModelTest, ParseProxyMode) {
  EXPECT_EQ(*ParseProxyMode(""), ProxyMode::kAuto);
  EXPECT_EQ(*ParseProxyMode("auto"), ProxyMode::kAuto);
  EXPECT_EQ(*ParseProxyMode("nftables"), ProxyMode::kNftables);
  EXPECT_EQ(*ParseProxyMode("iptables"), ProxyMode::kIptables);
  EXPECT_EQ(*ParseProxyMode("userspace"), ProxyMode::kUserspace);
  auto bad = ParseProxyMode("ipvs");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("nftables"), std::string::npos);
}

TEST(ProxyModelTest, ClusterIPWithReadyEndpointsOnly) {
  Objects svcs{Obj(Service("default", "web", WebSpec()))};
  Objects slices{Obj(Slice("default", "web-abc", "web", HttpPorts(),
                           {Ep("10.42.0.9", {{"ready", true}}, "n1"),
                            Ep("10.42.0.5", Json::object(), "n2"),
                            Ep("10.42.0.7", {{"ready", false}}, "n1")}))};
  SnapshotOptions opts;
  opts.node_name = "n1";
  ProxySnapshot snap = BuildSnapshot(svcs, slices, opts);
  ASSERT_EQ(snap.ports.size(), 1u);
  const ServicePort& sp = snap.ports.at("default/web:http/tcp");
  EXPECT_EQ(sp.ns, "default");
  EXPECT_EQ(sp.name, "web");
  EXPECT_EQ(sp.port, 80);
  EXPECT_EQ(sp.node_port, 0);
  EXPECT_EQ(sp.cluster_ips, std::vector<std::string>{"10.43.0.20"});
  // Sorted by ip; the unready one left out; a missing ready is ready.
  ASSERT_EQ(Ips(sp), (std::vector<std::string>{"10.42.0.5", "10.42.0.9"}));
  EXPECT_EQ(sp.endpoints[0].port, 8080);
  EXPECT_EQ(sp.endpoints[0].node_name, "n2");
  EXPECT_FALSE(sp.endpoints[0].local);
  EXPECT_TRUE(sp.endpoints[1].local);
  EXPECT_FALSE(sp.session_affinity);
  EXPECT_FALSE(sp.internal_policy_local);
  EXPECT_FALSE(sp.external_policy_local);
}

TEST(ProxyModelTest, ServingTerminatingFallbackOnlyWhenNoneReady) {
  Objects svcs{Obj(Service("default", "web", WebSpec()))};
  Json term{{"ready", false}, {"serving", true}, {"terminating", true}};
  Json gone{{"ready", false}, {"serving", false}, {"terminating", true}};
  Objects slices{Obj(Slice("default", "web-abc", "web", HttpPorts(),
                           {Ep("10.42.0.3", term), Ep("10.42.0.4", gone)}))};
  ProxySnapshot snap = BuildSnapshot(svcs, slices, {});
  EXPECT_EQ(Ips(snap.ports.at("default/web:http/tcp")),
            std::vector<std::string>{"10.42.0.3"});

  // One ready endpoint: the terminating ones are not used.
  Objects slices2{Obj(Slice("default", "web-abc", "web", HttpPorts(),
                            {Ep("10.42.0.3", term), Ep("10.42.0.8")}))};
  snap = BuildSnapshot(svcs, slices2, {});
  EXPECT_EQ(Ips(snap.ports.at("default/web:http/tcp")),
            std::vector<std::string>{"10.42.0.8"});
}

TEST(ProxyModelTest, NoEndpointsStillServedWithEmptyList) {
  Objects svcs{Obj(Service("default", "web", WebSpec()))};
  ProxySnapshot snap = BuildSnapshot(svcs, {}, {});
  ASSERT_EQ(snap.ports.count("default/web:http/tcp"), 1u);
  EXPECT_TRUE(snap.ports.at("default/web:http/tcp").endpoints.empty());
}

TEST(ProxyModelTest, PortNameAndProtocolMatch) {
  Json spec{{"clusterIP", "10.43.0.30"},
            {"ports",
             {{{"name", "dns"}, {"port", 53}, {"protocol", "UDP"}},
              {{"name", "dns-tcp"}, {"port", 53}, {"protocol", "TCP"}},
              {{"name", "metrics"}, {"port", 9153}}}}};
  Objects svcs{Obj(Service("kube-system", "dns", spec))};
  Json ports{{{"name", "dns"}, {"port", 5353}, {"protocol", "UDP"}},
             {{"name", "dns-tcp"}, {"port", 5354}, {"protocol", "TCP"}},
             // Same name, other protocol: must not match "metrics"/TCP.
             {{"name", "metrics"}, {"port", 9999}, {"protocol", "UDP"}}};
  Objects slices{
      Obj(Slice("kube-system", "dns-1", "dns", ports, {Ep("10.42.1.2")}))};
  ProxySnapshot snap = BuildSnapshot(svcs, slices, {});
  ASSERT_EQ(snap.ports.size(), 3u);
  const auto& udp = snap.ports.at("kube-system/dns:dns/udp");
  EXPECT_EQ(udp.protocol, Protocol::kUdp);
  ASSERT_EQ(udp.endpoints.size(), 1u);
  EXPECT_EQ(udp.endpoints[0].port, 5353);
  const auto& tcp = snap.ports.at("kube-system/dns:dns-tcp/tcp");
  ASSERT_EQ(tcp.endpoints.size(), 1u);
  EXPECT_EQ(tcp.endpoints[0].port, 5354);
  // The missing protocol defaults to TCP.
  const auto& metrics = snap.ports.at("kube-system/dns:metrics/tcp");
  EXPECT_EQ(metrics.protocol, Protocol::kTcp);
  EXPECT_TRUE(metrics.endpoints.empty());
}

TEST(ProxyModelTest, UnnamedPortMatchesUnnamedSlicePort) {
  Json spec{{"clusterIP", "10.43.0.31"}, {"ports", {{{"port", 80}}}}};
  Objects svcs{Obj(Service("default", "one", spec))};
  Objects slices{
      Obj(Slice("default", "one-x", "one",
                {{{"port", 8080}, {"protocol", "TCP"}}}, {Ep("10.42.0.1")}))};
  ProxySnapshot snap = BuildSnapshot(svcs, slices, {});
  const auto& sp = snap.ports.at("default/one:/tcp");
  ASSERT_EQ(sp.endpoints.size(), 1u);
  EXPECT_EQ(sp.endpoints[0].port, 8080);
}

TEST(ProxyModelTest, SlicesJoinedByServiceNameLabelInSameNamespace) {
  Objects svcs{Obj(Service("default", "web", WebSpec()))};
  Json unlabeled =
      Slice("default", "web-zzz", "web", HttpPorts(), {Ep("10.42.0.66")});
  unlabeled["metadata"].erase("labels");
  Objects slices{
      // Named like the service but labelled for another one.
      Obj(Slice("default", "web", "other", HttpPorts(), {Ep("10.42.0.50")})),
      // Right label, other namespace.
      Obj(Slice("prod", "web-1", "web", HttpPorts(), {Ep("10.42.0.51")})),
      Obj(unlabeled),
      // Two slices of the service: merged, deduplicated, sorted.
      Obj(Slice("default", "web-1", "web", HttpPorts(),
                {Ep("10.42.0.12"), Ep("10.42.0.11")})),
      Obj(Slice("default", "web-2", "web", HttpPorts(),
                {Ep("10.42.0.11"), Ep("10.42.0.10")}))};
  ProxySnapshot snap = BuildSnapshot(svcs, slices, {});
  EXPECT_EQ(
      Ips(snap.ports.at("default/web:http/tcp")),
      (std::vector<std::string>{"10.42.0.10", "10.42.0.11", "10.42.0.12"}));
}

TEST(ProxyModelTest, FqdnSlicesIgnored) {
  Objects svcs{Obj(Service("default", "web", WebSpec()))};
  Json fqdn =
      Slice("default", "web-f", "web", HttpPorts(), {Ep("example.com")});
  fqdn["addressType"] = "FQDN";
  ProxySnapshot snap = BuildSnapshot(svcs, {Obj(fqdn)}, {});
  EXPECT_TRUE(snap.ports.at("default/web:http/tcp").endpoints.empty());
}

TEST(ProxyModelTest, NodePortExternalAndLoadBalancerIps) {
  Json spec = WebSpec();
  spec["type"] = "LoadBalancer";
  spec["ports"][0]["nodePort"] = 30080;
  spec["externalIPs"] = {"192.0.2.10"};
  spec["externalTrafficPolicy"] = "Local";
  Json svc = Service("default", "web", spec);
  svc["status"] = {{"loadBalancer",
                    {{"ingress",
                      {{{"ip", "172.18.0.2"}},
                       {{"hostname", "lb.example"}},
                       {{"ip", "172.18.0.3"}}}}}}};
  ProxySnapshot snap = BuildSnapshot({Obj(svc)}, {}, {});
  const auto& sp = snap.ports.at("default/web:http/tcp");
  EXPECT_EQ(sp.node_port, 30080);
  EXPECT_EQ(sp.external_ips, std::vector<std::string>{"192.0.2.10"});
  EXPECT_EQ(sp.load_balancer_ips,
            (std::vector<std::string>{"172.18.0.2", "172.18.0.3"}));
  EXPECT_TRUE(sp.external_policy_local);
  EXPECT_FALSE(sp.internal_policy_local);

  // A NodePort Service: the node port, no LB IPs even with a stale status.
  spec["type"] = "NodePort";
  svc["spec"] = spec;
  snap = BuildSnapshot({Obj(svc)}, {}, {});
  EXPECT_EQ(snap.ports.at("default/web:http/tcp").node_port, 30080);
  EXPECT_TRUE(snap.ports.at("default/web:http/tcp").load_balancer_ips.empty());

  // ClusterIP: a stray nodePort is not served.
  spec["type"] = "ClusterIP";
  svc["spec"] = spec;
  snap = BuildSnapshot({Obj(svc)}, {}, {});
  EXPECT_EQ(snap.ports.at("default/web:http/tcp").node_port, 0);
}

TEST(ProxyModelTest, SessionAffinityAndInternalPolicy) {
  Json spec = WebSpec();
  spec["sessionAffinity"] = "ClientIP";
  spec["internalTrafficPolicy"] = "Local";
  ProxySnapshot snap =
      BuildSnapshot({Obj(Service("default", "web", spec))}, {}, {});
  EXPECT_TRUE(snap.ports.at("default/web:http/tcp").session_affinity);
  EXPECT_EQ(snap.ports.at("default/web:http/tcp").affinity_timeout_seconds,
            10800);
  EXPECT_TRUE(snap.ports.at("default/web:http/tcp").internal_policy_local);

  spec["sessionAffinityConfig"] = {{"clientIP", {{"timeoutSeconds", 60}}}};
  snap = BuildSnapshot({Obj(Service("default", "web", spec))}, {}, {});
  EXPECT_EQ(snap.ports.at("default/web:http/tcp").affinity_timeout_seconds, 60);

  spec["sessionAffinity"] = "None";
  snap = BuildSnapshot({Obj(Service("default", "web", spec))}, {}, {});
  EXPECT_FALSE(snap.ports.at("default/web:http/tcp").session_affinity);
}

TEST(ProxyModelTest, DualStackClusterIPs) {
  Json spec = WebSpec();
  spec["clusterIPs"] = {"10.43.0.20", "fd00:43::20"};
  ProxySnapshot snap =
      BuildSnapshot({Obj(Service("default", "web", spec))}, {}, {});
  EXPECT_EQ(snap.ports.at("default/web:http/tcp").cluster_ips,
            (std::vector<std::string>{"10.43.0.20", "fd00:43::20"}));
}

TEST(ProxyModelTest, HeadlessAndExternalNameLeftOut) {
  Json headless{{"clusterIP", "None"},
                {"clusterIPs", {"None"}},
                {"ports", {{{"port", 80}}}}};
  Json external{{"type", "ExternalName"},
                {"externalName", "example.com"},
                {"ports", {{{"port", 80}}}}};
  Json no_ip{{"ports", {{{"port", 80}}}}};
  ProxySnapshot snap = BuildSnapshot(
      {Obj(Service("default", "h", headless)),
       Obj(Service("default", "e", external)),
       Obj(Service("default", "n", no_ip))},
      {Obj(Slice("default", "h-1", "h", {{{"port", 80}}}, {Ep("10.42.0.1")}))},
      {});
  EXPECT_TRUE(snap.ports.empty());
}

TEST(ProxyModelTest, MalformedEntriesSkipped) {
  Json bad_port = WebSpec();
  bad_port["ports"] = {{{"name", "a"}, {"port", "eighty"}},
                       {{"name", "b"}, {"port", 70000}},
                       {{"name", "c"}, {"port", 81}, {"protocol", "ICMP"}},
                       "junk",
                       {{"name", "ok"}, {"port", 82}}};
  Json slice_bad = Slice(
      "default", "w-1", "good",
      {{{"name", "ok"}, {"port", "x"}}, {{"name", "ok"}, {"port", 8082}}},
      {Ep("10.42.0.1"),
       "junk",
       {{"addresses", "notalist"}},
       {{"addresses", {42, "10.42.0.2"}}, {"conditions", {{"ready", "yes"}}}}});
  Objects svcs{Obj(Json("not an object")),
               Obj(Json{{"metadata", {{"name", "nospec"}}}}),
               Obj(Json{{"spec", WebSpec()}}),  // no metadata
               nullptr, Obj(Service("default", "good", bad_port))};
  Objects slices{Obj(Json::array()), nullptr, Obj(slice_bad)};
  ProxySnapshot snap = BuildSnapshot(svcs, slices, {});
  ASSERT_EQ(snap.ports.size(), 1u);
  const auto& sp = snap.ports.at("default/good:ok/tcp");
  EXPECT_EQ(sp.port, 82);
  // The first slice port with a bad number is skipped, the second used; a
  // non-boolean ready counts as missing (ready).
  EXPECT_EQ(Ips(sp), (std::vector<std::string>{"10.42.0.1", "10.42.0.2"}));
  EXPECT_EQ(sp.endpoints[0].port, 8082);
}

TEST(ProxyModelTest, ClusterDnsRedirectedToLocalServer) {
  Json spec{{"clusterIP", "10.43.0.10"},
            {"clusterIPs", {"10.43.0.10"}},
            {"ports",
             {{{"name", "dns"}, {"port", 53}, {"protocol", "UDP"}},
              {{"name", "dns-tcp"}, {"port", 53}, {"protocol", "TCP"}},
              {{"name", "metrics"}, {"port", 9153}, {"protocol", "TCP"}}}}};
  Objects svcs{Obj(Service("kube-system", "kube-dns", spec))};
  Objects slices{
      Obj(Slice("kube-system", "kube-dns-1", "kube-dns",
                {{{"name", "metrics"}, {"port", 9153}}}, {Ep("10.42.0.77")}))};
  SnapshotOptions opts;
  opts.node_name = "n1";
  opts.local_dns_address = "10.42.0.1";
  opts.local_dns_port = 1053;
  ProxySnapshot snap = BuildSnapshot(svcs, slices, opts);
  for (const char* key :
       {"kube-system/kube-dns:dns/udp", "kube-system/kube-dns:dns-tcp/tcp"}) {
    const auto& sp = snap.ports.at(key);
    ASSERT_EQ(sp.endpoints.size(), 1u) << key;
    EXPECT_EQ(sp.endpoints[0], (Endpoint{"10.42.0.1", 1053, "n1", true}));
  }
  // Other ports of that Service keep their slices.
  EXPECT_EQ(Ips(snap.ports.at("kube-system/kube-dns:metrics/tcp")),
            std::vector<std::string>{"10.42.0.77"});

  // No local DNS address: no redirect.
  opts.local_dns_address.clear();
  snap = BuildSnapshot(svcs, slices, opts);
  EXPECT_TRUE(snap.ports.at("kube-system/kube-dns:dns/udp").endpoints.empty());

  // Another clusterIP: no redirect either.
  opts.local_dns_address = "10.42.0.1";
  opts.cluster_dns = "10.43.0.99";
  snap = BuildSnapshot(svcs, slices, opts);
  EXPECT_TRUE(snap.ports.at("kube-system/kube-dns:dns/udp").endpoints.empty());
}

TEST(ProxyModelTest, SnapshotsCompareEqualWhenNothingChanged) {
  Objects svcs{Obj(Service("default", "web", WebSpec()))};
  Objects slices{
      Obj(Slice("default", "w", "web", HttpPorts(), {Ep("10.42.0.1")}))};
  EXPECT_EQ(BuildSnapshot(svcs, slices, {}), BuildSnapshot(svcs, slices, {}));
  Objects slices2{
      Obj(Slice("default", "w", "web", HttpPorts(), {Ep("10.42.0.2")}))};
  EXPECT_NE(BuildSnapshot(svcs, slices, {}), BuildSnapshot(svcs, slices2, {}));
}

}  // namespace
}  // namespace kite::proxy
