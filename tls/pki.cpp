#include "tls/pki.h"

#include <arpa/inet.h>
#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/base64.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include <cstdio>
#include <cstring>
#include <mutex>

#include "tls/mbed_util.h"

namespace kite::tls {

namespace internal {

std::string MbedError(int ret) {
  char buf[160];
  mbedtls_strerror(ret, buf, sizeof(buf));
  char code[24];
  std::snprintf(code, sizeof(code), " (-0x%04x)", static_cast<unsigned>(-ret));
  return std::string(buf) + code;
}

Status Crt::Parse(const std::string& pem, const char* what) {
  if (pem.empty())
    return InvalidArgumentError(std::string(what) + ": empty certificate");
  // The PEM parser wants the terminating NUL counted in the length.
  int ret = mbedtls_x509_crt_parse(
      &c_, reinterpret_cast<const unsigned char*>(pem.c_str()), pem.size() + 1);
  if (ret != 0) {
    return InvalidArgumentError(
        std::string(what) + ": cannot parse certificate: " + MbedError(ret));
  }
  return Status::Ok();
}

Status Pk::ParsePrivate(const std::string& pem, const char* what) {
  if (pem.empty())
    return InvalidArgumentError(std::string(what) + ": empty private key");
  int ret = mbedtls_pk_parse_key(
      &k_, reinterpret_cast<const unsigned char*>(pem.c_str()), pem.size() + 1,
      nullptr, 0);
  if (ret != 0) {
    return InvalidArgumentError(
        std::string(what) + ": cannot parse private key: " + MbedError(ret));
  }
  return Status::Ok();
}

}  // namespace internal

using internal::Crt;
using internal::Csr;
using internal::MbedError;
using internal::Pk;

// ---------------------------------------------------------------- Random

struct Random::State {
  std::mutex mu;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
};

Random::Random() : state_(std::make_unique<State>()) {
  mbedtls_entropy_init(&state_->entropy);
  mbedtls_ctr_drbg_init(&state_->drbg);
}

Random::~Random() {
  mbedtls_ctr_drbg_free(&state_->drbg);
  mbedtls_entropy_free(&state_->entropy);
}

StatusOr<std::unique_ptr<Random>> Random::Create() {
  std::unique_ptr<Random> r(new Random());
  static constexpr unsigned char kPersonalization[] = "kite-tls";
  int ret = mbedtls_ctr_drbg_seed(&r->state_->drbg, mbedtls_entropy_func,
                                  &r->state_->entropy, kPersonalization,
                                  sizeof(kPersonalization) - 1);
  if (ret != 0)
    return UnavailableError("seeding the random generator: " + MbedError(ret));
  // Reseeds from entropy now and then; the default interval is fine.
  mbedtls_ctr_drbg_set_prediction_resistance(&r->state_->drbg,
                                             MBEDTLS_CTR_DRBG_PR_OFF);
  return r;
}

int Random::Generate(void* self, unsigned char* out, size_t len) {
  auto* r = static_cast<Random*>(self);
  std::lock_guard<std::mutex> lock(r->state_->mu);
  // mbedtls_ctr_drbg_random caps one request; loop for large ones.
  while (len > 0) {
    size_t n =
        len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;
    int ret = mbedtls_ctr_drbg_random(&r->state_->drbg, out, n);
    if (ret != 0) return ret;
    out += n;
    len -= n;
  }
  return 0;
}

StatusOr<std::string> Random::Bytes(size_t n) {
  std::string out(n, '\0');
  int ret = Generate(this, reinterpret_cast<unsigned char*>(out.data()), n);
  if (ret != 0) return InternalError("random generator: " + MbedError(ret));
  return out;
}

namespace {

// ---------------------------------------------------------------- helpers

constexpr size_t kMaxNameBytes = 64;  // ub-common-name / ub-organization-name
constexpr size_t kMaxSans = 256;

// "YYYYMMDDhhmmss" in UTC, what mbedtls_x509write_crt_set_validity wants.
// Calendar arithmetic in std::chrono, so 32-bit time_t (armhf) cannot wrap.
std::string X509TimeString(Clock::WallTime t) {
  using namespace std::chrono;
  auto secs = floor<seconds>(t);
  auto day = floor<days>(secs);
  year_month_day ymd{day};
  hh_mm_ss<seconds> hms{secs - day};
  char buf[32];
  std::snprintf(
      buf, sizeof(buf), "%04d%02u%02u%02d%02d%02d",
      static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
      static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
      static_cast<int>(hms.minutes().count()),
      static_cast<int>(hms.seconds().count()));
  return buf;
}

Clock::WallTime FromX509Time(const mbedtls_x509_time& t) {
  using namespace std::chrono;
  sys_days day =
      year_month_day{year{t.year}, month{static_cast<unsigned>(t.mon)},
                     std::chrono::day{static_cast<unsigned>(t.day)}};
  return Clock::WallTime(duration_cast<Clock::WallTime::duration>(
      day.time_since_epoch() + hours{t.hour} + minutes{t.min} +
      seconds{t.sec}));
}

std::string BufToString(const mbedtls_x509_buf& b) {
  return std::string(reinterpret_cast<const char*>(b.p), b.len);
}

bool OidIs(const mbedtls_x509_buf& oid, const char* want, size_t want_len) {
  return oid.len == want_len && std::memcmp(oid.p, want, want_len) == 0;
}
#define KITE_OID_IS(buf, OID) OidIs((buf), OID, MBEDTLS_OID_SIZE(OID))

std::string HexOf(const unsigned char* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

Status CheckNameValue(const std::string& v, const char* what) {
  if (v.empty())
    return InvalidArgumentError(std::string(what) + " must not be empty");
  if (v.size() > kMaxNameBytes) {
    return InvalidArgumentError(std::string(what) +
                                " is longer than 64 bytes: " + v);
  }
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) {
      return InvalidArgumentError(std::string(what) +
                                  " holds a control character");
    }
  }
  return Status::Ok();
}

Status CheckDnsName(const std::string& n) {
  if (n.empty() || n.size() > 253)
    return InvalidArgumentError("bad DNS name: '" + n + "'");
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '*' ||
              c == '_';
    if (!ok) return InvalidArgumentError("bad DNS name: '" + n + "'");
  }
  return Status::Ok();
}

