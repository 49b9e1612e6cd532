#include "agent/proxy/nft_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <utility>

#include "common/log.h"

namespace kite::proxy {
namespace {

constexpr char kComponent[] = "proxy-nft";
constexpr char kServiceIps[] = "service-ips";
constexpr char kServiceNodePorts[] = "service-nodeports";
constexpr int kMaxReadableName = 120;

std::string Hex(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

// What differs between the ip and the ip6 table.
struct Fam {
  bool v6;
  const char* table;      // "ip kite-proxy"
  const char* addr_type;  // "ipv4_addr"
  const char* match;      // "ip", as in "ip saddr"
  const char* loopback;   // where NodePorts are not served without node IPs
};
constexpr Fam kFam4{false, kNftTable, "ipv4_addr", "ip", "127.0.0.0/8"};
constexpr Fam kFam6{true, kNftTable6, "ipv6_addr", "ip6", "::1"};
const Fam& FamOf(bool v6) { return v6 ? kFam6 : kFam4; }

// The canonical form of an address of the family, or nullopt.
std::optional<std::string> CanonicalIp(const std::string& text,
                                       const Fam& fam) {
  unsigned char a[16];
  int af = fam.v6 ? AF_INET6 : AF_INET;
  if (text.empty() || ::inet_pton(af, text.c_str(), a) != 1)
    return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  if (::inet_ntop(af, a, buf, sizeof(buf)) == nullptr) return std::nullopt;
  return std::string(buf);
}

// "address/length" of the family with the host bits cleared, or nullopt.
std::optional<std::string> CanonicalCidr(const std::string& text,
                                         const Fam& fam) {
  size_t slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  std::string addr = text.substr(0, slash);
  std::string len_text = text.substr(slash + 1);
  if (len_text.empty() || len_text.size() > 3) return std::nullopt;
  int len = 0;
  for (char c : len_text) {
    if (c < '0' || c > '9') return std::nullopt;
    len = len * 10 + (c - '0');
  }
  int bits = fam.v6 ? 128 : 32;
  if (len > bits) return std::nullopt;
  unsigned char a[16];
  int af = fam.v6 ? AF_INET6 : AF_INET;
  if (::inet_pton(af, addr.c_str(), a) != 1) return std::nullopt;
  for (int i = 0; i < bits / 8; ++i) {
    int keep = std::min(8, std::max(0, len - 8 * i));
    a[i] &= static_cast<unsigned char>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(af, a, buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(len);
}

bool ValidPort(int port) { return port > 0 && port < 65536; }

// 48 bits of FNV-1a as 12 hex digits: keeps names unique however the
// readable part is shortened or sanitized.
std::string Hash12(const std::string& s) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%012llx",
                static_cast<unsigned long long>(h >> 16));
  return buf;
}

// Only characters nft takes in an unquoted identifier.
std::string Sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '/' ||
              c == '_';
    out += ok ? c : '_';
    if (out.size() >= kMaxReadableName) break;
  }
  return out;
}

std::string MarkRule(unsigned mark) {
  return "meta mark set meta mark | " + Hex(mark);
}

// The names of one service port's objects.
struct PortNames {
  std::string svc, ext, base;
  // Endpoint chains are numbered in (ip, port) order, not named after
  // the endpoint: when a pod is replaced its chain is rewritten in place,
  // and the chains that jump to it stay as they are (deleting a chain
  // costs a transaction tens of ms more with a big table).
  std::string Ep(int index) const {
    return "ep-" + base + "/" + std::to_string(index);
  }
  std::string Aff(const std::string& ip, int port, int timeout) const {
    return "aff-" + base + "/" + ip + "/" + std::to_string(port) + "-" +
           std::to_string(timeout);
  }
};

PortNames NamesFor(const ServicePort& sp) {
  std::string key = sp.Key();
  std::string readable =
      Sanitize(sp.ns + "/" + sp.name + "/" +
               (sp.port_name.empty() ? std::to_string(sp.port) : sp.port_name) +
               "/" + ProtocolName(sp.protocol));
  PortNames n;
  n.base = Hash12(key) + "-" + readable;
  n.svc = "svc-" + n.base;
  n.ext = "ext-" + n.base;
  return n;
}

struct Ep {
  std::string ip;
  int port;
  bool local;
  int index;  // in the service port's valid endpoints
};

void Render(const ServicePort& sp, const Fam& fam,
            const std::optional<std::string>& cluster_cidr, NftState* state) {
  const std::string match = fam.match;
  const char* proto = ProtocolName(sp.protocol);
  PortNames names = NamesFor(sp);
  std::vector<Ep> eps, local_eps;
  for (const Endpoint& e : sp.endpoints) {
    std::optional<std::string> ip = CanonicalIp(e.ip, fam);
    if (!ip || !ValidPort(e.port)) continue;
    eps.push_back({*ip, e.port, e.local, static_cast<int>(eps.size())});
    if (e.local) local_eps.push_back(eps.back());
  }
  std::vector<std::string> cluster_ips, external_ips;
  for (const std::string& ip : sp.cluster_ips) {
    if (auto c = CanonicalIp(ip, fam)) cluster_ips.push_back(*c);
  }
  for (const auto* list : {&sp.external_ips, &sp.load_balancer_ips}) {
    for (const std::string& ip : *list) {
      if (auto c = CanonicalIp(ip, fam)) external_ips.push_back(*c);
    }
  }
  bool has_node_port = ValidPort(sp.node_port);
  if (!ValidPort(sp.port) || cluster_ips.empty()) return;
  bool has_ext = has_node_port || !external_ips.empty();
  int timeout =
      sp.affinity_timeout_seconds > 0 ? sp.affinity_timeout_seconds : 10800;

  // Endpoint chains and their affinity sets.
  for (const Ep& e : eps) {
    std::vector<std::string> rules;
    rules.push_back(match + " saddr " + e.ip + " " +
                    MarkRule(kNftMasqueradeMark));
    if (sp.session_affinity) {
      std::string aff = names.Aff(e.ip, e.port, timeout);
      state->sets[aff] = std::string("type ") + fam.addr_type +
                         "; flags dynamic,timeout; timeout " +
                         std::to_string(timeout) + "s;";
      rules.push_back("update @" + aff + " { " + match + " saddr }");
    }
    rules.push_back("counter meta l4proto " + std::string(proto) + " dnat to " +
                    (fam.v6 ? "[" + e.ip + "]" : e.ip) + ":" +
                    std::to_string(e.port));
    state->chains[names.Ep(e.index)] = std::move(rules);
  }

  // Picks one of `targets`: affinity first, then at random; none: reject.
  auto dispatch = [&](const std::vector<Ep>& targets,
                      std::vector<std::string>* rules) {
    if (targets.empty()) {
      rules->push_back(MarkRule(kNftRejectMark));
      return;
    }
    if (sp.session_affinity) {
      for (const Ep& e : targets) {
        rules->push_back(match + " saddr @" + names.Aff(e.ip, e.port, timeout) +
                         " goto " + names.Ep(e.index));
      }
    }
    // Endpoint i of n is taken with probability 1/(n-i) when the ones
    // before it were not: 1/n each. Rules, not a numgen vmap: every
    // anonymous set is one more object nft loads before each transaction
    // (with 1000 services an endpoint change took about twice as long).
    for (size_t i = 0; i + 1 < targets.size(); ++i) {
      rules->push_back("numgen random mod " +
                       std::to_string(targets.size() - i) + " == 0 goto " +
                       names.Ep(targets[i].index));
    }
    rules->push_back("goto " + names.Ep(targets.back().index));
  };

  std::vector<std::string> svc;
  if (cluster_cidr) {
    svc.push_back(match + " saddr != " + *cluster_cidr + " " +
                  MarkRule(kNftMasqueradeMark));
  }
  dispatch(sp.internal_policy_local ? local_eps : eps, &svc);
  state->chains[names.svc] = std::move(svc);

  if (has_ext) {
    std::vector<std::string> ext;
    if (sp.external_policy_local) {
      // Pods and the node itself are not external clients: they get the
      // ClusterIP's behaviour (the node's own connections masqueraded).
      if (cluster_cidr) {
        ext.push_back(match + " saddr " + *cluster_cidr + " goto " + names.svc);
      }
      ext.push_back("fib saddr type local " + MarkRule(kNftMasqueradeMark));
      ext.push_back("fib saddr type local goto " + names.svc);
      dispatch(local_eps, &ext);
    } else {
      ext.push_back(MarkRule(kNftMasqueradeMark));
      dispatch(eps, &ext);
    }
    state->chains[names.ext] = std::move(ext);
  }

  auto& ips = state->elements[kServiceIps];
  std::string port = std::to_string(sp.port);
  for (const std::string& ip : cluster_ips) {
    ips.emplace(ip + " . " + proto + " . " + port, "goto " + names.svc);
  }
  for (const std::string& ip : external_ips) {
    ips.emplace(ip + " . " + proto + " . " + port, "goto " + names.ext);
  }
  if (has_node_port) {
    state->elements[kServiceNodePorts].emplace(
        std::string(proto) + " . " + std::to_string(sp.node_port),
        "goto " + names.ext);
  }
}

void AddElements(const std::string& table, const std::string& map,
                 const std::vector<std::string>& entries, std::string* out) {
  if (entries.empty()) return;
  *out += "add element " + table + " " + map + " { ";
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) *out += ", ";
    *out += entries[i];
  }
  *out += " }\n";
}

