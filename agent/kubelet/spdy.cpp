#include "agent/kubelet/spdy.h"

#include <zlib.h>

#include <cstring>

namespace kite::kubelet::spdy {
namespace {

// Limits on what a peer may send: a frame's payload and a header block.
constexpr size_t kMaxFrame = size_t{16} << 20;
constexpr size_t kMaxHeaderBlock = size_t{1} << 20;

void PutU32(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>(v >> 24));
  s->push_back(static_cast<char>((v >> 16) & 0xFF));
  s->push_back(static_cast<char>((v >> 8) & 0xFF));
  s->push_back(static_cast<char>(v & 0xFF));
}

uint32_t GetU32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The dictionary of the SPDY/3 draft (section 2.6.10.1): header names and
// common values, each with a 32-bit length prefix, then a tail of status
// codes, reason phrases, dates and media types without prefixes.
std::string BuildDictionary() {
  static const char* const kWords[] = {"options",
                                       "head",
                                       "post",
                                       "put",
                                       "delete",
                                       "trace",
                                       "accept",
                                       "accept-charset",
                                       "accept-encoding",
                                       "accept-language",
                                       "accept-ranges",
                                       "age",
                                       "allow",
                                       "authorization",
                                       "cache-control",
                                       "connection",
                                       "content-base",
                                       "content-encoding",
                                       "content-language",
                                       "content-length",
                                       "content-location",
                                       "content-md5",
                                       "content-range",
                                       "content-type",
                                       "date",
                                       "etag",
                                       "expect",
                                       "expires",
                                       "from",
                                       "host",
                                       "if-match",
                                       "if-modified-since",
                                       "if-none-match",
                                       "if-range",
                                       "if-unmodified-since",
                                       "last-modified",
                                       "location",
                                       "max-forwards",
                                       "pragma",
                                       "proxy-authenticate",
                                       "proxy-authorization",
                                       "range",
                                       "referer",
                                       "retry-after",
                                       "server",
                                       "te",
                                       "trailer",
                                       "transfer-encoding",
                                       "upgrade",
                                       "user-agent",
                                       "vary",
                                       "via",
                                       "warning",
                                       "www-authenticate",
                                       "method",
                                       "get",
                                       "status",
                                       "200 OK",
                                       "version",
                                       "HTTP/1.1",
                                       "url",
                                       "public",
                                       "set-cookie",
                                       "keep-alive",
                                       "origin"};
  std::string d;
  for (const char* w : kWords) {
    PutU32(&d, static_cast<uint32_t>(std::strlen(w)));
    d += w;
  }
  d += "100101201202205206300302303304305306307402405406407408409410411412413"
       "414415416417502504505"
       "203 Non-Authoritative Information204 No Content301 Moved Permanently"
       "400 Bad Request401 Unauthorized403 Forbidden404 Not Found"
       "500 Internal Server Error501 Not Implemented503 Service Unavailable"
       "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
       "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
       "chunked,text/html,image/png,image/jpg,image/gif,application/xml,"
       "application/xhtml+xml,text/plain,text/javascript,public"
       "privatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,"
       "utf-,*,enq=0.";
  return d;
}

}  // namespace

const std::string& Dictionary() {
  static const std::string* const kDictionary =
      new std::string(BuildDictionary());
  return *kDictionary;
}

std::string HeaderValue(const Headers& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (k == name) return v;
  }
  return "";
}

struct Framer::Zlib {
  z_stream out{};
  z_stream in{};
  bool out_ok = false;
  bool in_ok = false;
  ~Zlib() {
    if (out_ok) deflateEnd(&out);
    if (in_ok) inflateEnd(&in);
  }
};

Framer::Framer() : zlib_(std::make_unique<Zlib>()) {
  zlib_->out_ok = deflateInit(&zlib_->out, Z_DEFAULT_COMPRESSION) == Z_OK;
  if (zlib_->out_ok) {
    const std::string& d = Dictionary();
    deflateSetDictionary(&zlib_->out, reinterpret_cast<const Bytef*>(d.data()),
                         static_cast<uInt>(d.size()));
  }
  zlib_->in_ok = inflateInit(&zlib_->in) == Z_OK;
}

Framer::~Framer() = default;

