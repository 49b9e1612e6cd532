// The pod status the kubelet reports, computed from what the runtime shows
// and what the syncer decided (waiting reasons, probe results), in the
// shape kubectl reads: phase, conditions (PodReadyToStartContainers,
// Initialized, Ready, ContainersReady, PodScheduled), containerStatuses and
// initContainerStatuses (state, lastState, ready, started, restartCount,
// image, imageID, containerID), hostIP(s), podIP(s), startTime, qosClass.
//
// Phase follows kubelet: Pending until the init containers are done or
// while a container waits without having run; Running while one runs (or,
// with restartPolicy Always / OnFailure after a failure, will run again);
// Succeeded when all exited 0 for good; Failed otherwise.
//
// Thread safety: pure functions.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "agent/cri/runtime.h"
#include "common/clock.h"

namespace kite::kubelet {

struct PodStatusInput {
  const nlohmann::json* pod = nullptr;
  // The status reported before (conditions keep their transition times
  // while their status holds); null: the pod's own status.
  const nlohmann::json* previous_status = nullptr;
  std::string runtime_prefix = "containerd://";
  std::string start_time;
  std::string host_ip;
  std::string pod_ip;
  bool sandbox_ready = false;
  bool init_done = false;
  // Every container is done for good (nothing will restart).
  bool terminal = false;
  // A phase to report regardless ("Failed" for a failed init container
  // under restartPolicy Never; the API's phase of a finished pod).
  std::string terminal_phase;
  // The newest container of each name in the current sandbox, and the
  // newest before it (any sandbox).
  std::map<std::string, cri::ContainerStatus> current;
  std::map<std::string, cri::ContainerStatus> previous;
  // Waiting reason and message decided by the syncer, by container name.
  std::map<std::string, std::pair<std::string, std::string>> waiting;
  // Probe outcomes by container id.
  std::map<std::string, bool> ready;
  std::map<std::string, bool> started;
};

nlohmann::json BuildPodStatus(const PodStatusInput& in, Clock::WallTime now);

// True when the pod's status already holds every field of `status`.
bool StatusMatches(const nlohmann::json& pod, const nlohmann::json& status);

}  // namespace kite::kubelet
