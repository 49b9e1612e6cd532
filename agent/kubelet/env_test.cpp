#include "agent/kubelet/env.h"

#include <gtest/gtest.h>

#include <map>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::kubelet {
namespace {

using client::ResourceRef;
using Json = nlohmann::json;

const ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
const ResourceRef kSecrets{"", "v1", "secrets", ""};
const ResourceRef kServices{"", "v1", "services", ""};
const ResourceRef kEvents{"", "v1", "events", ""};

std::map<std::string, std::string> AsMap(const std::vector<cri::KeyValue>& v) {
  std::map<std::string, std::string> m;
  for (const auto& kv : v) m[kv.key] = kv.value;
  return m;
}

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Create(
        kConfigMaps,
        {{"metadata", {{"name", "cfg"}, {"namespace", "demo"}}},
         {"data",
          {{"MODE", "fast"}, {"level", "3"}, {"bad key", "x"}, {"1st", "y"}}}});
    // "s3cret" and "admin" in base64.
    Create(kSecrets,
           {{"metadata", {{"name", "creds"}, {"namespace", "demo"}}},
            {"data", {{"password", "czNjcmV0"}, {"user", "YWRtaW4="}}}});
    Create(kServices,
           {{"metadata", {{"name", "kubernetes"}, {"namespace", "default"}}},
            {"spec",
             {{"clusterIP", "10.43.0.1"},
              {"ports",
               {{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}}}}}}});
    Create(kServices,
           {{"metadata", {{"name", "web-api"}, {"namespace", "demo"}}},
            {"spec",
             {{"clusterIP", "10.43.0.20"},
              {"ports",
               {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}},
                {{"name", "dns"}, {"port", 53}, {"protocol", "UDP"}}}}}}});
    Create(kServices,
           {{"metadata", {{"name", "headless"}, {"namespace", "demo"}}},
            {"spec", {{"clusterIP", "None"}, {"ports", {{{"port", 80}}}}}}});
    Create(
        kServices,
        {{"metadata", {{"name", "elsewhere"}, {"namespace", "other"}}},
         {"spec", {{"clusterIP", "10.43.0.30"}, {"ports", {{{"port", 80}}}}}}});
  }
  void Create(const ResourceRef& ref, const Json& obj) {
    ASSERT_TRUE(fake_.Create(ref, obj, {}).ok());
  }
  Json Pod(const Json& container) {
    return {{"metadata",
             {{"name", "app"},
              {"namespace", "demo"},
              {"uid", "u-1"},
              {"labels", {{"tier", "front"}}},
              {"annotations", {{"build", "42"}}}}},
            {"spec",
             {{"nodeName", "n1"},
              {"serviceAccountName", "robot"},
              {"containers", {container}}}},
            {"status",
             {{"podIP", "10.42.0.7"}, {"podIPs", {{{"ip", "10.42.0.7"}}}}}}};
  }
  StatusOr<std::vector<cri::KeyValue>> Build(const Json& container,
                                             Json pod = nullptr) {
    if (pod.is_null()) pod = Pod(container);
    EnvOptions o;
    o.host_ips = {"192.168.1.5"};
    o.node_allocatable = [] { return Json{{"cpu", "4"}, {"memory", "8Gi"}}; };
    Env env(fake_, o);
    return env.Build(pod, container);
  }

  client::FakeClient fake_;
};

TEST_F(EnvTest, ValuesExpandAgainstEarlierVariablesAndServices) {
  Json c = {{"name", "app"},
            {"env",
             {{{"name", "A"}, {"value", "one"}},
              {{"name", "B"}, {"value", "$(A)-two $$(A) $(MISSING) $(A"}},
              {{"name", "C"}, {"value", "https://$(KUBERNETES_SERVICE_HOST)"}},
              {{"name", "A"}, {"value", "again"}}}}};
  auto env = Build(c);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  auto m = AsMap(*env);
  EXPECT_EQ(m["A"], "again");
  EXPECT_EQ(m["B"], "one-two $(A) $(MISSING) $(A");
  EXPECT_EQ(m["C"], "https://10.43.0.1");
  // A keeps its first position; service variables come last.
  ASSERT_GE(env->size(), 3u);
  EXPECT_EQ((*env)[0].key, "A");
  EXPECT_EQ((*env)[1].key, "B");
}

