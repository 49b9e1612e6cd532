// Defaulting, validation messages and strategy steps.
#include "api/validation.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "api/field_error.h"
#include "api/kinds.h"
#include "api/rules.h"

namespace kite::api {
namespace {

Json Fixture(const char* name) {
  std::ifstream in(std::string(KITE_TESTDATA_DIR) + "/kubectl-bodies/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

std::vector<std::string> Messages(const FieldErrors& errs) {
  std::vector<std::string> out;
  for (const FieldError& e : errs) out.push_back(e.ToString());
  return out;
}

bool HasMessage(const FieldErrors& errs, const std::string& m) {
  for (const FieldError& e : errs) {
    if (e.ToString() == m) return true;
  }
  return false;
}

Json ValidDeployment() {
  return Json::parse(
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"capns"},
    "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
      "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
        {"name":"web","image":"registry.local/busybox:latest","ports":[{"containerPort":8080}],
         "resources":{"requests":{"cpu":"0.1","memory":"64Mi"},"limits":{"cpu":"0.5","memory":"128Mi"}}}]}}}})");
}

TEST(NameChecksTest, KubernetesMessages) {
  EXPECT_EQ(IsDNS1123Subdomain("Bad_Name"),
            std::vector<std::string>{
                "a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and "
                "must start and end with an alphanumeric character (e.g. "
                "'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])"
                "?)*')"});
  EXPECT_TRUE(IsDNS1123Subdomain("a.b-c.d").empty());
  EXPECT_EQ(IsDNS1123Label("a.b"),
            std::vector<std::string>{"must not contain dots"});
  EXPECT_EQ(IsDNS1123Label(std::string(64, 'a')),
            std::vector<std::string>{"must be no more than 63 characters"});
  EXPECT_EQ(IsDNS1035Label("1abc").size(), 1u);
  EXPECT_TRUE(IsDNS1035Label("abc-1").empty());
  EXPECT_TRUE(IsQualifiedName("example.com/MyName").empty());
  EXPECT_EQ(IsQualifiedName("/a"),
            std::vector<std::string>{"prefix part must be non-empty"});
  EXPECT_EQ(IsQualifiedName("a/b/c").size(), 1u);
  EXPECT_TRUE(IsValidLabelValue("").empty());
  EXPECT_EQ(IsValidLabelValue(std::string(64, 'a'))[0],
            "must be no more than 63 characters");
  EXPECT_TRUE(IsConfigMapKey("key.name_1-x").empty());
  EXPECT_EQ(IsConfigMapKey("..a").back(), "must not start with '..'");
  EXPECT_EQ(IsValidPortName("http"), std::vector<std::string>{});
  EXPECT_EQ(IsValidPortName("80"),
            std::vector<std::string>{"must contain at least one letter (a-z)"});
  EXPECT_EQ(IsValidPortNum(0),
            std::vector<std::string>{"must be between 1 and 65535, inclusive"});
  EXPECT_EQ(IsValidPathSegmentName("a/b"),
            std::vector<std::string>{"may not contain '/'"});
}

