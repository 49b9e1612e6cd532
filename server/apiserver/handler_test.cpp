// Tests of the request path (Handler) in process, on the in-memory
// datastore: verbs, errors, watch, allocation, CRDs, subresources.
#include "server/apiserver/handler.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "datastore/memory_backend.h"
#include "server/apiserver/bootstrap.h"

namespace kite::apiserver {
namespace {

using nlohmann::json;

class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = Handler::Create(store_, RealClock(), HandlerConfig{}, nullptr);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    handler_ = std::move(h).value();
    ASSERT_TRUE(handler_->Init().ok());
    ASSERT_TRUE(
        Bootstrap(*handler_, {.advertise_address = "10.0.0.5", .port = 6443})
            .ok());
  }

  Response Call(const std::string& method, const std::string& path,
                const std::string& body = "",
                const std::string& content_type = "application/json",
                std::multimap<std::string, std::string> query = {},
                const std::string& accept = "") {
    Request req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.content_type = content_type;
    req.accept = accept;
    req.query = std::move(query);
    req.user_agent = "kubectl/v1.32.4 (linux/amd64)";
    req.user = SystemUser();
    Response r = handler_->Serve(req);
    // Fast paths answer with text; tests read JSON.
    if (r.raw && r.content_type == "application/json")
      r.json = json::parse(*r.raw);
    return r;
  }
  Response Post(const std::string& path, const json& obj) {
    return Call("POST", path, obj.dump());
  }

  static json ConfigMap(const std::string& name, json data = {{"a", "b"}}) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}}},
            {"data", data}};
  }

  datastore::MemoryBackend store_;
  std::unique_ptr<Handler> handler_;
};

const char kCms[] = "/api/v1/namespaces/default/configmaps";