// The 4 or 16 bytes of a textual IP address.
StatusOr<std::string> IpBytes(const std::string& ip) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1)
    return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) {
    return std::string(reinterpret_cast<char*>(buf), 16);
  }
  return InvalidArgumentError("bad IP address: '" + ip + "'");
}

std::string IpText(const unsigned char* p, size_t n) {
  char buf[INET6_ADDRSTRLEN];
  if (n == 4 && inet_ntop(AF_INET, p, buf, sizeof(buf))) return buf;
  if (n == 16 && inet_ntop(AF_INET6, p, buf, sizeof(buf))) return buf;
  return "?" + HexOf(p, n);
}

// Builds a distinguished name as mbedTLS's writer wants it: a list whose
// head is written last. mbedtls_x509_string_to_names keeps only one value per
// attribute type, so several O (groups) need the list built by hand. Nodes
// come from mbedtls_asn1_store_named_data so the writer's free() matches.
class NameList {
 public:
  ~NameList() { mbedtls_asn1_free_named_data_list(&head_); }
  // Appends an attribute; DER order is the order of Add calls.
  Status Add(const char* oid, size_t oid_len, const std::string& value,
             int tag = MBEDTLS_ASN1_UTF8_STRING) {
    mbedtls_asn1_named_data* node = nullptr;
    if (mbedtls_asn1_store_named_data(
            &node, oid, oid_len,
            reinterpret_cast<const unsigned char*>(value.data()),
            value.size()) == nullptr) {
      return ResourceExhaustedError("out of memory building a name");
    }
    node->val.tag = tag;
    node->next = head_;
    head_ = node;
    return Status::Ok();
  }
  // Gives the list away (to a writer context that frees it).
  mbedtls_asn1_named_data* Release() {
    auto* h = head_;
    head_ = nullptr;
    return h;
  }

 private:
  mbedtls_asn1_named_data* head_ = nullptr;
};

// Subject "O=g1, O=g2, CN=name": Go's order (pkix.Name puts O before CN).
Status BuildSubject(const std::string& cn, const std::vector<std::string>& orgs,
                    NameList* out) {
  KITE_RETURN_IF_ERROR(CheckNameValue(cn, "common name"));
  for (const auto& o : orgs) {
    KITE_RETURN_IF_ERROR(CheckNameValue(o, "organization"));
    KITE_RETURN_IF_ERROR(out->Add(MBEDTLS_OID_AT_ORGANIZATION,
                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORGANIZATION),
                                  o));
  }
  return out->Add(MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN), cn);
}

// A copy of a parsed name (the CA's subject), so a leaf's issuer is the
// same attributes in the same order and encoding. Go links a certificate to
// its issuer by comparing these bytes.
Status CopyName(const mbedtls_x509_name* name, mbedtls_asn1_named_data** out) {
  NameList list;
  // The parsed list is in DER order; Add keeps the order of its calls.
  for (const mbedtls_x509_name* n = name; n != nullptr; n = n->next) {
    if (n->oid.p == nullptr) continue;
    KITE_RETURN_IF_ERROR(list.Add(reinterpret_cast<const char*>(n->oid.p),
                                  n->oid.len, BufToString(n->val), n->val.tag));
  }
  *out = list.Release();
  return Status::Ok();
}

