// Registry, CRDs, quantities, durations, cron, JSONPath, schemas, OpenAPI.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <thread>

#include "api/cron.h"
#include "api/jsonpath.h"
#include "api/kinds.h"
#include "api/openapi.h"
#include "api/quantity.h"
#include "api/scale.h"
#include "api/schema.h"
#include "api/table.h"

namespace kite::api {
namespace {

Json WidgetCrd() {
  return Json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
      "group": "example.com", "scope": "Namespaced",
      "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"],
                "categories": ["all"]},
      "versions": [
        {"name": "v1beta1", "served": true, "storage": false,
         "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
        {"name": "v1", "served": true, "storage": true,
         "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                  "statusReplicasPath": ".status.replicas",
                                                  "labelSelectorPath": ".status.selector"}},
         "additionalPrinterColumns": [
           {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
           {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
           {"name": "Size", "type": "string", "jsonPath": ".spec.size", "priority": 1},
           {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
         "schema": {"openAPIV3Schema": {"type": "object", "properties": {
           "spec": {"type": "object", "required": ["size"], "properties": {
             "replicas": {"type": "integer", "minimum": 0, "default": 1},
             "size": {"type": "string", "enum": ["small", "large"]},
             "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
           "status": {"type": "object", "properties": {
             "replicas": {"type": "integer"}, "selector": {"type": "string"},
             "conditions": {"type": "array", "items": {"type": "object", "properties": {
               "type": {"type": "string"}, "status": {"type": "string"}}}}}}}}}}
      ]}})");
}

TEST(RegistryTest, LooksUpBuiltinsByResourceAndKind) {
  Registry reg;
  auto deploy = reg.Lookup("apps", "v1", "deployments");
  ASSERT_NE(deploy, nullptr);
  EXPECT_EQ(deploy->kind, "Deployment");
  EXPECT_EQ(deploy->GroupResource(), "deployments.apps");
  EXPECT_TRUE(deploy->HasStatus());
  ASSERT_NE(deploy->FindSubresource("scale"), nullptr);
  EXPECT_EQ(deploy->FindSubresource("scale")->response_kind,
            (GroupVersionKind{"autoscaling", "v1", "Scale"}));
  EXPECT_EQ(reg.LookupKind("", "v1", "Pod")->resource, "pods");
  EXPECT_EQ(reg.Lookup("", "v1", "deployments"), nullptr);
  EXPECT_EQ(reg.Lookup("apps", "v2", "deployments"), nullptr);
  auto ns = reg.Lookup("", "v1", "namespaces");
  EXPECT_FALSE(ns->Namespaced());
  EXPECT_FALSE(ns->HasVerb("deletecollection"));
  auto review =
      reg.Lookup("authorization.k8s.io", "v1", "selfsubjectaccessreviews");
  ASSERT_NE(review, nullptr);
  EXPECT_FALSE(review->stored);
  EXPECT_EQ(review->verbs, std::vector<std::string>{"create"});
  // core/v1 and events.k8s.io/v1 events share their storage.
  EXPECT_EQ(reg.Lookup("events.k8s.io", "v1", "events")->storage_resource,
            reg.Lookup("", "v1", "events")->storage_resource);
}

TEST(RegistryTest, GroupsAreInDiscoveryOrderCoreFirst) {
  Registry reg;
  auto groups = reg.Groups();
  ASSERT_GT(groups.size(), 10u);
  EXPECT_EQ(groups[0].name, "");
  EXPECT_EQ(groups[1].name, "apps");
  for (const ApiGroup& g : groups) {
    EXPECT_FALSE(g.versions.empty()) << g.name;
    if (g.name == "autoscaling") {
      EXPECT_EQ(g.versions, std::vector<std::string>{"v2"});
    }
  }
  // Everything issue 3 asks for is served.
  for (auto [g, r] : std::vector<std::pair<std::string, std::string>>{
           {"", "namespaces"},
           {"", "pods"},
           {"", "services"},
           {"", "endpoints"},
           {"", "configmaps"},
           {"", "secrets"},
           {"", "nodes"},
           {"", "serviceaccounts"},
           {"", "events"},
           {"", "persistentvolumes"},
           {"", "persistentvolumeclaims"},
           {"", "limitranges"},
           {"", "resourcequotas"},
           {"apps", "deployments"},
           {"apps", "replicasets"},
           {"apps", "statefulsets"},
           {"apps", "daemonsets"},
           {"apps", "controllerrevisions"},
           {"batch", "jobs"},
           {"batch", "cronjobs"},
           {"coordination.k8s.io", "leases"},
           {"discovery.k8s.io", "endpointslices"},
           {"events.k8s.io", "events"},
           {"rbac.authorization.k8s.io", "roles"},
           {"rbac.authorization.k8s.io", "clusterrolebindings"},
           {"storage.k8s.io", "storageclasses"},
           {"networking.k8s.io", "ingresses"},
           {"networking.k8s.io", "networkpolicies"},
           {"policy", "poddisruptionbudgets"},
           {"autoscaling", "horizontalpodautoscalers"},
           {"scheduling.k8s.io", "priorityclasses"},
           {"apiextensions.k8s.io", "customresourcedefinitions"},
           {"certificates.k8s.io", "certificatesigningrequests"},
           {"authentication.k8s.io", "tokenreviews"},
           {"authorization.k8s.io", "subjectaccessreviews"}}) {
    const std::string version = g == "autoscaling" ? "v2" : "v1";
    EXPECT_NE(reg.Lookup(g, version, r), nullptr) << g << "/" << r;
  }
}

TEST(RegistryTest, CustomResourceDefinitionAddsAndRemovesKinds) {
  Registry reg;
  uint64_t gen = reg.Generation();
  ASSERT_TRUE(reg.ApplyCustomResourceDefinition(WidgetCrd()).ok());
  EXPECT_GT(reg.Generation(), gen);
  auto w = reg.Lookup("example.com", "v1", "widgets");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->kind, "Widget");
  EXPECT_EQ(w->list_kind, "WidgetList");
  EXPECT_TRUE(w->Namespaced());
  EXPECT_TRUE(w->IsCustom());
  EXPECT_TRUE(w->storage_version);
  EXPECT_TRUE(w->HasStatus());
  EXPECT_EQ(w->scale.spec_replicas, ".spec.replicas");
  ASSERT_EQ(w->columns.size(), 5u);  // Name + 4
  EXPECT_EQ(w->columns[3].priority, 1);
  EXPECT_NE(reg.Lookup("example.com", "v1beta1", "widgets"), nullptr);
  auto groups = reg.Groups();
  EXPECT_EQ(groups.back().name, "example.com");
  EXPECT_EQ(groups.back().versions,
            (std::vector<std::string>{"v1", "v1beta1"}));

  // Holding a kind keeps it valid after the CRD goes.
  EXPECT_TRUE(reg.RemoveCustomResourceDefinition("widgets.example.com"));
  EXPECT_EQ(reg.Lookup("example.com", "v1", "widgets"), nullptr);
  EXPECT_EQ(w->kind, "Widget");
  EXPECT_NE(reg.Groups().back().name, "example.com");
  EXPECT_FALSE(reg.RemoveCustomResourceDefinition("widgets.example.com"));
}

TEST(RegistryTest, CustomResourceDefinitionCollisionsAreRefused) {
  Registry reg;
  Json crd = WidgetCrd();
  crd["spec"]["group"] = "apps";
  crd["metadata"]["name"] = "deployments.apps";
  crd["spec"]["names"]["plural"] = "deployments";
  Status st = reg.ApplyCustomResourceDefinition(crd);
  EXPECT_EQ(st.code(), Code::kAlreadyExists);
  EXPECT_EQ(reg.Lookup("apps", "v1", "deployments")->kind, "Deployment");
  Json bad = WidgetCrd();
  bad["spec"]["scope"] = "Galaxy";
  EXPECT_EQ(reg.ApplyCustomResourceDefinition(bad).code(),
            Code::kInvalidArgument);
}

TEST(RegistryTest, ConcurrentLookupsWhileCrdsComeAndGo) {
  Registry reg;
  std::atomic<bool> stop{false};
  std::atomic<int> found{0};
  std::thread reader([&] {
    while (!stop) {
      auto k = reg.Lookup("example.com", "v1", "widgets");
      if (k) found += k->kind == "Widget";
      auto all = reg.All();
      ASSERT_FALSE(all.empty());
    }
  });
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(reg.ApplyCustomResourceDefinition(WidgetCrd()).ok());
    reg.RemoveCustomResourceDefinition("widgets.example.com");
  }
  stop = true;
  reader.join();
  EXPECT_EQ(reg.Lookup("example.com", "v1", "widgets"), nullptr);
}

