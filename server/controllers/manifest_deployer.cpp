#include "server/controllers/manifest_deployer.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "client/yaml_json.h"
#include "common/log.h"

namespace kite::controllers {

namespace {

using Json = nlohmann::json;
constexpr char kComponent[] = "deployer";

bool HasManifestExtension(std::string_view name) {
  for (std::string_view ext : {".yaml", ".yml", ".json"}) {
    if (name.size() > ext.size() &&
        name.substr(name.size() - ext.size()) == ext)
      return true;
  }
  return false;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

// The inotify-watched directory.
class DirectorySource : public ManifestSource {
 public:
  DirectorySource(std::string dir, int inotify_fd, int event_fd)
      : dir_(std::move(dir)), inotify_fd_(inotify_fd), event_fd_(event_fd) {
    AddWatch();
  }
  ~DirectorySource() override {
    ::close(inotify_fd_);
    ::close(event_fd_);
  }

  StatusOr<std::vector<ManifestFile>> List() override {
    std::vector<ManifestFile> out;
    std::error_code ec;
    std::filesystem::directory_iterator it(dir_, ec);
    if (ec) return UnavailableError("reading " + dir_ + ": " + ec.message());
    for (const auto& entry : it) {
      std::string name = entry.path().filename().string();
      if (name.empty() || name[0] == '.' || !HasManifestExtension(name))
        continue;
      std::error_code type_ec;
      if (!entry.is_regular_file(type_ec)) continue;  // follows symlinks
      std::ifstream in(entry.path(), std::ios::binary);
      if (!in) continue;  // removed meanwhile
      std::ostringstream text;
      text << in.rdbuf();
      out.push_back({name, text.str()});
    }
    std::sort(out.begin(), out.end(),
              [](const ManifestFile& a, const ManifestFile& b) {
                return a.name < b.name;
              });
    return out;
  }

  bool WaitForChange(std::chrono::milliseconds timeout) override {
    if (interrupted_) return false;
    if (watch_ < 0) {
      // The directory went away: look for it again every few seconds.
      if (AddWatch()) return true;
      timeout = std::min(timeout, std::chrono::milliseconds(5000));
    }
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {event_fd_, POLLIN, 0}};
    int ms =
        timeout == std::chrono::milliseconds::max()
            ? -1
            : static_cast<int>(std::min<int64_t>(timeout.count(), INT32_MAX));
    int n = ::poll(fds, 2, ms);
    if (n < 0 && errno != EINTR) return false;
    if (fds[1].revents != 0) {
      interrupted_ = true;
      return false;
    }
    if (n <= 0 || fds[0].revents == 0) return false;
    alignas(inotify_event) char buf[4096];
    bool lost = false;
    for (;;) {
      ssize_t got = ::read(inotify_fd_, buf, sizeof(buf));
      if (got <= 0) break;
      for (ssize_t off = 0; off < got;) {
        auto* ev = reinterpret_cast<inotify_event*>(buf + off);
        if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
          lost = true;
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    if (lost && watch_ >= 0) {
      ::inotify_rm_watch(inotify_fd_, watch_);
      watch_ = -1;
    }
    return true;
  }

  void Interrupt() override {
    uint64_t one = 1;
    ssize_t unused = ::write(event_fd_, &one, sizeof(one));
    (void)unused;
  }

 private:
  bool AddWatch() {
    watch_ = ::inotify_add_watch(
        inotify_fd_, dir_.c_str(),
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
            IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
    return watch_ >= 0;
  }

  const std::string dir_;
  const int inotify_fd_;
  const int event_fd_;
  int watch_ = -1;
  std::atomic<bool> interrupted_{false};
};

// Splits YAML text into its documents at "---" lines.
std::vector<std::string> SplitYamlDocuments(const std::string& text) {
  std::vector<std::string> docs(1);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::string_view l = line;
    while (!l.empty() &&
           (l.back() == '\r' || l.back() == ' ' || l.back() == '\t'))
      l.remove_suffix(1);
    if (l == "---" || l.starts_with("--- #")) {
      docs.emplace_back();
      continue;
    }
    if (l == "...") continue;
    docs.back() += line;
    docs.back() += '\n';
  }
  return docs;
}

Status AddObject(Json obj, const std::string& where, std::vector<Json>* out) {
  if (obj.is_null()) return Status::Ok();  // an empty document
  if (!obj.is_object()) return InvalidArgumentError(where + ": not an object");
  auto kind = obj.find("kind");
  if (kind != obj.end() && kind->is_string() &&
      EndsWith(kind->get<std::string>(), "List") && obj.contains("items")) {
    const Json& items = obj["items"];
    if (!items.is_array())
      return InvalidArgumentError(where + ": items is not a list");
    for (size_t i = 0; i < items.size(); ++i) {
      KITE_RETURN_IF_ERROR(
          AddObject(items[i], where + " item " + std::to_string(i), out));
    }
    return Status::Ok();
  }
  for (const char* field : {"apiVersion", "kind"}) {
    auto f = obj.find(field);
    if (f == obj.end() || !f->is_string() || f->get<std::string>().empty())
      return InvalidArgumentError(where + ": " + field + " is missing");
  }
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object() || !meta->contains("name") ||
      !(*meta)["name"].is_string() ||
      (*meta)["name"].get<std::string>().empty())
    return InvalidArgumentError(where + ": metadata.name is missing");
  out->push_back(std::move(obj));
  return Status::Ok();
}

// The objects of one manifest file, in file order.
StatusOr<std::vector<Json>> ParseManifest(const ManifestFile& file) {
  std::vector<Json> out;
  if (EndsWith(file.name, ".json")) {
    Json doc = Json::parse(file.content, nullptr, false);
    if (doc.is_discarded())
      return InvalidArgumentError(file.name + ": not valid JSON");
    KITE_RETURN_IF_ERROR(AddObject(std::move(doc), file.name, &out));
    return out;
  }
  std::vector<std::string> docs = SplitYamlDocuments(file.content);
  for (size_t i = 0; i < docs.size(); ++i) {
    std::string where = file.name + " document " + std::to_string(i + 1);
    auto doc = client::YamlToJson(docs[i]);
    if (!doc.ok())
      return InvalidArgumentError(where + ": " + doc.status().message());
    KITE_RETURN_IF_ERROR(AddObject(std::move(doc).value(), where, &out));
  }
  return out;
}

// Namespaces and CRDs first, so a file can hold a namespace or a CRD and
// what goes in it; otherwise file order.
int ApplyRank(const Json& obj) {
  std::string kind = obj.value("kind", "");
  if (kind == "Namespace") return 0;
  if (kind == "CustomResourceDefinition") return 1;
  return 2;
}

bool IsLabelValue(std::string_view v) {
  if (v.empty() || v.size() > 63) return false;
  auto alnum = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c));
  };
  if (!alnum(v.front()) || !alnum(v.back())) return false;
  return std::all_of(v.begin(), v.end(), [&](char c) {
    return alnum(c) || c == '-' || c == '_' || c == '.';
  });
}

