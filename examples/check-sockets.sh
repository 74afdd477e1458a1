#!/bin/sh
# Run tcp-server/tcp-client and unix-server/unix-client and check what they
# print. $1: directory of the built examples. Exit 0 pass, 1 fail.
set -u
bin=${1:?usage: check-sockets.sh BINDIR}
tmp=$(mktemp -d) || exit 1
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-sockets: FAIL: $*" >&2; exit 1; }

# Start "$@" (a server serving two clients) in the background, wait for the
# address on its first line.
start_server() {
	sout=$tmp/$(basename "$1").out
	timeout 120 "$@" > "$sout" 2> "$tmp/server.err" &
	spid=$!
	i=0
	while [ ! -s "$sout" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && fail "$1 printed no address in 30 s"
		kill -0 "$spid" 2>/dev/null || fail "$1 died: $(cat "$tmp/server.err")"
		sleep 0.1
	done
	addr=$(head -n 1 "$sout")
}

run_pair() {    # server client uri
	start_server "$1" "$3" 2
	case $addr in "${3%%:*}:"*) ;; *) fail "$1 printed '$addr'" ;; esac
	out=$(timeout 30 "$2" "$addr" "first hello") || fail "$2 failed"
	[ "$out" = "server replied: Hello from server" ] || fail "$2 printed '$out'"
	out=$(timeout 30 "$2" "$addr") || fail "$2 (default message) failed"
	[ "$out" = "server replied: Hello from server" ] || fail "$2 printed '$out'"
	wait "$spid" || fail "$1 exited with $?"
	spid=
	grep -q '^client 1.*: first hello$' "$sout" || fail "$1 output: $(cat "$sout")"
	grep -q '^client 2.*: Hello from client$' "$sout" || fail "$1 output: $(cat "$sout")"
}

run_pair "$bin/tcp-server" "$bin/tcp-client" "tcp://127.0.0.1:0"
run_pair "$bin/unix-server" "$bin/unix-client" "unix:$tmp/demo.sock"
grep -q "(pid [0-9]*, uid $(id -u))" "$sout" || fail "unix-server shows no peer credentials"
[ -e "$tmp/demo.sock" ] && fail "unix-server left its socket file behind"

# A client with nobody listening fails cleanly.
timeout 10 "$bin/unix-client" "$addr" 2>/dev/null && fail "unix-client with no server succeeded"
echo "check-sockets: ok"
exit 0
