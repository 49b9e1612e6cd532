// apps/v1 and batch/v1: defaults (SetDefaults_Deployment, ...) and
// validation (pkg/apis/apps/validation, pkg/apis/batch/validation).
#include "api/cron.h"
#include "api/rules.h"
#include "api/rules_util.h"
#include "api/selectors.h"
#include "api/validation.h"

namespace kite::api::rules {

namespace {

Status DefaultTemplate(Json& obj) {
  Json& spec = Obj(obj, "spec");
  Json& tmpl = Obj(spec, "template");
  return DefaultPodSpec(Obj(tmpl, "spec"), false);
}

// `map[string]string{...}` or `map[string]string(nil)` for template labels.
std::string GoLabels(const Json* labels) {
  if (labels == nullptr || !labels->is_object())
    return "map[string]string(nil)";
  return GoValue(*labels);
}

// selector required / valid / non-empty, template labels matching, template
// valid: the part shared by Deployment, ReplicaSet, StatefulSet, DaemonSet.
void ValidateSelectorAndTemplate(const Json& spec, const std::string& kind_word,
                                 bool require_always, FieldErrors* errs) {
  const Json* sel = Field(spec, "selector");
  const Json* tmpl = Field(spec, "template");
  bool selector_ok = false;
  LabelSelector selector;
  if (sel == nullptr || sel->is_null()) {
    errs->push_back(Required("spec.selector", ""));
  } else {
    ValidateLabelSelectorJson(*sel, "spec.selector", errs);
    size_t n = (Field(*sel, "matchLabels") && (*sel)["matchLabels"].is_object()
                    ? (*sel)["matchLabels"].size()
                    : 0) +
               (Field(*sel, "matchExpressions") &&
                        (*sel)["matchExpressions"].is_array()
                    ? (*sel)["matchExpressions"].size()
                    : 0);
    if (n == 0) {
      errs->push_back(
          InvalidRendered("spec.selector", GoLabelSelector(sel),
                          "empty selector is invalid for " + kind_word));
    }
    auto parsed = LabelSelector::FromJson(*sel);
    if (!parsed.ok()) {
      errs->push_back(InvalidRendered("spec.selector", GoLabelSelector(sel),
                                      "invalid label selector"));
    } else {
      selector = *parsed;
      selector_ok = true;
    }
  }
  if (tmpl == nullptr || !tmpl->is_object()) {
    errs->push_back(Required("spec.template", ""));
    return;
  }
  if (selector_ok && !selector.Empty()) {
    const Json* labels = FieldPath(*tmpl, {"metadata", "labels"});
    if (!selector.MatchesJson(labels)) {
      errs->push_back(
          InvalidRendered("spec.template.metadata.labels", GoLabels(labels),
                          "`selector` does not match template `labels`"));
    }
  }
  ValidatePodTemplate(tmpl, "spec.template", errs);
  if (require_always) {
    std::string rp = GetString(*tmpl, {"spec", "restartPolicy"});
    if (rp != "Always")
      errs->push_back(
          NotSupported("spec.template.spec.restartPolicy", rp, {"Always"}));
    if (Has(*tmpl, {"spec", "activeDeadlineSeconds"})) {
      errs->push_back(
          Invalid("spec.template.spec.activeDeadlineSeconds",
                  *FieldPath(*tmpl, {"spec", "activeDeadlineSeconds"}),
                  "activeDeadlineSeconds in " +
                      std::string(kind_word == "statefulset" ? "StatefulSet"
                                                             : "ReplicaSet") +
                      " is not Supported"));
    }
  }
}

void ImmutableSelector(const Json& obj, const Json* old, FieldErrors* errs) {
  if (old == nullptr) return;
  const Json* a = FieldPath(obj, {"spec", "selector"});
  const Json* b = FieldPath(*old, {"spec", "selector"});
  Json av = a ? *a : Json(), bv = b ? *b : Json();
  if (av != bv)
    errs->push_back(InvalidRendered("spec.selector", GoLabelSelector(a),
                                    "field is immutable"));
}

// Int-or-percent values of rolling update strategies.
int64_t IntOrPercentValue(const Json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (!s.empty() && s.back() == '%') {
      try {
        return std::stoll(s.substr(0, s.size() - 1));
      } catch (...) {
        return -1;
      }
    }
  }
  return -1;
}

void ValidatePositiveIntOrPercent(const Json* v, const std::string& path,
                                  FieldErrors* errs) {
  if (v == nullptr || v->is_null()) return;
  if (v->is_string()) {
    std::string s = v->get<std::string>();
    bool ok = s.size() >= 2 && s.back() == '%' &&
              std::all_of(s.begin(), s.end() - 1,
                          [](char c) { return c >= '0' && c <= '9'; });
    if (!ok) {
      errs->push_back(InvalidRendered(
          path, GoIntOrString(*v),
          "a valid percent string must be a numeric string followed by an "
          "ending '%' "
          "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"));
    }
  } else if (v->is_number_integer() && v->get<int64_t>() < 0) {
    errs->push_back(Invalid(path, *v, "must be greater than or equal to 0"));
  }
}

void NotMoreThan100Percent(const Json* v, const std::string& path,
                           FieldErrors* errs) {
  if (v == nullptr || !v->is_string()) return;
  if (IntOrPercentValue(*v) > 100) {
    errs->push_back(InvalidRendered(path, GoIntOrString(*v),
                                    "must not be greater than 100%"));
  }
}

void ValidateReplicasAndMinReady(const Json& spec, FieldErrors* errs) {
  NonNegative(spec, "replicas", "spec", errs);
  NonNegative(spec, "minReadySeconds", "spec", errs);
  NonNegative(spec, "revisionHistoryLimit", "spec", errs);
}

}  // namespace

