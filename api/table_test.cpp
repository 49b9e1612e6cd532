// Server-side tables: the cells kubectl prints (kubectl-api.md §3).
#include "api/table.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "api/validation.h"

namespace kite::api {
namespace {

Json Fixture(const char* name) {
  std::ifstream in(std::string(KITE_TESTDATA_DIR) + "/kubectl-bodies/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

const Time kNow = *ParseTime("2024-05-01T12:00:00Z");

// The pod `kubectl run solo` sends, as stored (defaulted), created 5m ago.
Json RunPod() {
  Registry reg;
  auto kind = reg.Lookup("", "v1", "pods");
  Json pod = Fixture("22_run_POST_pods.json");
  EXPECT_TRUE(Default(*kind, pod).ok());
  pod["metadata"]["namespace"] = "capns";
  pod["metadata"]["creationTimestamp"] = "2024-05-01T11:55:00Z";
  PrepareForCreate(*kind, pod);
  return pod;
}

Json Row(const Kind& kind, const Json& obj) {
  return TableRow(kind, obj, kNow, IncludeObject::kMetadata);
}

TEST(TableTest, PodColumnsAndPendingRow) {
  Registry reg;
  auto kind = reg.Lookup("", "v1", "pods");
  Json table = ObjectTable(*kind, RunPod(), kNow, {});
  EXPECT_EQ(table["kind"], "Table");
  EXPECT_EQ(table["apiVersion"], "meta.k8s.io/v1");
  std::vector<std::string> names;
  for (const Json& c : table["columnDefinitions"]) names.push_back(c["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "Name", "Ready", "Status", "Restarts", "Age", "IP",
                       "Node", "Nominated Node", "Readiness Gates"}));
  EXPECT_EQ(table["columnDefinitions"][0]["format"], "name");
  EXPECT_EQ(table["columnDefinitions"][4]["priority"], 0);
  EXPECT_EQ(table["columnDefinitions"][5]["priority"], 1);
  const Json& row = table["rows"][0];
  EXPECT_EQ(
      row["cells"],
      Json::parse(
          R"(["solo","0/1","Pending","0","5m","<none>","<none>","<none>","<none>"])"));
  EXPECT_EQ(row["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(row["object"]["metadata"]["labels"]["tier"], "solo");
  EXPECT_EQ(row["object"]["metadata"]["namespace"], "capns");
  EXPECT_FALSE(row["object"].contains("spec"));
}

TEST(TableTest, PodRunningCrashLoopTerminatingCompleted) {
  Registry reg;
  auto kind = reg.Lookup("", "v1", "pods");
  Json pod = RunPod();
  pod["spec"]["nodeName"] = "node-1";
  pod["status"] = Json::parse(
      R"({"phase":"Running","podIP":"10.42.0.7","podIPs":[{"ip":"10.42.0.7"}],
    "conditions":[{"type":"Ready","status":"True"}],
    "containerStatuses":[{"name":"solo","ready":true,"restartCount":0,"started":true,
      "state":{"running":{"startedAt":"2024-05-01T11:55:10Z"}}}]})");
  EXPECT_EQ(
      Row(*kind, pod)["cells"],
      Json::parse(
          R"(["solo","1/1","Running","0","5m","10.42.0.7","node-1","<none>","<none>"])"));

  Json crash = pod;
  crash["status"]["conditions"][0]["status"] = "False";
  crash["status"]["containerStatuses"][0] =
      Json::parse(R"({"name":"solo","ready":false,"restartCount":5,
    "state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 2m40s"}},
    "lastState":{"terminated":{"exitCode":1,"reason":"Error","finishedAt":"2024-05-01T11:58:00Z"}}})");
  Json cells = Row(*kind, crash)["cells"];
  EXPECT_EQ(cells[1], "0/1");
  EXPECT_EQ(cells[2], "CrashLoopBackOff");
  EXPECT_EQ(cells[3], "5 (2m ago)");

