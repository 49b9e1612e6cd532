// What the kubelet's pod syncer needs from the rest of the agent to start a
// pod's containers, as two small interfaces: VolumeSetup (the pod's volumes,
// turned into CRI mounts per container) and EnvBuilder (a container's
// environment). The storage part of the agent implements them
// (volumes.h, env.h); PodSyncer (pod_syncer.h) only calls them, so its unit
// tests use trivial fakes.
//
// Both take the pod as the API server sent it (a v1 Pod as JSON, with
// defaults applied) and never throw.
//
// Thread safety: implementations must accept calls from several threads at
// once (PodSyncer runs one worker per pod); calls for the same pod uid are
// never concurrent.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/cri/runtime.h"
#include "common/status.h"

namespace kite::kubelet {

class VolumeSetup {
 public:
  virtual ~VolumeSetup() = default;

  // Prepares the pod's volumes (idempotent: called again on every sync of a
  // pod that has not started its containers yet, and after an agent
  // restart). Returns the mounts per container name, init containers
  // included; a container without mounts may be absent from the map.
  // Unavailable = not ready yet (e.g. a PVC not bound, a configMap
  // missing): PodSyncer retries later and records the message as an event.
  // Any other error is reported the same way (event, retry with back-off).
  virtual StatusOr<std::map<std::string, std::vector<cri::Mount>>> Setup(
      const nlohmann::json& pod) = 0;

  // Unmounts and removes what Setup made for the pod (not PVC or hostPath
  // data). Called once the pod's containers and sandbox are gone, also for
  // pods left by a previous run of the agent (only the uid is known then).
  // OK when there is nothing to remove.
  virtual Status TearDown(const std::string& pod_uid) = 0;
};

class EnvBuilder {
 public:
  virtual ~EnvBuilder() = default;

  // The environment of `container` (an element of spec.containers or
  // spec.initContainers of `pod`): env values, configMap/secret refs,
  // fieldRef, resourceFieldRef, envFrom and service variables, in the order
  // Kubernetes gives them (later entries win). Unavailable when a referenced
  // object is missing and not optional (retry later, message as event).
  virtual StatusOr<std::vector<cri::KeyValue>> Build(
      const nlohmann::json& pod, const nlohmann::json& container) = 0;
};

}  // namespace kite::kubelet