// ---- Deployment ----

Status DefaultDeployment(Json& obj) {
  Json& spec = Obj(obj, "spec");
  DefaultValue(spec, "replicas", 1);
  Json& strategy = Obj(spec, "strategy");
  DefaultString(strategy, "type", "RollingUpdate");
  if (GetString(strategy, {"type"}) == "RollingUpdate") {
    Json& ru = Obj(strategy, "rollingUpdate");
    DefaultValue(ru, "maxUnavailable", "25%");
    DefaultValue(ru, "maxSurge", "25%");
  }
  DefaultValue(spec, "revisionHistoryLimit", 10);
  DefaultValue(spec, "progressDeadlineSeconds", 600);
  return DefaultTemplate(obj);
}

void ValidateDeployment(const Json& obj, const Json* old, FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  ValidateReplicasAndMinReady(spec, errs);
  ValidateSelectorAndTemplate(spec, "deployment", true, errs);
  const Json* strategy = Field(spec, "strategy");
  std::string type = strategy ? GetString(*strategy, {"type"}) : "";
  if (type == "Recreate") {
    if (strategy && Has(*strategy, {"rollingUpdate"})) {
      errs->push_back(
          Forbidden("spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'"));
    }
  } else if (type == "RollingUpdate") {
    const Json* ru = Field(*strategy, "rollingUpdate");
    if (ru == nullptr || !ru->is_object()) {
      errs->push_back(Required("spec.strategy.rollingUpdate",
                               "this should be defaulted and never be nil"));
    } else {
      const Json* mu = Field(*ru, "maxUnavailable");
      const Json* ms = Field(*ru, "maxSurge");
      ValidatePositiveIntOrPercent(
          mu, "spec.strategy.rollingUpdate.maxUnavailable", errs);
      ValidatePositiveIntOrPercent(ms, "spec.strategy.rollingUpdate.maxSurge",
                                   errs);
      if (mu && ms && IntOrPercentValue(*mu) == 0 &&
          IntOrPercentValue(*ms) == 0) {
        errs->push_back(InvalidRendered(
            "spec.strategy.rollingUpdate.maxUnavailable", GoIntOrString(*mu),
            "may not be 0 when `maxSurge` is 0"));
      }
      NotMoreThan100Percent(mu, "spec.strategy.rollingUpdate.maxUnavailable",
                            errs);
    }
  } else {
    errs->push_back(NotSupported("spec.strategy", strategy ? *strategy : Json(),
                                 {"Recreate", "RollingUpdate"}));
  }
  int64_t pds;
  if (IntField(spec, "progressDeadlineSeconds", &pds)) {
    NonNegative(spec, "progressDeadlineSeconds", "spec", errs);
    if (pds <= GetInt(spec, {"minReadySeconds"})) {
      errs->push_back(Invalid("spec.progressDeadlineSeconds", pds,
                              "must be greater than minReadySeconds"));
    }
  }
  ImmutableSelector(obj, old, errs);
}