TEST(FieldErrorTest, RendersLikeTheApiServerAndKubectl) {
  FieldErrors errs = {
      Invalid("spec.replicas", -1, "must be greater than or equal to 0")};
  EXPECT_EQ(InvalidMessage("apps", "Deployment", "web", errs),
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: "
            "-1: must be greater than or equal to 0");
  EXPECT_EQ(KubectlInvalidMessage("Deployment", "web", errs),
            "The Deployment \"web\" is invalid: spec.replicas: Invalid value: "
            "-1: must be greater than or equal to 0");
  errs.push_back(Required("spec.template.spec.containers[0].image", ""));
  errs.push_back(NotSupported("spec.strategy.type", "Sideways",
                              {"Recreate", "RollingUpdate"}));
  EXPECT_EQ(
      AggregateMessage(errs),
      "[spec.replicas: Invalid value: -1: must be greater than or equal to 0, "
      "spec.template.spec.containers[0].image: Required value, "
      "spec.strategy.type: Unsupported value: \"Sideways\": supported values: "
      "\"Recreate\", \"RollingUpdate\"]");
  Json st = InvalidStatus("apps", "Deployment", "web", errs);
  EXPECT_EQ(st["code"], 422);
  EXPECT_EQ(st["reason"], "Invalid");
  EXPECT_EQ(st["details"]["group"], "apps");
  EXPECT_EQ(st["details"]["kind"], "Deployment");
  EXPECT_EQ(st["details"]["causes"][0],
            (Json{{"reason", "FieldValueInvalid"},
                  {"message",
                   "Invalid value: -1: must be greater than or equal to 0"},
                  {"field", "spec.replicas"}}));
  EXPECT_EQ(st["details"]["causes"][1]["reason"], "FieldValueRequired");
  EXPECT_EQ(InvalidMessage("", "ConfigMap", "Bad_Name", {}),
            "ConfigMap \"Bad_Name\" is invalid");
  EXPECT_EQ(GoValue(Json::parse(R"({"b":"2","a":"1"})")),
            "map[string]string{\"a\":\"1\", \"b\":\"2\"}");
  EXPECT_EQ(GoValue(Json::parse(R"(["x","y"])")), "[]string{\"x\", \"y\"}");
}

