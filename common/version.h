// The version of this kite build and of the Kubernetes API it serves.
// Thread safety: constants.
#pragma once

#include <string>

namespace kite {

// "v0.1.0"
const char* KiteVersion();
// The git commit the build came from, or "unknown".
const char* GitCommit();
// The Kubernetes version served, e.g. "v1.32.0+kite0.1.0"; major "1", minor "32".
std::string KubeGitVersion();
const char* KubeMajor();
const char* KubeMinor();
// Compiler-reported target, e.g. "linux/amd64", "linux/arm64", "linux/arm".
const char* Platform();

}  // namespace kite
