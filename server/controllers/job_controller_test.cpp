#include "server/controllers/job_controller.h"

#include <gtest/gtest.h>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::controllers {
namespace {

using client::FakeClient;

class JobControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    JobControllerOptions o;
    o.clock = &clock_;
    jc_ = std::make_unique<JobController>(fake_, informers_, o);
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
  }
  void TearDown() override {
    jc_->Stop();
    informers_.Stop();
  }

  Json CreateJob(Json spec) {
    Json job = {{"apiVersion", "batch/v1"},
                {"kind", "Job"},
                {"metadata", {{"name", "pi"}, {"namespace", "demo"}}},
                {"spec", std::move(spec)}};
    job["spec"]["template"] = {
        {"metadata", {{"labels", {{"job-name", "pi"}}}}},
        {"spec",
         {{"restartPolicy", "Never"},
          {"containers", {{{"name", "pi"}, {"image", "perl"}}}}}}};
    auto r = fake_.Create(kJobsRef.In("demo"), job, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    WaitCached("demo/pi", [](const Json&) { return true; });
    return *r;
  }
  // Waits until the jobs cache holds a version of `key` that satisfies
  // `pred` (the controller reads its cache).
  void WaitCached(const std::string& key,
                  const std::function<bool(const Json&)>& pred) {
    for (int i = 0; i < 1000; ++i) {
      auto j = informers_.For(kJobsRef).Get(key);
      if (j != nullptr && pred(*j)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FAIL() << "cache never caught up for " << key;
  }
  void WaitPodsCached(size_t n) {
    for (int i = 0; i < 1000; ++i) {
      if (informers_.For(kPodsRef).ListNamespace("demo").size() == n) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FAIL() << "pod cache never held " << n;
  }
  std::vector<Json> Pods() {
    auto l = fake_.List(kPodsRef.In("demo"), {});
    return l.ok() ? (*l)["items"].get<std::vector<Json>>()
                  : std::vector<Json>();
  }
  void SetPhase(const Json& pod, const std::string& phase) {
    Json p = *fake_.Get(kPodsRef.In("demo"), api::Name(pod), {});
    p["status"]["phase"] = phase;
    client::UpdateOptions uo;
    uo.subresource = "status";
    ASSERT_TRUE(fake_.Update(kPodsRef.In("demo"), p, uo).ok());
  }
  Json Job() { return *fake_.Get(kJobsRef.In("demo"), "pi", {}); }
  // Syncs once the caches reflect the latest job status.
  void SyncFresh() {
    std::string rv = api::GetString(Job(), {"metadata", "resourceVersion"});
    WaitCached("demo/pi", [&](const Json& j) {
      return api::GetString(j, {"metadata", "resourceVersion"}) == rv;
    });
    ASSERT_TRUE(jc_->Sync("demo/pi").ok());
  }
  std::vector<std::string> Reasons() {
    std::vector<std::string> out;
    auto l = fake_.List(kEventsRef.In("demo"), {});
    for (const Json& e : (*l)["items"]) out.push_back(e["reason"]);
    return out;
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
  std::unique_ptr<JobController> jc_;
};

TEST_F(JobControllerTest, RunsParallelPodsUntilCompletions) {
  CreateJob({{"completions", 3}, {"parallelism", 2}});
  SyncFresh();
  std::vector<Json> pods = Pods();
  ASSERT_EQ(pods.size(), 2u);
  for (const Json& p : pods) {
    EXPECT_EQ(api::Name(p).rfind("pi-", 0), 0u) << api::Name(p);
    EXPECT_EQ(api::Name(p).size(), 8u);  // pi- + 5 random characters
    EXPECT_EQ(p["metadata"]["labels"]["job-name"], "pi");
    EXPECT_EQ(ControllerRef(p)->at("kind"), "Job");
  }
  Json j = Job();
  EXPECT_EQ(j["status"]["active"], 2);
  EXPECT_TRUE(j["status"].contains("startTime"));

  WaitPodsCached(2);
  SetPhase(pods[0], "Succeeded");
  SetPhase(pods[1], "Succeeded");
  for (int i = 0; i < 1000 && Pods().size() < 3u; ++i) {
    (void)jc_->Sync("demo/pi");  // may conflict while the cache catches up
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pods = Pods();
  ASSERT_EQ(pods.size(), 3u);  // one more for the third completion
  WaitPodsCached(3);
  for (const Json& p : pods) {
    if (api::GetString(p, {"status", "phase"}) != "Succeeded") {
      SetPhase(p, "Succeeded");
    }
  }
  for (int i = 0; i < 1000 && !IsJobFinished(Job()); ++i) {
    (void)jc_->Sync("demo/pi");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  j = Job();
  ASSERT_TRUE(IsJobFinished(j));
  EXPECT_EQ(api::GetString(*FindCondition(j, "Complete"), {"status"}), "True");
  EXPECT_EQ(j["status"]["succeeded"], 3);
  EXPECT_FALSE(j["status"].contains("active"));
  EXPECT_TRUE(j["status"].contains("completionTime"));
  std::vector<std::string> reasons = Reasons();
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "SuccessfulCreate"), 3);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "Completed"), 1);
}

TEST_F(JobControllerTest, FailsWhenBackoffLimitIsExceeded) {
  CreateJob({{"backoffLimit", 1}});
  for (int round = 0; round < 10; ++round) {
    SyncFresh();
    clock_.Advance(std::chrono::seconds(11));  // past the failure back-off
    SyncFresh();
    if (IsJobFinished(Job())) break;
    std::vector<Json> pods = Pods();
    WaitPodsCached(pods.size());
    for (const Json& p : pods) {
      if (api::GetString(p, {"status", "phase"}) != "Failed") {
        SetPhase(p, "Failed");
      }
    }
    // Wait until the cache saw the failures.
    for (int i = 0; i < 1000; ++i) {
      bool all = true;
      for (const auto& p : informers_.For(kPodsRef).ListNamespace("demo")) {
        if (api::GetString(*p, {"status", "phase"}) != "Failed") all = false;
      }
      if (all) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  Json j = Job();
  const Json* failed = FindCondition(j, "Failed");
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ((*failed)["status"], "True");
  EXPECT_EQ((*failed)["reason"], "BackoffLimitExceeded");
  EXPECT_EQ(j["status"]["failed"], 2);  // the first try and one retry
  EXPECT_EQ(Pods().size(), 2u);
  std::vector<std::string> reasons = Reasons();
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "BackoffLimitExceeded"),
            reasons.end());
}

TEST_F(JobControllerTest, ReplacesFailedPodsAfterADoublingBackOff) {
  CreateJob({{"backoffLimit", 6}});
  SyncFresh();
  ASSERT_EQ(Pods().size(), 1u);
  WaitPodsCached(1);
  SetPhase(Pods()[0], "Failed");
  auto all_failed_cached = [&] {
    for (int i = 0; i < 1000; ++i) {
      bool all = true;
      for (const auto& p : informers_.For(kPodsRef).ListNamespace("demo")) {
        if (api::GetString(*p, {"status", "phase"}) != "Failed") all = false;
      }
      if (all) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  all_failed_cached();
  SyncFresh();  // the failure is seen now: 10 s to wait
  EXPECT_EQ(Pods().size(), 1u);
  clock_.Advance(std::chrono::seconds(9));
  SyncFresh();
  EXPECT_EQ(Pods().size(), 1u);
  clock_.Advance(std::chrono::seconds(2));
  SyncFresh();
  ASSERT_EQ(Pods().size(), 2u);
  WaitPodsCached(2);
  for (const Json& p : Pods()) {
    if (api::GetString(p, {"status", "phase"}) != "Failed")
      SetPhase(p, "Failed");
  }
  all_failed_cached();
  SyncFresh();  // the second failure: 20 s
  clock_.Advance(std::chrono::seconds(15));
  SyncFresh();
  EXPECT_EQ(Pods().size(), 2u);
  clock_.Advance(std::chrono::seconds(6));
  SyncFresh();
  EXPECT_EQ(Pods().size(), 3u);
  EXPECT_EQ(Job()["status"]["failed"], 2);
}

TEST_F(JobControllerTest, ActiveDeadlineFailsTheJobAndDeletesItsPods) {
  CreateJob({{"activeDeadlineSeconds", 30}, {"parallelism", 2}});
  SyncFresh();
  ASSERT_EQ(Pods().size(), 2u);
  WaitPodsCached(2);
  clock_.Advance(std::chrono::seconds(31));
  SyncFresh();
  Json j = Job();
  ASSERT_NE(FindCondition(j, "Failed"), nullptr);
  EXPECT_EQ((*FindCondition(j, "Failed"))["reason"], "DeadlineExceeded");
  EXPECT_TRUE(Pods().empty());
}

TEST_F(JobControllerTest, SuspendDeletesActivePodsAndResumeRecreates) {
  CreateJob({{"parallelism", 2}, {"completions", 2}});
  SyncFresh();
  ASSERT_EQ(Pods().size(), 2u);
  WaitPodsCached(2);
  Json j = Job();
  j["spec"]["suspend"] = true;
  ASSERT_TRUE(fake_.Update(kJobsRef.In("demo"), j, {}).ok());
  SyncFresh();
  EXPECT_TRUE(Pods().empty());
  EXPECT_EQ((*FindCondition(Job(), "Suspended"))["status"], "True");
  WaitPodsCached(0);
  j = Job();
  j["spec"]["suspend"] = false;
  ASSERT_TRUE(fake_.Update(kJobsRef.In("demo"), j, {}).ok());
  SyncFresh();
  EXPECT_EQ(Pods().size(), 2u);
  EXPECT_EQ((*FindCondition(Job(), "Suspended"))["status"], "False");
}

TEST_F(JobControllerTest, WorkersCreatePodsFromInformerEvents) {
  ASSERT_TRUE(jc_->Start().ok());
  CreateJob({{"parallelism", 3}});
  for (int i = 0; i < 1000 && Pods().size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Pods().size(), 3u);  // expectations: never more
}

}  // namespace
}  // namespace kite::controllers