TEST(DefaultTest, KubectlRunPodGetsKubernetesDefaults) {
  Registry reg;
  auto kind = reg.Lookup("", "v1", "pods");
  Json pod = Fixture("22_run_POST_pods.json");
  ASSERT_TRUE(Default(*kind, pod).ok());
  const Json& spec = pod["spec"];
  EXPECT_EQ(spec["restartPolicy"], "Always");
  EXPECT_EQ(spec["dnsPolicy"], "ClusterFirst");
  EXPECT_EQ(spec["terminationGracePeriodSeconds"], 30);
  EXPECT_EQ(spec["schedulerName"], "default-scheduler");
  EXPECT_EQ(spec["securityContext"], Json::object());
  EXPECT_EQ(spec["enableServiceLinks"], true);
  const Json& c = spec["containers"][0];
  EXPECT_EQ(c["imagePullPolicy"], "Always");  // :latest
  EXPECT_EQ(c["terminationMessagePath"], "/dev/termination-log");
  EXPECT_EQ(c["terminationMessagePolicy"], "File");
  EXPECT_EQ(c["ports"][0]["protocol"], "TCP");
  EXPECT_TRUE(
      Validate(*kind, (pod["metadata"]["namespace"] = "capns", pod), nullptr)
          .empty())
      << Messages(Validate(*kind, pod, nullptr))[0];
  PrepareForCreate(*kind, pod);
  EXPECT_EQ(pod["status"],
            (Json{{"phase", "Pending"}, {"qosClass", "BestEffort"}}));

  // Pull policy by tag; requests default from limits; quantities canonical.
  Json p2 = Json::parse(
      R"({"metadata":{"name":"p2","namespace":"d"},"spec":{"containers":[
    {"name":"a","image":"busybox:1.36","resources":{"limits":{"cpu":"0.5","memory":"1024Mi"}}},
    {"name":"b","image":"registry.local:5000/busybox"},
    {"name":"c","image":"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]}})");
  ASSERT_TRUE(Default(*kind, p2).ok());
  EXPECT_EQ(p2["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(p2["spec"]["containers"][1]["imagePullPolicy"], "Always");
  EXPECT_EQ(p2["spec"]["containers"][2]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(p2["spec"]["containers"][0]["resources"]["limits"],
            (Json{{"cpu", "500m"}, {"memory", "1Gi"}}));
  EXPECT_EQ(p2["spec"]["containers"][0]["resources"]["requests"],
            (Json{{"cpu", "500m"}, {"memory", "1Gi"}}));
  EXPECT_EQ(rules::PodQOSClass(p2), "Burstable");
  p2["spec"]["containers"] = Json::array({p2["spec"]["containers"][0]});
  EXPECT_EQ(rules::PodQOSClass(p2), "Guaranteed");

  Json bad = Json::parse(R"({"metadata":{"name":"p3"},"spec":{"containers":[
    {"name":"a","image":"x","resources":{"limits":{"cpu":"lots"}}}]}})");
  Status st = Default(*kind, bad);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

TEST(ValidateTest, PodSpecErrors) {
  Registry reg;
  auto kind = reg.Lookup("", "v1", "pods");
  Json pod = Json::parse(
      R"({"metadata":{"name":"Bad_Pod","namespace":"d","labels":{"ok":"-no"}},"spec":{
    "containers":[
      {"name":"web","image":"","ports":[{"containerPort":70000},{"containerPort":80,"protocol":"HTTP"}],
       "env":[{"name":""}],"volumeMounts":[{"name":"data","mountPath":"/d"}],
       "resources":{"requests":{"cpu":"2"},"limits":{"cpu":"1"}}},
      {"name":"web","image":"busybox"}],
    "restartPolicy":"Sometimes"}})");
  ASSERT_TRUE(Default(*kind, pod).ok());
  FieldErrors errs = Validate(*kind, pod, nullptr);
  EXPECT_TRUE(HasMessage(
      errs,
      "metadata.name: Invalid value: \"Bad_Pod\": a lowercase RFC 1123 "
      "subdomain must consist "
      "of lower case alphanumeric characters, '-' or '.', and must start and "
      "end with an "
      "alphanumeric character (e.g. 'example.com', regex used for validation "
      "is "
      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"))
      << ::testing::PrintToString(Messages(errs));
  EXPECT_TRUE(HasMessage(errs, "spec.containers[0].image: Required value"));
  EXPECT_TRUE(HasMessage(errs,
                         "spec.containers[0].ports[0].containerPort: Invalid "
                         "value: 70000: must be between 1 "
                         "and 65535, inclusive"));
  EXPECT_TRUE(HasMessage(errs,
                         "spec.containers[0].ports[1].protocol: Unsupported "
                         "value: \"HTTP\": supported values: "
                         "\"SCTP\", \"TCP\", \"UDP\""));
  EXPECT_TRUE(
      HasMessage(errs, "spec.containers[0].env[0].name: Required value"));
  EXPECT_TRUE(HasMessage(
      errs, "spec.containers[0].volumeMounts[0].name: Not found: \"data\""));
  EXPECT_TRUE(HasMessage(errs,
                         "spec.containers[0].resources.requests: Invalid "
                         "value: \"2\": must be less than or "
                         "equal to cpu limit of 1"));
  EXPECT_TRUE(
      HasMessage(errs, "spec.containers[1].name: Duplicate value: \"web\""));
  EXPECT_TRUE(HasMessage(errs,
                         "spec.restartPolicy: Unsupported value: "
                         "\"Sometimes\": supported values: \"Always\", "
                         "\"OnFailure\", \"Never\""));
  EXPECT_TRUE(HasMessage(
      errs,
      "metadata.labels: Invalid value: \"-no\": a valid label must be an empty "
      "string or "
      "consist of alphanumeric characters, '-', '_' or '.', and must start and "
      "end with an "
      "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
      "regex used for "
      "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"));
  Json empty =
      Json::parse(R"({"metadata":{"name":"e","namespace":"d"},"spec":{}})");
  ASSERT_TRUE(Default(*kind, empty).ok());
  EXPECT_EQ(Messages(Validate(*kind, empty, nullptr)),
            std::vector<std::string>{"spec.containers: Required value"});
}

TEST(ValidateTest, PodUpdateMayOnlyChangeImages) {
  Registry reg;
  auto kind = reg.Lookup("", "v1", "pods");
  Json pod = Fixture("22_run_POST_pods.json");
  pod["metadata"]["namespace"] = "d";
  ASSERT_TRUE(Default(*kind, pod).ok());
  Json img = pod;
  img["spec"]["containers"][0]["image"] = "registry.local/busybox:1.36";
  EXPECT_TRUE(Validate(*kind, img, &pod).empty());
  Json cmd = pod;
  cmd["spec"]["containers"][0]["args"] = Json::array({"sleep", "1"});
  FieldErrors errs = Validate(*kind, cmd, &pod);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec");
  EXPECT_EQ(errs[0].type, FieldErrorType::kForbidden);
}

TEST(ValidateTest, DeploymentDefaultsAndErrors) {
  Registry reg;
  auto kind = reg.Lookup("apps", "v1", "deployments");
  Json d = ValidDeployment();
  d["spec"].erase("replicas");
  ASSERT_TRUE(Default(*kind, d).ok());
  EXPECT_EQ(d["spec"]["replicas"], 1);
  EXPECT_EQ(
      d["spec"]["strategy"],
      Json::parse(
          R"({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}})"));
  EXPECT_EQ(d["spec"]["revisionHistoryLimit"], 10);
  EXPECT_EQ(d["spec"]["progressDeadlineSeconds"], 600);
  EXPECT_EQ(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["resources"]
             ["requests"]["cpu"],
            "100m");
  // Templates do not get requests from limits (that is Pod-only).
  EXPECT_FALSE(d["spec"]["template"]["spec"].contains("enableServiceLinks"));
  EXPECT_TRUE(Validate(*kind, d, nullptr).empty())
      << Messages(Validate(*kind, d, nullptr))[0];

  Json neg = d;
  neg["spec"]["replicas"] = -1;
  FieldErrors errs = Validate(*kind, neg, &d);
  EXPECT_EQ(KubectlInvalidMessage("Deployment", "web", errs),
            "The Deployment \"web\" is invalid: spec.replicas: Invalid value: "
            "-1: must be greater than or equal to 0");

  Json mismatch = d;
  mismatch["spec"]["template"]["metadata"]["labels"] = {{"app", "other"}};
  EXPECT_EQ(
      Messages(Validate(*kind, mismatch, nullptr)),
      std::vector<std::string>{"spec.template.metadata.labels: Invalid value: "
                               "map[string]string{\"app\":\"other\"}: "
                               "`selector` does not match template `labels`"});

  Json moved = d;
  moved["spec"]["selector"]["matchLabels"]["app"] = "b";
  moved["spec"]["template"]["metadata"]["labels"]["app"] = "b";
  EXPECT_EQ(Messages(Validate(*kind, moved, &d)),
            std::vector<std::string>{
                "spec.selector: Invalid value: "
                "v1.LabelSelector{MatchLabels:map[string]string{\"app\":"
                "\"b\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: "
                "field is immutable"});

  Json no_sel = d;
  no_sel["spec"].erase("selector");
  EXPECT_TRUE(HasMessage(Validate(*kind, no_sel, nullptr),
                         "spec.selector: Required value"));
  Json empty_sel = d;
  empty_sel["spec"]["selector"] = Json::object();
  EXPECT_TRUE(HasMessage(Validate(*kind, empty_sel, nullptr),
                         "spec.selector: Invalid value: "
                         "v1.LabelSelector{MatchLabels:map[string]string(nil), "
                         "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}:"
                         " empty selector is invalid for deployment"));

  Json zero = d;
  zero["spec"]["strategy"]["rollingUpdate"] = {{"maxUnavailable", 0},
                                               {"maxSurge", "0%"}};
  EXPECT_TRUE(
      HasMessage(Validate(*kind, zero, nullptr),
                 "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "
                 "intstr.IntOrString{Type:0, "
                 "IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0"));
  Json never = d;
  never["spec"]["template"]["spec"]["restartPolicy"] = "Never";
  EXPECT_TRUE(HasMessage(Validate(*kind, never, nullptr),
                         "spec.template.spec.restartPolicy: Unsupported value: "
                         "\"Never\": supported values: \"Always\""));
}

TEST(ValidateTest, StrategyStepsKeepStatusAndBumpGeneration) {
  Registry reg;
  auto kind = reg.Lookup("apps", "v1", "deployments");
  Json d = ValidDeployment();
  d["status"] = {{"replicas", 99}};
  ASSERT_TRUE(Default(*kind, d).ok());
  PrepareForCreate(*kind, d);
  EXPECT_EQ(d["status"], Json::object());
  EXPECT_EQ(d["metadata"]["generation"], 1);

  Json stored = d;
  stored["status"] = {{"replicas", 2}, {"observedGeneration", 1}};
  Json update = d;
  update["status"] = {{"replicas", 1000}};
  update["metadata"]["labels"] = {{"x", "y"}};
  PrepareForUpdate(*kind, update, stored);
  EXPECT_EQ(update["status"], stored["status"]);
  EXPECT_EQ(update["metadata"]["generation"], 1);  // metadata-only change
  update["spec"]["replicas"] = 5;
  PrepareForUpdate(*kind, update, stored);
  EXPECT_EQ(update["metadata"]["generation"], 2);

  Json status_write = stored;
  status_write["spec"]["replicas"] = 50;
  status_write["status"] = {{"replicas", 3}};
  PrepareForStatusUpdate(*kind, status_write, stored);
  EXPECT_EQ(status_write["spec"]["replicas"], 2);
  EXPECT_EQ(status_write["status"]["replicas"], 3);
}

TEST(ValidateTest, ServiceFromKubectlExposeAndUpdates) {
  Registry reg;
  auto kind = reg.Lookup("", "v1", "services");
  Json svc = Fixture("23_expose_POST_services.json");
  svc["metadata"]["namespace"] = "capns";
  svc["spec"]["ports"][0].erase("targetPort");
  ASSERT_TRUE(Default(*kind, svc).ok());
  EXPECT_EQ(svc["spec"]["type"], "ClusterIP");
  EXPECT_EQ(svc["spec"]["sessionAffinity"], "None");
  EXPECT_EQ(svc["spec"]["internalTrafficPolicy"], "Cluster");
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], 80);
  EXPECT_FALSE(svc["spec"].contains("externalTrafficPolicy"));
  EXPECT_TRUE(Validate(*kind, svc, nullptr).empty())
      << Messages(Validate(*kind, svc, nullptr))[0];
  PrepareForCreate(*kind, svc);
  EXPECT_EQ(svc["status"], Json::parse(R"({"loadBalancer":{}})"));

  // Service names are DNS-1035 labels.
  Json digit = svc;
  digit["metadata"]["name"] = "1svc";
  EXPECT_EQ(Validate(*kind, digit, nullptr).size(), 1u);

  Json bad = svc;
  bad["spec"]["ports"] = Json::parse(
      R"([{"port":0},{"port":80,"name":"x"},{"port":80,"name":"y"}])");
  ASSERT_TRUE(Default(*kind, bad).ok());
  FieldErrors errs = Validate(*kind, bad, nullptr);
  EXPECT_TRUE(HasMessage(errs, "spec.ports[0].name: Required value"));
  EXPECT_TRUE(HasMessage(errs,
                         "spec.ports[0].port: Invalid value: 0: must be "
                         "between 1 and 65535, inclusive"));
  EXPECT_TRUE(HasMessage(errs,
                         "spec.ports[2]: Duplicate value: "
                         "core.ServicePort{Name:\"\", Protocol:\"TCP\", "
                         "AppProtocol:(*string)(nil), Port:80, "
                         "TargetPort:intstr.IntOrString{Type:0, IntVal:0, "
                         "StrVal:\"\"}, NodePort:0}"))
      << ::testing::PrintToString(Messages(errs));
  Json none = svc;
  none["spec"].erase("ports");
  EXPECT_TRUE(
      HasMessage(Validate(*kind, none, nullptr), "spec.ports: Required value"));

  // Updates keep the allocated IP and node ports; changing the IP is refused.
  Json stored = svc;
  stored["spec"]["type"] = "NodePort";
  stored["spec"]["externalTrafficPolicy"] = "Cluster";  // as defaulted
  stored["spec"]["clusterIP"] = "10.43.0.12";
  stored["spec"]["clusterIPs"] = {"10.43.0.12"};
  stored["spec"]["ports"][0]["nodePort"] = 30080;
  Json replace = Fixture("23_expose_POST_services.json");
  replace["metadata"]["namespace"] = "capns";
  replace["spec"]["type"] = "NodePort";
  ASSERT_TRUE(Default(*kind, replace).ok());
  PrepareForUpdate(*kind, replace, stored);
  EXPECT_EQ(replace["spec"]["clusterIP"], "10.43.0.12");
  EXPECT_EQ(replace["spec"]["ports"][0]["nodePort"], 30080);
  EXPECT_TRUE(Validate(*kind, replace, &stored).empty())
      << Messages(Validate(*kind, replace, &stored))[0];
  Json moved = stored;
  moved["spec"]["clusterIP"] = "10.43.0.99";
  PrepareForUpdate(*kind, moved, stored);
  EXPECT_EQ(moved["spec"]["clusterIPs"][0], "10.43.0.99");
  EXPECT_EQ(Messages(Validate(*kind, moved, &stored)),
            std::vector<std::string>{
                "spec.clusterIPs[0]: Invalid value: []string{\"10.43.0.99\"}: "
                "may not change once set"});
}

