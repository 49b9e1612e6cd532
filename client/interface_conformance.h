// The conformance suite of client::Interface: what controllers rely on,
// checked against every implementation (the fake in client_test; the
// loopback client and the HTTPS client against a real `kite server` in the
// API server's tests), so controller unit tests on the fake mean something.
//
// It covers create/get/update with compare-and-swap and the error codes and
// messages, generateName, label and field selectors, list paging, watch from
// a list's resourceVersion and from "", finalizers holding a deletion,
// deletion preconditions, deletecollection, merge/JSON patches (no-op keeps
// the resourceVersion), the status subresource, and the namespace
// finalize flow.
//
// Use, in exactly one .cpp of a GoogleTest binary (this header defines
// tests):
//   #include "client/interface_conformance.h"
//   class LoopbackHarness : public kite::client::ConformanceHarness { ... };
//   INSTANTIATE_TEST_SUITE_P(
//       Loopback, InterfaceConformanceTest,
//       ::testing::Values(kite::client::HarnessFactory{
//           "loopback", [] { return std::make_unique<LoopbackHarness>(); }}),
//       kite::client::HarnessName);
// Objects get unique names, so one server may serve every test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "client/interface.h"

namespace kite::client {

class ConformanceHarness {
 public:
  virtual ~ConformanceHarness() = default;
  // The client under test; valid for the harness' lifetime.
  virtual Interface& client() = 0;
  // A namespace that exists and accepts new objects.
  virtual std::string test_namespace() { return "default"; }
};

struct HarnessFactory {
  std::string name;
  std::function<std::unique_ptr<ConformanceHarness>()> make;
};

inline std::string HarnessName(
    const ::testing::TestParamInfo<HarnessFactory>& info) {
  return info.param.name;
}

inline void PrintTo(const HarnessFactory& f, std::ostream* os) {
  *os << f.name;
}

class InterfaceConformanceTest
    : public ::testing::TestWithParam<HarnessFactory> {
 protected:
  void SetUp() override {
    harness_ = GetParam().make();
    ASSERT_NE(harness_, nullptr);
    ns_ = harness_->test_namespace();
    static std::atomic<int> counter{0};
    prefix_ = "conf-" + std::to_string(::getpid() % 100000) + "-" +
              std::to_string(counter++) + "-";
  }

  Interface& c() { return harness_->client(); }
  ResourceRef Cm() const { return {"", "v1", "configmaps", ns_}; }
  ResourceRef Deploy() const { return {"apps", "v1", "deployments", ns_}; }
  static ResourceRef Ns() { return {"", "v1", "namespaces", ""}; }
  std::string Unique(const std::string& s) const { return prefix_ + s; }

  Json ConfigMap(const std::string& name, Json labels = Json::object()) const {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"labels", labels}}},
            {"data", {{"k", "v"}}}};
  }

  Json Deployment(const std::string& name) const {
    Json d = Json::parse(R"({
      "apiVersion": "apps/v1", "kind": "Deployment",
      "spec": {"replicas": 1,
        "selector": {"matchLabels": {"app": "conf"}},
        "template": {"metadata": {"labels": {"app": "conf"}},
          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})");
    d["metadata"] = {{"name", name}};
    return d;
  }

  static std::string Rv(const Json& o) {
    const Json* m =
        o.is_object() && o.contains("metadata") ? &o["metadata"] : nullptr;
    if (m == nullptr || !m->contains("resourceVersion")) return "";
    return (*m)["resourceVersion"].get<std::string>();
  }
  static std::string NameOf(const Json& o) {
    if (!o.is_object() || !o.contains("metadata")) return "";
    return o["metadata"].value("name", "");
  }

  std::unique_ptr<ConformanceHarness> harness_;
  std::string ns_;
  std::string prefix_;
};

