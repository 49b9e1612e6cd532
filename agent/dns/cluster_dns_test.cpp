#include "agent/dns/cluster_dns.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "agent/dns/fake_upstream.h"
#include "client/fake_client.h"

namespace kite::dns {
namespace {

using client::Json;
using namespace std::chrono_literals;

const client::ResourceRef kServices{"", "v1", "services", ""};
const client::ResourceRef kSlices{"discovery.k8s.io", "v1", "endpointslices",
                                  ""};

Message Query(const std::string& name, uint16_t type, uint16_t id = 42) {
  Message m;
  m.header.id = id;
  m.header.rd = true;
  m.questions.push_back({name, type, kClassIn});
  return m;
}

std::vector<std::string> Addresses(const Message& m) {
  std::vector<std::string> out;
  for (const Record& r : m.answers) {
    if (r.type == kTypeA || r.type == kTypeAaaa) out.push_back(AddressText(r));
  }
  std::sort(out.begin(), out.end());
  return out;
}

class ClusterDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Create(kServices, R"({"metadata":{"name":"web","namespace":"default"},
      "spec":{"clusterIP":"10.43.0.17","clusterIPs":["10.43.0.17","fd00:43::17"],
      "ports":[{"name":"http","port":80,"protocol":"TCP"},
               {"name":"dns","port":53,"protocol":"UDP"}]}})");
    Create(kServices, R"({"metadata":{"name":"db","namespace":"prod"},
      "spec":{"clusterIP":"None","ports":[{"name":"pg","port":5432}]}})");
    Create(kSlices, R"({"metadata":{"name":"db-abc","namespace":"prod",
      "labels":{"kubernetes.io/service-name":"db"}},"addressType":"IPv4",
      "ports":[{"name":"pg","port":5432,"protocol":"TCP"}],
      "endpoints":[
        {"addresses":["10.42.1.5"],"hostname":"db-0","conditions":{"ready":true}},
        {"addresses":["10.42.2.6"],"hostname":"db-1","conditions":{"ready":true}},
        {"addresses":["10.42.3.7"],"hostname":"db-2","conditions":{"ready":false}},
        {"addresses":["10.42.4.8"]}]})");
    Create(kServices, R"({"metadata":{"name":"ext","namespace":"default"},
      "spec":{"type":"ExternalName","externalName":"example.com."}})");
  }

  void Create(const client::ResourceRef& ref, const char* text) {
    ASSERT_TRUE(api_.Create(ref, Json::parse(text), {}).ok());
  }

  std::unique_ptr<ClusterDns> Make(std::vector<std::string> upstreams,
                                   ClusterDnsOptions o = {}) {
    o.upstreams = std::move(upstreams);
    if (o.upstreams.empty()) o.resolv_conf = "/nonexistent";
    auto d = std::make_unique<ClusterDns>(api_, o);
    EXPECT_TRUE(d->Start().ok());
    EXPECT_TRUE(d->WaitForSync(10s));
    return d;
  }

  client::FakeClient api_;
};

TEST_F(ClusterDnsTest, ServiceNameAnswersItsClusterIps) {
  auto dns = Make({});
  auto a = dns->ResolveLocal(Query("Web.Default.svc.cluster.local", kTypeA));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->header.rcode, kNoError);
  EXPECT_TRUE(a->header.aa);
  EXPECT_EQ(Addresses(*a), std::vector<std::string>{"10.43.0.17"});
  EXPECT_EQ(a->answers[0].name, "Web.Default.svc.cluster.local");
  EXPECT_EQ(a->answers[0].ttl, 5u);
  auto aaaa =
      dns->ResolveLocal(Query("web.default.svc.cluster.local.", kTypeAaaa));
  ASSERT_TRUE(aaaa);
  EXPECT_EQ(Addresses(*aaaa), std::vector<std::string>{"fd00:43::17"});
  // It goes through the codec intact.
  auto wire = Serialize(*a, kMaxUdpSize);
  ASSERT_TRUE(wire.ok());
  auto back = Parse(*wire);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(Addresses(*back), std::vector<std::string>{"10.43.0.17"});
}