// DER of subjectAltName: SEQUENCE OF GeneralName, dNSName [2] and iPAddress
// [7].
StatusOr<std::string> SanDer(const std::vector<std::string>& dns,
                             const std::vector<std::string>& ips) {
  if (dns.size() + ips.size() > kMaxSans)
    return InvalidArgumentError("too many subjectAltNames");
  std::vector<std::string> ip_bytes;
  size_t cap = 16;
  for (const auto& d : dns) {
    KITE_RETURN_IF_ERROR(CheckDnsName(d));
    cap += d.size() + 8;
  }
  for (const auto& ip : ips) {
    KITE_ASSIGN_OR_RETURN(std::string b, IpBytes(ip));
    ip_bytes.push_back(std::move(b));
    cap += 24;
  }
  std::vector<unsigned char> buf(cap);
  unsigned char* start = buf.data();
  unsigned char* p = start + buf.size();
  size_t len = 0;
  int ret = 0;
#define KITE_ASN1(expr)                                                      \
  do {                                                                       \
    if ((ret = (expr)) < 0) return InternalError("asn1: " + MbedError(ret)); \
    len += static_cast<size_t>(ret);                                         \
  } while (0)
  // Written back to front.
  for (size_t i = ip_bytes.size(); i-- > 0;) {
    const std::string& b = ip_bytes[i];
    KITE_ASN1(mbedtls_asn1_write_raw_buffer(
        &p, start, reinterpret_cast<const unsigned char*>(b.data()), b.size()));
    KITE_ASN1(mbedtls_asn1_write_len(&p, start, b.size()));
    KITE_ASN1(
        mbedtls_asn1_write_tag(&p, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7));
  }
  for (size_t i = dns.size(); i-- > 0;) {
    const std::string& d = dns[i];
    KITE_ASN1(mbedtls_asn1_write_raw_buffer(
        &p, start, reinterpret_cast<const unsigned char*>(d.data()), d.size()));
    KITE_ASN1(mbedtls_asn1_write_len(&p, start, d.size()));
    KITE_ASN1(
        mbedtls_asn1_write_tag(&p, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2));
  }
  KITE_ASN1(mbedtls_asn1_write_len(&p, start, len));
  KITE_ASN1(mbedtls_asn1_write_tag(
      &p, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  return std::string(reinterpret_cast<const char*>(p), len);
}

// DER of extendedKeyUsage: SEQUENCE OF KeyPurposeId.
StatusOr<std::string> EkuDer(bool server_auth, bool client_auth) {
  unsigned char buf[64];
  unsigned char* start = buf;
  unsigned char* p = buf + sizeof(buf);
  size_t len = 0;
  int ret = 0;
  if (client_auth) {
    KITE_ASN1(
        mbedtls_asn1_write_oid(&p, start, MBEDTLS_OID_CLIENT_AUTH,
                               MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
  }
  if (server_auth) {
    KITE_ASN1(
        mbedtls_asn1_write_oid(&p, start, MBEDTLS_OID_SERVER_AUTH,
                               MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
  }
  KITE_ASN1(mbedtls_asn1_write_len(&p, start, len));
  KITE_ASN1(mbedtls_asn1_write_tag(
      &p, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
#undef KITE_ASN1
  return std::string(reinterpret_cast<const char*>(p), len);
}

// A random positive 128-bit serial.
Status RandomSerial(Random& random, mbedtls_mpi* serial) {
  KITE_ASSIGN_OR_RETURN(std::string b, random.Bytes(16));
  b[0] = static_cast<char>((static_cast<unsigned char>(b[0]) & 0x7f) | 0x40);
  int ret = mbedtls_mpi_read_binary(
      serial, reinterpret_cast<const unsigned char*>(b.data()), b.size());
  if (ret != 0) return InternalError("serial: " + MbedError(ret));
  return Status::Ok();
}

class CrtWriter {
 public:
  CrtWriter() {
    mbedtls_x509write_crt_init(&w_);
    mbedtls_mpi_init(&serial_);
  }
  ~CrtWriter() {
    mbedtls_x509write_crt_free(&w_);
    mbedtls_mpi_free(&serial_);
  }
  mbedtls_x509write_cert* get() { return &w_; }
  mbedtls_mpi* serial() { return &serial_; }

 private:
  mbedtls_x509write_cert w_;
  mbedtls_mpi serial_;
};

#define KITE_MBED(expr, what)                                                \
  do {                                                                       \
    int _kite_ret = (expr);                                                  \
    if (_kite_ret != 0)                                                      \
      return InternalError(std::string(what) + ": " + MbedError(_kite_ret)); \
  } while (0)

struct Issuer {
  mbedtls_pk_context* key;        // signs
  const mbedtls_x509_name* name;  // null: self-signed (issuer = subject)
};

// Writes and signs one certificate.
StatusOr<std::string> WriteCert(Random& random, mbedtls_pk_context* subject_key,
                                const Issuer& issuer, const CertSpec& spec,
                                bool is_ca) {
  if (!(spec.not_after > spec.not_before)) {
    return InvalidArgumentError("not_after must be after not_before");
  }
  CrtWriter w;
  mbedtls_x509write_cert* c = w.get();
  mbedtls_x509write_crt_set_version(c, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(c, MBEDTLS_MD_SHA256);
  KITE_RETURN_IF_ERROR(RandomSerial(random, w.serial()));
  KITE_MBED(mbedtls_x509write_crt_set_serial(c, w.serial()), "serial");
  KITE_MBED(mbedtls_x509write_crt_set_validity(
                c, X509TimeString(spec.not_before).c_str(),
                X509TimeString(spec.not_after).c_str()),
            "validity");

  NameList subject;
  KITE_RETURN_IF_ERROR(
      BuildSubject(spec.common_name, spec.organizations, &subject));
  if (issuer.name == nullptr) {
    // Self-signed: the issuer is the subject, built the same way.
    NameList same;
    KITE_RETURN_IF_ERROR(
        BuildSubject(spec.common_name, spec.organizations, &same));
    c->issuer = same.Release();
  } else {
    KITE_RETURN_IF_ERROR(CopyName(issuer.name, &c->issuer));
  }
  c->subject = subject.Release();

  mbedtls_x509write_crt_set_subject_key(c, subject_key);
  mbedtls_x509write_crt_set_issuer_key(c, issuer.key);
  KITE_MBED(mbedtls_x509write_crt_set_basic_constraints(c, is_ca ? 1 : 0,
                                                        is_ca ? -1 : 0),
            "basicConstraints");
  KITE_MBED(mbedtls_x509write_crt_set_subject_key_identifier(c),
            "subjectKeyIdentifier");
  if (issuer.name != nullptr) {
    KITE_MBED(mbedtls_x509write_crt_set_authority_key_identifier(c),
              "authorityKeyIdentifier");
  }
  unsigned int ku = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
  if (is_ca) ku |= MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN;
  KITE_MBED(mbedtls_x509write_crt_set_key_usage(c, ku), "keyUsage");

  if (!spec.dns_names.empty() || !spec.ip_addresses.empty()) {
    KITE_ASSIGN_OR_RETURN(std::string san,
                          SanDer(spec.dns_names, spec.ip_addresses));
    KITE_MBED(
        mbedtls_x509write_crt_set_extension(
            c, MBEDTLS_OID_SUBJECT_ALT_NAME,
            MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
            reinterpret_cast<const unsigned char*>(san.data()), san.size()),
        "subjectAltName");
  }
  if (spec.server_auth || spec.client_auth) {
    KITE_ASSIGN_OR_RETURN(std::string eku,
                          EkuDer(spec.server_auth, spec.client_auth));
    KITE_MBED(
        mbedtls_x509write_crt_set_extension(
            c, MBEDTLS_OID_EXTENDED_KEY_USAGE,
            MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
            reinterpret_cast<const unsigned char*>(eku.data()), eku.size()),
        "extendedKeyUsage");
  }

  std::vector<unsigned char> out(16384);
  KITE_MBED(mbedtls_x509write_crt_pem(c, out.data(), out.size(),
                                      Random::Generate, &random),
            "writing certificate");
  return std::string(reinterpret_cast<const char*>(out.data()));
}

StatusOr<std::string> KeyToPem(mbedtls_pk_context* key) {
  unsigned char buf[1024];
  KITE_MBED(mbedtls_pk_write_key_pem(key, buf, sizeof(buf)), "writing key");
  return std::string(reinterpret_cast<const char*>(buf));
}

Status GenerateInto(Random& random, mbedtls_pk_context* pk) {
  KITE_MBED(mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)),
            "pk setup");
  KITE_MBED(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk),
                                Random::Generate, &random),
            "generating EC key");
  return Status::Ok();
}

// The parsed CA, checked to be usable for signing.
Status LoadCa(const CertAndKey& ca, Crt* crt, Pk* key) {
  KITE_RETURN_IF_ERROR(crt->Parse(ca.cert_pem, "CA"));
  KITE_RETURN_IF_ERROR(key->ParsePrivate(ca.key_pem, "CA"));
  if (!crt->get()->ca_istrue)
    return InvalidArgumentError("CA: certificate is not a CA");
  if (mbedtls_pk_check_pair(&crt->get()->pk, key->get()) != 0) {
    return InvalidArgumentError(
        "CA: the key does not belong to the certificate");
  }
  return Status::Ok();
}

Status CheckLeafSpec(const CertSpec& spec) {
  if (!spec.server_auth && !spec.client_auth) {
    return InvalidArgumentError(
        "a leaf certificate needs serverAuth or clientAuth");
  }
  return Status::Ok();
}

}  // namespace

namespace internal {

// Walks the raw extensions of `crt` for subjectAltName and collects dNSName
// and iPAddress entries (mbedTLS 2.28 lists only dNSName itself).
void ReadSans(const mbedtls_x509_crt* crt, std::vector<std::string>* dns,
              std::vector<std::string>* ips) {
  if (crt->v3_ext.p == nullptr || crt->v3_ext.len == 0) return;
  unsigned char* p = crt->v3_ext.p;
  unsigned char* end = p + crt->v3_ext.len;
  size_t len = 0;
  // v3_ext may start at the [3] wrapper or at the SEQUENCE inside it.
  if (*p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3)) {
    if (mbedtls_asn1_get_tag(&p, end, &len, *p) != 0) return;
    end = p + len;
  }
  if (mbedtls_asn1_get_tag(&p, end, &len,
                           MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
      0) {
    return;
  }
  end = p + len;
  while (p < end) {
    size_t ext_len = 0;
    if (mbedtls_asn1_get_tag(
            &p, end, &ext_len,
            MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
      return;
    }
    unsigned char* ext_end = p + ext_len;
    mbedtls_x509_buf oid;
    oid.tag = MBEDTLS_ASN1_OID;
    if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID) != 0)
      return;
    oid.p = p;
    p += oid.len;
    int critical = 0;
    if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN) {
      if (mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0) return;
    }
    size_t val_len = 0;
    if (mbedtls_asn1_get_tag(&p, ext_end, &val_len,
                             MBEDTLS_ASN1_OCTET_STRING) != 0)
      return;
    if (OidIs(oid, MBEDTLS_OID_SUBJECT_ALT_NAME,
              MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME))) {
      unsigned char* q = p;
      unsigned char* q_end = p + val_len;
      size_t seq_len = 0;
      if (mbedtls_asn1_get_tag(
              &q, q_end, &seq_len,
              MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
        return;
      }
      q_end = q + seq_len;
      while (q < q_end) {
        int tag = *q++;
        size_t n = 0;
        if (mbedtls_asn1_get_len(&q, q_end, &n) != 0) return;
        if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
          dns->emplace_back(reinterpret_cast<const char*>(q), n);
        } else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)) {
          ips->push_back(IpText(q, n));
        }
        q += n;
      }
    }
    p = ext_end;
  }
}