TEST_P(InterfaceConformanceTest, CreateGetUpdateAndErrors) {
  std::string name = Unique("a");
  auto created = c().Create(Cm(), ConfigMap(name), {});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(NameOf(*created), name);
  EXPECT_EQ((*created)["metadata"]["namespace"], ns_);
  EXPECT_FALSE((*created)["metadata"].value("uid", "").empty());
  EXPECT_FALSE(Rv(*created).empty());

  auto dup = c().Create(Cm(), ConfigMap(name), {});
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.status().message(),
            "configmaps \"" + name + "\" already exists");
  auto missing = c().Get(Cm(), Unique("missing"), {});
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "configmaps \"" + Unique("missing") + "\" not found");

  auto got = c().Get(Cm(), name, {});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["k"], "v");
  EXPECT_EQ(Rv(*got), Rv(*created));

  Json next = *got;
  next["data"]["k"] = "w";
  auto updated = c().Update(Cm(), next, {});
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["data"]["k"], "w");
  EXPECT_NE(Rv(*updated), Rv(*got));
  // `next` still carries the old resourceVersion.
  next["data"]["k"] = "x";
  auto stale = c().Update(Cm(), next, {});
  EXPECT_EQ(stale.status().code(), Code::kConflict);
  EXPECT_EQ(stale.status().message(),
            "Operation cannot be fulfilled on configmaps \"" + name +
                "\": the object has been modified; please apply your changes "
                "to the latest version and try again");
  Json ghost = ConfigMap(Unique("ghost"));
  EXPECT_EQ(c().Update(Cm(), ghost, {}).status().code(), Code::kNotFound);
}

