// Tests of kite_rpc: the protobuf wire codec, gRPC framing, the etcd message
// codec, the gRPC client against a small nghttp2 test server on a unix
// socket, and the etcd client against a real etcd (skipped without
// /usr/bin/etcd).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "rpc/etcd_client.h"
#include "rpc/grpc_client.h"
#include "rpc/grpc_wire.h"
#include "rpc/protowire.h"

namespace kite::rpc {
namespace {

using namespace std::chrono_literals;
using protowire::Decoder;
using protowire::Encoder;
using protowire::Field;
using protowire::WireType;

std::string Hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string r;
  for (unsigned char c : s) {
    r.push_back(d[c >> 4]);
    r.push_back(d[c & 15]);
  }
  return r;
}

std::vector<Field> DecodeAll(std::string_view data, Status* status) {
  Decoder d(data);
  std::vector<Field> out;
  Field f;
  while (d.Next(&f)) out.push_back(f);
  *status = d.status();
  return out;
}

// ---------------------------------------------------------------- protowire

TEST(ProtowireTest, KnownEncodings) {
  Encoder e;
  e.Uint64(1, 150);  // the protobuf documentation's example: 08 96 01
  EXPECT_EQ(Hex(e.data()), "089601");
  Encoder s;
  s.Bytes(2, "testing");
  EXPECT_EQ(Hex(s.data()), "120774657374696e67");
  Encoder n;
  n.Int64(1, -1);  // ten bytes for a negative int
  EXPECT_EQ(Hex(n.data()), "08ffffffffffffffffff01");
  Encoder z;
  z.SInt64(1, -1);
  EXPECT_EQ(Hex(z.data()), "0801");
  Encoder f;
  f.Fixed32(5, 1);
  f.Fixed64(6, 2);
  EXPECT_EQ(Hex(f.data()), "2d01000000310200000000000000");
}

TEST(ProtowireTest, RoundTripsEveryType) {
  Encoder inner;
  inner.Bytes(1, "nested");
  inner.Int64(2, -42);
  Encoder e;
  e.Uint64(1, 0);
  e.Uint64(2, UINT64_MAX);
  e.Int64(3, INT64_MIN);
  e.SInt64(4, -123456789);
  e.Bool(5, true);
  e.Fixed32(6, 0xdeadbeef);
  e.Fixed64(7, 0x0123456789abcdefull);
  e.Float(8, 1.5f);
  e.Double(9, -2.25);
  e.Bytes(10, std::string("a\0b", 3));
  e.Message(11, inner);
  e.Bytes(protowire::kMaxFieldNumber, "max");
  e.Int64IfNonZero(12, 0);
  e.BoolIfTrue(13, false);
  e.BytesIfNonEmpty(14, "");

  Status st;
  std::vector<Field> f = DecodeAll(e.data(), &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(f.size(), 12u);
  EXPECT_EQ(f[0].value, 0u);
  EXPECT_EQ(f[1].value, UINT64_MAX);
  EXPECT_EQ(f[2].AsInt64(), INT64_MIN);
  EXPECT_EQ(f[3].AsSInt64(), -123456789);
  EXPECT_TRUE(f[4].AsBool());
  EXPECT_EQ(f[5].type, WireType::kFixed32);
  EXPECT_EQ(f[5].AsUint32(), 0xdeadbeef);
  EXPECT_EQ(f[6].type, WireType::kFixed64);
  EXPECT_EQ(f[6].value, 0x0123456789abcdefull);
  EXPECT_EQ(f[7].AsFloat(), 1.5f);
  EXPECT_EQ(f[8].AsDouble(), -2.25);
  EXPECT_EQ(f[9].bytes, std::string_view("a\0b", 3));
  EXPECT_EQ(f[11].number, protowire::kMaxFieldNumber);
  EXPECT_EQ(f[11].bytes, "max");

  std::vector<Field> n = DecodeAll(f[10].bytes, &st);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].bytes, "nested");
  EXPECT_EQ(n[1].AsInt64(), -42);
}

TEST(ProtowireTest, VarintBoundaries) {
  for (uint64_t v : std::initializer_list<uint64_t>{
           0ull, 1ull, 127ull, 128ull, 16383ull, 16384ull, (1ull << 35) - 1,
           1ull << 63, UINT64_MAX}) {
    std::string buf;
    protowire::AppendVarint(&buf, v);
    std::string_view view = buf;
    uint64_t got = 0;
    ASSERT_TRUE(protowire::ReadVarint(&view, &got)) << v;
    EXPECT_EQ(got, v);
    EXPECT_TRUE(view.empty());
  }
  for (int64_t v :
       std::initializer_list<int64_t>{0, 1, -1, INT64_MAX, INT64_MIN}) {
    EXPECT_EQ(protowire::ZigZagDecode(protowire::ZigZagEncode(v)), v);
  }
}

