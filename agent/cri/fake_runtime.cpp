#include "agent/cri/fake_runtime.h"

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <utility>

namespace kite::cri {
namespace {

bool LabelsMatch(const Labels& have, const Labels& want) {
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

// containerd's normalisation: "busybox" -> "docker.io/library/busybox:latest".
std::string NormalizeImage(const std::string& ref) {
  if (ref.rfind("sha256:", 0) == 0) return ref;
  std::string name = ref;
  size_t slash = name.find('/');
  std::string first = slash == std::string::npos ? "" : name.substr(0, slash);
  bool has_domain = !first.empty() && (first.find('.') != std::string::npos ||
                                       first.find(':') != std::string::npos ||
                                       first == "localhost");
  if (!has_domain) {
    name = (slash == std::string::npos ? "docker.io/library/" : "docker.io/") +
           name;
  }
  size_t last_slash = name.rfind('/');
  std::string last = name.substr(last_slash + 1);
  if (last.find(':') == std::string::npos &&
      name.find('@') == std::string::npos)
    name += ":latest";
  return name;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

std::string Rfc3339Nano(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<long long>(ns % 1000000000));
  return buf;
}

}  // namespace

FakeRuntime::FakeRuntime(Clock& clock) : clock_(clock) {}
FakeRuntime::~FakeRuntime() = default;

int64_t FakeRuntime::NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             clock_.Now().time_since_epoch())
      .count();
}

Status FakeRuntime::BeginLocked(const std::string& method,
                                const std::string& id,
                                const std::string& detail) {
  calls_.push_back({method, id, detail});
  if (down_)
    return UnavailableError(
        "connection error: dial unix: connect: no such "
        "file or directory");
  for (auto it = injected_.begin(); it != injected_.end(); ++it) {
    if (it->method.empty() || it->method == method) {
      Status st = it->status;
      if (--it->times <= 0) injected_.erase(it);
      return st;
    }
  }
  return Status::Ok();
}

StatusOr<VersionInfo> FakeRuntime::Version() {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("Version", ""));
  return VersionInfo{"0.1.0", "fake", "0.0.1", "v1"};
}

StatusOr<std::vector<RuntimeCondition>> FakeRuntime::RuntimeStatus() {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("RuntimeStatus", ""));
  return std::vector<RuntimeCondition>{{"RuntimeReady", true, "", ""},
                                       {"NetworkReady", true, "", ""}};
}

StatusOr<std::string> FakeRuntime::RunPodSandbox(
    const PodSandboxConfig& config) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(
      BeginLocked("RunPodSandbox", config.metadata.name,
                  config.metadata.namespace_ + "/" + config.metadata.uid + "/" +
                      std::to_string(config.metadata.attempt)));
  for (const auto& [id, s] : sandboxes_) {
    const auto& m = s.config.metadata;
    if (m.name == config.metadata.name &&
        m.namespace_ == config.metadata.namespace_ &&
        m.uid == config.metadata.uid && m.attempt == config.metadata.attempt)
      return AlreadyExistsError("failed to reserve sandbox name \"" + m.name +
                                "_" + m.namespace_ + "_" + m.uid + "_" +
                                std::to_string(m.attempt) +
                                "\": name is reserved for " + id);
  }
  std::string id = "sb" + std::to_string(next_id_++);
  SandboxRec rec;
  rec.config = config;
  rec.status.id = id;
  rec.status.metadata = config.metadata;
  rec.status.state = SandboxState::kReady;
  rec.status.created_at = NowNanos();
  if (config.namespace_options.network != NamespaceMode::kNode) {
    uint32_t n = next_ip_++;
    rec.status.ip = "10.88." + std::to_string((n >> 8) & 0xff) + "." +
                    std::to_string(n & 0xff);
  }
  rec.status.namespace_options = config.namespace_options;
  rec.status.labels = config.labels;
  rec.status.annotations = config.annotations;
  sandboxes_[id] = std::move(rec);
  return id;
}