void ReadSubject(const mbedtls_x509_crt* crt, std::string* cn,
                 std::vector<std::string>* orgs) {
  for (const mbedtls_x509_name* n = &crt->subject; n != nullptr; n = n->next) {
    if (n->oid.p == nullptr) continue;
    if (KITE_OID_IS(n->oid, MBEDTLS_OID_AT_CN)) *cn = BufToString(n->val);
    if (KITE_OID_IS(n->oid, MBEDTLS_OID_AT_ORGANIZATION))
      orgs->push_back(BufToString(n->val));
  }
}

}  // namespace internal

using internal::ReadSans;
using internal::ReadSubject;

// ---------------------------------------------------------------- API

StatusOr<std::string> GenerateKey(Random& random) {
  Pk pk;
  KITE_RETURN_IF_ERROR(GenerateInto(random, pk.get()));
  return KeyToPem(pk.get());
}

StatusOr<CertAndKey> CreateCa(Random& random, const std::string& common_name,
                              Clock::WallTime now,
                              std::chrono::seconds validity) {
  if (validity <= std::chrono::seconds(0))
    return InvalidArgumentError("CA validity must be > 0");
  Pk key;
  KITE_RETURN_IF_ERROR(GenerateInto(random, key.get()));
  CertSpec spec;
  spec.common_name = common_name;
  spec.not_before = now - kBackdate;
  spec.not_after = now + validity;
  CertAndKey out;
  KITE_ASSIGN_OR_RETURN(
      out.cert_pem,
      WriteCert(random, key.get(), Issuer{key.get(), nullptr}, spec, true));
  KITE_ASSIGN_OR_RETURN(out.key_pem, KeyToPem(key.get()));
  return out;
}

