// TlsServer and TlsClient over real sockets on 127.0.0.1, and the real
// kubectl against a TlsServer.
#include <gtest/gtest.h>
#include <mbedtls/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "tls/cluster_pki.h"
#include "tls/mbed_util.h"
#include "tls/pki.h"
#include "tls/tls_client.h"
#include "tls/tls_server.h"
#include "tls/tls_session.h"

namespace kite::tls {
namespace {

using namespace std::chrono_literals;

// A bare TLS client on TlsSession: for what TlsClient deliberately does not
// do (pipelining, upgrades, looking at the server's certificate).
class RawClient {
 public:
  RawClient(const std::string& ca_pem, const CertAndKey* client) {
    mbedtls_ssl_config_init(&conf_);
    random_ = std::move(Random::Create()).value();
    EXPECT_TRUE(ca_.Parse(ca_pem, "ca").ok());
    EXPECT_EQ(mbedtls_ssl_config_defaults(&conf_, MBEDTLS_SSL_IS_CLIENT,
                                          MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT),
              0);
    mbedtls_ssl_conf_rng(&conf_, Random::Generate, random_.get());
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&conf_, ca_.get(), nullptr);
    if (client != nullptr) {
      EXPECT_TRUE(cert_.Parse(client->cert_pem, "cert").ok());
      EXPECT_TRUE(key_.ParsePrivate(client->key_pem, "key").ok());
      EXPECT_EQ(mbedtls_ssl_conf_own_cert(&conf_, cert_.get(), key_.get()), 0);
    }
  }
  ~RawClient() {
    session_.reset();
    if (fd_ >= 0) ::close(fd_);
    mbedtls_ssl_config_free(&conf_);
  }

  Status Connect(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return UnavailableError("connect");
    }
    session_ = std::make_unique<TlsSession>(fd_, -1);
    KITE_RETURN_IF_ERROR(session_->Init(&conf_, "localhost"));
    return session_->Handshake(5000ms);
  }
  bool Send(std::string_view s) {
    return session_->WriteAll(s.data(), s.size(), 5000ms);
  }
  // Reads until `needle` has been seen `times` times or the peer closes.
  std::string ReadUntil(const std::string& needle, int times) {
    std::string got;
    for (;;) {
      int seen = 0;
      for (size_t p = got.find(needle); p != std::string::npos;
           p = got.find(needle, p + 1)) {
        ++seen;
      }
      if (seen >= times) return got;
      char buf[4096];
      ssize_t n = session_->Read(buf, sizeof(buf), 5000ms);
      if (n <= 0) return got;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  // Everything up to the peer's close.
  std::string ReadAll() { return ReadUntil("\x01never\x02", 1); }
  TlsSession& session() { return *session_; }

 private:
  mbedtls_ssl_config conf_;
  std::unique_ptr<Random> random_;
  internal::Crt ca_, cert_;
  internal::Pk key_;
  int fd_ = -1;
  std::unique_ptr<TlsSession> session_;
};

class TlsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    random_ = std::move(Random::Create()).value();
    ClusterPkiOptions o;
    o.dir = "/pki";
    o.hostname = "test-host";
    auto pki = ClusterPki::Load(env_, RealClock(), *random_, o);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    pki_ = std::make_unique<ClusterPki>(std::move(pki).value());
  }

