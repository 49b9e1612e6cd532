// Tests of the PATCH appliers (patch.h), the per-kind merge metadata
// (strategic_merge.h) and server-side apply / managedFields
// (managed_fields.h).
#include "api/patch.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "api/managed_fields.h"
#include "api/strategic_merge.h"

namespace kite::api {
namespace {

using Json = nlohmann::json;

Json J(const char* text) { return Json::parse(text); }

const PatchMetaTable& Table() {
  static const PatchMetaTable table;
  return table;
}

// A PatchMeta rooted at a node of a built-in kind's schema (not owned).
PatchMeta Sub(const FieldSchema* node) {
  return PatchMeta(
      std::shared_ptr<const FieldSchema>(std::shared_ptr<void>(), node), true);
}

Json ApplyJson(const char* doc, const char* patch) {
  auto r = ApplyJsonPatch(J(doc), J(patch));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Json();
}

Status JsonPatchError(const char* doc, const char* patch) {
  auto r = ApplyJsonPatch(J(doc), J(patch));
  return r.status();
}

Json Smp(const Json& doc, const Json& patch, const PatchMeta& meta) {
  auto r = ApplyStrategicMergePatch(doc, patch, meta);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Json();
}

// A deeply nested value: {"a":{"a":...}} or [[[...]]].
Json Deep(int levels, bool arrays) {
  Json root;
  Json* cur = &root;
  for (int i = 0; i < levels; ++i) {
    if (arrays) {
      *cur = Json::array({nullptr});
      cur = &(*cur)[0];
    } else {
      *cur = Json::object();
      cur = &(*cur)["a"];
    }
  }
  *cur = 1;
  return root;
}

// ------------------------------------------------------------ JSON patch

// RFC 6902 appendix A.
TEST(JsonPatch, RfcExamples) {
  EXPECT_EQ(ApplyJson(R"({"foo":"bar"})",
                      R"([{"op":"add","path":"/baz","value":"qux"}])"),
            J(R"({"baz":"qux","foo":"bar"})"));
  EXPECT_EQ(ApplyJson(R"({"foo":["bar","baz"]})",
                      R"([{"op":"add","path":"/foo/1","value":"qux"}])"),
            J(R"({"foo":["bar","qux","baz"]})"));
  EXPECT_EQ(ApplyJson(R"({"baz":"qux","foo":"bar"})",
                      R"([{"op":"remove","path":"/baz"}])"),
            J(R"({"foo":"bar"})"));
  EXPECT_EQ(ApplyJson(R"({"foo":["bar","qux","baz"]})",
                      R"([{"op":"remove","path":"/foo/1"}])"),
            J(R"({"foo":["bar","baz"]})"));
  EXPECT_EQ(ApplyJson(R"({"baz":"qux","foo":"bar"})",
                      R"([{"op":"replace","path":"/baz","value":"boo"}])"),
            J(R"({"baz":"boo","foo":"bar"})"));
  EXPECT_EQ(
      ApplyJson(
          R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
          R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])"),
      J(R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})"));
  EXPECT_EQ(ApplyJson(R"({"foo":["all","grass","cows","eat"]})",
                      R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])"),
            J(R"({"foo":["all","cows","eat","grass"]})"));
  EXPECT_EQ(ApplyJson(R"({"baz":"qux","foo":["a",2,"c"]})",
                      R"([{"op":"test","path":"/baz","value":"qux"},
                          {"op":"test","path":"/foo/1","value":2}])"),
            J(R"({"baz":"qux","foo":["a",2,"c"]})"));
  EXPECT_EQ(
      ApplyJson(R"({"foo":"bar"})",
                R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])"),
      J(R"({"foo":"bar","child":{"grandchild":{}}})"));
  // Unknown members of an operation are ignored.
  EXPECT_EQ(
      ApplyJson(R"({"foo":"bar"})",
                R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])"),
      J(R"({"foo":"bar","baz":"qux"})"));
  // ~01 is "~1", not "/".
  EXPECT_EQ(ApplyJson(R"({"/":9,"~1":10})",
                      R"([{"op":"test","path":"/~01","value":10}])"),
            J(R"({"/":9,"~1":10})"));
  EXPECT_EQ(
      ApplyJson(R"({"foo":["bar"]})",
                R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])"),
      J(R"({"foo":["bar",["abc","def"]]})"));
  EXPECT_EQ(ApplyJson(R"({"a":{"b":1}})",
                      R"([{"op":"copy","from":"/a","path":"/c"}])"),
            J(R"({"a":{"b":1},"c":{"b":1}})"));
}

TEST(JsonPatch, RfcErrors) {
  Status s = JsonPatchError(R"({"baz":"qux"})",
                            R"([{"op":"test","path":"/baz","value":"bar"}])");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "testing value /baz failed: test failed");
  // Adding to a nonexistent target.
  EXPECT_EQ(JsonPatchError(R"({"foo":"bar"})",
                           R"([{"op":"add","path":"/baz/bat","value":"qux"}])")
                .code(),
            Code::kInvalidArgument);
  // Comparing a string with a number.
  EXPECT_EQ(JsonPatchError(R"({"/":9,"~1":10})",
                           R"([{"op":"test","path":"/~01","value":"10"}])")
                .code(),
            Code::kInvalidArgument);
  // A failing operation leaves no partial result behind: the input is const
  // and the error carries the operation's index.
  s = JsonPatchError(R"({"a":1})", R"([{"op":"replace","path":"/a","value":2},
                                     {"op":"remove","path":"/missing"}])");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("json patch operation 1 (remove /missing)"),
            std::string::npos)
      << s.message();
}

TEST(JsonPatch, MalformedPatchesAreClearErrors) {
  struct Case {
    const char* doc;
    const char* patch;
    const char* want;  // substring of the message
  } cases[] = {
      {R"({})", R"({"op":"add"})", "must be a list of operations"},
      {R"({})", R"([1])", "is not an object"},
      {R"({})", R"([{"path":"/a"}])", "has no \"op\""},
      {R"({})", R"([{"op":"add","value":1}])", "has no \"path\""},
      {R"({})", R"([{"op":"frob","path":"/a"}])", "unknown operation"},
      {R"({})", R"([{"op":"add","path":"/a"}])", "missing \"value\""},
      {R"({})", R"([{"op":"move","path":"/a"}])", "missing \"from\""},
      {R"({})", R"([{"op":"add","path":"a","value":1}])",
       "json patch operation 0"},
      {R"({"a":1})", R"([{"op":"remove","path":""}])",
       "cannot remove the whole document"},
      {R"({"a":"s"})", R"([{"op":"add","path":"/a/b","value":1}])",
       "not an object or a list"},
      {R"({"a":"s"})", R"([{"op":"remove","path":"/a/b"}])",
       "not an object or a list"},
      {R"({"a":[1]})", R"([{"op":"add","path":"/a/5","value":1}])",
       "out of range"},
      {R"({"a":[1]})", R"([{"op":"remove","path":"/a/01"}])",
       "json patch operation 0"},
      {R"({"a":{}})", R"([{"op":"move","from":"/a","path":"/a/b"}])",
       "json patch operation 0"},
  };
  for (const Case& c : cases) {
    Status s = JsonPatchError(c.doc, c.patch);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.patch;
    EXPECT_NE(s.message().find(c.want), std::string::npos)
        << c.patch << " -> " << s.message();
  }
}

