#!/bin/sh
# The whole test suite in several builds, one function each: a release build
# checked for test hooks, plain, AddressSanitizer + UndefinedBehaviorSanitizer,
# ThreadSanitizer, the conformance suite under valgrind (memcheck) on the
# plain build, and the real fuzzers for a bounded time (with clang). Installs
# missing Debian packages first (scripts/deps.sh). Extra arguments go to
# every `meson test` run (e.g. --suite examples). Exits non-zero if any run
# fails; prints what each step cost at the end. Every build has the
# library's test hooks (-Dtest_hooks=true: crash points and test-only
# variables), which the quick start's release build leaves out.
#
# To add a build: write a function that returns non-zero on failure and add
# one `step NAME FUNCTION "$@"` line at the bottom.
set -u
cd "$(dirname "$0")/.." || exit 1
. ./scripts/deps.sh
ipc_deps_install || exit 1
ipc_deps_install $IPC_FUZZ_DEPS || echo "deps: no clang: the real fuzzers will be skipped"

status=0
failed=""
costs=""

# step NAME FUNCTION ARGS...: run it, note its wall time and its verdict.
step()
{
	name=$1
	shift
	echo "== $name"
	t0=$(date +%s)
	"$@"
	rc=$?
	t1=$(date +%s)
	costs="$costs  $name: $((t1 - t0)) s$( [ $rc -eq 0 ] || echo ' (FAILED)')
"
	if [ $rc -ne 0 ]; then
		status=1
		failed="$failed $name"
	fi
}

# probe_build SOURCE CFLAGS...: compile a probe program to $probe/p (a fresh
# temporary directory the caller removes). Returns non-zero if it does not
# build.
probe_build()
{
	probe=$(mktemp -d) || return 1
	printf '%b' "$1" > "$probe/p.c"
	shift
	cc "$@" -o "$probe/p" "$probe/p.c" 2> /dev/null
}

build_plain()
{
	ipc_meson_setup build-test -Dtest_hooks=true && ninja -C build-test &&
		meson test -C build-test --print-errorlogs "$@"
}

build_asan()
{
	# LeakSanitizer stops the process with ptrace; where ptrace is forbidden
	# (some containers, yama ptrace_scope=3) it cannot run at all and every
	# test would die with "LeakSanitizer has encountered a fatal error".
	# Probe it with a deliberately leaky program: it works on the machines we
	# test on, and we only turn leak checking off, loudly, where it cannot.
	leaks=1
	if probe_build '#include <stdlib.h>\nvoid *volatile p;\nint main(void) { p = malloc(33); p = 0; return 0; }\n' \
	       -fsanitize=address &&
	   ! ASAN_OPTIONS=detect_leaks=1 "$probe/p" 2>&1 | grep -q 'LeakSanitizer: detected memory leaks'; then
		leaks=0
		echo "WARNING: LeakSanitizer does not work here (ptrace restricted?): detect_leaks=0"
	fi
	rm -rf "$probe"
	ipc_meson_setup build-asan -Dtest_hooks=true -Db_sanitize=address,undefined \
		-Db_lundef=false && ninja -C build-asan &&
	ASAN_OPTIONS=detect_leaks=$leaks:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --print-errorlogs "$@"
}

# ThreadSanitizer's runtime (gcc 12's, clang 14's) expects the address
# layout of older kernels: with more ASLR entropy (vm.mmap_rnd_bits > 28,
# the default of newer kernels on some distributions) every sanitized
# program dies with "FATAL: ThreadSanitizer: unexpected memory mapping".
# Lowering the sysctl is not something a test script may do to a user's
# machine; running the tests without address randomisation (setarch -R,
# inherited by every child) is, and is what we do when a probe shows that
# TSan needs it. Where neither works (e.g. a container whose seccomp
# profile refuses personality(2)) the TSan build is skipped, loudly.
build_tsan()
{
	wrap=""
	if ! probe_build '#include <pthread.h>\nstatic void *f(void *p) { return p; }\nint main(void) { pthread_t t; return pthread_create(&t, 0, f, 0) || pthread_join(t, 0); }\n' \
	       -fsanitize=thread; then
		rm -rf "$probe"
		echo "WARNING: cannot build with -fsanitize=thread (no libtsan?): TSan build skipped"
		return 0
	fi
	if ! out=$("$probe/p" 2>&1); then
		if setarch "$(uname -m)" -R "$probe/p" > /dev/null 2>&1; then
			wrap="setarch $(uname -m) -R"
			echo "note: ThreadSanitizer needs address randomisation off here ($(echo "$out" | head -n 1)): tests run under $wrap"
		else
			rm -rf "$probe"
			echo "WARNING: ThreadSanitizer cannot run here, even under setarch -R: TSan build skipped"
			echo "$out" | head -n 3
			return 0
		fi
	fi
	rm -rf "$probe"
	ipc_meson_setup build-tsan -Dtest_hooks=true -Db_sanitize=thread -Db_lundef=false &&
		ninja -C build-tsan &&
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		$wrap meson test -C build-tsan --print-errorlogs "$@"
}

# Memcheck on the plain build's conformance suite (every transport): see
# add_test_setup('valgrind') in tests/meson.build.
build_valgrind()
{
	if ! command -v valgrind > /dev/null 2>&1; then
		echo "WARNING: no valgrind: valgrind run skipped"
		return 0
	fi
	[ -d build-test/meson-private ] || { echo "valgrind: no build-test (the plain build)"; return 1; }
	meson test -C build-test --setup=valgrind --print-errorlogs --suite conformance "$@"
}

# The release build, as the quick start makes it: no test hooks in it.
build_release()
{
	ipc_meson_setup build-release --buildtype=release -Dtests=disabled \
		-Dexamples_test=false > /dev/null && ninja -C build-release > /dev/null &&
		meson test -C build-release --print-errorlogs test-hooks symbols-headers
}

# The real fuzzers, each for a bounded time, when clang is here (scripts/fuzz.sh).
build_fuzz()
{
	IPC_FUZZ_LEAKS=${leaks:-1} sh scripts/fuzz.sh
}

step "release build (build-release): no test hooks" build_release
step "plain build (build-test)" build_plain "$@"
step "sanitizer build (build-asan: address,undefined)" build_asan "$@"
step "thread sanitizer build (build-tsan)" build_tsan "$@"
step "valgrind: conformance suite on build-test" build_valgrind "$@"
step "fuzzers (build-fuzz)" build_fuzz

echo "== cost of each step (wall clock):"
printf '%s' "$costs"
if [ $status -eq 0 ]; then
	echo "== all tests passed"
else
	echo "== FAILED:$failed (see the logs above and each build's meson-logs/testlog*.txt)"
fi
exit $status
