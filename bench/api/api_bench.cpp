// api_bench: load on a running `kite server` over HTTPS, as kubectl and
// controllers put it there (bench/api.sh starts the server and runs this).
//
//   create1   ConfigMaps created per second by one client (one kept-alive
//             connection, one request at a time) for --seconds
//   create32  the same with 32 clients in parallel
//   load      --pods Pods created (32 clients), then
//   list      GET of all of them in one request, as JSON and as a Table
//             (kubectl get's Accept), medians of --list-runs
//   watch     --watchers watches on one namespace; --watch-events creates
//             --watch-gap-ms apart, each timed from just before the POST to
//             each watcher's receipt of its ADDED event (p50/p99/max)
//
// Output: "result key=value ..." lines; the last is
//   result create1_per_s=.. create32_per_s=.. list10k_json_ms=..
//   list10k_table_ms=..
//          watch_p50_ms=.. watch_p99_ms=.. watch_max_ms=.. watch_missing=..
//          errors=..
// When --pause-file is given, it is created after the load phase and the
// program waits until it is removed (api.sh reads the server's RSS then).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tls/tls_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Flags {
  std::string host = "127.0.0.1";
  int port = 6443;
  std::string tls_dir;  // <data-dir>/server/tls
  double seconds = 5;
  int pods = 10000;
  int list_runs = 5;
  int watchers = 100;
  int watch_events = 50;
  int watch_gap_ms = 50;
  std::string pause_file;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::atomic<int> g_errors{0};

std::unique_ptr<kite::tls::TlsClient> NewClient(const Flags& f) {
  kite::tls::TlsClientOptions o;
  o.host = f.host;
  o.port = f.port;
  o.ca_pem = Slurp(f.tls_dir + "/server-ca.crt");
  o.cert_pem = Slurp(f.tls_dir + "/client-admin.crt");
  o.key_pem = Slurp(f.tls_dir + "/client-admin.key");
  o.io_timeout = std::chrono::milliseconds(120000);
  auto c = kite::tls::TlsClient::Create(o);
  if (!c.ok()) {
    std::fprintf(stderr, "api_bench: %s\n", c.status().ToString().c_str());
    std::exit(2);
  }
  return std::move(c).value();
}

bool Post(kite::tls::TlsClient& c, const std::string& path, const json& obj) {
  auto r = c.Request("POST", path, {{"Content-Type", "application/json"}},
                     obj.dump());
  if (!r.ok() || r->status != 201) {
    if (g_errors.fetch_add(1) < 5) {
      std::fprintf(stderr, "api_bench: POST %s: %s\n", path.c_str(),
                   r.ok() ? r->body.substr(0, 200).c_str()
                          : r.status().ToString().c_str());
    }
    return false;
  }
  return true;
}

void CreateNamespace(const Flags& f, const std::string& name) {
  auto c = NewClient(f);
  Post(*c, "/api/v1/namespaces",
       {{"apiVersion", "v1"},
        {"kind", "Namespace"},
        {"metadata", {{"name", name}}}});
}

json ConfigMap(const std::string& name) {
  return {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", name}, {"labels", {{"app", "bench"}}}}},
      {"data", {{"greeting", "hello"}, {"payload", std::string(200, 'x')}}}};
}

json Pod(const std::string& name) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name}, {"labels", {{"app", "bench"}, {"tier", "web"}}}}},
      {"spec",
       {{"containers",
         json::array(
             {{{"name", "web"},
               {"image", "registry.local/busybox:latest"},
               {"command", {"httpd", "-f", "-p", "8080"}},
               {"ports", json::array({{{"containerPort", 8080}}})},
               {"resources",
                {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}}}}})}}}};
}

// Creates ConfigMaps from `clients` threads for `seconds`; creates/s.
double CreateRate(const Flags& f, int clients, const std::string& ns) {
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<kite::tls::TlsClient>> conns;
  for (int i = 0; i < clients; ++i) conns.push_back(NewClient(f));
  // Connect (handshake) before the clock starts.
  for (auto& c : conns) (void)c->Request("GET", "/healthz");
  auto start = Clock::now();
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      for (long n = 0; !stop; ++n) {
        if (Post(*conns[i], "/api/v1/namespaces/" + ns + "/configmaps",
                 ConfigMap("c" + std::to_string(clients) + "-" +
                           std::to_string(i) + "-" + std::to_string(n)))) {
          ++done;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(f.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(done) / secs;
}

void LoadPods(const Flags& f, const std::string& ns) {
  const int clients = 32;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      auto c = NewClient(f);
      for (int n = next++; n < f.pods; n = next++) {
        char name[32];
        std::snprintf(name, sizeof(name), "pod-%05d", n);
        Post(*c, "/api/v1/namespaces/" + ns + "/pods", Pod(name));
      }
    });
  }
  for (auto& t : threads) t.join();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Median ms of listing all pods of `ns` in one request with `accept`.
double ListMs(const Flags& f, const std::string& ns, const std::string& accept,
              size_t* items) {
  auto c = NewClient(f);
  (void)c->Request("GET", "/healthz");
  std::vector<double> ms;
  for (int i = 0; i < f.list_runs; ++i) {
    auto start = Clock::now();
    auto r = c->Request("GET", "/api/v1/namespaces/" + ns + "/pods",
                        {{"Accept", accept}});
    double took =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!r.ok() || r->status != 200) {
      ++g_errors;
      continue;
    }
    json body = json::parse(r->body, nullptr, false);
    if (body.is_discarded()) {
      ++g_errors;
      continue;
    }
    *items = body.contains("items") ? body["items"].size()
                                    : body.value("rows", json::array()).size();
    ms.push_back(took);
  }
  return Median(ms);
}