StatusOr<CertAndKey> IssueCert(Random& random, const CertAndKey& ca,
                               const CertSpec& spec) {
  KITE_RETURN_IF_ERROR(CheckLeafSpec(spec));
  Crt ca_crt;
  Pk ca_key;
  KITE_RETURN_IF_ERROR(LoadCa(ca, &ca_crt, &ca_key));
  Pk key;
  KITE_RETURN_IF_ERROR(GenerateInto(random, key.get()));
  CertAndKey out;
  KITE_ASSIGN_OR_RETURN(
      out.cert_pem,
      WriteCert(random, key.get(), Issuer{ca_key.get(), &ca_crt.get()->subject},
                spec, false));
  KITE_ASSIGN_OR_RETURN(out.key_pem, KeyToPem(key.get()));
  return out;
}

StatusOr<std::string> IssueCertForKey(Random& random, const CertAndKey& ca,
                                      const std::string& key_pem,
                                      const CertSpec& spec) {
  KITE_RETURN_IF_ERROR(CheckLeafSpec(spec));
  Crt ca_crt;
  Pk ca_key;
  KITE_RETURN_IF_ERROR(LoadCa(ca, &ca_crt, &ca_key));
  Pk key;
  KITE_RETURN_IF_ERROR(key.ParsePrivate(key_pem, "leaf"));
  return WriteCert(random, key.get(),
                   Issuer{ca_key.get(), &ca_crt.get()->subject}, spec, false);
}

