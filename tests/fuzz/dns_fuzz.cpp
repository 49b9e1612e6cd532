// Fuzz target: the cluster DNS wire codec (agent/dns/dns_message.h), the
// first thing any pod's (or any host's) packet reaches. Input: one DNS
// message as received over UDP. Checks: nothing crashes or reads past the
// input; a message that parses serializes, and what that writes parses
// back to the same message (compression and escapes are lossless); with
// the UDP size limit the output fits in 512 bytes.
#include <cstdint>
#include <string>

#include "agent/dns/dns_message.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite;
  std::string_view wire(reinterpret_cast<const char*>(data), size);
  auto m = dns::Parse(wire);
  if (!m.ok()) return 0;
  auto out = dns::Serialize(*m);
  FUZZ_CHECK(out.ok(), "a parsed message does not serialize: %s",
             out.status().ToString().c_str());
  auto back = dns::Parse(*out);
  FUZZ_CHECK(back.ok(), "serialized message does not parse: %s",
             back.status().ToString().c_str());
  FUZZ_CHECK(back->questions == m->questions && back->answers == m->answers &&
                 back->authority == m->authority &&
                 back->additional == m->additional,
             "round trip changed the message");
  auto small = dns::Serialize(*m, dns::kMaxUdpSize);
  if (small.ok()) {
    FUZZ_CHECK(small->size() <= dns::kMaxUdpSize, "UDP answer of %zu bytes",
               small->size());
    FUZZ_CHECK(dns::Parse(*small).ok(), "truncated message does not parse");
  }
  return 0;
}
