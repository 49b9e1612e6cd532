#include "common/version.h"

namespace kite {

const char* KiteVersion() { return "v" KITE_VERSION; }
const char* GitCommit() { return KITE_GIT_COMMIT; }
std::string KubeGitVersion() { return std::string("v") + KITE_KUBE_VERSION + "+kite" + KITE_VERSION; }
const char* KubeMajor() { return KITE_KUBE_MAJOR; }
const char* KubeMinor() { return KITE_KUBE_MINOR; }

const char* Platform() {
#if defined(__aarch64__)
  return "linux/arm64";
#elif defined(__arm__)
  return "linux/arm";
#elif defined(__x86_64__)
  return "linux/amd64";
#else
  return "linux/unknown";
#endif
}

}  // namespace kite
