#!/usr/bin/env bash
# Writes an OCI image-layout tarball (oci-layout, index.json, blobs: one
# uncompressed layer, the config, the manifest) from a root filesystem
# described on the command line, with nothing but bash, tar and sha256sum.
# `ctr -n k8s.io images import` loads it under NAME (the index carries the
# io.containerd.image.name annotation). Reproducible: fixed mtimes, owners
# and modes, sorted entries, no timestamps in the JSON, so the same inputs
# give the same bytes (and the same image digest) on every build.
#
# usage: images/oci-image.sh -o OUT.tar -n NAME -a ARCH [-V VARIANT]
#          [-E ENTRYPOINT_JSON] [-C CMD_JSON] ITEM...
#   NAME   fully qualified, e.g. registry.local/kite/pause:3.10
#   ARCH   OCI architecture: amd64, arm64 or arm (then -V v7 for armhf)
#   ITEM   what the root filesystem holds, applied in order:
#            file:SRC:DEST[:MODE]  a copy of SRC at DEST (mode default 0755)
#            dir:DEST              a directory (0755)
#            link:TARGET:DEST      a symbolic link DEST -> TARGET
#            busybox:SRC           SRC at /bin/busybox and a symlink to it for
#                                  every applet of `SRC --list-full` (SRC must
#                                  run here: the host's, or through binfmt)
set -euo pipefail

out= name= arch= variant= entrypoint=null cmd=null
while getopts o:n:a:V:E:C: opt; do
  case "$opt" in
    o) out=$OPTARG ;;
    n) name=$OPTARG ;;
    a) arch=$OPTARG ;;
    V) variant=$OPTARG ;;
    E) entrypoint=$OPTARG ;;
    C) cmd=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
die() { echo "oci-image.sh: $*" >&2; exit 1; }
[ -n "$out" ] && [ -n "$name" ] && [ -n "$arch" ] && [ $# -gt 0 ] ||
  die "usage: oci-image.sh -o OUT.tar -n NAME -a ARCH [-V VARIANT] [-E JSON] [-C JSON] ITEM..."
case "$arch" in amd64 | arm64 | arm) ;; *) die "unknown architecture '$arch' (amd64, arm64, arm)" ;; esac
[[ "$name" =~ ^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+:[A-Za-z0-9._-]+$ ]] ||
  die "'$name' is not a fully qualified image name (host/path:tag)"
tag=${name##*:}

work=$(mktemp -d "${out}.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"

add_dir() { mkdir -p "$root/$1"; }
for item in "$@"; do
  IFS=: read -r kind a b c <<<"$item"
  case "$kind" in
    file)
      [ -f "$a" ] || die "no such file: $a"
      add_dir "$(dirname "$b")"
      cp "$a" "$root/$b"
      chmod "${c:-0755}" "$root/$b" ;;
    dir) add_dir "$a" ;;
    link)
      add_dir "$(dirname "$b")"
      ln -sfn "$a" "$root/$b" ;;
    busybox)
      [ -x "$a" ] || die "no busybox at $a"
      if command -v readelf >/dev/null && readelf -l "$a" | grep -q INTERP; then
        die "$a is dynamically linked: the image needs Debian's busybox-static"
      fi
      add_dir bin
      cp "$a" "$root/bin/busybox"
      chmod 0755 "$root/bin/busybox"
      applets=$("$a" --list-full) || die "$a --list-full failed (a busybox of another architecture?)"
      [ -n "$applets" ] || die "$a lists no applets"
      while read -r applet; do
        [ -n "$applet" ] && [ "$applet" != bin/busybox ] || continue
        add_dir "$(dirname "$applet")"
        ln -sfn /bin/busybox "$root/$applet"
      done <<<"$applets" ;;
    *) die "unknown item '$item'" ;;
  esac
done
find "$root" -type d -exec chmod 0755 {} +

# A deterministic tar: sorted names, mtime 0, root-owned, GNU format (no pax
# atime/ctime records), 512-byte records so small images stay small.
det_tar() {
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    --blocking-factor=1 -C "$1" -cf "$2" "${@:3}"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
blobs=$work/layout/blobs/sha256
mkdir -p "$blobs"
# Adds file $1 as a blob; sets $digest and $bytes.
add_blob() {
  digest=$(sha "$1")
  bytes=$(size "$1")
  mv "$1" "$blobs/$digest"
}

det_tar "$root" "$work/layer.tar" .
add_blob "$work/layer.tar"
layer_digest=$digest layer_size=$bytes

platform="\"architecture\":\"$arch\",\"os\":\"linux\""
[ -z "$variant" ] || platform+=",\"variant\":\"$variant\""
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
printf '{%s,"config":{"Env":["PATH=%s"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"kite images/oci-image.sh"}]}' \
  "$platform" "$path" "$entrypoint" "$cmd" "$layer_digest" >"$work/config.json"
add_blob "$work/config.json"
config_digest=$digest config_size=$bytes

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest.json"
add_blob "$work/manifest.json"

printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"},"platform":{%s}}]}' \
  "$digest" "$bytes" "$name" "$tag" "$platform" >"$work/layout/index.json"
find "$work/layout" -type d -exec chmod 0755 {} +
find "$work/layout" -type f -exec chmod 0644 {} +

det_tar "$work/layout" "$work/image.tar" oci-layout index.json blobs
mv "$work/image.tar" "$out"
