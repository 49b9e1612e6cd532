// HttpsClient against a real tls::TlsServer with canned handlers: the wire
// format (paths, queries, bodies, headers), Status mapping, watch line
// parsing, kubeconfig parsing, connection pooling.
#include "client/https_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "api/object.h"
#include "client/informer.h"
#include "client/wire.h"
#include "tls/cluster_pki.h"
#include "tls/pki.h"
#include "tls/tls_server.h"

namespace kite::client {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

const ResourceRef kCm{"", "v1", "configmaps", "default"};

std::string StatusBody(int code, const std::string& reason,
                       const std::string& message) {
  return Json({{"kind", "Status"},
               {"apiVersion", "v1"},
               {"metadata", Json::object()},
               {"status", "Failure"},
               {"message", message},
               {"reason", reason},
               {"code", code}})
      .dump();
}

class HttpsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    random_ = std::move(tls::Random::Create()).value();
    tls::ClusterPkiOptions o;
    o.dir = "/pki";
    o.hostname = "test-host";
    auto pki = tls::ClusterPki::Load(env_, RealClock(), *random_, o);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    pki_ = std::make_unique<tls::ClusterPki>(std::move(pki).value());
    StartServer();
  }

  void TearDown() override {
    Release();
    if (server_) server_->Stop();
  }

  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    release_ = true;
    cv_.notify_all();
  }

  void Record(const std::string& what) {
    std::lock_guard<std::mutex> l(mu_);
    seen_.push_back(what);
  }
  std::vector<std::string> Seen() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }

  static void Reply(httplib::Response& res, int code, const std::string& body) {
    res.status = code;
    res.set_content(body, "application/json");
  }

  void StartServer() {
    tls::TlsServerOptions so;
    so.cert_pem = pki_->serving().cert_pem;
    so.key_pem = pki_->serving().key_pem;
    so.client_ca_pem = pki_->client_ca().cert_pem;
    auto s = tls::TlsServer::Create(so);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    const std::string ns_cm = R"(/api/v1/namespaces/([^/]+)/configmaps)";
    server_->Get(
        "/whoami", [](const httplib::Request& req, httplib::Response& res) {
          tls::ClientIdentity id = tls::ClientIdentityOf(req);
          res.set_content("user=" + id.common_name +
                              " auth=" + req.get_header_value("Authorization") +
                              " agent=" + req.get_header_value("User-Agent"),
                          "text/plain");
        });
    server_->Get(ns_cm + "/([^/]+)", [this](const httplib::Request& req,
                                            httplib::Response& res) {
      ++gets_;
      std::string name = req.matches[2];
      if (name == "a") {
        Reply(
            res, 200,
            R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"default","resourceVersion":"10"},"data":{"k":"v"}})");
      } else if (name == "slow") {
        std::this_thread::sleep_for(20ms);
        Reply(res, 200, R"({"metadata":{"name":"slow"}})");
      } else {
        Reply(res, 404,
              StatusBody(404, "NotFound",
                         "configmaps \"" + name + "\" not found"));
      }
    });
    server_->Get(ns_cm, [this](const httplib::Request& req,
                               httplib::Response& res) {
      Record("GET " + req.path + " " + req.get_param_value("labelSelector") +
             "|" + req.get_param_value("limit") + "|" +
             req.get_param_value("watch") + "|" +
             req.get_param_value("resourceVersion") + "|" +
             req.get_param_value("allowWatchBookmarks"));
      if (req.get_param_value("watch") != "true") {
        Reply(
            res, 200,
            R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"10"},"items":[{"metadata":{"name":"a","namespace":"default","resourceVersion":"7"}},{"metadata":{"name":"b","namespace":"default","resourceVersion":"9"}}]})");
        return;
      }
      std::string rv = req.get_param_value("resourceVersion");
      if (rv == "gone-http") {
        Reply(res, 410, StatusBody(410, "Gone", "too old resource version"));
        return;
      }
      std::vector<std::string> lines;
      bool hold = true;
      if (rv == "1") {
        lines.push_back(
            R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (10)","reason":"Expired","code":410}})j");
        hold = false;
      } else if (rv == "10") {
        lines = {
            R"({"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"c","namespace":"default","resourceVersion":"11"}}})",
            R"({"type":"MODIFIED","object":{"kind":"ConfigMap","metadata":{"name":"a","namespace":"default","resourceVersion":"12"},"data":{"k":"w"}}})",
            R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"13"}}})",
            R"({"type":"DELETED","object":{"kind":"ConfigMap","metadata":{"name":"b","namespace":"default","resourceVersion":"14"}}})"};
      } else if (rv == "ends") {
        lines = {R"({"type":"ADDED","object":{"metadata":{"name":"x"}}})",
                 R"({"type":"DELETED","object":{"metadata":{"name":"x"}}})"};
        hold = false;
      } else if (rv == "garbage") {
        lines = {"this is not json"};
        hold = true;
      }
      auto pending = std::make_shared<std::vector<std::string>>(lines);
      res.set_chunked_content_provider(
          "application/json",
          [this, pending, hold](size_t, httplib::DataSink& sink) {
            if (!pending->empty()) {
              // One write per event, a flush each, as the API server does.
              std::string line = pending->front() + "\n";
              pending->erase(pending->begin());
              return sink.write(line.data(), line.size());
            }
            if (!hold) {
              sink.done();
              return true;
            }
            ++watches_holding_;
            std::unique_lock<std::mutex> l(mu_);
            cv_.wait_for(l, 50ms, [this] { return release_; });
            --watches_holding_;
            if (release_) {
              l.unlock();
              sink.done();
              return true;
            }
            return sink.is_writable();
          });
    });
    server_->Post(ns_cm, [this](const httplib::Request& req,
                                httplib::Response& res) {
      Record("POST " + req.path + " " + req.get_header_value("Content-Type") +
             " " + req.get_param_value("fieldManager") + " " +
             req.get_param_value("dryRun"));
      Json obj = Json::parse(req.body, nullptr, false);
      if (obj.is_discarded()) {
        Reply(res, 400, StatusBody(400, "BadRequest", "bad body"));
        return;
      }
      if (api::Name(obj) == "invalid") {
        Reply(res, 422,
              StatusBody(422, "Invalid",
                         "ConfigMap \"invalid\" is invalid: data: Invalid "
                         "value"));
        return;
      }
      obj["metadata"]["uid"] = "u-1";
      obj["metadata"]["resourceVersion"] = "11";
      Reply(res, 201, obj.dump());
    });
    server_->Put(ns_cm + "/([^/]+)", [this](const httplib::Request& req,
                                            httplib::Response& res) {
      Record("PUT " + req.path);
      Json obj = Json::parse(req.body, nullptr, false);
      if (api::GetString(obj, {"metadata", "resourceVersion"}) != "10") {
        Reply(res, 409,
              StatusBody(409, "Conflict",
                         "Operation cannot be fulfilled on configmaps \"a\": "
                         "the object has been modified"));
        return;
      }
      Reply(res, 200, obj.dump());
    });
    server_->Patch(ns_cm + "/([^/]+)", [this](const httplib::Request& req,
                                              httplib::Response& res) {
      Record("PATCH " + req.path + " " + req.get_header_value("Content-Type") +
             " " + req.get_param_value("fieldManager") + " " +
             req.get_param_value("force") + " " + req.body);
      Reply(res, 200, R"({"metadata":{"name":"a"}})");
    });
    server_->Delete(ns_cm + "/([^/]+)", [this](const httplib::Request& req,
                                               httplib::Response& res) {
      Record("DELETE " + req.path + " " + req.body);
      Reply(
          res, 200,
          R"({"metadata":{"name":"a","deletionTimestamp":"2025-01-01T00:00:00Z"}})");
    });
    server_->Delete(
        ns_cm, [this](const httplib::Request& req, httplib::Response& res) {
          Record("DELETECOLLECTION " + req.path + " " +
                 req.get_param_value("labelSelector") + " " + req.body);
          Reply(res, 200, R"({"kind":"ConfigMapList","items":[]})");
        });
    server_->Get(R"(/api/v1/namespaces/([^/]+)/pods/([^/]+))",
                 [](const httplib::Request&, httplib::Response& res) {
                   Reply(res, 403,
                         StatusBody(403, "Forbidden",
                                    "pods \"p\" is forbidden: User \"x\" "
                                    "cannot get resource \"pods\""));
                 });
    server_->Get(R"(/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+))",
                 [](const httplib::Request&, httplib::Response& res) {
                   res.status = 502;
                   res.set_content("upstream went away\n", "text/plain");
                 });
    auto port = server_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
  }

  HttpsClientConfig Config() {
    HttpsClientConfig c;
    c.server = "https://127.0.0.1:" + std::to_string(port_);
    c.ca_pem = pki_->server_ca().cert_pem;
    c.cert_pem = pki_->admin().cert_pem;
    c.key_pem = pki_->admin().key_pem;
    c.request_timeout = 10s;
    return c;
  }

  std::unique_ptr<HttpsClient> Client(HttpsClientConfig c) {
    auto client = HttpsClient::Create(std::move(c));
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  FakeEnv env_;
  std::unique_ptr<tls::Random> random_;
  std::unique_ptr<tls::ClusterPki> pki_;
  std::unique_ptr<tls::TlsServer> server_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool release_ = false;
  std::vector<std::string> seen_;
  std::atomic<int> gets_{0};
  std::atomic<int> watches_holding_{0};
};

