#include "client/wire.h"

#include <gtest/gtest.h>

#include "client/yaml_json.h"

namespace kite::client {
namespace {

TEST(WireTest, Paths) {
  ResourceRef pods{"", "v1", "pods", "default"};
  EXPECT_EQ(CollectionPath(pods), "/api/v1/namespaces/default/pods");
  EXPECT_EQ(ObjectPath(pods, "web", "status"),
            "/api/v1/namespaces/default/pods/web/status");
  ResourceRef deploys{"apps", "v1", "deployments", ""};
  EXPECT_EQ(CollectionPath(deploys), "/apis/apps/v1/deployments");
  ResourceRef ns{"", "v1", "namespaces", ""};
  EXPECT_EQ(ObjectPath(ns, "demo", "finalize"),
            "/api/v1/namespaces/demo/finalize");
  ResourceRef roles{"rbac.authorization.k8s.io", "v1", "clusterroles", ""};
  EXPECT_EQ(ObjectPath(roles, "system:controller:x y"),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/"
            "system:controller:x%20y");
  EXPECT_EQ(deploys.GroupResource(), "deployments.apps");
  EXPECT_EQ(pods.GroupResource(), "pods");
  EXPECT_EQ(deploys.ApiVersion(), "apps/v1");
}

TEST(WireTest, EffectiveNamespace) {
  ResourceRef pods{"", "v1", "pods", ""};
  Json obj = {{"metadata", {{"name", "a"}, {"namespace", "x"}}}};
  EXPECT_EQ(EffectiveNamespace(pods, obj), "x");
  EXPECT_EQ(EffectiveNamespace(pods.In("y"), obj), "y");
  EXPECT_EQ(EffectiveNamespace(pods, Json::object()), "");
}

TEST(WireTest, Queries) {
  ListOptions lo;
  lo.label_selector = "app in (web,foo),!missing";
  lo.field_selector = "status.phase!=Failed";
  lo.limit = 500;
  lo.continue_token = "abc=";
  EXPECT_EQ(ListQuery(lo),
            "labelSelector=app%20in%20%28web%2Cfoo%29%2C%21missing&"
            "fieldSelector=status.phase%21%3DFailed&limit=500&continue=abc%3D");
  EXPECT_EQ(ListQuery({}), "");
  WatchOptions wo;
  wo.resource_version = "42";
  wo.allow_bookmarks = true;
  wo.timeout = std::chrono::seconds(300);
  EXPECT_EQ(WatchQuery(wo),
            "watch=true&resourceVersion=42&allowWatchBookmarks=true&"
            "timeoutSeconds=300");
  PatchOptions po;
  po.field_manager = "kite";
  po.force = true;
  EXPECT_EQ(PatchQuery(PatchType::kApply, po), "fieldManager=kite&force=true");
  EXPECT_EQ(PatchQuery(PatchType::kMerge, po), "fieldManager=kite");
  CreateOptions co;
  co.dry_run = true;
  EXPECT_EQ(CreateQuery(co), "dryRun=All");

  auto un = QueryUnescape("app+in+%28web%2Cfoo%29");
  ASSERT_TRUE(un.ok());
  EXPECT_EQ(*un, "app in (web,foo)");
  EXPECT_FALSE(QueryUnescape("bad%2").ok());
  EXPECT_FALSE(QueryUnescape("bad%zz").ok());
}

TEST(WireTest, DeleteOptionsBody) {
  DeleteOptions d;
  EXPECT_EQ(DeleteOptionsBody(d),
            Json({{"kind", "DeleteOptions"}, {"apiVersion", "v1"}}));
  d.propagation_policy = PropagationPolicy::kForeground;
  d.grace_period_seconds = 0;
  d.precondition_uid = "u1";
  d.dry_run = true;
  Json b = DeleteOptionsBody(d);
  EXPECT_EQ(b["propagationPolicy"], "Foreground");
  EXPECT_EQ(b["gracePeriodSeconds"], 0);
  EXPECT_EQ(b["preconditions"], Json({{"uid", "u1"}}));
  EXPECT_EQ(b["dryRun"], Json::array({"All"}));
}

TEST(WireTest, WatchEvents) {
  auto ev = ParseWatchEvent(
      R"({"type":"MODIFIED","object":{"metadata":{"name":"a"}}})");
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->type, EventType::kModified);
  EXPECT_EQ(ev->object["metadata"]["name"], "a");
  auto again = ParseWatchEvent(FormatWatchEvent(*ev));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->object, ev->object);
  EXPECT_FALSE(ParseWatchEvent("not json").ok());
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"WHAT","object":{}})").ok());
  EXPECT_FALSE(ParseWatchEvent(R"({"object":{}})").ok());
}

