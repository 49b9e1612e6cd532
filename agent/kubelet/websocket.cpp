#include "agent/kubelet/websocket.h"

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>

namespace kite::kubelet::ws {
namespace {

constexpr char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool IsControl(uint8_t opcode) { return (opcode & 0x8) != 0; }

bool KnownOpcode(uint8_t op) {
  return op == 0x0 || op == 0x1 || op == 0x2 || op == 0x8 || op == 0x9 ||
         op == 0xA;
}

}  // namespace

std::string AcceptKey(std::string_view client_key) {
  std::string text(client_key);
  text += kGuid;
  unsigned char digest[20];
  mbedtls_sha1_ret(reinterpret_cast<const unsigned char*>(text.data()),
                   text.size(), digest);
  unsigned char out[64];
  size_t len = 0;
  mbedtls_base64_encode(out, sizeof(out), &len, digest, sizeof(digest));
  return std::string(reinterpret_cast<char*>(out), len);
}

std::vector<std::string> SplitProtocols(std::string_view header) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= header.size()) {
    size_t comma = header.find(',', start);
    std::string_view part = header.substr(start, comma == std::string_view::npos
                                                     ? std::string_view::npos
                                                     : comma - start);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t'))
      part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t'))
      part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string EncodeFrame(Opcode opcode, std::string_view payload, bool fin,
                        const uint8_t* mask) {
  std::string f;
  f.reserve(payload.size() + 14);
  f.push_back(
      static_cast<char>((fin ? 0x80 : 0x00) | static_cast<uint8_t>(opcode)));
  uint8_t mask_bit = mask != nullptr ? 0x80 : 0x00;
  uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    f.push_back(static_cast<char>(mask_bit | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      f.push_back(static_cast<char>((n >> shift) & 0xFF));
  }
  if (mask == nullptr) {
    f.append(payload);
    return f;
  }
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return f;
}

std::string ClosePayload(uint16_t code, std::string_view reason) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  p.append(reason.substr(0, 123));
  return p;
}

Decoder::Decoder(bool require_mask, size_t max_message)
    : require_mask_(require_mask), max_message_(max_message) {}

void Decoder::Feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

StatusOr<std::optional<Message>> Decoder::Next() {
  for (;;) {
    size_t avail = buf_.size() - pos_;
    if (avail < 2) return std::optional<Message>();
    const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + pos_);
    bool fin = (p[0] & 0x80) != 0;
    if ((p[0] & 0x70) != 0)
      return InvalidArgumentError("websocket: reserved bits set");
    uint8_t op = p[0] & 0x0F;
    if (!KnownOpcode(op))
      return InvalidArgumentError("websocket: unknown opcode " +
                                  std::to_string(op));
    bool masked = (p[1] & 0x80) != 0;
    if (require_mask_ && !masked)
      return InvalidArgumentError("websocket: client frame not masked");
    uint64_t len = p[1] & 0x7F;
    size_t header = 2;
    if (len == 126) {
      if (avail < 4) return std::optional<Message>();
      len = (uint64_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (len == 127) {
      if (avail < 10) return std::optional<Message>();
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      header = 10;
      if (len >> 63) return InvalidArgumentError("websocket: bad length");
    }
    if (IsControl(op) && (!fin || len > 125)) {
      return InvalidArgumentError(
          "websocket: control frames must be whole and at most 125 bytes");
    }
    if (len > max_message_ ||
        (!IsControl(op) && fragments_.size() + len > max_message_)) {
      return ResourceExhaustedError("websocket: message too large");
    }
    size_t mask_at = header;
    if (masked) header += 4;
    if (avail < header + len) return std::optional<Message>();
    std::string payload(buf_.data() + pos_ + header, static_cast<size_t>(len));
    if (masked) {
      const uint8_t* mask = p + mask_at;
      for (size_t i = 0; i < payload.size(); ++i)
        payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
    }
    pos_ += header + static_cast<size_t>(len);

    if (IsControl(op)) {
      return std::optional<Message>(
          Message{static_cast<Opcode>(op), std::move(payload)});
    }
    if (op == 0x0) {
      if (!fragmented_)
        return InvalidArgumentError("websocket: continuation without a start");
      fragments_ += payload;
      if (!fin) continue;
      fragmented_ = false;
      Message m{fragment_opcode_, std::move(fragments_)};
      fragments_.clear();
      return std::optional<Message>(std::move(m));
    }
    if (fragmented_) {
      return InvalidArgumentError(
          "websocket: a new message inside a fragmented one");
    }
    if (!fin) {
      fragmented_ = true;
      fragment_opcode_ = static_cast<Opcode>(op);
      fragments_ = std::move(payload);
      continue;
    }
    return std::optional<Message>(
        Message{static_cast<Opcode>(op), std::move(payload)});
  }
}

}  // namespace kite::kubelet::ws