TEST_F(HandlerTest, BootstrapCreatesNamespacesAndTheKubernetesService) {
  for (const char* ns :
       {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    Response r = Call("GET", std::string("/api/v1/namespaces/") + ns);
    EXPECT_EQ(r.status, 200) << ns;
    EXPECT_EQ(r.json["status"]["phase"], "Active");
  }
  Response svc = Call("GET", "/api/v1/namespaces/default/services/kubernetes");
  ASSERT_EQ(svc.status, 200);
  EXPECT_EQ(svc.json["spec"]["clusterIP"], "10.43.0.1");
  Response ep = Call("GET", "/api/v1/namespaces/default/endpoints/kubernetes");
  ASSERT_EQ(ep.status, 200);
  EXPECT_EQ(ep.json["subsets"][0]["addresses"][0]["ip"], "10.0.0.5");
  EXPECT_EQ(ep.json["subsets"][0]["ports"][0]["port"], 6443);
  // A second bootstrap (restart) changes nothing and does not fail.
  Status again =
      Bootstrap(*handler_, {.advertise_address = "10.0.0.5", .port = 6443});
  EXPECT_TRUE(again.ok()) << again.ToString();
}

TEST_F(HandlerTest, CreateGetListAndErrors) {
  Response c = Post(kCms, ConfigMap("one"));
  ASSERT_EQ(c.status, 201) << c.json.dump();
  EXPECT_FALSE(c.json["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(
      c.json["metadata"]["creationTimestamp"].get<std::string>().empty());
  std::string rv = c.json["metadata"]["resourceVersion"];
  EXPECT_EQ(c.json["metadata"]["managedFields"][0]["manager"], "kubectl");

  Response g = Call("GET", std::string(kCms) + "/one");
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.json["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(g.json["data"]["a"], "b");

  Response again = Post(kCms, ConfigMap("one"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.json["reason"], "AlreadyExists");
  EXPECT_EQ(again.json["message"], "configmaps \"one\" already exists");

  Response missing = Call("GET", std::string(kCms) + "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json["message"], "configmaps \"nope\" not found");
  EXPECT_EQ(missing.json["kind"], "Status");

  Response gen = Post(kCms, json{{"apiVersion", "v1"},
                                 {"kind", "ConfigMap"},
                                 {"metadata", {{"generateName", "g-"}}}});
  ASSERT_EQ(gen.status, 201);
  EXPECT_EQ(gen.json["metadata"]["name"].get<std::string>().size(), 7u);

  Response list = Call("GET", kCms);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json["kind"], "ConfigMapList");
  EXPECT_EQ(list.json["items"].size(), 2u);

  Response no_ns =
      Post("/api/v1/namespaces/nowhere/configmaps", ConfigMap("x"));
  EXPECT_EQ(no_ns.status, 404);
  EXPECT_EQ(no_ns.json["message"], "namespaces \"nowhere\" not found");
}

TEST_F(HandlerTest, BadInputIsRefusedAndChangesNothing) {
  Response bad_json = Call("POST", kCms, "{\"apiVersion\": ");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.json["reason"], "BadRequest");

  json pod_body = {
      {"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}}}};
  Response wrong_kind = Post(kCms, pod_body);
  EXPECT_EQ(wrong_kind.status, 400);

  Response invalid = Post(kCms, ConfigMap("Bad_Name"));
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(invalid.json["reason"], "Invalid");
  EXPECT_NE(invalid.json["message"].get<std::string>().find(
                "Invalid value: \"Bad_Name\""),
            std::string::npos);

  json unknown = ConfigMap("u");
  unknown["spec"] = {{"x", 1}};
  Response strict = Call("POST", kCms, unknown.dump(), "application/json",
                         {{"fieldValidation", "Strict"}});
  EXPECT_EQ(strict.status, 400);
  EXPECT_NE(
      strict.json["message"].get<std::string>().find("unknown field \"spec\""),
      std::string::npos)
      << strict.json.dump();

  Response yaml = Call("POST", kCms,
                       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "
                       "from-yaml}\ndata: {k: '1'}\n",
                       "application/yaml");
  EXPECT_EQ(yaml.status, 201) << yaml.json.dump();
  Response bad_yaml = Call("POST", kCms, "a: [1, 2\n", "application/yaml");
  EXPECT_EQ(bad_yaml.status, 400);
  Response media = Call("POST", kCms, "x", "text/csv");
  EXPECT_EQ(media.status, 415);
  Response big = Call("POST", kCms, std::string(kMaxBodyBytes + 1, ' '));
  EXPECT_EQ(big.status, 413);

  Response list = Call("GET", kCms);
  ASSERT_EQ(list.json["items"].size(), 1u);  // only from-yaml
}

TEST_F(HandlerTest, UpdateConflictsOnAStaleResourceVersion) {
  Response c = Post(kCms, ConfigMap("cm"));
  json v1 = c.json;
  json v2 = v1;
  v2["data"]["a"] = "c";
  Response u = Call("PUT", std::string(kCms) + "/cm", v2.dump());
  ASSERT_EQ(u.status, 200) << u.json.dump();
  EXPECT_NE(u.json["metadata"]["resourceVersion"],
            v1["metadata"]["resourceVersion"]);
  v1["data"]["a"] = "d";
  Response stale = Call("PUT", std::string(kCms) + "/cm", v1.dump());
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(stale.json["message"],
            "Operation cannot be fulfilled on configmaps \"cm\": the object "
            "has been modified; please apply "
            "your changes to the latest version and try again");
}

TEST_F(HandlerTest, PatchesOfEveryKindAndNoOpKeepsTheResourceVersion) {
  Post(kCms, ConfigMap("p"));
  Response m = Call("PATCH", std::string(kCms) + "/p", R"({"data":{"x":"1"}})",
                    "application/merge-patch+json");
  ASSERT_EQ(m.status, 200) << m.json.dump();
  std::string rv = m.json["metadata"]["resourceVersion"];
  Response noop = Call("PATCH", std::string(kCms) + "/p",
                       R"({"data":{"x":"1"}})", "application/merge-patch+json");
  ASSERT_EQ(noop.status, 200);
  EXPECT_EQ(noop.json["metadata"]["resourceVersion"], rv);
  Response jp = Call("PATCH", std::string(kCms) + "/p",
                     R"([{"op":"add","path":"/data/y","value":"2"}])",
                     "application/json-patch+json");
  ASSERT_EQ(jp.status, 200);
  EXPECT_EQ(jp.json["data"]["y"], "2");
  Response jp_bad = Call("PATCH", std::string(kCms) + "/p",
                         R"([{"op":"test","path":"/data/y","value":"9"}])",
                         "application/json-patch+json");
  EXPECT_EQ(jp_bad.status, 422);
  Response missing = Call("PATCH", std::string(kCms) + "/none", "{}",
                          "application/merge-patch+json");
  EXPECT_EQ(missing.status, 404);

  json deploy = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}}},
      {"spec",
       {{"replicas", 1},
        {"selector", {{"matchLabels", {{"app", "web"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec",
           {{"containers",
             json::array({{{"name", "web"}, {"image", "busybox"}}})}}}}}}}};
  const std::string deps = "/apis/apps/v1/namespaces/default/deployments";
  ASSERT_EQ(Post(deps, deploy).status, 201);
  Response smp = Call(
      "PATCH", deps + "/web",
      R"({"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"A","value":"1"}]}]}}}})",
      "application/strategic-merge-patch+json");
  ASSERT_EQ(smp.status, 200) << smp.json.dump();
  EXPECT_EQ(smp.json["spec"]["template"]["spec"]["containers"][0]["image"],
            "busybox");
  EXPECT_EQ(
      smp.json["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"],
      "A");
  EXPECT_EQ(smp.json["metadata"]["generation"], 2);

  // Server-side apply: a second manager changing replicas conflicts.
  json applied = {{"apiVersion", "apps/v1"},
                  {"kind", "Deployment"},
                  {"metadata", {{"name", "web"}}},
                  {"spec", {{"replicas", 5}}}};
  Response conflict =
      Call("PATCH", deps + "/web", applied.dump(),
           "application/apply-patch+yaml", {{"fieldManager", "other"}});
  EXPECT_EQ(conflict.status, 409) << conflict.json.dump();
  EXPECT_EQ(conflict.json["details"]["causes"][0]["reason"],
            "FieldManagerConflict");
  Response forced = Call("PATCH", deps + "/web", applied.dump(),
                         "application/apply-patch+yaml",
                         {{"fieldManager", "other"}, {"force", "true"}});
  ASSERT_EQ(forced.status, 200) << forced.json.dump();
  EXPECT_EQ(forced.json["spec"]["replicas"], 5);
  Response bad = Call("PATCH", deps + "/web", R"({"spec":{"replicas":-1}})",
                      "application/merge-patch+json");
  EXPECT_EQ(bad.status, 422);
  EXPECT_NE(bad.json["message"].get<std::string>().find(
                "spec.replicas: Invalid value: -1"),
            std::string::npos);

  // Apply creates when missing (201).
  json cm = ConfigMap("applied");
  Response created =
      Call("PATCH", std::string(kCms) + "/applied", cm.dump(),
           "application/apply-patch+yaml", {{"fieldManager", "kubectl"}});
  EXPECT_EQ(created.status, 201) << created.json.dump();
  EXPECT_EQ(created.json["metadata"]["managedFields"][0]["operation"], "Apply");
}

TEST_F(HandlerTest, ListPagesKeepTheirRevision) {
  for (int i = 0; i < 5; ++i) Post(kCms, ConfigMap("c" + std::to_string(i)));
  Response p1 = Call("GET", kCms, "", "", {{"limit", "2"}});
  ASSERT_EQ(p1.json["items"].size(), 2u);
  std::string token = p1.json["metadata"]["continue"];
  std::string rv = p1.json["metadata"]["resourceVersion"];
  Post(kCms, ConfigMap("c9"));  // after the first page: not in this list
  Response p2 =
      Call("GET", kCms, "", "", {{"limit", "2"}, {"continue", token}});
  ASSERT_EQ(p2.json["items"].size(), 2u);
  EXPECT_EQ(p2.json["metadata"]["resourceVersion"], rv);
  Response p3 =
      Call("GET", kCms, "", "",
           {{"limit", "2"}, {"continue", p2.json["metadata"]["continue"]}});
  ASSERT_EQ(p3.json["items"].size(), 1u);
  EXPECT_FALSE(p3.json["metadata"].contains("continue"));
  Response sel =
      Call("GET", kCms, "", "", {{"fieldSelector", "metadata.name=c3"}});
  ASSERT_EQ(sel.json["items"].size(), 1u);
  Response badsel =
      Call("GET", kCms, "", "", {{"fieldSelector", "spec.nothing=x"}});
  EXPECT_EQ(badsel.status, 400);
}