TEST(ScaleTest, DeploymentAndCustomResourceScale) {
  Registry reg;
  auto deploy = reg.Lookup("apps", "v1", "deployments");
  Json d = Json::parse(
      R"({"metadata":{"name":"web","namespace":"d","uid":"u1","resourceVersion":"7"},
    "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"},
      "matchExpressions":[{"key":"tier","operator":"In","values":["fe"]}]}},"status":{"replicas":1}})");
  auto scale = ScaleOf(*deploy, d);
  ASSERT_TRUE(scale.ok());
  EXPECT_EQ(*scale,
            Json::parse(R"json({"kind":"Scale","apiVersion":"autoscaling/v1",
    "metadata":{"name":"web","namespace":"d","uid":"u1","resourceVersion":"7"},
    "spec":{"replicas":2},"status":{"replicas":1,"selector":"app=web,tier in (fe)"}})json"));
  // kubectl scale --replicas=4: merge patch {"spec":{"replicas":4}} on the
  // Scale.
  Json patched = *scale;
  patched["spec"]["replicas"] = 4;
  FieldErrors errs;
  ASSERT_TRUE(ApplyScale(*deploy, d, patched, &errs).ok());
  EXPECT_TRUE(errs.empty());
  EXPECT_EQ(d["spec"]["replicas"], 4);
  patched["spec"]["replicas"] = -1;
  ASSERT_TRUE(ApplyScale(*deploy, d, patched, &errs).ok());
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(
      errs[0].ToString(),
      "spec.replicas: Invalid value: -1: must be greater than or equal to 0");
  EXPECT_EQ(d["spec"]["replicas"], 4);
  EXPECT_EQ(ScaleOf(*reg.Lookup("", "v1", "pods"), d).status().code(),
            Code::kFailedPrecondition);

  ASSERT_TRUE(reg.ApplyCustomResourceDefinition(WidgetCrd()).ok());
  auto w = reg.Lookup("example.com", "v1", "widgets");
  Json cr = Json::parse(
      R"({"metadata":{"name":"w"},"spec":{"replicas":3},"status":{"replicas":2,"selector":"app=w"}})");
  EXPECT_EQ((*ScaleOf(*w, cr))["status"],
            Json::parse(R"({"replicas":2,"selector":"app=w"})"));
  Json s = *ScaleOf(*w, cr);
  s["spec"]["replicas"] = 0;
  ASSERT_TRUE(ApplyScale(*w, cr, s, &errs).ok());
  EXPECT_EQ(cr["spec"]["replicas"], 0);
}

