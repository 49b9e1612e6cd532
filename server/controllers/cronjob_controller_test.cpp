#include "server/controllers/cronjob_controller.h"

#include <gtest/gtest.h>

#include <thread>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::controllers {
namespace {

using client::FakeClient;
using std::chrono::minutes;
using std::chrono::seconds;

class CronJobControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CronJobControllerOptions o;
    o.clock = &clock_;
    cc_ = std::make_unique<CronJobController>(fake_, informers_, o);
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
    // Start on a round minute, like a real clock at some point.
    auto now = clock_.Now();
    auto next = std::chrono::ceil<minutes>(now);
    clock_.Advance(next - now);
  }
  void TearDown() override {
    cc_->Stop();
    informers_.Stop();
  }
  void Create(Json spec) {
    Json cj = {{"apiVersion", "batch/v1"},
               {"kind", "CronJob"},
               {"metadata", {{"name", "tick"}, {"namespace", "demo"}}},
               {"spec", std::move(spec)}};
    Json container = {{"name", "c"}, {"image", "busybox"}};
    Json pod_spec = {{"restartPolicy", "Never"},
                     {"containers", Json::array({container})}};
    cj["spec"]["jobTemplate"]["metadata"]["labels"]["from"] = "tick";
    cj["spec"]["jobTemplate"]["spec"]["template"]["spec"] = pod_spec;
    ASSERT_TRUE(fake_.Create(kCronJobsRef.In("demo"), cj, {}).ok());
  }
  // Syncs once every cache holds the fake's latest state.
  Status SyncFresh() {
    int64_t rv = fake_.ResourceVersion();
    for (int i = 0; i < 2000; ++i) {
      bool all = true;
      for (const client::ResourceRef& r : {kCronJobsRef, kJobsRef}) {
        if (std::stoll("0" + informers_.For(r).LastResourceVersion()) < rv) {
          all = false;
        }
      }
      if (all) break;
      fake_.SendBookmarks();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return cc_->Sync("demo/tick");
  }
  std::vector<Json> Jobs() {
    auto l = fake_.List(kJobsRef.In("demo"), {});
    return l.ok() ? (*l)["items"].get<std::vector<Json>>()
                  : std::vector<Json>();
  }
  Json CronJob() { return *fake_.Get(kCronJobsRef.In("demo"), "tick", {}); }
  void Finish(const Json& job, bool ok) {
    Json j = *fake_.Get(kJobsRef.In("demo"), api::Name(job), {});
    std::string now = api::FormatTime(clock_.Now());
    j["status"]["conditions"] = {{{"type", ok ? "Complete" : "Failed"},
                                  {"status", "True"},
                                  {"lastTransitionTime", now}}};
    if (ok) j["status"]["completionTime"] = now;
    client::UpdateOptions uo;
    uo.subresource = "status";
    ASSERT_TRUE(fake_.Update(kJobsRef.In("demo"), j, uo).ok());
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
  std::unique_ptr<CronJobController> cc_;
};

TEST_F(CronJobControllerTest, CreatesAJobEachScheduledMinute) {
  Create({{"schedule", "*/5 * * * *"}});
  ASSERT_TRUE(SyncFresh().ok());
  EXPECT_TRUE(Jobs().empty());  // nothing due yet
  clock_.Advance(minutes(5));
  ASSERT_TRUE(SyncFresh().ok());
  std::vector<Json> jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  const Json& j = jobs[0];
  EXPECT_EQ(api::Name(j).rfind("tick-", 0), 0u);
  EXPECT_EQ(j["metadata"]["labels"]["from"], "tick");
  EXPECT_EQ(ControllerRef(j)->at("kind"), "CronJob");
  EXPECT_TRUE(j["metadata"]["annotations"].contains(
      "batch.kubernetes.io/cronjob-scheduled-timestamp"));
  EXPECT_EQ(j["spec"]["template"]["spec"]["restartPolicy"], "Never");
  Json cj = CronJob();
  EXPECT_EQ(cj["status"]["active"].size(), 1u);
  EXPECT_EQ(cj["status"]["active"][0]["name"], api::Name(j));
  EXPECT_FALSE(api::GetString(cj, {"status", "lastScheduleTime"}).empty());
  // The same minute again: nothing new.
  ASSERT_TRUE(SyncFresh().ok());
  EXPECT_EQ(Jobs().size(), 1u);
  // The job finishes: no longer active, lastSuccessfulTime set.
  Finish(j, true);
  ASSERT_TRUE(SyncFresh().ok());
  cj = CronJob();
  EXPECT_FALSE(cj["status"].contains("active"));
  EXPECT_FALSE(api::GetString(cj, {"status", "lastSuccessfulTime"}).empty());
  std::vector<std::string> r = Reasons();
  EXPECT_NE(std::find(r.begin(), r.end(), "SuccessfulCreate"), r.end());
  EXPECT_NE(std::find(r.begin(), r.end(), "SawCompletedJob"), r.end());
}

TEST_F(CronJobControllerTest, ForbidSkipsWhileRunningReplaceReplaces) {
  Create({{"schedule", "* * * * *"}, {"concurrencyPolicy", "Forbid"}});
  clock_.Advance(minutes(1));
  ASSERT_TRUE(SyncFresh().ok());
  ASSERT_EQ(Jobs().size(), 1u);
  clock_.Advance(minutes(1));
  ASSERT_TRUE(SyncFresh().ok());
  EXPECT_EQ(Jobs().size(), 1u);  // the first still runs

  Json cj = CronJob();
  cj["spec"]["concurrencyPolicy"] = "Replace";
  ASSERT_TRUE(fake_.Update(kCronJobsRef.In("demo"), cj, {}).ok());
  std::string first = api::Name(Jobs()[0]);
  ASSERT_TRUE(SyncFresh().ok());
  std::vector<Json> jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_NE(api::Name(jobs[0]), first);
}

TEST_F(CronJobControllerTest, SuspendAndStartingDeadline) {
  Create({{"schedule", "* * * * *"}, {"suspend", true}});
  clock_.Advance(minutes(3));
  ASSERT_TRUE(SyncFresh().ok());
  EXPECT_TRUE(Jobs().empty());
  Json cj = CronJob();
  cj["spec"]["suspend"] = false;
  cj["spec"]["startingDeadlineSeconds"] = 10;
  ASSERT_TRUE(fake_.Update(kCronJobsRef.In("demo"), cj, {}).ok());
  clock_.Advance(seconds(30));  // the last minute is 30 s late: missed
  ASSERT_TRUE(SyncFresh().ok());
  EXPECT_TRUE(Jobs().empty());
  std::vector<std::string> r = Reasons();
  EXPECT_NE(std::find(r.begin(), r.end(), "MissSchedule"), r.end());
  clock_.Advance(seconds(35));  // 5 s after the next minute: in time
  ASSERT_TRUE(SyncFresh().ok());
  EXPECT_EQ(Jobs().size(), 1u);
}

TEST_F(CronJobControllerTest, HistoryLimitsDeleteTheOldestFinishedJobs) {
  Create({{"schedule", "* * * * *"},
          {"successfulJobsHistoryLimit", 1},
          {"failedJobsHistoryLimit", 1}});
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(minutes(1));
    ASSERT_TRUE(SyncFresh().ok());
    std::vector<Json> jobs = Jobs();
    for (const Json& j : jobs) {
      if (!IsJobFinished(j)) Finish(j, i % 2 == 0);
    }
    clock_.Advance(seconds(1));
  }
  ASSERT_TRUE(SyncFresh().ok());
  std::vector<Json> jobs = Jobs();
  int ok = 0, failed = 0;
  for (const Json& j : jobs) {
    const Json* c = FindCondition(j, "Complete");
    (c != nullptr ? ok : failed)++;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(failed, 1);
}

TEST_F(CronJobControllerTest, BadScheduleAndUnknownTimeZoneAreEvents) {
  Create({{"schedule", "61 * * * *"}});
  clock_.Advance(minutes(2));
  ASSERT_TRUE(SyncFresh().ok());
  EXPECT_TRUE(Jobs().empty());
  Json cj = CronJob();
  cj["spec"]["schedule"] = "* * * * *";
  cj["spec"]["timeZone"] = "Mars/Olympus";
  ASSERT_TRUE(fake_.Update(kCronJobsRef.In("demo"), cj, {}).ok());
  ASSERT_TRUE(SyncFresh().ok());
  EXPECT_TRUE(Jobs().empty());
  std::vector<std::string> r = Reasons();
  EXPECT_NE(std::find(r.begin(), r.end(), "InvalidSchedule"), r.end());
  EXPECT_NE(std::find(r.begin(), r.end(), "UnknownTimeZone"), r.end());
}

}  // namespace
}  // namespace kite::controllers