Status FakeRuntime::StopPodSandbox(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("StopPodSandbox", id));
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return Status::Ok();
  for (auto& [cid, c] : containers_) {
    if (c.sandbox_id == id && c.status.state != ContainerState::kExited)
      FinishLocked(c, 137, "Error");
  }
  it->second.status.state = SandboxState::kNotReady;
  return Status::Ok();
}

Status FakeRuntime::RemovePodSandbox(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("RemovePodSandbox", id));
  if (sandboxes_.erase(id) == 0) return Status::Ok();
  for (auto it = containers_.begin(); it != containers_.end();) {
    if (it->second.sandbox_id == id) {
      std::erase(container_order_, it->first);
      it = containers_.erase(it);
    } else {
      ++it;
    }
  }
  return Status::Ok();
}

StatusOr<PodSandboxStatus> FakeRuntime::GetPodSandboxStatus(
    const std::string& id, bool verbose) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("GetPodSandboxStatus", id));
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end())
    return NotFoundError("an error occurred when try to find sandbox \"" + id +
                         "\": not found");
  PodSandboxStatus st = it->second.status;
  if (verbose)
    st.info["info"] = "{\"pid\":" + std::to_string(1000 + id.size()) + "}";
  return st;
}

StatusOr<std::vector<PodSandbox>> FakeRuntime::ListPodSandbox(
    const PodSandboxFilter& filter) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("ListPodSandbox", filter.id));
  std::vector<PodSandbox> out;
  for (const auto& [id, s] : sandboxes_) {
    if (!filter.id.empty() && filter.id != id) continue;
    if (filter.state && *filter.state != s.status.state) continue;
    if (!LabelsMatch(s.status.labels, filter.label_selector)) continue;
    PodSandbox p;
    p.id = id;
    p.metadata = s.status.metadata;
    p.state = s.status.state;
    p.created_at = s.status.created_at;
    p.labels = s.status.labels;
    p.annotations = s.status.annotations;
    out.push_back(std::move(p));
  }
  return out;
}

StatusOr<std::string> FakeRuntime::CreateContainer(
    const std::string& pod_sandbox_id, const ContainerConfig& config,
    const PodSandboxConfig& sandbox_config) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked(
      "CreateContainer", config.name,
      pod_sandbox_id + " attempt=" + std::to_string(config.attempt)));
  auto sb = sandboxes_.find(pod_sandbox_id);
  if (sb == sandboxes_.end())
    return NotFoundError("failed to get sandbox \"" + pod_sandbox_id +
                         "\": not found");
  if (sb->second.status.state != SandboxState::kReady)
    return FailedPreconditionError("sandbox container \"" + pod_sandbox_id +
                                   "\" is not running");
  std::string normalized = NormalizeImage(config.image);
  auto img = images_.find(normalized);
  if (img == images_.end()) {
    for (auto it = images_.begin(); it != images_.end(); ++it)
      if (it->second.id == config.image) img = it;
  }
  if (img == images_.end())
    return NotFoundError("failed to get image \"" + config.image +
                         "\": not found");
  for (const auto& [cid, c] : containers_) {
    if (c.sandbox_id == pod_sandbox_id && c.config.name == config.name &&
        c.config.attempt == config.attempt)
      return AlreadyExistsError(
          "failed to reserve container name \"" + config.name + "_" +
          std::to_string(config.attempt) + "\": name is reserved for " + cid);
  }
  std::string id = "c" + std::to_string(next_id_++);
  ContainerRec rec;
  rec.config = config;
  rec.sandbox_id = pod_sandbox_id;
  rec.status.id = id;
  rec.status.name = config.name;
  rec.status.attempt = config.attempt;
  rec.status.state = ContainerState::kCreated;
  rec.status.created_at = NowNanos();
  rec.status.image = img->first;
  rec.status.image_ref = img->second.repo_digests.empty()
                             ? img->second.id
                             : img->second.repo_digests.front();
  rec.status.labels = config.labels;
  rec.status.annotations = config.annotations;
  const std::string& dir = sandbox_config.log_directory.empty()
                               ? sb->second.config.log_directory
                               : sandbox_config.log_directory;
  if (!dir.empty() && !config.log_path.empty())
    rec.status.log_path = dir + "/" + config.log_path;
  auto exit_it = exit_on_start_.find(config.name);
  if (exit_it != exit_on_start_.end()) rec.exit_on_start = exit_it->second;
  auto sig_it = ignore_sigterm_.find(config.name);
  rec.ignore_sigterm = sig_it != ignore_sigterm_.end() && sig_it->second;
  containers_[id] = std::move(rec);
  container_order_.push_back(id);
  return id;
}

