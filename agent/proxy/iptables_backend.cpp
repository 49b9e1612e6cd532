#include "agent/proxy/iptables_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "agent/proxy/conntrack.h"
#include "common/log.h"

extern char** environ;

namespace kite::proxy {
namespace {

constexpr char kComponent[] = "proxy-iptables";
constexpr auto kCommandTimeout = std::chrono::seconds(30);

// Fixed chains.
constexpr char kServicesChain[] = "KITE-SERVICES";    // nat and filter
constexpr char kNodePortsChain[] = "KITE-NODEPORTS";  // nat
constexpr char kPostroutingChain[] = "KITE-POSTROUTING";
constexpr char kMarkMasqChain[] = "KITE-MARK-MASQ";
// Packet marks: 0x4000 "masquerade in POSTROUTING", 0x2000 "entered through
// a NodePort/externalIP/LB IP of a Cluster-policy service" (masqueraded only
// if the endpoint is remote).
constexpr char kMasqMark[] = "0x4000/0x4000";
constexpr char kExternalMark[] = "0x2000/0x2000";

bool IsIPv4(const std::string& ip) {
  in_addr a{};
  return inet_pton(AF_INET, ip.c_str(), &a) == 1;
}

bool IsIPv6(const std::string& ip) {
  in6_addr a{};
  return inet_pton(AF_INET6, ip.c_str(), &a) == 1;
}

// An address of the family a table set serves (iptables: IPv4,
// ip6tables: IPv6).
bool InFamily(const std::string& ip, bool v6) {
  return v6 ? IsIPv6(ip) : IsIPv4(ip);
}

// "ip/32" or "ip/128".
std::string Host(const std::string& ip, bool v6) {
  return ip + (v6 ? "/128" : "/32");
}

// 64-bit FNV-1a, base32 (13 characters): chain names stay under
// iptables' 28-character limit ("KITE-SEP-" + 13 = 22).
std::string Hash(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  for (int i = 0; i < 13; ++i) {
    out += kAlphabet[h & 31];
    h >>= 5;
  }
  return out;
}

struct Line {
  std::string chain;
  std::string spec;
  bool operator==(const Line&) const = default;
};

// Everything one service port owns: its nat chains (with their rules) and
// its lines in the dispatch chains.
struct PortRules {
  std::vector<std::pair<std::string, std::vector<std::string>>> nat_chains;
  std::vector<Line> nat_dispatch;
  std::vector<Line> filter_dispatch;
};

std::string Comment(const std::string& key, std::string_view what) {
  return "-m comment --comment \"" + key + (what.empty() ? "" : " ") +
         std::string(what) + "\"";
}

std::string ProtoMatch(Protocol p, int port) {
  const char* proto = ProtocolName(p);
  return std::string("-p ") + proto + " -m " + proto + " --dport " +
         std::to_string(port);
}

std::string Reject(Protocol p, bool v6) {
  if (p == Protocol::kTcp) return "-j REJECT --reject-with tcp-reset";
  return v6 ? "-j REJECT --reject-with icmp6-port-unreachable"
            : "-j REJECT --reject-with icmp-port-unreachable";
}

std::string SepChain(const std::string& key, const Endpoint& e) {
  return "KITE-SEP-" + Hash(key + "|" + e.ip + ":" + std::to_string(e.port));
}

// The rules of a chain that spreads connections over `eps`.
std::vector<std::string> BalanceRules(const std::string& key,
                                      const ServicePort& sp,
                                      const std::vector<Endpoint>& eps) {
  std::vector<std::string> rules;
  if (sp.session_affinity) {
    for (const Endpoint& e : eps) {
      std::string sep = SepChain(key, e);
      rules.push_back("-m recent --name " + sep + " --rcheck --seconds " +
                      std::to_string(sp.affinity_timeout_seconds) +
                      " --reap -j " + sep);
    }
  }
  for (size_t i = 0; i < eps.size(); ++i) {
    std::string sep = SepChain(key, eps[i]);
    size_t left = eps.size() - i;
    if (left > 1) {
      char p[32];
      std::snprintf(p, sizeof(p), "%.10f", 1.0 / static_cast<double>(left));
      rules.push_back("-m statistic --mode random --probability " +
                      std::string(p) + " -j " + sep);
    } else {
      rules.push_back("-j " + sep);
    }
  }
  return rules;
}

PortRules RulesFor(const std::string& key, const ServicePort& sp,
                   const BackendOptions& opt, bool v6) {
  PortRules r;
  std::vector<Endpoint> all, local;
  for (const Endpoint& e : sp.endpoints) {
    if (!InFamily(e.ip, v6) || e.port <= 0 || e.port > 65535) continue;
    all.push_back(e);
    if (e.local) local.push_back(e);
  }
  std::vector<std::string> cluster_ips, external_ips, node_ips;
  for (const std::string& ip : sp.cluster_ips) {
    if (InFamily(ip, v6)) cluster_ips.push_back(ip);
  }
  std::set<std::string> seen;
  for (const auto* list : {&sp.external_ips, &sp.load_balancer_ips}) {
    for (const std::string& ip : *list) {
      if (InFamily(ip, v6) && seen.insert(ip).second) {
        external_ips.push_back(ip);
      }
    }
  }
  for (const std::string& ip : opt.node_ips) {
    if (InFamily(ip, v6)) node_ips.push_back(ip);
  }
  const bool node_port = sp.node_port > 0 && !node_ips.empty();
  const bool has_external = node_port || !external_ips.empty();
  const bool want_local = sp.internal_policy_local || sp.external_policy_local;

  const std::string h = Hash(key);
  const std::string svc = "KITE-SVC-" + h;
  const std::string svl = "KITE-SVL-" + h;
  const std::string ext = "KITE-EXT-" + h;
  const bool has_svc = !all.empty();
  const bool has_svl = want_local && !local.empty();
  const bool has_ext = has_external && has_svc;
  const std::string proto = std::string("-p ") + ProtocolName(sp.protocol);

  // Endpoint chains: every endpoint (SVL uses a subset of the same ones).
  for (const Endpoint& e : all) {
    std::string sep = SepChain(key, e);
    std::vector<std::string> rules;
    rules.push_back("-s " + Host(e.ip, v6) + " " + Comment(key, "hairpin") +
                    " -j " + kMarkMasqChain);
    if (!e.local) {
      rules.push_back(std::string("-m mark --mark ") + kExternalMark + " -j " +
                      kMarkMasqChain);
    }
    rules.push_back(proto +
                    (sp.session_affinity ? " -m recent --name " + sep + " --set"
                                         : std::string()) +
                    " " + Comment(key, "") + " -j DNAT --to-destination " +
                    (v6 ? "[" + e.ip + "]" : e.ip) + ":" +
                    std::to_string(e.port));
    r.nat_chains.emplace_back(sep, std::move(rules));
  }
  if (has_svc) r.nat_chains.emplace_back(svc, BalanceRules(key, sp, all));
  if (has_svl) r.nat_chains.emplace_back(svl, BalanceRules(key, sp, local));
  if (has_ext) {
    std::vector<std::string> rules;
    if (sp.external_policy_local) {
      if (!opt.cluster_cidr.empty()) {
        rules.push_back("-s " + opt.cluster_cidr + " " +
                        Comment(key, "pod traffic") + " -j " + svc);
      }
      rules.push_back("-m addrtype --src-type LOCAL " +
                      Comment(key, "node traffic") + " -j " + kMarkMasqChain);
      rules.push_back("-m addrtype --src-type LOCAL -j " + svc);
      if (has_svl) rules.push_back("-j " + svl);
    } else {
      rules.push_back(std::string("-j MARK --set-xmark ") + kExternalMark);
      rules.push_back("-j " + svc);
    }
    r.nat_chains.emplace_back(ext, std::move(rules));
  }

  // Dispatch lines and rejects.
  const std::string cluster_target =
      sp.internal_policy_local ? (has_svl ? svl : "") : (has_svc ? svc : "");
  const std::string dport = ProtoMatch(sp.protocol, sp.port);
  for (const std::string& ip : cluster_ips) {
    std::string dst = "-d " + Host(ip, v6) + " " + dport + " ";
    if (!cluster_target.empty()) {
      if (!opt.cluster_cidr.empty()) {
        r.nat_dispatch.push_back(
            {kServicesChain, dst + "! -s " + opt.cluster_cidr + " " +
                                 Comment(key, "cluster IP") + " -j " +
                                 kMarkMasqChain});
      }
      r.nat_dispatch.push_back(
          {kServicesChain,
           dst + Comment(key, "cluster IP") + " -j " + cluster_target});
    } else {
      r.filter_dispatch.push_back(
          {kServicesChain, dst + Comment(key, "has no endpoints") + " " +
                               Reject(sp.protocol, v6)});
    }
  }
  const bool external_served =
      has_ext && (!sp.external_policy_local || has_svl);
  for (const std::string& ip : external_ips) {
    std::string dst = "-d " + Host(ip, v6) + " " + dport + " ";
    if (has_ext) {
      r.nat_dispatch.push_back(
          {kServicesChain, dst + Comment(key, "external IP") + " -j " + ext});
    }
    if (!external_served) {
      r.filter_dispatch.push_back(
          {kServicesChain, dst + Comment(key, "has no endpoints") + " " +
                               Reject(sp.protocol, v6)});
    }
  }
  if (node_port) {
    std::string np = ProtoMatch(sp.protocol, sp.node_port);
    if (has_ext) {
      r.nat_dispatch.push_back(
          {kNodePortsChain,
           np + " " + Comment(key, "node port") + " -j " + ext});
    }
    if (!external_served) {
      for (const std::string& ip : node_ips) {
        r.filter_dispatch.push_back(
            {kServicesChain, "-d " + Host(ip, v6) + " " + np + " " +
                                 Comment(key, "has no endpoints") + " " +
                                 Reject(sp.protocol, v6)});
      }
    }
  }
  return r;
}

// One table's part of an iptables-restore input, in the order the
// commands must run: chain declarations (which also flush existing
// chains), rule deletions, appends, chain deletions.
struct TableInput {
  std::vector<std::string> declare;
  std::vector<std::string> first;  // -D and -I of the hooks
  std::vector<std::string> append;
  std::vector<std::string> remove;

