#include <gtest/gtest.h>

#include <string>

#include "common/clock.h"
#include "common/env.h"
#include "common/log.h"
#include "common/status.h"
#include "common/version.h"

namespace kite {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd");
  return x / 2;
}

Status Quarter(int x, int* out) {
  KITE_ASSIGN_OR_RETURN(int h, Half(x));
  KITE_ASSIGN_OR_RETURN(*out, Half(h));
  return Status::Ok();
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status st = NotFoundError("key /a");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_EQ(st.ToString(), "NotFound: key /a");
  EXPECT_EQ(Status::Ok().ToString(), "OK");
}

TEST(StatusTest, AssignOrReturnPropagatesErrors) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status st = Quarter(6, &out);  // 6/2 = 3 is odd
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
}

TEST(StatusTest, StatusOrFromOkStatusIsInternal) {
  StatusOr<int> v(Status::Ok());
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kInternal);
}

TEST(ClockTest, FakeClockMovesOnlyWhenAdvanced) {
  FakeClock clock;
  auto t0 = clock.Monotonic();
  auto w0 = clock.Now();
  EXPECT_EQ(clock.Monotonic(), t0);
  clock.Advance(std::chrono::seconds(5));
  EXPECT_EQ(clock.Monotonic() - t0, std::chrono::seconds(5));
  EXPECT_EQ(clock.Now() - w0, std::chrono::seconds(5));
}

TEST(EnvTest, RealEnvWritesAtomicallyAndReadsBack) {
  char tmpl[] = "/tmp/kite-env-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = std::string(tmpl) + "/a/b";
  Env& env = RealEnv();
  ASSERT_TRUE(env.MakeDirs(dir).ok());
  std::string file = dir + "/f";
  EXPECT_EQ(env.ReadFile(file).status().code(), Code::kNotFound);
  ASSERT_TRUE(env.WriteFileAtomic(file, "one", 0600).ok());
  ASSERT_TRUE(env.WriteFileAtomic(file, "two", 0600).ok());
  auto got = env.ReadFile(file);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "two");
  EXPECT_FALSE(env.Exists(file + ".tmp"));
  ASSERT_TRUE(env.RemoveFile(file).ok());
  EXPECT_FALSE(env.Exists(file));
  std::string cmd = std::string("rm -rf ") + tmpl;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
}

TEST(EnvTest, FakeEnvBehavesLikeAFilesystem) {
  FakeEnv env;
  EXPECT_FALSE(env.Exists("/x"));
  ASSERT_TRUE(env.WriteFileAtomic("/x", "data", 0644).ok());
  EXPECT_EQ(*env.ReadFile("/x"), "data");
  ASSERT_TRUE(env.RemoveFile("/x").ok());
  EXPECT_EQ(env.ReadFile("/x").status().code(), Code::kNotFound);
}

TEST(LogTest, ParsesLevels) {
  log::Level level;
  EXPECT_TRUE(log::ParseLevel("warn", &level));
  EXPECT_EQ(level, log::Level::kWarn);
  EXPECT_FALSE(log::ParseLevel("loud", &level));
}

TEST(VersionTest, ServesKubernetes132) {
  EXPECT_STREQ(KubeMajor(), "1");
  EXPECT_STREQ(KubeMinor(), "32");
  EXPECT_EQ(KubeGitVersion().rfind("v1.32.", 0), 0u);
}

}  // namespace
}  // namespace kite