std::string Framer::Compress(const Headers& h) {
  std::string block;
  PutU32(&block, static_cast<uint32_t>(h.size()));
  for (const auto& [k, v] : h) {
    PutU32(&block, static_cast<uint32_t>(k.size()));
    block += k;
    PutU32(&block, static_cast<uint32_t>(v.size()));
    block += v;
  }
  std::string out;
  z_stream& z = zlib_->out;
  z.next_in = reinterpret_cast<Bytef*>(block.data());
  z.avail_in = static_cast<uInt>(block.size());
  char buf[4096];
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    deflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
  } while (z.avail_out == 0);
  return out;
}

StatusOr<Headers> Framer::Decompress(std::string_view block) {
  if (!zlib_->in_ok) return InternalError("spdy: zlib unavailable");
  std::string raw;
  z_stream& z = zlib_->in;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  z.avail_in = static_cast<uInt>(block.size());
  char buf[4096];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    int r = inflate(&z, Z_SYNC_FLUSH);
    if (r == Z_NEED_DICT) {
      const std::string& d = Dictionary();
      if (inflateSetDictionary(&z, reinterpret_cast<const Bytef*>(d.data()),
                               static_cast<uInt>(d.size())) != Z_OK) {
        return InvalidArgumentError("spdy: header block dictionary mismatch");
      }
      continue;
    }
    if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END)
      return InvalidArgumentError("spdy: corrupt header block");
    raw.append(buf, sizeof(buf) - z.avail_out);
    if (raw.size() > kMaxHeaderBlock)
      return InvalidArgumentError("spdy: header block too large");
    if (z.avail_in == 0 && z.avail_out != 0) break;
    if (r == Z_BUF_ERROR && z.avail_out != 0) break;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  size_t n = raw.size(), at = 0;
  auto take = [&](std::string* out) -> bool {
    if (n - at < 4) return false;
    uint32_t len = GetU32(p + at);
    at += 4;
    if (len > n - at) return false;
    out->assign(raw.data() + at, len);
    at += len;
    return true;
  };
  if (n < 4) return InvalidArgumentError("spdy: short header block");
  uint32_t count = GetU32(p);
  at = 4;
  Headers h;
  for (uint32_t i = 0; i < count; ++i) {
    std::string k, v;
    if (!take(&k) || !take(&v))
      return InvalidArgumentError("spdy: truncated header block");
    h.emplace_back(std::move(k), std::move(v));
  }
  return h;
}

std::string Framer::Control(FrameType type, uint8_t flags,
                            std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80));
  f.push_back(static_cast<char>(kVersion));
  uint16_t t = static_cast<uint16_t>(type);
  f.push_back(static_cast<char>(t >> 8));
  f.push_back(static_cast<char>(t & 0xFF));
  f.push_back(static_cast<char>(flags));
  uint32_t len = static_cast<uint32_t>(payload.size());
  f.push_back(static_cast<char>((len >> 16) & 0xFF));
  f.push_back(static_cast<char>((len >> 8) & 0xFF));
  f.push_back(static_cast<char>(len & 0xFF));
  f.append(payload);
  return f;
}

std::string Framer::SynStream(uint32_t stream_id, uint32_t associated_id,
                              uint8_t priority, uint8_t flags,
                              const Headers& h) {
  std::string p;
  PutU32(&p, stream_id & 0x7FFFFFFF);
  PutU32(&p, associated_id & 0x7FFFFFFF);
  p.push_back(static_cast<char>((priority & 0x7) << 5));
  p.push_back(0);  // slot
  p += Compress(h);
  return Control(FrameType::kSynStream, flags, p);
}

std::string Framer::SynReply(uint32_t stream_id, uint8_t flags,
                             const Headers& h) {
  std::string p;
  PutU32(&p, stream_id & 0x7FFFFFFF);
  p += Compress(h);
  return Control(FrameType::kSynReply, flags, p);
}

std::string Framer::HeadersFrame(uint32_t stream_id, uint8_t flags,
                                 const Headers& h) {
  std::string p;
  PutU32(&p, stream_id & 0x7FFFFFFF);
  p += Compress(h);
  return Control(FrameType::kHeaders, flags, p);
}

std::string Framer::Data(uint32_t stream_id, std::string_view data,
                         uint8_t flags) {
  std::string f;
  PutU32(&f, stream_id & 0x7FFFFFFF);
  f.push_back(static_cast<char>(flags));
  uint32_t len = static_cast<uint32_t>(data.size());
  f.push_back(static_cast<char>((len >> 16) & 0xFF));
  f.push_back(static_cast<char>((len >> 8) & 0xFF));
  f.push_back(static_cast<char>(len & 0xFF));
  f.append(data);
  return f;
}

