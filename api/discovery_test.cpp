// Discovery documents in the shapes of kubectl-api.md §1.
#include "api/discovery.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace kite::api {
namespace {

const Json* FindResource(const Json& list, const std::string& group,
                         const std::string& resource) {
  for (const Json& item : list["items"]) {
    std::string name = item["metadata"].value("name", "");
    if (name != group) continue;
    for (const Json& r : item["versions"][0]["resources"]) {
      if (r["resource"] == resource) return &r;
    }
  }
  return nullptr;
}

TEST(DiscoveryTest, AcceptHeaderDetection) {
  EXPECT_TRUE(
      WantsAggregatedDiscovery("application/"
                               "json;g=apidiscovery.k8s.io;v=v2;as="
                               "APIGroupDiscoveryList,application/json;"
                               "g=apidiscovery.k8s.io;v=v2beta1;as="
                               "APIGroupDiscoveryList,application/json"));
  EXPECT_TRUE(
      WantsAggregatedDiscovery("application/json; g=apidiscovery.k8s.io; v=v2; "
                               "as=APIGroupDiscoveryList"));
  EXPECT_FALSE(WantsAggregatedDiscovery("application/json"));
  EXPECT_FALSE(WantsAggregatedDiscovery(
      "application/"
      "json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"));
  EXPECT_FALSE(WantsAggregatedDiscovery(""));
}

TEST(DiscoveryTest, AggregatedDeploymentsEntryAsKubectlNeedsIt) {
  Registry reg;
  Json apis = AggregatedDiscovery(reg, false);
  EXPECT_EQ(apis["kind"], "APIGroupDiscoveryList");
  EXPECT_EQ(apis["apiVersion"], "apidiscovery.k8s.io/v2");
  const Json* d = FindResource(apis, "apps", "deployments");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(
      (*d)["responseKind"],
      (Json{{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}}));
  EXPECT_EQ((*d)["scope"], "Namespaced");
  EXPECT_EQ((*d)["singularResource"], "deployment");
  EXPECT_EQ((*d)["shortNames"], Json::array({"deploy"}));
  EXPECT_EQ((*d)["categories"], Json::array({"all"}));
  EXPECT_EQ((*d)["verbs"],
            Json::array({"create", "delete", "deletecollection", "get", "list",
                         "patch", "update", "watch"}));
  Json scale;
  for (const Json& s : (*d)["subresources"]) {
    if (s["subresource"] == "scale") scale = s;
  }
  EXPECT_EQ(
      scale["responseKind"],
      (Json{{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}}));
  EXPECT_EQ(scale["verbs"], Json::array({"get", "patch", "update"}));
  // Every version is Current, every resource has responseKind, scope, verbs.
  for (const Json& item : apis["items"]) {
    EXPECT_FALSE(item["metadata"].value("name", "").empty());
    for (const Json& v : item["versions"]) {
      EXPECT_EQ(v["freshness"], "Current");
      for (const Json& r : v["resources"]) {
        EXPECT_TRUE(r.contains("responseKind") && r.contains("scope") &&
                    r.contains("verbs"))
            << r.dump();
      }
    }
  }
  // The core group is not in /apis.
  EXPECT_EQ(FindResource(apis, "", "pods"), nullptr);
}

TEST(DiscoveryTest, AggregatedCoreGroupHasNoNameAndPodSubresources) {
  Registry reg;
  Json api = AggregatedDiscovery(reg, true);
  ASSERT_EQ(api["items"].size(), 1u);
  EXPECT_FALSE(api["items"][0]["metadata"].contains("name"));
  EXPECT_EQ(api["items"][0]["versions"][0]["version"], "v1");
  const Json* pods = FindResource(api, "", "pods");
  ASSERT_NE(pods, nullptr);
  EXPECT_EQ((*pods)["shortNames"], Json::array({"po"}));
  EXPECT_EQ((*pods)["categories"], Json::array({"all"}));
  std::set<std::string> subs;
  for (const Json& s : (*pods)["subresources"]) subs.insert(s["subresource"]);
  for (const char* s : {"status", "binding", "eviction", "log", "exec",
                        "attach", "portforward", "proxy"}) {
    EXPECT_TRUE(subs.count(s)) << s;
  }
  const Json* ns = FindResource(api, "", "namespaces");
  ASSERT_NE(ns, nullptr);
  EXPECT_EQ((*ns)["scope"], "Cluster");
  const Json* sa = FindResource(api, "", "serviceaccounts");
  ASSERT_NE(sa, nullptr);
  EXPECT_EQ((*sa)["subresources"][0]["subresource"], "token");
  EXPECT_EQ((*sa)["subresources"][0]["responseKind"]["kind"], "TokenRequest");
  // `get all` = the "all" category.
  std::set<std::string> all;
  for (const Json& item : {api, AggregatedDiscovery(reg, false)}) {
    for (const Json& g : item["items"]) {
      for (const Json& r : g["versions"][0]["resources"]) {
        if (r.contains("categories") && r["categories"] == Json::array({"all"}))
          all.insert(r["resource"]);
      }
    }
  }
  EXPECT_EQ(all, (std::set<std::string>{"pods", "services", "deployments",
                                        "replicasets", "daemonsets",
                                        "statefulsets", "jobs", "cronjobs",
                                        "horizontalpodautoscalers"}));
}

TEST(DiscoveryTest, LegacyDocuments) {
  Registry reg;
  Json versions = ApiVersions("10.0.0.5:6443");
  EXPECT_EQ(versions["kind"], "APIVersions");
  EXPECT_EQ(versions["versions"], Json::array({"v1"}));
  EXPECT_EQ(versions["serverAddressByClientCIDRs"][0]["serverAddress"],
            "10.0.0.5:6443");

  Json groups = ApiGroupList(reg);
  EXPECT_EQ(groups["kind"], "APIGroupList");
  bool found = false;
  for (const Json& g : groups["groups"]) {
    EXPECT_NE(g["name"], "");
    if (g["name"] == "autoscaling") {
      found = true;
      EXPECT_EQ(g["preferredVersion"],
                (Json{{"groupVersion", "autoscaling/v2"}, {"version", "v2"}}));
    }
  }
  EXPECT_TRUE(found);
  auto apps = ApiGroupDocument(reg, "apps");
  ASSERT_TRUE(apps.ok());
  EXPECT_EQ((*apps)["kind"], "APIGroup");
  EXPECT_EQ(ApiGroupDocument(reg, "nope").status().code(), Code::kNotFound);

  auto core = ApiResourceList(reg, "", "v1");
  ASSERT_TRUE(core.ok());
  EXPECT_EQ((*core)["groupVersion"], "v1");
  std::map<std::string, Json> by_name;
  for (const Json& r : (*core)["resources"]) by_name[r["name"]] = r;
  ASSERT_TRUE(by_name.count("pods/status"));
  EXPECT_EQ(by_name["pods/status"]["kind"], "Pod");
  EXPECT_EQ(by_name["pods"]["namespaced"], true);
  EXPECT_EQ(by_name["pods"]["singularName"], "pod");
  EXPECT_EQ(by_name["pods/eviction"]["group"], "policy");
  EXPECT_EQ(by_name["nodes"]["shortNames"], Json::array({"no"}));
  auto apps_v1 = ApiResourceList(reg, "apps", "v1");
  ASSERT_TRUE(apps_v1.ok());
  for (const Json& r : (*apps_v1)["resources"]) {
    if (r["name"] == "deployments/scale") {
      EXPECT_EQ(r["group"], "autoscaling");
      EXPECT_EQ(r["version"], "v1");
      EXPECT_EQ(r["kind"], "Scale");
    }
  }
  EXPECT_EQ(ApiResourceList(reg, "apps", "v9").status().code(),
            Code::kNotFound);
}

}  // namespace
}  // namespace kite::api
