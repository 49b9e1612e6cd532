#include "agent/dns/cluster_dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "common/log.h"

namespace kite::dns {
namespace {

using Json = client::Json;
using Clock = std::chrono::steady_clock;

const client::ResourceRef kServices{"", "v1", "services", ""};
const client::ResourceRef kSlices{"discovery.k8s.io", "v1", "endpointslices",
                                  ""};
constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
constexpr uint16_t kOurUdpSize = 1232;

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}

// The canonical text of an IP address, "" when it is not one.
std::string CanonicalIp(const std::string& ip) {
  unsigned char buf[16];
  char text[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) {
    return inet_ntop(AF_INET, buf, text, sizeof text);
  }
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) {
    return inet_ntop(AF_INET6, buf, text, sizeof text);
  }
  return "";
}

// 10.42.0.5 -> 10-42-0-5; fd00::5 -> fd00--5.
std::string Dashed(const std::string& ip) {
  std::string out = ip;
  for (char& c : out) {
    if (c == '.' || c == ':') c = '-';
  }
  return out;
}

// The address of a dashed label: 10-42-0-5 -> 10.42.0.5 (or the IPv6 form).
std::string Undashed(const std::string& label) {
  std::string v4 = label;
  std::replace(v4.begin(), v4.end(), '-', '.');
  if (!CanonicalIp(v4).empty() && v4.find(':') == std::string::npos) {
    return CanonicalIp(v4);
  }
  std::string v6 = label;
  std::replace(v6.begin(), v6.end(), '-', ':');
  return CanonicalIp(v6);
}

// The address of a reverse name ("" when it is none).
std::string ReverseToIp(const std::string& lower) {
  const std::string v4 = ".in-addr.arpa", v6 = ".ip6.arpa";
  auto ends = [&](const std::string& suffix) {
    return lower.size() > suffix.size() &&
           lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) ==
               0;
  };
  if (ends(v4)) {
    auto parts = Split(lower.substr(0, lower.size() - v4.size()), '.');
    if (parts.size() != 4) return "";
    std::string ip;
    for (int i = 3; i >= 0; --i) {
      if (parts[i].empty() || parts[i].size() > 3 ||
          parts[i].find_first_not_of("0123456789") != std::string::npos) {
        return "";
      }
      ip += parts[i] + (i ? "." : "");
    }
    return CanonicalIp(ip);
  }
  if (ends(v6)) {
    auto parts = Split(lower.substr(0, lower.size() - v6.size()), '.');
    if (parts.size() != 32) return "";
    std::string ip;
    for (int i = 31; i >= 0; --i) {
      if (parts[i].size() != 1 || !isxdigit(parts[i][0])) return "";
      ip += parts[i];
      if (i % 4 == 0 && i != 0) ip += ':';
    }
    return CanonicalIp(ip);
  }
  return "";
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> ClusterIps(const Json& svc) {
  std::vector<std::string> ips;
  const Json& spec = svc.value("spec", Json::object());
  if (auto it = spec.find("clusterIPs"); it != spec.end() && it->is_array()) {
    for (const Json& ip : *it) {
      if (ip.is_string()) ips.push_back(ip.get<std::string>());
    }
  }
  std::string one = Str(spec, "clusterIP");
  if (ips.empty() && !one.empty()) ips.push_back(one);
  return ips;
}

bool Headless(const Json& svc) {
  return Str(svc.value("spec", Json::object()), "clusterIP") == "None";
}

struct Endpoint {
  std::string ip;
  std::string hostname;
};