TEST(ValidateTest, NamespaceConfigMapSecret) {
  Registry reg;
  auto ns_kind = reg.Lookup("", "v1", "namespaces");
  Json ns = Json::parse(R"({"metadata":{"name":"capns"}})");
  ASSERT_TRUE(Default(*ns_kind, ns).ok());
  EXPECT_EQ(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "capns");
  PrepareForCreate(*ns_kind, ns);
  EXPECT_EQ(ns["spec"]["finalizers"], Json::array({"kubernetes"}));
  EXPECT_EQ(ns["status"]["phase"], "Active");
  EXPECT_TRUE(Validate(*ns_kind, ns, nullptr).empty());
  Json dotted = Json::parse(R"({"metadata":{"name":"a.b"}})");
  EXPECT_EQ(
      Messages(Validate(*ns_kind, dotted, nullptr)),
      std::vector<std::string>{
          "metadata.name: Invalid value: \"a.b\": must not contain dots"});

  auto cm_kind = reg.Lookup("", "v1", "configmaps");
  Json cm = Json::parse(
      R"({"metadata":{"name":"Bad_Name","namespace":"d"},"data":{"ok":"1","no/slash":"2"}})");
  FieldErrors errs = Validate(*cm_kind, cm, nullptr);
  ASSERT_EQ(errs.size(), 2u) << ::testing::PrintToString(Messages(errs));
  EXPECT_EQ(errs[0].field, "metadata.name");
  EXPECT_EQ(errs[1].ToString(),
            "data[no/slash]: Invalid value: \"no/slash\": a valid config key "
            "must consist of alphanumeric characters, "
            "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', "
            "regex used for validation is "
            "'[-._a-zA-Z0-9]+')");
  Json frozen = Json::parse(
      R"({"metadata":{"name":"f","namespace":"d"},"data":{"a":"1"},"immutable":true})");
  Json changed = frozen;
  changed["data"]["a"] = "2";
  EXPECT_EQ(Messages(Validate(*cm_kind, changed, &frozen)),
            std::vector<std::string>{
                "data: Forbidden: field is immutable when `immutable` is set"});

  auto secret_kind = reg.Lookup("", "v1", "secrets");
  Json s = Json::parse(
      R"({"metadata":{"name":"s1","namespace":"d"},"stringData":{"user":"admin"},"data":{"pass":"czNjcjN0"}})");
  ASSERT_TRUE(Default(*secret_kind, s).ok());
  EXPECT_EQ(s["type"], "Opaque");
  EXPECT_EQ(s["data"]["user"], "YWRtaW4=");
  EXPECT_FALSE(s.contains("stringData"));
  EXPECT_TRUE(Validate(*secret_kind, s, nullptr).empty());
  Json bad64 = Json::parse(
      R"({"metadata":{"name":"s2","namespace":"d"},"data":{"x":"not base64!"}})");
  EXPECT_EQ(Default(*secret_kind, bad64).message(),
            "illegal base64 data at input byte 3");
  Json tls = Json::parse(
      R"({"metadata":{"name":"t","namespace":"d"},"type":"kubernetes.io/tls","data":{"tls.crt":""}})");
  EXPECT_EQ(Messages(Validate(*secret_kind, tls, nullptr)),
            std::vector<std::string>{"data[tls.key]: Required value"});
  Json retyped = s;
  retyped["type"] = "kubernetes.io/basic-auth";
  EXPECT_TRUE(HasMessage(
      Validate(*secret_kind, retyped, &s),
      "type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"));
}

