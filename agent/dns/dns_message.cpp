#include "agent/dns/dns_message.h"

#include <arpa/inet.h>

#include <map>
#include <utility>

namespace kite::dns {
namespace {

constexpr size_t kMaxName = 255;
constexpr size_t kMaxLabel = 63;

Status Malformed(const std::string& what) {
  return InvalidArgumentError("malformed DNS message: " + what);
}

class Reader {
 public:
  explicit Reader(std::string_view wire, size_t pos = 0)
      : wire_(wire), pos_(pos) {}
  size_t pos() const { return pos_; }
  size_t size() const { return wire_.size(); }

  bool U8(uint8_t& v) {
    if (pos_ + 1 > wire_.size()) return false;
    v = static_cast<uint8_t>(wire_[pos_++]);
    return true;
  }
  bool U16(uint16_t& v) {
    if (pos_ + 2 > wire_.size()) return false;
    v = static_cast<uint16_t>((static_cast<uint8_t>(wire_[pos_]) << 8) |
                              static_cast<uint8_t>(wire_[pos_ + 1]));
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t& v) {
    uint16_t hi, lo;
    if (!U16(hi) || !U16(lo)) return false;
    v = (static_cast<uint32_t>(hi) << 16) | lo;
    return true;
  }
  bool Bytes(size_t n, std::string& out) {
    if (pos_ + n > wire_.size()) return false;
    out.assign(wire_.substr(pos_, n));
    pos_ += n;
    return true;
  }

  // A possibly compressed name at the current position. Every pointer must
  // point before the label it is found in, so the walk always moves
  // backwards and ends.
  Status Name(std::string& out) {
    out.clear();
    size_t p = pos_;
    size_t wire_len = 1;  // the root label
    bool jumped = false;
    size_t limit = pos_;  // a pointer must point before this
    for (;;) {
      if (p >= wire_.size()) return Malformed("name runs past the end");
      uint8_t len = static_cast<uint8_t>(wire_[p]);
      if ((len & 0xC0) == 0xC0) {
        if (p + 2 > wire_.size()) return Malformed("truncated pointer");
        size_t target =
            ((len & 0x3F) << 8) | static_cast<uint8_t>(wire_[p + 1]);
        if (!jumped) pos_ = p + 2;
        if (target >= limit || target >= p) {
          return Malformed("compression pointer does not point backwards");
        }
        jumped = true;
        limit = target;
        p = target;
        continue;
      }
      if ((len & 0xC0) != 0) return Malformed("unknown label type");
      if (len == 0) {
        if (!jumped) pos_ = p + 1;
        return Status::Ok();
      }
      if (p + 1 + len > wire_.size()) return Malformed("truncated label");
      wire_len += 1 + len;
      if (wire_len > kMaxName) return Malformed("name longer than 255 bytes");
      if (!out.empty()) out.push_back('.');
      for (size_t i = 0; i < len; ++i) {
        unsigned char c = static_cast<unsigned char>(wire_[p + 1 + i]);
        if (c == '.' || c == '\\' || c <= 0x20 || c >= 0x7F) {
          char buf[5];
          snprintf(buf, sizeof buf, "\\%03u", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
      }
      p += 1 + len;
    }
  }

 private:
  std::string_view wire_;
  size_t pos_ = 0;
};

// The labels of a text name, unescaped.
StatusOr<std::vector<std::string>> Labels(std::string_view name) {
  std::vector<std::string> labels;
  if (name.empty() || name == ".") return labels;
  if (name.back() == '.') name.remove_suffix(1);
  std::string cur;
  size_t total = 1;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (cur.empty()) return InvalidArgumentError("empty label in name");
      if (cur.size() > kMaxLabel) {
        return InvalidArgumentError("label longer than 63 bytes");
      }
      total += 1 + cur.size();
      labels.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    char c = name[i];
    if (c == '\\') {
      if (i + 1 >= name.size()) return InvalidArgumentError("bad escape");
      if (isdigit(static_cast<unsigned char>(name[i + 1]))) {
        if (i + 3 >= name.size()) return InvalidArgumentError("bad escape");
        int v = 0;
        for (int k = 1; k <= 3; ++k) {
          char d = name[i + k];
          if (!isdigit(static_cast<unsigned char>(d))) {
            return InvalidArgumentError("bad escape");
          }
          v = v * 10 + (d - '0');
        }
        if (v > 255) return InvalidArgumentError("bad escape");
        cur.push_back(static_cast<char>(v));
        i += 3;
      } else {
        cur.push_back(name[++i]);
      }
    } else {
      cur.push_back(c);
    }
  }
  if (total > kMaxName) return InvalidArgumentError("name longer than 255");
  return labels;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

class Writer {
 public:
  std::string& out() { return out_; }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v) {
    out_.push_back(static_cast<char>(v >> 8));
    out_.push_back(static_cast<char>(v & 0xFF));
  }
  void U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    U16(static_cast<uint16_t>(v & 0xFFFF));
  }
  void Put16(size_t at, uint16_t v) {
    out_[at] = static_cast<char>(v >> 8);
    out_[at + 1] = static_cast<char>(v & 0xFF);
  }