// The rules as one "add chain" block: nft then needs only its table
// cache, where "add rule" first loads every chain and set of the table
// (with 1000 service ports that was most of an endpoint change's cost).
std::string ChainRules(const std::string& table, const std::string& chain,
                       const std::vector<std::string>& rules) {
  if (rules.empty()) return "";
  std::string out = "add chain " + table + " " + chain + " { ";
  for (const std::string& r : rules) out += r + "; ";
  return out + "}\n";
}

// The names after '@' in `rules` (the sets they use).
void SetsUsed(const std::vector<std::string>& rules,
              std::set<std::string>* sets) {
  for (const std::string& r : rules) {
    for (size_t at = r.find('@'); at != std::string::npos;
         at = r.find('@', at + 1)) {
      size_t end = r.find(' ', at);
      sets->insert(r.substr(
          at + 1, end == std::string::npos ? std::string::npos : end - at - 1));
    }
  }
}

}  // namespace

namespace {

// Who wants each map element: map -> element -> port key -> verdict. The
// first port key owns it (two Services claiming one address and port).
using Claims =
    std::map<std::string,
             std::map<std::string, std::map<std::string, std::string>>>;

void AddClaims(const std::string& port_key, const NftState& port,
               Claims* claims) {
  for (const auto& [map, elems] : port.elements) {
    for (const auto& [k, v] : elems) (*claims)[map][k][port_key] = v;
  }
}

void RemoveClaims(const std::string& port_key, const NftState& port,
                  Claims* claims) {
  for (const auto& [map, elems] : port.elements) {
    auto m = claims->find(map);
    if (m == claims->end()) continue;
    for (const auto& [k, v] : elems) {
      auto e = m->second.find(k);
      if (e == m->second.end()) continue;
      e->second.erase(port_key);
      if (e->second.empty()) m->second.erase(e);
    }
  }
}

// The owner's verdict for one element into state->elements.
void Resolve(const Claims& claims, const std::string& map,
             const std::string& elem, NftState* state) {
  auto m = claims.find(map);
  if (m == claims.end()) return;
  auto e = m->second.find(elem);
  if (e == m->second.end() || e->second.empty()) return;
  state->elements[map][elem] = e->second.begin()->second;
}

NftState RenderPort(const ServicePort& sp, const Fam& fam,
                    const std::optional<std::string>& cluster_cidr) {
  NftState port;
  Render(sp, fam, cluster_cidr, &port);
  return port;
}

void MergeObjects(const NftState& from, NftState* into) {
  into->chains.insert(from.chains.begin(), from.chains.end());
  into->sets.insert(from.sets.begin(), from.sets.end());
}

}  // namespace