// The ready endpoints of a service (all of them with
// publishNotReadyAddresses), and the ports of its slices by name.
std::vector<Endpoint> Endpoints(client::Informer& slices, const Json& svc,
                                std::map<std::string, Json>* ports) {
  std::vector<Endpoint> out;
  const Json& meta = svc.value("metadata", Json::object());
  std::string ns = Str(meta, "namespace"), name = Str(meta, "name");
  bool all = svc.value("spec", Json::object())
                 .value("publishNotReadyAddresses", false);
  for (const auto& slice : slices.ListNamespace(ns)) {
    const Json& labels = slice->value("metadata", Json::object())
                             .value("labels", Json::object());
    if (Str(labels, kServiceNameLabel) != name) continue;
    if (ports) {
      for (const Json& p : slice->value("ports", Json::array())) {
        if (p.is_object()) (*ports)[Str(p, "name")] = p;
      }
    }
    for (const Json& ep : slice->value("endpoints", Json::array())) {
      if (!ep.is_object()) continue;
      const Json& cond = ep.value("conditions", Json::object());
      // An absent ready condition means ready (discovery.k8s.io/v1).
      bool ready = !cond.is_object() || !cond.contains("ready") ||
                   !cond["ready"].is_boolean() || cond["ready"].get<bool>();
      if (!ready && !all) continue;
      for (const Json& a : ep.value("addresses", Json::array())) {
        if (!a.is_string()) continue;
        std::string ip = CanonicalIp(a.get<std::string>());
        if (ip.empty()) continue;
        out.push_back({ip, Str(ep, "hostname")});
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Endpoint& a, const Endpoint& b) { return a.ip < b.ip; });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Endpoint& a, const Endpoint& b) {
                          return a.ip == b.ip;
                        }),
            out.end());
  return out;
}

bool WantsAddress(uint16_t qtype, const std::string& ip) {
  bool v6 = ip.find(':') != std::string::npos;
  return qtype == kTypeAny || (qtype == kTypeA && !v6) ||
         (qtype == kTypeAaaa && v6);
}

// Upstream "ip", "ip:port", "[v6]:port" -> sockaddr.
bool UpstreamAddress(const std::string& text, sockaddr_storage& ss,
                     socklen_t& len) {
  std::string host = text;
  int port = 53;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) return false;
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return false;
      port = atoi(text.c_str() + close + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = atoi(text.c_str() + colon + 1);
  }
  if (port <= 0 || port > 65535) return false;
  memset(&ss, 0, sizeof ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
    return true;
  }
  return false;
}

std::string CacheKey(const Question& q) {
  return LowerName(q.name) + "/" + std::to_string(q.type) + "/" +
         std::to_string(q.klass);
}

}  // namespace

ClusterDns::ClusterDns(client::Interface& api, ClusterDnsOptions options)
    : api_(api),
      options_(std::move(options)),
      domain_(LowerName(options_.domain)),
      factory_(api) {
  if (!domain_.empty() && domain_.back() == '.') domain_.pop_back();
  std::vector<std::string> candidates = options_.upstreams;
  if (candidates.empty()) {
    std::ifstream in(options_.resolv_conf);
    std::stringstream ss;
    ss << in.rdbuf();
    candidates = ParseResolvConf(ss.str());
  }
  for (const std::string& u : candidates) {
    sockaddr_storage ss;
    socklen_t len;
    if (!UpstreamAddress(u, ss, len)) {
      log::Warn("dns", "ignoring upstream")("upstream", u);
      continue;
    }
    bool excluded = false;
    for (const std::string& x : options_.exclude_upstreams) {
      excluded |= (CanonicalIp(x) == CanonicalIp(u)) || x == u;
    }
    if (!excluded) upstreams_.push_back(u);
  }
  services_ = &factory_.For(kServices);
  slices_ = &factory_.For(kSlices);
}

ClusterDns::~ClusterDns() { Stop(); }

Status ClusterDns::Start() { return factory_.Start(); }
void ClusterDns::Stop() { factory_.Stop(); }
bool ClusterDns::WaitForSync(std::chrono::milliseconds timeout) {
  return factory_.WaitForSync(timeout);
}

std::vector<std::string> ClusterDns::ParseResolvConf(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value) || key != "nameserver") continue;
    // A zone index (fe80::1%eth0) cannot be used by inet_pton; skip it.
    if (value.find('%') != std::string::npos) continue;
    if (value.find(':') != std::string::npos) value = "[" + value + "]";
    out.push_back(value);
  }
  return out;
}

void ClusterDns::AddSoa(Message& reply) const {
  Record soa;
  soa.name = domain_;
  soa.type = kTypeSoa;
  soa.ttl = options_.ttl;
  soa.soa = {"ns.dns." + domain_, "hostmaster." + domain_, 1, 7200, 1800, 86400,
             options_.ttl};
  reply.authority.push_back(std::move(soa));
}

void ClusterDns::AddEdns(const Message& query, Message& reply) const {
  if (!query.EdnsUdpSize()) return;
  Record opt;
  opt.name = "";
  opt.type = kTypeOpt;
  opt.klass = kOurUdpSize;
  reply.additional.push_back(std::move(opt));
}

