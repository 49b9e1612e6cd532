#include "rpc/grpc_wire.h"

#include <array>

namespace kite::rpc {

void AppendGrpcFrame(std::string* out, std::string_view message) {
  uint32_t n = static_cast<uint32_t>(message.size());
  out->push_back(0);  // not compressed
  out->push_back(static_cast<char>((n >> 24) & 0xff));
  out->push_back(static_cast<char>((n >> 16) & 0xff));
  out->push_back(static_cast<char>((n >> 8) & 0xff));
  out->push_back(static_cast<char>(n & 0xff));
  out->append(message);
}

Status MessageReader::Feed(std::string_view chunk,
                           std::deque<std::string>* messages) {
  if (!failed_.ok()) return failed_;
  buf_.append(chunk);
  size_t pos = 0;
  while (buf_.size() - pos >= kGrpcFrameHeaderBytes) {
    const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + pos);
    if (p[0] != 0) {
      failed_ =
          p[0] == 1
              ? InternalError(
                    "grpc: compressed message without negotiated encoding")
              : InternalError("grpc: bad message flag");
      buf_.clear();
      return failed_;
    }
    uint64_t len = (uint64_t{p[1]} << 24) | (uint64_t{p[2]} << 16) |
                   (uint64_t{p[3]} << 8) | p[4];
    if (len > max_) {
      failed_ = ResourceExhaustedError(
          "grpc: received message of " + std::to_string(len) +
          " bytes, over the limit of " + std::to_string(max_));
      buf_.clear();
      return failed_;
    }
    if (buf_.size() - pos - kGrpcFrameHeaderBytes < len) break;
    messages->emplace_back(buf_, pos + kGrpcFrameHeaderBytes,
                           static_cast<size_t>(len));
    pos += kGrpcFrameHeaderBytes + static_cast<size_t>(len);
  }
  buf_.erase(0, pos);
  return Status::Ok();
}

namespace {

constexpr std::array<std::string_view, 17> kGrpcCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED"};

Code CodeFromGrpc(int c) {
  switch (c) {
    case 1:
      return Code::kCancelled;
    case 3:
      return Code::kInvalidArgument;
    case 4:
      return Code::kDeadlineExceeded;
    case 5:
      return Code::kNotFound;
    case 6:
      return Code::kAlreadyExists;
    case 7:
      return Code::kPermissionDenied;
    case 8:
      return Code::kResourceExhausted;
    case 9:
      return Code::kFailedPrecondition;
    case 10:
      return Code::kConflict;  // ABORTED: a concurrency conflict
    case 11:
      return Code::kInvalidArgument;  // OUT_OF_RANGE
    case 14:
      return Code::kUnavailable;
    case 16:
      return Code::kUnauthenticated;
    default:
      return Code::kInternal;  // UNKNOWN, UNIMPLEMENTED, INTERNAL, DATA_LOSS,
                               // others
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string GrpcCodeName(int grpc_code) {
  if (grpc_code >= 0 && grpc_code < static_cast<int>(kGrpcCodeNames.size())) {
    return std::string(kGrpcCodeNames[grpc_code]);
  }
  return "CODE_" + std::to_string(grpc_code);
}

Status StatusFromGrpc(int grpc_code, std::string_view message) {
  if (grpc_code == 0) return Status::Ok();
  return Status(CodeFromGrpc(grpc_code), "grpc " + GrpcCodeName(grpc_code) +
                                             ": " + std::string(message));
}

Status StatusFromHttp(int http_status) {
  int grpc_code;
  switch (http_status) {
    case 400:
      grpc_code = 13;
      break;  // INTERNAL
    case 401:
      grpc_code = 16;
      break;
    case 403:
      grpc_code = 7;
      break;
    case 404:
      grpc_code = 12;
      break;  // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      grpc_code = 14;
      break;
    default:
      grpc_code = 2;
      break;  // UNKNOWN
  }
  return StatusFromGrpc(
      grpc_code,
      "HTTP status " + std::to_string(http_status) + " without grpc-status");
}

std::string PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

std::string FormatGrpcTimeout(std::chrono::nanoseconds timeout) {
  int64_t ns = timeout.count();
  if (ns <= 0) return "0n";
  constexpr int64_t kMax = 99'999'999;
  struct Unit {
    int64_t ns;
    char name;
  };
  constexpr Unit kUnits[] = {{1, 'n'},
                             {1'000, 'u'},
                             {1'000'000, 'm'},
                             {1'000'000'000, 'S'},
                             {60'000'000'000, 'M'},
                             {3'600'000'000'000, 'H'}};
  for (const Unit& u : kUnits) {
    int64_t v =
        (ns + u.ns - 1) / u.ns;  // round up: never shorten a deadline to 0
    if (v <= kMax) return std::to_string(v) + u.name;
  }
  return std::to_string(kMax) + "H";
}

}  // namespace kite::rpc