// Every stored resource that can be listed and deleted, once per
// group/resource, both scopes.
std::vector<client::ResourceRef> ListableResources(
    const api::Registry& registry) {
  std::vector<client::ResourceRef> out;
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& kind : registry.All()) {
    if (!kind->stored || !kind->HasVerb("list") || !kind->HasVerb("delete"))
      continue;
    if (!seen.insert({kind->group, kind->resource}).second) continue;
    out.push_back({kind->group, kind->version, kind->resource, ""});
  }
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<ManifestSource>> OpenManifestDirectory(
    const std::string& dir) {
  KITE_RETURN_IF_ERROR(RealEnv().MakeDirs(dir, 0700));
  int ifd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ifd < 0)
    return UnavailableError(std::string("inotify_init1: ") +
                            std::strerror(errno));
  int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) {
    ::close(ifd);
    return UnavailableError(std::string("eventfd: ") + std::strerror(errno));
  }
  auto source = std::make_unique<DirectorySource>(dir, ifd, efd);
  return std::unique_ptr<ManifestSource>(std::move(source));
}

std::string ManifestBaseName(std::string_view file_name) {
  size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::string(file_name);
  return std::string(file_name.substr(0, dot));
}

Status WriteDefaultManifests(Env& env, const std::string& dir,
                             const std::vector<ManifestFile>& defaults,
                             const std::vector<std::string>& disabled) {
  KITE_RETURN_IF_ERROR(env.MakeDirs(dir, 0700));
  for (const ManifestFile& m : defaults) {
    std::string path = dir + "/" + m.name;
    if (std::find(disabled.begin(), disabled.end(), ManifestBaseName(m.name)) !=
        disabled.end()) {
      if (env.Exists(path)) {
        KITE_RETURN_IF_ERROR(env.RemoveFile(path));
        log::Info(kComponent, "removed disabled default manifest")("file",
                                                                   path);
      }
      continue;
    }
    if (env.Exists(path + ".skip")) continue;
    auto old = env.ReadFile(path);
    if (old.ok() && *old == m.content) continue;
    KITE_RETURN_IF_ERROR(env.WriteFileAtomic(path, m.content, 0600));
    log::Info(kComponent, "wrote default manifest")("file", path);
  }
  return Status::Ok();
}

