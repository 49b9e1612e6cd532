// Bootstrap: the objects every cluster has from its first start, written
// through the request path (so they are defaulted, validated and allocated
// like anything a user creates):
//   - namespaces default, kube-system, kube-public, kube-node-lease;
//   - PriorityClasses system-node-critical and system-cluster-critical;
//   - the `kubernetes` Service in default (ClusterIP 10.43.0.1, port 443)
//     and its Endpoints and EndpointSlice pointing at this server's
//     advertise address and port (kept up to date at every start).
// Existing objects are left alone, except that the `kubernetes` Service's
// target port and endpoints follow the server's address.
//
// Thread safety: call once, from the start-up thread.
#pragma once

#include <string>

#include "common/status.h"
#include "server/apiserver/handler.h"

namespace kite::apiserver {

struct BootstrapConfig {
  std::string advertise_address;  // IPv4 the `kubernetes` endpoints point at
  int port = 6443;                // the API server's port
};

Status Bootstrap(Handler& handler, const BootstrapConfig& config);

// The user the server acts as for its own writes.
UserInfo SystemUser();

}  // namespace kite::apiserver