TEST(ProtowireTest, SkipsGroups) {
  // field 1 varint, field 2 group { field 3 varint, group 4 { } }, field 5
  // bytes
  std::string data =
      "\x08\x01"
      "\x13"      // start group 2
      "\x18\x07"  // field 3 = 7
      "\x23\x24"  // group 4 start, end
      "\x14"      // end group 2
      "\x2a\x01z";
  Status st;
  std::vector<Field> f = DecodeAll(data, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].number, 1u);
  EXPECT_EQ(f[1].number, 5u);
  EXPECT_EQ(f[1].bytes, "z");
}

TEST(ProtowireTest, RejectsMalformedInput) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"truncated varint", "\x08\x96"},
      {"overlong varint",
       std::string("\x08") + std::string(10, '\xff') + "\x01"},
      {"tenth byte too big",
       std::string("\x08") + std::string(9, '\xff') + "\x02"},
      {"length past end",
       "\x0a\x05"
       "abc"},
      {"huge length",
       "\x0a\xff\xff\xff\xff\x0f"
       "a"},
      {"field number zero", std::string("\x00\x01", 2)},
      {"wire type 6", "\x0e\x01"},
      {"wire type 7", "\x0f\x01"},
      {"truncated fixed32", "\x0d\x01\x02"},
      {"truncated fixed64", "\x09\x01\x02\x03\x04\x05\x06\x07"},
      {"end group alone", "\x0c"},
      {"unterminated group", "\x0b\x10\x01"},
      {"mismatched group end", "\x0b\x14"},
      {"truncated tag", "\x80"},
      {"tag over 32 bits", "\x80\x80\x80\x80\x80\x01"},
  };
  for (const auto& [name, data] : cases) {
    Status st;
    DecodeAll(data, &st);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << name;
  }
  // Deeply nested groups are refused, not recursed into.
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "\x0b";
  Status st;
  DecodeAll(deep, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
}

TEST(ProtowireTest, PackedVarints) {
  std::string payload;
  for (uint64_t v : std::initializer_list<uint64_t>{1, 300, UINT64_MAX})
    protowire::AppendVarint(&payload, v);
  std::vector<uint64_t> out;
  ASSERT_TRUE(protowire::DecodePackedVarints(payload, &out).ok());
  EXPECT_EQ(out, (std::vector<uint64_t>{1, 300, UINT64_MAX}));
  out.clear();
  EXPECT_FALSE(protowire::DecodePackedVarints("\x96", &out).ok());
}

TEST(ProtowireTest, GarbageNeverCrashes) {
  std::mt19937 rng(42);
  Encoder valid;
  valid.Bytes(1, "key");
  valid.Int64(2, 7);
  valid.Fixed64(3, 9);
  valid.Fixed32(4, 1);
  valid.Message(5, valid);
  // Every prefix of a valid message decodes or fails cleanly.
  for (size_t n = 0; n <= valid.size(); ++n) {
    Status st;
    DecodeAll(std::string_view(valid.data()).substr(0, n), &st);
    (void)st;
  }
  // Random bytes and random mutations of a valid message.
  size_t failures = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string data;
    if (i % 2 == 0) {
      data.resize(rng() % 64);
      for (char& c : data) c = static_cast<char>(rng());
    } else {
      data = valid.data();
      data[rng() % data.size()] = static_cast<char>(rng());
    }
    Status st;
    std::vector<Field> f = DecodeAll(data, &st);
    for (const Field& x : f) {
      // Views must stay inside the input.
      if (x.is_bytes() && !x.bytes.empty()) {
        ASSERT_GE(x.bytes.data(), data.data());
        ASSERT_LE(x.bytes.data() + x.bytes.size(), data.data() + data.size());
      }
    }
    if (!st.ok()) ++failures;
    etcd::WatchResponse w;
    (void)etcd::DecodeWatchResponse(data, &w);
    etcd::TxnResponse t;
    (void)etcd::DecodeTxnResponse(data, &t);
  }
  EXPECT_GT(failures, 0u);
}

// ---------------------------------------------------------------- grpc_wire

TEST(GrpcWireTest, FramesSplitAnywhere) {
  std::string stream;
  AppendGrpcFrame(&stream, "first");
  AppendGrpcFrame(&stream, "");
  AppendGrpcFrame(&stream, std::string(70000, 'x'));
  EXPECT_EQ(Hex(stream.substr(0, 10)), "00000000056669727374");
  for (size_t chunk : {1, 2, 5, 7, 1000, 100000}) {
    MessageReader r(1 << 20);
    std::deque<std::string> got;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      ASSERT_TRUE(r.Feed(std::string_view(stream).substr(i, chunk), &got).ok());
    }
    ASSERT_EQ(got.size(), 3u) << chunk;
    EXPECT_EQ(got[0], "first");
    EXPECT_EQ(got[1], "");
    EXPECT_EQ(got[2], std::string(70000, 'x'));
    EXPECT_TRUE(r.empty());
  }
}

