#include "server/apiserver/allocators.h"

#include <arpa/inet.h>

#include "api/object.h"
#include "server/apiserver/encoding.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

constexpr int kMaxCasAttempts = 100;
bool Bit(const std::string& bits, int i) {
  return (static_cast<uint8_t>(bits[static_cast<size_t>(i / 8)]) >> (i % 8)) &
         1;
}
void SetBit(std::string& bits, int i, bool on) {
  auto& byte = reinterpret_cast<uint8_t&>(bits[static_cast<size_t>(i / 8)]);
  if (on) {
    byte = static_cast<uint8_t>(byte | (1u << (i % 8)));
  } else {
    byte = static_cast<uint8_t>(byte & ~(1u << (i % 8)));
  }
}

}  // namespace

bool ParseIpv4(const std::string& text, uint32_t* out) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) return false;
  *out = ntohl(a.s_addr);
  return true;
}

std::string FormatIpv4(uint32_t ip) {
  in_addr a{};
  a.s_addr = htonl(ip);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

RangeAllocator::RangeAllocator(datastore::Backend& backend, std::string key,
                               std::string range, int size)
    : backend_(backend),
      key_(std::move(key)),
      range_(std::move(range)),
      size_(size),
      rng_(std::random_device{}()) {}

StatusOr<std::string> RangeAllocator::Load(int64_t* mod_revision,
                                           bool* exists) {
  std::string bits(static_cast<size_t>((size_ + 7) / 8), '\0');
  auto kv = backend_.Get(key_);
  if (!kv.ok()) {
    if (kv.status().code() != Code::kNotFound) return kv.status();
    *exists = false;
    *mod_revision = 0;
    return bits;
  }
  *exists = true;
  *mod_revision = kv->mod_revision;
  json obj = json::parse(kv->value, nullptr, false);
  std::string data;
  if (obj.is_discarded() || !obj.is_object() ||
      !obj.value("data", json()).is_string() ||
      !Base64Decode(obj["data"].get<std::string>(), &data)) {
    return InternalError("range allocation " + key_ + " is corrupt");
  }
  // A range that changed size keeps what still fits.
  for (size_t i = 0; i < bits.size() && i < data.size(); ++i) bits[i] = data[i];
  return bits;
}

Status RangeAllocator::Mutate(
    const std::function<Status(std::string& bits)>& change) {
  for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    int64_t rev = 0;
    bool exists = false;
    KITE_ASSIGN_OR_RETURN(std::string bits, Load(&rev, &exists));
    std::string before = bits;
    KITE_RETURN_IF_ERROR(change(bits));
    if (exists && bits == before) return Status::Ok();
    json obj = {{"kind", "RangeAllocation"},
                {"apiVersion", "v1"},
                {"metadata", json::object()},
                {"range", range_},
                {"data", Base64Encode(bits)}};
    Status st = exists ? backend_.Update(key_, obj.dump(), rev).status()
                       : backend_.Create(key_, obj.dump()).status();
    if (st.ok()) return st;
    if (st.code() != Code::kConflict && st.code() != Code::kAlreadyExists &&
        st.code() != Code::kNotFound) {
      return st;
    }
  }
  return UnavailableError("range allocation " + key_ +
                          " is too contended; try again");
}

Status RangeAllocator::Allocate(int i) {
  if (i < 0 || i >= size_) return InvalidArgumentError("out of range");
  return Mutate([&](std::string& bits) {
    if (Bit(bits, i))
      return AlreadyExistsError("provided value is already allocated");
    SetBit(bits, i, true);
    return Status::Ok();
  });
}

StatusOr<int> RangeAllocator::AllocateNext(const std::set<int>& reserved) {
  int start;
  {
    std::lock_guard<std::mutex> lock(rng_mu_);
    start = std::uniform_int_distribution<int>(0, size_ - 1)(rng_);
  }
  int chosen = -1;
  Status st = Mutate([&](std::string& bits) {
    for (int k = 0; k < size_; ++k) {
      int i = (start + k) % size_;
      if (reserved.count(i) || Bit(bits, i)) continue;
      SetBit(bits, i, true);
      chosen = i;
      return Status::Ok();
    }
    return ResourceExhaustedError("range is full");
  });
  if (!st.ok()) return st;
  return chosen;
}

