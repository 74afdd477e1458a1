#!/bin/sh
# The library exports exactly what lib/libipc.sym lists, and every public
# header compiles on its own (C11, warnings as errors, and as C++).
# usage: check-symbols.sh <libipc.so> <libipc.sym> <source include dir> <build include dir>
set -u
lib=$1 sym=$2 inc=$3 binc=$4
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0

nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "D" || $2 == "B" { print $3 }' |
	sed 's/@.*//' | sort -u > "$tmp/exported"
sed -n 's/^[[:space:]]*\(ipc_[a-z_0-9]*\);.*/\1/p' "$sym" | sort -u > "$tmp/listed"
if ! cmp -s "$tmp/exported" "$tmp/listed"; then
	echo "exports differ from $sym (< exported, > listed):"
	diff "$tmp/exported" "$tmp/listed"
	status=1
fi
if grep -v '^ipc_' "$tmp/exported"; then
	echo "symbols without the ipc_ prefix are exported (above)"
	status=1
fi

for h in "$inc"/ipc/*.h; do
	name=$(basename "$h")
	printf '#include <ipc/%s>\n#include <ipc/%s>\nint main(void) { return 0; }\n' \
		"$name" "$name" > "$tmp/h.c"
	if ! cc -std=c11 -Wall -Wextra -Werror -pedantic -I"$inc" -I"$binc" \
	        -c "$tmp/h.c" -o "$tmp/h.o"; then
		echo "ipc/$name does not compile on its own (C11)"
		status=1
	fi
	if command -v c++ > /dev/null &&
	   ! c++ -x c++ -Wall -Wextra -Werror -I"$inc" -I"$binc" -c "$tmp/h.c" -o "$tmp/h.o"; then
		echo "ipc/$name does not compile as C++"
		status=1
	fi
done
[ $status -eq 0 ] && echo "exports and headers OK ($(wc -l < "$tmp/exported") symbols)"
exit $status