// ---- ReplicaSet ----

Status DefaultReplicaSet(Json& obj) {
  DefaultValue(Obj(obj, "spec"), "replicas", 1);
  return DefaultTemplate(obj);
}

void ValidateReplicaSet(const Json& obj, const Json* old, FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  ValidateReplicasAndMinReady(spec, errs);
  ValidateSelectorAndTemplate(spec, "deployment", true, errs);
  ImmutableSelector(obj, old, errs);
}

// ---- StatefulSet ----

Status DefaultStatefulSet(Json& obj) {
  Json& spec = Obj(obj, "spec");
  DefaultString(spec, "podManagementPolicy", "OrderedReady");
  Json& us = Obj(spec, "updateStrategy");
  if (GetString(us, {"type"}).empty()) {
    us["type"] = "RollingUpdate";
    DefaultValue(us, "rollingUpdate", Json::object());
  }
  if (GetString(us, {"type"}) == "RollingUpdate" &&
      us.contains("rollingUpdate") && us["rollingUpdate"].is_object()) {
    DefaultValue(us["rollingUpdate"], "partition", 0);
  }
  Json& pvc = Obj(spec, "persistentVolumeClaimRetentionPolicy");
  DefaultString(pvc, "whenDeleted", "Retain");
  DefaultString(pvc, "whenScaled", "Retain");
  DefaultValue(spec, "replicas", 1);
  DefaultValue(spec, "revisionHistoryLimit", 10);
  KITE_RETURN_IF_ERROR(DefaultTemplate(obj));
  ForEach(spec, "volumeClaimTemplates", [](Json& t) {
    Json& ts = Obj(t, "spec");
    DefaultString(ts, "volumeMode", "Filesystem");
    if (ts.contains("resources") && ts["resources"].is_object()) {
      CanonicalizeQuantities(&ts["resources"]["requests"]).IgnoreError();
    }
  });
  return Status::Ok();
}

void ValidateStatefulSet(const Json& obj, const Json* old, FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  ValidateReplicasAndMinReady(spec, errs);
  std::string pmp = GetString(spec, {"podManagementPolicy"});
  if (!OneOf(pmp, {"OrderedReady", "Parallel"})) {
    errs->push_back(NotSupported("spec.podManagementPolicy", pmp,
                                 {"OrderedReady", "Parallel"}));
  }
  std::string ust = GetString(spec, {"updateStrategy", "type"});
  if (!OneOf(ust, {"OnDelete", "RollingUpdate"})) {
    errs->push_back(NotSupported("spec.updateStrategy.type", ust,
                                 {"OnDelete", "RollingUpdate"}));
  } else if (ust == "OnDelete" &&
             Has(spec, {"updateStrategy", "rollingUpdate"})) {
    errs->push_back(
        Invalid("spec.updateStrategy.rollingUpdate",
                *FieldPath(spec, {"updateStrategy", "rollingUpdate"}),
                "only allowed for updateStrategy 'RollingUpdate'"));
  }
  ValidateSelectorAndTemplate(spec, "statefulset", true, errs);
  if (old == nullptr) return;
  // Only some fields of a StatefulSet spec may change.
  Json a = spec, b = old->value("spec", Json::object());
  for (const char* f :
       {"replicas", "ordinals", "template", "updateStrategy",
        "persistentVolumeClaimRetentionPolicy", "minReadySeconds"}) {
    a.erase(f);
    b.erase(f);
  }
  if (a != b) {
    errs->push_back(
        Forbidden("spec",
                  "updates to statefulset spec for fields other than "
                  "'replicas', 'ordinals', 'template', "
                  "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' "
                  "and 'minReadySeconds' are "
                  "forbidden"));
  }
}

