// The gRPC-over-HTTP/2 conventions that sit above HTTP/2 and below the
// messages: length-prefixed message framing, grpc-status to Status mapping,
// grpc-message percent-decoding and the grpc-timeout header. Kept apart from
// the transport so they can be unit-tested and fuzzed on their own.
//
// Thread safety: plain functions and values; a MessageReader belongs to one
// stream and is not shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kite::rpc {

// The 5-byte prefix: 1 byte compressed flag, 4 bytes big-endian length.
inline constexpr size_t kGrpcFrameHeaderBytes = 5;

// Appends `message` framed as an uncompressed gRPC message to *out.
void AppendGrpcFrame(std::string* out, std::string_view message);

// Splits a byte stream (the DATA of one gRPC stream, in arbitrary chunks)
// into messages. Compressed messages are refused (kite never offers a
// grpc-encoding, so a server must not send them); so are messages over
// `max_message_bytes`. After an error the reader stays failed.
class MessageReader {
 public:
  explicit MessageReader(size_t max_message_bytes) : max_(max_message_bytes) {}

  // Consumes `chunk` and appends every message it completes to *messages.
  // Internal for a compressed message; ResourceExhausted for one over the
  // limit.
  Status Feed(std::string_view chunk, std::deque<std::string>* messages);
  // True when no partial message is buffered (a clean end of stream).
  bool empty() const { return buf_.empty(); }

 private:
  size_t max_;
  std::string buf_;
  Status failed_;
};

// Maps a grpc-status code and its (decoded) grpc-message to a Status. Code 0
// is OK; unknown codes become Internal. The message keeps the gRPC code name,
// e.g. "grpc OUT_OF_RANGE: etcdserver: mvcc: required revision has been
// compacted", so callers that need the exact gRPC code can still tell.
Status StatusFromGrpc(int grpc_code, std::string_view message);

// The gRPC code name ("OK", "CANCELLED", ...) or "CODE_<n>".
std::string GrpcCodeName(int grpc_code);

// Status for a response without grpc-status, from its HTTP :status, as the
// gRPC spec maps them (404 -> Unimplemented, 503 -> Unavailable, ...).
Status StatusFromHttp(int http_status);

// Decodes grpc-message's percent-encoding; malformed escapes are kept as is.
std::string PercentDecode(std::string_view in);

// A grpc-timeout header value ("250m", "10S", ...): at most 8 digits with the
// finest unit that fits. A non-positive timeout gives "0n", which a server
// treats as already expired.
std::string FormatGrpcTimeout(std::chrono::nanoseconds timeout);

}  // namespace kite::rpc