  Json terminating = pod;
  terminating["metadata"]["deletionTimestamp"] = "2024-05-01T11:59:50Z";
  EXPECT_EQ(Row(*kind, terminating)["cells"][2], "Terminating");

  Json done = pod;
  done["status"]["phase"] = "Succeeded";
  done["status"]["conditions"][0]["status"] = "False";
  done["status"]["containerStatuses"][0] =
      Json::parse(R"({"name":"solo","ready":false,"restartCount":0,
    "state":{"terminated":{"exitCode":0,"reason":"Completed","finishedAt":"2024-05-01T11:56:00Z"}}})");
  done["metadata"]["deletionTimestamp"] =
      "2024-05-01T11:59:50Z";  // terminal pods never show Terminating
  EXPECT_EQ(Row(*kind, done)["cells"][2], "Completed");

  Json creating = pod;
  creating["status"] = Json::parse(
      R"({"phase":"Pending","containerStatuses":[{"name":"solo","ready":false,
    "restartCount":0,"state":{"waiting":{"reason":"ContainerCreating"}}}]})");
  EXPECT_EQ(Row(*kind, creating)["cells"][2], "ContainerCreating");
  creating["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] =
      "ErrImageNeverPull";
  EXPECT_EQ(Row(*kind, creating)["cells"][2], "ErrImageNeverPull");

  Json exited = pod;
  exited["status"]["containerStatuses"][0]["state"] =
      Json::parse(R"({"terminated":{"exitCode":3}})");
  EXPECT_EQ(Row(*kind, exited)["cells"][2], "ExitCode:3");
}

TEST(TableTest, PodInitContainers) {
  Registry reg;
  auto kind = reg.Lookup("", "v1", "pods");
  Json pod = RunPod();
  pod["spec"]["initContainers"] =
      Json::parse(R"([{"name":"init","image":"busybox"}])");
  pod["status"] = Json::parse(R"({"phase":"Pending",
    "initContainerStatuses":[{"name":"init","ready":false,"restartCount":0,"state":{"running":{}}}],
    "containerStatuses":[{"name":"solo","ready":false,"restartCount":0,"state":{"waiting":{"reason":"PodInitializing"}}}]})");
  EXPECT_EQ(Row(*kind, pod)["cells"][2], "Init:0/1");
  pod["status"]["initContainerStatuses"][0]["state"] =
      Json::parse(R"({"terminated":{"exitCode":2}})");
  EXPECT_EQ(Row(*kind, pod)["cells"][2], "Init:ExitCode:2");
  pod["status"]["initContainerStatuses"][0]["state"] =
      Json::parse(R"({"waiting":{"reason":"CrashLoopBackOff"}})");
  EXPECT_EQ(Row(*kind, pod)["cells"][2], "Init:CrashLoopBackOff");
  // A sidecar (restartable init container) counts in READY's total.
  pod["spec"]["initContainers"][0]["restartPolicy"] = "Always";
  pod["status"]["initContainerStatuses"][0] = Json::parse(
      R"({"name":"init","ready":true,"started":true,"restartCount":0,"state":{"running":{}}})");
  pod["status"]["containerStatuses"][0] = Json::parse(
      R"({"name":"solo","ready":true,"restartCount":0,"state":{"running":{}}})");
  pod["status"]["phase"] = "Running";
  EXPECT_EQ(Row(*kind, pod)["cells"][1], "2/2");
}