  bool empty() const {
    return declare.empty() && first.empty() && append.empty() && remove.empty();
  }
  void Write(const char* table, std::string* out) const {
    if (empty()) return;
    *out += std::string("*") + table + "\n";
    for (const auto& l : declare) *out += ":" + l + " - [0:0]\n";
    for (const auto& l : first) *out += l + "\n";
    for (const auto& l : append) *out += l + "\n";
    for (const auto& l : remove) *out += "-X " + l + "\n";
    *out += "COMMIT\n";
  }
};

void AppendChains(const PortRules& r, TableInput* nat) {
  for (const auto& [chain, rules] : r.nat_chains) {
    for (const auto& rule : rules)
      nat->append.push_back("-A " + chain + " " + rule);
  }
}

void AppendDispatch(const std::vector<Line>& lines, const char* op,
                    std::vector<std::string>* out) {
  for (const Line& l : lines) {
    out->push_back(std::string(op) + " " + l.chain + " " + l.spec);
  }
}

// The fixed chains' rules and the jumps from the built-in chains.
void InstallBase(const BackendOptions& opt, bool v6, TableInput* nat,
                 TableInput* filter) {
  for (const char* c :
       {kServicesChain, kNodePortsChain, kPostroutingChain, kMarkMasqChain}) {
    nat->declare.push_back(c);
  }
  filter->declare.push_back(kServicesChain);
  // Hooks go first in the built-in chains (-I 1, so written in reverse).
  for (const char* builtin : {"PREROUTING", "OUTPUT"}) {
    for (auto it = opt.node_ips.rbegin(); it != opt.node_ips.rend(); ++it) {
      if (!InFamily(*it, v6)) continue;
      nat->first.push_back(
          std::string("-I ") + builtin + " 1 -d " + Host(*it, v6) +
          " -m comment --comment \"kite node ports\" -j " + kNodePortsChain);
    }
    nat->first.push_back(
        std::string("-I ") + builtin +
        " 1 -m comment --comment \"kite service portals\" -j " +
        kServicesChain);
  }
  nat->first.push_back(
      std::string("-I POSTROUTING 1 -m comment --comment \"kite masquerade\" "
                  "-j ") +
      kPostroutingChain);
  for (const char* builtin : {"INPUT", "FORWARD", "OUTPUT"}) {
    filter->first.push_back(
        std::string("-I ") + builtin +
        " 1 -m conntrack --ctstate NEW -m comment --comment \"kite service "
        "rejects\" -j " +
        kServicesChain);
  }
  nat->append.push_back(std::string("-A ") + kMarkMasqChain +
                        " -j MARK --set-xmark " + kMasqMark);
  const std::string post = std::string("-A ") + kPostroutingChain + " ";
  nat->append.push_back(post + "-m mark --mark " + kExternalMark +
                        " -j MARK --set-xmark 0x0/0x2000");
  nat->append.push_back(post + "-m mark ! --mark " + kMasqMark + " -j RETURN");
  nat->append.push_back(post + "-j MARK --set-xmark 0x0/0x4000");
  nat->append.push_back(post + "-j MASQUERADE");
}

// The chains this backend owns. Other KITE-* chains (the pod network's
// KITE-PODNET-MASQ) are left alone.
bool IsProxyChain(std::string_view name) {
  for (std::string_view fixed :
       {kServicesChain, kNodePortsChain, kPostroutingChain, kMarkMasqChain}) {
    if (name == fixed) return true;
  }
  for (std::string_view prefix :
       {"KITE-SVC-", "KITE-SVL-", "KITE-EXT-", "KITE-SEP-"}) {
    if (name.starts_with(prefix)) return true;
  }
  return false;
}

// The first word of `s`.
std::string_view Word(std::string_view s) { return s.substr(0, s.find(' ')); }

// What an iptables-save of one table holds of this backend's: its chains,
// and deletions of the rules in other chains that jump to one.
void ParseSave(std::string_view save, std::vector<std::string>* chains,
               std::vector<std::string>* unhook) {
  size_t pos = 0;
  while (pos < save.size()) {
    size_t end = save.find('\n', pos);
    if (end == std::string_view::npos) end = save.size();
    std::string_view line = save.substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with(":")) {
      std::string_view name = Word(line.substr(1));
      if (IsProxyChain(name)) chains->emplace_back(name);
    } else if (line.starts_with("-A ") && !IsProxyChain(Word(line.substr(3)))) {
      size_t j = line.find(" -j ");
      if (j != std::string_view::npos &&
          IsProxyChain(Word(line.substr(j + 4)))) {
        unhook->push_back("-D " + std::string(line.substr(3)));
      }
    }
  }
}

}  // namespace