  // Writes `name`, pointing at an earlier copy of its longest known suffix.
  // Suffixes match byte for byte (not case-insensitively) so the case of
  // every name survives the round trip.
  Status Name(std::string_view name, bool compress = true) {
    auto labels = Labels(name);
    if (!labels.ok()) return labels.status();
    const auto& l = *labels;
    for (size_t i = 0; i < l.size(); ++i) {
      std::string key;
      for (size_t j = i; j < l.size(); ++j) {
        key.push_back(static_cast<char>(l[j].size()));
        key += l[j];
      }
      if (compress) {
        auto it = suffixes_.find(key);
        if (it != suffixes_.end()) {
          U16(static_cast<uint16_t>(0xC000 | it->second));
          return Status::Ok();
        }
        if (out_.size() < 0x3FFF) {
          suffixes_.emplace(key, out_.size());
          added_.push_back(std::move(key));
        }
      }
      U8(static_cast<uint8_t>(l[i].size()));
      out_ += l[i];
    }
    U8(0);
    return Status::Ok();
  }

  // Undo support for records that do not fit.
  size_t Mark() const { return added_.size(); }
  void Rollback(size_t size, size_t mark) {
    out_.resize(size);
    while (added_.size() > mark) {
      suffixes_.erase(added_.back());
      added_.pop_back();
    }
  }