TEST(GrpcWireTest, RefusesCompressedAndOversized) {
  std::deque<std::string> got;
  MessageReader compressed(100);
  EXPECT_EQ(
      compressed.Feed(std::string("\x01\x00\x00\x00\x01x", 6), &got).code(),
      Code::kInternal);
  EXPECT_FALSE(compressed.Feed("", &got).ok());  // stays failed
  MessageReader big(100);
  EXPECT_EQ(big.Feed(std::string("\x00\x00\x00\x00\x65", 5), &got).code(),
            Code::kResourceExhausted);
  MessageReader partial(100);
  ASSERT_TRUE(partial.Feed(std::string("\x00\x00\x00", 3), &got).ok());
  EXPECT_FALSE(partial.empty());
  EXPECT_TRUE(got.empty());
}

TEST(GrpcWireTest, StatusMapping) {
  EXPECT_TRUE(StatusFromGrpc(0, "").ok());
  EXPECT_EQ(StatusFromGrpc(5, "no").code(), Code::kNotFound);
  EXPECT_EQ(StatusFromGrpc(14, "down").code(), Code::kUnavailable);
  EXPECT_EQ(StatusFromGrpc(4, "").code(), Code::kDeadlineExceeded);
  EXPECT_EQ(StatusFromGrpc(10, "").code(), Code::kConflict);
  EXPECT_EQ(StatusFromGrpc(99, "").code(), Code::kInternal);
  EXPECT_EQ(StatusFromGrpc(11, "x").message(), "grpc OUT_OF_RANGE: x");
  EXPECT_EQ(StatusFromHttp(503).code(), Code::kUnavailable);
  EXPECT_EQ(StatusFromHttp(404).message(),
            "grpc UNIMPLEMENTED: HTTP status 404 without grpc-status");
  EXPECT_EQ(PercentDecode("a%20b%zz%4"), "a b%zz%4");
  EXPECT_EQ(PercentDecode("%E2%82%AC"), "\xe2\x82\xac");
  EXPECT_EQ(FormatGrpcTimeout(250ms), "250000u");  // 250000000n has 9 digits
  EXPECT_EQ(FormatGrpcTimeout(99ms), "99000000n");
  EXPECT_EQ(FormatGrpcTimeout(5s), "5000000u");
  EXPECT_EQ(FormatGrpcTimeout(std::chrono::hours(1000)), "3600000S");
  EXPECT_EQ(FormatGrpcTimeout(std::chrono::hours(100000)), "6000000M");
  EXPECT_EQ(FormatGrpcTimeout(0ms), "0n");
}

// ---------------------------------------------------------------- etcd codec

TEST(EtcdCodecTest, PrefixEnd) {
  EXPECT_EQ(etcd::PrefixEnd("/registry/pods/"), "/registry/pods0");
  EXPECT_EQ(etcd::PrefixEnd("a\xff"), "b");
  EXPECT_EQ(etcd::PrefixEnd(""), std::string(1, '\0'));
  EXPECT_EQ(etcd::PrefixEnd("\xff\xff"), std::string(1, '\0'));
}

TEST(EtcdCodecTest, CreateTxnWritesZeroModRevision) {
  etcd::TxnRequest txn;
  etcd::Compare& c = txn.compare.emplace_back();
  c.target = etcd::Compare::Target::kMod;
  c.key = "/k";
  c.number = 0;
  etcd::RequestOp& put = txn.success.emplace_back();
  put.kind = etcd::RequestOp::Kind::kPut;
  put.put.key = "/k";
  put.put.value = "v";
  std::string bytes = etcd::EncodeTxnRequest(txn);
  // compare{target=MOD(2) key="/k" mod_revision=0} success{request_put{key
  // value}}
  EXPECT_EQ(Hex(bytes),
            "0a08"
            "1002"
            "1a022f6b"
            "3000"
            "1209"
            "1207"
            "0a022f6b"
            "120176");
}

TEST(EtcdCodecTest, DecodesWatchResponse) {
  Encoder kv;
  kv.Bytes(1, "/a");
  kv.Int64(2, 5);
  kv.Int64(3, 9);
  kv.Int64(4, 3);
  kv.Bytes(5, "val");
  Encoder ev;
  ev.Uint64(1, 1);  // DELETE
  ev.Message(2, kv);
  ev.Message(3, kv);
  ev.Bytes(99, "unknown field");
  Encoder hdr;
  hdr.Uint64(1, 77);
  hdr.Int64(3, 9);
  Encoder w;
  w.Message(1, hdr);
  w.Int64(2, 4);
  w.Bool(3, true);
  w.Message(11, ev);
  w.Message(11, ev);
  etcd::WatchResponse resp;
  ASSERT_TRUE(etcd::DecodeWatchResponse(w.data(), &resp).ok());
  EXPECT_EQ(resp.header.cluster_id, 77u);
  EXPECT_EQ(resp.header.revision, 9);
  EXPECT_EQ(resp.watch_id, 4);
  EXPECT_TRUE(resp.created);
  ASSERT_EQ(resp.events.size(), 2u);
  EXPECT_EQ(resp.events[0].type, etcd::Event::Type::kDelete);
  EXPECT_EQ(resp.events[0].kv.key, "/a");
  EXPECT_EQ(resp.events[0].kv.value, "val");
  EXPECT_EQ(resp.events[0].kv.create_revision, 5);
  EXPECT_EQ(resp.events[0].kv.mod_revision, 9);
  EXPECT_EQ(resp.events[0].kv.version, 3);
  ASSERT_TRUE(resp.events[0].prev_kv.has_value());

  // A corrupted nested message fails the whole decode.
  etcd::WatchResponse r2;
  Encoder broken;
  broken.Bytes(11, "\x12\x05\x0a\x09");  // kv length past its end
  EXPECT_FALSE(etcd::DecodeWatchResponse(broken.data(), &r2).ok());
}

