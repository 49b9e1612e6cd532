#include "agent/proxy/conntrack.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace kite::proxy {
namespace {

Status Errno(const std::string& what, int err) {
  return InternalError("conntrack " + what + ": " + std::strerror(err));
}

// A tuple as the kernel reports it (addresses and ports in network order).
struct Tuple {
  uint32_t src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
};

// Walks the attributes in [data, data + len).
template <typename F>
void ForEachAttr(const char* data, size_t len, F&& f) {
  while (len >= sizeof(nlattr)) {
    const nlattr* a = reinterpret_cast<const nlattr*>(data);
    if (a->nla_len < sizeof(nlattr) || a->nla_len > len) return;
    f(a->nla_type & NLA_TYPE_MASK, data + NLA_HDRLEN,
      static_cast<size_t>(a->nla_len - NLA_HDRLEN));
    size_t step = NLA_ALIGN(a->nla_len);
    if (step >= len) return;
    data += step;
    len -= step;
  }
}

Tuple ParseTuple(const char* data, size_t len) {
  Tuple t;
  ForEachAttr(data, len, [&](int type, const char* p, size_t n) {
    if (type == CTA_TUPLE_IP) {
      ForEachAttr(p, n, [&](int ip_type, const char* q, size_t m) {
        if (m < 4) return;
        if (ip_type == CTA_IP_V4_SRC) std::memcpy(&t.src, q, 4);
        if (ip_type == CTA_IP_V4_DST) std::memcpy(&t.dst, q, 4);
      });
    } else if (type == CTA_TUPLE_PROTO) {
      ForEachAttr(p, n, [&](int proto_type, const char* q, size_t m) {
        if (proto_type == CTA_PROTO_NUM && m >= 1) t.proto = *q;
        if (proto_type == CTA_PROTO_SRC_PORT && m >= 2)
          std::memcpy(&t.sport, q, 2);
        if (proto_type == CTA_PROTO_DST_PORT && m >= 2)
          std::memcpy(&t.dport, q, 2);
      });
    }
  });
  return t;
}

class NetlinkConntrack : public Conntrack {
 public:
  StatusOr<int> DeleteUdpFlowsTo(
      const std::set<std::pair<std::string, int>>& endpoints) override {
    std::set<std::pair<uint32_t, uint16_t>> wanted;
    for (const auto& [ip, port] : endpoints) {
      in_addr a;
      if (port <= 0 || port > 65535 ||
          ::inet_pton(AF_INET, ip.c_str(), &a) != 1)
        continue;
      wanted.insert({a.s_addr, htons(static_cast<uint16_t>(port))});
    }
    if (wanted.empty()) return 0;

    int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) return Errno("socket", errno);
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
      int e = errno;
      ::close(fd);
      return Errno("bind", e);
    }
    // The raw CTA_TUPLE_ORIG attributes of the entries to delete.
    std::vector<std::string> doomed;
    Status st = Dump(fd, wanted, &doomed);
    int deleted = 0;
    for (size_t i = 0; st.ok() && i < doomed.size(); ++i) {
      StatusOr<bool> d = Delete(fd, doomed[i], static_cast<uint32_t>(i + 2));
      if (!d.ok()) st = d.status();
      if (d.ok() && *d) ++deleted;
    }
    ::close(fd);
    if (!st.ok()) return st;
    return deleted;
  }

 private:
  static std::string Header(uint16_t msg, uint16_t flags, uint32_t seq,
                            size_t payload) {
    std::string buf(NLMSG_SPACE(sizeof(nfgenmsg)) + payload, '\0');
    nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf.data());
    h->nlmsg_len = static_cast<uint32_t>(buf.size());
    h->nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | msg);
    h->nlmsg_flags = flags;
    h->nlmsg_seq = seq;
    nfgenmsg* g = reinterpret_cast<nfgenmsg*>(NLMSG_DATA(h));
    g->nfgen_family = AF_INET;
    g->version = NFNETLINK_V0;
    return buf;
  }

  static Status Send(int fd, const std::string& msg) {
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t n;
    do {
      n = ::sendto(fd, msg.data(), msg.size(), 0,
                   reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Errno("send", errno);
    return Status::Ok();
  }

  static Status Dump(int fd,
                     const std::set<std::pair<uint32_t, uint16_t>>& wanted,
                     std::vector<std::string>* doomed) {
    KITE_RETURN_IF_ERROR(
        Send(fd, Header(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)));
    std::vector<char> buf(1 << 16);
    for (;;) {
      ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno("dump", errno);
      size_t len = static_cast<size_t>(n);
      for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf.data());
           NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_type == NLMSG_DONE) return Status::Ok();
        if (h->nlmsg_type == NLMSG_ERROR) {
          const nlmsgerr* e = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h));
          if (e->error == 0) continue;
          return Errno("dump", -e->error);
        }
        size_t head = NLMSG_LENGTH(sizeof(nfgenmsg));
        if (h->nlmsg_len < head) continue;
        const char* attrs =
            reinterpret_cast<const char*>(h) + NLMSG_ALIGN(head);
        size_t attrs_len = h->nlmsg_len - NLMSG_ALIGN(head);
        Tuple orig, reply;
        std::string orig_raw;
        ForEachAttr(attrs, attrs_len, [&](int type, const char* p, size_t m) {
          if (type == CTA_TUPLE_ORIG) {
            orig = ParseTuple(p, m);
            orig_raw.assign(p - NLA_HDRLEN, NLA_HDRLEN + m);
          } else if (type == CTA_TUPLE_REPLY) {
            reply = ParseTuple(p, m);
          }
        });
        if (orig.proto != IPPROTO_UDP || orig_raw.empty()) continue;
        if (!wanted.count({reply.src, reply.sport})) continue;
        if (orig.dst == reply.src && orig.dport == reply.sport) continue;
        doomed->push_back(std::move(orig_raw));
      }
    }
  }

  // Deletes the entry with this original tuple; false when it was gone.
  static StatusOr<bool> Delete(int fd, const std::string& orig_attr,
                               uint32_t seq) {
    std::string msg = Header(IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK,
                             seq, NLA_ALIGN(orig_attr.size()));
    std::memcpy(msg.data() + NLMSG_SPACE(sizeof(nfgenmsg)), orig_attr.data(),
                orig_attr.size());
    KITE_RETURN_IF_ERROR(Send(fd, msg));
    std::vector<char> buf(8192);
    for (;;) {
      ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno("delete", errno);
      size_t len = static_cast<size_t>(n);
      for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf.data());
           NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq != seq) continue;
        const nlmsgerr* e = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (e->error == 0) return true;
        if (e->error == -ENOENT) return false;
        return Errno("delete", -e->error);
      }
    }
  }
};