 private:
  std::string out_;
  std::map<std::string, size_t> suffixes_;
  std::vector<std::string> added_;
};

Status ParseRecord(Reader& r, std::string_view wire, Record& rec) {
  if (Status s = r.Name(rec.name); !s.ok()) return s;
  uint16_t rdlen;
  if (!r.U16(rec.type) || !r.U16(rec.klass) || !r.U32(rec.ttl) ||
      !r.U16(rdlen)) {
    return Malformed("truncated record");
  }
  if (r.pos() + rdlen > r.size()) return Malformed("truncated rdata");
  size_t end = r.pos() + rdlen;
  // Names inside rdata may point anywhere before them, but must stay
  // inside the rdata: read them with a reader bounded at the rdata's end.
  Reader rd(wire.substr(0, end), r.pos());
  bool ok = true;
  switch (rec.type) {
    case kTypeA:
    case kTypeAaaa: {
      size_t want = rec.type == kTypeA ? 4 : 16;
      if (rdlen != want) return Malformed("address of the wrong length");
      ok = rd.Bytes(want, rec.raw);
      break;
    }
    case kTypeNs:
    case kTypeCname:
    case kTypePtr:
      if (Status s = rd.Name(rec.target); !s.ok()) return s;
      break;
    case kTypeSrv:
      ok = rd.U16(rec.srv.priority) && rd.U16(rec.srv.weight) &&
           rd.U16(rec.srv.port);
      if (!ok) break;
      if (Status s = rd.Name(rec.srv.target); !s.ok()) return s;
      break;
    case kTypeSoa:
      if (Status s = rd.Name(rec.soa.mname); !s.ok()) return s;
      if (Status s = rd.Name(rec.soa.rname); !s.ok()) return s;
      ok = rd.U32(rec.soa.serial) && rd.U32(rec.soa.refresh) &&
           rd.U32(rec.soa.retry) && rd.U32(rec.soa.expire) &&
           rd.U32(rec.soa.minimum);
      break;
    default:
      ok = rd.Bytes(rdlen, rec.raw);
      break;
  }
  if (!ok) return Malformed("truncated rdata");
  if (rd.pos() != end) return Malformed("rdata length disagrees with rdata");
  std::string ignored;
  r.Bytes(rdlen, ignored);
  return Status::Ok();
}

Status WriteRecord(Writer& w, const Record& rec) {
  if (Status s = w.Name(rec.name); !s.ok()) return s;
  w.U16(rec.type);
  w.U16(rec.klass);
  w.U32(rec.ttl);
  size_t len_at = w.out().size();
  w.U16(0);
  size_t start = w.out().size();
  switch (rec.type) {
    case kTypeA:
    case kTypeAaaa:
      if (rec.raw.size() != (rec.type == kTypeA ? 4u : 16u)) {
        return InvalidArgumentError("address of the wrong length");
      }
      w.out() += rec.raw;
      break;
    case kTypeNs:
    case kTypeCname:
    case kTypePtr:
      if (Status s = w.Name(rec.target); !s.ok()) return s;
      break;
    case kTypeSrv:
      w.U16(rec.srv.priority);
      w.U16(rec.srv.weight);
      w.U16(rec.srv.port);
      // RFC 2782: the target is not compressed.
      if (Status s = w.Name(rec.srv.target, false); !s.ok()) return s;
      break;
    case kTypeSoa:
      if (Status s = w.Name(rec.soa.mname); !s.ok()) return s;
      if (Status s = w.Name(rec.soa.rname); !s.ok()) return s;
      w.U32(rec.soa.serial);
      w.U32(rec.soa.refresh);
      w.U32(rec.soa.retry);
      w.U32(rec.soa.expire);
      w.U32(rec.soa.minimum);
      break;
    default:
      if (rec.raw.size() > 0xFFFF)
        return InvalidArgumentError("rdata too long");
      w.out() += rec.raw;
      break;
  }
  w.Put16(len_at, static_cast<uint16_t>(w.out().size() - start));
  return Status::Ok();
}

}  // namespace

std::optional<uint16_t> Message::EdnsUdpSize() const {
  for (const Record& r : additional) {
    if (r.type == kTypeOpt) return r.klass;
  }
  return std::nullopt;
}

StatusOr<Message> Parse(std::string_view wire) {
  Reader r(wire);
  Message m;
  uint16_t flags, qd, an, ns, ar;
  if (!r.U16(m.header.id) || !r.U16(flags) || !r.U16(qd) || !r.U16(an) ||
      !r.U16(ns) || !r.U16(ar)) {
    return Malformed("shorter than a header");
  }
  m.header.qr = flags & 0x8000;
  m.header.opcode = (flags >> 11) & 0xF;
  m.header.aa = flags & 0x0400;
  m.header.tc = flags & 0x0200;
  m.header.rd = flags & 0x0100;
  m.header.ra = flags & 0x0080;
  m.header.ad = flags & 0x0020;
  m.header.cd = flags & 0x0010;
  m.header.rcode = flags & 0xF;
  // Each question takes at least 5 bytes and each record 11: counts that
  // cannot fit are refused before anything is reserved.
  if (static_cast<size_t>(qd) * 5 + (static_cast<size_t>(an) + ns + ar) * 11 >
      wire.size()) {
    return Malformed("section counts exceed the message");
  }
  for (int i = 0; i < qd; ++i) {
    Question q;
    if (Status s = r.Name(q.name); !s.ok()) return s;
    if (!r.U16(q.type) || !r.U16(q.klass))
      return Malformed("truncated question");
    m.questions.push_back(std::move(q));
  }
  std::vector<Record>* sections[] = {&m.answers, &m.authority, &m.additional};
  uint16_t counts[] = {an, ns, ar};
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < counts[s]; ++i) {
      Record rec;
      if (Status st = ParseRecord(r, wire, rec); !st.ok()) return st;
      sections[s]->push_back(std::move(rec));
    }
  }
  if (r.pos() != wire.size()) return Malformed("trailing bytes");
  return m;
}