// ---------------------------------------------------------------- test server

// A small gRPC server on a unix socket, built on nghttp2's server session,
// one thread per connection with blocking I/O. Methods:
//   /test.Echo/Unary   echoes the request
//   /test.Echo/Big     answers one message of N bytes (N = request, decimal)
//   /test.Echo/Error   trailers-only NOT_FOUND with a percent-encoded message
//   /test.Echo/Hang    never answers
//   /test.Echo/Drop    closes the connection
//   /test.Echo/Stream  echoes every message as it arrives; ends on half-close
//   /test.Echo/Flood   on half-close sends N messages of M bytes ("N,M")
// With goaway_after set, the server sends GOAWAY after that many responses.
class TestServer {
 public:
  explicit TestServer(std::string path) : path_(std::move(path)) {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    ::unlink(path_.c_str());
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
            0 ||
        ::listen(listen_fd_, 64) != 0) {
      ADD_FAILURE() << "bind " << path_ << ": " << std::strerror(errno);
    }
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~TestServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : threads_) t.join();
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
  int connections() const { return connections_.load(); }
  void set_goaway_after(int n) { goaway_after_ = n; }

 private:
  struct Stream {
    std::string path;
    MessageReader reader{64 << 20};
    std::deque<std::string> requests;
    std::string out;
    size_t off = 0;
    bool finished = false;  // no more data; trailers follow
    bool responded = false;
  };
  struct Conn {
    TestServer* server;
    int fd;
    nghttp2_session* session = nullptr;
    bool drop = false;
    int responses = 0;
    std::map<int32_t, std::unique_ptr<Stream>> streams;  // open streams
  };

  void AcceptLoop() {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_ || errno == EINVAL) return;
        continue;
      }
      connections_++;
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  static ssize_t SendCb(nghttp2_session*, const uint8_t* data, size_t len, int,
                        void* user) {
    auto* c = static_cast<Conn*>(user);
    ssize_t w = ::send(c->fd, data, len, MSG_NOSIGNAL);
    return w < 0 ? static_cast<ssize_t>(NGHTTP2_ERR_CALLBACK_FAILURE) : w;
  }
  static int BeginHeadersCb(nghttp2_session* session,
                            const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_HEADERS &&
        frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      auto& slot = static_cast<Conn*>(user)->streams[frame->hd.stream_id];
      slot = std::make_unique<Stream>();
      nghttp2_session_set_stream_user_data(session, frame->hd.stream_id,
                                           slot.get());
    }
    return 0;
  }
  static int HeaderCb(nghttp2_session* session, const nghttp2_frame* frame,
                      const uint8_t* name, size_t namelen, const uint8_t* value,
                      size_t valuelen, uint8_t, void*) {
    auto* s = static_cast<Stream*>(
        nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
    if (s != nullptr && std::string_view(reinterpret_cast<const char*>(name),
                                         namelen) == ":path") {
      s->path.assign(reinterpret_cast<const char*>(value), valuelen);
    }
    return 0;
  }
  static ssize_t ReadCb(nghttp2_session* session, int32_t id, uint8_t* buf,
                        size_t length, uint32_t* flags,
                        nghttp2_data_source* source, void*) {
    auto* s = static_cast<Stream*>(source->ptr);
    size_t n = std::min(length, s->out.size() - s->off);
    std::memcpy(buf, s->out.data() + s->off, n);
    s->off += n;
    if (s->off == s->out.size() && s->finished) {
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      nghttp2_nv trailer[] = {{(uint8_t*)"grpc-status", (uint8_t*)"0", 11, 1,
                               NGHTTP2_NV_FLAG_NONE}};
      nghttp2_submit_trailer(session, id, trailer, 1);
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(n);
  }
  static void StartResponse(nghttp2_session* session, int32_t id, Stream* s) {
    nghttp2_nv hdrs[] = {
        {(uint8_t*)":status", (uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t*)"content-type", (uint8_t*)"application/grpc", 12, 16,
         NGHTTP2_NV_FLAG_NONE}};
    nghttp2_data_provider prd;
    prd.source.ptr = s;
    prd.read_callback = &ReadCb;
    nghttp2_submit_response(session, id, hdrs, 2, &prd);
    s->responded = true;
  }
  static void OnRequestEnd(Conn* c, int32_t id, Stream* s) {
    nghttp2_session* session = c->session;
    if (s->path == "/test.Echo/Hang") return;
    if (s->path == "/test.Echo/Drop") {
      c->drop = true;
      return;
    }
    if (s->path == "/test.Echo/Error") {
      nghttp2_nv hdrs[] = {
          {(uint8_t*)":status", (uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
          {(uint8_t*)"content-type", (uint8_t*)"application/grpc", 12, 16,
           NGHTTP2_NV_FLAG_NONE},
          {(uint8_t*)"grpc-status", (uint8_t*)"5", 11, 1, NGHTTP2_NV_FLAG_NONE},
          {(uint8_t*)"grpc-message", (uint8_t*)"no%20such%20thing", 12, 17,
           NGHTTP2_NV_FLAG_NONE}};
      nghttp2_submit_response(session, id, hdrs, 4, nullptr);
    } else if (s->path == "/test.Echo/Big") {
      size_t n = s->requests.empty() ? 0 : std::stoul(s->requests.front());
      AppendGrpcFrame(&s->out, std::string(n, 'b'));
    } else if (s->path == "/test.Echo/Flood") {
      std::string spec = s->requests.empty() ? "0,0" : s->requests.front();
      size_t count = std::stoul(spec.substr(0, spec.find(','))),
             size = std::stoul(spec.substr(spec.find(',') + 1));
      for (size_t i = 0; i < count; ++i)
        AppendGrpcFrame(&s->out,
                        std::string(size, static_cast<char>('a' + i % 26)));
    } else if (s->path == "/test.Echo/Unary") {
      for (const std::string& m : s->requests) AppendGrpcFrame(&s->out, m);
    }
    s->finished = true;
    if (!s->responded) {
      StartResponse(session, id, s);
    } else {
      nghttp2_session_resume_data(session, id);
    }
    if (++c->responses == c->server->goaway_after_) {
      nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE,
                            nghttp2_session_get_last_proc_stream_id(session),
                            NGHTTP2_NO_ERROR, nullptr, 0);
    }
  }
  static int FrameRecvCb(nghttp2_session* session, const nghttp2_frame* frame,
                         void* user) {
    auto* c = static_cast<Conn*>(user);
    auto* s = static_cast<Stream*>(
        nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
    if (s == nullptr) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && s->path == "/test.Echo/Stream" &&
        !s->responded) {
      StartResponse(session, frame->hd.stream_id, s);
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      OnRequestEnd(c, frame->hd.stream_id, s);
    }
    return 0;
  }
  static int DataCb(nghttp2_session* session, uint8_t, int32_t id,
                    const uint8_t* data, size_t len, void*) {
    auto* s =
        static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, id));
    if (s == nullptr) return 0;
    std::deque<std::string> got;
    if (!s->reader
             .Feed(std::string_view(reinterpret_cast<const char*>(data), len),
                   &got)
             .ok()) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (s->path == "/test.Echo/Stream") {
      for (const std::string& m : got) AppendGrpcFrame(&s->out, m);
      if (!got.empty()) nghttp2_session_resume_data(session, id);
    } else {
      for (std::string& m : got) s->requests.push_back(std::move(m));
    }
    return 0;
  }
  static int CloseCb(nghttp2_session* session, int32_t id, uint32_t,
                     void* user) {
    nghttp2_session_set_stream_user_data(session, id, nullptr);
    static_cast<Conn*>(user)->streams.erase(id);
    return 0;
  }

  void Serve(int fd) {
    Conn c{this, fd};
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, &SendCb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                            &BeginHeadersCb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &HeaderCb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &FrameRecvCb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &DataCb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &CloseCb);
    nghttp2_session_server_new(&c.session, cbs, &c);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
    nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, settings, 1);
    std::vector<uint8_t> buf(64 * 1024);
    while (!c.drop && (nghttp2_session_want_read(c.session) ||
                       nghttp2_session_want_write(c.session))) {
      if (nghttp2_session_send(c.session) != 0) break;
      if (!nghttp2_session_want_read(c.session) &&
          !nghttp2_session_want_write(c.session))
        break;
      ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      if (nghttp2_session_mem_recv(c.session, buf.data(),
                                   static_cast<size_t>(n)) < 0)
        break;
    }
    if (!c.drop) {
      // A graceful close (after a GOAWAY): stop sending, then read until
      // the client closes. Closing with the client's last frames unread
      // would send a reset, and the client's kernel would throw away the
      // response it had not read yet (a real server lingers the same way).
      ::shutdown(fd, SHUT_WR);
      pollfd p{fd, POLLIN, 0};
      while (!stopping_.load() && ::poll(&p, 1, 2000) == 1 &&
             ::recv(fd, buf.data(), buf.size(), 0) > 0) {
      }
    }
    ::shutdown(fd, SHUT_RDWR);
    nghttp2_session_del(c.session);
    std::lock_guard<std::mutex> lock(mu_);
    fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
    ::close(fd);
  }

  std::string path_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  int goaway_after_ = -1;
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kite-rpc-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class GrpcClientTest : public ::testing::Test {
 protected:
  GrpcClientTest() : server_(dir_.path() + "/grpc.sock") {}
  ChannelOptions Options() {
    ChannelOptions o;
    o.target = "unix://" + dir_.path() + "/grpc.sock";
    return o;
  }
  TempDir dir_;
  TestServer server_;
};

