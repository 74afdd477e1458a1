#!/bin/sh
# Run the Python module's tests (test_ipc.py) with the interpreter it was built for.
#   run.sh build   PYTHON TESTS PKGDIR                         the build tree
#   run.sh install PYTHON TESTS BUILDDIR SITEDIR on-path|off-path LIBDIR
# "install" stages `meson install` (DESTDIR), checks what it installed (the
# package in SITEDIR, linked to libipc.so.0 rather than holding a copy, and
# SITEDIR on the interpreter's own sys.path when meson chose it from there),
# then runs the same tests against the staged copy and staged libipc.so.
# Exit 0 pass, 1 fail, 77 skip (with the reason printed).
set -u
mode=$1 py=$2 tests=$3
skip() { echo "SKIP: $*"; exit 77; }
die() { echo "FAIL: $*"; exit 1; }

case ${IPC_PY_SANITIZE:-none} in
*thread*) skip "ThreadSanitizer cannot be preloaded into an uninstrumented python3" ;;
*memory*) skip "MemorySanitizer needs an instrumented python3" ;;
esac
case ${LD_PRELOAD:-} in
*vgpreload*) skip "under valgrind: CPython's allocator needs a suppression file and" \
                  "runs the suite too slowly to be useful" ;;
esac
# An ASan-built module: the runtime must be the first library of the process.
preload=
if [ -n "${IPC_PY_PRELOAD:-}" ]; then
	[ -e "$IPC_PY_PRELOAD" ] || skip "ASan build, but no $IPC_PY_PRELOAD to preload"
	preload="LD_PRELOAD=$IPC_PY_PRELOAD"
	export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ipc-py.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP

if [ "$mode" = build ]; then
	cd "$work" && exec env $preload PYTHONPATH="$4" "$py" "$tests"
fi

build=$4 site=$5 onpath=$6 libdir=$7
command -v meson > /dev/null 2>&1 || skip "meson not on PATH"
stage=$work/stage
timeout 300 meson install -C "$build" --no-rebuild --destdir "$stage" > "$work/install.log" 2>&1 ||
	{ cat "$work/install.log"; die "meson install --destdir failed"; }
so=$(ls "$stage$site"/ipc/_ipc*.so 2> /dev/null | head -n 1)
[ -n "$so" ] || die "no ipc/_ipc*.so in $stage$site: $(cat "$work/install.log")"
for f in __init__.py asyncio.py __init__.pyi py.typed; do
	[ -e "$stage$site/ipc/$f" ] || die "ipc/$f was not installed"
done
# It links the library; it does not carry a copy.
readelf -d "$so" | grep -q 'NEEDED.*\[libipc\.so\.0\]' || die "$so does not link libipc.so.0"
if nm -D --defined-only "$so" | grep -q ' T ipc_'; then
	die "$so defines ipc_* functions: a copy of the library is inside"
fi
if [ "$onpath" = on-path ]; then
	env -u PYTHONPATH "$py" -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "$site" ||
		die "$site is not on $py's sys.path: import ipc would fail after meson install"
	echo "ok: $site is on $py's sys.path"
fi
cd "$work" || exit 1
env $preload PYTHONPATH="$stage$site" LD_LIBRARY_PATH="$stage$libdir" "$py" -c '
import ipc, sys
stage = sys.argv[1]
assert ipc.__file__.startswith(stage), ipc.__file__
libs = {l.split()[-1] for l in open("/proc/self/maps") if "libipc.so" in l}
assert libs and all(l.startswith(stage) for l in libs), libs
print("ok: import ipc from", ipc.__file__, "with", *libs, "version", ipc.version())
' "$stage" || die "the staged module did not load from the staging directory"
exec env $preload PYTHONPATH="$stage$site" LD_LIBRARY_PATH="$stage$libdir" "$py" "$tests"
