#include "agent/kubelet/websocket.h"

#include <gtest/gtest.h>

#include <string>

namespace kite::kubelet::ws {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

// The examples of RFC 6455 section 5.7 and 1.3.
TEST(WebSocketTest, AcceptKeyOfTheRfcExample) {
  EXPECT_EQ(AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketTest, EncodesTheRfcFrames) {
  EXPECT_EQ(EncodeFrame(Opcode::kText, "Hello"),
            Bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  EXPECT_EQ(EncodeFrame(Opcode::kText, "Hello", true, mask),
            Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51,
                   0x58}));
  EXPECT_EQ(EncodeFrame(Opcode::kText, "Hel", false),
            Bytes({0x01, 0x03, 0x48, 0x65, 0x6c}));
  EXPECT_EQ(EncodeFrame(Opcode::kContinuation, "lo"),
            Bytes({0x80, 0x02, 0x6c, 0x6f}));
  EXPECT_EQ(EncodeFrame(Opcode::kPing, "Hello"),
            Bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  // 256 bytes: 16-bit length; 65536 bytes: 64-bit length.
  std::string f256 = EncodeFrame(Opcode::kBinary, std::string(256, 'x'));
  EXPECT_EQ(f256.substr(0, 4), Bytes({0x82, 0x7E, 0x01, 0x00}));
  EXPECT_EQ(f256.size(), 260u);
  std::string f64k = EncodeFrame(Opcode::kBinary, std::string(65536, 'x'));
  EXPECT_EQ(f64k.substr(0, 10),
            Bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
  EXPECT_EQ(f64k.size(), 65546u);
  EXPECT_EQ(ClosePayload(1000, "bye"), Bytes({0x03, 0xe8, 'b', 'y', 'e'}));
}

TEST(WebSocketTest, DecodesMaskedClientFramesByteByByte) {
  Decoder d(true);
  std::string masked =
      Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  for (size_t i = 0; i + 1 < masked.size(); ++i) {
    d.Feed(masked.substr(i, 1));
    auto m = d.Next();
    ASSERT_TRUE(m.ok());
    EXPECT_FALSE(m->has_value()) << i;
  }
  d.Feed(masked.substr(masked.size() - 1));
  auto m = d.Next();
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ((*m)->opcode, Opcode::kText);
  EXPECT_EQ((*m)->payload, "Hello");
}

TEST(WebSocketTest, JoinsFragmentsAndPassesControlFramesBetweenThem) {
  const uint8_t mask[4] = {1, 2, 3, 4};
  Decoder d(true);
  // A binary message in three fragments with a ping in the middle
  // (control frames may be interleaved, RFC 6455 5.4).
  d.Feed(EncodeFrame(Opcode::kBinary,
                     std::string("\x01"
                                 "ab",
                                 3),
                     false, mask));
  d.Feed(EncodeFrame(Opcode::kPing, "p", true, mask));
  d.Feed(EncodeFrame(Opcode::kContinuation, "cd", false, mask));
  d.Feed(EncodeFrame(Opcode::kContinuation, "ef", true, mask));
  d.Feed(EncodeFrame(Opcode::kClose, ClosePayload(1000), true, mask));
  auto ping = d.Next();
  ASSERT_TRUE(ping.ok() && ping->has_value());
  EXPECT_EQ((*ping)->opcode, Opcode::kPing);
  EXPECT_EQ((*ping)->payload, "p");
  auto msg = d.Next();
  ASSERT_TRUE(msg.ok() && msg->has_value());
  EXPECT_EQ((*msg)->opcode, Opcode::kBinary);
  EXPECT_EQ((*msg)->payload, std::string("\x01"
                                         "abcdef",
                                         7));
  auto close = d.Next();
  ASSERT_TRUE(close.ok() && close->has_value());
  EXPECT_EQ((*close)->opcode, Opcode::kClose);
  EXPECT_EQ((*close)->payload, Bytes({0x03, 0xe8}));
  auto none = d.Next();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(WebSocketTest, LargeFramesRoundTrip) {
  const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
  std::string big(70000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  Decoder d(true);
  d.Feed(EncodeFrame(Opcode::kBinary, big, true, mask));
  auto m = d.Next();
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->payload, big);
  // Server frames are read unmasked by a decoder that does not require it.
  Decoder c(false);
  c.Feed(EncodeFrame(Opcode::kBinary, big));
  auto n = c.Next();
  ASSERT_TRUE(n.ok() && n->has_value());
  EXPECT_EQ((*n)->payload, big);
}

TEST(WebSocketTest, ProtocolViolationsAreErrors) {
  const uint8_t mask[4] = {1, 2, 3, 4};
  auto first_error = [](std::string bytes, bool require_mask = true) {
    Decoder d(require_mask, 1000);
    d.Feed(bytes);
    return d.Next().status().code();
  };
  // Unmasked frame from a client.
  EXPECT_EQ(first_error(EncodeFrame(Opcode::kText, "x")),
            Code::kInvalidArgument);
  // Reserved bit, unknown opcode.
  EXPECT_EQ(first_error(Bytes({0xC1, 0x80, 1, 2, 3, 4})),
            Code::kInvalidArgument);
  EXPECT_EQ(first_error(Bytes({0x83, 0x80, 1, 2, 3, 4})),
            Code::kInvalidArgument);
  // Fragmented ping; ping over 125 bytes.
  EXPECT_EQ(first_error(EncodeFrame(Opcode::kPing, "x", false, mask)),
            Code::kInvalidArgument);
  EXPECT_EQ(first_error(
                EncodeFrame(Opcode::kPing, std::string(126, 'x'), true, mask)),
            Code::kInvalidArgument);
  // Continuation without a start; a new message inside a fragmented one.
  EXPECT_EQ(first_error(EncodeFrame(Opcode::kContinuation, "x", true, mask)),
            Code::kInvalidArgument);
  EXPECT_EQ(first_error(EncodeFrame(Opcode::kText, "a", false, mask) +
                        EncodeFrame(Opcode::kText, "b", true, mask)),
            Code::kInvalidArgument);
  // Over the message limit (1000 here), also across fragments.
  EXPECT_EQ(first_error(EncodeFrame(Opcode::kBinary, std::string(1001, 'x'),
                                    true, mask)),
            Code::kResourceExhausted);
  EXPECT_EQ(first_error(EncodeFrame(Opcode::kBinary, std::string(600, 'x'),
                                    false, mask) +
                        EncodeFrame(Opcode::kContinuation,
                                    std::string(600, 'x'), true, mask)),
            Code::kResourceExhausted);
}

TEST(WebSocketTest, SplitsOfferedProtocols) {
  EXPECT_EQ(SplitProtocols("v5.channel.k8s.io, v4.channel.k8s.io,,x "),
            (std::vector<std::string>{"v5.channel.k8s.io", "v4.channel.k8s.io",
                                      "x"}));
  EXPECT_TRUE(SplitProtocols("").empty());
}

}  // namespace
}  // namespace kite::kubelet::ws