StatusOr<std::string> CreateCsr(Random& random, const std::string& key_pem,
                                const CsrInfo& subject) {
  Pk key;
  KITE_RETURN_IF_ERROR(key.ParsePrivate(key_pem, "CSR"));
  NameList names;
  KITE_RETURN_IF_ERROR(
      BuildSubject(subject.common_name, subject.organizations, &names));
  mbedtls_x509write_csr w;
  mbedtls_x509write_csr_init(&w);
  w.subject = names.Release();
  mbedtls_x509write_csr_set_key(&w, key.get());
  mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
  if (!subject.dns_names.empty() || !subject.ip_addresses.empty()) {
    auto san = SanDer(subject.dns_names, subject.ip_addresses);
    if (!san.ok()) {
      mbedtls_x509write_csr_free(&w);
      return san.status();
    }
    int ret = mbedtls_x509write_csr_set_extension(
        &w, MBEDTLS_OID_SUBJECT_ALT_NAME,
        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
        reinterpret_cast<const unsigned char*>(san->data()), san->size());
    if (ret != 0) {
      mbedtls_x509write_csr_free(&w);
      return InternalError("CSR subjectAltName: " + MbedError(ret));
    }
  }
  std::vector<unsigned char> out(4096);
  int ret = mbedtls_x509write_csr_pem(&w, out.data(), out.size(),
                                      Random::Generate, &random);
  mbedtls_x509write_csr_free(&w);
  if (ret != 0) return InternalError("writing CSR: " + MbedError(ret));
  return std::string(reinterpret_cast<const char*>(out.data()));
}

