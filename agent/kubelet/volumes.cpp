#include "agent/kubelet/volumes.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <utility>

#include "agent/kubelet/env.h"
#include "api/object.h"
#include "api/quantity.h"
#include "client/https_client.h"
#include "common/log.h"

namespace kite::kubelet {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Files = std::map<std::string, std::pair<std::string, int>>;

const client::ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
const client::ResourceRef kSecrets{"", "v1", "secrets", ""};
const client::ResourceRef kClaims{"", "v1", "persistentvolumeclaims", ""};
const client::ResourceRef kVolumes{"", "v1", "persistentvolumes", ""};
const client::ResourceRef kServiceAccounts{"", "v1", "serviceaccounts", ""};

constexpr char kTag[] = "volumes";
constexpr int kDefaultMode = 0644;

Status Errno(const std::string& what, const std::string& path) {
  return Status(Code::kInternal,
                what + " " + path + ": " + std::strerror(errno));
}

// A relative path with no "..", as the API server also requires.
bool SafeRelative(const std::string& p) {
  if (p.empty() || p[0] == '/') return false;
  std::stringstream ss(p);
  std::string part;
  while (std::getline(ss, part, '/'))
    if (part == "..") return false;
  return true;
}

// Every regular file under `root`, relative path -> {content, mode}.
Files ReadTree(const fs::path& root) {
  Files out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    struct stat st {};
    int mode = ::stat(it->path().c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
    out[fs::relative(it->path(), root).string()] = {buf.str(), mode};
  }
  return out;
}

Status WriteFile(const fs::path& p, const std::string& content, int mode) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("open", p.string());
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("write", p.string());
      ::close(fd);
      return s;
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
    Status s = Errno("chmod", p.string());
    ::close(fd);
    return s;
  }
  ::close(fd);
  return Status::Ok();
}

bool IsMountPoint(const std::string& path) {
  struct stat a {
  }, b{};
  if (::stat(path.c_str(), &a) != 0) return false;
  std::string parent = fs::path(path).parent_path().string();
  if (::stat(parent.c_str(), &b) != 0) return false;
  return a.st_dev != b.st_dev;
}

// Mount points at or under `dir`, from /proc/self/mountinfo (deepest first).
std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, point;
    if (!(ls >> id >> parent >> devno >> root >> point)) continue;
    // Octal escapes: \040 space, \011 tab, \012 newline, \134 backslash.
    std::string p;
    for (size_t i = 0; i < point.size(); ++i) {
      if (point[i] == '\\' && i + 3 < point.size() && point[i + 1] >= '0' &&
          point[i + 1] <= '3' && point[i + 2] >= '0' && point[i + 2] <= '7' &&
          point[i + 3] >= '0' && point[i + 3] <= '7') {
        p += static_cast<char>((point[i + 1] - '0') * 64 +
                               (point[i + 2] - '0') * 8 + (point[i + 3] - '0'));
        i += 3;
        continue;
      }
      p += point[i];
    }
    if (p == dir || p.rfind(dir + "/", 0) == 0) out.push_back(p);
  }
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  return out;
}

int ModeOf(const Json* j, int fallback) {
  if (j != nullptr && j->is_number_integer()) return j->get<int>() & 07777;
  return fallback;
}

std::string Kind(const Json& v) {
  for (const char* k : {"emptyDir", "hostPath", "configMap", "secret",
                        "downwardAPI", "projected", "persistentVolumeClaim"})
    if (api::Has(v, {k})) return k;
  return "";
}

// The directory of a volume kind, as the kubelet names it.
std::string PluginDir(const std::string& kind) {
  if (kind == "emptyDir") return "kubernetes.io~empty-dir";
  if (kind == "configMap") return "kubernetes.io~configmap";
  if (kind == "secret") return "kubernetes.io~secret";
  if (kind == "downwardAPI") return "kubernetes.io~downward-api";
  if (kind == "projected") return "kubernetes.io~projected";
  return "kubernetes.io~" + kind;
}