TEST(ValidateTest, JobAndCronJob) {
  Registry reg;
  auto job_kind = reg.Lookup("batch", "v1", "jobs");
  Json job = Json::parse(
      R"({"metadata":{"name":"j1","namespace":"d","uid":"1234-uid"},"spec":{"template":{"spec":{
    "containers":[{"name":"j1","image":"busybox"}],"restartPolicy":"Never"}}}})");
  ASSERT_TRUE(Default(*job_kind, job).ok());
  EXPECT_EQ(job["spec"]["completions"], 1);
  EXPECT_EQ(job["spec"]["parallelism"], 1);
  EXPECT_EQ(job["spec"]["backoffLimit"], 6);
  EXPECT_EQ(job["spec"]["completionMode"], "NonIndexed");
  EXPECT_EQ(job["spec"]["suspend"], false);
  PrepareForCreate(*job_kind, job);
  EXPECT_EQ(job["spec"]["selector"]["matchLabels"]
               ["batch.kubernetes.io/controller-uid"],
            "1234-uid");
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"]["job-name"], "j1");
  EXPECT_EQ(job["metadata"]["labels"]["batch.kubernetes.io/job-name"], "j1");
  EXPECT_TRUE(Validate(*job_kind, job, nullptr).empty())
      << Messages(Validate(*job_kind, job, nullptr))[0];
  Json always = job;
  always["spec"]["template"]["spec"]["restartPolicy"] = "Always";
  EXPECT_EQ(Messages(Validate(*job_kind, always, &job)),
            (std::vector<std::string>{
                "spec.template.spec.restartPolicy: Unsupported value: "
                "\"Always\": supported "
                "values: \"OnFailure\", \"Never\"",
                "spec.template: Invalid value: core.PodTemplateSpec{...}: "
                "field is immutable"}));

  auto cj_kind = reg.Lookup("batch", "v1", "cronjobs");
  Json cj = Json::parse(
      R"({"metadata":{"name":"cj1","namespace":"d"},"spec":{"schedule":"*/5 * * * *",
    "jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox"}],"restartPolicy":"OnFailure"}}}}}})");
  ASSERT_TRUE(Default(*cj_kind, cj).ok());
  EXPECT_EQ(cj["spec"]["concurrencyPolicy"], "Allow");
  EXPECT_EQ(cj["spec"]["suspend"], false);
  EXPECT_EQ(cj["spec"]["successfulJobsHistoryLimit"], 3);
  EXPECT_EQ(cj["spec"]["failedJobsHistoryLimit"], 1);
  EXPECT_FALSE(cj["spec"]["jobTemplate"]["spec"].contains("backoffLimit"));
  EXPECT_TRUE(Validate(*cj_kind, cj, nullptr).empty())
      << Messages(Validate(*cj_kind, cj, nullptr))[0];
  cj["spec"]["schedule"] = "61 * * * *";
  EXPECT_EQ(Messages(Validate(*cj_kind, cj, nullptr)),
            std::vector<std::string>{"spec.schedule: Invalid value: \"61 * * * "
                                     "*\": end of range (61) above maximum "
                                     "(59): 61"});
  cj["spec"]["schedule"] = "TZ=UTC 0 * * * *";
  EXPECT_EQ(Messages(Validate(*cj_kind, cj, nullptr)),
            std::vector<std::string>{"spec.schedule: Invalid value: \"TZ=UTC 0 "
                                     "* * * *\": cannot use TZ or CRON_TZ in "
                                     "schedule, use timeZone field instead"});
}

