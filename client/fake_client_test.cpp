#include "client/fake_client.h"

#include <gtest/gtest.h>

#include "api/object.h"

namespace kite::client {
namespace {

using std::chrono::milliseconds;

const ResourceRef kCm{"", "v1", "configmaps", "default"};
const ResourceRef kNs{"", "v1", "namespaces", ""};
const ResourceRef kDeploy{"apps", "v1", "deployments", "default"};

Json Cm(const std::string& name, Json labels = Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"data", {{"k", "v"}}}};
}

std::string Rv(const Json& obj) {
  return api::GetString(obj, {"metadata", "resourceVersion"});
}

TEST(FakeClientTest, CreateGetAndMetadata) {
  FakeClock clock;
  FakeClient fake(clock);
  auto c = fake.Create(kCm, Cm("a"), {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(api::Namespace(*c), "default");
  EXPECT_FALSE(api::GetString(*c, {"metadata", "uid"}).empty());
  EXPECT_EQ(api::GetString(*c, {"metadata", "creationTimestamp"}),
            api::FormatTime(clock.Now()));
  EXPECT_EQ(api::GetInt(*c, {"metadata", "generation"}), 1);
  EXPECT_EQ(Rv(*c), std::to_string(fake.ResourceVersion()));

  auto dup = fake.Create(kCm, Cm("a"), {});
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.status().message(), "configmaps \"a\" already exists");

  auto got = fake.Get(kCm, "a", {});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, *c);
  auto missing = fake.Get(kCm, "zzz", {});
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "configmaps \"zzz\" not found");
  // Namespaces are separate keys.
  EXPECT_EQ(fake.Get(kCm.In("other"), "a", {}).status().code(),
            Code::kNotFound);

  Json gen = Cm("");
  gen["metadata"].erase("name");
  gen["metadata"]["generateName"] = "web-";
  auto g1 = fake.Create(kCm, gen, {});
  auto g2 = fake.Create(kCm, gen, {});
  ASSERT_TRUE(g1.ok() && g2.ok());
  EXPECT_EQ(api::Name(*g1).rfind("web-", 0), 0u);
  EXPECT_EQ(api::Name(*g1).size(), 9u);
  EXPECT_NE(api::Name(*g1), api::Name(*g2));

  Json wrong = Cm("b");
  wrong["metadata"]["namespace"] = "elsewhere";
  EXPECT_EQ(fake.Create(kCm, wrong, {}).status().code(),
            Code::kInvalidArgument);
  // An empty ref.ns takes the object's namespace.
  auto other = fake.Create(kCm.In(""), wrong, {});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(api::Namespace(*other), "elsewhere");

  CreateOptions dry;
  dry.dry_run = true;
  ASSERT_TRUE(fake.Create(kCm, Cm("dry"), dry).ok());
  EXPECT_EQ(fake.Get(kCm, "dry", {}).status().code(), Code::kNotFound);
}

TEST(FakeClientTest, UpdateIsCompareAndSwap) {
  FakeClient fake;
  auto c = fake.Create(kCm, Cm("a"), {});
  ASSERT_TRUE(c.ok());
  Json v1 = *c;
  v1["data"]["k"] = "v2";
  auto u = fake.Update(kCm, v1, {});
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_NE(Rv(*u), Rv(*c));
  EXPECT_EQ(api::GetInt(*u, {"metadata", "generation"}), 2);
  // Stale resourceVersion.
  v1["data"]["k"] = "v3";
  auto stale = fake.Update(kCm, v1, {});
  EXPECT_EQ(stale.status().code(), Code::kConflict);
  EXPECT_EQ(stale.status().message(),
            "Operation cannot be fulfilled on configmaps \"a\": the object "
            "has been modified; please apply your changes to the latest "
            "version and try again");
  // Without a resourceVersion: unconditional.
  v1["metadata"].erase("resourceVersion");
  ASSERT_TRUE(fake.Update(kCm, v1, {}).ok());
  // No change: same resourceVersion.
  auto cur = fake.Get(kCm, "a", {});
  auto same = fake.Update(kCm, *cur, {});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(Rv(*same), Rv(*cur));
  EXPECT_EQ(fake.Update(kCm, Cm("nope"), {}).status().code(), Code::kNotFound);
}