std::optional<Message> ClusterDns::ResolveLocal(const Message& query) {
  if (query.header.qr) return ReplyTo(query, kFormErr);
  if (query.header.opcode != 0) {
    Message r = ReplyTo(query, kNotImp);
    return r;
  }
  if (query.questions.size() != 1) return ReplyTo(query, kFormErr);
  const Question& q = query.questions[0];
  std::string lower = LowerName(q.name);
  if (!lower.empty() && lower.back() == '.') lower.pop_back();

  bool in_domain = lower == domain_ ||
                   (lower.size() > domain_.size() + 1 &&
                    lower.compare(lower.size() - domain_.size() - 1,
                                  std::string::npos, "." + domain_) == 0);
  if (in_domain) {
    std::vector<std::string> labels;
    if (lower != domain_) {
      labels = Split(lower.substr(0, lower.size() - domain_.size() - 1), '.');
    }
    Message reply = AnswerCluster(query, q, labels);
    reply.header.aa = true;
    reply.header.ra = true;
    AddEdns(query, reply);
    return reply;
  }
  if (q.type == kTypePtr) {
    std::string ip = ReverseToIp(lower);
    if (!ip.empty()) {
      if (auto r = AnswerPtr(query, q, ip)) {
        AddEdns(query, *r);
        return r;
      }
    }
  }
  return FromCache(query);
}

Message ClusterDns::AnswerCluster(const Message& query, const Question& q,
                                  const std::vector<std::string>& labels) {
  Message reply = ReplyTo(query, kNoError);
  const uint32_t ttl = options_.ttl;
  auto nodata = [&]() {
    AddSoa(reply);
    return reply;
  };
  auto nxdomain = [&]() {
    reply.header.rcode = kNxDomain;
    AddSoa(reply);
    return reply;
  };
  const size_t n = labels.size();
  if (n == 0) {  // the zone apex
    if (q.type == kTypeSoa) {
      AddSoa(reply);
      reply.answers.push_back(reply.authority.back());
      reply.authority.clear();
      return reply;
    }
    if (q.type == kTypeNs) {
      reply.answers.push_back(
          NameRecord(kTypeNs, q.name, ttl, "ns.dns." + domain_));
      return reply;
    }
    return nodata();
  }
  const std::string& zone = labels.back();
  if (zone == "pod") {
    if (n < 3) return n == 1 || n == 2 ? nodata() : nxdomain();
    if (n > 3) return nxdomain();
    std::string ip = Undashed(labels[0]);
    if (ip.empty()) return nxdomain();
    if (WantsAddress(q.type, ip)) {
      reply.answers.push_back(*AddressRecord(q.name, ttl, ip));
      return reply;
    }
    return nodata();
  }
  if (zone != "svc" || n > 5) return nxdomain();
  if (n <= 2) return nodata();  // svc.<domain>, <ns>.svc.<domain>
  const std::string& ns = labels[n - 2];
  const std::string& name = labels[n - 3];
  auto svc = services_->Get(ns, name);
  if (!svc) return nxdomain();
  const std::string base = name + "." + ns + ".svc." + domain_;
  const Json& spec = svc->value("spec", Json::object());

  if (n == 3) {
    if (Str(spec, "type") == "ExternalName") {
      std::string target = Str(spec, "externalName");
      if (target.empty()) return nodata();
      if (!target.empty() && target.back() == '.') target.pop_back();
      reply.answers.push_back(NameRecord(kTypeCname, q.name, ttl, target));
      return reply;
    }
    std::vector<std::string> ips;
    if (Headless(*svc)) {
      for (const Endpoint& e : Endpoints(*slices_, *svc, nullptr)) {
        ips.push_back(e.ip);
      }
    } else {
      for (const std::string& ip : ClusterIps(*svc)) {
        std::string c = CanonicalIp(ip);
        if (!c.empty()) ips.push_back(c);
      }
    }
    for (const std::string& ip : ips) {
      if (WantsAddress(q.type, ip)) {
        reply.answers.push_back(*AddressRecord(q.name, ttl, ip));
      }
    }
    if (reply.answers.empty()) return nodata();
    return reply;
  }

  if (n == 4) {  // <hostname or dashed ip>.<svc>.<ns>.svc
    for (const Endpoint& e : Endpoints(*slices_, *svc, nullptr)) {
      if (LowerName(e.hostname) == labels[0] || Dashed(e.ip) == labels[0]) {
        if (WantsAddress(q.type, e.ip)) {
          reply.answers.push_back(*AddressRecord(q.name, ttl, e.ip));
        }
      }
    }
    if (reply.answers.empty()) {
      // The name exists when some endpoint carries it (another family).
      for (const Endpoint& e : Endpoints(*slices_, *svc, nullptr)) {
        if (LowerName(e.hostname) == labels[0] || Dashed(e.ip) == labels[0]) {
          return nodata();
        }
      }
      return nxdomain();
    }
    return reply;
  }

  // n == 5: _<port>._<proto>.<svc>.<ns>.svc
  if (labels[0].size() < 2 || labels[0][0] != '_' || labels[1].size() < 2 ||
      labels[1][0] != '_') {
    return nxdomain();
  }
  std::string port_name = labels[0].substr(1);
  std::string proto = labels[1].substr(1);
  if (Headless(*svc)) {
    std::map<std::string, Json> ports;
    auto eps = Endpoints(*slices_, *svc, &ports);
    auto it = ports.find(port_name);
    if (it == ports.end() ||
        LowerName(it->second.value("protocol", std::string("TCP"))) != proto) {
      return nxdomain();
    }
    uint16_t port = static_cast<uint16_t>(it->second.value("port", 0));
    for (const Endpoint& e : eps) {
      std::string target =
          (e.hostname.empty() ? Dashed(e.ip) : e.hostname) + "." + base;
      if (q.type == kTypeSrv || q.type == kTypeAny) {
        Record srv;
        srv.name = q.name;
        srv.type = kTypeSrv;
        srv.ttl = ttl;
        srv.srv = {0, 100, port, target};
        reply.answers.push_back(std::move(srv));
        reply.additional.push_back(*AddressRecord(target, ttl, e.ip));
      }
    }
    if (reply.answers.empty()) return nodata();
    return reply;
  }
  for (const Json& p : spec.value("ports", Json::array())) {
    if (!p.is_object() || LowerName(Str(p, "name")) != port_name ||
        LowerName(p.value("protocol", std::string("TCP"))) != proto) {
      continue;
    }
    if (q.type == kTypeSrv || q.type == kTypeAny) {
      Record srv;
      srv.name = q.name;
      srv.type = kTypeSrv;
      srv.ttl = ttl;
      srv.srv = {0, 100, static_cast<uint16_t>(p.value("port", 0)), base};
      reply.answers.push_back(std::move(srv));
      for (const std::string& ip : ClusterIps(*svc)) {
        if (auto a = AddressRecord(base, ttl, CanonicalIp(ip))) {
          reply.additional.push_back(*a);
        }
      }
      return reply;
    }
    return nodata();
  }
  return nxdomain();
}