namespace {

std::string SimpleControl(FrameType type, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80));
  f.push_back(static_cast<char>(kVersion));
  f.push_back(0);
  f.push_back(static_cast<char>(type));
  f.push_back(0);
  f.push_back(0);
  f.push_back(0);
  f.push_back(static_cast<char>(payload.size()));
  f.append(payload);
  return f;
}

}  // namespace

std::string Framer::RstStream(uint32_t stream_id, uint32_t status) {
  std::string p;
  PutU32(&p, stream_id & 0x7FFFFFFF);
  PutU32(&p, status);
  return SimpleControl(FrameType::kRstStream, p);
}

std::string Framer::Ping(uint32_t id) {
  std::string p;
  PutU32(&p, id);
  return SimpleControl(FrameType::kPing, p);
}

std::string Framer::GoAway(uint32_t last_good_stream_id, uint32_t status) {
  std::string p;
  PutU32(&p, last_good_stream_id & 0x7FFFFFFF);
  PutU32(&p, status);
  return SimpleControl(FrameType::kGoAway, p);
}

std::string Framer::WindowUpdate(uint32_t stream_id, uint32_t delta) {
  std::string p;
  PutU32(&p, stream_id & 0x7FFFFFFF);
  PutU32(&p, delta & 0x7FFFFFFF);
  return SimpleControl(FrameType::kWindowUpdate, p);
}

void Framer::Feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

StatusOr<std::optional<Frame>> Framer::Next() {
  if (buf_.size() - pos_ < 8) return std::optional<Frame>();
  const auto* h = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  size_t len = (size_t{h[5]} << 16) | (size_t{h[6]} << 8) | size_t{h[7]};
  if (len > kMaxFrame) return InvalidArgumentError("spdy: frame too large");
  if (buf_.size() - pos_ < 8 + len) return std::optional<Frame>();
  const unsigned char* p = h + 8;
  std::string_view payload(buf_.data() + pos_ + 8, len);
  Frame f;
  f.flags = h[4];
  pos_ += 8 + len;
  if ((h[0] & 0x80) == 0) {
    f.type = FrameType::kData;
    f.stream_id = GetU32(h) & 0x7FFFFFFF;
    f.data.assign(payload);
    return std::optional<Frame>(std::move(f));
  }
  uint16_t version = static_cast<uint16_t>(((h[0] & 0x7F) << 8) | h[1]);
  if (version != kVersion) {
    return InvalidArgumentError("spdy: unsupported version " +
                                std::to_string(version));
  }
  uint16_t type = static_cast<uint16_t>((h[2] << 8) | h[3]);
  f.type = static_cast<FrameType>(type);
  auto need = [&](size_t n) -> Status {
    if (len < n) return InvalidArgumentError("spdy: short control frame");
    return Status::Ok();
  };
  switch (f.type) {
    case FrameType::kSynStream: {
      KITE_RETURN_IF_ERROR(need(10));
      f.stream_id = GetU32(p) & 0x7FFFFFFF;
      f.associated_id = GetU32(p + 4) & 0x7FFFFFFF;
      f.priority = static_cast<uint8_t>(p[8] >> 5);
      KITE_ASSIGN_OR_RETURN(f.headers, Decompress(payload.substr(10)));
      break;
    }
    case FrameType::kSynReply:
    case FrameType::kHeaders: {
      KITE_RETURN_IF_ERROR(need(4));
      f.stream_id = GetU32(p) & 0x7FFFFFFF;
      KITE_ASSIGN_OR_RETURN(f.headers, Decompress(payload.substr(4)));
      break;
    }
    case FrameType::kRstStream:
    case FrameType::kWindowUpdate:
    case FrameType::kGoAway: {
      KITE_RETURN_IF_ERROR(need(8));
      f.stream_id = GetU32(p) & 0x7FFFFFFF;
      f.value = GetU32(p + 4);
      break;
    }
    case FrameType::kPing: {
      KITE_RETURN_IF_ERROR(need(4));
      f.value = GetU32(p);
      break;
    }
    default:
      // SETTINGS and anything newer: kept raw, ignorable.
      f.data.assign(payload);
      break;
  }
  return std::optional<Frame>(std::move(f));
}

}  // namespace kite::kubelet::spdy