TEST(VersionPriorityTest, KubernetesOrder) {
  std::vector<std::string> v = {"v1alpha1", "foo",     "v1",
                                "v2beta1",  "v1beta2", "v2",
                                "v1beta1",  "bar",     "v11alpha2"};
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return VersionSortsBefore(a, b);
  });
  EXPECT_EQ(
      v, (std::vector<std::string>{"v2", "v1", "v2beta1", "v1beta2", "v1beta1",
                                   "v11alpha2", "v1alpha1", "bar", "foo"}));
}

TEST(QuantityTest, CanonicalForms) {
  std::vector<std::pair<std::string, std::string>> cases = {
      {"100m", "100m"},   {"0.5", "500m"},    {"1", "1"},
      {"1Gi", "1Gi"},     {"1024Mi", "1Gi"},  {"1.5Gi", "1536Mi"},
      {"0.5Gi", "512Mi"}, {"1Ki", "1Ki"},     {"512Ki", "512Ki"},
      {"0.5Ki", "512"},   {"1000", "1k"},     {"1500", "1500"},
      {"2000000", "2M"},  {"1e3", "1e3"},     {"1.5e3", "1500"},
      {"1E", "1E"},       {"0.1", "100m"},    {"0.0000000001", "1n"},
      {"-100m", "-100m"}, {"0", "0"},         {"0Gi", "0"},
      {"+5", "5"},        {"1025", "1025"},   {"128974848", "128974848"},
      {"129e6", "129e6"}, {"123Mi", "123Mi"}, {"100Mi", "100Mi"},
      {"1.0", "1"},       {"2k", "2k"}};
  for (const auto& [in, want] : cases) {
    auto q = CanonicalQuantity(in);
    ASSERT_TRUE(q.ok()) << in << ": " << q.status().ToString();
    EXPECT_EQ(*q, want) << in;
  }
}

