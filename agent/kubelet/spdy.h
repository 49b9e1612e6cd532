// SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 with the 3.1 flow
// control frames), as much as the Kubernetes streaming protocols use: the
// kubelet speaks it as a client to the runtime's stream server when it
// bridges kubectl's WebSocket exec and attach (docs/streaming.md).
//
// Frames: 8-byte headers; control frames (version 3) SYN_STREAM, SYN_REPLY,
// RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE; data frames
// with FIN. Header blocks (u32 count, then u32-length-prefixed lowercase
// names and values) are zlib-compressed with the SPDY/3 dictionary, one
// stateful zlib stream per direction, each block ending in a sync flush: a
// Framer holds both streams of one connection, so every block must pass
// through it in order (even those whose headers nobody needs).
//
// Thread safety: a Framer is used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kite::kubelet::spdy {

inline constexpr uint16_t kVersion = 3;

enum class FrameType : uint16_t {
  kData = 0,  // not a control frame type: marks data frames here
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

inline constexpr uint8_t kFlagFin = 0x01;
inline constexpr uint8_t kFlagUnidirectional = 0x02;

// RST_STREAM status codes used here.
inline constexpr uint32_t kRstProtocolError = 1;
inline constexpr uint32_t kRstCancel = 5;

// Header names are lowercase; a name may repeat.
using Headers = std::vector<std::pair<std::string, std::string>>;

// The SPDY/3 header compression dictionary (1423 bytes).
const std::string& Dictionary();

struct Frame {
  FrameType type = FrameType::kData;
  uint8_t flags = 0;
  uint32_t stream_id = 0;      // data, SYN_*, RST, HEADERS, WINDOW_UPDATE
  uint32_t associated_id = 0;  // SYN_STREAM
  uint8_t priority = 0;        // SYN_STREAM (0 highest .. 7)
  Headers headers;             // SYN_STREAM, SYN_REPLY, HEADERS
  uint32_t value = 0;  // RST_STREAM/GOAWAY status, PING id, WINDOW_UPDATE
                       // delta, GOAWAY last good stream id in stream_id
  std::string data;    // data frames; SETTINGS' raw payload
};

// The value of header `name` in `h`, or "".
std::string HeaderValue(const Headers& h, std::string_view name);

class Framer {
 public:
  Framer();
  ~Framer();
  Framer(const Framer&) = delete;
  Framer& operator=(const Framer&) = delete;

  // Encoders. Frames with header blocks advance the outgoing zlib stream,
  // so they must be sent in the order they were encoded.
  std::string SynStream(uint32_t stream_id, uint32_t associated_id,
                        uint8_t priority, uint8_t flags, const Headers& h);
  std::string SynReply(uint32_t stream_id, uint8_t flags, const Headers& h);
  std::string HeadersFrame(uint32_t stream_id, uint8_t flags, const Headers& h);
  static std::string Data(uint32_t stream_id, std::string_view data,
                          uint8_t flags = 0);
  static std::string RstStream(uint32_t stream_id, uint32_t status);
  static std::string Ping(uint32_t id);
  static std::string GoAway(uint32_t last_good_stream_id, uint32_t status);
  static std::string WindowUpdate(uint32_t stream_id, uint32_t delta);

  // Decoder: add received bytes, then take frames. nullopt when more bytes
  // are needed. InvalidArgument for a malformed frame or header block
  // (the connection is then unusable).
  void Feed(std::string_view bytes);
  StatusOr<std::optional<Frame>> Next();

 private:
  struct Zlib;
  std::string Compress(const Headers& h);
  StatusOr<Headers> Decompress(std::string_view block);
  std::string Control(FrameType type, uint8_t flags, std::string_view payload);

  std::unique_ptr<Zlib> zlib_;
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace kite::kubelet::spdy