std::optional<Message> ClusterDns::AnswerPtr(const Message& query,
                                             const Question& q,
                                             const std::string& ip) {
  std::vector<std::string> targets;
  for (const auto& svc : services_->List()) {
    for (const std::string& cip : ClusterIps(*svc)) {
      if (CanonicalIp(cip) == ip) {
        const Json& meta = svc->value("metadata", Json::object());
        targets.push_back(Str(meta, "name") + "." + Str(meta, "namespace") +
                          ".svc." + domain_);
      }
    }
  }
  if (targets.empty()) {
    for (const auto& slice : slices_->List()) {
      const Json& meta = slice->value("metadata", Json::object());
      std::string svc_name =
          Str(meta.value("labels", Json::object()), kServiceNameLabel);
      if (svc_name.empty()) continue;
      for (const Json& ep : slice->value("endpoints", Json::array())) {
        if (!ep.is_object()) continue;
        for (const Json& a : ep.value("addresses", Json::array())) {
          if (!a.is_string() || CanonicalIp(a.get<std::string>()) != ip) {
            continue;
          }
          std::string host = Str(ep, "hostname");
          targets.push_back((host.empty() ? Dashed(ip) : host) + "." +
                            svc_name + "." + Str(meta, "namespace") + ".svc." +
                            domain_);
        }
      }
    }
  }
  if (targets.empty()) return std::nullopt;
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  Message reply = ReplyTo(query, kNoError);
  reply.header.aa = true;
  reply.header.ra = true;
  for (const std::string& t : targets) {
    reply.answers.push_back(NameRecord(kTypePtr, q.name, options_.ttl, t));
  }
  return reply;
}

Message ClusterDns::Resolve(const Message& query) {
  if (auto local = ResolveLocal(query)) return *local;
  return Forward(query);
}

