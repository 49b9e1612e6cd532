#include "agent/dns/dns_message.h"

#include <gtest/gtest.h>

namespace kite::dns {
namespace {

// A query as dig sends it: id 0x1234, RD, one question, EDNS0 OPT (4096).
std::string DigQuery() {
  const unsigned char bytes[] = {0x12, 0x34, 0x01, 0x20, 0,   1,   0,
                                 0,    0,    0,    0,    1,  // header
                                 3,    'w',  'e',  'b',  7,   'd', 'e',
                                 'f',  'a',  'u',  'l',  't', 3,   's',
                                 'v',  'c',  7,    'c',  'l', 'u', 's',
                                 't',  'e',  'r',  5,    'l', 'o', 'c',
                                 'a',  'l',  0,    0,    1,   0,   1,  // A IN
                                 0,    0,    41,   0x10, 0,   0,   0,
                                 0,    0,    0,    0};  // OPT, size 4096
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

TEST(DnsMessage, ParsesAQueryWithEdns) {
  auto m = Parse(DigQuery());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->header.id, 0x1234);
  EXPECT_TRUE(m->header.rd);
  EXPECT_TRUE(m->header.ad);
  EXPECT_FALSE(m->header.qr);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].name, "web.default.svc.cluster.local");
  EXPECT_EQ(m->questions[0].type, kTypeA);
  EXPECT_EQ(m->EdnsUdpSize(), 4096);
  // Written back it is the same bytes.
  auto again = Serialize(*m);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, DigQuery());
}

TEST(DnsMessage, EveryRecordTypeRoundTripsWithCompression) {
  Message m;
  m.header.id = 7;
  m.header.qr = true;
  m.header.aa = true;
  m.questions.push_back({"Web.default.svc.cluster.local", kTypeA, kClassIn});
  m.answers.push_back(
      *AddressRecord("web.default.svc.cluster.local", 5, "10.43.0.17"));
  m.answers.push_back(
      *AddressRecord("web.default.svc.cluster.local", 5, "fd00::1"));
  m.answers.push_back(NameRecord(kTypeCname, "ext.default.svc.cluster.local", 5,
                                 "example.com"));
  m.answers.push_back(NameRecord(kTypePtr, "17.0.43.10.in-addr.arpa", 5,
                                 "web.default.svc.cluster.local"));
  m.answers.push_back(
      NameRecord(kTypeNs, "cluster.local", 5, "ns.dns.cluster.local"));
  Record srv;
  srv.name = "_http._tcp.web.default.svc.cluster.local";
  srv.type = kTypeSrv;
  srv.ttl = 5;
  srv.srv = {0, 100, 8080, "web.default.svc.cluster.local"};
  m.answers.push_back(srv);
  Record soa;
  soa.name = "cluster.local";
  soa.type = kTypeSoa;
  soa.ttl = 5;
  soa.soa = {"ns.dns.cluster.local",
             "hostmaster.cluster.local",
             1,
             7200,
             1800,
             86400,
             5};
  m.authority.push_back(soa);
  Record odd;  // an unknown type and a label with a dot and a space
  odd.name = "a\\046b\\032c.example";
  odd.type = 99;
  odd.raw = std::string("\x05hello", 6);
  m.additional.push_back(odd);

  auto wire = Serialize(m);
  ASSERT_TRUE(wire.ok()) << wire.status().ToString();
  auto back = Parse(*wire);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->questions, m.questions);
  ASSERT_EQ(back->answers.size(), m.answers.size());
  for (size_t i = 0; i < m.answers.size(); ++i) {
    const Record& a = back->answers[i];
    const Record& b = m.answers[i];
    EXPECT_EQ(a.name, b.name) << i;
    EXPECT_EQ(a.type, b.type) << i;
    EXPECT_EQ(a.target, b.target) << i;
    EXPECT_EQ(a.raw, b.raw) << i;
    EXPECT_EQ(a.srv, b.srv) << i;
    EXPECT_EQ(a, b) << i;
  }
  EXPECT_EQ(back->authority, m.authority);
  EXPECT_EQ(back->additional, m.additional);
  EXPECT_EQ(AddressText(back->answers[0]), "10.43.0.17");
  EXPECT_EQ(AddressText(back->answers[1]), "fd00::1");
  // Compression: shared suffixes are written once (byte for byte: the
  // question's "Web" label stays its own); later copies are pointers.
  // Uncompressed this would be far bigger.
  EXPECT_LT(wire->size(), 330u);
  size_t copies = 0;
  for (size_t p = wire->find("\x07"
                             "default");
       p != std::string::npos; p = wire->find("\x07"
                                              "default",
                                              p + 1)) {
    ++copies;
  }
  // Once in the question; the SRV target is uncompressed (RFC 2782).
  EXPECT_EQ(copies, 2u);
}

TEST(DnsMessage, RefusesPointerLoopsAndForwardPointers) {
  // Header with one question whose name is a pointer to itself.
  std::string self("\0\1\0\0\0\1\0\0\0\0\0\0\xC0\x0C\0\1\0\1", 18);
  EXPECT_FALSE(Parse(self).ok());
  // A pointer forward (to the byte after it).
  std::string fwd("\0\1\0\0\0\1\0\0\0\0\0\0\xC0\x0E\0\0\1\0\1", 19);
  EXPECT_FALSE(Parse(fwd).ok());
  // Two pointers pointing at each other through a record.
  std::string pair(
      "\0\1\0\0\0\2\0\0\0\0\0\0"
      "\x01"
      "a\xC0\x12\0\1\0\1"
      "\xC0\x0C\0\1\0\1",
      26);
  EXPECT_FALSE(Parse(pair).ok());
}