TEST_F(HandlerTest, TablesForKubectlGet) {
  Post(kCms, ConfigMap("t"));
  std::string accept =
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
  Response t = Call("GET", kCms, "", "", {}, accept);
  ASSERT_EQ(t.status, 200);
  EXPECT_EQ(t.json["kind"], "Table");
  EXPECT_EQ(t.json["columnDefinitions"][0]["name"], "Name");
  EXPECT_EQ(t.json["rows"][0]["cells"][0], "t");
  EXPECT_EQ(t.json["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

std::vector<WatchEvent> Drain(WatchStream& s, size_t want) {
  std::vector<WatchEvent> out;
  for (int i = 0; i < 50 && out.size() < want; ++i) {
    for (auto& e : s.Next(std::chrono::milliseconds(100)))
      out.push_back(std::move(e));
  }
  return out;
}

TEST_F(HandlerTest, WatchSendsChangesAndSelectorMoves) {
  Response c = Post(kCms, ConfigMap("w"));
  std::string rv = c.json["metadata"]["resourceVersion"];
  Response w = Call(
      "GET", kCms, "", "",
      {{"watch", "true"}, {"resourceVersion", rv}, {"labelSelector", "app=x"}});
  ASSERT_TRUE(w.watch);
  Call("PATCH", std::string(kCms) + "/w",
       R"({"metadata":{"labels":{"app":"x"}}})",
       "application/merge-patch+json");
  Call("PATCH", std::string(kCms) + "/w", R"({"data":{"z":"1"}})",
       "application/merge-patch+json");
  Call("PATCH", std::string(kCms) + "/w",
       R"({"metadata":{"labels":{"app":"y"}}})",
       "application/merge-patch+json");
  auto events = Drain(*w.watch, 3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, "ADDED");
  EXPECT_EQ(events[1].type, "MODIFIED");
  EXPECT_EQ(events[2].type, "DELETED");

  // Without a resourceVersion the current state comes first.
  Response w2 = Call("GET", kCms, "", "", {{"watch", "1"}});
  auto initial = Drain(*w2.watch, 1);
  ASSERT_GE(initial.size(), 1u);
  EXPECT_EQ(initial[0].type, "ADDED");
  EXPECT_NE(w2.watch->EncodeLine(initial[0]).find("\"type\":\"ADDED\""),
            std::string::npos);

  // A compacted revision is an ERROR event with 410.
  ASSERT_TRUE(store_.Compact(store_.CurrentRevision()).ok());
  Response old =
      Call("GET", kCms, "", "", {{"watch", "true"}, {"resourceVersion", "1"}});
  ASSERT_TRUE(old.watch);
  auto err = Drain(*old.watch, 1);
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].type, "ERROR");
  EXPECT_EQ(err[0].object["code"], 410);
  EXPECT_TRUE(old.watch->done());
}

// What Kubernetes does with the LoadBalancer-only fields: node ports per
// port unless allocateLoadBalancerNodePorts is false, a health check node
// port with externalTrafficPolicy Local, the fields of one type refused on
// another, and dropped when the type changes.
TEST_F(HandlerTest, LoadBalancerServicesFieldsAsKubernetes) {
  const std::string svcs = "/api/v1/namespaces/default/services";
  auto svc = [](const std::string& name, const std::string& type,
                json extra = json::object()) {
    json s = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"type", type},
                {"ports", json::array({{{"name", "http"}, {"port", 80}},
                                       {{"name", "https"}, {"port", 443}}})},
                {"selector", {{"app", "x"}}}}}};
    s["spec"].update(extra);
    return s;
  };
  auto message = [](const Response& r) {
    return r.json.value("message", std::string());
  };
  auto put = [&](const json& obj) {
    return Call("PUT", svcs + "/" + obj["metadata"]["name"].get<std::string>(),
                obj.dump());
  };

  // Defaults: a node port for each port, externalTrafficPolicy Cluster,
  // no health check port.
  Response lb = Post(svcs, svc("lb", "LoadBalancer"));
  ASSERT_EQ(lb.status, 201) << lb.json.dump();
  EXPECT_EQ(lb.json["spec"]["allocateLoadBalancerNodePorts"], true);
  EXPECT_EQ(lb.json["spec"]["externalTrafficPolicy"], "Cluster");
  EXPECT_GE(lb.json["spec"]["ports"][0].value("nodePort", 0), 30000);
  EXPECT_GE(lb.json["spec"]["ports"][1].value("nodePort", 0), 30000);
  EXPECT_FALSE(lb.json["spec"].contains("healthCheckNodePort"));
  EXPECT_EQ(lb.json["status"], json({{"loadBalancer", json::object()}}));

  // allocateLoadBalancerNodePorts false: none allocated, but one the
  // client names is reserved.
  json no_alloc = svc("noalloc", "LoadBalancer",
                      {{"allocateLoadBalancerNodePorts", false}});
  no_alloc["spec"]["ports"][1]["nodePort"] = 31443;
  Response na = Post(svcs, no_alloc);
  ASSERT_EQ(na.status, 201) << na.json.dump();
  EXPECT_FALSE(na.json["spec"]["ports"][0].contains("nodePort"));
  EXPECT_EQ(na.json["spec"]["ports"][1]["nodePort"], 31443);
  json clash = svc("clash", "NodePort");
  clash["spec"]["ports"][0]["nodePort"] = 31443;
  Response c = Post(svcs, clash);
  EXPECT_EQ(c.status, 422);
  EXPECT_NE(message(c).find("provided port is already allocated"),
            std::string::npos)
      << c.json.dump();
  // Turning allocation off keeps the node ports a Service holds.
  json off = lb.json;
  off["spec"]["allocateLoadBalancerNodePorts"] = false;
  off["spec"]["ports"][0].erase("nodePort");
  Response kept = put(off);
  ASSERT_EQ(kept.status, 200) << kept.json.dump();
  EXPECT_EQ(kept.json["spec"]["ports"], lb.json["spec"]["ports"]);

  // externalTrafficPolicy Local: a health check node port, allocated or
  // the client's own, reserved either way.
  Response local = Post(
      svcs, svc("local", "LoadBalancer", {{"externalTrafficPolicy", "Local"}}));
  ASSERT_EQ(local.status, 201) << local.json.dump();
  int hc = local.json["spec"].value("healthCheckNodePort", 0);
  EXPECT_GE(hc, 30000);
  EXPECT_LE(hc, 32767);
  Response same_hc = Post(svcs, svc("local2", "LoadBalancer",
                                    {{"externalTrafficPolicy", "Local"},
                                     {"healthCheckNodePort", hc}}));
  EXPECT_EQ(same_hc.status, 422);
  EXPECT_NE(message(same_hc).find("spec.healthCheckNodePort: Invalid value: " +
                                  std::to_string(hc) +
                                  ": provided port is already allocated"),
            std::string::npos)
      << same_hc.json.dump();
  Response own = Post(svcs, svc("local3", "LoadBalancer",
                                {{"externalTrafficPolicy", "Local"},
                                 {"healthCheckNodePort", 32100}}));
  ASSERT_EQ(own.status, 201) << own.json.dump();
  EXPECT_EQ(own.json["spec"]["healthCheckNodePort"], 32100);
  json np_clash = svc("np-clash", "NodePort");
  np_clash["spec"]["ports"][0]["nodePort"] = 32100;
  EXPECT_EQ(Post(svcs, np_clash).status, 422);
  // The health check port may not change while it is needed...
  json moved = own.json;
  moved["spec"]["healthCheckNodePort"] = 32101;
  Response mv = put(moved);
  EXPECT_EQ(mv.status, 422);
  EXPECT_NE(message(mv).find("spec.healthCheckNodePort: Forbidden: field is "
                             "immutable"),
            std::string::npos)
      << mv.json.dump();
  // ...and goes (released) with externalTrafficPolicy Cluster.
  json cluster = own.json;
  cluster["spec"]["externalTrafficPolicy"] = "Cluster";
  Response cl = put(cluster);
  ASSERT_EQ(cl.status, 200) << cl.json.dump();
  EXPECT_FALSE(cl.json["spec"].contains("healthCheckNodePort"));
  EXPECT_EQ(Post(svcs, np_clash).status, 201);

  // Fields of one type refused on another, with Kubernetes' wording.
  struct Bad {
    json svc;
    std::string want;
  };
  std::vector<Bad> bad = {
      {svc("b1", "LoadBalancer", {{"healthCheckNodePort", 32200}}),
       "spec.healthCheckNodePort: Invalid value: 32200: may only be set when "
       "`type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"},
      {svc("b2", "ClusterIP", {{"allocateLoadBalancerNodePorts", true}}),
       "spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when "
       "`type` is 'LoadBalancer'"},
      {svc("b3", "NodePort", {{"loadBalancerClass", "example.com/lb"}}),
       "spec.loadBalancerClass: Forbidden: may only be used when `type` is "
       "'LoadBalancer'"},
      {svc("b4", "ClusterIP", {{"externalTrafficPolicy", "Local"}}),
       "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set "
       "for externally-accessible services"},
      {svc("b5", "LoadBalancer", {{"clusterIP", "None"}}),
       "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' "
       "for LoadBalancer services"},
      {svc("b6", "ClusterIP", {{"loadBalancerSourceRanges", {"10.0.0.0/8"}}}),
       "spec.LoadBalancerSourceRanges: Forbidden: may only be used when "
       "`type` is 'LoadBalancer'"},
      {svc("b7", "LoadBalancer", {{"loadBalancerClass", "not a name"}}),
       "spec.loadBalancerClass: Invalid value: \"not a name\""},
  };
  for (const Bad& b : bad) {
    Response r = Post(svcs, b.svc);
    EXPECT_EQ(r.status, 422) << b.svc.dump();
    EXPECT_NE(message(r).find(b.want), std::string::npos) << b.want << "\n"
                                                          << r.json.dump();
  }
  EXPECT_EQ(Call("GET", svcs + "/b1").status, 404);  // nothing stored
  // A loadBalancerClass is fixed while the Service stays a LoadBalancer.
  Response classed = Post(svcs, svc("classed", "LoadBalancer",
                                    {{"loadBalancerClass", "example.com/a"}}));
  ASSERT_EQ(classed.status, 201) << classed.json.dump();
  json reclass = classed.json;
  reclass["spec"]["loadBalancerClass"] = "example.com/b";
  Response rc = put(reclass);
  EXPECT_EQ(rc.status, 422);
  EXPECT_NE(message(rc).find("spec.loadBalancerClass: Invalid value: "
                             "\"example.com/b\": may not change once set"),
            std::string::npos)
      << rc.json.dump();

  // LoadBalancer -> ClusterIP drops what only a LoadBalancer has, and the
  // ports go back to the pool.
  json back = local.json;
  back["spec"]["type"] = "ClusterIP";
  Response b = put(back);
  ASSERT_EQ(b.status, 200) << b.json.dump();
  for (const char* f : {"allocateLoadBalancerNodePorts",
                        "externalTrafficPolicy", "healthCheckNodePort"}) {
    EXPECT_FALSE(b.json["spec"].contains(f)) << f;
  }
  EXPECT_FALSE(b.json["spec"]["ports"][0].contains("nodePort"));
  json reuse =
      svc("reuse", "LoadBalancer",
          {{"externalTrafficPolicy", "Local"}, {"healthCheckNodePort", hc}});
  EXPECT_EQ(Post(svcs, reuse).status, 201);
  json unclass = classed.json;
  unclass["spec"]["type"] = "ClusterIP";
  Response uc = put(unclass);
  ASSERT_EQ(uc.status, 200) << uc.json.dump();
  EXPECT_FALSE(uc.json["spec"].contains("loadBalancerClass"));

  // The status: ingress IPs must be IPs; ipMode needs an IP.
  json st = lb.json;
  st = Call("GET", svcs + "/lb").json;
  st["status"]["loadBalancer"]["ingress"] = {
      {{"hostname", "lb.example"}, {"ipMode", "VIP"}}};
  Response bad_st = Call("PUT", svcs + "/lb/status", st.dump());
  EXPECT_EQ(bad_st.status, 422);
  EXPECT_NE(message(bad_st).find("status.loadBalancer.ingress[0].ipMode: "
                                 "Forbidden: may not be specified when `ip` "
                                 "is not"),
            std::string::npos)
      << bad_st.json.dump();
  st["status"]["loadBalancer"]["ingress"] = {
      {{"ip", "192.0.2.1"}, {"ipMode", "VIP"}}};
  Response good_st = Call("PUT", svcs + "/lb/status", st.dump());
  EXPECT_EQ(good_st.status, 200) << good_st.json.dump();
}

