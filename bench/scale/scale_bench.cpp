// scale_bench: the control plane at scale (issue 5 item 6, bench/scale.sh).
//
// Against a running kite server with simulated nodes (kite-simnodes), over
// HTTPS with the admin kubeconfig:
//   1. watches the pods of --namespace (one watch, re-listed if it ends);
//   2. creates --deployments Deployments of --replicas replicas each (tiny
//      requests, a pause image the simulated nodes never run);
//   3. from the moment the last create returned, waits until every pod is
//      Running (phase Running, not terminating), measuring
//        all_running_s  seconds from the last create until all are Running;
//        bind_per_s     pods bound per second: bound pods divided by the
//                       time between the first and the last pod seen bound
//                       (spec.nodeName set) on the watch;
//   4. meanwhile a probe creates a ConfigMap and merge-patches it every
//      --probe-interval-ms; every mutating call of the run (the Deployment
//      creates and the probe's calls) is timed client-side:
//        mutating_p50_ms, mutating_p99_ms, mutating_calls, errors.
// Prints progress lines and one final line:
//   result all_running_s=<n> bind_per_s=<n> mutating_p50_ms=<n>
//          mutating_p99_ms=<n> mutating_calls=<n> errors=<n> pods=<n>
// Exit 1 when not all pods ran within --timeout seconds.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/https_client.h"

namespace {

using kite::client::Json;
using Clock = std::chrono::steady_clock;

const kite::client::ResourceRef kPods{"", "v1", "pods", ""};
const kite::client::ResourceRef kDeployments{"apps", "v1", "deployments", ""};
const kite::client::ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
const kite::client::ResourceRef kNamespaces{"", "v1", "namespaces", ""};

struct Flags {
  std::string kubeconfig;
  std::string ns = "scale";
  int deployments = 30;
  int replicas = 100;
  int timeout_s = 600;
  int probe_interval_ms = 100;
};

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Pod states seen on the watch.
class PodTracker {
 public:
  explicit PodTracker(size_t want) : want_(want) {}

  void Observe(const Json& pod, bool deleted) {
    const Json& meta = pod["metadata"];
    std::string name = meta.value("name", "");
    auto now = Clock::now();
    std::lock_guard<std::mutex> l(mu_);
    std::string node;
    if (pod.contains("spec") && pod["spec"].is_object())
      node = pod["spec"].value("nodeName", "");
    if (!node.empty() && !bound_.count(name)) {
      bound_[name] = now;
      if (bound_.size() == 1) first_bind_ = now;
      last_bind_ = now;
    }
    bool running = !deleted && !meta.contains("deletionTimestamp") &&
                   pod.contains("status") && pod["status"].is_object() &&
                   pod["status"].value("phase", "") == "Running";
    if (running) {
      running_.insert(name);
    } else {
      running_.erase(name);
    }
    if (running_.size() >= want_ && !all_running_) {
      all_running_ = now;
      cv_.notify_all();
    }
  }

  // Waits until all are Running or `deadline`; true when they are.
  bool Wait(Clock::time_point deadline) {
    std::unique_lock<std::mutex> l(mu_);
    auto last_report = Clock::now();
    while (!all_running_) {
      if (cv_.wait_until(
              l, std::min(deadline, last_report + std::chrono::seconds(5))) ==
              std::cv_status::timeout &&
          Clock::now() >= deadline)
        return false;
      if (Clock::now() - last_report >= std::chrono::seconds(5)) {
        last_report = Clock::now();
        std::cerr << "scale_bench: bound=" << bound_.size()
                  << " running=" << running_.size() << "/" << want_ << "\n";
      }
    }
    return true;
  }

  std::optional<Clock::time_point> all_running() {
    std::lock_guard<std::mutex> l(mu_);
    return all_running_;
  }
  void BindStats(size_t* n, Clock::duration* span) {
    std::lock_guard<std::mutex> l(mu_);
    *n = bound_.size();
    *span = last_bind_ - first_bind_;
  }
  size_t Running() {
    std::lock_guard<std::mutex> l(mu_);
    return running_.size();
  }

