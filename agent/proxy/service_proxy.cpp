#include "agent/proxy/service_proxy.h"

#include <algorithm>
#include <utility>

#include "common/log.h"

namespace kite::proxy {
namespace {

using SteadyClock = std::chrono::steady_clock;

// How often the thread looks at the informers before their first list.
constexpr std::chrono::milliseconds kSyncPoll{50};

}  // namespace

void ServiceProxy::Signal::Mark() {
  {
    std::lock_guard<std::mutex> lock(mu);
    dirty = true;
  }
  cv.notify_all();
}

ServiceProxy::ServiceProxy(client::Interface& api,
                           std::unique_ptr<Backend> backend,
                           ServiceProxyOptions options,
                           client::Informer* services)
    : api_(api),
      backend_(std::move(backend)),
      options_(std::move(options)),
      services_(services),
      signal_(std::make_shared<Signal>()) {}

ServiceProxy::~ServiceProxy() { Stop(); }

Status ServiceProxy::Start() {
  if (started_) return FailedPreconditionError("service proxy already started");
  started_ = true;
  if (services_ == nullptr) {
    client::InformerOptions so;
    so.ref = {"", "v1", "services", ""};
    own_services_ = std::make_unique<client::Informer>(api_, so);
    services_ = own_services_.get();
  }
  client::InformerOptions eo;
  eo.ref = {"discovery.k8s.io", "v1", "endpointslices", ""};
  slices_ = std::make_unique<client::Informer>(api_, eo);

  // The handlers hold the shared Signal, never `this`.
  std::shared_ptr<Signal> signal = signal_;
  client::EventHandlers h;
  h.on_add = [signal](const Json&) { signal->Mark(); };
  h.on_update = [signal](const Json&, const Json&) { signal->Mark(); };
  h.on_delete = [signal](const Json&) { signal->Mark(); };
  services_->AddEventHandler(h);
  slices_->AddEventHandler(h);
  if (own_services_) KITE_RETURN_IF_ERROR(own_services_->Start());
  KITE_RETURN_IF_ERROR(slices_->Start());
  thread_ = std::thread([this] { Run(); });
  log::Info("proxy", "started")("backend", backend_->name());
  return Status::Ok();
}

void ServiceProxy::Stop() {
  {
    std::lock_guard<std::mutex> lock(signal_->mu);
    if (signal_->stopping) return;
    signal_->stopping = true;
  }
  signal_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
  if (slices_) slices_->Stop();
  if (own_services_) own_services_->Stop();
  if (started_ && options_.cleanup_on_stop) {
    Status st = backend_->Cleanup();
    if (st.ok()) {
      log::Info("proxy", "removed the service rules")("backend",
                                                      backend_->name());
    } else {
      log::Warn("proxy", "cleanup failed")("backend", backend_->name())(
          "error", st.ToString());
    }
  }
}

ProxySnapshot ServiceProxy::last_synced() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return last_synced_;
}

bool ServiceProxy::WaitUntil(SteadyClock::time_point deadline) {
  std::unique_lock<std::mutex> lock(signal_->mu);
  signal_->cv.wait_until(lock, deadline, [&] { return signal_->stopping; });
  return !signal_->stopping;
}

bool ServiceProxy::SyncOnce() {
  ProxySnapshot snapshot =
      BuildSnapshot(services_->List(), slices_->List(), options_.snapshot);
  builds_++;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (have_synced_ && snapshot == last_synced_) return true;
  }
  Status st = backend_->Sync(snapshot);
  if (!st.ok()) {
    sync_errors_++;
    std::lock_guard<std::mutex> lock(state_mu_);
    // The backend's state is unknown now: the next snapshot is synced
    // whatever it is.
    have_synced_ = false;
    log::Warn("proxy", "sync failed")("backend", backend_->name())(
        "error", st.ToString());
    return false;
  }
  syncs_++;
  size_t n = snapshot.ports.size();
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    last_synced_ = std::move(snapshot);
    have_synced_ = true;
  }
  log::Debug("proxy", "synced")("backend", backend_->name())("ports", n);
  return true;
}

void ServiceProxy::Run() {
  // Nothing before both caches are complete.
  while (!services_->HasSynced() || !slices_->HasSynced()) {
    if (!WaitUntil(SteadyClock::now() + kSyncPoll)) return;
  }
  signal_->Mark();
  std::chrono::milliseconds backoff = options_.min_retry;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(signal_->mu);
      signal_->cv.wait(lock,
                       [&] { return signal_->stopping || signal_->dirty; });
      if (signal_->stopping) return;
    }
    // Coalesce the events of the next `debounce` into this sync.
    if (!WaitUntil(SteadyClock::now() + options_.debounce)) return;
    {
      std::lock_guard<std::mutex> lock(signal_->mu);
      signal_->dirty = false;
    }
    if (SyncOnce()) {
      backoff = options_.min_retry;
      continue;
    }
    if (!WaitUntil(SteadyClock::now() + backoff)) return;
    backoff = std::min(backoff * 2, options_.max_retry);
    signal_->Mark();
  }
}

}  // namespace kite::proxy