std::string IptablesIncrementalInput(const ProxySnapshot& prev,
                                     const ProxySnapshot& next,
                                     const BackendOptions& options, bool ipv6) {
  TableInput nat, filter;
  std::vector<std::string> nat_delete, filter_delete;
  std::vector<std::string> nat_add, filter_add;
  std::set<std::string> keys;
  for (const auto& [k, sp] : prev.ports) keys.insert(k);
  for (const auto& [k, sp] : next.ports) keys.insert(k);
  for (const std::string& key : keys) {
    auto p = prev.ports.find(key);
    auto n = next.ports.find(key);
    if (p != prev.ports.end() && n != next.ports.end() &&
        p->second == n->second) {
      continue;
    }
    PortRules old_rules, new_rules;
    if (p != prev.ports.end())
      old_rules = RulesFor(key, p->second, options, ipv6);
    if (n != next.ports.end())
      new_rules = RulesFor(key, n->second, options, ipv6);
    std::set<std::string> new_chains;
    for (const auto& [chain, rules] : new_rules.nat_chains) {
      new_chains.insert(chain);
      nat.declare.push_back(chain);
    }
    for (const auto& [chain, rules] : old_rules.nat_chains) {
      if (new_chains.count(chain)) continue;
      nat.declare.push_back(chain);  // flushed, so it can be deleted
      nat.remove.push_back(chain);
    }
    if (old_rules.nat_dispatch != new_rules.nat_dispatch) {
      AppendDispatch(old_rules.nat_dispatch, "-D", &nat_delete);
      AppendDispatch(new_rules.nat_dispatch, "-A", &nat_add);
    }
    if (old_rules.filter_dispatch != new_rules.filter_dispatch) {
      AppendDispatch(old_rules.filter_dispatch, "-D", &filter_delete);
      AppendDispatch(new_rules.filter_dispatch, "-A", &filter_add);
    }
    AppendChains(new_rules, &nat);
  }
  // Dispatch deletions before any append (a changed line may be deleted
  // and appended again), appends to dispatch before the chains' rules.
  nat.first = std::move(nat_delete);
  nat.append.insert(nat.append.begin(), nat_add.begin(), nat_add.end());
  filter.first = std::move(filter_delete);
  filter.append = std::move(filter_add);
  std::string out;
  nat.Write("nat", &out);
  filter.Write("filter", &out);
  return out;
}

