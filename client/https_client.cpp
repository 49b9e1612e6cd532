#include "client/https_client.h"

#include <cctype>
#include <deque>
#include <thread>
#include <utility>

#include "api/object.h"
#include "client/wire.h"
#include "client/yaml_json.h"
#include "tls/tls_client.h"

namespace kite::client {
namespace {

using std::chrono::milliseconds;

constexpr char kJson[] = "application/json";

std::string JoinQuery(std::string path, const std::string& query) {
  if (!query.empty()) path += "?" + query;
  return path;
}

// The entry called `name` of the list `doc[key]` (borrowed from `doc`).
const Json* Named(const Json& doc, const char* key, std::string_view name) {
  auto list = doc.find(key);
  if (list == doc.end() || !list->is_array()) return nullptr;
  for (const Json& e : *list) {
    if (e.is_object() && e.value("name", "") == name) return &e;
  }
  return nullptr;
}

std::string Str(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// "<key>-data" (base64) or "<key>" (a file, relative to dir).
StatusOr<std::string> DataOrFile(const Json& obj, const std::string& key,
                                 Env& env, const std::string& dir) {
  std::string data = Str(obj, (key + "-data").c_str());
  if (!data.empty()) {
    StatusOr<std::string> decoded = Base64Decode(data);
    if (!decoded.ok()) {
      return InvalidArgumentError("kubeconfig " + key +
                                  "-data: " + decoded.status().message());
    }
    return decoded;
  }
  std::string path = Str(obj, key.c_str());
  if (path.empty()) return std::string();
  if (path[0] != '/' && !dir.empty()) path = dir + "/" + path;
  return env.ReadFile(path);
}

bool ParseServer(const std::string& url, std::string* host, int* port,
                 std::string* prefix) {
  const std::string scheme = "https://";
  if (url.compare(0, scheme.size(), scheme) != 0) return false;
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  *prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!prefix->empty() && prefix->back() == '/') prefix->pop_back();
  *port = 443;
  std::string port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return false;
    *host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return false;
      port_text = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    *host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (host->empty()) return false;
  if (!port_text.empty()) {
    if (port_text.size() > 5) return false;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    *port = std::stoi(port_text);
    if (*port <= 0 || *port > 65535) return false;
  }
  return true;
}

}  // namespace

StatusOr<std::string> Base64Decode(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char ch : text) {
    if (std::isspace(static_cast<unsigned char>(ch))) continue;
    if (ch == '=') {
      padding = true;
      continue;
    }
    int v;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= 'a' && ch <= 'z') {
      v = ch - 'a' + 26;
    } else if (ch >= '0' && ch <= '9') {
      v = ch - '0' + 52;
    } else if (ch == '+') {
      v = 62;
    } else if (ch == '/') {
      v = 63;
    } else {
      return InvalidArgumentError("invalid base64 character");
    }
    if (padding) return InvalidArgumentError("base64 data after padding");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) return InvalidArgumentError("truncated base64 data");
  return out;
}