struct WatchResult {
  std::vector<double> ms;
  long missing = 0;
};

WatchResult WatchDelivery(const Flags& f, const std::string& ns) {
  auto writer = NewClient(f);
  auto list =
      writer->Request("GET", "/api/v1/namespaces/" + ns + "/configmaps");
  std::string rv = list.ok() ? json::parse(list->body)["metadata"].value(
                                   "resourceVersion", "0")
                             : "0";
  std::mutex mu;
  std::map<std::string, Clock::time_point> sent;  // name -> send time
  std::vector<std::vector<double>> got(static_cast<size_t>(f.watchers));
  std::vector<std::unique_ptr<kite::tls::TlsClient>> conns;
  for (int i = 0; i < f.watchers; ++i) conns.push_back(NewClient(f));
  std::vector<std::thread> threads;
  for (int i = 0; i < f.watchers; ++i) {
    threads.emplace_back([&, i] {
      auto r = conns[i]->Stream(
          "GET",
          "/api/v1/namespaces/" + ns +
              "/configmaps?watch=true&resourceVersion=" + rv,
          {}, "", [&](std::string_view line) {
            auto now = Clock::now();
            json ev = json::parse(line, nullptr, false);
            if (ev.is_discarded()) return true;
            std::string name = ev["object"]["metadata"].value("name", "");
            if (name == "stop") return false;
            std::lock_guard<std::mutex> l(mu);
            auto it = sent.find(name);
            if (it != sent.end()) {
              got[static_cast<size_t>(i)].push_back(
                  std::chrono::duration<double, std::milli>(now - it->second)
                      .count());
            }
            return true;
          });
      (void)r;
    });
  }
  // Give every watcher a moment to have its stream open.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  for (int n = 0; n < f.watch_events; ++n) {
    std::string name = "w-" + std::to_string(n);
    {
      std::lock_guard<std::mutex> l(mu);
      sent[name] = Clock::now();
    }
    Post(*writer, "/api/v1/namespaces/" + ns + "/configmaps", ConfigMap(name));
    std::this_thread::sleep_for(std::chrono::milliseconds(f.watch_gap_ms));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Post(*writer, "/api/v1/namespaces/" + ns + "/configmaps", ConfigMap("stop"));
  for (auto& t : threads) t.join();
  WatchResult res;
  for (auto& v : got) {
    res.missing += f.watch_events - static_cast<long>(v.size());
    res.ms.insert(res.ms.end(), v.begin(), v.end());
  }
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      std::string p = std::string("--") + name + "=";
      return a.rfind(p, 0) == 0 ? argv[i] + p.size() : nullptr;
    };
    const char* v = nullptr;
    if ((v = val("host")))
      f.host = v;
    else if ((v = val("port")))
      f.port = std::atoi(v);
    else if ((v = val("tls-dir")))
      f.tls_dir = v;
    else if ((v = val("seconds")))
      f.seconds = std::atof(v);
    else if ((v = val("pods")))
      f.pods = std::atoi(v);
    else if ((v = val("list-runs")))
      f.list_runs = std::atoi(v);
    else if ((v = val("watchers")))
      f.watchers = std::atoi(v);
    else if ((v = val("watch-events")))
      f.watch_events = std::atoi(v);
    else if ((v = val("watch-gap-ms")))
      f.watch_gap_ms = std::atoi(v);
    else if ((v = val("pause-file")))
      f.pause_file = v;
    else {
      std::fprintf(stderr, "api_bench: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (f.tls_dir.empty()) {
    std::fprintf(
        stderr,
        "usage: api_bench --port=N --tls-dir=<data-dir>/server/tls [...]\n");
    return 2;
  }
  CreateNamespace(f, "bench-create");
  CreateNamespace(f, "bench-pods");
  CreateNamespace(f, "bench-watch");

  double c1 = CreateRate(f, 1, "bench-create");
  std::printf("result create1_per_s=%.0f\n", c1);
  std::fflush(stdout);
  double c32 = CreateRate(f, 32, "bench-create");
  std::printf("result create32_per_s=%.0f\n", c32);
  std::fflush(stdout);

  auto load_start = Clock::now();
  LoadPods(f, "bench-pods");
  std::printf("result load_pods=%d load_s=%.1f\n", f.pods,
              std::chrono::duration<double>(Clock::now() - load_start).count());
  std::fflush(stdout);

  size_t json_items = 0, table_rows = 0;
  double list_json = ListMs(f, "bench-pods", "application/json", &json_items);
  double list_table =
      ListMs(f, "bench-pods",
             "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
             &table_rows);
  std::printf(
      "result list_json_ms=%.0f items=%zu list_table_ms=%.0f rows=%zu\n",
      list_json, json_items, list_table, table_rows);
  std::fflush(stdout);

  if (!f.pause_file.empty()) {
    std::ofstream(f.pause_file) << "loaded\n";
    while (std::ifstream(f.pause_file))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  WatchResult w = WatchDelivery(f, "bench-watch");
  std::printf(
      "result create1_per_s=%.0f create32_per_s=%.0f list10k_json_ms=%.0f "
      "list10k_table_ms=%.0f "
      "watch_p50_ms=%.2f watch_p99_ms=%.2f watch_max_ms=%.2f watch_missing=%ld "
      "errors=%d\n",
      c1, c32, list_json, list_table, Percentile(w.ms, 0.5),
      Percentile(w.ms, 0.99),
      w.ms.empty() ? 0.0 : *std::max_element(w.ms.begin(), w.ms.end()),
      w.missing, g_errors.load());
  return g_errors.load() == 0 ? 0 : 1;
}