TEST(QuantityTest, ErrorsAndComparison) {
  EXPECT_EQ(Quantity::Parse("abc").status().message(),
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  EXPECT_EQ(Quantity::Parse("1K").status().message(),
            "unable to parse quantity's suffix");
  EXPECT_EQ(Quantity::Parse("1Gb").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Quantity::Parse("m").status().message(),
            "unable to parse numeric part of quantity");
  EXPECT_FALSE(Quantity::Parse("").ok());
  EXPECT_FALSE(Quantity::Parse("1 Gi").ok());
  auto a = *Quantity::Parse("500m"), b = *Quantity::Parse("0.5"),
       c = *Quantity::Parse("1");
  EXPECT_EQ(a.Compare(b), 0);
  EXPECT_LT(a.Compare(c), 0);
  EXPECT_GT(Quantity::Parse("1Gi")->Compare(*Quantity::Parse("1G")), 0);
  EXPECT_EQ(Quantity::Parse("1.5")->MilliValue(), 1500);
  EXPECT_EQ(Quantity::Parse("1.5")->Value(), 2);
  EXPECT_EQ(Quantity::Parse("64Mi")->Value(), 67108864);
}

// Found by tests/fuzz/quantity_fuzz: near the kept range (2^120) the
// canonical form of an accepted quantity did not parse again, and comparing
// quantities of different scales overflowed.
TEST(QuantityTest, LargeValuesKeepACanonicalFormAndCompare) {
  for (const char* in : {"2456789012345678901234451201.01008901",
                         "245678901234567890123445120101008901",
                         "1000000000000000000000000000000000000"}) {
    auto q = Quantity::Parse(in);
    ASSERT_TRUE(q.ok()) << in << ": " << q.status().ToString();
    auto again = Quantity::Parse(q->String());
    ASSERT_TRUE(again.ok()) << q->String() << ": " << again.status().ToString();
    EXPECT_EQ(again->String(), q->String());
    EXPECT_EQ(again->Compare(*q), 0) << in;
  }
  auto big = *Quantity::Parse("1000000000000000000000000000000000000");
  auto nano = *Quantity::Parse("1n");
  auto mid = *Quantity::Parse("100000000000000000000000000");
  auto mid_plus = *Quantity::Parse("100000000000000000000000000.000000001");
  EXPECT_GT(big.Compare(nano), 0);
  EXPECT_LT(nano.Compare(big), 0);
  EXPECT_LT(mid.Compare(mid_plus), 0);
  EXPECT_GT(mid_plus.Compare(mid), 0);
  EXPECT_GT(big.Compare(mid_plus), 0);
  EXPECT_LT(Quantity::Parse("-1.5")->Compare(*Quantity::Parse("-1")), 0);
  EXPECT_GT(Quantity::Parse("-1")->Compare(*Quantity::Parse("-1.5")), 0);
}

TEST(HumanDurationTest, MatchesKubernetes) {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  struct Case {
    std::chrono::nanoseconds d;
    const char* want;
  } cases[] = {
      {seconds(-2), "<invalid>"},
      {seconds(-1), "0s"},
      {seconds(0), "0s"},
      {seconds(5), "5s"},
      {seconds(119), "119s"},
      {seconds(120), "2m"},
      {seconds(183), "3m3s"},
      {minutes(9) + seconds(59), "9m59s"},
      {minutes(10), "10m"},
      {minutes(179), "179m"},
      {hours(3), "3h"},
      {hours(3) + minutes(10), "3h10m"},
      {hours(7) + minutes(59), "7h59m"},
      {hours(8), "8h"},
      {hours(47), "47h"},
      {hours(48), "2d"},
      {hours(24 * 3 + 5), "3d5h"},
      {hours(24 * 8), "8d"},
      {hours(24 * 90), "90d"},
      {hours(24 * 365 * 2), "2y"},
      {hours(24 * (365 * 3 + 45)), "3y45d"},
      {hours(24 * 365 * 10), "10y"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(HumanDuration(c.d), c.want) << c.d.count();
}

TEST(CronTest, ParsesAndComputesNext) {
  auto s = CronSchedule::Parse("*/5 * * * *");
  ASSERT_TRUE(s.ok());
  Time t = *ParseTime("2024-01-01T10:02:30Z");
  EXPECT_EQ(FormatTime(*s->Next(t)), "2024-01-01T10:05:00Z");
  auto weekdays = CronSchedule::Parse("30 3 * * mon-fri");
  ASSERT_TRUE(weekdays.ok());
  // 2024-01-06 is a Saturday: next is Monday the 8th.
  EXPECT_EQ(FormatTime(*weekdays->Next(*ParseTime("2024-01-05T04:00:00Z"))),
            "2024-01-08T03:30:00Z");
  EXPECT_EQ(FormatTime(*CronSchedule::Parse("@daily")->Next(t)),
            "2024-01-02T00:00:00Z");
  EXPECT_EQ(CronSchedule::Parse("* * *").status().message(),
            "expected exactly 5 fields, found 3: [* * *]");
  EXPECT_EQ(CronSchedule::Parse("0-60 * * * *").status().message(),
            "end of range (60) above maximum (59): 0-60");
  EXPECT_EQ(CronSchedule::Parse("x * * * *").status().message(),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid "
            "syntax");
  EXPECT_EQ(CronSchedule::Parse("@sometimes").status().message(),
            "unrecognized descriptor: @sometimes");
  EXPECT_EQ(CronSchedule::Parse("5-1 * * * *").status().message(),
            "beginning of range (5) beyond end of range (1): 5-1");
}

TEST(JsonPathTest, SimplePathsIndexesFilters) {
  Json obj =
      Json::parse(R"({"spec":{"replicas":3,"items":[{"name":"a"},{"name":"b"}]},
    "metadata":{"labels":{"app.kubernetes.io/name":"web"}},
    "status":{"conditions":[{"type":"Progressing","status":"True"},{"type":"Ready","status":"False"}]}})");
  auto first = [&](const char* p) -> Json {
    auto path = JsonPath::Parse(p);
    EXPECT_TRUE(path.ok()) << p;
    auto found = path->Find(obj);
    return found.empty() ? Json() : *found[0];
  };
  EXPECT_EQ(first(".spec.replicas"), 3);
  EXPECT_EQ(first("{.spec.items[1].name}"), "b");
  EXPECT_EQ(first(".spec.items[-1].name"), "b");
  EXPECT_EQ(first(".status.conditions[?(@.type==\"Ready\")].status"), "False");
  EXPECT_EQ(first(".metadata.labels['app.kubernetes.io/name']"), "web");
  EXPECT_EQ(JsonPath::Parse(".spec.items[*].name")->Find(obj).size(), 2u);
  EXPECT_TRUE(first(".spec.missing").is_null());
  EXPECT_FALSE(JsonPath::Parse("spec[").ok());
}

TEST(SchemaTest, UnknownFieldsOfBuiltinsAndCustomResources) {
  Registry reg;
  auto deploy = reg.Lookup("apps", "v1", "deployments");
  Json d = Json::parse(
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labelz":{}},
    "spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
    "spec":{"containers":[{"name":"web","imagee":"x","image":"busybox","securityContext":{"anything":1}}]}},
    "bogus":true},"status":{"whatever":1}})");
  EXPECT_EQ(
      UnknownFields(*deploy, d),
      (std::vector<std::string>{"metadata.labelz", "spec.bogus",
                                "spec.template.spec.containers[0].imagee"}));
  EXPECT_EQ(StrictDecodingMessage({"spec.bogus", "spec.foo"}),
            "strict decoding error: unknown field \"spec.bogus\", unknown "
            "field \"spec.foo\"");
  PruneUnknownFields(*deploy, d);
  EXPECT_TRUE(UnknownFields(*deploy, d).empty());
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["image"], "busybox");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["securityContext"]
             ["anything"],
            1);

  ASSERT_TRUE(reg.ApplyCustomResourceDefinition(WidgetCrd()).ok());
  auto w = reg.Lookup("example.com", "v1", "widgets");
  Json cr = Json::parse(
      R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},
    "spec":{"size":"small","colour":"red","extra":{"free":1}}})");
  EXPECT_EQ(UnknownFields(*w, cr), std::vector<std::string>{"spec.colour"});
  // The preserve-unknown-fields version accepts anything.
  EXPECT_TRUE(
      UnknownFields(*reg.Lookup("example.com", "v1beta1", "widgets"), cr)
          .empty());
}

