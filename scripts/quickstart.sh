#!/bin/sh
# Quick start: install what is missing (scripts/deps.sh), build a release,
# install it (meson install + ldconfig), run ipc-bench -- the main job --
# and take a short tour of the examples built against the installed library.
# Extra arguments go to ipc-bench (e.g. --json).
set -u
cd "$(dirname "$0")/.." || exit 1
. ./scripts/deps.sh
ipc_deps_install || exit 1

echo "== build (build-release)"
ipc_meson_setup build-release --buildtype=release || exit 1
ninja -C build-release || exit 1

echo "== install"
ipc_as_root meson install -C build-release --no-rebuild --quiet || exit 1
ipc_as_root ldconfig || exit 1

# Where it went (prefix, bindir, libdir), from meson itself.
eval "$(meson introspect --buildoptions build-release | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
for k in ("prefix", "bindir", "libdir"):
    v = o[k] if o[k].startswith("/") else o["prefix"] + "/" + o[k]
    print("%s=%s" % (k, v))
')"

# What users run carries no test code (crash points, test-only variables).
echo "== no test hooks in the installed library"
sh tests/check-test-hooks.sh "$libdir/libipc.so" absent || exit 1

echo "== ipc-bench (the main job)"
if [ -x "$bindir/ipc-bench" ]; then
	"$bindir/ipc-bench" "$@" || echo "ipc-bench failed (exit $?)"
else
	echo "ipc-bench is not part of this build (tools/bench/ not built): skipped."
fi

# wait_for TEST PATH: up to 5 s for a peer to create PATH (test -p, -s, -e).
wait_for() {
	n=0
	while [ ! "$1" "$2" ] && [ $n -lt 500 ]; do
		sleep 0.01
		n=$((n + 1))
	done
}

echo "== a tour of the examples (built with pkg-config against $libdir)"
tour=$(mktemp -d "${TMPDIR:-/tmp}/ipc-tour.XXXXXX") || exit 1
trap 'rm -rf "$tour"' EXIT
trap 'exit 1' INT TERM HUP
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
make -s -f examples/Makefile OUT="$tour" || exit 1
echo "built into $tour:" $(cd "$tour" && ls)
src_dir=$(pwd)
cd "$tour" || exit 1

echo
echo "-- pipe-parent-child: ipc_pipe() + fork(); the parent sends one message, the child prints it"
timeout 10 ./pipe-parent-child

echo
echo "-- ls-wc: ls writes into a pipe through dup2() + exec; we count its lines through an fd: channel"
echo "   in /usr/bin: ls-wc says $(cd /usr/bin && timeout 10 "$tour/ls-wc"), ls | wc -l says $(ls /usr/bin | wc -l)"

echo
echo "-- fifo-reader / fifo-writer: a named pipe created by the reader (IPC_CREATE) and removed on close"
timeout 10 ./fifo-reader "$tour/demo.fifo" &
reader=$!
wait_for -p "$tour/demo.fifo"
timeout 10 ./fifo-writer "$tour/demo.fifo" "hello" "each argument is one message"
wait $reader
[ -e "$tour/demo.fifo" ] && echo "   (the FIFO is still there!)" || echo "   (and the FIFO is gone)"

echo
echo "-- ipcat, a netcat for libipc URIs: seq 1000 into a FIFO, one message per line, counted on the other side"
if [ -x "$bindir/ipcat" ]; then
	timeout 10 "$bindir/ipcat" -l --create "fifo:$tour/cat.fifo" > "$tour/cat.out" &
	reader=$!
	wait_for -p "$tour/cat.fifo"
	seq 1000 | timeout 10 "$bindir/ipcat" "fifo:$tour/cat.fifo"
	wait $reader
	echo "   ipcat -l --create fifo:... | wc -l says $(wc -l < "$tour/cat.out")" \
	     "(try: ipcat -l --print-addr tcp://127.0.0.1:0 in one terminal, ipcat tcp://... in another)"
else
	echo "   ipcat is not part of this build: skipped."
fi

echo
echo "-- tcp-server / tcp-client: the seed's TCP pair; the server takes a free port and prints it"
timeout 10 ./tcp-server tcp://127.0.0.1:0 1 > "$tour/server.out" &
server=$!
wait_for -s "$tour/server.out"
addr=$(head -n 1 "$tour/server.out")
timeout 10 ./tcp-client "$addr" "Hello from client"
wait $server
sed 's/^/   server: /' "$tour/server.out"

echo
echo "-- shm-writer / shm-reader: messages through a shared-memory ring, acknowledged, then unlinked"
timeout 10 ./shm-writer "ipc-tour-$$" "hello" "through shared memory" &
writer=$!
wait_for -e "/dev/shm/ipc-tour-$$"
timeout 10 ./shm-reader "ipc-tour-$$"
wait $writer

echo
echo "-- sem-counter: the seed's race, 4 processes x 20000 increments, without and with a semaphore"
timeout 60 ./sem-counter 4 20000

echo
echo "-- signal-receiver / signal-sender: a signal with a payload, read from a watcher (no handler)"
timeout 10 ./signal-receiver 1 > "$tour/signal.out" &
receiver=$!
wait_for -s "$tour/signal.out"
pid=$(sed -n 's/^receiver pid //p' "$tour/signal.out")
timeout 10 ./signal-sender "$pid" 42 > /dev/null
wait $receiver
sed 's/^/   /' "$tour/signal.out"

echo
echo "-- python: the ipc module, installed for the interpreter meson runs under (doc/python.md)"
cd "$src_dir" || exit 1
if [ -d build-release/python/ipc ]; then
	for py in python3 /usr/bin/python3; do
		command -v "$py" > /dev/null 2>&1 || continue
		if v=$(cd / && "$py" -c 'import ipc; print(ipc.version())' 2> /dev/null); then
			echo "   $py -c 'import ipc; print(ipc.version())' prints $v"
			break
		fi
		echo "   $py ($(command -v "$py")) does not see the module: it is another interpreter"
	done
else
	echo "   not built (no python3 headers: python3-dev)"
fi

echo
echo "The sources are in examples/; scripts/test.sh runs the whole test suite."
