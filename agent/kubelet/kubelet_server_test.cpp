#include "agent/kubelet/kubelet_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "agent/cri/fake_runtime.h"
#include "agent/kubelet/spdy.h"
#include "agent/kubelet/websocket.h"
#include "tls/pki.h"
#include "tls/tls_client.h"

namespace kite::kubelet {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kite-kubelet-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::string cmd = "rm -rf " + path_;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A stand-in for containerd's stream server: answers one request with 101
// and then echoes every byte back; records the request line.
class EchoStreamServer {
 public:
  EchoStreamServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
        0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(listen_fd_, 4);
    thread_ = std::thread([this] { Serve(); });
  }
  ~EchoStreamServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  std::string head() {
    std::lock_guard<std::mutex> lock(mu_);
    return head_;
  }

 private:
  void Serve() {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    std::string buf;
    char tmp[4096];
    while (buf.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) break;
      buf.append(tmp, static_cast<size_t>(n));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      head_ = buf.substr(0, buf.find("\r\n\r\n") + 4);
    }
    std::string answer =
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
        "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io"
        "\r\n\r\n";
    (void)!::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    for (;;) {
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) break;
      (void)!::send(fd, tmp, static_cast<size_t>(n), MSG_NOSIGNAL);
    }
    ::close(fd);
  }

  int listen_fd_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string head_;
};

// A stand-in for containerd's SPDY remotecommand v4: accepts one upgrade,
// replies to every stream, echoes stdin to stdout and, at stdin's end,
// writes a Status on the error stream and closes.
class SpdyEchoServer {
 public:
  SpdyEchoServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
        0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(listen_fd_, 4);
    thread_ = std::thread([this] { Serve(); });
  }
  ~SpdyEchoServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  std::string head() {
    std::lock_guard<std::mutex> lock(mu_);
    return head_;
  }
  std::vector<std::string> stream_types() {
    std::lock_guard<std::mutex> lock(mu_);
    return types_;
  }

 private:
  void Serve() {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    std::string buf;
    char tmp[4096];
    while (buf.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) break;
      buf.append(tmp, static_cast<size_t>(n));
    }
    size_t end = buf.find("\r\n\r\n") + 4;
    {
      std::lock_guard<std::mutex> lock(mu_);
      head_ = buf.substr(0, end);
    }
    std::string answer =
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
        "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io"
        "\r\n\r\n";
    (void)!::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    spdy::Framer framer;
    framer.Feed(std::string_view(buf).substr(end));
    std::map<std::string, uint32_t> ids;
    bool done = false;
    while (!done) {
      auto f = framer.Next();
      if (!f.ok()) break;
      if (!f->has_value()) {
        ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) break;
        framer.Feed(std::string_view(tmp, static_cast<size_t>(n)));
        continue;
      }
      spdy::Frame& fr = **f;
      std::string out;
      if (fr.type == spdy::FrameType::kSynStream) {
        std::string type = spdy::HeaderValue(fr.headers, "streamtype");
        {
          std::lock_guard<std::mutex> lock(mu_);
          types_.push_back(type);
        }
        ids[type] = fr.stream_id;
        out = framer.SynReply(fr.stream_id, 0, {});
      } else if (fr.type == spdy::FrameType::kData &&
                 fr.stream_id == ids["stdin"]) {
        if (!fr.data.empty()) out = spdy::Framer::Data(ids["stdout"], fr.data);
        if (fr.flags & spdy::kFlagFin) {
          out += spdy::Framer::Data(ids["stdout"], "", spdy::kFlagFin);
          out += spdy::Framer::Data(
              ids["error"],
              R"({"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}})",
              spdy::kFlagFin);
          done = true;
        }
      }
      if (!out.empty()) (void)!::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    }
    ::close(fd);
  }

  int listen_fd_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string head_;
  std::vector<std::string> types_;
};

class KubeletServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    random_ = std::move(tls::Random::Create()).value();
    auto now = RealClock().Now();
    server_ca_ = *tls::CreateCa(*random_, "test-server-ca", now);
    client_ca_ = *tls::CreateCa(*random_, "test-client-ca", now);
    tls::CertSpec serving;
    serving.common_name = "system:node:n1";
    serving.ip_addresses = {"127.0.0.1"};
    serving.server_auth = true;
    serving.not_before = now - std::chrono::hours(1);
    serving.not_after = now + std::chrono::hours(24);
    serving_ = *tls::IssueCert(*random_, server_ca_, serving);
    apiserver_ = Client("kube-apiserver-kubelet-client", client_ca_);

    KubeletServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.cert_pem = serving_.cert_pem;
    o.key_pem = serving_.key_pem;
    o.client_ca_pem = client_ca_.cert_pem;
    o.follow_check_interval = milliseconds(100);
    server_ = std::make_unique<KubeletServer>(o, runtime_, RealClock());
    ASSERT_TRUE(server_->Start().ok());
    runtime_.AddImage("registry.local/busybox:latest");
  }

  tls::CertAndKey Client(const std::string& cn, const tls::CertAndKey& ca) {
    auto now = RealClock().Now();
    tls::CertSpec spec;
    spec.common_name = cn;
    spec.organizations = {"system:masters"};
    spec.client_auth = true;
    spec.not_before = now - std::chrono::hours(1);
    spec.not_after = now + std::chrono::hours(24);
    return *tls::IssueCert(*random_, ca, spec);
  }

  std::unique_ptr<tls::TlsClient> Connect(
      const tls::CertAndKey* cert = nullptr) {
    tls::TlsClientOptions o;
    o.host = "127.0.0.1";
    o.port = server_->port();
    o.ca_pem = server_ca_.cert_pem;
    if (cert != nullptr) {
      o.cert_pem = cert->cert_pem;
      o.key_pem = cert->key_pem;
    }
    o.io_timeout = milliseconds(10000);
    return std::move(tls::TlsClient::Create(o)).value();
  }

  tls::HttpResponse Get(const std::string& path, const tls::CertAndKey* cert) {
    auto c = Connect(cert);
    auto r = c->Request("GET", path);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : tls::HttpResponse{};
  }

  // A running pod ns/name with one container `c` (attempt `attempt`).
  std::string RunPod(const std::string& ns, const std::string& name) {
    cri::PodSandboxConfig sc;
    sc.metadata = {name, "uid-" + name, ns, 0};
    sc.log_directory = dir_.path() + "/" + ns + "_" + name;
    sc.labels = {{"io.kubernetes.pod.name", name},
                 {"io.kubernetes.pod.namespace", ns},
                 {"io.kubernetes.pod.uid", "uid-" + name}};
    sandbox_configs_[name] = sc;
    return *runtime_.RunPodSandbox(sc);
  }
  std::string StartContainer(const std::string& sandbox, const std::string& pod,
                             uint32_t attempt) {
    const cri::PodSandboxConfig& sc = sandbox_configs_[pod];
    cri::ContainerConfig cc;
    cc.name = "c";
    cc.attempt = attempt;
    cc.image = "registry.local/busybox:latest";
    cc.labels = sc.labels;
    cc.labels["io.kubernetes.container.name"] = "c";
    cc.log_path = "c/" + std::to_string(attempt) + ".log";
    std::string id = *runtime_.CreateContainer(sandbox, cc, sc);
    EXPECT_TRUE(runtime_.StartContainer(id).ok());
    return id;
  }

  static json StatusOf(const tls::HttpResponse& r) {
    return json::parse(r.body, nullptr, false);
  }

  TempDir dir_;
  cri::FakeRuntime runtime_;
  std::unique_ptr<tls::Random> random_;
  tls::CertAndKey server_ca_, client_ca_, serving_, apiserver_;
  std::unique_ptr<KubeletServer> server_;
  std::map<std::string, cri::PodSandboxConfig> sandbox_configs_;
};

TEST_F(KubeletServerTest, OnlyTheApiServerIdentityIsServed) {
  std::string sb = RunPod("default", "web");
  std::string c = StartContainer(sb, "web", 0);
  ASSERT_TRUE(runtime_.AppendLog(c, "stdout", "hello").ok());
  const std::string path = "/containerLogs/default/web/c";

  // Health is public.
  tls::HttpResponse health = Get("/healthz", nullptr);
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");

  tls::HttpResponse none = Get(path, nullptr);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(StatusOf(none)["kind"], "Status");
  EXPECT_EQ(StatusOf(none)["reason"], "Unauthorized");

  // Right name, wrong CA.
  tls::CertAndKey forged = Client("kube-apiserver-kubelet-client", server_ca_);
  tls::HttpResponse bad = Get(path, &forged);
  EXPECT_EQ(bad.status, 401);

  // A good certificate of someone else, system:masters or not.
  tls::CertAndKey admin = Client("system:admin", client_ca_);
  tls::HttpResponse other = Get(path, &admin);
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(StatusOf(other)["reason"], "Forbidden");
  EXPECT_NE(other.body.find("system:admin"), std::string::npos);

  tls::HttpResponse ok = Get(path, &apiserver_);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "hello\n");
}

