// ServiceProxy over a FakeClient with a recording fake Backend.
#include "agent/proxy/service_proxy.h"

#include <gtest/gtest.h>

#include <functional>

#include "client/fake_client.h"

namespace kite::proxy {
namespace {

using namespace std::chrono_literals;

const client::ResourceRef kServices{"", "v1", "services", "default"};
const client::ResourceRef kSlices{"discovery.k8s.io", "v1", "endpointslices",
                                  "default"};

// Records what it was asked to do; fails the next `fail_next` Syncs.
class RecordingBackend : public Backend {
 public:
  struct State {
    std::mutex mu;
    std::vector<ProxySnapshot> synced;
    int cleanups = 0;
    int fail_next = 0;
    int failures = 0;
  };
  explicit RecordingBackend(std::shared_ptr<State> state)
      : state_(std::move(state)) {}
  const char* name() const override { return "recording"; }
  Status Sync(const ProxySnapshot& snapshot) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->fail_next > 0) {
      state_->fail_next--;
      state_->failures++;
      return InternalError("injected");
    }
    state_->synced.push_back(snapshot);
    return Status::Ok();
  }
  Status Cleanup() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->cleanups++;
    return Status::Ok();
  }

 private:
  std::shared_ptr<State> state_;
};

// Polls `cond` until it holds or 10 s pass (a deadline against hangs, not
// a measurement).
bool Eventually(const std::function<bool()>& cond) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return cond();
}

Json Service(const std::string& name, const std::string& ip) {
  return Json{
      {"metadata", {{"namespace", "default"}, {"name", name}}},
      {"spec",
       {{"clusterIP", ip}, {"ports", {{{"name", "http"}, {"port", 80}}}}}}};
}

Json Slice(const std::string& name, const std::string& service,
           std::vector<std::string> ips) {
  Json eps = Json::array();
  for (const auto& ip : ips) eps.push_back({{"addresses", {ip}}});
  return Json{{"metadata",
               {{"namespace", "default"},
                {"name", name},
                {"labels", {{"kubernetes.io/service-name", service}}}}},
              {"addressType", "IPv4"},
              {"ports", {{{"name", "http"}, {"port", 8080}}}},
              {"endpoints", eps}};
}

class ServiceProxyTest : public ::testing::Test {
 protected:
  ServiceProxyOptions Options() {
    ServiceProxyOptions o;
    o.debounce = 1ms;
    o.min_retry = 1ms;
    o.max_retry = 4ms;
    return o;
  }
  std::unique_ptr<ServiceProxy> NewProxy(ServiceProxyOptions o,
                                         client::Informer* services = nullptr) {
    return std::make_unique<ServiceProxy>(
        fake_, std::make_unique<RecordingBackend>(backend_), o, services);
  }
  // The endpoints' IPs of default/<svc>:http/tcp in the last snapshot
  // synced; "absent" when the port is not there.
  std::string LastEndpoints(const std::string& svc) {
    std::lock_guard<std::mutex> lock(backend_->mu);
    if (backend_->synced.empty()) return "nothing synced";
    const auto& ports = backend_->synced.back().ports;
    auto it = ports.find("default/" + svc + ":http/tcp");
    if (it == ports.end()) return "absent";
    std::string out;
    for (const auto& e : it->second.endpoints) out += e.ip + " ";
    return out;
  }
  int Synced() {
    std::lock_guard<std::mutex> lock(backend_->mu);
    return static_cast<int>(backend_->synced.size());
  }

  client::FakeClient fake_;
  std::shared_ptr<RecordingBackend::State> backend_ =
      std::make_shared<RecordingBackend::State>();
};

TEST_F(ServiceProxyTest, SyncsServicesAndFollowsEndpointChanges) {
  ASSERT_TRUE(fake_.Create(kServices, Service("web", "10.43.0.20"), {}).ok());
  ASSERT_TRUE(
      fake_.Create(kSlices, Slice("web-1", "web", {"10.42.0.5"}), {}).ok());
  auto proxy = NewProxy(Options());
  ASSERT_TRUE(proxy->Start().ok());
  EXPECT_STREQ(proxy->backend_name(), "recording");
  ASSERT_TRUE(Eventually([&] { return LastEndpoints("web") == "10.42.0.5 "; }))
      << LastEndpoints("web");

  ASSERT_TRUE(fake_
                  .Update(kSlices,
                          Slice("web-1", "web", {"10.42.0.5", "10.42.0.6"}), {})
                  .ok());
  EXPECT_TRUE(Eventually([&] {
    return LastEndpoints("web") == "10.42.0.5 10.42.0.6 ";
  })) << LastEndpoints("web");

  ASSERT_TRUE(fake_.Create(kServices, Service("api", "10.43.0.21"), {}).ok());
  EXPECT_TRUE(Eventually([&] { return LastEndpoints("api") == ""; }));

  ASSERT_TRUE(fake_.Delete(kServices, "web", {}).ok());
  EXPECT_TRUE(Eventually([&] { return LastEndpoints("web") == "absent"; }));
  EXPECT_EQ(proxy->last_synced().ports.count("default/api:http/tcp"), 1u);
  EXPECT_EQ(proxy->sync_error_count(), 0);
  proxy->Stop();
  // Default: the rules stay.
  EXPECT_EQ(backend_->cleanups, 0);
}