TEST_F(HttpsClientTest, TypedCallsAndStatusMapping) {
  auto c = Client(Config());
  ASSERT_NE(c, nullptr);
  auto a = c->Get(kCm, "a", {});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)["data"]["k"], "v");
  auto missing = c->Get(kCm, "nope", {});
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "configmaps \"nope\" not found");

  ListOptions lo;
  lo.label_selector = "app in (web,db)";
  lo.limit = 500;
  auto list = c->List(kCm, lo);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)["items"].size(), 2u);

  CreateOptions co;
  co.field_manager = "kite-test";
  co.dry_run = true;
  Json obj = {{"metadata", {{"name", "new"}}}};
  auto created = c->Create(kCm, obj, co);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ((*created)["metadata"]["uid"], "u-1");
  auto invalid = c->Create(kCm, {{"metadata", {{"name", "invalid"}}}}, {});
  EXPECT_EQ(invalid.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(invalid.status().message(),
            "ConfigMap \"invalid\" is invalid: data: Invalid value");
  // The namespace comes from the object when the ref has none.
  Json elsewhere = {{"metadata", {{"name", "e"}, {"namespace", "other"}}}};
  ASSERT_TRUE(c->Create(kCm.In(""), elsewhere, {}).ok());

  Json stale = *a;
  stale["metadata"]["resourceVersion"] = "9";
  EXPECT_EQ(c->Update(kCm, stale, {}).status().code(), Code::kConflict);
  ASSERT_TRUE(c->Update(kCm, *a, {}).ok());

  PatchOptions po;
  po.field_manager = "mgr";
  po.force = true;
  ASSERT_TRUE(
      c->Patch(kCm, "a", PatchType::kApply, "data:\n  k: v\n", po).ok());
  ASSERT_TRUE(
      c->Patch(kCm, "a", PatchType::kMerge, R"({"data":null})", {}).ok());

  DeleteOptions d;
  d.propagation_policy = PropagationPolicy::kBackground;
  d.precondition_uid = "u-1";
  auto del = c->Delete(kCm, "a", d);
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(api::Has(*del, {"metadata", "deletionTimestamp"}));
  ListOptions sel;
  sel.label_selector = "app=web";
  ASSERT_TRUE(c->DeleteCollection(kCm, sel, d).ok());

  auto forbidden = c->Get({"", "v1", "pods", "default"}, "p", {});
  EXPECT_EQ(forbidden.status().code(), Code::kPermissionDenied);
  auto bad_gateway = c->Get({"apps", "v1", "deployments", "default"}, "d", {});
  EXPECT_EQ(bad_gateway.status().code(), Code::kInternal);
  EXPECT_EQ(bad_gateway.status().message(), "upstream went away");

  RawRequest raw;
  raw.path = "/whoami";
  raw.headers["User-Agent"] = "custom/1.0";
  auto who = c->Do(raw);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->code, 200);
  EXPECT_EQ(who->body, "user=system:admin auth= agent=custom/1.0");

  std::string dp =
      R"({"apiVersion":"v1","kind":"DeleteOptions","preconditions":{"uid":"u-1"},"propagationPolicy":"Background"})";
  std::vector<std::string> want = {
      "GET /api/v1/namespaces/default/configmaps app in (web,db)|500|||",
      "POST /api/v1/namespaces/default/configmaps application/json kite-test "
      "All",
      "POST /api/v1/namespaces/default/configmaps application/json  ",
      "POST /api/v1/namespaces/other/configmaps application/json  ",
      "PUT /api/v1/namespaces/default/configmaps/a",
      "PUT /api/v1/namespaces/default/configmaps/a",
      "PATCH /api/v1/namespaces/default/configmaps/a "
      "application/apply-patch+yaml mgr true data:\n  k: v\n",
      "PATCH /api/v1/namespaces/default/configmaps/a "
      "application/merge-patch+json   {\"data\":null}",
      "DELETE /api/v1/namespaces/default/configmaps/a " + dp,
      "DELETECOLLECTION /api/v1/namespaces/default/configmaps app=web " + dp,
  };
  EXPECT_EQ(Seen(), want);
}

