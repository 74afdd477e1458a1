#!/bin/sh
# The whole test suite, twice: a plain build, then a build under
# AddressSanitizer + UndefinedBehaviorSanitizer. Installs missing Debian
# packages first (scripts/deps.sh). Extra arguments go to both `meson test`
# runs (e.g. --suite examples). Exits non-zero if either run fails. Both
# builds have the library's test hooks (-Dtest_hooks=true: crash points and
# test-only variables), which the quick start's release build leaves out.
set -u
cd "$(dirname "$0")/.." || exit 1
. ./scripts/deps.sh
ipc_deps_install || exit 1
ipc_deps_install $IPC_FUZZ_DEPS || echo "deps: no clang: the real fuzzers will be skipped"

status=0

echo "== plain build (build-test)"
if ipc_meson_setup build-test -Dtest_hooks=true && ninja -C build-test; then
	meson test -C build-test --print-errorlogs "$@" || status=1
else
	status=1
fi

# LeakSanitizer stops the process with ptrace; where ptrace is forbidden
# (some containers, yama ptrace_scope=3) it cannot run at all and every test
# would die with "LeakSanitizer has encountered a fatal error". Probe it with
# a deliberately leaky program: it works on the machines we test on, and we
# only turn leak checking off, loudly, where it cannot work.
leaks=1
probe=$(mktemp -d) || exit 1
printf '#include <stdlib.h>\nvoid *volatile p;\nint main(void) { p = malloc(33); p = 0; return 0; }\n' > "$probe/leak.c"
if cc -fsanitize=address -o "$probe/leak" "$probe/leak.c" 2> /dev/null; then
	if ! ASAN_OPTIONS=detect_leaks=1 "$probe/leak" 2>&1 |
	     grep -q 'LeakSanitizer: detected memory leaks'; then
		leaks=0
		echo "WARNING: LeakSanitizer does not work here (ptrace restricted?): detect_leaks=0"
	fi
fi
rm -rf "$probe"

echo "== sanitizer build (build-asan: address,undefined)"
if ipc_meson_setup build-asan -Dtest_hooks=true -Db_sanitize=address,undefined -Db_lundef=false &&
   ninja -C build-asan; then
	ASAN_OPTIONS=detect_leaks=$leaks:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --print-errorlogs "$@" || status=1
else
	status=1
fi

# The real fuzzers, each for a bounded time, when clang is here (scripts/fuzz.sh).
IPC_FUZZ_LEAKS=$leaks sh scripts/fuzz.sh || status=1

if [ $status -eq 0 ]; then
	echo "== all tests passed (plain and sanitizer builds)"
else
	echo "== FAILED: see the logs above (build-test, build-asan meson-logs/testlog.txt)"
fi
exit $status