  void TearDown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      release_ = true;
    }
    cv_.notify_all();
    if (server_) server_->Stop();
  }

  TlsServerOptions ServerOptions() {
    TlsServerOptions o;
    o.cert_pem = pki_->serving().cert_pem;
    o.key_pem = pki_->serving().key_pem;
    o.client_ca_pem = pki_->client_ca().cert_pem;
    return o;
  }

  void StartServer(const TlsServerOptions& options) {
    auto s = TlsServer::Create(options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    server_->Get("/healthz",
                 [](const httplib::Request&, httplib::Response& res) {
                   res.set_content("ok", "text/plain");
                 });
    server_->Get("/version", [](const httplib::Request&,
                                httplib::Response& res) {
      res.set_content(
          R"({"major":"1","minor":"32","gitVersion":"v1.32.0","gitCommit":"0","gitTreeState":"clean","buildDate":"2025-01-01T00:00:00Z","goVersion":"go1.23","compiler":"gc","platform":"linux/amd64"})",
          "application/json");
    });
    server_->Get(
        "/whoami", [this](const httplib::Request& req, httplib::Response& res) {
          ++requests_;
          ClientIdentity id = ClientIdentityOf(req);
          std::string o;
          for (const auto& g : id.organizations)
            o += (o.empty() ? "" : ",") + g;
          res.set_content((id.authenticated ? "user=" + id.common_name
                                            : std::string("anonymous")) +
                              " groups=" + o + " error=" + id.cert_error,
                          "text/plain");
        });
    server_->Post("/echo",
                  [](const httplib::Request& req, httplib::Response& res) {
                    res.set_content(req.body, "application/octet-stream");
                  });
    // A watch-like response: a first line at once, then nothing until the
    // test releases it (or the client or the server goes away).
    server_->Get("/watch", [this](const httplib::Request&,
                                  httplib::Response& res) {
      auto first = std::make_shared<bool>(true);
      res.set_chunked_content_provider(
          "application/json", [this, first](size_t, httplib::DataSink& sink) {
            if (*first) {
              *first = false;
              ++watches_open_;
              std::string line = "{\"type\":\"ADDED\"}\n";
              return sink.write(line.data(), line.size());
            }
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait_for(lock, 50ms, [this] { return release_; });
            if (release_) {
              lock.unlock();
              std::string line = "{\"type\":\"BYE\"}\n";
              sink.write(line.data(), line.size());
              sink.done();
              return true;
            }
            return sink.is_writable();
          });
    });
    // An HTTP upgrade to a line echo protocol.
    server_->Get("/upgrade", [](const httplib::Request& req,
                                httplib::Response& res) {
      HijackedConnection* conn = TlsServer::Hijack(req);
      if (conn == nullptr) {
        res.status = 500;
        return;
      }
      conn->Write(
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "
          "echo\r\n\r\n",
          1000ms);
      char buf[1024];
      int timeouts = 0;
      for (;;) {
        // Short reads: a timeout leaves the connection usable.
        ssize_t n = conn->Read(buf, sizeof(buf), 100ms);
        if (n < 0 && conn->timed_out() && ++timeouts < 100) continue;
        if (n <= 0) break;
        if (!conn->Write(std::string_view(buf, static_cast<size_t>(n)), 1000ms))
          break;
      }
      res.set_content("must never be sent", "text/plain");
    });
    auto port = server_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
  }

  std::unique_ptr<TlsClient> Client(const CertAndKey* cert,
                                    const std::string& server_name = "",
                                    const std::string& ca = "") {
    TlsClientOptions o;
    o.host = "127.0.0.1";
    o.port = port_;
    o.ca_pem = ca.empty() ? pki_->server_ca().cert_pem : ca;
    o.server_name = server_name;
    if (cert != nullptr) {
      o.cert_pem = cert->cert_pem;
      o.key_pem = cert->key_pem;
    }
    o.io_timeout = 10s;
    auto c = TlsClient::Create(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }

  CertAndKey ClientCert(const CertAndKey& ca, const std::string& cn,
                        std::vector<std::string> groups,
                        bool client_auth = true) {
    CertSpec s;
    s.common_name = cn;
    s.organizations = std::move(groups);
    s.client_auth = client_auth;
    s.server_auth = !client_auth;
    s.not_before = RealClock().Now() - 1h;
    s.not_after = RealClock().Now() + 24h;
    auto c = IssueCert(*random_, ca, s);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return *c;
  }

  FakeEnv env_;
  std::unique_ptr<Random> random_;
  std::unique_ptr<ClusterPki> pki_;
  std::unique_ptr<TlsServer> server_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<int> watches_open_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool release_ = false;
};

TEST_F(TlsTransportTest, ClientCertificateIdentityReachesHandlers) {
  StartServer(ServerOptions());
  auto admin = Client(&pki_->admin());
  auto res = admin->Request("GET", "/whoami");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "user=system:admin groups=system:masters error=");

  CertAndKey dev = ClientCert(pki_->client_ca(), "jane",
                              {"dev", "ops", "system:authenticated"});
  auto jane = Client(&dev);
  res = jane->Request("GET", "/whoami");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body, "user=jane groups=dev,ops,system:authenticated error=");
}

