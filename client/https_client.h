// HttpsClient: client::Interface over HTTPS to a Kubernetes API server (the
// agent, the simulated nodes, tools and tests use it; components inside
// `kite server` use the loopback client instead).
//
// It speaks the JSON wire conventions of wire.h over tls::TlsClient:
// - unary calls borrow a connection from a small pool (up to
//   `max_connections` kept-alive connections, made on demand; callers wait
//   when all are busy), so concurrent calls run in parallel;
// - every watch has a connection of its own and a reader thread that turns
//   the chunked body into events (joined when the stream is destroyed);
// - authentication by client certificate and/or bearer token; the server is
//   verified against the CA bundle (or not at all when told to);
// - error answers (metav1.Status bodies) become Status codes through
//   ResponseToStatus; transport failures are kUnavailable (cannot connect),
//   kUnauthenticated (the TLS handshake was refused) or kDeadlineExceeded.
//   A watch request the server refuses (410, 403, ...) surfaces from the
//   first WatchStream::Next() with the mapped code.
//
// Configuration comes from a kubeconfig (ConfigFromKubeconfig: server,
// certificate-authority[-data], client-certificate[-data],
// client-key[-data], token, tokenFile, insecure-skip-tls-verify,
// tls-server-name, the context's namespace) or is filled in directly.
//
// Thread safety: every Interface method may be called from any thread.
// Destroy every WatchStream before the client.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "client/interface.h"
#include "common/env.h"
#include "common/status.h"

namespace kite::tls {
class TlsClient;
struct TlsClientOptions;
}  // namespace kite::tls

namespace kite::client {

struct HttpsClientConfig {
  // "https://host:port" (port default 443; "[::1]:6443" for IPv6); a path
  // after the authority is a prefix for every request.
  std::string server;
  std::string ca_pem;  // CAs for the server certificate
  bool insecure_skip_verify = false;
  std::string server_name;  // checked against the certificate; default host
  std::string cert_pem;     // client certificate (with key_pem), optional
  std::string key_pem;
  std::string bearer_token;  // "Authorization: Bearer ...", optional
  std::string user_agent = "kite";
  // The context's namespace ("" when the kubeconfig names none); callers
  // use it as their default.
  std::string default_namespace;
  int max_connections = 8;
  std::chrono::milliseconds connect_timeout{10000};
  // Longest wait for any one read or write of a unary call.
  std::chrono::milliseconds request_timeout{60000};
};

// Reads kubeconfig text: the context named `context`, or current-context.
// Paths in it (certificate-authority, client-certificate, client-key,
// tokenFile) are read through `env`, relative to `dir` when not absolute.
// InvalidArgument when the text or the referenced data is unusable,
// NotFound when the context, cluster or user is missing.
StatusOr<HttpsClientConfig> ConfigFromKubeconfig(std::string_view yaml,
                                                 Env& env = RealEnv(),
                                                 const std::string& dir = "",
                                                 std::string_view context = "");
// The same for the file at `path`.
StatusOr<HttpsClientConfig> ConfigFromKubeconfigFile(
    const std::string& path, Env& env = RealEnv(),
    std::string_view context = "");

// Standard base64 (padding optional, whitespace ignored). InvalidArgument
// for other characters.
StatusOr<std::string> Base64Decode(std::string_view text);

class HttpsClient : public Interface {
 public:
  // InvalidArgument when the configuration is unusable (bad URL, PEMs that
  // do not parse). Does not connect yet.
  static StatusOr<std::unique_ptr<HttpsClient>> Create(
      HttpsClientConfig config);
  ~HttpsClient() override;
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  StatusOr<Json> Get(const ResourceRef& ref, const std::string& name,
                     const GetOptions& opts) override;
  StatusOr<Json> List(const ResourceRef& ref, const ListOptions& opts) override;
  StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceRef& ref, const WatchOptions& opts) override;
  StatusOr<Json> Create(const ResourceRef& ref, const Json& obj,
                        const CreateOptions& opts) override;
  StatusOr<Json> Update(const ResourceRef& ref, const Json& obj,
                        const UpdateOptions& opts) override;
  StatusOr<Json> Patch(const ResourceRef& ref, const std::string& name,
                       PatchType type, const std::string& body,
                       const PatchOptions& opts) override;
  StatusOr<Json> Delete(const ResourceRef& ref, const std::string& name,
                        const DeleteOptions& opts) override;
  StatusOr<Json> DeleteCollection(const ResourceRef& ref,
                                  const ListOptions& list_opts,
                                  const DeleteOptions& opts) override;
  StatusOr<RawResponse> Do(const RawRequest& req) override;

  const HttpsClientConfig& config() const { return config_; }
  // Connections opened so far by the idle pooled clients (for tests and
  // benchmarks; exact when no call is in progress).
  int PoolConnects() const;

 private:
  class HttpsWatch;
  HttpsClient(HttpsClientConfig config, std::string host, int port,
              std::string prefix);

  tls::TlsClientOptions TlsOptions() const;
  std::unique_ptr<tls::TlsClient> Acquire();
  void Release(std::unique_ptr<tls::TlsClient> c, bool healthy);
  // One request on a pooled connection: the raw answer.
  // `headers` add to or replace the defaults (Accept, User-Agent,
  // Authorization).
  StatusOr<RawResponse> Send(const std::string& method, const std::string& path,
                             const std::map<std::string, std::string>& headers,
                             const std::string& body);
  // Send() and map: the parsed JSON of a 2xx answer, else its Status.
  StatusOr<Json> Call(const std::string& method, const std::string& path,
                      const std::string& content_type, const std::string& body);

  const HttpsClientConfig config_;
  const std::string host_;
  const int port_;
  const std::string prefix_;  // path prefix from the server URL, or ""

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<tls::TlsClient>> idle_;
  int open_ = 0;  // pooled connections in existence (idle + in use)
};

}  // namespace kite::client