TEST(ValidateTest, MetadataRules) {
  Registry reg;
  auto cm = reg.Lookup("", "v1", "configmaps");
  Json obj =
      Json::parse(R"({"metadata":{"namespace":"d","generateName":"web-"}})");
  EXPECT_EQ(
      Messages(Validate(*cm, obj, nullptr)),
      std::vector<std::string>{
          "metadata.name: Required value: name or generateName is required"});
  Json owners = Json::parse(
      R"({"metadata":{"name":"a","namespace":"d","ownerReferences":[{"apiVersion":"apps/v1",
    "kind":"ReplicaSet","name":"rs"}],"finalizers":["bad finalizer"]}})");
  FieldErrors errs = Validate(*cm, owners, nullptr);
  EXPECT_TRUE(HasMessage(errs,
                         "metadata.ownerReferences.uid: Invalid value: \"\": "
                         "uid must not be empty"));
  EXPECT_EQ(errs.size(), 2u) << ::testing::PrintToString(Messages(errs));
  Json a =
      Json::parse(R"({"metadata":{"name":"a","namespace":"d","uid":"u1"}})");
  Json b =
      Json::parse(R"({"metadata":{"name":"b","namespace":"d","uid":"u1"}})");
  EXPECT_EQ(Messages(Validate(*cm, b, &a)),
            std::vector<std::string>{
                "metadata.name: Invalid value: \"b\": field is immutable"});
  auto node = reg.Lookup("", "v1", "nodes");
  Json n = Json::parse(R"({"metadata":{"name":"n1","namespace":"x"}})");
  EXPECT_EQ(Messages(Validate(*node, n, nullptr)),
            std::vector<std::string>{
                "metadata.namespace: Forbidden: not allowed on this type"});
  auto role = reg.Lookup("rbac.authorization.k8s.io", "v1", "clusterroles");
  Json r = Json::parse(
      R"({"kind":"ClusterRole","metadata":{"name":"system:controller:x"},
    "rules":[{"verbs":["get"],"resources":["nodes"]}]})");
  EXPECT_EQ(
      Messages(Validate(*role, r, nullptr)),
      std::vector<std::string>{"rules[0].apiGroups: Required value: resource "
                               "rules must supply at least one api group"});
}