// ---- DaemonSet ----

Status DefaultDaemonSet(Json& obj) {
  Json& spec = Obj(obj, "spec");
  Json& us = Obj(spec, "updateStrategy");
  DefaultString(us, "type", "RollingUpdate");
  if (GetString(us, {"type"}) == "RollingUpdate") {
    Json& ru = Obj(us, "rollingUpdate");
    DefaultValue(ru, "maxUnavailable", 1);
    DefaultValue(ru, "maxSurge", 0);
  }
  DefaultValue(spec, "revisionHistoryLimit", 10);
  return DefaultTemplate(obj);
}

void ValidateDaemonSet(const Json& obj, const Json* old, FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  NonNegative(spec, "minReadySeconds", "spec", errs);
  NonNegative(spec, "revisionHistoryLimit", "spec", errs);
  ValidateSelectorAndTemplate(spec, "daemonset", true, errs);
  std::string ust = GetString(spec, {"updateStrategy", "type"});
  if (!OneOf(ust, {"OnDelete", "RollingUpdate"})) {
    errs->push_back(NotSupported("spec.updateStrategy.type", ust,
                                 {"OnDelete", "RollingUpdate"}));
  } else if (ust == "RollingUpdate") {
    const Json* mu =
        FieldPath(spec, {"updateStrategy", "rollingUpdate", "maxUnavailable"});
    const Json* ms =
        FieldPath(spec, {"updateStrategy", "rollingUpdate", "maxSurge"});
    ValidatePositiveIntOrPercent(
        mu, "spec.updateStrategy.rollingUpdate.maxUnavailable", errs);
    ValidatePositiveIntOrPercent(
        ms, "spec.updateStrategy.rollingUpdate.maxSurge", errs);
    if (mu && ms && IntOrPercentValue(*mu) == 0 &&
        IntOrPercentValue(*ms) == 0) {
      errs->push_back(InvalidRendered(
          "spec.updateStrategy.rollingUpdate.maxUnavailable",
          GoIntOrString(*mu), "may not be 0 when `maxSurge` is 0"));
    }
  }
  ImmutableSelector(obj, old, errs);
}

// ---- Job ----

Status DefaultJob(Json& obj) {
  Json& spec = Obj(obj, "spec");
  if (!Has(spec, {"completions"}) && !Has(spec, {"parallelism"})) {
    spec["completions"] = 1;
    spec["parallelism"] = 1;
  }
  DefaultValue(spec, "parallelism", 1);
  DefaultValue(spec, "backoffLimit",
               Has(spec, {"backoffLimitPerIndex"}) ? 2147483647 : 6);
  DefaultString(spec, "completionMode", "NonIndexed");
  DefaultValue(spec, "suspend", false);
  DefaultString(
      spec, "podReplacementPolicy",
      Has(spec, {"podFailurePolicy"}) ? "Failed" : "TerminatingOrFailed");
  return DefaultTemplate(obj);
}

