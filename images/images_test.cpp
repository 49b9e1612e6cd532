#include "images/images.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kite::images
