#include "agent/agent.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "agent/cri/fake_runtime.h"
#include "client/fake_client.h"

namespace kite::agent {
namespace {

const client::ResourceRef kNodes{"", "v1", "nodes", ""};

// The proxy's backend in these tests: never the host's netfilter.
class NullBackend : public proxy::Backend {
 public:
  const char* name() const override { return "null"; }
  Status Sync(const proxy::ProxySnapshot&) override { return Status::Ok(); }
  Status Cleanup() override { return Status::Ok(); }
};

class AgentTest : public ::testing::Test {
 protected:
  ~AgentTest() override {
    std::string cmd = "rm -rf " + dir_;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
  AgentTest() {
    char tmpl[] = "/tmp/kite-agent-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    kubelet::HostFacts f;
    f.cpus = 2;
    f.architecture = "amd64";
    f.ipv4_addresses = {"10.1.2.3"};
    host_.SetFacts(f);
    kubelet::HostUsage u;
    u.memory_total_bytes = 1LL << 33;
    u.memory_available_bytes = 1LL << 32;
    u.fs_capacity_bytes = 1LL << 36;
    u.fs_available_bytes = 1LL << 35;
    host_.SetUsage(u);
  }

  AgentHooks Hooks() {
    AgentHooks h;
    h.api = &api_;
    h.host = &host_;
    h.cgroup_root = "";  // never the host's cgroups in a unit test
    h.new_proxy_backend = [this](proxy::ProxyMode mode,
                                 const proxy::BackendOptions& o)
        -> StatusOr<std::unique_ptr<proxy::Backend>> {
      proxy_modes_.push_back(mode);
      proxy_options_.push_back(o);
      return std::unique_ptr<proxy::Backend>(std::make_unique<NullBackend>());
    };
    h.connect_runtime = [this](const std::string& endpoint)
        -> StatusOr<std::unique_ptr<cri::Runtime>> {
      endpoints_.push_back(endpoint);
      if (endpoint == "unix:///nowhere.sock")
        return UnavailableError("connect: no such file or directory");
      auto r = std::make_unique<cri::FakeRuntime>();
      runtime_ = r.get();
      return std::unique_ptr<cri::Runtime>(std::move(r));
    };
    return h;
  }

  AgentConfig Config() {
    AgentConfig c;
    c.data_dir = dir_;
    c.kubelet_port = 0;
    c.node_name = "n1";
    c.container_runtime_endpoint = "unix:///run/test.sock";
    c.node_labels = {{"node-role.kubernetes.io/control-plane", "true"}};
    return c;
  }

  std::string dir_;
  client::FakeClient api_;
  kubelet::FakeHostInfo host_;
  cri::FakeRuntime* runtime_ = nullptr;
  std::vector<std::string> endpoints_;
  std::vector<proxy::ProxyMode> proxy_modes_;
  std::vector<proxy::BackendOptions> proxy_options_;
};

TEST_F(AgentTest, StartsTheNodeOnTheGivenRuntimeAndStops) {
  Agent a(Config(), Hooks());
  ASSERT_TRUE(a.Start().ok());
  EXPECT_EQ(endpoints_, std::vector<std::string>{"unix:///run/test.sock"});
  EXPECT_EQ(a.runtime_endpoint(), "unix:///run/test.sock");
  ASSERT_NE(a.node_status(), nullptr);
  for (int i = 0; i < 500 && !a.node_status()->registered(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto node = api_.Get(kNodes, "n1", {});
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(
      (*node)["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
      "true");
  EXPECT_EQ((*node)["status"]["addresses"][0]["address"], "10.1.2.3");
  ASSERT_NE(a.pod_syncer(), nullptr);
  for (int i = 0; i < 500 && !a.pod_syncer()->HasSynced(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(a.pod_syncer()->HasSynced());
  // No serving certificate in this data dir: the kubelet API stays off and
  // the rest runs.
  EXPECT_EQ(a.kubelet_port(), 0);
  a.Stop();
  EXPECT_EQ(a.pod_syncer(), nullptr);
  EXPECT_EQ(a.node_status(), nullptr);
  a.Stop();
}

TEST_F(AgentTest, ServesClusterDnsUnlessDisabled) {
  ASSERT_TRUE(api_.Create({"", "v1", "services", ""},
                          client::Json::parse(R"({"metadata":{"name":"web",
      "namespace":"default"},"spec":{"clusterIP":"10.43.0.5"}})"),
                          {})
                  .ok());
  AgentConfig c = Config();
  c.dns_bind_address = "127.0.0.1";
  c.dns_port = 0;
  c.dns_upstreams = {"127.0.0.1:9"};
  Agent a(c, Hooks());
  ASSERT_TRUE(a.Start().ok());
  ASSERT_GT(a.dns_port(), 0);
  // One UDP question to the agent's DNS.
  dns::Message q;
  q.header.id = 5;
  q.questions.push_back({"web.default.svc.cluster.local", dns::kTypeA, 1});
  std::string wire = *dns::Serialize(q);
  std::vector<std::string> got;
  for (int i = 0; i < 100 && got.empty(); ++i) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(a.dns_port());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sendto(fd, wire.data(), wire.size(), 0, reinterpret_cast<sockaddr*>(&to),
           sizeof to);
    pollfd p{fd, POLLIN, 0};
    char buf[512];
    if (poll(&p, 1, 2000) == 1) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      auto m = dns::Parse(std::string_view(buf, n > 0 ? n : 0));
      if (m.ok()) {
        for (const auto& r : m->answers) got.push_back(dns::AddressText(r));
      }
    }
    close(fd);
    if (got.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(got, std::vector<std::string>{"10.43.0.5"});
  a.Stop();
  EXPECT_EQ(a.dns_port(), 0);
  c.disable_dns = true;
  Agent off(c, Hooks());
  ASSERT_TRUE(off.Start().ok());
  EXPECT_EQ(off.dns_port(), 0);
}

TEST_F(AgentTest, RunsTheServiceProxyWithClusterDnsRoutedToItsDnsServer) {
  client::ResourceRef services{"", "v1", "services", ""};
  ASSERT_TRUE(api_.Create(services, client::Json::parse(R"({"metadata":{
      "name":"kube-dns","namespace":"kube-system"},"spec":{"clusterIP":
      "10.43.0.10","ports":[{"name":"dns","port":53,"protocol":"UDP"}]}})"),
                          {})
                  .ok());
  AgentConfig c = Config();
  c.dns_bind_address = "127.0.0.1";
  c.dns_port = 0;
  c.dns_upstreams = {"127.0.0.1:9"};
  c.proxy_mode = "userspace";
  Agent a(c, Hooks());
  ASSERT_TRUE(a.Start().ok());
  ASSERT_EQ(proxy_modes_,
            std::vector<proxy::ProxyMode>{proxy::ProxyMode::kUserspace});
  EXPECT_EQ(proxy_options_[0].node_name, "n1");
  EXPECT_EQ(proxy_options_[0].node_ips, std::vector<std::string>{"10.1.2.3"});
  EXPECT_EQ(proxy_options_[0].cluster_cidr, "10.42.0.0/16");
  ASSERT_NE(a.service_proxy(), nullptr);
  EXPECT_STREQ(a.service_proxy()->backend_name(), "null");
  for (int i = 0; i < 500 && a.service_proxy()->sync_count() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto synced = a.service_proxy()->last_synced();
  ASSERT_EQ(synced.ports.count("kube-system/kube-dns:dns/udp"), 1u);
  const auto& dns = synced.ports.at("kube-system/kube-dns:dns/udp");
  ASSERT_EQ(dns.endpoints.size(), 1u);
  EXPECT_EQ(dns.endpoints[0].ip, "127.0.0.1");
  EXPECT_EQ(dns.endpoints[0].port, a.dns_port());
  a.Stop();
  EXPECT_EQ(a.service_proxy(), nullptr);

  // `--disable kube-proxy`: no proxy.
  c.disable_proxy = true;
  Agent off(c, Hooks());
  ASSERT_TRUE(off.Start().ok());
  EXPECT_EQ(off.service_proxy(), nullptr);
  EXPECT_EQ(proxy_modes_.size(), 1u);
  off.Stop();

  // A mode that does not exist: the agent does not start.
  c.disable_proxy = false;
  c.proxy_mode = "ipvs";
  Agent bad(c, Hooks());
  Status st = bad.Start();
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("ipvs"), std::string::npos) << st.message();
}

TEST_F(AgentTest, AnUnreachableRuntimeIsAnErrorNamingIt) {
  AgentConfig c = Config();
  c.container_runtime_endpoint = "unix:///nowhere.sock";
  Agent a(c, Hooks());
  Status st = a.Start();
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("unix:///nowhere.sock"), std::string::npos)
      << st.message();
  EXPECT_EQ(a.node_status(), nullptr);
}

TEST_F(AgentTest, NeedsNodeNameAndCredentials) {
  AgentConfig c = Config();
  c.node_name = "";
  EXPECT_EQ(Agent(c, Hooks()).Start().code(), Code::kInvalidArgument);
  // Without an API hook the credentials come from the data dir.
  AgentHooks h = Hooks();
  h.api = nullptr;
  c = Config();
  c.data_dir = "/nonexistent-kite-data";
  Status st = Agent(c, h).Start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(
      st.message().find("/nonexistent-kite-data/agent/kubelet.kubeconfig"),
      std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace kite::agent