NftState RenderNftState(const ProxySnapshot& snapshot,
                        const NftConfig& config) {
  NftState state;
  Claims claims;
  const Fam& fam = FamOf(config.ipv6);
  std::optional<std::string> cidr = CanonicalCidr(config.cluster_cidr, fam);
  for (const auto& [key, sp] : snapshot.ports) {
    NftState port = RenderPort(sp, fam, cidr);
    MergeObjects(port, &state);
    AddClaims(key, port, &claims);
  }
  for (const auto& [map, elems] : claims) {
    for (const auto& [elem, who] : elems) Resolve(claims, map, elem, &state);
  }
  return state;
}

std::string NftCleanupScript(bool ipv6) {
  std::string t = FamOf(ipv6).table;
  return "add table " + t + "\ndelete table " + t + "\n";
}

std::string NftFullScript(const NftState& state, const NftConfig& config) {
  const Fam& fam = FamOf(config.ipv6);
  const std::string t = fam.table;
  const std::string match = fam.match;
  std::string out = NftCleanupScript(config.ipv6);
  out += "add table " + t + "\n";
  out += "add map " + t + " " + kServiceIps + " { type " + fam.addr_type +
         " . inet_proto . inet_service : verdict; }\n";
  out += "add map " + t + " " + kServiceNodePorts +
         " { type inet_proto . inet_service : verdict; }\n";
  std::vector<std::string> node_ips;
  for (const std::string& ip : config.node_ips) {
    if (auto c = CanonicalIp(ip, fam)) node_ips.push_back(*c);
  }
  out += "add set " + t + " node-ips { type " + fam.addr_type + "; }\n";
  AddElements(t, "node-ips", node_ips, &out);
  out += "add chain " + t + " services\n";
  out += "add chain " + t + " reject-packet\n";
  out += "add chain " + t +
         " nat-prerouting { type nat hook prerouting priority -100; policy "
         "accept; }\n";
  out += "add chain " + t +
         " nat-output { type nat hook output priority -100; policy accept; }\n";
  out += "add chain " + t +
         " nat-postrouting { type nat hook postrouting priority 100; policy "
         "accept; }\n";
  for (const char* hook : {"input", "forward", "output"}) {
    out += "add chain " + t + " filter-" + hook + " { type filter hook " +
           hook + " priority 0; policy accept; }\n";
    out += "add rule " + t + " filter-" + hook + " meta mark & " +
           Hex(kNftRejectMark) + " != 0 jump reject-packet\n";
  }
  out += "add rule " + t +
         " reject-packet meta l4proto tcp reject with tcp reset\n";
  out += "add rule " + t + " reject-packet reject\n";
  out += "add rule " + t + " nat-prerouting jump services\n";
  out += "add rule " + t + " nat-output jump services\n";
  out += "add rule " + t + " nat-postrouting meta mark & " +
         Hex(kNftMasqueradeMark) + " == 0 return\n";
  out += "add rule " + t + " nat-postrouting meta mark set meta mark ^ " +
         Hex(kNftMasqueradeMark) + "\n";
  out += "add rule " + t + " nat-postrouting masquerade fully-random\n";
  out += "add rule " + t + " services " + match +
         " daddr . meta l4proto . th dport vmap @" + kServiceIps + "\n";
  if (node_ips.empty()) {
    out += "add rule " + t + " services fib daddr type local " + match +
           " daddr != " + fam.loopback + " meta l4proto . th dport vmap @" +
           kServiceNodePorts + "\n";
  } else {
    out += "add rule " + t + " services " + match +
           " daddr @node-ips meta l4proto . th dport vmap @" +
           kServiceNodePorts + "\n";
  }
  out += NftDiffScript(NftState{}, state, config.ipv6);
  return out;
}