TEST_F(GrpcClientTest, UnaryEcho) {
  GrpcChannel ch(Options());
  StatusOr<std::string> r = ch.Call("/test.Echo/Unary", "hello", 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "hello");
  StatusOr<std::string> empty = ch.Call("/test.Echo/Unary", "", 5s);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(*empty, "");
  EXPECT_EQ(server_.connections(), 1);
}

TEST_F(GrpcClientTest, ManyConcurrentCallersShareOneConnection) {
  GrpcChannel ch(Options());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        std::string req = "caller " + std::to_string(t) + " call " +
                          std::to_string(i) + std::string(t * 7, 'p');
        StatusOr<std::string> r = ch.Call("/test.Echo/Unary", req, 10s);
        if (!r.ok() || *r != req) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server_.connections(), 1);
}

TEST_F(GrpcClientTest, ErrorStatusFromTrailersOnlyResponse) {
  GrpcChannel ch(Options());
  StatusOr<std::string> r = ch.Call("/test.Echo/Error", "", 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "grpc NOT_FOUND: no such thing");
}

TEST_F(GrpcClientTest, LargeResponseBeyondWindows) {
  ChannelOptions o = Options();
  o.stream_window_bytes =
      1 << 20;  // smaller than the response: needs WINDOW_UPDATEs
  o.connection_window_bytes = 1 << 20;
  GrpcChannel ch(o);
  StatusOr<std::string> r =
      ch.Call("/test.Echo/Big", std::to_string(12 << 20), 20s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), size_t{12 << 20});
  EXPECT_EQ(*r, std::string(12 << 20, 'b'));
  // Over the receive limit: ResourceExhausted, and the channel still works.
  o.max_receive_message_bytes = 1000;
  GrpcChannel small(o);
  EXPECT_EQ(small.Call("/test.Echo/Big", "1001", 5s).status().code(),
            Code::kResourceExhausted);
  EXPECT_TRUE(small.Call("/test.Echo/Big", "1000", 5s).ok());
}

