// podstart_raw: what containerd itself needs to start a pod (issue 6 item
// 8): the CRI calls a kubelet makes for a one-container pod whose image is
// present (ImageStatus, RunPodSandbox, CreateContainer, StartContainer),
// made one pod after another from a minimal client (cri::CriClient) and
// timed from the first call to StartContainer's answer. The sandbox and
// container look like the ones kite's kubelet makes (labels, log
// directory, cgroup parent, DNS, pid namespace per container). Each pod is
// stopped and removed again after all were measured.
//
// usage: podstart_raw --endpoint unix:///path/containerd.sock
//                     [--pods 20] [--image registry.local/busybox:latest]
//                     [--log-dir DIR]
// Prints one line per pod ("raw pod=<i> ms=<t>") and a summary
// "raw-summary: pods=<n> p50_ms=<n> p99_ms=<n> min_ms=<n> max_ms=<n>".
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "agent/cri/cri_client.h"

namespace {

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

int Fail(const std::string& what, const kite::Status& st) {
  std::fprintf(stderr, "podstart_raw: %s: %s\n", what.c_str(),
               st.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint = Arg(argc, argv, "endpoint", "");
  int pods = std::atoi(Arg(argc, argv, "pods", "20").c_str());
  std::string image = Arg(argc, argv, "image", "registry.local/busybox:latest");
  std::string log_dir = Arg(argc, argv, "log-dir", "/tmp");
  if (endpoint.empty() || pods <= 0) {
    std::fprintf(stderr,
                 "usage: podstart_raw --endpoint unix:///path.sock [--pods N] "
                 "[--image REF] [--log-dir DIR]\n");
    return 2;
  }
  // containerd may still be starting: its CRI plugin answers a few hundred
  // ms after the socket appears.
  auto runtime = kite::cri::ConnectCri(endpoint);
  for (int i = 0; i < 300 && !runtime.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    runtime = kite::cri::ConnectCri(endpoint);
  }
  if (!runtime.ok()) return Fail("connect " + endpoint, runtime.status());
  kite::cri::Runtime& rt = **runtime;

  std::string run = std::to_string(::getpid());
  std::vector<double> ms;
  std::vector<std::string> sandboxes;
  for (int i = 0; i < pods; ++i) {
    std::string name = "raw-" + run + "-" + std::to_string(i);
    std::string uid = "podstart-raw-" + run + "-" + std::to_string(i);
    kite::cri::PodSandboxConfig sb;
    sb.metadata = {name, uid, "podstart", 0};
    sb.hostname = name;
    sb.log_directory = log_dir + "/podstart_" + name + "_" + uid;
    sb.dns_config.servers = {"10.43.0.10"};
    sb.dns_config.searches = {"podstart.svc.cluster.local", "svc.cluster.local",
                              "cluster.local"};
    sb.dns_config.options = {"ndots:5"};
    sb.labels = {{"io.kubernetes.pod.name", name},
                 {"io.kubernetes.pod.namespace", "podstart"},
                 {"io.kubernetes.pod.uid", uid}};
    sb.cgroup_parent = "/kubepods/besteffort/pod" + uid;
    kite::cri::ContainerConfig c;
    c.name = "main";
    c.image = image;
    c.command = {"sleep", "3600"};
    c.log_path = "main/0.log";
    c.labels = sb.labels;
    c.labels["io.kubernetes.container.name"] = "main";

    auto t0 = Steady::now();
    auto present = rt.ImageStatus(image);
    if (!present.ok()) return Fail("ImageStatus", present.status());
    if (!present->has_value()) {
      std::fprintf(stderr, "podstart_raw: image %s is not present\n",
                   image.c_str());
      return 1;
    }
    auto sandbox = rt.RunPodSandbox(sb);
    if (!sandbox.ok()) return Fail("RunPodSandbox", sandbox.status());
    sandboxes.push_back(*sandbox);
    auto container = rt.CreateContainer(*sandbox, c, sb);
    if (!container.ok()) return Fail("CreateContainer", container.status());
    kite::Status started = rt.StartContainer(*container);
    if (!started.ok()) return Fail("StartContainer", started);
    double t =
        std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
    ms.push_back(t);
    std::printf("raw pod=%d ms=%.1f\n", i, t);
    std::fflush(stdout);
  }
  for (const std::string& id : sandboxes) {
    kite::Status st = rt.StopPodSandbox(id);
    if (st.ok()) st = rt.RemovePodSandbox(id);
    if (!st.ok()) Fail("removing sandbox " + id, st);
  }
  // The pods' cgroup parents: runc removes the containers' cgroups, never
  // their parents (a kubelet does that), so without this every run left
  // one empty pod<uid> directory per pod in every hierarchy.
  for (int i = 0; i < pods; ++i) {
    std::string leaf =
        "kubepods/besteffort/podpodstart-raw-" + run + "-" + std::to_string(i);
    std::vector<std::filesystem::path> roots = {"/sys/fs/cgroup"};
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator("/sys/fs/cgroup", ec))
      if (!e.is_symlink(ec) && e.is_directory(ec)) roots.push_back(e.path());
    for (const auto& root : roots) {
      std::filesystem::path dir = root / leaf;
      // Busy for a moment while the last task leaves.
      for (int attempt = 0; attempt < 20 && std::filesystem::exists(dir, ec);
           ++attempt) {
        if (::rmdir(dir.c_str()) == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  std::printf(
      "raw-summary: pods=%d p50_ms=%.0f p99_ms=%.0f min_ms=%.0f max_ms=%.0f\n",
      pods, Percentile(ms, 0.5), Percentile(ms, 0.99),
      *std::min_element(ms.begin(), ms.end()),
      *std::max_element(ms.begin(), ms.end()));
  return 0;
}
