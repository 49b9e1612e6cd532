#include "server/apiserver/rbac.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "datastore/memory_backend.h"
#include "manifests/manifests.h"
#include "server/apiserver/bootstrap.h"
#include "server/apiserver/handler.h"
#include "server/apiserver/node_authorizer.h"
#include "server/apiserver/service_account.h"
#include "tls/jwt.h"
#include "tls/pki.h"

namespace kite::apiserver {
namespace {

using nlohmann::json;

Attributes Res(const UserInfo& u, std::string verb, std::string group,
               std::string resource, std::string sub = "", std::string ns = "",
               std::string name = "") {
  Attributes a;
  a.user = &u;
  a.verb = std::move(verb);
  a.resource_request = true;
  a.group = std::move(group);
  a.resource = std::move(resource);
  a.subresource = std::move(sub);
  a.namespace_ = std::move(ns);
  a.name = std::move(name);
  return a;
}

Attributes Path(const UserInfo& u, std::string path) {
  Attributes a;
  a.user = &u;
  a.verb = "get";
  a.path = std::move(path);
  return a;
}

TEST(PolicyRuleTest, MatchesAsUpstream) {
  UserInfo u;
  auto rule = PolicyRule::FromJson(json::parse(
      R"({"verbs":["get","list"],"apiGroups":[""],"resources":["pods","*/log"]})"));
  EXPECT_TRUE(rule.Allows(Res(u, "get", "", "pods")));
  EXPECT_FALSE(rule.Allows(Res(u, "delete", "", "pods")));
  EXPECT_FALSE(rule.Allows(Res(u, "get", "apps", "pods")));
  EXPECT_FALSE(rule.Allows(Res(u, "get", "", "pods", "status")));
  EXPECT_TRUE(rule.Allows(Res(u, "get", "", "pods", "log")));
  EXPECT_TRUE(rule.Allows(Res(u, "get", "", "deployments", "log")));
  EXPECT_FALSE(rule.Allows(Path(u, "/api")));

  auto named = PolicyRule::FromJson(json::parse(
      R"({"verbs":["*"],"apiGroups":["*"],"resources":["configmaps"],"resourceNames":["a"]})"));
  EXPECT_TRUE(named.Allows(Res(u, "update", "", "configmaps", "", "ns", "a")));
  EXPECT_FALSE(named.Allows(Res(u, "update", "", "configmaps", "", "ns", "b")));
  EXPECT_FALSE(named.Allows(Res(u, "list", "", "configmaps", "", "ns", "")));

  auto sub = PolicyRule::FromJson(json::parse(
      R"({"verbs":["create"],"apiGroups":[""],"resources":["pods/eviction"]})"));
  EXPECT_TRUE(sub.Allows(Res(u, "create", "", "pods", "eviction")));
  EXPECT_FALSE(sub.Allows(Res(u, "create", "", "pods")));

  auto urls = PolicyRule::FromJson(json::parse(
      R"({"verbs":["get"],"nonResourceURLs":["/apis/*","/version"]})"));
  EXPECT_TRUE(urls.Allows(Path(u, "/apis/apps/v1")));
  EXPECT_TRUE(urls.Allows(Path(u, "/version")));
  EXPECT_FALSE(urls.Allows(Path(u, "/version/x")));
  EXPECT_FALSE(urls.Allows(Path(u, "/api")));
  EXPECT_FALSE(urls.Allows(Res(u, "get", "", "pods")));
}

TEST(TokenFileTest, ParsesKubeApiserverFormat) {
  auto a = TokenFileAuthenticator::Parse(
      "# comment\n"
      "t0k3n,alice,1001,\"dev,ops\"\n"
      "\n"
      "other,bob,1002\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  Credentials c;
  c.bearer_token = "t0k3n";
  auto u = (*a)->Authenticate(c);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->name, "alice");
  EXPECT_EQ(u->uid, "1001");
  EXPECT_EQ(u->groups,
            (std::vector<std::string>{"dev", "ops", "system:authenticated"}));
  c.bearer_token = "t0k3m";
  EXPECT_EQ((*a)->Authenticate(c).status().code(), Code::kNotFound);
  EXPECT_FALSE(TokenFileAuthenticator::Parse("tok,alice\n").ok());
  EXPECT_FALSE(TokenFileAuthenticator::Parse("tok,alice,1,\"a\n").ok());
  EXPECT_FALSE(TokenFileAuthenticator::Parse("a,b,1\na,c,2\n").ok());

  ChainAuthenticator chain;
  chain.Add(std::make_unique<CertificateAuthenticator>());
  chain.Add(std::move(a).value());
  Credentials none;
  EXPECT_EQ(chain.Authenticate(none).status().code(), Code::kUnauthenticated);
  c.bearer_token = "other";
  ASSERT_TRUE(chain.Authenticate(c).ok());
  EXPECT_EQ(chain.Authenticate(c)->name, "bob");
  c.bearer_token = "forged";
  EXPECT_EQ(chain.Authenticate(c).status().code(), Code::kUnauthenticated);
}

class RbacTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rbac = RbacAuthorizer::Create(store_);
    ASSERT_TRUE(rbac.ok());
    rbac_ = rbac->get();
    auto chain = std::make_unique<ChainAuthorizer>();
    chain->Add(std::move(rbac).value());
    auto h =
        Handler::Create(store_, RealClock(), HandlerConfig{}, std::move(chain));
    ASSERT_TRUE(h.ok());
    handler_ = std::move(h).value();
    ASSERT_TRUE(handler_->Init().ok());
    ASSERT_TRUE(Bootstrap(*handler_, BootstrapConfig{"127.0.0.1", 6443}).ok());
    ASSERT_TRUE(Reconcile().ok());
    Sync();
    alice_.name = "alice";
    alice_.groups = {"system:authenticated"};
    alice_.authenticated = true;
  }
  Status Reconcile() {
    std::vector<std::string_view> files;
    for (const auto& f : manifests::Rbac()) files.push_back(f.content);
    return ReconcileRbacPolicy(*handler_, SystemUser(), files);
  }
  void Sync() {
    ASSERT_TRUE(rbac_->WaitForRevision(store_.CurrentRevision(),
                                       std::chrono::seconds(10)));
  }
  Response Call(const UserInfo& u, const std::string& method,
                const std::string& path, json body = nullptr) {
    Request req;
    req.method = method;
    req.path = path;
    req.user = u;
    req.content_type = "application/json";
    if (!body.is_null()) req.object = std::move(body);
    return handler_->Serve(req);
  }
  void Admin(const std::string& method, const std::string& path,
             json body = nullptr) {
    Response r = Call(SystemUser(), method, path, std::move(body));
    ASSERT_LT(r.status, 300) << path << ": " << r.json.dump();
    Sync();
  }
  json Bind(const std::string& ns, const std::string& name,
            const std::string& role_kind, const std::string& role) {
    return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
            {"kind", ns.empty() ? "ClusterRoleBinding" : "RoleBinding"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"roleRef",
             {{"apiGroup", "rbac.authorization.k8s.io"},
              {"kind", role_kind},
              {"name", role}}},
            {"subjects",
             {{{"apiGroup", "rbac.authorization.k8s.io"},
               {"kind", "User"},
               {"name", "alice"}}}}};
  }

  datastore::MemoryBackend store_;
  RbacAuthorizer* rbac_ = nullptr;
  std::unique_ptr<Handler> handler_;
  UserInfo alice_;
};

TEST_F(RbacTest, BootstrapPolicyGivesTheUpstreamDefaults) {
  // Every authenticated user: discovery and self reviews, nothing else.
  EXPECT_EQ(Call(alice_, "GET", "/api").status, 200);
  EXPECT_EQ(Call(alice_, "GET", "/apis/apps/v1").status, 200);
  Response denied = Call(alice_, "GET", "/api/v1/namespaces/default/pods");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.json["message"],
            "pods is forbidden: User \"alice\" cannot list resource \"pods\" "
            "in API group \"\" in the namespace \"default\"");
  EXPECT_EQ(Call(alice_, "GET", "/metrics").status, 403);
  json ssar = {
      {"apiVersion", "authorization.k8s.io/v1"},
      {"kind", "SelfSubjectAccessReview"},
      {"spec",
       {{"resourceAttributes",
         {{"verb", "list"}, {"resource", "pods"}, {"namespace", "default"}}}}}};
  Response r =
      Call(alice_, "POST",
           "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", ssar);
  ASSERT_EQ(r.status, 201) << r.json.dump();
  EXPECT_EQ(r.json["status"]["allowed"], false);
  // The aggregated roles hold their parts' rules.
  auto idx_rules = rbac_->RulesFor(SystemUser(), "");
  EXPECT_FALSE(idx_rules["resourceRules"].empty());
}

TEST_F(RbacTest, BindingsGrantAndRevoke) {
  Admin("POST", "/api/v1/namespaces",
        {{"apiVersion", "v1"},
         {"kind", "Namespace"},
         {"metadata", {{"name", "team"}}}});
  Admin("POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings",
        Bind("team", "alice-view", "ClusterRole", "view"));
  EXPECT_EQ(Call(alice_, "GET", "/api/v1/namespaces/team/pods").status, 200);
  EXPECT_EQ(
      Call(alice_, "GET", "/apis/apps/v1/namespaces/team/deployments").status,
      200);
  EXPECT_EQ(Call(alice_, "GET", "/api/v1/namespaces/default/pods").status, 403);
  EXPECT_EQ(Call(alice_, "GET", "/api/v1/namespaces/team/secrets").status, 403);
  Response create = Call(alice_, "POST", "/api/v1/namespaces/team/configmaps",
                         {{"apiVersion", "v1"},
                          {"kind", "ConfigMap"},
                          {"metadata", {{"name", "x"}}}});
  EXPECT_EQ(create.status, 403);
  // Nothing was created.
  EXPECT_EQ(
      Call(SystemUser(), "GET", "/api/v1/namespaces/team/configmaps/x").status,
      404);
  // view has no write verbs in what RulesFor lists.
  json rules = rbac_->RulesFor(alice_, "team");
  for (const json& r : rules["resourceRules"]) {
    for (const json& v : r["verbs"]) {
      EXPECT_TRUE(v == "get" || v == "list" || v == "watch" || v == "create")
          << r.dump();
      if (v == "create") {
        EXPECT_EQ(r["apiGroups"][0].get<std::string>().find("authori") == 0 ||
                      r["apiGroups"][0] == "authentication.k8s.io",
                  true)
            << r.dump();
      }
    }
  }

  // admin (aggregated from edit, itself from view) may write and bind.
  Admin("POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings",
        Bind("team", "alice-admin", "ClusterRole", "admin"));
  EXPECT_EQ(create.status, 403);
  EXPECT_EQ(Call(alice_, "POST", "/api/v1/namespaces/team/configmaps",
                 {{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", {{"name", "x"}}}})
                .status,
            201);
  EXPECT_EQ(Call(alice_, "GET", "/api/v1/namespaces/team/secrets").status, 200);
  EXPECT_EQ(
      Call(alice_, "GET",
           "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings")
          .status,
      200);
  // Still nothing cluster-wide.
  EXPECT_EQ(Call(alice_, "GET", "/api/v1/nodes").status, 403);

  Admin("DELETE",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings/"
        "alice-admin");
  Admin("DELETE",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings/"
        "alice-view");
  EXPECT_EQ(Call(alice_, "GET", "/api/v1/namespaces/team/pods").status, 403);
}

TEST_F(RbacTest, RolesWithResourceNamesAndGroups) {
  Admin("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        {{"apiVersion", "rbac.authorization.k8s.io/v1"},
         {"kind", "ClusterRole"},
         {"metadata", {{"name", "one-map"}}},
         {"rules",
          {{{"verbs", {"get"}},
            {"apiGroups", {""}},
            {"resources", {"configmaps"}},
            {"resourceNames", {"allowed"}}}}}});
  json b = Bind("", "ops-one-map", "ClusterRole", "one-map");
  b["subjects"][0]["kind"] = "Group";
  b["subjects"][0]["name"] = "ops";
  Admin("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", b);
  UserInfo ops = alice_;
  ops.groups.push_back("ops");
  EXPECT_EQ(
      Call(ops, "GET", "/api/v1/namespaces/default/configmaps/allowed").status,
      404);  // allowed, and there is none
  EXPECT_EQ(
      Call(ops, "GET", "/api/v1/namespaces/default/configmaps/other").status,
      403);
  EXPECT_EQ(Call(alice_, "GET", "/api/v1/namespaces/default/configmaps/allowed")
                .status,
            403);
}

TEST_F(RbacTest, ReconcileRestoresShippedRulesAndKeepsUserChanges) {
  const std::string path =
      "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:basic-user";
  Response got = Call(SystemUser(), "GET", path);
  ASSERT_EQ(got.status, 200);
  json role = got.json;
  json extra = {
      {"verbs", {"get"}}, {"apiGroups", {""}}, {"resources", {"namespaces"}}};
  role["rules"] = json::array({extra});  // shipped rules gone, one added
  Admin("PUT", path, role);
  EXPECT_EQ(Call(alice_, "GET", "/api/v1/namespaces").status, 403);
  ASSERT_TRUE(Reconcile().ok());
  Sync();
  json after = Call(SystemUser(), "GET", path).json;
  EXPECT_EQ(after["rules"].size(), 3u) << after.dump();
  EXPECT_EQ(after["rules"][0], extra);

  // autoupdate "false": left as the user made it.
  after["metadata"]["annotations"]
       ["rbac.authorization.kubernetes.io/autoupdate"] = "false";
  after["rules"] = json::array({extra});
  Admin("PUT", path, after);
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(Call(SystemUser(), "GET", path).json["rules"].size(), 1u);
}

TEST_F(RbacTest, ServiceAccountSubjects) {
  Admin("POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
        {{"apiVersion", "rbac.authorization.k8s.io/v1"},
         {"kind", "RoleBinding"},
         {"metadata", {{"name", "robot-view"}, {"namespace", "default"}}},
         {"roleRef",
          {{"apiGroup", "rbac.authorization.k8s.io"},
           {"kind", "ClusterRole"},
           {"name", "view"}}},
         {"subjects", {{{"kind", "ServiceAccount"}, {"name", "robot"}}}}});
  UserInfo sa;
  sa.name = "system:serviceaccount:default:robot";
  sa.groups = {"system:serviceaccounts", "system:serviceaccounts:default",
               "system:authenticated"};
  sa.authenticated = true;
  EXPECT_EQ(Call(sa, "GET", "/api/v1/namespaces/default/pods").status, 200);
  EXPECT_EQ(Call(sa, "GET", "/api/v1/namespaces/kube-system/pods").status, 403);
}

TEST_F(RbacTest, NodeGetsOnlyThePersistentVolumesOfItsPodsClaims) {
  auto made = NodeAuthorizer::Create(store_);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  NodeAuthorizer& nodes = **made;
  auto pv = [](const std::string& name, const std::string& claim) {
    json v = {{"apiVersion", "v1"},
              {"kind", "PersistentVolume"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"capacity", {{"storage", "1Gi"}}},
                {"accessModes", {"ReadWriteOnce"}},
                {"hostPath", {{"path", "/tmp/" + name}}}}}};
    if (!claim.empty())
      v["spec"]["claimRef"] = {{"namespace", "default"}, {"name", claim}};
    return v;
  };
  auto pod = [](const std::string& name, const std::string& node,
                json volumes) {
    return json{{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}}},
                {"spec",
                 {{"nodeName", node},
                  {"containers", {{{"name", "c"}, {"image", "busybox"}}}},
                  {"volumes", std::move(volumes)}}}};
  };
  Admin("POST", "/api/v1/persistentvolumes", pv("pv-used", "data"));
  Admin("POST", "/api/v1/persistentvolumes", pv("pv-other", "elsewhere"));
  Admin("POST", "/api/v1/persistentvolumes", pv("pv-free", ""));
  Admin("POST", "/api/v1/persistentvolumes", pv("pv-eph", "p1-scratch"));
  Admin(
      "POST", "/api/v1/namespaces/default/pods",
      pod("p1", "n1",
          {{{"name", "d"}, {"persistentVolumeClaim", {{"claimName", "data"}}}},
           {{"name", "scratch"},
            {"ephemeral",
             {{"volumeClaimTemplate",
               {{"spec",
                 {{"accessModes", {"ReadWriteOnce"}},
                  {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}}}}}}}));
  Admin("POST", "/api/v1/namespaces/default/pods",
        pod("p2", "n2",
            {{{"name", "d"},
              {"persistentVolumeClaim", {{"claimName", "elsewhere"}}}}}));
  ASSERT_TRUE(nodes.WaitForRevision(store_.CurrentRevision(),
                                    std::chrono::seconds(10)));

  UserInfo n1;
  n1.name = "system:node:n1";
  n1.groups = {"system:nodes", "system:authenticated"};
  n1.authenticated = true;
  auto may = [&](const std::string& verb, const std::string& name) {
    return nodes.Authorize(Res(n1, verb, "", "persistentvolumes", "", "", name))
        .ok();
  };
  EXPECT_TRUE(may("get", "pv-used"));
  EXPECT_TRUE(may("get", "pv-eph"));     // the claim of an ephemeral volume
  EXPECT_FALSE(may("get", "pv-other"));  // another node's pod's claim
  EXPECT_FALSE(may("get", "pv-free"));
  EXPECT_FALSE(may("get", "no-such-pv"));
  EXPECT_FALSE(may("list", ""));
  EXPECT_FALSE(may("watch", ""));
  EXPECT_FALSE(may("update", "pv-used"));
  EXPECT_FALSE(may("delete", "pv-used"));
  EXPECT_FALSE(nodes
                   .Authorize(Res(n1, "patch", "", "persistentvolumes",
                                  "status", "", "pv-used"))
                   .ok());
  Status why = nodes.Authorize(
      Res(n1, "get", "", "persistentvolumes", "", "", "pv-other"));
  EXPECT_NE(why.message().find("bound to claims"), std::string::npos)
      << why.ToString();

  // A claim's own volumeName proves nothing: the claimRef decides, and
  // follows the volume.
  Admin("PUT", "/api/v1/persistentvolumes/pv-other", [&] {
    Response r =
        Call(SystemUser(), "GET", "/api/v1/persistentvolumes/pv-other");
    json v = r.json;
    v["spec"]["claimRef"]["name"] = "data";
    return v;
  }());
  ASSERT_TRUE(nodes.WaitForRevision(store_.CurrentRevision(),
                                    std::chrono::seconds(10)));
  EXPECT_TRUE(may("get", "pv-other"));
  // The pod goes: so does the access.
  Request del;  // at once: a bound pod is otherwise only marked deleted
  del.method = "DELETE";
  del.path = "/api/v1/namespaces/default/pods/p1";
  del.query = {{"gracePeriodSeconds", "0"}};
  del.user = SystemUser();
  ASSERT_LT(handler_->Serve(del).status, 300);
  ASSERT_EQ(
      Call(SystemUser(), "GET", "/api/v1/namespaces/default/pods/p1").status,
      404);
  Admin("DELETE", "/api/v1/persistentvolumes/pv-eph");
  ASSERT_TRUE(nodes.WaitForRevision(store_.CurrentRevision(),
                                    std::chrono::seconds(10)));
  EXPECT_FALSE(may("get", "pv-used"));
  EXPECT_FALSE(may("get", "pv-other"));
  nodes.Stop();
}

// TokenReview through the request path, with the server's authenticator
// chain (static tokens, ServiceAccount tokens on a fake clock).
class TokenReviewTest : public RbacTest {
 protected:
  void SetUp() override {
    RbacTest::SetUp();
    auto random = tls::Random::Create();
    ASSERT_TRUE(random.ok());
    auto key = tls::GenerateRsaKey(**random);
    ASSERT_TRUE(key.ok());
    auto sa = ServiceAccountTokens::Create(*key, store_, clock_);
    ASSERT_TRUE(sa.ok()) << sa.status().ToString();
    sa_ = sa->get();
    handler_->SetTokenIssuer(sa_);
    auto file = TokenFileAuthenticator::Parse("static-tok,carol,42,\"ops\"\n");
    ASSERT_TRUE(file.ok());
    chain_.Add(std::make_unique<CertificateAuthenticator>());
    chain_.Add(std::move(file).value());
    chain_.Add(std::move(sa).value());
    handler_->SetAuthenticator(&chain_);
    Admin("POST", "/api/v1/namespaces/default/serviceaccounts",
          {{"apiVersion", "v1"},
           {"kind", "ServiceAccount"},
           {"metadata", {{"name", "robot"}}}});
  }
  // A token for default/robot (TokenRequest), optionally bound to a pod.
  std::string Token(json spec = json::object()) {
    Response r = Call(SystemUser(), "POST",
                      "/api/v1/namespaces/default/serviceaccounts/robot/token",
                      {{"apiVersion", "authentication.k8s.io/v1"},
                       {"kind", "TokenRequest"},
                       {"spec", std::move(spec)}});
    EXPECT_EQ(r.status, 201) << r.json.dump();
    return api::GetString(r.json, {"status", "token"});
  }
  Response Review(const UserInfo& as, json spec) {
    return Call(as, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                {{"apiVersion", "authentication.k8s.io/v1"},
                 {"kind", "TokenReview"},
                 {"spec", std::move(spec)}});
  }
  // alice may review tokens (system:auth-delegator, as a webhook would).
  void Delegate() {
    Admin("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
          Bind("", "alice-delegator", "ClusterRole", "system:auth-delegator"));
  }

  FakeClock clock_;
  ChainAuthenticator chain_;
  ServiceAccountTokens* sa_ = nullptr;
};

TEST_F(TokenReviewTest, ValidTokensNameTheirUser) {
  Delegate();
  std::string tok = Token();
  ASSERT_FALSE(tok.empty());
  Response r = Review(alice_, {{"token", tok}});
  ASSERT_EQ(r.status, 201) << r.json.dump();
  EXPECT_EQ(r.json["kind"], "TokenReview");
  const json& st = r.json["status"];
  EXPECT_EQ(st["authenticated"], true) << st.dump();
  EXPECT_EQ(st["user"]["username"], "system:serviceaccount:default:robot");
  EXPECT_FALSE(st["user"]["uid"].get<std::string>().empty());
  EXPECT_EQ(st["user"]["groups"],
            json({"system:serviceaccounts", "system:serviceaccounts:default",
                  "system:authenticated"}));
  EXPECT_EQ(st["audiences"], json({kServiceAccountIssuer}));
  EXPECT_FALSE(st.contains("error")) << st.dump();

  // Static tokens are for the API server's audience.
  r = Review(alice_, {{"token", "static-tok"}});
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(r.json["status"]["authenticated"], true);
  EXPECT_EQ(r.json["status"]["user"]["username"], "carol");
  EXPECT_EQ(r.json["status"]["user"]["uid"], "42");
  EXPECT_EQ(r.json["status"]["user"]["groups"],
            json({"ops", "system:authenticated"}));
  r = Review(alice_, {{"token", "static-tok"}, {"audiences", {"vault"}}});
  EXPECT_FALSE(r.json["status"].value("authenticated", false));
  EXPECT_NE(r.json["status"].value("error", "").find("target audiences"),
            std::string::npos)
      << r.json.dump();
}

TEST_F(TokenReviewTest, AudiencesMustMatch) {
  Delegate();
  std::string vault = Token({{"audiences", {"vault", "other"}}});
  // Not for the API server...
  Response r = Review(alice_, {{"token", vault}});
  EXPECT_FALSE(r.json["status"].value("authenticated", false)) << r.json.dump();
  // ...but for who asks for "vault".
  r = Review(alice_, {{"token", vault}, {"audiences", {"vault", "x"}}});
  EXPECT_EQ(r.json["status"]["authenticated"], true) << r.json.dump();
  EXPECT_EQ(r.json["status"]["audiences"], json({"vault"}));
}

TEST_F(TokenReviewTest, InvalidExpiredAndRevokedTokensAreNotAuthenticated) {
  Delegate();
  auto refused = [&](const std::string& tok, const std::string& why) {
    Response r = Review(alice_, {{"token", tok}});
    EXPECT_EQ(r.status, 201) << r.json.dump();
    const json& st = r.json["status"];
    EXPECT_FALSE(st.value("authenticated", false)) << why << st.dump();
    EXPECT_EQ(st["user"], json::object()) << why;
    EXPECT_NE(st.value("error", "").find(why), std::string::npos) << st.dump();
  };
  refused("not-a-token", "invalid bearer token");
  std::string tok = Token();
  std::string tampered = tok;
  // A character inside the signature (the last one carries padding bits
  // that decoding may ignore).
  char& c = tampered[tampered.size() - 10];
  c = c == 'A' ? 'B' : 'A';
  refused(tampered, "ServiceAccount token");

  // Expired: an hour's token, two hours later.
  clock_.Advance(std::chrono::hours(2));
  refused(tok, "expired");

  // Bound to a pod that was deleted since.
  Admin("POST", "/api/v1/namespaces/default/pods",
        {{"apiVersion", "v1"},
         {"kind", "Pod"},
         {"metadata", {{"name", "p"}}},
         {"spec",
          {{"serviceAccountName", "robot"},
           {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}});
  std::string bound =
      Token({{"boundObjectRef",
              {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "p"}}}});
  Response ok = Review(alice_, {{"token", bound}});
  EXPECT_EQ(ok.json["status"]["authenticated"], true) << ok.json.dump();
  EXPECT_EQ(ok.json["status"]["user"]["extra"]
                   ["authentication.kubernetes.io/pod-name"],
            json({"p"}));
  Admin("DELETE", "/api/v1/namespaces/default/pods/p");  // not on a node
  ASSERT_EQ(
      Call(SystemUser(), "GET", "/api/v1/namespaces/default/pods/p").status,
      404);
  refused(bound, "no longer exists");
}

TEST_F(TokenReviewTest, BadRequestsAndWhoMayAsk) {
  // Without system:auth-delegator (or the like): 403, whatever the token.
  Response r = Review(alice_, {{"token", "static-tok"}});
  EXPECT_EQ(r.status, 403) << r.json.dump();
  Delegate();
  r = Review(alice_, json::object());
  EXPECT_EQ(r.status, 400) << r.json.dump();
  EXPECT_NE(r.json.value("message", "").find("token is required"),
            std::string::npos);
  r = Review(alice_, {{"token", "static-tok"}, {"audiences", "vault"}});
  EXPECT_EQ(r.status, 400) << r.json.dump();
  // The requester's own credentials never count: only spec.token.
  r = Review(SystemUser(), {{"token", "nope"}});
  EXPECT_FALSE(r.json["status"].value("authenticated", false));
}

}  // namespace
}  // namespace kite::apiserver