ManifestDeployer::ManifestDeployer(client::Interface& client,
                                   const api::Registry& registry,
                                   ManifestSource& source,
                                   ManifestDeployerOptions options)
    : client_(client),
      registry_(registry),
      source_(source),
      options_(std::move(options)) {}

ManifestDeployer::~ManifestDeployer() { Stop(); }

std::string ManifestDeployer::LabelValue(std::string_view file_name) {
  if (IsLabelValue(file_name)) return std::string(file_name);
  // FNV-1a: stable across runs and builds (std::hash is not promised to be).
  uint64_t h = 1469598103934665603ull;
  for (char c : file_name) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof(buf), "h-%016llx",
                static_cast<unsigned long long>(h));
  return buf;
}

bool ManifestDeployer::Disabled(const std::string& file_name) const {
  return std::find(options_.disabled.begin(), options_.disabled.end(),
                   ManifestBaseName(file_name)) != options_.disabled.end();
}

Status ManifestDeployer::Start() {
  if (started_) return Status::Ok();
  if (Status st = Sync(); !st.ok()) {
    log::Warn(kComponent, "first pass incomplete, will retry")("error",
                                                               st.ToString());
  }
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void ManifestDeployer::Stop() {
  if (!started_) return;
  stop_ = true;
  source_.Interrupt();
  if (thread_.joinable()) thread_.join();
  started_ = false;
}

void ManifestDeployer::Run() {
  for (;;) {
    auto timeout = std::chrono::milliseconds::max();
    {
      std::lock_guard<std::mutex> l(mu_);
      auto now = std::chrono::steady_clock::now();
      for (const auto& [name, state] : files_) {
        if (!state.parsed || state.applied) continue;
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
            state.retry_at - now);
        timeout =
            std::min(timeout, std::max(wait, std::chrono::milliseconds(0)));
      }
    }
    if (source_.WaitForChange(timeout)) {
      // Let a burst of changes (an editor's save, a copy) finish first.
      for (int i = 0; i < 50 && source_.WaitForChange(options_.settle); ++i) {
      }
    }
    if (stop_) return;
    (void)Sync();
  }
}