StatusOr<HttpsClientConfig> ConfigFromKubeconfig(std::string_view yaml,
                                                 Env& env,
                                                 const std::string& dir,
                                                 std::string_view context) {
  KITE_ASSIGN_OR_RETURN(Json kc, YamlToJson(yaml));
  if (!kc.is_object()) return InvalidArgumentError("kubeconfig is not a map");
  std::string ctx_name =
      context.empty() ? Str(kc, "current-context") : std::string(context);
  if (ctx_name.empty()) {
    return NotFoundError("kubeconfig has no current-context");
  }
  const Json* ctx_entry = Named(kc, "contexts", ctx_name);
  if (ctx_entry == nullptr || !ctx_entry->contains("context")) {
    return NotFoundError("kubeconfig has no context \"" + ctx_name + "\"");
  }
  const Json& ctx = (*ctx_entry)["context"];
  std::string cluster_name = Str(ctx, "cluster");
  std::string user_name = Str(ctx, "user");
  const Json* cluster_entry = Named(kc, "clusters", cluster_name);
  if (cluster_entry == nullptr || !cluster_entry->contains("cluster")) {
    return NotFoundError("kubeconfig has no cluster \"" + cluster_name + "\"");
  }
  const Json& cluster = (*cluster_entry)["cluster"];
  HttpsClientConfig c;
  c.server = Str(cluster, "server");
  if (c.server.empty()) {
    return InvalidArgumentError("kubeconfig cluster \"" + cluster_name +
                                "\" has no server");
  }
  KITE_ASSIGN_OR_RETURN(c.ca_pem,
                        DataOrFile(cluster, "certificate-authority", env, dir));
  auto insecure = cluster.find("insecure-skip-tls-verify");
  c.insecure_skip_verify = insecure != cluster.end() &&
                           insecure->is_boolean() && insecure->get<bool>();
  c.server_name = Str(cluster, "tls-server-name");
  c.default_namespace = Str(ctx, "namespace");
  if (!user_name.empty()) {
    const Json* user_entry = Named(kc, "users", user_name);
    if (user_entry == nullptr) {
      return NotFoundError("kubeconfig has no user \"" + user_name + "\"");
    }
    const Json user = user_entry->value("user", Json::object());
    if (user.is_object()) {
      KITE_ASSIGN_OR_RETURN(c.cert_pem,
                            DataOrFile(user, "client-certificate", env, dir));
      KITE_ASSIGN_OR_RETURN(c.key_pem,
                            DataOrFile(user, "client-key", env, dir));
      c.bearer_token = Str(user, "token");
      std::string token_file = Str(user, "tokenFile");
      if (c.bearer_token.empty() && !token_file.empty()) {
        if (token_file[0] != '/' && !dir.empty()) {
          token_file = dir + "/" + token_file;
        }
        KITE_ASSIGN_OR_RETURN(c.bearer_token, env.ReadFile(token_file));
        while (
            !c.bearer_token.empty() &&
            std::isspace(static_cast<unsigned char>(c.bearer_token.back()))) {
          c.bearer_token.pop_back();
        }
      }
    }
  }
  return c;
}

StatusOr<HttpsClientConfig> ConfigFromKubeconfigFile(const std::string& path,
                                                     Env& env,
                                                     std::string_view context) {
  KITE_ASSIGN_OR_RETURN(std::string text, env.ReadFile(path));
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (dir.empty()) dir = "/";
  return ConfigFromKubeconfig(text, env, dir, context);
}

// A watch on a connection of its own, read by a thread of its own.
class HttpsClient::HttpsWatch : public WatchStream {
 public:
  HttpsWatch(std::unique_ptr<tls::TlsClient> conn, std::string path,
             tls::HttpHeaders headers)
      : conn_(std::move(conn)),
        path_(std::move(path)),
        headers_(std::move(headers)) {}

  ~HttpsWatch() override {
    Cancel();
    if (reader_.joinable()) reader_.join();
  }

  void Start() {
    reader_ = std::thread([this] { Read(); });
  }

  StatusOr<WatchEvent> Next(milliseconds timeout) override {
    std::unique_lock<std::mutex> l(mu_);
    auto ready = [&] { return cancelled_ || !events_.empty() || ended_; };
    if (timeout == milliseconds::max()) {
      cv_.wait(l, ready);
    } else if (!cv_.wait_for(l, timeout, ready)) {
      return DeadlineExceededError("no watch event in time");
    }
    if (cancelled_) return CancelledError("watch cancelled");
    if (!events_.empty()) {
      WatchEvent ev = std::move(events_.front());
      events_.pop_front();
      return ev;
    }
    return end_;
  }

  void Cancel() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (cancelled_) return;
      cancelled_ = true;
      events_.clear();
      cv_.notify_all();
    }
    conn_->Cancel();
  }

 private:
  void Read() {
    Status bad_line;
    StatusOr<tls::HttpResponse> r =
        conn_->Stream("GET", path_, headers_, "", [&](std::string_view line) {
          if (line.empty() || line == "\r") return true;
          StatusOr<WatchEvent> ev = ParseWatchEvent(line);
          if (!ev.ok()) {
            bad_line = InternalError("invalid watch event from the server: " +
                                     ev.status().message());
            return false;
          }
          std::lock_guard<std::mutex> l(mu_);
          if (cancelled_) return false;
          events_.push_back(std::move(ev).value());
          cv_.notify_all();
          return true;
        });
    Status end;
    if (!bad_line.ok()) {
      end = bad_line;
    } else if (!r.ok()) {
      end = r.status().code() == Code::kCancelled
                ? r.status()
                : UnavailableError("watch closed: " + r.status().message());
    } else if (r->status / 100 != 2) {
      end = ResponseToStatus(r->status, r->body);
    } else {
      end = UnavailableError("watch closed");
    }
    std::lock_guard<std::mutex> l(mu_);
    ended_ = true;
    end_ = end;
    cv_.notify_all();
  }

  std::unique_ptr<tls::TlsClient> conn_;
  const std::string path_;
  const tls::HttpHeaders headers_;
  std::thread reader_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WatchEvent> events_;  // guarded by mu_
  bool cancelled_ = false;         // guarded by mu_
  bool ended_ = false;             // guarded by mu_
  Status end_;                     // guarded by mu_
};