TEST(ValidateTest, CustomResourcesUseTheirSchema) {
  Registry reg;
  Json crd = Json::parse(
      R"({"metadata":{"name":"widgets.example.com"},"spec":{"group":"example.com",
    "scope":"Namespaced","names":{"plural":"widgets","kind":"Widget"},"versions":[{"name":"v1","served":true,
    "storage":true,"schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object",
      "required":["size"],"properties":{"replicas":{"type":"integer","minimum":0,"default":1},
      "size":{"type":"string","enum":["small","large"]}}}}}}}]}})");
  auto crd_kind =
      reg.Lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions");
  ASSERT_TRUE(Default(*crd_kind, crd).ok());
  EXPECT_EQ(crd["spec"]["names"]["singular"], "widget");
  EXPECT_EQ(crd["spec"]["names"]["listKind"], "WidgetList");
  EXPECT_TRUE(Validate(*crd_kind, crd, nullptr).empty())
      << Messages(Validate(*crd_kind, crd, nullptr))[0];
  Json misnamed = crd;
  misnamed["metadata"]["name"] = "widgets";
  EXPECT_TRUE(HasMessage(Validate(*crd_kind, misnamed, nullptr),
                         "metadata.name: Invalid value: \"widgets\": must be "
                         "spec.names.plural+\".\"+spec.group"));
  ASSERT_TRUE(reg.ApplyCustomResourceDefinition(crd).ok());
  auto w = reg.Lookup("example.com", "v1", "widgets");
  Json obj = Json::parse(
      R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","namespace":"d"},
    "spec":{"size":"small"}})");
  ASSERT_TRUE(Default(*w, obj).ok());
  EXPECT_EQ(obj["spec"]["replicas"], 1);
  EXPECT_TRUE(Validate(*w, obj, nullptr).empty());
  obj["spec"] = Json::parse(R"({"replicas":"three","size":"huge"})");
  EXPECT_EQ(
      Messages(Validate(*w, obj, nullptr)),
      (std::vector<std::string>{"spec.replicas: Invalid value: \"string\": "
                                "spec.replicas in body must be of type "
                                "integer: \"string\"",
                                "spec.size: Unsupported value: \"huge\": "
                                "supported values: \"small\", \"large\""}));
  obj["spec"] = Json::parse(R"({"replicas":-1})");
  EXPECT_EQ(Messages(Validate(*w, obj, nullptr)),
            (std::vector<std::string>{
                "spec.size: Required value",
                "spec.replicas: Invalid value: -1: spec.replicas in body "
                "should be greater than or "
                "equal to 0"}));
}

}  // namespace
}  // namespace kite::api
