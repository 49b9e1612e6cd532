// Label and field selectors: parsing, matching, canonical text, errors.
#include "api/selectors.h"

#include <gtest/gtest.h>

#include "api/kinds.h"

namespace kite::api {
namespace {

std::map<std::string, std::string> L(
    std::initializer_list<std::pair<const std::string, std::string>> l) {
  return l;
}

TEST(LabelSelectorTest, ParsesAllOperatorsAndPrintsCanonically) {
  // What kubectl sends for -l 'app in (web,foo),!missing' after URL decoding.
  auto s = LabelSelector::Parse("app in (web,foo),!missing");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->String(), "app in (foo,web),!missing");
  EXPECT_TRUE(s->Matches(L({{"app", "web"}})));
  EXPECT_FALSE(s->Matches(L({{"app", "web"}, {"missing", ""}})));
  EXPECT_FALSE(s->Matches(L({{"app", "bar"}})));

  auto all = LabelSelector::Parse(
      "  tier = fe , env==prod,  track!=canary, zone notin (a,b), owner, "
      "!legacy, gen>3 ");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(
      all->String(),
      "env==prod,gen>3,!legacy,owner,tier=fe,track!=canary,zone notin (a,b)");
  auto labels =
      L({{"tier", "fe"}, {"env", "prod"}, {"owner", "x"}, {"gen", "4"}});
  EXPECT_TRUE(all->Matches(labels));
  labels["track"] = "canary";
  EXPECT_FALSE(all->Matches(labels));
  labels["track"] = "stable";
  labels["zone"] = "b";
  EXPECT_FALSE(all->Matches(labels));
  labels["zone"] = "c";
  labels["gen"] = "3";
  EXPECT_FALSE(all->Matches(labels));  // 3 > 3 is false
  labels["gen"] = "x";
  EXPECT_FALSE(all->Matches(labels));  // not an integer
}

TEST(LabelSelectorTest, EmptyValuesAndEdgeCases) {
  EXPECT_TRUE(LabelSelector::Parse("")->Empty());
  EXPECT_TRUE(LabelSelector::Parse("")->Matches(L({{"a", "b"}})));
  auto eq_empty = LabelSelector::Parse("a=");
  ASSERT_TRUE(eq_empty.ok());
  EXPECT_TRUE(eq_empty->Matches(L({{"a", ""}})));
  EXPECT_FALSE(eq_empty->Matches(L({})));
  auto in_empty = LabelSelector::Parse("a in ()");
  ASSERT_TRUE(in_empty.ok());
  EXPECT_TRUE(in_empty->Matches(L({{"a", ""}})));
  // "in" and "notin" are plain identifiers in value position.
  auto in_value = LabelSelector::Parse("mode=in");
  ASSERT_TRUE(in_value.ok());
  EXPECT_TRUE(in_value->Matches(L({{"mode", "in"}})));
  auto prefixed = LabelSelector::Parse("app.kubernetes.io/name=web");
  ASSERT_TRUE(prefixed.ok());
  EXPECT_TRUE(prefixed->Matches(L({{"app.kubernetes.io/name", "web"}})));
}

TEST(LabelSelectorTest, ErrorsSayWhatKubernetesSays) {
  EXPECT_EQ(LabelSelector::Parse("a in (b").status().message(),
            "unable to parse requirement: found '', expected: ',' or ')'");
  EXPECT_EQ(LabelSelector::Parse("a b").status().message(),
            "unable to parse requirement: found 'b', expected: in, notin, =, "
            "==, !=, gt, lt");
  EXPECT_EQ(LabelSelector::Parse("=b").status().message(),
            "found '=', expected: !, identifier, or 'end of string'");
  EXPECT_EQ(LabelSelector::Parse("a=b,").status().message(),
            "found '', expected: identifier after ','");
  EXPECT_EQ(LabelSelector::Parse("a=-bad").status().message(),
            "unable to parse requirement: values[0][a]: Invalid value: "
            "\"-bad\": a valid label must be an empty "
            "string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an "
            "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
            "'12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  EXPECT_EQ(LabelSelector::Parse("-a=b").status().message(),
            "unable to parse requirement: key: Invalid value: \"-a\": name "
            "part must consist of alphanumeric "
            "characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or "
            "'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  EXPECT_EQ(LabelSelector::Parse("a>b").status().message(),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for "
            "'Gt', 'Lt' operators, the value must "
            "be an integer");
  EXPECT_FALSE(LabelSelector::Parse("a=b=c").ok());
}

TEST(LabelSelectorTest, FromMetaV1LabelSelector) {
  auto s = LabelSelector::FromJson(Json::parse(
      R"({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]},
         {"key":"legacy","operator":"DoesNotExist"}]})"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->String(), "app=web,!legacy,tier in (be,fe)");
  EXPECT_TRUE(s->MatchesObject(
      Json::parse(R"({"metadata":{"labels":{"app":"web","tier":"be"}}})")));
  EXPECT_FALSE(s->MatchesObject(
      Json::parse(R"({"metadata":{"labels":{"app":"web"}}})")));
  // null matches nothing, {} everything.
  EXPECT_TRUE(LabelSelector::FromJson(nullptr)->IsNothing());
  EXPECT_FALSE(LabelSelector::FromJson(nullptr)->Matches(L({})));
  EXPECT_TRUE(LabelSelector::FromJson(Json::object())->Matches(L({})));
  EXPECT_EQ(
      LabelSelector::FromJson(
          Json::parse(R"({"matchExpressions":[{"key":"a","operator":"Has"}]})"))
          .status()
          .message(),
      "\"Has\" is not a valid label selector operator");
  EXPECT_FALSE(
      LabelSelector::FromJson(
          Json::parse(R"({"matchExpressions":[{"key":"a","operator":"In"}]})"))
          .ok());
  EXPECT_EQ(FormatLabelSelector(nullptr), "<none>");
  Json sel = Json::parse(R"({"matchLabels":{"b":"2","a":"1"}})");
  EXPECT_EQ(FormatLabelSelector(&sel), "a=1,b=2");
  Json labels = Json::parse(R"({"z":"1","a":"2"})");
  EXPECT_EQ(FormatLabels(&labels), "a=2,z=1");
}

