#!/bin/sh
# Check signal-receiver + signal-sender: every signal arrives with the
# sender's pid, our uid and its payload; real-time signals queue; SIGTERM
# ends the receiver cleanly. $1 = directory of the built binaries.
set -u
bin=${1:?usage: check-signals.sh BINDIR}
fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

bad() { echo "FAIL: $*"; fail=1; }

# wait_lines FILE N: until FILE has N lines, at most 30 s (generous: a
# loaded machine, a sanitizer).
wait_lines() {
	n=0
	while [ "$(wc -l < "$1")" -lt "$2" ] && [ $n -lt 3000 ]; do
		sleep 0.01
		n=$((n + 1))
	done
	[ "$(wc -l < "$1")" -ge "$2" ]
}

uid=$(id -u)
: > "$tmp/out"
timeout 120 "$bin/signal-receiver" > "$tmp/out" 2> "$tmp/err" &
job=$!
if ! wait_lines "$tmp/out" 1; then
	bad "receiver printed no pid: $(cat "$tmp/out" "$tmp/err")"
	kill $job 2>/dev/null
	exit 1
fi
pid=$(sed -n 's/^receiver pid \([0-9]*\)$/\1/p' "$tmp/out")
[ -n "$pid" ] || bad "receiver's first line: $(head -n 1 "$tmp/out")"

# One at a time: standard signals sent faster than they are read coalesce.
lines=1
for v in 7 -42 2147483647; do
	sent=$("$bin/signal-sender" "$pid" "$v") || bad "signal-sender $pid $v exited $?"
	spid=$(echo "$sent" | sed -n 's/^sender pid \([0-9]*\) sent.*/\1/p')
	lines=$((lines + 1))
	wait_lines "$tmp/out" $lines || bad "receiver did not report value $v"
	want="signal USR1 from pid $spid uid $uid value $v"
	[ "$(sed -n "${lines}p" "$tmp/out")" = "$want" ] ||
		bad "receiver printed '$(sed -n "${lines}p" "$tmp/out")', want '$want'"
done

# SIGTERM through the watcher: a clean exit 0, no default action.
"$bin/signal-sender" "$pid" 0 TERM > /dev/null || bad "signal-sender TERM exited $?"
wait $job
rc=$?
[ $rc -eq 0 ] || bad "receiver exited $rc after SIGTERM: $(cat "$tmp/err")"
tail -n 1 "$tmp/out" | grep -qx "signal TERM: stopping" ||
	bad "receiver's last line: $(tail -n 1 "$tmp/out")"

# COUNT: the receiver stops by itself after that many signals.
: > "$tmp/out2"
timeout 120 "$bin/signal-receiver" 1 > "$tmp/out2" 2>&1 &
job=$!
if wait_lines "$tmp/out2" 1; then
	pid=$(sed -n 's/^receiver pid \([0-9]*\)$/\1/p' "$tmp/out2")
	"$bin/signal-sender" "$pid" 5 RTMIN > /dev/null || bad "signal-sender RTMIN exited $?"
	wait $job
	rc=$?
	[ $rc -eq 0 ] || bad "receiver 1 exited $rc"
	grep -q " value 5\$" "$tmp/out2" || bad "receiver 1 printed: $(cat "$tmp/out2")"
else
	bad "second receiver printed no pid"
	kill $job 2>/dev/null
fi

# Bad input: no such process is an error, not a crash.
"$bin/signal-sender" 2147483646 1 2> "$tmp/err3" && bad "signal-sender to no process succeeded"
grep -q "ipc_notify 2147483646: " "$tmp/err3" || bad "signal-sender said: $(cat "$tmp/err3")"

[ $fail -eq 0 ] && echo "check-signals: ok"
exit $fail
