// Env: the kubelet's EnvBuilder (pod_deps.h), a container's environment as
// Kubernetes' kubelet computes it.
//
// In order: envFrom (configMapRef / secretRef with optional prefix; keys
// that are not valid variable names are skipped and reported with an
// InvalidEnvironmentVariableNames event), then env (value with $(VAR)
// expansion against the variables defined so far and the service
// variables, `$$` for a literal `$`; valueFrom configMapKeyRef, secretKeyRef
// (optional ones are left out when missing), fieldRef (metadata.name,
// namespace, uid, labels['k'], annotations['k'], spec.nodeName,
// spec.serviceAccountName, status.podIP(s), status.hostIP(s)),
// resourceFieldRef (limits/requests of cpu, memory, ephemeral-storage with
// divisor, rounded up; unset limits default to the node's allocatable)),
// later definitions replacing earlier ones in place; then the service
// variables not already defined: <NAME>_SERVICE_HOST, _SERVICE_PORT,
// _SERVICE_PORT_<PORT NAME> and the Docker link style <NAME>_PORT... of
// every service with a cluster IP in the pod's namespace (when
// enableServiceLinks, the default) and always of default/kubernetes.
//
// status.podIP(s) come from the pod handed in: PodSyncer fills them from
// the sandbox before asking (the API's copy may not have them yet);
// status.hostIP(s) fall back to EnvOptions::host_ips.
//
// A missing configMap, secret or key that is not optional is Unavailable
// with kubelet's message (`configmap "x" not found`, `couldn't find key k
// in ConfigMap ns/x`), so the pod syncer retries.
//
// Thread safety: Build() may run on several threads at once (the client is
// thread-safe; options are read-only).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/kubelet/pod_deps.h"
#include "client/informer.h"
#include "client/interface.h"

namespace kite::kubelet {

struct EnvOptions {
  // The node's IPs (status.hostIP(s) when the pod has none yet).
  std::vector<std::string> host_ips;
  // The node's status.allocatable (cpu, memory, ephemeral-storage), the
  // default of unset limits; null: none known (limits then read 0).
  std::function<nlohmann::json()> node_allocatable;
  // When set, services are read from this cache (all namespaces) instead
  // of listed from the API server on every Build().
  client::Informer* services = nullptr;
  // Warn about skipped envFrom keys with an Event on the pod.
  bool record_events = true;
};

class Env : public EnvBuilder {
 public:
  // `client` (the node's) must outlive the builder.
  Env(client::Interface& client, EnvOptions options);

  StatusOr<std::vector<cri::KeyValue>> Build(
      const nlohmann::json& pod, const nlohmann::json& container) override;

 private:
  StatusOr<std::vector<nlohmann::json>> Services(const std::string& ns);

  client::Interface& client_;
  const EnvOptions options_;
};

// $(VAR) expansion as Kubernetes does it: `lookup` answers a name (false:
// undefined, the reference stays as written); `$$` gives `$`; anything else
// is copied.
std::string ExpandEnv(
    const std::string& in,
    const std::function<bool(const std::string&, std::string*)>& lookup);

// The service variables of `services` (v1 Service objects), in name order.
std::vector<cri::KeyValue> ServiceEnv(
    const std::vector<nlohmann::json>& services);

// C_IDENTIFIER-ish names Kubernetes accepts for env:
// [-._a-zA-Z][-._a-zA-Z0-9]*.
bool IsEnvVarName(const std::string& name);

// The value of a resourceFieldRef of `container` with `divisor` ("" = 1),
// rounded up, with unset limits taken from `allocatable`.
StatusOr<std::string> ResourceFieldValue(const nlohmann::json& container,
                                         const std::string& resource,
                                         const std::string& divisor,
                                         const nlohmann::json& allocatable);

// A fieldRef's value for env and the downward API (fieldPath as written),
// with `host_ips` for status.hostIP(s) when the pod lacks them.
// InvalidArgument for an unsupported path.
StatusOr<std::string> PodFieldValue(const nlohmann::json& pod,
                                    const std::string& field_path,
                                    const std::vector<std::string>& host_ips);

}  // namespace kite::kubelet
