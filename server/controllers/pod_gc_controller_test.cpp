#include "server/controllers/pod_gc_controller.h"

#include <gtest/gtest.h>

#include <thread>

#include "api/object.h"
#include "client/fake_client.h"
#include "server/controllers/ttl_after_finished_controller.h"

namespace kite::controllers {
namespace {

using client::FakeClient;
using client::Json;
using client::ResourceRef;

const ResourceRef kPods{"", "v1", "pods", ""};
const ResourceRef kNodes{"", "v1", "nodes", ""};
const ResourceRef kJobs{"batch", "v1", "jobs", ""};

class PodGcControllerTest : public ::testing::Test {
 protected:
  void Run(int threshold) {
    PodGcControllerOptions o;
    o.terminated_threshold = threshold;
    o.clock = &clock_;
    gc_ = std::make_unique<PodGcController>(fake_, informers_, o);
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
  }
  void TearDown() override {
    if (gc_) gc_->Stop();
    informers_.Stop();
  }
  void Pod(const std::string& name, const std::string& node,
           const std::string& phase, bool finalizer = false) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", "demo"}}},
              {"spec", {{"nodeName", node}}},
              {"status", {{"phase", phase}}}};
    if (finalizer) p["metadata"]["finalizers"] = {"example.com/hold"};
    ASSERT_TRUE(fake_.Create(kPods.In("demo"), p, {}).ok());
    clock_.Advance(std::chrono::seconds(1));  // distinct creation times
  }
  bool Exists(const std::string& name) {
    return fake_.Get(kPods.In("demo"), name, {}).ok();
  }
  void WaitCached(size_t pods) {
    for (int i = 0; i < 2000 && informers_.For(kPods).Size() != pods; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
  std::unique_ptr<PodGcController> gc_;
};

TEST_F(PodGcControllerTest, OldestTerminatedPodsAboveTheThresholdGo) {
  ASSERT_TRUE(fake_.Create(kNodes, {{"metadata", {{"name", "n1"}}}}, {}).ok());
  Pod("done-1", "n1", "Succeeded");
  Pod("done-2", "n1", "Failed");
  Pod("done-3", "n1", "Succeeded");
  Pod("running", "n1", "Running");
  Run(2);
  WaitCached(4);
  auto n = gc_->Collect();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_FALSE(Exists("done-1"));
  EXPECT_TRUE(Exists("done-2"));
  EXPECT_TRUE(Exists("done-3"));
  EXPECT_TRUE(Exists("running"));
}

TEST_F(PodGcControllerTest, OrphanedAndUnscheduledTerminatingPodsGo) {
  ASSERT_TRUE(fake_.Create(kNodes, {{"metadata", {{"name", "n1"}}}}, {}).ok());
  Pod("on-n1", "n1", "Running");
  Pod("on-gone", "gone", "Running");
  Pod("pending", "", "Pending");
  Pod("pending-deleted", "", "Pending");
  Run(0);
  ASSERT_TRUE(fake_.Delete(kPods.In("demo"), "pending-deleted", {}).ok());
  WaitCached(3);
  // The fake removed it at once (no grace periods there); a server keeps
  // it Terminating: model that with a finalizer-free, deleting pod.
  Pod("stuck", "", "Pending", true);
  ASSERT_TRUE(fake_.Delete(kPods.In("demo"), "stuck", {}).ok());
  WaitCached(4);
  for (int i = 0; i < 2000; ++i) {
    auto p = informers_.For(kPods).Get("demo/stuck");
    if (p && api::Has(*p, {"metadata", "deletionTimestamp"})) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto n = gc_->Collect();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_FALSE(Exists("on-gone"));
  EXPECT_TRUE(Exists("on-n1"));
  EXPECT_TRUE(Exists("pending"));
  // Its delete went through (the finalizer keeps it in the fake).
  auto deletes = 0;
  for (const auto& a : fake_.Actions()) {
    if (a.verb == "delete" && a.name == "stuck") ++deletes;
  }
  EXPECT_EQ(deletes, 2);
}

class TtlAfterFinishedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TtlAfterFinishedControllerOptions o;
    o.clock = &clock_;
    tc_ = std::make_unique<TtlAfterFinishedController>(fake_, informers_, o);
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
  }
  void TearDown() override {
    tc_->Stop();
    informers_.Stop();
  }
  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
  std::unique_ptr<TtlAfterFinishedController> tc_;
};

TEST_F(TtlAfterFinishedTest, DeletesFinishedJobsWhenTheirTtlRunsOut) {
  std::string now = api::FormatTime(clock_.Now());
  auto job = [&](const char* name, bool finished) {
    Json j = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", {{"name", name}, {"namespace", "demo"}}},
              {"spec", {{"ttlSecondsAfterFinished", 60}}}};
    if (finished) {
      Json complete = {{"type", "Complete"}, {"status", "True"}};
      j["status"] = {{"completionTime", now},
                     {"conditions", Json::array({complete})}};
    }
    ASSERT_TRUE(fake_.Create(kJobs.In("demo"), j, {}).ok());
  };
  job("done", true);
  job("running", false);
  for (int i = 0; i < 2000 && informers_.For(kJobs).Size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(tc_->Sync("demo/done").ok());
  EXPECT_TRUE(fake_.Get(kJobs.In("demo"), "done", {}).ok());
  clock_.Advance(std::chrono::seconds(61));
  ASSERT_TRUE(tc_->Sync("demo/done").ok());
  ASSERT_TRUE(tc_->Sync("demo/running").ok());
  EXPECT_FALSE(fake_.Get(kJobs.In("demo"), "done", {}).ok());
  EXPECT_TRUE(fake_.Get(kJobs.In("demo"), "running", {}).ok());
  bool foreground = false;
  for (const auto& a : fake_.Actions()) {
    if (a.verb == "delete" && a.name == "done") {
      foreground = a.propagation == client::PropagationPolicy::kForeground;
    }
  }
  EXPECT_TRUE(foreground);
}

}  // namespace
}  // namespace kite::controllers
