// Local-path storage housekeeping on a node: the local-path provisioner
// (server/controllers/persistent_volume_controller.h) names each volume's
// directory <storage-dir>/pvc-<claim uid>_<namespace>_<claim name> after its
// PersistentVolume "pvc-<claim uid>" and labels the PV
// kite.io/local-path-node=<node>. When a PV with reclaim policy Delete goes,
// the server cannot reach the node's disk: the node's agent removes the
// directories whose PV no longer exists by calling CleanupLocalStorage
// periodically (e.g. every minute; docs/storage.md).
//
// The node authorizer lets a node list exactly the PVs labelled with its
// own name, which is all this needs.
//
// Thread safety: a free function; run one call at a time per directory.
#pragma once

#include <string>

#include "client/interface.h"
#include "common/status.h"

namespace kite::kubelet {

// Removes <storage_dir>/pvc-*_* directories whose PV is not among the
// local-path PVs of `node` (listed after the directories were read, so a
// directory made meanwhile for a new PV is never taken for an orphan).
// Returns how many it removed; a failed list removes nothing.
StatusOr<int> CleanupLocalStorage(client::Interface& client,
                                  const std::string& storage_dir,
                                  const std::string& node);

}  // namespace kite::kubelet