Status RangeAllocator::Release(int i) {
  if (i < 0 || i >= size_) return Status::Ok();
  return Mutate([&](std::string& bits) {
    SetBit(bits, i, false);
    return Status::Ok();
  });
}

Status RangeAllocator::Reset(const std::set<int>& used) {
  return Mutate([&](std::string& bits) {
    std::fill(bits.begin(), bits.end(), '\0');
    for (int i : used) {
      if (i >= 0 && i < size_) SetBit(bits, i, true);
    }
    return Status::Ok();
  });
}

StatusOr<bool> RangeAllocator::Has(int i) {
  if (i < 0 || i >= size_) return false;
  int64_t rev = 0;
  bool exists = false;
  KITE_ASSIGN_OR_RETURN(std::string bits, Load(&rev, &exists));
  return Bit(bits, i);
}

StatusOr<std::unique_ptr<ServiceAllocator>> ServiceAllocator::Create(
    datastore::Backend& backend, const ServiceNetworkConfig& config) {
  size_t slash = config.service_cidr.find('/');
  uint32_t base = 0;
  int prefix = 0;
  if (slash == std::string::npos ||
      !ParseIpv4(config.service_cidr.substr(0, slash), &base)) {
    return InvalidArgumentError("service CIDR " + config.service_cidr +
                                " is not an IPv4 CIDR");
  }
  try {
    prefix = std::stoi(config.service_cidr.substr(slash + 1));
  } catch (const std::exception&) {
    prefix = -1;
  }
  if (prefix < 8 || prefix > 30) {
    return InvalidArgumentError("service CIDR " + config.service_cidr +
                                " must have a prefix length between 8 and 30");
  }
  base &= prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  if (config.node_port_min < 1 || config.node_port_max > 65535 ||
      config.node_port_min > config.node_port_max) {
    return InvalidArgumentError(
        "node port range " + std::to_string(config.node_port_min) + "-" +
        std::to_string(config.node_port_max) + " is invalid");
  }
  return std::unique_ptr<ServiceAllocator>(
      new ServiceAllocator(backend, config, base, prefix));
}

ServiceAllocator::ServiceAllocator(datastore::Backend& backend,
                                   const ServiceNetworkConfig& config,
                                   uint32_t base, int prefix)
    : config_(config),
      base_(base),
      prefix_(prefix),
      ips_(backend, "/registry/ranges/serviceips", config.service_cidr,
           static_cast<int>(uint32_t{1} << (32 - prefix))),
      ports_(backend, "/registry/ranges/servicenodeports",
             std::to_string(config.node_port_min) + "-" +
                 std::to_string(config.node_port_max),
             config.node_port_max - config.node_port_min + 1) {}

int ServiceAllocator::IndexOf(const std::string& ip) const {
  uint32_t v = 0;
  if (!ParseIpv4(ip, &v)) return -1;
  uint64_t off = static_cast<uint64_t>(v) - base_;
  if (v < base_ || off >= (uint64_t{1} << (32 - prefix_))) return -1;
  return static_cast<int>(off);
}

std::string ServiceAllocator::IpAt(int index) const {
  return FormatIpv4(base_ + static_cast<uint32_t>(index));
}

std::string ServiceAllocator::FirstIp() const { return IpAt(1); }

bool ServiceAllocator::InRange(const std::string& ip) const {
  return IndexOf(ip) >= 0;
}