TEST(JsonPatch, LimitsOperationsCopiesAndDepth) {
  Json ops = Json::array();
  for (std::size_t i = 0; i <= kMaxJsonPatchOperations; ++i) {
    ops.push_back({{"op", "test"}, {"path", ""}, {"value", Json::object()}});
  }
  auto r = ApplyJsonPatch(Json::object(), ops);
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);

  // Each copy doubles the document: 40 of them would be 2^40 values.
  Json bomb = Json::array();
  for (int i = 0; i < 40; ++i) {
    bomb.push_back(
        {{"op", "copy"}, {"from", ""}, {"path", "/x" + std::to_string(i)}});
  }
  r = ApplyJsonPatch(Json{{"a", 1}}, bomb);
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);

  Json deep_value = Json::array(
      {{{"op", "add"}, {"path", "/a"}, {"value", Deep(1000, true)}}});
  r = ApplyJsonPatch(Json::object(), deep_value);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("nested deeper"), std::string::npos);

  // Adds stacking deep values on each other are stopped before the result
  // gets deeper than the limit.
  std::string path;
  for (int i = 0; i < 150; ++i) path += "/a";
  Json stack = Json::array(
      {{{"op", "add"}, {"path", "/a"}, {"value", Deep(150, false)["a"]}},
       {{"op", "add"}, {"path", path}, {"value", Deep(150, false)}}});
  r = ApplyJsonPatch(Json::object(), stack);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("would be nested deeper"),
            std::string::npos)
      << r.status().message();
  // So are moves of a deep value deeper.
  Json moves = Json::array(
      {{{"op", "add"}, {"path", "/a"}, {"value", Deep(150, false)["a"]}},
       {{"op", "add"}, {"path", "/b"}, {"value", Deep(150, false)["a"]}},
       {{"op", "move"}, {"from", "/b"}, {"path", path}}});
  r = ApplyJsonPatch(Json::object(), moves);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  // Moving a value into itself is refused; moving it onto itself is a no-op.
  EXPECT_EQ(JsonPatchError(R"({"a":{"b":1}})",
                           R"([{"op":"move","from":"/a","path":"/a/c"}])")
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ApplyJson(R"({"a":{"b":1}})",
                      R"([{"op":"move","from":"/a","path":"/a"}])"),
            J(R"({"a":{"b":1}})"));

  // Copies nesting the document into itself are stopped by the depth check.
  Json nest = Json::array();
  for (int i = 0; i < kMaxPatchDepth + 5; ++i) {
    nest.push_back({{"op", "copy"}, {"from", ""}, {"path", "/a"}});
  }
  r = ApplyJsonPatch(Json{{"a", 1}}, nest);
  EXPECT_FALSE(r.ok());
}

TEST(JsonPatch, RolloutUndoReplacesTemplate) {
  // kubectl rollout undo sends a JSON patch replacing the template and the
  // annotations.
  Json doc = J(
      R"({"metadata":{"name":"web","annotations":{"deployment.kubernetes.io/revision":"2"}},
                   "spec":{"replicas":2,"template":{"metadata":{"labels":{"app":"web"}},
                   "spec":{"containers":[{"name":"web","image":"v2"}]}}}})");
  Json patch = J(
      R"([{"op":"replace","path":"/spec/template","value":{"metadata":{"creationTimestamp":null,
                     "labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"v1"}]}}},
                    {"op":"replace","path":"/metadata/annotations","value":{"deployment.kubernetes.io/revision":"2"}}])");
  auto r = ApplyJsonPatch(doc, patch);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["spec"]["template"]["spec"]["containers"][0]["image"], "v1");
  EXPECT_EQ((*r)["spec"]["replicas"], 2);
}

// ------------------------------------------------------------ merge patch

// RFC 7386 appendix A (the cases with an object patch).
TEST(MergePatch, RfcExamples) {
  struct Case {
    const char* doc;
    const char* patch;
    const char* want;
  } cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})",
       R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const Case& c : cases) {
    auto r = ApplyMergePatch(J(c.doc), J(c.patch));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, J(c.want)) << c.doc << " + " << c.patch;
  }
}

TEST(MergePatch, NonObjectPatchIsRefused) {
  // RFC 7386 would replace the document; Kubernetes refuses, and so do we.
  for (const char* patch : {R"(["c","d"])", R"("bar")", "null", "1"}) {
    auto r = ApplyMergePatch(J(R"({"a":"b"})"), J(patch));
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << patch;
  }
  auto r = ApplyMergePatch(Json::object(), Json{{"a", Deep(1000, false)}});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(MergePatch, KubectlLabelAnnotateAndScale) {
  Json doc = J(
      R"({"metadata":{"name":"web","labels":{"app":"web","tier":"x"}},"spec":{"replicas":3}})");
  auto r = ApplyMergePatch(
      doc, J(R"({"metadata":{"labels":{"tier":null,"env":"prod"}}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["metadata"]["labels"], J(R"({"app":"web","env":"prod"})"));
  r = ApplyMergePatch(doc, J(R"({"metadata":{"annotations":{"note":"hi"}}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["metadata"]["annotations"]["note"], "hi");
  r = ApplyMergePatch(doc, J(R"({"spec":{"replicas":5}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["spec"]["replicas"], 5);
  // A no-op merge patch gives back an equal document.
  r = ApplyMergePatch(
      doc, J(R"({"spec":{"replicas":3},"metadata":{"labels":{"app":"web"}}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, doc);
}

// ------------------------------------------------------------ strategic merge

// A Deployment as the server stores it after `kubectl create deployment web
// --image=registry.local/busybox:latest --replicas=3 --port=8080 -- httpd -f
// -p 8080` (the shape of testdata/kubectl-bodies/06, plus server defaults).
Json Deployment() {
  return J(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","namespace":"capns","uid":"0b4c","resourceVersion":"7","generation":1,
      "creationTimestamp":"2025-01-01T00:00:00Z","labels":{"app":"web"},
      "annotations":{"deployment.kubernetes.io/revision":"1"}},
    "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
      "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}},
      "revisionHistoryLimit":10,"progressDeadlineSeconds":600,
      "template":{"metadata":{"labels":{"app":"web"}},
        "spec":{"containers":[{"name":"busybox","image":"registry.local/busybox:latest",
          "command":["httpd","-f","-p","8080"],"ports":[{"containerPort":8080,"protocol":"TCP"}],
          "env":[{"name":"MODE","value":"test"},{"name":"LEVEL","value":"1"}],
          "resources":{},"terminationMessagePath":"/dev/termination-log",
          "terminationMessagePolicy":"File","imagePullPolicy":"Always"}],
          "volumes":[{"name":"data","emptyDir":{}}],
          "restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst",
          "securityContext":{},"schedulerName":"default-scheduler"}}},
    "status":{"observedGeneration":1,"replicas":3,
      "conditions":[{"type":"Available","status":"True"},{"type":"Progressing","status":"True"}]}})");
}

const PatchMeta& DeploymentMeta() { return Table().Find("apps", "Deployment"); }

TEST(StrategicMerge, KubectlDeleteContainerBody) {
  // The exact body kubectl sends to drop container "b", against a PodSpec.
  const FieldSchema* pod_spec = Table().Find("", "Pod").root()->Child("spec");
  ASSERT_NE(pod_spec, nullptr);
  Json doc = J(
      R"({"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]})");
  Json patch = J(
      R"({"$setElementOrder/containers":[{"name":"a"}],"containers":[{"$patch":"delete","name":"b"}]})");
  EXPECT_EQ(Smp(doc, patch, Sub(pod_spec)),
            J(R"({"containers":[{"name":"a","image":"x"}]})"));

  // The same inside a Pod.
  Json pod = J(
      R"({"kind":"Pod","spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}})");
  Json pod_patch = Json{{"spec", patch}};
  EXPECT_EQ(Smp(pod, pod_patch, Table().Find("", "Pod"))["spec"]["containers"],
            J(R"([{"name":"a","image":"x"}])"));
}

TEST(StrategicMerge, SetImageMergesContainerByName) {
  Json d = Deployment();
  Json out = Smp(
      d,
      J(R"({"spec":{"template":{"spec":{"containers":[{"image":"registry.local/busybox:1.36","name":"busybox"}]}}}})"),
      DeploymentMeta());
  Json want = d;
  want["spec"]["template"]["spec"]["containers"][0]["image"] =
      "registry.local/busybox:1.36";
  EXPECT_EQ(out, want);
}

TEST(StrategicMerge, RolloutRestartAddsTemplateAnnotation) {
  Json d = Deployment();
  Json out = Smp(
      d,
      J(R"({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-02-03T04:05:06Z"}}}}})"),
      DeploymentMeta());
  Json want = d;
  want["spec"]["template"]["metadata"]["annotations"] =
      J(R"({"kubectl.kubernetes.io/restartedAt":"2025-02-03T04:05:06Z"})");
  EXPECT_EQ(out, want);
}

