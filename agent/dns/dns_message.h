// DNS messages (RFC 1035): the wire codec of kite's cluster DNS.
//
// Parse() reads a query or an answer from the wire: header, questions and
// resource records of every section. A, AAAA, NS, CNAME, PTR, SOA and SRV
// rdata are decoded into their fields (names may be compressed); any other
// type, EDNS0's OPT (RFC 6891) included, is kept as raw rdata and written
// back unchanged. Hostile input is refused with InvalidArgument, never
// read past: truncated messages, rdata lengths that disagree with their
// content, compression pointers that do not point backwards (so no loops),
// labels over 63 bytes and names over 255.
//
// Serialize() writes a message with name compression. With a size limit
// (512 for plain UDP, the client's EDNS0 size otherwise) records that do
// not fit are left out; when an answer or authority record had to go, TC is
// set so the client retries over TCP.
//
// Names are text without the final dot ("" is the root). Bytes that are
// not printable, '.' and '\' inside a label are escaped as \DDD, so every
// parsed name serializes back to the same labels. Case is kept (compare with
// EqualNames / LowerName).
//
// Thread safety: stateless functions and plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kite::dns {

enum Type : uint16_t {
  kTypeA = 1,
  kTypeNs = 2,
  kTypeCname = 5,
  kTypeSoa = 6,
  kTypePtr = 12,
  kTypeAaaa = 28,
  kTypeSrv = 33,
  kTypeOpt = 41,
  kTypeAny = 255,
};

enum Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

constexpr uint16_t kClassIn = 1;
constexpr size_t kMaxUdpSize = 512;  // without EDNS0

struct Header {
  uint16_t id = 0;
  bool qr = false;  // a response
  uint8_t opcode = 0;
  bool aa = false;  // authoritative
  bool tc = false;  // truncated
  bool rd = false;  // recursion desired
  bool ra = false;  // recursion available
  bool ad = false;
  bool cd = false;
  uint8_t rcode = kNoError;
};

struct Question {
  std::string name;
  uint16_t type = kTypeA;
  uint16_t klass = kClassIn;
  bool operator==(const Question&) const = default;
};

struct SoaData {
  std::string mname;
  std::string rname;
  uint32_t serial = 0;
  uint32_t refresh = 0;
  uint32_t retry = 0;
  uint32_t expire = 0;
  uint32_t minimum = 0;
  bool operator==(const SoaData&) const = default;
};

struct SrvData {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;
  bool operator==(const SrvData&) const = default;
};

struct Record {
  std::string name;
  uint16_t type = kTypeA;
  uint16_t klass = kClassIn;  // OPT: the sender's UDP payload size
  uint32_t ttl = 0;           // OPT: extended rcode, version and flags
  // A: 4 bytes, AAAA: 16 bytes, OPT and unknown types: the rdata as is.
  std::string raw;
  std::string target;  // NS, CNAME, PTR
  SrvData srv;         // SRV
  SoaData soa;         // SOA
  bool operator==(const Record&) const = default;
};

struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<Record> answers;
  std::vector<Record> authority;
  std::vector<Record> additional;

  // The UDP payload size of the OPT record in `additional`, if any.
  std::optional<uint16_t> EdnsUdpSize() const;
};

// Decodes one message. InvalidArgument for anything malformed.
StatusOr<Message> Parse(std::string_view wire);

// Encodes `msg` with name compression, fitting it into `max_size` bytes
// (records left out as described above). InvalidArgument when a name is not
// encodable (label over 63 bytes, name over 255, bad escape) or even the
// header and questions do not fit.
StatusOr<std::string> Serialize(const Message& msg, size_t max_size = 65535);

// The answer skeleton to `query`: same id, opcode, RD, CD and questions;
// QR set and `rcode`.
Message ReplyTo(const Message& query, uint8_t rcode = kNoError);

// Record builders. `ip` is dotted IPv4 or IPv6 text; nullopt when it does
// not parse as the family of the type.
std::optional<Record> AddressRecord(const std::string& name, uint32_t ttl,
                                    const std::string& ip);
Record NameRecord(uint16_t type, const std::string& name, uint32_t ttl,
                  const std::string& target);

// The text form of an A/AAAA record's address ("" for other records).
std::string AddressText(const Record& r);

// ASCII-lowercased name (DNS names compare case-insensitively).
std::string LowerName(std::string_view name);
bool EqualNames(std::string_view a, std::string_view b);

}  // namespace kite::dns