// hostPath type checks and creation (kubelet's wording).
Status CheckHostPath(const std::string& path, const std::string& type,
                     int dir_mode) {
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  auto fail = [&](const std::string& what) {
    return Status(Code::kFailedPrecondition,
                  "hostPath type check failed: " + path + " is not " + what);
  };
  if (type.empty()) return Status::Ok();
  if (type == "DirectoryOrCreate") {
    if (!exists) {
      std::error_code ec;
      fs::create_directories(path, ec);
      if (ec)
        return Status(Code::kInternal, "mkdir " + path + ": " + ec.message());
      ::chmod(path.c_str(), static_cast<mode_t>(dir_mode));
      return Status::Ok();
    }
    return S_ISDIR(st.st_mode) ? Status::Ok() : fail("a directory");
  }
  if (type == "Directory")
    return exists && S_ISDIR(st.st_mode) ? Status::Ok() : fail("a directory");
  if (type == "FileOrCreate") {
    if (!exists) {
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return Errno("create", path);
      ::close(fd);
      return Status::Ok();
    }
    return S_ISREG(st.st_mode) ? Status::Ok() : fail("a file");
  }
  if (type == "File")
    return exists && S_ISREG(st.st_mode) ? Status::Ok() : fail("a file");
  if (type == "Socket")
    return exists && S_ISSOCK(st.st_mode) ? Status::Ok()
                                          : fail("a socket file");
  if (type == "CharDevice")
    return exists && S_ISCHR(st.st_mode) ? Status::Ok()
                                         : fail("a character device");
  if (type == "BlockDevice")
    return exists && S_ISBLK(st.st_mode) ? Status::Ok()
                                         : fail("a block device");
  return Status(Code::kInvalidArgument,
                "hostPath type " + type + " is not supported");
}

// The data of a configMap (data + binaryData) or secret (decoded); found
// false when it does not exist.
struct Source {
  bool found = false;
  std::map<std::string, std::string> data;
};

StatusOr<Source> Fetch(client::Interface& c, bool secret, const std::string& ns,
                       const std::string& name) {
  Source s;
  auto r = c.Get((secret ? kSecrets : kConfigMaps).In(ns), name, {});
  if (!r.ok()) {
    if (r.status().code() == Code::kNotFound) return s;
    return Status(Code::kUnavailable, r.status().message());
  }
  s.found = true;
  for (const char* field : {"data", "binaryData"}) {
    const Json* d = api::Field(*r, field);
    if (d == nullptr || !d->is_object()) continue;
    bool encoded = secret || std::string(field) == "binaryData";
    for (const auto& [k, v] : d->items()) {
      if (!v.is_string()) continue;
      if (!encoded) {
        s.data[k] = v.get<std::string>();
        continue;
      }
      auto dec = client::Base64Decode(v.get<std::string>());
      if (dec.ok()) s.data[k] = std::move(*dec);
    }
  }
  return s;
}

// Adds a configMap or secret projection to `out`.
Status Project(client::Interface& c, bool secret, const std::string& ns,
               const std::string& name, const Json* items, bool optional,
               int default_mode, Files* out) {
  KITE_ASSIGN_OR_RETURN(Source s, Fetch(c, secret, ns, name));
  const char* kind = secret ? "secret" : "configmap";
  if (!s.found) {
    if (optional) return Status::Ok();
    return Status(Code::kUnavailable,
                  std::string(kind) + " \"" + name + "\" not found");
  }
  if (items == nullptr || !items->is_array() || items->empty()) {
    for (const auto& [k, v] : s.data) (*out)[k] = {v, default_mode};
    return Status::Ok();
  }
  for (const Json& item : *items) {
    std::string key = api::GetString(item, {"key"});
    std::string path = api::GetString(item, {"path"});
    auto it = s.data.find(key);
    if (it == s.data.end()) {
      if (optional) continue;
      return Status(Code::kUnavailable,
                    std::string(kind) + " references non-existent " +
                        (secret ? "secret" : "config") + " key: " + key);
    }
    if (!SafeRelative(path))
      return Status(Code::kInvalidArgument, "invalid path " + path);
    (*out)[path] = {it->second, ModeOf(api::Field(item, "mode"), default_mode)};
  }
  return Status::Ok();
}

}  // namespace

