// tls_bench: what TLS costs kite's API server.
//
// Runs a TlsServer in a child process (so its CPU time is its own) and
// drives it from the parent with TlsClient:
//   1. full handshakes, one connection each (with and without a client
//      certificate): server CPU per handshake and client wall time;
//   2. GETs on one kept-alive connection: requests per second and server
//      CPU per request.
// Usage: tls_bench [handshakes=200] [requests=5000]
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tls/cluster_pki.h"
#include "tls/tls_client.h"
#include "tls/tls_server.h"

namespace {

using namespace kite;
using namespace kite::tls;

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

bool WriteAll(int fd, const void* p, size_t n) {
  return write(fd, p, n) == static_cast<ssize_t>(n);
}
bool ReadAll(int fd, void* p, size_t n) {
  return read(fd, p, n) == static_cast<ssize_t>(n);
}

// The child: serves until it reads a byte on `cmd`, answering each byte with
// its CPU seconds so far.
[[noreturn]] void ServeInChild(const ClusterPki& pki, int cmd, int reply) {
  TlsServerOptions o;
  o.cert_pem = pki.serving().cert_pem;
  o.key_pem = pki.serving().key_pem;
  o.client_ca_pem = pki.client_ca().cert_pem;
  auto server = TlsServer::Create(o);
  if (!server.ok()) {
    std::fprintf(stderr, "server: %s\n", server.status().ToString().c_str());
    _exit(1);
  }
  (*server)->Get("/healthz",
                 [](const httplib::Request&, httplib::Response& res) {
                   res.set_content("ok", "text/plain");
                 });
  auto port = (*server)->Start("127.0.0.1", 0);
  if (!port.ok()) _exit(1);
  int p = *port;
  if (!WriteAll(reply, &p, sizeof(p))) _exit(1);
  char c;
  while (ReadAll(cmd, &c, 1)) {
    double cpu = CpuSeconds();
    if (!WriteAll(reply, &cpu, sizeof(cpu))) break;
    if (c == 'q') break;
  }
  (*server)->Stop();
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  int handshakes = argc > 1 ? std::atoi(argv[1]) : 200;
  int requests = argc > 2 ? std::atoi(argv[2]) : 5000;
  auto random = Random::Create();
  if (!random.ok()) return 1;
  FakeEnv env;
  ClusterPkiOptions po;
  po.dir = "/pki";
  auto pki = ClusterPki::Load(env, RealClock(), **random, po);
  if (!pki.ok()) {
    std::fprintf(stderr, "%s\n", pki.status().ToString().c_str());
    return 1;
  }
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) return 1;
  pid_t pid = fork();
  if (pid == 0) ServeInChild(*pki, to_child[0], from_child[1]);
  int port = 0;
  if (!ReadAll(from_child[0], &port, sizeof(port))) return 1;
  auto server_cpu = [&](char c) {
    double cpu = 0;
    if (!WriteAll(to_child[1], &c, 1) ||
        !ReadAll(from_child[0], &cpu, sizeof(cpu)))
      return -1.0;
    return cpu;
  };
  auto client = [&](bool with_cert) {
    TlsClientOptions o;
    o.host = "127.0.0.1";
    o.port = port;
    o.ca_pem = pki->server_ca().cert_pem;
    if (with_cert) {
      o.cert_pem = pki->admin().cert_pem;
      o.key_pem = pki->admin().key_pem;
    }
    return std::move(TlsClient::Create(o)).value();
  };
  using Clock = std::chrono::steady_clock;

  for (bool with_cert : {false, true}) {
    auto c = client(with_cert);
    double cpu0 = server_cpu('c');
    double client0 = CpuSeconds();
    auto t0 = Clock::now();
    for (int i = 0; i < handshakes; ++i) {
      Status st = c->Connect();
      if (!st.ok()) {
        std::fprintf(stderr, "handshake %d: %s\n", i, st.ToString().c_str());
        return 1;
      }
      c->Close();
    }
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    double client1 = CpuSeconds();
    double cpu1 = server_cpu('c');
    std::printf(
        "handshakes %s client cert: n=%d server_cpu_per_handshake_ms=%.2f "
        "client_cpu_per_handshake_ms=%.2f wall_per_handshake_ms=%.2f\n",
        with_cert ? "with" : "without", handshakes,
        (cpu1 - cpu0) * 1000 / handshakes,
        (client1 - client0) * 1000 / handshakes, wall * 1000 / handshakes);
  }

  auto c = client(true);
  if (!c->Request("GET", "/healthz").ok()) return 1;
  double cpu0 = server_cpu('c');
  auto t0 = Clock::now();
  for (int i = 0; i < requests; ++i) {
    auto res = c->Request("GET", "/healthz");
    if (!res.ok() || res->body != "ok") {
      std::fprintf(stderr, "request %d failed\n", i);
      return 1;
    }
  }
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu1 = server_cpu('c');
  std::printf(
      "keep-alive GET /healthz: n=%d connections=%d requests_per_s=%.0f "
      "server_cpu_per_request_us=%.1f\n",
      requests, c->connects(), requests / wall, (cpu1 - cpu0) * 1e6 / requests);
  server_cpu('q');
  int status = 0;
  waitpid(pid, &status, 0);
  return 0;
}