TEST(OpenApiTest, IndexListsEveryGroupVersionWithAHash) {
  Registry reg;
  OpenApiV3 oa(reg);
  Json index = oa.Index();
  for (const ApiGroup& g : reg.Groups()) {
    for (const std::string& v : g.versions) {
      std::string path =
          g.name.empty() ? "api/" + v : "apis/" + g.name + "/" + v;
      ASSERT_TRUE(index["paths"].contains(path)) << path;
      std::string url = index["paths"][path]["serverRelativeURL"];
      EXPECT_EQ(url.rfind("/openapi/v3/" + path + "?hash=", 0), 0u) << url;
    }
  }
  std::string before = index["paths"]["apis/apps/v1"]["serverRelativeURL"];
  ASSERT_TRUE(reg.ApplyCustomResourceDefinition(WidgetCrd()).ok());
  Json after = oa.Index();
  EXPECT_TRUE(after["paths"].contains("apis/example.com/v1"));
  EXPECT_EQ(after["paths"]["apis/apps/v1"]["serverRelativeURL"],
            before);  // unchanged documents keep their hash
  EXPECT_FALSE(oa.Get("apis/nothing/v1").ok());
}

TEST(OpenApiTest, DocumentHasPatchWithGvkAndFieldValidationAndSchemas) {
  Registry reg;
  OpenApiV3 oa(reg);
  auto doc = oa.Get("apis/apps/v1");
  ASSERT_TRUE(doc.ok());
  Json d = Json::parse(*doc->body);
  const Json& patch =
      d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
       ["patch"];
  EXPECT_EQ(
      patch["x-kubernetes-group-version-kind"],
      (Json{{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}}));
  bool has_fv = false;
  for (const Json& p : patch["parameters"])
    has_fv |= p["name"] == "fieldValidation" && p["in"] == "query";
  EXPECT_TRUE(has_fv);
  EXPECT_FALSE(patch.contains("requestBody"));
  // kubectl explain: the list path's GET names the kind, and a component
  // schema carries the same GVK.
  EXPECT_EQ(d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]
             ["get"]["x-kubernetes-group-version-kind"]["kind"],
            "Deployment");
  const Json& schema =
      d["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
  EXPECT_EQ(schema["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
  EXPECT_TRUE(
      d["components"]["schemas"].contains("io.k8s.api.core.v1.Container"));
  EXPECT_TRUE(d["components"]["schemas"].contains(
      "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
  // Scale subresource answers with autoscaling/v1 Scale.
  EXPECT_EQ(d["paths"]
             ["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
             ["patch"]["x-kubernetes-group-version-kind"]["group"],
            "autoscaling");
  // Every $ref resolves inside the document.
  std::function<void(const Json&)> check = [&](const Json& j) {
    if (j.is_object()) {
      if (j.contains("$ref")) {
        std::string ref = j["$ref"];
        EXPECT_TRUE(d["components"]["schemas"].contains(
            ref.substr(strlen("#/components/schemas/"))))
            << ref;
      }
      for (const auto& [k, v] : j.items()) check(v);
    } else if (j.is_array()) {
      for (const Json& e : j) check(e);
    }
  };
  check(d);
  auto core = oa.Get("api/v1");
  ASSERT_TRUE(core.ok());
  Json c = Json::parse(*core->body);
  EXPECT_EQ(c["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
             ["x-kubernetes-group-version-kind"]["kind"],
            "Pod");
  EXPECT_EQ(c["paths"]["/api/v1/namespaces/{name}"]["patch"]
             ["x-kubernetes-group-version-kind"]["kind"],
            "Namespace");
}

}  // namespace
}  // namespace kite::api
