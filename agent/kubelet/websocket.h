// WebSocket (RFC 6455) framing for the kubelet API's streaming endpoints:
// kubectl 1.32 asks for exec and attach over `v5.channel.k8s.io` and for
// port-forward over `SPDY/3.1+portforward.k8s.io` (SPDY carried in binary
// messages) before it falls back to SPDY (docs/streaming.md).
//
// Only what a server needs: the handshake's accept key, frames encoded
// (unmasked by default, masked when asked, as a client would send them) and
// a decoder that checks the client's masking, unmasks, reassembles
// fragmented messages and hands control frames (close, ping, pong) over as
// they come, even between the fragments of a message.
//
// Thread safety: plain functions; a Decoder is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kite::kubelet::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes used here.
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseTooBig = 1009;

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64 of the
// SHA-1 of the key and the RFC's GUID.
std::string AcceptKey(std::string_view client_key);

// The protocols a client offers in Sec-WebSocket-Protocol ("a, b").
std::vector<std::string> SplitProtocols(std::string_view header);

// One frame. `mask` (4 bytes) masks the payload, as clients must; servers
// send unmasked frames (nullptr).
std::string EncodeFrame(Opcode opcode, std::string_view payload,
                        bool fin = true, const uint8_t* mask = nullptr);

// The payload of a close frame: the code (network order) and a reason.
std::string ClosePayload(uint16_t code, std::string_view reason = "");

// A whole data message (text or binary, fragments joined) or one control
// frame.
struct Message {
  Opcode opcode = Opcode::kBinary;
  std::string payload;
};

class Decoder {
 public:
  // `require_mask`: frames from a client must be masked (RFC 6455 5.1).
  // Messages larger than `max_message` bytes are an error.
  explicit Decoder(bool require_mask, size_t max_message = size_t{16} << 20);

  // Adds bytes read from the connection.
  void Feed(std::string_view bytes);
  // The next message or control frame; nullopt when more bytes are needed.
  // InvalidArgument for a protocol violation (unmasked client frame,
  // reserved bits or opcodes, a fragmented or oversized control frame, a
  // continuation without a start or a new message inside a fragmented
  // one), ResourceExhausted for a message over the limit: the connection
  // is then closed (1002 or 1009).
  StatusOr<std::optional<Message>> Next();

 private:
  bool require_mask_;
  size_t max_message_;
  std::string buf_;
  size_t pos_ = 0;
  bool fragmented_ = false;  // inside a message started without FIN
  Opcode fragment_opcode_ = Opcode::kBinary;
  std::string fragments_;
};

}  // namespace kite::kubelet::ws
