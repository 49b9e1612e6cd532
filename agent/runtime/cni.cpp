#include "agent/runtime/cni.h"

#include <arpa/inet.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace kite::runtime {
namespace {

// Checks "ADDRESS/PREFIX" with no host bits set; sets *v6.
Status CheckCidr(const std::string& cidr, bool* v6) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("pod CIDR \"" + cidr + "\": " + why);
  };
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return bad("no prefix length");
  std::string addr = cidr.substr(0, slash);
  std::string len_text = cidr.substr(slash + 1);
  if (len_text.empty() || len_text.size() > 3 ||
      len_text.find_first_not_of("0123456789") != std::string::npos) {
    return bad("bad prefix length");
  }
  int len = std::stoi(len_text);
  unsigned char bytes[16];
  int size;
  if (inet_pton(AF_INET, addr.c_str(), bytes) == 1) {
    *v6 = false;
    size = 4;
  } else if (inet_pton(AF_INET6, addr.c_str(), bytes) == 1) {
    *v6 = true;
    size = 16;
  } else {
    return bad("not an IP address");
  }
  if (len > size * 8) return bad("prefix length too long");
  for (int bit = len; bit < size * 8; ++bit) {
    if (bytes[bit / 8] & (0x80 >> (bit % 8))) return bad("host bits are set");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::string> RenderCniConfig(const std::vector<std::string>& pod_cidrs,
                                      const CniOptions& options) {
  using Json = nlohmann::json;
  if (pod_cidrs.empty()) return InvalidArgumentError("no pod CIDR");
  Json ranges = Json::array();
  Json routes = Json::array();
  bool seen[2] = {false, false};
  for (const std::string& cidr : pod_cidrs) {
    bool v6 = false;
    KITE_RETURN_IF_ERROR(CheckCidr(cidr, &v6));
    if (seen[v6])
      return InvalidArgumentError("more than one IPv" +
                                  std::string(v6 ? "6" : "4") +
                                  " pod CIDR: " + cidr);
    seen[v6] = true;
    ranges.push_back(Json::array({{{"subnet", cidr}}}));
    routes.push_back({{"dst", v6 ? "::/0" : "0.0.0.0/0"}});
  }
  Json ipam = {{"type", "host-local"}, {"ranges", ranges}, {"routes", routes}};
  if (!options.ipam_data_dir.empty()) ipam["dataDir"] = options.ipam_data_dir;
  Json bridge = {{"type", "bridge"},
                 {"bridge", options.bridge},
                 {"isGateway", true},
                 // Off: the bridge plugin would masquerade everything
                 // leaving this node's podCIDR, other nodes' pods included;
                 // agent/podnet masquerades only what leaves the cluster.
                 {"ipMasq", false},
                 {"hairpinMode", true}};
  if (options.mtu > 0) bridge["mtu"] = options.mtu;
  bridge["ipam"] = ipam;
  Json conf = {
      {"cniVersion", "1.0.0"},
      {"name", options.network_name},
      {"plugins", Json::array({bridge,
                               {{"type", "portmap"},
                                {"capabilities", {{"portMappings", true}}}},
                               {{"type", "loopback"}}})},
  };
  return conf.dump(2) + "\n";
}

StatusOr<bool> WriteCniConfig(Env& env, const std::string& conf_dir,
                              const std::vector<std::string>& pod_cidrs,
                              const CniOptions& options) {
  KITE_ASSIGN_OR_RETURN(std::string text, RenderCniConfig(pod_cidrs, options));
  std::string path = conf_dir + "/" + options.file_name;
  StatusOr<std::string> old = env.ReadFile(path);
  if (old.ok() && *old == text) return false;
  KITE_RETURN_IF_ERROR(env.MakeDirs(conf_dir, 0755));
  KITE_RETURN_IF_ERROR(env.WriteFileAtomic(path, text, 0644));
  return true;
}

}  // namespace kite::runtime