TEST(StrategicMerge, NoOpPatchReturnsAnEqualDocument) {
  Json d = Deployment();
  const char* patches[] = {
      R"({})",
      R"({"spec":{"replicas":3}})",
      R"({"metadata":{"labels":{"app":"web"}}})",
      R"({"spec":{"template":{"spec":{"containers":[{"name":"busybox","image":"registry.local/busybox:latest"}]}}}})",
      R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"busybox"}],
          "containers":[{"$setElementOrder/env":[{"name":"MODE"},{"name":"LEVEL"}],"name":"busybox",
          "env":[{"name":"LEVEL","value":"1"}]}]}}}})",
      R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["x"]}})",
      R"({"spec":{"template":{"spec":{"containers":[{"name":"busybox","ports":[{"containerPort":8080}]}]}}}})",
  };
  for (const char* p : patches)
    EXPECT_EQ(Smp(d, J(p), DeploymentMeta()), d) << p;
}

TEST(StrategicMerge, ClientSideApplyThreeWayPatch) {
  // What `kubectl apply` sends after the file changed replicas, dropped the
  // label "tier", changed env MODE and dropped env LEVEL.
  Json d = Deployment();
  d["metadata"]["labels"]["tier"] = "front";
  d["metadata"]["annotations"]
   ["kubectl.kubernetes.io/last-applied-configuration"] = "{old}\n";
  Json patch = J(
      R"({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{new}\n"},
      "labels":{"tier":null}},
    "spec":{"replicas":2,"template":{"spec":{"$setElementOrder/containers":[{"name":"busybox"}],
      "containers":[{"$setElementOrder/env":[{"name":"MODE"}],
        "env":[{"name":"MODE","value":"prod"},{"$patch":"delete","name":"LEVEL"}],"name":"busybox"}]}}}})");
  Json out = Smp(d, patch, DeploymentMeta());
  EXPECT_EQ(out["metadata"]["labels"], J(R"({"app":"web"})"));
  EXPECT_EQ(out["metadata"]["annotations"]
               ["kubectl.kubernetes.io/last-applied-configuration"],
            "{new}\n");
  EXPECT_EQ(out["spec"]["replicas"], 2);
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"][0]["env"],
            J(R"([{"name":"MODE","value":"prod"}])"));
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.local/busybox:latest");
  EXPECT_EQ(out["status"], d["status"]);
}

TEST(StrategicMerge, RetainKeysOnStrategyAndVolumes) {
  Json d = Deployment();
  // Switching to Recreate: kubectl sends $retainKeys so rollingUpdate goes.
  Json out = Smp(
      d,
      J(R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})"),
      DeploymentMeta());
  EXPECT_EQ(out["spec"]["strategy"], J(R"({"type":"Recreate"})"));
  // A volume changing source from emptyDir to configMap.
  out = Smp(
      d,
      J(R"({"spec":{"template":{"spec":{"$setElementOrder/volumes":[{"name":"data"}],
      "volumes":[{"$retainKeys":["configMap","name"],"configMap":{"name":"cm"},"name":"data"}]}}}})"),
      DeploymentMeta());
  EXPECT_EQ(out["spec"]["template"]["spec"]["volumes"],
            J(R"([{"name":"data","configMap":{"name":"cm"}}])"));
  // A patch key missing from $retainKeys is an error.
  auto r = ApplyStrategicMergePatch(
      d,
      J(R"({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}})"),
      DeploymentMeta());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "invalid patch format of retainKeys");
}

TEST(StrategicMerge, PatchDirectivesOnMaps) {
  Json d = Deployment();
  // $patch: replace swaps the whole map.
  Json out = Smp(
      d,
      J(R"({"spec":{"selector":{"$patch":"replace","matchLabels":{"app":"other"}}}})"),
      DeploymentMeta());
  EXPECT_EQ(out["spec"]["selector"], J(R"({"matchLabels":{"app":"other"}})"));
  // Plain merge of the selector keeps other keys.
  out = Smp(d, J(R"({"spec":{"selector":{"matchLabels":{"tier":"x"}}}})"),
            DeploymentMeta());
  EXPECT_EQ(out["spec"]["selector"],
            J(R"({"matchLabels":{"app":"web","tier":"x"}})"));
  // $patch: delete empties the map.
  out = Smp(d, J(R"({"metadata":{"annotations":{"$patch":"delete"}}})"),
            DeploymentMeta());
  EXPECT_EQ(out["metadata"]["annotations"], Json::object());
  // Unknown directive values are errors.
  for (const char* p : {R"({"metadata":{"labels":{"$patch":"merge"}}})",
                        R"({"metadata":{"labels":{"$patch":"frob"}}})"}) {
    auto r = ApplyStrategicMergePatch(d, J(p), DeploymentMeta());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << p;
    EXPECT_NE(r.status().message().find("unknown patch type"),
              std::string::npos);
  }
  // A whole-object delete.
  EXPECT_EQ(Smp(d, J(R"({"$patch":"delete"})"), DeploymentMeta()),
            Json::object());
  // PodDisruptionBudget's selector has patchStrategy "replace".
  Json pdb = J(
      R"({"spec":{"selector":{"matchLabels":{"app":"web"}},"minAvailable":1}})");
  out = Smp(pdb, J(R"({"spec":{"selector":{"matchLabels":{"tier":"x"}}}})"),
            Table().Find("policy", "PodDisruptionBudget"));
  EXPECT_EQ(out["spec"]["selector"], J(R"({"matchLabels":{"tier":"x"}})"));
  EXPECT_EQ(out["spec"]["minAvailable"], 1);
}

TEST(StrategicMerge, PatchDirectivesOnListElements) {
  Json d = Deployment();
  const char* base = "spec.template.spec.containers";
  (void)base;
  // $patch: replace inside a list replaces the list with the other elements.
  Json out = Smp(
      d, J(R"({"spec":{"template":{"spec":{"containers":[{"$patch":"replace"},
                       {"name":"web","image":"nginx"}]}}}})"),
      DeploymentMeta());
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"],
            J(R"([{"name":"web","image":"nginx"}])"));
  // $patch: merge in a list is not supported (as in Kubernetes).
  auto r = ApplyStrategicMergePatch(
      d,
      J(R"({"spec":{"template":{"spec":{"containers":[{"$patch":"merge","name":"x"}]}}}})"),
      DeploymentMeta());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  // A delete without the merge key.
  r = ApplyStrategicMergePatch(
      d,
      J(R"({"spec":{"template":{"spec":{"containers":[{"$patch":"delete","image":"x"}]}}}})"),
      DeploymentMeta());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(
      r.status().message().find("does not contain declared merge key: name"),
      std::string::npos);
  // An element without the merge key.
  r = ApplyStrategicMergePatch(
      d, J(R"({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}})"),
      DeploymentMeta());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(StrategicMerge, KeyedListsOfPodSpec) {
  Json d = Deployment();
  Json out =
      Smp(d, J(R"({"spec":{"template":{"spec":{"containers":[{"name":"busybox",
      "ports":[{"containerPort":9090,"name":"metrics"}],
      "env":[{"name":"LEVEL","value":"2"}],
      "volumeMounts":[{"mountPath":"/data","name":"data"}]}],
      "imagePullSecrets":[{"name":"reg"}],
      "tolerations":[{"key":"k","operator":"Exists"}]}}}})"),
          DeploymentMeta());
  const Json& c = out["spec"]["template"]["spec"]["containers"][0];
  // New elements come first unless the live list had them (Kubernetes' order).
  EXPECT_EQ(
      c["ports"],
      J(R"([{"containerPort":9090,"name":"metrics"},{"containerPort":8080,"protocol":"TCP"}])"));
  EXPECT_EQ(
      c["env"],
      J(R"([{"name":"MODE","value":"test"},{"name":"LEVEL","value":"2"}])"));
  EXPECT_EQ(c["volumeMounts"], J(R"([{"mountPath":"/data","name":"data"}])"));
  EXPECT_EQ(out["spec"]["template"]["spec"]["imagePullSecrets"],
            J(R"([{"name":"reg"}])"));

  // tolerations are atomic: a patch replaces them.
  Json with_tol = out;
  out = Smp(
      with_tol,
      J(R"({"spec":{"template":{"spec":{"tolerations":[{"key":"j","operator":"Exists"}]}}}})"),
      DeploymentMeta());
  EXPECT_EQ(out["spec"]["template"]["spec"]["tolerations"],
            J(R"([{"key":"j","operator":"Exists"}])"));

  // Deleting one env var by key; null deletes a field of an element.
  out =
      Smp(d, J(R"({"spec":{"template":{"spec":{"containers":[{"name":"busybox",
      "env":[{"$patch":"delete","name":"MODE"}],"imagePullPolicy":null}]}}}})"),
          DeploymentMeta());
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"][0]["env"],
            J(R"([{"name":"LEVEL","value":"1"}])"));
  EXPECT_FALSE(out["spec"]["template"]["spec"]["containers"][0].contains(
      "imagePullPolicy"));

  // Service ports merge by port.
  Json svc = J(
      R"({"spec":{"ports":[{"port":80,"targetPort":8080,"protocol":"TCP"}],"selector":{"app":"web"}}})");
  out = Smp(svc, J(R"({"spec":{"ports":[{"port":80,"targetPort":9090}]}})"),
            Table().Find("", "Service"));
  EXPECT_EQ(out["spec"]["ports"],
            J(R"([{"port":80,"targetPort":9090,"protocol":"TCP"}])"));

  // Pod conditions merge by type; Node addresses by type.
  Json pod = J(
      R"({"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Initialized","status":"True"}]}})");
  out = Smp(
      pod, J(R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})"),
      Table().Find("", "Pod"));
  EXPECT_EQ(
      out["status"]["conditions"],
      J(R"([{"type":"Ready","status":"True"},{"type":"Initialized","status":"True"}])"));
  Json node = J(
      R"({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"}]}})");
  out =
      Smp(node,
          J(R"({"status":{"addresses":[{"type":"Hostname","address":"n1"}]}})"),
          Table().Find("", "Node"));
  EXPECT_EQ(out["status"]["addresses"].size(), 2u);
}