StatusOr<bool> WriteAtomically(const std::string& dir, const Files& files) {
  for (const auto& [path, _] : files) {
    if (!SafeRelative(path) || path.rfind("..", 0) == 0)
      return Status(Code::kInvalidArgument, "invalid path " + path);
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status(Code::kInternal, "mkdir " + dir + ": " + ec.message());
  fs::path root(dir);
  fs::path data_link = root / "..data";
  std::string old_target;
  if (fs::is_symlink(fs::symlink_status(data_link, ec))) {
    old_target = fs::read_symlink(data_link, ec).string();
    if (!ec && ReadTree(root / old_target) == files) return false;
  }
  // The new payload, in a fresh directory.
  char stamp[64];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof(stamp), "..%Y_%m_%d_%H_%M_%S.", &tm);
  std::string templ = (root / (std::string(stamp) + "XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return Errno("mkdtemp", templ);
  fs::path fresh(buf.data());
  ::chmod(fresh.c_str(), 0755);
  for (const auto& [path, content] : files) {
    fs::path p = fresh / path;
    fs::create_directories(p.parent_path(), ec);
    if (ec)
      return Status(Code::kInternal,
                    "mkdir " + p.parent_path().string() + ": " + ec.message());
    KITE_RETURN_IF_ERROR(WriteFile(p, content.first, content.second));
  }
  // Swap ..data over in one rename.
  fs::path tmp_link = root / "..data_tmp";
  fs::remove(tmp_link, ec);
  if (::symlink(fresh.filename().c_str(), tmp_link.c_str()) != 0)
    return Errno("symlink", tmp_link.string());
  if (::rename(tmp_link.c_str(), data_link.c_str()) != 0)
    return Errno("rename", data_link.string());
  // User-visible names point into ..data.
  std::set<std::string> top;
  for (const auto& [path, _] : files)
    top.insert(path.substr(0, path.find('/')));
  for (const std::string& name : top) {
    fs::path link = root / name;
    if (fs::symlink_status(link, ec).type() != fs::file_type::not_found)
      continue;
    if (::symlink(("..data/" + name).c_str(), link.c_str()) != 0)
      return Errno("symlink", link.string());
  }
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("..", 0) == 0 || top.count(name)) continue;
    fs::remove_all(entry.path(), ec);
  }
  if (!old_target.empty() && old_target != fresh.filename().string() &&
      old_target.rfind("..", 0) == 0 &&
      old_target.find('/') == std::string::npos)
    fs::remove_all(root / old_target, ec);
  return true;
}

Volumes::Volumes(client::Interface& client, VolumeOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()) {}

std::string Volumes::PodDir(const std::string& uid) const {
  return options_.data_dir + "/agent/pods/" + uid;
}