TEST_F(KubeletServerTest, LogsTailTimestampsPreviousAndErrors) {
  std::string sb = RunPod("ns1", "job");
  std::string first = StartContainer(sb, "job", 0);
  ASSERT_TRUE(runtime_.AppendLog(first, "stdout", "first run").ok());
  ASSERT_TRUE(runtime_.AppendLog(first, "stderr", "it failed").ok());
  ASSERT_TRUE(runtime_.ExitContainer(first, 1).ok());
  std::string second = StartContainer(sb, "job", 1);
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(
        runtime_.AppendLog(second, "stdout", "line " + std::to_string(i)).ok());

  const std::string base = "/containerLogs/ns1/job/c";
  EXPECT_EQ(Get(base, &apiserver_).body, "line 1\nline 2\nline 3\n");
  EXPECT_EQ(Get(base + "?tailLines=2", &apiserver_).body, "line 2\nline 3\n");
  EXPECT_EQ(Get(base + "?previous=true", &apiserver_).body,
            "first run\nit failed\n");
  EXPECT_EQ(Get(base + "?limitBytes=9", &apiserver_).body, "line 1\nli");
  std::string stamped =
      Get(base + "?timestamps=true&tailLines=1", &apiserver_).body;
  // "<RFC3339Nano> line 3\n"
  ASSERT_GT(stamped.size(), 8u);
  EXPECT_EQ(stamped.substr(stamped.size() - 8), " line 3\n");
  EXPECT_EQ(stamped[4], '-');
  EXPECT_EQ(stamped[10], 'T');

  tls::HttpResponse bad = Get(base + "?tailLines=-3", &apiserver_);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(StatusOf(bad)["reason"], "BadRequest");

  tls::HttpResponse missing = Get("/containerLogs/ns1/nope/c", &apiserver_);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(StatusOf(missing)["kind"], "Status");

  std::string lone = RunPod("ns1", "fresh");
  StartContainer(lone, "fresh", 0);
  tls::HttpResponse no_prev =
      Get("/containerLogs/ns1/fresh/c?previous=true", &apiserver_);
  EXPECT_EQ(no_prev.status, 400);
  EXPECT_EQ(StatusOf(no_prev)["message"],
            "previous terminated container \"c\" in pod \"fresh\" not found");
}

TEST_F(KubeletServerTest, FollowStreamsLinesUntilTheContainerExits) {
  std::string sb = RunPod("default", "tail");
  std::string c = StartContainer(sb, "tail", 0);
  ASSERT_TRUE(runtime_.AppendLog(c, "stdout", "before").ok());
  auto client = Connect(&apiserver_);
  std::vector<std::string> lines;
  std::atomic<int> seen{0};
  std::thread writer([&] {
    // Each line is written only after the previous one came through, so
    // the stream must deliver lines as they are written.
    for (int i = 1; i <= 3; ++i) {
      while (seen.load() < i) std::this_thread::sleep_for(milliseconds(5));
      ASSERT_TRUE(
          runtime_.AppendLog(c, "stdout", "live " + std::to_string(i)).ok());
    }
    while (seen.load() < 4) std::this_thread::sleep_for(milliseconds(5));
    ASSERT_TRUE(runtime_.ExitContainer(c, 0).ok());
  });
  auto r = client->Stream("GET", "/containerLogs/default/tail/c?follow=true",
                          {}, "", [&](std::string_view line) {
                            lines.emplace_back(line);
                            ++seen;
                            return true;
                          });
  writer.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(lines,
            (std::vector<std::string>{"before", "live 1", "live 2", "live 3"}));
}