TEST(StrategicMerge, MetadataListsAndPrimitiveSets) {
  Json d = J(R"({"metadata":{"name":"x","finalizers":["a","b"],
      "ownerReferences":[{"uid":"1","name":"rs1","kind":"ReplicaSet"}]}})");
  const PatchMeta& meta = Table().Find("", "ConfigMap");
  Json out = Smp(d, J(R"({"metadata":{"finalizers":["c"]}})"), meta);
  EXPECT_EQ(out["metadata"]["finalizers"], J(R"(["c","a","b"])"));
  out = Smp(d, J(R"({"metadata":{"finalizers":["b"]}})"), meta);
  EXPECT_EQ(out["metadata"]["finalizers"], J(R"(["a","b"])"));
  out =
      Smp(d, J(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})"),
          meta);
  EXPECT_EQ(out["metadata"]["finalizers"], J(R"(["b"])"));
  // Deleting from a missing list does not create it.
  out = Smp(J(R"({"metadata":{}})"),
            J(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})"),
            meta);
  EXPECT_EQ(out, J(R"({"metadata":{}})"));
  out = Smp(
      d,
      J(R"({"metadata":{"ownerReferences":[{"uid":"2","name":"rs2","kind":"ReplicaSet"}]}})"),
      meta);
  EXPECT_EQ(out["metadata"]["ownerReferences"].size(), 2u);
  out = Smp(
      d,
      J(R"({"metadata":{"ownerReferences":[{"$patch":"delete","uid":"1"}]}})"),
      meta);
  EXPECT_EQ(out["metadata"]["ownerReferences"], Json::array());
  // Lists without a strategy (RBAC rules) are replaced.
  Json role = J(
      R"({"rules":[{"verbs":["get"],"resources":["pods"],"apiGroups":[""]}]})");
  out = Smp(
      role,
      J(R"({"rules":[{"verbs":["list"],"resources":["nodes"],"apiGroups":[""]}]})"),
      Table().Find("rbac.authorization.k8s.io", "Role"));
  EXPECT_EQ(
      out["rules"],
      J(R"([{"verbs":["list"],"resources":["nodes"],"apiGroups":[""]}])"));
}

// A schema with Kubernetes' strategic-merge test fields: mergingList (keyed
// by name) and mergingIntList (a merged primitive list).
PatchMeta GenericMeta() {
  auto root = std::make_shared<FieldSchema>();
  auto list = std::make_shared<FieldSchema>();
  list->patch_merge = true;
  list->patch_merge_key = "name";
  auto ints = std::make_shared<FieldSchema>();
  ints->patch_merge = true;
  root->fields.emplace("mergingList", list);
  root->fields.emplace("mergingIntList", ints);
  return PatchMeta(root, true);
}

TEST(StrategicMerge, ElementOrder) {
  PatchMeta meta = GenericMeta();
  // An item added through $setElementOrder goes where the order says.
  Json out = Smp(
      J(R"({"mergingList":[{"name":1,"other":"a"},{"name":2,"value":2,"other":"b"}]})"),
      J(R"({"$setElementOrder/mergingList":[{"name":3},{"name":1},{"name":2}],
                       "mergingList":[{"name":3,"value":3}]})"),
      meta);
  EXPECT_EQ(
      out,
      J(R"({"mergingList":[{"name":3,"value":3},{"name":1,"other":"a"},{"name":2,"value":2,"other":"b"}]})"));
  // Server-only items keep their place after the ordered ones.
  out = Smp(
      J(R"({"mergingList":[{"name":1,"other":"a"},{"name":3,"value":3},{"name":4,"value":4},
                                 {"name":2,"value":2},{"name":9}]})"),
      J(R"({"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":3},{"name":1}]})"),
      meta);
  EXPECT_EQ(
      out["mergingList"],
      J(R"([{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3},
                                      {"name":1,"other":"a"},{"name":9}])"));
  // Primitive lists: add and delete with order.
  out = Smp(
      J(R"({"mergingIntList":[1,2,3,4]})"),
      J(R"({"$setElementOrder/mergingIntList":[1,2,4],"$deleteFromPrimitiveList/mergingIntList":[3]})"),
      meta);
  EXPECT_EQ(out, J(R"({"mergingIntList":[1,2,4]})"));
  out = Smp(J(R"({"mergingIntList":[1,2]})"), J(R"({"mergingIntList":[2,3]})"),
            meta);
  EXPECT_EQ(out, J(R"({"mergingIntList":[1,2,3]})"));
  // An order list that contradicts the patch list is an error.
  auto r = ApplyStrategicMergePatch(
      J(R"({"mergingList":[{"name":1},{"name":2}]})"),
      J(R"({"$setElementOrder/mergingList":[{"name":1},{"name":2}],
                                          "mergingList":[{"name":2},{"name":1}]})"),
      meta);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("doesn't match $setElementOrder list"),
            std::string::npos);
}