TEST_F(HttpsClientTest, KubeconfigFromThePki) {
  auto yaml = tls::KubeconfigYaml("https://127.0.0.1:" + std::to_string(port_),
                                  pki_->server_ca().cert_pem, pki_->admin());
  ASSERT_TRUE(yaml.ok());
  auto cfg = ConfigFromKubeconfig(*yaml, env_);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->ca_pem, pki_->server_ca().cert_pem);
  EXPECT_EQ(cfg->cert_pem, pki_->admin().cert_pem);
  EXPECT_EQ(cfg->key_pem, pki_->admin().key_pem);
  auto c = Client(*cfg);
  ASSERT_NE(c, nullptr);
  RawRequest raw;
  raw.path = "/whoami";
  auto who = c->Do(raw);
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->body, "user=system:admin auth= agent=kite");

  // Through a file, too.
  ASSERT_TRUE(env_.WriteFileAtomic("/etc/kite/kite.yaml", *yaml, 0600).ok());
  auto from_file = ConfigFromKubeconfigFile("/etc/kite/kite.yaml", env_);
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(from_file->server, cfg->server);
}

TEST_F(HttpsClientTest, KubeconfigFilesTokensAndContexts) {
  ASSERT_TRUE(env_.WriteFileAtomic("/home/u/.kube/ca.crt",
                                   pki_->server_ca().cert_pem, 0644)
                  .ok());
  ASSERT_TRUE(env_.WriteFileAtomic("/var/run/token", "s3cret\n", 0600).ok());
  std::string yaml = R"(
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:)" +
                     std::to_string(port_) +
                     R"(
    certificate-authority: ca.crt
    tls-server-name: test-host