TEST(FakeClientTest, StatusSubresourceAndMainUpdateKeepEachOther) {
  FakeClient fake;
  Json d = {{"kind", "Deployment"},
            {"metadata", {{"name", "web"}}},
            {"spec", {{"replicas", 1}}}};
  auto c = fake.Create(kDeploy, d, {});
  ASSERT_TRUE(c.ok());
  Json st = *c;
  st["status"] = {{"replicas", 1}};
  st["spec"]["replicas"] = 5;  // ignored by a status update
  UpdateOptions status;
  status.subresource = "status";
  auto s = fake.Update(kDeploy, st, status);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)["spec"]["replicas"], 1);
  EXPECT_EQ((*s)["status"]["replicas"], 1);
  EXPECT_EQ(api::GetInt(*s, {"metadata", "generation"}), 1);

  Json main = *s;
  main.erase("status");
  main["spec"]["replicas"] = 3;
  auto m = fake.Update(kDeploy, main, {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)["status"]["replicas"], 1);  // kept
  EXPECT_EQ(api::GetInt(*m, {"metadata", "generation"}), 2);

  GetOptions scale_get;
  scale_get.subresource = "scale";
  auto scale = fake.Get(kDeploy, "web", scale_get);
  ASSERT_TRUE(scale.ok());
  EXPECT_EQ((*scale)["kind"], "Scale");
  EXPECT_EQ((*scale)["spec"]["replicas"], 3);
  PatchOptions po;
  po.subresource = "scale";
  auto ps = fake.Patch(kDeploy, "web", PatchType::kMerge,
                       R"({"spec":{"replicas":7}})", po);
  ASSERT_TRUE(ps.ok()) << ps.status().ToString();
  EXPECT_EQ((*ps)["spec"]["replicas"], 7);
  EXPECT_EQ((*fake.Get(kDeploy, "web", {}))["spec"]["replicas"], 7);
}

TEST(FakeClientTest, FinalizersHoldDeletion) {
  FakeClient fake;
  Json held = Cm("held");
  held["metadata"]["finalizers"] = {"example.com/x"};
  ASSERT_TRUE(fake.Create(kCm, held, {}).ok());
  auto d = fake.Delete(kCm, "held", {});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(api::Has(*d, {"metadata", "deletionTimestamp"}));
  auto still = fake.Get(kCm, "held", {});
  ASSERT_TRUE(still.ok());
  // No new finalizers on an object being deleted.
  Json more = *still;
  more["metadata"]["finalizers"] = {"example.com/x", "example.com/y"};
  EXPECT_EQ(fake.Update(kCm, more, {}).status().code(), Code::kInvalidArgument);
  // Removing the last finalizer deletes it.
  Json release = *still;
  release["metadata"]["finalizers"] = Json::array();
  ASSERT_TRUE(fake.Update(kCm, release, {}).ok());
  EXPECT_EQ(fake.Get(kCm, "held", {}).status().code(), Code::kNotFound);

  // Preconditions.
  auto c = fake.Create(kCm, Cm("p"), {});
  ASSERT_TRUE(c.ok());
  DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "not-it";
  EXPECT_EQ(fake.Delete(kCm, "p", wrong_uid).status().code(), Code::kConflict);
  DeleteOptions right;
  right.precondition_uid = api::GetString(*c, {"metadata", "uid"});
  right.precondition_resource_version = Rv(*c);
  ASSERT_TRUE(fake.Delete(kCm, "p", right).ok());
  EXPECT_EQ(fake.Delete(kCm, "p", {}).status().code(), Code::kNotFound);
}

