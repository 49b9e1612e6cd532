#!/usr/bin/env bash
# Builds the sysroot kite cross-compiles against: Debian's -dev packages of the
# target architecture, fetched with `apt-get download NAME:ARCH` and unpacked
# with `dpkg -x` (DESIGN.md §3; never `apt-get install` of :arm64/:armhf
# packages). See cross/README.md.
#
# usage: cross/sysroot.sh arm64|armhf [DIR]     (default DIR: .deps/sysroot-ARCH)
#
# apt runs with a private configuration and state in a temporary directory
# (its own sources, lists, cache, an empty dpkg status, and ARCH as the only
# architecture), so the system's apt and dpkg setup (including dpkg's foreign
# architecture list) is left untouched. Idempotent: when DIR already holds a
# sysroot made from the same package list, nothing is downloaded. The sysroot
# is assembled beside DIR and renamed into place, so an interrupted run never
# leaves a half-built one behind. Concurrent runs for one DIR are serialized.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${1:-}
case "$arch" in
  arm64 | armhf) ;;
  *) echo "usage: cross/sysroot.sh arm64|armhf [DIR]" >&2; exit 2 ;;
esac
dir=${2:-.deps/sysroot-$arch}

# Static archives and headers only: every .a we link lives in its -dev package,
# so the runtime library packages (libmbedtls14, libsqlite3-0, ...) are not
# needed. nlohmann-json3-dev is Architecture: all.
pkgs=(libsqlite3-dev:$arch libmbedtls-dev:$arch libyaml-cpp-dev:$arch libuv1-dev:$arch
      libnghttp2-dev:$arch zlib1g-dev:$arch libgtest-dev:$arch libgmock-dev:$arch
      nlohmann-json3-dev)
stamp_name=.kite-sysroot
want="kite sysroot v1: ${pkgs[*]}"

if [ -f "$dir/$stamp_name" ] && [ "$(head -1 "$dir/$stamp_name")" = "$want" ]; then
  exit 0
fi

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
# Another run may have finished it while we waited for the lock.
if [ -f "$dir/$stamp_name" ] && [ "$(head -1 "$dir/$stamp_name")" = "$want" ]; then
  exit 0
fi

echo "sysroot.sh: building $dir from Debian's $arch packages"
work=$(mktemp -d)
new="$dir.new.$$"
trap 'rm -rf "$work" "$new"' EXIT
mkdir -p "$work/sources.list.d" "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
cp /etc/apt/sources.list.d/debian.sources "$work/sources.list.d/"
: >"$work/status"
cat >"$work/apt.conf" <<EOF
#clear APT::Architectures;
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
Dir::Etc::SourceParts "$work/sources.list.d";
Dir::Etc::SourceList "/dev/null";
Dir::State::Lists "$work/lists";
Dir::State::status "$work/status";
Dir::Cache "$work/cache";
APT::Sandbox::User "root";
EOF
apt=(apt-get -c "$work/apt.conf" -qq)

# A mirror caught mid-sync can fail one index (seen here: bookworm-security's
# armhf list); carry on with the others, the download below names what is missing.
if ! "${apt[@]}" update; then
  echo "sysroot.sh: warning: apt-get update did not fetch every index; continuing" >&2
fi
(cd "$work/debs" && "${apt[@]}" download "${pkgs[@]}")

mkdir -p "$new"
for deb in "$work"/debs/*.deb; do
  dpkg -x "$deb" "$new"
  dpkg-deb -W --showformat='${Package} ${Version} ${Architecture}\n' "$deb" >>"$work/manifest"
done
# Documentation and googletest's sources are not needed to build.
rm -rf "$new/usr/share/doc" "$new/usr/share/man" "$new/usr/src"
{
  echo "$want"
  sort "$work/manifest"
} >"$new/$stamp_name"

rm -rf "$dir"
mv "$new" "$dir"
echo "sysroot.sh: $dir ready:"
sed 1d "$dir/$stamp_name" | sed 's/^/  /'