TEST_P(InterfaceConformanceTest, GenerateName) {
  Json obj = ConfigMap("");
  obj["metadata"].erase("name");
  obj["metadata"]["generateName"] = Unique("gen-");
  auto a = c().Create(Cm(), obj, {});
  auto b = c().Create(Cm(), obj, {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(NameOf(*a).rfind(Unique("gen-"), 0), 0u);
  EXPECT_EQ(NameOf(*a).size(), Unique("gen-").size() + 5);
  EXPECT_NE(NameOf(*a), NameOf(*b));
}

TEST_P(InterfaceConformanceTest, ListSelectorsAndPaging) {
  std::string tag = Unique("t");
  for (int i = 0; i < 5; ++i) {
    Json labels = {{"conf", tag}, {"parity", i % 2 == 0 ? "even" : "odd"}};
    ASSERT_TRUE(
        c().Create(Cm(), ConfigMap(Unique("l" + std::to_string(i)), labels), {})
            .ok());
  }
  ListOptions all;
  all.label_selector = "conf=" + tag;
  auto list = c().List(Cm(), all);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ((*list)["items"].size(), 5u);
  EXPECT_FALSE(Rv(*list).empty());
  ListOptions even;
  even.label_selector = "conf=" + tag + ",parity in (even)";
  EXPECT_EQ((*c().List(Cm(), even))["items"].size(), 3u);
  ListOptions not_odd;
  not_odd.label_selector = "conf=" + tag + ",parity!=odd";
  EXPECT_EQ((*c().List(Cm(), not_odd))["items"].size(), 3u);
  ListOptions by_name;
  by_name.field_selector = "metadata.name=" + Unique("l3");
  auto one = c().List(Cm(), by_name);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ((*one)["items"].size(), 1u);
  EXPECT_EQ(NameOf((*one)["items"][0]), Unique("l3"));
  ListOptions bad;
  bad.label_selector = "conf in (";
  EXPECT_EQ(c().List(Cm(), bad).status().code(), Code::kInvalidArgument);

  ListOptions page = all;
  page.limit = 2;
  std::vector<std::string> names;
  int pages = 0;
  while (pages < 10) {
    auto p = c().List(Cm(), page);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ++pages;
    for (const Json& item : (*p)["items"]) names.push_back(NameOf(item));
    std::string cont = (*p)["metadata"].value("continue", "");
    if (cont.empty()) break;
    page.continue_token = cont;
  }
  EXPECT_EQ(pages, 3);
  std::vector<std::string> want;
  for (int i = 0; i < 5; ++i) want.push_back(Unique("l" + std::to_string(i)));
  EXPECT_EQ(names, want);
}

TEST_P(InterfaceConformanceTest, WatchFromTheListResourceVersion) {
  std::string tag = Unique("w");
  ListOptions lo;
  lo.label_selector = "conf=" + tag;
  auto list = c().List(Cm(), lo);
  ASSERT_TRUE(list.ok());
  WatchOptions wo;
  wo.resource_version = Rv(*list);
  wo.label_selector = lo.label_selector;
  auto w = c().Watch(Cm(), wo);
  ASSERT_TRUE(w.ok()) << w.status().ToString();

  auto a = c().Create(Cm(), ConfigMap(Unique("wa"), {{"conf", tag}}), {});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(c().Create(Cm(), ConfigMap(Unique("other")), {}).ok());
  Json next = *a;
  next["data"]["k"] = "changed";
  auto u = c().Update(Cm(), next, {});
  ASSERT_TRUE(u.ok());
  auto d = c().Delete(Cm(), Unique("wa"), {});
  ASSERT_TRUE(d.ok()) << d.status().ToString();

  std::vector<std::pair<EventType, std::string>> got;
  while (got.size() < 3) {
    auto ev = (*w)->Next(std::chrono::seconds(10));
    ASSERT_TRUE(ev.ok()) << ev.status().ToString();
    if (ev->type == EventType::kBookmark) continue;
    got.emplace_back(ev->type, NameOf(ev->object));
    if (ev->type == EventType::kModified) {
      EXPECT_EQ(ev->object["data"]["k"], "changed");
      EXPECT_EQ(Rv(ev->object), Rv(*u));
    }
  }
  std::vector<std::pair<EventType, std::string>> want = {
      {EventType::kAdded, Unique("wa")},
      {EventType::kModified, Unique("wa")},
      {EventType::kDeleted, Unique("wa")}};
  EXPECT_EQ(got, want);
  (*w)->Cancel();
  EXPECT_EQ((*w)->Next(std::chrono::seconds(10)).status().code(),
            Code::kCancelled);
}

TEST_P(InterfaceConformanceTest, WatchWithoutResourceVersionStartsWithAdds) {
  std::string tag = Unique("s");
  ASSERT_TRUE(
      c().Create(Cm(), ConfigMap(Unique("s1"), {{"conf", tag}}), {}).ok());
  ASSERT_TRUE(
      c().Create(Cm(), ConfigMap(Unique("s2"), {{"conf", tag}}), {}).ok());
  WatchOptions wo;
  wo.label_selector = "conf=" + tag;
  auto w = c().Watch(Cm(), wo);
  ASSERT_TRUE(w.ok());
  std::set<std::string> added;
  while (added.size() < 2) {
    auto ev = (*w)->Next(std::chrono::seconds(10));
    ASSERT_TRUE(ev.ok()) << ev.status().ToString();
    if (ev->type == EventType::kBookmark) continue;
    EXPECT_EQ(ev->type, EventType::kAdded);
    added.insert(NameOf(ev->object));
  }
  EXPECT_EQ(added, (std::set<std::string>{Unique("s1"), Unique("s2")}));
}

TEST_P(InterfaceConformanceTest, FinalizersHoldADeletion) {
  std::string name = Unique("held");
  Json obj = ConfigMap(name);
  obj["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_TRUE(c().Create(Cm(), obj, {}).ok());
  auto d = c().Delete(Cm(), name, {});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE((*d)["metadata"].contains("deletionTimestamp"));
  auto still = c().Get(Cm(), name, {});
  ASSERT_TRUE(still.ok());
  EXPECT_TRUE((*still)["metadata"].contains("deletionTimestamp"));
  Json release = *still;
  release["metadata"]["finalizers"] = Json::array();
  ASSERT_TRUE(c().Update(Cm(), release, {}).ok());
  EXPECT_EQ(c().Get(Cm(), name, {}).status().code(), Code::kNotFound);
}

TEST_P(InterfaceConformanceTest, DeletePreconditionsAndCollections) {
  auto a = c().Create(Cm(), ConfigMap(Unique("p")), {});
  ASSERT_TRUE(a.ok());
  DeleteOptions wrong;
  wrong.precondition_uid = "00000000-0000-0000-0000-000000000000";
  EXPECT_EQ(c().Delete(Cm(), Unique("p"), wrong).status().code(),
            Code::kConflict);
  DeleteOptions right;
  right.precondition_uid = (*a)["metadata"]["uid"];
  right.propagation_policy = PropagationPolicy::kBackground;
  ASSERT_TRUE(c().Delete(Cm(), Unique("p"), right).ok());
  EXPECT_EQ(c().Delete(Cm(), Unique("p"), {}).status().code(), Code::kNotFound);

  std::string tag = Unique("dc");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        c().Create(Cm(),
                   ConfigMap(Unique("dc" + std::to_string(i)), {{"conf", tag}}),
                   {})
            .ok());
  }
  ASSERT_TRUE(c().Create(Cm(), ConfigMap(Unique("survivor")), {}).ok());
  ListOptions sel;
  sel.label_selector = "conf=" + tag;
  DeleteOptions bg;
  bg.propagation_policy = PropagationPolicy::kBackground;
  ASSERT_TRUE(c().DeleteCollection(Cm(), sel, bg).ok());
  EXPECT_EQ((*c().List(Cm(), sel))["items"].size(), 0u);
  EXPECT_TRUE(c().Get(Cm(), Unique("survivor"), {}).ok());
}

TEST_P(InterfaceConformanceTest, Patches) {
  std::string name = Unique("patch");
  ASSERT_TRUE(c().Create(Cm(), ConfigMap(name), {}).ok());
  auto m =
      c().Patch(Cm(), name, PatchType::kMerge,
                R"({"data":{"k2":"v2"},"metadata":{"labels":{"p":"q"}}})", {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)["data"]["k2"], "v2");
  EXPECT_EQ((*m)["metadata"]["labels"]["p"], "q");
  auto noop =
      c().Patch(Cm(), name, PatchType::kMerge, R"({"data":{"k2":"v2"}})", {});
  ASSERT_TRUE(noop.ok());
  EXPECT_EQ(Rv(*noop), Rv(*m));
  auto j = c().Patch(Cm(), name, PatchType::kJson,
                     R"([{"op":"remove","path":"/data/k2"}])", {});
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_FALSE((*j)["data"].contains("k2"));
  auto failed =
      c().Patch(Cm(), name, PatchType::kJson,
                R"([{"op":"test","path":"/data/k","value":"nope"}])", {});
  EXPECT_EQ(failed.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c().Patch(Cm(), Unique("nope"), PatchType::kMerge, "{}", {})
                .status()
                .code(),
            Code::kNotFound);
}

TEST_P(InterfaceConformanceTest, StatusSubresource) {
  std::string name = Unique("dep");
  auto d = c().Create(Deploy(), Deployment(name), {});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  Json st = *d;
  st["status"] = {{"replicas", 1}, {"observedGeneration", 1}};
  st["spec"]["replicas"] = 9;  // ignored by a status write
  UpdateOptions status;
  status.subresource = "status";
  auto s = c().Update(Deploy(), st, status);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)["status"]["replicas"], 1);
  EXPECT_EQ((*s)["spec"]["replicas"], 1);
  Json main = *s;
  main["status"] = {{"replicas", 7}};  // ignored by a main write
  main["spec"]["replicas"] = 2;
  auto m = c().Update(Deploy(), main, {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)["spec"]["replicas"], 2);
  EXPECT_EQ((*m)["status"]["replicas"], 1);
  EXPECT_EQ((*m)["metadata"]["generation"], 2);
}

