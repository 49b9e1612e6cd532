// $(VAR) expansion of container command and args, as Kubernetes does it:
// "$(NAME)" becomes the value of NAME when the environment defines it and is
// kept as written otherwise; "$$" is an escaped "$"; any other "$" is kept.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <vector>

#include "agent/cri/runtime.h"

namespace kite::kubelet {

// `env` in order; a later entry with the same key wins.
std::string ExpandVars(const std::string& input,
                       const std::vector<cri::KeyValue>& env);

}  // namespace kite::kubelet