namespace {

Status ParseAndCheckCsr(const std::string& csr_pem, Csr* csr) {
  if (csr_pem.empty()) return InvalidArgumentError("empty CSR");
  int ret = mbedtls_x509_csr_parse(
      csr->get(), reinterpret_cast<const unsigned char*>(csr_pem.c_str()),
      csr_pem.size() + 1);
  if (ret != 0)
    return InvalidArgumentError("cannot parse CSR: " + MbedError(ret));
  mbedtls_x509_csr* c = csr->get();
  const mbedtls_md_info_t* md = mbedtls_md_info_from_type(c->sig_md);
  if (md == nullptr)
    return InvalidArgumentError("CSR: unsupported signature hash");
  unsigned char hash[MBEDTLS_MD_MAX_SIZE];
  KITE_MBED(mbedtls_md(md, c->cri.p, c->cri.len, hash), "hashing CSR");
  ret = mbedtls_pk_verify_ext(c->sig_pk, c->sig_opts, &c->pk, c->sig_md, hash,
                              mbedtls_md_get_size(md), c->sig.p, c->sig.len);
  if (ret != 0)
    return InvalidArgumentError("CSR: bad self-signature: " + MbedError(ret));
  return Status::Ok();
}

// Reads the subjectAltName of a CSR's extensionRequest attribute from the
// raw CertificationRequestInfo (mbedTLS 2.28 does not parse CSR extensions).
Status ReadCsrSans(const mbedtls_x509_buf& cri, CsrInfo* info) {
  unsigned char* p = cri.p;
  const unsigned char* end = cri.p + cri.len;
  size_t len = 0;
  auto bad = [] { return InvalidArgumentError("CSR: malformed attributes"); };
  constexpr int kSeq = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
  constexpr int kSet = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET;
  if (mbedtls_asn1_get_tag(&p, end, &len, kSeq) != 0) return bad();
  end = p + len;
  // version, subject, subjectPKInfo
  for (int tag : {MBEDTLS_ASN1_INTEGER, kSeq, kSeq}) {
    if (mbedtls_asn1_get_tag(&p, end, &len, tag) != 0) return bad();
    p += len;
  }
  if (p >= end) return Status::Ok();
  if (mbedtls_asn1_get_tag(
          &p, end, &len,
          MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0) != 0) {
    return bad();
  }
  const unsigned char* attrs_end = p + len;
  while (p < attrs_end) {
    if (mbedtls_asn1_get_tag(&p, attrs_end, &len, kSeq) != 0) return bad();
    const unsigned char* attr_end = p + len;
    mbedtls_x509_buf oid{};
    if (mbedtls_asn1_get_tag(&p, attr_end, &oid.len, MBEDTLS_ASN1_OID) != 0)
      return bad();
    oid.p = p;
    p += oid.len;
    if (!KITE_OID_IS(oid, MBEDTLS_OID_PKCS9_CSR_EXT_REQ)) {
      p = const_cast<unsigned char*>(attr_end);
      continue;
    }
    if (mbedtls_asn1_get_tag(&p, attr_end, &len, kSet) != 0) return bad();
    if (mbedtls_asn1_get_tag(&p, attr_end, &len, kSeq) != 0) return bad();
    const unsigned char* exts_end = p + len;
    while (p < exts_end) {
      if (mbedtls_asn1_get_tag(&p, exts_end, &len, kSeq) != 0) return bad();
      const unsigned char* ext_end = p + len;
      mbedtls_x509_buf ext_oid{};
      if (mbedtls_asn1_get_tag(&p, ext_end, &ext_oid.len, MBEDTLS_ASN1_OID) !=
          0)
        return bad();
      ext_oid.p = p;
      p += ext_oid.len;
      if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN) {
        if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_BOOLEAN) != 0)
          return bad();
        p += len;
      }
      if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) !=
          0)
        return bad();
      if (KITE_OID_IS(ext_oid, MBEDTLS_OID_SUBJECT_ALT_NAME)) {
        unsigned char* q = p;
        const unsigned char* q_end = p + len;
        size_t names_len = 0;
        if (mbedtls_asn1_get_tag(&q, q_end, &names_len, kSeq) != 0)
          return bad();
        const unsigned char* names_end = q + names_len;
        while (q < names_end) {
          unsigned char tag = *q++;
          size_t n = 0;
          if (mbedtls_asn1_get_len(&q, names_end, &n) != 0) return bad();
          if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
            info->dns_names.emplace_back(reinterpret_cast<const char*>(q), n);
          } else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)) {
            if (n != 4 && n != 16) return bad();
            info->ip_addresses.push_back(IpText(q, n));
          }
          q += n;
        }
      }
      p = const_cast<unsigned char*>(ext_end);
    }
    p = const_cast<unsigned char*>(attr_end);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<CsrInfo> ParseCsr(const std::string& csr_pem) {
  Csr csr;
  KITE_RETURN_IF_ERROR(ParseAndCheckCsr(csr_pem, &csr));
  CsrInfo info;
  for (const mbedtls_x509_name* n = &csr.get()->subject; n != nullptr;
       n = n->next) {
    if (KITE_OID_IS(n->oid, MBEDTLS_OID_AT_CN))
      info.common_name = BufToString(n->val);
    if (KITE_OID_IS(n->oid, MBEDTLS_OID_AT_ORGANIZATION)) {
      info.organizations.push_back(BufToString(n->val));
    }
  }
  KITE_RETURN_IF_ERROR(ReadCsrSans(csr.get()->cri, &info));
  return info;
}

StatusOr<std::string> SignCsr(Random& random, const CertAndKey& ca,
                              const std::string& csr_pem,
                              const CertSpec& spec) {
  KITE_RETURN_IF_ERROR(CheckLeafSpec(spec));
  Csr csr;
  KITE_RETURN_IF_ERROR(ParseAndCheckCsr(csr_pem, &csr));
  Crt ca_crt;
  Pk ca_key;
  KITE_RETURN_IF_ERROR(LoadCa(ca, &ca_crt, &ca_key));
  return WriteCert(random, &csr.get()->pk,
                   Issuer{ca_key.get(), &ca_crt.get()->subject}, spec, false);
}