Status FakeRuntime::StartContainer(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("StartContainer", id));
  auto it = containers_.find(id);
  if (it == containers_.end())
    return NotFoundError("container \"" + id + "\" not found");
  ContainerRec& c = it->second;
  if (c.status.state != ContainerState::kCreated)
    return FailedPreconditionError("container " + id +
                                   " is not in created state");
  c.status.state = ContainerState::kRunning;
  c.status.started_at = NowNanos();
  if (c.exit_on_start) FinishLocked(c, *c.exit_on_start, "");
  return Status::Ok();
}

void FakeRuntime::FinishLocked(ContainerRec& c, int32_t exit_code,
                               std::string reason) {
  c.status.state = ContainerState::kExited;
  c.status.finished_at = NowNanos();
  c.status.exit_code = exit_code;
  if (reason.empty()) reason = exit_code == 0 ? "Completed" : "Error";
  c.status.reason = std::move(reason);
}

Status FakeRuntime::StopContainer(const std::string& id,
                                  int64_t timeout_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked(
      "StopContainer", id, "timeout=" + std::to_string(timeout_seconds)));
  auto it = containers_.find(id);
  if (it == containers_.end())
    return NotFoundError("container \"" + id + "\" not found");
  ContainerRec& c = it->second;
  if (c.status.state == ContainerState::kRunning)
    FinishLocked(c, c.ignore_sigterm || timeout_seconds == 0 ? 137 : 143,
                 "Error");
  else if (c.status.state == ContainerState::kCreated)
    FinishLocked(c, 0, "Completed");
  return Status::Ok();
}

Status FakeRuntime::RemoveContainer(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("RemoveContainer", id));
  if (containers_.erase(id) == 0) return Status::Ok();
  std::erase(container_order_, id);
  return Status::Ok();
}

Container FakeRuntime::ToContainer(const ContainerRec& c) {
  Container out;
  out.id = c.status.id;
  out.pod_sandbox_id = c.sandbox_id;
  out.name = c.config.name;
  out.attempt = c.config.attempt;
  out.image = c.status.image;
  out.image_ref = c.status.image_ref;
  out.state = c.status.state;
  out.created_at = c.status.created_at;
  out.labels = c.status.labels;
  out.annotations = c.status.annotations;
  return out;
}

StatusOr<std::vector<Container>> FakeRuntime::ListContainers(
    const ContainerFilter& filter) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("ListContainers", filter.id));
  std::vector<Container> out;
  for (const std::string& id : container_order_) {
    const ContainerRec& c = containers_.at(id);
    if (!filter.id.empty() && filter.id != id) continue;
    if (filter.state && *filter.state != c.status.state) continue;
    if (!filter.pod_sandbox_id.empty() && filter.pod_sandbox_id != c.sandbox_id)
      continue;
    if (!LabelsMatch(c.status.labels, filter.label_selector)) continue;
    out.push_back(ToContainer(c));
  }
  return out;
}

