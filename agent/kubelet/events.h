// EventRecorder: posts the kubelet's v1 Events about pods (Pulled, Created,
// Started, BackOff, Unhealthy, Killing, ...) from a thread of its own, so a
// pod worker never waits on the API server for them (pod start latency).
//
// A repeat of the same (pod uid, type, reason, field path, message) bumps
// count and lastTimestamp of the event posted first (a merge patch), as
// client-go's recorder does for identical events. While the API server is
// unreachable events are dropped (logged at debug): they are not worth
// replaying. At most 1000 wait in the queue; beyond that new ones are
// dropped.
//
// Threading: Record and Forget from any thread; Start/Stop from the owner.
// Stop() joins the thread, dropping what is still queued; idempotent, and
// run by the destructor.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "client/interface.h"
#include "common/clock.h"

namespace kite::kubelet {

class EventRecorder {
 public:
  // `client` and `clock` must outlive the recorder.
  EventRecorder(client::Interface& client, Clock& clock, std::string node_name);
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  void Start();
  void Stop();

  // Queues an event about `pod` (a v1 Pod). `type` is "Normal" or
  // "Warning"; `field_path` e.g. "spec.containers{app}" or "".
  void Record(const nlohmann::json& pod, const std::string& type,
              const std::string& reason, const std::string& message,
              const std::string& field_path = "");
  // Forgets the counts kept for a pod that is gone.
  void Forget(const std::string& pod_uid);

 private:
  struct Pending {
    std::string key;
    nlohmann::json event;  // the whole event, as first posted
  };
  void Run();
  void Post(const Pending& p);

  client::Interface& client_;
  Clock& clock_;
  const std::string node_name_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  std::deque<Pending> queue_;
  uint64_t counter_ = 0;
  std::thread thread_;

  // The event posted first per key and its count; the recorder thread only.
  struct Posted {
    std::string ns;
    std::string name;
    int64_t count = 0;
  };
  std::mutex posted_mu_;
  std::map<std::string, Posted> posted_;
};

}  // namespace kite::kubelet