TEST_F(HandlerTest, ServicesGetUniqueClusterIpsAndNodePorts) {
  const std::string svcs = "/api/v1/namespaces/default/services";
  auto svc = [](const std::string& name, const std::string& type,
                json extra = json::object()) {
    json s = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"type", type},
                {"ports", json::array({{{"port", 80}}})},
                {"selector", {{"app", "x"}}}}}};
    s["spec"].update(extra);
    return s;
  };
  std::set<std::string> ips;
  for (int i = 0; i < 5; ++i) {
    Response r = Post(svcs, svc("s" + std::to_string(i), "ClusterIP"));
    ASSERT_EQ(r.status, 201) << r.json.dump();
    std::string ip = r.json["spec"]["clusterIP"];
    EXPECT_NE(ip, "10.43.0.1");
    EXPECT_NE(ip, "10.43.0.10");
    EXPECT_TRUE(ips.insert(ip).second) << ip;
  }
  Response taken =
      Post(svcs, svc("dup", "ClusterIP", {{"clusterIP", "10.43.0.1"}}));
  EXPECT_EQ(taken.status, 422) << taken.json.dump();
  EXPECT_NE(taken.json["message"].get<std::string>().find(
                "provided IP is already allocated"),
            std::string::npos);
  Response dns =
      Post(svcs, svc("dns", "ClusterIP", {{"clusterIP", "10.43.0.10"}}));
  EXPECT_EQ(dns.status, 201) << dns.json.dump();
  Response np = Post(svcs, svc("np", "NodePort"));
  ASSERT_EQ(np.status, 201);
  int port = np.json["spec"]["ports"][0]["nodePort"];
  EXPECT_GE(port, 30000);
  EXPECT_LE(port, 32767);
  json same = svc("np2", "NodePort");
  same["spec"]["ports"][0]["nodePort"] = port;
  Response dup = Post(svcs, same);
  EXPECT_EQ(dup.status, 422);
  EXPECT_NE(dup.json["message"].get<std::string>().find(
                "provided port is already allocated"),
            std::string::npos);
  ASSERT_EQ(Call("DELETE", svcs + "/np").status, 200);
  EXPECT_EQ(Post(svcs, same).status, 201);  // released on delete
  Response headless =
      Post(svcs, svc("h", "ClusterIP", {{"clusterIP", "None"}}));
  EXPECT_EQ(headless.json["spec"]["clusterIP"], "None");
  Response ext =
      Post(svcs,
           json{{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", "ext"}}},
                {"spec",
                 {{"type", "ExternalName"}, {"externalName", "example.com"}}}});
  ASSERT_EQ(ext.status, 201) << ext.json.dump();
  EXPECT_FALSE(ext.json["spec"].contains("clusterIP"));

  // A restart (a new handler on the same datastore) does not hand them out
  // again.
  auto h2 = Handler::Create(store_, RealClock(), HandlerConfig{}, nullptr);
  ASSERT_TRUE(h2.ok());
  ASSERT_TRUE((*h2)->Init().ok());
  for (int i = 0; i < 20; ++i) {
    auto ip = (*h2)->service_allocator().AllocateIp();
    ASSERT_TRUE(ip.ok());
    EXPECT_EQ(ips.count(*ip), 0u) << *ip;
  }
}