// NetlinkConntrack inside the network namespace at `path`.
class NetnsConntrack : public Conntrack {
 public:
  explicit NetnsConntrack(std::string path) : path_(std::move(path)) {}
  StatusOr<int> DeleteUdpFlowsTo(
      const std::set<std::pair<std::string, int>>& endpoints) override {
    StatusOr<int> result = InternalError("not run");
    std::thread t([&] {
      int ns = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
        result = UnavailableError("conntrack: enter " + path_ + ": " +
                                  std::strerror(errno));
      } else {
        result = NetlinkConntrack().DeleteUdpFlowsTo(endpoints);
      }
      if (ns >= 0) ::close(ns);
    });
    t.join();
    return result;
  }

 private:
  const std::string path_;
};

}  // namespace

std::unique_ptr<Conntrack> NewNetlinkConntrack() {
  return std::make_unique<NetlinkConntrack>();
}

std::unique_ptr<Conntrack> NewConntrackFor(
    const std::vector<std::string>& command_prefix) {
  if (command_prefix.empty()) return NewNetlinkConntrack();
  for (const std::string& arg : command_prefix) {
    if (arg.rfind("--net=", 0) == 0) {
      return std::make_unique<NetnsConntrack>(arg.substr(6));
    }
  }
  return nullptr;
}

std::set<std::pair<std::string, int>> GoneUdpEndpoints(
    const ProxySnapshot& prev, const ProxySnapshot& next) {
  std::set<std::pair<std::string, int>> gone;
  for (const auto& [key, sp] : prev.ports) {
    if (sp.protocol != Protocol::kUdp) continue;
    auto it = next.ports.find(key);
    for (const Endpoint& e : sp.endpoints) {
      bool kept = false;
      if (it != next.ports.end()) {
        for (const Endpoint& n : it->second.endpoints) {
          if (n.ip == e.ip && n.port == e.port) kept = true;
        }
      }
      if (!kept) gone.insert({e.ip, e.port});
    }
  }
  return gone;
}

}  // namespace kite::proxy