- name: other
  cluster:
    server: https://example.invalid:6443
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context: {cluster: local, user: bot, namespace: team-a}
- name: ops
  context: {cluster: other, user: tok}
- name: broken
  context: {cluster: nowhere, user: bot}
users:
- name: bot
  user:
    tokenFile: /var/run/token
- name: tok
  user:
    token: abc.def
)";
  auto cfg = ConfigFromKubeconfig(yaml, env_, "/home/u/.kube");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->bearer_token, "s3cret");
  EXPECT_EQ(cfg->default_namespace, "team-a");
  EXPECT_EQ(cfg->server_name, "test-host");
  EXPECT_TRUE(cfg->cert_pem.empty());
  auto c = Client(*cfg);
  ASSERT_NE(c, nullptr);
  RawRequest raw;
  raw.path = "/whoami";
  auto who = c->Do(raw);
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->body, "user= auth=Bearer s3cret agent=kite");

  auto ops = ConfigFromKubeconfig(yaml, env_, "/home/u/.kube", "ops");
  ASSERT_TRUE(ops.ok());
  EXPECT_TRUE(ops->insecure_skip_verify);
  EXPECT_EQ(ops->bearer_token, "abc.def");
  EXPECT_EQ(ConfigFromKubeconfig(yaml, env_, "", "nope").status().code(),
            Code::kNotFound);
  EXPECT_EQ(ConfigFromKubeconfig(yaml, env_, "", "broken").status().code(),
            Code::kNotFound);
  std::string bad = R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://h", certificate-authority-data: "!!notbase64"}}]
