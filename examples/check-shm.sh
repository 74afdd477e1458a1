#!/bin/sh
# Check the outputs of the seed's shared-memory examples: shm-writer +
# shm-reader, and sem-counter. $1 = directory of the built binaries.
# Run by tests/examples.sh, which sets LD_LIBRARY_PATH to the staged library.
set -u
bin=${1:?usage: check-shm.sh BINDIR}
fail=0
tmp=$(mktemp -d) || exit 1
name=ipc-example-$$
trap 'rm -rf "$tmp"; rm -f "/dev/shm/$name"' EXIT

bad() { echo "FAIL: $*"; fail=1; }

[ -d /dev/shm ] && [ -w /dev/shm ] || { echo "SKIP: /dev/shm is not writable"; exit 77; }

# shm-writer creates /dev/shm/NAME with mode 0600 and sends three messages
# (the empty one too) before any reader exists; shm-reader attaches, prints
# them whole and in order, acknowledges each; the writer prints the acks and
# removes the object; the reader then reads the end and exits 0.
timeout 20 "$bin/shm-writer" "$name" "hello" "second message" "" > "$tmp/writer.out" 2>&1 &
writer=$!
n=0     # at most 20 s (the writer's own limit), however loaded the machine
while [ ! -e "/dev/shm/$name" ] && [ $n -lt 2000 ] && kill -0 $writer 2> /dev/null; do
	sleep 0.01
	n=$((n + 1))
done
if [ -e "/dev/shm/$name" ]; then
	mode=$(stat -c %a "/dev/shm/$name")
	[ "$mode" = 600 ] || bad "shm object created with mode $mode, not 600"
	timeout 20 "$bin/shm-reader" "$name" > "$tmp/reader.out" 2>&1 ||
		bad "shm-reader exited $?: $(cat "$tmp/reader.out")"
else
	bad "shm-writer did not create /dev/shm/$name"
fi
wait $writer
rc=$?
[ $rc -eq 0 ] || bad "shm-writer exited $rc: $(cat "$tmp/writer.out")"
printf 'received: hello\nreceived: second message\nreceived: \n' > "$tmp/want.reader"
printf 'acknowledged: 1\nacknowledged: 2\nacknowledged: 3\n' > "$tmp/want.writer"
cmp -s "$tmp/reader.out" "$tmp/want.reader" || bad "shm-reader printed: $(cat "$tmp/reader.out")"
cmp -s "$tmp/writer.out" "$tmp/want.writer" || bad "shm-writer printed: $(cat "$tmp/writer.out")"
[ ! -e "/dev/shm/$name" ] || bad "shm-writer left /dev/shm/$name behind"

# shm-reader alone: nothing to attach to, a clear error and a failure status.
if timeout 10 "$bin/shm-reader" "$name-none" > "$tmp/none.out" 2>&1; then
	bad "shm-reader succeeded without a writer"
fi
grep -q "ipc_open" "$tmp/none.out" || bad "shm-reader without a writer printed: $(cat "$tmp/none.out")"

# sem-counter: with the semaphore no increment is lost. Without it some may
# be, or none (under a sanitizer or on a loaded machine the processes may well
# run one after another): that line is a demonstration, so it is only shown,
# and parsed to see that the program printed both lines once each.
out=$(timeout 120 "$bin/sem-counter" 4 20000 2>&1)
rc=$?
[ $rc -eq 0 ] || bad "sem-counter exited $rc: $out"
without=$(echo "$out" | grep -c '^without semaphore: counter [0-9]*, expected 80000, lost [0-9]*$')
with=$(echo "$out" | grep -c '^with semaphore: counter 80000, expected 80000, lost 0$')
[ "$without" = 1 ] || bad "sem-counter's line without the semaphore is not there once: $out"
[ "$with" = 1 ] || bad "sem-counter lost increments with the semaphore (or printed it twice): $out"
echo "sem-counter said: $(echo "$out" | tr '\n' ';')"
ls /dev/shm | grep -q '^sem\.sem-counter-\|^sem-counter-' && bad "sem-counter left objects in /dev/shm"

exit $fail