std::string NftDiffScript(const NftState& prev, const NftState& next,
                          bool ipv6) {
  const std::string t = FamOf(ipv6).table;
  std::string out;
  // 1. Map elements that go or change.
  for (const auto& [map, old_elems] : prev.elements) {
    auto nit = next.elements.find(map);
    std::vector<std::string> gone;
    for (const auto& [k, v] : old_elems) {
      if (nit == next.elements.end()) {
        gone.push_back(k);
        continue;
      }
      auto e = nit->second.find(k);
      if (e == nit->second.end() || e->second != v) gone.push_back(k);
    }
    if (gone.empty()) continue;
    out += "delete element " + t + " " + map + " { ";
    for (size_t i = 0; i < gone.size(); ++i) {
      if (i > 0) out += ", ";
      out += gone[i];
    }
    out += " }\n";
  }
  // 2. Flush chains that change or go; 3. delete those that go.
  std::vector<std::string> changed, removed, added;
  for (const auto& [name, rules] : prev.chains) {
    auto it = next.chains.find(name);
    if (it == next.chains.end()) {
      removed.push_back(name);
    } else if (it->second != rules) {
      changed.push_back(name);
    }
  }
  for (const auto& [name, rules] : next.chains) {
    if (!prev.chains.count(name)) added.push_back(name);
  }
  for (const auto* list : {&changed, &removed}) {
    for (const std::string& c : *list)
      out += "flush chain " + t + " " + c + "\n";
  }
  for (const std::string& c : removed)
    out += "delete chain " + t + " " + c + "\n";
  // 4. Sets that go or change; 5. new ones.
  for (const auto& [name, decl] : prev.sets) {
    auto it = next.sets.find(name);
    if (it == next.sets.end() || it->second != decl) {
      out += "delete set " + t + " " + name + "\n";
    }
  }
  // Unchanged sets that the rules written below use are declared again
  // (a no-op for the kernel): without a set cache nft knows only the sets
  // the script names.
  std::set<std::string> used;
  for (const auto* list : {&added, &changed}) {
    for (const std::string& c : *list) SetsUsed(next.chains.at(c), &used);
  }
  for (const auto& [name, decl] : next.sets) {
    auto it = prev.sets.find(name);
    if (it == prev.sets.end() || it->second != decl || used.count(name)) {
      out += "add set " + t + " " + name + " { " + decl + " }\n";
    }
  }
  // 6. New chains, 7. their rules and the changed chains' rules.
  for (const std::string& c : added) out += "add chain " + t + " " + c + "\n";
  for (const std::string& c : added) out += ChainRules(t, c, next.chains.at(c));
  for (const std::string& c : changed)
    out += ChainRules(t, c, next.chains.at(c));
  // 8. Map elements that are new or changed.
  for (const auto& [map, new_elems] : next.elements) {
    auto pit = prev.elements.find(map);
    std::vector<std::string> add;
    for (const auto& [k, v] : new_elems) {
      if (pit != prev.elements.end()) {
        auto e = pit->second.find(k);
        if (e != pit->second.end() && e->second == v) continue;
      }
      add.push_back(k + " : " + v);
    }
    AddElements(t, map, add, &out);
  }
  return out;
}

