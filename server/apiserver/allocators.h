// Allocators for Service ClusterIPs and NodePorts, kept in the datastore so
// that no two Services get the same IP or port, also across restarts and
// with several API servers on one datastore.
//
// Each range is a bitmap stored like Kubernetes' RangeAllocation objects,
// at /registry/ranges/serviceips and /registry/ranges/servicenodeports:
//   {"kind":"RangeAllocation","apiVersion":"v1","range":"10.43.0.0/16",
//    "data":"<base64 bitmap>"}
// Every allocation or release is a read-modify-write with compare-and-swap
// on the key's mod_revision, retried on conflict. Services are the truth:
// at start Repair() rewrites both bitmaps from the stored Services, which
// also frees what a crash between allocation and the Service write leaked.
//
// Service CIDR 10.43.0.0/16 by default: the network address and the
// broadcast address are never handed out; 10.43.0.1 is the `kubernetes`
// Service's and 10.43.0.10 is kept for cluster DNS (both only by explicit
// request). NodePorts 30000-32767.
//
// Thread safety: safe for concurrent use (state lives in the datastore;
// the random generator has a mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "datastore/backend.h"

namespace kite::apiserver {

// A bitmap of `size` slots at `key`.
class RangeAllocator {
 public:
  RangeAllocator(datastore::Backend& backend, std::string key,
                 std::string range, int size);

  // Reserves slot `i`. AlreadyExists when taken; InvalidArgument when out of
  // range.
  Status Allocate(int i);
  // Reserves a free slot not in `reserved`, searching from a random start.
  // ResourceExhausted when none is left.
  StatusOr<int> AllocateNext(const std::set<int>& reserved);
  // Frees slot `i` (OK when it was free).
  Status Release(int i);
  // Replaces the bitmap with exactly `used`.
  Status Reset(const std::set<int>& used);
  // Whether slot `i` is taken now.
  StatusOr<bool> Has(int i);
  int size() const { return size_; }

 private:
  // Applies `change` to the bitmap with compare-and-swap, retrying on
  // conflicts.
  Status Mutate(const std::function<Status(std::string& bits)>& change);
  StatusOr<std::string> Load(int64_t* mod_revision, bool* exists);

  datastore::Backend& backend_;
  std::string key_;
  std::string range_;
  int size_;
  std::mutex rng_mu_;
  std::mt19937 rng_;
};

struct ServiceNetworkConfig {
  std::string service_cidr = "10.43.0.0/16";
  int node_port_min = 30000;
  int node_port_max = 32767;
  std::string dns_ip = "10.43.0.10";
};

class ServiceAllocator {
 public:
  // InvalidArgument for a malformed CIDR (IPv4, prefix 8..30) or port range.
  static StatusOr<std::unique_ptr<ServiceAllocator>> Create(
      datastore::Backend& backend, const ServiceNetworkConfig& config);

  const ServiceNetworkConfig& config() const { return config_; }
  // The first address of the range (the `kubernetes` Service's).
  std::string FirstIp() const;

  // A free ClusterIP (never the network, broadcast, first or DNS address).
  StatusOr<std::string> AllocateIp();
  // Reserves `ip`. InvalidArgument with Kubernetes' wording when it is not
  // in the range; AlreadyExists when taken.
  Status AllocateIpExact(const std::string& ip);
  Status ReleaseIp(const std::string& ip);
  // Whether `ip` (dotted IPv4) lies in the service range.
  bool InRange(const std::string& ip) const;

  StatusOr<int> AllocatePort();
  Status AllocatePortExact(int port);
  Status ReleasePort(int port);

  // Rewrites both bitmaps from the stored Services (JSON objects).
  Status Repair(const std::vector<nlohmann::json>& services);

  // The IPs and node ports a Service holds.
  static std::vector<std::string> IpsOf(const nlohmann::json& service);
  static std::vector<int> NodePortsOf(const nlohmann::json& service);

 private:
  ServiceAllocator(datastore::Backend& backend,
                   const ServiceNetworkConfig& config, uint32_t base,
                   int prefix);
  // Slot of `ip` in the range, or -1.
  int IndexOf(const std::string& ip) const;
  std::string IpAt(int index) const;

  ServiceNetworkConfig config_;
  uint32_t base_;
  int prefix_;
  RangeAllocator ips_;
  RangeAllocator ports_;
};

// Dotted IPv4 text <-> host-order integer. nullopt-like: returns false when
// `text` is not an IPv4 address.
bool ParseIpv4(const std::string& text, uint32_t* out);
std::string FormatIpv4(uint32_t ip);

}  // namespace kite::apiserver