StatusOr<std::unique_ptr<HttpsClient>> HttpsClient::Create(
    HttpsClientConfig config) {
  std::string host, prefix;
  int port = 0;
  if (!ParseServer(config.server, &host, &port, &prefix)) {
    return InvalidArgumentError("invalid server URL \"" + config.server +
                                "\" (want https://host[:port])");
  }
  if (config.max_connections < 1) config.max_connections = 1;
  std::unique_ptr<HttpsClient> c(new HttpsClient(
      std::move(config), std::move(host), port, std::move(prefix)));
  // Check the TLS settings once, so a bad PEM fails here, not per call.
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<tls::TlsClient> probe,
                        tls::TlsClient::Create(c->TlsOptions()));
  c->open_ = 1;
  c->Release(std::move(probe), true);
  return c;
}

HttpsClient::HttpsClient(HttpsClientConfig config, std::string host, int port,
                         std::string prefix)
    : config_(std::move(config)),
      host_(std::move(host)),
      port_(port),
      prefix_(std::move(prefix)) {}

HttpsClient::~HttpsClient() = default;

tls::TlsClientOptions HttpsClient::TlsOptions() const {
  tls::TlsClientOptions o;
  o.host = host_;
  o.port = port_;
  o.ca_pem = config_.ca_pem;
  o.insecure_skip_verify = config_.insecure_skip_verify;
  o.server_name = config_.server_name;
  o.cert_pem = config_.cert_pem;
  o.key_pem = config_.key_pem;
  o.connect_timeout = config_.connect_timeout;
  o.io_timeout = config_.request_timeout;
  return o;
}

int HttpsClient::PoolConnects() const {
  std::lock_guard<std::mutex> l(mu_);
  int n = 0;
  for (const auto& c : idle_) n += c->connects();
  return n;
}

std::unique_ptr<tls::TlsClient> HttpsClient::Acquire() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l,
           [&] { return !idle_.empty() || open_ < config_.max_connections; });
  if (!idle_.empty()) {
    std::unique_ptr<tls::TlsClient> c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  ++open_;
  l.unlock();
  StatusOr<std::unique_ptr<tls::TlsClient>> c =
      tls::TlsClient::Create(TlsOptions());
  if (!c.ok()) {  // validated in Create(); cannot fail later
    std::lock_guard<std::mutex> g(mu_);
    --open_;
    cv_.notify_one();
    return nullptr;
  }
  return std::move(c).value();
}

void HttpsClient::Release(std::unique_ptr<tls::TlsClient> c, bool healthy) {
  std::lock_guard<std::mutex> l(mu_);
  if (c == nullptr) return;
  if (!healthy) c->Close();
  idle_.push_back(std::move(c));
  cv_.notify_one();
}

StatusOr<RawResponse> HttpsClient::Send(
    const std::string& method, const std::string& path,
    const std::map<std::string, std::string>& extra, const std::string& body) {
  tls::HttpHeaders headers;
  headers.emplace("Accept", kJson);
  headers.emplace("User-Agent", config_.user_agent);
  if (!config_.bearer_token.empty()) {
    headers.emplace("Authorization", "Bearer " + config_.bearer_token);
  }
  for (const auto& [k, v] : extra) {
    headers.erase(k);
    headers.emplace(k, v);
  }
  std::unique_ptr<tls::TlsClient> conn = Acquire();
  if (conn == nullptr) return InternalError("cannot make a TLS client");
  StatusOr<tls::HttpResponse> r =
      conn->Request(method, prefix_ + path, headers, body);
  Release(std::move(conn), r.ok());
  if (!r.ok()) return r.status();
  RawResponse out;
  out.code = r->status;
  out.content_type = r->Header("Content-Type");
  out.body = std::move(r->body);
  return out;
}