void OnCreateJob(Json& obj) {
  Json& spec = Obj(obj, "spec");
  if (!GetBool(spec, {"manualSelector"})) {
    std::string name = Name(obj);
    std::string uid = GetString(obj, {"metadata", "uid"});
    Json& labels = Obj(Obj(Obj(spec, "template"), "metadata"), "labels");
    for (const char* k :
         {"batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name",
          "controller-uid", "job-name"}) {
      std::string_view key(k);
      if (!labels.contains(k))
        labels[k] = key.find("uid") != std::string_view::npos ? uid : name;
    }
    Json& sel = Obj(spec, "selector");
    Json& ml = Obj(sel, "matchLabels");
    if (!ml.contains("batch.kubernetes.io/controller-uid"))
      ml["batch.kubernetes.io/controller-uid"] = uid;
  }
  // A job without labels takes its pod template's labels.
  Json& md = Obj(obj, "metadata");
  if (!Has(md, {"labels"}) || md["labels"].empty()) {
    if (const Json* tl = FieldPath(spec, {"template", "metadata", "labels"});
        tl && tl->is_object())
      md["labels"] = *tl;
  }
  obj["status"] = Json::object();
}

void ValidateJobSpecCommon(const Json& spec, const std::string& path,
                           FieldErrors* errs) {
  for (const char* f : {"parallelism", "completions", "activeDeadlineSeconds",
                        "backoffLimit", "ttlSecondsAfterFinished"}) {
    NonNegative(spec, f, path, errs);
  }
  std::string mode = GetString(spec, {"completionMode"});
  if (!mode.empty() && !OneOf(mode, {"NonIndexed", "Indexed"})) {
    errs->push_back(NotSupported(Child(path, "completionMode"), mode,
                                 {"NonIndexed", "Indexed"}));
  }
  if (mode == "Indexed" && !Has(spec, {"completions"})) {
    errs->push_back(Required(Child(path, "completions"),
                             "when completion mode is Indexed"));
  }
  const Json* tmpl = Field(spec, "template");
  ValidatePodTemplate(tmpl, Child(path, "template"), errs);
  std::string rp = tmpl ? GetString(*tmpl, {"spec", "restartPolicy"}) : "";
  if (rp != "OnFailure" && rp != "Never") {
    errs->push_back(NotSupported(Child(path, "template.spec.restartPolicy"), rp,
                                 {"OnFailure", "Never"}));
  }
}

void ValidateJob(const Json& obj, const Json* old, FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  ValidateJobSpecCommon(spec, "spec", errs);
  const Json* sel = Field(spec, "selector");
  if (sel == nullptr || sel->is_null()) {
    errs->push_back(Required("spec.selector", ""));
  } else {
    ValidateLabelSelectorJson(*sel, "spec.selector", errs);
    auto parsed = LabelSelector::FromJson(*sel);
    const Json* labels = FieldPath(spec, {"template", "metadata", "labels"});
    if (parsed.ok() && !parsed->MatchesJson(labels)) {
      errs->push_back(
          InvalidRendered("spec.template.metadata.labels", GoLabels(labels),
                          "`selector` does not match template `labels`"));
    }
  }
  if (old == nullptr) return;
  ImmutableSelector(obj, old, errs);
  const Json* ot = FieldPath(*old, {"spec", "template"});
  const Json* nt = Field(spec, "template");
  bool suspended = GetBool(*old, {"spec", "suspend"});
  if (!suspended && (ot ? *ot : Json()) != (nt ? *nt : Json())) {
    errs->push_back(InvalidRendered(
        "spec.template", "core.PodTemplateSpec{...}", "field is immutable"));
  }
  const Json* oc = FieldPath(*old, {"spec", "completions"});
  const Json* nc = Field(spec, "completions");
  if ((oc ? *oc : Json()) != (nc ? *nc : Json()) &&
      GetString(spec, {"completionMode"}) != "Indexed") {
    errs->push_back(
        Invalid("spec.completions", nc ? *nc : Json(), "field is immutable"));
  }
}

// ---- CronJob ----

