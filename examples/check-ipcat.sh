#!/bin/sh
# ipcat (installed with the library) against the examples: ipcat --echo
# answers tcp-client, unix-client and shm-writer; ipcat reads what
# fifo-writer sends and writes what fifo-reader prints.
# $1: directory of the built examples; $IPCAT: the installed ipcat (set by
# tests/examples.sh), else the one on $PATH. Exit 0 pass, 1 fail, 77 skip.
set -u
bin=${1:?usage: check-ipcat.sh BINDIR}
ipcat=${IPCAT:-$(command -v ipcat)}
[ -n "$ipcat" ] && [ -x "$ipcat" ] || { echo "SKIP: no ipcat installed"; exit 77; }
tmp=$(mktemp -d) || exit 1
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2> /dev/null
	rm -f "/dev/shm/ipcat-ex-$$"
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-ipcat: FAIL: $*" >&2; exit 1; }

# wait_for TEST PATH: up to 10 s for the background process to make PATH.
wait_for() {
	i=0
	while [ ! "$1" "$2" ]; do
		i=$((i + 1))
		[ $i -gt 1000 ] && fail "no $2"
		kill -0 "$spid" 2> /dev/null || [ "$1" "$2" ] || fail "died before making $2: $(cat "$tmp/err")"
		sleep 0.01
	done
}

# ipcat --echo on tcp (port 0) and unix, one client each.
for uri in tcp://127.0.0.1:0 "unix:$tmp/echo.sock"; do
	: > "$tmp/err"      # emptied before the start, so -s means this run's address
	timeout 20 "$ipcat" -l --echo --print-addr "$uri" < /dev/null 2> "$tmp/err" &
	spid=$!
	wait_for -s "$tmp/err"
	addr=$(head -n 1 "$tmp/err")
	case $uri in tcp*) client=$bin/tcp-client ;; *) client=$bin/unix-client ;; esac
	out=$(timeout 10 "$client" "$addr" "hello ipcat") || fail "$client $addr failed"
	[ "$out" = "server replied: hello ipcat" ] || fail "$client printed '$out'"
	wait "$spid" || fail "ipcat -l --echo $uri exited $?"
	spid=
	echo "ipcat --echo on $addr answered $(basename "$client")"
done

# shm-writer waits for one acknowledgement per message: ipcat --echo gives it.
timeout 20 "$bin/shm-writer" "ipcat-ex-$$" "one" "two" > "$tmp/shm.out" 2> "$tmp/err" &
spid=$!
wait_for -e "/dev/shm/ipcat-ex-$$"
timeout 20 "$ipcat" --echo --open-timeout 5000 "shm:/ipcat-ex-$$" < /dev/null ||
	fail "ipcat --echo shm:/ipcat-ex-$$ exited $?"
wait "$spid" || fail "shm-writer exited $?"
spid=
[ "$(cat "$tmp/shm.out")" = "$(printf 'acknowledged: one\nacknowledged: two')" ] ||
	fail "shm-writer printed: $(cat "$tmp/shm.out")"
echo "ipcat --echo acknowledged shm-writer's messages"

# fifo-writer to ipcat, ipcat to fifo-reader.
timeout 20 "$ipcat" -l --create "fifo:$tmp/f" < /dev/null > "$tmp/fifo.out" 2> "$tmp/err" &
spid=$!
wait_for -p "$tmp/f"
timeout 10 "$bin/fifo-writer" "$tmp/f" "hello" "each argument is one message" ||
	fail "fifo-writer exited $?"
wait "$spid" || fail "ipcat -l fifo: exited $?"
spid=
[ "$(cat "$tmp/fifo.out")" = "$(printf 'hello\neach argument is one message')" ] ||
	fail "ipcat printed: $(cat "$tmp/fifo.out")"
timeout 20 "$bin/fifo-reader" "$tmp/g" > "$tmp/reader.out" 2> "$tmp/err" &
spid=$!
wait_for -p "$tmp/g"
printf 'line one\nline two\n' | timeout 10 "$ipcat" "fifo:$tmp/g" || fail "ipcat fifo: exited $?"
wait "$spid" || fail "fifo-reader exited $?"
spid=
[ "$(cat "$tmp/reader.out")" = "$(printf 'received: line one\nreceived: line two')" ] ||
	fail "fifo-reader printed: $(cat "$tmp/reader.out")"
echo "ipcat and the FIFO examples exchanged lines as messages"