namespace {

// --- running nft ---

Status ErrnoStatus(const std::string& what, int err) {
  return InternalError(what + ": " + std::strerror(err));
}

// argv[0] as an executable path, or "" when it is nowhere.
std::string FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return ::access(name.c_str(), X_OK) == 0 ? name : "";
  }
  std::string path;
  if (const char* p = ::getenv("PATH")) path = p;
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return "";
}

class RealNftRunner : public NftRunner {
 public:
  StatusOr<NftRunResult> Run(const std::vector<std::string>& argv,
                             const std::string& input) override {
    if (argv.empty()) return InvalidArgumentError("empty command");
    std::string program = FindProgram(argv[0]);
    if (program.empty()) return NotFoundError(argv[0] + " not found");
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args[0] = program.data();
    args.push_back(nullptr);

    // stdin is a socket, not a pipe: send(MSG_NOSIGNAL) to a child that
    // quit early is EPIPE, where a pipe write would SIGPIPE the agent.
    int in[2], out[2], err[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0)
      return ErrnoStatus("socketpair", errno);
    if (::pipe2(out, O_CLOEXEC) != 0) {
      int e = errno;
      ::close(in[0]);
      ::close(in[1]);
      return ErrnoStatus("pipe", e);
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
      int e = errno;
      for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
      return ErrnoStatus("pipe", e);
    }
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
      int e = errno;
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) ::close(fd);
      return ErrnoStatus("fork", e);
    }
    if (pid == 0) {
      // Async-signal-safe calls only.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      if (::dup2(in[0], 0) >= 0 && ::dup2(out[1], 1) >= 0 &&
          ::dup2(out[1], 2) >= 0) {
        ::close_range(3, err[1] - 1, 0);
        ::close_range(err[1] + 1, ~0U, 0);
        ::execv(args[0], args.data());
      }
      int e = errno;
      (void)!::write(err[1], &e, sizeof(e));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    int child_errno = 0;
    ssize_t n;
    do {
      n = ::read(err[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    ::close(err[0]);
    if (n > 0) {
      ::close(in[1]);
      ::close(out[0]);
      int st;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      return ErrnoStatus("exec " + program, child_errno);
    }
    // Feed stdin and drain stdout/stderr together: neither side blocks.
    NftRunResult result;
    size_t written = 0;
    int in_fd = in[1];
    if (input.empty()) {
      ::close(in_fd);
      in_fd = -1;
    } else {
      ::fcntl(in_fd, F_SETFL, ::fcntl(in_fd, F_GETFL) | O_NONBLOCK);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool timed_out = false;
    char buf[16384];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      pollfd fds[2] = {{out[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
      int r = ::poll(fds, in_fd >= 0 ? 2 : 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) break;
      if (in_fd >= 0 && fds[1].revents != 0) {
        ssize_t w = ::send(in_fd, input.data() + written,
                           input.size() - written, MSG_NOSIGNAL);
        if (w > 0) written += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
            written == input.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
      }
      if (fds[0].revents != 0) {
        ssize_t rd = ::read(out[0], buf, sizeof(buf));
        if (rd < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (rd <= 0) break;
        result.output.append(buf, static_cast<size_t>(rd));
      }
    }
    if (in_fd >= 0) ::close(in_fd);
    ::close(out[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0) {
      if (errno != EINTR) return ErrnoStatus("waitpid", errno);
    }
    if (timed_out) {
      return DeadlineExceededError(program + " did not finish in 30 s");
    }
    result.exit_code = WIFEXITED(st)     ? WEXITSTATUS(st)
                       : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
                                         : -1;
    return result;
  }
};

// The first lines of nft's complaint, for a Status message.
std::string Excerpt(const std::string& output) {
  constexpr size_t kMax = 2000;
  return output.size() <= kMax ? output : output.substr(0, kMax) + "...";
}

class NftablesBackend : public Backend {
 public:
  // `families`: the ip table's config, then the ip6 one's if IPv6 works.
  NftablesBackend(const BackendOptions& options,
                  std::vector<NftConfig> families,
                  std::unique_ptr<NftRunner> runner,
                  std::unique_ptr<Conntrack> conntrack)
      : argv_(options.command_prefix),
        runner_(std::move(runner)),
        conntrack_(std::move(conntrack)) {
    argv_.insert(argv_.end(), {"nft", "-f", "-"});
    for (NftConfig& c : families) {
      FamState f;
      f.fam = &FamOf(c.ipv6);
      f.cidr = CanonicalCidr(c.cluster_cidr, *f.fam);
      f.config = std::move(c);
      fams_.push_back(std::move(f));
    }
  }

  const char* name() const override { return "nftables"; }

  // Renders only the service ports that differ from the last Sync (the
  // others' chains are neither rendered nor compared) and sends their
  // difference, for every family in one transaction; the first Sync, and
  // the one after a failure, replace the whole tables.
  Status Sync(const ProxySnapshot& snapshot) override {
    if (!in_sync_) return FullSync(snapshot);
    std::vector<std::string> gone_keys, new_keys;  // changed: in both
    for (const auto& [key, sp] : synced_.ports) {
      auto it = snapshot.ports.find(key);
      if (it == snapshot.ports.end() || !(it->second == sp))
        gone_keys.push_back(key);
    }
    for (const auto& [key, sp] : snapshot.ports) {
      auto it = synced_.ports.find(key);
      if (it == synced_.ports.end() || !(it->second == sp))
        new_keys.push_back(key);
    }
    if (gone_keys.empty() && new_keys.empty()) return Status::Ok();
    std::string script;
    for (FamState& f : fams_) {
      script += FamilyDiff(&f, snapshot, gone_keys, new_keys);
    }
    if (!script.empty()) {
      Status st = Apply(script);
      if (!st.ok()) {
        // The transaction changed nothing, but the bookkeeping did:
        // rebuild from scratch next time (also right if the tables were
        // changed behind our back).
        in_sync_ = false;
        return st;
      }
    }
    log::Debug(kComponent, "synced")("services", snapshot.ports.size())(
        "changed", new_keys.size() + gone_keys.size())("bytes", script.size());
    FlushUdpFlows(snapshot);
    return Status::Ok();
  }

  Status FullSync(const ProxySnapshot& snapshot) {
    std::string script;
    for (FamState& f : fams_) {
      f.port_states.clear();
      f.claims.clear();
      NftState full;
      for (const auto& [key, sp] : snapshot.ports) {
        NftState port = RenderPort(sp, *f.fam, f.cidr);
        MergeObjects(port, &full);
        AddClaims(key, port, &f.claims);
        f.port_states[key] = std::move(port);
      }
      for (const auto& [map, elems] : f.claims) {
        for (const auto& [elem, who] : elems)
          Resolve(f.claims, map, elem, &full);
      }
      script += NftFullScript(full, f.config);
    }
    Status st = Apply(script);
    if (!st.ok()) return st;
    in_sync_ = true;
    log::Debug(kComponent, "synced the whole table")(
        "services", snapshot.ports.size())("bytes", script.size());
    FlushUdpFlows(snapshot);
    return Status::Ok();
  }

  // Deletes the conntrack entries of UDP flows to endpoints that left a
  // UDP service port since the last Sync: the rules no
  // longer lead there, but an established flow would keep going.
  void FlushUdpFlows(const ProxySnapshot& next) {
    std::set<std::pair<std::string, int>> gone =
        GoneUdpEndpoints(synced_, next);
    synced_ = next;
    if (gone.empty() || !conntrack_) return;
    StatusOr<int> n = conntrack_->DeleteUdpFlowsTo(gone);
    if (!n.ok()) {
      log::Warn(kComponent, "could not delete UDP flows to removed endpoints")(
          "error", n.status().ToString());
    } else if (*n > 0) {
      log::Debug(kComponent, "deleted UDP flows")("entries", *n);
    }
  }

  Status Cleanup() override {
    in_sync_ = false;
    std::string script;
    for (FamState& f : fams_) {
      f.port_states.clear();
      f.claims.clear();
      script += NftCleanupScript(f.config.ipv6);
    }
    synced_ = ProxySnapshot{};
    return Apply(script);
  }

  Status Apply(const std::string& script) {
    StatusOr<NftRunResult> r = runner_->Run(argv_, script);
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return InternalError("nft -f - exited " + std::to_string(r->exit_code) +
                           ": " + Excerpt(r->output));
    }
    return Status::Ok();
  }

 private:
  // One table: what it holds when in_sync_ (each service port's chains,
  // sets and element claims).
  struct FamState {
    const Fam* fam = nullptr;
    NftConfig config;
    std::optional<std::string> cidr;
    std::map<std::string, NftState> port_states;
    Claims claims;
  };

  // The script for one table: the changed ports re-rendered, the
  // difference of their pieces (and of the elements they claim).
  static std::string FamilyDiff(FamState* f, const ProxySnapshot& snapshot,
                                const std::vector<std::string>& gone_keys,
                                const std::vector<std::string>& new_keys) {
    NftState prev_part, next_part;
    std::set<std::pair<std::string, std::string>> touched;  // map, element
    auto touch = [&](const NftState& port) {
      for (const auto& [map, elems] : port.elements) {
        for (const auto& [k, v] : elems) touched.insert({map, k});
      }
    };
    std::map<std::string, NftState> rendered;
    for (const std::string& key : gone_keys) {
      const NftState& old = f->port_states[key];
      MergeObjects(old, &prev_part);
      touch(old);
    }
    for (const std::string& key : new_keys) {
      NftState& port = rendered[key] =
          RenderPort(snapshot.ports.at(key), *f->fam, f->cidr);
      MergeObjects(port, &next_part);
      touch(port);
    }
    for (const auto& [map, elem] : touched)
      Resolve(f->claims, map, elem, &prev_part);
    for (const std::string& key : gone_keys) {
      RemoveClaims(key, f->port_states[key], &f->claims);
      f->port_states.erase(key);
    }
    for (const std::string& key : new_keys) {
      AddClaims(key, rendered[key], &f->claims);
      f->port_states[key] = std::move(rendered[key]);
    }
    for (const auto& [map, elem] : touched)
      Resolve(f->claims, map, elem, &next_part);
    return NftDiffScript(prev_part, next_part, f->fam->v6);
  }

  std::vector<std::string> argv_;
  std::unique_ptr<NftRunner> runner_;
  std::unique_ptr<Conntrack> conntrack_;  // may be null
  std::vector<FamState> fams_;
  bool in_sync_ = false;  // the tables hold fams_[i].port_states
  ProxySnapshot synced_;  // the snapshot they came from
};

}  // namespace

std::unique_ptr<NftRunner> NewRealNftRunner() {
  return std::make_unique<RealNftRunner>();
}

StatusOr<std::unique_ptr<Backend>> NewNftablesBackend(
    const BackendOptions& options, std::unique_ptr<NftRunner> runner,
    std::unique_ptr<Conntrack> conntrack) {
  // cluster_cidr and service_cidr may list one CIDR per family
  // ("10.42.0.0/16,fd42::/56", as --cluster-cidr takes): the first of each
  // family counts; an IPv6 one in either turns the ip6 table on.
  NftConfig v4, v6;
  v4.cluster_cidr = v6.cluster_cidr = "";
  v6.ipv6 = true;
  v4.node_ips = v6.node_ips = options.node_ips;
  bool dual = false;
  for (const std::string* list :
       {&options.cluster_cidr, &options.service_cidr}) {
    for (size_t b = 0, e; b <= list->size(); b = e + 1) {
      e = list->find(',', b);
      if (e == std::string::npos) e = list->size();
      std::string one = list->substr(b, e - b);
      while (!one.empty() && one.front() == ' ') one.erase(0, 1);
      while (!one.empty() && one.back() == ' ') one.pop_back();
      if (one.empty()) continue;
      bool is6 = one.find(':') != std::string::npos;
      std::optional<std::string> cidr = CanonicalCidr(one, FamOf(is6));
      if (!cidr) {
        return InvalidArgumentError(
            std::string(list == &options.cluster_cidr ? "cluster" : "service") +
            " CIDR " + one + " is not a CIDR");
      }
      dual |= is6;
      NftConfig& c = is6 ? v6 : v4;
      if (list == &options.cluster_cidr && c.cluster_cidr.empty())
        c.cluster_cidr = *cidr;
    }
  }
  if (!runner) runner = NewRealNftRunner();
  // Probe: nft runs and the kernel takes a table with a nat chain (the
  // transaction removes it again, so nothing is left either way).
  std::vector<std::string> argv = options.command_prefix;
  argv.insert(argv.end(), {"nft", "-f", "-"});
  auto probe = [&](const char* family) -> Status {
    std::string t = std::string(family) + " kite-proxy-probe";
    StatusOr<NftRunResult> r = runner->Run(
        argv, "add table " + t + "\nadd chain " + t +
                  " p { type nat hook prerouting priority -100; policy "
                  "accept; }\ndelete table " +
                  t + "\n");
    if (!r.ok()) {
      return FailedPreconditionError("nftables unusable: " +
                                     r.status().message());
    }
    if (r->exit_code != 0) {
      return FailedPreconditionError(
          "nftables unusable: the kernel refused a nat table (" +
          std::string(family) + "): " + Excerpt(r->output));
    }
    return Status::Ok();
  };
  KITE_RETURN_IF_ERROR(probe("ip"));
  std::vector<NftConfig> families = {v4};
  if (dual) {
    Status st = probe("ip6");
    if (st.ok()) {
      families.push_back(v6);
    } else {
      log::Warn(kComponent, "IPv6 services are not served")("error",
                                                            st.message());
    }
  }
  if (!conntrack) conntrack = NewConntrackFor(options.command_prefix);
  return std::unique_ptr<Backend>(new NftablesBackend(
      options, std::move(families), std::move(runner), std::move(conntrack)));
}

StatusOr<std::unique_ptr<Backend>> NewNftablesBackend(
    const BackendOptions& options) {
  return NewNftablesBackend(options, nullptr, nullptr);
}

}  // namespace kite::proxy