TEST(StrategicMerge, MalformedPatchesAreClearErrors) {
  PatchMeta meta = GenericMeta();
  Json doc =
      J(R"({"mergingList":[{"name":1}],"mergingIntList":[1],"m":{"a":1}})");
  const char* bad[] = {
      R"({"$setElementOrder/mergingList":{"name":1}})",
      R"({"$setElementOrder/":[]})",
      R"({"$deleteFromPrimitiveList/":[1]})",
      R"({"m":{"$retainKeys":"a"}})",
      R"({"mergingList":[[1]]})",
      R"({"mergingList":[{"name":1},2]})",
      R"({"mergingIntList":[[1]]})",
      R"({"mergingList":[{"$patch":7,"name":1}]})",
      R"({"$setElementOrder/mergingList":[{"name":1}],"mergingList":{"name":1}})",
  };
  for (const char* p : bad) {
    auto r = ApplyStrategicMergePatch(doc, J(p), meta);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << p;
    EXPECT_FALSE(r.status().message().empty());
  }
  EXPECT_EQ(ApplyStrategicMergePatch(doc, J("[1]"), meta).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ApplyStrategicMergePatch(J("[]"), J("{}"), meta).status().code(),
            Code::kInvalidArgument);
  // Deep patches and documents are refused before recursing.
  for (bool arrays : {false, true}) {
    auto r =
        ApplyStrategicMergePatch(doc, Json{{"m", Deep(100000, arrays)}}, meta);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    r = ApplyStrategicMergePatch(Json{{"m", Deep(100000, arrays)}},
                                 Json::object(), meta);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
  // Just under the limit works.
  auto r = ApplyStrategicMergePatch(
      doc, Json{{"m", Deep(kMaxPatchDepth - 1, false)}}, meta);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST(StrategicMerge, CustomResourcesAreRefused) {
  const PatchMeta& meta = Table().Find("example.com", "Widget");
  EXPECT_FALSE(meta.supports_strategic_merge());
  EXPECT_FALSE(Table().Knows("example.com", "Widget"));
  EXPECT_TRUE(Table().Knows("apps", "Deployment"));
  auto r = ApplyStrategicMergePatch(J(R"({"spec":{}})"),
                                    J(R"({"spec":{"a":1}})"), meta);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), kStrategicMergeUnsupportedMessage);
}

TEST(StrategicMerge, TableHasTheKubernetesTags) {
  const FieldSchema* pod_spec = Table().Find("", "Pod").root()->Child("spec");
  ASSERT_NE(pod_spec, nullptr);
  const FieldSchema* containers = pod_spec->Child("containers");
  ASSERT_NE(containers, nullptr);
  EXPECT_EQ(containers->patch_merge_key, "name");
  const FieldSchema* ports = containers->Child("ports");
  ASSERT_NE(ports, nullptr);
  EXPECT_EQ(ports->patch_merge_key, "containerPort");
  EXPECT_EQ(ports->list_map_keys,
            (std::vector<std::string>{"containerPort", "protocol"}));
  EXPECT_TRUE(pod_spec->Child("volumes")->patch_retain_keys);
  EXPECT_EQ(pod_spec->Child("tolerations"), nullptr);  // atomic: no strategy
  const FieldSchema* job_conditions =
      Table().Find("batch", "Job").root()->Child("status")->Child("conditions");
  EXPECT_TRUE(job_conditions->patch_merge);
  EXPECT_EQ(job_conditions->list_type, ListType::kAtomic);
  // CronJob pod templates are under spec.jobTemplate.spec.template.
  const FieldSchema* cron = Table().Find("batch", "CronJob").root();
  EXPECT_EQ(cron->Child("spec")
                ->Child("jobTemplate")
                ->Child("spec")
                ->Child("template")
                ->Child("spec")
                ->Child("containers")
                ->patch_merge_key,
            "name");
}

// ------------------------------------------------------------ managed fields

FieldManagerOptions Opts(const char* manager,
                         const char* now = "2025-01-01T00:00:00Z") {
  FieldManagerOptions o;
  o.manager = manager;
  o.api_version = "apps/v1";
  o.kind = "Deployment";
  o.now = now;
  o.ignored_fields = {"status"};
  return o;
}

Json ApplyConfig(int replicas, const char* image = "nginx:1.25") {
  Json c = J(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","labels":{"app":"web"}},
    "spec":{"selector":{"matchLabels":{"app":"web"}},
      "template":{"metadata":{"labels":{"app":"web"}},
        "spec":{"containers":[{"name":"web","ports":[{"containerPort":80}]}]}}}})");
  c["spec"]["replicas"] = replicas;
  c["spec"]["template"]["spec"]["containers"][0]["image"] = image;
  return c;
}

// What the REST layer does after Apply on create: server fields.
Json Stored(Json obj) {
  obj["metadata"]["uid"] = "u-1";
  obj["metadata"]["namespace"] = "default";
  obj["metadata"]["resourceVersion"] = "1";
  obj["metadata"]["creationTimestamp"] = "2025-01-01T00:00:00Z";
  return obj;
}

// Whether managedFields entry `entry` owns the fieldsV1 path `pointer`
// ("/f:spec/f:replicas").
bool Owns(const Json& entry, const std::string& pointer) {
  return entry.is_object() && entry.contains("fieldsV1") &&
         entry["fieldsV1"].contains(Json::json_pointer(pointer));
}

const Json& Entry(const Json& obj, const std::string& manager,
                  const std::string& operation) {
  static const Json kNone;
  for (const Json& e : obj["metadata"]["managedFields"]) {
    if (e["manager"] == manager && e["operation"] == operation) return e;
  }
  return kNone;
}

TEST(ServerSideApply, CreateRecordsFieldsV1) {
  auto r =
      Apply(nullptr, ApplyConfig(2), Opts("kubectl"), false, DeploymentMeta());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->changed);
  const Json& obj = r->object;
  EXPECT_EQ(obj["spec"]["replicas"], 2);
  ASSERT_EQ(obj["metadata"]["managedFields"].size(), 1u);
  const Json& e = obj["metadata"]["managedFields"][0];
  EXPECT_EQ(e["manager"], "kubectl");
  EXPECT_EQ(e["operation"], "Apply");
  EXPECT_EQ(e["apiVersion"], "apps/v1");
  EXPECT_EQ(e["time"], "2025-01-01T00:00:00Z");
  EXPECT_EQ(e["fieldsType"], "FieldsV1");
  Json want = J(R"({
    "f:metadata":{"f:labels":{"f:app":{}}},
    "f:spec":{"f:replicas":{},"f:selector":{},
      "f:template":{"f:metadata":{"f:labels":{"f:app":{}}},
        "f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},
          "f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}})");
  EXPECT_EQ(e["fieldsV1"], want) << e["fieldsV1"].dump();
}

TEST(ServerSideApply, ReapplyIsANoOp) {
  auto first =
      Apply(nullptr, ApplyConfig(2), Opts("kubectl"), false, DeploymentMeta());
  ASSERT_TRUE(first.ok());
  Json live = Stored(first->object);
  auto again =
      Apply(&live, ApplyConfig(2), Opts("kubectl", "2025-06-01T00:00:00Z"),
            false, DeploymentMeta());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(again->object, live);  // time not bumped: resourceVersion can stay
}

TEST(ServerSideApply, FieldsNoLongerAppliedAreRemoved) {
  Json config = ApplyConfig(2);
  config["metadata"]["labels"]["tier"] = "front";
  config["spec"]["template"]["spec"]["containers"].push_back(
      {{"name", "sidecar"}, {"image", "busybox"}});
  auto first = Apply(nullptr, config, Opts("kubectl"), false, DeploymentMeta());
  ASSERT_TRUE(first.ok());
  Json live = Stored(first->object);
  // The server defaulted a field nobody applied.
  live["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"] =
      "Always";

  auto second =
      Apply(&live, ApplyConfig(2), Opts("kubectl", "2025-01-02T00:00:00Z"),
            false, DeploymentMeta());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->changed);
  const Json& obj = second->object;
  EXPECT_EQ(obj["metadata"]["labels"], J(R"({"app":"web"})"));
  ASSERT_EQ(obj["spec"]["template"]["spec"]["containers"].size(), 1u);
  EXPECT_EQ(obj["spec"]["template"]["spec"]["containers"][0]["name"], "web");
  EXPECT_TRUE(
      Owns(Entry(obj, "kubectl", "Apply"), "/f:metadata/f:labels/f:app"));
  EXPECT_FALSE(
      Owns(Entry(obj, "kubectl", "Apply"), "/f:metadata/f:labels/f:tier"));
  EXPECT_FALSE(
      Owns(Entry(obj, "kubectl", "Apply"),
           "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"sidecar\"}"));
  EXPECT_EQ(Entry(obj, "kubectl", "Apply")["time"], "2025-01-02T00:00:00Z");

  // Removing the only label removes the emptied labels map too.
  Json bare = ApplyConfig(2);
  bare["metadata"].erase("labels");
  auto third =
      Apply(&second->object, bare, Opts("kubectl"), false, DeploymentMeta());
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->object["metadata"].contains("labels"));
}