StatusOr<std::string> Volumes::TokenFor(const Json& pod,
                                        const std::string& volume,
                                        const Json& source) {
  std::string uid = api::GetString(pod, {"metadata", "uid"});
  std::string path = api::GetString(source, {"path"});
  std::string key = uid + "/" + volume + "/" + path;
  Clock::WallTime now = clock_.Now();
  Token cached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tokens_.find(key);
    if (it != tokens_.end()) cached = it->second;
  }
  if (!cached.token.empty() &&
      now < cached.issued + (cached.expires - cached.issued) * 8 / 10)
    return cached.token;
  std::string ns = api::Namespace(pod);
  std::string sa = api::GetString(pod, {"spec", "serviceAccountName"});
  if (sa.empty()) sa = "default";
  int64_t seconds = api::GetInt(source, {"expirationSeconds"}, 3600);
  Json req = {{"apiVersion", "authentication.k8s.io/v1"},
              {"kind", "TokenRequest"},
              {"metadata", {{"name", sa}, {"namespace", ns}}},
              {"spec",
               {{"expirationSeconds", seconds},
                {"boundObjectRef",
                 {{"kind", "Pod"},
                  {"apiVersion", "v1"},
                  {"name", api::Name(pod)},
                  {"uid", uid}}}}}};
  std::string audience = api::GetString(source, {"audience"});
  if (!audience.empty()) req["spec"]["audiences"] = Json::array({audience});
  client::CreateOptions opts;
  opts.subresource = "token";
  auto r = client_.Create(kServiceAccounts.In(ns), req, opts);
  std::string token =
      r.ok() ? api::GetString(*r, {"status", "token"}) : std::string();
  if (token.empty()) {
    std::string why = r.ok() ? "no token in the answer" : r.status().message();
    if (!cached.token.empty() && now < cached.expires) {
      log::Warn(kTag, "token renewal failed, keeping the current one")(
          "pod", ns + "/" + api::Name(pod))("error", why);
      return cached.token;
    }
    return Status(Code::kUnavailable, "failed to fetch token: " + why);
  }
  Token t;
  t.token = token;
  t.issued = now;
  t.expires = now + std::chrono::seconds(seconds);
  if (auto exp =
          api::ParseTime(api::GetString(*r, {"status", "expirationTimestamp"}));
      exp && *exp > now)
    t.expires = *exp;
  std::lock_guard<std::mutex> lock(mu_);
  tokens_[key] = t;
  return token;
}

StatusOr<Files> Volumes::Payload(const Json& pod, const Json& v) {
  Files out;
  std::string ns = api::Namespace(pod);
  std::string kind = Kind(v);
  const Json& src = v[kind];
  int mode = ModeOf(api::Field(src, "defaultMode"), kDefaultMode);
  Json allocatable =
      options_.node_allocatable ? options_.node_allocatable() : Json::object();
  auto downward = [&](const Json* items, int default_mode) -> Status {
    if (items == nullptr || !items->is_array()) return Status::Ok();
    for (const Json& item : *items) {
      std::string path = api::GetString(item, {"path"});
      if (!SafeRelative(path))
        return Status(Code::kInvalidArgument, "invalid path " + path);
      std::string value;
      if (const Json* f = api::Field(item, "fieldRef")) {
        KITE_ASSIGN_OR_RETURN(
            value, PodFieldValue(pod, api::GetString(*f, {"fieldPath"}),
                                 options_.host_ips));
      } else if (const Json* r = api::Field(item, "resourceFieldRef")) {
        std::string cname = api::GetString(*r, {"containerName"});
        const Json* target = nullptr;
        for (const char* list : {"containers", "initContainers"}) {
          const Json* cs = api::FieldPath(pod, {"spec", list});
          if (cs == nullptr || !cs->is_array()) continue;
          for (const Json& c : *cs)
            if (api::GetString(c, {"name"}) == cname) target = &c;
        }
        if (target == nullptr)
          return Status(Code::kInvalidArgument,
                        "container " + cname + " not found");
        const Json* div = api::Field(*r, "divisor");
        KITE_ASSIGN_OR_RETURN(
            value, ResourceFieldValue(*target, api::GetString(*r, {"resource"}),
                                      div != nullptr && div->is_string()
                                          ? div->get<std::string>()
                                          : "",
                                      allocatable));
      }
      out[path] = {value, ModeOf(api::Field(item, "mode"), default_mode)};
    }
    return Status::Ok();
  };
  if (kind == "configMap" || kind == "secret") {
    bool secret = kind == "secret";
    KITE_RETURN_IF_ERROR(
        Project(client_, secret, ns,
                api::GetString(src, {secret ? "secretName" : "name"}),
                api::Field(src, "items"),
                api::GetBool(src, {"optional"}, false), mode, &out));
  } else if (kind == "downwardAPI") {
    KITE_RETURN_IF_ERROR(downward(api::Field(src, "items"), mode));
  } else if (kind == "projected") {
    const Json* sources = api::Field(src, "sources");
    if (sources != nullptr && sources->is_array()) {
      for (const Json& s : *sources) {
        if (const Json* cm = api::Field(s, "configMap")) {
          KITE_RETURN_IF_ERROR(
              Project(client_, false, ns, api::GetString(*cm, {"name"}),
                      api::Field(*cm, "items"),
                      api::GetBool(*cm, {"optional"}, false), mode, &out));
        } else if (const Json* sec = api::Field(s, "secret")) {
          KITE_RETURN_IF_ERROR(
              Project(client_, true, ns, api::GetString(*sec, {"name"}),
                      api::Field(*sec, "items"),
                      api::GetBool(*sec, {"optional"}, false), mode, &out));
        } else if (const Json* d = api::Field(s, "downwardAPI")) {
          KITE_RETURN_IF_ERROR(downward(api::Field(*d, "items"), mode));
        } else if (const Json* t = api::Field(s, "serviceAccountToken")) {
          std::string path = api::GetString(*t, {"path"});
          if (!SafeRelative(path))
            return Status(Code::kInvalidArgument, "invalid path " + path);
          KITE_ASSIGN_OR_RETURN(std::string token,
                                TokenFor(pod, api::GetString(v, {"name"}), *t));
          out[path] = {token, mode};
        }
      }
    }
  }
  return out;
}