TEST_F(ClusterDnsTest, HeadlessServiceAnswersReadyEndpointsAndHostnames) {
  auto dns = Make({});
  auto a = dns->ResolveLocal(Query("db.prod.svc.cluster.local", kTypeA));
  ASSERT_TRUE(a);
  // db-2 is not ready; the endpoint without hostname is (no condition).
  EXPECT_EQ(Addresses(*a),
            (std::vector<std::string>{"10.42.1.5", "10.42.2.6", "10.42.4.8"}));
  auto host =
      dns->ResolveLocal(Query("db-1.db.prod.svc.cluster.local", kTypeA));
  ASSERT_TRUE(host);
  EXPECT_EQ(Addresses(*host), std::vector<std::string>{"10.42.2.6"});
  auto dashed =
      dns->ResolveLocal(Query("10-42-4-8.db.prod.svc.cluster.local", kTypeA));
  ASSERT_TRUE(dashed);
  EXPECT_EQ(Addresses(*dashed), std::vector<std::string>{"10.42.4.8"});
  auto unready =
      dns->ResolveLocal(Query("db-2.db.prod.svc.cluster.local", kTypeA));
  ASSERT_TRUE(unready);
  EXPECT_EQ(unready->header.rcode, kNxDomain);
  // No AAAA for an IPv4-only headless service: NOERROR, empty, with SOA.
  auto none = dns->ResolveLocal(Query("db.prod.svc.cluster.local", kTypeAaaa));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->header.rcode, kNoError);
  EXPECT_TRUE(none->answers.empty());
  ASSERT_EQ(none->authority.size(), 1u);
  EXPECT_EQ(none->authority[0].type, kTypeSoa);
}

TEST_F(ClusterDnsTest, ExternalNameIsACname) {
  auto dns = Make({});
  auto r = dns->ResolveLocal(Query("ext.default.svc.cluster.local", kTypeA));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->answers.size(), 1u);
  EXPECT_EQ(r->answers[0].type, kTypeCname);
  EXPECT_EQ(r->answers[0].target, "example.com");
}

TEST_F(ClusterDnsTest, SrvForNamedPorts) {
  auto dns = Make({});
  auto r = dns->ResolveLocal(
      Query("_http._tcp.web.default.svc.cluster.local", kTypeSrv));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->answers.size(), 1u);
  EXPECT_EQ(r->answers[0].srv.port, 80);
  EXPECT_EQ(r->answers[0].srv.target, "web.default.svc.cluster.local");
  EXPECT_FALSE(r->additional.empty());
  auto udp = dns->ResolveLocal(
      Query("_dns._udp.web.default.svc.cluster.local", kTypeSrv));
  ASSERT_TRUE(udp);
  ASSERT_EQ(udp->answers.size(), 1u);
  EXPECT_EQ(udp->answers[0].srv.port, 53);
  // Wrong protocol: no such name.
  auto wrong = dns->ResolveLocal(
      Query("_http._udp.web.default.svc.cluster.local", kTypeSrv));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->header.rcode, kNxDomain);
  // Headless: one SRV per ready endpoint, targets by hostname.
  auto h =
      dns->ResolveLocal(Query("_pg._tcp.db.prod.svc.cluster.local", kTypeSrv));
  ASSERT_TRUE(h);
  ASSERT_EQ(h->answers.size(), 3u);
  std::vector<std::string> targets;
  for (const Record& rec : h->answers) {
    EXPECT_EQ(rec.srv.port, 5432);
    targets.push_back(rec.srv.target);
  }
  std::sort(targets.begin(), targets.end());
  EXPECT_EQ(targets,
            (std::vector<std::string>{"10-42-4-8.db.prod.svc.cluster.local",
                                      "db-0.db.prod.svc.cluster.local",
                                      "db-1.db.prod.svc.cluster.local"}));
  EXPECT_EQ(h->additional.size(), 3u);
}

TEST_F(ClusterDnsTest, PtrForClusterIpsAndEndpoints) {
  auto dns = Make({});
  auto svc = dns->ResolveLocal(Query("17.0.43.10.in-addr.arpa", kTypePtr));
  ASSERT_TRUE(svc);
  ASSERT_EQ(svc->answers.size(), 1u);
  EXPECT_EQ(svc->answers[0].target, "web.default.svc.cluster.local");
  auto ep = dns->ResolveLocal(Query("5.1.42.10.in-addr.arpa", kTypePtr));
  ASSERT_TRUE(ep);
  ASSERT_EQ(ep->answers.size(), 1u);
  EXPECT_EQ(ep->answers[0].target, "db-0.db.prod.svc.cluster.local");
  // fd00:43::17 reversed.
  std::string v6 =
      "7.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
      "3.4.0.0.0.0.d.f.ip6.arpa";
  auto six = dns->ResolveLocal(Query(v6, kTypePtr));
  ASSERT_TRUE(six);
  ASSERT_EQ(six->answers.size(), 1u);
  EXPECT_EQ(six->answers[0].target, "web.default.svc.cluster.local");
  // An address nobody has is the upstreams' business.
  EXPECT_FALSE(dns->ResolveLocal(Query("1.2.0.192.in-addr.arpa", kTypePtr)));
}

