# Shared part of the cross toolchain files (cross/arm64.cmake,
# cross/armhf.cmake); see cross/README.md. The including file sets
# KITE_CROSS_DEB_ARCH (Debian's name), KITE_CROSS_TRIPLET (the GNU triplet of
# Debian's cross compiler and multiarch directory), CMAKE_SYSTEM_PROCESSOR and
# KITE_CROSS_QEMU, and may set KITE_CROSS_FLAGS (compiler flags).
#
# The compiler keeps its own C and C++ runtime (Debian's libc6-dev-*-cross and
# libstdc++-12-dev-*-cross under /usr/<triplet>); CMAKE_SYSROOT (gcc --sysroot)
# replaces only /usr/include and /usr/lib/<triplet>, so the third-party headers
# and static archives come from the sysroot of Debian -dev packages made by
# cross/sysroot.sh, never from the host.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${KITE_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${KITE_CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${KITE_CROSS_TRIPLET})

# The sysroot: .deps/sysroot-<arch> unless the environment names another.
if(DEFINED ENV{KITE_SYSROOT})
  set(KITE_SYSROOT "$ENV{KITE_SYSROOT}")
else()
  get_filename_component(KITE_SYSROOT
    "${CMAKE_CURRENT_LIST_DIR}/../.deps/sysroot-${KITE_CROSS_DEB_ARCH}" ABSOLUTE)
endif()
if(NOT EXISTS "${KITE_SYSROOT}/.kite-sysroot")
  message(FATAL_ERROR "no sysroot in ${KITE_SYSROOT}: run cross/sysroot.sh ${KITE_CROSS_DEB_ARCH}")
endif()
set(CMAKE_SYSROOT "${KITE_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH "${KITE_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# GCC's notes that the ARM parameter-passing ABI changed in GCC 7.1/9.1 do not
# concern us: everything is built by the one gcc 12. KITE_CROSS_FLAGS holds
# the architecture's own flags. (This file is read several times per
# configure, so set, never append.)
set(CMAKE_C_FLAGS_INIT "-Wno-psabi ${KITE_CROSS_FLAGS}")
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi ${KITE_CROSS_FLAGS}")

# Every cross-built executable, tests included, is static: it runs under
# qemu-user with no target libraries at hand, and ctest runs it through qemu.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
find_program(KITE_CROSS_QEMU_PATH ${KITE_CROSS_QEMU})
if(KITE_CROSS_QEMU_PATH)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${KITE_CROSS_QEMU_PATH}")
endif()
