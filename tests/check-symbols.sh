#!/bin/sh
# The library exports exactly what lib/libipc.sym lists, and every public
# header and a use of every public macro compile cleanly as C11 and as
# C++11/14/17/20.
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

# Each header alone (twice: include guards), and one program using every
# public macro, as C11 and as C++11/14/17/20 with every warning an error.
# -I, not -isystem: a user's $HOME prefix or a meson subproject is not a
# system directory, and there GCC would hide the warnings we look for.
cat > "$tmp/macros.c" <<'EOF'
#include <ipc/ipc.h>
#include <ipc/version.h>

int main(void)
{
	ipc_options o = IPC_OPTIONS_INIT;
	struct ipc_pollitem it = { 0, 0, 0, IPC_POLLIN | IPC_POLLOUT | IPC_POLLHUP | IPC_POLLERR, 0 };
	int flags = IPC_SEND | IPC_RECV | IPC_CREATE | IPC_RAW | IPC_ANY_UID | IPC_INHERIT;
	unsigned long v = IPC_VERSION_MAJOR * 10000ul + IPC_VERSION_MINOR * 100ul + IPC_VERSION_PATCH;
	unsigned abi = IPC_DRIVER_ABI;

	(void)it;
	return (int)(o.size + (IPC_EOF < 0) + (IPC_MSG_LIMIT > 0) + (unsigned long)flags + v +
	             abi + sizeof(IPC_VERSION_STRING)) == -1;
}
EOF
compile() {     # compile STD FILE
	case $1 in
	c[0-9]*) cc -x c -std="$1" -Wall -Wextra -Werror -pedantic -I"$inc" -I"$binc" \
	             -c "$2" -o "$tmp/h.o" ;;
	*) c++ -x c++ -std="$1" -Wall -Wextra -Werror -pedantic -I"$inc" -I"$binc" \
	       -c "$2" -o "$tmp/h.o" ;;
	esac
}
stds=c11
if command -v c++ > /dev/null; then
	stds="c11 c++11 c++14 c++17 c++20"
else
	echo "note: no C++ compiler here; the headers are checked as C11 only"
fi
for std in $stds; do
	for h in "$inc"/ipc/*.h; do
		name=$(basename "$h")
		printf '#include <ipc/%s>\n#include <ipc/%s>\nint main(void) { return 0; }\n' \
			"$name" "$name" > "$tmp/h.c"
		if ! compile "$std" "$tmp/h.c"; then
			echo "ipc/$name does not compile on its own ($std)"
			status=1
		fi
	done
	if ! compile "$std" "$tmp/macros.c"; then
		echo "a use of every public macro does not compile cleanly ($std)"
		status=1
	fi
done
[ $status -eq 0 ] && echo "exports and headers OK ($(wc -l < "$tmp/exported") symbols)"
exit $status