TEST_F(HandlerTest, DeleteHonorsFinalizersAndNamespacesTerminate) {
  json cm = ConfigMap("f");
  cm["metadata"]["finalizers"] = json::array({"example.com/hold"});
  ASSERT_EQ(Post(kCms, cm).status, 201);
  Response d = Call("DELETE", std::string(kCms) + "/f");
  ASSERT_EQ(d.status, 200);
  EXPECT_TRUE(d.json["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(Call("GET", std::string(kCms) + "/f").status, 200);
  Response rm = Call("PATCH", std::string(kCms) + "/f",
                     R"({"metadata":{"finalizers":null}})",
                     "application/merge-patch+json");
  EXPECT_EQ(rm.status, 200) << rm.json.dump();
  EXPECT_EQ(Call("GET", std::string(kCms) + "/f").status, 404);

  // Foreground adds its finalizer.
  Post(kCms, ConfigMap("fg"));
  Response fg = Call("DELETE", std::string(kCms) + "/fg",
                     R"({"propagationPolicy":"Foreground"})");
  EXPECT_EQ(fg.json["metadata"]["finalizers"][0], "foregroundDeletion");

  ASSERT_EQ(Post("/api/v1/namespaces", json{{"apiVersion", "v1"},
                                            {"kind", "Namespace"},
                                            {"metadata", {{"name", "gone"}}}})
                .status,
            201);
  Response nd = Call("DELETE", "/api/v1/namespaces/gone");
  ASSERT_EQ(nd.status, 200);
  EXPECT_EQ(nd.json["status"]["phase"], "Terminating");
  Response refused = Post("/api/v1/namespaces/gone/configmaps", ConfigMap("x"));
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.json["message"].get<std::string>().find(
                "unable to create new content in namespace gone because it is "
                "being terminated"),
            std::string::npos);
  json fin = nd.json;
  fin["spec"]["finalizers"] = json::array();
  Response f = Call("PUT", "/api/v1/namespaces/gone/finalize", fin.dump());
  EXPECT_EQ(f.status, 200) << f.json.dump();
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/gone").status, 404);
}

TEST_F(HandlerTest, DryRunStoresNothing) {
  Response r = Call("POST", kCms, ConfigMap("dry").dump(), "application/json",
                    {{"dryRun", "All"}});
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(Call("GET", std::string(kCms) + "/dry").status, 404);
}

TEST_F(HandlerTest, ScaleSubresource) {
  json deploy = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}}},
      {"spec",
       {{"selector", {{"matchLabels", {{"app", "web"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec",
           {{"containers",
             json::array({{{"name", "web"}, {"image", "busybox"}}})}}}}}}}};
  const std::string deps = "/apis/apps/v1/namespaces/default/deployments";
  ASSERT_EQ(Post(deps, deploy).status, 201);
  Response s = Call("PATCH", deps + "/web/scale", R"({"spec":{"replicas":4}})",
                    "application/merge-patch+json");
  ASSERT_EQ(s.status, 200) << s.json.dump();
  EXPECT_EQ(s.json["kind"], "Scale");
  EXPECT_EQ(s.json["spec"]["replicas"], 4);
  EXPECT_EQ(Call("GET", deps + "/web").json["spec"]["replicas"], 4);
  Response bad =
      Call("PATCH", deps + "/web/scale", R"({"spec":{"replicas":-2}})",
           "application/merge-patch+json");
  EXPECT_EQ(bad.status, 422);
}