TEST(FakeClientTest, NamespaceLifecycle) {
  FakeClient fake;
  auto ns = fake.Create(kNs, {{"metadata", {{"name", "demo"}}}}, {});
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ((*ns)["spec"]["finalizers"], Json::array({"kubernetes"}));
  EXPECT_EQ((*ns)["status"]["phase"], "Active");
  // A main update cannot touch spec.finalizers.
  Json edit = *ns;
  edit["spec"]["finalizers"] = Json::array();
  edit["metadata"]["labels"] = {{"a", "b"}};
  auto u = fake.Update(kNs, edit, {});
  ASSERT_TRUE(u.ok());
  EXPECT_EQ((*u)["spec"]["finalizers"], Json::array({"kubernetes"}));
  auto d = fake.Delete(kNs, "demo", {});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["status"]["phase"], "Terminating");
  Json fin = *d;
  fin["spec"]["finalizers"] = Json::array();
  UpdateOptions finalize;
  finalize.subresource = "finalize";
  ASSERT_TRUE(fake.Update(kNs, fin, finalize).ok());
  ASSERT_TRUE(fake.Get(kNs, "demo", {}).ok());  // deleted by the next Delete
  ASSERT_TRUE(fake.Delete(kNs, "demo", {}).ok());
  EXPECT_EQ(fake.Get(kNs, "demo", {}).status().code(), Code::kNotFound);
}

TEST(FakeClientTest, ListSelectorsAndPaging) {
  FakeClient fake;
  for (int i = 0; i < 5; ++i) {
    Json labels = {{"app", i % 2 == 0 ? "web" : "db"}};
    ASSERT_TRUE(
        fake.Create(kCm, Cm("cm" + std::to_string(i), labels), {}).ok());
  }
  ASSERT_TRUE(fake.Create(kCm.In("other"), Cm("x"), {}).ok());
  ListOptions web;
  web.label_selector = "app=web";
  auto l = fake.List(kCm, web);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ((*l)["kind"], "ConfigMapList");
  EXPECT_EQ((*l)["items"].size(), 3u);
  EXPECT_EQ((*l)["metadata"]["resourceVersion"],
            std::to_string(fake.ResourceVersion()));
  ListOptions by_name;
  by_name.field_selector = "metadata.name=cm1";
  EXPECT_EQ((*fake.List(kCm, by_name))["items"].size(), 1u);
  ListOptions by_data;
  by_data.field_selector = "data.k!=v";
  EXPECT_EQ((*fake.List(kCm, by_data))["items"].size(), 0u);
  EXPECT_EQ((*fake.List(kCm.In(""), {}))["items"].size(), 6u);
  ListOptions bad;
  bad.label_selector = "app in (";
  EXPECT_EQ(fake.List(kCm, bad).status().code(), Code::kInvalidArgument);

  ListOptions page;
  page.limit = 2;
  std::vector<std::string> names;
  int pages = 0;
  while (true) {
    auto p = fake.List(kCm, page);
    ASSERT_TRUE(p.ok());
    ++pages;
    for (const Json& item : (*p)["items"]) names.push_back(api::Name(item));
    std::string cont = api::GetString(*p, {"metadata", "continue"});
    if (cont.empty()) break;
    page.continue_token = cont;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names,
            (std::vector<std::string>{"cm0", "cm1", "cm2", "cm3", "cm4"}));
  // Tokens from before a compaction expire.
  page.continue_token.clear();
  auto first = fake.List(kCm, page);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(fake.Create(kCm, Cm("late"), {}).ok());
  fake.Compact();
  page.continue_token = api::GetString(*first, {"metadata", "continue"});
  EXPECT_EQ(fake.List(kCm, page).status().code(), Code::kCompacted);

  ListOptions sel;
  sel.label_selector = "app=db";
  auto gone = fake.DeleteCollection(kCm, sel, {});
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ((*gone)["items"].size(), 2u);
  EXPECT_EQ((*fake.List(kCm, {}))["items"].size(), 4u);
}