contexts: [{name: x, context: {cluster: c}}]
)";
  EXPECT_EQ(ConfigFromKubeconfig(bad, env_).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ConfigFromKubeconfig("a: [", env_).status().code(),
            Code::kInvalidArgument);
}

TEST(Base64Test, Decodes) {
  EXPECT_EQ(*Base64Decode("aGVsbG8="), "hello");
  EXPECT_EQ(*Base64Decode("aGVsbG8"), "hello");
  EXPECT_EQ(*Base64Decode("aGVs\nbG8h"), "hello!");
  EXPECT_EQ(*Base64Decode(""), "");
  EXPECT_EQ(*Base64Decode(tls::Base64Encode(std::string("\0\xff\x10", 3))),
            std::string("\0\xff\x10", 3));
  EXPECT_FALSE(Base64Decode("a$b").ok());
  EXPECT_FALSE(Base64Decode("aGVs=bG8").ok());
  EXPECT_FALSE(Base64Decode("a").ok());
}

TEST_F(HttpsClientTest, BadConfigurations) {
  HttpsClientConfig c = Config();
  c.server = "http://127.0.0.1:1";
  EXPECT_EQ(HttpsClient::Create(c).status().code(), Code::kInvalidArgument);
  c.server = "https://:6443";
  EXPECT_EQ(HttpsClient::Create(c).status().code(), Code::kInvalidArgument);
  c.server = "https://h:99999";
  EXPECT_EQ(HttpsClient::Create(c).status().code(), Code::kInvalidArgument);
  c = Config();
  c.ca_pem = "not a pem";
  EXPECT_EQ(HttpsClient::Create(c).status().code(), Code::kInvalidArgument);
  c = Config();
  c.server = "https://[::1]:6443/prefix/";
  EXPECT_TRUE(HttpsClient::Create(c).ok());
}

TEST_F(HttpsClientTest, UnreachableServerIsUnavailable) {
  HttpsClientConfig cfg = Config();
  server_->Stop();
  cfg.connect_timeout = 2s;
  auto c = Client(cfg);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Get(kCm, "a", {}).status().code(), Code::kUnavailable);
  EXPECT_EQ(c->Watch(kCm, {}).status().code(), Code::kUnavailable);
}

TEST_F(HttpsClientTest, UntrustedServerIsUnauthenticated) {
  HttpsClientConfig cfg = Config();
  cfg.ca_pem = pki_->client_ca().cert_pem;  // not the server's CA
  auto c = Client(cfg);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Get(kCm, "a", {}).status().code(), Code::kUnauthenticated);
}

