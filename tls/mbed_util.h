// mbed_util: small RAII owners for mbedTLS objects and error text, shared by
// the files of tls/. Not an API for other folders: use pki.h, tls_server.h
// and tls_client.h instead.
//
// Thread safety: each object is owned by one thread at a time.
#pragma once

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace kite::tls::internal {

// "X509 - Certificate verification failed (-0x2700)".
std::string MbedError(int ret);

// Subject CN and O values of `crt` (O in certificate order).
void ReadSubject(const mbedtls_x509_crt* crt, std::string* cn,
                 std::vector<std::string>* orgs);
// dNSName and iPAddress (as text) entries of the subjectAltName of `crt`.
void ReadSans(const mbedtls_x509_crt* crt, std::vector<std::string>* dns,
              std::vector<std::string>* ips);

class Crt {
 public:
  Crt() { mbedtls_x509_crt_init(&c_); }
  ~Crt() { mbedtls_x509_crt_free(&c_); }
  Crt(const Crt&) = delete;
  Crt& operator=(const Crt&) = delete;
  mbedtls_x509_crt* get() { return &c_; }
  // Parses every certificate of a PEM bundle (or one DER certificate).
  // InvalidArgument if none parses or any is malformed.
  Status Parse(const std::string& pem, const char* what);

 private:
  mbedtls_x509_crt c_;
};

class Pk {
 public:
  Pk() { mbedtls_pk_init(&k_); }
  ~Pk() { mbedtls_pk_free(&k_); }
  Pk(const Pk&) = delete;
  Pk& operator=(const Pk&) = delete;
  mbedtls_pk_context* get() { return &k_; }
  // Parses a private key in PEM (SEC1 or PKCS#8, unencrypted).
  Status ParsePrivate(const std::string& pem, const char* what);

 private:
  mbedtls_pk_context k_;
};

class Csr {
 public:
  Csr() { mbedtls_x509_csr_init(&c_); }
  ~Csr() { mbedtls_x509_csr_free(&c_); }
  Csr(const Csr&) = delete;
  Csr& operator=(const Csr&) = delete;
  mbedtls_x509_csr* get() { return &c_; }

 private:
  mbedtls_x509_csr c_;
};

}  // namespace kite::tls::internal
