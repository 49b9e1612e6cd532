#include "agent/dns/dns_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/dns/fake_upstream.h"
#include "client/fake_client.h"

namespace kite::dns {
namespace {

using client::Json;
using namespace std::chrono_literals;

sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// One UDP exchange; "" on timeout.
std::string AskUdp(int port, const std::string& wire) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a = Loopback(port);
  connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  send(fd, wire.data(), wire.size(), 0);
  pollfd p{fd, POLLIN, 0};
  std::string out;
  if (poll(&p, 1, 5000) == 1) {
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) out.assign(buf, n);
  }
  close(fd);
  return out;
}

bool ReadAll(int fd, char* p, size_t n) {
  while (n > 0) {
    pollfd pf{fd, POLLIN, 0};
    if (poll(&pf, 1, 5000) != 1) return false;
    ssize_t got = recv(fd, p, n, 0);
    if (got <= 0) return false;
    p += got;
    n -= got;
  }
  return true;
}

// Several queries over one TCP connection, sent at once (pipelined).
std::vector<Message> AskTcp(int port, const std::vector<Message>& queries) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Loopback(port);
  std::vector<Message> out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return out;
  }
  std::string all;
  for (const Message& q : queries) {
    std::string w = *Serialize(q);
    all.push_back(static_cast<char>(w.size() >> 8));
    all.push_back(static_cast<char>(w.size() & 0xFF));
    all += w;
  }
  send(fd, all.data(), all.size(), 0);
  for (size_t i = 0; i < queries.size(); ++i) {
    unsigned char len[2];
    if (!ReadAll(fd, reinterpret_cast<char*>(len), 2)) break;
    std::string body((len[0] << 8) | len[1], '\0');
    if (!ReadAll(fd, body.data(), body.size())) break;
    auto m = Parse(body);
    if (m.ok()) out.push_back(*m);
  }
  close(fd);
  return out;
}

Message Query(const std::string& name, uint16_t type, uint16_t id) {
  Message m;
  m.header.id = id;
  m.header.rd = true;
  m.questions.push_back({name, type, kClassIn});
  return m;
}

class DnsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Create({"", "v1", "services", ""},
                            Json::parse(R"({"metadata":{"name":"web",
        "namespace":"default"},"spec":{"clusterIP":"10.43.0.17"}})"),
                            {})
                    .ok());
    Json endpoints = Json::array();
    for (int i = 0; i < 100; ++i) {
      endpoints.push_back({{"addresses", {"10.42.0." + std::to_string(i + 1)}},
                           {"conditions", {{"ready", true}}}});
    }
    ASSERT_TRUE(
        api_.Create(
                {"discovery.k8s.io", "v1", "endpointslices", ""},
                Json{{"metadata",
                      {{"name", "big-1"},
                       {"namespace", "default"},
                       {"labels", {{"kubernetes.io/service-name", "big"}}}}},
                     {"addressType", "IPv4"},
                     {"endpoints", endpoints}},
                {})
            .ok());
    ASSERT_TRUE(api_.Create({"", "v1", "services", ""},
                            Json::parse(R"({"metadata":{"name":"big",
        "namespace":"default"},"spec":{"clusterIP":"None"}})"),
                            {})
                    .ok());
    ClusterDnsOptions o;
    o.upstreams = {upstream_.address()};
    resolver_ = std::make_unique<ClusterDns>(api_, o);
    ASSERT_TRUE(resolver_->Start().ok());
    ASSERT_TRUE(resolver_->WaitForSync(10s));
    server_ = std::make_unique<DnsServer>(
        *resolver_, DnsServerOptions{"127.0.0.1", 0, 4, 10000ms});
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }

  client::FakeClient api_;
  FakeUpstream upstream_;
  std::unique_ptr<ClusterDns> resolver_;
  std::unique_ptr<DnsServer> server_;
};

TEST_F(DnsServerTest, AnswersOverUdp) {
  std::string got =
      AskUdp(server_->port(),
             *Serialize(Query("web.default.svc.cluster.local", kTypeA, 91)));
  auto m = Parse(got);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->header.id, 91);
  ASSERT_EQ(m->answers.size(), 1u);
  EXPECT_EQ(AddressText(m->answers[0]), "10.43.0.17");
  // Forwarded on the worker pool.
  auto fwd = Parse(AskUdp(server_->port(),
                          *Serialize(Query("www.example.org", kTypeA, 92))));
  ASSERT_TRUE(fwd.ok());
  EXPECT_EQ(fwd->header.id, 92);
  ASSERT_EQ(fwd->answers.size(), 1u);
  EXPECT_EQ(AddressText(fwd->answers[0]), "192.0.2.1");
}

