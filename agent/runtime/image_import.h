// ImportImages: the air-gap path (DESIGN.md §7): every image tarball in the
// agent's images folder is loaded into containerd's k8s.io namespace with
// containerd's own `ctr images import` (the CRI has no import call), so pods
// find their images without any pull.
//
//   ImportOptions o;
//   o.images_dir = data_dir + "/agent/images";
//   o.stamp_path = data_dir + "/agent/containerd/imported-images.json";
//   o.address = containerd.socket_path();
//   StatusOr<ImportReport> r = ImportImages(o, RealHost(), RealEnv(), runtime);
//
// kite's own pause image is written into the folder first (as
// kite-pause.tar) when it is missing or differs from the embedded one. Then
// each *.tar, in name order, is imported unless the stamp file says it was,
// with the same size and mtime, and `runtime` (when given) still lists every
// image it brought under the same image id (config digest): a restart costs a
// few stats and ImageStatus calls, and wiping containerd's root re-imports. A
// tarball ctr rejects is reported (log line and ImportReport::failed) and the
// others go on. Files gone from the folder are dropped from the stamp; their
// images stay in containerd.
//
// Thread safety: a free function; do not run two imports for one folder at
// once.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/cri/runtime.h"
#include "agent/runtime/host.h"
#include "common/env.h"
#include "common/status.h"

namespace kite::runtime {

struct ImportOptions {
  std::string images_dir;  // required: <data-dir>/agent/images
  std::string stamp_path;  // required: what was imported (JSON)
  std::string address;     // required: containerd's socket path
  std::string ctr_path = "/usr/bin/ctr";
  std::chrono::milliseconds timeout{120000};  // per tarball
  // Written as images_dir/pause_name first; empty: the embedded pause image
  // (images::PauseImageTarball()). write_pause=false skips it.
  bool write_pause = true;
  std::string_view pause_tarball;
  std::string pause_name;  // default images::kPauseTarballName
};

struct ImportedImage {
  std::string name;    // "registry.local/busybox:latest"
  std::string digest;  // its manifest digest "sha256:...", as ctr printed it
  std::string id;      // the CRI's image id (config digest); "" if unknown
};

struct ImportReport {
  std::vector<std::string> imported;  // file names imported now
  std::vector<std::string> skipped;   // file names already imported
  std::vector<std::pair<std::string, std::string>> failed;  // file name, why
  std::vector<ImportedImage> images;  // images of imported + skipped files
};

// Fails only when the folder cannot be created or read, or the pause
// tarball cannot be written; a bad tarball is in ImportReport::failed.
// `runtime` may be null (then the stamp alone decides).
StatusOr<ImportReport> ImportImages(const ImportOptions& options, Host& host,
                                    Env& env, cri::Runtime* runtime);

// The images a `ctr images import` run reports ("unpacking NAME
// (sha256:...)...done" lines).
std::vector<ImportedImage> ParseCtrImportOutput(std::string_view output);

}  // namespace kite::runtime