TEST_F(HttpsClientTest, WatchDeliversLinesThenEnds) {
  auto c = Client(Config());
  WatchOptions wo;
  wo.resource_version = "ends";
  wo.allow_bookmarks = true;
  wo.timeout = std::chrono::seconds(30);
  auto w = c->Watch(kCm, wo);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto e1 = (*w)->Next(5000ms);
  ASSERT_TRUE(e1.ok()) << e1.status().ToString();
  EXPECT_EQ(e1->type, EventType::kAdded);
  EXPECT_EQ(api::Name(e1->object), "x");
  auto e2 = (*w)->Next(5000ms);
  ASSERT_TRUE(e2.ok());
  EXPECT_EQ(e2->type, EventType::kDeleted);
  EXPECT_EQ((*w)->Next(5000ms).status().code(), Code::kUnavailable);
  EXPECT_EQ((*w)->Next(5000ms).status().code(), Code::kUnavailable);
  EXPECT_EQ(Seen().back(),
            "GET /api/v1/namespaces/default/configmaps ||true|ends|true");
}

TEST_F(HttpsClientTest, WatchErrors) {
  auto c = Client(Config());
  WatchOptions gone;
  gone.resource_version = "gone-http";
  auto w = c->Watch(kCm, gone);
  ASSERT_TRUE(w.ok());
  auto r = (*w)->Next(5000ms);
  EXPECT_EQ(r.status().code(), Code::kCompacted) << r.status().ToString();

  WatchOptions expired;
  expired.resource_version = "1";
  auto w2 = c->Watch(kCm, expired);
  ASSERT_TRUE(w2.ok());
  auto err = (*w2)->Next(5000ms);
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->type, EventType::kError);
  EXPECT_EQ(WatchErrorToStatus(err->object).code(), Code::kCompacted);

  WatchOptions garbage;
  garbage.resource_version = "garbage";
  auto w3 = c->Watch(kCm, garbage);
  ASSERT_TRUE(w3.ok());
  EXPECT_EQ((*w3)->Next(5000ms).status().code(), Code::kInternal);
}

TEST_F(HttpsClientTest, WatchCancelFromAnotherThread) {
  auto c = Client(Config());
  WatchOptions wo;
  wo.resource_version = "hold";
  auto w = c->Watch(kCm, wo);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Next(50ms).status().code(), Code::kDeadlineExceeded);
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    (*w)->Cancel();
  });
  EXPECT_EQ((*w)->Next(milliseconds::max()).status().code(), Code::kCancelled);
  t.join();
  w->reset();  // joins the reader
}

TEST_F(HttpsClientTest, ConcurrentCallsShareAPool) {
  HttpsClientConfig cfg = Config();
  cfg.max_connections = 3;
  auto c = Client(cfg);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (c->Get(kCm, i % 2 == 0 ? "slow" : "a", {}).ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_LE(c->PoolConnects(), 3);
  EXPECT_GE(c->PoolConnects(), 1);
}

TEST_F(HttpsClientTest, InformerOverHttps) {
  auto c = Client(Config());
  InformerOptions o;
  o.ref = kCm;
  Informer inf(*c, o);
  std::mutex mu;
  std::vector<std::string> calls;
  EventHandlers h;
  h.on_add = [&](const Json& obj) {
    std::lock_guard<std::mutex> l(mu);
    calls.push_back("add " + KeyOf(obj) + " " + api::GetString(obj, {"kind"}));
  };
  h.on_update = [&](const Json&, const Json& obj) {
    std::lock_guard<std::mutex> l(mu);
    calls.push_back("update " + KeyOf(obj));
  };
  h.on_delete = [&](const Json& obj) {
    std::lock_guard<std::mutex> l(mu);
    calls.push_back("delete " + KeyOf(obj));
  };
  inf.AddEventHandler(h);
  ASSERT_TRUE(inf.Start().ok());
  ASSERT_TRUE(inf.WaitForSync(10000ms));
  for (int i = 0; i < 500 && inf.LastResourceVersion() != "14"; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(inf.LastResourceVersion(), "14");
  inf.Stop();
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(calls, (std::vector<std::string>{
                       "add default/a ConfigMap", "add default/b ConfigMap",
                       "add default/c ConfigMap", "update default/a",
                       "delete default/b"}));
  EXPECT_EQ(inf.ListKeys(),
            (std::vector<std::string>{"default/a", "default/c"}));
}

}  // namespace
}  // namespace kite::client