TEST_F(DnsServerTest, BigAnswersAreTruncatedOverUdpAndWholeOverTcp) {
  Message q = Query("big.default.svc.cluster.local", kTypeA, 93);
  auto udp = Parse(AskUdp(server_->port(), *Serialize(q)));
  ASSERT_TRUE(udp.ok());
  EXPECT_TRUE(udp->header.tc);
  EXPECT_LT(udp->answers.size(), 100u);
  // With EDNS0 (4096) everything fits.
  Message e = q;
  Record opt;
  opt.type = kTypeOpt;
  opt.klass = 4096;
  e.additional.push_back(opt);
  auto edns = Parse(AskUdp(server_->port(), *Serialize(e)));
  ASSERT_TRUE(edns.ok());
  EXPECT_FALSE(edns->header.tc);
  EXPECT_EQ(edns->answers.size(), 100u);
  EXPECT_TRUE(edns->EdnsUdpSize().has_value());
  // TCP: pipelined, every answer whole.
  auto tcp = AskTcp(server_->port(),
                    {q, Query("web.default.svc.cluster.local", kTypeA, 94),
                     Query("www.example.org", kTypeA, 95)});
  ASSERT_EQ(tcp.size(), 3u);
  std::map<int, size_t> answers;
  for (const Message& m : tcp) answers[m.header.id] = m.answers.size();
  EXPECT_EQ(answers[93], 100u);
  EXPECT_EQ(answers[94], 1u);
  EXPECT_EQ(answers[95], 1u);
}

TEST_F(DnsServerTest, MalformedQueriesGetFormerrOrNothing) {
  // A header with one question and no question bytes.
  std::string bad("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
  auto m = Parse(AskUdp(server_->port(), bad + "\x05"));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header.id, 0x1234);
  EXPECT_EQ(m->header.rcode, kFormErr);
  // Too short for a header: dropped, and the server still answers after.
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a = Loopback(server_->port());
  sendto(fd, "xy", 2, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  close(fd);
  auto ok = Parse(
      AskUdp(server_->port(),
             *Serialize(Query("web.default.svc.cluster.local", kTypeA, 96))));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->header.id, 96);
}

// Clients that send many queries over TCP and reset the connection
// without reading: the server's writes then fail with EPIPE, which must not
// raise SIGPIPE (kite does not ignore it process-wide; it would kill the
// process, here the test binary).
TEST_F(DnsServerTest, ClientsResettingMidAnswerLeaveTheServerServing) {
  std::string w =
      *Serialize(Query("big.default.svc.cluster.local", kTypeA, 98));
  std::string framed;
  for (int i = 0; i < 200; ++i) {
    framed.push_back(static_cast<char>(w.size() >> 8));
    framed.push_back(static_cast<char>(w.size() & 0xFF));
    framed += w;
  }
  for (int round = 0; round < 5; ++round) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a = Loopback(server_->port());
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    send(fd, framed.data(), framed.size(), MSG_NOSIGNAL);
    // Wait until answers arrive, then reset (linger 0) with most unread.
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(fd);
  }
  auto ok = Parse(
      AskUdp(server_->port(),
             *Serialize(Query("web.default.svc.cluster.local", kTypeA, 99))));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->header.id, 99);
}

TEST_F(DnsServerTest, StopsCleanlyWithOpenConnections) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Loopback(server_->port());
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  // One whole query first (so the connection is accepted), then half a
  // length prefix.
  std::string w =
      *Serialize(Query("web.default.svc.cluster.local", kTypeA, 97));
  std::string framed =
      std::string(1, '\0') + std::string(1, static_cast<char>(w.size())) + w;
  send(fd, framed.data(), framed.size(), 0);
  char len[2];
  ASSERT_TRUE(ReadAll(fd, len, 2));
  std::string body(static_cast<unsigned char>(len[1]), '\0');
  ASSERT_TRUE(ReadAll(fd, body.data(), body.size()));
  send(fd, "\x00", 1, 0);
  server_->Stop();
  char c;
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  EXPECT_EQ(recv(fd, &c, 1, 0), 0);  // closed by the server
  close(fd);
  server_->Stop();  // idempotent
  // The port is free again.
  DnsServer again(*resolver_, DnsServerOptions{"127.0.0.1", 0, 4, 10000ms});
  EXPECT_TRUE(again.Start().ok());
}

}  // namespace
}  // namespace kite::dns