TEST(ServerSideApply, FieldsOwnedByAnotherManagerStay) {
  auto a =
      Apply(nullptr, ApplyConfig(2), Opts("alice"), false, DeploymentMeta());
  ASSERT_TRUE(a.ok());
  Json live = Stored(a->object);
  // bob applies the same label value: shared ownership, no conflict.
  Json bob_config = J(
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}}})");
  auto b = Apply(&live, bob_config, Opts("bob"), false, DeploymentMeta());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_FALSE(b->changed);
  // alice drops the label; bob still owns it, so it stays.
  Json alice = ApplyConfig(2);
  alice["metadata"].erase("labels");
  auto c = Apply(&b->object, alice, Opts("alice"), false, DeploymentMeta());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->object["metadata"]["labels"], J(R"({"app":"web"})"));
  EXPECT_FALSE(
      Owns(Entry(c->object, "alice", "Apply"), "/f:metadata/f:labels"));
  EXPECT_TRUE(
      Owns(Entry(c->object, "bob", "Apply"), "/f:metadata/f:labels/f:app"));
}

// kubectl create deployment (manager kubectl-create, operation Update), then
// kubectl apply --server-side with other replicas.
Json CreatedByKubectlCreate() {
  Json obj = Stored(ApplyConfig(3));
  auto r = UpdateManagedFields(nullptr, obj, Opts("kubectl-create"),
                               DeploymentMeta());
  EXPECT_TRUE(r.ok());
  return *r;
}

TEST(ServerSideApply, ConflictWithAnotherManager) {
  Json live = CreatedByKubectlCreate();
  const Json& create = Entry(live, "kubectl-create", "Update");
  ASSERT_FALSE(create.is_null());
  EXPECT_TRUE(Owns(create, "/f:spec/f:replicas"));
  EXPECT_TRUE(Owns(create, "/f:metadata/f:labels/f:app"));
  EXPECT_FALSE(Owns(create, "/f:metadata/f:name"));
  EXPECT_FALSE(Owns(create, "/f:metadata/f:uid"));

  std::vector<ApplyConflict> conflicts;
  auto r = Apply(&live, ApplyConfig(5), Opts("kubectl"), false,
                 DeploymentMeta(), &conflicts);
  ASSERT_EQ(r.status().code(), Code::kConflict);
  EXPECT_EQ(r.status().message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-create\" "
            "using apps/v1: .spec.replicas");
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].message,
            "conflict with \"kubectl-create\" using apps/v1");
  EXPECT_EQ(conflicts[0].field, ".spec.replicas");
  EXPECT_EQ(kFieldManagerConflictReason, "FieldManagerConflict");

  // Two fields in conflict: both listed.
  conflicts.clear();
  r = Apply(&live, ApplyConfig(5, "nginx:1.26"), Opts("kubectl"), false,
            DeploymentMeta(), &conflicts);
  ASSERT_EQ(r.status().code(), Code::kConflict);
  ASSERT_EQ(conflicts.size(), 2u);
  EXPECT_EQ(conflicts[0].field, ".spec.replicas");
  EXPECT_EQ(conflicts[1].field,
            ".spec.template.spec.containers[name=\"web\"].image");
  EXPECT_EQ(
      r.status().message(),
      "Apply failed with 2 conflicts: conflicts with \"kubectl-create\" using "
      "apps/v1:\n"
      "- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image");

  // Applying the same values is no conflict: ownership is shared.
  r = Apply(&live, ApplyConfig(3), Opts("kubectl"), false, DeploymentMeta());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->changed);
  EXPECT_TRUE(
      Owns(Entry(r->object, "kubectl-create", "Update"), "/f:spec/f:replicas"));
  EXPECT_TRUE(Owns(Entry(r->object, "kubectl", "Apply"), "/f:spec/f:replicas"));
}

TEST(ServerSideApply, ForceTakesOwnership) {
  Json live = CreatedByKubectlCreate();
  auto r =
      Apply(&live, ApplyConfig(5), Opts("kubectl"), true, DeploymentMeta());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->object["spec"]["replicas"], 5);
  EXPECT_FALSE(
      Owns(Entry(r->object, "kubectl-create", "Update"), "/f:spec/f:replicas"));
  EXPECT_TRUE(Owns(Entry(r->object, "kubectl", "Apply"), "/f:spec/f:replicas"));
  // The forced field is now kubectl's alone: a later apply without it removes
  // it.
  Json without = ApplyConfig(5);
  without["spec"].erase("replicas");
  auto r2 =
      Apply(&r->object, without, Opts("kubectl"), false, DeploymentMeta());
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->object["spec"].contains("replicas"));
}

TEST(ServerSideApply, UpdateTakesFieldsFromAppliers) {
  auto a =
      Apply(nullptr, ApplyConfig(2), Opts("kubectl"), false, DeploymentMeta());
  ASSERT_TRUE(a.ok());
  Json live = Stored(a->object);
  // kubectl scale: merge patch on the scale subresource, recorded as Update.
  auto patched = ApplyMergePatch(live, J(R"({"spec":{"replicas":4}})"));
  ASSERT_TRUE(patched.ok());
  auto updated = UpdateManagedFields(
      &live, *patched, Opts("kubectl-scale", "2025-01-03T00:00:00Z"),
      DeploymentMeta());
  ASSERT_TRUE(updated.ok());
  EXPECT_FALSE(Owns(Entry(*updated, "kubectl", "Apply"), "/f:spec/f:replicas"));
  const Json& scale = Entry(*updated, "kubectl-scale", "Update");
  EXPECT_EQ(scale["fieldsV1"], J(R"({"f:spec":{"f:replicas":{}}})"));
  EXPECT_EQ(scale["time"], "2025-01-03T00:00:00Z");
  // Re-applying the old replicas now conflicts with kubectl-scale.
  std::vector<ApplyConflict> conflicts;
  auto r = Apply(&*updated, ApplyConfig(2), Opts("kubectl"), false,
                 DeploymentMeta(), &conflicts);
  ASSERT_EQ(r.status().code(), Code::kConflict);
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].message,
            "conflict with \"kubectl-scale\" using apps/v1");
}

TEST(ServerSideApply, UpgradeFromClientSideApply) {
  // kubectl apply (client-side) created the object with the annotation.
  Json config = ApplyConfig(3);
  Json created = Stored(config);
  created["metadata"]["annotations"]
         ["kubectl.kubernetes.io/last-applied-configuration"] =
             config.dump() + "\n";
  auto tracked = UpdateManagedFields(
      nullptr, created, Opts("kubectl-client-side-apply"), DeploymentMeta());
  ASSERT_TRUE(tracked.ok());

  // kubectl apply --server-side with new replicas: the field still holds the
  // last-applied value, so "kubectl" may take it over.
  auto r = Apply(&*tracked, ApplyConfig(5), Opts("kubectl"), false,
                 DeploymentMeta());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->object["spec"]["replicas"], 5);
  // The annotation follows the applied configuration.
  Json annotation =
      Json::parse(r->object["metadata"]["annotations"]
                           ["kubectl.kubernetes.io/last-applied-configuration"]
                               .get<std::string>());
  EXPECT_EQ(annotation["spec"]["replicas"], 5);

  // Another manager name gets the conflict.
  std::vector<ApplyConflict> conflicts;
  auto other = Apply(&*tracked, ApplyConfig(5), Opts("ci"), false,
                     DeploymentMeta(), &conflicts);
  ASSERT_EQ(other.status().code(), Code::kConflict);
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].message,
            "conflict with \"kubectl-client-side-apply\" using apps/v1");
  EXPECT_EQ(conflicts[0].field, ".spec.replicas");

  // A field changed by someone else since the last client-side apply is not
  // taken over silently.
  auto edited = ApplyMergePatch(*tracked, J(R"({"spec":{"replicas":7}})"));
  auto edit = UpdateManagedFields(&*tracked, *edited, Opts("kubectl-edit"),
                                  DeploymentMeta());
  ASSERT_TRUE(edit.ok());
  conflicts.clear();
  auto r3 = Apply(&*edit, ApplyConfig(5), Opts("kubectl"), false,
                  DeploymentMeta(), &conflicts);
  ASSERT_EQ(r3.status().code(), Code::kConflict);
  EXPECT_EQ(conflicts[0].message,
            "conflict with \"kubectl-edit\" using apps/v1");
}

