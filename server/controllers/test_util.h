// Helpers for the controllers' unit tests (FakeClient-based): waiting for a
// condition, counting Events, and playing the part of a node that reports a
// pod's state. Header-only; used only by *_test.cpp.
//
// Thread safety: free functions; the client must be safe for concurrent use.
#pragma once

#include <chrono>
#include <string>
#include <thread>

#include "api/object.h"
#include "client/interface.h"
#include "server/controllers/workload.h"

namespace kite::controllers {

// Polls `pred` every 5 ms until it holds or `timeout` (real time) passes.
template <typename Pred>
bool Eventually(Pred pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// Events in `ns` about the object `name` with `reason`.
inline int CountEvents(client::Interface& c, const std::string& ns,
                       const std::string& name, const std::string& reason) {
  auto l = c.List(kEventsRef.In(ns), {});
  if (!l.ok()) return -1;
  int n = 0;
  for (const Json& e : (*l)["items"]) {
    if (api::GetString(e, {"involvedObject", "name"}) == name &&
        api::GetString(e, {"reason"}) == reason) {
      ++n;
    }
  }
  return n;
}

// What a node would report: bound to `node`, Running, Ready (since `since`)
// or not.
inline Json SetPodState(client::Interface& c, const Json& pod,
                        const std::string& node, bool ready, api::Time since) {
  auto cur = c.Get(kPodsRef.In(api::Namespace(pod)), api::Name(pod), {});
  if (!cur.ok()) return Json();
  Json p = *cur;
  p["spec"]["nodeName"] = node;
  auto bound = c.Update(kPodsRef.In(api::Namespace(pod)), p, {});
  if (!bound.ok()) return Json();
  p = *bound;
  std::string t = api::FormatTime(since);
  p["status"]["phase"] = "Running";
  p["status"]["conditions"] =
      Json::array({{{"type", "Ready"},
                    {"status", ready ? "True" : "False"},
                    {"lastTransitionTime", t}}});
  auto r =
      c.Update(kPodsRef.In(api::Namespace(pod)), p, {.subresource = "status"});
  return r.ok() ? *r : Json();
}

}  // namespace kite::controllers
