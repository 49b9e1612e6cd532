#!/usr/bin/env bash
# Configures (once) and builds kite targets for one architecture; the Makefile's
# cross-arm64, cross-armhf, test-cross and size targets call it. See
# cross/README.md.
#
# usage: cross/build.sh [-B DIR] arm64|armhf|host TARGET...
#   arm64, armhf: cross-compiled with cross/ARCH.cmake against the sysroot of
#                 cross/sysroot.sh, in DIR (default build-ARCH), tests included,
#                 benchmarks left out.
#   host:         a release build of the native architecture without tests or
#                 benchmarks, in DIR (default build-size).
# When TARGET includes kite, DIR/kite is the stripped copy of DIR/cmd/kite,
# checked to be static and stripped.
#
# Environment: CROSS_JOBS (default 2) parallel jobs; CROSS_CMAKE_FLAGS extra
# flags for the first configure of DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=
if [ "${1:-}" = -B ]; then
  dir=$2
  shift 2
fi
arch=${1:-}
shift || true
[ $# -gt 0 ] || { echo "usage: cross/build.sh [-B DIR] arm64|armhf|host TARGET..." >&2; exit 2; }

flags=(-DCMAKE_BUILD_TYPE=Release -DKITE_BUILD_BENCH=OFF)
case "$arch" in
  arm64) triplet=aarch64-linux-gnu ;;
  armhf) triplet=arm-linux-gnueabihf ;;
  host) triplet= ;;
  *) echo "cross/build.sh: unknown architecture '$arch' (arm64, armhf or host)" >&2; exit 2 ;;
esac
if [ -n "$triplet" ]; then
  dir=${dir:-build-$arch}
  cross/sysroot.sh "$arch"
  flags+=(-DCMAKE_TOOLCHAIN_FILE=cross/$arch.cmake)
  strip=$triplet-strip
  readelf=$triplet-readelf
else
  dir=${dir:-build-size}
  flags+=(-DKITE_BUILD_TESTS=OFF)
  strip=strip
  readelf=readelf
fi

# Configure once; again only when an earlier configure did not finish
# (afterwards `cmake --build` re-runs it by itself when CMakeLists change).
if [ ! -f "$dir/CMakeCache.txt" ] || { [ ! -f "$dir/Makefile" ] && [ ! -f "$dir/build.ninja" ]; }; then
  # shellcheck disable=SC2086  # CROSS_CMAKE_FLAGS is a list of words
  cmake -S . -B "$dir" "${flags[@]}" ${CROSS_CMAKE_FLAGS:-}
fi
cmake --build "$dir" -j "${CROSS_JOBS:-2}" --target "$@"

for t in "$@"; do
  [ "$t" = kite ] || continue
  "$strip" --strip-all -o "$dir/kite.tmp" "$dir/cmd/kite"
  if "$readelf" -l "$dir/kite.tmp" | grep -q INTERP; then
    echo "cross/build.sh: $dir/cmd/kite is dynamically linked" >&2
    exit 1
  fi
  if "$readelf" -S "$dir/kite.tmp" | grep -q '\.symtab'; then
    echo "cross/build.sh: $dir/kite still has a symbol table" >&2
    exit 1
  fi
  mv "$dir/kite.tmp" "$dir/kite"
  echo "cross/build.sh: $dir/kite ($arch, static, stripped): $(stat -c %s "$dir/kite") bytes"
done
