// The default manifests compiled into the binary (DESIGN.md §8).
//
// Each *.yaml/*.yml/*.json file of the repository's manifests/ folder is one
// entry, in file-name order. `kite server` writes them to
// <data-dir>/server/manifests/ on first start (unless disabled with
// --disable NAME, NAME being the file name without its extension), where
// the manifest deployer applies them like any other file there. Components
// that need some of them before anything else runs (e.g. RBAC bootstrap)
// pick them out of this list by name.
//
// Thread safety: Defaults() is a pure function of the embedded data; call it
// from any thread.
#pragma once

#include <string_view>
#include <vector>

namespace kite::manifests {

struct Manifest {
  std::string_view name;     // the file name: "coredns.yaml"
  std::string_view content;  // its bytes, verbatim
};

// Every embedded manifest, sorted by name. The views point at static data
// that lives as long as the process.
std::vector<Manifest> Defaults();

// manifests/rbac/*.yaml, sorted by name: the bootstrap RBAC policy (roles
// and bindings every cluster has) the API server reconciles at every start
// (server/apiserver/rbac.h). Not part of Defaults().
std::vector<Manifest> Rbac();

}  // namespace kite::manifests