TEST(FakeClientTest, WatchDeliversFilteredEventsAndReplays) {
  FakeClient fake;
  ASSERT_TRUE(fake.Create(kCm, Cm("pre", {{"app", "web"}}), {}).ok());
  WatchOptions wo;
  wo.label_selector = "app=web";
  auto w = fake.Watch(kCm, wo);
  ASSERT_TRUE(w.ok());
  auto ev = (*w)->Next(milliseconds(1000));
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->type, EventType::kAdded);  // what exists
  EXPECT_EQ(api::Name(ev->object), "pre");
  EXPECT_EQ((*w)->Next(milliseconds(1)).status().code(),
            Code::kDeadlineExceeded);
  std::string start_rv = std::to_string(fake.ResourceVersion());

  auto a = fake.Create(kCm, Cm("a", {{"app", "web"}}), {});
  ASSERT_TRUE(fake.Create(kCm, Cm("db", {{"app", "db"}}), {}).ok());
  Json moved = *a;
  moved["metadata"]["labels"]["app"] = "db";  // leaves the selection
  ASSERT_TRUE(fake.Update(kCm, moved, {}).ok());
  auto db = fake.Get(kCm, "db", {});
  (*db)["metadata"]["labels"]["app"] = "web";  // enters it
  ASSERT_TRUE(fake.Update(kCm, *db, {}).ok());
  ASSERT_TRUE(fake.Delete(kCm, "pre", {}).ok());

  std::vector<std::pair<EventType, std::string>> want = {
      {EventType::kAdded, "a"},
      {EventType::kDeleted, "a"},
      {EventType::kAdded, "db"},
      {EventType::kDeleted, "pre"}};
  for (const auto& [type, name] : want) {
    auto e = (*w)->Next(milliseconds(1000));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(e->type, type) << name;
    EXPECT_EQ(api::Name(e->object), name);
  }

  // A watch from a resourceVersion replays what came after it.
  WatchOptions from;
  from.resource_version = start_rv;
  auto replay = fake.Watch(kCm, from);
  ASSERT_TRUE(replay.ok());
  int n = 0;
  while ((*replay)->Next(milliseconds(1)).ok()) ++n;
  EXPECT_EQ(n, 5);  // a, db, a modified, db modified, pre deleted

  // After compaction it is told 410, as the server does.
  fake.Compact();
  auto old = fake.Watch(kCm, from);
  ASSERT_TRUE(old.ok());
  auto err = (*old)->Next(milliseconds(1000));
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->type, EventType::kError);
  EXPECT_EQ(err->object["code"], 410);
  EXPECT_EQ((*old)->Next(milliseconds(1000)).status().code(),
            Code::kUnavailable);

  // Bookmarks, closing and cancelling.
  WatchOptions bm;
  bm.allow_bookmarks = true;
  bm.resource_version = std::to_string(fake.ResourceVersion());
  auto b = fake.Watch(kCm, bm);
  ASSERT_TRUE(b.ok());
  fake.SendBookmarks();
  auto be = (*b)->Next(milliseconds(1000));
  ASSERT_TRUE(be.ok());
  EXPECT_EQ(be->type, EventType::kBookmark);
  EXPECT_EQ(Rv(be->object), std::to_string(fake.ResourceVersion()));
  fake.CloseWatches();
  EXPECT_EQ((*b)->Next(milliseconds(1000)).status().code(), Code::kUnavailable);
  auto c = fake.Watch(kCm, bm);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(fake.OpenWatches(), 1);
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(20));
    (*c)->Cancel();
  });
  EXPECT_EQ((*c)->Next(milliseconds::max()).status().code(), Code::kCancelled);
  canceller.join();
  EXPECT_EQ(fake.OpenWatches(), 0);
}