TEST_F(ServiceProxyTest, UnchangedSnapshotIsNotSyncedAgain) {
  ASSERT_TRUE(fake_.Create(kServices, Service("web", "10.43.0.20"), {}).ok());
  ASSERT_TRUE(
      fake_.Create(kSlices, Slice("web-1", "web", {"10.42.0.5"}), {}).ok());
  auto proxy = NewProxy(Options());
  ASSERT_TRUE(proxy->Start().ok());
  ASSERT_TRUE(Eventually([&] { return Synced() == 1; }));
  int builds = proxy->build_count();
  // A change the proxy does not serve: an annotation.
  Json slice = Slice("web-1", "web", {"10.42.0.5"});
  slice["metadata"]["annotations"] = {{"note", "x"}};
  ASSERT_TRUE(fake_.Update(kSlices, slice, {}).ok());
  ASSERT_TRUE(Eventually([&] { return proxy->build_count() > builds; }));
  EXPECT_EQ(Synced(), 1);
  EXPECT_EQ(proxy->sync_count(), 1);
}

TEST_F(ServiceProxyTest, FailedSyncIsRetried) {
  ASSERT_TRUE(fake_.Create(kServices, Service("web", "10.43.0.20"), {}).ok());
  {
    std::lock_guard<std::mutex> lock(backend_->mu);
    backend_->fail_next = 3;
  }
  auto proxy = NewProxy(Options());
  ASSERT_TRUE(proxy->Start().ok());
  // No further event: the retries alone get the snapshot through.
  ASSERT_TRUE(Eventually([&] { return LastEndpoints("web") == ""; }))
      << LastEndpoints("web");
  EXPECT_EQ(proxy->sync_error_count(), 3);
  EXPECT_EQ(proxy->sync_count(), 1);
}

TEST_F(ServiceProxyTest, NothingSyncedBeforeTheCachesAreComplete) {
  ASSERT_TRUE(fake_.Create(kServices, Service("web", "10.43.0.20"), {}).ok());
  // The slices cannot be listed for now.
  fake_.InjectError("list", "endpointslices", UnavailableError("down"), 1000);
  auto proxy = NewProxy(Options());
  ASSERT_TRUE(proxy->Start().ok());
  // Give a proxy that did not wait for the slices ample time to sync the
  // Service without endpoints (it would take about a millisecond).
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(proxy->build_count(), 0);
  EXPECT_EQ(Synced(), 0);
  fake_.ClearInjectedErrors();
  ASSERT_TRUE(
      fake_.Create(kSlices, Slice("web-1", "web", {"10.42.0.5"}), {}).ok());
  EXPECT_TRUE(Eventually([&] { return LastEndpoints("web") == "10.42.0.5 "; }))
      << LastEndpoints("web");
}

TEST_F(ServiceProxyTest, SharedServiceInformerAndCleanupOnStop) {
  client::InformerOptions so;
  so.ref = {"", "v1", "services", ""};
  client::Informer services(fake_, so);
  ASSERT_TRUE(services.Start().ok());
  ServiceProxyOptions o = Options();
  o.cleanup_on_stop = true;
  auto proxy = NewProxy(o, &services);
  ASSERT_TRUE(proxy->Start().ok());
  EXPECT_FALSE(proxy->Start().ok());
  ASSERT_TRUE(fake_.Create(kServices, Service("web", "10.43.0.20"), {}).ok());
  ASSERT_TRUE(Eventually([&] { return LastEndpoints("web") == ""; }));
  // Only the slices are listed by the proxy; Services come from the
  // shared informer (one list).
  int service_lists = 0;
  for (const auto& a : fake_.Actions())
    if (a.verb == "list" && a.ref.resource == "services") service_lists++;
  EXPECT_EQ(service_lists, 1);
  proxy->Stop();
  proxy->Stop();
  EXPECT_EQ(backend_->cleanups, 1);
  proxy.reset();
  // The shared informer outlives the proxy; its events are harmless now.
  ASSERT_TRUE(fake_.Create(kServices, Service("api", "10.43.0.21"), {}).ok());
  ASSERT_TRUE(Eventually([&] { return services.Size() == 2; }));
  services.Stop();
}

}  // namespace
}  // namespace kite::proxy
