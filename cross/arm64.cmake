# CMake toolchain file: 64-bit ARM (Debian arm64), e.g. Raspberry Pi 4/5 on a
# 64-bit OS. Usage: cmake -DCMAKE_TOOLCHAIN_FILE=cross/arm64.cmake (see
# cross/README.md; `make cross-arm64` does it all).
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(KITE_CROSS_DEB_ARCH arm64)
set(KITE_CROSS_TRIPLET aarch64-linux-gnu)
set(KITE_CROSS_QEMU qemu-aarch64-static)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
