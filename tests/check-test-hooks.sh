#!/bin/sh
# Whether a built libipc.so carries test hooks: the crash-point function and
# the names of the test-only environment variables it would read.
#   check-test-hooks.sh LIB absent    a release build: none of them (exit 1 if any)
#   check-test-hooks.sh LIB present   a -Dtest_hooks=true build: they are there,
#                                     which shows this check can see them at all
# strings(1) finds the variable names wherever they are stored (and a symbol or
# debug-info name of the function); nm(1) the function in the symbol table,
# whose hidden visibility keeps it out of nm -D.
set -u
lib=${1:?usage: check-test-hooks.sh LIB absent|present}
want=${2:?usage: check-test-hooks.sh LIB absent|present}
for tool in nm strings; do
	command -v $tool > /dev/null 2>&1 || { echo "SKIP: no $tool (binutils)"; exit 77; }
done
[ -r "$lib" ] || { echo "FAIL: cannot read $lib"; exit 1; }

found=$( { strings -a "$lib"; nm -a "$lib" 2> /dev/null; } |
	grep -E 'IPC_CRASH_AT|IPC_TEST_|IPC_SHM_TEST_|ipc__crash_at' | sort -u)
case $want in
absent)
	if [ -n "$found" ]; then
		echo "FAIL: $lib carries test hooks:"
		echo "$found" | sed 's/^/  /'
		exit 1
	fi
	echo "ok: no test hooks in $lib (strings -a, nm -a: no IPC_CRASH_AT, IPC_TEST_*, IPC_SHM_TEST_*, ipc__crash_at)"
	;;
present)
	for w in IPC_CRASH_AT IPC_TEST_SIGMASK_GUARD ipc__crash_at; do
		if ! echo "$found" | grep -q "$w"; then
			echo "FAIL: $w not found in $lib, built with test hooks: the check cannot see them"
			exit 1
		fi
	done
	echo "ok: the test hooks are visible in $lib:"
	echo "$found" | sed 's/^/  /'
	;;
*)
	echo "usage: check-test-hooks.sh LIB absent|present"
	exit 2
	;;
esac
