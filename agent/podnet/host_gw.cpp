#include "agent/podnet/host_gw.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "api/object.h"
#include "common/env.h"
#include "common/log.h"

namespace kite::podnet {
namespace {

constexpr char kTag[] = "podnet";
constexpr char kNftTable[] = "kite-podnet";
constexpr char kIptablesChain[] = "KITE-PODNET-MASQ";

bool IsV6(const std::string& address) {
  return address.find(':') != std::string::npos;
}

std::string Proto() { return std::to_string(kRouteProto); }

// Writes `value` to a /proc/sys file (a plain write: /proc/sys takes no
// rename).
Status WriteSysctl(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  if (!out) return NotFoundError("cannot open " + path);
  out << value << "\n";
  out.close();
  if (!out) return InternalError("cannot write " + path);
  return Status::Ok();
}

}  // namespace

std::vector<PodRoute> RoutesFromNodes(const std::vector<nlohmann::json>& nodes,
                                      const std::string& self) {
  std::vector<PodRoute> out;
  for (const nlohmann::json& node : nodes) {
    if (api::Name(node) == self) continue;
    std::vector<std::string> cidrs;
    if (const nlohmann::json* list = api::FieldPath(node, {"spec", "podCIDRs"});
        list != nullptr && list->is_array()) {
      for (const auto& c : *list)
        if (c.is_string() && !c.get<std::string>().empty())
          cidrs.push_back(c.get<std::string>());
    }
    if (cidrs.empty()) {
      std::string one = api::GetString(node, {"spec", "podCIDR"});
      if (!one.empty()) cidrs.push_back(one);
    }
    if (cidrs.empty()) continue;
    // The first InternalIP of each family, else the first ExternalIP.
    std::string addr[2][2];  // [v6][0 = internal, 1 = external]
    if (const nlohmann::json* list =
            api::FieldPath(node, {"status", "addresses"});
        list != nullptr && list->is_array()) {
      for (const auto& a : *list) {
        std::string type = api::GetString(a, {"type"});
        std::string ip = api::GetString(a, {"address"});
        if (ip.empty()) continue;
        int kind = type == "InternalIP" ? 0 : type == "ExternalIP" ? 1 : -1;
        if (kind < 0) continue;
        std::string& slot = addr[IsV6(ip)][kind];
        if (slot.empty()) slot = ip;
      }
    }
    for (const std::string& cidr : cidrs) {
      bool v6 = IsV6(cidr);
      std::string via = addr[v6][0].empty() ? addr[v6][1] : addr[v6][0];
      if (via.empty()) continue;
      out.push_back({cidr, via});
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// A parsed CIDR: family, address bytes, prefix length.
struct Net {
  bool v6 = false;
  unsigned char bytes[16] = {};
  int len = 0;
};

bool ParseNet(const std::string& cidr, Net* out) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  std::string addr = cidr.substr(0, slash);
  std::string len = cidr.substr(slash + 1);
  if (len.empty() || len.size() > 3 ||
      len.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out->v6 = IsV6(addr);
  if (inet_pton(out->v6 ? AF_INET6 : AF_INET, addr.c_str(), out->bytes) != 1)
    return false;
  out->len = std::stoi(len);
  return out->len <= (out->v6 ? 128 : 32);
}

// Whether `outer` contains `inner` (same family, shorter or equal prefix,
// same leading bits).
bool Contains(const Net& outer, const Net& inner) {
  if (outer.v6 != inner.v6 || outer.len > inner.len) return false;
  for (int bit = 0; bit < outer.len; ++bit) {
    int mask = 0x80 >> (bit % 8);
    if ((outer.bytes[bit / 8] & mask) != (inner.bytes[bit / 8] & mask))
      return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> PodNetworks(
    const std::vector<std::string>& cluster_cidrs,
    const std::vector<nlohmann::json>& nodes) {
  std::vector<std::string> all = cluster_cidrs;
  for (const nlohmann::json& node : nodes) {
    if (const nlohmann::json* list = api::FieldPath(node, {"spec", "podCIDRs"});
        list != nullptr && list->is_array()) {
      for (const auto& c : *list)
        if (c.is_string()) all.push_back(c.get<std::string>());
    }
    std::string one = api::GetString(node, {"spec", "podCIDR"});
    if (!one.empty()) all.push_back(one);
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::vector<std::pair<std::string, Net>> nets;
  for (const std::string& c : all) {
    Net n;
    if (ParseNet(c, &n)) nets.push_back({c, n});
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < nets.size(); ++i) {
    bool inside = false;
    for (size_t j = 0; j < nets.size() && !inside; ++j) {
      if (i == j || !Contains(nets[j].second, nets[i].second)) continue;
      // Of two equal networks written differently, keep the first.
      inside = !Contains(nets[i].second, nets[j].second) || j < i;
    }
    if (!inside) out.push_back(nets[i].first);
  }
  return out;
}

HostGw::HostGw(runtime::Host& host, HostGwOptions options)
    : host_(host), options_(std::move(options)) {}

std::string HostGw::Find(const std::string& program) {
  auto it = found_.find(program);
  if (it != found_.end()) return it->second;
  std::string path;
  for (const std::string& dir : options_.search_path) {
    struct stat st;
    std::string p = dir + "/" + program;
    if (::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      path = p;
      break;
    }
  }
  found_[program] = path;
  return path;
}

StatusOr<std::string> HostGw::Run(const std::string& program,
                                  const std::vector<std::string>& args) {
  std::string path = Find(program);
  if (path.empty()) return NotFoundError(program + " not found");
  std::vector<std::string> argv = options_.command_prefix;
  argv.push_back(path);
  argv.insert(argv.end(), args.begin(), args.end());
  KITE_ASSIGN_OR_RETURN(runtime::RunResult r,
                        host_.Run(argv, options_.command_timeout));
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return InternalError(cmd + ": exit " + std::to_string(r.exit_code) + ": " +
                         r.output);
  }
  return r.output;
}

Status HostGw::EnableForwarding(bool ipv6) {
  Status first;
  auto set = [&](const std::string& rel, bool only_if_present) {
    std::string path = options_.proc_sys + "/" + rel;
    if (only_if_present) {
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) return;
    }
    Status st = WriteSysctl(path, "1");
    if (!st.ok() && first.ok()) first = st;
  };
  set("net/ipv4/ip_forward", false);
  if (ipv6) set("net/ipv6/conf/all/forwarding", false);
  set("net/bridge/bridge-nf-call-iptables", true);
  if (ipv6) set("net/bridge/bridge-nf-call-ip6tables", true);
  return first;
}

Status HostGw::EnsureMasquerade(const std::vector<std::string>& cluster_cidrs) {
  std::vector<std::string> v4, v6;
  for (const std::string& c : cluster_cidrs) (IsV6(c) ? v6 : v4).push_back(c);
  if (v4.empty() && v6.empty()) return Status::Ok();
  Status st = MasqueradeNft(v4, v6);
  if (st.code() != Code::kNotFound) return st;
  // No nft binary: iptables (its nf_tables or legacy backend alike).
  if (!v4.empty())
    KITE_RETURN_IF_ERROR(MasqueradeIptables("iptables", v4, "224.0.0.0/4"));
  if (!v6.empty())
    KITE_RETURN_IF_ERROR(MasqueradeIptables("ip6tables", v6, "ff00::/8"));
  return Status::Ok();
}

// One table per family, replaced whole in one transaction: `table` makes
// sure it exists so `delete table` cannot fail, then it is defined again.
Status HostGw::MasqueradeNft(const std::vector<std::string>& v4,
                             const std::vector<std::string>& v6) {
  if (Find("nft").empty()) return NotFoundError("nft not found");
  std::ostringstream s;
  auto family = [&](const char* fam, const char* addr,
                    const std::vector<std::string>& cidrs,
                    const char* multicast) {
    if (cidrs.empty()) return;
    std::string set;
    for (const auto& c : cidrs) set += (set.empty() ? "" : ", ") + c;
    s << "table " << fam << " " << kNftTable << "\n"
      << "delete table " << fam << " " << kNftTable << "\n"
      << "table " << fam << " " << kNftTable << " {\n"
      << "  chain postrouting {\n"
      << "    type nat hook postrouting priority srcnat; policy accept;\n"
      << "    " << addr << " saddr { " << set << " } " << addr << " daddr != { "
      << set << " } " << addr << " daddr != " << multicast << " masquerade\n"
      << "  }\n"
      << "}\n";
  };
  family("ip", "ip", v4, "224.0.0.0/4");
  family("ip6", "ip6", v6, "ff00::/8");
  std::string path = options_.state_dir + "/podnet.nft";
  Env& env = RealEnv();
  KITE_RETURN_IF_ERROR(env.MakeDirs(options_.state_dir, 0700));
  KITE_RETURN_IF_ERROR(env.WriteFileAtomic(path, s.str(), 0600));
  auto r = Run("nft", {"-f", path});
  if (!r.ok()) return r.status();
  ++changes_;
  return Status::Ok();
}

// KITE-PODNET-MASQ: return for destinations inside the cluster and
// multicast, masquerade the rest; POSTROUTING jumps there for sources in
// the cluster.
Status HostGw::MasqueradeIptables(const std::string& iptables,
                                  const std::vector<std::string>& cidrs,
                                  const std::string& multicast) {
  std::ostringstream s;
  s << "*nat\n:" << kIptablesChain << " - [0:0]\n";
  for (const auto& c : cidrs)
    s << "-A " << kIptablesChain << " -d " << c << " -j RETURN\n";
  s << "-A " << kIptablesChain << " -d " << multicast << " -j RETURN\n"
    << "-A " << kIptablesChain << " -j MASQUERADE\nCOMMIT\n";
  std::string path = options_.state_dir + "/podnet." + iptables;
  Env& env = RealEnv();
  KITE_RETURN_IF_ERROR(env.MakeDirs(options_.state_dir, 0700));
  KITE_RETURN_IF_ERROR(env.WriteFileAtomic(path, s.str(), 0600));
  auto r = Run(iptables + "-restore", {"--noflush", path});
  if (!r.ok()) return r.status();
  ++changes_;
  for (const auto& c : cidrs) {
    std::vector<std::string> rule = {"POSTROUTING", "-s", c, "-j",
                                     kIptablesChain};
    std::vector<std::string> check = {"-t", "nat", "-C"};
    check.insert(check.end(), rule.begin(), rule.end());
    if (Run(iptables, check).ok()) continue;
    std::vector<std::string> add = {"-t", "nat", "-A"};
    add.insert(add.end(), rule.begin(), rule.end());
    auto a = Run(iptables, add);
    if (!a.ok()) return a.status();
    ++changes_;
  }
  return Status::Ok();
}

StatusOr<std::map<std::string, std::string>> HostGw::CurrentRoutes() {
  std::map<std::string, std::string> out;
  for (const char* family : {"-4", "-6"}) {
    auto text = Run("ip", {family, "route", "show", "proto", Proto()});
    if (!text.ok()) {
      if (std::string(family) == "-6") continue;  // no IPv6 in this kernel
      return text.status();
    }
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream words(line);
      std::string cidr, word, via;
      words >> cidr;
      while (words >> word)
        if (word == "via") {
          words >> via;
          // "via inet6 ADDR" for a gateway of the other family.
          if (via == "inet" || via == "inet6") words >> via;
        }
      if (cidr.empty()) continue;
      // A /32 or /128 is shown without its prefix length.
      if (cidr.find('/') == std::string::npos)
        cidr += IsV6(cidr) ? "/128" : "/32";
      out[cidr] = via;
    }
  }
  return out;
}

Status HostGw::Sync(const std::vector<PodRoute>& want) {
  KITE_ASSIGN_OR_RETURN(auto current, CurrentRoutes());
  Status first;
  auto note = [&](const Status& st, const char* what, const std::string& cidr) {
    if (st.ok()) return;
    log::Warn(kTag, what)("cidr", cidr)("error", st.ToString());
    if (first.ok()) first = st;
  };
  std::map<std::string, std::string> wanted;
  for (const PodRoute& r : want) wanted[r.cidr] = r.via;
  for (const auto& [cidr, via] : wanted) {
    auto it = current.find(cidr);
    if (it != current.end() && it->second == via) continue;
    auto r = Run("ip", {IsV6(cidr) ? "-6" : "-4", "route", "replace", cidr,
                        "via", via, "proto", Proto()});
    note(r.status(), "route not installed", cidr);
    if (r.ok()) {
      ++changes_;
      log::Info(kTag, "route")("cidr", cidr)("via", via);
    }
  }
  for (const auto& [cidr, via] : current) {
    if (wanted.count(cidr)) continue;
    auto r = Run("ip", {IsV6(cidr) ? "-6" : "-4", "route", "del", cidr, "proto",
                        Proto()});
    note(r.status(), "route not removed", cidr);
    if (r.ok()) {
      ++changes_;
      log::Info(kTag, "route removed")("cidr", cidr)("via", via);
    }
  }
  return first;
}

}  // namespace kite::podnet
