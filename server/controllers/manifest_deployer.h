// ManifestDeployer: keeps the objects of every manifest file in
// <data-dir>/server/manifests/ applied (DESIGN.md §8), like k3s's deploy
// controller.
//
// Each *.yaml, *.yml or *.json file holds one or more objects (YAML
// documents separated by "---", a JSON object, or a List whose items are
// objects). The deployer applies each object with server-side apply (field
// manager "kite-deployer", force) after stamping it with
//   label      kite.io/manifest: <file name, or "h-<hash>" when the name is
//                                 not a valid label value>
//   annotation kite.io/manifest-file: <file name>
// so the owning file can be found from the cluster. A file is applied at
// start and whenever its content changes. When a file disappears (or is
// disabled), or an object leaves a file, its objects are deleted: a Sync()
// that saw any change lists every listable resource with the label and
// deletes what no file claims any more, so files removed while the server
// was down are cleaned up too. A file that does not parse keeps its objects
// (the error is logged once per content). Objects whose apply failed (a
// namespace or CRD that does not exist yet, say) are retried with back-off.
//
// Idle cost: nothing. The directory is watched with inotify; with nothing
// to retry the thread sleeps in poll() without a timeout, and an unchanged
// file is neither re-read into the API nor re-applied (a re-apply at start
// of identical content changes nothing: server-side apply with the same
// fields writes nothing).
//
// Threading: Start() runs a first Sync() on the caller's thread (so the
// defaults exist once Start() returns), then starts one thread that waits
// for directory changes and syncs; Stop() wakes and joins it (idempotent;
// the destructor calls it). Sync() may also be called directly (tests);
// calls are serialized by a mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "api/kinds.h"
#include "client/interface.h"
#include "common/env.h"
#include "common/status.h"

namespace kite::controllers {

struct ManifestFile {
  std::string name;  // file name only: "kube-dns.yaml"
  std::string content;
};

// Where the manifest files come from. Thread safety: List() and
// WaitForChange() are called from one thread at a time; Interrupt() from
// any thread.
class ManifestSource {
 public:
  virtual ~ManifestSource() = default;
  // Every manifest file (regular, not hidden, ending .yaml, .yml or .json),
  // sorted by name. An error when the directory cannot be read.
  virtual StatusOr<std::vector<ManifestFile>> List() = 0;
  // Blocks until the files may have changed (true), `timeout` passed
  // (false; milliseconds::max() waits for ever) or Interrupt() was called
  // (false, and every later call returns false at once).
  virtual bool WaitForChange(std::chrono::milliseconds timeout) = 0;
  virtual void Interrupt() = 0;
};

// The real source: the directory `dir`, created (0700) if missing, watched
// with inotify. Fails when the directory cannot be created or watched.
StatusOr<std::unique_ptr<ManifestSource>> OpenManifestDirectory(
    const std::string& dir);

// The file name without its extension ("kube-dns.yaml" -> "kube-dns"): the
// NAME of --disable NAME.
std::string ManifestBaseName(std::string_view file_name);

// Writes the default manifests into `dir` (DESIGN.md §8), as k3s does on
// every start: each default whose base name is not in `disabled` is
// written when the file is missing or differs, unless "<file>.skip" exists
// there (the user's way to keep an edited copy); each disabled default's
// file is removed. Nothing is written when everything is as it should be.
Status WriteDefaultManifests(Env& env, const std::string& dir,
                             const std::vector<ManifestFile>& defaults,
                             const std::vector<std::string>& disabled);

struct ManifestDeployerOptions {
  std::string field_manager = "kite-deployer";
  // Base names (file name without extension) treated as absent.
  std::vector<std::string> disabled;
  // Back-off of files whose objects failed to apply.
  std::chrono::milliseconds min_retry{500};
  std::chrono::milliseconds max_retry{60000};
  // Quiet time after a change before syncing (editors write in steps).
  std::chrono::milliseconds settle{100};
};

class ManifestDeployer {
 public:
  static constexpr char kLabel[] = "kite.io/manifest";
  static constexpr char kFileAnnotation[] = "kite.io/manifest-file";

  // `client`, `registry` and `source` must outlive the deployer.
  ManifestDeployer(client::Interface& client, const api::Registry& registry,
                   ManifestSource& source, ManifestDeployerOptions options);
  ~ManifestDeployer();
  ManifestDeployer(const ManifestDeployer&) = delete;
  ManifestDeployer& operator=(const ManifestDeployer&) = delete;

  // A first Sync() (its failures are logged and retried, not returned),
  // then the watching thread.
  Status Start();
  void Stop();

  // One pass: applies the files whose content changed since they were last
  // applied (or that wait for a retry), then, if anything changed, deletes
  // the labelled objects no file claims. Returns the first error met (the
  // pass still does everything else).
  Status Sync();

  // The label value naming `file_name`.
  static std::string LabelValue(std::string_view file_name);

 private:
  // An object's identity in the cluster: group, resource, namespace, name.
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  struct FileState {
    bool seen = false;     // `content` is set
    std::string content;   // what was last parsed
    bool parsed = false;   // `objects` is from a successful parse
    bool applied = false;  // every object applied
    std::vector<nlohmann::json> manifest;  // its objects, sorted to apply
    std::set<Key> objects;
    std::chrono::milliseconds retry{0};
    std::chrono::steady_clock::time_point retry_at;
  };

  Status SyncFile(const ManifestFile& file, FileState& state, bool* changed);
  Status Prune();
  bool Disabled(const std::string& file_name) const;
  void Run();

  client::Interface& client_;
  const api::Registry& registry_;
  ManifestSource& source_;
  const ManifestDeployerOptions options_;

  std::mutex mu_;  // serializes Sync()
  std::map<std::string, FileState> files_;
  bool scanned_ = false;  // the first prune (a full scan) has run

  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool started_ = false;
};

}  // namespace kite::controllers
