#!/bin/sh
# Check echo-daemon end to end with no client program: the client's side is
# written with printf in libipc's wire format (doc/wire-format.md) and handed
# to the daemon as fd:3,4, a channel it was given rather than a listener.
# SIGHUP reloads the configuration, SIGTERM ends it with exit 0 and a count.
# $1 = directory of the built binaries.
set -u
bin=${1:?usage: check-daemon.sh BINDIR}
fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

bad() { echo "FAIL: $*"; fail=1; }

# wait_for FILE TEXT: until FILE contains TEXT, at most 30 s (generous: a
# loaded machine, a sanitizer).
wait_for() {
	n=0
	while ! grep -q "$2" "$1" 2> /dev/null && [ $n -lt 3000 ]; do
		sleep 0.01
		n=$((n + 1))
	done
	grep -q "$2" "$1" 2> /dev/null
}

# watchdog PID: kills a daemon that overstays 120 s, ends with it otherwise.
watchdog() {
	(
		n=0
		while kill -0 $1 2> /dev/null && [ $n -lt 1200 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		[ $n -lt 1200 ] || kill -KILL $1 2> /dev/null
	) > /dev/null 2>&1 &
}

# Usage and configuration errors.
"$bin/echo-daemon" > /dev/null 2>&1
[ $? -eq 2 ] || bad "echo-daemon without arguments did not exit 2"
"$bin/echo-daemon" "$tmp/none.conf" fd:0 > /dev/null 2> "$tmp/err"
[ $? -eq 1 ] || bad "echo-daemon without its configuration did not exit 1"
grep -q "none.conf" "$tmp/err" || bad "echo-daemon said: $(cat "$tmp/err")"

# The client's bytes: a hello (magic 0x89 'IPC', version 1, max_msg 16 MiB),
# then two frames (big-endian length, payload).
printf '\211IPC\001\000\000\000\001\000\000\000' > "$tmp/in"
printf '\000\000\000\005hello\000\000\000\000' >> "$tmp/in"
printf 'prefix=>\n' > "$tmp/conf"

"$bin/echo-daemon" "$tmp/conf" fd:3,4 3< "$tmp/in" 4> "$tmp/replies" > "$tmp/log" 2>&1 &
pid=$!
watchdog $pid

wait_for "$tmp/log" '^ready$' || bad "daemon not ready: $(cat "$tmp/log")"
# Its answers: its own hello, then ">hello" and ">" (the empty message echoed).
printf '\211IPC\001\000\000\000\001\000\000\000' > "$tmp/want"
printf '\000\000\000\006>hello\000\000\000\001>' >> "$tmp/want"
n=0
while ! cmp -s "$tmp/want" "$tmp/replies" && [ $n -lt 3000 ]; do
	sleep 0.01
	n=$((n + 1))
done
cmp -s "$tmp/want" "$tmp/replies" ||
	bad "daemon answered: $(od -c "$tmp/replies" | head -n 5)"

printf 'prefix=<\n' > "$tmp/conf"
kill -HUP $pid
wait_for "$tmp/log" '^reloaded$' || bad "no 'reloaded' after SIGHUP: $(cat "$tmp/log")"
printf 'nonsense\n' > "$tmp/conf"
kill -HUP $pid
wait_for "$tmp/log" '^reload failed: ' || bad "a bad configuration was not refused"

kill -TERM $pid
wait $pid
rc=$?
[ $rc -eq 0 ] || bad "daemon exited $rc after SIGTERM: $(cat "$tmp/log")"
tail -n 1 "$tmp/log" | grep -qx "accepted 2 answered 2 gone 0" ||
	bad "daemon's last line: $(tail -n 1 "$tmp/log")"

# Over the network transports, with the socket examples as clients.
if [ -x "$bin/tcp-client" ] && [ -x "$bin/unix-client" ]; then
	printf 'prefix=echo: \n' > "$tmp/conf"
	"$bin/echo-daemon" "$tmp/conf" tcp://127.0.0.1:0 "unix:$tmp/echo.sock" \
		> "$tmp/log2" 2>&1 &
	pid=$!
	watchdog $pid
	if wait_for "$tmp/log2" '^ready$'; then
		tcp=$(sed -n 's/^listening \(tcp:.*\)/\1/p' "$tmp/log2")
		unix=$(sed -n 's/^listening \(unix:.*\)/\1/p' "$tmp/log2")
		out=$("$bin/tcp-client" "$tcp" "over tcp" 2>&1)
		[ "$out" = "server replied: echo: over tcp" ] || bad "tcp-client $tcp: $out"
		out=$("$bin/unix-client" "$unix" "over unix" 2>&1)
		[ "$out" = "server replied: echo: over unix" ] || bad "unix-client $unix: $out"
	else
		bad "daemon on tcp and unix not ready: $(cat "$tmp/log2")"
	fi
	kill -TERM $pid
	wait $pid
	rc=$?
	[ $rc -eq 0 ] || bad "daemon on tcp and unix exited $rc: $(cat "$tmp/log2")"
	tail -n 1 "$tmp/log2" | grep -qx "accepted 2 answered 2 gone 0" ||
		bad "daemon on tcp and unix, last line: $(tail -n 1 "$tmp/log2")"
	[ -e "$tmp/echo.sock" ] && bad "daemon left $tmp/echo.sock behind"
fi

[ $fail -eq 0 ] && echo "check-daemon: ok"
exit $fail