Status ManifestDeployer::Sync() {
  std::lock_guard<std::mutex> l(mu_);
  auto listed = source_.List();
  if (!listed.ok()) {
    // Never prune on an unreadable directory.
    log::Error(kComponent, "listing manifests failed")(
        "error", listed.status().ToString());
    return listed.status();
  }
  std::map<std::string, const ManifestFile*> present;
  for (const ManifestFile& f : *listed) {
    if (!Disabled(f.name)) present[f.name] = &f;
  }
  bool changed = !scanned_;
  for (auto it = files_.begin(); it != files_.end();) {
    if (present.count(it->first) == 0) {
      log::Info(kComponent, "manifest gone, deleting its objects")("file",
                                                                   it->first);
      it = files_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  Status first = Status::Ok();
  for (const auto& [name, file] : present) {
    bool file_changed = false;
    Status st = SyncFile(*file, files_[name], &file_changed);
    changed = changed || file_changed;
    if (!st.ok() && first.ok()) first = st;
  }
  if (changed) {
    Status st = Prune();
    if (st.ok()) scanned_ = true;
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Status ManifestDeployer::SyncFile(const ManifestFile& file, FileState& state,
                                  bool* changed) {
  auto now = std::chrono::steady_clock::now();
  bool same = state.seen && state.content == file.content;
  if (same && (!state.parsed || state.applied)) return Status::Ok();
  if (same && now < state.retry_at) return Status::Ok();

  if (!same) {
    state.seen = true;
    state.content = file.content;
    state.retry = std::chrono::milliseconds(0);
    auto parsed = ParseManifest(file);
    if (!parsed.ok()) {
      // Keep what the file deployed before; wait for the next change.
      state.parsed = false;
      log::Error(kComponent, "manifest does not parse; its objects are kept")(
          "file", file.name)("error", parsed.status().message());
      return parsed.status();
    }
    std::stable_sort(parsed->begin(), parsed->end(),
                     [](const Json& a, const Json& b) {
                       return ApplyRank(a) < ApplyRank(b);
                     });
    state.parsed = true;
    state.applied = false;
    state.manifest = std::move(parsed).value();
  }

  const std::vector<Json>& objects = state.manifest;
  std::set<Key> keys;
  Status first = Status::Ok();
  int applied = 0;
  for (Json obj : objects) {  // a copy: stamped below
    std::string api_version = obj["apiVersion"].get<std::string>();
    std::string kind_name = obj["kind"].get<std::string>();
    std::string name = obj["metadata"]["name"].get<std::string>();
    size_t slash = api_version.find('/');
    std::string group =
        slash == std::string::npos ? "" : api_version.substr(0, slash);
    std::string version = slash == std::string::npos
                              ? api_version
                              : api_version.substr(slash + 1);
    auto kind = registry_.LookupKind(group, version, kind_name);
    if (kind == nullptr) {
      Status st = NotFoundError(file.name + ": no kind \"" + kind_name +
                                "\" in " + api_version);
      if (first.ok()) first = st;
      continue;  // a CRD may bring it later: retried
    }
    client::ResourceRef ref{kind->group, kind->version, kind->resource, ""};
    Json& meta = obj["metadata"];
    if (kind->Namespaced()) {
      if (!meta.contains("namespace") || !meta["namespace"].is_string() ||
          meta["namespace"].get<std::string>().empty())
        meta["namespace"] = "default";
      ref.ns = meta["namespace"].get<std::string>();
    } else {
      meta.erase("namespace");
    }
    if (!meta.contains("labels") || !meta["labels"].is_object())
      meta["labels"] = Json::object();
    meta["labels"][kLabel] = LabelValue(file.name);
    if (!meta.contains("annotations") || !meta["annotations"].is_object())
      meta["annotations"] = Json::object();
    meta["annotations"][kFileAnnotation] = file.name;
    keys.insert({kind->group, kind->resource, ref.ns, name});

    client::PatchOptions opts;
    opts.field_manager = options_.field_manager;
    opts.force = true;
    auto result =
        client_.Patch(ref, name, client::PatchType::kApply, obj.dump(), opts);
    if (!result.ok()) {
      log::Warn(kComponent, "apply failed")("file", file.name)(
          "object", kind->GroupKind() + " " +
                        (ref.ns.empty() ? name : ref.ns + "/" + name))(
          "error", result.status().ToString());
      if (first.ok()) first = result.status();
      continue;
    }
    ++applied;
  }
  // `keys` holds what the file names, applied or not: a failed apply must
  // not make the prune delete the live object.
  if (keys != state.objects) *changed = true;
  state.objects = std::move(keys);
  if (first.ok()) {
    state.applied = true;
    state.retry = std::chrono::milliseconds(0);
    log::Info(kComponent, "applied")("file", file.name)("objects", applied);
  } else {
    state.retry = std::min(options_.max_retry,
                           std::max(options_.min_retry, state.retry * 2));
    state.retry_at = now + state.retry;
  }
  return first;
}

Status ManifestDeployer::Prune() {
  Status first = Status::Ok();
  client::ListOptions list_opts;
  list_opts.label_selector = kLabel;
  for (const client::ResourceRef& ref : ListableResources(registry_)) {
    auto list = client_.List(ref, list_opts);
    if (!list.ok()) {
      if (list.status().code() == Code::kNotFound) continue;
      if (first.ok()) first = list.status();
      continue;
    }
    for (const Json& item : (*list)["items"]) {
      const Json& meta = item["metadata"];
      std::string name = meta.value("name", "");
      std::string ns = meta.value("namespace", "");
      std::string file;
      if (meta.contains("annotations") && meta["annotations"].is_object())
        file = meta["annotations"].value(kFileAnnotation, "");
      auto owner = files_.end();
      if (!file.empty()) {
        owner = files_.find(file);
      } else {
        std::string label = meta["labels"].value(kLabel, "");
        for (auto it = files_.begin(); it != files_.end(); ++it) {
          if (LabelValue(it->first) == label) owner = it;
        }
      }
      if (owner != files_.end()) {
        const FileState& state = owner->second;
        // A file that does not parse keeps everything it had.
        if (!state.parsed) continue;
        if (state.objects.count({ref.group, ref.resource, ns, name})) continue;
      }
      client::DeleteOptions del;
      del.propagation_policy = client::PropagationPolicy::kBackground;
      del.precondition_uid = meta.value("uid", "");
      auto gone = client_.Delete(ref.In(ns), name, del);
      if (!gone.ok() && gone.status().code() != Code::kNotFound) {
        log::Warn(kComponent, "delete failed")(
            "object", ref.GroupResource() + " " + name)(
            "error", gone.status().ToString());
        if (first.ok()) first = gone.status();
        continue;
      }
      log::Info(kComponent, "deleted")(
          "object", ref.GroupResource() + " " +
                        (ns.empty() ? name : ns + "/" + name))("file", file);
    }
  }
  return first;
}

}  // namespace kite::controllers
