#!/bin/sh
# check-examples.sh SRCDIR: every doc/examples/PAGE[-part].c must appear,
# escaped for roff, as one .EX/.EE block of doc/PAGE.3 (doc/PAGE.7 for an
# ipc-TRANSPORT-part.c), so the programs in the man pages are the ones meson
# compiles.
set -u
srcdir=$1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0
for src in "$srcdir"/examples/*.c; do
	name=$(basename "$src" .c)
	case $name in
	ipc-*) page="$srcdir/${name%-*}.7" ;;    # ipc-tls-server.c: ipc-tls.7
	*) page="$srcdir/${name%%-*}.3" ;;
	esac
	n=$((n + 1))
	if [ ! -f "$page" ]; then
		echo "$name.c: no page $(basename "$page")"
		fail=1
		continue
	fi
	# roff: backslash -> \e, tabs -> 4 spaces, a leading . or ' -> \&.
	sed -e 's/\\/\\e/g' -e 's/\t/    /g' -e "s/^\\([.']\\)/\\\\\\&\\1/" "$src" > "$tmp/want"
	rm -f "$tmp"/block.*
	awk -v dir="$tmp" '
		$0 == ".EE" { inex = 0; close(f); next }
		inex { print > f; next }
		$0 == ".EX" { inex = 1; f = dir "/block." ++k; printf "" > f }
	' "$page"
	found=0
	for b in "$tmp"/block.*; do
		[ -f "$b" ] && cmp -s "$b" "$tmp/want" && found=1
	done
	if [ "$found" -ne 1 ]; then
		echo "$name.c: not found verbatim in $(basename "$page")"
		fail=1
	fi
done
[ "$fail" -eq 0 ] && echo "$n examples match their pages"
exit "$fail"