TEST_F(GrpcClientTest, DeadlineExceededThenChannelStillWorks) {
  GrpcChannel ch(Options());
  auto start = std::chrono::steady_clock::now();
  StatusOr<std::string> r = ch.Call("/test.Echo/Hang", "x", 100ms);
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  StatusOr<std::string> ok = ch.Call("/test.Echo/Unary", "after", 5s);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, "after");
}

TEST_F(GrpcClientTest, StreamEchoesAsMessagesArrive) {
  GrpcChannel ch(Options());
  StatusOr<std::unique_ptr<ClientStream>> s =
      ch.OpenStream("/test.Echo/Stream");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::string msg;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*s)->Send("m" + std::to_string(i)).ok());
    ASSERT_EQ((*s)->Read(&msg, 5s), ClientStream::ReadResult::kMessage);
    EXPECT_EQ(msg, "m" + std::to_string(i));
  }
  EXPECT_EQ((*s)->Read(&msg, 50ms), ClientStream::ReadResult::kTimeout);
  ASSERT_TRUE((*s)->CloseSend().ok());
  EXPECT_EQ((*s)->Send("late").code(), Code::kFailedPrecondition);
  ASSERT_EQ((*s)->Read(&msg, 5s), ClientStream::ReadResult::kEnd);
  EXPECT_TRUE((*s)->FinalStatus().ok()) << (*s)->FinalStatus().ToString();
}

TEST_F(GrpcClientTest, SlowStreamReaderGetsEverythingWithBackpressure) {
  ChannelOptions o = Options();
  o.stream_window_bytes = 256 << 10;
  o.stream_buffer_bytes = 512 << 10;
  GrpcChannel ch(o);
  auto s = ch.OpenStream("/test.Echo/Flood");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Send("40,300000").ok());
  ASSERT_TRUE((*s)->CloseSend().ok());
  // Meanwhile unary calls on the same connection are not blocked.
  StatusOr<std::string> r = ch.Call("/test.Echo/Unary", "still here", 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string msg;
  for (int i = 0; i < 40; ++i) {
    if (i % 10 == 0) std::this_thread::sleep_for(20ms);
    ASSERT_EQ((*s)->Read(&msg, 10s), ClientStream::ReadResult::kMessage) << i;
    ASSERT_EQ(msg, std::string(300000, static_cast<char>('a' + i % 26))) << i;
  }
  ASSERT_EQ((*s)->Read(&msg, 5s), ClientStream::ReadResult::kEnd);
  EXPECT_TRUE((*s)->FinalStatus().ok()) << (*s)->FinalStatus().ToString();
}

TEST_F(GrpcClientTest, CancelEndsStream) {
  GrpcChannel ch(Options());
  auto s = ch.OpenStream("/test.Echo/Stream");
  ASSERT_TRUE(s.ok());
  std::thread reader([&] {
    std::string msg;
    EXPECT_EQ((*s)->Read(&msg, 10s), ClientStream::ReadResult::kEnd);
  });
  std::this_thread::sleep_for(50ms);
  (*s)->Cancel();
  reader.join();
  EXPECT_EQ((*s)->FinalStatus().code(), Code::kCancelled);
  EXPECT_TRUE(ch.Call("/test.Echo/Unary", "x", 5s).ok());
}