TEST_F(TlsTransportTest, NoClientCertificateIsAnonymous) {
  StartServer(ServerOptions());
  auto anon = Client(nullptr);
  auto res = anon->Request("GET", "/whoami");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body, "anonymous groups= error=");
}

TEST_F(TlsTransportTest, IdentityHeadersFromTheClientAreErased) {
  StartServer(ServerOptions());
  auto anon = Client(nullptr);
  HttpHeaders spoof{{"X-Kite-Client-CN", "system:admin"},
                    {"x-kite-client-o", "system:masters"},
                    {"X-KITE-CLIENT-CERT-ERROR", "x"}};
  auto res = anon->Request("GET", "/whoami", spoof);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->body, "anonymous groups= error=");

  CertAndKey dev = ClientCert(pki_->client_ca(), "jane", {"dev"});
  auto jane = Client(&dev);
  res = jane->Request("GET", "/whoami", spoof);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->body, "user=jane groups=dev error=");
}

TEST_F(TlsTransportTest, UntrustedClientCertificatesFailTheHandshake) {
  StartServer(ServerOptions());
  auto other_ca = CreateCa(*random_, "other-ca", RealClock().Now());
  ASSERT_TRUE(other_ca.ok());
  CertAndKey forged = ClientCert(*other_ca, "system:admin", {"system:masters"});
  auto c = Client(&forged);
  Status st = c->Connect();
  EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
  std::printf("client with a certificate from another CA: %s\n",
              st.ToString().c_str());
  EXPECT_FALSE(c->Request("GET", "/whoami").ok());

  // Expired, from the right CA.
  CertSpec s;
  s.common_name = "old";
  s.client_auth = true;
  s.not_before = RealClock().Now() - 48h;
  s.not_after = RealClock().Now() - 24h;
  auto expired = IssueCert(*random_, pki_->client_ca(), s);
  ASSERT_TRUE(expired.ok());
  st = Client(&*expired)->Request("GET", "/whoami").status();
  EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();

  // Right CA, but made for serverAuth only.
  CertAndKey server_only =
      ClientCert(pki_->client_ca(), "sneaky", {}, /*client_auth=*/false);
  EXPECT_FALSE(Client(&server_only)->Request("GET", "/whoami").ok());

  // The serving certificate (server CA) is no client certificate either.
  EXPECT_FALSE(Client(&pki_->serving())->Request("GET", "/whoami").ok());

  EXPECT_EQ(requests_.load(), 0);
  // The server is unharmed.
  auto res = Client(&pki_->admin())->Request("GET", "/whoami");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->body, "user=system:admin groups=system:masters error=");
}

TEST_F(TlsTransportTest, LenientModeHandsTheCertificateErrorToHandlers) {
  TlsServerOptions o = ServerOptions();
  o.reject_invalid_client_certs = false;
  StartServer(o);
  auto other_ca = CreateCa(*random_, "other-ca", RealClock().Now());
  ASSERT_TRUE(other_ca.ok());
  CertAndKey forged = ClientCert(*other_ca, "system:admin", {"system:masters"});
  auto res = Client(&forged)->Request("GET", "/whoami");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(
      res->body.rfind("anonymous groups= error=client certificate refused", 0),
      0u)
      << res->body;
  EXPECT_NE(res->body.find("not correctly signed"), std::string::npos)
      << res->body;
}