TEST_F(HandlerTest, CustomResourceDefinitionsServeAndTakeTheirObjectsAlong) {
  json crd = {
      {"apiVersion", "apiextensions.k8s.io/v1"},
      {"kind", "CustomResourceDefinition"},
      {"metadata", {{"name", "widgets.example.com"}}},
      {"spec",
       {{"group", "example.com"},
        {"scope", "Namespaced"},
        {"names",
         {{"plural", "widgets"}, {"singular", "widget"}, {"kind", "Widget"}}},
        {"versions",
         json::array(
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"schema",
                {{"openAPIV3Schema",
                  {{"type", "object"},
                   {"properties",
                    {{"spec",
                      {{"type", "object"},
                       {"properties",
                        {{"size", {{"type", "integer"}}}}}}}}}}}}}}})}}}};
  Response c =
      Post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
  ASSERT_EQ(c.status, 201) << c.json.dump();
  const std::string widgets = "/apis/example.com/v1/namespaces/default/widgets";
  json w = {{"apiVersion", "example.com/v1"},
            {"kind", "Widget"},
            {"metadata", {{"name", "w1"}}},
            {"spec", {{"size", 3}}}};
  Response cw = Post(widgets, w);
  ASSERT_EQ(cw.status, 201) << cw.json.dump();
  Response smp = Call("PATCH", widgets + "/w1", R"({"spec":{"size":4}})",
                      "application/strategic-merge-patch+json");
  EXPECT_EQ(smp.status, 415);
  Response bad = Post(widgets, json{{"apiVersion", "example.com/v1"},
                                    {"kind", "Widget"},
                                    {"metadata", {{"name", "w2"}}},
                                    {"spec", {{"size", "big"}}}});
  EXPECT_EQ(bad.status, 422) << bad.json.dump();
  ASSERT_EQ(Call("DELETE",
                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                 "widgets.example.com")
                .status,
            200);
  EXPECT_EQ(Call("GET", widgets + "/w1").status, 404);
  EXPECT_TRUE(store_.List("/registry/example.com/widgets/")->kvs.empty());
  // Registered again after a restart when stored.
  ASSERT_EQ(Post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
                .status,
            201);
  auto h2 = Handler::Create(store_, RealClock(), HandlerConfig{}, nullptr);
  ASSERT_TRUE((*h2)->Init().ok());
  EXPECT_NE((*h2)->registry().Lookup("example.com", "v1", "widgets"), nullptr);
}

TEST_F(HandlerTest, ProtobufBodiesFromKubectl) {
  std::ifstream in(std::string(KITE_TESTDATA_DIR) +
                       "/kubectl-bodies/02_create-configmap_POST_configmaps.pb",
                   std::ios::binary);
  if (!in)
    GTEST_SKIP() << "no captured kubectl bodies in " << KITE_TESTDATA_DIR;
  std::stringstream ss;
  ss << in.rdbuf();
  ASSERT_EQ(Post("/api/v1/namespaces", json{{"apiVersion", "v1"},
                                            {"kind", "Namespace"},
                                            {"metadata", {{"name", "capns"}}}})
                .status,
            201);
  Response r =
      Call("POST", "/api/v1/namespaces/capns/configmaps", ss.str(),
           "application/vnd.kubernetes.protobuf",
           {{"fieldManager", "kubectl-create"}, {"fieldValidation", "Strict"}});
  ASSERT_EQ(r.status, 201) << r.json.dump();
  EXPECT_EQ(r.json["data"]["greeting"], "hello");
  Response garbage = Call("POST", "/api/v1/namespaces/capns/configmaps",
                          std::string("k8s\0\x0a\x05", 6),
                          "application/vnd.kubernetes.protobuf");
  EXPECT_EQ(garbage.status, 400);
}

