#!/bin/sh
# The real fuzzers of tests/fuzz (see tests/fuzz/README), run by
# scripts/test.sh and usable alone: `sh scripts/fuzz.sh [seconds]`.
#
# With clang and its libFuzzer runtime: a build of their own (build-fuzz,
# -Dfuzz=true), then each fuzzer for a bounded time (default 60 s, or
# IPC_FUZZ_SECONDS) on a scratch copy of its seed corpus, so the committed
# corpus is not touched. Any crash, leak, timeout or out-of-memory fails;
# the input that did it is kept in build-fuzz/fuzz-artifacts/. Without
# clang, or with IPC_FUZZ_SECONDS=0: one SKIP line, exit 0. Every build's
# `meson test` replays the corpora anyway (suite fuzz); this adds the search
# for new inputs.
set -u
cd "$(dirname "$0")/.." || exit 1
. ./scripts/deps.sh

secs=${1:-${IPC_FUZZ_SECONDS:-60}}
if [ "$secs" = 0 ]; then
	echo "== fuzzers: SKIP (IPC_FUZZ_SECONDS=0)"
	exit 0
fi

if ! command -v clang > /dev/null 2>&1; then
	echo "== fuzzers: SKIP (no clang; scripts/deps.sh installs $IPC_FUZZ_DEPS)"
	exit 0
fi
probe=$(mktemp -d) || exit 1
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	> "$probe/p.c"
if ! clang -fsanitize=fuzzer -o "$probe/p" "$probe/p.c" > /dev/null 2>&1; then
	rm -rf "$probe"
	echo "== fuzzers: SKIP (clang has no libFuzzer runtime: install libclang-rt-14-dev)"
	exit 0
fi
rm -rf "$probe"

# LeakSanitizer needs ptrace; scripts/test.sh probes it and exports the answer.
leaks=${IPC_FUZZ_LEAKS:-1}

echo "== fuzz build (build-fuzz: clang, -Dfuzz=true)"
if ! CC=clang ipc_meson_setup build-fuzz -Dfuzz=true -Dexamples_test=false > build-fuzz.setup.log 2>&1; then
	cat build-fuzz.setup.log
	rm -f build-fuzz.setup.log
	echo "== FAILED: meson setup build-fuzz"
	exit 1
fi
rm -f build-fuzz.setup.log
ninja -C build-fuzz || { echo "== FAILED: ninja -C build-fuzz"; exit 1; }

art=$PWD/build-fuzz/fuzz-artifacts     # absolute: a target may chdir
rm -rf "$art"
mkdir -p "$art" || exit 1
status=0
for dir in tests/fuzz/corpus/*/; do
	t=$(basename "$dir")
	exe=build-fuzz/tests/fuzz/fuzz-$t
	[ -x "$exe" ] || { echo "== FAILED: no $exe"; status=1; continue; }
	scratch=$(mktemp -d) || exit 1
	cp "$dir"* "$scratch"/
	echo "-- fuzz-$t: ${secs} s from $(ls "$scratch" | wc -l) seeds"
	ASAN_OPTIONS=detect_leaks=$leaks:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$exe" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 \
		       -print_final_stats=1 -artifact_prefix="$art/$t-" "$scratch" \
		       > "$art/$t.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		status=1
		tail -n 60 "$art/$t.log"
		echo "== FAILED: fuzz-$t exited $rc; input and log in $art"
	else
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$art/$t.log")
		echo "   ok: ${runs:-?} inputs, corpus $(ls "$scratch" | wc -l) (log $art/$t.log)"
	fi
	rm -rf "$scratch"
done
[ $status -eq 0 ] && echo "== fuzzers: no crash, leak or timeout"
exit $status
