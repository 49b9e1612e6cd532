// Which resources the controllers act on, read from the kinds registry.
//
// Thread safety: free functions; the registry is safe for concurrent use.
#pragma once

#include <string>
#include <vector>

#include "api/kinds.h"
#include "client/interface.h"

namespace kite::controllers {

// Every stored, namespaced resource that can be listed and deleted, once
// per group/resource (the first version the registry lists, its preferred
// one), custom resources included; ns left empty. What the namespace
// controller empties a namespace of. Call it anew when CRDs change (the
// namespace controller asks on every sync).
std::vector<client::ResourceRef> NamespacedResourcesOf(
    const api::Registry& registry);

// A resource with what the garbage collector needs to know of it.
struct ApiResource {
  client::ResourceRef ref;  // ns empty
  std::string kind;         // "Deployment"
  bool namespaced = true;
};

// Every stored resource, namespaced or not, that can be listed, read,
// updated and deleted, once per group/resource (its preferred version),
// custom resources included, events (core and events.k8s.io) excepted: what
// the garbage collector covers.
std::vector<ApiResource> GarbageCollectedResourcesOf(
    const api::Registry& registry);

}  // namespace kite::controllers