TEST_F(TlsTransportTest, ClientVerifiesTheServer) {
  StartServer(ServerOptions());
  // Right CA, IP SAN 127.0.0.1 and DNS SAN localhost.
  EXPECT_TRUE(Client(nullptr)->Connect().ok());
  EXPECT_TRUE(Client(nullptr, "localhost")->Connect().ok());
  EXPECT_TRUE(Client(nullptr, "kubernetes.default.svc")->Connect().ok());
  // A name the certificate does not carry.
  Status st = Client(nullptr, "evil.example.com")->Connect();
  EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
  // An address it does not carry.
  st = Client(nullptr, "10.9.9.9")->Connect();
  EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
  // Another CA.
  auto other_ca = CreateCa(*random_, "other-ca", RealClock().Now());
  ASSERT_TRUE(other_ca.ok());
  st = Client(nullptr, "", other_ca->cert_pem)->Connect();
  EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
  // The client CA does not vouch for servers.
  st = Client(nullptr, "", pki_->client_ca().cert_pem)->Connect();
  EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
}

TEST_F(TlsTransportTest, InsecureClientSkipsVerification) {
  StartServer(ServerOptions());
  TlsClientOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.server_name = "not-in-the-certificate";
  o.insecure_skip_verify = true;
  auto c = TlsClient::Create(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto res = (*c)->Request("GET", "/healthz");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body, "ok");
}

TEST_F(TlsTransportTest, ClientSeesTheChainTheServerPresents) {
  // As kite server serves: its certificate, then the CA (what a joining
  // agent pins by hash).
  TlsServerOptions so = ServerOptions();
  so.cert_pem += pki_->server_ca().cert_pem;
  StartServer(so);
  TlsClientOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.insecure_skip_verify = true;
  auto c = TlsClient::Create(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->PeerCertificates().status().code(),
            Code::kFailedPrecondition);
  ASSERT_TRUE((*c)->Connect().ok());
  auto chain = (*c)->PeerCertificates();
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ(*CertSha256((*chain)[0]), *CertSha256(pki_->serving().cert_pem));
  EXPECT_EQ(*CertSha256((*chain)[1]), *CertSha256(pki_->server_ca().cert_pem));
  EXPECT_EQ((*chain)[1], pki_->server_ca().cert_pem);  // the same PEM text
  // A verifying client still accepts the longer chain.
  auto res = Client(nullptr)->Request("GET", "/healthz");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body, "ok");
}

TEST_F(TlsTransportTest, TwoHundredRequestsOnOneConnection) {
  StartServer(ServerOptions());
  auto c = Client(&pki_->admin());
  int ok = 0;
  for (int i = 0; i < 200; ++i) {
    std::string body = "request " + std::to_string(i);
    auto res = i % 2 == 0 ? c->Request("GET", "/whoami")
                          : c->Request("POST", "/echo", {}, body);
    ASSERT_TRUE(res.ok()) << i << ": " << res.status().ToString();
    ASSERT_EQ(res->status, 200);
    if (i % 2 == 1) {
      ASSERT_EQ(res->body, body);
    }
    ++ok;
  }
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(c->connects(), 1);
}

TEST_F(TlsTransportTest, PipelinedRequestsAllAnswered) {
  StartServer(ServerOptions());
  RawClient raw(pki_->server_ca().cert_pem, &pki_->admin());
  ASSERT_TRUE(raw.Connect(port_).ok());
  // Twenty requests in one write: they arrive in one or a few TLS records,
  // so most of them sit in mbedTLS's buffers, not in the socket.
  std::string batch;
  for (int i = 0; i < 20; ++i)
    batch += "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(raw.Send(batch));
  std::string got = raw.ReadUntil("\r\n\r\nok", 20);
  size_t answers = 0;
  for (size_t p = got.find("HTTP/1.1 200 OK"); p != std::string::npos;
       p = got.find("HTTP/1.1 200 OK", p + 1)) {
    ++answers;
  }
  EXPECT_EQ(answers, 20u) << got;
}

