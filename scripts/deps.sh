#!/usr/bin/env bash
# Installs what building and testing kite needs on Debian 12, as root, and
# unpacks cpp-httplib from Debian's source package into .deps/ (see
# DESIGN.md §3: Debian's binary package is not header-only). Idempotent: a
# second run installs nothing and downloads nothing.
#
# usage: scripts/deps.sh [build|test|agent|bench|cross|fuzz]...   (default: build test)
set -euo pipefail
cd "$(dirname "$0")/.."

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build test)

pkgs=()
for g in "${groups[@]}"; do
  case "$g" in
    build) pkgs+=(cmake make g++ ccache dpkg-dev libsqlite3-dev libmbedtls-dev libyaml-cpp-dev
                  libuv1-dev nlohmann-json3-dev libnghttp2-dev zlib1g-dev) ;;
    test)  pkgs+=(libgtest-dev libgmock-dev sqlite3 curl procps etcd-server dnsutils) ;;
    # What the agent runs (DESIGN.md §3) and what make builds its images from
    # (images/: busybox-static is the test image's payload).
    agent) pkgs+=(containerd runc containernetworking-plugins busybox-static iptables nftables) ;;
    bench) pkgs+=(libbenchmark-dev etcd-server sqlite3 procps) ;;
    fuzz)  pkgs+=(clang-14 libclang-rt-14-dev) ;;  # libFuzzer, ASan, UBSan (make fuzz)
    cross) pkgs+=(g++-aarch64-linux-gnu g++-arm-linux-gnueabihf binutils-aarch64-linux-gnu
                  binutils-arm-linux-gnueabihf qemu-user-static dpkg-dev) ;;
    *) echo "deps.sh: unknown group '$g' (build, test, agent, bench, cross or fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# cpp-httplib, header-only, from Debian's source package, with a private apt
# state so the system's apt configuration is left untouched.
httplib=.deps/cpp-httplib
if [ ! -f "$httplib/httplib.h" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/sources.list.d" "$work/lists/partial"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
    > "$work/sources.list.d/debian-src.sources"
  apt_opts=(-o "Dir::Etc::SourceParts=$work/sources.list.d" -o "Dir::Etc::SourceList=/dev/null"
            -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" source --download-only -qq cpp-httplib >/dev/null)
  dsc=$(ls "$work"/cpp-httplib_*.dsc | head -1)
  (cd "$work" && dpkg-source --no-check -x "$dsc" src >/dev/null)
  mkdir -p "$httplib"
  cp "$work/src/httplib.h" "$work/src/LICENSE" "$httplib/"
  grep -m1 -o 'CPPHTTPLIB_VERSION "[^"]*"' "$httplib/httplib.h"
fi