TEST_F(EnvTest, ServiceVariables) {
  auto env = Build({{"name", "app"}});
  ASSERT_TRUE(env.ok());
  auto m = AsMap(*env);
  EXPECT_EQ(m["KUBERNETES_SERVICE_HOST"], "10.43.0.1");
  EXPECT_EQ(m["KUBERNETES_SERVICE_PORT"], "443");
  EXPECT_EQ(m["KUBERNETES_SERVICE_PORT_HTTPS"], "443");
  EXPECT_EQ(m["KUBERNETES_PORT"], "tcp://10.43.0.1:443");
  EXPECT_EQ(m["KUBERNETES_PORT_443_TCP_ADDR"], "10.43.0.1");
  EXPECT_EQ(m["WEB_API_SERVICE_HOST"], "10.43.0.20");
  EXPECT_EQ(m["WEB_API_SERVICE_PORT"], "80");
  EXPECT_EQ(m["WEB_API_SERVICE_PORT_DNS"], "53");
  EXPECT_EQ(m["WEB_API_PORT_53_UDP"], "udp://10.43.0.20:53");
  EXPECT_EQ(m["WEB_API_PORT_53_UDP_PROTO"], "udp");
  EXPECT_EQ(m["WEB_API_PORT_80_TCP_PORT"], "80");
  EXPECT_EQ(m.count("HEADLESS_SERVICE_HOST"), 0u);
  EXPECT_EQ(m.count("ELSEWHERE_SERVICE_HOST"), 0u);
  // enableServiceLinks: false keeps only the API server's.
  Json c = {{"name", "app"}};
  Json pod = Pod(c);
  pod["spec"]["enableServiceLinks"] = false;
  env = Build(c, pod);
  ASSERT_TRUE(env.ok());
  m = AsMap(*env);
  EXPECT_EQ(m["KUBERNETES_SERVICE_HOST"], "10.43.0.1");
  EXPECT_EQ(m.count("WEB_API_SERVICE_HOST"), 0u);
}

TEST_F(EnvTest, ConfigMapAndSecretReferences) {
  Json c = {
      {"name", "app"},
      {"envFrom",
       {{{"configMapRef", {{"name", "cfg"}}}, {"prefix", "CFG_"}},
        {{"secretRef", {{"name", "creds"}}}}}},
      {"env",
       {{{"name", "MODE"},
         {"valueFrom",
          {{"configMapKeyRef", {{"name", "cfg"}, {"key", "MODE"}}}}}},
        {{"name", "PW"},
         {"valueFrom",
          {{"secretKeyRef", {{"name", "creds"}, {"key", "password"}}}}}},
        {{"name", "OPT"},
         {"valueFrom",
          {{"configMapKeyRef",
            {{"name", "absent"}, {"key", "k"}, {"optional", true}}}}}},
        {{"name", "OPT_KEY"},
         {"valueFrom",
          {{"secretKeyRef",
            {{"name", "creds"}, {"key", "nope"}, {"optional", true}}}}}}}}};
  auto env = Build(c);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  auto m = AsMap(*env);
  EXPECT_EQ(m["CFG_MODE"], "fast");
  EXPECT_EQ(m["CFG_level"], "3");
  EXPECT_EQ(m["CFG_1st"], "y");  // valid with the prefix
  EXPECT_EQ(m.count("CFG_bad key"), 0u);
  EXPECT_EQ(m["user"], "admin");
  EXPECT_EQ(m["MODE"], "fast");
  EXPECT_EQ(m["PW"], "s3cret");
  EXPECT_EQ(m.count("OPT"), 0u);
  EXPECT_EQ(m.count("OPT_KEY"), 0u);
  // The skipped key is reported.
  auto evs = fake_.List(kEvents.In("demo"), {});
  ASSERT_TRUE(evs.ok());
  ASSERT_EQ((*evs)["items"].size(), 1u);
  EXPECT_EQ(api::GetString((*evs)["items"][0], {"message"}),
            "Keys [CFG_bad key] from the EnvFrom configMap demo/cfg were "
            "skipped since they are considered invalid environment variable "
            "names.");
  // Without the prefix "1st" is not a valid name either.
  Json bare = {{"name", "app"},
               {"envFrom", {{{"configMapRef", {{"name", "cfg"}}}}}}};
  env = Build(bare);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(AsMap(*env).count("1st"), 0u);
}

TEST_F(EnvTest, MissingReferencesAreUnavailable) {
  auto one = [&](const Json& var) {
    return Build({{"name", "app"}, {"env", {var}}}).status();
  };
  Status s = one({{"name", "X"},
                  {"valueFrom",
                   {{"configMapKeyRef", {{"name", "absent"}, {"key", "k"}}}}}});
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.message(), "configmap \"absent\" not found");
  s = one(
      {{"name", "X"},
       {"valueFrom", {{"secretKeyRef", {{"name", "creds"}, {"key", "k"}}}}}});
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.message(), "couldn't find key k in Secret demo/creds");
  s = Build(
          {{"name", "app"}, {"envFrom", {{{"secretRef", {{"name", "gone"}}}}}}})
          .status();
  EXPECT_EQ(s.message(), "secret \"gone\" not found");
}