TEST_F(ClusterDnsTest, UnknownClusterNamesAreNxdomainWithSoa) {
  auto dns = Make({});
  for (const char* name :
       {"nope.default.svc.cluster.local", "a.b.c.d.e.f.svc.cluster.local",
        "x.cluster.local", "_x._tcp.nope.default.svc.cluster.local"}) {
    auto r = dns->ResolveLocal(Query(name, kTypeA));
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->header.rcode, kNxDomain) << name;
    ASSERT_EQ(r->authority.size(), 1u) << name;
    EXPECT_EQ(r->authority[0].type, kTypeSoa);
    EXPECT_EQ(r->authority[0].soa.minimum, 5u);
  }
  // Pod names carry their address.
  auto pod =
      dns->ResolveLocal(Query("10-42-0-9.default.pod.cluster.local", kTypeA));
  ASSERT_TRUE(pod);
  EXPECT_EQ(Addresses(*pod), std::vector<std::string>{"10.42.0.9"});
  // A service created later is seen (the informer is live).
  ASSERT_TRUE(api_.Create(kServices, Json::parse(R"({"metadata":{"name":"late",
      "namespace":"default"},"spec":{"clusterIP":"10.43.0.99"}})"),
                          {})
                  .ok());
  std::optional<Message> late;
  for (int i = 0; i < 200; ++i) {
    late = dns->ResolveLocal(Query("late.default.svc.cluster.local", kTypeA));
    if (late && !late->answers.empty()) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(late);
  EXPECT_EQ(Addresses(*late), std::vector<std::string>{"10.43.0.99"});
}

TEST_F(ClusterDnsTest, BadQueriesAreRefusedLocally) {
  auto dns = Make({});
  Message two = Query("a.example", kTypeA);
  two.questions.push_back(two.questions[0]);
  auto r = dns->ResolveLocal(two);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header.rcode, kFormErr);
  Message update = Query("a.example", kTypeA);
  update.header.opcode = 5;
  r = dns->ResolveLocal(update);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header.rcode, kNotImp);
}

TEST_F(ClusterDnsTest, OtherNamesAreForwardedAndCached) {
  FakeUpstream up;
  auto dns = Make({up.address()});
  EXPECT_FALSE(dns->ResolveLocal(Query("www.example.org", kTypeA)));
  Message r = dns->Resolve(Query("www.example.org", kTypeA, 777));
  EXPECT_EQ(r.header.id, 777);
  EXPECT_EQ(r.header.rcode, kNoError);
  EXPECT_EQ(Addresses(r), std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ(up.queries(), 1);
  // Cached: the second answer needs no upstream, carries the new id.
  auto again = dns->ResolveLocal(Query("WWW.example.org", kTypeA, 778));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->header.id, 778);
  EXPECT_EQ(again->questions[0].name, "WWW.example.org");
  EXPECT_EQ(Addresses(*again), std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ(up.queries(), 1);
  Message nx = dns->Resolve(Query("nx.example", kTypeA));
  EXPECT_EQ(nx.header.rcode, kNxDomain);
}

TEST_F(ClusterDnsTest, OfflineUpstreamsGiveServfailWithinTheBudget) {
  FakeUpstream silent(/*silent=*/true);
  FakeUpstream silent2(/*silent=*/true);
  auto dns = Make({silent.address(), silent2.address()});
  auto start = std::chrono::steady_clock::now();
  Message r = dns->Resolve(Query("www.example.org", kTypeA));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.header.rcode, kServFail);
  EXPECT_LE(took, 2500ms);  // budget 2 s, plus scheduling slack
  EXPECT_GE(silent.queries() + silent2.queries(), 1);
  // No upstream at all: SERVFAIL at once.
  auto none = Make({});
  EXPECT_EQ(none->Resolve(Query("www.example.org", kTypeA)).header.rcode,
            kServFail);
}

TEST(ClusterDnsResolvConf, ReadsNameservers) {
  auto ns = ClusterDns::ParseResolvConf(
      "# comment\nsearch example.com\nnameserver 10.0.0.2\n"
      "nameserver fd00::53\nnameserver fe80::1%eth0\noptions ndots:5\n");
  EXPECT_EQ(ns, (std::vector<std::string>{"10.0.0.2", "[fd00::53]"}));
}

}  // namespace
}  // namespace kite::dns
