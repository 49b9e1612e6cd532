#include "client/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::client {
namespace {

using namespace std::chrono_literals;
const ResourceRef kLeases{"coordination.k8s.io", "v1", "leases", "kube-system"};

LeaderElectionOptions Opts(const std::string& id, Clock* clock) {
  LeaderElectionOptions o;
  o.lease_name = "kite-controller-manager";
  o.identity = id;
  o.clock = clock;
  return o;
}

TEST(LeaderElector, OneLeaderAtATimeAndTakeOverAfterExpiry) {
  FakeClock clock;
  FakeClient fake(clock);
  LeaderElector a(fake, Opts("a", &clock), nullptr, nullptr);
  LeaderElector b(fake, Opts("b", &clock), nullptr, nullptr);
  EXPECT_TRUE(*a.TryAcquireOrRenew());  // creates the Lease
  EXPECT_FALSE(*b.TryAcquireOrRenew());
  clock.Advance(10s);
  EXPECT_TRUE(*a.TryAcquireOrRenew());  // renews
  clock.Advance(10s);
  EXPECT_FALSE(*b.TryAcquireOrRenew());  // renewed 10 s ago: still held
  auto lease = fake.Get(kLeases, "kite-controller-manager", {});
  EXPECT_EQ(api::GetString(*lease, {"spec", "holderIdentity"}), "a");
  EXPECT_EQ(api::GetInt(*lease, {"spec", "leaseDurationSeconds"}), 15);

  clock.Advance(16s);  // a stopped renewing
  EXPECT_TRUE(*b.TryAcquireOrRenew());
  EXPECT_FALSE(*a.TryAcquireOrRenew());
  lease = fake.Get(kLeases, "kite-controller-manager", {});
  EXPECT_EQ(api::GetString(*lease, {"spec", "holderIdentity"}), "b");
  EXPECT_EQ(api::GetInt(*lease, {"spec", "leaseTransitions"}), 1);
}

TEST(LeaderElector, ARestartWithTheSameIdentityLeadsAtOnce) {
  FakeClock clock;
  FakeClient fake(clock);
  LeaderElector before(fake, Opts("server-1", &clock), nullptr, nullptr);
  EXPECT_TRUE(*before.TryAcquireOrRenew());
  LeaderElector after(fake, Opts("server-1", &clock), nullptr, nullptr);
  EXPECT_TRUE(*after.TryAcquireOrRenew());
  LeaderElector other(fake, Opts("server-2", &clock), nullptr, nullptr);
  EXPECT_FALSE(*other.TryAcquireOrRenew());
}

TEST(LeaderElector, RunsCallbacksAndReleasesOnStop) {
  FakeClient fake;
  std::atomic<int> started{0}, stopped{0};
  {
    LeaderElector e(
        fake, Opts("a", nullptr), [&] { ++started; }, [&] { ++stopped; });
    ASSERT_TRUE(e.Start().ok());
    for (int i = 0; i < 500 && !e.IsLeader(); ++i)
      std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(e.IsLeader());
    EXPECT_EQ(started.load(), 1);
    e.Stop();
    EXPECT_FALSE(e.IsLeader());
  }
  EXPECT_EQ(stopped.load(), 1);
  auto lease = fake.Get(kLeases, "kite-controller-manager", {});
  EXPECT_EQ(api::GetString(*lease, {"spec", "holderIdentity"}), "");
  // Released: another candidate takes it without waiting.
  LeaderElector b(fake, Opts("b", nullptr), nullptr, nullptr);
  EXPECT_TRUE(*b.TryAcquireOrRenew());
}

}  // namespace
}  // namespace kite::client