TEST_F(GrpcClientTest, GoawayMovesNewCallsToANewConnection) {
  server_.set_goaway_after(1);
  GrpcChannel ch(Options());
  for (int i = 0; i < 3; ++i) {
    StatusOr<std::string> r =
        ch.Call("/test.Echo/Unary", "x" + std::to_string(i), 5s);
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().ToString();
  }
  EXPECT_EQ(server_.connections(), 3);
}

TEST_F(GrpcClientTest, DroppedConnectionIsUnavailableAndReconnects) {
  GrpcChannel ch(Options());
  auto s = ch.OpenStream("/test.Echo/Stream");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Send("hi").ok());
  std::string msg;
  ASSERT_EQ((*s)->Read(&msg, 5s), ClientStream::ReadResult::kMessage);
  EXPECT_EQ(ch.Call("/test.Echo/Drop", "", 5s).status().code(),
            Code::kUnavailable);
  EXPECT_EQ((*s)->Read(&msg, 5s), ClientStream::ReadResult::kEnd);
  EXPECT_EQ((*s)->FinalStatus().code(), Code::kUnavailable);
  StatusOr<std::string> r = ch.Call("/test.Echo/Unary", "again", 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server_.connections(), 2);
}

TEST(GrpcChannelTest, ConnectFailuresAreUnavailable) {
  TempDir dir;
  ChannelOptions o;
  o.target = "unix:" + dir.path() + "/nobody.sock";
  GrpcChannel ch(o);
  EXPECT_EQ(ch.Call("/x/Y", "", 1s).status().code(), Code::kUnavailable);
  EXPECT_EQ(ch.OpenStream("/x/Y").status().code(), Code::kUnavailable);
  // A TCP port nobody listens on.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  ChannelOptions t;
  t.target = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  GrpcChannel tcp(t);
  EXPECT_EQ(tcp.Connect().code(), Code::kUnavailable);
  ChannelOptions bad;
  bad.target = "no-port";
  EXPECT_EQ(GrpcChannel(bad).Connect().code(), Code::kInvalidArgument);
}

// ---------------------------------------------------------------- real etcd

constexpr const char* kEtcd = "/usr/bin/etcd";

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// etcd on loopback in a temp dir, stopped (by PID) on destruction.
class EtcdProcess {
 public:
  explicit EtcdProcess(const std::string& dir) {
    int client = FreePort(), peer = FreePort();
    while (peer == client) peer = FreePort();
    endpoint_ = "127.0.0.1:" + std::to_string(client);
    std::string curl = "http://" + endpoint_,
                purl = "http://127.0.0.1:" + std::to_string(peer);
    std::vector<std::string> args = {kEtcd,
                                     "--name=t",
                                     "--data-dir=" + dir + "/etcd",
                                     "--listen-client-urls=" + curl,
                                     "--advertise-client-urls=" + curl,
                                     "--listen-peer-urls=" + purl,
                                     "--initial-advertise-peer-urls=" + purl,
                                     "--initial-cluster=t=" + purl,
                                     "--log-level=error"};
    std::string log = dir + "/etcd.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* f = std::fopen(log.c_str(), "w");
      if (f != nullptr) {
        ::dup2(fileno(f), 1);
        ::dup2(fileno(f), 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(kEtcd, argv.data());
      ::_exit(127);
    }
  }
  ~EtcdProcess() { Stop(); }
  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st;
      ::waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  pid_t pid_ = -1;
  std::string endpoint_;
};

class EtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    if (::stat(kEtcd, &st) != 0)
      GTEST_SKIP() << kEtcd << " is not installed (scripts/deps.sh bench)";
    etcd_ = std::make_unique<EtcdProcess>(dir_.path());
    ChannelOptions o;
    o.target = etcd_->endpoint();
    channel_ = std::make_unique<GrpcChannel>(o);
    client_ = std::make_unique<etcd::Client>(*channel_, 5s);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (true) {
      auto r = client_->Range({.key = "/ready"});
      if (r.ok()) break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "etcd did not start: " << r.status().ToString();
      std::this_thread::sleep_for(50ms);
    }
  }
  TempDir dir_;
  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<GrpcChannel> channel_;
  std::unique_ptr<etcd::Client> client_;
};

