#include "agent/runtime/image_import.h"

#include <map>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "images/images.h"

namespace kite::runtime {
namespace {

constexpr char kComponent[] = "images";

struct StampEntry {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::vector<ImportedImage> images;
};
using Stamp = std::map<std::string, StampEntry>;  // by file name

Stamp ParseStamp(const std::string& text) {
  Stamp stamp;
  nlohmann::json j =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_object())
    return stamp;
  for (const auto& [file, e] : j["files"].items()) {
    if (!e.is_object()) continue;
    StampEntry entry;
    entry.size = e.value("size", uint64_t{0});
    entry.mtime_ns = e.value("mtimeNs", int64_t{0});
    if (e.contains("images") && e["images"].is_array()) {
      for (const auto& i : e["images"]) {
        if (!i.is_object()) continue;
        entry.images.push_back(
            {i.value("name", ""), i.value("digest", ""), i.value("id", "")});
      }
    }
    stamp[file] = std::move(entry);
  }
  return stamp;
}

std::string RenderStamp(const Stamp& stamp) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [file, e] : stamp) {
    nlohmann::json images = nlohmann::json::array();
    for (const ImportedImage& i : e.images)
      images.push_back({{"name", i.name}, {"digest", i.digest}, {"id", i.id}});
    files[file] = {
        {"size", e.size}, {"mtimeNs", e.mtime_ns}, {"images", images}};
  }
  nlohmann::json j = {{"version", 1}, {"files", files}};
  return j.dump(2) + "\n";
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Whether containerd still has every image `entry` brought, with the same
// image id where one was recorded (ids missing so far are filled in).
bool StillPresent(StampEntry& entry, cri::Runtime* runtime) {
  if (runtime == nullptr) return true;
  for (ImportedImage& want : entry.images) {
    StatusOr<std::optional<cri::Image>> got = runtime->ImageStatus(want.name);
    if (!got.ok() || !got->has_value()) return false;
    if (want.id.empty()) {
      want.id = (*got)->id;
    } else if ((*got)->id != want.id) {
      return false;
    }
  }
  return true;
}

// The CRI's ids of freshly imported images ("" when it does not list one).
void FillIds(std::vector<ImportedImage>& images, cri::Runtime* runtime) {
  if (runtime == nullptr) return;
  for (ImportedImage& image : images) {
    StatusOr<std::optional<cri::Image>> got = runtime->ImageStatus(image.name);
    if (got.ok() && got->has_value()) image.id = (*got)->id;
  }
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status WritePause(const ImportOptions& options, Env& env) {
  std::string_view tarball = options.pause_tarball.empty()
                                 ? images::PauseImageTarball()
                                 : options.pause_tarball;
  std::string name = options.pause_name.empty()
                         ? std::string(images::kPauseTarballName)
                         : options.pause_name;
  std::string path = options.images_dir + "/" + name;
  StatusOr<std::string> old = env.ReadFile(path);
  if (old.ok() && *old == tarball) return Status::Ok();
  log::Info(kComponent, "writing the pause image")("path", path)(
      "bytes", tarball.size());
  return env.WriteFileAtomic(path, std::string(tarball), 0644);
}

}  // namespace

std::vector<ImportedImage> ParseCtrImportOutput(std::string_view output) {
  std::vector<ImportedImage> images;
  constexpr std::string_view kUnpacking = "unpacking ";
  size_t pos = 0;
  while ((pos = output.find(kUnpacking, pos)) != std::string_view::npos) {
    size_t name_begin = pos + kUnpacking.size();
    size_t name_end = output.find(" (", name_begin);
    size_t line_end = output.find('\n', name_begin);
    pos = name_begin;
    if (name_end == std::string_view::npos || name_end > line_end) continue;
    size_t digest_end = output.find(')', name_end);
    if (digest_end == std::string_view::npos || digest_end > line_end) continue;
    ImportedImage image;
    image.name = std::string(output.substr(name_begin, name_end - name_begin));
    image.digest =
        std::string(output.substr(name_end + 2, digest_end - name_end - 2));
    if (image.name.find(' ') == std::string::npos)
      images.push_back(std::move(image));
  }
  return images;
}

StatusOr<ImportReport> ImportImages(const ImportOptions& options, Host& host,
                                    Env& env, cri::Runtime* runtime) {
  if (options.images_dir.empty() || options.stamp_path.empty() ||
      options.address.empty()) {
    return InvalidArgumentError(
        "image import: images_dir, stamp_path and address are required");
  }
  KITE_RETURN_IF_ERROR(env.MakeDirs(options.images_dir, 0755));
  if (options.write_pause) KITE_RETURN_IF_ERROR(WritePause(options, env));
  KITE_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        host.ListDir(options.images_dir));

  Stamp old_stamp;
  if (StatusOr<std::string> text = env.ReadFile(options.stamp_path);
      text.ok()) {
    old_stamp = ParseStamp(*text);
  }
  Stamp stamp;
  ImportReport report;
  for (const std::string& name : names) {
    if (!EndsWith(name, ".tar")) continue;
    std::string path = options.images_dir + "/" + name;
    StatusOr<FileInfo> info = host.Stat(path);
    if (!info.ok()) {
      report.failed.emplace_back(name, info.status().message());
      continue;
    }
    auto it = old_stamp.find(name);
    if (it != old_stamp.end() && it->second.size == info->size &&
        it->second.mtime_ns == info->mtime_ns &&
        StillPresent(it->second, runtime)) {
      stamp[name] = it->second;
      report.skipped.push_back(name);
      report.images.insert(report.images.end(), it->second.images.begin(),
                           it->second.images.end());
      continue;
    }
    std::vector<std::string> argv = {
        options.ctr_path, "--address", options.address,   "-n", "k8s.io",
        "images",         "import",    "--all-platforms", path};
    StatusOr<RunResult> run = host.Run(argv, options.timeout);
    std::string why;
    if (!run.ok()) {
      why = run.status().message();
    } else if (run->exit_code != 0) {
      why = "ctr exited with " + std::to_string(run->exit_code) + ": " +
            Trimmed(run->output);
    }
    if (!why.empty()) {
      log::Error(kComponent, "cannot import image tarball")("file", path)(
          "error", why);
      report.failed.emplace_back(name, why);
      continue;
    }
    StampEntry entry;
    entry.size = info->size;
    entry.mtime_ns = info->mtime_ns;
    entry.images = ParseCtrImportOutput(run->output);
    FillIds(entry.images, runtime);
    std::string list;
    for (const ImportedImage& i : entry.images)
      list += (list.empty() ? "" : ",") + i.name;
    log::Info(kComponent, "imported")("file", path)("images", list);
    report.imported.push_back(name);
    report.images.insert(report.images.end(), entry.images.begin(),
                         entry.images.end());
    stamp[name] = std::move(entry);
  }
  std::string text = RenderStamp(stamp);
  StatusOr<std::string> old_text = env.ReadFile(options.stamp_path);
  if (!old_text.ok() || *old_text != text) {
    if (Status st = env.WriteFileAtomic(options.stamp_path, text, 0644);
        !st.ok()) {
      // Only costs a re-import at the next start.
      log::Warn(kComponent, "cannot write the import stamp")(
          "path", options.stamp_path)("error", st.message());
    }
  }
  return report;
}

}  // namespace kite::runtime
