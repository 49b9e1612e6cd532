#!/usr/bin/env bash
# Prints the size of each stripped kite binary and fails when one is larger
# than the limit (DESIGN.md §9: at most 10 MB each). Sizes are in decimal MB
# (1 MB = 1,000,000 bytes), the stricter reading of "10 MB".
#
# usage: cross/size.sh LIMIT_BYTES NAME=FILE...
#   e.g. cross/size.sh 10000000 kite-x86_64=build-size/kite kite-arm64=build-arm64/kite
set -euo pipefail

limit=${1:?usage: cross/size.sh LIMIT_BYTES NAME=FILE...}
shift
[ $# -gt 0 ] || { echo "usage: cross/size.sh LIMIT_BYTES NAME=FILE..." >&2; exit 2; }

status=0
for pair in "$@"; do
  name=${pair%%=*}
  file=${pair#*=}
  if [ ! -f "$file" ]; then
    echo "$name: missing ($file)" >&2
    status=1
    continue
  fi
  bytes=$(stat -c %s "$file")
  verdict=
  if [ "$bytes" -gt "$limit" ]; then
    verdict="  TOO LARGE (limit $limit bytes)"
    status=1
  fi
  awk -v n="$name" -v b="$bytes" -v f="$file" -v v="$verdict" \
    'BEGIN { printf "%s: %.1f MB (%d bytes, %s)%s\n", n, b / 1e6, b, f, v }'
done
exit $status