std::string IptablesFullInput(const ProxySnapshot& next,
                              const BackendOptions& options,
                              std::string_view nat_save,
                              std::string_view filter_save, bool install,
                              bool ipv6) {
  TableInput nat, filter;
  std::vector<std::string> nat_old, filter_old;
  ParseSave(nat_save, &nat_old, &nat.first);
  ParseSave(filter_save, &filter_old, &filter.first);
  // Flush every old chain first (so no rule refers to another), delete
  // those not declared again.
  for (const auto& c : nat_old) nat.declare.push_back(c);
  for (const auto& c : filter_old) filter.declare.push_back(c);
  std::set<std::string> nat_new, filter_new;
  if (install) {
    InstallBase(options, ipv6, &nat, &filter);
    for (const auto& [key, sp] : next.ports) {
      PortRules r = RulesFor(key, sp, options, ipv6);
      for (const auto& [chain, rules] : r.nat_chains)
        nat.declare.push_back(chain);
      AppendDispatch(r.nat_dispatch, "-A", &nat.append);
      AppendDispatch(r.filter_dispatch, "-A", &filter.append);
    }
    for (const auto& [key, sp] : next.ports) {
      AppendChains(RulesFor(key, sp, options, ipv6), &nat);
    }
    nat_new.insert(nat.declare.begin() + nat_old.size(), nat.declare.end());
    filter_new.insert(filter.declare.begin() + filter_old.size(),
                      filter.declare.end());
  }
  for (const auto& c : nat_old) {
    if (!nat_new.count(c)) nat.remove.push_back(c);
  }
  for (const auto& c : filter_old) {
    if (!filter_new.count(c)) filter.remove.push_back(c);
  }
  std::string out;
  nat.Write("nat", &out);
  filter.Write("filter", &out);
  return out;
}

