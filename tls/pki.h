// pki: kite's certificates, on mbedTLS 2.28.
//
// Everything a Kubernetes cluster needs from X.509: EC P-256 keys, a
// self-signed CA, leaf certificates for serving (serverAuth, DNS and IP
// subjectAltNames) and for clients (clientAuth; CN = user, O = groups),
// certificate signing requests and their signing (node join), parsing,
// chain verification and the CA fingerprint that join tokens carry.
// Certificates and keys travel as PEM strings; keys are SEC1 "EC PRIVATE KEY".
//
// Time is always passed in (Clock::WallTime), never read here, so tests can
// make expired or not-yet-valid certificates and check them hermetically.
//
// Thread safety: Random is safe to share between threads; every free function
// is reentrant (each call builds its own mbedTLS objects).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace kite::tls {

// A CTR-DRBG seeded from the system's entropy source: the only source of
// randomness for keys, serials and TLS sessions in kite.
class Random {
 public:
  // Unavailable when the entropy source cannot seed the generator.
  static StatusOr<std::unique_ptr<Random>> Create();
  ~Random();
  Random(const Random&) = delete;
  Random& operator=(const Random&) = delete;

  // An mbedTLS f_rng callback; `self` must be a Random*. Returns 0 or an
  // mbedTLS error code.
  static int Generate(void* self, unsigned char* out, size_t len);
  // `n` random bytes.
  StatusOr<std::string> Bytes(size_t n);

 private:
  Random();
  struct State;
  std::unique_ptr<State> state_;
};

// Lifetimes kite gives its certificates (docs/tls.md).
inline constexpr std::chrono::hours kCaValidity{24 * 3650};
inline constexpr std::chrono::hours kLeafValidity{24 * 365};
// Leaves are renewed at start when less than this remains.
inline constexpr std::chrono::hours kLeafRenewBefore{24 * 90};
// not_before is set this far in the past, so a node whose clock lags a little
// still accepts a fresh certificate.
inline constexpr std::chrono::hours kBackdate{1};

// A certificate (PEM, possibly followed by more certificates of its chain)
// and its private key (PEM).
struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

// What a new certificate says. The subject is CN plus one O attribute per
// entry of `organizations` (Kubernetes reads CN as the user and O as the
// groups).
struct CertSpec {
  std::string common_name;                 // required, at most 64 bytes
  std::vector<std::string> organizations;  // each at most 64 bytes
  std::vector<std::string> dns_names;      // subjectAltName dNSName
  std::vector<std::string>
      ip_addresses;          // subjectAltName iPAddress, "10.0.0.1" or "::1"
  bool server_auth = false;  // extendedKeyUsage serverAuth
  bool client_auth = false;  // extendedKeyUsage clientAuth
  Clock::WallTime not_before;
  Clock::WallTime not_after;  // must be after not_before
};

// What ParseCert reads back from a certificate.
struct CertInfo {
  std::string common_name;                 // subject CN
  std::vector<std::string> organizations;  // subject O, in certificate order
  std::string subject;                     // the whole subject, "O=a, CN=b"
  std::string issuer;                      // the whole issuer name
  std::string issuer_common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // canonical text ("127.0.0.1", "::1")
  Clock::WallTime not_before;
  Clock::WallTime not_after;
  bool is_ca = false;
  bool server_auth = false;  // extendedKeyUsage lists serverAuth
  bool client_auth = false;  // extendedKeyUsage lists clientAuth
  std::string serial_hex;    // lower-case hex
};

// What ParseCsr reads back from a certificate signing request.
struct CsrInfo {
  std::string common_name;
  std::vector<std::string> organizations;
  // subjectAltName of the extensionRequest attribute (a serving
  // certificate's request names its DNS names and IPs this way).
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // canonical text
};

// Which extended key usage VerifyCert demands of the leaf.
enum class Usage { kAny, kServerAuth, kClientAuth };

// A fresh EC P-256 private key, PEM.
StatusOr<std::string> GenerateKey(Random& random);

// A self-signed CA certificate with a fresh key: subject CN=`common_name`,
// basicConstraints CA:true, keyUsage keyCertSign|cRLSign|digitalSignature,
// valid from now-kBackdate for `validity`.
StatusOr<CertAndKey> CreateCa(Random& random, const std::string& common_name,
                              Clock::WallTime now,
                              std::chrono::seconds validity = kCaValidity);

// A leaf certificate for `spec` with a fresh key, signed by `ca`.
// InvalidArgument when the spec or the CA is unusable.
StatusOr<CertAndKey> IssueCert(Random& random, const CertAndKey& ca,
                               const CertSpec& spec);

// A leaf certificate for the public key of `key_pem` (not a new one).
StatusOr<std::string> IssueCertForKey(Random& random, const CertAndKey& ca,
                                      const std::string& key_pem,
                                      const CertSpec& spec);

// A CSR (PEM) for `key_pem` with subject CN/O from `subject` and, when it
// names any, a subjectAltName extension request (the agent's side of a
// join).
StatusOr<std::string> CreateCsr(Random& random, const std::string& key_pem,
                                const CsrInfo& subject);

// Reads a CSR and checks its self-signature. InvalidArgument if it is not a
// well-formed, correctly signed CSR.
StatusOr<CsrInfo> ParseCsr(const std::string& csr_pem);

// Signs the public key of `csr_pem` with `ca`. Only the key comes from the
// CSR (after its signature is checked): subject, SANs, usages and validity
// all come from `spec`, so the signer decides the identity. Callers compare
// ParseCsr's answer with what they intend to grant.
StatusOr<std::string> SignCsr(Random& random, const CertAndKey& ca,
                              const std::string& csr_pem, const CertSpec& spec);

// Reads the first certificate of `cert_pem`.
StatusOr<CertInfo> ParseCert(const std::string& cert_pem);

// Checks that the first certificate of `cert_pem` chains to a certificate of
// `ca_pem` (any further certificates in `cert_pem` are intermediates), is
// valid at `now`, and has `usage`. PermissionDenied with the reasons when it
// does not; InvalidArgument when the PEM does not parse.
Status VerifyCert(const std::string& cert_pem, const std::string& ca_pem,
                  Clock::WallTime now, Usage usage = Usage::kAny);

// Lower-case hex SHA-256 of the DER of the first certificate in `cert_pem`
// (what a join token pins).
StatusOr<std::string> CertSha256(const std::string& cert_pem);

// True if `key_pem` is the private key of the first certificate in
// `cert_pem`.
bool KeyMatchesCert(const std::string& cert_pem, const std::string& key_pem);

// Base64 (standard alphabet, padded, one line), as kubeconfig *-data fields
// use.
std::string Base64Encode(const std::string& data);

}  // namespace kite::tls