TEST(WireTest, StatusMapping) {
  struct Case {
    int code;
    const char* reason;
    Code want;
  };
  const Case cases[] = {
      {404, "NotFound", Code::kNotFound},
      {409, "AlreadyExists", Code::kAlreadyExists},
      {409, "Conflict", Code::kConflict},
      {422, "Invalid", Code::kInvalidArgument},
      {400, "BadRequest", Code::kInvalidArgument},
      {410, "Expired", Code::kCompacted},
      {410, "Gone", Code::kCompacted},
      {403, "Forbidden", Code::kPermissionDenied},
      {401, "Unauthorized", Code::kUnauthenticated},
      {429, "TooManyRequests", Code::kResourceExhausted},
      {413, "RequestEntityTooLarge", Code::kResourceExhausted},
      {504, "Timeout", Code::kDeadlineExceeded},
      {503, "ServiceUnavailable", Code::kUnavailable},
      {405, "MethodNotAllowed", Code::kFailedPrecondition},
      {500, "InternalError", Code::kInternal},
      // No reason: the HTTP code decides.
      {404, "", Code::kNotFound},
      {409, "", Code::kConflict},
      {410, "", Code::kCompacted},
      {502, "", Code::kInternal},
  };
  for (const Case& c : cases) {
    Json body = {{"kind", "Status"},
                 {"apiVersion", "v1"},
                 {"status", "Failure"},
                 {"message", "msg"},
                 {"code", c.code}};
    if (*c.reason) body["reason"] = c.reason;
    Status s = ApiStatusToStatus(c.code, body);
    EXPECT_EQ(s.code(), c.want) << c.code << " " << c.reason;
    EXPECT_EQ(s.message(), "msg");
  }
  EXPECT_TRUE(ApiStatusToStatus(200, Json()).ok());
  Status plain = ResponseToStatus(502, "Bad Gateway\n");
  EXPECT_EQ(plain.code(), Code::kInternal);
  EXPECT_EQ(plain.message(), "Bad Gateway");
  Status empty = ResponseToStatus(503, "");
  EXPECT_EQ(empty.code(), Code::kUnavailable);
  EXPECT_EQ(empty.message(), "the server responded with HTTP 503");

  // A watch ERROR object carries its own code.
  Status w = WatchErrorToStatus({{"kind", "Status"},
                                 {"code", 410},
                                 {"message", "too old resource version"}});
  EXPECT_EQ(w.code(), Code::kCompacted);

  // The reverse mapping round-trips for the codes Kubernetes has.
  for (Code c : {Code::kInvalidArgument, Code::kNotFound, Code::kAlreadyExists,
                 Code::kConflict, Code::kCompacted, Code::kPermissionDenied,
                 Code::kUnauthenticated, Code::kResourceExhausted,
                 Code::kDeadlineExceeded, Code::kUnavailable,
                 Code::kFailedPrecondition, Code::kInternal}) {
    Json st = StatusToApiStatus(Status(c, "m"));
    EXPECT_EQ(ApiStatusToStatus(st["code"], st).code(), c) << CodeName(c);
  }
  EXPECT_EQ(StatusToApiStatus(Status::Ok())["status"], "Success");
}

