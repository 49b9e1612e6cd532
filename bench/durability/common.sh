# Shared by bench/crash.sh, bench/disk.sh and bench/idle.sh (sourced, not run).
#
#   dur_build TARGET...          install missing Debian packages (scripts/deps.sh),
#                                configure (once) and build in $BUILD_DIR
#   dur_machine                  "nproc=2, kernel ..., cpu ..." for the README
#   dur_code                     "commit <sha>" (and whether datastore/ is modified)
#   dur_readme_section TITLE F   put file F as section TITLE into bench/README.md
#
# Sections are replaced in place when present; a new one goes just above
# "## Datastore (bench/datastore.sh)", which must stay last in the file (its
# last line is machine-read), or at the end when that section is not there.

KITE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build-bench}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$KITE_ROOT/$BUILD_DIR" ;; esac
JOBS="${JOBS:-2}"
README="$KITE_ROOT/bench/README.md"

dur_build() {
  # The default configure builds the tests too, so it needs GoogleTest.
  "$KITE_ROOT/scripts/deps.sh" build test >&2
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$KITE_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$BUILD_DIR" -j "$JOBS" --target "$@" >/dev/null
}

dur_machine() {
  local cpu
  cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "nproc=$(nproc), kernel $(uname -r) ($(uname -m)), ${cpu:-unknown cpu}, $(df -hT "${TMPDIR:-/tmp}" | awk 'NR==2 {print $2 " filesystem under " $7}')"
}

# The commit measured, and whether datastore/ had local changes on top.
dur_code() {
  local rev dirty=""
  rev="$(git -C "$KITE_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  if [ -n "$(git -C "$KITE_ROOT" status --porcelain -- datastore 2>/dev/null)" ]; then
    dirty=" with local changes in datastore/"
  fi
  echo "commit $rev$dirty"
}

dur_readme_section() {
  local title="$1" body="$2" tmp
  [ -f "$README" ] || printf '# kite benchmarks\n\nEach script in bench/ measures one budget of DESIGN.md §9 and records its\nresults here, with the command and the machine.\n' >"$README"
  tmp="$(mktemp "$README.XXXXXX")"
  awk -v title="$title" -v body="$body" -v last="## Datastore (bench/datastore.sh)" '
    function emit() {
      if (prev != "") print ""
      while ((getline line < body) > 0) print line
      close(body)
      print ""
      prev = ""
      done = 1
    }
    /^## / {
      skipping = 0
      if ($0 == title) { if (!done) emit(); skipping = 1; next }
      if ($0 == last && !done) emit()
    }
    skipping { next }
    { print; prev = $0 }
    END { if (!done) emit() }
  ' "$README" >"$tmp"
  # No blank line at the very end of the file.
  sed -i -e ':a' -e '/^\n*$/{$d;N;ba' -e '}' "$tmp"
  mv "$tmp" "$README"
}