TEST(FieldSelectorTest, PodFieldsAsDescribeNodeUsesThem) {
  Registry reg;
  auto pods = reg.Lookup("", "v1", "pods");
  auto s = FieldSelector::Parse(
      "spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->Validate(*pods).ok());
  Json pod = Json::parse(
      R"({"metadata":{"name":"p","namespace":"d"},"spec":{"nodeName":"n1"},
                             "status":{"phase":"Running"}})");
  EXPECT_TRUE(s->Matches(*pods, pod));
  pod["status"]["phase"] = "Failed";
  EXPECT_FALSE(s->Matches(*pods, pod));
  pod["status"]["phase"] = "Running";
  pod["spec"]["nodeName"] = "n2";
  EXPECT_FALSE(s->Matches(*pods, pod));
  EXPECT_EQ(s->RequiresExactMatch("spec.nodeName").value_or(""), "n1");
  EXPECT_FALSE(s->RequiresExactMatch("status.phase").has_value());

  auto by_name = FieldSelector::Parse("metadata.name==p");
  ASSERT_TRUE(by_name.ok());
  pod["metadata"]["name"] = "p";
  EXPECT_TRUE(by_name->Matches(*pods, pod));
  EXPECT_EQ(by_name->String(), "metadata.name=p");
  // Absent fields read as "".
  auto no_node = FieldSelector::Parse("spec.nodeName=");
  ASSERT_TRUE(no_node.ok());
  EXPECT_TRUE(
      no_node->Matches(*pods, Json::parse(R"({"metadata":{"name":"q"}})")));
}

