// podstart_watch: pod start as a kite user sees it (issue 6 item 8): for
// each of N pods, one after another, the time from the create call until a
// watch sees the pod Ready. The pods (image present, one container
// `sleep 3600`, no probes) go to namespace --namespace, which must exist;
// they are left running (the caller deletes the namespace).
//
// usage: podstart_watch --kubeconfig FILE [--namespace podstart] [--pods 20]
//                       [--image registry.local/busybox:latest] [--verbose 1]
// Prints one line per pod (with --verbose 1, every event before it) ("kite
// pod=<i> ms=<t>") and a summary "kite-summary: pods=<n> p50_ms=<n> p99_ms=<n>
// min_ms=<n> max_ms=<n>".
//
// usage: podstart_watch --kubeconfig FILE --wait-node NAME [--timeout-s 60]
//                       [--since UNIX_SECONDS]
// Returns (0) as soon as Node NAME is Ready with a lastHeartbeatTime at or
// after --since (so a Ready left by an earlier run does not count),
// retrying while the server is not up yet; 1 after the timeout (the
// cold-start measurement).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/object.h"
#include "client/https_client.h"

namespace {

using kite::client::Json;
using Steady = std::chrono::steady_clock;

std::string Arg(int argc, char** argv, const std::string& name,
                const std::string& def) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--" + name && i + 1 < argc) return argv[i + 1];
    if (a.rfind("--" + name + "=", 0) == 0) return a.substr(name.size() + 3);
  }
  return def;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p * v.size()));
  return v[std::max<size_t>(rank, 1) - 1];
}

// Ready=True, with a heartbeat at or after `since` (Nodes) when given.
bool IsReady(const Json& obj,
             std::optional<kite::api::Time> since = std::nullopt) {
  const Json* conds = kite::api::FieldPath(obj, {"status", "conditions"});
  if (conds == nullptr || !conds->is_array()) return false;
  for (const Json& c : *conds) {
    if (kite::api::GetString(c, {"type"}) != "Ready") continue;
    if (kite::api::GetString(c, {"status"}) != "True") return false;
    if (!since) return true;
    auto beat =
        kite::api::ParseTime(kite::api::GetString(c, {"lastHeartbeatTime"}));
    return beat && *beat >= *since;
  }
  return false;
}

int Fail(const std::string& what, const kite::Status& st) {
  std::fprintf(stderr, "podstart_watch: %s: %s\n", what.c_str(),
               st.ToString().c_str());
  return 1;
}

}  // namespace

// Waits until Node `node` has Ready=True.
int WaitNode(kite::client::Interface& c, const std::string& node, int timeout_s,
             kite::api::Time since) {
  const kite::client::ResourceRef nodes{"", "v1", "nodes", ""};
  auto deadline = Steady::now() + std::chrono::seconds(timeout_s);
  while (Steady::now() < deadline) {
    kite::client::WatchOptions wo;
    wo.field_selector = "metadata.name=" + node;
    auto watch = c.Watch(nodes, wo);  // ADDED for the current object first
    if (!watch.ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    while (Steady::now() < deadline) {
      auto ev = (*watch)->Next(std::chrono::milliseconds(500));
      if (!ev.ok() && ev.status().code() == kite::Code::kDeadlineExceeded)
        continue;
      if (!ev.ok()) break;
      if (IsReady(ev->object, since)) return 0;
    }
  }
  std::fprintf(stderr, "podstart_watch: node %s not Ready after %d s\n",
               node.c_str(), timeout_s);
  return 1;
}

int main(int argc, char** argv) {
  std::string kubeconfig = Arg(argc, argv, "kubeconfig", "");
  std::string ns = Arg(argc, argv, "namespace", "podstart");
  int pods = std::atoi(Arg(argc, argv, "pods", "20").c_str());
  std::string image = Arg(argc, argv, "image", "registry.local/busybox:latest");
  if (kubeconfig.empty() || pods <= 0) {
    std::fprintf(stderr,
                 "usage: podstart_watch --kubeconfig FILE [--namespace NS] "
                 "[--pods N] [--image REF]\n");
    return 2;
  }
  auto cfg = kite::client::ConfigFromKubeconfigFile(kubeconfig);
  if (!cfg.ok()) return Fail("kubeconfig " + kubeconfig, cfg.status());
  auto client = kite::client::HttpsClient::Create(*cfg);
  if (!client.ok()) return Fail("client", client.status());
  if (std::string node = Arg(argc, argv, "wait-node", ""); !node.empty())
    return WaitNode(**client, node,
                    std::atoi(Arg(argc, argv, "timeout-s", "60").c_str()),
                    kite::api::Time(std::chrono::seconds(
                        std::atoll(Arg(argc, argv, "since", "0").c_str()))));
  const kite::client::ResourceRef pods_ref{"", "v1", "pods", ns};

  bool verbose = Arg(argc, argv, "verbose", "") == "1";
  std::vector<double> ms;
  for (int i = 0; i < pods; ++i) {
    std::string name = "podstart-" + std::to_string(i);
    // The watch is open before the create call, so no event is missed.
    auto list = (*client)->List(pods_ref, {});
    if (!list.ok()) return Fail("list", list.status());
    kite::client::WatchOptions wo;
    wo.resource_version =
        kite::api::GetString(*list, {"metadata", "resourceVersion"});
    wo.field_selector = "metadata.name=" + name;
    auto watch = (*client)->Watch(pods_ref, wo);
    if (!watch.ok()) return Fail("watch", watch.status());
    Json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"labels", {{"app", "podstart"}}}}},
        {"spec",
         {{"terminationGracePeriodSeconds", 0},
          {"containers",
           {{{"name", "main"},
             {"image", image},
             {"imagePullPolicy", "Never"},
             {"command", {"sleep", "3600"}}}}}}}};
    auto t0 = Steady::now();
    auto created = (*client)->Create(pods_ref, pod, {});
    if (!created.ok()) return Fail("create " + name, created.status());
    bool ready = false;
    while (!ready) {
      auto ev = (*watch)->Next(std::chrono::seconds(120));
      if (!ev.ok())
        return Fail("waiting for " + name + " to be Ready", ev.status());
      if (ev->type == kite::client::EventType::kBookmark) continue;
      ready = IsReady(ev->object);
      if (verbose) {
        // What each event shows, when: the node, the phase, the conditions
        // that are True.
        const Json& o = ev->object;
        std::string what =
            "node=" + kite::api::GetString(o, {"spec", "nodeName"}) +
            " phase=" + kite::api::GetString(o, {"status", "phase"});
        const Json* conds = kite::api::FieldPath(o, {"status", "conditions"});
        if (conds != nullptr && conds->is_array())
          for (const Json& c : *conds)
            if (kite::api::GetString(c, {"status"}) == "True")
              what += " " + kite::api::GetString(c, {"type"});
        std::printf(
            "  event +%.1f ms %s\n",
            std::chrono::duration<double, std::milli>(Steady::now() - t0)
                .count(),
            what.c_str());
      }
    }
    double t =
        std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
    (*watch)->Cancel();
    ms.push_back(t);
    std::printf("kite pod=%d ms=%.1f\n", i, t);
    std::fflush(stdout);
  }
  std::printf(
      "kite-summary: pods=%d p50_ms=%.0f p99_ms=%.0f min_ms=%.0f max_ms=%.0f\n",
      pods, Percentile(ms, 0.5), Percentile(ms, 0.99),
      *std::min_element(ms.begin(), ms.end()),
      *std::max_element(ms.begin(), ms.end()));
  return 0;
}
