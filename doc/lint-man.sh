#!/bin/sh
# Lint man pages with mandoc: lint-man.sh MANDOC SRCDIR PAGE...
# A full page must draw nothing from "mandoc -T lint -W warning". An alias
# page (one ".so manN/target.N" line) must point at a page that exists; the
# only message it may draw is mandoc's ".so is fragile" warning, which every
# such page gets (man-db resolves .so; we keep the usual alias form).
set -u
mandoc=$1
srcdir=$2
shift 2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# .so paths are relative to the top of a man hierarchy: make one.
for s in 1 3 5 7; do
	ln -s "$srcdir" "$tmp/man$s"
done
cd "$tmp" || exit 1
fail=0
for page in "$@"; do
	sec=${page##*.}
	path="man$sec/$page"
	if [ ! -f "$path" ]; then
		echo "$page: missing"
		fail=1
		continue
	fi
	if head -n 1 "$path" | grep -q '^\.so '; then
		if [ "$(wc -l < "$path")" -ne 1 ] ||
		   ! head -n 1 "$path" | grep -Eq '^\.so man[1-9]/[A-Za-z0-9_.-]+\.[1-9]$'; then
			echo "$page: an alias page is exactly one line: .so manN/page.N"
			fail=1
			continue
		fi
		target=$(sed 's/^\.so //' "$path")
		if [ ! -f "$target" ]; then
			echo "$page: alias of missing page $target"
			fail=1
			continue
		fi
		out=$("$mandoc" -T lint -W warning "$path" 2>&1 | grep -v ': WARNING: \.so is fragile')
	else
		out=$("$mandoc" -T lint -W warning "$path" 2>&1)
	fi
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		fail=1
	fi
done
[ "$fail" -eq 0 ] && echo "$# pages clean"
exit "$fail"