StatusOr<CertInfo> ParseCert(const std::string& cert_pem) {
  Crt crt;
  KITE_RETURN_IF_ERROR(crt.Parse(cert_pem, "certificate"));
  const mbedtls_x509_crt* c = crt.get();
  CertInfo info;
  ReadSubject(c, &info.common_name, &info.organizations);
  for (const mbedtls_x509_name* n = &c->issuer; n != nullptr; n = n->next) {
    if (n->oid.p != nullptr && KITE_OID_IS(n->oid, MBEDTLS_OID_AT_CN)) {
      info.issuer_common_name = BufToString(n->val);
    }
  }
  char buf[1024];
  if (mbedtls_x509_dn_gets(buf, sizeof(buf), &c->subject) > 0)
    info.subject = buf;
  if (mbedtls_x509_dn_gets(buf, sizeof(buf), &c->issuer) > 0) info.issuer = buf;
  ReadSans(c, &info.dns_names, &info.ip_addresses);
  info.not_before = FromX509Time(c->valid_from);
  info.not_after = FromX509Time(c->valid_to);
  info.is_ca = c->ca_istrue != 0;
  for (const mbedtls_x509_sequence* s = &c->ext_key_usage; s != nullptr;
       s = s->next) {
    if (s->buf.p == nullptr) continue;
    if (KITE_OID_IS(s->buf, MBEDTLS_OID_SERVER_AUTH)) info.server_auth = true;
    if (KITE_OID_IS(s->buf, MBEDTLS_OID_CLIENT_AUTH)) info.client_auth = true;
  }
  info.serial_hex = HexOf(c->serial.p, c->serial.len);
  return info;
}

namespace {

struct VerifyTime {
  Clock::WallTime now;
};

// Replaces mbedTLS's own expiry check (against the system clock) with one
// against the time the caller passed in.
int VerifyAtTime(void* ctx, mbedtls_x509_crt* crt, int /*depth*/,
                 uint32_t* flags) {
  const auto* vt = static_cast<const VerifyTime*>(ctx);
  *flags &= ~static_cast<uint32_t>(MBEDTLS_X509_BADCERT_EXPIRED |
                                   MBEDTLS_X509_BADCERT_FUTURE);
  if (vt->now > FromX509Time(crt->valid_to))
    *flags |= MBEDTLS_X509_BADCERT_EXPIRED;
  if (vt->now < FromX509Time(crt->valid_from))
    *flags |= MBEDTLS_X509_BADCERT_FUTURE;
  return 0;
}

}  // namespace

Status VerifyCert(const std::string& cert_pem, const std::string& ca_pem,
                  Clock::WallTime now, Usage usage) {
  Crt crt;
  KITE_RETURN_IF_ERROR(crt.Parse(cert_pem, "certificate"));
  Crt ca;
  KITE_RETURN_IF_ERROR(ca.Parse(ca_pem, "CA bundle"));
  uint32_t flags = 0;
  VerifyTime vt{now};
  int ret = mbedtls_x509_crt_verify(crt.get(), ca.get(), nullptr, nullptr,
                                    &flags, VerifyAtTime, &vt);
  if (ret != 0 && ret != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
    return Status(Code::kPermissionDenied,
                  "certificate verification failed: " + MbedError(ret));
  }
  if (flags != 0) {
    char info[512];
    int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
    std::string why =
        n > 0 ? std::string(info, static_cast<size_t>(n)) : "unknown reason";
    while (!why.empty() && why.back() == '\n') why.pop_back();
    for (char& ch : why) {
      if (ch == '\n') ch = ';';
    }
    return Status(Code::kPermissionDenied, "certificate not trusted: " + why);
  }
  if (usage == Usage::kServerAuth &&
      mbedtls_x509_crt_check_extended_key_usage(
          crt.get(), MBEDTLS_OID_SERVER_AUTH,
          MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0) {
    return Status(Code::kPermissionDenied, "certificate is not for serverAuth");
  }
  if (usage == Usage::kClientAuth &&
      mbedtls_x509_crt_check_extended_key_usage(
          crt.get(), MBEDTLS_OID_CLIENT_AUTH,
          MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0) {
    return Status(Code::kPermissionDenied, "certificate is not for clientAuth");
  }
  return Status::Ok();
}

StatusOr<std::string> CertSha256(const std::string& cert_pem) {
  Crt crt;
  KITE_RETURN_IF_ERROR(crt.Parse(cert_pem, "certificate"));
  unsigned char hash[32];
  KITE_MBED(mbedtls_sha256_ret(crt.get()->raw.p, crt.get()->raw.len, hash, 0),
            "sha256");
  return HexOf(hash, sizeof(hash));
}

bool KeyMatchesCert(const std::string& cert_pem, const std::string& key_pem) {
  Crt crt;
  Pk key;
  if (!crt.Parse(cert_pem, "certificate").ok() ||
      !key.ParsePrivate(key_pem, "key").ok()) {
    return false;
  }
  return mbedtls_pk_check_pair(&crt.get()->pk, key.get()) == 0;
}

std::string Base64Encode(const std::string& data) {
  size_t olen = 0;
  mbedtls_base64_encode(nullptr, 0, &olen,
                        reinterpret_cast<const unsigned char*>(data.data()),
                        data.size());
  std::string out(olen, '\0');
  if (mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()),
                            out.size(), &olen,
                            reinterpret_cast<const unsigned char*>(data.data()),
                            data.size()) != 0) {
    return std::string();
  }
  out.resize(olen);
  return out;
}

}  // namespace kite::tls