TEST_F(TlsTransportTest, FiftyWatchesDoNotStarveAGet) {
  StartServer(ServerOptions());
  constexpr int kWatches = 50;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> lines(kWatches);
  std::vector<Status> results(kWatches);
  std::vector<std::unique_ptr<TlsClient>> clients;
  for (int i = 0; i < kWatches; ++i) clients.push_back(Client(&pki_->admin()));
  for (int i = 0; i < kWatches; ++i) {
    threads.emplace_back([&, i] {
      auto res = clients[i]->Stream("GET", "/watch", {}, "",
                                    [&, i](std::string_view line) {
                                      lines[i].emplace_back(line);
                                      return true;
                                    });
      results[i] = res.ok() ? (res->status == 200 ? Status::Ok()
                                                  : InternalError("status"))
                            : res.status();
    });
  }
  auto release_and_join = [&] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      release_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  };
  // 50 handshakes on 2 shared cores (slower still under sanitizers).
  for (int i = 0; i < 6000 && watches_open_.load() < kWatches; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  if (watches_open_.load() != kWatches) {
    release_and_join();
    FAIL() << "only " << watches_open_.load() << " watches opened";
  }
  EXPECT_GE(server_->active_connections(), static_cast<size_t>(kWatches));

  // A GET on a new connection while all watches are open. The client gives up
  // after 10 s; a starved server would keep it waiting until the watches end.
  auto start = std::chrono::steady_clock::now();
  auto res = Client(&pki_->admin())->Request("GET", "/healthz");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(res.ok()) << res.status().ToString();
  if (res.ok()) {
    EXPECT_EQ(res->body, "ok");
  }
  std::printf("GET with %d open watches took %.1f ms\n", kWatches,
              std::chrono::duration<double, std::milli>(took).count());
  release_and_join();
  for (int i = 0; i < kWatches; ++i) {
    EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].ToString();
    EXPECT_EQ(lines[i], (std::vector<std::string>{R"({"type":"ADDED"})",
                                                  R"({"type":"BYE"})"}))
        << i;
  }
}

TEST_F(TlsTransportTest, StreamStopsWhenTheCallbackSaysSo) {
  StartServer(ServerOptions());
  auto c = Client(&pki_->admin());
  int seen = 0;
  auto res = c->Stream("GET", "/watch", {}, "", [&](std::string_view) {
    ++seen;
    return false;
  });
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(seen, 1);
  EXPECT_FALSE(c->connected());
  // The next request opens a new connection.
  auto again = c->Request("GET", "/healthz");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(c->connects(), 2);
}

TEST_F(TlsTransportTest, CancelEndsAStreamFromAnotherThread) {
  StartServer(ServerOptions());
  auto c = Client(&pki_->admin());
  std::atomic<bool> got_first{false};
  Status result;
  std::thread t([&] {
    auto res = c->Stream("GET", "/watch", {}, "", [&](std::string_view) {
      got_first = true;
      return true;
    });
    result = res.status();
  });
  for (int i = 0; i < 6000 && !got_first; ++i)
    std::this_thread::sleep_for(10ms);
  c->Cancel();
  EXPECT_TRUE(got_first);
  t.join();
  EXPECT_EQ(result.code(), Code::kCancelled) << result.ToString();
  EXPECT_EQ(c->Request("GET", "/healthz").status().code(), Code::kCancelled);
}