TEST_F(EnvTest, FieldAndResourceReferences) {
  auto field = [](const char* path) {
    return Json{{"fieldRef", {{"fieldPath", path}}}};
  };
  auto res = [](const char* r, const char* divisor = nullptr) {
    Json j = {{"resourceFieldRef", {{"resource", r}}}};
    if (divisor) j["resourceFieldRef"]["divisor"] = divisor;
    return j;
  };
  Json c = {
      {"name", "app"},
      {"resources",
       {{"requests", {{"cpu", "250m"}, {"memory", "64Mi"}}},
        {"limits", {{"cpu", "1500m"}}}}},
      {"env",
       {{{"name", "NAME"}, {"valueFrom", field("metadata.name")}},
        {{"name", "NS"}, {"valueFrom", field("metadata.namespace")}},
        {{"name", "UID"}, {"valueFrom", field("metadata.uid")}},
        {{"name", "TIER"}, {"valueFrom", field("metadata.labels['tier']")}},
        {{"name", "BUILD"},
         {"valueFrom", field("metadata.annotations['build']")}},
        {{"name", "NODE"}, {"valueFrom", field("spec.nodeName")}},
        {{"name", "SA"}, {"valueFrom", field("spec.serviceAccountName")}},
        {{"name", "POD_IP"}, {"valueFrom", field("status.podIP")}},
        {{"name", "POD_IPS"}, {"valueFrom", field("status.podIPs")}},
        {{"name", "HOST_IP"}, {"valueFrom", field("status.hostIP")}},
        {{"name", "CPU_LIMIT"}, {"valueFrom", res("limits.cpu")}},
        {{"name", "CPU_REQ_M"}, {"valueFrom", res("requests.cpu", "1m")}},
        {{"name", "CPU_REQ"}, {"valueFrom", res("requests.cpu")}},
        {{"name", "MEM_REQ_MI"}, {"valueFrom", res("requests.memory", "1Mi")}},
        {{"name", "MEM_LIMIT_GI"},
         {"valueFrom", res("limits.memory", "1Gi")}}}}};
  auto env = Build(c);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  auto m = AsMap(*env);
  EXPECT_EQ(m["NAME"], "app");
  EXPECT_EQ(m["NS"], "demo");
  EXPECT_EQ(m["UID"], "u-1");
  EXPECT_EQ(m["TIER"], "front");
  EXPECT_EQ(m["BUILD"], "42");
  EXPECT_EQ(m["NODE"], "n1");
  EXPECT_EQ(m["SA"], "robot");
  EXPECT_EQ(m["POD_IP"], "10.42.0.7");
  EXPECT_EQ(m["POD_IPS"], "10.42.0.7");
  EXPECT_EQ(m["HOST_IP"], "192.168.1.5");  // the node's, the pod has none
  EXPECT_EQ(m["CPU_LIMIT"], "2");          // 1.5 cores rounded up
  EXPECT_EQ(m["CPU_REQ_M"], "250");
  EXPECT_EQ(m["CPU_REQ"], "1");
  EXPECT_EQ(m["MEM_REQ_MI"], "64");
  EXPECT_EQ(m["MEM_LIMIT_GI"], "8");  // unset: the node's allocatable
  auto bad =
      Build({{"name", "app"},
             {"env", {{{"name", "X"}, {"valueFrom", field("spec.bogus")}}}}});
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

TEST(ExpandEnvTest, KubernetesRules) {
  auto look = [](const std::string& k, std::string* v) {
    if (k != "X") return false;
    *v = "x";
    return true;
  };
  EXPECT_EQ(ExpandEnv("$(X)$(X)", look), "xx");
  EXPECT_EQ(ExpandEnv("$$(X)", look), "$(X)");
  EXPECT_EQ(ExpandEnv("$X $", look), "$X $");
  EXPECT_EQ(ExpandEnv("$()", look), "$()");
  EXPECT_EQ(ExpandEnv("a$(Y)b", look), "a$(Y)b");
  EXPECT_TRUE(IsEnvVarName("A_b.c-d"));
  EXPECT_FALSE(IsEnvVarName("1A"));
  EXPECT_FALSE(IsEnvVarName("a b"));
  EXPECT_FALSE(IsEnvVarName(""));
}

}  // namespace
}  // namespace kite::kubelet