std::optional<Message> ClusterDns::FromCache(const Message& query) {
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = cache_.find(CacheKey(query.questions[0]));
  if (it == cache_.end()) return std::nullopt;
  auto now = Clock::now();
  if (now >= it->second.expires) {
    cache_.erase(it);
    return std::nullopt;
  }
  Message reply = it->second.answer;
  reply.header.id = query.header.id;
  reply.header.rd = query.header.rd;
  reply.questions = query.questions;  // the asker's case
  uint32_t aged = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now - it->second.stored)
          .count());
  for (auto* section : {&reply.answers, &reply.authority}) {
    for (Record& r : *section) r.ttl = r.ttl > aged ? r.ttl - aged : 0;
  }
  reply.additional.erase(
      std::remove_if(reply.additional.begin(), reply.additional.end(),
                     [](const Record& r) { return r.type == kTypeOpt; }),
      reply.additional.end());
  AddEdns(query, reply);
  return reply;
}

void ClusterDns::Store(const Message& query, const Message& answer) {
  if (answer.header.tc ||
      (answer.header.rcode != kNoError && answer.header.rcode != kNxDomain)) {
    return;
  }
  uint32_t ttl = static_cast<uint32_t>(options_.max_cache_ttl.count());
  for (const auto* section : {&answer.answers, &answer.authority}) {
    for (const Record& r : *section) ttl = std::min(ttl, r.ttl);
  }
  if (ttl == 0) return;
  auto now = Clock::now();
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.size() >= options_.cache_entries) {
    // Drop what expired; if that frees nothing, start over (a small cache,
    // not an LRU).
    for (auto it = cache_.begin(); it != cache_.end();) {
      it = it->second.expires <= now ? cache_.erase(it) : std::next(it);
    }
    if (cache_.size() >= options_.cache_entries) cache_.clear();
  }
  cache_[CacheKey(query.questions[0])] = {answer, now,
                                          now + std::chrono::seconds(ttl)};
}

Message ClusterDns::Forward(const Message& query) {
  const auto deadline = Clock::now() + options_.forward_budget;
  Message upstream_query = query;
  static thread_local std::mt19937 rng(std::random_device{}());
  upstream_query.header.id = static_cast<uint16_t>(rng());
  upstream_query.header.rd = true;
  auto wire = Serialize(upstream_query);
  if (!wire.ok()) return ReplyTo(query, kFormErr);

  for (const std::string& upstream : upstreams_) {
    auto now = Clock::now();
    if (now >= deadline) break;
    auto try_deadline = std::min(deadline, now + options_.upstream_timeout);
    sockaddr_storage addr;
    socklen_t len;
    if (!UpstreamAddress(upstream, addr, len)) continue;
    int fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        send(fd, wire->data(), wire->size(), 0) < 0) {
      close(fd);
      continue;
    }
    std::optional<Message> got;
    char buf[65536];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      try_deadline - Clock::now())
                      .count();
      if (left <= 0) break;
      pollfd p{fd, POLLIN, 0};
      int ready = poll(&p, 1, static_cast<int>(left));
      if (ready <= 0) break;
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n < 0) break;  // e.g. ECONNREFUSED: nobody listens there
      auto m = Parse(std::string_view(buf, static_cast<size_t>(n)));
      if (!m.ok() || !m->header.qr ||
          m->header.id != upstream_query.header.id ||
          m->questions.size() != 1 ||
          !EqualNames(m->questions[0].name, query.questions[0].name) ||
          m->questions[0].type != query.questions[0].type) {
        continue;  // not the answer to our question: keep waiting
      }
      got = std::move(*m);
      break;
    }
    close(fd);
    if (!got) continue;
    if (got->header.rcode == kServFail || got->header.rcode == kRefused) {
      continue;  // maybe another upstream does better
    }
    got->header.id = query.header.id;
    got->header.rd = query.header.rd;
    got->header.ra = true;
    got->questions = query.questions;
    Store(query, *got);
    if (!query.EdnsUdpSize()) {
      got->additional.erase(
          std::remove_if(got->additional.begin(), got->additional.end(),
                         [](const Record& r) { return r.type == kTypeOpt; }),
          got->additional.end());
    }
    return *got;
  }
  Message fail = ReplyTo(query, kServFail);
  fail.header.ra = true;
  AddEdns(query, fail);
  return fail;
}

}  // namespace kite::dns