TEST_F(KubeletServerTest, ExecIsRelayedToTheRuntimeStreamServer) {
  EchoStreamServer stream_server;
  runtime_.SetStreamingBase("http://127.0.0.1:" +
                            std::to_string(stream_server.port()));
  std::string sb = RunPod("default", "sh");
  StartContainer(sb, "sh", 0);
  auto client = Connect(&apiserver_);
  tls::HttpHeaders h = {{"Connection", "Upgrade"},
                        {"Upgrade", "SPDY/3.1"},
                        {"X-Stream-Protocol-Version", "v4.channel.k8s.io"}};
  auto r = client->OpenStream(
      "POST",
      "/exec/default/sh/"
      "c?command=echo&command=hi&stdin=true&stdout=true&tty=true",
      h);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 101);
  EXPECT_EQ(r->Header("X-Stream-Protocol-Version"), "v4.channel.k8s.io");
  // Bytes go through unchanged, both ways.
  std::string payload("\x80\x03\x00\x01 binary \x00 bytes", 20);
  ASSERT_TRUE(client->WriteAll(payload, milliseconds(5000)));
  std::string echoed;
  char buf[256];
  while (echoed.size() < payload.size()) {
    ssize_t n = client->ReadSome(buf, sizeof(buf), milliseconds(5000));
    ASSERT_GT(n, 0);
    echoed.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(echoed, payload);
  client->Close();

  std::string head = stream_server.head();
  EXPECT_EQ(head.rfind("POST /exec/", 0), 0u) << head;
  EXPECT_NE(head.find("Upgrade: SPDY/3.1"), std::string::npos) << head;
  EXPECT_EQ(head.find("X-Kite-Client-CN"), std::string::npos) << head;
  std::string token = head.substr(11, head.find(' ', 11) - 11);
  auto req = runtime_.ExecRequestFor(token);
  ASSERT_TRUE(req.has_value()) << token;
  EXPECT_EQ(req->cmd, (std::vector<std::string>{"echo", "hi"}));
  EXPECT_TRUE(req->use_stdin);
  EXPECT_TRUE(req->tty);
  EXPECT_FALSE(req->use_stderr);

  // Nothing running: a Status, no upgrade.
  auto none =
      Connect(&apiserver_)
          ->Request("POST", "/exec/default/nope/c?command=true&stdout=true", h);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->status, 404);
  EXPECT_EQ(StatusOf(*none)["kind"], "Status");
}

// kubectl's WebSocket exec (v5 channels) served by the kubelet itself and
// bridged to the runtime's SPDY remotecommand v4.
TEST_F(KubeletServerTest, WebSocketExecIsBridgedToSpdy) {
  SpdyEchoServer spdy_server;
  runtime_.SetStreamingBase("http://127.0.0.1:" +
                            std::to_string(spdy_server.port()));
  std::string sb = RunPod("default", "cat");
  StartContainer(sb, "cat", 0);
  auto client = Connect(&apiserver_);
  tls::HttpHeaders h = {{"Connection", "Upgrade"},
                        {"Upgrade", "websocket"},
                        {"Sec-WebSocket-Version", "13"},
                        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                        {"Sec-WebSocket-Protocol", "v5.channel.k8s.io"}};
  auto r = client->OpenStream(
      "GET",
      "/exec/default/cat/c?command=cat&stdin=true&stdout=true&stderr=true", h);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->status, 101);
  EXPECT_EQ(r->Header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(r->Header("Sec-WebSocket-Protocol"), "v5.channel.k8s.io");
  const uint8_t mask[4] = {9, 8, 7, 6};
  std::string out =
      ws::EncodeFrame(ws::Opcode::kBinary, std::string("\0hello", 6), true,
                      mask) +
      ws::EncodeFrame(ws::Opcode::kPing, "are you there", true, mask) +
      ws::EncodeFrame(ws::Opcode::kBinary, std::string("\xff\0", 2), true,
                      mask);
  ASSERT_TRUE(client->WriteAll(out, milliseconds(5000)));
  ws::Decoder dec(false);
  std::vector<ws::Message> got;
  char buf[4096];
  while (got.empty() || got.back().opcode != ws::Opcode::kClose) {
    ssize_t n = client->ReadSome(buf, sizeof(buf), milliseconds(10000));
    ASSERT_GT(n, 0);
    dec.Feed(std::string_view(buf, static_cast<size_t>(n)));
    for (;;) {
      auto m = dec.Next();
      ASSERT_TRUE(m.ok());
      if (!m->has_value()) break;
      got.push_back(std::move(**m));
    }
  }
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].opcode, ws::Opcode::kPong);
  EXPECT_EQ(got[0].payload, "are you there");
  EXPECT_EQ(got[1].payload, std::string("\x01hello", 6));
  ASSERT_FALSE(got[2].payload.empty());
  EXPECT_EQ(got[2].payload[0], 3);
  json status = json::parse(got[2].payload.substr(1));
  EXPECT_EQ(status["reason"], "NonZeroExitCode");
  EXPECT_EQ(status["details"]["causes"][0]["message"], "3");
  EXPECT_EQ(got[3].payload, ws::ClosePayload(ws::kCloseNormal));

  EXPECT_EQ(spdy_server.head().rfind("POST /exec/", 0), 0u);
  EXPECT_NE(
      spdy_server.head().find("X-Stream-Protocol-Version: v4.channel.k8s.io"),
      std::string::npos);
  EXPECT_EQ(spdy_server.stream_types(),
            (std::vector<std::string>{"error", "stdin", "stdout", "stderr"}));
}

}  // namespace
}  // namespace kite::kubelet