StatusOr<ContainerStatus> FakeRuntime::GetContainerStatus(
    const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("GetContainerStatus", id));
  auto it = containers_.find(id);
  if (it == containers_.end())
    return NotFoundError("an error occurred when try to find container \"" +
                         id + "\": not found");
  return it->second.status;
}

StatusOr<ExecSyncResult> FakeRuntime::ExecSync(
    const std::string& container_id, const std::vector<std::string>& cmd,
    std::chrono::seconds /*timeout*/) {
  ExecHandler handler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    KITE_RETURN_IF_ERROR(BeginLocked("ExecSync", container_id, Join(cmd)));
    auto it = containers_.find(container_id);
    if (it == containers_.end())
      return NotFoundError("container \"" + container_id + "\" not found");
    if (it->second.status.state != ContainerState::kRunning)
      return FailedPreconditionError("container is not created or running");
    handler = exec_handler_;
  }
  if (handler) return handler(container_id, cmd);
  return ExecSyncResult{};
}

StatusOr<std::string> FakeRuntime::Exec(const ExecRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(
      BeginLocked("Exec", request.container_id, Join(request.cmd)));
  auto it = containers_.find(request.container_id);
  if (it == containers_.end())
    return NotFoundError("container \"" + request.container_id +
                         "\" not found");
  if (it->second.status.state != ContainerState::kRunning)
    return FailedPreconditionError("container is not created or running");
  std::string token = "t" + std::to_string(next_id_++);
  exec_requests_[token] = request;
  return streaming_base_ + "/exec/" + token;
}

StatusOr<std::string> FakeRuntime::Attach(const AttachRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("Attach", request.container_id));
  auto it = containers_.find(request.container_id);
  if (it == containers_.end())
    return NotFoundError("container \"" + request.container_id +
                         "\" not found");
  std::string token = "t" + std::to_string(next_id_++);
  attach_requests_[token] = request;
  return streaming_base_ + "/attach/" + token;
}

StatusOr<std::string> FakeRuntime::PortForward(
    const std::string& pod_sandbox_id, const std::vector<int32_t>& ports) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string detail;
  for (int32_t p : ports)
    detail += (detail.empty() ? "" : " ") + std::to_string(p);
  KITE_RETURN_IF_ERROR(BeginLocked("PortForward", pod_sandbox_id, detail));
  if (!sandboxes_.count(pod_sandbox_id))
    return NotFoundError("failed to find sandbox \"" + pod_sandbox_id +
                         "\" in store: not found");
  std::string token = "t" + std::to_string(next_id_++);
  return streaming_base_ + "/portforward/" + token;
}

StatusOr<std::optional<Image>> FakeRuntime::ImageStatus(
    const std::string& image) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("ImageStatus", image));
  auto it = images_.find(NormalizeImage(image));
  if (it != images_.end()) return std::optional<Image>(it->second);
  for (const auto& [ref, img] : images_)
    if (img.id == image) return std::optional<Image>(img);
  return std::optional<Image>();
}

StatusOr<std::vector<Image>> FakeRuntime::ListImages() {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("ListImages", ""));
  std::vector<Image> out;
  for (const auto& [ref, img] : images_) out.push_back(img);
  return out;
}

Status FakeRuntime::RemoveImage(const std::string& image) {
  std::lock_guard<std::mutex> lock(mu_);
  KITE_RETURN_IF_ERROR(BeginLocked("RemoveImage", image));
  images_.erase(NormalizeImage(image));
  return Status::Ok();
}

void FakeRuntime::AddImage(const std::string& ref, std::string id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string normalized = NormalizeImage(ref);
  if (id.empty()) {
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016zx",
                  std::hash<std::string>{}(normalized));
    id = std::string("sha256:") + hex + hex + hex + hex;
  }
  Image img;
  img.id = id;
  img.repo_tags = {normalized};
  std::string repo = normalized.substr(0, normalized.rfind(':'));
  img.repo_digests = {repo + "@" + id};
  img.size = 1 << 20;
  images_[normalized] = std::move(img);
}

