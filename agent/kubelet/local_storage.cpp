#include "agent/kubelet/local_storage.h"

#include <filesystem>
#include <set>
#include <vector>

#include "api/object.h"
#include "common/log.h"

namespace kite::kubelet {

StatusOr<int> CleanupLocalStorage(client::Interface& client,
                                  const std::string& storage_dir,
                                  const std::string& node) {
  namespace fs = std::filesystem;
  // The directories first: one made after this point has a PV that the
  // list below already shows or that is newer than the scan.
  std::vector<std::pair<fs::path, std::string>> dirs;  // path, PV name
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(storage_dir, ec)) {
    std::string name = e.path().filename().string();
    size_t cut = name.find('_');
    if (name.rfind("pvc-", 0) != 0 || cut == std::string::npos) continue;
    if (!e.is_directory(ec) || e.is_symlink(ec)) continue;
    dirs.emplace_back(e.path(), name.substr(0, cut));
  }
  if (dirs.empty()) return 0;
  client::ListOptions opts;
  opts.label_selector = "kite.io/local-path-node=" + node;
  auto list = client.List({"", "v1", "persistentvolumes", ""}, opts);
  if (!list.ok()) return list.status();
  std::set<std::string> alive;
  for (const auto& pv : (*list)["items"]) alive.insert(api::Name(pv));
  int removed = 0;
  for (const auto& [path, pv] : dirs) {
    if (alive.count(pv)) continue;
    fs::remove_all(path, ec);
    if (ec) {
      log::Warn("local-storage", "could not remove volume directory")(
          "path", path.string())("error", ec.message());
      continue;
    }
    log::Info("local-storage", "removed the directory of a deleted volume")(
        "path", path.string())("pv", pv);
    ++removed;
  }
  return removed;
}

}  // namespace kite::kubelet
