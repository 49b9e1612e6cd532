// Volumes: the kubelet's VolumeSetup (pod_deps.h). It makes a pod's volumes
// on the node under <data-dir>/agent/pods/<uid>/volumes/<kind>/<name>
// (kind as the kubelet names them: kubernetes.io~empty-dir, ~configmap,
// ~secret, ~downward-api, ~projected) and turns each container's
// volumeMounts into CRI mounts.
//
// - emptyDir: a directory (0777); medium Memory is a tmpfs (size=sizeLimit)
//   when VolumeOptions::mount_tmpfs (needs root; TearDown unmounts it).
// - hostPath: the host path itself, with the type checked (Directory,
//   File, Socket, CharDevice, BlockDevice) or made (DirectoryOrCreate 0755,
//   FileOrCreate 0644), kubelet's messages ("hostPath type check failed:
//   /x is not a directory").
// - configMap, secret, downwardAPI, projected (configMap, secret,
//   downwardAPI and serviceAccountToken sources): files written with the
//   kubelet's atomic writer layout - the payload in a fresh "..<time>"
//   directory, the "..data" symlink swapped to it with rename(2), and one
//   symlink per top-level name pointing into ..data - so a running
//   container sees every update at once (Refresh()); items, defaultMode
//   (0644), per-item mode, optional. Mounted read-only.
// - serviceAccountToken: a token from the TokenRequest API (POST
//   serviceaccounts/<sa>/token: audience, expirationSeconds (default 3600,
//   at least 600), boundObjectRef = the pod), renewed by Refresh() once 80%
//   of its life has passed.
// - persistentVolumeClaim: the claim must be Bound (else Unavailable "PVC
//   demo/x is not bound"); its PV's hostPath or local path is used, made
//   (0777) when missing (local-path volumes are made here, on first use).
// - volumeMounts: subPath (relative, no "..", created as a directory when
//   missing, must stay inside the volume after resolving symlinks),
//   readOnly, mountPropagation.
//
// Missing configMaps, secrets, keys (not optional) and unbound claims are
// Unavailable with kubelet's wording, so PodSyncer retries; unsupported
// volume types are InvalidArgument.
//
// Refresh() rewrites the configMap, secret, downwardAPI and projected
// volumes of every pod set up (only when their content changed) and renews
// tokens; the agent wiring calls it periodically (every 10-60 s, as the
// kubelet's sync period). TearDown(uid) unmounts what is mounted under the
// pod's directory and removes it (never the data of hostPath or PVC
// volumes, which live elsewhere).
//
// Thread safety: all methods may be called from several threads (one
// mutex guards the registry of pods and tokens; calls for one uid are not
// concurrent, as pod_deps.h promises).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/kubelet/pod_deps.h"
#include "client/interface.h"
#include "common/clock.h"

namespace kite::kubelet {

struct VolumeOptions {
  std::string data_dir;  // the agent's; pods under <data_dir>/agent/pods
  // For the downward API: status.hostIP(s) and unset limits.
  std::vector<std::string> host_ips;
  std::function<nlohmann::json()> node_allocatable;
  // emptyDir medium Memory as a tmpfs (root only); false: a plain directory.
  bool mount_tmpfs = true;
  Clock* clock = nullptr;  // null: RealClock()
};

class Volumes : public VolumeSetup {
 public:
  // `client` (the node's) must outlive this.
  Volumes(client::Interface& client, VolumeOptions options);

  StatusOr<std::map<std::string, std::vector<cri::Mount>>> Setup(
      const nlohmann::json& pod) override;
  Status TearDown(const std::string& pod_uid) override;

  // Rewrites changed configMap/secret/downwardAPI/projected volumes and
  // renews tokens of the pods set up; returns how many volumes changed.
  int Refresh();

  // <data_dir>/agent/pods/<uid>
  std::string PodDir(const std::string& uid) const;

 private:
  struct Token {
    std::string token;
    Clock::WallTime issued{};
    Clock::WallTime expires{};
  };
  // Makes volume `v` of `pod`; returns its host path. `refresh`: only the
  // atomic-writer kinds are rewritten.
  StatusOr<std::string> SetUpVolume(const nlohmann::json& pod,
                                    const nlohmann::json& v, bool* read_only,
                                    bool* changed);
  StatusOr<std::map<std::string, std::pair<std::string, int>>> Payload(
      const nlohmann::json& pod, const nlohmann::json& v);
  StatusOr<std::string> TokenFor(const nlohmann::json& pod,
                                 const std::string& volume,
                                 const nlohmann::json& source);

  client::Interface& client_;
  const VolumeOptions options_;
  Clock& clock_;
  std::mutex mu_;
  std::map<std::string, nlohmann::json> pods_;  // uid -> pod, set up
  std::map<std::string, Token> tokens_;         // "<uid>/<volume>/<path>"
};

// Writes `files` (relative path -> {content, mode}) into `dir` the way the
// kubelet's atomic writer does (see above); nothing happens when the
// content and modes are already there. Returns whether it wrote.
StatusOr<bool> WriteAtomically(
    const std::string& dir,
    const std::map<std::string, std::pair<std::string, int>>& files);

}  // namespace kite::kubelet