 private:
  const size_t want_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Clock::time_point> bound_;
  std::set<std::string> running_;
  Clock::time_point first_bind_, last_bind_;
  std::optional<Clock::time_point> all_running_;
};

// Watches pods of `ns` until `stop`, re-listing when the watch ends.
void WatchPods(kite::client::Interface& client, const std::string& ns,
               PodTracker& tracker, std::atomic<bool>& stop) {
  while (!stop) {
    auto list = client.List(kPods.In(ns), {});
    if (!list.ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    for (const Json& pod : (*list)["items"]) tracker.Observe(pod, false);
    kite::client::WatchOptions wo;
    wo.resource_version =
        (*list)["metadata"].value("resourceVersion", std::string());
    auto stream = client.Watch(kPods.In(ns), wo);
    if (!stream.ok()) continue;
    while (!stop) {
      auto ev = (*stream)->Next(std::chrono::milliseconds(500));
      if (!ev.ok()) {
        if (ev.status().code() == kite::Code::kDeadlineExceeded) continue;
        break;  // ended: re-list
      }
      if (ev->type == kite::client::EventType::kError) break;
      if (ev->type == kite::client::EventType::kBookmark) continue;
      tracker.Observe(ev->object,
                      ev->type == kite::client::EventType::kDeleted);
    }
  }
}

Json DeploymentObject(const std::string& ns, int i, int replicas) {
  std::string name = "scale-" + std::to_string(i);
  return Json{
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", name}, {"namespace", ns}}},
      {"spec",
       {{"replicas", replicas},
        {"selector", {{"matchLabels", {{"app", name}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", name}}}}},
          {"spec",
           {{"containers", Json::array({{{"name", "pause"},
                                         {"image", "registry.local/pause:3.10"},
                                         {"resources",
                                          {{"requests",
                                            {{"cpu", "10m"},
                                             {"memory", "16Mi"}}}}}}})}}}}}}}};
}

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    size_t eq = a.find('=');
    if (a.rfind("--", 0) != 0 || eq == std::string::npos) return false;
    std::string k = a.substr(2, eq - 2), v = a.substr(eq + 1);
    if (k == "kubeconfig") {
      f->kubeconfig = v;
    } else if (k == "namespace") {
      f->ns = v;
    } else if (k == "deployments") {
      f->deployments = std::atoi(v.c_str());
    } else if (k == "replicas") {
      f->replicas = std::atoi(v.c_str());
    } else if (k == "timeout") {
      f->timeout_s = std::atoi(v.c_str());
    } else if (k == "probe-interval-ms") {
      f->probe_interval_ms = std::atoi(v.c_str());
    } else {
      return false;
    }
  }
  return !f->kubeconfig.empty() && f->deployments > 0 && f->replicas > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (!ParseFlags(argc, argv, &f)) {
    std::cerr << "usage: scale_bench --kubeconfig=PATH [--namespace=scale] "
                 "[--deployments=30] [--replicas=100] [--timeout=600] "
                 "[--probe-interval-ms=100]\n";
    return 2;
  }
  auto config = kite::client::ConfigFromKubeconfigFile(f.kubeconfig);
  if (!config.ok()) {
    std::cerr << "scale_bench: " << config.status().ToString() << "\n";
    return 1;
  }
  config->max_connections = 16;
  config->user_agent = "kite-scale-bench";
  auto created = kite::client::HttpsClient::Create(*config);
  if (!created.ok()) {
    std::cerr << "scale_bench: " << created.status().ToString() << "\n";
    return 1;
  }
  kite::client::Interface& client = **created;
  auto ns =
      client.Create(kNamespaces, Json{{"metadata", {{"name", f.ns}}}}, {});
  if (!ns.ok() && ns.status().code() != kite::Code::kAlreadyExists) {
    std::cerr << "scale_bench: namespace: " << ns.status().ToString() << "\n";
    return 1;
  }

  const size_t total = static_cast<size_t>(f.deployments) * f.replicas;
  PodTracker tracker(total);
  std::atomic<bool> stop{false};
  std::thread watcher([&] { WatchPods(client, f.ns, tracker, stop); });

  std::mutex lat_mu;
  std::vector<double> latencies;
  std::atomic<int> errors{0};
  auto timed = [&](auto&& call) {
    auto start = Clock::now();
    bool ok = call();
    double ms = Ms(Clock::now() - start);
    if (!ok) ++errors;
    std::lock_guard<std::mutex> l(lat_mu);
    latencies.push_back(ms);
  };

  std::thread probe([&] {
    for (int i = 0; !stop; ++i) {
      std::string name = "probe-" + std::to_string(i);
      timed([&] {
        return client
            .Create(kConfigMaps.In(f.ns),
                    Json{{"metadata", {{"name", name}}},
                         {"data", {{"n", std::to_string(i)}}}},
                    {})
            .ok();
      });
      timed([&] {
        return client
            .Patch(kConfigMaps.In(f.ns), name, kite::client::PatchType::kMerge,
                   R"({"data":{"patched":"yes"}})", {})
            .ok();
      });
      std::this_thread::sleep_for(
          std::chrono::milliseconds(f.probe_interval_ms));
    }
  });

  for (int i = 0; i < f.deployments; ++i) {
    timed([&] {
      auto st = client.Create(kDeployments.In(f.ns),
                              DeploymentObject(f.ns, i, f.replicas), {});
      if (!st.ok())
        std::cerr << "scale_bench: create deployment: "
                  << st.status().ToString() << "\n";
      return st.ok();
    });
  }
  Clock::time_point applied = Clock::now();
  std::cerr << "scale_bench: " << f.deployments << " deployments of "
            << f.replicas << " created; waiting for " << total
            << " pods Running\n";
  bool all = tracker.Wait(applied + std::chrono::seconds(f.timeout_s));
  stop = true;
  probe.join();
  watcher.join();

  size_t bound = 0;
  Clock::duration span{};
  tracker.BindStats(&bound, &span);
  double span_s = std::chrono::duration<double>(span).count();
  double bind_per_s = span_s > 0 ? bound / span_s : 0;
  std::vector<double> lat;
  {
    std::lock_guard<std::mutex> l(lat_mu);
    lat = latencies;
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    if (lat.empty()) return 0.0;
    size_t idx = static_cast<size_t>(std::ceil(p * lat.size())) - 1;
    return lat[std::min(idx, lat.size() - 1)];
  };
  double all_running_s =
      all ? std::chrono::duration<double>(*tracker.all_running() - applied)
                .count()
          : -1;
  char line[512];
  std::snprintf(line, sizeof(line),
                "result all_running_s=%.1f bind_per_s=%.0f "
                "mutating_p50_ms=%.1f mutating_p99_ms=%.1f mutating_calls=%zu "
                "errors=%d pods=%zu bound=%zu",
                all_running_s, bind_per_s, pct(0.5), pct(0.99), lat.size(),
                errors.load(), tracker.Running(), bound);
  std::cout << line << std::endl;
  return all ? 0 : 1;
}