TEST(FieldSelectorTest, EventsNodesSecretsJobsNamespaces) {
  Registry reg;
  auto events = reg.Lookup("", "v1", "events");
  Json ev = Json::parse(R"({"metadata":{"name":"e","namespace":"default"},
    "involvedObject":{"kind":"Node","name":"n1","uid":"u1"},"reason":"Starting","type":"Normal",
    "source":{"component":"kubelet"}})");
  // describe node: the namespace of a Node's events is empty.
  auto s = FieldSelector::Parse(
      "involvedObject.kind=Node,involvedObject.name=n1,involvedObject."
      "namespace=,"
      "involvedObject.uid=u1,source=kubelet,type=Normal,reason=Starting");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->Validate(*events).ok());
  EXPECT_TRUE(s->Matches(*events, ev));
  // The same labels work on events.k8s.io/v1 objects.
  auto ev_v1 = reg.Lookup("events.k8s.io", "v1", "events");
  Json ev2 = Json::parse(
      R"({"metadata":{"name":"e"},"regarding":{"kind":"Node","name":"n1","uid":"u1"},
    "reason":"Starting","type":"Normal","reportingController":"kubelet"})");
  EXPECT_TRUE(s->Matches(*ev_v1, ev2));

  auto nodes = reg.Lookup("", "v1", "nodes");
  auto unsched = FieldSelector::Parse("spec.unschedulable=false");
  ASSERT_TRUE(unsched->Validate(*nodes).ok());
  EXPECT_TRUE(
      unsched->Matches(*nodes, Json::parse(R"({"metadata":{"name":"n"}})")));
  EXPECT_FALSE(unsched->Matches(
      *nodes,
      Json::parse(
          R"({"metadata":{"name":"n"},"spec":{"unschedulable":true}})")));

  auto secrets = reg.Lookup("", "v1", "secrets");
  auto tls = FieldSelector::Parse("type=kubernetes.io/tls");
  ASSERT_TRUE(tls->Validate(*secrets).ok());
  EXPECT_TRUE(tls->Matches(
      *secrets,
      Json::parse(R"({"metadata":{"name":"s"},"type":"kubernetes.io/tls"})")));

  auto jobs = reg.Lookup("batch", "v1", "jobs");
  auto ok1 = FieldSelector::Parse("status.successful=1");
  ASSERT_TRUE(ok1->Validate(*jobs).ok());
  EXPECT_TRUE(ok1->Matches(
      *jobs,
      Json::parse(R"({"metadata":{"name":"j"},"status":{"succeeded":1}})")));
  EXPECT_TRUE(
      FieldSelector::Parse("status.successful=0")
          ->Matches(*jobs, Json::parse(R"({"metadata":{"name":"j"}})")));

  auto ns = reg.Lookup("", "v1", "namespaces");
  EXPECT_TRUE(FieldSelector::Parse("status.phase=Active")->Validate(*ns).ok());
}

TEST(FieldSelectorTest, Errors) {
  Registry reg;
  auto cms = reg.Lookup("", "v1", "configmaps");
  auto s = FieldSelector::Parse("data.a=b");
  ASSERT_TRUE(s.ok());
  Status st = s->Validate(*cms);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "field label not supported: data.a");
  EXPECT_EQ(
      FieldSelector::Parse("metadata.name").status().message(),
      "invalid selector: 'metadata.name'; can't understand 'metadata.name'");
  EXPECT_EQ(FieldSelector::Parse("metadata.name=a\\qb").status().message(),
            "invalid field selector: invalid escape sequence: \\q");
  auto escaped = FieldSelector::Parse("metadata.name=a\\,b");
  ASSERT_TRUE(escaped.ok());
  EXPECT_EQ(escaped->requirements()[0].value, "a,b");
  EXPECT_EQ(escaped->String(), "metadata.name=a\\,b");
  EXPECT_TRUE(FieldSelector::Parse("")->Empty());
}

// selectors_fuzz: terms were sorted by the text as given, so `e a==b` came
// before `e a=F` but its canonical `e a=b` after it, and String() did not
// reparse to itself (tests/fuzz/corpus/selectors/raw-order-not-canonical).
TEST(FieldSelectorTest, CanonicalTextReparsesToItself) {
  for (std::string_view text :
       {"e a==b,e a=F", "x=1,x==0,a!=\\=,a=\\,", "b==z,b=A,a==1,a=0"}) {
    auto s = FieldSelector::Parse(text);
    ASSERT_TRUE(s.ok()) << text << ": " << s.status().ToString();
    auto again = FieldSelector::Parse(s->String());
    ASSERT_TRUE(again.ok()) << s->String();
    EXPECT_EQ(again->String(), s->String()) << text;
  }
  EXPECT_EQ(FieldSelector::Parse("e a==b,e a=F")->String(), "e a=F,e a=b");
}

TEST(SelectorsTest, TextThatIsNotUtf8IsRefused) {
  for (std::string_view bad :
       {"a=\xff", "app=b\xc3", "a=\xc0\xaf", "a=\xed\xa0\x80", "\xf5=1"}) {
    auto f = FieldSelector::Parse(bad);
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_EQ(f.status().message(),
              "invalid field selector: the text is not valid UTF-8");
    auto l = LabelSelector::Parse(bad);
    ASSERT_FALSE(l.ok()) << bad;
    EXPECT_EQ(l.status().message(),
              "unable to parse requirement: the text is not valid UTF-8");
  }
  // UTF-8 is not refused for being UTF-8: a field value may hold it.
  auto f = FieldSelector::Parse("metadata.name=caf\xc3\xa9");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->requirements()[0].value, "caf\xc3\xa9");
}

}  // namespace
}  // namespace kite::api