TEST(TableTest, DeploymentRowAndList) {
  Registry reg;
  auto kind = reg.Lookup("apps", "v1", "deployments");
  Json d = Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","namespace":"capns","creationTimestamp":"2024-05-01T09:00:00Z","resourceVersion":"42"},
    "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web","tier":"fe"}},
      "template":{"metadata":{"labels":{"app":"web","tier":"fe"}},"spec":{"containers":[
        {"name":"web","image":"registry.local/busybox:latest"},{"name":"side","image":"registry.local/pause:1"}]}}},
    "status":{"replicas":3,"updatedReplicas":3,"readyReplicas":2,"availableReplicas":2}})");
  EXPECT_EQ(
      Row(*kind, d)["cells"],
      Json::parse(
          R"(["web","2/3",3,2,"3h","web,side","registry.local/busybox:latest,registry.local/pause:1",
                            "app=web,tier=fe"])"));
  Json list = {{"kind", "DeploymentList"},
               {"metadata", {{"resourceVersion", "77"}, {"continue", "abc"}}},
               {"items", Json::array({d, d})}};
  Json t = ListTable(*kind, list, kNow, {IncludeObject::kObject, true});
  EXPECT_FALSE(t.contains("columnDefinitions"));
  EXPECT_EQ(t["metadata"]["resourceVersion"], "77");
  EXPECT_EQ(t["metadata"]["continue"], "abc");
  EXPECT_EQ(t["rows"].size(), 2u);
  EXPECT_EQ(t["rows"][1]["object"]["spec"]["replicas"], 3);
  // The consuming form gives the same table.
  Json copy = list;
  EXPECT_EQ(
      ListTable(*kind, std::move(copy), kNow, {IncludeObject::kObject, true}),
      t);
  Json copy2 = list;
  EXPECT_EQ(ListTable(*kind, std::move(copy2), kNow, {}),
            ListTable(*kind, list, kNow, {}));
  std::vector<std::string> names;
  for (const Json& c : ColumnDefinitionsJson(*kind)) names.push_back(c["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"Name", "Ready", "Up-to-date",
                                             "Available", "Age", "Containers",
                                             "Images", "Selector"}));
}

TEST(TableTest, ServiceFromKubectlExpose) {
  Registry reg;
  auto kind = reg.Lookup("", "v1", "services");
  Json svc = Fixture("23_expose_POST_services.json");
  ASSERT_TRUE(Default(*kind, svc).ok());
  svc["metadata"]["creationTimestamp"] = "2024-05-01T11:59:30Z";
  svc["spec"]["clusterIP"] = "10.43.0.12";
  svc["spec"]["clusterIPs"] = {"10.43.0.12"};
  EXPECT_EQ(
      Row(*kind, svc)["cells"],
      Json::parse(
          R"(["solo-exposed","ClusterIP","10.43.0.12","<none>","80/TCP","30s","tier=solo"])"));
  svc["spec"]["type"] = "NodePort";
  svc["spec"]["ports"][0]["nodePort"] = 30080;
  svc["spec"]["ports"].push_back(
      {{"port", 53}, {"protocol", "UDP"}, {"nodePort", 30053}});
  EXPECT_EQ(Row(*kind, svc)["cells"][4], "80:30080/TCP,53:30053/UDP");
  svc["spec"]["type"] = "LoadBalancer";
  EXPECT_EQ(Row(*kind, svc)["cells"][3], "<pending>");
  svc["status"]["loadBalancer"]["ingress"] =
      Json::parse(R"([{"ip":"192.168.1.50"}])");
  EXPECT_EQ(Row(*kind, svc)["cells"][3], "192.168.1.50");
  svc["spec"]["type"] = "ExternalName";
  svc["spec"]["externalName"] = "example.com";
  EXPECT_EQ(Row(*kind, svc)["cells"][3], "example.com");
}

