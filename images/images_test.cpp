#include "images/images.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace kite::images {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ImagesTest, EmbeddedPauseTarballIsTheBuiltOne) {
  std::string built = ReadFile(KITE_PAUSE_IMAGE_TAR);
  ASSERT_FALSE(built.empty()) << KITE_PAUSE_IMAGE_TAR;
  EXPECT_EQ(PauseImageTarball(), built);
}

TEST(ImagesTest, PauseTarballIsAnOciLayoutNamedForContainerd) {
  std::string_view tar = PauseImageTarball();
  // A ustar/GNU tar: the first member's name at offset 0, magic at 257.
  ASSERT_GT(tar.size(), 1024u);
  EXPECT_EQ(tar.substr(0, 10), "oci-layout");
  EXPECT_EQ(tar.substr(257, 5), "ustar");
  std::string annotation =
      "\"io.containerd.image.name\":\"" + std::string(kPauseImage) + "\"";
  EXPECT_NE(tar.find(annotation), std::string_view::npos);
  EXPECT_NE(tar.find("\"org.opencontainers.image.ref.name\":\"3.10\""),
            std::string_view::npos);
}

// The build is reproducible: the script run twice on the same inputs (a
// second later, from another directory) writes the same bytes, and those are
// the bytes the build made.
TEST(ImagesTest, TheImageScriptIsReproducible) {
  char tmpl[] = "/tmp/kite-images-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string cmd =
      std::string(KITE_OCI_IMAGE_SCRIPT) + " -o " + dir + "/%s.tar -n " +
      std::string(kPauseImage) + " -a " + KITE_OCI_ARCH +
      " -E '[\"/pause\"]' file:" + KITE_PAUSE_BINARY + ":pause:0755";
  auto run = [&](const std::string& name) {
    std::string c = cmd;
    c.replace(c.find("%s"), 2, name);
    return std::system(("cd / && " + c).c_str());
  };
  ASSERT_EQ(run("one"), 0);
  sleep(1);
  ASSERT_EQ(run("two"), 0);
  std::string one = ReadFile(dir + "/one.tar");
  EXPECT_FALSE(one.empty());
  EXPECT_EQ(one, ReadFile(dir + "/two.tar"));
  EXPECT_EQ(one, ReadFile(KITE_PAUSE_IMAGE_TAR));
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace kite::images
