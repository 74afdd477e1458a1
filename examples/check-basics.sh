#!/bin/sh
# Check the outputs of the seed's basic examples: pipe-parent-child, ls-wc,
# fifo-writer + fifo-reader. $1 = directory of the built binaries.
# Run by tests/examples.sh, which sets LD_LIBRARY_PATH to the staged library.
set -u
bin=${1:?usage: check-basics.sh BINDIR}
fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

bad() { echo "FAIL: $*"; fail=1; }

# pipe-parent-child: the child prints the parent's message, both exit 0.
out=$(timeout 10 "$bin/pipe-parent-child" 2>&1)
rc=$?
[ $rc -eq 0 ] || bad "pipe-parent-child exited $rc: $out"
echo "$out" | grep -Eqx 'child [0-9]+ received: hello from the parent' ||
	bad "pipe-parent-child printed: $out"

# pair-parent-child: three questions, three answers over one duplex channel.
out=$(timeout 10 "$bin/pair-parent-child" 2>&1)
rc=$?
[ $rc -eq 0 ] || bad "pair-parent-child exited $rc: $out"
[ "$out" = "$(printf '2+2 = 4\n6*7 = 42\n10-1 = 9')" ] ||
	bad "pair-parent-child printed: $out"

# ls-wc: the same count as `ls | wc -l` in the same directory: an empty one,
# and one of 300 long names with spaces, whose listing (> 64 KiB) overflows
# the pipe, so ls must block on its stdout while ls-wc keeps reading.
# (Directories of our own: a system one may change between the two counts.)
mkdir "$tmp/empty" "$tmp/dir"
pad=$(printf '%0240d' 0)
i=0
while [ $i -lt 300 ]; do
	: > "$tmp/dir/file $i $pad"
	i=$((i + 1))
done
[ "$(cd "$tmp/dir" && ls | wc -c)" -gt 65536 ] || bad "listing too small for the test"
for d in "$tmp/empty" "$tmp/dir"; do
	want=$(cd "$d" && ls | wc -l)
	got=$(cd "$d" && timeout 10 "$bin/ls-wc")
	rc=$?
	[ $rc -eq 0 ] || bad "ls-wc in $d exited $rc"
	[ "$got" = "$want" ] || bad "ls-wc in $d printed '$got', ls | wc -l says $want"
done

# fifo: the reader creates the FIFO (mode 0600) and removes it on close;
# the writer's three messages arrive whole and in order, the empty one too.
fifo=$tmp/demo.fifo
timeout 60 "$bin/fifo-reader" "$fifo" > "$tmp/reader.out" 2>&1 &
reader=$!
n=0     # bounded (30 s), and generous: a loaded machine may start it late
while [ ! -p "$fifo" ] && [ $n -lt 3000 ] && kill -0 $reader 2> /dev/null; do
	sleep 0.01
	n=$((n + 1))
done
if [ -p "$fifo" ]; then
	mode=$(stat -c %a "$fifo")
	[ "$mode" = 600 ] || bad "FIFO created with mode $mode, not 600"
	timeout 30 "$bin/fifo-writer" "$fifo" "first" "second message" "" ||
		bad "fifo-writer exited $?"
else
	bad "fifo-reader did not create $fifo"
fi
wait $reader
rc=$?
[ $rc -eq 0 ] || bad "fifo-reader exited $rc"
printf 'received: first\nreceived: second message\nreceived: \n' > "$tmp/want"
cmp -s "$tmp/want" "$tmp/reader.out" ||
	bad "fifo-reader printed: $(cat "$tmp/reader.out")"
[ -e "$fifo" ] && bad "fifo-reader left $fifo behind"

# the writer alone: a path with no FIFO is an error, not a hang or a file.
timeout 10 "$bin/fifo-writer" "$tmp/nobody.fifo" 2> "$tmp/err"
rc=$?
[ $rc -eq 1 ] || bad "fifo-writer without a FIFO exited $rc"
grep -q "ipc_open fifo:$tmp/nobody.fifo: " "$tmp/err" ||
	bad "fifo-writer without a FIFO said: $(cat "$tmp/err")"
[ -e "$tmp/nobody.fifo" ] && bad "fifo-writer created $tmp/nobody.fifo"

[ $fail -eq 0 ] && echo "check-basics: ok"
exit $fail