TEST(DnsMessage, RefusesTruncationAndBadLengths) {
  std::string q = DigQuery();
  for (size_t n = 0; n < q.size(); ++n) {
    EXPECT_FALSE(Parse(q.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(Parse(q + "x").ok());  // trailing garbage
  // An A record whose rdlength says 5.
  Message m;
  m.answers.push_back(*AddressRecord("x", 1, "1.2.3.4"));
  std::string wire = *Serialize(m);
  wire[wire.size() - 5] = 5;
  EXPECT_FALSE(Parse(wire + "z").ok());
  // Counts far above what the bytes can hold.
  std::string counts("\0\1\0\0\xFF\xFF\xFF\xFF\0\0\0\0", 12);
  EXPECT_FALSE(Parse(counts).ok());
  // A 64-byte label.
  std::string longlabel("\0\1\0\0\0\1\0\0\0\0\0\0", 12);
  longlabel += '\x40' + std::string(64, 'a') + std::string("\0\0\1\0\1", 5);
  EXPECT_FALSE(Parse(longlabel).ok());
}

TEST(DnsMessage, NamesOver255BytesAreRefusedBothWays) {
  std::string name;
  for (int i = 0; i < 5; ++i) name += std::string(60, 'a') + ".";
  name += "x";
  Message m;
  m.questions.push_back({name, kTypeA, kClassIn});
  EXPECT_FALSE(Serialize(m).ok());
  m.questions[0].name = std::string(64, 'a');
  EXPECT_FALSE(Serialize(m).ok());
  m.questions[0].name = "a..b";
  EXPECT_FALSE(Serialize(m).ok());
  m.questions[0].name = "bad\\9";
  EXPECT_FALSE(Serialize(m).ok());
}

TEST(DnsMessage, TruncatesToTheSizeLimitAndSetsTc) {
  Message m;
  m.header.qr = true;
  m.questions.push_back({"big.default.svc.cluster.local", kTypeA, kClassIn});
  for (int i = 0; i < 100; ++i) {
    m.answers.push_back(*AddressRecord("big.default.svc.cluster.local", 5,
                                       "10.42.0." + std::to_string(i)));
  }
  auto wire = Serialize(m, kMaxUdpSize);
  ASSERT_TRUE(wire.ok());
  EXPECT_LE(wire->size(), kMaxUdpSize);
  auto back = Parse(*wire);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->header.tc);
  EXPECT_GT(back->answers.size(), 10u);
  EXPECT_LT(back->answers.size(), 100u);
  // Without a limit, everything and no TC.
  auto full = Parse(*Serialize(m));
  ASSERT_TRUE(full.ok());
  EXPECT_FALSE(full->header.tc);
  EXPECT_EQ(full->answers.size(), 100u);
  // Dropped additional records do not set TC.
  Message extra;
  extra.header.qr = true;
  for (int i = 0; i < 100; ++i) {
    extra.additional.push_back(*AddressRecord("x.y", 5, "10.0.0.1"));
  }
  auto e = Parse(*Serialize(extra, kMaxUdpSize));
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->header.tc);
  EXPECT_LT(e->additional.size(), 100u);
}

// A message that arrives with TC already set (an upstream's truncated
// answer, forwarded) keeps its records and its TC bit through Serialize:
// dns_fuzz found the records dropped
// (tests/fuzz/corpus/dns/tc-set-aa-srv-additional.bin).
TEST(DnsMessage, ARecordsSurviveWhenTcIsAlreadySet) {
  Message m;
  m.header.aa = true;
  m.header.tc = true;
  m.questions.push_back({"web.default.svc.cluster.local", kTypeA, kClassIn});
  m.answers.push_back(
      *AddressRecord("web.default.svc.cluster.local", 5, "10.43.0.17"));
  Record srv;
  srv.name = "_http._tcp.web.default.svc.cluster.local";
  srv.type = kTypeSrv;
  srv.ttl = 5;
  srv.srv = {0, 100, 8080, "web.default.svc.cluster.local"};
  m.additional.push_back(srv);
  for (size_t limit : {size_t{65535}, kMaxUdpSize}) {
    auto wire = Serialize(m, limit);
    ASSERT_TRUE(wire.ok()) << wire.status().ToString();
    auto back = Parse(*wire);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(back->header.tc);
    EXPECT_EQ(back->questions, m.questions);
    EXPECT_EQ(back->answers, m.answers);
    EXPECT_EQ(back->additional, m.additional);
  }
}

TEST(DnsMessage, ReplyToCopiesIdQuestionAndFlags) {
  auto q = Parse(DigQuery());
  ASSERT_TRUE(q.ok());
  Message r = ReplyTo(*q, kNxDomain);
  EXPECT_EQ(r.header.id, 0x1234);
  EXPECT_TRUE(r.header.qr);
  EXPECT_TRUE(r.header.rd);
  EXPECT_EQ(r.header.rcode, kNxDomain);
  EXPECT_EQ(r.questions, q->questions);
  EXPECT_TRUE(EqualNames("Web.Default", "web.default"));
  EXPECT_EQ(LowerName("WeB"), "web");
}

}  // namespace
}  // namespace kite::dns
