#include "agent/kubelet/local_storage.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "client/fake_client.h"

namespace kite::kubelet {
namespace {

namespace fs = std::filesystem;
using client::Json;

TEST(LocalStorageTest, RemovesDirectoriesOfDeletedVolumesOnly) {
  char tmpl[] = "/tmp/kite-local-storage-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  fs::path dir(tmpl);
  client::FakeClient fake;
  const client::ResourceRef pvs{"", "v1", "persistentvolumes", ""};
  auto pv = [&](const std::string& name, const std::string& node) {
    Json j = {
        {"metadata",
         {{"name", name}, {"labels", {{"kite.io/local-path-node", node}}}}}};
    ASSERT_TRUE(fake.Create(pvs, j, {}).ok());
  };
  pv("pvc-live", "n1");
  pv("pvc-elsewhere", "n2");  // another node's: not listed for n1
  for (const char* d : {"pvc-live_demo_data", "pvc-gone_demo_old",
                        "pvc-elsewhere_demo_x", "unrelated"})
    fs::create_directories(dir / d / "inside");
  auto n = CleanupLocalStorage(fake, dir.string(), "n1");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2);
  EXPECT_TRUE(fs::exists(dir / "pvc-live_demo_data" / "inside"));
  EXPECT_FALSE(fs::exists(dir / "pvc-gone_demo_old"));
  EXPECT_FALSE(fs::exists(dir / "pvc-elsewhere_demo_x"));
  EXPECT_TRUE(fs::exists(dir / "unrelated"));
  // A failed list removes nothing.
  fs::create_directories(dir / "pvc-gone2_demo_y");
  fake.InjectError("list", "persistentvolumes",
                   Status(Code::kUnavailable, "down"), 1);
  EXPECT_FALSE(CleanupLocalStorage(fake, dir.string(), "n1").ok());
  EXPECT_TRUE(fs::exists(dir / "pvc-gone2_demo_y"));
  // Nothing to look at: no API call at all.
  EXPECT_EQ(*CleanupLocalStorage(fake, (dir / "absent").string(), "n1"), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kite::kubelet
