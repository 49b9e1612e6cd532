# CMake toolchain file: 32-bit ARM with hardware floating point (Debian armhf,
# ARMv7), e.g. Raspberry Pi 2/3 on a 32-bit OS. Usage: cmake
# -DCMAKE_TOOLCHAIN_FILE=cross/armhf.cmake (see cross/README.md;
# `make cross-armhf` does it all).
set(CMAKE_SYSTEM_PROCESSOR arm)
set(KITE_CROSS_DEB_ARCH armhf)
set(KITE_CROSS_TRIPLET arm-linux-gnueabihf)
set(KITE_CROSS_QEMU qemu-arm-static)
# 64-bit off_t and struct stat, as Debian builds libuv (its public uv_fs_t
# holds an off_t: a 32-bit off_t in our code would not match the library) and
# SQLite. time_t stays 32-bit: Debian 12's armhf libraries are built that way
# (mbedTLS keeps time_t in its session structs), so -D_TIME_BITS=64 would
# break their ABI (cross/README.md).
set(KITE_CROSS_FLAGS "-D_FILE_OFFSET_BITS=64")
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
