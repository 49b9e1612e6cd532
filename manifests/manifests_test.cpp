#include "manifests/manifests.h"

#include <gtest/gtest.h>

#include <string>

namespace kite::manifests {
namespace {

TEST(Defaults, HoldTheRepositoryFilesSortedByName) {
  std::vector<Manifest> all = Defaults();
  ASSERT_GE(all.size(), 2u);
  for (size_t i = 1; i < all.size(); ++i)
    EXPECT_LT(all[i - 1].name, all[i].name);
  bool dns = false, storage = false;
  for (const Manifest& m : all) {
    EXPECT_FALSE(m.content.empty()) << m.name;
    std::string text(m.content);
    if (m.name == "kube-dns.yaml") {
      dns = true;
      EXPECT_NE(text.find("clusterIP: 10.43.0.10"), std::string::npos);
      EXPECT_NE(text.find("namespace: kube-system"), std::string::npos);
    }
    if (m.name == "local-storage.yaml") {
      storage = true;
      EXPECT_NE(text.find("name: local-path"), std::string::npos);
    }
  }
  EXPECT_TRUE(dns);
  EXPECT_TRUE(storage);
}

TEST(Defaults, TheViewEndsWhereTheFileEnds) {
  // The generated array carries a terminating NUL that is not content.
  for (const Manifest& m : Defaults()) {
    EXPECT_EQ(m.content.find('\0'), std::string_view::npos) << m.name;
  }
}

}  // namespace
}  // namespace kite::manifests
