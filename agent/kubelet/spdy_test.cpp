#include "agent/kubelet/spdy.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace kite::kubelet::spdy {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

TEST(SpdyTest, DictionaryIsTheDraftsOne) {
  const std::string& d = Dictionary();
  EXPECT_EQ(d.size(), 1423u);
  EXPECT_EQ(d.substr(0, 11),
            Bytes({0, 0, 0, 7, 'o', 'p', 't', 'i', 'o', 'n', 's'}));
  // "origin" is the last prefixed word, the tail follows unprefixed.
  size_t origin = d.find("origin100101");
  ASSERT_NE(origin, std::string::npos);
  EXPECT_EQ(d.substr(origin - 4, 4), Bytes({0, 0, 0, 6}));
  EXPECT_EQ(d.substr(d.size() - 13), "utf-,*,enq=0.");
}

TEST(SpdyTest, EncodesFixedFrames) {
  EXPECT_EQ(Framer::Ping(1), Bytes({0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00,
                                    0x04, 0x00, 0x00, 0x00, 0x01}));
  EXPECT_EQ(Framer::Data(1, "hi", kFlagFin),
            Bytes({0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x02, 'h', 'i'}));
  EXPECT_EQ(Framer::Data(5, ""), Bytes({0, 0, 0, 5, 0, 0, 0, 0}));
  EXPECT_EQ(Framer::RstStream(3, kRstCancel),
            Bytes({0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
                   0x00, 0x03, 0x00, 0x00, 0x00, 0x05}));
  EXPECT_EQ(Framer::WindowUpdate(1, 65536),
            Bytes({0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
                   0x00, 0x01, 0x00, 0x01, 0x00, 0x00}));
  EXPECT_EQ(Framer::GoAway(7, 0),
            Bytes({0x80, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
                   0x00, 0x07, 0x00, 0x00, 0x00, 0x00}));
}