TEST_P(InterfaceConformanceTest, NamespaceFinalizeFlow) {
  std::string name = Unique("ns");
  auto ns = c().Create(Ns(),
                       {{"apiVersion", "v1"},
                        {"kind", "Namespace"},
                        {"metadata", {{"name", name}}}},
                       {});
  ASSERT_TRUE(ns.ok()) << ns.status().ToString();
  EXPECT_EQ((*ns)["spec"]["finalizers"], Json::array({"kubernetes"}));
  EXPECT_EQ((*ns)["status"]["phase"], "Active");
  auto del = c().Delete(Ns(), name, {});
  ASSERT_TRUE(del.ok()) << del.status().ToString();
  // A namespace controller, if one runs, may finish before the steps below;
  // NotFound is then an acceptable answer.
  auto term = c().Get(Ns(), name, {});
  if (term.ok()) {
    EXPECT_TRUE((*term)["metadata"].contains("deletionTimestamp"));
    EXPECT_EQ((*term)["status"]["phase"], "Terminating");
    Json fin = *term;
    fin["spec"]["finalizers"] = Json::array();
    UpdateOptions finalize;
    finalize.subresource = "finalize";
    auto f = c().Update(Ns(), fin, finalize);
    if (f.ok()) {
      // Empty lists are omitted on the wire (omitempty), or empty.
      const Json* spec = f->contains("spec") ? &(*f)["spec"] : nullptr;
      EXPECT_TRUE(spec == nullptr || !spec->contains("finalizers") ||
                  (*spec)["finalizers"].empty())
          << f->dump();
    } else {
      EXPECT_EQ(f.status().code(), Code::kNotFound) << f.status().ToString();
    }
    auto again = c().Delete(Ns(), name, {});
    EXPECT_TRUE(again.ok() || again.status().code() == Code::kNotFound)
        << again.status().ToString();
  } else {
    EXPECT_EQ(term.status().code(), Code::kNotFound);
  }
  Status gone;
  for (int i = 0; i < 100; ++i) {
    gone = c().Get(Ns(), name, {}).status();
    if (gone.code() == Code::kNotFound) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(gone.code(), Code::kNotFound);
}

}  // namespace kite::client