TEST(FakeClientTest, Patches) {
  FakeClient fake;
  Json d = Json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {"replicas": 1, "template": {"spec": {"containers": [
      {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}})");
  ASSERT_TRUE(fake.Create(kDeploy, d, {}).ok());
  auto m = fake.Patch(kDeploy, "web", PatchType::kMerge,
                      R"({"metadata":{"labels":{"x":"y"}}})", {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)["metadata"]["labels"]["x"], "y");
  auto s = fake.Patch(
      kDeploy, "web", PatchType::kStrategicMerge,
      R"({"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b:2"}]}}}})",
      {});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const Json& cs = (*s)["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(cs.size(), 2u);  // merged by name
  EXPECT_EQ(cs[1]["image"], "b:2");
  auto j =
      fake.Patch(kDeploy, "web", PatchType::kJson,
                 R"([{"op":"replace","path":"/spec/replicas","value":4}])", {});
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["spec"]["replicas"], 4);
  std::string rv = Rv(*j);
  auto noop = fake.Patch(kDeploy, "web", PatchType::kMerge,
                         R"({"spec":{"replicas":4}})", {});
  ASSERT_TRUE(noop.ok());
  EXPECT_EQ(Rv(*noop), rv);
  EXPECT_EQ(
      fake.Patch(kDeploy, "web", PatchType::kJson,
                 R"([{"op":"test","path":"/spec/replicas","value":9}])", {})
          .status()
          .code(),
      Code::kInvalidArgument);
  EXPECT_EQ(
      fake.Patch(kDeploy, "nope", PatchType::kMerge, "{}", {}).status().code(),
      Code::kNotFound);

  // Server-side apply creates, then conflicts with another manager.
  PatchOptions ssa;
  ssa.field_manager = "tool-a";
  auto ap = fake.Patch(kCm, "applied", PatchType::kApply,
                       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "
                       "applied\ndata:\n  k: one\n",
                       ssa);
  ASSERT_TRUE(ap.ok()) << ap.status().ToString();
  EXPECT_EQ((*ap)["data"]["k"], "one");
  PatchOptions other;
  other.field_manager = "tool-b";
  std::string body =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"},"data":{"k":"two"}})";
  EXPECT_EQ(fake.Patch(kCm, "applied", PatchType::kApply, body, other)
                .status()
                .code(),
            Code::kConflict);
  other.force = true;
  auto forced = fake.Patch(kCm, "applied", PatchType::kApply, body, other);
  ASSERT_TRUE(forced.ok()) << forced.status().ToString();
  EXPECT_EQ((*forced)["data"]["k"], "two");
}

TEST(FakeClientTest, InjectedErrorsActionsAndBinding) {
  FakeClient fake;
  fake.InjectError("create", "configmaps", UnavailableError("down"), 2);
  EXPECT_EQ(fake.Create(kCm, Cm("a"), {}).status().code(), Code::kUnavailable);
  EXPECT_EQ(fake.Create(kCm, Cm("a"), {}).status().code(), Code::kUnavailable);
  EXPECT_TRUE(fake.Create(kCm, Cm("a"), {}).ok());
  fake.ClearActions();
  ASSERT_TRUE(fake.Get(kCm, "a", {}).ok());
  auto actions = fake.Actions();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].verb, "get");
  EXPECT_EQ(actions[0].ref, kCm);
  EXPECT_EQ(actions[0].name, "a");

  const ResourceRef pods{"", "v1", "pods", "default"};
  ASSERT_TRUE(fake.Create(pods, {{"metadata", {{"name", "p"}}}}, {}).ok());
  CreateOptions binding;
  binding.subresource = "binding";
  Json b = {{"kind", "Binding"},
            {"metadata", {{"name", "p"}}},
            {"target", {{"kind", "Node"}, {"name", "node-1"}}}};
  ASSERT_TRUE(fake.Create(pods, b, binding).ok());
  EXPECT_EQ((*fake.Get(pods, "p", {}))["spec"]["nodeName"], "node-1");
  EXPECT_EQ(fake.Create(pods, b, binding).status().code(), Code::kConflict);

  RawRequest req;
  req.path = "/version";
  auto raw = fake.Do(req);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->code, 404);
  fake.SetRawHandler([](const RawRequest& r) {
    return RawResponse{200, "text/plain", "hello " + r.path};
  });
  EXPECT_EQ(fake.Do(req)->body, "hello /version");
}

}  // namespace
}  // namespace kite::client