// The header block of a SYN_STREAM, inflated with plain zlib and the
// dictionary, is the draft's layout: count, then length-prefixed pairs.
TEST(SpdyTest, SynStreamHeaderBlockLayout) {
  Framer f;
  std::string frame = f.SynStream(1, 0, 0, 0, {{"streamtype", "error"}});
  ASSERT_GE(frame.size(), 18u);
  // Control bit + version 3, type 1, flags 0, 24-bit length.
  EXPECT_EQ(frame.substr(0, 5), Bytes({0x80, 0x03, 0x00, 0x01, 0x00}));
  size_t len = (static_cast<unsigned char>(frame[5]) << 16) |
               (static_cast<unsigned char>(frame[6]) << 8) |
               static_cast<unsigned char>(frame[7]);
  EXPECT_EQ(len, frame.size() - 8);
  // Stream 1, associated 0, priority 0, slot 0.
  EXPECT_EQ(frame.substr(8, 10), Bytes({0, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
  // A zlib stream asking for a preset dictionary (FDICT) whose Adler-32 is
  // that of the SPDY/3 dictionary.
  std::string z = frame.substr(18);
  EXPECT_EQ(z[1] & 0x20, 0x20);
  uLong adler = adler32(adler32(0L, Z_NULL, 0),
                        reinterpret_cast<const Bytef*>(Dictionary().data()),
                        static_cast<uInt>(Dictionary().size()));
  EXPECT_EQ(z.substr(2, 4), Bytes({static_cast<int>((adler >> 24) & 0xFF),
                                   static_cast<int>((adler >> 16) & 0xFF),
                                   static_cast<int>((adler >> 8) & 0xFF),
                                   static_cast<int>(adler & 0xFF)}));
  z_stream in{};
  ASSERT_EQ(inflateInit(&in), Z_OK);
  in.next_in = reinterpret_cast<Bytef*>(z.data());
  in.avail_in = static_cast<uInt>(z.size());
  char out[256];
  in.next_out = reinterpret_cast<Bytef*>(out);
  in.avail_out = sizeof(out);
  ASSERT_EQ(inflate(&in, Z_SYNC_FLUSH), Z_NEED_DICT);
  ASSERT_EQ(inflateSetDictionary(
                &in, reinterpret_cast<const Bytef*>(Dictionary().data()),
                static_cast<uInt>(Dictionary().size())),
            Z_OK);
  int r = inflate(&in, Z_SYNC_FLUSH);
  EXPECT_TRUE(r == Z_OK || r == Z_BUF_ERROR) << r;
  std::string block(out, sizeof(out) - in.avail_out);
  inflateEnd(&in);
  EXPECT_EQ(block, Bytes({0, 0, 0, 1, 0, 0, 0, 10}) + "streamtype" +
                       Bytes({0, 0, 0, 5}) + "error");
}

TEST(SpdyTest, FramesRoundTripThroughStatefulHeaderCompression) {
  Framer client, server;
  std::string wire;
  wire += client.SynStream(1, 0, 0, 0, {{"streamtype", "error"}});
  wire += client.SynStream(3, 0, 0, kFlagFin,
                           {{"streamtype", "stdout"}, {"port", "8080"}});
  wire += Framer::Data(3, "payload", kFlagFin);
  wire += Framer::Ping(2);
  wire += client.HeadersFrame(1, 0, {{"x", std::string("a\0b", 3)}});
  // Fed in small pieces: frames come out only when whole.
  std::vector<Frame> frames;
  for (size_t i = 0; i < wire.size(); i += 3) {
    server.Feed(std::string_view(wire).substr(i, 3));
    for (;;) {
      auto f = server.Next();
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      if (!f->has_value()) break;
      frames.push_back(std::move(**f));
    }
  }
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_EQ(frames[0].type, FrameType::kSynStream);
  EXPECT_EQ(frames[0].stream_id, 1u);
  EXPECT_EQ(HeaderValue(frames[0].headers, "streamtype"), "error");
  EXPECT_EQ(frames[1].flags, kFlagFin);
  EXPECT_EQ(HeaderValue(frames[1].headers, "streamtype"), "stdout");
  EXPECT_EQ(HeaderValue(frames[1].headers, "port"), "8080");
  EXPECT_EQ(frames[2].type, FrameType::kData);
  EXPECT_EQ(frames[2].stream_id, 3u);
  EXPECT_EQ(frames[2].data, "payload");
  EXPECT_EQ(frames[2].flags, kFlagFin);
  EXPECT_EQ(frames[3].type, FrameType::kPing);
  EXPECT_EQ(frames[3].value, 2u);
  EXPECT_EQ(frames[4].type, FrameType::kHeaders);
  EXPECT_EQ(HeaderValue(frames[4].headers, "x"), std::string("a\0b", 3));

  // And back: the server's replies decode on the client.
  // (Encoded one after the other: blocks must go out in compression order.)
  std::string back = server.SynReply(1, 0, {});
  back += server.SynReply(3, 0, {});
  client.Feed(back);
  for (uint32_t id : {1u, 3u}) {
    auto f = client.Next();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE(f->has_value());
    EXPECT_EQ((*f)->type, FrameType::kSynReply);
    EXPECT_EQ((*f)->stream_id, id);
  }
}

TEST(SpdyTest, MalformedInputIsAnError) {
  Framer f;
  // Version 2 control frame.
  f.Feed(Bytes({0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1}));
  EXPECT_EQ(f.Next().status().code(), Code::kInvalidArgument);
  // A SYN_REPLY whose header block is not zlib.
  Framer g;
  g.Feed(Bytes({0x80, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0, 0, 0, 1, 'j',
                'u', 'n', 'k'}));
  EXPECT_EQ(g.Next().status().code(), Code::kInvalidArgument);
  // A PING too short to hold its id.
  Framer h;
  h.Feed(Bytes({0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x02, 0, 0}));
  EXPECT_EQ(h.Next().status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace kite::kubelet::spdy