StatusOr<std::string> Volumes::SetUpVolume(const Json& pod, const Json& v,
                                           bool* read_only, bool* changed) {
  std::string name = api::GetString(v, {"name"});
  std::string kind = Kind(v);
  std::string ns = api::Namespace(pod);
  std::string uid = api::GetString(pod, {"metadata", "uid"});
  std::string dir = PodDir(uid) + "/volumes/" + PluginDir(kind) + "/" + name;
  *read_only = false;
  if (kind == "emptyDir") {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
      return Status(Code::kInternal, "mkdir " + dir + ": " + ec.message());
    if (api::GetString(v, {"emptyDir", "medium"}) == "Memory" &&
        options_.mount_tmpfs && !IsMountPoint(dir)) {
      std::string opts = "mode=0777";
      std::string limit = api::GetString(v, {"emptyDir", "sizeLimit"});
      if (!limit.empty()) {
        auto q = api::Quantity::Parse(limit);
        if (!q.ok()) return q.status();
        opts += ",size=" + std::to_string(q->Value());
      }
      if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                  opts.c_str()) != 0)
        return Errno("mount tmpfs on", dir);
    }
    ::chmod(dir.c_str(), 0777);
    return dir;
  }
  if (kind == "hostPath") {
    std::string path = api::GetString(v, {"hostPath", "path"});
    KITE_RETURN_IF_ERROR(
        CheckHostPath(path, api::GetString(v, {"hostPath", "type"}), 0755));
    return path;
  }
  if (kind == "persistentVolumeClaim") {
    std::string claim_name =
        api::GetString(v, {"persistentVolumeClaim", "claimName"});
    *read_only = api::GetBool(v, {"persistentVolumeClaim", "readOnly"}, false);
    auto claim = client_.Get(kClaims.In(ns), claim_name, {});
    if (!claim.ok())
      return Status(Code::kUnavailable, "error processing PVC " + ns + "/" +
                                            claim_name + ": " +
                                            claim.status().message());
    std::string pv_name = api::GetString(*claim, {"spec", "volumeName"});
    if (pv_name.empty() ||
        api::GetString(*claim, {"status", "phase"}) != "Bound")
      return Status(Code::kUnavailable, "error processing PVC " + ns + "/" +
                                            claim_name + ": PVC is not bound");
    auto pv = client_.Get(kVolumes, pv_name, {});
    if (!pv.ok())
      return Status(Code::kUnavailable, "error processing PVC " + ns + "/" +
                                            claim_name + ": " +
                                            pv.status().message());
    std::string path = api::GetString(*pv, {"spec", "hostPath", "path"});
    if (path.empty()) path = api::GetString(*pv, {"spec", "local", "path"});
    if (path.empty())
      return Status(Code::kInvalidArgument,
                    "PersistentVolume " + pv_name +
                        ": only hostPath and local volumes are supported");
    // Made when missing (the local-path provisioner's directories are made
    // here, on first use), kept otherwise.
    KITE_RETURN_IF_ERROR(CheckHostPath(path, "DirectoryOrCreate", 0777));
    return path;
  }
  if (kind == "configMap" || kind == "secret" || kind == "downwardAPI" ||
      kind == "projected") {
    *read_only = true;
    KITE_ASSIGN_OR_RETURN(Files files, Payload(pod, v));
    KITE_ASSIGN_OR_RETURN(bool wrote, WriteAtomically(dir, files));
    if (changed != nullptr) *changed = wrote;
    return dir;
  }
  return Status(Code::kInvalidArgument,
                "volume \"" + name + "\": unsupported volume type");
}