StatusOr<std::string> ServiceAllocator::AllocateIp() {
  std::set<int> reserved = {0, 1, ips_.size() - 1};
  int dns = IndexOf(config_.dns_ip);
  if (dns >= 0) reserved.insert(dns);
  auto i = ips_.AllocateNext(reserved);
  if (!i.ok()) {
    if (i.status().code() == Code::kResourceExhausted) {
      return ResourceExhaustedError(
          "failed to allocate a serviceIP: range is full");
    }
    return i.status();
  }
  return IpAt(*i);
}

Status ServiceAllocator::AllocateIpExact(const std::string& ip) {
  int i = IndexOf(ip);
  if (i <= 0 || i >= ips_.size() - 1) {
    return InvalidArgumentError(
        "failed to allocate IP " + ip + ": the provided IP (" + ip +
        ") is not in the valid range. The range of valid IPs is " +
        config_.service_cidr);
  }
  Status st = ips_.Allocate(i);
  if (st.code() == Code::kAlreadyExists) {
    return AlreadyExistsError("failed to allocate IP " + ip +
                              ": provided IP is already allocated");
  }
  return st;
}

Status ServiceAllocator::ReleaseIp(const std::string& ip) {
  int i = IndexOf(ip);
  if (i < 0) return Status::Ok();
  return ips_.Release(i);
}

StatusOr<int> ServiceAllocator::AllocatePort() {
  auto i = ports_.AllocateNext({});
  if (!i.ok()) {
    if (i.status().code() == Code::kResourceExhausted) {
      return ResourceExhaustedError(
          "failed to allocate a nodePort: range is full");
    }
    return i.status();
  }
  return config_.node_port_min + *i;
}

Status ServiceAllocator::AllocatePortExact(int port) {
  if (port < config_.node_port_min || port > config_.node_port_max) {
    return InvalidArgumentError(
        "provided port is not in the valid range. The range of valid ports "
        "is " +
        std::to_string(config_.node_port_min) + "-" +
        std::to_string(config_.node_port_max));
  }
  Status st = ports_.Allocate(port - config_.node_port_min);
  if (st.code() == Code::kAlreadyExists) {
    return AlreadyExistsError("provided port is already allocated");
  }
  return st;
}

Status ServiceAllocator::ReleasePort(int port) {
  if (port < config_.node_port_min || port > config_.node_port_max)
    return Status::Ok();
  return ports_.Release(port - config_.node_port_min);
}

std::vector<std::string> ServiceAllocator::IpsOf(const json& service) {
  std::vector<std::string> out;
  const json* ips = api::FieldPath(service, {"spec", "clusterIPs"});
  if (ips != nullptr && ips->is_array()) {
    for (const json& ip : *ips) {
      if (ip.is_string() && ip != "None" && ip != "")
        out.push_back(ip.get<std::string>());
    }
  }
  std::string ip = api::GetString(service, {"spec", "clusterIP"});
  if (out.empty() && !ip.empty() && ip != "None") out.push_back(ip);
  return out;
}

std::vector<int> ServiceAllocator::NodePortsOf(const json& service) {
  std::vector<int> out;
  const json* ports = api::FieldPath(service, {"spec", "ports"});
  if (ports != nullptr && ports->is_array()) {
    for (const json& p : *ports) {
      int64_t np = api::GetInt(p, {"nodePort"});
      if (np > 0) out.push_back(static_cast<int>(np));
    }
  }
  int64_t hc = api::GetInt(service, {"spec", "healthCheckNodePort"});
  if (hc > 0) out.push_back(static_cast<int>(hc));
  return out;
}

Status ServiceAllocator::Repair(const std::vector<json>& services) {
  std::set<int> ips, ports;
  for (const json& s : services) {
    for (const std::string& ip : IpsOf(s)) {
      int i = IndexOf(ip);
      if (i >= 0) ips.insert(i);
    }
    for (int p : NodePortsOf(s)) {
      if (p >= config_.node_port_min && p <= config_.node_port_max) {
        ports.insert(p - config_.node_port_min);
      }
    }
  }
  KITE_RETURN_IF_ERROR(ips_.Reset(ips));
  return ports_.Reset(ports);
}

}  // namespace kite::apiserver