TEST(YamlJsonTest, Converts) {
  auto j = YamlToJson(
      "a: 1\nb: true\nc: '1'\nd: [x, 2.5, null]\ne:\n  f: ~\ng: \"yes\"\n"
      "h: 0x1\n");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ((*j)["a"], 1);
  EXPECT_EQ((*j)["b"], true);
  EXPECT_EQ((*j)["c"], "1");
  EXPECT_EQ((*j)["d"], Json::parse(R"(["x",2.5,null])"));
  EXPECT_TRUE((*j)["e"]["f"].is_null());
  EXPECT_EQ((*j)["g"], "yes");
  EXPECT_EQ((*j)["h"], 1);  // YAML 1.1 hex, as Kubernetes' parser reads it
  auto flow = YamlToJson(R"({"kind":"ConfigMap","data":{"k":"v"}})");
  ASSERT_TRUE(flow.ok());
  EXPECT_EQ((*flow)["data"]["k"], "v");
  EXPECT_FALSE(YamlToJson("a: [1, 2").ok());
}

// What the API server's decoder was fixed for (found by tests/fuzz/yaml):
// the same conversion now serves kubeconfig files, the manifests directory
// and the bootstrap policy, so each hole is checked here too. Several of
// these made yaml-cpp loop forever or produced strings JSON cannot hold.
TEST(YamlJsonTest, RefusesWhatKubernetesRefuses) {
  auto refused = [](std::string_view text, std::string_view why) {
    auto j = YamlToJson(text);
    EXPECT_FALSE(j.ok()) << "accepted: " << j->dump();
    EXPECT_EQ(j.status().code(), Code::kInvalidArgument);
    EXPECT_NE(j.status().message().find(why), std::string::npos)
        << j.status().message();
  };
  // NUL in a quoted scalar (yaml-cpp looped), other control characters.
  refused(std::string_view("{\"kind\":\"Co\0\0\"}\n", 16),
          "control characters");
  refused("a: \"x\x01y\"\n", "control characters");
  refused("a: b\x7f\n", "control characters");
  // Bytes that are not UTF-8 (JSON cannot hold them), overlongs, surrogates.
  refused("a: \"\xd0\xcc\"\n", "invalid UTF-8");
  refused("a: \xc0\xaf\n", "invalid UTF-8");
  refused("a: \xed\xa0\x80\n", "invalid UTF-8");
  // yaml-cpp's \N \_ \L \P escapes come out as bytes that are not UTF-8.
  for (const char* esc : {"\\N", "\\_", "\\L", "\\P"}) {
    auto j = YamlToJson(std::string("a: \"") + esc + "\"\n");
    if (j.ok()) {
      // If yaml-cpp writes it as UTF-8, it must survive serialization.
      EXPECT_NO_THROW(j->dump()) << esc;
    } else {
      EXPECT_NE(j.status().message().find("UTF-8"), std::string::npos)
          << esc << ": " << j.status().message();
    }
  }
  // Text after a flow mapping (yaml-cpp's LoadAll looped), a second document.
  refused(R"({"apiVersion":"v1","kind"},"data":{"a":"b"}})", "flow");
  refused("{\"a\": 1} x\n", "flow");
  refused("a: 1\n---\nb: 2\n", "more than one document");
  // Nesting and alias expansion.
  refused(std::string(300, '[') + std::string(300, ']'), "nests deeper");
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i)
      bomb += std::string(i ? ", *" : "*") + static_cast<char>(c - 1);
    bomb += "]\n";
  }
  refused(bomb, "aliases");
  refused("? [a, b]\n: c\n", "keys must be scalars");

  // Still fine: a leading ---, a trailing ..., comments, tabs and CRLF,
  // text after a flow mapping that is a comment, multi-byte UTF-8, big
  // numbers that stay strings.
  auto ok = YamlToJson(
      "---\r\na: 'x # y'  # comment\r\nb:\t\"\xc3\xa9\xe2\x82\xac\"\r\n"
      "c: 1" +
      std::string(400, '0') + "\r\n...\r\n");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)["a"], "x # y");
  EXPECT_EQ((*ok)["b"], "\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ((*ok)["c"], "1" + std::string(400, '0'));
  auto flow = YamlToJson("{a: 1}  # done\n");
  ASSERT_TRUE(flow.ok()) << flow.status().ToString();
  EXPECT_EQ((*flow)["a"], 1);
}

}  // namespace
}  // namespace kite::client