StatusOr<std::map<std::string, std::vector<cri::Mount>>> Volumes::Setup(
    const Json& pod) {
  std::string uid = api::GetString(pod, {"metadata", "uid"});
  if (uid.empty()) return Status(Code::kInvalidArgument, "pod without uid");
  {
    std::lock_guard<std::mutex> lock(mu_);
    pods_[uid] = pod;
  }
  struct Made {
    std::string path;
    bool read_only = false;
  };
  std::map<std::string, Made> made;
  if (const Json* vols = api::FieldPath(pod, {"spec", "volumes"});
      vols != nullptr && vols->is_array()) {
    for (const Json& v : *vols) {
      Made m;
      bool changed = false;
      KITE_ASSIGN_OR_RETURN(m.path,
                            SetUpVolume(pod, v, &m.read_only, &changed));
      made[api::GetString(v, {"name"})] = std::move(m);
    }
  }
  std::map<std::string, std::vector<cri::Mount>> out;
  for (const char* list : {"initContainers", "containers"}) {
    const Json* cs = api::FieldPath(pod, {"spec", list});
    if (cs == nullptr || !cs->is_array()) continue;
    for (const Json& c : *cs) {
      const Json* mounts = api::Field(c, "volumeMounts");
      if (mounts == nullptr || !mounts->is_array()) continue;
      std::string cname = api::GetString(c, {"name"});
      for (const Json& vm : *mounts) {
        std::string vname = api::GetString(vm, {"name"});
        auto it = made.find(vname);
        if (it == made.end())
          return Status(
              Code::kInvalidArgument,
              "container " + cname + ": volume \"" + vname + "\" not found");
        cri::Mount m;
        m.container_path = api::GetString(vm, {"mountPath"});
        m.host_path = it->second.path;
        std::string sub = api::GetString(vm, {"subPath"});
        if (std::string expr = api::GetString(vm, {"subPathExpr"});
            !expr.empty()) {
          // Expanded with the container's literal and fieldRef variables.
          std::map<std::string, std::string> vars;
          if (const Json* env = api::Field(c, "env");
              env != nullptr && env->is_array()) {
            for (const Json& e : *env) {
              std::string n = api::GetString(e, {"name"});
              if (const Json* f =
                      api::FieldPath(e, {"valueFrom", "fieldRef"})) {
                auto val = PodFieldValue(pod, api::GetString(*f, {"fieldPath"}),
                                         options_.host_ips);
                if (val.ok()) vars[n] = *val;
              } else if (!api::Has(e, {"valueFrom"})) {
                vars[n] = api::GetString(e, {"value"});
              }
            }
          }
          sub = ExpandEnv(expr, [&](const std::string& k, std::string* val) {
            auto f = vars.find(k);
            if (f == vars.end()) return false;
            *val = f->second;
            return true;
          });
        }
        if (!sub.empty()) {
          if (!SafeRelative(sub))
            return Status(Code::kInvalidArgument,
                          "subPath " + sub +
                              " must be a relative path "
                              "without '..'");
          std::string full = m.host_path + "/" + sub;
          std::error_code ec;
          if (fs::symlink_status(full, ec).type() == fs::file_type::not_found) {
            fs::create_directories(full, ec);
            if (ec)
              return Status(Code::kInternal,
                            "mkdir " + full + ": " + ec.message());
          }
          // After symlinks, it must still be inside the volume.
          fs::path real = fs::weakly_canonical(full, ec);
          fs::path base = fs::weakly_canonical(m.host_path, ec);
          std::string r = real.string(), b = base.string();
          if (r != b && r.rfind(b + "/", 0) != 0)
            return Status(Code::kInvalidArgument,
                          "subpath " + sub + " resolves outside volume \"" +
                              vname + "\"");
          m.host_path = full;
        }
        m.readonly =
            it->second.read_only || api::GetBool(vm, {"readOnly"}, false);
        std::string prop = api::GetString(vm, {"mountPropagation"});
        if (prop == "HostToContainer")
          m.propagation = cri::MountPropagation::kHostToContainer;
        else if (prop == "Bidirectional")
          m.propagation = cri::MountPropagation::kBidirectional;
        out[cname].push_back(std::move(m));
      }
    }
  }
  return out;
}