TEST_F(EtcdTest, PutRangeTxnWatch) {
  etcd::Client& c = *client_;
  // Watch the prefix first, from now on.
  auto ws = c.Watch();
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  etcd::WatchStream& w = **ws;
  ASSERT_TRUE(w.Create({.key = "/registry/",
                        .range_end = etcd::PrefixEnd("/registry/"),
                        .prev_kv = true,
                        .watch_id = 7})
                  .ok());
  auto created = w.Next(5s);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_TRUE(created->has_value());
  EXPECT_TRUE((*created)->created);
  EXPECT_EQ((*created)->watch_id, 7);

  auto put = c.Put({.key = "/registry/a", .value = "1"});
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  int64_t rev_a = put->header.revision;
  EXPECT_GT(rev_a, 0);

  auto created_b = c.Create("/registry/b", "2");
  ASSERT_TRUE(created_b.ok()) << created_b.status().ToString();
  EXPECT_EQ(*created_b, rev_a + 1);
  EXPECT_EQ(c.Create("/registry/b", "again").status().code(),
            Code::kAlreadyExists);

  auto updated = c.Update("/registry/b", "3", *created_b);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  etcd::KeyValue current;
  EXPECT_EQ(
      c.Update("/registry/b", "stale", *created_b, 0, &current).status().code(),
      Code::kConflict);
  EXPECT_EQ(current.value, "3");
  EXPECT_EQ(current.mod_revision, *updated);
  EXPECT_EQ(c.Update("/registry/missing", "x", 1).status().code(),
            Code::kNotFound);

  auto range = c.Range(
      {.key = "/registry/", .range_end = etcd::PrefixEnd("/registry/")});
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->kvs.size(), 2u);
  EXPECT_EQ(range->kvs[0].key, "/registry/a");
  EXPECT_EQ(range->kvs[1].value, "3");
  EXPECT_EQ(range->kvs[1].create_revision, *created_b);
  EXPECT_EQ(range->kvs[1].mod_revision, *updated);
  EXPECT_EQ(range->kvs[1].version, 2);
  EXPECT_EQ(range->header.revision, *updated);

  auto limited = c.Range({.key = "/registry/",
                          .range_end = etcd::PrefixEnd("/registry/"),
                          .limit = 1});
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->kvs.size(), 1u);
  EXPECT_TRUE(limited->more);
  EXPECT_EQ(limited->count, 2);

  auto del = c.DeleteRange({.key = "/registry/a", .prev_kv = true});
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->deleted, 1);
  ASSERT_EQ(del->prev_kvs.size(), 1u);
  EXPECT_EQ(del->prev_kvs[0].value, "1");

  // Every change arrives in order, with prev_kv.
  std::vector<etcd::Event> events;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (events.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    auto r = w.Next(1s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (r->has_value()) {
      EXPECT_EQ((*r)->watch_id, 7);
      for (auto& e : (*r)->events) events.push_back(e);
    }
  }
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kv.key, "/registry/a");
  EXPECT_EQ(events[1].kv.mod_revision, *created_b);
  EXPECT_EQ(events[2].kv.value, "3");
  ASSERT_TRUE(events[2].prev_kv.has_value());
  EXPECT_EQ(events[2].prev_kv->value, "2");
  EXPECT_EQ(events[3].type, etcd::Event::Type::kDelete);
  EXPECT_EQ(events[3].kv.mod_revision, del->header.revision);

  // Compaction: old reads and watches answer Compacted / a canceled watch.
  ASSERT_TRUE(c.Compact(*updated).ok());
  EXPECT_EQ(c.Range({.key = "/registry/b", .revision = rev_a}).status().code(),
            Code::kCompacted);
  ASSERT_TRUE(w.Create({.key = "/registry/",
                        .range_end = etcd::PrefixEnd("/registry/"),
                        .start_revision = rev_a,
                        .watch_id = 8})
                  .ok());
  bool canceled = false;
  for (int i = 0; i < 5 && !canceled; ++i) {
    auto r = w.Next(1s);
    ASSERT_TRUE(r.ok());
    if (r->has_value() && (*r)->watch_id == 8 && (*r)->canceled) {
      canceled = true;
      EXPECT_EQ((*r)->compact_revision, *updated);
    }
  }
  EXPECT_TRUE(canceled);

  // A lease.
  auto lease = c.LeaseGrant(60);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_NE(*lease, 0);
  ASSERT_TRUE(c.Create("/registry/leased", "x", *lease).ok());
  auto leased = c.Range({.key = "/registry/leased"});
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->kvs.size(), 1u);
  EXPECT_EQ(leased->kvs[0].lease, *lease);

  // etcd going away ends the watch and fails calls with Unavailable.
  etcd_->Stop();
  bool ended = false;
  for (int i = 0; i < 20 && !ended; ++i) {
    auto r = w.Next(500ms);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
      ended = true;
    }
  }
  EXPECT_TRUE(ended);
  EXPECT_EQ(c.Range({.key = "/registry/b"}).status().code(),
            Code::kUnavailable);
}

TEST_F(EtcdTest, LargeRangeResponse) {
  // ~11 MB in one Range response: 8 values of 1.4 MB, written concurrently.
  const std::string big(1400 * 1000, 'v');
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i) {
    writers.emplace_back([&, i] {
      if (!client_->Put({.key = "/big/" + std::to_string(i), .value = big})
               .ok())
        failures++;
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(failures.load(), 0);
  auto r =
      client_->Range({.key = "/big/", .range_end = etcd::PrefixEnd("/big/")});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->kvs.size(), 8u);
  for (const auto& kv : r->kvs) EXPECT_EQ(kv.value, big);
}

}  // namespace
}  // namespace kite::rpc