TEST(TableTest, NodeNamespaceJobCronJobEventConfigMapSecret) {
  Registry reg;
  Json node = Json::parse(
      R"({"metadata":{"name":"n1","creationTimestamp":"2024-04-01T12:00:00Z",
    "labels":{"node-role.kubernetes.io/control-plane":"","node-role.kubernetes.io/master":"true"}},
    "spec":{"unschedulable":true},
    "status":{"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"}],
      "addresses":[{"type":"InternalIP","address":"10.0.0.2"},{"type":"Hostname","address":"n1"}],
      "nodeInfo":{"kubeletVersion":"v1.32.0+kite","osImage":"Debian GNU/Linux 12","kernelVersion":"6.1.0",
                  "containerRuntimeVersion":"containerd://1.6.20"}}})");
  EXPECT_EQ(
      Row(*reg.Lookup("", "v1", "nodes"), node)["cells"],
      Json::parse(
          R"(["n1","Ready,SchedulingDisabled","control-plane,master","30d","v1.32.0+kite","10.0.0.2",
                            "<none>","Debian GNU/Linux 12","6.1.0","containerd://1.6.20"])"));

  Json ns = Json::parse(
      R"({"metadata":{"name":"capns","creationTimestamp":"2024-05-01T11:59:58Z"},
                            "status":{"phase":"Terminating"}})");
  EXPECT_EQ(Row(*reg.Lookup("", "v1", "namespaces"), ns)["cells"],
            Json::parse(R"(["capns","Terminating","2s"])"));

  Json job = Json::parse(
      R"({"metadata":{"name":"j1","creationTimestamp":"2024-05-01T11:00:00Z"},
    "spec":{"completions":1,"parallelism":1,"selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"u1"}},
      "template":{"spec":{"containers":[{"name":"j1","image":"busybox"}]}}},
    "status":{"succeeded":1,"startTime":"2024-05-01T11:00:01Z","completionTime":"2024-05-01T11:00:09Z",
      "conditions":[{"type":"SuccessCriteriaMet","status":"True"},{"type":"Complete","status":"True"}]}})");
  EXPECT_EQ(
      Row(*reg.Lookup("batch", "v1", "jobs"), job)["cells"],
      Json::parse(
          R"(["j1","Complete","1/1","8s","60m","j1","busybox","batch.kubernetes.io/controller-uid=u1"])"));
  job["status"] =
      Json::parse(R"({"active":1,"startTime":"2024-05-01T11:58:00Z"})");
  Json running = Row(*reg.Lookup("batch", "v1", "jobs"), job)["cells"];
  EXPECT_EQ(running[1], "Running");
  EXPECT_EQ(running[2], "0/1");
  EXPECT_EQ(running[3], "2m");

  Json cj = Json::parse(
      R"({"metadata":{"name":"cj1","creationTimestamp":"2024-05-01T10:00:00Z"},
    "spec":{"schedule":"*/5 * * * *","suspend":false,"jobTemplate":{"spec":{"template":{"spec":{"containers":[
      {"name":"cj1","image":"busybox"}]}}}}},
    "status":{"active":[{"name":"cj1-1"}],"lastScheduleTime":"2024-05-01T11:55:00Z"}})");
  EXPECT_EQ(
      Row(*reg.Lookup("batch", "v1", "cronjobs"), cj)["cells"],
      Json::parse(
          R"(["cj1","*/5 * * * *","<none>","False",1,"5m","120m","cj1","busybox",""])"));

  Json ev = Json::parse(R"({"metadata":{"name":"solo.17c","namespace":"capns"},
    "involvedObject":{"kind":"Pod","name":"solo","namespace":"capns","fieldPath":"spec.containers{solo}"},
    "reason":"Pulled","message":"Container image already present on machine\n","type":"Normal",
    "source":{"component":"kubelet","host":"n1"},"count":2,
    "firstTimestamp":"2024-05-01T11:50:00Z","lastTimestamp":"2024-05-01T11:59:00Z"})");
  EXPECT_EQ(
      Row(*reg.Lookup("", "v1", "events"), ev)["cells"],
      Json::parse(
          R"(["60s","Normal","Pulled","pod/solo","spec.containers{solo}","kubelet, n1",
                            "Container image already present on machine","10m",2,"solo.17c"])"));
  Json ev2 = Json::parse(
      R"({"metadata":{"name":"e2"},"regarding":{"kind":"Node","name":"n1"},"note":"hello",
    "reason":"Starting","type":"Normal","reportingController":"kite","eventTime":"2024-05-01T11:59:50.000000Z"})");
  Json ev2_cells =
      Row(*reg.Lookup("events.k8s.io", "v1", "events"), ev2)["cells"];
  EXPECT_EQ(ev2_cells[0], "10s");
  EXPECT_EQ(ev2_cells[3], "node/n1");
  EXPECT_EQ(ev2_cells[6], "hello");
  EXPECT_EQ(ev2_cells[8], 1);

  Json cm = Json::parse(
      R"({"metadata":{"name":"cm1","creationTimestamp":"2024-05-01T11:00:00Z"},
                            "data":{"a":"b","greeting":"hello"},"binaryData":{"c":"AA=="}})");
  EXPECT_EQ(Row(*reg.Lookup("", "v1", "configmaps"), cm)["cells"],
            Json::parse(R"(["cm1",3,"60m"])"));
  Json secret = Json::parse(
      R"({"metadata":{"name":"s1","creationTimestamp":"2024-05-01T11:00:00Z"},
                                "type":"kubernetes.io/tls","data":{"tls.crt":"","tls.key":""}})");
  EXPECT_EQ(Row(*reg.Lookup("", "v1", "secrets"), secret)["cells"],
            Json::parse(R"(["s1","kubernetes.io/tls",2,"60m"])"));
}