StatusOr<Json> HttpsClient::Call(const std::string& method,
                                 const std::string& path,
                                 const std::string& content_type,
                                 const std::string& body) {
  std::map<std::string, std::string> extra;
  if (!content_type.empty()) extra["Content-Type"] = content_type;
  KITE_ASSIGN_OR_RETURN(RawResponse r, Send(method, path, extra, body));
  if (r.code / 100 != 2) return ResponseToStatus(r.code, r.body);
  Json j = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return InternalError("the server answered " + method + " " + path +
                         " with a body that is not JSON");
  }
  return j;
}

StatusOr<Json> HttpsClient::Get(const ResourceRef& ref, const std::string& name,
                                const GetOptions& opts) {
  return Call(
      "GET", JoinQuery(ObjectPath(ref, name, opts.subresource), GetQuery(opts)),
      "", "");
}

StatusOr<Json> HttpsClient::List(const ResourceRef& ref,
                                 const ListOptions& opts) {
  return Call("GET", JoinQuery(CollectionPath(ref), ListQuery(opts)), "", "");
}

StatusOr<std::unique_ptr<WatchStream>> HttpsClient::Watch(
    const ResourceRef& ref, const WatchOptions& opts) {
  tls::TlsClientOptions o = TlsOptions();
  // A watch is quiet at times; only a silence longer than the server's own
  // timeout (plus slack) means the connection is dead.
  o.stream_idle_timeout = opts.timeout.count() > 0
                              ? milliseconds(opts.timeout) + milliseconds(30000)
                              : milliseconds(0);
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<tls::TlsClient> conn,
                        tls::TlsClient::Create(o));
  KITE_RETURN_IF_ERROR(conn->Connect());
  tls::HttpHeaders headers;
  headers.emplace("Accept", kJson);
  headers.emplace("User-Agent", config_.user_agent);
  if (!config_.bearer_token.empty()) {
    headers.emplace("Authorization", "Bearer " + config_.bearer_token);
  }
  auto w = std::make_unique<HttpsWatch>(
      std::move(conn),
      prefix_ + JoinQuery(CollectionPath(ref), WatchQuery(opts)),
      std::move(headers));
  w->Start();
  return std::unique_ptr<WatchStream>(std::move(w));
}

StatusOr<Json> HttpsClient::Create(const ResourceRef& ref, const Json& obj,
                                   const CreateOptions& opts) {
  ResourceRef r = ref.In(EffectiveNamespace(ref, obj));
  std::string path = opts.subresource.empty()
                         ? CollectionPath(r)
                         : ObjectPath(r, api::Name(obj), opts.subresource);
  return Call("POST", JoinQuery(path, CreateQuery(opts)), kJson, obj.dump());
}

StatusOr<Json> HttpsClient::Update(const ResourceRef& ref, const Json& obj,
                                   const UpdateOptions& opts) {
  ResourceRef r = ref.In(EffectiveNamespace(ref, obj));
  return Call("PUT",
              JoinQuery(ObjectPath(r, api::Name(obj), opts.subresource),
                        UpdateQuery(opts)),
              kJson, obj.dump());
}

StatusOr<Json> HttpsClient::Patch(const ResourceRef& ref,
                                  const std::string& name, PatchType type,
                                  const std::string& body,
                                  const PatchOptions& opts) {
  return Call("PATCH",
              JoinQuery(ObjectPath(ref, name, opts.subresource),
                        PatchQuery(type, opts)),
              std::string(PatchContentType(type)), body);
}

StatusOr<Json> HttpsClient::Delete(const ResourceRef& ref,
                                   const std::string& name,
                                   const DeleteOptions& opts) {
  return Call("DELETE", ObjectPath(ref, name), kJson,
              DeleteOptionsBody(opts).dump());
}

StatusOr<Json> HttpsClient::DeleteCollection(const ResourceRef& ref,
                                             const ListOptions& list_opts,
                                             const DeleteOptions& opts) {
  return Call("DELETE", JoinQuery(CollectionPath(ref), ListQuery(list_opts)),
              kJson, DeleteOptionsBody(opts).dump());
}

StatusOr<RawResponse> HttpsClient::Do(const RawRequest& req) {
  return Send(req.method, req.path, req.headers, req.body);
}

}  // namespace kite::client