// Every body kubectl 1.32 sent for its typed create commands (captured in
// ../shared/testdata/kubectl-bodies) is created; `create token` is refused
// clearly until ServiceAccount tokens exist.
TEST_F(HandlerTest, EveryCapturedKubectlBodyIsCreated) {
  std::string dir = std::string(KITE_TESTDATA_DIR) + "/kubectl-bodies/";
  std::ifstream index(dir + "index.txt");
  if (!index) GTEST_SKIP() << "no captured kubectl bodies in " << dir;
  // The first body creates the namespace capns the others go to.
  std::string line;
  int created = 0;
  while (std::getline(index, line)) {
    std::istringstream fields(line);
    std::string file, method, target, type;
    std::getline(fields, file, '\t');
    fields >> method >> target >> type;
    std::ifstream in(dir + file, std::ios::binary);
    std::stringstream body;
    body << in.rdbuf();
    std::string path = target.substr(0, target.find('?'));
    std::multimap<std::string, std::string> query;
    if (target.find("fieldValidation=Strict") != std::string::npos)
      query.emplace("fieldValidation", "Strict");
    query.emplace("fieldManager", "kubectl-create");
    Response r = Call(method, path, body.str(), type, query);
    if (file.find("create-token") != std::string::npos) {
      EXPECT_EQ(r.status, 405) << file << ": " << r.json.dump();
      continue;
    }
    EXPECT_EQ(r.status, 201) << file << ": " << r.json.dump();
    if (r.status == 201) ++created;
  }
  EXPECT_GE(created, 22);
  Response np = Call("GET", "/api/v1/namespaces/capns/services/np1");
  EXPECT_EQ(np.json["spec"]["ports"][0]["nodePort"], 30080);
  Response deploy =
      Call("GET", "/apis/apps/v1/namespaces/capns/deployments/web");
  EXPECT_EQ(deploy.json["spec"]["replicas"], 3);
}

TEST_F(HandlerTest, DiscoveryAndOpenApi) {
  Request req;
  Response api = Call("GET", "/api", "", "", {},
                      "application/"
                      "json;g=apidiscovery.k8s.io;v=v2;as="
                      "APIGroupDiscoveryList,application/json");
  EXPECT_EQ(
      api.content_type,
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  Response legacy = Call("GET", "/apis");
  EXPECT_EQ(legacy.json["kind"], "APIGroupList");
  Response rl = Call("GET", "/apis/apps/v1");
  EXPECT_EQ(rl.json["kind"], "APIResourceList");
  Response idx = Call("GET", "/openapi/v3");
  EXPECT_TRUE(idx.json["paths"].contains("apis/apps/v1"));
  Response doc = Call("GET", "/openapi/v3/apis/apps/v1");
  ASSERT_TRUE(doc.raw);
  EXPECT_NE(doc.raw->find("io.k8s.api.apps.v1.Deployment"), std::string::npos);
  EXPECT_EQ(Call("GET", "/apis/nothing.example/v1").status, 404);
}

TEST_F(HandlerTest, PodsBindOnceAndAdmissionDefaults) {
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "p"}}},
      {"spec",
       {{"containers", json::array({{{"name", "c"}, {"image", "busybox"}}})}}}};
  Response c = Post("/api/v1/namespaces/default/pods", pod);
  ASSERT_EQ(c.status, 201) << c.json.dump();
  EXPECT_EQ(c.json["spec"]["serviceAccountName"], "default");
  EXPECT_EQ(c.json["spec"]["priority"], 0);
  json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", "p"}}},
                  {"target", {{"kind", "Node"}, {"name", "n1"}}}};
  Response b = Post("/api/v1/namespaces/default/pods/p/binding", binding);
  EXPECT_EQ(b.status, 201) << b.json.dump();
  EXPECT_EQ(
      Call("GET", "/api/v1/namespaces/default/pods/p").json["spec"]["nodeName"],
      "n1");
  Response again = Post("/api/v1/namespaces/default/pods/p/binding", binding);
  EXPECT_EQ(again.status, 409);
  // A scheduled pod is deleted gracefully; a second delete with 0 removes it.
  Response d = Call("DELETE", "/api/v1/namespaces/default/pods/p");
  EXPECT_EQ(d.json["metadata"]["deletionGracePeriodSeconds"], 30);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/default/pods/p").status, 200);
  Call("DELETE", "/api/v1/namespaces/default/pods/p",
       R"({"gracePeriodSeconds":0})");
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/default/pods/p").status, 404);
}

TEST_F(HandlerTest, EvictionHonorsDisruptionBudgets) {
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "e"}, {"labels", {{"app", "db"}}}}},
      {"spec",
       {{"containers", json::array({{{"name", "c"}, {"image", "busybox"}}})}}}};
  const std::string pods = "/api/v1/namespaces/default/pods";
  ASSERT_EQ(Post(pods, pod).status, 201);
  ASSERT_EQ(
      Call("PATCH", pods + "/e/status", R"({"status":{"phase":"Running"}})",
           "application/merge-patch+json")
          .status,
      200);
  json pdb = {{"apiVersion", "policy/v1"},
              {"kind", "PodDisruptionBudget"},
              {"metadata", {{"name", "db"}}},
              {"spec",
               {{"minAvailable", 1},
                {"selector", {{"matchLabels", {{"app", "db"}}}}}}}};
  ASSERT_EQ(Post("/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb)
                .status,
            201);
  json eviction = {{"apiVersion", "policy/v1"},
                   {"kind", "Eviction"},
                   {"metadata", {{"name", "e"}}}};
  Response refused = Post(pods + "/e/eviction", eviction);
  EXPECT_EQ(refused.status, 429) << refused.json.dump();
  EXPECT_EQ(refused.json["details"]["causes"][0]["reason"], "DisruptionBudget");
  ASSERT_EQ(
      Call("PATCH",
           "/apis/policy/v1/namespaces/default/poddisruptionbudgets/db/status",
           R"({"status":{"disruptionsAllowed":1}})",
           "application/merge-patch+json")
          .status,
      200);
  Response ok = Post(pods + "/e/eviction", eviction);
  EXPECT_EQ(ok.status, 201) << ok.json.dump();
  EXPECT_EQ(Call("GET", pods + "/e").status, 404);
}