Status FakeRuntime::ExitContainer(const std::string& id, int32_t exit_code,
                                  std::string reason) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end())
    return NotFoundError("container \"" + id + "\" not found");
  if (it->second.status.state == ContainerState::kExited)
    return FailedPreconditionError("container " + id + " has exited");
  FinishLocked(it->second, exit_code, std::move(reason));
  return Status::Ok();
}

void FakeRuntime::SetExitOnStart(const std::string& name,
                                 std::optional<int32_t> exit_code) {
  std::lock_guard<std::mutex> lock(mu_);
  if (exit_code)
    exit_on_start_[name] = *exit_code;
  else
    exit_on_start_.erase(name);
}

void FakeRuntime::SetIgnoreSigterm(const std::string& name, bool ignore) {
  std::lock_guard<std::mutex> lock(mu_);
  ignore_sigterm_[name] = ignore;
  for (auto& [id, c] : containers_)
    if (c.config.name == name) c.ignore_sigterm = ignore;
}

void FakeRuntime::SetExecHandler(ExecHandler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  exec_handler_ = std::move(handler);
}

void FakeRuntime::SetStreamingBase(std::string base) {
  std::lock_guard<std::mutex> lock(mu_);
  streaming_base_ = std::move(base);
}

std::optional<ExecRequest> FakeRuntime::ExecRequestFor(
    const std::string& token) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = exec_requests_.find(token);
  if (it == exec_requests_.end()) return std::nullopt;
  return it->second;
}

std::optional<AttachRequest> FakeRuntime::AttachRequestFor(
    const std::string& token) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = attach_requests_.find(token);
  if (it == attach_requests_.end()) return std::nullopt;
  return it->second;
}

void FakeRuntime::InjectError(std::string method, Status status, int times) {
  std::lock_guard<std::mutex> lock(mu_);
  injected_.push_back({std::move(method), std::move(status), times});
}

void FakeRuntime::ClearInjectedErrors() {
  std::lock_guard<std::mutex> lock(mu_);
  injected_.clear();
}

void FakeRuntime::SetDown(bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  down_ = down;
}

std::vector<FakeRuntime::Call> FakeRuntime::Calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

std::vector<FakeRuntime::Call> FakeRuntime::CallsOf(
    const std::string& method) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Call> out;
  for (const auto& c : calls_)
    if (c.method == method) out.push_back(c);
  return out;
}

void FakeRuntime::ClearCalls() {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.clear();
}

StatusOr<PodSandboxConfig> FakeRuntime::SandboxConfigOf(
    const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return NotFoundError("sandbox " + id);
  return it->second.config;
}

StatusOr<ContainerConfig> FakeRuntime::ContainerConfigOf(
    const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return NotFoundError("container " + id);
  return it->second.config;
}

std::vector<std::string> FakeRuntime::ContainerIds(
    const std::string& sandbox_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const std::string& id : container_order_)
    if (containers_.at(id).sandbox_id == sandbox_id) out.push_back(id);
  return out;
}

size_t FakeRuntime::SandboxCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sandboxes_.size();
}

size_t FakeRuntime::ContainerCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return containers_.size();
}

Status FakeRuntime::AppendLog(const std::string& container_id,
                              const std::string& stream,
                              const std::string& text) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = containers_.find(container_id);
    if (it == containers_.end())
      return NotFoundError("container \"" + container_id + "\" not found");
    path = it->second.status.log_path;
  }
  if (path.empty())
    return FailedPreconditionError("container " + container_id +
                                   " has no log path");
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(),
                                      ec);
  std::ofstream out(path, std::ios::app);
  if (!out) return InternalError("cannot open " + path);
  out << Rfc3339Nano(NowNanos()) << ' ' << stream << " F " << text << '\n';
  if (!out) return InternalError("cannot write " + path);
  return Status::Ok();
}

}  // namespace kite::cri