Status Volumes::TearDown(const std::string& pod_uid) {
  if (pod_uid.empty() || pod_uid.find('/') != std::string::npos ||
      pod_uid == "." || pod_uid == "..")
    return Status(Code::kInvalidArgument, "bad pod uid");
  {
    std::lock_guard<std::mutex> lock(mu_);
    pods_.erase(pod_uid);
    for (auto it = tokens_.lower_bound(pod_uid + "/");
         it != tokens_.end() && it->first.rfind(pod_uid + "/", 0) == 0;)
      it = tokens_.erase(it);
  }
  std::string dir = PodDir(pod_uid);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::Ok();
  std::string real = fs::canonical(dir, ec).string();
  if (ec) real = dir;
  for (const std::string& m : MountsUnder(real)) {
    if (::umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL &&
        errno != ENOENT)
      return Errno("unmount", m);
  }
  // Nothing may stay mounted: removing would reach into the mount.
  if (!MountsUnder(real).empty())
    return Status(Code::kInternal, "mounts remain under " + dir);
  fs::remove_all(dir, ec);
  if (ec) return Status(Code::kInternal, "remove " + dir + ": " + ec.message());
  return Status::Ok();
}

int Volumes::Refresh() {
  std::map<std::string, Json> pods;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pods = pods_;
  }
  int changed_total = 0;
  for (const auto& [uid, pod] : pods) {
    const Json* vols = api::FieldPath(pod, {"spec", "volumes"});
    if (vols == nullptr || !vols->is_array()) continue;
    for (const Json& v : *vols) {
      std::string kind = Kind(v);
      if (kind != "configMap" && kind != "secret" && kind != "downwardAPI" &&
          kind != "projected")
        continue;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!pods_.count(uid)) break;  // torn down meanwhile
      }
      bool ro = false, changed = false;
      auto r = SetUpVolume(pod, v, &ro, &changed);
      if (!r.ok()) {
        log::Warn(kTag, "volume refresh failed")(
            "pod", api::Namespace(pod) + "/" + api::Name(pod))(
            "volume", api::GetString(v, {"name"}))("error",
                                                   r.status().ToString());
        continue;
      }
      if (changed) ++changed_total;
    }
  }
  return changed_total;
}

}  // namespace kite::kubelet
