// A tiny protobuf wire-format codec: just enough to hand-encode and decode the
// few messages kite speaks over gRPC (etcd's KV/Watch API, the CRI), without
// generated code or the protobuf runtime.
//
// Encoder appends fields to a byte string. It writes every field it is asked
// to, also zero values; proto3 callers skip defaults themselves (the
// `...IfNonZero` helpers do that). A nested message is encoded with its own
// Encoder and added with Message().
//
// Decoder walks the fields of one message in wire order:
//
//   Decoder d(bytes);
//   Field f;
//   while (d.Next(&f)) {
//     if (f.number == 1 && f.type == WireType::kLengthDelimited) key = f.bytes;
//   }
//   KITE_RETURN_IF_ERROR(d.status());
//
// Every read is bounds-checked: truncated or malformed input (an overlong
// varint, a length past the end, field number 0, an unknown wire type, an
// unbalanced group) ends the walk with an InvalidArgument status, never a
// crash. Groups (wire types 3/4, unused by proto3) are skipped whole; the
// caller never sees them. A field whose wire type does not match what the
// caller expects should be ignored, as protobuf does with unknown fields.
// Decoded byte fields are views into the input, which must outlive them.
//
// Thread safety: Encoder and Decoder are plain values, not shared.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kite::rpc::protowire {

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// The largest field number protobuf allows (2^29 - 1).
inline constexpr uint32_t kMaxFieldNumber = (1u << 29) - 1;

// Low-level varint helpers. AppendVarint writes 1-10 bytes. ReadVarint reads
// from `*data`, advances it and returns false (leaving *data unspecified) on
// a truncated or overlong (more than 10 bytes, or overflowing 64 bits) varint.
void AppendVarint(std::string* out, uint64_t value);
bool ReadVarint(std::string_view* data, uint64_t* value);

inline uint64_t ZigZagEncode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t ZigZagDecode(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

class Encoder {
 public:
  // uint32, uint64, enum: the value as a varint.
  void Uint64(uint32_t field, uint64_t value);
  // int32 and int64: two's complement, so a negative value takes 10 bytes
  // (as protobuf encodes int32 too).
  void Int64(uint32_t field, int64_t value) {
    Uint64(field, static_cast<uint64_t>(value));
  }
  // sint32 and sint64: zigzag.
  void SInt64(uint32_t field, int64_t value) {
    Uint64(field, ZigZagEncode(value));
  }
  void Bool(uint32_t field, bool value) { Uint64(field, value ? 1 : 0); }
  void Fixed32(uint32_t field, uint32_t value);
  void Fixed64(uint32_t field, uint64_t value);
  void Float(uint32_t field, float value);
  void Double(uint32_t field, double value);
  // bytes, string, and packed repeated fields.
  void Bytes(uint32_t field, std::string_view value);
  // A nested message (its encoding).
  void Message(uint32_t field, const Encoder& nested) {
    Bytes(field, nested.data());
  }
  void Message(uint32_t field, std::string_view encoded) {
    Bytes(field, encoded);
  }

  // proto3 style: nothing is written for the default value.
  void Int64IfNonZero(uint32_t field, int64_t value) {
    if (value != 0) Int64(field, value);
  }
  void Uint64IfNonZero(uint32_t field, uint64_t value) {
    if (value != 0) Uint64(field, value);
  }
  void BoolIfTrue(uint32_t field, bool value) {
    if (value) Bool(field, true);
  }
  void BytesIfNonEmpty(uint32_t field, std::string_view value) {
    if (!value.empty()) Bytes(field, value);
  }

  const std::string& data() const { return out_; }
  size_t size() const { return out_.size(); }
  // Hands over the encoding and leaves the encoder empty.
  std::string Take() { return std::move(out_); }

 private:
  void Tag(uint32_t field, WireType type);
  std::string out_;
};

// One decoded field. `value` holds varint, fixed32 and fixed64 payloads;
// `bytes` holds a length-delimited payload (a view into the input).
struct Field {
  uint32_t number = 0;
  WireType type = WireType::kVarint;
  uint64_t value = 0;
  std::string_view bytes;

  int64_t AsInt64() const { return static_cast<int64_t>(value); }
  int32_t AsInt32() const { return static_cast<int32_t>(value); }
  uint32_t AsUint32() const { return static_cast<uint32_t>(value); }
  bool AsBool() const { return value != 0; }
  int64_t AsSInt64() const { return ZigZagDecode(value); }
  float AsFloat() const;
  double AsDouble() const;
  bool is_varint() const { return type == WireType::kVarint; }
  bool is_bytes() const { return type == WireType::kLengthDelimited; }
};

class Decoder {
 public:
  explicit Decoder(std::string_view data) : rest_(data) {}

  // Reads the next field into *field. Returns false at the end of the input
  // or on malformed input; status() tells which. Once it returned false it
  // keeps returning false.
  bool Next(Field* field);
  // OK at a clean end of input; InvalidArgument after malformed input.
  const Status& status() const { return status_; }

 private:
  bool Fail(std::string message);
  bool SkipGroup(uint32_t number);

  std::string_view rest_;
  Status status_;
  bool failed_ = false;
};

// Decodes a packed repeated varint field (e.g. `repeated int64` in proto3)
// and appends its elements to *out. InvalidArgument on a malformed payload.
Status DecodePackedVarints(std::string_view payload,
                           std::vector<uint64_t>* out);

}  // namespace kite::rpc::protowire