StatusOr<std::string> Serialize(const Message& msg, size_t max_size) {
  if (max_size > 65535) max_size = 65535;
  Writer w;
  const Header& h = msg.header;
  w.U16(h.id);
  w.U16(0);  // flags, below
  w.U16(static_cast<uint16_t>(msg.questions.size()));
  w.U16(0);
  w.U16(0);
  w.U16(0);
  for (const Question& q : msg.questions) {
    if (Status s = w.Name(q.name); !s.ok()) return s;
    w.U16(q.type);
    w.U16(q.klass);
  }
  if (w.out().size() > max_size) {
    return InvalidArgumentError("header and questions exceed the size limit");
  }
  bool truncated = false;  // by us; a TC the message had is kept below
  const std::vector<Record>* sections[] = {&msg.answers, &msg.authority,
                                           &msg.additional};
  // OPT is written first among the additional records' budget: it is what
  // tells the client its size was heard, so it is kept whenever it fits.
  uint16_t counts[3] = {0, 0, 0};
  for (int s = 0; s < 3 && !truncated; ++s) {
    for (const Record& rec : *sections[s]) {
      size_t size = w.out().size();
      size_t mark = w.Mark();
      if (Status st = WriteRecord(w, rec); !st.ok()) return st;
      if (w.out().size() > max_size) {
        w.Rollback(size, mark);
        // Additional records are optional; a missing answer is not.
        if (s < 2) truncated = true;
        break;
      }
      ++counts[s];
    }
  }
  uint16_t flags = (h.qr ? 0x8000 : 0) | ((h.opcode & 0xF) << 11) |
                   (h.aa ? 0x0400 : 0) | (truncated || h.tc ? 0x0200 : 0) |
                   (h.rd ? 0x0100 : 0) | (h.ra ? 0x0080 : 0) |
                   (h.ad ? 0x0020 : 0) | (h.cd ? 0x0010 : 0) | (h.rcode & 0xF);
  w.Put16(2, flags);
  w.Put16(6, counts[0]);
  w.Put16(8, counts[1]);
  w.Put16(10, counts[2]);
  return std::move(w.out());
}

Message ReplyTo(const Message& query, uint8_t rcode) {
  Message m;
  m.header.id = query.header.id;
  m.header.qr = true;
  m.header.opcode = query.header.opcode;
  m.header.rd = query.header.rd;
  m.header.cd = query.header.cd;
  m.header.rcode = rcode;
  m.questions = query.questions;
  return m;
}

std::optional<Record> AddressRecord(const std::string& name, uint32_t ttl,
                                    const std::string& ip) {
  Record r;
  r.name = name;
  r.ttl = ttl;
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) {
    r.type = kTypeA;
    r.raw.assign(reinterpret_cast<char*>(buf), 4);
    return r;
  }
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) {
    r.type = kTypeAaaa;
    r.raw.assign(reinterpret_cast<char*>(buf), 16);
    return r;
  }
  return std::nullopt;
}

Record NameRecord(uint16_t type, const std::string& name, uint32_t ttl,
                  const std::string& target) {
  Record r;
  r.name = name;
  r.type = type;
  r.ttl = ttl;
  r.target = target;
  return r;
}

std::string AddressText(const Record& r) {
  char buf[INET6_ADDRSTRLEN];
  if (r.type == kTypeA && r.raw.size() == 4) {
    return inet_ntop(AF_INET, r.raw.data(), buf, sizeof buf) ? buf : "";
  }
  if (r.type == kTypeAaaa && r.raw.size() == 16) {
    return inet_ntop(AF_INET6, r.raw.data(), buf, sizeof buf) ? buf : "";
  }
  return "";
}

std::string LowerName(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = Lower(c);
  return out;
}

bool EqualNames(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

}  // namespace kite::dns