TEST(ServerSideApply, UntrackedObjectBelongsToBeforeFirstApply) {
  Json live = Stored(ApplyConfig(3));
  std::vector<ApplyConflict> conflicts;
  auto r = Apply(&live, ApplyConfig(4), Opts("kubectl"), false,
                 DeploymentMeta(), &conflicts);
  ASSERT_EQ(r.status().code(), Code::kConflict);
  EXPECT_EQ(conflicts[0].message,
            "conflict with \"before-first-apply\" using apps/v1");
  r = Apply(&live, ApplyConfig(3), Opts("kubectl"), false, DeploymentMeta());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(Entry(r->object, "before-first-apply", "Update").is_null());
}

TEST(ServerSideApply, BadConfigurationsAreRefused) {
  Json live = CreatedByKubectlCreate();
  struct Case {
    Json config;
    FieldManagerOptions options;
    const char* want;
  };
  Json dup = ApplyConfig(1);
  dup["spec"]["template"]["spec"]["containers"].push_back(
      {{"name", "web"}, {"image", "x"}});
  Json keyless = ApplyConfig(1);
  keyless["spec"]["template"]["spec"]["containers"][0].erase("name");
  Json with_mf = ApplyConfig(1);
  with_mf["metadata"]["managedFields"] = Json::array();
  Json wrong_version = ApplyConfig(1);
  wrong_version["apiVersion"] = "apps/v1beta1";
  Json wrong_kind = ApplyConfig(1);
  wrong_kind["kind"] = "StatefulSet";
  Case cases[] = {
      {dup, Opts("kubectl"), "duplicate entries for key [name=\"web\"]"},
      {keyless, Opts("kubectl"), "omits key field \"name\""},
      {with_mf, Opts("kubectl"), "metadata.managedFields must be nil"},
      {wrong_version, Opts("kubectl"),
       "Incorrect version specified in apply patch"},
      {wrong_kind, Opts("kubectl"), "invalid object type"},
      {ApplyConfig(1), Opts(""), "fieldManager: Required value"},
      {J("[1]"), Opts("kubectl"), "must be an object"},
      {Json{{"spec", Deep(100000, false)}}, Opts("kubectl"), "nested deeper"},
  };
  for (const Case& c : cases) {
    auto r = Apply(&live, c.config, c.options, false, DeploymentMeta());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.want;
    EXPECT_NE(r.status().message().find(c.want), std::string::npos)
        << r.status().message();
  }
  // A live object with corrupt managedFields.
  Json corrupt = live;
  corrupt["metadata"]["managedFields"][0]["fieldsV1"] = J(R"({"x:y":{}})");
  auto r =
      Apply(&corrupt, ApplyConfig(3), Opts("kubectl"), false, DeploymentMeta());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(ManagedFields, UpdateNoOpKeepsTheObjectIdentical) {
  Json live = CreatedByKubectlCreate();
  Json same = live;
  auto r = UpdateManagedFields(&live, same,
                               Opts("kubectl-edit", "2030-01-01T00:00:00Z"),
                               DeploymentMeta());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, live);
  // Server-set metadata changes are not owned by anyone.
  Json bumped = live;
  bumped["metadata"]["resourceVersion"] = "99";
  bumped["metadata"]["generation"] = 2;
  r = UpdateManagedFields(&live, bumped, Opts("kubectl-edit"),
                          DeploymentMeta());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(Entry(*r, "kubectl-edit", "Update").is_null());
  // Status changes on the main resource are ignored.
  Json with_status = live;
  with_status["status"] = J(R"({"replicas":3})");
  r = UpdateManagedFields(&live, with_status, Opts("kubectl-edit"),
                          DeploymentMeta());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(Entry(*r, "kubectl-edit", "Update").is_null());
  // ...but tracked on the status subresource.
  FieldManagerOptions status_opts = Opts("kube-controller-manager");
  status_opts.subresource = "status";
  status_opts.ignored_fields = {"spec", "metadata"};
  r = UpdateManagedFields(&live, with_status, status_opts, DeploymentMeta());
  ASSERT_TRUE(r.ok());
  bool found = false;
  for (const Json& e : (*r)["metadata"]["managedFields"]) {
    if (e["manager"] == "kube-controller-manager") {
      found = true;
      EXPECT_EQ(e["subresource"], "status");
      EXPECT_EQ(e["fieldsV1"], J(R"({"f:status":{"f:replicas":{}}})"));
    }
  }
  EXPECT_TRUE(found);
}

TEST(ManagedFields, ClientManagedFieldsAndUntrackedObjects) {
  Json live = CreatedByKubectlCreate();
  // An empty list in the request clears tracking.
  Json reset = live;
  reset["metadata"]["managedFields"] = Json::array();
  reset["spec"]["replicas"] = 9;
  auto r =
      UpdateManagedFields(&live, reset, Opts("kubectl-edit"), DeploymentMeta());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)["metadata"].contains("managedFields"));
  // Updates to an untracked object stay untracked.
  auto r2 =
      UpdateManagedFields(&*r, *r, Opts("kubectl-edit"), DeploymentMeta());
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE((*r2)["metadata"].contains("managedFields"));
  // Managed fields sent by the client replace the stored ones.
  Json custom = live;
  custom["metadata"]["managedFields"] =
      J(R"([{"manager":"mine","operation":"Update","apiVersion":"apps/v1",
      "fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:paused":{}}}}])");
  custom["spec"]["paused"] = true;
  auto r3 = UpdateManagedFields(&live, custom, Opts("other"), DeploymentMeta());
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(Entry(*r3, "kubectl-create", "Update").is_null());
  EXPECT_TRUE(
      Entry(*r3, "mine", "Update").is_null());  // lost paused to "other"
  EXPECT_EQ(Entry(*r3, "other", "Update")["fieldsV1"],
            J(R"({"f:spec":{"f:paused":{}}})"));
}

TEST(ManagedFields, AtMostTenUpdateManagers) {
  Json obj = Stored(ApplyConfig(1));
  auto r = UpdateManagedFields(
      nullptr, obj, Opts("m00", "2025-01-01T00:00:00Z"), DeploymentMeta());
  ASSERT_TRUE(r.ok());
  Json cur = *r;
  for (int i = 1; i <= 12; ++i) {
    Json next = cur;
    std::string key = "a";  // (not "a" + ...: GCC 12 -Wrestrict false positive)
    key += std::to_string(i);
    next["metadata"]["annotations"][key] = "x";
    char name[16], now[48];
    snprintf(name, sizeof name, "m%02d", i);
    snprintf(now, sizeof now, "2025-01-01T00:00:%02dZ", i);
    auto u = UpdateManagedFields(&cur, next, Opts(name, now), DeploymentMeta());
    ASSERT_TRUE(u.ok());
    cur = *u;
  }
  const Json& mf = cur["metadata"]["managedFields"];
  EXPECT_EQ(mf.size(), 10u);
  const Json& bucket = Entry(cur, "ancient-changes", "Update");
  ASSERT_FALSE(bucket.is_null());
  // The oldest managers' fields are kept in the bucket.
  EXPECT_TRUE(Owns(bucket, "/f:spec/f:replicas"));
  EXPECT_TRUE(Owns(bucket, "/f:metadata/f:annotations/f:a1"));
  EXPECT_TRUE(Entry(cur, "m00", "Update").is_null());
  EXPECT_FALSE(Entry(cur, "m12", "Update").is_null());
}