StatusOr<IptablesCommandResult> RunIptablesCommand(
    const std::vector<std::string>& argv, const std::string& input) {
  if (argv.empty()) return InvalidArgumentError("empty command");
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return InternalError("pipe2 failed");
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return InternalError("pipe2 failed");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  close(out[1]);
  if (err != 0) {
    close(in[1]);
    close(out[0]);
    std::string msg = "run " + argv[0] + ": " + std::strerror(err);
    return err == ENOENT ? NotFoundError(msg) : InternalError(msg);
  }
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  // SIGPIPE (the child exits before reading all its input) is blocked
  // here and an already pending one left alone; ours is taken back below.
  sigset_t pipe_set, old_mask, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

  IptablesCommandResult result;
  size_t written = 0;
  int in_fd = in[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  const auto deadline = std::chrono::steady_clock::now() + kCommandTimeout;
  bool timed_out = false;
  while (true) {
    pollfd fds[2];
    int n = 0;
    fds[n++] = {out[0], POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int r = poll(fds, n, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (n > 1 && fds[1].revents != 0) {
      ssize_t w = write(in_fd, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
          written == input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
    if (fds[0].revents != 0) {
      char buf[4096];
      ssize_t got = read(out[0], buf, sizeof(buf));
      if (got > 0) {
        result.output.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        break;  // EOF: the child closed its output
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out[0]);
  if (!was_pending) {
    timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return DeadlineExceededError("timed out: " + argv[0]);
  result.exit_code = WIFEXITED(status)     ? WEXITSTATUS(status)
                     : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                           : 1;
  return result;
}

namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.size() > 2000) s = s.substr(0, 2000) + "...";
  return s;
}

// One address family's tools, and the options with its cluster CIDR.
struct Family {
  bool v6 = false;
  std::string restore;
  std::string save;
  BackendOptions options;
};

class IptablesBackend : public Backend {
 public:
  IptablesBackend(const BackendOptions& options, IptablesRunner runner,
                  std::vector<Family> families)
      : runner_(std::move(runner)),
        families_(std::move(families)),
        conntrack_(NewConntrackFor(options.command_prefix)) {}

  const char* name() const override { return "iptables"; }

  Status Sync(const ProxySnapshot& snapshot) override {
    std::vector<std::string> inputs;
    for (const Family& f : families_) {
      if (!synced_) {
        auto nat = Save(f, "nat");
        if (!nat.ok()) return nat.status();
        auto filter = Save(f, "filter");
        if (!filter.ok()) return filter.status();
        inputs.push_back(
            IptablesFullInput(snapshot, f.options, *nat, *filter, true, f.v6));
      } else {
        inputs.push_back(
            IptablesIncrementalInput(prev_, snapshot, f.options, f.v6));
      }
    }
    size_t bytes = 0;
    for (size_t i = 0; i < families_.size(); ++i) {
      if (inputs[i].empty()) continue;
      bytes += inputs[i].size();
      Status s = Restore(families_[i], inputs[i]);
      if (!s.ok()) {
        synced_ = false;  // state unknown: the next Sync rebuilds it all
        return s;
      }
    }
    // A UDP client that keeps its socket would stay with a removed
    // endpoint: delete those flows' conntrack entries (best effort).
    std::set<std::pair<std::string, int>> gone =
        GoneUdpEndpoints(prev_, snapshot);
    if (!gone.empty() && conntrack_) {
      StatusOr<int> n = conntrack_->DeleteUdpFlowsTo(gone);
      if (!n.ok()) {
        log::Warn(kComponent,
                  "could not delete UDP flows to removed endpoints")(
            "error", n.status().ToString());
      } else if (*n > 0) {
        log::Debug(kComponent, "deleted UDP flows")("entries", *n);
      }
    }
    log::Debug(kComponent, "synced")("services", snapshot.ports.size())(
        "full", !synced_)("bytes", bytes);
    prev_ = snapshot;
    synced_ = true;
    return Status::Ok();
  }

  Status Cleanup() override {
    synced_ = false;
    prev_ = ProxySnapshot();
    Status result;
    for (const Family& f : families_) {
      auto nat = Save(f, "nat");
      auto filter = nat.ok() ? Save(f, "filter") : nat.status();
      Status s = filter.status();
      if (filter.ok()) {
        std::string input = IptablesFullInput(ProxySnapshot(), f.options, *nat,
                                              *filter, false, f.v6);
        if (!input.empty()) s = Restore(f, input);
      }
      if (result.ok() && !s.ok()) result = s;
    }
    return result;
  }

 private:
  std::vector<std::string> Command(const Family& f,
                                   std::vector<std::string> args) const {
    std::vector<std::string> argv = f.options.command_prefix;
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  StatusOr<std::string> Save(const Family& f, const char* table) {
    auto r = runner_(Command(f, {f.save, "-t", table}), "");
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return InternalError(f.save + " -t " + table + " exited " +
                           std::to_string(r->exit_code) + ": " +
                           Trim(r->output));
    }
    return std::move(r->output);
  }

  Status Restore(const Family& f, const std::string& input) {
    auto r = runner_(Command(f, {f.restore, "-w", "5", "--noflush"}), input);
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return InternalError(f.restore + " exited " +
                           std::to_string(r->exit_code) + ": " +
                           Trim(r->output));
    }
    return Status::Ok();
  }

  const IptablesRunner runner_;
  const std::vector<Family> families_;          // IPv4, then IPv6 if served
  const std::unique_ptr<Conntrack> conntrack_;  // may be null
  bool synced_ = false;
  ProxySnapshot prev_;
};

// The IPv4 and IPv6 CIDRs of a CIDR option ("10.42.0.0/16", or a
// dual-stack list "10.42.0.0/16,fd00:42::/56"): the first of each family
// ("" when none); InvalidArgument when an entry is neither.
Status SplitCidrs(const std::string& what, const std::string& option,
                  std::string* v4, std::string* v6) {
  size_t pos = 0;
  while (!option.empty() && pos <= option.size()) {
    size_t comma = option.find(',', pos);
    std::string entry = option.substr(
        pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? option.size() + 1 : comma + 1;
    size_t slash = entry.find('/');
    std::string ip = entry.substr(0, slash);
    int bits = -1;
    if (slash != std::string::npos && slash + 1 < entry.size() &&
        entry.size() - slash <= 4 &&
        entry.find_first_not_of("0123456789", slash + 1) == std::string::npos) {
      bits = std::stoi(entry.substr(slash + 1));
    }
    if (IsIPv4(ip) && bits >= 0 && bits <= 32) {
      if (v4->empty()) *v4 = entry;
    } else if (IsIPv6(ip) && bits >= 0 && bits <= 128) {
      if (v6->empty()) *v6 = entry;
    } else {
      return InvalidArgumentError(what + " \"" + option +
                                  "\": want IPv4 or IPv6 CIDRs");
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Backend>> NewIptablesBackendWithRunner(
    const BackendOptions& options, IptablesRunner runner) {
  std::string cluster4, cluster6, service4, service6;
  KITE_RETURN_IF_ERROR(
      SplitCidrs("cluster CIDR", options.cluster_cidr, &cluster4, &cluster6));
  KITE_RETURN_IF_ERROR(
      SplitCidrs("service CIDR", options.service_cidr, &service4, &service6));
  const bool want_v6 = !cluster6.empty() || !service6.empty();
  struct Tools {
    const char* restore;
    const char* save;
    const char* restore6;
    const char* save6;
  };
  static constexpr Tools kCandidates[] = {
      {"iptables-nft-restore", "iptables-nft-save", "ip6tables-nft-restore",
       "ip6tables-nft-save"},
      {"iptables-legacy-restore", "iptables-legacy-save",
       "ip6tables-legacy-restore", "ip6tables-legacy-save"},
      {"iptables-restore", "iptables-save", "ip6tables-restore",
       "ip6tables-save"},
  };
  // Checked, not committed (--test).
  static constexpr char kProbe[] =
      "*nat\n:KITE-PROBE - [0:0]\n"
      "-A KITE-PROBE -m statistic --mode random --probability 0.5 -j RETURN\n"
      "COMMIT\n";
  auto prefixed = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = options.command_prefix;
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };
  // "" when `save` reads nat and filter and `restore` takes the probe.
  auto probe = [&](const std::string& restore, const std::string& save) {
    for (const char* table : {"nat", "filter"}) {
      auto r = runner(prefixed({save, "-t", table}), "");
      if (!r.ok()) return r.status().message();
      if (r->exit_code != 0) {
        return save + " -t " + table + " exited " +
               std::to_string(r->exit_code) + ": " + Trim(r->output);
      }
    }
    auto r =
        runner(prefixed({restore, "-w", "5", "--noflush", "--test"}), kProbe);
    if (!r.ok()) return r.status().message();
    if (r->exit_code != 0) {
      return restore + " exited " + std::to_string(r->exit_code) + ": " +
             Trim(r->output);
    }
    return std::string();
  };
  std::string reasons;
  for (const Tools& t : kCandidates) {
    std::string failure = probe(t.restore, t.save);
    if (!failure.empty()) {
      reasons += (reasons.empty() ? "" : "; ") + failure;
      continue;
    }
    std::vector<Family> families(1);
    families[0] = {false, t.restore, t.save, options};
    families[0].options.cluster_cidr = cluster4;
    if (want_v6) {
      std::string failure6 = probe(t.restore6, t.save6);
      if (failure6.empty()) {
        families.push_back({true, t.restore6, t.save6, options});
        families[1].options.cluster_cidr = cluster6;
      } else {
        log::Warn(kComponent, "IPv6 services are not served")("error",
                                                              failure6);
      }
    }
    log::Info(kComponent, "using")("restore", t.restore)(
        "ipv6", families.size() > 1 ? t.restore6 : "no");
    return std::unique_ptr<Backend>(
        new IptablesBackend(options, std::move(runner), std::move(families)));
  }
  return FailedPreconditionError("iptables is not usable: " + reasons);
}

StatusOr<std::unique_ptr<Backend>> NewIptablesBackend(
    const BackendOptions& options) {
  return NewIptablesBackendWithRunner(options, RunIptablesCommand);
}

}  // namespace kite::proxy