Status DefaultCronJob(Json& obj) {
  Json& spec = Obj(obj, "spec");
  DefaultString(spec, "concurrencyPolicy", "Allow");
  DefaultValue(spec, "suspend", false);
  DefaultValue(spec, "successfulJobsHistoryLimit", 3);
  DefaultValue(spec, "failedJobsHistoryLimit", 1);
  Json& jt = Obj(spec, "jobTemplate");
  Json& jspec = Obj(jt, "spec");
  Json& tmpl = Obj(jspec, "template");
  return DefaultPodSpec(Obj(tmpl, "spec"), false);
}

void ValidateCronJob(const Json& obj, const Json* old, FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  std::string schedule = GetString(spec, {"schedule"});
  if (schedule.empty()) {
    errs->push_back(Required("spec.schedule", ""));
  } else {
    auto parsed = CronSchedule::Parse(schedule);
    if (!parsed.ok())
      errs->push_back(
          Invalid("spec.schedule", schedule, parsed.status().message()));
    bool allow_tz =
        old != nullptr &&
        GetString(*old, {"spec", "schedule"}).find("TZ") != std::string::npos;
    if (!allow_tz && schedule.find("TZ") != std::string::npos) {
      errs->push_back(Invalid(
          "spec.schedule", schedule,
          "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"));
    } else if (allow_tz && schedule.find("TZ") != std::string::npos &&
               Has(spec, {"timeZone"})) {
      errs->push_back(Invalid(
          "spec.schedule", schedule,
          "cannot use both timeZone field and TZ or CRON_TZ in schedule"));
    }
  }
  if (const Json* tz = Field(spec, "timeZone"); tz && tz->is_string()) {
    std::string z = tz->get<std::string>();
    bool ok = !z.empty();
    size_t start = 0;
    while (ok) {
      size_t slash = z.find('/', start);
      std::string part =
          z.substr(start, slash == std::string::npos ? std::string::npos
                                                     : slash - start);
      ok = !part.empty() && part != "." && part != ".." && part[0] != '-' &&
           std::all_of(part.begin(), part.end(), [](char c) {
             return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                    c == '-' || c == '+';
           });
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (z.empty()) {
      errs->push_back(Invalid("spec.timeZone", z,
                              "timeZone must be nil or non-empty string"));
    } else if (!ok) {
      errs->push_back(Invalid("spec.timeZone", z, "unknown time zone " + z));
    } else if (z == "Local" || z == "local") {
      errs->push_back(Invalid("spec.timeZone", z,
                              "timeZone must be an explicit time zone as "
                              "defined in https://www.iana.org/time-zones"));
    }
  }
  NonNegative(spec, "startingDeadlineSeconds", "spec", errs);
  NonNegative(spec, "successfulJobsHistoryLimit", "spec", errs);
  NonNegative(spec, "failedJobsHistoryLimit", "spec", errs);
  std::string cp = GetString(spec, {"concurrencyPolicy"});
  if (cp.empty()) {
    errs->push_back(Required("spec.concurrencyPolicy", ""));
  } else if (!OneOf(cp, {"Allow", "Forbid", "Replace"})) {
    errs->push_back(NotSupported("spec.concurrencyPolicy", cp,
                                 {"Allow", "Forbid", "Replace"}));
  }
  const Json* jspec = FieldPath(spec, {"jobTemplate", "spec"});
  ValidateJobSpecCommon(jspec ? *jspec : kEmpty, "spec.jobTemplate.spec", errs);
  if (jspec && Has(*jspec, {"selector"})) {
    errs->push_back(InvalidRendered("spec.jobTemplate.spec.selector",
                                    GoLabelSelector(Field(*jspec, "selector")),
                                    "`selector` will be auto-generated"));
  }
  if (jspec && GetBool(*jspec, {"manualSelector"})) {
    errs->push_back(NotSupported("spec.jobTemplate.spec.manualSelector", true,
                                 {"nil", "false"}));
  }
}

}  // namespace kite::api::rules