TEST(TableTest, DefaultTableAndCustomResourceColumns) {
  Registry reg;
  auto role = reg.Lookup("rbac.authorization.k8s.io", "v1", "roles");
  Json r = Json::parse(
      R"({"metadata":{"name":"reader","creationTimestamp":"2024-05-01T11:00:00Z"}})");
  Json t = ObjectTable(*role, r, kNow, {});
  EXPECT_EQ(t["columnDefinitions"][1]["name"], "Created At");
  EXPECT_EQ(t["columnDefinitions"][1]["type"], "date");
  EXPECT_EQ(t["rows"][0]["cells"],
            Json::parse(R"(["reader","2024-05-01T11:00:00Z"])"));

  Json crd = Json::parse(
      R"({"metadata":{"name":"widgets.example.com"},"spec":{"group":"example.com",
    "scope":"Namespaced","names":{"plural":"widgets","kind":"Widget"},"versions":[{"name":"v1","served":true,
    "storage":true,"schema":{"openAPIV3Schema":{"type":"object"}},"additionalPrinterColumns":[
      {"name":"Replicas","type":"integer","jsonPath":".spec.replicas"},
      {"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"},
      {"name":"Missing","type":"string","jsonPath":".spec.nothing"},
      {"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}]},
    {"name":"v2","served":true,"storage":false,"schema":{"openAPIV3Schema":{"type":"object"}}}]}})");
  ASSERT_TRUE(reg.ApplyCustomResourceDefinition(crd).ok());
  Json w = Json::parse(
      R"({"metadata":{"name":"w1","creationTimestamp":"2024-05-01T11:59:00Z"},
    "spec":{"replicas":2.0},"status":{"conditions":[{"type":"Ready","status":"True"}]}})");
  Json wt =
      ObjectTable(*reg.Lookup("example.com", "v1", "widgets"), w, kNow, {});
  EXPECT_EQ(wt["columnDefinitions"].size(), 5u);
  EXPECT_EQ(wt["rows"][0]["cells"],
            Json::parse(R"(["w1",2,"True",null,"60s"])"));
  // A version without printer columns shows Age.
  Json w2 =
      ObjectTable(*reg.Lookup("example.com", "v2", "widgets"), w, kNow, {});
  EXPECT_EQ(w2["columnDefinitions"][1]["name"], "Age");
  EXPECT_EQ(w2["rows"][0]["cells"], Json::parse(R"(["w1","60s"])"));
}

TEST(TableTest, IncludeObjectParsing) {
  EXPECT_EQ(*ParseIncludeObject(""), IncludeObject::kMetadata);
  EXPECT_EQ(*ParseIncludeObject("Object"), IncludeObject::kObject);
  EXPECT_EQ(*ParseIncludeObject("None"), IncludeObject::kNone);
  EXPECT_FALSE(ParseIncludeObject("All").ok());
}

}  // namespace
}  // namespace kite::api
