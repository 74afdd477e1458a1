#!/bin/sh
# The examples against the INSTALLED library, never the build tree:
#   1. meson install into a staging directory (DESTDIR, no root needed);
#   2. build examples/ from it with make + pkg-config, the staging dir as the
#      pkg-config sysroot, and check that every compile line points there;
#   3. build pipe-parent-child.c again as a program outside the tree, with a
#      bare `cc ... $(pkg-config --cflags --libs ipc)`: the "outside program
#      can ipc_pipe + fork and exchange messages" check of issue 2;
#   4. run every examples/check-*.sh with the binaries' directory as $1 and
#      LD_LIBRARY_PATH at the staged lib dir; every example must be run by one.
# Usage: examples.sh BUILDDIR SRCDIR [B_SANITIZE] [MESON]
# Exit 0 pass, 1 fail, 77 skip (a tool this machine lacks).
set -u

build=$(cd "${1:?usage: examples.sh BUILDDIR SRCDIR [B_SANITIZE] [MESON]}" && pwd) || exit 1
src=$(cd "${2:?usage: examples.sh BUILDDIR SRCDIR [B_SANITIZE] [MESON]}" && pwd) || exit 1
sanitize=${3:-none}
meson=${4:-meson}
[ -n "$meson" ] || meson=meson

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "FAIL: $*"; exit 1; }

for tool in "$meson" make pkg-config "${CC:-cc}" timeout; do
	command -v "$tool" > /dev/null 2>&1 || skip "$tool not found"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/ipc-examples.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
stage=$work/stage
bin=$work/bin

# 1. Stage the install. --no-rebuild: meson test has already built it.
timeout 300 "$meson" install -C "$build" --no-rebuild --destdir "$stage" \
	> "$work/install.log" 2>&1 ||
	{ cat "$work/install.log"; die "meson install --destdir failed"; }
pc=$(find "$stage" -path '*/pkgconfig/ipc.pc' | head -n 1)
[ -n "$pc" ] || die "no ipc.pc in the staged install"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
[ -e "$libdir/libipc.so" ] || die "no libipc.so next to $pc"
[ -e "$libdir/libipc.so.0" ] || die "no libipc.so.0 (soname link) next to $pc"

# ipcat is installed with the library, with its man page; the check
# scripts run that copy (examples/check-ipcat.sh).
IPCAT=$(find "$stage" -path '*/bin/ipcat' -type f | head -n 1)
[ -n "$IPCAT" ] && [ -x "$IPCAT" ] || die "no bin/ipcat in the staged install"
[ -n "$(find "$stage" -path '*/man1/ipcat.1*' | head -n 1)" ] ||
	die "no man1/ipcat.1 in the staged install"
export IPCAT

# Only the staged ipc.pc: PKG_CONFIG_LIBDIR replaces the default search
# path, so a copy installed in /usr/local earlier cannot be picked up.
# The system's own directories (never /usr/local) come after it, for what
# ipc.pc requires privately (libssl, libcrypto with TLS).
sys_pc=$(pkg-config --variable pc_path pkg-config | tr ':' '\n' | grep -v '^/usr/local' |
	tr '\n' ':')
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="$pcdir:${sys_pc%:}"
export PKG_CONFIG_SYSROOT_DIR="$stage"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# A sanitized libipc.so needs the sanitizer runtime loaded first, so the
# programs are built with the same -fsanitize flags, as a user debugging
# with ASan would: the examples then run under the sanitizers too.
# -Werror only without sanitizers (they make gcc warn about things -O2 alone
# does not, and those warnings are not the examples' fault).
extra="-Werror"
if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then
	extra="-fsanitize=$sanitize -fno-omit-frame-pointer"
fi

# 2. Build examples/ against the staged install.
CFLAGS="$extra" timeout 300 make -f "$src/examples/Makefile" OUT="$bin" \
	> "$work/make.log" 2>&1 ||
	{ cat "$work/make.log"; die "building examples/ failed"; }
cat "$work/make.log"
n=0
for c in "$src"/examples/*.c; do
	name=$(basename "$c" .c)
	[ -x "$bin/$name" ] || die "examples/$name.c built no $bin/$name"
	line=$(grep -F -- "-o $bin/$name " "$work/make.log")
	case $line in
	*"-I$stage/"*"-L$stage/"*) ;;
	*) die "$name was not compiled against the staged install: $line" ;;
	esac
	case $line in
	*"-I$build"*|*"-L$build"*|*"-I$src/include"*)
		die "$name was compiled against the build tree: $line" ;;
	esac
	ldd "$bin/$name" | grep -q "libipc.so.0 => $libdir/" ||
		die "$name does not load libipc.so.0 from $libdir: $(ldd "$bin/$name")"
	n=$((n + 1))
done
[ $n -gt 0 ] || die "no examples/*.c found"
echo "built $n examples against $stage"

# 3. A program outside the tree, as a user would build it.
mkdir "$work/outside"
cp "$src/examples/pipe-parent-child.c" "$work/outside/main.c"
(
	cd "$work/outside" &&
	timeout 120 ${CC:-cc} -Wall -Wextra $extra main.c -o prog \
		$(pkg-config --cflags --libs ipc)
) || die "a program outside the tree did not build with pkg-config"
out=$(cd "$work/outside" && timeout 20 ./prog 2>&1) ||
	die "the outside program failed: $out"
echo "$out" | grep -Eqx 'child [0-9]+ received: hello from the parent' ||
	die "the outside program printed: $out"
echo "outside program: ipc_pipe + fork exchange ok"

# 4. Every check script, each in its own scratch directory; every example
# must be run by at least one of them.
for c in "$src"/examples/*.c; do
	name=$(basename "$c" .c)
	grep -Eq "/$name([^A-Za-z0-9_.-]|\$)" "$src"/examples/check-*.sh 2> /dev/null ||
		die "no examples/check-*.sh runs $name"
done
fail=0
for s in "$src"/examples/check-*.sh; do
	[ -e "$s" ] || continue
	case $(head -n 1 "$s") in
	*bash*) runner=bash ;;
	*) runner=sh ;;
	esac
	topic=$(basename "$s" .sh)
	mkdir "$work/run-$topic"
	(cd "$work/run-$topic" && timeout 300 "$runner" "$s" "$bin") > "$work/$topic.log" 2>&1
	rc=$?
	sed "s/^/[$topic] /" "$work/$topic.log"
	case $rc in
	0) echo "PASS: $topic" ;;
	77) echo "SKIP: $topic (see its output)" ;;
	124) echo "FAIL: $topic timed out"; fail=1 ;;
	*) echo "FAIL: $topic exited $rc"; fail=1 ;;
	esac
done
exit $fail
