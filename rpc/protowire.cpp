#include "rpc/protowire.h"

#include <cstring>

namespace kite::rpc::protowire {
namespace {

// Nesting depth of groups we are willing to skip; deeper input is rejected
// rather than recursed into.
constexpr int kMaxGroupDepth = 64;

void AppendLittleEndian(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool ReadLittleEndian(std::string_view* data, int bytes, uint64_t* v) {
  if (data->size() < static_cast<size_t>(bytes)) return false;
  uint64_t r = 0;
  for (int i = 0; i < bytes; ++i)
    r |= static_cast<uint64_t>(static_cast<uint8_t>((*data)[i])) << (8 * i);
  data->remove_prefix(bytes);
  *v = r;
  return true;
}

// Reads one tag and the payload that follows it. Returns an error message,
// or empty on success. Groups are reported as such (without payload).
std::string ReadField(std::string_view* data, Field* f) {
  uint64_t tag;
  if (!ReadVarint(data, &tag)) return "truncated or overlong tag";
  if (tag > 0xffffffffull) return "tag out of range";
  uint32_t number = static_cast<uint32_t>(tag >> 3);
  uint32_t type = static_cast<uint32_t>(tag & 7);
  if (number == 0) return "field number 0";
  if (number > kMaxFieldNumber) return "field number out of range";
  f->number = number;
  f->value = 0;
  f->bytes = {};
  switch (type) {
    case 0:
      f->type = WireType::kVarint;
      if (!ReadVarint(data, &f->value)) return "truncated or overlong varint";
      return {};
    case 1:
      f->type = WireType::kFixed64;
      if (!ReadLittleEndian(data, 8, &f->value)) return "truncated fixed64";
      return {};
    case 2: {
      f->type = WireType::kLengthDelimited;
      uint64_t len;
      if (!ReadVarint(data, &len)) return "truncated or overlong length";
      if (len > data->size()) return "length past the end of the message";
      f->bytes = data->substr(0, static_cast<size_t>(len));
      data->remove_prefix(static_cast<size_t>(len));
      return {};
    }
    case 3:
      f->type = WireType::kStartGroup;
      return {};
    case 4:
      f->type = WireType::kEndGroup;
      return {};
    case 5:
      f->type = WireType::kFixed32;
      if (!ReadLittleEndian(data, 4, &f->value)) return "truncated fixed32";
      return {};
    default:
      return "unknown wire type " + std::to_string(type);
  }
}

}  // namespace

void AppendVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

bool ReadVarint(std::string_view* data, uint64_t* value) {
  uint64_t result = 0;
  for (size_t i = 0; i < 10; ++i) {
    if (i >= data->size()) return false;
    uint8_t b = static_cast<uint8_t>((*data)[i]);
    // The tenth byte may only carry the top bit of a 64-bit value.
    if (i == 9 && b > 1) return false;
    result |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      data->remove_prefix(i + 1);
      *value = result;
      return true;
    }
  }
  return false;
}

void Encoder::Tag(uint32_t field, WireType type) {
  AppendVarint(
      &out_, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(type));
}

void Encoder::Uint64(uint32_t field, uint64_t value) {
  Tag(field, WireType::kVarint);
  AppendVarint(&out_, value);
}

void Encoder::Fixed32(uint32_t field, uint32_t value) {
  Tag(field, WireType::kFixed32);
  AppendLittleEndian(&out_, value, 4);
}

void Encoder::Fixed64(uint32_t field, uint64_t value) {
  Tag(field, WireType::kFixed64);
  AppendLittleEndian(&out_, value, 8);
}

void Encoder::Float(uint32_t field, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  Fixed32(field, bits);
}

void Encoder::Double(uint32_t field, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  Fixed64(field, bits);
}

void Encoder::Bytes(uint32_t field, std::string_view value) {
  Tag(field, WireType::kLengthDelimited);
  AppendVarint(&out_, value.size());
  out_.append(value);
}

float Field::AsFloat() const {
  uint32_t bits = static_cast<uint32_t>(value);
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

double Field::AsDouble() const {
  double d;
  std::memcpy(&d, &value, sizeof(d));
  return d;
}

bool Decoder::Fail(std::string message) {
  failed_ = true;
  status_ = InvalidArgumentError("protobuf: " + message);
  rest_ = {};
  return false;
}

bool Decoder::SkipGroup(uint32_t number) {
  // Iterative skip with an explicit stack of open group numbers.
  std::vector<uint32_t> open{number};
  Field f;
  while (!open.empty()) {
    if (rest_.empty()) return Fail("unterminated group");
    std::string err = ReadField(&rest_, &f);
    if (!err.empty()) return Fail(err);
    if (f.type == WireType::kStartGroup) {
      if (open.size() >= static_cast<size_t>(kMaxGroupDepth))
        return Fail("groups nested too deep");
      open.push_back(f.number);
    } else if (f.type == WireType::kEndGroup) {
      if (f.number != open.back()) return Fail("mismatched end group");
      open.pop_back();
    }
  }
  return true;
}

bool Decoder::Next(Field* field) {
  while (!failed_ && !rest_.empty()) {
    std::string err = ReadField(&rest_, field);
    if (!err.empty()) return Fail(err);
    if (field->type == WireType::kEndGroup)
      return Fail("end group without start");
    if (field->type == WireType::kStartGroup) {
      if (!SkipGroup(field->number)) return false;
      continue;
    }
    return true;
  }
  return false;
}

Status DecodePackedVarints(std::string_view payload,
                           std::vector<uint64_t>* out) {
  while (!payload.empty()) {
    uint64_t v;
    if (!ReadVarint(&payload, &v))
      return InvalidArgumentError("protobuf: malformed packed varint");
    out->push_back(v);
  }
  return Status::Ok();
}

}  // namespace kite::rpc::protowire