TEST_F(TlsTransportTest, StopEndsOpenWatchesAndIdleConnections) {
  StartServer(ServerOptions());
  auto idle = Client(&pki_->admin());
  ASSERT_TRUE(idle->Request("GET", "/healthz").ok());  // now idle in keep-alive
  auto watcher = Client(&pki_->admin());
  std::atomic<bool> got_first{false};
  std::thread t([&] {
    auto res = watcher->Stream("GET", "/watch", {}, "", [&](std::string_view) {
      got_first = true;
      return true;
    });
    (void)res;
  });
  for (int i = 0; i < 6000 && !got_first; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(got_first);
  auto start = std::chrono::steady_clock::now();
  server_
      ->Stop();  // release_ is still false: the watch would never end by itself
  auto took = std::chrono::steady_clock::now() - start;
  t.join();
  EXPECT_EQ(server_->active_connections(), 0u);
  std::printf("Stop with an open watch and an idle connection took %.1f ms\n",
              std::chrono::duration<double, std::milli>(took).count());
  EXPECT_FALSE(idle->Request("GET", "/healthz").ok());
}

TEST_F(TlsTransportTest, HijackedConnectionEchoes) {
  StartServer(ServerOptions());
  RawClient raw(pki_->server_ca().cert_pem, &pki_->admin());
  ASSERT_TRUE(raw.Connect(port_).ok());
  ASSERT_TRUE(
      raw.Send("GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
               "Upgrade: echo\r\n\r\n"));
  std::string head = raw.ReadUntil("\r\n\r\n", 1);
  EXPECT_EQ(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << head;
  ASSERT_TRUE(raw.Send("ping"));
  EXPECT_EQ(raw.ReadUntil("ping", 1), "ping");
  std::this_thread::sleep_for(350ms);  // the handler's reads time out meanwhile
  ASSERT_TRUE(raw.Send("pong pong"));
  EXPECT_EQ(raw.ReadUntil("pong pong", 1), "pong pong");
  // Closing our side ends the handler; httplib's own response must not
  // follow: the server just closes.
  ::shutdown(raw.session().fd(), SHUT_WR);
  std::string rest = raw.ReadAll();
  EXPECT_EQ(rest.find("must never be sent"), std::string::npos) << rest;
  EXPECT_EQ(rest.find("HTTP/1.1"), std::string::npos) << rest;
}

TEST_F(TlsTransportTest, HijackOutsideAHandlerIsRefused) {
  httplib::Request req;
  EXPECT_EQ(TlsServer::Hijack(req), nullptr);
}

TEST_F(TlsTransportTest, UpdateCredentialsServesTheNewCertificate) {
  StartServer(ServerOptions());
  auto serial_seen = [&]() -> std::string {
    RawClient raw(pki_->server_ca().cert_pem, nullptr);
    if (!raw.Connect(port_).ok()) return "connect failed";
    const mbedtls_x509_crt* peer =
        mbedtls_ssl_get_peer_cert(raw.session().ssl());
    if (peer == nullptr) return "no cert";
    char buf[128];
    mbedtls_x509_serial_gets(buf, sizeof(buf), &peer->serial);
    return buf;
  };
  std::string before = serial_seen();
  CertSpec s;
  s.common_name = "kube-apiserver";
  s.dns_names = {"localhost"};
  s.ip_addresses = {"127.0.0.1"};
  s.server_auth = true;
  s.not_before = RealClock().Now() - 1h;
  s.not_after = RealClock().Now() + 24h;
  auto fresh = IssueCert(*random_, pki_->server_ca(), s);
  ASSERT_TRUE(fresh.ok());
  TlsServerOptions o = ServerOptions();
  o.cert_pem = fresh->cert_pem;
  o.key_pem = fresh->key_pem;
  ASSERT_TRUE(server_->UpdateCredentials(o).ok());
  std::string after = serial_seen();
  EXPECT_NE(before, after);
  internal::Crt crt;
  ASSERT_TRUE(crt.Parse(fresh->cert_pem, "fresh").ok());
  char want[128];
  mbedtls_x509_serial_gets(want, sizeof(want), &crt.get()->serial);
  EXPECT_EQ(after, want);
}

TEST_F(TlsTransportTest, BadServerCredentialsAreRefused) {
  TlsServerOptions o = ServerOptions();
  o.key_pem = pki_->admin().key_pem;
  EXPECT_EQ(TlsServer::Create(o).status().code(), Code::kInvalidArgument);
  o = ServerOptions();
  o.client_ca_pem = "junk";
  EXPECT_EQ(TlsServer::Create(o).status().code(), Code::kInvalidArgument);
  TlsClientOptions c;
  c.host = "127.0.0.1";
  c.port = 1;
  EXPECT_EQ(TlsClient::Create(c).status().code(),
            Code::kInvalidArgument);  // no CA
}

TEST_F(TlsTransportTest, ASecondServerOnATakenPortIsRefused) {
  StartServer(ServerOptions());
  auto second = TlsServer::Create(ServerOptions());
  ASSERT_TRUE(second.ok());
  auto port = (*second)->Start("127.0.0.1", port_);
  EXPECT_FALSE(port.ok()) << "two servers bound 127.0.0.1:" << port_;
}

TEST_F(TlsTransportTest, ConnectionRefusedIsUnavailable) {
  StartServer(ServerOptions());
  int port = port_;
  server_->Stop();
  port_ = port;
  Status st = Client(nullptr)->Connect();
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
}

// The stock kubectl (a Go TLS client offering h2 and http/1.1, with a client
// certificate from a kubeconfig) against a TlsServer.
TEST_F(TlsTransportTest, RealKubectl) {
  if (access("/usr/bin/kubectl", X_OK) != 0)
    GTEST_SKIP() << "no /usr/bin/kubectl";
  StartServer(ServerOptions());
  char tmpl[] = "/tmp/kite-kubectl-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string kubeconfig = dir + "/kubeconfig";
  ASSERT_TRUE(WriteAdminKubeconfig(RealEnv(), kubeconfig,
                                   "https://127.0.0.1:" + std::to_string(port_),
                                   *pki_)
                  .ok());
  auto run = [&](const std::string& args) {
    std::string cmd = "timeout 60 /usr/bin/kubectl --kubeconfig " + kubeconfig +
                      " --cache-dir " + dir + "/cache " + args + " 2>&1";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return std::string("popen failed");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
  };
  EXPECT_EQ(run("get --raw /healthz"), "ok");
  EXPECT_EQ(run("get --raw /whoami"),
            "user=system:admin groups=system:masters error=");

  // kubectl pinned to another CA refuses the server.
  auto other_ca = CreateCa(*random_, "other-ca", RealClock().Now());
  ASSERT_TRUE(other_ca.ok());
  ASSERT_TRUE(WriteKubeconfig(RealEnv(), kubeconfig,
                              "https://127.0.0.1:" + std::to_string(port_),
                              other_ca->cert_pem, pki_->admin())
                  .ok());
  std::string out = run("get --raw /healthz");
  EXPECT_NE(out.find("certificate"), std::string::npos) << out;
  std::printf("kubectl pinned to another CA: %s\n", out.c_str());
  EXPECT_EQ(out.find("ok"), std::string::npos) << out;

  // A client certificate from another CA is refused by the server.
  CertAndKey forged = ClientCert(*other_ca, "system:admin", {"system:masters"});
  ASSERT_TRUE(WriteKubeconfig(RealEnv(), kubeconfig,
                              "https://127.0.0.1:" + std::to_string(port_),
                              pki_->server_ca().cert_pem, forged)
                  .ok());
  out = run("get --raw /whoami");
  EXPECT_EQ(out.find("user="), std::string::npos) << out;
  std::printf("kubectl with a client certificate from another CA: %s\n",
              out.c_str());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kite::tls