TEST_F(HandlerTest, EventsServeInBothGroups) {
  json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", "ev1"}}},
             {"involvedObject",
              {{"kind", "Pod"}, {"name", "p"}, {"namespace", "default"}}},
             {"reason", "Started"},
             {"message", "hello"},
             {"type", "Normal"}};
  ASSERT_EQ(Post("/api/v1/namespaces/default/events", ev).status, 201);
  Response g =
      Call("GET", "/apis/events.k8s.io/v1/namespaces/default/events/ev1");
  ASSERT_EQ(g.status, 200) << g.json.dump();
  EXPECT_EQ(g.json["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ(g.json["note"], "hello");
  EXPECT_EQ(g.json["regarding"]["name"], "p");
  Response sel = Call(
      "GET", "/api/v1/namespaces/default/events", "", "",
      {{"fieldSelector", "involvedObject.name=p,involvedObject.kind=Pod"}});
  EXPECT_EQ(sel.json["items"].size(), 1u);
}

}  // namespace
}  // namespace kite::apiserver

namespace kite::apiserver {
namespace {

// The list fast path serves exactly what decoding would.
TEST(ObjectStoreTest, AppendServedEqualsDecode) {
  api::Registry registry;
  auto cm = registry.Lookup("", "v1", "configmaps");
  std::vector<nlohmann::json> objects = {
      {{"apiVersion", "v1"},
       {"kind", "ConfigMap"},
       {"metadata", {{"name", "a"}, {"namespace", "d"}}}},
      {{"apiVersion", "v1"},
       {"kind", "ConfigMap"},
       {"data",
        {{"metadata", "{\"metadata\":{\"x\":1}}"},
         {"q\"uote", "\\\"metadata\\\":{"}}},
       {"binaryData", {{"k", "dmFsdWU="}}},
       {"metadata", {{"name", "b"}, {"labels", {{"metadata", "x"}}}}}},
      {{"apiVersion", "v1"},
       {"kind", "ConfigMap"},
       {"metadata", nlohmann::json::object()}},
  };
  for (const auto& obj : objects) {
    std::string stored = ObjectStore::Encode(obj);
    std::string out;
    ASSERT_TRUE(ObjectStore::AppendServed(*cm, stored, 42, &out)) << stored;
    auto decoded = ObjectStore::Decode(*cm, stored, 42);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(nlohmann::json::parse(out), *decoded) << out;
  }
  std::string out;
  EXPECT_FALSE(ObjectStore::AppendServed(
      *cm, R"({"apiVersion":"v2","kind":"ConfigMap","metadata":{}})", 1, &out));
  EXPECT_FALSE(ObjectStore::AppendServed(
      *cm, R"({"apiVersion":"v1","kind":"ConfigMap"})", 1, &out));
  EXPECT_TRUE(out.empty());
}

}  // namespace
// Found by tests/fuzz/yaml_fuzz: a plain YAML integer beyond a double's
// range became infinity, which JSON stores as null. Kubernetes keeps such a
// scalar as a string.
TEST_F(HandlerTest, YamlNumbersBeyondADoubleStayStrings) {
  std::string big = "1" + std::string(400, '0');
  Response r = Call("POST", kCms,
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "
                    "big}\ndata:\n  big: " +
                        big + "\n",
                    "application/yaml");
  ASSERT_EQ(r.status, 201) << r.json.dump();
  EXPECT_EQ(r.json["data"]["big"], big);
  Response g = Call("GET", std::string(kCms) + "/big");
  EXPECT_EQ(g.json["data"]["big"], big);
}

// Found by tests/fuzz: bytes that are not UTF-8 in a YAML body went into
// stored strings, and echoed in an error message (from a JSON body or a
// path) they made the answer impossible to serialize.
// What the HTTPS transport (api_server.cpp) writes.
std::string DumpJson(const json& v) {
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

TEST_F(HandlerTest, BytesThatAreNotUtf8AreRefusedOrReplaced) {
  Response yaml = Call("POST", kCms,
                       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "
                       "u}\ndata: {k: \"\xd0\xcc\"}\n",
                       "application/yaml");
  EXPECT_EQ(yaml.status, 400) << DumpJson(yaml.json);
  EXPECT_EQ(Call("GET", std::string(kCms) + "/u").status, 404);
  // A NUL in a quoted scalar made yaml-cpp loop forever.
  Response nul = Call("POST", kCms, std::string("{\"kind\":\"Co\0\0\"}\n", 16),
                      "application/yaml");
  EXPECT_EQ(nul.status, 400);
  // Text after a flow mapping made yaml-cpp's LoadAll loop forever.
  Response stray = Call(
      "POST", kCms, "{\"apiVersion\":\"v1\",\"kind\"},\"data\":{\"a\":\"b\"}}",
      "application/yaml");
  EXPECT_EQ(stray.status, 400) << DumpJson(stray.json);
  Response two = Call("POST", kCms,
                      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
                      "---\napiVersion: v1\nkind: ConfigMap\n",
                      "application/yaml");
  EXPECT_EQ(two.status, 400) << DumpJson(two.json);
  Response one = Call("POST", kCms,
                      "---\napiVersion: v1  # a comment\nkind: ConfigMap\n"
                      "metadata: {name: yaml-one}\ndata: {k: '[v}'}\n...\n",
                      "application/yaml");
  EXPECT_EQ(one.status, 201) << DumpJson(one.json);
  EXPECT_EQ(Call("GET", std::string(kCms) + "/yaml-one").json["data"]["k"],
            "[v}");

  Response body = Call("POST", kCms, "{\"apiVersion\":\"v1\xdf\xd3\"}");
  EXPECT_EQ(body.status, 400);
  Response path = Call("GET", std::string(kCms) + "/a\xff");
  EXPECT_EQ(path.status, 404);
  for (const Response* r : {&body, &path}) {
    std::string wire = DumpJson(r->json);
    EXPECT_TRUE(json::parse(wire).is_object()) << wire;
  }
  EXPECT_NE(DumpJson(path.json).find("\xef\xbf\xbd"), std::string::npos)
      << "U+FFFD replaces the byte";
}

}  // namespace kite::apiserver
