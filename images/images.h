// The container images kite builds itself (images/CMakeLists.txt), as far
// as code needs them: kite's pause image, embedded in the binary so the
// agent can always write it into <data-dir>/agent/images/ and import it
// (nothing is ever pulled; DESIGN.md §3).
//
// Thread safety: constants and a pure function over static data; use from
// any thread.
#pragma once

#include <string_view>

namespace kite::images {

// The sandbox ("pause") image's name, as containerd lists it and as the
// CRI's sandbox_image must name it.
inline constexpr std::string_view kPauseImage = KITE_PAUSE_IMAGE;

// The file name the agent gives the embedded tarball in its images folder.
inline constexpr std::string_view kPauseTarballName = "kite-pause.tar";

// The pause image as an OCI image-layout tarball (images/oci-image.sh) for
// the architecture kite was built for. The bytes are static data that live
// as long as the process.
std::string_view PauseImageTarball();

}  // namespace kite::images
