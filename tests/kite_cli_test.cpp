// End-to-end tests of the real `kite` binary: the commands a user types.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tls/tls_client.h"

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs kite with `args` to completion.
Result RunKite(const std::vector<std::string>& args) {
  std::string cmd = KITE_BINARY;
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// An HTTPS client that does not check the server (health and version are
// public; the kubectl tests check the PKI).
std::unique_ptr<kite::tls::TlsClient> InsecureClient(int port) {
  kite::tls::TlsClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.insecure_skip_verify = true;
  return std::move(kite::tls::TlsClient::Create(o)).value();
}

// The flags every test server gets: loopback, a free port, files in `dir`.
std::vector<std::string> ServerFlags(const std::string& dir) {
  return {
      "--data-dir",     dir,         "--https-listen-port", "0",
      "--bind-address", "127.0.0.1", "--write-kubeconfig",  dir + "/kite.yaml",
      "--disable-agent"};
}

// A `kite server` child process with its log in a file.
class ServerProcess {
 public:
  ServerProcess(const std::vector<std::string>& args, const std::string& log)
      : log_(log) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(KITE_BINARY));
      argv.push_back(const_cast<char*>("server"));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(KITE_BINARY, argv.data());
      _exit(127);
    }
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Waits for the "serving ... port=N" log line; returns N, or 0 on timeout.
  int WaitForPort() {
    std::regex re("apiserver serving .*port=([0-9]+)");
    for (int i = 0; i < 200; ++i) {
      std::smatch m;
      std::string log = Slurp(log_);
      if (std::regex_search(log, m, re)) return std::stoi(m[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return 0;
  }

  // Sends SIGTERM and returns the exit code (-1 if it did not exit in 10 s).
  int Terminate() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 400; ++i) {
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return -1;
  }

  std::string Log() const { return Slurp(log_); }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

class KiteCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kite-cli-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    std::string cmd = "rm -rf " + dir_;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  std::string dir_;
};

TEST_F(KiteCliTest, VersionNamesKiteAndKubernetes) {
  Result r = RunKite({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("kite v"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("kubernetes v1.32."), std::string::npos) << r.output;
}

TEST_F(KiteCliTest, BadInputIsRefusedClearly) {
  Result r = RunKite({"server", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown flag --no-such-flag"), std::string::npos)
      << r.output;
  r = RunKite({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown command"), std::string::npos) << r.output;
  r = RunKite({"datastore", "restore", "--data-dir", dir_});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("exactly one FILE"), std::string::npos) << r.output;
}

TEST_F(KiteCliTest, ServerServesHealthAndVersionAndStopsOnSigterm) {
  ServerProcess server(ServerFlags(dir_), dir_ + "/server.log");
  int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.Log();
  auto c = InsecureClient(port);
  for (const char* path : {"/healthz", "/readyz"}) {
    auto res = c->Request("GET", path);
    ASSERT_TRUE(res.ok()) << path << ": " << res.status().ToString();
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "ok");
  }
  auto v = c->Request("GET", "/version");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(nlohmann::json::parse(v->body)["minor"], "32");
  auto anon = c->Request("GET", "/api/v1/namespaces");
  ASSERT_TRUE(anon.ok());
  EXPECT_EQ(anon->status, 401) << "the API needs a client certificate";
  // The kubeconfig is written after the API serves (bootstrap first): wait
  // for "server ready" before looking for it.
  for (int i = 0;
       i < 500 && server.Log().find("server ready") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(access((dir_ + "/kite.yaml").c_str(), R_OK), 0)
      << "no admin kubeconfig";
  EXPECT_EQ(access((dir_ + "/server/db/state.db").c_str(), F_OK), 0)
      << "SQLite default not under the data dir";
  EXPECT_EQ(server.Terminate(), 0) << server.Log();
}

TEST_F(KiteCliTest, ConfigFileKeysAreFlagNames) {
  std::string data = dir_ + "/from-config";
  std::ofstream(dir_ + "/config.yaml")
      << "data-dir: " << data << "\nhttps-listen-port: 0\n"
      << "bind-address: 127.0.0.1\nwrite-kubeconfig: " << dir_ << "/kite.yaml\n"
      << "disable-agent: true\n";
  ServerProcess server({"--config", dir_ + "/config.yaml"},
                       dir_ + "/server.log");
  ASSERT_GT(server.WaitForPort(), 0) << server.Log();
  EXPECT_EQ(access((data + "/server/db/state.db").c_str(), F_OK), 0);
  EXPECT_EQ(server.Terminate(), 0);
}

TEST_F(KiteCliTest, SnapshotIsOnlineRestoreRefusesALiveServer) {
  std::string snap = dir_ + "/snap.db";
  {
    ServerProcess server(ServerFlags(dir_), dir_ + "/server.log");
    ASSERT_GT(server.WaitForPort(), 0) << server.Log();
    Result r = RunKite({"datastore", "snapshot", snap, "--data-dir", dir_});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    r = RunKite({"datastore", "restore", snap, "--data-dir", dir_});
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("in use"), std::string::npos) << r.output;
    r = RunKite({"datastore", "compact", "--data-dir", dir_});
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_EQ(server.Terminate(), 0);
  }
  Result r = RunKite({"datastore", "restore", snap, "--data-dir", dir_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunKite({"datastore", "compact", "--data-dir", dir_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunKite(
      {"datastore", "restore", dir_ + "/server.log", "--data-dir", dir_});
  EXPECT_NE(r.exit_code, 0)
      << "a file that is not a kite snapshot must be refused: " << r.output;

  ServerProcess again(ServerFlags(dir_), dir_ + "/server2.log");
  ASSERT_GT(again.WaitForPort(), 0) << again.Log();
  EXPECT_EQ(again.Terminate(), 0);
}

}  // namespace