TEST(ManagedFields, FieldSetRoundTripAndPaths) {
  Json v1 = J(
      R"({"f:metadata":{"f:labels":{".":{},"f:app":{}},"f:finalizers":{"v:\"a\"":{}}},
                  "f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{}}},"f:args":{"i:0":{}}}})");
  auto s = FieldSet::FromFieldsV1(v1);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->ToFieldsV1(), v1);
  EXPECT_TRUE(s->Has({"f:metadata", "f:labels"}));
  EXPECT_FALSE(s->Has({"f:metadata"}));
  std::vector<std::string> paths;
  for (const auto& p : s->Members()) paths.push_back(FieldSet::PathString(p));
  EXPECT_EQ(paths, (std::vector<std::string>{
                       ".metadata.finalizers[=\"a\"]", ".metadata.labels",
                       ".metadata.labels.app", ".spec.args[0]",
                       ".spec.containers[name=\"web\"]",
                       ".spec.containers[name=\"web\"].image"}));
  // Keys are canonical whatever the input's spacing and order.
  auto k = FieldSet::FromFieldsV1(
      J(R"({"k:{ \"protocol\": \"TCP\", \"containerPort\": 80.0 }":{}})"));
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(k->Has({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}"}));
  for (const char* bad : {R"({"x:y":{}})", R"({"f:a":1})", R"({"k:[1]":{}})",
                          R"({"i:x":{}})", R"({"v:{":{}})", R"([])"}) {
    EXPECT_EQ(FieldSet::FromFieldsV1(J(bad)).status().code(),
              Code::kInvalidArgument)
        << bad;
  }
  Json deep = Json::object();
  Json* cur = &deep;
  for (int i = 0; i < 1000; ++i) cur = &(*cur)["f:a"];
  *cur = Json::object();
  EXPECT_EQ(FieldSet::FromFieldsV1(deep).status().code(),
            Code::kInvalidArgument);
}

TEST(ServerSideApply, CustomResourceSchemaFromCrd) {
  Json schema = J(R"({"type":"object","properties":{
      "spec":{"type":"object","properties":{
        "items":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
          "items":{"type":"object","properties":{"name":{"type":"string"},"size":{"type":"integer"}}}},
        "tags":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
        "plain":{"type":"array","items":{"type":"string"}}}}}})");
  auto meta = PatchMetaFromOpenAPISchema(schema);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_FALSE(meta->supports_strategic_merge());
  FieldManagerOptions o;
  o.api_version = "example.com/v1";
  o.now = "2025-01-01T00:00:00Z";
  o.manager = "a";
  Json a = J(
      R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},
                 "spec":{"items":[{"name":"x","size":1}],"tags":["t1"],"plain":["p1"]}})");
  auto r1 = Apply(nullptr, a, o, false, *meta);
  ASSERT_TRUE(r1.ok());
  o.manager = "b";
  Json b = J(
      R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},
                 "spec":{"items":[{"name":"y","size":2}],"tags":["t2"]}})");
  auto r2 = Apply(&r1->object, b, o, false, *meta);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->object["spec"]["items"],
            J(R"([{"name":"x","size":1},{"name":"y","size":2}])"));
  EXPECT_EQ(r2->object["spec"]["tags"], J(R"(["t1","t2"])"));
  // An atomic list owned by "a" conflicts when "b" changes it.
  b["spec"]["plain"] = J(R"(["p2"])");
  std::vector<ApplyConflict> conflicts;
  auto r3 = Apply(&r2->object, b, o, false, *meta, &conflicts);
  ASSERT_EQ(r3.status().code(), Code::kConflict);
  EXPECT_EQ(conflicts[0].message, "conflict with \"a\"");
  EXPECT_EQ(conflicts[0].field, ".spec.plain");

  Json deep = Json::object();
  Json* cur = &deep;
  for (int i = 0; i < 10000; ++i) cur = &(*cur)["properties"]["x"];
  EXPECT_EQ(PatchMetaFromOpenAPISchema(deep).status().code(),
            Code::kInvalidArgument);
}

// ------------------------------------------------------------ robustness

// Random documents and patches built from the keys and directives the code
// reacts to: nothing throws or crashes, a successful strategic merge patch
// re-applied as `{}` changes nothing, and re-applying an applied
// configuration or repeating an update is a no-op.
class RandomInputs {
 public:
  explicit RandomInputs(uint64_t seed) : rng_(seed) {}

  int Below(int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(rng_);
  }

  Json Value(int depth) {
    if (depth > 6 || Below(3) == 0) return Scalar();
    if (Below(2)) {
      Json o = Json::object();
      for (int i = Below(4); i > 0; --i) o[Key()] = Value(depth + 1);
      return o;
    }
    Json a = Json::array();
    for (int i = Below(4); i > 0; --i) a.push_back(Value(depth + 1));
    return a;
  }
  Json Object() {
    Json o = Value(0);
    return o.is_object() ? o : Json{{"spec", o}};
  }
  std::string Pointer() {
    std::string p;
    for (int i = Below(4); i > 0; --i)
      p += "/" + (Below(3) ? Key() : std::to_string(Below(3)));
    return Below(10) ? p : p + "/-";
  }

 private:
  Json Scalar() {
    switch (Below(7)) {
      case 0:
        return nullptr;
      case 1:
        return Below(3);
      case 2:
        return "a";
      case 3:
        return true;
      case 4:
        return "delete";
      case 5:
        return "replace";
      default:
        return "merge";
    }
  }
  std::string Key() {
    static const char* const kKeys[] = {"spec",
                                        "template",
                                        "containers",
                                        "name",
                                        "image",
                                        "ports",
                                        "containerPort",
                                        "protocol",
                                        "env",
                                        "metadata",
                                        "labels",
                                        "finalizers",
                                        "$patch",
                                        "$setElementOrder/containers",
                                        "$retainKeys",
                                        "$deleteFromPrimitiveList/finalizers",
                                        "volumes",
                                        "status",
                                        "conditions",
                                        "type",
                                        "selector",
                                        "strategy",
                                        "ownerReferences",
                                        "uid",
                                        "managedFields",
                                        "f:spec",
                                        "."};
    return kKeys[Below(sizeof kKeys / sizeof *kKeys)];
  }

  std::mt19937_64 rng_;
};

TEST(Robustness, RandomInputs) {
  RandomInputs gen(20261122);
  const PatchMeta* metas[] = {&DeploymentMeta(), &Table().Find("", "Pod"),
                              &Table().Find("", "Service"),
                              &Table().Find("batch", "Job")};
  const char* ops[] = {"add",  "remove", "replace", "move",
                       "copy", "test",   "bogus"};
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    Json doc = gen.Object();
    Json patch = gen.Object();
    const PatchMeta& meta = *metas[gen.Below(4)];
    auto smp = ApplyStrategicMergePatch(doc, patch, meta);
    if (smp.ok()) {
      ++accepted;
      auto again = ApplyStrategicMergePatch(*smp, Json::object(), meta);
      ASSERT_TRUE(again.ok() && *again == *smp) << doc << " + " << patch;
    }
    accepted += ApplyMergePatch(doc, patch).ok();
    Json json_patch = Json::array();
    for (int k = gen.Below(5); k > 0; --k) {
      Json op = {{"op", ops[gen.Below(7)]}, {"path", gen.Pointer()}};
      if (gen.Below(2)) op["value"] = gen.Value(3);
      if (gen.Below(2)) op["from"] = gen.Pointer();
      json_patch.push_back(op);
    }
    accepted += ApplyJsonPatch(doc, json_patch).ok();

    FieldManagerOptions o = Opts(gen.Below(2) ? "kubectl" : "ci");
    o.kind.clear();
    Json config = patch;
    config["apiVersion"] = "apps/v1";
    auto applied =
        Apply(gen.Below(2) ? &doc : nullptr, config, o, gen.Below(2), meta);
    if (applied.ok()) {
      ++accepted;
      auto again = Apply(&applied->object, config, o, false, meta);
      ASSERT_TRUE(again.ok()) << again.status().ToString() << " " << config;
      ASSERT_FALSE(again->changed) << config;
    }
    auto updated =
        UpdateManagedFields(gen.Below(2) ? &doc : nullptr, patch, o, meta);
    if (updated.ok()) {
      ++accepted;
      auto again = UpdateManagedFields(&*updated, *updated, o, meta);
      ASSERT_TRUE(again.ok() && *again == *updated) << patch;
    }
  }
  EXPECT_GT(accepted, 3000);  // the inputs are not all rejected
}

}  // namespace
}  // namespace kite::api
